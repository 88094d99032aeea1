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

__all__ = ["MIN_IQR", "RUNNING_HISTORY", "RunningRobustZ", "record_robust_z", "robust_z"]

#: An interquartile range below this (in the column's units) divides by 1: the column is only centred.
MIN_IQR = 1e-9
#: Beats a stream keeps for its running statistics (about an hour at 70 bpm; MIT-BIH records hold fewer).
RUNNING_HISTORY = 4096


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


def record_robust_z(features: np.ndarray) -> np.ndarray:
    """Every beat of a record against the whole record: :func:`robust_z` of ``features`` against itself.
    ``(n_beats, F) -> (n_beats, F)`` float64 (``n_beats = 0``: an empty array).

    >>> record_robust_z(np.array([[0.8], [1.0], [1.0], [1.2], [0.5]])).round(2).ravel().tolist()
    [-1.0, 0.0, 0.0, 1.0, -2.5]
    """
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2:
        raise LeanECGError("features", f"need (n_beats, F) features, got shape {f.shape}")
    return f.copy() if f.shape[0] == 0 else robust_z(f, f)


class RunningRobustZ:
    """The online twin of :func:`record_robust_z`: each beat against the beats so far (itself included, at
    most the last ``history``), on any chunking (module docstring). Memory: ``history`` rows.

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
        self.held: deque[list[float]] = deque()  # the last `history` rows (plain floats), oldest first
        self.sorted: list[list[float]] | None = None  # per column, its held finite values in order

    def next(self, features: np.ndarray) -> np.ndarray:
        """Standardised ``(k, F)`` float64 rows of the next ``k`` beats' features ``(k, F)`` (time order),
        which then join the statistics."""
        f = np.asarray(features, dtype=np.float64)
        if f.ndim != 2:
            raise LeanECGError("features", f"need (k, F) features, got shape {f.shape}")
        if self.sorted is None:
            self.sorted = [[] for _ in range(f.shape[1])]
        if len(self.sorted) != f.shape[1]:
            raise LeanECGError("features", f"need {len(self.sorted)} columns, got {f.shape[1]}")
        out = np.empty_like(f)
        for i, row in enumerate(f.tolist()):
            self.held.append(row)
            for col, value in zip(self.sorted, row, strict=True):
                if math.isfinite(value):
                    bisect.insort(col, value)
            if len(self.held) > self.history:
                for col, value in zip(self.sorted, self.held.popleft(), strict=True):
                    if math.isfinite(value):
                        del col[bisect.bisect_left(col, value)]
            for j, col in enumerate(self.sorted):
                if not col:
                    out[i, j] = math.nan
                    continue
                q1, med, q3 = (_sorted_quantile(col, q) for q in (0.25, 0.5, 0.75))
                iqr = q3 - q1
                out[i, j] = (row[j] - med) / (iqr if iqr >= MIN_IQR else 1.0)
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
