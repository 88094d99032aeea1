"""Atomic file output: write to a temporary file beside the target, then rename.

A crash or an error halfway never leaves a partially written output behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from leanecg.errors import LeanECGError


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``target`` on success.

    On any exception the temporary file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    if target.is_dir():
        raise LeanECGError(target, "is a folder; give a file path to write to")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LeanECGError(target.parent, f"cannot create output folder ({exc.strerror or exc})") from None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise LeanECGError(target, f"cannot write here ({exc.strerror or exc})") from None
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual permissions
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_open(target: str | Path, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file for writing; it replaces ``target`` only if the block succeeds."""
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
        kwargs.setdefault("newline", "")
    with atomic_path(target) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


@contextlib.contextmanager
def file_lock(target: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``.<target name>.lock`` (a hidden file beside ``target``, left there: removing
    a lock file other processes may be waiting on would let two of them hold different locks) while the block
    runs.

    For read-modify-write of one results file by several processes (e.g. seeds run in parallel): a process
    that reads the file, adds its runs and writes it back inside the block cannot lose another's runs. POSIX
    advisory locking (``fcntl.flock``); where it is missing the block runs unlocked.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no advisory locks
        yield
        return
    lock = Path(target).with_name(f".{Path(target).name}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(target: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented, strict JSON, atomically: NaN and ±inf (an undefined metric, e.g. the
    precision of a class never predicted) become ``null``, which every JSON parser reads."""
    with atomic_open(target, "w") as fh:
        json.dump(finite_json(obj), fh, indent=2, sort_keys=False, default=json_default, allow_nan=False)
        fh.write("\n")


def finite_json(obj: Any) -> Any:
    """``obj`` with every non-finite float (Python or numpy, also inside numpy arrays) replaced by ``None``;
    containers are copied, everything else is returned as is."""
    import math

    import numpy as np

    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite_json(v) for v in obj]
    if isinstance(obj, np.ndarray) and obj.dtype.kind == "f":
        return finite_json(obj.tolist())
    return obj


def json_default(obj: Any) -> Any:
    """``json.dump(default=...)`` hook: numpy scalars and arrays as Python numbers / lists, paths as
    strings; anything else raises ``TypeError``."""
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
