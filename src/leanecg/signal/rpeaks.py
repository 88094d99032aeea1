"""R-peak (QRS) detection, offline and streaming, from one algorithm.

The detector is a Pan-Tompkins / Hamilton-Tompkins style detector made amplitude-robust and written so
that one code path serves both uses: :func:`detect_rpeaks` is :class:`StreamingRPeakDetector` fed the whole
signal as a single chunk, so streaming output is *identical* to offline output on any chunking.

Algorithm (all durations in seconds, converted to samples at the signal's ``fs``):

1. **Feature** (vectorised, causal, state carried between chunks): 2nd-order Butterworth band-pass
   8-20 Hz (``scipy.signal.sosfilt`` with ``zi``), first difference, square, 150 ms moving-window
   integration (running sum). The square root of the integrated energy is the QRS *feature*: it scales
   linearly with QRS amplitude, so a run of PVCs 5x taller than the normal beats does not lift the
   thresholds above the normal beats (with the raw energy the ratio would be 25x).
2. **Candidates**: local maxima of the feature that are the largest local maximum within +/- 200 ms.
   A candidate is final once 200 ms of signal after it has been seen (this is the streaming delay).
3. **Decisions** (a Python loop over candidates, about one per beat; never over samples): adaptive signal
   and noise levels ``SPK``/``NPK`` (exponential averages of accepted and of rejected candidates),
   threshold ``NPK + 0.25 (SPK - NPK)``; 200 ms refractory period; T-wave test (a candidate within
   360 ms of the previous beat whose maximal slope is below half that beat's slope is a T wave);
   search-back: when no beat has been found for 1.66 x the mean of the last 8 RR intervals, the largest
   candidate above 0.75 x the threshold in that interval is taken as a missed beat. Three changes to the
   classic scheme make it recover instead of going blind after a sudden drop of QRS amplitude (gain or
   lead change) or an artefact during the learning period: a search-back that finds nothing lowers
   ``SPK`` by a quarter (never below ``NPK``); rejected candidates feed ``NPK`` only once the next beat
   confirms they were noise (a missed beat never lifts the noise level); and before the first beat the
   start of the signal acts as the previous beat for search-back. ``SPK`` starts at the largest and
   ``NPK`` at the median feature value of the first 2 s.
4. **Localisation**: the R peak is the sample of largest absolute deviation from the local mean of the
   *unfiltered* signal in the 250 ms before the candidate (the band-pass delays the feature by 70-170 ms;
   searching the raw signal removes that delay and works for either QRS polarity).

Properties: works at any ``fs >= 50 Hz`` (filters are designed per ``fs``), either QRS polarity, any
amplitude scale (thresholds are relative; only :attr:`RPeakParams.min_feature` is absolute), memory
independent of record length (bounded look-back buffers), no learning period is discarded (the first
2 s only initialise the thresholds). Measured on all 48 MIT-BIH records (lead 0, 150 ms window, EC57 VF
excluded, whole records): see ``benchmarks/results/rpeaks_mitdb.md`` (``benchmarks/rpeaks_mitdb.py``).

Signals shorter than 1 s give an empty array (too short to tell a QRS from noise). A flat signal gives
an empty array. NaN or infinite samples raise :class:`~leanecg.errors.LeanECGError` naming ``signal``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from leanecg.errors import LeanECGError
from leanecg.signal._designs import butter, sosfilt_zi
from leanecg.signal._kernels import sosfilt
from leanecg.signal.leads import lead_index

__all__ = [
    "MIN_DURATION_S",
    "MIN_FS",
    "RPeakParams",
    "StreamingRPeakDetector",
    "detect_rpeaks",
    "record_rpeaks",
]

#: Lowest sampling rate accepted (Hz): the QRS energy band (8-20 Hz) must lie below Nyquist.
MIN_FS = 50.0
#: Signals (streams) shorter than this many seconds give no beats.
MIN_DURATION_S = 1.0

_EMPTY = np.zeros(0, dtype=np.int64)

_Cand = tuple[int, float, float, int]  # (feature time, feature height mV/s, slope mV/s, R location)


@dataclass(frozen=True)
class RPeakParams:
    """Tuning knobs of the detector. The defaults are the validated ones; durations in seconds.

    Attributes:
        band_hz: band-pass corner frequencies (Hz) of the QRS filter.
        filter_order: Butterworth order of the band-pass (each order adds one second-order section).
        integration_s: moving-window integration length.
        neighbourhood_s: a candidate is the largest feature peak within +/- this (also the streaming delay).
        refractory_s: no second beat within this time after a beat.
        t_wave_s: candidates closer than this to the previous beat get the T-wave slope test.
        t_wave_slope_ratio: such a candidate is a T wave if its slope < ratio x the previous beat's slope.
        threshold_ratio: detection threshold = NPK + ratio x (SPK - NPK).
        searchback_ratio: search-back threshold = ratio x detection threshold.
        searchback_rr: search back when no beat for this many mean RR intervals.
        searchback_decay: SPK is multiplied by this after a search-back that finds nothing.
        rr_count: number of RR intervals in the running mean.
        initial_rr_s: RR interval assumed until the first two beats are found.
        learning_s: the feature's first seconds that initialise SPK and NPK.
        localisation_s: the R peak is searched in the raw signal this long before the candidate.
        max_pending: at most this many rejected candidates are kept for search-back (bounds memory).
        min_feature: candidates whose feature (RMS slope of the band-passed signal, mV/s) is below this
            are ignored: about the feature of a 0.02 mV QRS, so flat lines, rounding noise and slow
            baseline drift never produce beats (the signal must be in mV, not V).
    """

    band_hz: tuple[float, float] = (8.0, 20.0)
    filter_order: int = 2
    integration_s: float = 0.150
    neighbourhood_s: float = 0.200
    refractory_s: float = 0.200
    t_wave_s: float = 0.360
    t_wave_slope_ratio: float = 0.5
    threshold_ratio: float = 0.25
    searchback_ratio: float = 0.75
    searchback_rr: float = 1.66
    searchback_decay: float = 0.75
    rr_count: int = 8
    initial_rr_s: float = 1.0
    learning_s: float = 2.0
    initial_signal_ratio: float = 1.0
    initial_noise_ratio: float = 1.0
    localisation_s: float = 0.250
    max_pending: int = 64
    min_feature: float = 0.25


def _check_fs(fs: float) -> float:
    try:
        fs_f = float(fs)
    except (TypeError, ValueError):
        raise LeanECGError("fs", f"sampling rate must be a number in Hz, got {fs!r}") from None
    if not math.isfinite(fs_f) or fs_f <= 0:
        raise LeanECGError("fs", f"sampling rate must be a positive number of Hz, got {fs!r}")
    if fs_f < MIN_FS:
        raise LeanECGError(
            "fs", f"R-peak detection needs fs >= {MIN_FS:g} Hz (QRS energy lies at 8-20 Hz), got {fs_f:g} Hz"
        )
    return fs_f


def _check_params(p: RPeakParams, fs: float) -> None:
    lo, hi = p.band_hz
    if not (0 < lo < hi < fs / 2):
        raise LeanECGError(
            "params.band_hz", f"band {p.band_hz} Hz must satisfy 0 < low < high < fs/2 = {fs / 2:g}"
        )
    for name in ("integration_s", "neighbourhood_s", "localisation_s", "learning_s", "initial_rr_s"):
        v = getattr(p, name)
        if not (math.isfinite(v) and v > 0):
            raise LeanECGError(f"params.{name}", f"must be a positive number of seconds, got {v!r}")
    for name in ("refractory_s", "t_wave_s", "min_feature"):
        v = getattr(p, name)
        if not (math.isfinite(v) and v >= 0):
            raise LeanECGError(f"params.{name}", f"must be a non-negative number, got {v!r}")
    for name in ("threshold_ratio", "searchback_ratio", "searchback_decay", "t_wave_slope_ratio"):
        v = getattr(p, name)
        if not (math.isfinite(v) and 0 <= v <= 1):
            raise LeanECGError(f"params.{name}", f"must lie in [0, 1], got {v!r}")
    for name in ("filter_order", "rr_count", "max_pending"):
        v = getattr(p, name)
        if not (isinstance(v, int) and v >= 1):
            raise LeanECGError(f"params.{name}", f"must be a positive int, got {v!r}")
    if not (math.isfinite(p.searchback_rr) and p.searchback_rr > 1):
        raise LeanECGError("params.searchback_rr", f"must be a number > 1, got {p.searchback_rr!r}")


def _check_signal(x: np.ndarray, offset: int = 0) -> np.ndarray:
    """Validate a 1-D real signal and return it as contiguous float64."""
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise LeanECGError(
            "signal", f"expected a 1-D single-lead signal of shape (n_samples,), got shape {arr.shape}"
        )
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise LeanECGError("signal", f"expected real numbers (mV), got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if arr.size and not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr))
        raise LeanECGError(
            "signal",
            f"contains {bad.size} NaN or infinite sample(s), the first at sample {offset + int(bad[0])}; "
            "interpolate or cut them out before R-peak detection",
        )
    return arr


def _dominant(pos: np.ndarray, val: np.ndarray, w: int) -> np.ndarray:
    """Which peaks (sorted positions ``pos``, heights ``val``) are the largest within ``+/- w`` samples.

    A peak loses to an earlier peak within ``w`` that is at least as high, or to a later one that is
    strictly higher (ties go to the earlier peak). Range maxima come from one ``np.maximum.reduceat``
    per side, so the cost does not depend on how many peaks share a window.
    """
    n = pos.size
    ext = np.append(val, -np.inf)
    own = np.arange(n)
    left = np.searchsorted(pos, pos - w, side="left")
    right = np.searchsorted(pos, pos + w, side="right")
    bounds = np.empty(2 * n, dtype=np.intp)
    bounds[0::2], bounds[1::2] = left, own  # earlier peaks: [left, i)
    before = np.where(left < own, np.maximum.reduceat(ext, bounds)[0::2], -np.inf)
    bounds[0::2], bounds[1::2] = own + 1, right  # later peaks: (i, right)
    after = np.where(own + 1 < right, np.maximum.reduceat(ext, bounds)[0::2], -np.inf)
    return (before < val) & (after <= val)


class StreamingRPeakDetector:
    """Chunk-by-chunk R-peak detector whose output equals :func:`detect_rpeaks` on the whole signal.

    Feed consecutive chunks of one lead (1-D, mV) to :meth:`process`; each call returns the absolute
    sample indices (int64, counted from the first sample ever fed) of the R peaks it confirmed. Call
    :meth:`flush` at the end of the stream for the last beats. Filter state, thresholds, the RR history
    and a bounded look-back buffer (about ``2 x neighbourhood_s + localisation_s`` of samples) are all that
    is kept, so memory does not grow with the stream's length.

    A beat is normally confirmed ``neighbourhood_s`` (200 ms) after the end of its QRS energy, i.e. about
    0.35 s after the R peak; a beat found by search-back is confirmed when the search-back fires (at most
    ``searchback_rr`` mean RR intervals after the previous beat).

    Args:
        fs: sampling rate in Hz (>= 50).
        params: detector knobs (:class:`RPeakParams`); the defaults are the validated ones.
    """

    def __init__(self, fs: float, *, params: RPeakParams | None = None) -> None:
        self.fs = _check_fs(fs)
        self.params = p = params if params is not None else RPeakParams()
        _check_params(p, self.fs)
        lo, hi = p.band_hz
        self._sos = butter(p.filter_order, [lo, hi], btype="bandpass", fs=self.fs, output="sos")
        self._zi_unit = sosfilt_zi(self._sos)
        s = self.fs
        self._w_int = max(1, round(p.integration_s * s))
        self._w_nb = max(1, round(p.neighbourhood_s * s))
        self._refractory = round(p.refractory_s * s)
        self._t_wave = round(p.t_wave_s * s)
        self._w_loc = max(1, round(p.localisation_s * s))
        self._w_slope = self._w_loc
        self._learn = max(1, round(p.learning_s * s))
        # feature = RMS slope of the band-passed signal over the integration window, in mV/s
        self._feat_scale = s / math.sqrt(self._w_int)
        self._initial_rr = p.initial_rr_s * s
        self._min_len = math.ceil(MIN_DURATION_S * s)
        # samples of look-back the candidate stage needs before the first unresolved sample
        self._lookback = max(self._w_nb + 2, self._w_loc + 1, self._w_slope + 1)
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget everything; the next chunk starts a new stream at sample 0."""
        self._n = 0  # samples consumed
        self._flushed = False
        # stage A (filter / integration) state
        self._zi: np.ndarray | None = None
        self._prev_bp = 0.0
        self._csum_hist = np.zeros(self._w_int)  # cumulative energy at the last w_int samples
        # look-back buffers, all starting at absolute sample self._buf0
        self._buf0 = 0
        self._buf_m = np.zeros(0)  # energy summed over the integration window
        self._buf_e = np.zeros(0)  # squared derivative
        self._buf_x = np.zeros(0)  # raw signal
        self._scan_from = 0  # first sample whose candidate status is not decided yet
        # learning phase
        self._learn_buf: list[np.ndarray] = []
        self._learn_n = 0
        self._initialised = False
        self._queued: list[_Cand] = []
        # decision state
        self._spk = 0.0
        self._npk = 0.0
        self._last_t = -1  # feature-time of the last beat (-1: none yet)
        self._last_slope = 0.0
        self._rr: deque[float] = deque(maxlen=self.params.rr_count)
        self._rr_sum = 0.0
        self._mark = -1.0  # end of the last failed search-back window
        self._pending: deque[_Cand] = deque(maxlen=self.params.max_pending)
        self._last_loc = -1
        self._out: list[int] = []

    @property
    def n_samples(self) -> int:
        """Number of samples consumed so far."""
        return self._n

    @property
    def n_buffered(self) -> int:
        """Samples currently held in the look-back buffers: at most the last chunk plus a constant
        (about ``2 x neighbourhood_s + localisation_s`` of signal), whatever the stream's length."""
        return int(self._buf_m.size)

    # ---------------------------------------------------------------- public API
    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Consume the next chunk (1-D, mV) and return the R peaks it confirmed (absolute int64 indices)."""
        if self._flushed:
            raise LeanECGError("chunk", "the stream was flushed; call reset() before feeding a new stream")
        x = _check_signal(chunk, offset=self._n)
        if x.size == 0:
            return _EMPTY.copy()
        self._ingest(x)
        # candidates are final up to the last sample whose +/- neighbourhood has been seen
        self._resolve(self._n - 1 - self._w_nb - 1)
        return self._take()

    def flush(self) -> np.ndarray:
        """End of stream: decide the remaining candidates and return the last R peaks (int64)."""
        if self._flushed:
            return _EMPTY.copy()
        self._flushed = True
        if self._n > 0:
            self._resolve(self._n - 2)
            if not self._initialised:
                if self._n < self._min_len:
                    self._queued = []  # too short to tell a QRS from noise: no beats
                self._initialise()
            self._advance(float(self._n - 1))
        return self._take()

    # ----------------------------------------------------------- stage A: feature
    def _ingest(self, x: np.ndarray) -> None:
        n0 = self._n
        if self._zi is None:
            self._zi = self._zi_unit * x[0]  # start in steady state: no transient from a DC offset
        bp, self._zi = sosfilt(self._sos, x, zi=self._zi)
        d = np.empty_like(bp)
        d[0] = bp[0] - self._prev_bp if n0 > 0 else 0.0
        np.subtract(bp[1:], bp[:-1], out=d[1:])
        self._prev_bp = float(bp[-1])
        e = d * d
        # running sum computed sequentially from the carried total: bit-identical on any chunking
        csum = np.cumsum(np.concatenate((self._csum_hist[-1:], e)))[1:]
        hist = np.concatenate((self._csum_hist, csum))
        m = csum - hist[: csum.size]  # energy in the last w_int samples
        self._csum_hist = hist[-self._w_int :]
        self._n = n0 + x.size

        if not self._initialised:
            need = self._learn - self._learn_n
            if need > 0:
                take = m[:need]
                self._learn_buf.append(take.copy())
                self._learn_n += take.size

        keep_from = max(0, min(self._scan_from - self._lookback, self._n))
        cut = keep_from - self._buf0
        if cut > 0:
            self._buf_m = np.concatenate((self._buf_m[cut:], m))
            self._buf_e = np.concatenate((self._buf_e[cut:], e))
            self._buf_x = np.concatenate((self._buf_x[cut:], x))
            self._buf0 = keep_from
        else:
            self._buf_m = np.concatenate((self._buf_m, m))
            self._buf_e = np.concatenate((self._buf_e, e))
            self._buf_x = np.concatenate((self._buf_x, x))

    # ------------------------------------------------------- stage B: candidates
    def _resolve(self, hi: int) -> None:
        """Find the candidates in ``[scan_from, hi]`` (absolute samples) and pass them to the decisions."""
        lo = self._scan_from
        if hi < lo:
            return
        m = self._buf_m
        b0 = self._buf0
        # local maxima of m that lie in [lo - w_nb, hi + w_nb] (they need one sample on each side)
        a = max(1, lo - self._w_nb - b0)
        b = min(m.size - 1, hi + self._w_nb + 1 - b0)  # exclusive end in buffer coordinates
        self._scan_from = hi + 1
        if b <= a:
            self._after_resolve(hi)
            return
        mid = m[a:b]
        is_max = (mid > m[a - 1 : b - 1]) & (mid >= m[a + 1 : b + 1])
        pos = np.flatnonzero(is_max) + a  # buffer coordinates
        if pos.size:
            val = m[pos]
            keep = _dominant(pos, val, self._w_nb)
            abs_pos = pos + b0
            sel = keep & (abs_pos >= lo) & (abs_pos <= hi) & (val > 0)
            cand = pos[sel]
            if cand.size:
                self._candidates(cand)
        self._after_resolve(hi)

    def _candidates(self, cand: np.ndarray) -> None:
        """Compute height, slope and R location of candidates (buffer coordinates) and decide them."""
        b0 = self._buf0
        height = np.sqrt(self._buf_m[cand]) * self._feat_scale
        big = height >= self.params.min_feature
        if not big.all():
            cand, height = cand[big], height[big]
            if cand.size == 0:
                return
        # the look-back window of each candidate; it is only cut short at the start of the stream
        # (buffer index < 0 happens only while the buffer still starts at sample 0)
        idx = cand[:, None] - np.arange(self._w_loc)[None, ::-1]
        valid = idx >= 0
        idx_c = np.maximum(idx, 0)
        slope = np.sqrt(np.where(valid, self._buf_e[idx_c], 0.0).max(axis=1)) * self.fs
        w = self._buf_x[idx_c]
        cnt = valid.sum(axis=1)
        mean = np.where(valid, w, 0.0).sum(axis=1) / cnt
        dev = np.where(valid, np.abs(w - mean[:, None]), -1.0)
        loc = idx_c[np.arange(cand.size), dev.argmax(axis=1)] + b0
        t_abs = cand + b0
        items = list(zip(t_abs.tolist(), height.tolist(), slope.tolist(), loc.tolist(), strict=True))
        if not self._initialised:
            self._queued.extend(items)
            return
        for it in items:
            self._decide(it)

    def _after_resolve(self, hi: int) -> None:
        if not self._initialised:
            if self._learn_n >= self._learn and self._n >= self._min_len:
                self._initialise()
            else:
                return
        self._advance(float(hi))

    # -------------------------------------------------------- stage C: decisions
    def _initialise(self) -> None:
        feat = np.sqrt(np.concatenate(self._learn_buf)) * self._feat_scale if self._learn_buf else np.zeros(1)
        self._spk = self.params.initial_signal_ratio * float(feat.max())
        self._npk = self.params.initial_noise_ratio * float(np.median(feat))
        self._learn_buf = []
        self._initialised = True
        queued, self._queued = self._queued, []
        for it in queued:
            self._decide(it)

    def _rr_mean(self) -> float:
        return self._rr_sum / len(self._rr) if self._rr else self._initial_rr

    def _accept(self, item: _Cand, weight: float) -> None:
        t, h, slope, loc = item
        if self._last_t >= 0:
            if len(self._rr) == self._rr.maxlen:
                self._rr_sum -= self._rr[0]
            rr = float(t - self._last_t)
            self._rr.append(rr)
            self._rr_sum += rr
        self._spk = weight * h + (1.0 - weight) * self._spk
        self._last_t = t
        self._last_slope = slope
        if loc > self._last_loc:
            self._out.append(loc)
            self._last_loc = loc

    def _advance(self, now: float, strict: bool = False) -> None:
        """Fire every search-back due before ``now`` (``< now`` if strict, else ``<= now``)."""
        p = self.params
        # before the first beat the start of the stream acts as the previous beat, so a detector whose
        # initial threshold was set too high (an artefact in the learning period) still recovers
        while True:
            due = max(float(self._last_t), self._mark, 0.0) + p.searchback_rr * self._rr_mean()
            if due > now or (strict and due == now):
                return
            thr2 = p.searchback_ratio * (self._npk + p.threshold_ratio * (self._spk - self._npk))
            earliest = self._last_t + self._refractory if self._last_t >= 0 else -1
            best: _Cand | None = None
            for it in self._pending:
                if earliest < it[0] <= due and it[1] > thr2 and (best is None or it[1] > best[1]):
                    best = it
            if best is None:
                self._mark = due
                self._spk = max(self._npk, p.searchback_decay * self._spk)
                # candidates of a failed window are dropped without feeding NPK: whether they were
                # missed beats is unknown, and feeding NPK with missed beats would lift the threshold
                # above the beats for good
                keep = [it for it in self._pending if it[0] > due]
            else:
                self._commit_noise([it for it in self._pending if it[0] < best[0]])
                self._accept(best, 0.25)
                keep = [it for it in self._pending if it[0] > best[0]]
            self._pending.clear()
            self._pending.extend(keep)

    def _commit_noise(self, items: Iterable[_Cand]) -> None:
        """Feed rejected candidates into the noise level, in time order."""
        for it in items:
            self._npk = 0.125 * it[1] + 0.875 * self._npk

    def _noise(self, item: _Cand) -> None:
        if len(self._pending) == self._pending.maxlen:
            self._commit_noise([self._pending.popleft()])
        self._pending.append(item)

    def _decide(self, item: _Cand) -> None:
        p = self.params
        t, h, slope, _ = item
        self._advance(float(t), strict=True)
        since = t - self._last_t
        if self._last_t >= 0 and since < self._refractory:
            return
        thr = self._npk + p.threshold_ratio * (self._spk - self._npk)
        if h <= thr:
            self._noise(item)
        elif self._last_t >= 0 and since < self._t_wave and slope < p.t_wave_slope_ratio * self._last_slope:
            self._noise(item)  # T wave
        else:
            self._commit_noise(self._pending)
            self._pending.clear()
            self._accept(item, 0.125)

    def _take(self) -> np.ndarray:
        out = np.asarray(self._out, dtype=np.int64)
        self._out = []
        return out


def detect_rpeaks(x: np.ndarray, fs: float, *, params: RPeakParams | None = None) -> np.ndarray:
    """R peaks of a single-lead ECG.

    Args:
        x: signal ``(n_samples,)`` in mV (any real dtype; either QRS polarity).
        fs: sampling rate in Hz (>= 50).
        params: detector knobs (:class:`RPeakParams`); the defaults are the validated ones.

    Returns:
        Sorted, unique int64 sample indices of the R peaks ``(n_beats,)``. Empty for a signal shorter
        than 1 s or a flat one.

    Raises:
        LeanECGError: ``signal`` not 1-D / not real / containing NaN or inf; ``fs`` not a number >= 50 Hz.

    Example:
        Ten seconds of QRS-like spikes at 75 beats per minute, 250 Hz:

        >>> import numpy as np
        >>> fs = 250.0
        >>> t = np.arange(int(10 * fs)) / fs
        >>> beats_s = np.arange(0.5, 10, 0.8)
        >>> x = sum(1.2 * np.exp(-(((t - b) / 0.012) ** 2)) for b in beats_s)
        >>> peaks = detect_rpeaks(x, fs)
        >>> peaks[:4]
        array([125, 325, 525, 725])
        >>> len(peaks) == len(beats_s)
        True
    """
    fs_f = _check_fs(fs)
    sig = _check_signal(x)
    det = StreamingRPeakDetector(fs_f, params=params)
    head = det.process(sig)
    tail = det.flush()
    return np.concatenate((head, tail)) if tail.size else head


def record_rpeaks(record: Any, lead: str | int = 0, source: str | Any = "lead") -> tuple[str, np.ndarray]:
    """R peaks of one lead of a record (what ``leanecg rpeaks`` writes).

    Args:
        record: a :class:`~leanecg.data.record.Record` (``signal`` ``(n_samples, n_leads)`` in mV, ``fs`` in
            Hz, ``leads`` names).
        lead: the lead, by 0-based index or name in any spelling (:func:`leanecg.signal.leads.lead_index`).
        source: what an error about ``lead`` names (the record's file).

    Returns:
        The lead's name as the record spells it, and the int64 R-peak sample indices ``(n_beats,)`` at the
        record's rate (:func:`detect_rpeaks`).
    """
    idx = lead_index(record.leads, lead, source=str(source))
    return str(record.leads[idx]), detect_rpeaks(record.signal[:, idx], record.fs)
