"""Multi-label classification metrics: per-class and macro AUROC, AUPRC and F1, and threshold selection.

Conventions (the usual ones of the PTB-XL benchmark and scikit-learn, implemented in numpy):

* ``y_true`` is ``(n_samples, n_classes)`` 0/1 (or bool), ``y_score`` the same shape of real scores
  (probabilities or logits); 1-D inputs are treated as one class.
* AUROC is the Mann-Whitney statistic with tied scores counted as 1/2 (= the trapezoid ROC area, equal to
  ``sklearn.metrics.roc_auc_score``). AUPRC is average precision, ``sum_k (R_k - R_{k-1}) P_k`` over the
  distinct score thresholds (= ``sklearn.metrics.average_precision_score``; no trapezoid interpolation).
* A class with no positive (or, for AUROC, no negative) sample has an undefined AUROC/AUPRC: it is NaN in
  the per-class arrays, listed by name in the result, and left out of the macro mean -- never an exception
  and never silently 0 or 1.
* F1 is ``2TP / (2TP + FP + FN)``; NaN when a class has neither positives nor predicted positives (then it
  is left out of the macro F1, as the CinC 2021 scorer does; scikit-learn would count it as 0 or 1).
* Thresholds are chosen on validation data with :func:`select_thresholds` and applied, unchanged, to test
  data with :func:`apply_thresholds` (``score >= threshold`` is positive).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from leanecg.errors import LeanECGError, check_choice

_METRICS = ("f1", "youden", "mcc")


def _as_labels(y: Any, name: str = "y_true") -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise LeanECGError(name, f"expected (n_samples, n_classes), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise LeanECGError(name, "no samples")
    if arr.dtype != bool:
        if not np.issubdtype(arr.dtype, np.number) or not np.all((arr == 0) | (arr == 1)):
            raise LeanECGError(name, "labels must be 0/1 or bool")
        arr = arr != 0
    return arr


def _as_scores(s: Any, shape: tuple[int, int], name: str = "y_score") -> np.ndarray:
    arr = np.asarray(s, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.shape != shape:
        raise LeanECGError(name, f"shape {arr.shape} does not match the labels' shape {shape}")
    if not np.all(np.isfinite(arr)):
        raise LeanECGError(name, "scores must be finite (no NaN or inf)")
    return arr


def _class_names(names: Sequence[str] | None, n: int) -> list[str]:
    if names is None:
        return [str(i) for i in range(n)]
    if len(names) != n:
        raise LeanECGError("class_names", f"{len(names)} names for {n} classes")
    return [str(c) for c in names]


def _sweep(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct scores from high to low and the cumulative TP/FP when predicting ``score >= value``."""
    values, inverse = np.unique(s, return_inverse=True)
    pos = np.bincount(inverse, weights=y.astype(np.float64), minlength=values.size)
    tot = np.bincount(inverse, minlength=values.size).astype(np.float64)
    return values[::-1], np.cumsum(pos[::-1]), np.cumsum((tot - pos)[::-1])


def _auroc_1d(y: np.ndarray, s: np.ndarray) -> float:
    n_pos = int(np.count_nonzero(y))
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, tp, fp = _sweep(y, s)
    tp = np.concatenate(([0.0], tp))
    fp = np.concatenate(([0.0], fp))
    # trapezoid area under (FPR, TPR): ties contribute a diagonal step = 1/2 credit
    return float(np.sum((fp[1:] - fp[:-1]) * (tp[1:] + tp[:-1])) / (2.0 * n_pos * n_neg))


def _auprc_1d(y: np.ndarray, s: np.ndarray) -> float:
    n_pos = int(np.count_nonzero(y))
    if n_pos == 0:
        return float("nan")
    _, tp, fp = _sweep(y, s)
    recall = np.concatenate(([0.0], tp / n_pos))
    precision = tp / (tp + fp)
    return float(np.sum((recall[1:] - recall[:-1]) * precision))


def auroc_per_class(y_true: Any, y_score: Any) -> np.ndarray:
    """AUROC of each class ``(n_classes,)``; NaN for a class without positives or without negatives."""
    y = _as_labels(y_true)
    s = _as_scores(y_score, y.shape)
    return np.array([_auroc_1d(y[:, k], s[:, k]) for k in range(y.shape[1])])


def auprc_per_class(y_true: Any, y_score: Any) -> np.ndarray:
    """Average precision of each class ``(n_classes,)``; NaN for a class without positives."""
    y = _as_labels(y_true)
    s = _as_scores(y_score, y.shape)
    return np.array([_auprc_1d(y[:, k], s[:, k]) for k in range(y.shape[1])])


def f1_per_class(y_true: Any, y_pred: Any) -> np.ndarray:
    """F1 of each class from binary predictions ``(n_classes,)``; NaN when ``2TP + FP + FN == 0``."""
    y = _as_labels(y_true)
    p = _as_labels(y_pred, "y_pred")
    if p.shape != y.shape:
        raise LeanECGError("y_pred", f"shape {p.shape} does not match the labels' shape {y.shape}")
    tp = np.count_nonzero(y & p, axis=0).astype(np.float64)
    fp = np.count_nonzero(~y & p, axis=0).astype(np.float64)
    fn = np.count_nonzero(y & ~p, axis=0).astype(np.float64)
    den = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, 2 * tp / den, np.nan)


def _nanmean(x: np.ndarray) -> float:
    ok = ~np.isnan(x)
    return float(x[ok].mean()) if ok.any() else float("nan")


def apply_thresholds(y_score: Any, thresholds: Any) -> np.ndarray:
    """Binary predictions ``score >= threshold`` (bool, same shape as ``y_score``).

    Args:
        y_score: ``(n_samples, n_classes)`` or ``(n_samples,)`` scores.
        thresholds: a scalar or ``(n_classes,)`` per-class thresholds (``inf`` = never positive).
    """
    s = np.asarray(y_score, dtype=np.float64)
    t = np.asarray(thresholds, dtype=np.float64)
    if t.ndim > 1 or (t.ndim == 1 and (s.ndim != 2 or t.size != s.shape[1])):
        raise LeanECGError("thresholds", f"shape {t.shape} does not fit scores of shape {s.shape}")
    if np.any(np.isnan(t)):
        raise LeanECGError("thresholds", "thresholds must not be NaN")
    return s >= t


def multilabel_metrics(
    y_true: Any,
    y_score: Any,
    thresholds: Any = 0.5,
    class_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Per-class and macro AUROC, AUPRC and F1.

    Args:
        y_true: ``(n_samples, n_classes)`` 0/1 labels.
        y_score: ``(n_samples, n_classes)`` scores.
        thresholds: scalar or per-class thresholds for F1 (``score >= threshold`` is positive); choose them
            on validation data with :func:`select_thresholds`.
        class_names: names used in the result (default ``"0"``, ``"1"``, ...).

    Returns:
        ``auroc``, ``auprc``, ``f1`` (macro means over the classes where each is defined), ``per_class``
        (``{name: {"auroc", "auprc", "f1", "n_pos"}}``), ``classes_without_positives``,
        ``classes_without_negatives`` and ``n_classes``.
    """
    y = _as_labels(y_true)
    s = _as_scores(y_score, y.shape)
    names = _class_names(class_names, y.shape[1])
    auroc = auroc_per_class(y, s)
    auprc = auprc_per_class(y, s)
    f1 = f1_per_class(y, apply_thresholds(s, thresholds))
    n_pos = np.count_nonzero(y, axis=0)
    return {
        "auroc": _nanmean(auroc),
        "auprc": _nanmean(auprc),
        "f1": _nanmean(f1),
        "n_classes": len(names),
        "classes_without_positives": [n for n, k in zip(names, n_pos, strict=True) if k == 0],
        "classes_without_negatives": [n for n, k in zip(names, n_pos, strict=True) if k == y.shape[0]],
        "per_class": {
            n: {"auroc": float(a), "auprc": float(p), "f1": float(f), "n_pos": int(k)}
            for n, a, p, f, k in zip(names, auroc, auprc, f1, n_pos, strict=True)
        },
    }


def _threshold_scores(tp: np.ndarray, fp: np.ndarray, n_pos: int, n_neg: int, metric: str) -> np.ndarray:
    fn = n_pos - tp
    tn = n_neg - fp
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric == "f1":
            den = 2 * tp + fp + fn
            return np.where(den > 0, 2 * tp / den, 0.0)
        if metric == "youden":
            tpr = tp / n_pos if n_pos else np.zeros_like(tp)
            fpr = fp / n_neg if n_neg else np.zeros_like(fp)
            return tpr - fpr
        den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        return np.where(den > 0, (tp * tn - fp * fn) / den, 0.0)


def select_thresholds(y_val: Any, p_val: Any, metric: str = "f1") -> np.ndarray:
    """Per-class decision thresholds maximising ``metric`` on *validation* data.

    Every cut between two distinct validation scores is tried (plus "none positive" and "all positive");
    the threshold returned is the midpoint between the lowest score predicted positive and the next lower
    score, so ``apply_thresholds(p_val, t)`` reproduces the chosen cut exactly. Ties between cuts go to the
    higher threshold (fewer positives). A class with no positive in ``y_val`` gets ``+inf`` (never
    positive: any positive prediction would be a false positive); a class with only positives, or whose
    best cut is "all positive", gets ``-inf``.

    Args:
        y_val: ``(n_samples, n_classes)`` 0/1 validation labels.
        p_val: ``(n_samples, n_classes)`` validation scores.
        metric: ``"f1"``, ``"youden"`` (sensitivity + specificity - 1) or ``"mcc"``.

    Returns:
        ``(n_classes,)`` float64 thresholds for :func:`apply_thresholds`.
    """
    check_choice("metric", metric, _METRICS)
    y = _as_labels(y_val, "y_val")
    s = _as_scores(p_val, y.shape, "p_val")
    out = np.empty(y.shape[1])
    for k in range(y.shape[1]):
        n_pos = int(np.count_nonzero(y[:, k]))
        n_neg = y.shape[0] - n_pos
        if n_pos == 0 or n_neg == 0:  # one class only: never / always positive
            out[k] = np.inf if n_pos == 0 else -np.inf
            continue
        values, tp, fp = _sweep(y[:, k], s[:, k])
        tp = np.concatenate(([0.0], tp))  # cut 0 = nothing positive
        fp = np.concatenate(([0.0], fp))
        scores = _threshold_scores(tp, fp, n_pos, n_neg, metric)
        best = int(np.argmax(scores))  # first maximum = highest threshold
        if best == 0:
            out[k] = np.inf
        elif best == values.size:
            out[k] = -np.inf
        else:
            out[k] = 0.5 * (values[best - 1] + values[best])
    return out
