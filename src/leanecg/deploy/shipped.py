"""Models shipped inside the LeanECG package (``leanecg/zoo/<name>/``), found without any network access.

Each shipped model is a package folder written by :func:`leanecg.deploy.package.save_model_package`
(``model.pt``, ``model.json``, ``MODEL_CARD.md``). ``--model`` options accept a shipped name
(``cinc2017``, ``mitdb-aami``) or the path of any package folder (:func:`resolve_model`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from leanecg.errors import LeanECGError

__all__ = ["list_shipped", "resolve_model", "shipped_path", "zoo_dir"]


def zoo_dir() -> Path:
    """The folder holding the shipped model packages (it may hold none)."""
    return Path(__file__).resolve().parent.parent / "zoo"


def _package_dirs() -> list[Path]:
    root = zoo_dir()
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / "model.json").is_file())


def _summary(folder: Path) -> dict[str, Any]:
    meta_file = folder / "model.json"
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LeanECGError(meta_file, f"shipped model metadata is unreadable ({exc})") from None
    return package_summary(folder.name, folder, meta)


def package_summary(name: str, folder: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """One row of ``leanecg models``: name, task, classes, params, MACs, latency, headline metric."""
    task = meta.get("task", {})
    cost = meta.get("cost", {})
    primary = task.get("primary_metric")
    m = meta.get("metrics", {}).get(primary, {}) if primary else {}
    return {
        "name": name,
        "task": task.get("name"),
        "kind": meta.get("package", {}).get("kind"),
        "model": meta.get("model_name"),
        "classes": list(meta.get("class_names", [])),
        "params": cost.get("params"),
        "macs": cost.get("macs"),
        "latency_ms": cost.get("latency_ms_median"),
        "metric": primary,
        "value": m.get("value"),
        "ci_low": m.get("ci_low"),
        "ci_high": m.get("ci_high"),
        "tiny": bool(meta.get("data", {}).get("tiny")),
        "licence": meta.get("licence", {}).get("licence"),
        "path": str(folder),
    }


def list_shipped() -> list[dict[str, Any]]:
    """Every shipped model, sorted by name (see :func:`package_summary` for the keys); ``[]`` when none."""
    return [_summary(p) for p in _package_dirs()]


def shipped_path(name: str) -> Path:
    """The package folder of the shipped model ``name``.

    Raises:
        LeanECGError: no shipped model has that name (the message lists those that exist).
    """
    for p in _package_dirs():
        if p.name == name:
            return p
    names = [p.name for p in _package_dirs()]
    have = ", ".join(names) if names else "none is shipped with this release yet"
    raise LeanECGError(
        "--model",
        f"unknown model {name!r}: not a shipped model (shipped: {have}) and no package folder at that path",
    )


def resolve_model(name_or_dir: str | Path) -> Path:
    """A package folder from a shipped model name or a path to a package folder (checked first)."""
    p = Path(name_or_dir)
    if p.is_dir():
        return p
    if p.exists():
        raise LeanECGError(p, "is a file; --model takes a shipped model name or a model package folder")
    return shipped_path(str(name_or_dir))
