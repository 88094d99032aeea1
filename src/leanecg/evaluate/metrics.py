"""Task metrics with 95 % bootstrap confidence intervals, computed in one resampling pass."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from leanecg.evaluate.bootstrap import resample_indices
from leanecg.evaluate.results import metric_entry

MetricsFn = Callable[[np.ndarray, np.ndarray], dict[str, float]]


def metrics_with_ci(
    metrics_fn: MetricsFn,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    groups: np.ndarray | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Point values and percentile bootstrap CIs of every metric ``metrics_fn`` returns.

    One set of resamples serves all metrics (so their CIs are paired). With ``groups`` (patient or
    record ids) whole groups are resampled. A metric that is undefined (NaN) in a resample is left out
    of that metric's interval; ``n_valid`` says how many resamples were used.
    """
    point = metrics_fn(y_true, y_pred)
    draws: dict[str, list[float]] = {k: [] for k in point}
    for idx in resample_indices(len(y_true), n_boot, seed, groups):
        for k, v in metrics_fn(y_true[idx], y_pred[idx]).items():
            draws[k].append(v)
    out = {}
    for k, v in point.items():
        vals = np.asarray(draws[k], dtype=float)
        vals = vals[np.isfinite(vals)]
        lo, hi = np.percentile(vals, [50 * alpha, 100 - 50 * alpha]) if vals.size else (np.nan, np.nan)
        out[k] = metric_entry(
            v,
            lo,
            hi,
            n_boot=n_boot,
            n_valid=int(vals.size),
            resampled="groups" if groups is not None else "rows",
        )
    return out


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Count matrix ``(n_classes, n_classes)``: rows reference, columns prediction (int class indices)."""
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, -1)


def per_class_from_confusion(m: np.ndarray, names: Sequence[str]) -> dict[str, dict[str, float]]:
    """Sensitivity (Se), positive predictivity (+P) and F1 of each class from a count matrix."""
    out = {}
    for k, name in enumerate(names):
        tp = float(m[k, k])
        fn = float(m[k].sum() - tp)
        fp = float(m[:, k].sum() - tp)
        out[name] = {
            "se": tp / (tp + fn) if tp + fn else float("nan"),
            "ppv": tp / (tp + fp) if tp + fp else float("nan"),
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan"),
            "support": int(tp + fn),
        }
    return out


def one_vs_rest_curves(
    y_true: np.ndarray, proba: np.ndarray, names: Sequence[str], max_points: int = 200
) -> dict:
    """Per-class ROC and precision-recall curves (thinned to ``max_points``) for the report."""
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    roc, pr = {}, {}
    for k, name in enumerate(names):
        yk = (y_true == k).astype(int)
        if yk.min() == yk.max():
            continue
        fpr, tpr, _ = roc_curve(yk, proba[:, k])
        prec, rec, _ = precision_recall_curve(yk, proba[:, k])
        roc[name] = {
            "fpr": _thin(fpr, max_points),
            "tpr": _thin(tpr, max_points),
            "auc": float(auc(fpr, tpr)),
        }
        pr[name] = {
            "recall": _thin(rec, max_points),
            "precision": _thin(prec, max_points),
            "ap": float(-np.sum(np.diff(rec) * prec[:-1])),
        }
    return {"roc": roc, "pr": pr}


def _thin(a: np.ndarray, n: int) -> list[float]:
    if a.size <= n:
        return [round(float(v), 5) for v in a]
    idx = np.unique(np.linspace(0, a.size - 1, n).round().astype(int))
    return [round(float(v), 5) for v in a[idx]]
