"""Amplitude normalisation of ECG signals, per lead (default) or over all leads together.

Each function takes ``(n_samples, n_leads)`` (or ``(n_samples,)``, returned 1-D) finite samples and
returns a dimensionless array of the same shape; floating inputs keep their dtype.

* :func:`zscore`: ``(x - mean) / std``.
* :func:`minmax`: linear map of ``[min, max]`` onto ``feature_range``.
* :func:`robust`: ``(x - median) / IQR`` (interquartile range, 25th to 75th percentile), insensitive to
  QRS amplitude outliers and artefact spikes.

Flat leads: a lead whose own spread (std, max - min or IQR) is at most ``eps`` carries no shape
information; it comes back as all zeros, never NaN or inf, in both modes (so a zero-filled missing lead
stays zero).

``per_lead=False`` computes one set of statistics over all leads, which keeps the amplitude ratios
between leads (these carry diagnostic information in 12-lead ECGs, e.g. axis and voltage criteria).
"""

from __future__ import annotations

import numpy as np

from leanecg.errors import LeanECGError
from leanecg.signal.filters import check_signal, output_dtype, restore_shape

__all__ = ["minmax", "robust", "zscore"]


def _prepare(x: np.ndarray, eps: float) -> tuple[np.ndarray, bool, np.dtype]:
    if isinstance(eps, bool) or not isinstance(eps, int | float | np.integer | np.floating) or not eps >= 0:
        raise LeanECGError("eps", f"must be a non-negative number, got {eps!r}")
    dtype = output_dtype(x)
    x2, was_1d = check_signal(x)
    return np.asarray(x2, dtype=np.float64), was_1d, dtype


def _low_high(value: tuple[float, float], name: str, what: str) -> tuple[float, float]:
    """``value`` as two floats ``(low, high)``; :class:`LeanECGError` naming ``name`` when it is not two ``what``."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise LeanECGError(name, f"must be two {what} (low, high), got {value!r}") from None
    return low, high


def _scale(
    xf: np.ndarray, centre: np.ndarray, spread: np.ndarray, lead_spread: np.ndarray, eps: float
) -> np.ndarray:
    """``(x - centre) / spread``; leads whose own spread is <= eps are set to zero."""
    y = (xf - centre) / np.where(spread <= eps, 1.0, spread)
    y[:, lead_spread.reshape(-1) <= eps] = 0.0
    return y


def zscore(x: np.ndarray, *, per_lead: bool = True, eps: float = 1e-6) -> np.ndarray:
    """Zero mean, unit standard deviation.

    Args:
        x: ``(n_samples, n_leads)`` or ``(n_samples,)`` signal (any unit).
        per_lead: statistics per lead (default) or over all leads at once.
        eps: leads with standard deviation <= ``eps`` (same unit as ``x``) are returned as zeros.

    Returns:
        Dimensionless array, same shape as ``x``.
    """
    xf, was_1d, dtype = _prepare(x, eps)
    axis = 0 if per_lead else None
    centre = np.mean(xf, axis=axis, keepdims=True)
    spread = np.std(xf, axis=axis, keepdims=True)
    lead_spread = spread if per_lead else np.std(xf, axis=0)
    return restore_shape(_scale(xf, centre, spread, lead_spread, eps), was_1d, dtype)


def minmax(
    x: np.ndarray,
    *,
    feature_range: tuple[float, float] = (0.0, 1.0),
    per_lead: bool = True,
    eps: float = 1e-6,
) -> np.ndarray:
    """Map each lead's ``[min, max]`` linearly onto ``feature_range``.

    Args:
        x: ``(n_samples, n_leads)`` or ``(n_samples,)`` signal (any unit).
        feature_range: ``(low, high)`` of the output, ``low < high``.
        per_lead: statistics per lead (default) or over all leads at once.
        eps: leads with ``max - min <= eps`` are returned as zeros.

    Returns:
        Array in ``feature_range`` (flat leads: zeros), same shape as ``x``.
    """
    low, high = _low_high(feature_range, "feature_range", "numbers")
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise LeanECGError("feature_range", f"needs finite low < high, got {feature_range!r}")
    xf, was_1d, dtype = _prepare(x, eps)
    axis = 0 if per_lead else None
    lo = np.min(xf, axis=axis, keepdims=True)
    spread = np.max(xf, axis=axis, keepdims=True) - lo
    lead_spread = np.ptp(xf, axis=0)
    y = low + _scale(xf, lo, spread, lead_spread, eps) * (high - low)
    y[:, lead_spread <= eps] = 0.0
    return restore_shape(y, was_1d, dtype)


def robust(
    x: np.ndarray,
    *,
    quantiles: tuple[float, float] = (25.0, 75.0),
    per_lead: bool = True,
    eps: float = 1e-6,
) -> np.ndarray:
    """Subtract the median and divide by the interquartile range.

    Args:
        x: ``(n_samples, n_leads)`` or ``(n_samples,)`` signal (any unit).
        quantiles: the percentiles (0-100) whose difference is the spread; default the IQR.
        per_lead: statistics per lead (default) or over all leads at once.
        eps: leads with spread <= ``eps`` are returned as zeros.

    Returns:
        Dimensionless array, same shape as ``x``.
    """
    q_lo, q_hi = _low_high(quantiles, "quantiles", "percentiles")
    if not 0.0 <= q_lo < q_hi <= 100.0:
        raise LeanECGError("quantiles", f"needs 0 <= low < high <= 100, got {quantiles!r}")
    xf, was_1d, dtype = _prepare(x, eps)
    axis = 0 if per_lead else None
    lo, med, hi = np.percentile(xf, [q_lo, 50.0, q_hi], axis=axis, keepdims=True)
    if per_lead:
        lead_spread = hi - lo
    else:
        lead_lo, lead_hi = np.percentile(xf, [q_lo, q_hi], axis=0)
        lead_spread = lead_hi - lead_lo
    return restore_shape(_scale(xf, med, hi - lo, lead_spread, eps), was_1d, dtype)
