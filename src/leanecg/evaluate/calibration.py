"""Calibration of predicted probabilities: expected calibration error, reliability data, decision curves.

All functions take one binary problem: ``y_true`` ``(n,)`` 0/1 and ``p`` ``(n,)`` predicted probabilities in
``[0, 1]`` (for multi-label outputs call them per class column).

* :func:`expected_calibration_error` -- ``ECE = sum_b (n_b / n) |frac_pos_b - mean_p_b|`` over non-empty
  bins, with equal-width bins (``strategy="uniform"``: ``[0, 1/B), [1/B, 2/B), ..., [(B-1)/B, 1]``) or
  equal-mass bins (``strategy="quantile"``: the samples sorted by ``p`` split into ``B`` groups whose sizes
  differ by at most one; samples with equal ``p`` may straddle two groups).
* :func:`reliability_data` -- the per-bin numbers behind a reliability diagram.
* :func:`decision_curve` -- decision-curve analysis (Vickers & Elkin, Med Decis Making 2006): the net benefit
  ``TP/n - FP/n * pt / (1 - pt)`` of treating everyone with ``p >= pt``, against the "treat all"
  (``prevalence - (1 - prevalence) * pt / (1 - pt)``) and "treat none" (0) strategies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from leanecg.errors import LeanECGError


def _check(y_true: Any, p: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    q = np.asarray(p, dtype=np.float64)
    if y.ndim != 1 or q.ndim != 1:
        raise LeanECGError("p", "expected 1-D labels and probabilities (call per class for multi-label)")
    if y.size != q.size:
        raise LeanECGError("p", f"{q.size} probabilities for {y.size} labels")
    if y.size == 0:
        raise LeanECGError("y_true", "no samples")
    if y.dtype != bool:
        if not np.issubdtype(y.dtype, np.number) or not np.all((y == 0) | (y == 1)):
            raise LeanECGError("y_true", "labels must be 0/1 or bool")
    if not np.all(np.isfinite(q)) or q.min() < 0 or q.max() > 1:
        raise LeanECGError("p", "probabilities must be finite and within [0, 1]")
    return y.astype(bool), q


@dataclass(frozen=True)
class ReliabilityData:
    """Per-bin calibration numbers (each an array of length ``n_bins``).

    Attributes:
        bin_lower, bin_upper: bin limits (uniform: the bin edges; quantile: the smallest and largest
            probability in the bin; NaN for an empty bin).
        mean_predicted: mean predicted probability in the bin (NaN when empty).
        fraction_positive: observed fraction of positives in the bin (NaN when empty).
        counts: samples in the bin.
        strategy: ``"uniform"`` or ``"quantile"``.
    """

    bin_lower: np.ndarray
    bin_upper: np.ndarray
    mean_predicted: np.ndarray
    fraction_positive: np.ndarray
    counts: np.ndarray
    strategy: str

    @property
    def ece(self) -> float:
        """Expected calibration error of these bins."""
        ok = self.counts > 0
        w = self.counts[ok] / self.counts.sum()
        return float(np.sum(w * np.abs(self.fraction_positive[ok] - self.mean_predicted[ok])))

    @property
    def mce(self) -> float:
        """Maximum calibration error: the largest ``|fraction_positive - mean_predicted|`` of a non-empty bin."""
        ok = self.counts > 0
        return float(np.max(np.abs(self.fraction_positive[ok] - self.mean_predicted[ok])))

    def to_dict(self) -> dict[str, Any]:
        """Plain lists (NaN for empty bins) for JSON."""
        return {
            "strategy": self.strategy,
            "bin_lower": self.bin_lower.tolist(),
            "bin_upper": self.bin_upper.tolist(),
            "mean_predicted": self.mean_predicted.tolist(),
            "fraction_positive": self.fraction_positive.tolist(),
            "counts": self.counts.tolist(),
            "ece": self.ece,
        }


def _bin_index(q: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        return np.clip(np.searchsorted(edges, q, side="right") - 1, 0, n_bins - 1)
    if strategy == "quantile":
        idx = np.empty(q.size, dtype=np.int64)
        for b, members in enumerate(np.array_split(np.argsort(q, kind="stable"), n_bins)):
            idx[members] = b
        return idx
    raise LeanECGError("strategy", f"must be 'uniform' or 'quantile', got {strategy!r}")


def reliability_data(y_true: Any, p: Any, n_bins: int = 10, strategy: str = "uniform") -> ReliabilityData:
    """Bin the predictions and return what a reliability diagram plots.

    Args:
        y_true: ``(n,)`` 0/1 labels.
        p: ``(n,)`` predicted probabilities of the positive class.
        n_bins: number of bins (>= 1).
        strategy: ``"uniform"`` (equal width) or ``"quantile"`` (equal mass).
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise LeanECGError("n_bins", f"must be a positive int, got {n_bins!r}")
    y, q = _check(y_true, p)
    idx = _bin_index(q, int(n_bins), strategy)
    counts = np.bincount(idx, minlength=n_bins)
    sum_p = np.bincount(idx, weights=q, minlength=n_bins)
    sum_y = np.bincount(idx, weights=y.astype(np.float64), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.where(counts > 0, sum_p / counts, np.nan)
        frac = np.where(counts > 0, sum_y / counts, np.nan)
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        lower, upper = edges[:-1].copy(), edges[1:].copy()
    else:
        lower = np.full(n_bins, np.nan)
        upper = np.full(n_bins, np.nan)
        ok = counts > 0
        lower[ok] = np.array([q[idx == b].min() for b in np.flatnonzero(ok)])
        upper[ok] = np.array([q[idx == b].max() for b in np.flatnonzero(ok)])
    return ReliabilityData(lower, upper, mean_p, frac, counts.astype(np.int64), strategy)


def expected_calibration_error(y_true: Any, p: Any, n_bins: int = 10, strategy: str = "uniform") -> float:
    """ECE with ``n_bins`` equal-width (``"uniform"``) or equal-mass (``"quantile"``) bins."""
    return reliability_data(y_true, p, n_bins, strategy).ece


@dataclass(frozen=True)
class DecisionCurve:
    """Net benefit per threshold probability (arrays of the same length as ``thresholds``).

    Attributes:
        thresholds: threshold probabilities ``pt`` in ``(0, 1)``.
        net_benefit: the model's net benefit treating ``p >= pt``.
        treat_all: net benefit of treating everyone.
        treat_none: net benefit of treating no one (zeros).
        prevalence: fraction of positives.
    """

    thresholds: np.ndarray
    net_benefit: np.ndarray
    treat_all: np.ndarray
    treat_none: np.ndarray
    prevalence: float

    def to_dict(self) -> dict[str, Any]:
        """Plain lists for JSON."""
        return {
            "thresholds": self.thresholds.tolist(),
            "net_benefit": self.net_benefit.tolist(),
            "treat_all": self.treat_all.tolist(),
            "treat_none": self.treat_none.tolist(),
            "prevalence": self.prevalence,
        }


def decision_curve(y_true: Any, p: Any, thresholds: Any = None) -> DecisionCurve:
    """Decision-curve analysis of a probabilistic classifier.

    Args:
        y_true: ``(n,)`` 0/1 labels.
        p: ``(n,)`` predicted probabilities.
        thresholds: threshold probabilities strictly between 0 and 1 (default ``0.01, 0.02, ..., 0.99``).
    """
    y, q = _check(y_true, p)
    pt = np.round(np.arange(1, 100) / 100.0, 2) if thresholds is None else np.asarray(thresholds, float)
    if pt.ndim != 1 or pt.size == 0 or not np.all((pt > 0) & (pt < 1)):
        raise LeanECGError("thresholds", "threshold probabilities must be a 1-D array strictly inside (0, 1)")
    n = float(q.size)
    pos = np.sort(q[y])
    neg = np.sort(q[~y])
    tp = pos.size - np.searchsorted(pos, pt, side="left")  # positives with p >= pt
    fp = neg.size - np.searchsorted(neg, pt, side="left")
    odds = pt / (1.0 - pt)
    prevalence = pos.size / n
    return DecisionCurve(
        thresholds=pt,
        net_benefit=tp / n - fp / n * odds,
        treat_all=prevalence - (1.0 - prevalence) * odds,
        treat_none=np.zeros_like(pt),
        prevalence=float(prevalence),
    )
