"""The beats of a stream, ready for a beat model: the online twin of :func:`~leanecg.signal.beats.beat_model_inputs`.

:class:`StreamingBeatInputs` takes a preprocessed stream chunk by chunk (float64 ``(m, n_leads)`` at the
model's rate, as :class:`~leanecg.signal.streaming.StreamingPreprocessor` emits it) and returns the model
inputs of every beat that has become complete, with memory that does not grow with the stream's length:

* **R peaks**: :class:`~leanecg.signal.rpeaks.StreamingRPeakDetector` (identical to the offline detector
  on any chunking) on the float32 first lead *before* normalisation (the detector is amplitude-invariant,
  and the running statistics would make its input drift).
* **Windows**: :func:`~leanecg.signal.beats.beat_windows` (edge-padded at the stream's two ends, as
  offline). A record-level ``zscore`` / ``minmax`` step is applied with the statistics of *all the stream
  up to the end of the beat's window* (:class:`~leanecg.signal.normalize.RunningNorm`; at least
  ``warmup_s`` of signal: beats are held until then). This is the one input whose online value cannot
  equal the offline one (the record's statistics), so labels can differ early in a stream or where the
  amplitude drifts.
* **Features** (the names the model takes): the causal RR features of
  :class:`~leanecg.signal.beats.StreamingRRFeatures` (``average_rr`` = mean RR so far: the record-wide
  mean is unknown online) with the rhythm-context columns of
  :class:`~leanecg.signal.beats.StreamingRRContext` and the running-median columns of
  :class:`~leanecg.signal.beats.StreamingRRMedians`, and the template features of the first lead against
  the median of the previous ``template_history`` beats (:class:`~leanecg.signal.beats.CausalTemplates`),
  with the template-difference columns against the same templates when the model takes them.
  Except the record-normalised columns, these are exactly ``rr_features(..., causal=True)`` and the causal
  templates that ``beat_model_inputs`` computes by default (for training and ``leanecg beats``), so a beat
  model gets the very inputs it was trained on. The record-normalised columns
  (:data:`~leanecg.signal.beats.RECORD_Z_FEATURE_NAMES`, :data:`~leanecg.signal.beats.RECORD_ZN_FEATURE_NAMES`)
  standardise each beat against the beats so far, or the non-premature ones
  (:class:`~leanecg.signal.record_norm.RunningRobustZ`), where offline uses the whole record: like a
  record-level ``zscore`` step, their values (and so the labels) can differ from ``leanecg beats`` early in a
  stream (beat ``i`` is standardised against the base columns of beats ``0 .. i``, the ones the stream has
  returned, at most the last 4,096).

A beat is ready once its window is complete and the next beat has been detected (its RR interval after);
all beats that become ready in one call are returned together, in time order.
"""

from __future__ import annotations

import inspect
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from leanecg.errors import LeanECGError
from leanecg.signal.beats import (
    RECORD_Z_BASE_NAMES,
    RECORD_Z_FEATURE_NAMES,
    RECORD_ZN_FEATURE_NAMES,
    RR_CONTEXT_FEATURE_NAMES,
    RR_FEATURE_NAMES,
    RR_MEDIAN_FEATURE_NAMES,
    TEMPLATE_DIFF_FEATURE_NAMES,
    TEMPLATE_FEATURE_NAMES,
    CausalTemplates,
    StreamingRRContext,
    StreamingRRFeatures,
    StreamingRRMedians,
    beat_model_inputs,
    beat_windows,
    non_premature_beats,
    takes_record_z,
    takes_record_zn,
    takes_rr_medians,
    takes_template_diff,
    template_diff_features_against,
    template_features,
    template_features_against,
)
from leanecg.signal.normalize import RunningNorm
from leanecg.signal.record_norm import RunningRobustZ
from leanecg.signal.rpeaks import StreamingRPeakDetector

__all__ = ["BEAT_HISTORY_S", "BeatInputs", "StreamingBeatInputs", "default_template_history"]

#: Seconds of preprocessed signal a beat stream keeps for late (search-back) R peaks.
BEAT_HISTORY_S = 30.0


def default_template_history() -> int:
    """The causal template history ``beat_model_inputs`` uses (as ``leanecg beats`` and training call it)."""
    params = inspect.signature(beat_model_inputs).parameters
    return int((params.get("history") or inspect.signature(template_features).parameters["history"]).default)


@dataclass
class BeatInputs:
    """The model inputs of the beats that became ready in one call, in time order.

    Attributes:
        peaks: int64 ``(k,)`` R-peak sample indices at the stream's (model) rate.
        windows: float32 ``(k, n_leads, n_samples)``: the normalised beat windows, channel-first.
        features: float32 ``(k, n_features)`` in the order of ``feature_names``; ``None`` when the model
            takes none.
    """

    peaks: np.ndarray
    windows: np.ndarray
    features: np.ndarray | None

    def __len__(self) -> int:
        return int(self.peaks.size)


class StreamingBeatInputs:
    """Beat detection, windows, normalisation and features of one stream (module docstring).

    Args:
        fs: the stream's (model) sampling rate in Hz.
        n_leads: leads of the preprocessed stream.
        before_s, after_s: the beat window around each R peak, seconds.
        norm_step: the record-level normalisation step of the model's pipeline (``zscore`` / ``minmax``),
            or ``None``.
        warmup_s: with ``norm_step``: beats are held until the running statistics have seen this many
            seconds of signal (the whole stream if it is shorter).
        feature_names: the beat features the model takes (:data:`~leanecg.signal.beats.RR_FEATURE_NAMES`,
            :data:`~leanecg.signal.beats.RR_CONTEXT_FEATURE_NAMES`,
            :data:`~leanecg.signal.beats.TEMPLATE_FEATURE_NAMES`,
            :data:`~leanecg.signal.beats.TEMPLATE_DIFF_FEATURE_NAMES`,
            :data:`~leanecg.signal.beats.RECORD_Z_FEATURE_NAMES`,
            :data:`~leanecg.signal.beats.RECORD_ZN_FEATURE_NAMES`), in the model's order.
        template_history: beats in the causal template; ``None``: :func:`default_template_history`.
        source: the stream's name in errors.

    Attributes:
        n: samples consumed; ``late_beats``: peaks found after their window had left the buffer
        (edge-padded); ``detector``: the R-peak detector.
    """

    def __init__(
        self,
        fs: float,
        n_leads: int,
        before_s: float,
        after_s: float,
        *,
        norm_step: dict[str, Any] | None = None,
        warmup_s: float = 10.0,
        feature_names: Sequence[str] = (),
        template_history: int | None = None,
        source: str = "stream",
    ) -> None:
        self.fs = float(fs)
        self.norm = RunningNorm(norm_step, n_leads, source) if norm_step is not None else None
        if not (math.isfinite(warmup_s) and warmup_s >= 0):
            raise LeanECGError("warmup_s", f"must be a non-negative number of seconds, got {warmup_s!r}")
        self.warmup = round(warmup_s * self.fs) if self.norm is not None else 0
        self.feature_names = list(feature_names)
        # the record-normalised columns: against the beats so far (RunningRobustZ); they need every base column
        self.record_z = RunningRobustZ() if takes_record_z(self.feature_names) else None
        # ... and against the non-premature beats so far
        self.record_zn = RunningRobustZ() if takes_record_zn(self.feature_names) else None
        self.templates = (
            self.record_z is not None
            or self.record_zn is not None
            or any(n in TEMPLATE_FEATURE_NAMES for n in self.feature_names)
        )
        self.template_diff = takes_template_diff(self.feature_names)
        history = default_template_history() if template_history is None else int(template_history)
        self.template_history = history
        self.recent = CausalTemplates(history)  # the previous beats' raw windows (lead 0)
        self.before_s, self.after_s = float(before_s), float(after_s)
        self.before = round(self.before_s * self.fs)
        self.after = round(self.after_s * self.fs)
        self.detector = StreamingRPeakDetector(self.fs)
        self.rr = StreamingRRFeatures(self.fs)
        self.rr_context = StreamingRRContext()  # rhythm-context columns, appended to every RR row
        # running-median columns, appended after them; computed only for a model that takes them
        self.rr_medians = StreamingRRMedians() if takes_rr_medians(self.feature_names) else None
        self.history = round(BEAT_HISTORY_S * self.fs) + self.before + self.after
        self.buf = np.zeros((0, n_leads), dtype=np.float64)  # preprocessed samples (before normalisation)
        self.buf0 = 0
        self.n = 0
        self.order: deque[int] = deque()  # detected peaks not returned yet, in time order
        self.waiting: deque[int] = deque()  # peaks whose window is not complete yet
        self.cut: dict[int, np.ndarray] = {}  # peak -> its window (L, n_leads)
        self.rr_rows: dict[int, np.ndarray] = {}  # peak -> its RR feature row (final)
        self.ready: deque[tuple[int, np.ndarray, np.ndarray]] = deque()  # (peak, window, rr row)
        self.late_beats = 0

    @property
    def n_buffered(self) -> int:
        """Samples of signal held (memory does not grow with time)."""
        return int(self.buf.shape[0])

    def push(self, y: np.ndarray, final: bool = False) -> BeatInputs:
        """Consume the next preprocessed samples ``y`` ``(m, n_leads)``; ``final``: the stream ends here
        (the last beats are edge-padded). Returns the inputs of the beats ready now."""
        self.n += y.shape[0]
        if self.norm is not None:
            self.norm.update(y)
        if y.shape[0]:
            self.buf = np.concatenate((self.buf, y))
            # the detector sees the float32 model-rate signal, as offline
            peaks = self.detector.process(y[:, 0].astype(np.float32))
        else:
            peaks = np.zeros(0, dtype=np.int64)
        if final:
            peaks = np.concatenate((peaks, self.detector.flush()))
        if peaks.size:
            self.waiting.extend(peaks.tolist())
            self.order.extend(peaks.tolist())
            self._add_rr_rows(*self.rr.update(peaks))
        if final:
            self._add_rr_rows(*self.rr.flush())
        self._cut_windows(final)
        while self.order and self.order[0] in self.rr_rows and self.order[0] in self.cut:
            p = self.order.popleft()
            self.ready.append((p, self.cut.pop(p), self.rr_rows.pop(p)))
        out = self._take_ready(final)
        self._trim()
        return out

    def _add_rr_rows(self, done: np.ndarray, rows: np.ndarray) -> None:
        """Store the final RR rows (beat order) with their rhythm-context and median columns appended."""
        medians = (
            self.rr_medians.update(rows)
            if self.rr_medians is not None
            else np.full((rows.shape[0], len(RR_MEDIAN_FEATURE_NAMES)), np.nan)
        )
        full = np.concatenate((rows, self.rr_context.update(rows), medians), axis=1)
        self.rr_rows.update(zip(done.tolist(), full, strict=True))

    def _cut_windows(self, final: bool) -> None:
        """Cut the windows of waiting peaks whose window is complete (or, at the end, edge-padded)."""
        take: list[int] = []
        while self.waiting and (final or self.waiting[0] + self.after <= self.n):
            take.append(self.waiting.popleft())
        if not take:
            return
        p = np.asarray(take, dtype=np.int64)
        late = (p - self.before < self.buf0) & (self.buf0 > 0)
        self.late_beats += int(late.sum())
        local = np.clip(p - self.buf0, 0, self.buf.shape[0] - 1)
        # edge="pad" replicates the first / last buffered sample: as offline at the stream's two ends
        win, _ = beat_windows(self.buf, self.fs, local, self.before_s, self.after_s, edge="pad")
        self.cut.update(zip(take, win, strict=True))

    def _take_ready(self, final: bool) -> BeatInputs:
        n_leads = self.buf.shape[1]
        if (self.norm is not None and self.n < self.warmup and not final) or not self.ready:
            empty = np.zeros((0, n_leads, self.before + self.after), dtype=np.float32)
            feats = np.zeros((0, len(self.feature_names)), dtype=np.float32) if self.feature_names else None
            return BeatInputs(np.zeros(0, dtype=np.int64), empty, feats)
        items = list(self.ready)
        self.ready.clear()
        peaks = np.fromiter((p for p, _, _ in items), dtype=np.int64, count=len(items))
        raw = np.stack([w for _, w, _ in items])  # (n, L, leads) float64
        # each beat: the statistics of the stream up to the end of its window (at least the warm-up)
        counts = np.clip(np.maximum(peaks + self.after, self.warmup), 1, max(self.n, 1))
        rows = np.clip(counts - 1 - self.buf0, 0, max(self.buf.shape[0] - 1, 0))
        counts = self.buf0 + rows + 1  # a row no longer buffered: the oldest one kept (its own count)
        w = self.norm.apply(raw, rows, counts) if self.norm is not None else raw
        windows = np.ascontiguousarray(w.transpose(0, 2, 1), dtype=np.float32)
        feats = self._features(items, raw, w, rows, counts) if self.feature_names else None
        return BeatInputs(peaks, windows, feats)

    def _features(
        self,
        items: list[tuple[int, np.ndarray, np.ndarray]],
        raw: np.ndarray,
        w: np.ndarray,
        rows: np.ndarray,
        counts: np.ndarray,
    ) -> np.ndarray:
        """The beat features asked for, float32 ``(k, n_features)``: the causal RR features and, when
        asked for, the template features of :func:`~leanecg.signal.beats.template_features` (and the
        template-difference columns) on the first lead against the causal template (median of the previous
        beats' windows, as ``causal=True`` offline). ``raw`` / ``w``: the beats' windows ``(k, L, n_leads)``
        before / after the running normalisation."""
        cols: dict[str, np.ndarray] = {}
        rr = np.asarray([r for _, _, r in items], dtype=np.float64)
        for j, name in enumerate(RR_FEATURE_NAMES + RR_CONTEXT_FEATURE_NAMES + RR_MEDIAN_FEATURE_NAMES):
            cols[name] = rr[:, j]
        if self.templates or self.template_diff:
            temps = self.recent.next(raw[:, :, 0])  # (k, L): the raw windows' causal medians
            if self.norm is not None:  # the beat's own statistics: the median commutes with them
                temps = self.norm.apply(np.broadcast_to(temps[:, :, None], raw.shape), rows, counts)[:, :, 0]
            groups = (
                (TEMPLATE_FEATURE_NAMES, template_features_against, self.templates),
                (TEMPLATE_DIFF_FEATURE_NAMES, template_diff_features_against, self.template_diff),
            )
            for names, against, wanted in groups:
                if wanted:
                    cols.update(zip(names, against(w[:, :, 0], temps, self.fs, self.before).T, strict=True))
        if self.record_z is not None or self.record_zn is not None:
            base = np.stack([cols[n] for n in RECORD_Z_BASE_NAMES], axis=1)
            if self.record_z is not None:
                cols.update(zip(RECORD_Z_FEATURE_NAMES, self.record_z.next(base).T, strict=True))
            if self.record_zn is not None:
                zn = self.record_zn.next(base, reference=non_premature_beats(base))
                cols.update(zip(RECORD_ZN_FEATURE_NAMES, zn.T, strict=True))
        return np.stack([cols[n] for n in self.feature_names], axis=1).astype(np.float32)

    def _trim(self) -> None:
        keep_from = self.n - self.history
        if self.waiting:
            keep_from = min(keep_from, self.waiting[0] - self.before)
        if self.norm is not None:  # the statistics rows of beats not returned yet
            if self.ready:
                keep_from = min(keep_from, self.ready[0][0] + self.after - 1)
            elif self.order:
                keep_from = min(keep_from, self.order[0] + self.after - 1)
        keep_from = max(keep_from, self.n - 2 * self.history)  # bounded even without beats
        cut = keep_from - self.buf0
        if cut > 0:
            self.buf = self.buf[cut:]
            if self.norm is not None:
                self.norm.trim(cut)
            self.buf0 = keep_from
