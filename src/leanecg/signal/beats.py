"""Beat segmentation and RR-interval features.

* :func:`beat_windows` cuts a fixed window around every R peak (single- or multi-lead), vectorised.
* :func:`rr_features` computes the RR-interval features that make supraventricular ectopic beats
  separable in inter-patient beat classification (de Chazal et al., IEEE TBME 51(7), 2004): the RR
  interval before and after the beat, a local and an average RR interval, and the three ratios to the
  average, which normalise away the patient's own heart rate.
* :class:`StreamingRRFeatures` computes the causal variant beat by beat with O(1) memory.
* :func:`template_features` compares every beat with a template (the median beat); :class:`CausalTemplates`
  keeps a stream's causal templates.
* :func:`rr_context_features` (and :class:`StreamingRRContext`, its online twin) add what the RR rows alone
  do not say: the beat's prematurity against its *local* rhythm, the compensatory pause, and how irregular
  the recent rhythm is (atrial fibrillation makes every beat "premature" without any ectopy).
* :func:`rr_median_features` (and :class:`StreamingRRMedians`) normalise the RR intervals by running
  *medians* of the patient's own rhythm (short, long and the few beats before): a median ignores the
  ectopic beats and pauses that pull a running mean away from the underlying rhythm.

All RR values are in seconds. Sample indices are int64 at the signal's ``fs``.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Sequence
from typing import Literal

import numpy as np

from leanecg.errors import LeanECGError, check_choice, check_number, check_positive
from leanecg.signal.record_norm import not_premature, record_robust_z

__all__ = [
    "ALL_BEAT_FEATURE_NAMES",
    "BEAT_FEATURE_NAMES",
    "RECORD_ZN_FEATURE_NAMES",
    "RECORD_Z_BASE_NAMES",
    "RECORD_Z_FEATURE_NAMES",
    "RR_CONTEXT_FEATURE_NAMES",
    "RR_FEATURE_NAMES",
    "RR_MEDIAN_FEATURE_NAMES",
    "TEMPLATE_DIFF_BINS",
    "TEMPLATE_DIFF_FEATURE_NAMES",
    "TEMPLATE_FEATURE_NAMES",
    "CausalTemplates",
    "StreamingRRContext",
    "StreamingRRFeatures",
    "StreamingRRMedians",
    "beat_model_inputs",
    "beat_templates",
    "beat_windows",
    "non_premature_beats",
    "record_z_columns",
    "rr_context_features",
    "rr_features",
    "rr_median_features",
    "select_beat_features",
    "takes_record_z",
    "takes_record_zn",
    "takes_rr_medians",
    "takes_template_diff",
    "template_diff_features_against",
    "template_features",
    "template_features_against",
]

#: Columns of :func:`rr_features`, in order. RR values in seconds; ratios are dimensionless.
RR_FEATURE_NAMES: tuple[str, ...] = (
    "pre_rr",  # interval from the previous R peak to this one
    "post_rr",  # interval from this R peak to the next one
    "local_rr",  # mean of the last `local_window` RR intervals, ending with pre_rr
    "average_rr",  # mean RR of the record (offline) or of all RR intervals so far (causal)
    "pre_rr_ratio",  # pre_rr / average_rr
    "post_rr_ratio",  # post_rr / average_rr
    "local_rr_ratio",  # local_rr / average_rr
)


#: Columns of :func:`template_features`, in order: the beat's morphology relative to the patient's own
#: typical beat (the median of the record's beats, or of the recent beats when causal). Dimensionless.
TEMPLATE_FEATURE_NAMES: tuple[str, ...] = (
    "template_corr",  # Pearson correlation of the whole window with the template
    "template_qrs_corr",  # correlation over the QRS region (R peak -0.08 s .. +0.10 s)
    "template_p_corr",  # correlation over the P-wave region (R peak -0.25 s .. -0.08 s)
    "template_rms_diff",  # RMS(window - template) / RMS(template)
    "template_amp_ratio",  # peak-to-peak amplitude of the window / of the template (QRS region)
    "template_qrs_ratio",  # QRS "length" (sum |first difference| in the QRS region) / the template's
)

#: Bins of :data:`TEMPLATE_DIFF_FEATURE_NAMES`: the beat window cut into this many equal parts (at MIT-BIH's
#: 0.25 s + 0.45 s window, 0.035 s each: about 5 over the P wave, 5 over the QRS, 10 over the ST-T).
TEMPLATE_DIFF_BINS = 20

#: Columns of :func:`template_diff_features_against`, in order: the beat minus the patient's typical beat,
#: averaged over :data:`TEMPLATE_DIFF_BINS` equal parts of the window (earliest first), in units of the
#: template's QRS peak-to-peak amplitude (dimensionless).
TEMPLATE_DIFF_FEATURE_NAMES: tuple[str, ...] = tuple(
    f"template_diff_{k:02d}" for k in range(TEMPLATE_DIFF_BINS)
)

#: Columns of :func:`rr_context_features`, in order (dimensionless).
RR_CONTEXT_FEATURE_NAMES: tuple[str, ...] = (
    "post_pre_ratio",  # post_rr / pre_rr: the compensatory pause after a premature beat
    "pre_local_ratio",  # pre_rr / local_rr: prematurity against the recent rhythm
    "post_local_ratio",  # post_rr / local_rr
    "rr_irregularity",  # mean |successive difference| of the last `window` pre_rr values / local_rr
)

#: Columns of :func:`rr_median_features`, in order (dimensionless). "median" is the running median of the
#: last :data:`RR_MEDIAN_WINDOWS` ``[0]`` pre-RR intervals (the beat's own included), "long median" of the last
#: ``[1]``, "previous median" of the ``[2]`` intervals before the beat's own.
RR_MEDIAN_FEATURE_NAMES: tuple[str, ...] = (
    "pre_median_ratio",  # pre_rr / median
    "post_median_ratio",  # post_rr / median
    "pre_long_median_ratio",  # pre_rr / long median
    "post_long_median_ratio",  # post_rr / long median
    "pre_prev_median_ratio",  # pre_rr / previous median (prematurity against the last few beats)
    "median_long_ratio",  # median / long median (the recent rhythm against the longer one)
)

#: Window lengths of :data:`RR_MEDIAN_FEATURE_NAMES`, in RR intervals: short, long, previous.
RR_MEDIAN_WINDOWS: tuple[int, int, int] = (32, 300, 5)

#: Columns of the feature matrix of :func:`beat_model_inputs` (version 1 models): RR, then template features.
BEAT_FEATURE_NAMES: tuple[str, ...] = RR_FEATURE_NAMES + TEMPLATE_FEATURE_NAMES

#: The columns that have a record-normalised twin (:data:`RECORD_Z_FEATURE_NAMES`): RR, rhythm context and
#: template features, the 17 columns of the mitdb-aami pair.
RECORD_Z_BASE_NAMES: tuple[str, ...] = RR_FEATURE_NAMES + RR_CONTEXT_FEATURE_NAMES + TEMPLATE_FEATURE_NAMES

#: Columns of :func:`leanecg.signal.record_norm.record_robust_z` of the :data:`RECORD_Z_BASE_NAMES` columns:
#: each beat's value against the record's median and interquartile range (``<name>_rz``, dimensionless). The
#: only columns that use statistics of the whole input (a stream: of the beats so far).
RECORD_Z_FEATURE_NAMES: tuple[str, ...] = tuple(f"{n}_rz" for n in RECORD_Z_BASE_NAMES)

#: The same columns against the record's *non-premature* beats only
#: (:func:`~leanecg.signal.record_norm.not_premature`: ``pre_rr >= 0.9 * post_rr``; every beat when fewer
#: than :data:`~leanecg.signal.record_norm.MIN_REFERENCE`) (``<name>_rzn``, dimensionless): the yardstick
#: stays the normal rhythm where ectopic beats are frequent, even the majority (bigeminy).
RECORD_ZN_FEATURE_NAMES: tuple[str, ...] = tuple(f"{n}_rzn" for n in RECORD_Z_BASE_NAMES)

#: Every column :func:`beat_model_inputs` can compute, in its output order with ``context=True``; a model
#: package names the subset it takes (:func:`select_beat_features`).
ALL_BEAT_FEATURE_NAMES: tuple[str, ...] = (
    RR_FEATURE_NAMES
    + RR_CONTEXT_FEATURE_NAMES
    + RR_MEDIAN_FEATURE_NAMES
    + TEMPLATE_FEATURE_NAMES
    + TEMPLATE_DIFF_FEATURE_NAMES
    + RECORD_Z_FEATURE_NAMES
    + RECORD_ZN_FEATURE_NAMES
)


def _check_fs(fs: float) -> float:
    return float(check_positive("fs", fs, unit="Hz"))


def _check_peaks(peaks: np.ndarray | Sequence[int], strictly_increasing: bool) -> np.ndarray:
    arr = np.asarray(peaks)
    if arr.ndim != 1:
        raise LeanECGError("peaks", f"R peaks must be a 1-D array of sample indices, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise LeanECGError("peaks", f"R peaks must be integer sample indices, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating) and (not np.isfinite(arr).all() or np.any(arr != np.round(arr))):
        raise LeanECGError("peaks", "R peaks must be whole sample indices (finite, no fractions)")
    arr = arr.astype(np.int64)
    if strictly_increasing and arr.size > 1 and np.any(np.diff(arr) <= 0):
        raise LeanECGError(
            "peaks", "R peaks must be strictly increasing sample indices (sort and deduplicate)"
        )
    return arr


def beat_windows(
    x: np.ndarray,
    fs: float,
    peaks: np.ndarray | Sequence[int],
    before_s: float,
    after_s: float,
    *,
    edge: Literal["drop", "pad"] = "drop",
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a window around every R peak.

    Window ``i`` holds samples ``peaks[i] - B ... peaks[i] + A - 1`` with ``B = round(before_s * fs)``
    and ``A = round(after_s * fs)``, so the R peak sits at index ``B`` of every window.

    Args:
        x: signal ``(n_samples,)`` or ``(n_samples, n_leads)`` in mV.
        fs: sampling rate in Hz.
        peaks: R-peak sample indices ``(n_peaks,)``, each in ``[0, n_samples)`` (any order).
        before_s: window length before the R peak, seconds (>= 0).
        after_s: window length from the R peak on, seconds (>= 0); ``B + A`` must be >= 1 sample.
        edge: beats whose window would run past either end of the signal are dropped (``"drop"``,
            the default) or kept with the missing samples filled by the first / last sample of the
            signal (``"pad"``, edge replication: no NaN, no artificial step).

    Returns:
        ``(windows, kept_peaks)``: ``windows`` is ``(n_kept, B + A)`` for a 1-D signal or
        ``(n_kept, B + A, n_leads)`` for a 2-D one, same dtype as ``x``; ``kept_peaks`` is the int64
        ``(n_kept,)`` array of the peaks that were kept, in input order.

    Raises:
        LeanECGError: bad shapes, a peak outside the signal, negative or empty windows, bad ``edge``.
    """
    fs_f = _check_fs(fs)
    arr = np.asarray(x)
    if arr.ndim not in (1, 2):
        raise LeanECGError("signal", f"expected shape (n_samples,) or (n_samples, n_leads), got {arr.shape}")
    n = arr.shape[0]
    p = _check_peaks(peaks, strictly_increasing=False)
    if p.size and (p.min() < 0 or p.max() >= n):
        bad = p[(p < 0) | (p >= n)][0]
        raise LeanECGError("peaks", f"R peak at sample {int(bad)} is outside the signal (0..{n - 1})")
    for name, v in (("before_s", before_s), ("after_s", after_s)):
        check_number(name, v, low=0, unit="seconds")
    b = round(float(before_s) * fs_f)
    a = round(float(after_s) * fs_f)
    if a + b < 1:
        raise LeanECGError("before_s", f"window of {before_s} s + {after_s} s is shorter than one sample")
    check_choice("edge", edge, ("drop", "pad"))

    if edge == "drop":
        p = p[(p - b >= 0) & (p + a <= n)]
    idx = p[:, None] + np.arange(-b, a, dtype=np.int64)[None, :]
    if edge == "pad" and n > 0:
        np.clip(idx, 0, n - 1, out=idx)
    if p.size == 0:
        shape = (0, a + b, *arr.shape[1:])
        return np.zeros(shape, dtype=arr.dtype), p
    return arr[idx], p


def _local_mean(rr: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` values ending at each position (fewer at the start)."""
    cs = np.concatenate(([0.0], np.cumsum(rr)))
    hi = np.arange(1, rr.size + 1)
    lo = np.maximum(0, hi - window)
    return (cs[hi] - cs[lo]) / (hi - lo)


def rr_features(
    peaks: np.ndarray | Sequence[int],
    fs: float,
    local_window: int = 10,
    *,
    causal: bool = False,
) -> np.ndarray:
    """RR-interval features of every beat, columns :data:`RR_FEATURE_NAMES`.

    Args:
        peaks: strictly increasing R-peak sample indices ``(n_beats,)``.
        fs: sampling rate in Hz.
        local_window: number of RR intervals averaged into ``local_rr`` (the last ones, ending with the
            beat's own ``pre_rr``; fewer at the start of the record).
        causal: ``False``: ``average_rr`` is the mean RR interval of the whole record. ``True``: it is
            the mean of all RR intervals up to and including the beat's ``pre_rr`` (a running mean), so
            row ``i`` depends only on ``peaks[: i + 2]`` - nothing beyond the next beat. Use
            :class:`StreamingRRFeatures` to compute it incrementally with O(1) memory.

    Returns:
        float64 ``(n_beats, 7)``. The first beat has no previous beat: its ``pre_rr`` is its
        ``post_rr``; the last beat has no next beat: its ``post_rr`` is its ``pre_rr``. With fewer than
        two beats every value is NaN (no RR interval exists).

    Raises:
        LeanECGError: peaks not 1-D integer / not strictly increasing, bad ``fs`` or ``local_window``.
    """
    fs_f = _check_fs(fs)
    p = _check_peaks(peaks, strictly_increasing=True)
    check_number("local_window", local_window, low=1, integer=True, unit="RR intervals")
    n = p.size
    out = np.full((n, len(RR_FEATURE_NAMES)), np.nan)
    if n < 2:
        return out
    rr = np.diff(p) / fs_f  # (n - 1,), rr[k] is the interval between beat k and beat k + 1
    pre = np.concatenate((rr[:1], rr))  # first beat borrows its post_rr
    post = np.concatenate((rr, rr[-1:]))  # last beat borrows its pre_rr
    local = _local_mean(pre[1:], int(local_window))
    local = np.concatenate((local[:1], local))  # first beat: same as the second (only rr[0] known)
    if causal:
        running = np.cumsum(rr) / np.arange(1, rr.size + 1)
        average = np.concatenate((running[:1], running))
    else:
        average = np.full(n, rr.mean())
    out[:, 0] = pre
    out[:, 1] = post
    out[:, 2] = local
    out[:, 3] = average
    out[:, 4] = pre / average
    out[:, 5] = post / average
    out[:, 6] = local / average
    return out


class StreamingRRFeatures:
    """Causal RR features beat by beat, equal to ``rr_features(..., causal=True)`` with O(1) memory.

    Feed R peaks (absolute sample indices, strictly increasing) as they are detected, e.g. the output
    of :meth:`leanecg.signal.StreamingRPeakDetector.process`. A beat's row is returned once the next
    beat is known (its ``post_rr`` needs it); :meth:`flush` returns the last beat's row.

    Args:
        fs: sampling rate in Hz.
        local_window: number of RR intervals averaged into ``local_rr``.
    """

    def __init__(self, fs: float, local_window: int = 10) -> None:
        self.fs = _check_fs(fs)
        self.local_window = int(
            check_number("local_window", local_window, low=1, integer=True, unit="RR intervals")
        )
        self.reset()

    def reset(self) -> None:
        """Forget all beats."""
        self._prev: int | None = None  # last peak seen
        self._recent: deque[float] = deque(maxlen=self.local_window)
        self._recent_sum = 0.0
        self._rr_sum = 0.0
        self._rr_n = 0
        self._pending: tuple[int, float, float, float] | None = None  # beat waiting for its post_rr
        self._first_peak: int | None = None

    def update(self, peaks: np.ndarray | Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Add newly detected peaks; return ``(peaks_done, rows)`` for the beats whose row is now final.

        ``rows`` is float64 ``(k, 7)`` with the columns :data:`RR_FEATURE_NAMES`.
        """
        p = _check_peaks(peaks, strictly_increasing=True)
        done: list[int] = []
        rows: list[list[float]] = []
        for t in p.tolist():
            if self._prev is not None and t <= self._prev:
                raise LeanECGError("peaks", f"R peak {t} does not follow the previous peak {self._prev}")
            if self._prev is None:
                self._prev = self._first_peak = t
                continue
            rr = (t - self._prev) / self.fs
            if self._rr_n == 0:
                # the first beat is final now: its pre_rr, local and average all borrow the first interval
                self._push(rr)
                done.append(self._first_peak)  # type: ignore[arg-type]
                rows.append(self._row(rr, rr, self._local(), self._average()))
            else:
                beat, pre, local, average = self._pending  # type: ignore[misc]
                done.append(beat)
                rows.append(self._row(pre, rr, local, average))
                self._push(rr)
            self._pending = (t, rr, self._local(), self._average())
            self._prev = t
        return np.asarray(done, dtype=np.int64), np.asarray(rows, dtype=np.float64).reshape(-1, 7)

    def flush(self) -> tuple[np.ndarray, np.ndarray]:
        """End of stream: the last beat's row (its ``post_rr`` is its ``pre_rr``)."""
        if self._pending is None:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 7))
        beat, pre, local, average = self._pending
        self._pending = None
        return np.asarray([beat], dtype=np.int64), np.asarray([self._row(pre, pre, local, average)])

    def _push(self, rr: float) -> None:
        if len(self._recent) == self._recent.maxlen:
            self._recent_sum -= self._recent[0]
        self._recent.append(rr)
        self._recent_sum += rr
        self._rr_sum += rr
        self._rr_n += 1

    def _local(self) -> float:
        return self._recent_sum / len(self._recent)

    def _average(self) -> float:
        return self._rr_sum / self._rr_n

    @staticmethod
    def _row(pre: float, post: float, local: float, average: float) -> list[float]:
        return [pre, post, local, average, pre / average, post / average, local / average]


def _check_rr_rows(rr: np.ndarray) -> np.ndarray:
    arr = np.asarray(rr, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != len(RR_FEATURE_NAMES):
        raise LeanECGError(
            "rr", f"expected RR feature rows (n_beats, {len(RR_FEATURE_NAMES)}), got shape {arr.shape}"
        )
    return arr


def _context_columns(
    pre: np.ndarray, post: np.ndarray, local: np.ndarray, irr_sum: np.ndarray, irr_n: np.ndarray
) -> np.ndarray:
    irr = np.divide(irr_sum, irr_n, out=np.zeros_like(irr_sum), where=irr_n > 0)
    return np.stack(
        [_ratio(post, pre), _ratio(pre, local), _ratio(post, local), _ratio(irr, local) * (irr_n > 0)], 1
    )


def rr_context_features(rr: np.ndarray, window: int = 10) -> np.ndarray:
    """Rhythm context of every beat from its RR rows, columns :data:`RR_CONTEXT_FEATURE_NAMES`.

    ``rr_irregularity`` of beat ``i`` is the mean of ``|pre_rr[k] - pre_rr[k - 1]|`` over the last
    ``window`` beats ``k <= i`` divided by ``local_rr[i]`` (0 for the first beat): about 0.02-0.1 in sinus
    rhythm, 0.2-0.5 in atrial fibrillation. Every column depends only on rows ``<= i``, so it is as causal as
    the rows themselves (:class:`StreamingRRContext` gives the same values online).

    Args:
        rr: RR feature rows of one record in beat order, ``(n_beats, 7)`` (:func:`rr_features`).
        window: number of successive differences averaged into ``rr_irregularity``.

    Returns:
        float64 ``(n_beats, 4)``, dimensionless (NaN rows where ``rr`` is NaN).
    """
    arr = _check_rr_rows(rr)
    check_number("window", window, low=1, integer=True, unit="RR intervals")
    n = arr.shape[0]
    if n == 0:
        return np.zeros((0, len(RR_CONTEXT_FEATURE_NAMES)))
    pre, post, local = arr[:, 0], arr[:, 1], arr[:, 2]
    diffs = np.concatenate(([0.0], np.abs(np.diff(pre))))  # diffs[0] does not exist: counted as absent
    cs = np.concatenate(([0.0], np.cumsum(diffs)))
    hi = np.arange(1, n + 1)
    lo = np.maximum(1, hi - int(window))  # differences 1..i (index 0 is the missing one)
    irr_n = (hi - lo).astype(np.float64)
    irr_sum = cs[hi] - cs[lo]
    out = _context_columns(pre, post, local, irr_sum, irr_n)
    out[~np.isfinite(arr[:, :3]).all(axis=1)] = np.nan
    return out


class StreamingRRContext:
    """:func:`rr_context_features` online: feed the RR rows as :class:`StreamingRRFeatures` emits them.

    Args:
        window: as in :func:`rr_context_features`.
    """

    def __init__(self, window: int = 10) -> None:
        check_number("window", window, low=1, integer=True, unit="RR intervals")
        self.window = int(window)
        self.reset()

    def reset(self) -> None:
        """Forget all beats."""
        self._last_pre: float | None = None
        self._diffs: deque[float] = deque(maxlen=self.window)

    def update(self, rr: np.ndarray) -> np.ndarray:
        """Context rows ``(k, 4)`` of the next ``k`` RR rows ``(k, 7)`` (beat order continues)."""
        arr = _check_rr_rows(rr)
        sums, counts = np.zeros(arr.shape[0]), np.zeros(arr.shape[0])
        for i, pre in enumerate(arr[:, 0].tolist()):
            if self._last_pre is not None:
                self._diffs.append(abs(pre - self._last_pre))
            self._last_pre = pre
            sums[i], counts[i] = sum(self._diffs), len(self._diffs)
        return _context_columns(arr[:, 0], arr[:, 1], arr[:, 2], sums, counts)


def _median_columns(
    pre: np.ndarray, post: np.ndarray, short: np.ndarray, long: np.ndarray, prev: np.ndarray
) -> np.ndarray:
    return np.stack(
        [
            _ratio(pre, short),
            _ratio(post, short),
            _ratio(pre, long),
            _ratio(post, long),
            _ratio(pre, prev),
            _ratio(short, long),
        ],
        1,
    )


def _running_median(values: np.ndarray, window: int, *, own: bool) -> np.ndarray:
    """Median of the last ``window`` values ending at each position (with ``own``) or just before it
    (without; position 0 then takes its own value); fewer at the start."""
    n = values.size
    padded = np.concatenate((np.full(window, np.nan), values))
    views = np.lib.stride_tricks.sliding_window_view(padded, window)  # views[i] ends at values[i - 1]
    if own:
        return np.nanmedian(views[1 : n + 1], axis=1) if n else np.zeros(0)
    out = values[:1].astype(np.float64)  # position 0 has no value before it
    return np.concatenate((out, np.nanmedian(views[1:n], axis=1))) if n > 1 else out


def rr_median_features(rr: np.ndarray, windows: tuple[int, int, int] = RR_MEDIAN_WINDOWS) -> np.ndarray:
    """RR intervals against running medians of the rhythm, columns :data:`RR_MEDIAN_FEATURE_NAMES`.

    A running *mean* (``average_rr``) is pulled by the very beats it should expose: a run of premature
    beats shortens it, a long pause lengthens it. The median of the last ``windows[0]`` / ``windows[1]``
    ``pre_rr`` values (about half a minute / five minutes) follows the dominant rhythm instead; the
    median of the ``windows[2]`` intervals before the beat measures its prematurity against the last
    few beats only. Every column depends only on rows ``<= i`` (as causal as the rows):
    :class:`StreamingRRMedians` gives the same values online.

    Args:
        rr: RR feature rows of one record in beat order, ``(n_beats, 7)`` (:func:`rr_features`).
        windows: (short, long, previous) window lengths in RR intervals, each >= 1.

    Returns:
        float64 ``(n_beats, 6)``, dimensionless (NaN rows where ``rr`` is NaN).
    """
    arr = _check_rr_rows(rr)
    short_w, long_w, prev_w = (
        int(check_number("windows", w, low=1, integer=True, unit="RR intervals")) for w in windows
    )
    pre, post = arr[:, 0], arr[:, 1]
    if arr.shape[0] == 0 or not np.isfinite(pre).all():
        return np.full((arr.shape[0], len(RR_MEDIAN_FEATURE_NAMES)), np.nan)
    short = _running_median(pre, short_w, own=True)
    long = _running_median(pre, long_w, own=True)
    prev = _running_median(pre, prev_w, own=False)
    return _median_columns(pre, post, short, long, prev)


def takes_rr_medians(names: Sequence[str] | None) -> bool:
    """Whether the feature columns ``names`` (``None``: every column) include a running-median column, the
    only ones worth skipping when unused (:func:`beat_model_inputs`' ``only``, the beat stream)."""
    return names is None or any(n in RR_MEDIAN_FEATURE_NAMES for n in names)


class StreamingRRMedians:
    """:func:`rr_median_features` online: feed the RR rows as :class:`StreamingRRFeatures` emits them.

    Memory is bounded by the windows (``sum(windows)`` values).
    """

    def __init__(self, windows: tuple[int, int, int] = RR_MEDIAN_WINDOWS) -> None:
        self.windows = tuple(
            int(check_number("windows", w, low=1, integer=True, unit="RR intervals")) for w in windows
        )
        self.reset()

    def reset(self) -> None:
        """Forget all beats."""
        # per window: its values in arrival order and sorted (O(window) insert / remove, C-speed bisect)
        self._order: list[deque[float]] = [deque() for _ in self.windows]
        self._sorted: list[list[float]] = [[] for _ in self.windows]

    def _push(self, j: int, value: float) -> None:
        order, srt = self._order[j], self._sorted[j]
        if len(order) == self.windows[j]:
            del srt[bisect.bisect_left(srt, order.popleft())]
        order.append(value)
        bisect.insort(srt, value)

    def _median(self, j: int) -> float:
        srt = self._sorted[j]
        mid = len(srt) // 2
        return srt[mid] if len(srt) % 2 else (srt[mid - 1] + srt[mid]) / 2

    def update(self, rr: np.ndarray) -> np.ndarray:
        """Median rows ``(k, 6)`` of the next ``k`` RR rows ``(k, 7)`` (beat order continues)."""
        arr = _check_rr_rows(rr)
        k = arr.shape[0]
        short, long, prev = np.zeros(k), np.zeros(k), np.zeros(k)
        for i, pre in enumerate(arr[:, 0].tolist()):
            prev[i] = self._median(2) if self._sorted[2] else pre  # the intervals before this one
            self._push(2, pre)
            self._push(0, pre)
            self._push(1, pre)
            short[i], long[i] = self._median(0), self._median(1)
        return _median_columns(arr[:, 0], arr[:, 1], short, long, prev)


def select_beat_features(features: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """The columns ``names`` of a :func:`beat_model_inputs` matrix (columns :data:`ALL_BEAT_FEATURE_NAMES`).

    Raises:
        LeanECGError: a name this LeanECG does not compute (a package from another version).
    """
    unknown = [n for n in names if n not in ALL_BEAT_FEATURE_NAMES]
    if unknown:
        raise LeanECGError("features", f"unknown beat feature(s) {', '.join(unknown)}")
    return np.ascontiguousarray(features[:, [ALL_BEAT_FEATURE_NAMES.index(n) for n in names]])


def _rowwise_corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of matching rows of ``a`` and ``b`` ``(n, m)``; 0 where a row is constant."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    num = (a * b).sum(axis=1)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 1e-12)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 1.0 where the denominator vanishes (no evidence of a difference)."""
    return np.divide(num, den, out=np.ones_like(num), where=den > 1e-9)


def beat_templates(windows: np.ndarray, *, causal: bool = False, history: int = 64) -> np.ndarray:
    """The patient's typical beat for every beat: the sample-wise median of beat windows.

    Args:
        windows: beat windows of one record in time order, ``(n_beats, n_samples)`` (one lead).
        causal: ``False``: every beat's template is the median of all the record's beats. ``True``: the
            median of the ``history`` beats before it (the first beat is its own template), so row ``i``
            depends only on beats ``<= i``.
        history: beats in the causal running median.

    Returns:
        float64 ``(n_beats, n_samples)``.
    """
    w = np.asarray(windows, dtype=np.float64)
    if w.ndim != 2:
        raise LeanECGError("windows", f"expected shape (n_beats, n_samples), got {w.shape}")
    check_number("history", history, low=1, integer=True, unit="beats")
    if w.shape[0] == 0:
        return w.copy()
    if not causal:
        return np.broadcast_to(np.median(w, axis=0), w.shape).copy()
    out = np.empty_like(w)
    out[0] = w[0]
    for i in range(1, w.shape[0]):
        out[i] = np.median(w[max(0, i - int(history)) : i], axis=0)
    return out


def template_features(
    windows: np.ndarray,
    fs: float,
    r_index: int,
    *,
    causal: bool = False,
    history: int = 64,
) -> np.ndarray:
    """Morphology of every beat relative to the patient's typical beat, columns :data:`TEMPLATE_FEATURE_NAMES`.

    Inter-patient beat classification fails when a model learns the training patients' morphologies;
    comparing each beat with the same patient's median beat (:func:`beat_templates`) removes most of the
    between-patient variation (electrode placement, QRS shape, amplitude) and keeps what makes a beat
    ectopic: a different QRS (ventricular) or a different P wave (supraventricular).

    Args:
        windows: beat windows of one record in time order, ``(n_beats, n_samples)`` (one lead, any unit).
        fs: sampling rate of the windows in Hz.
        r_index: index of the R peak inside each window (``round(before_s * fs)`` of :func:`beat_windows`).
        causal, history: see :func:`beat_templates`.

    Returns:
        float64 ``(n_beats, len(TEMPLATE_FEATURE_NAMES))``; correlations are in ``[-1, 1]``, ratios are
        dimensionless (1 = like the template).
    """
    fs_f = _check_fs(fs)
    w = np.asarray(windows, dtype=np.float64)
    if w.ndim != 2:
        raise LeanECGError("windows", f"expected shape (n_beats, n_samples), got {w.shape}")
    n, m = w.shape
    if not 0 <= int(r_index) < max(m, 1):
        raise LeanECGError("r_index", f"R-peak index {r_index} is outside the window (0..{m - 1})")
    if n == 0:
        return np.zeros((0, len(TEMPLATE_FEATURE_NAMES)))
    return template_features_against(w, beat_templates(w, causal=causal, history=history), fs_f, r_index)


def _paired_windows(windows: np.ndarray, templates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``windows`` and ``templates`` as float64 ``(n_beats, n_samples)`` arrays of one shape.

    Raises:
        LeanECGError: not two 2-D arrays of one shape.
    """
    w = np.asarray(windows, dtype=np.float64)
    t = np.asarray(templates, dtype=np.float64)
    if w.ndim != 2 or t.shape != w.shape:
        raise LeanECGError(
            "templates",
            f"expected windows and templates of one shape (n_beats, n_samples), got {w.shape} and {t.shape}",
        )
    return w, t


def template_features_against(
    windows: np.ndarray, templates: np.ndarray, fs: float, r_index: int
) -> np.ndarray:
    """The :data:`TEMPLATE_FEATURE_NAMES` columns of beat ``windows`` against given ``templates``.

    :func:`template_features` computes the templates from the record itself; a stream
    (:class:`CausalTemplates`, :mod:`leanecg.signal.beat_stream`) keeps its own running templates and calls
    this directly, so both paths share one formula.

    Args:
        windows: beat windows ``(n_beats, n_samples)``, one lead, any unit.
        templates: the template each beat is compared with, same shape as ``windows``.
        fs: sampling rate of the windows in Hz.
        r_index: index of the R peak inside each window.

    Returns:
        float64 ``(n_beats, len(TEMPLATE_FEATURE_NAMES))``.
    """
    w, t = _paired_windows(windows, templates)
    n, m = w.shape
    out = np.zeros((n, len(TEMPLATE_FEATURE_NAMES)))
    if n == 0:
        return out
    r = int(r_index)
    q0, q1 = max(0, r - round(0.08 * fs)), min(m, r + round(0.10 * fs) + 1)
    p0, p1 = max(0, r - round(0.25 * fs)), max(0, r - round(0.08 * fs))
    out[:, 0] = _rowwise_corr(w, t)
    out[:, 1] = _rowwise_corr(w[:, q0:q1], t[:, q0:q1])
    out[:, 2] = _rowwise_corr(w[:, p0:p1], t[:, p0:p1]) if p1 - p0 >= 3 else 0.0
    rms_t = np.sqrt(np.mean(t * t, axis=1))
    out[:, 3] = _ratio(np.sqrt(np.mean((w - t) ** 2, axis=1)), rms_t)
    out[:, 4] = _ratio(np.ptp(w[:, q0:q1], axis=1), np.ptp(t[:, q0:q1], axis=1))
    qlen = np.abs(np.diff(w[:, q0:q1], axis=1)).sum(axis=1) if q1 - q0 >= 2 else np.zeros(n)
    tlen = np.abs(np.diff(t[:, q0:q1], axis=1)).sum(axis=1) if q1 - q0 >= 2 else np.zeros(n)
    out[:, 5] = _ratio(qlen, tlen)
    return out


def template_diff_features_against(
    windows: np.ndarray, templates: np.ndarray, fs: float, r_index: int
) -> np.ndarray:
    """The :data:`TEMPLATE_DIFF_FEATURE_NAMES` columns: each beat minus its template at a reduced rate.

    Where :data:`TEMPLATE_FEATURE_NAMES` summarise how a beat differs from the patient's typical beat in six
    numbers, these keep *where* it differs: ``windows - templates`` averaged over
    :data:`TEMPLATE_DIFF_BINS` equal parts of the window (a different P wave before the R peak, a wider QRS,
    an inverted T wave), divided by the template's QRS peak-to-peak amplitude so that the columns do not
    depend on the lead's gain or the patient's QRS size. A classifier reading them sees the morphology of
    every patient relative to that patient's own normal beat (per-record amplitude normalisation).

    Args:
        windows: beat windows ``(n_beats, n_samples)``, one lead, any unit, ``n_samples >=``
            :data:`TEMPLATE_DIFF_BINS`.
        templates: the template each beat is compared with, same shape (:func:`beat_templates`,
            :class:`CausalTemplates`).
        fs: sampling rate of the windows in Hz.
        r_index: index of the R peak inside each window (locates the QRS region, R peak -0.08 s .. +0.10 s).

    Returns:
        float64 ``(n_beats, TEMPLATE_DIFF_BINS)``, dimensionless; rows whose template has no QRS amplitude
        (a flat lead) are 0.

    >>> w = np.zeros((2, 126)); w[:, 45] = 1.0  # an R spike 0.25 s into a 0.7 s window at 180 Hz
    >>> t = w.copy(); w[1, 20:30] = 0.2  # the second beat has an extra early wave
    >>> d = template_diff_features_against(w, t, 180.0, 45)
    >>> d.shape, float(abs(d[0]).max()), bool(d[1, 3] > 0.1)
    ((2, 20), 0.0, True)
    """
    fs_f = _check_fs(fs)
    w, t = _paired_windows(windows, templates)
    n, m = w.shape
    if m < TEMPLATE_DIFF_BINS:
        raise LeanECGError("windows", f"need at least {TEMPLATE_DIFF_BINS} samples per window, got {m}")
    r = int(r_index)
    if not 0 <= r < m:
        raise LeanECGError("r_index", f"R-peak index {r_index} is outside the window (0..{m - 1})")
    if n == 0:
        return np.zeros((0, TEMPLATE_DIFF_BINS))
    q0, q1 = max(0, r - round(0.08 * fs_f)), min(m, r + round(0.10 * fs_f) + 1)
    scale = np.ptp(t[:, q0:q1], axis=1)
    edges = np.round(np.linspace(0, m, TEMPLATE_DIFF_BINS + 1)).astype(np.int64)
    sums = np.add.reduceat(w - t, edges[:-1], axis=1)  # every bin holds >= 1 sample (m >= bins)
    binned = sums / np.diff(edges)[None, :]
    return np.divide(binned, scale[:, None], out=np.zeros_like(binned), where=scale[:, None] > 1e-9)


def takes_template_diff(names: Sequence[str] | None) -> bool:
    """Whether the feature columns ``names`` (``None``: every column) include a
    :data:`TEMPLATE_DIFF_FEATURE_NAMES` column (computed only then by :func:`beat_model_inputs`)."""
    return names is None or any(n in TEMPLATE_DIFF_FEATURE_NAMES for n in names)


def takes_record_z(names: Sequence[str] | None) -> bool:
    """Whether the feature columns ``names`` (``None``: every column) include a
    :data:`RECORD_Z_FEATURE_NAMES` column (computed only then by :func:`beat_model_inputs`)."""
    return names is None or any(n in RECORD_Z_FEATURE_NAMES for n in names)


def takes_record_zn(names: Sequence[str] | None) -> bool:
    """Whether the feature columns ``names`` (``None``: every column) include a
    :data:`RECORD_ZN_FEATURE_NAMES` column (computed only then by :func:`beat_model_inputs`)."""
    return names is None or any(n in RECORD_ZN_FEATURE_NAMES for n in names)


def non_premature_beats(base: np.ndarray) -> np.ndarray:
    """The yardstick of :data:`RECORD_ZN_FEATURE_NAMES`: bool ``(n,)``, the beats whose ``pre_rr`` is at least
    0.9 times their ``post_rr`` (:func:`~leanecg.signal.record_norm.not_premature`), from ``(n, 17)`` columns
    :data:`RECORD_Z_BASE_NAMES`."""
    return not_premature(
        base[:, RECORD_Z_BASE_NAMES.index("pre_rr")], base[:, RECORD_Z_BASE_NAMES.index("post_rr")]
    )


def record_z_columns(base: np.ndarray, non_premature: bool = False) -> np.ndarray:
    """The record-normalised columns of one record's beats from their :data:`RECORD_Z_BASE_NAMES` columns
    ``(n, 17)``: :data:`RECORD_Z_FEATURE_NAMES` (each beat against the median and IQR of all the record's
    beats) or, ``non_premature``, :data:`RECORD_ZN_FEATURE_NAMES` (against its :func:`non_premature_beats`);
    float64 ``(n, 17)``, dimensionless."""
    return record_robust_z(base, reference=non_premature_beats(base) if non_premature else None)


def beat_model_inputs(
    x: np.ndarray,
    fs: float,
    peaks: np.ndarray | Sequence[int],
    before_s: float,
    after_s: float,
    *,
    causal: bool = True,
    templates: bool = True,
    history: int = 64,
    context: bool = False,
    only: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """What a beat classifier sees for every R peak: its window and its beat features.

    One function serves training (``leanecg bench mitdb-aami``) and inference (``leanecg beats``,
    streaming), so a model always gets exactly the inputs it was trained on. Every peak gets a row:
    windows near the record's ends are edge-padded (``beat_windows(..., edge="pad")``).

    With the defaults every input is computable online with bounded look-ahead: the window itself
    (``after_s`` after the R peak), the RR features of :func:`rr_features` with ``causal=True`` (the
    running mean RR so far; the next beat's RR interval is the only look-ahead) and the template features
    of :func:`template_features` with ``causal=True`` (each beat against the median of the ``history``
    beats before it, on the first lead). No statistic of the whole record is used, except by the
    record-normalised columns (:data:`RECORD_Z_FEATURE_NAMES`, :data:`RECORD_ZN_FEATURE_NAMES`, computed only
    when ``only`` names them): each beat's features against the median and IQR of the record's beats (or of its
    non-premature beats; :func:`~leanecg.signal.record_norm.record_robust_z`; a stream uses the beats so far,
    :class:`~leanecg.signal.record_norm.RunningRobustZ`).

    Args:
        x: preprocessed signal ``(n_samples,)`` or ``(n_samples, n_leads)``.
        fs: its sampling rate in Hz.
        peaks: strictly increasing R-peak sample indices ``(n_beats,)`` at ``fs``.
        before_s, after_s: window extent around each R peak, seconds.
        causal: ``True`` (default): running statistics only (streaming). ``False``: the record-wide
            mean RR and the median beat of the whole record (offline analysis only).
        templates: append the :data:`TEMPLATE_FEATURE_NAMES` columns (default) or return the RR
            features alone.
        history: beats in the causal running template (see :func:`beat_templates`).
        context: insert the :data:`RR_CONTEXT_FEATURE_NAMES` columns (:func:`rr_context_features`) and the
            :data:`RR_MEDIAN_FEATURE_NAMES` columns (:func:`rr_median_features`) after the RR columns, and
            with ``templates=True`` append the :data:`TEMPLATE_DIFF_FEATURE_NAMES` columns
            (:func:`template_diff_features_against`) and the :data:`RECORD_Z_FEATURE_NAMES` columns: the
            columns are then :data:`ALL_BEAT_FEATURE_NAMES`.
        only: the columns the caller will take (:func:`select_beat_features`), e.g. a model's feature
            names. The median columns cost a sliding median over up to 300 beats per beat: with ``only``
            naming none of them they are left NaN (never computed), and so are the template-difference
            columns, and the record-normalised ones. Default: every column is computed (the
            template-difference columns are NaN when the window is shorter than :data:`TEMPLATE_DIFF_BINS`
            samples).

    Returns:
        ``(windows, features)``: float32 ``(n_beats, n_leads, B + A)`` (channels first, as models take
        them) and float32 ``(n_beats, n_features)`` with the columns :data:`BEAT_FEATURE_NAMES`
        (``templates=True``) or :data:`RR_FEATURE_NAMES`, plus the context and median columns with
        ``context=True``.
    """
    arr = np.asarray(x)
    x2 = arr[:, None] if arr.ndim == 1 else arr
    win, _ = beat_windows(x2, fs, peaks, before_s, after_s, edge="pad")
    feats = rr_features(peaks, fs, causal=causal)
    if context:
        medians = (
            rr_median_features(feats)
            if takes_rr_medians(only)
            else np.full((feats.shape[0], len(RR_MEDIAN_FEATURE_NAMES)), np.nan)
        )
        feats = np.concatenate((feats, rr_context_features(feats), medians), axis=1)
    if templates:
        r_index = round(float(before_s) * _check_fs(fs))
        lead0 = win[:, :, 0]
        tmpl = beat_templates(lead0, causal=causal, history=history)
        feats = np.concatenate((feats, template_features_against(lead0, tmpl, fs, r_index)), axis=1)
        if context:
            diff = (
                template_diff_features_against(lead0, tmpl, fs, r_index)
                if takes_template_diff(only) and (only is not None or lead0.shape[1] >= TEMPLATE_DIFF_BINS)
                else np.full((feats.shape[0], TEMPLATE_DIFF_BINS), np.nan)
            )
            base = select_beat_features(feats, RECORD_Z_BASE_NAMES)
            unset = np.full((feats.shape[0], len(RECORD_Z_BASE_NAMES)), np.nan)
            rz = record_z_columns(base) if takes_record_z(only) else unset
            rzn = record_z_columns(base, non_premature=True) if takes_record_zn(only) else unset
            feats = np.concatenate((feats, diff, rz, rzn), axis=1)
    return np.ascontiguousarray(win.transpose(0, 2, 1), dtype=np.float32), feats.astype(np.float32)


class CausalTemplates:
    """The causal beat templates of a stream, exactly :func:`beat_templates` with
    ``causal=True`` on the stream's windows so far, on any chunking: beat ``i``'s template is the
    sample-wise median of the ``history`` beats before it (fewer at the stream's start; the first beat
    is its own template).

    All beats of a chunk are done at once: once ``history`` beats are held, the windows of up to
    :attr:`BLOCK` consecutive beats are rows of one sliding-window view ``(n_samples, k, history)``,
    sorted in one ``np.sort`` call (vectorised, ~25 us per beat of 126 samples x 64 beats on MIT-BIH
    instead of ~120 us for one sorted-history update per beat); the median is the middle value, or the
    mean ``(a + b) / 2`` of the two middle ones for an even count -- the order statistics ``np.median``
    averages, so the values are identical. The stream's first ``history`` beats use ``np.median`` as
    offline. Only the last ``history`` windows are kept.
    """

    #: Most beats per sorted block (bounds the transient copy to ``BLOCK * history * n_samples`` floats).
    BLOCK = 64

    def __init__(self, history: int) -> None:
        self.history = int(history)
        self.held: np.ndarray | None = None  # (n_held <= history, n_samples), oldest first

    def __len__(self) -> int:
        return 0 if self.held is None else int(self.held.shape[0])

    def next(self, windows: np.ndarray) -> np.ndarray:
        """Templates float64 ``(k, n_samples)`` of the next ``k`` beats' windows ``(k, n_samples)``
        (time order), which then join the history."""
        w = np.asarray(windows, dtype=np.float64)
        k, h = w.shape[0], self.history
        if k == 0:
            return w.copy()
        u = w if self.held is None else np.concatenate((self.held, w))
        m = u.shape[0] - k  # beats held before this call
        out = np.empty_like(w)
        full = min(k, max(0, h - m))  # beats with fewer than `history` beats before them
        for i in range(full):
            out[i] = u[0] if m + i == 0 else np.median(u[: m + i], axis=0)
        for a in range(full, k, self.BLOCK):
            b = min(k, a + self.BLOCK)
            # beat i's previous windows are u[m + i - h : m + i]: rows a..b-1 share one sliding view
            seg = np.ascontiguousarray(u[m + a - h : m + b - 1].T)  # (n_samples, h + b - a - 1)
            s = np.sort(np.lib.stride_tricks.sliding_window_view(seg, h, axis=1), axis=-1)
            mid = s[:, :, h // 2] if h % 2 else (s[:, :, h // 2 - 1] + s[:, :, h // 2]) / 2
            out[a:b] = mid.T
        self.held = u[-h:].copy()
        return out
