"""Percentile bootstrap confidence intervals, row-level or patient-level (grouped).

* Resamples are drawn once, up front, as an ``(n_boot, n_units)`` integer array from
  ``numpy.random.default_rng(seed)``: the same seed gives the same intervals on any machine.
* With ``groups`` (e.g. patient ids) the *groups* are resampled with replacement and every row of a drawn
  group enters the resample (as many times as the group is drawn): the interval then reflects
  between-patient variability, which row resampling underestimates when patients contribute many
  records or beats.
* A resample is *degenerate* when the metric cannot be computed on it: the metric raises ``ValueError``,
  ``ZeroDivisionError`` or ``FloatingPointError`` or returns a non-finite value, or (``require_all_classes``,
  default) a class present in the full data is absent from the resample -- for 1-D integer/bool labels a
  label value, for 2-D 0/1 labels a column without any positive (as the PTB-XL benchmark's bootstrap
  demands). Degenerate resamples are left out of the percentiles and counted in ``n_degenerate``.
* The interval is the ``alpha/2`` and ``1 - alpha/2`` percentiles (``numpy.percentile``, linear
  interpolation) of the valid resampled values; the point estimate is the metric on the full data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leanecg.errors import LeanECGError

_DEGENERATE_ERRORS = (ValueError, ZeroDivisionError, FloatingPointError)


@dataclass(frozen=True)
class BootstrapCI:
    """A bootstrap confidence interval; unpacks as ``point, lo, hi``.

    Attributes:
        point: the metric on the full data.
        lo, hi: the percentile interval (NaN when no resample was valid).
        n_boot: resamples drawn.
        n_valid: resamples used for the interval.
        n_degenerate: resamples left out (``n_boot - n_valid``).
        alpha: 1 - confidence level.
        unit: ``"rows"`` or ``"groups"`` (what was resampled).
        samples: the valid resampled metric values, in draw order.
    """

    point: float
    lo: float
    hi: float
    n_boot: int
    n_valid: int
    n_degenerate: int
    alpha: float
    unit: str
    samples: np.ndarray = field(repr=False)

    def __iter__(self) -> Iterator[float]:
        return iter((self.point, self.lo, self.hi))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the samples)."""
        return {
            "point": self.point,
            "lo": self.lo,
            "hi": self.hi,
            "n_boot": self.n_boot,
            "n_valid": self.n_valid,
            "n_degenerate": self.n_degenerate,
            "alpha": self.alpha,
            "unit": self.unit,
        }


def _group_layout(groups: Any, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows sorted by group, the start of each group in that order, and each group's size."""
    g = np.asarray(groups)
    if g.ndim != 1 or g.size != n:
        raise LeanECGError("groups", f"expected one group id per row ({n}), got shape {g.shape}")
    _, codes = np.unique(g, return_inverse=True)
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    return order, starts, sizes


def resample_indices(n: int, n_boot: int = 1000, seed: int = 0, groups: Any = None) -> Iterator[np.ndarray]:
    """``n_boot`` arrays of row indices, one bootstrap resample each (all drawn up front, yielded lazily).

    Without ``groups`` each resample has ``n`` rows; with ``groups`` it is the union, with multiplicity,
    of the rows of ``n_groups`` groups drawn with replacement (so its size varies).
    """
    if n < 1:
        raise LeanECGError("y_true", "no samples to bootstrap")
    _check_n_boot(n_boot)
    rng = np.random.default_rng(seed)
    if groups is None:
        return iter(rng.integers(0, n, size=(int(n_boot), n)))
    order, starts, sizes = _group_layout(groups, n)
    draws = rng.integers(0, sizes.size, size=(int(n_boot), sizes.size))
    return (_group_rows(order, starts, sizes, chosen) for chosen in draws)


def _group_rows(order: np.ndarray, starts: np.ndarray, sizes: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Row indices of the drawn groups, each group's rows contiguous, groups in draw order."""
    lens = sizes[chosen]
    offsets = np.repeat(np.cumsum(lens) - lens, lens)
    return order[np.repeat(starts[chosen], lens) + np.arange(int(lens.sum())) - offsets]


def _check_n_boot(n_boot: int) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise LeanECGError("n_boot", f"must be a positive int, got {n_boot!r}")


def _is_discrete(y: np.ndarray) -> bool:
    """Class labels: bool or integer arrays, or float arrays holding only 0 and 1."""
    if y.dtype == bool or np.issubdtype(y.dtype, np.integer):
        return True
    if np.issubdtype(y.dtype, np.floating):
        return bool(np.all((y == 0) | (y == 1)))
    return False


class _ClassCheck:
    """Does a resample contain every class of the full data?"""

    def __init__(self, y: np.ndarray) -> None:
        self.kind = "none"
        if y.size == 0 or not _is_discrete(y):
            return
        if y.ndim == 1:
            _, self.codes = np.unique(y, return_inverse=True)
            self.n_classes = int(self.codes.max()) + 1
            self.kind = "labels"
        elif y.ndim == 2:
            self.pos = y != 0
            self.columns = np.flatnonzero(self.pos.any(axis=0))
            self.kind = "columns"

    def ok(self, idx: np.ndarray) -> bool:
        if self.kind == "labels":
            return bool(np.bincount(self.codes[idx], minlength=self.n_classes).min() > 0)
        if self.kind == "columns":
            return bool(self.pos[np.ix_(idx, self.columns)].any(axis=0).all())
        return True


def _evaluate(metric_fn: Callable[..., Any], *arrays: np.ndarray) -> float:
    """Metric value, or NaN when it cannot be computed on this resample."""
    try:
        value = metric_fn(*arrays)
    except _DEGENERATE_ERRORS:
        return float("nan")
    v = np.asarray(value, dtype=np.float64)
    if v.ndim != 0:
        raise LeanECGError("metric_fn", f"must return one number, returned an array of shape {v.shape}")
    return float(v)


def _summarise(point: float, values: np.ndarray, n_boot: int, alpha: float, unit: str) -> BootstrapCI:
    valid = values[np.isfinite(values)]
    if valid.size:
        lo, hi = np.percentile(valid, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    else:
        lo = hi = float("nan")
    return BootstrapCI(
        point=point,
        lo=float(lo),
        hi=float(hi),
        n_boot=n_boot,
        n_valid=int(valid.size),
        n_degenerate=int(n_boot - valid.size),
        alpha=alpha,
        unit=unit,
        samples=valid,
    )


def _check_alpha(alpha: float) -> float:
    if not (0 < alpha < 1):
        raise LeanECGError("alpha", f"must be between 0 and 1, got {alpha!r}")
    return float(alpha)


def _check_args(
    alpha: float, n_boot: int, y_true: Any, *y_preds: Any
) -> tuple[float, np.ndarray, list[np.ndarray]]:
    """Checked ``alpha``, ``n_boot`` and arrays: ``y_true`` and every prediction array have one row per
    label row (axis 0)."""
    alpha = _check_alpha(alpha)
    _check_n_boot(n_boot)
    yt = np.asarray(y_true)
    preds = [np.asarray(y) for y in y_preds]
    if yt.ndim == 0 or any(y.shape[:1] != yt.shape[:1] for y in preds):
        *first, last = [str(y.shape) for y in preds] + [str(yt.shape)]
        raise LeanECGError("y_pred", f"needs one row per label row: shapes {', '.join(first)} and {last}")
    return alpha, yt, preds


def _resampled(
    statistic: Callable[[np.ndarray, np.ndarray | slice], float],
    yt: np.ndarray,
    groups: Any,
    n_boot: int,
    alpha: float,
    seed: int,
    require_all_classes: bool,
) -> BootstrapCI:
    """Point value ``statistic(yt, slice(None))`` and its percentile CI over the resamples ``idx``
    (``statistic(yt[idx], idx)``; NaN for a resample missing a class when ``require_all_classes``)."""
    point = statistic(yt, slice(None))
    check = _ClassCheck(yt) if require_all_classes else _ClassCheck(np.zeros(0, dtype=float))
    values = np.empty(int(n_boot))
    for k, idx in enumerate(resample_indices(yt.shape[0], n_boot, seed, groups)):
        values[k] = statistic(yt[idx], idx) if check.ok(idx) else np.nan
    return _summarise(point, values, int(n_boot), alpha, "rows" if groups is None else "groups")


def bootstrap_ci(
    metric_fn: Callable[[np.ndarray, np.ndarray], float],
    y_true: Any,
    y_pred: Any,
    groups: Any = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    *,
    require_all_classes: bool = True,
) -> BootstrapCI:
    """Percentile bootstrap CI of ``metric_fn(y_true, y_pred)``.

    Args:
        metric_fn: ``f(y_true_subset, y_pred_subset) -> float``; rows are indexed along axis 0.
        y_true: ``(n, ...)`` labels.
        y_pred: ``(n, ...)`` predictions or scores.
        groups: ``(n,)`` group (patient) id per row to resample groups instead of rows; ``None`` for rows.
        n_boot: number of resamples.
        alpha: 1 - confidence level (0.05 for a 95 % interval).
        seed: seed of ``numpy.random.default_rng``.
        require_all_classes: treat a resample missing a class of the full data as degenerate (integer/bool
            labels only; see the module docstring).

    Returns:
        :class:`BootstrapCI` (``point, lo, hi = bootstrap_ci(...)`` works).
    """
    alpha, yt, (yp,) = _check_args(alpha, n_boot, y_true, y_pred)

    def value(t: np.ndarray, idx: np.ndarray | slice) -> float:
        return _evaluate(metric_fn, t, yp[idx])

    return _resampled(value, yt, groups, n_boot, alpha, seed, require_all_classes)


def bootstrap_diff_ci(
    metric_fn: Callable[[np.ndarray, np.ndarray], float],
    y_true: Any,
    y_pred_a: Any,
    y_pred_b: Any,
    groups: Any = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    *,
    require_all_classes: bool = True,
) -> BootstrapCI:
    """Paired bootstrap CI of ``metric(a) - metric(b)``: both models scored on the same resamples.

    An interval excluding 0 means the difference is significant at level ``alpha`` (two-sided).
    """
    alpha, yt, (a, b) = _check_args(alpha, n_boot, y_true, y_pred_a, y_pred_b)

    def diff(t: np.ndarray, idx: np.ndarray | slice) -> float:
        return _evaluate(metric_fn, t, a[idx]) - _evaluate(metric_fn, t, b[idx])

    return _resampled(diff, yt, groups, n_boot, alpha, seed, require_all_classes)
