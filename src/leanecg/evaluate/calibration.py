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
* :func:`fit_temperature` / :func:`apply_temperature` -- temperature scaling (Guo et al. 2017) of
  probabilities; :func:`calibration_block` -- the per-class reliability, ECE before / after temperature
  scaling and decision curves that every ``leanecg bench`` result carries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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


# ------------------------------------------------------------------------------------- temperature scaling

#: Range searched for the temperature (log-uniform bounds).
TEMPERATURE_RANGE = (0.05, 20.0)
_EPS = 1e-12


def _check_probs(probs: Any, multilabel: bool) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < (1 if multilabel else 2):
        raise LeanECGError("probs", f"expected (n, n_classes) probabilities, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
        raise LeanECGError("probs", "probabilities must be finite and within [0, 1]")
    return p


def apply_temperature(probs: Any, temperature: float, multilabel: bool = False) -> np.ndarray:
    """Temperature-scaled probabilities from probabilities: ``softmax(z / T)`` (or ``sigmoid(z / T)`` per
    class for ``multilabel``), computed from the probabilities themselves (``log p`` equals the logits up to
    a per-row constant, which softmax ignores; ``logit(p)`` for sigmoid). ``T = 1`` returns ``probs``.

    Args:
        probs: float ``(n, n_classes)``; rows sum to 1 unless ``multilabel``.
        temperature: ``T > 0``; ``T > 1`` softens, ``T < 1`` sharpens. The argmax never changes.
        multilabel: independent sigmoid outputs instead of one softmax.
    """
    t = float(temperature)
    if not (math.isfinite(t) and t > 0):
        raise LeanECGError("temperature", f"must be a positive number, got {temperature!r}")
    p = _check_probs(probs, multilabel)
    if t == 1.0:
        return p
    if multilabel:
        q = np.clip(p, _EPS, 1 - _EPS)
        z = np.log(q) - np.log1p(-q)
        return 1.0 / (1.0 + np.exp(-z / t))
    with np.errstate(divide="ignore"):
        z = np.log(p) / t  # exact zeros stay zeros (-inf)
    z -= np.max(z, axis=1, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=1, keepdims=True)


def negative_log_likelihood(y_true: Any, probs: Any, multilabel: bool = False) -> float:
    """Mean negative log-likelihood: ``-mean log p[y]`` (single-label, ``y_true`` int class indices), or
    the binary cross-entropy averaged over rows and classes (``multilabel``, ``y_true`` ``(n, C)`` 0/1)."""
    p = np.clip(_check_probs(probs, multilabel), _EPS, 1 - _EPS)
    y = np.asarray(y_true)
    if multilabel:
        if y.shape != p.shape:
            raise LeanECGError("y_true", f"expected {p.shape} 0/1 labels, got shape {y.shape}")
        y = y.astype(bool)
        return float(-np.mean(np.where(y, np.log(p), np.log1p(-p))))
    y = y.astype(np.int64)
    if y.shape != (p.shape[0],) or y.min(initial=0) < 0 or y.max(initial=0) >= p.shape[1]:
        raise LeanECGError("y_true", f"expected {p.shape[0]} class indices in [0, {p.shape[1]})")
    return float(-np.mean(np.log(p[np.arange(len(y)), y])))


def fit_temperature(y_true: Any, probs: Any, multilabel: bool = False) -> float:
    """The temperature minimising the negative log-likelihood of ``apply_temperature(probs, T)`` on held-out
    (validation) labels (Guo et al., ICML 2017): one scalar for all classes, searched over ``log T`` within
    :data:`TEMPERATURE_RANGE` (bounded Brent)."""
    from scipy.optimize import minimize_scalar

    p = _check_probs(probs, multilabel)
    if len(p) == 0:
        raise LeanECGError("y_true", "no samples to fit a temperature on")
    lo, hi = (math.log(v) for v in TEMPERATURE_RANGE)

    def nll(log_t: float) -> float:
        return negative_log_likelihood(y_true, apply_temperature(p, math.exp(log_t), multilabel), multilabel)

    res = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-4})
    best = float(res.x)
    return float(math.exp(best)) if nll(best) < nll(0.0) else 1.0


def _thin_curve(curve: DecisionCurve, step: int) -> dict[str, Any]:
    idx = np.arange(0, curve.thresholds.size, step)
    return {
        "thresholds": [round(float(v), 4) for v in curve.thresholds[idx]],
        "net_benefit": [round(float(v), 6) for v in curve.net_benefit[idx]],
        "treat_all": [round(float(v), 6) for v in curve.treat_all[idx]],
        "treat_none": [0.0] * idx.size,
        "prevalence": curve.prevalence,
    }


def calibration_block(
    class_names: Sequence[str],
    y_val: Any,
    p_val: Any,
    y_test: Any,
    p_test: Any,
    *,
    multilabel: bool = False,
    n_bins: int = 10,
    fitted_on: str = "val",
    temperature: float | None = None,
) -> dict[str, Any]:
    """The ``calibration`` block of a benchmark result (``docs/results_schema.md``).

    A temperature is fitted on the validation predictions (:func:`fit_temperature`; or ``temperature`` is
    given), then on the **test** predictions, per class (one-vs-rest: the class's probability column against
    "is this class"): the reliability diagram and ECE (``n_bins`` equal-width bins) before and after
    temperature scaling, and the decision curve (net benefit per threshold 0.01..0.99, with treat-all and
    treat-none) of the calibrated probabilities (``net_benefit_uncalibrated``: of the raw ones). The
    top-label ECE (confidence of the predicted class vs accuracy) and the test NLL are given for single-label
    tasks.

    Args:
        class_names: the class of each probability column.
        y_val, y_test: int class indices ``(n,)``, or 0/1 ``(n, C)`` for ``multilabel``.
        p_val, p_test: probabilities ``(n, C)`` of the model on the validation / test split.
        fitted_on: what the validation data is (stored; e.g. ``"val (part of the training data)"``).
    """
    names = [str(c) for c in class_names]
    pv, pt = _check_probs(p_val, multilabel), _check_probs(p_test, multilabel)
    yv, yt = np.asarray(y_val), np.asarray(y_test)
    t = fit_temperature(yv, pv, multilabel) if temperature is None else float(temperature)
    pv_cal, pt_cal = apply_temperature(pv, t, multilabel), apply_temperature(pt, t, multilabel)
    onehot = (lambda y, k: y[:, k].astype(bool)) if multilabel else (lambda y, k: y.astype(np.int64) == k)
    per_class: dict[str, Any] = {}
    for k, name in enumerate(names):
        yk = onehot(yt, k)
        before = reliability_data(yk, pt[:, k], n_bins)
        after = reliability_data(yk, pt_cal[:, k], n_bins)
        curve = decision_curve(yk, pt_cal[:, k])
        raw_curve = decision_curve(yk, pt[:, k])
        dc = _thin_curve(curve, 1)
        dc["net_benefit_uncalibrated"] = [round(float(v), 6) for v in raw_curve.net_benefit]
        per_class[name] = {
            "support": int(yk.sum()),
            "ece_before": before.ece,
            "ece_after": after.ece,
            "reliability_before": before.to_dict(),
            "reliability_after": after.to_dict(),
            "decision_curve": dc,
        }
    block: dict[str, Any] = {
        "method": "temperature scaling: one T for all classes, fitted by NLL on the validation predictions",
        "fitted_on": fitted_on,
        "temperature": t,
        "n_val": len(pv),
        "n_test": len(pt),
        "n_bins": int(n_bins),
        "bins": "uniform",
        "nll_val_before": negative_log_likelihood(yv, pv, multilabel),
        "nll_val_after": negative_log_likelihood(yv, pv_cal, multilabel),
        "nll_test_before": negative_log_likelihood(yt, pt, multilabel),
        "nll_test_after": negative_log_likelihood(yt, pt_cal, multilabel),
        "ece_macro_before": float(np.mean([c["ece_before"] for c in per_class.values()])),
        "ece_macro_after": float(np.mean([c["ece_after"] for c in per_class.values()])),
        "per_class": per_class,
    }
    if not multilabel:
        correct = np.argmax(pt, axis=1) == yt.astype(np.int64)
        block["ece_top_label_before"] = expected_calibration_error(correct, pt.max(axis=1), n_bins)
        block["ece_top_label_after"] = expected_calibration_error(correct, pt_cal.max(axis=1), n_bins)
    return block
