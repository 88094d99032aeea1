"""The AF gate of beat models: no supraventricular ectopic (S) beat inside an irregularly irregular rhythm.

An SVEB is a premature beat that interrupts a regular atrial rhythm. During atrial fibrillation there is
no such rhythm to interrupt: the MIT-BIH and AAMI EC57 references label the beats of AF episodes N (or V,
F when ventricular), never S. A beat model that reads prematurity from the RR features, however, calls
many AF beats S (the short RR intervals of AF look premature): in leave-records-out cross-validation on the
MIT-BIH DS1 records most of its false S beats lie in the AF records 201 and 203.

The gate makes the labelling rule explicit. :func:`rr_irregularity` measures, for every beat, how
irregular the rhythm of the last ``window`` beats is: the median absolute difference between successive
RR intervals divided by the median RR interval. The medians ignore isolated ectopic beats (a premature
beat and its compensatory pause change two or three of the ~31 differences), so sinus rhythm with ectopy
stays near 0.02-0.05 while AF sits at 0.1-0.4. :func:`gate_sveb` moves the S probability of the beats at
or above a threshold to N (the label AF beats carry). Both depend only on the beat and those before it, so
a stream gives the same values as a whole record (:class:`StreamingRRIrregularity`). Frequent SVEBs with
long pauses, atrial flutter with variable conduction or atrial bigeminy also have large successive
differences: their S beats are gated too (the cost, measured in ``benchmarks/README.md``).

With ``exclude_ectopic=True`` the measure first drops the premature-beat pairs of the window: an RR interval
shorter than :data:`ECTOPIC_SHORT` times the window's mean RR followed by one longer than
:data:`ECTOPIC_LONG` times it (a premature beat and its pause) loses both intervals, and the irregularity is
that of the intervals left (0 when fewer than :data:`MIN_KEPT` are left: a rhythm made of such pairs, e.g.
atrial bigeminy, is patterned, not fibrillating). In AF short-long pairs are a minority by chance and the
intervals left stay irregular; in sinus rhythm with frequent SVEBs the pairs are what makes it irregular. On
the 6,399 CinC 2017 training and validation records (single lead, 300 Hz, R peaks of
:func:`leanecg.signal.rpeaks.detect_rpeaks`), the record's median value separates AF from "other rhythm"
records with ROC AUC 0.90 against 0.82 without the filter (``benchmarks/rhythm_gate_cinc2017.py``).

The threshold of a shipped model is chosen by cross-validation on its training records
(``benchmarks/sveb_gate_cv.py``) and stored in its package (``rhythm_gate`` in ``model.json``).

>>> rr = np.array([np.nan] + [0.8] * 20 + [0.5, 1.1] + [0.8] * 20)  # sinus rhythm with one premature beat
>>> float(np.nanmax(rr_irregularity(rr, window=16)))
0.0
>>> p = np.array([[0.3, 0.6, 0.1, 0.0]])
>>> gate_sveb(p, np.array([0.2]), threshold=0.1, s_index=1, n_index=0)
array([[0.9, 0. , 0.1, 0. ]])
"""

from __future__ import annotations

import numpy as np

from leanecg.errors import check_number

__all__ = [
    "DEFAULT_WINDOW",
    "ECTOPIC_LONG",
    "ECTOPIC_SHORT",
    "MIN_KEPT",
    "StreamingRRIrregularity",
    "gate_sveb",
    "rr_from_peaks",
    "rr_irregularity",
]

#: RR intervals in the irregularity window (the beat's own and those before it).
DEFAULT_WINDOW = 32
#: ``exclude_ectopic``: an interval below this fraction of the window's mean RR is premature ...
ECTOPIC_SHORT = 0.85
#: ... and drops with the next one when that is above this fraction (its pause).
ECTOPIC_LONG = 1.1
#: ``exclude_ectopic``: fewest intervals left for an irregularity; fewer give 0 (a patterned rhythm).
MIN_KEPT = 6


def _check_window(window: int) -> int:
    check_number("window", window, low=2, integer=True, unit="RR intervals")
    return int(window)


def _row_medians(a: np.ndarray) -> np.ndarray:
    """Median of the finite values of each row of ``a`` ``(k, w)`` (NaN for a row without any): sorted rows
    (NaN last), the mean of the two middle values. Plain arithmetic per row, fast for any ``k``."""
    s = np.sort(a, axis=1)
    m = np.isfinite(a).sum(axis=1)
    lo = np.take_along_axis(s, np.maximum(m - 1, 0)[:, None] // 2, axis=1)[:, 0]
    hi = np.take_along_axis(s, (m // 2)[:, None], axis=1)[:, 0]
    return np.where(m > 0, (lo + hi) / 2.0, np.nan)


def _irregularity_rows(windows: np.ndarray, min_diffs: int, exclude_ectopic: bool = False) -> np.ndarray:
    """Median |successive RR difference| / median RR of each row of ``windows`` ``(k, w)`` (RR intervals
    in s, NaN-padded at the start); NaN for rows with fewer than ``min_diffs`` finite differences. Row-wise,
    so a row gives the same value whatever else is in the batch (offline and online share it).
    ``exclude_ectopic``: over the intervals left once the premature-beat pairs are dropped
    (:func:`_drop_ectopic_pairs`)."""
    d = np.abs(np.diff(windows, axis=1))
    enough = np.isfinite(d).sum(axis=1) >= min_diffs
    if exclude_ectopic:
        windows = _drop_ectopic_pairs(windows)
        d = np.abs(np.diff(windows, axis=1))
    med_d, med_rr = _row_medians(d), _row_medians(windows)
    out = np.full(windows.shape[0], np.nan)
    ok = enough & (med_rr > 0)
    out[ok] = med_d[ok] / med_rr[ok]
    if exclude_ectopic:  # too few intervals left: a rhythm of premature-beat pairs, not AF
        out[enough & (np.isfinite(windows).sum(axis=1) < MIN_KEPT)] = 0.0
    return out


def _drop_ectopic_pairs(windows: np.ndarray) -> np.ndarray:
    """Each row of ``windows`` ``(k, w)`` with its premature-beat pairs removed: an interval below
    :data:`ECTOPIC_SHORT` x the row's mean followed by one above :data:`ECTOPIC_LONG` x it both go; the
    intervals left are moved to the front in order (so successive differences join the intervals around a
    removed pair), NaN behind them. ``(k, w)`` float64."""
    finite = np.isfinite(windows)
    ref = np.where(finite, windows, 0.0).sum(axis=1, keepdims=True) / np.maximum(
        finite.sum(axis=1, keepdims=True), 1
    )
    with np.errstate(invalid="ignore"):
        pair = (windows[:, :-1] < ECTOPIC_SHORT * ref) & (windows[:, 1:] > ECTOPIC_LONG * ref)
    drop = np.zeros(windows.shape, dtype=bool)
    drop[:, :-1] |= pair
    drop[:, 1:] |= pair
    keep = finite & ~drop
    order = np.argsort(~keep, axis=1, kind="stable")  # kept intervals first, in their order
    return np.where(
        np.take_along_axis(keep, order, axis=1), np.take_along_axis(windows, order, axis=1), np.nan
    )


def _windows(rr: np.ndarray, history: np.ndarray, window: int) -> np.ndarray:
    """``(len(rr), window)``: for each new RR interval, it and the ``window - 1`` before it (from
    ``history`` then ``rr``), NaN where there are none."""
    full = np.concatenate((np.full(window - 1, np.nan), history[-(window - 1) :], rr))[
        -(rr.size + window - 1) :
    ]
    return np.lib.stride_tricks.sliding_window_view(full, window)


def rr_irregularity(
    rr_s: np.ndarray, window: int = DEFAULT_WINDOW, *, exclude_ectopic: bool = False
) -> np.ndarray:
    """Causal rhythm irregularity of every beat.

    Value of beat ``i``: over the RR intervals of beats ``max(0, i - window + 1) .. i`` (its own pre-RR and
    those before it), the median absolute difference of successive intervals divided by their median;
    NaN while fewer than ``window // 2`` differences are finite (the start of a record).

    Args:
        rr_s: the RR interval before each beat, s, ``(n_beats,)`` (NaN where unknown, e.g. the first beat).
        window: RR intervals per window (>= 2).
        exclude_ectopic: drop the window's premature-beat pairs first (module docstring), so that frequent
            SVEBs in a regular rhythm do not read as AF.

    Returns:
        float64 ``(n_beats,)``, dimensionless: ~0.02-0.05 in sinus rhythm with ectopy, 0.1-0.4 in AF.

    >>> rr = np.tile([0.5, 1.1], 20)  # atrial bigeminy: every other beat premature
    >>> round(float(rr_irregularity(rr)[-1]), 3), float(rr_irregularity(rr, exclude_ectopic=True)[-1])
    (0.75, 0.0)
    """
    w = _check_window(window)
    rr = np.asarray(rr_s, dtype=np.float64).reshape(-1)
    return _irregularity_rows(_windows(rr, np.zeros(0), w), w // 2, bool(exclude_ectopic))


def rr_from_peaks(peaks: np.ndarray, fs: float) -> np.ndarray:
    """The RR interval before each R peak, s, ``(n,)`` (NaN for the first): ``diff(peaks) / fs``."""
    check_number("fs", fs, low=0, low_open=True, unit="Hz")
    p = np.asarray(peaks, dtype=np.float64).reshape(-1)
    return np.concatenate((np.full(min(p.size, 1), np.nan), np.diff(p) / float(fs)))


def gate_sveb(
    probs: np.ndarray, irregularity: np.ndarray, threshold: float, s_index: int, n_index: int
) -> np.ndarray:
    """Beats whose irregularity is at least ``threshold`` cannot be S: their S probability is added to N.

    ``(N, C), (N,) -> (N, C)`` float64 (a new array; rows with a NaN irregularity are unchanged).
    """
    check_number("threshold", threshold, low=0, low_open=True)
    p = np.array(probs, dtype=np.float64)
    irr = np.asarray(irregularity, dtype=np.float64).reshape(-1)
    if p.ndim != 2 or p.shape[0] != irr.size:
        raise ValueError(f"probs must be (N, C) with N = len(irregularity) = {irr.size}, got {p.shape}")
    with np.errstate(invalid="ignore"):
        closed = irr >= threshold
    p[closed, n_index] += p[closed, s_index]
    p[closed, s_index] = 0.0
    return p


class StreamingRRIrregularity:
    """:func:`rr_irregularity` online: feed the R peaks as they are detected, get the same values.

    Args:
        fs: rate of the peak positions, Hz.
        window, exclude_ectopic: as in :func:`rr_irregularity`.
    """

    def __init__(self, fs: float, window: int = DEFAULT_WINDOW, *, exclude_ectopic: bool = False) -> None:
        check_number("fs", fs, low=0, low_open=True, unit="Hz")
        self.fs = float(fs)
        self.window = _check_window(window)
        self.exclude_ectopic = bool(exclude_ectopic)
        self.reset()

    def reset(self) -> None:
        """Forget all beats (a new record or segment)."""
        self._last_peak: float | None = None
        self._history = np.zeros(0)  # the last window - 1 RR intervals, s

    def update(self, peaks: np.ndarray) -> np.ndarray:
        """Irregularity ``(k,)`` of the next ``k`` R peaks (sample positions, increasing, continuing the
        earlier ones)."""
        p = np.asarray(peaks, dtype=np.float64).reshape(-1)
        if p.size == 0:
            return np.zeros(0)
        prev = np.nan if self._last_peak is None else self._last_peak
        rr = np.diff(np.concatenate(([prev], p))) / self.fs
        self._last_peak = float(p[-1])
        out = _irregularity_rows(
            _windows(rr, self._history, self.window), self.window // 2, self.exclude_ectopic
        )
        self._history = np.concatenate((self._history, rr))[-(self.window - 1) :]
        return out
