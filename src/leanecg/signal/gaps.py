"""Filling short gaps (NaN runs) in ECG signals.

Records can carry missing samples: WFDB's invalid-sample value becomes NaN in ``p_signal``, CinC 2021
and PTB-XL-derived exports sometimes hold NaN runs, and loaders mark dropped packets the same way.
Filters and resampling need finite samples, so gaps must be filled (or the record refused) first.

:func:`interpolate_gaps` fills each run of non-finite samples (NaN, +-inf) of at most ``max_gap_s``
seconds per lead, linearly between the valid samples on either side (``method="pchip"``: shape-preserving
cubic, no overshoot). Runs at the very start or end of a lead have only one neighbour: they are filled
with the nearest valid value (held), subject to the same ``max_gap_s`` limit. Any longer run is refused
with a :class:`~leanecg.errors.LeanECGError` naming its length, its position and its lead, because
inventing more than a fraction of a beat would create ECG that was never recorded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from leanecg.errors import LeanECGError, check_choice, check_number
from leanecg.signal.filters import check_fs, check_signal, output_dtype, restore_shape

__all__ = ["MIN_SEGMENT_S", "find_gaps", "interpolate_gaps", "valid_segments"]

#: Shortest stretch of valid samples between invalid ones that beat classification analyses
#: (``leanecg beats``, ``leanecg stream``), in seconds: shorter ones give too few beats for RR intervals
#: and too little signal for the filters.
MIN_SEGMENT_S = 5.0


def find_gaps(missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs of ``True`` in a 1-D boolean array.

    Returns:
        ``(starts, lengths)``: ``int64`` arrays, the first index and the number of samples of each run.
    """
    m = np.asarray(missing, dtype=bool)
    if m.ndim != 1:
        raise ValueError("find_gaps expects a 1-D mask")
    edges = np.diff(m.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return starts.astype(np.int64), (ends - starts).astype(np.int64)


def valid_segments(
    valid: np.ndarray, fs: float, min_segment_s: float
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Split a recording at its invalid samples: the runs of valid samples long enough to analyse.

    A Holter lead that comes off leaves minutes of invalid (NaN) samples; a beat classifier can still
    analyse the rest. Every run of ``valid`` samples of at least ``min_segment_s`` seconds is kept; shorter
    runs (too short to filter and to give RR intervals) are skipped together with the invalid runs.

    Args:
        valid: ``(n_samples,)`` bool, ``True`` where every analysed lead is finite.
        fs: sampling rate in Hz.
        min_segment_s: shortest valid run kept, in seconds (>= 0).

    Returns:
        ``(kept, skipped)``: ``[start, stop)`` sample ranges, in order; together they tile ``[0, n)``.

    >>> v = np.ones(100, dtype=bool); v[40:45] = False; v[90:92] = False
    >>> valid_segments(v, fs=10.0, min_segment_s=3.0)
    ([(0, 40), (45, 90)], [(40, 45), (90, 100)])
    """
    check_number("min_segment_s", min_segment_s, low=0.0)
    fs_f = check_fs(fs)
    v = np.asarray(valid, dtype=bool)
    if v.ndim != 1:
        raise LeanECGError("valid", f"expected a 1-D mask, got shape {v.shape}")
    starts, lengths = find_gaps(v)
    kept = [
        (int(a), int(a + n))
        for a, n in zip(starts, lengths, strict=True)
        if n >= math.ceil(min_segment_s * fs_f)
    ]
    skipped: list[tuple[int, int]] = []
    pos = 0
    for a, b in kept:
        if a > pos:
            skipped.append((pos, a))
        pos = b
    if pos < v.size:
        skipped.append((pos, int(v.size)))
    return kept, skipped


def _lead_label(leads: Sequence[str] | None, j: int) -> str:
    if leads is not None and j < len(leads):
        return str(leads[j])
    return str(j)


def interpolate_gaps(
    x: np.ndarray,
    fs: float,
    max_gap_s: float | None = 0.5,
    *,
    method: Literal["linear", "pchip"] = "linear",
    leads: Sequence[str] | None = None,
    source: str = "signal",
) -> np.ndarray:
    """Fill runs of NaN / inf samples of up to ``max_gap_s`` seconds in each lead.

    Args:
        x: ``(n_samples, n_leads)`` or ``(n_samples,)`` signal in mV, gaps as NaN (or inf).
        fs: sampling rate in Hz.
        max_gap_s: longest run to fill, in seconds (``None``: no limit). A run of ``k`` samples lasts
            ``k / fs`` seconds.
        method: ``"linear"`` or ``"pchip"`` (monotone cubic through the valid samples).
        leads: lead names, used only in error messages (otherwise lead indices are named).
        source: the file or argument named in errors.

    Returns:
        A finite copy of ``x`` (same shape; floating dtypes kept, others as ``float64``).

    Raises:
        LeanECGError: ``"gap of 0.80 s at t=12.34 s in lead II exceeds max_gap_s=0.5 s"`` for the first
            (earliest, then lowest lead) gap that is too long, or when a lead has no valid sample.
    """
    fs = check_fs(fs)
    if max_gap_s is not None:
        check_number("max_gap_s", max_gap_s, low=0, unit="seconds")
    check_choice("method", method, ("linear", "pchip"), what="interpolation")
    dtype = output_dtype(x)
    x2, was_1d = check_signal(x, source, allow_nan=True)
    y = np.array(x2, dtype=np.float64, copy=True)
    missing = ~np.isfinite(y)
    if not missing.any():
        return restore_shape(y, was_1d, dtype)

    n = y.shape[0]
    # the longest admissible run in samples; a small tolerance absorbs float error in max_gap_s * fs
    max_len = n if max_gap_s is None else math.floor(float(max_gap_s) * fs + 1e-9)

    worst: tuple[int, int, int] | None = None  # (start, lead, length) of the first refused gap
    for j in np.flatnonzero(missing.any(axis=0)):
        starts, lengths = find_gaps(missing[:, j])
        if lengths.sum() == n:
            raise LeanECGError(source, f"lead {_lead_label(leads, int(j))} has no valid samples")
        too_long = np.flatnonzero(lengths > max_len)
        if too_long.size:
            k = int(too_long[0])
            cand = (int(starts[k]), int(j), int(lengths[k]))
            if worst is None or cand[0] < worst[0]:
                worst = cand
    if worst is not None:  # only possible with a limit
        start, j, length = worst
        raise LeanECGError(
            source,
            f"gap of {length / fs:.2f} s at t={start / fs:.2f} s in lead {_lead_label(leads, j)} "
            f"exceeds max_gap_s={float(max_gap_s or 0.0):g} s",
        )

    t = np.arange(n, dtype=np.float64)
    for j in np.flatnonzero(missing.any(axis=0)):
        bad = missing[:, j]
        good = ~bad
        t_good, v_good = t[good], y[good, j]
        t_bad = t[bad]
        if method == "linear" or t_good.size < 2:
            # np.interp holds the end values outside [t_good[0], t_good[-1]]: leading/trailing gaps
            y[bad, j] = np.interp(t_bad, t_good, v_good)
        else:
            from scipy.interpolate import PchipInterpolator  # ~0.3 s to import: only when a gap needs it

            filled = PchipInterpolator(t_good, v_good, extrapolate=False)(t_bad)
            outside = ~np.isfinite(filled)
            filled[outside] = np.interp(t_bad[outside], t_good, v_good)
            y[bad, j] = filled
    return restore_shape(y, was_1d, dtype)
