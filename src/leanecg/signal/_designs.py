"""Filter designs, computed once with :mod:`scipy.signal` and kept in the user cache.

Designing a filter needs ``scipy.signal``, whose import costs about 0.6-0.9 s of CPU (it pulls
``scipy.stats``, ``interpolate`` and ``optimize``): more than ``leanecg stream`` spends on a 30-minute
record. The designs a stream needs are few and fixed by its parameters, so each is computed with
``scipy.signal`` the first time and stored; later processes read the stored coefficients and never import
``scipy.signal`` (the running kernels: :mod:`leanecg.signal._kernels`).

Each design is a float64 array (:func:`butter` / :func:`notch_sos`: second-order sections,
:func:`sosfilt_zi`: the unit-step initial state of a cascade, :func:`resample_fir`: the anti-aliasing FIR
of ``scipy.signal.resample_poly``), exactly the array ``scipy.signal`` returns (stored losslessly).

Storage: ``<cache dir>/designs/<kind>-<sha256 of the key>.npz`` (the cache dir as
:func:`leanecg.data.cache.resolve_cache_dir`: ``$LEANECG_CACHE`` or ``~/.cache/leanecg``), holding the
design (``value``), its key (the canonical JSON of the design kind and every design parameter) and a
version stamp (:data:`FORMAT_VERSION`, the scipy and numpy versions). Files are written atomically
(:mod:`leanecg.atomic`); a file that does not load, or whose key or version differs from the one asked
for, is ignored and rewritten. A cache that cannot be written (read-only disk) only costs the design
time again next run. Designs are also kept in memory for the process.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.atomic import atomic_path
from leanecg.cache_root import default_cache_root
from leanecg.errors import LeanECGError

__all__ = ["FORMAT_VERSION", "butter", "cache_folder", "notch_sos", "resample_fir", "sosfilt_zi"]

#: Bumped whenever the stored layout or a design's meaning changes (old files are then rewritten).
FORMAT_VERSION = 1
_SUBDIR = "designs"
_MEMORY: dict[str, np.ndarray] = {}


def cache_folder() -> Path:
    """Where designs are stored: ``<cache root>/designs`` (:func:`leanecg.cache_root.default_cache_root`, the
    root :func:`leanecg.data.cache.resolve_cache_dir` uses too)."""
    return default_cache_root() / _SUBDIR


def _version() -> str:
    import scipy  # the top-level package only (~10 ms); its subpackages load lazily

    return f"format {FORMAT_VERSION}; scipy {scipy.__version__}; numpy {np.__version__}"


def _signal() -> Any:
    """``scipy.signal``, imported only when a design has to be computed."""
    import scipy.signal

    return scipy.signal


def _read(path: Path, key: str, version: str) -> np.ndarray | None:
    """The stored design, or ``None`` when the file is missing, unreadable, or for another key / version."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key or str(z["version"]) != version:
                return None
            value = np.array(z["value"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if value.dtype != np.float64 or not np.isfinite(value).all():
        return None
    return value


def _write(path: Path, key: str, version: str, value: np.ndarray) -> None:
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, value=value, key=np.array(key), version=np.array(version))
    except (LeanECGError, OSError):
        pass  # a cache that cannot be written costs the design time again next run, nothing else


def _cached(kind: str, params: dict[str, Any], compute: Callable[[], np.ndarray]) -> np.ndarray:
    """The design ``kind`` with ``params``: from memory, else from the cache folder, else ``compute()``
    (stored). Returned read-only, float64."""
    key = json.dumps({"kind": kind, **params}, sort_keys=True, separators=(",", ":"))
    value = _MEMORY.get(key)
    if value is not None:
        return value
    version = _version()
    path = cache_folder() / f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:32]}.npz"
    value = _read(path, key, version)
    if value is None:
        value = np.ascontiguousarray(compute(), dtype=np.float64)
        _write(path, key, version, value)
    value.setflags(write=False)
    _MEMORY[key] = value
    return value


def butter(
    order: int,
    wn: float | Sequence[float],
    btype: str = "low",
    *,
    fs: float | None = None,
    output: str = "sos",
) -> np.ndarray:
    """``scipy.signal.butter(order, wn, btype, fs=fs, output="sos")`` (digital), cached.

    Args:
        order: filter order.
        wn: cut-off frequency (Hz with ``fs``; a pair for band filters).
        btype: ``"low"``, ``"high"``, ``"bandpass"``, ``"bandstop"`` (or scipy's aliases).
        fs: sampling rate in Hz (``None``: ``wn`` relative to Nyquist, as scipy).
        output: only ``"sos"``.

    Returns:
        ``(n_sections, 6)`` second-order sections, read-only.
    """
    if output != "sos":
        raise ValueError(f"only output='sos' is cached, got {output!r}")
    edges = [float(w) for w in np.atleast_1d(np.asarray(wn, dtype=np.float64))]
    band = edges if np.ndim(wn) else edges[0]
    rate = None if fs is None else float(fs)
    params = {"order": int(order), "wn": edges, "btype": str(btype), "fs": rate}
    return _cached(
        "butter", params, lambda: _signal().butter(int(order), band, btype=btype, fs=rate, output="sos")
    )


def notch_sos(freqs: Sequence[float], quality: float, fs: float) -> np.ndarray:
    """Cascaded ``scipy.signal.iirnotch`` notches at ``freqs`` (Hz, quality ``quality``, rate ``fs`` Hz),
    each converted with ``tf2sos``: ``(len(freqs), 6)`` sections, read-only."""
    params = {"freqs": [float(f) for f in freqs], "quality": float(quality), "fs": float(fs)}

    def compute() -> np.ndarray:
        sps = _signal()
        return np.vstack(
            [sps.tf2sos(*sps.iirnotch(f, params["quality"], fs=params["fs"])) for f in params["freqs"]]
        )

    return _cached("notch", params, compute)


def sosfilt_zi(sos: np.ndarray) -> np.ndarray:
    """``scipy.signal.sosfilt_zi(sos)``: the ``(n_sections, 2)`` state of a unit-step steady state, read-only.

    Keyed by the exact coefficients (the SHA-256 of their float64 bytes)."""
    arr = np.ascontiguousarray(sos, dtype=np.float64)
    params = {"shape": list(arr.shape), "sos_sha256": hashlib.sha256(arr.tobytes()).hexdigest()}
    return _cached("sosfilt_zi", params, lambda: _signal().sosfilt_zi(arr))


def resample_fir(up: int, down: int) -> np.ndarray:
    """The anti-aliasing FIR that ``scipy.signal.resample_poly(x, up, down)`` designs by default (``up`` /
    ``down`` in lowest terms): ``firwin(20 max(up, down) + 1, 1 / max(up, down), window=("kaiser", 5.0))``,
    read-only. Passed as ``window=`` to ``resample_poly`` it gives the very same outputs."""
    max_rate = max(int(up), int(down))
    half_len = 10 * max_rate  # resample_poly's filter half-length
    params = {"numtaps": 2 * half_len + 1, "cutoff": 1.0 / max_rate, "window": ["kaiser", 5.0]}
    return _cached(
        "firwin",
        params,
        lambda: _signal().firwin(params["numtaps"], params["cutoff"], window=("kaiser", 5.0)),
    )
