"""Streaming inference: classify beats or rhythm windows of an ECG that arrives chunk by chunk.

:class:`StreamClassifier` runs a model package on a stream with memory that does not grow with the
stream's length, and gives the same answers as the offline commands (``leanecg beats`` /
``leanecg predict``) wherever the offline computation can be reproduced online:

1. **Preprocessing** (:class:`StreamingPreprocessor`): the sample-wise steps of the package's pipeline
   run online (``leads``; ``bandpass`` / ``notch`` / ``remove_baseline`` with ``method="highpass"``;
   ``resample``). The offline filters are zero-phase (``sosfiltfilt``): the forward pass is causal and
   is carried from chunk to chunk exactly (its start-up reflection included, so the stream's first
   samples match too); the backward pass is anti-causal, so each chunk is filtered backwards from
   ``lookahead`` samples later, starting from the same steady state the offline filter starts from at the
   record's end. The error of an interior sample is the slowest pole's decay over the look-ahead; the
   default look-ahead is the time that decay takes to fall below :data:`DEFAULT_TOLERANCE` (1e-7: float32
   resolution), about 13.6 s for the 0.5 Hz 4th-order Butterworth high-pass at any rate. At the end of the
   stream the offline end-reflection is applied, so the last samples are exact as well. The polyphase
   resampler (a finite FIR) is exact in the interior with a margin of ``10 max(up, down) / up`` input
   samples; its first ``10 max(up, down) / down`` output samples use a constant instead of the offline line
   extension, whose slope is ``(x[-1] - x[0]) / n`` over the whole record (unknown online): they differ by
   about that slope times the filter half-length, 1e-5 of the signal on a 10 s record and below float32
   resolution on records of minutes. Output is float32, as offline. The stream's leads that feed the model
   are chosen as offline (:func:`~leanecg.deploy.package.model_lead_choice`; ``lead=`` / ``--lead``), and
   :attr:`StreamClassifier.lead_choice` records the choice.
2. **Record-level steps** (``zscore``, ``minmax``, ``robust``, ``fixed_length``) need the whole record:
   record models apply them to every window (a window is classified like a record of that length); beat
   models apply a trailing ``zscore`` / ``minmax`` with the statistics of *all the stream so far*
   (running sums, O(1) memory), which converge to the record's statistics offline uses. This is the one
   step whose online result cannot equal the offline one, so beat labels can differ from ``leanecg
   beats`` early in a stream or where the signal's amplitude drifts; ``warmup_s`` holds the first beats
   until the statistics have seen that much signal.
3. **Beat models** (``kind == "beats"``): R peaks are detected by
   :class:`~leanecg.signal.rpeaks.StreamingRPeakDetector` (identical to the offline detector on any
   chunking) on the first preprocessed lead before normalisation (the detector is amplitude-invariant);
   each beat gets the window of :func:`~leanecg.signal.beats.beat_windows` (edge-padded at the stream's
   ends, as offline) and the RR features of :class:`~leanecg.signal.beats.StreamingRRFeatures`: the
   causal features (``average_rr`` = mean RR so far), because the record-wide mean RR is unknown online;
   template features, when the package names them (``input["features"]``), compare each beat with the
   median of the previous ``history`` beats (``template_features(..., causal=True)``). These are exactly
   ``rr_features(..., causal=True)`` and the causal templates that ``beat_model_inputs`` computes by
   default (for training and ``leanecg beats``), so a beat model gets the very inputs it was trained on
   (record-wide variants, ``causal=False``, cannot be known in advance by any stream). All beats that become ready in one chunk are
   classified in one model call.
4. **Record models** (``kind == "records"``): the preprocessed stream is cut into windows of
   ``window_s`` every ``hop_s`` (default: the model's costed input length and ``min(10 s, window_s)``),
   each classified with :meth:`~leanecg.deploy.package.ModelPackage.predict_inputs` (record features
   included). A stream shorter than one window gives one window over the whole stream -- exactly what
   ``leanecg predict`` computes for that record; a stream whose last window does not end at its end gets a
   last window ending there. Rows are keyed ``<name>@<start_s>`` (window start in seconds, 3 decimals).

Events (:class:`StreamEvent`): every beat whose label is not the normal class (``"PVC at
00:03:02.4"``); for record models, an onset when a run of windows with a non-normal label starts (the
start of its first window) and an offset when it ends (the end of its last window), e.g. ``"AF onset
at 00:12:31"``. :class:`EventLines` turns them into the lines ``leanecg stream`` prints: one per event
(``--events all``) or, by default, one aggregated line per :data:`DEFAULT_EVENTS_EVERY` events.

Latency: a beat's label comes once the preprocessing look-ahead has passed (:attr:`StreamClassifier.delay_s`:
13.7 s by default, 6 s with ``lookahead_s=6`` at a 3.6e-4 mV error on MIT-BIH record 100, 3 s at 1.4e-2
mV), the detector has confirmed the beat (about 0.35 s) and the next beat has been detected (its RR
interval after), at the end of the chunk that completes all three: median 15.3 s with 1 s chunks and
19.8 s with 10 s chunks on MIT-BIH. A window's label comes ``delay_s`` after its end.

:func:`run_stream` drives a classifier over an iterable of chunks, optionally paced in real time, and
returns the rows, the events and the latency statistics (:class:`StreamReport`): per-chunk processing
time, detection delay (stream time between a beat / window end and the chunk that emitted it) and the
real-time factor. Chunk sources: :func:`record_chunks` (a loaded record, cut strictly chunk-wise) and
:func:`text_chunks` (one sample per line, comma-separated leads, e.g. stdin).

Runtime: :func:`stream_backend` picks what runs the network (``leanecg stream --backend``): the package's
torch model, or ONNX Runtime on the package exported once at start-up (``auto`` when onnxruntime is
installed) -- the same labels as ``leanecg beats`` on all 22 MIT-BIH DS2 records
(``benchmarks/results/stream_mitdb.md``) at ~0.7 ms less per chunk.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
import re
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

import numpy as np
from scipy import signal as sps

from leanecg.errors import LeanECGError
from leanecg.signal import filters
from leanecg.signal.beats import (
    ALL_BEAT_FEATURE_NAMES,
    RR_CONTEXT_FEATURE_NAMES,
    RR_FEATURE_NAMES,
    TEMPLATE_FEATURE_NAMES,
    StreamingRRContext,
    StreamingRRFeatures,
    beat_model_inputs,
    beat_windows,
    template_features,
    template_features_against,
)
from leanecg.signal.leads import canonical_lead_name, lead_index, select_leads
from leanecg.signal.pipeline import Pipeline
from leanecg.signal.resample import resample_indices, resample_ratio
from leanecg.signal.rpeaks import StreamingRPeakDetector

if TYPE_CHECKING:
    from leanecg.data.record import Record
    from leanecg.deploy.package import InferenceBackend, LeadOption, ModelPackage

__all__ = [
    "DEFAULT_EVENTS_EVERY",
    "DEFAULT_TOLERANCE",
    "STREAM_BACKENDS",
    "EventLines",
    "StreamClassifier",
    "StreamEvent",
    "StreamReport",
    "StreamSource",
    "StreamUpdate",
    "StreamingPreprocessor",
    "beat_agreement",
    "event_name",
    "format_time",
    "open_source",
    "record_chunks",
    "run_stream",
    "stream_backend",
    "text_chunks",
]

#: Relative error allowed for a zero-phase filter's interior samples; sets the default look-ahead.
DEFAULT_TOLERANCE = 1e-7
#: Seconds of preprocessed signal a beat stream keeps for late (search-back) R peaks.
BEAT_HISTORY_S = 30.0
#: Ops that transform every sample from a bounded neighbourhood (run online).
SAMPLE_OPS = ("leads", "bandpass", "notch", "remove_baseline", "resample")
#: Ops that need the whole record (applied per window, or with running statistics for beats).
RECORD_OPS = ("zscore", "minmax", "robust", "fixed_length")
#: How events name classes (presentation only; other labels are shown as they are).
BEAT_EVENT_NAMES = {"V": "PVC", "S": "SVEB", "F": "Fusion beat", "Q": "Unclassifiable beat"}
RHYTHM_EVENT_NAMES = {"A": "AF", "O": "Other rhythm", "~": "Noise"}
#: ``leanecg stream`` prints one aggregated event line per this many events by default (:class:`EventLines`).
DEFAULT_EVENTS_EVERY = 100
#: Runtimes a stream can run the network with (:func:`stream_backend`, ``leanecg stream --backend``).
STREAM_BACKENDS = ("auto", "torch", "onnx")


def format_time(seconds: float, decimals: int = 1) -> str:
    """``hh:mm:ss`` (with ``decimals`` fractional digits) of a time in seconds, e.g. ``00:03:02.4``."""
    scale = 10**decimals
    total = round(max(0.0, seconds) * scale)
    whole, frac = divmod(total, scale)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    text = f"{h:02d}:{m:02d}:{s:02d}"
    return f"{text}.{frac:0{decimals}d}" if decimals > 0 else text


# ------------------------------------------------------------------------------------------ stages


def _empty(n_leads: int) -> np.ndarray:
    return np.zeros((0, n_leads), dtype=np.float64)


class _LeadStage:
    """The ``leads`` step, sample by sample (exactly the offline selection / derivation)."""

    def __init__(self, step: dict[str, Any], leads: list[str], source: str) -> None:
        self.wanted = step["leads"]
        self.missing = step["missing"]
        self.leads_in = leads
        self.source = source
        self.leads = [canonical_lead_name(w if isinstance(w, str) else leads[w]) for w in self.wanted]
        self.n_leads = len(self.wanted)
        self.lookahead = 0
        self.cols: list[int] | None = None
        self.process(np.zeros((1, len(leads))))  # a lead the stream lacks is an error now, not mid-stream
        # every wanted lead is a column of the stream: a plain column pick per chunk (what select_leads
        # does for them), without resolving the names again
        try:
            self.cols = [lead_index(leads, w, source) for w in self.wanted]
        except LeanECGError:
            self.cols = None

    def process(self, x: np.ndarray) -> np.ndarray:
        if x.shape[0] == 0:
            return _empty(self.n_leads)
        if self.cols is not None:
            return x[:, self.cols]
        y, mask = select_leads(x, self.leads_in, self.wanted, missing=self.missing, source=self.source)
        if not mask.all():
            lost = [str(w) for w, m in zip(self.wanted, mask, strict=True) if not m]
            raise LeanECGError(
                self.source,
                f"the model needs lead(s) {', '.join(lost)}; the stream has {', '.join(self.leads_in)}",
            )
        return y

    def flush(self) -> np.ndarray:
        return _empty(self.n_leads)


class _CausalIIRStage:
    """A causal IIR step (``zero_phase=False``): exactly the offline single pass."""

    def __init__(self, sos: np.ndarray, n_leads: int) -> None:
        self.filter = filters.StreamingFilter(sos, n_leads)
        self.n_leads = n_leads
        self.lookahead = 0

    def process(self, x: np.ndarray) -> np.ndarray:
        if x.shape[0] == 0:
            return _empty(self.n_leads)
        return np.asarray(self.filter.process(x), dtype=np.float64)

    def flush(self) -> np.ndarray:
        return _empty(self.n_leads)


def _pole_radius(sos: np.ndarray) -> float:
    radius = 0.0
    for sec in sos:
        if sec[4] != 0.0 or sec[5] != 0.0:
            radius = max(radius, float(np.max(np.abs(np.roots(sec[3:])))))
    return radius


def _settle(sos: np.ndarray, level: float) -> int:
    """Samples until the slowest pole of ``sos`` has decayed to ``level``."""
    radius = _pole_radius(sos)
    if radius <= 0.0:
        return 0
    return math.ceil(math.log(level) / math.log(radius))


class _ZeroPhaseIIRStage:
    """Online emulation of :func:`leanecg.signal.filters.apply_sos` with ``zero_phase=True``.

    Forward pass: carried exactly, including the offline start (even reflection of ``pad`` samples, state
    set to the steady state of the first extended sample); the stream's first ``pad + 1`` samples are
    held until the reflection can be built. Backward pass: over the pending samples plus ``lookahead``
    samples, from the steady state of the last one. End of stream: the offline end reflection and a
    backward pass from its end (exact). A stream shorter than ``pad + 1`` samples is filtered offline
    in :meth:`flush` (exact).
    """

    def __init__(self, sos: np.ndarray, n_leads: int, lookahead: int, source: str) -> None:
        self.sos = np.array(sos, dtype=np.float64)
        self.n_leads = n_leads
        self.lookahead = int(lookahead)
        self.source = source
        n_sec = len(self.sos)
        ntaps = 2 * n_sec + 1 - min(int((self.sos[:, 2] == 0).sum()), int((self.sos[:, 5] == 0).sum()))
        need = 3 * ntaps + 1  # the offline minimum (filters.apply_sos)
        self.pad = max(need - 1, _settle(self.sos, 1e-3))
        self.zi_unit = sps.sosfilt_zi(self.sos)[:, :, None]
        self.head: list[np.ndarray] = []
        self.n_head = 0
        self.started = False
        self.zi: np.ndarray | None = None
        self.fwd = _empty(n_leads)  # forward-filtered samples not yet emitted
        self.tail = _empty(n_leads)  # the last pad + 1 raw samples (end reflection)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        y, self.zi = sps.sosfilt(self.sos, x, axis=0, zi=self.zi)
        return y

    def process(self, x: np.ndarray) -> np.ndarray:
        if x.shape[0] == 0:
            return _empty(self.n_leads)
        if not self.started:
            self.head.append(x)
            self.n_head += x.shape[0]
            if self.n_head < self.pad + 1:
                return _empty(self.n_leads)
            x = np.concatenate(self.head)
            self.head = []
            left = x[self.pad : 0 : -1]  # offline even extension at the start
            self.zi = self.zi_unit * left[0][None, None, :]
            self._forward(left)
            self.started = True
            self.tail = x[-(self.pad + 1) :].copy()
        else:
            self.tail = np.concatenate((self.tail, x))[-(self.pad + 1) :]
        self.fwd = np.concatenate((self.fwd, self._forward(x)))
        n_out = self.fwd.shape[0] - self.lookahead
        if n_out <= 0:
            return _empty(self.n_leads)
        back = self._backward(self.fwd)[:n_out]
        self.fwd = self.fwd[n_out:]
        return back

    def _backward(self, f: np.ndarray) -> np.ndarray:
        zi = self.zi_unit * f[-1][None, None, :]
        y, _ = sps.sosfilt(self.sos, f[::-1], axis=0, zi=zi)
        return y[::-1]

    def flush(self) -> np.ndarray:
        if not self.started:
            if self.n_head == 0:
                return _empty(self.n_leads)
            x = np.concatenate(self.head)
            self.head = []
            return filters.apply_sos(x, self.sos, True, source=self.source)
        right = self.tail[-2 : -(self.pad + 2) : -1]  # offline even extension at the end
        n_keep = self.fwd.shape[0]
        full = np.concatenate((self.fwd, self._forward(right)))
        self.fwd = _empty(self.n_leads)
        return self._backward(full)[:n_keep]


class _ResampleStage:
    """Online emulation of :func:`leanecg.signal.resample.resample` (polyphase FIR, exact interior)."""

    def __init__(self, fs_in: float, fs_out: float, n_leads: int) -> None:
        self.up, self.down = resample_ratio(fs_in, fs_out)
        self.fs_out = fs_in * self.up / self.down
        self.n_leads = n_leads
        half_len = 10 * max(self.up, self.down)  # scipy.signal.resample_poly's filter half-length
        # the anti-aliasing filter resample_poly designs by default, designed once (passed as `window=`,
        # resample_poly uses it as is: the same taps, so the same outputs)
        self.h = (
            sps.firwin(2 * half_len + 1, 1.0 / max(self.up, self.down), window=("kaiser", 5.0))
            if self.up != self.down
            else None
        )
        self.margin = half_len // self.up + 2  # input samples each output depends on, each side
        # the left extension is a whole number of `down` blocks, so output phases stay aligned
        self.ext = -(-(self.margin + 1) // self.down) * self.down
        self.lookahead = self.margin + 1
        self.buf = _empty(n_leads)
        self.buf0 = 0  # absolute input index of buf[0] (a multiple of down)
        self.n_in = 0
        self.k_next = 0  # next output index to emit
        self.first: np.ndarray | None = None

    def _outputs(self, k_end: int, right: np.ndarray | None, slope: np.ndarray | None) -> np.ndarray:
        """Outputs ``k_next .. k_end - 1`` from the buffer (with extensions where the stream starts/ends)."""
        if k_end <= self.k_next:
            return _empty(self.n_leads)
        parts, start = [self.buf], self.buf0
        if self.buf0 == 0:
            assert self.first is not None
            s = np.zeros(self.n_leads) if slope is None else slope
            steps = np.arange(self.ext, 0, -1, dtype=np.float64)[:, None]
            parts.insert(0, self.first[None, :] - steps * s[None, :])  # offline: line through the record
            start = -self.ext
        if right is not None:
            parts.append(right)
        seg = np.concatenate(parts) if len(parts) > 1 else self.buf
        y = sps.resample_poly(seg, self.up, self.down, axis=0, window=self.h, padtype="constant")
        k0 = start // self.down * self.up
        out = y[self.k_next - k0 : k_end - k0]
        self.k_next = k_end
        return out

    def _trim(self) -> None:
        # keep the input the next outputs need: from margin samples before output k_next
        need_from = (self.k_next * self.down) // self.up - self.margin - 1
        new0 = max(self.buf0, (need_from // self.down) * self.down)
        if new0 > self.buf0:
            self.buf = self.buf[new0 - self.buf0 :]
            self.buf0 = new0

    def _append(self, x: np.ndarray) -> bool:
        """Buffer the input samples ``x`` ``(m, n_leads)``; ``False`` when the rates are equal (nothing
        to resample: the caller passes ``x`` through)."""
        if self.up == self.down:
            return False
        if self.first is None:
            self.first = x[0].copy()
        self.buf = np.concatenate((self.buf, x))
        self.n_in += x.shape[0]
        return True

    def process(self, x: np.ndarray) -> np.ndarray:
        if x.shape[0] == 0:
            return _empty(self.n_leads)
        if not self._append(x):
            return x.copy()
        last_ok = self.n_in - 1 - self.margin  # the last input index every needed sample is known for
        if last_ok < 0:
            return _empty(self.n_leads)
        k_end = (last_ok * self.up) // self.down + 1
        out = self._outputs(k_end, None, None)
        self._trim()
        return out

    def finish(self, x: np.ndarray | None) -> np.ndarray:
        """The last input samples and the end of the stream: everything left, emitted at once (so a
        stream whose outputs all come at the end gets the offline line extension at both ends)."""
        if x is not None and x.shape[0] and not self._append(x):
            return x.copy()
        return self.flush()

    def flush(self) -> np.ndarray:
        if self.up == self.down or self.n_in == 0:
            return _empty(self.n_leads)
        assert self.first is not None
        n_out = -(-self.n_in * self.up // self.down)
        last = self.buf[-1]
        if self.n_in < 2:  # as offline: a constant is its own resampling
            out = np.repeat(self.buf[-1:], n_out - self.k_next, axis=0)
            self.k_next = n_out
            return out
        slope = (last - self.first) / (self.n_in - 1)
        steps = np.arange(1, self.ext + self.margin + 2, dtype=np.float64)[:, None]
        right = last[None, :] + steps * slope[None, :]
        return self._outputs(n_out, right, slope)


# ------------------------------------------------------------------------------------ preprocessing


class StreamingPreprocessor:
    """The sample-wise part of a pipeline, run online (module docstring, item 1).

    Args:
        pipeline: the preprocessing pipeline. Its sample-wise steps (:data:`SAMPLE_OPS`) must come first;
            the record-level steps after them (:data:`RECORD_OPS`) are returned as :attr:`suffix` for the
            caller to apply.
        fs: input sampling rate in Hz.
        leads: input lead names, one per column.
        lookahead_s: look-ahead of each zero-phase filter in seconds; ``None``: the time its slowest pole
            takes to decay to :data:`DEFAULT_TOLERANCE`.
        source: the stream's name in errors.

    Attributes:
        fs_out: output rate (Hz); ``leads``: output lead names; ``suffix``: the record-level steps;
        ``delay_s``: the look-ahead the stream holds back (seconds), end of stream excepted.

    Raises:
        LeanECGError: a step that cannot run online (``interpolate_gaps``, ``remove_baseline`` with the
        median method), or a sample-wise step after a record-level one.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        fs: float,
        leads: Sequence[str],
        *,
        lookahead_s: float | None = None,
        source: str = "stream",
    ) -> None:
        fs = filters.check_fs(fs)
        if lookahead_s is not None and not (math.isfinite(lookahead_s) and lookahead_s >= 0):
            raise LeanECGError(
                "--lookahead-s", f"must be a non-negative number of seconds, got {lookahead_s!r}"
            )
        self.fs_in = fs
        self.leads_in = [str(n) for n in leads]
        self.stages: list[Any] = []
        self.suffix: list[dict[str, Any]] = []
        cur_fs, cur_leads, n_leads = fs, list(self.leads_in), len(self.leads_in)
        delay = 0.0
        for k, step in enumerate(pipeline.steps):
            op, where = step["op"], f"step {k} ({step['op']})"
            if op in RECORD_OPS:
                self.suffix.append(step)
                continue
            if self.suffix:
                raise LeanECGError(
                    source,
                    f"the model's pipeline cannot run on a stream: {where} comes after the record-level "
                    f"step {self.suffix[0]['op']}",
                )
            if op == "leads":
                stage: Any = _LeadStage(step, cur_leads, source)
                cur_leads, n_leads = stage.leads, stage.n_leads
            elif op == "resample":
                stage = _ResampleStage(cur_fs, step["fs_out"], n_leads)
                delay += stage.lookahead / cur_fs
                cur_fs = stage.fs_out
            elif op in ("bandpass", "notch") or (op == "remove_baseline" and step["method"] == "highpass"):
                if op == "bandpass":
                    sos = filters.bandpass_sos(cur_fs, step["low_hz"], step["high_hz"], step["order"])
                elif op == "notch":
                    sos = filters.notch_sos(cur_fs, step["freq_hz"], step["quality"], step["harmonics"])
                else:
                    sos = filters.highpass_sos(cur_fs, step["cutoff_hz"], step["order"])
                if step["zero_phase"]:
                    la = (
                        _settle(np.asarray(sos), DEFAULT_TOLERANCE)
                        if lookahead_s is None
                        else round(lookahead_s * cur_fs)
                    )
                    stage = _ZeroPhaseIIRStage(sos, n_leads, la, source)
                    delay += la / cur_fs
                else:
                    stage = _CausalIIRStage(sos, n_leads)
            else:
                raise LeanECGError(
                    source, f"the model's pipeline cannot run on a stream: {where} needs the whole record"
                )
            self.stages.append(stage)
        self.fs_out = cur_fs
        self.leads = cur_leads
        self.n_leads = n_leads
        self.delay_s = delay

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Feed ``(n, n_leads_in)`` raw samples (mV); return the float64 ``(m, n_leads)`` output samples
        that are final now (in order, at :attr:`fs_out`)."""
        y = np.asarray(chunk, dtype=np.float64)
        for stage in self.stages:
            y = stage.process(y)
        return y

    def flush(self) -> np.ndarray:
        """End of stream: the remaining output samples (with the offline end handling)."""
        y: np.ndarray | None = None
        for stage in self.stages:
            if isinstance(stage, _ResampleStage):
                y = stage.finish(y)
                continue
            part = stage.process(y) if y is not None and y.shape[0] else None
            rest = stage.flush()
            y = rest if part is None else np.concatenate((part, rest))
        return y if y is not None else _empty(self.n_leads)


# ------------------------------------------------------------------------------ running normalisation


class _RunningNorm:
    """A record-level normalisation step with the statistics of the stream up to a given sample.

    Cumulative statistics (sums of ``x`` and ``x**2`` for ``zscore``, running min / max for ``minmax``)
    are kept for every sample of the classifier's bounded buffer, accumulated strictly left to right with
    the total carried from chunk to chunk, so the statistics at a sample do not depend on the chunking.
    """

    def __init__(self, step: dict[str, Any], n_leads: int, source: str) -> None:
        if step["op"] not in ("zscore", "minmax"):
            raise LeanECGError(
                source,
                f"the model's pipeline step {step['op']} needs the whole record and has no online form "
                "for beat models (zscore and minmax have)",
            )
        self.op = step["op"]
        self.step = step
        self.per_lead = bool(step["per_lead"])
        self.eps = float(step["eps"])
        self.n = 0
        self.a = np.zeros((0, n_leads))  # zscore: cumulative sum of x; minmax: running min
        self.b = np.zeros((0, n_leads))  # zscore: cumulative sum of x**2; minmax: running max
        self.last_a = np.zeros((1, n_leads)) if self.op == "zscore" else np.full((1, n_leads), np.inf)
        self.last_b = np.zeros((1, n_leads)) if self.op == "zscore" else np.full((1, n_leads), -np.inf)

    def update(self, y: np.ndarray) -> None:
        """Append the statistics of the next samples ``(m, n_leads)``."""
        if y.shape[0] == 0:
            return
        self.n += y.shape[0]
        if self.op == "zscore":
            a = np.cumsum(np.concatenate((self.last_a, y)), axis=0)[1:]
            b = np.cumsum(np.concatenate((self.last_b, y * y)), axis=0)[1:]
        else:
            a = np.minimum.accumulate(np.concatenate((self.last_a, y)), axis=0)[1:]
            b = np.maximum.accumulate(np.concatenate((self.last_b, y)), axis=0)[1:]
        self.last_a, self.last_b = a[-1:], b[-1:]
        self.a = np.concatenate((self.a, a))
        self.b = np.concatenate((self.b, b))

    def trim(self, cut: int) -> None:
        """Forget the statistics of the first ``cut`` buffered samples (kept in step with the buffer)."""
        self.a, self.b = self.a[cut:], self.b[cut:]

    def apply(self, w: np.ndarray, rows: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Normalise windows ``w`` ``(k, L, n_leads)`` (float64); window ``i`` with the statistics of the
        first ``counts[i]`` samples of the stream, stored at buffer row ``rows[i]``."""
        a, b = self.a[rows], self.b[rows]  # (k, n_leads)
        eps = self.eps
        if self.op == "zscore":
            cnt = counts[:, None].astype(np.float64)
            mean_l = a / cnt
            lead_spread = np.sqrt(np.maximum(b / cnt - mean_l**2, 0.0))
            if self.per_lead:
                centre, spread = mean_l, lead_spread
            else:
                n_all = cnt * a.shape[1]
                m = a.sum(axis=1, keepdims=True) / n_all
                centre = np.broadcast_to(m, a.shape)
                spread = np.broadcast_to(
                    np.sqrt(np.maximum(b.sum(axis=1, keepdims=True) / n_all - m * m, 0.0)), a.shape
                )
            y = (w - centre[:, None, :]) / np.where(spread <= eps, 1.0, spread)[:, None, :]
        else:
            lead_spread = b - a
            if self.per_lead:
                lo, spread = a, lead_spread
            else:
                lo = np.broadcast_to(a.min(axis=1, keepdims=True), a.shape)
                spread = np.broadcast_to(b.max(axis=1, keepdims=True), a.shape) - lo
            low, high = float(self.step["low"]), float(self.step["high"])
            y = low + (w - lo[:, None, :]) / np.where(spread <= eps, 1.0, spread)[:, None, :] * (high - low)
        flat = np.broadcast_to((lead_spread <= eps)[:, None, :], y.shape)
        return np.where(flat, 0.0, y)


# ------------------------------------------------------------------------------------ beat templates


class _CausalTemplates:
    """The causal beat templates of a stream, exactly :func:`~leanecg.signal.beats.beat_templates` with
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


# ----------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class StreamEvent:
    """Something worth telling the user while the stream runs.

    Attributes:
        kind: ``"beat"`` (a non-normal beat), ``"onset"`` or ``"offset"`` (a rhythm episode).
        label: the class name (``"V"``, ``"A"``, ...).
        time_s: when it happened, seconds from the stream's start.
        emitted_s: stream time (seconds of input consumed) when the classifier reported it.
        text: the human sentence, e.g. ``"PVC at 00:03:02.4"``.
    """

    kind: str
    label: str
    time_s: float
    emitted_s: float
    text: str


def event_name(event: StreamEvent) -> str:
    """What an event is, without its time: ``"PVC"``, ``"AF onset"`` (its text up to `` at ``)."""
    return event.text.rsplit(" at ", 1)[0]


class EventLines:
    """The event lines ``leanecg stream`` prints (``--events``), as events arrive.

    ``every=1``: one line per event, as it happens (``--events all``). ``every=N`` (default
    :data:`DEFAULT_EVENTS_EVERY`): one aggregated line per ``N`` events, e.g. ``"events 1-100 (00:00:00.1
    to 00:04:58.3): 88 PVC, 12 Fusion beat"``, and at the end one line for the rest (:meth:`close`), so a
    stream with ``E`` events prints at most ``ceil(E / N)`` lines. ``counts`` holds every event's
    :func:`event_name` (for the summary).
    """

    def __init__(self, every: int = DEFAULT_EVENTS_EVERY) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.every = int(every)
        self.counts: dict[str, int] = {}
        self.n = 0
        self._pending: list[StreamEvent] = []

    def add(self, events: Iterable[StreamEvent]) -> list[str]:
        """The lines due after ``events`` (possibly none)."""
        lines: list[str] = []
        for ev in events:
            self.n += 1
            name = event_name(ev)
            self.counts[name] = self.counts.get(name, 0) + 1
            if self.every == 1:
                lines.append(ev.text)
                continue
            self._pending.append(ev)
            if len(self._pending) >= self.every:
                lines.append(self._digest())
        return lines

    def close(self) -> list[str]:
        """The last line: the events not yet reported (at the end of the stream)."""
        return [self._digest()] if self._pending else []

    def _digest(self) -> str:
        evs, self._pending = self._pending, []
        first = self.n - len(evs) + 1
        names: dict[str, int] = {}
        for ev in evs:
            names[event_name(ev)] = names.get(event_name(ev), 0) + 1
        what = ", ".join(f"{c} {name}" for name, c in sorted(names.items(), key=lambda kv: (-kv[1], kv[0])))
        t0, t1 = min(e.time_s for e in evs), max(e.time_s for e in evs)
        which = f"event {first}" if len(evs) == 1 else f"events {first}-{self.n}"
        return f"{which} ({format_time(t0)} to {format_time(t1)}): {what}"


@dataclass
class StreamUpdate:
    """What one :meth:`StreamClassifier.process` call produced.

    Attributes:
        keys: beats: int64 R-peak sample indices at the stream's input rate; windows: ``<name>@<start_s>``.
        labels: predicted class per row.
        probs: float64 ``(n_rows, n_classes)``.
        times_s: beat time / window end per row, seconds from the stream's start.
        events: the events of these rows.
    """

    keys: list[Any] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    probs: np.ndarray | None = None
    times_s: list[float] = field(default_factory=list)
    events: list[StreamEvent] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.keys)


# ---------------------------------------------------------------------------------------- backend


def stream_backend(pkg: ModelPackage, backend: str = "auto", *, threads: int = 1) -> InferenceBackend:
    """The runtime a stream runs ``pkg``'s network with (pass it as ``StreamClassifier(backend=...)``).

    Args:
        pkg: a loaded model package (a torch package folder or an exported ``.onnx`` file).
        backend: ``"torch"``: the package's torch model (as ``leanecg beats`` / ``predict`` run it).
            ``"onnx"``: ONNX Runtime; a torch package is exported in fp32 once, here, with
            :func:`~leanecg.deploy.onnx.export_onnx` (which refuses an export whose probabilities differ
            from the torch model's by more than its fp32 tolerance), loaded into memory and kept in the
            user cache (``$LEANECG_CACHE/stream-onnx/``, keyed by the package metadata and versions) -- a
            start-up cost on the first stream of a model only (5-17 s for BeatNet on one core; see
            ``benchmarks/results/stream_mitdb.md``) that buys ~0.7 ms less per model call. ``"auto"``:
            an exported package's own runtime; for a torch package ``"onnx"`` when ``onnxruntime`` and the
            ONNX exporter are installed (and the export succeeds), else ``"torch"``.
        threads: ONNX Runtime intra-op threads (the torch thread count is the caller's
            ``torch.set_num_threads``).

    Returns:
        The backend (``runtime`` says which: ``"torch"`` or ``"onnxruntime"``).

    Raises:
        LeanECGError: an unknown ``backend``; ``"torch"`` for an exported ``.onnx`` package; ``"onnx"``
        when ONNX Runtime or the exporter is missing or the export fails.
    """
    if backend not in STREAM_BACKENDS:
        raise LeanECGError(
            "--backend", f"unknown backend {backend!r}; use one of {', '.join(STREAM_BACKENDS)}"
        )
    own = pkg.backend
    if backend == "torch" or own.runtime != "torch":
        if backend == "torch" and own.runtime != "torch":
            raise LeanECGError(
                "--backend", f"model {pkg.name} is an exported {own.runtime} model; it has no torch network"
            )
        return own
    try:
        import onnxruntime  # noqa: F401

        from leanecg.deploy.onnx import export_onnx
        from leanecg.deploy.ort_runtime import OrtBackend, ort_session
    except ImportError as exc:
        if backend == "auto":
            return own
        raise LeanECGError("--backend", f"onnx needs onnxruntime and onnx installed ({exc})") from None
    import hashlib
    import json
    import tempfile
    from pathlib import Path

    import onnx

    from leanecg import __version__
    from leanecg.data.cache import resolve_cache_dir

    try:
        # the export is cached, keyed by the package metadata (weights hash included) and the versions
        # that shape it, so only the first stream of a model pays for it
        key = hashlib.sha256(
            json.dumps([pkg.meta, __version__, onnx.__version__], sort_keys=True, default=str).encode()
        ).hexdigest()[:24]
        cached = resolve_cache_dir() / "stream-onnx" / f"{key}.onnx"
        if cached.is_file():
            try:
                return OrtBackend(pkg.path, ort_session(cached, threads))
            except Exception:  # a damaged cache entry: export again
                cached.unlink(missing_ok=True)
        with tempfile.TemporaryDirectory(prefix="leanecg-stream-") as tmp:
            path = Path(tmp) / "model.onnx"
            export_onnx(pkg, path)
            session = ort_session(path, threads)  # the session holds the model in memory
            try:
                cached.parent.mkdir(parents=True, exist_ok=True)
                tmp_copy = cached.with_suffix(f".{os.getpid()}.tmp")
                shutil.copyfile(path, tmp_copy)
                os.replace(tmp_copy, cached)
            except OSError:
                pass  # an unwritable cache only costs the next stream its start-up time
            return OrtBackend(pkg.path, session)
    except (LeanECGError, ImportError):
        if backend == "auto":
            return own
        raise


# ------------------------------------------------------------------------------------- classifier


class StreamClassifier:
    """Online beat or window classification of one stream with a model package (module docstring).

    Args:
        pkg: a loaded model package (beat or record model; torch or ONNX Runtime backend).
        fs: the stream's sampling rate in Hz.
        leads: the stream's lead names, one per column.
        name: the stream's name (record column of window rows).
        lookahead_s: zero-phase filter look-ahead (:class:`StreamingPreprocessor`); ``None``: exact to
            :data:`DEFAULT_TOLERANCE`.
        window_s, hop_s: record models: window length and step in seconds (defaults in the module
            docstring); refused for beat models.
        warmup_s: beat models with a record-level normalisation: beats are held until the running
            statistics have seen this many seconds of signal (the whole stream if it is shorter).
        batch_size: most inputs per model call.
        source: the stream's name in errors (a file, or ``-`` for stdin).
        backend: what runs the network (:func:`stream_backend`); ``None``: the package's own.
        lead: the stream lead(s) that feed the model's input lead(s), in order (``"ECG1"``; ``leanecg
            stream --lead``); ``None``: the rule of :func:`leanecg.signal.leads.choose_leads`, as offline.

    Attributes:
        lead_choice: the :class:`~leanecg.signal.leads.LeadChoice` made (stream lead -> model lead).
    """

    def __init__(
        self,
        pkg: ModelPackage,
        fs: float,
        leads: Sequence[str],
        *,
        name: str = "stream",
        lookahead_s: float | None = None,
        window_s: float | None = None,
        hop_s: float | None = None,
        warmup_s: float = 10.0,
        batch_size: int = 256,
        source: str = "stream",
        backend: InferenceBackend | None = None,
        lead: LeadOption = None,
    ) -> None:
        from leanecg.deploy.package import model_lead_choice

        if backend is not None and backend is not pkg.backend:
            pkg = dataclasses.replace(pkg, backend=backend)  # the same package run by another runtime
        self.pkg = pkg
        #: what runs the network (``"torch"`` / ``"onnxruntime"``; empty for a package without a backend)
        self.runtime = str(getattr(getattr(pkg, "backend", None), "runtime", ""))
        self.kind = pkg.kind
        self.name = name
        self.source = source
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise LeanECGError("--batch-size", f"must be a positive number, got {batch_size}")
        spec = pkg.input
        # the stream's columns that feed the model, renamed to the model's leads (as ModelPackage.preprocess)
        self.lead_choice = model_lead_choice(spec, pkg.pipeline, [str(n) for n in leads], lead, source)
        self.n_leads_in = len(leads)
        cols = list(self.lead_choice.columns)
        self.columns = None if cols == list(range(self.n_leads_in)) else cols
        self.pre = StreamingPreprocessor(
            pkg.pipeline, fs, self.lead_choice.model_leads, lookahead_s=lookahead_s, source=source
        )
        fs_model = float(spec["fs"])
        if not math.isclose(self.pre.fs_out, fs_model, rel_tol=1e-3):
            raise LeanECGError(
                source,
                f"sampling rate {fs:g} Hz becomes {self.pre.fs_out:g} Hz in the model's pipeline, but the model "
                f"takes {fs_model:g} Hz",
            )
        if self.pre.n_leads != int(spec["n_leads"]):
            raise LeanECGError(
                source, f"the model takes {spec['n_leads']} lead(s); its pipeline gives {self.pre.n_leads}"
            )
        self.fs_in = self.pre.fs_in
        self.fs = self.pre.fs_out
        self.n_in = 0  # input samples consumed
        self.n_model = 0  # preprocessed samples produced
        self.class_names = pkg.class_names
        self.normal = "N" if "N" in self.class_names else self.class_names[0]
        self._flushed = False
        if self.kind == "beats":
            if window_s is not None or hop_s is not None:
                raise LeanECGError(
                    "--window-s", f"model {pkg.name} classifies beats; window options are for record models"
                )
            self._init_beats(spec, warmup_s)
        else:
            self._init_windows(spec, window_s, hop_s)

    # -- set-up -----------------------------------------------------------------------------------

    def _init_beats(self, spec: dict[str, Any], warmup_s: float) -> None:
        suffix = self.pre.suffix
        if len(suffix) > 1:
            ops = ", ".join(s["op"] for s in suffix)
            raise LeanECGError(
                self.source, f"the model's record-level steps ({ops}) have no online form for beat models"
            )
        self.norm = _RunningNorm(suffix[0], self.pre.n_leads, self.source) if suffix else None
        if not (math.isfinite(warmup_s) and warmup_s >= 0):
            raise LeanECGError("--warmup-s", f"must be a non-negative number of seconds, got {warmup_s!r}")
        self.warmup = round(warmup_s * self.fs) if self.norm is not None else 0
        names = list(spec.get("features") or [])
        unknown = [n for n in names if n not in ALL_BEAT_FEATURE_NAMES]
        if unknown:
            raise LeanECGError(
                self.pkg.path,
                f"model {self.pkg.name} takes beat features this LeanECG cannot compute online "
                f"({', '.join(unknown)})",
            )
        self.feature_names = names
        self.takes_features = bool(names)
        self.templates = any(n in TEMPLATE_FEATURE_NAMES for n in names)
        # causal templates: the median of the previous `history` beats (the history beat_model_inputs
        # uses, as `leanecg beats` and training call it, unless the package states its own)
        params = inspect.signature(beat_model_inputs).parameters
        default_h = (
            params.get("history") or inspect.signature(template_features).parameters["history"]
        ).default
        self.template_history = int(spec.get("template_history") or default_h)
        self.recent = _CausalTemplates(self.template_history)  # the previous beats' raw windows (lead 0)
        self.before = round(float(spec["before_s"]) * self.fs)
        self.after = round(float(spec["after_s"]) * self.fs)
        self.before_s, self.after_s = float(spec["before_s"]), float(spec["after_s"])
        self.detector = StreamingRPeakDetector(self.fs)
        self.rr = StreamingRRFeatures(self.fs)
        self.rr_context = StreamingRRContext()  # rhythm-context columns, appended to every RR row
        self.history = round(BEAT_HISTORY_S * self.fs) + self.before + self.after
        self.buf = _empty(self.pre.n_leads)  # preprocessed samples (before normalisation)
        self.buf0 = 0
        self.order: deque[int] = deque()  # detected peaks not classified yet, in time order
        self.waiting: deque[int] = deque()  # peaks whose window is not complete yet
        self.cut: dict[int, np.ndarray] = {}  # peak -> its window (L, n_leads)
        self.rr_rows: dict[int, np.ndarray] = {}  # peak -> its RR feature row (final)
        self.ready: deque[tuple[int, np.ndarray, np.ndarray]] = deque()  # (peak, window, rr row)
        self.late_beats = 0  # peaks reported after their window left the buffer (edge-padded)

    def _init_windows(self, spec: dict[str, Any], window_s: float | None, hop_s: float | None) -> None:
        default_w = int(spec.get("n_samples") or 0) / self.fs
        if window_s is None:
            if default_w <= 0:
                raise LeanECGError(
                    "--window-s", f"model {self.pkg.name} states no input length; give --window-s"
                )
            window_s = default_w
        if not (math.isfinite(window_s) and window_s > 0):
            raise LeanECGError("--window-s", f"must be a positive number of seconds, got {window_s!r}")
        if (
            not spec.get("variable_length", False)
            and default_w > 0
            and round(window_s * self.fs) != int(spec["n_samples"])
        ):
            raise LeanECGError(
                "--window-s",
                f"model {self.pkg.name} takes inputs of exactly {default_w:g} s; got {window_s:g} s",
            )
        hop_s = min(10.0, window_s) if hop_s is None else hop_s
        if not (math.isfinite(hop_s) and hop_s > 0):
            raise LeanECGError("--hop-s", f"must be a positive number of seconds, got {hop_s!r}")
        self.window = max(1, round(window_s * self.fs))
        self.hop = max(1, round(hop_s * self.fs))
        self.suffix = Pipeline(self.pre.suffix)
        self.buf = _empty(self.pre.n_leads)
        self.buf0 = 0
        self.next_start = 0
        self.last_end = 0  # end of the last window classified
        self.episode: str | None = None  # label of the running non-normal episode
        self.episode_end = 0.0

    # -- properties -------------------------------------------------------------------------------

    @property
    def delay_s(self) -> float:
        """Look-ahead the preprocessing holds back (seconds); the detector (beats) or the window length
        (records) adds to it."""
        return self.pre.delay_s

    @property
    def n_buffered(self) -> int:
        """Samples currently held by the classifier (its own buffer; memory does not grow with time)."""
        return int(self.buf.shape[0])

    # -- public API -------------------------------------------------------------------------------

    def process(self, chunk: np.ndarray) -> StreamUpdate:
        """Consume the next ``(n, n_leads)`` (or ``(n,)``) raw samples in mV; return the new rows."""
        if self._flushed:
            raise LeanECGError(self.source, "the stream was flushed; start a new StreamClassifier")
        x = self._check_chunk(chunk)
        self.n_in += x.shape[0]
        y = self.pre.process(x if self.columns is None else x[:, self.columns])
        return self._consume(y, final=False)

    def flush(self) -> StreamUpdate:
        """End of stream: classify what is left (edge handling as offline)."""
        if self._flushed:
            return StreamUpdate(probs=np.zeros((0, len(self.class_names))))
        self._flushed = True
        y = self.pre.flush()
        return self._consume(y, final=True)

    def _check_chunk(self, chunk: np.ndarray) -> np.ndarray:
        arr = np.asarray(chunk)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != self.n_leads_in:
            raise LeanECGError(
                self.source, f"expected chunks of shape (n, {self.n_leads_in}), got {np.shape(chunk)}"
            )
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
            raise LeanECGError(self.source, f"samples must be numbers (mV), got dtype {arr.dtype}")
        if arr.size and not np.isfinite(arr).all():
            row = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
            raise LeanECGError(
                self.source,
                f"sample {self.n_in + row} is NaN or infinite; streaming needs finite samples "
                "(fill gaps before streaming)",
            )
        return arr

    def _consume(self, y: np.ndarray, final: bool) -> StreamUpdate:
        self.n_model += y.shape[0]
        if self.kind == "beats":
            return self._beats(y, final)
        return self._windows(y, final)

    # -- beats ------------------------------------------------------------------------------------

    def _beats(self, y: np.ndarray, final: bool) -> StreamUpdate:
        if self.norm is not None:
            self.norm.update(y)
        if y.shape[0]:
            self.buf = np.concatenate((self.buf, y))
            # the detector sees the float32 model-rate signal, as offline (before normalisation: it is
            # amplitude-invariant, and the running statistics would make its input drift)
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
        out = self._classify_ready(final)
        self._trim_beats()
        return out

    def _add_rr_rows(self, done: np.ndarray, rows: np.ndarray) -> None:
        """Store the final RR rows (beat order) with their rhythm-context columns appended."""
        full = np.concatenate((rows, self.rr_context.update(rows)), axis=1)
        self.rr_rows.update(zip(done.tolist(), full, strict=True))

    def _cut_windows(self, final: bool) -> None:
        """Cut the windows of waiting peaks whose window is complete (or, at the end, edge-padded)."""
        n = self.n_model
        take: list[int] = []
        while self.waiting and (final or self.waiting[0] + self.after <= n):
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

    def _classify_ready(self, final: bool) -> StreamUpdate:
        if self.norm is not None and self.n_model < self.warmup and not final:
            return StreamUpdate(probs=np.zeros((0, len(self.class_names))))
        if not self.ready:
            return StreamUpdate(probs=np.zeros((0, len(self.class_names))))
        items = list(self.ready)
        self.ready.clear()
        peaks = np.fromiter((p for p, _, _ in items), dtype=np.int64, count=len(items))
        raw = np.stack([w for _, w, _ in items])  # (n, L, leads) float64
        # each beat: the statistics of the stream up to the end of its window (at least the warm-up)
        counts = np.clip(np.maximum(peaks + self.after, self.warmup), 1, max(self.n_model, 1))
        rows = np.clip(counts - 1 - self.buf0, 0, max(self.buf.shape[0] - 1, 0))
        counts = self.buf0 + rows + 1  # a row no longer buffered: the oldest one kept (its own count)
        w = self.norm.apply(raw, rows, counts) if self.norm is not None else raw
        windows = np.ascontiguousarray(w.transpose(0, 2, 1), dtype=np.float32)
        feats = self._features(items, raw, w, rows, counts) if self.takes_features else None
        probs = self.pkg.backend.proba(windows, feats, self.batch_size, self.pkg.multilabel)
        probs = self.pkg.calibrate(probs)  # the package's temperature, as `leanecg beats`
        labels = self.pkg.labels_of(probs)
        samples = resample_indices(peaks, self.fs, self.fs_in, n_out=max(self.n_in, 1))
        now = self.n_in / self.fs_in
        update = StreamUpdate(
            keys=samples.tolist(), labels=labels, probs=probs, times_s=(peaks / self.fs).tolist()
        )
        for t, label in zip(update.times_s, labels, strict=True):
            if label != self.normal and label:
                text = f"{BEAT_EVENT_NAMES.get(label, label)} at {format_time(t, 1)}"
                update.events.append(StreamEvent("beat", label, t, now, text))
        return update

    def _features(
        self,
        items: list[tuple[int, np.ndarray, np.ndarray]],
        raw: np.ndarray,
        w: np.ndarray,
        rows: np.ndarray,
        counts: np.ndarray,
    ) -> np.ndarray:
        """The beat features the package names, float32 ``(k, n_features)``: the causal RR features and,
        when asked for, the template features of :func:`~leanecg.signal.beats.template_features` on the
        first lead against the causal template (median of the previous beats' windows, as ``causal=True``
        offline; :class:`_CausalTemplates`). ``raw`` / ``w``: the beats' windows ``(k, L, n_leads)``
        before / after the running normalisation."""
        cols: dict[str, np.ndarray] = {}
        rr = np.asarray([r for _, _, r in items], dtype=np.float64)
        for j, name in enumerate(RR_FEATURE_NAMES + RR_CONTEXT_FEATURE_NAMES):
            cols[name] = rr[:, j]
        if self.templates:
            temps = self.recent.next(raw[:, :, 0])  # (k, L): the raw windows' causal medians
            if self.norm is not None:  # the beat's own statistics: the median commutes with them
                temps = self.norm.apply(np.broadcast_to(temps[:, :, None], raw.shape), rows, counts)[:, :, 0]
            tf = template_features_against(w[:, :, 0], temps, self.fs, self.before)
            for j, name in enumerate(TEMPLATE_FEATURE_NAMES):
                cols[name] = tf[:, j]
        return np.stack([cols[n] for n in self.feature_names], axis=1).astype(np.float32)

    def _trim_beats(self) -> None:
        keep_from = self.n_model - self.history
        if self.waiting:
            keep_from = min(keep_from, self.waiting[0] - self.before)
        if self.norm is not None:  # the statistics rows of beats not classified yet
            if self.ready:
                keep_from = min(keep_from, self.ready[0][0] + self.after - 1)
            elif self.order:
                keep_from = min(keep_from, self.order[0] + self.after - 1)
        keep_from = max(keep_from, self.n_model - 2 * self.history)  # bounded even without beats
        cut = keep_from - self.buf0
        if cut > 0:
            self.buf = self.buf[cut:]
            if self.norm is not None:
                self.norm.trim(cut)
            self.buf0 = keep_from

    # -- windows ----------------------------------------------------------------------------------

    def _windows(self, y: np.ndarray, final: bool) -> StreamUpdate:
        if y.shape[0]:
            self.buf = np.concatenate((self.buf, y))
        n = self.n_model
        spans: list[tuple[int, int]] = []
        while self.next_start + self.window <= n:
            spans.append((self.next_start, self.next_start + self.window))
            self.next_start += self.hop
        if final and n > 0 and self.last_end < n and (not spans or spans[-1][1] < n):
            spans.append((max(0, n - self.window), n))
        update = self._classify_windows(spans)
        if spans:
            self.last_end = spans[-1][1]
        keep_from = min(self.next_start, n)
        cut = keep_from - self.buf0
        if cut > 0:
            self.buf = self.buf[cut:]
            self.buf0 = keep_from
        if final:
            update.events.extend(self._close_episode())
        return update

    def _classify_windows(self, spans: list[tuple[int, int]]) -> StreamUpdate:
        n_classes = len(self.class_names)
        if not spans:
            return StreamUpdate(probs=np.zeros((0, n_classes)))
        X = []
        for a, b in spans:
            seg = self.buf[a - self.buf0 : b - self.buf0]
            z = self.suffix.apply(seg, self.fs).signal if len(self.suffix) else seg.astype(np.float32)
            X.append(np.ascontiguousarray(z.T))  # channel-first (n_leads, n_samples), float32
        probs = self.pkg.predict_inputs(X, batch_size=self.batch_size)
        labels = self.pkg.labels_of(probs)
        now = self.n_in / self.fs_in
        update = StreamUpdate(
            keys=[f"{self.name}@{a / self.fs:.3f}" for a, _ in spans],
            labels=labels,
            probs=probs,
            times_s=[b / self.fs for _, b in spans],
        )
        for (a, b), label in zip(spans, labels, strict=True):
            start_s, end_s = a / self.fs, b / self.fs
            if label == self.episode:
                self.episode_end = end_s
                continue
            update.events.extend(self._close_episode(now))
            if label and label != self.normal:
                self.episode, self.episode_end = label, end_s
                name = RHYTHM_EVENT_NAMES.get(label, label)
                update.events.append(
                    StreamEvent("onset", label, start_s, now, f"{name} onset at {format_time(start_s, 0)}")
                )
        return update

    def _close_episode(self, now: float | None = None) -> list[StreamEvent]:
        if self.episode is None:
            return []
        label, end_s = self.episode, self.episode_end
        self.episode = None
        emitted = self.n_in / self.fs_in if now is None else now
        name = RHYTHM_EVENT_NAMES.get(label, label)
        return [StreamEvent("offset", label, end_s, emitted, f"{name} offset at {format_time(end_s, 0)}")]


# --------------------------------------------------------------------------------------- sources


def record_chunks(record: Record, chunk_s: float) -> Iterator[np.ndarray]:
    """Consecutive ``(n, n_leads)`` chunks of ``chunk_s`` seconds of a loaded record (the last may be
    shorter); each chunk is a copy, so the consumer never sees samples beyond it."""
    n = _chunk_samples(chunk_s, record.fs)
    sig = record.signal if record.signal.ndim == 2 else record.signal[:, None]
    for a in range(0, sig.shape[0], n):
        yield np.array(sig[a : a + n])


def _chunk_samples(chunk_s: float, fs: float) -> int:
    if not (isinstance(chunk_s, int | float) and math.isfinite(chunk_s) and chunk_s > 0):
        raise LeanECGError("--chunk-s", f"must be a positive number of seconds, got {chunk_s!r}")
    return max(1, round(chunk_s * fs))


_NUM = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


def text_chunks(
    stream: IO[str], fs: float, chunk_s: float, source: str = "-"
) -> tuple[list[str], Iterator[np.ndarray]]:
    """Samples as text, one per line, leads separated by commas (e.g. stdin).

    An optional first line of lead names (any line that is not all numbers) names the columns; without
    it the columns are named ``0``, ``1``, ... Blank lines are skipped.

    Returns:
        ``(lead_names, chunks)``: ``chunks`` yields float64 ``(n, n_leads)`` arrays of ``chunk_s``
        seconds as the lines arrive.

    Raises:
        LeanECGError naming ``source``: no samples, a line with a different number of values, a value
        that is not a number.
    """
    fs = filters.check_fs(fs)
    n = _chunk_samples(chunk_s, fs)
    line_no = 0
    first: str | None = None
    for raw in stream:
        line_no += 1
        if raw.strip():
            first = raw
            break
    if first is None:
        raise LeanECGError(source, "no samples (expected one sample per line, leads separated by commas)")
    cells = [c.strip() for c in first.split(",")]
    if all(_NUM.match(c) for c in cells):
        names = [str(k) for k in range(len(cells))]
        pending: list[str] = [first]
    else:
        names = [c or str(k) for k, c in enumerate(cells)]
        pending = []
    width = len(names)
    start_line = line_no - len(pending)

    def parse(lines: list[str], at: int) -> np.ndarray:
        out = np.empty((len(lines), width))
        for k, line in enumerate(lines):
            vals = line.split(",")
            if len(vals) != width:
                raise LeanECGError(source, f"line {at + k + 1} has {len(vals)} value(s), expected {width}")
            try:
                out[k] = [float(v) for v in vals]
            except ValueError:
                raise LeanECGError(
                    source, f"line {at + k + 1} is not {width} comma-separated number(s)"
                ) from None
        return out

    def gen() -> Iterator[np.ndarray]:
        nonlocal pending
        at = start_line
        for raw in stream:
            if raw.strip():
                pending.append(raw)
            if len(pending) >= n:
                yield parse(pending, at)
                at += len(pending)
                pending = []
        if pending:
            yield parse(pending, at)

    return names, gen()


# ------------------------------------------------------------------------------------------ driver


@dataclass
class StreamReport:
    """Rows, events and latency statistics of one stream (:func:`run_stream`).

    Attributes:
        kind: ``"beats"`` or ``"records"``.
        keys, labels, probs: the rows (see :class:`StreamUpdate`), in order.
        events: all events.
        duration_s: signal seconds consumed.
        chunk_times_s: wall-clock processing time of every chunk (the final flush included as one).
        delays_s: per row, stream time between the beat (window end) and the chunk that emitted it.
        processing_s: total processing time (sum of ``chunk_times_s``).
        cpu_s: CPU time of this process over the same calls (``time.process_time``, all its threads):
            the cost in core-seconds, unaffected by other processes competing for the CPU.
        wall_s: wall-clock time of the whole run (pacing and reading included).
        preprocess_delay_s: the preprocessing look-ahead (:attr:`StreamClassifier.delay_s`).
        late_beats: beat models: peaks found after their window had left the buffer (edge-padded).
        runtime: what ran the network (``"torch"`` or ``"onnxruntime"``).
    """

    kind: str
    keys: list[Any]
    labels: list[str]
    probs: np.ndarray
    events: list[StreamEvent]
    duration_s: float
    chunk_times_s: list[float]
    delays_s: list[float]
    processing_s: float
    cpu_s: float
    wall_s: float
    preprocess_delay_s: float
    late_beats: int = 0
    runtime: str = ""

    @property
    def realtime_factor(self) -> float:
        """Signal seconds processed per second of processing time (start-up and reading excluded)."""
        return self.duration_s / self.processing_s if self.processing_s > 0 else math.inf

    @property
    def realtime_factor_cpu(self) -> float:
        """Signal seconds per CPU second of this process (with one thread: one core's cost)."""
        return self.duration_s / self.cpu_s if self.cpu_s > 0 else math.inf

    def latency(self) -> dict[str, float | int | None]:
        """Median / 95th percentile / max of the per-chunk processing time (ms) and of the detection
        delay (s), the real-time factor and the counts."""

        def q(v: Sequence[float], p: float, scale: float = 1.0) -> float | None:
            return float(np.percentile(v, p)) * scale if len(v) else None

        ct, d = self.chunk_times_s, self.delays_s
        return {
            "chunks": len(ct),
            "rows": len(self.keys),
            "events": len(self.events),
            "duration_s": self.duration_s,
            "processing_s": self.processing_s,
            "realtime_factor": self.realtime_factor,
            "cpu_s": self.cpu_s,
            "realtime_factor_cpu": self.realtime_factor_cpu,
            "chunk_ms_median": q(ct, 50, 1e3),
            "chunk_ms_p95": q(ct, 95, 1e3),
            "chunk_ms_max": q(ct, 100, 1e3),
            "delay_s_median": q(d, 50),
            "delay_s_p95": q(d, 95),
            "delay_s_max": q(d, 100),
            "preprocess_delay_s": self.preprocess_delay_s,
            "late_beats": self.late_beats,
        }


def run_stream(
    classifier: StreamClassifier,
    chunks: Iterable[np.ndarray],
    *,
    realtime: bool = False,
    on_update: Callable[[StreamUpdate], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
    cpu_clock: Callable[[], float] = time.process_time,
) -> StreamReport:
    """Feed ``chunks`` to ``classifier`` (then flush) and collect rows, events and timings.

    Args:
        classifier: a fresh :class:`StreamClassifier`.
        chunks: consecutive raw chunks ``(n, n_leads)`` in mV.
        realtime: pace the input at the true sampling rate: chunk ``k`` is processed no earlier than the
            time its last sample would have arrived from a live recorder.
        on_update: called with every non-empty update as soon as it is produced (print events, write rows).
        clock, sleep, cpu_clock: wall-clock source, sleep function and CPU-time source (tests replace them).
    """
    keys: list[Any] = []
    labels: list[str] = []
    probs: list[np.ndarray] = []
    events: list[StreamEvent] = []
    delays: list[float] = []
    times: list[float] = []
    t_start = clock()

    def take(update: StreamUpdate) -> None:
        if not len(update) and not update.events:
            return
        now = classifier.n_in / classifier.fs_in
        keys.extend(update.keys)
        labels.extend(update.labels)
        if update.probs is not None and len(update.probs):
            probs.append(update.probs)
        delays.extend(now - t for t in update.times_s)
        events.extend(update.events)
        if on_update is not None:
            on_update(update)

    consumed = 0
    cpu = 0.0
    for chunk in chunks:
        if realtime:
            due = t_start + (consumed + len(chunk)) / classifier.fs_in
            wait = due - clock()
            if wait > 0:
                sleep(wait)
        t0, c0 = clock(), cpu_clock()
        update = classifier.process(chunk)
        times.append(clock() - t0)
        cpu += cpu_clock() - c0
        consumed += len(chunk)
        take(update)
    t0, c0 = clock(), cpu_clock()
    update = classifier.flush()
    times.append(clock() - t0)
    cpu += cpu_clock() - c0
    take(update)
    n_classes = len(classifier.class_names)
    return StreamReport(
        kind=classifier.kind,
        keys=keys,
        labels=labels,
        probs=np.concatenate(probs) if probs else np.zeros((0, n_classes)),
        events=events,
        duration_s=classifier.n_in / classifier.fs_in,
        chunk_times_s=times,
        delays_s=delays,
        processing_s=float(sum(times)),
        cpu_s=cpu,
        wall_s=clock() - t_start,
        preprocess_delay_s=classifier.delay_s,
        late_beats=getattr(classifier, "late_beats", 0),
        runtime=classifier.runtime,
    )


def beat_agreement(
    offline_samples: np.ndarray | Sequence[int],
    offline_labels: Sequence[str],
    online_samples: np.ndarray | Sequence[int],
    online_labels: Sequence[str],
    fs: float,
    tolerance_s: float = 0.150,
) -> dict[str, float | int]:
    """How well online beats reproduce offline ones (``leanecg beats``) on the same record.

    Beats are matched one-to-one within ``tolerance_s`` (:func:`leanecg.evaluate.beat_matching.match_beats`).

    Returns:
        ``n_offline``, ``n_online``, ``matched``, ``detection_agreement`` (matched / max(n_offline,
        n_online): every unmatched beat on either side counts against it), ``exact_position`` (fraction
        of matched beats at the very same sample), ``label_agreement`` (same label among matched beats).
    """
    from leanecg.evaluate.beat_matching import match_beats

    off = np.asarray(offline_samples, dtype=np.int64)
    on = np.asarray(online_samples, dtype=np.int64)
    m = match_beats(off, on, round(tolerance_s * float(fs)))
    n = max(off.size, on.size)
    same_pos = off[m.tp_ref_idx] == on[m.tp_test_idx] if m.tp else np.zeros(0, dtype=bool)
    same_label = (
        np.asarray(offline_labels, dtype=object)[m.tp_ref_idx]
        == np.asarray(online_labels, dtype=object)[m.tp_test_idx]
        if m.tp
        else np.zeros(0, dtype=bool)
    )
    return {
        "n_offline": int(off.size),
        "n_online": int(on.size),
        "matched": m.tp,
        "detection_agreement": m.tp / n if n else 1.0,
        "exact_position": float(same_pos.mean()) if m.tp else 1.0,
        "label_agreement": float(same_label.mean()) if m.tp else 1.0,
    }


@dataclass
class StreamSource:
    """An opened stream: its name, rate, lead names and chunk iterator (:func:`open_source`)."""

    name: str
    fs: float
    leads: list[str]
    chunks: Iterator[np.ndarray]
    source: str
    n_samples: int | None = None  # the stream's length when known in advance (a record), else None


def open_source(source: str, fs: float | None, chunk_s: float, stdin: IO[str] | None = None) -> StreamSource:
    """Open ``source`` for streaming: a record file (any format :func:`leanecg.data.load_record` reads,
    cut into chunks of ``chunk_s`` seconds) or ``"-"`` for text samples on ``stdin`` (:func:`text_chunks`;
    ``fs`` required).

    Raises:
        LeanECGError: ``-`` without ``fs``; a folder; anything :func:`~leanecg.data.load_record` refuses.
    """
    from pathlib import Path

    _chunk_samples(chunk_s, fs or 1.0)
    if source == "-":
        if fs is None:
            raise LeanECGError("--fs", "is required when samples come from stdin (-)")
        import sys

        names, chunks = text_chunks(stdin if stdin is not None else sys.stdin, fs, chunk_s, source="-")
        return StreamSource("stdin", float(fs), names, chunks, "-")
    from leanecg.data import load_record

    path = Path(source)
    if path.is_dir():
        raise LeanECGError(path, "is a folder; `leanecg stream` takes one record (or - for stdin)")
    record = load_record(path, fs=fs, annotations=False)
    return StreamSource(
        record.name,
        float(record.fs),
        list(record.leads),
        record_chunks(record, chunk_s),
        str(path),
        n_samples=int(record.signal.shape[0]),
    )
