"""Amplitude-distribution statistics of an ECG signal.

Features (column order of :data:`STATISTICS_FEATURE_NAMES`), all from the samples of a single-lead
signal in mV, typically band-passed first (:func:`leanecg.features.record.record_features` uses
0.5-40 Hz, so the mean and zero crossings are not dominated by baseline offset and wander):

* ``mean_mv``, ``sd_mv`` (population SD), ``iqr_mv``, ``mad_mv`` (median absolute deviation) and
  ``range_mv`` (1st to 99th percentile, robust to single spikes);
* ``skewness`` and ``kurtosis`` (Fisher, excess: 0 for a Gaussian; biased moment estimators, the same as
  ``scipy.stats.skew`` / ``kurtosis`` defaults);
* ``hist_entropy``: Shannon entropy of a 32-bin histogram over the 0.5-99.5 percentile range,
  normalised to [0, 1] by ``ln 32``;
* ``zero_crossing_rate_hz``: sign changes of the mean-removed signal per second;
* ``flat_fraction``: fraction of successive samples that are exactly equal (saturation, dropouts and
  lead-off stretches; computed on whatever signal is passed, so pass the raw one for this purpose).

Flat or too-short signals give NaN where a statistic is undefined (skewness of a constant), never an
exception.
"""

from __future__ import annotations

import math

import numpy as np

from leanecg.errors import LeanECGError
from leanecg.signal.checks import check_fs
from leanecg.signal.filters import check_signal

__all__ = ["HIST_BINS", "STATISTICS_FEATURE_NAMES", "flat_fraction", "statistics_features"]

HIST_BINS = 32

STATISTICS_FEATURE_NAMES: tuple[str, ...] = (
    "mean_mv",
    "sd_mv",
    "iqr_mv",
    "mad_mv",
    "range_mv",
    "skewness",
    "kurtosis",
    "hist_entropy",
    "zero_crossing_rate_hz",
    "flat_fraction",
)


def _one_lead(x: np.ndarray) -> np.ndarray:
    x2, _ = check_signal(x, "signal", min_samples=0)
    if x2.shape[1] != 1:
        raise LeanECGError("signal", f"expected one lead, got shape {np.shape(x)}; select a lead first")
    return np.asarray(x2[:, 0], dtype=np.float64)


def flat_fraction(x: np.ndarray) -> float:
    """Fraction of successive sample pairs that are exactly equal (NaN for fewer than 2 samples)."""
    sig = _one_lead(x)
    if sig.size < 2:
        return math.nan
    return float(np.count_nonzero(np.diff(sig) == 0) / (sig.size - 1))


def statistics_features(x: np.ndarray, fs: float) -> dict[str, float]:
    """Distribution statistics of a single-lead signal (see the module docstring).

    Args:
        x: signal ``(n_samples,)`` (or ``(n_samples, 1)``) in mV, finite.
        fs: sampling rate in Hz (for the zero-crossing rate).

    Returns:
        ``{name: value}`` keyed and ordered as :data:`STATISTICS_FEATURE_NAMES`.

    Raises:
        LeanECGError: not one finite numeric lead; bad ``fs``.
    """
    fs_f = check_fs(fs)
    sig = _one_lead(x)
    out = dict.fromkeys(STATISTICS_FEATURE_NAMES, math.nan)
    n = sig.size
    if n < 2:
        return out
    mean = float(sig.mean())
    c = sig - mean
    c2 = c * c  # powers by multiplication: ``c**3`` / ``c**4`` take NumPy's general pow, ~100x slower
    var = float(np.mean(c2))
    p = np.percentile(sig, [0.5, 1, 25, 50, 75, 99, 99.5])
    out.update(
        mean_mv=mean,
        sd_mv=math.sqrt(var),
        iqr_mv=float(p[4] - p[2]),
        mad_mv=float(np.median(np.abs(sig - p[3]))),
        range_mv=float(p[5] - p[1]),
        flat_fraction=float(np.count_nonzero(np.diff(sig) == 0) / (n - 1)),
    )
    # a variance at rounding level of the mean is a constant signal: shape statistics are undefined
    if var > (1e-12 * max(1.0, abs(mean))) ** 2:
        out["skewness"] = float(np.mean(c2 * c) / var**1.5)
        out["kurtosis"] = float(np.mean(c2 * c2) / var**2 - 3.0)
        signs = np.signbit(c)
        out["zero_crossing_rate_hz"] = float(np.count_nonzero(signs[1:] != signs[:-1]) * fs_f / n)
    else:
        out["zero_crossing_rate_hz"] = 0.0
    lo, hi = float(p[0]), float(p[6])
    if hi > lo:
        inside = sig[(sig >= lo) & (sig <= hi)]
        idx = np.minimum(((inside - lo) / (hi - lo) * HIST_BINS).astype(np.int64), HIST_BINS - 1)
        prob = np.bincount(idx, minlength=HIST_BINS) / inside.size
        prob = prob[prob > 0]
        out["hist_entropy"] = float(-(prob * np.log(prob)).sum() / math.log(HIST_BINS))
    else:
        out["hist_entropy"] = 0.0
    return out
