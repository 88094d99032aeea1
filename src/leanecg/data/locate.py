"""Where the datasets live: one data dir, chosen as ``--data-dir`` > ``$LEANECG_DATA`` > the user cache.

Datasets are folders of the data dir (``<data dir>/mitdb/``, ``<data dir>/cinc2017/``, ...; see
:mod:`leanecg.data.registry` for the recognised folder names).
"""

from __future__ import annotations

import os
from pathlib import Path

from leanecg.errors import LeanECGError

ENV_VAR = "LEANECG_DATA"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/leanecg/data``, or ``~/.cache/leanecg/data`` when ``XDG_CACHE_HOME`` is unset or empty."""
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "leanecg" / "data"


def resolve_data_dir(cli_value: Path | str | None = None) -> Path:
    """The data dir: ``cli_value`` (``--data-dir``) if given, else ``$LEANECG_DATA`` if set, else the user cache.

    A directory that was given explicitly (option or environment variable) must exist; the user cache is
    created on demand (it is where ``leanecg data fetch`` downloads to).

    Returns:
        The absolute path of the data dir.

    Raises:
        LeanECGError: the given directory does not exist or is not a directory (names ``--data-dir`` or
            ``LEANECG_DATA`` so the user knows which setting to fix).
    """
    if cli_value is not None and str(cli_value).strip():
        return _existing_dir(Path(cli_value), "--data-dir")
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return _existing_dir(Path(env), f"${ENV_VAR}")
    cache = default_cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LeanECGError(
            cache, f"cannot create the data cache folder ({exc.strerror or exc}); pass --data-dir"
        ) from None
    return cache.resolve()


def _existing_dir(path: Path, setting: str) -> Path:
    path = path.expanduser()
    if not path.exists():
        raise LeanECGError(path, f"data dir given by {setting} does not exist")
    if not path.is_dir():
        raise LeanECGError(path, f"data dir given by {setting} is not a folder")
    return path.resolve()
