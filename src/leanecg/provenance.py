"""Run metadata: what code, configuration, libraries and machine produced a result.

:func:`collect_provenance` returns the ``provenance`` block of a result document
(``docs/results_schema.md``) and of a checkpoint sidecar. It never imports the packages it reports (it
reads installed-distribution metadata) and never changes git state (``GIT_OPTIONAL_LOCKS=0`` keeps
``git status`` from refreshing the index).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import leanecg
from leanecg.errors import LeanECGError

UNKNOWN = "unknown"

# key in the provenance block -> installed distribution names to try, in order
PACKAGES: dict[str, tuple[str, ...]] = {
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "torch": ("torch",),
    "sklearn": ("scikit-learn",),
    "lightgbm": ("lightgbm",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino"),
    "wfdb": ("wfdb",),
    "leanecg": ("leanecg",),
}


def package_versions() -> dict[str, str | None]:
    """Installed versions of LeanECG and the libraries that decide its numbers (``None``: not installed)."""
    out: dict[str, str | None] = {}
    for key, dists in PACKAGES.items():
        out[key] = None
        for dist in dists:
            try:
                out[key] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
    if out["leanecg"] is None:
        out["leanecg"] = getattr(leanecg, "__version__", None)
    return out


def _git(args: list[str], cwd: Path) -> str | None:
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def git_state(source: str | Path | None = None) -> tuple[str, bool | None]:
    """``(commit, dirty)`` of the git checkout that holds ``source`` (default: LeanECG's own code).

    Outside a checkout (an installed wheel, no git) it returns ``("unknown", None)``. With the default
    ``source``, a checkout only counts when it tracks LeanECG's ``__init__.py`` -- a virtual environment
    inside some other repository does not report that repository's commit. ``dirty`` is True when tracked
    files differ from the commit or untracked (not ignored) files exist.
    """
    if source is None:
        marker = Path(leanecg.__file__).resolve()
        folder = marker.parent
    else:
        folder = Path(source).resolve()
        folder = folder if folder.is_dir() else folder.parent
        marker = None
    if not folder.is_dir():
        return UNKNOWN, None
    commit = _git(["rev-parse", "--verify", "HEAD"], folder)
    if commit is None:
        return UNKNOWN, None
    if marker is not None and _git(["ls-files", "--error-unmatch", marker.name], folder) is None:
        return UNKNOWN, None
    top = _git(["rev-parse", "--show-toplevel"], folder)
    status = _git(["status", "--porcelain", "--untracked-files=normal"], Path(top.strip()) if top else folder)
    return commit.strip(), (None if status is None else bool(status.strip()))


def cpu_model() -> str | None:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``), or ``None``."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip() or None
    except OSError:
        pass
    return platform.processor() or None


def repo_relative(path: str | Path, root: str | Path) -> str:
    """``path`` relative to ``root`` (e.g. the repository, for a command recorded in a results file), else
    ``path`` as given: recorded commands then hold no machine-specific absolute paths.

    >>> repo_relative("/repo/benchmarks/results", "/repo")
    'benchmarks/results'
    >>> repo_relative("/elsewhere/x", "/repo")
    '/elsewhere/x'
    """
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)


def utc_timestamp() -> str:
    """Now, as ISO 8601 UTC with seconds: ``2025-01-31T12:34:56Z``."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def collect_provenance(
    seed: int | None = None,
    config: Any = None,
    command: str | list[str] | None = None,
    source: str | Path | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The provenance of a run, as a JSON-able dict.

    Args:
        seed: the run's seed (``None`` when it has none).
        config: the run's configuration: a dict, a dataclass, or anything with ``to_dict()``.
        command: the command line (a string or an argv list); default: this process's ``sys.argv``.
        source: a path inside the git checkout to report (default: LeanECG's own source tree).
        **extra: further JSON-able entries (e.g. ``dataset_hash=...``).

    Keys: ``seed``, ``config``, ``git_commit`` (``"unknown"`` outside a checkout), ``git_dirty`` (bool or
    ``None``), ``timestamp_utc``, ``python``, ``platform``, ``machine``, ``cpu_model``, ``cpu_count``
    (logical CPUs of the machine), ``cpus_available`` (those this process may use), ``packages``
    (``numpy``, ``scipy``, ``torch``, ``sklearn``, ``lightgbm``, ``onnxruntime``, ``wfdb``, ``leanecg`` ->
    version or ``None``), ``command``, then ``extra``.
    """
    commit, dirty = git_state(source)
    if command is None:
        command = list(sys.argv)
    if isinstance(command, list | tuple):
        command = shlex.join(str(c) for c in command)
    out: dict[str, Any] = {
        "seed": seed,
        "config": _config_dict(config),
        "git_commit": commit,
        "git_dirty": dirty,
        "timestamp_utc": utc_timestamp(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_available": _available_cpus(),
        "packages": package_versions(),
        "command": command,
    }
    out.update(extra)
    return out


def _available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _config_dict(config: Any) -> dict[str, Any] | None:
    if config is None:
        return None
    if isinstance(config, Mapping):
        return dict(config)
    if hasattr(config, "to_dict") and callable(config.to_dict):
        return dict(config.to_dict())
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    raise LeanECGError(
        "config", f"must be a dict, a dataclass or have to_dict(), got {type(config).__name__}"
    )
