"""Beat features against the patient's own distribution: per-record robust standardisation.

A beat feature means different things in different patients. A template correlation of 0.9 is an outlier in
a clean recording and the norm in a noisy one; a QRS 1.2 times the template's width is ectopic in one patient
and the spread of another's bundle-branch block. Re-expressing every column against the record's own beats,
``(x - median) / IQR``, is an unsupervised adaptation to the patient (no label is read): what is unusual *for
this patient* stands out whatever the patient's baseline. The shipped mitdb-aami pair's network reads these
columns beside the raw ones (:data:`leanecg.signal.beats.RECORD_Z_FEATURE_NAMES`).

* offline (:func:`record_robust_z`): the median and interquartile range of every beat of the record
  (``leanecg beats``, training);
* online (:class:`RunningRobustZ`): a stream cannot see later beats, so beat ``i`` is standardised against
  the beats so far (``0 .. i``, at most the last ``history``). This is the one input besides a record-level
  ``zscore`` step whose online value differs from the offline one: early in a stream the statistics rest on
  few beats, and they approach the record's as the stream goes on.

The yardstick is every beat, or (``reference``) the record's non-premature beats (:func:`not_premature`: RR
before >= 0.9 x RR after), which stay the normal rhythm where premature ectopic beats are frequent, even the
majority (bigeminy): against all beats the median then moves towards the ectopic beats and they stop standing
out. :data:`leanecg.signal.beats.RECORD_ZN_FEATURE_NAMES` are those columns (screened on DS1 in
``benchmarks/record_reference_screen.py``).

A column whose IQR is below :data:`MIN_IQR` (e.g. a constant column, or a single beat) is only centred
(divided by 1). NaN values (a record of fewer than two beats) stay NaN and do not enter the statistics.
"""

from __future__ import annotations

import bisect
import math
import warnings
from collections import deque

import numpy as np

from leanecg.errors import LeanECGError

__all__ = [
    "MIN_IQR",
    "MIN_REFERENCE",
    "PREMATURE_RATIO",
    "RUNNING_HISTORY",
    "RunningRobustZ",
    "not_premature",
    "record_robust_z",
    "robust_z",
]

#: An interquartile range below this (in the column's units) divides by 1: the column is only centred.
MIN_IQR = 1e-9
#: Beats a stream keeps for its running statistics (about an hour at 70 bpm; MIT-BIH records hold fewer).
RUNNING_HISTORY = 4096
#: :func:`not_premature`: a beat whose RR interval before it is shorter than this share of the one after it
#: is premature (an ectopic beat's early onset and the pause after it).
PREMATURE_RATIO = 0.9
#: Fewest reference beats the statistics rest on; with fewer, every beat is the yardstick.
MIN_REFERENCE = 8


def not_premature(pre_rr: np.ndarray, post_rr: np.ndarray, ratio: float = PREMATURE_RATIO) -> np.ndarray:
    """Beats that are not premature, bool ``(n,)``: ``pre_rr >= ratio * post_rr`` (seconds, ``(n,)`` each;
    a NaN interval -- the first or last beat -- is False).

    The yardstick of a record's beat features is meant to be its normal beats. Premature beats (most SVEBs
    and VEBs: early, then a pause) are the ones left out; in bigeminy or frequent ectopy, where ectopic beats
    can be the majority, the statistics then still rest on the beats between them. No label and no model is
    read. A run of ectopic beats at a steady rate (a tachycardia) is not premature by this rule.

    >>> not_premature(np.array([0.8, 0.5, 1.1, np.nan]), np.array([0.8, 1.1, 0.8, 0.8])).tolist()
    [True, False, True, False]
    """
    pre = np.asarray(pre_rr, dtype=np.float64)
    post = np.asarray(post_rr, dtype=np.float64)
    if pre.shape != post.shape or pre.ndim != 1:
        raise LeanECGError(
            "rr", f"need pre_rr and post_rr of one shape (n,), got {pre.shape} and {post.shape}"
        )
    with np.errstate(invalid="ignore"):
        return np.asarray(pre >= float(ratio) * post)


def _quartiles(reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column median and IQR of ``(m, F)`` values, NaN ignored (an all-NaN column: NaN, NaN)."""
    with warnings.catch_warnings():  # an all-NaN column (fewer than two beats) is NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        q1, med, q3 = np.nanpercentile(reference, [25.0, 50.0, 75.0], axis=0)
    return med, q3 - q1


def robust_z(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``values`` against the column medians and IQRs of ``reference``: ``(values - median) / IQR``.

    Args:
        values: ``(n, F)`` features to standardise.
        reference: ``(m, F)`` features whose distribution is the yardstick (``m >= 1``).

    Returns:
        float64 ``(n, F)``, dimensionless; columns with IQR below :data:`MIN_IQR` only centred.

    >>> ref = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [4.0, 5.0], [5.0, 5.0]])
    >>> robust_z(np.array([[3.0, 6.0], [7.0, 5.0]]), ref)
    array([[0., 1.],
           [2., 0.]])
    """
    v = np.asarray(values, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if v.ndim != 2 or ref.ndim != 2 or ref.shape[1] != v.shape[1] or ref.shape[0] < 1:
        raise LeanECGError(
            "features", f"need values (n, F) and a reference (m >= 1, F), got {v.shape} and {ref.shape}"
        )
    med, iqr = _quartiles(ref)
    return (v - med) / np.where(iqr >= MIN_IQR, iqr, 1.0)


def record_robust_z(features: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Every beat of a record against the record: :func:`robust_z` of ``features`` against its
    ``reference`` beats. ``(n_beats, F) -> (n_beats, F)`` float64 (``n_beats = 0``: an empty array).

    Args:
        features: ``(n_beats, F)`` beat features of one record.
        reference: bool ``(n_beats,)``, the beats whose distribution is the yardstick (e.g.
            :func:`not_premature`); default, or fewer than :data:`MIN_REFERENCE` of them: every beat.

    >>> record_robust_z(np.array([[0.8], [1.0], [1.0], [1.2], [0.5]])).round(2).ravel().tolist()
    [-1.0, 0.0, 0.0, 1.0, -2.5]
    """
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2:
        raise LeanECGError("features", f"need (n_beats, F) features, got shape {f.shape}")
    if f.shape[0] == 0:
        return f.copy()
    if reference is None:
        return robust_z(f, f)
    mask = np.asarray(reference, dtype=bool)
    if mask.shape != (f.shape[0],):
        raise LeanECGError("reference", f"need a bool mask of shape ({f.shape[0]},), got {mask.shape}")
    return robust_z(f, f[mask] if int(mask.sum()) >= MIN_REFERENCE else f)


class _SortedWindow:
    """The last ``history`` rows of ``F`` columns, each column's finite values kept sorted (one insertion
    and at most one removal per row)."""

    def __init__(self, history: int, n_columns: int) -> None:
        self.history = history
        self.held: deque[list[float]] = deque()  # plain float rows, oldest first
        self.sorted: list[list[float]] = [[] for _ in range(n_columns)]

    def __len__(self) -> int:
        return len(self.held)

    def add(self, row: list[float]) -> None:
        self.held.append(row)
        for col, value in zip(self.sorted, row, strict=True):
            if math.isfinite(value):
                bisect.insort(col, value)
        if len(self.held) > self.history:
            for col, value in zip(self.sorted, self.held.popleft(), strict=True):
                if math.isfinite(value):
                    del col[bisect.bisect_left(col, value)]

    def standardise(self, row: list[float], out: np.ndarray) -> None:
        """``out[j] = (row[j] - median_j) / IQR_j`` over the held values (NaN for an empty column)."""
        for j, col in enumerate(self.sorted):
            if not col:
                out[j] = math.nan
                continue
            q1, med, q3 = (_sorted_quantile(col, q) for q in (0.25, 0.5, 0.75))
            iqr = q3 - q1
            out[j] = (row[j] - med) / (iqr if iqr >= MIN_IQR else 1.0)


class RunningRobustZ:
    """The online twin of :func:`record_robust_z`: each beat against the beats so far (itself included, at
    most the last ``history``), on any chunking (module docstring). With ``reference`` masks (as
    :func:`record_robust_z`), against the reference beats so far (the last ``history`` of them) once there
    are :data:`MIN_REFERENCE` of them, against all beats so far before that. Memory: ``2 * history`` rows.

    Each column's finite values are kept sorted (one insertion and at most one removal per beat), so a beat's
    median and quartiles are read off, interpolated as :func:`numpy.percentile` does: a few microseconds per
    beat and column instead of a percentile over the whole history.

    >>> f = np.array([[0.8], [1.0], [1.0], [1.2], [0.5]])
    >>> run = RunningRobustZ()
    >>> np.allclose(np.vstack([run.next(f[:2]), run.next(f[2:])])[-1], record_robust_z(f)[-1])
    True
    """

    def __init__(self, history: int = RUNNING_HISTORY) -> None:
        if int(history) < 1:
            raise LeanECGError("history", f"need at least 1 beat, got {history!r}")
        self.history = int(history)
        self.windows: tuple[_SortedWindow, _SortedWindow] | None = (
            None  # (every beat, reference beats) so far
        )

    def next(self, features: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
        """Standardised ``(k, F)`` float64 rows of the next ``k`` beats' features ``(k, F)`` (time order),
        which then join the statistics; ``reference``: bool ``(k,)``, which of them are reference beats
        (give it on every call of a stream or on none)."""
        f = np.asarray(features, dtype=np.float64)
        if f.ndim != 2:
            raise LeanECGError("features", f"need (k, F) features, got shape {f.shape}")
        if self.windows is None:
            self.windows = (_SortedWindow(self.history, f.shape[1]), _SortedWindow(self.history, f.shape[1]))
        every, ref = self.windows
        if len(every.sorted) != f.shape[1]:
            raise LeanECGError("features", f"need {len(every.sorted)} columns, got {f.shape[1]}")
        mask = None if reference is None else np.asarray(reference, dtype=bool)
        if mask is not None and mask.shape != (f.shape[0],):
            raise LeanECGError("reference", f"need a bool mask of shape ({f.shape[0]},), got {mask.shape}")
        out = np.empty_like(f)
        for i, row in enumerate(f.tolist()):
            every.add(row)
            if mask is not None and mask[i]:
                ref.add(row)
            (ref if mask is not None and len(ref) >= MIN_REFERENCE else every).standardise(row, out[i])
        return out


def _sorted_quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile of sorted ``values``, linear interpolation between order statistics as
    :func:`numpy.percentile` (its default method) computes it."""
    pos = q * (len(values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(values) - 1)
    t = pos - lo
    a, b = values[lo], values[hi]
    return a + (b - a) * t if t < 0.5 else b - (b - a) * (1.0 - t)
