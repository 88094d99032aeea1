"""Where the datasets live: one data dir, chosen as ``--data-dir`` > ``$LEANECG_DATA`` > the default places.

The default places, searched in order (:func:`default_data_dirs`): ``../shared/data`` relative to the current
folder, ``../shared/data`` beside the LeanECG source checkout (when LeanECG runs from one), then the user
cache (``~/.cache/leanecg/data``, where ``leanecg data fetch`` downloads to). A shared folder is used only if
it holds the dataset asked for (or, when no dataset is named, any registered dataset).

Datasets are folders of the data dir (``<data dir>/mitdb/``, ``<data dir>/cinc2017/``, ...; see
:mod:`leanecg.data.registry` for the recognised folder names).
"""

from __future__ import annotations

import os
from pathlib import Path

from leanecg.errors import InvalidOptionError, LeanECGError, MissingDataError

ENV_VAR = "LEANECG_DATA"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/leanecg/data``, or ``~/.cache/leanecg/data`` when ``XDG_CACHE_HOME`` is unset or empty."""
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "leanecg" / "data"


def checkout_dir() -> Path | None:
    """The root of the LeanECG source checkout this package runs from (``<root>/src/leanecg``, with a
    ``pyproject.toml``), or ``None`` for an installed copy."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / "pyproject.toml").is_file() and (root / "src" / "leanecg").is_dir() else None


def default_data_dirs() -> list[Path]:
    """The places searched when neither ``--data-dir`` nor ``$LEANECG_DATA`` is given, in order:
    ``../shared/data`` relative to the current folder, ``../shared/data`` beside the source checkout (if
    any), the user cache (:func:`default_cache_dir`). Absolute, without duplicates; they may not exist."""
    places = [Path.cwd().parent / "shared" / "data"]
    checkout = checkout_dir()
    if checkout is not None:
        places.append(checkout.parent / "shared" / "data")
    places.append(default_cache_dir())
    out: list[Path] = []
    for p in places:
        p = p.expanduser().absolute()
        if p not in out:
            out.append(p)
    return out


def resolve_data_dir(cli_value: Path | str | None = None, dataset: str | None = None) -> Path:
    """The data dir: ``cli_value`` (``--data-dir``) if given, else ``$LEANECG_DATA`` if set, else the first
    default place (:func:`default_data_dirs`) that holds ``dataset`` (any registered dataset when ``None``),
    else the user cache.

    A directory that was given explicitly (option or environment variable) must exist; the user cache is
    created on demand (it is where ``leanecg data fetch`` downloads to).

    Args:
        cli_value: the ``--data-dir`` option.
        dataset: the registered dataset the caller needs (e.g. ``"mitdb"``); with the default places, a
            dataset found in none of them is an error naming every place looked at and how to fetch it.

    Returns:
        The absolute path of the data dir.

    Raises:
        LeanECGError: the given directory does not exist or is not a directory (names ``data_dir`` or
            ``LEANECG_DATA`` so the user knows which setting to fix); ``dataset`` is in no default place.
    """
    if cli_value is not None and str(cli_value).strip():
        return _existing_dir(Path(cli_value), "`data_dir`")
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return _existing_dir(Path(env), f"${ENV_VAR}")
    from leanecg.data.registry import get_dataset, list_datasets

    wanted = [get_dataset(dataset)] if dataset is not None else list_datasets()
    cache = default_cache_dir().expanduser().absolute()
    places = default_data_dirs()
    for place in places:
        if place.is_dir() and any(ds.is_present(place) for ds in wanted):
            return place.resolve()
    if dataset is not None:
        ds = wanted[0]
        looked = ", ".join(str(place / folder) for place in places for folder in ds.folders)
        raise MissingDataError(
            ds.name,
            f"dataset not found; looked in {looked}; download it with `leanecg data fetch {ds.name}` "
            f"(into {cache}), or pass `data_dir` or set ${ENV_VAR} to the folder holding {ds.folders[0]}/",
        )
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LeanECGError(
            cache, f"cannot create the data cache folder ({exc.strerror or exc}); pass `data_dir`"
        ) from None
    return cache.resolve()


def _existing_dir(path: Path, setting: str) -> Path:
    path = path.expanduser()
    if not path.exists():
        raise MissingDataError(path, f"data dir given by {setting} does not exist")
    if not path.is_dir():
        raise InvalidOptionError(path, f"data dir given by {setting} is not a folder")
    return path.resolve()
