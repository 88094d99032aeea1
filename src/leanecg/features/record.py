"""Record-level feature vector for rhythm classification with classic models (e.g. CinC 2017 N/A/O/~).

One single-lead record gives one row (column order :func:`record_feature_names`, stable within a
:data:`FEATURE_VERSION`):

* ``hrv_*``: :func:`leanecg.features.hrv.hrv_features` of the R peaks (given, or detected with
  :func:`leanecg.signal.detect_rpeaks`);
* ``spec_*``: :func:`leanecg.features.spectral.spectral_features` of the raw signal;
* ``stat_*``: :func:`leanecg.features.statistics.statistics_features` of the 0.5-40 Hz band-passed
  signal, except ``stat_flat_fraction``, taken on the raw signal (saturation and dropouts);
* ``morph_<feature>_median`` / ``morph_<feature>_iqr``: median and interquartile range over the
  complete beats of each :func:`leanecg.features.morphology.beat_morphology` feature;
* ``rhy_*`` (version 2): :func:`leanecg.features.rhythm.rhythm_features` of the band-passed signal and
  the R peaks (ectopy and rhythm pattern, beat consistency, atrial activity, signal quality).

Versions only ever append columns: the columns of an earlier version keep their names, definitions and
values, so a model trained on version 1 reads its columns out of a version 2 row by name
(:func:`leanecg.models.record_inputs.check_feature_config`).

Short or degenerate records (under :data:`MIN_RECORD_S`, flat, fewer than three beats) give NaN
features, never an exception. :func:`record_feature_matrix` computes many records and caches the
result on disk (:func:`leanecg.data.cache.cached_signal`), keyed by the SHA-256 of each signal's
float64 samples, its sampling rate and :data:`FEATURE_VERSION`; a second call with the same signals
reads one cached array.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from leanecg.errors import LeanECGError
from leanecg.features.hrv import HRV_FEATURE_NAMES, hrv_features
from leanecg.features.morphology import MORPHOLOGY_FEATURE_NAMES, band_passed, beat_morphology
from leanecg.features.rhythm import RHYTHM_FEATURE_NAMES, rhythm_features
from leanecg.features.spectral import SPECTRAL_FEATURE_NAMES, spectral_features
from leanecg.features.statistics import STATISTICS_FEATURE_NAMES, statistics_features
from leanecg.signal.checks import check_fs
from leanecg.signal.filters import check_signal

__all__ = [
    "FEATURE_VERSION",
    "MIN_RECORD_S",
    "record_feature_matrix",
    "record_feature_names",
    "record_features",
]

#: Bumped when columns are appended (version 2: the ``rhy_*`` columns); part of the cache key. A column's
#: definition never changes under its name: a changed feature gets a new name.
FEATURE_VERSION = 2
#: Records shorter than this (seconds) give NaN signal features (HRV still uses the given peaks).
MIN_RECORD_S = 2.0

_NAMES: tuple[str, ...] = (
    *(f"hrv_{n}" for n in HRV_FEATURE_NAMES),
    *(f"spec_{n}" for n in SPECTRAL_FEATURE_NAMES),
    *(f"stat_{n}" for n in STATISTICS_FEATURE_NAMES),
    *(f"morph_{n}_{agg}" for n in MORPHOLOGY_FEATURE_NAMES for agg in ("median", "iqr")),
    *(f"rhy_{n}" for n in RHYTHM_FEATURE_NAMES),
)
_INDEX = {n: i for i, n in enumerate(_NAMES)}


def record_feature_names() -> list[str]:
    """Column names of :func:`record_features`, in order."""
    return list(_NAMES)


def _one_lead(x: np.ndarray, source: str = "signal") -> np.ndarray:
    x2, _ = check_signal(x, source, min_samples=0)
    if x2.shape[1] != 1:
        raise LeanECGError(source, f"record features need one lead, got shape {np.shape(x)}; select a lead")
    return np.asarray(x2[:, 0], dtype=np.float64)


def _put(vec: np.ndarray, prefix: str, values: dict[str, float]) -> None:
    for name, value in values.items():
        vec[_INDEX[prefix + name]] = value


def _column_quartiles(values: np.ndarray) -> np.ndarray:
    """The 25th, 50th and 75th percentiles of each column's finite values, ``(3, n_columns)`` (NaN for a column
    without one). Columns finite in every row take one batched call, the others one call each (the same values
    as a call per column)."""
    q = np.full((3, values.shape[1]), np.nan)
    whole = np.isfinite(values).all(axis=0)
    if values.shape[0] and whole.any():
        q[:, whole] = np.percentile(values[:, whole], [25, 50, 75], axis=0)
    for j in np.flatnonzero(~whole):
        col = values[:, j][np.isfinite(values[:, j])]
        if col.size:
            q[:, j] = np.percentile(col, [25, 50, 75])
    return q


def record_features(
    x: np.ndarray, fs: float, peaks: np.ndarray | Sequence[int] | None = None
) -> tuple[np.ndarray, list[str]]:
    """The feature vector of one single-lead record.

    Args:
        x: signal ``(n_samples,)`` (or ``(n_samples, 1)``) in mV, finite.
        fs: sampling rate in Hz (>= 50 when ``peaks`` is not given: the R-peak detector needs it).
        peaks: strictly increasing R-peak sample indices; detected with
            :func:`leanecg.signal.detect_rpeaks` when ``None``.

    Returns:
        ``(features, names)``: float64 ``(n_features,)`` and :func:`record_feature_names`.

    Raises:
        LeanECGError: not one finite numeric lead; bad ``fs`` or peaks.
    """
    fs_f = check_fs(fs)
    sig = _one_lead(x)
    vec = np.full(len(_NAMES), np.nan)
    if peaks is None:
        from leanecg.signal.rpeaks import detect_rpeaks

        p = detect_rpeaks(sig, fs_f)
    else:
        p = np.asarray(peaks)
    _put(vec, "hrv_", hrv_features(p, fs_f))
    if sig.size < MIN_RECORD_S * fs_f:
        vec[~np.isfinite(vec)] = np.nan
        return vec, list(_NAMES)
    _put(vec, "spec_", spectral_features(sig, fs_f))
    bp = band_passed(sig, fs_f)
    stats = statistics_features(bp, fs_f)
    stats["flat_fraction"] = float(np.count_nonzero(np.diff(sig) == 0) / (sig.size - 1))
    _put(vec, "stat_", stats)
    morph = beat_morphology(sig, fs_f, p, filtered=bp)
    q25, q50, q75 = _column_quartiles(morph[np.isfinite(morph).any(axis=1)])
    for j, name in enumerate(MORPHOLOGY_FEATURE_NAMES):
        vec[_INDEX[f"morph_{name}_median"]] = q50[j]
        vec[_INDEX[f"morph_{name}_iqr"]] = q75[j] - q25[j]
    # beat_morphology has checked the peaks (whole, increasing, inside): whole floats index as ints
    _put(vec, "rhy_", rhythm_features(bp, fs_f, np.asarray(p).astype(np.int64)))
    vec[~np.isfinite(vec)] = np.nan  # no inf reaches a model
    return vec, list(_NAMES)


def _digest(sig: np.ndarray, fs: float) -> str:
    h = hashlib.sha256()
    h.update(f"{sig.size}:{fs!r}:".encode())
    h.update(np.ascontiguousarray(sig, dtype=np.float64).tobytes())
    return h.hexdigest()


def _names_digest() -> str:
    return hashlib.sha256("\n".join(_NAMES).encode()).hexdigest()[:16]


def record_feature_matrix(
    signals: Sequence[np.ndarray],
    fs: float | Sequence[float],
    progress: Callable[[int, int], None] | None = None,
    cache: bool = True,
    *,
    cache_dir: str | Path | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Record features of many single-lead records, cached on disk.

    Args:
        signals: the records, each ``(n_samples,)`` or ``(n_samples, 1)`` in mV (lengths may differ).
        fs: one sampling rate in Hz for all records, or one per record.
        progress: called as ``progress(done, total)`` after each record.
        cache: read / write :func:`leanecg.data.cache.cached_signal` entries (one per record and one for
            the whole matrix); ``False`` computes everything in memory.
        cache_dir: cache root (default ``$LEANECG_CACHE`` or ``~/.cache/leanecg``).

    Returns:
        ``(X, names)``: float64 ``(n_records, n_features)`` and :func:`record_feature_names`.

    Raises:
        LeanECGError: a record that is not one finite lead (``signals[i]`` named in the error), bad
            ``fs`` (or a number of rates different from the number of records).
    """
    n = len(signals)
    if isinstance(fs, int | float | np.integer | np.floating) and not isinstance(fs, bool):
        rates = [check_fs(fs)] * n
    else:
        rates = [check_fs(f, f"fs[{i}]") for i, f in enumerate(fs)]
        if len(rates) != n:
            raise LeanECGError("fs", f"got {len(rates)} sampling rates for {n} records")
    names = list(_NAMES)

    def one(i: int) -> np.ndarray:
        try:
            return record_features(signals[i], rates[i])[0]
        except LeanECGError as exc:
            raise LeanECGError(f"signals[{i}]", f"{exc.path}: {exc.problem}") from None

    if not cache:
        rows = []
        for i in range(n):
            rows.append(one(i))
            if progress is not None:
                progress(i + 1, n)
        return _stack(rows), names

    from leanecg.data.cache import cached_signal

    sigs = [_one_lead(signals[i], f"signals[{i}]") for i in range(n)]
    digests = [_digest(s, r) for s, r in zip(sigs, rates, strict=True)]
    version = {"version": FEATURE_VERSION, "names": _names_digest()}
    matrix_key = {
        "kind": "record-feature-matrix",
        **version,
        "n_records": n,
        "records_sha256": hashlib.sha256("".join(digests).encode()).hexdigest(),
    }

    def compute_all() -> np.ndarray:
        rows = []
        for i in range(n):
            key = {"kind": "record-features", **version, "signal_sha256": digests[i]}
            rows.append(cached_signal(key, lambda i=i: one(i), cache_dir=cache_dir, mmap=False))
            if progress is not None:
                progress(i + 1, n)
        return _stack(rows)

    calls = {"computed": False}

    def compute_matrix() -> np.ndarray:
        calls["computed"] = True
        return compute_all()

    x = cached_signal(matrix_key, compute_matrix, cache_dir=cache_dir, mmap=False)
    if progress is not None and not calls["computed"] and n:
        progress(n, n)
    return np.array(x, dtype=np.float64), names


def _stack(rows: list[np.ndarray]) -> np.ndarray:
    if not rows:
        return np.zeros((0, len(_NAMES)))
    return np.stack([np.asarray(r, dtype=np.float64) for r in rows])
