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

from typing import Any

import numpy as np

from leanecg.errors import LeanECGError
from leanecg.signal.filters import check_signal, output_dtype, restore_shape

__all__ = ["RunningNorm", "minmax", "robust", "zscore"]


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


class RunningNorm:
    """A record-level normalisation step with the statistics of the stream up to a given sample.

    The online form of :func:`zscore` / :func:`minmax` for a stream (beat models of
    :class:`~leanecg.signal.beat_stream.StreamingBeatInputs`): ``step`` is the pipeline step (``op``,
    ``per_lead``, ``eps``; ``low`` / ``high`` for ``minmax``). Cumulative statistics (sums of ``x`` and
    ``x**2`` for ``zscore``, running min / max for ``minmax``) are kept for every sample of the caller's
    bounded buffer, accumulated strictly left to right with the total carried from chunk to chunk, so the
    statistics at a sample do not depend on the chunking.
    """

    def __init__(self, step: dict[str, Any], n_leads: int, source: str) -> None:
        if step["op"] not in ("zscore", "minmax"):
            raise LeanECGError(
                source,
                f"the model's pipeline step {step['op']} needs the whole record and has no online form "
                "for beat models (zscore and minmax have)",
            )
        self.op = step["op"]
        self.step = step
        self.per_lead = bool(step["per_lead"])
        self.eps = float(step["eps"])
        self.n = 0
        self.a = np.zeros((0, n_leads))  # zscore: cumulative sum of x; minmax: running min
        self.b = np.zeros((0, n_leads))  # zscore: cumulative sum of x**2; minmax: running max
        self.last_a = np.zeros((1, n_leads)) if self.op == "zscore" else np.full((1, n_leads), np.inf)
        self.last_b = np.zeros((1, n_leads)) if self.op == "zscore" else np.full((1, n_leads), -np.inf)

    def update(self, y: np.ndarray) -> None:
        """Append the statistics of the next samples ``(m, n_leads)``."""
        if y.shape[0] == 0:
            return
        self.n += y.shape[0]
        if self.op == "zscore":
            a = np.cumsum(np.concatenate((self.last_a, y)), axis=0)[1:]
            b = np.cumsum(np.concatenate((self.last_b, y * y)), axis=0)[1:]
        else:
            a = np.minimum.accumulate(np.concatenate((self.last_a, y)), axis=0)[1:]
            b = np.maximum.accumulate(np.concatenate((self.last_b, y)), axis=0)[1:]
        self.last_a, self.last_b = a[-1:], b[-1:]
        self.a = np.concatenate((self.a, a))
        self.b = np.concatenate((self.b, b))

    def trim(self, cut: int) -> None:
        """Forget the statistics of the first ``cut`` buffered samples (kept in step with the buffer)."""
        self.a, self.b = self.a[cut:], self.b[cut:]

    def apply(self, w: np.ndarray, rows: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Normalise windows ``w`` ``(k, L, n_leads)`` (float64); window ``i`` with the statistics of the
        first ``counts[i]`` samples of the stream, stored at buffer row ``rows[i]``."""
        a, b = self.a[rows], self.b[rows]  # (k, n_leads)
        eps = self.eps
        if self.op == "zscore":
            cnt = counts[:, None].astype(np.float64)
            mean_l = a / cnt
            lead_spread = np.sqrt(np.maximum(b / cnt - mean_l**2, 0.0))
            if self.per_lead:
                centre, spread = mean_l, lead_spread
            else:
                n_all = cnt * a.shape[1]
                m = a.sum(axis=1, keepdims=True) / n_all
                centre = np.broadcast_to(m, a.shape)
                spread = np.broadcast_to(
                    np.sqrt(np.maximum(b.sum(axis=1, keepdims=True) / n_all - m * m, 0.0)), a.shape
                )
            y = (w - centre[:, None, :]) / np.where(spread <= eps, 1.0, spread)[:, None, :]
        else:
            lead_spread = b - a
            if self.per_lead:
                lo, spread = a, lead_spread
            else:
                lo = np.broadcast_to(a.min(axis=1, keepdims=True), a.shape)
                spread = np.broadcast_to(b.max(axis=1, keepdims=True), a.shape) - lo
            low, high = float(self.step["low"]), float(self.step["high"])
            y = low + (w - lo[:, None, :]) / np.where(spread <= eps, 1.0, spread)[:, None, :] * (high - low)
        flat = np.broadcast_to((lead_spread <= eps)[:, None, :], y.shape)
        return np.where(flat, 0.0, y)
