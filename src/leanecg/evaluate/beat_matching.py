"""One-to-one matching of detected beats against reference beats (ANSI/AAMI EC57 style).

A detection matches a reference beat when they are at most ``tolerance`` samples apart (EC57 and WFDB
``bxb`` use 150 ms). Every beat is used at most once. Pairs are formed *closest first*: the globally
closest (reference, detection) pair is matched, both are removed, and so on; ties go to the earlier
reference beat, then to the earlier detection. This is the matching that ``bxb``'s sequential rule ("pair
it if it is a better match than the next annotation") approximates; the two can only disagree on exact
ties (``bxb`` then pairs the later detection) and where consecutive beats of a stream are closer than
twice the tolerance (300 ms, above 200 bpm, at 150 ms), and even there only in rare configurations.

The greedy matching is computed without a Python loop over beats: in each round every unmatched beat
points at its closest unmatched partner (its predecessor or successor in time, found with
``np.searchsorted``) and mutually-closest pairs are matched. A pair that is closest for both of its beats
is "locally dominant", and matching locally dominant pairs round after round gives exactly the greedy
closest-first matching. Each round costs O(n log n); real beat trains need two or three rounds.

Regions excluded from scoring (EC57: ventricular flutter/fibrillation, between ``[`` and ``]``) are given
as sample intervals: reference beats inside them are not scored; detections inside them are not counted
as false positives (they may still match a scored reference beat just outside the region, exactly as in
``bxb``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from leanecg.errors import LeanECGError

#: WFDB annotation codes that label a beat (``isqrs`` in the WFDB library; ``!`` flutter waves excluded).
BEAT_CODES: frozenset[str] = frozenset("NLRBAaJSVrFejnE/fQ?")

_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class BeatMatch:
    """Result of :func:`match_beats`. All index arrays index the *inputs* as given (int64).

    Attributes:
        tp_ref_idx: reference beats that were matched, ``(n_tp,)``.
        tp_test_idx: the detection matched to each of them (same order), ``(n_tp,)``.
        fn_idx: scored reference beats without a match (missed beats).
        fp_idx: detections without a match outside excluded regions (false detections).
        excluded_ref_idx: reference beats inside excluded regions (not scored).
        excluded_test_idx: unmatched detections inside excluded regions (not scored).
        tolerance: the match window used, in samples.
    """

    tp_ref_idx: np.ndarray
    tp_test_idx: np.ndarray
    fn_idx: np.ndarray
    fp_idx: np.ndarray
    excluded_ref_idx: np.ndarray = field(default_factory=lambda: _EMPTY.copy())
    excluded_test_idx: np.ndarray = field(default_factory=lambda: _EMPTY.copy())
    tolerance: int = 0

    @property
    def tp(self) -> int:
        """Number of matched reference beats (true positives)."""
        return int(self.tp_ref_idx.size)

    @property
    def fn(self) -> int:
        """Number of missed reference beats (false negatives)."""
        return int(self.fn_idx.size)

    @property
    def fp(self) -> int:
        """Number of unmatched detections outside excluded regions (false positives)."""
        return int(self.fp_idx.size)

    @property
    def sensitivity(self) -> float:
        """TP / (TP + FN); ``nan`` when there is no scored reference beat."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def ppv(self) -> float:
        """Positive predictivity TP / (TP + FP); ``nan`` when there is no scored detection."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def f1(self) -> float:
        """2 TP / (2 TP + FP + FN); ``nan`` when there is nothing to score."""
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    def counts(self) -> dict[str, int]:
        """``{"tp", "fn", "fp", "excluded_ref", "excluded_test"}`` as plain ints."""
        return {
            "tp": self.tp,
            "fn": self.fn,
            "fp": self.fp,
            "excluded_ref": int(self.excluded_ref_idx.size),
            "excluded_test": int(self.excluded_test_idx.size),
        }


def _ratio(a: int, b: int) -> float:
    return a / b if b > 0 else float("nan")


def _as_times(x: np.ndarray | Sequence[int], name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise LeanECGError(name, f"beat times must be a 1-D array of sample indices, got shape {arr.shape}")
    if arr.size == 0:
        return _EMPTY.copy()
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise LeanECGError(name, f"beat times must be integer sample indices, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise LeanECGError(name, "beat times must be whole sample indices (finite, no fractions)")
    return arr.astype(np.int64)


def _as_intervals(intervals: np.ndarray | Sequence[Sequence[int]] | None) -> np.ndarray:
    if intervals is None:
        return np.zeros((0, 2), dtype=np.int64)
    arr = np.asarray(intervals, dtype=np.int64)
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise LeanECGError(
            "exclude", f"excluded regions must be an (n, 2) array of [start, end], got {arr.shape}"
        )
    if np.any(arr[:, 1] < arr[:, 0]):
        raise LeanECGError("exclude", "an excluded region ends before it starts")
    return arr


def exclusion_mask(samples: np.ndarray | Sequence[int], intervals: np.ndarray | None) -> np.ndarray:
    """Which ``samples`` fall inside any of the closed intervals ``[start, end]`` (bool, same shape).

    Args:
        samples: int sample indices ``(n,)``, any order.
        intervals: ``(k, 2)`` int array of ``[start, end]`` sample indices (inclusive); may overlap.
    """
    s = _as_times(samples, "samples")
    iv = _as_intervals(intervals)
    if iv.shape[0] == 0 or s.size == 0:
        return np.zeros(s.shape, dtype=bool)
    # a sample is inside iff (#starts <= s) - (#ends < s) > 0
    inside = np.searchsorted(np.sort(iv[:, 0]), s, side="right") - np.searchsorted(
        np.sort(iv[:, 1]), s, side="left"
    )
    return inside > 0


def vf_intervals(samples: np.ndarray | Sequence[int], symbols: Sequence[str]) -> np.ndarray:
    """Ventricular flutter/fibrillation episodes of a WFDB annotation as ``(k, 2)`` [start, end] samples.

    An episode runs from a ``[`` annotation to the next ``]``; one left open runs to the largest sample
    index (EC57 / ``bxb`` ignore everything from VFON up to VFOFF).
    """
    s = _as_times(samples, "samples")
    if len(symbols) != s.size:
        raise LeanECGError("symbols", f"{len(symbols)} symbols for {s.size} annotation samples")
    out: list[tuple[int, int]] = []
    start: int | None = None
    for t, sym in zip(s.tolist(), symbols, strict=True):
        if sym == "[" and start is None:
            start = t
        elif sym == "]" and start is not None:
            out.append((start, t))
            start = None
    if start is not None:
        out.append((start, int(np.iinfo(np.int64).max)))
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)


def reference_beats(samples: np.ndarray | Sequence[int], symbols: Sequence[str]) -> np.ndarray:
    """Sample indices of the annotations whose symbol is a beat code (:data:`BEAT_CODES`)."""
    s = _as_times(samples, "samples")
    if len(symbols) != s.size:
        raise LeanECGError("symbols", f"{len(symbols)} symbols for {s.size} annotation samples")
    keep = np.fromiter((sym in BEAT_CODES for sym in symbols), dtype=bool, count=s.size)
    return s[keep]


def _closest(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each time in ``src`` the position in ``dst`` (both sorted) of the closest time, and the distance.

    Ties (equidistant predecessor and successor) go to the earlier ``dst`` element; among equal ``dst``
    times the first. Returns ``(pos, dist)`` with ``pos = -1`` and ``dist = huge`` when ``dst`` is empty.
    """
    n = dst.size
    if n == 0:
        return np.full(src.size, -1, dtype=np.int64), np.full(src.size, np.iinfo(np.int64).max, np.int64)
    right = np.searchsorted(dst, src, side="left")  # first dst >= src
    left = right - 1
    left_c = np.clip(left, 0, n - 1)
    right_c = np.clip(right, 0, n - 1)
    d_left = np.where(left >= 0, src - dst[left_c], np.iinfo(np.int64).max)
    d_right = np.where(right < n, dst[right_c] - src, np.iinfo(np.int64).max)
    take_left = d_left <= d_right
    pos = np.where(take_left, left_c, right_c)
    # among equal dst times prefer the first one
    pos = np.searchsorted(dst, dst[pos], side="left")
    return pos.astype(np.int64), np.minimum(d_left, d_right)


def _greedy_pairs(ref: np.ndarray, test: np.ndarray, tol: int) -> tuple[np.ndarray, np.ndarray]:
    """Closest-first one-to-one matching of two sorted int64 arrays; returns matched positions."""
    ref_alive = np.arange(ref.size, dtype=np.int64)
    test_alive = np.arange(test.size, dtype=np.int64)
    out_r: list[np.ndarray] = []
    out_t: list[np.ndarray] = []
    while ref_alive.size and test_alive.size:
        r_times, t_times = ref[ref_alive], test[test_alive]
        r_best, r_dist = _closest(r_times, t_times)
        t_best, _ = _closest(t_times, r_times)
        ok = r_dist <= tol
        cand = np.flatnonzero(ok)
        if cand.size == 0:
            break
        mutual = t_best[r_best[cand]] == cand
        hit_r = cand[mutual]
        hit_t = r_best[hit_r]
        if hit_r.size == 0:  # cannot happen: the globally closest pair is always mutual
            raise RuntimeError("beat matching made no progress")
        out_r.append(ref_alive[hit_r])
        out_t.append(test_alive[hit_t])
        keep_r = np.ones(ref_alive.size, dtype=bool)
        keep_r[hit_r] = False
        keep_r &= ok  # a reference beat with no detection within tolerance never matches later
        keep_t = np.ones(test_alive.size, dtype=bool)
        keep_t[hit_t] = False
        ref_alive = ref_alive[keep_r]
        test_alive = test_alive[keep_t]
    if not out_r:
        return _EMPTY.copy(), _EMPTY.copy()
    return np.concatenate(out_r), np.concatenate(out_t)


def match_beats(
    ref: np.ndarray | Sequence[int],
    test: np.ndarray | Sequence[int],
    tolerance: int,
    exclude: np.ndarray | Sequence[Sequence[int]] | None = None,
) -> BeatMatch:
    """Match detected beats to reference beats one-to-one within ``+/- tolerance`` samples.

    Args:
        ref: reference beat sample indices ``(n_ref,)`` (any order; duplicates allowed).
        test: detected beat sample indices ``(n_test,)`` (any order; duplicates allowed).
        tolerance: match window in samples (inclusive): ``round(0.150 * fs)`` for EC57.
        exclude: optional ``(k, 2)`` ``[start, end]`` sample intervals (inclusive) excluded from scoring,
            e.g. :func:`vf_intervals` of the reference annotation.

    Returns:
        A :class:`BeatMatch` whose index arrays refer to positions in ``ref`` and ``test`` as given.
        ``tp_ref_idx`` is sorted by reference time; ``fn_idx`` and ``fp_idx`` are sorted by time.
    """
    r = _as_times(ref, "ref")
    t = _as_times(test, "test")
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | np.integer) or tolerance < 0:
        raise LeanECGError("tolerance", f"must be a non-negative int number of samples, got {tolerance!r}")
    tol = int(tolerance)
    iv = _as_intervals(exclude)

    r_order = np.argsort(r, kind="stable")
    t_order = np.argsort(t, kind="stable")
    r_sorted, t_sorted = r[r_order], t[t_order]

    r_excl = exclusion_mask(r_sorted, iv)
    scored_r = np.flatnonzero(~r_excl)
    mr, mt = _greedy_pairs(r_sorted[scored_r], t_sorted, tol)
    mr = scored_r[mr]
    order = np.argsort(mr, kind="stable")
    mr, mt = mr[order], mt[order]

    r_matched = np.zeros(r.size, dtype=bool)
    r_matched[mr] = True
    t_matched = np.zeros(t.size, dtype=bool)
    t_matched[mt] = True
    t_excl = exclusion_mask(t_sorted, iv) & ~t_matched

    return BeatMatch(
        tp_ref_idx=r_order[mr],
        tp_test_idx=t_order[mt],
        fn_idx=r_order[~r_matched & ~r_excl],
        fp_idx=t_order[~t_matched & ~t_excl],
        excluded_ref_idx=r_order[r_excl],
        excluded_test_idx=t_order[t_excl],
        tolerance=tol,
    )
