"""Online preprocessing: the sample-wise steps of a pipeline, run on a stream chunk by chunk.

:class:`StreamingPreprocessor` runs the sample-wise steps of a :class:`~leanecg.signal.pipeline.Pipeline`
(:data:`SAMPLE_OPS`: ``leads``; ``bandpass`` / ``notch`` / ``remove_baseline`` with
``method="highpass"``; ``resample``) on consecutive chunks of a stream, with memory that does not grow
with the stream's length, and gives what the offline pipeline gives wherever it can be reproduced online:

* **Zero-phase IIR filters.** The offline filters are zero-phase (``sosfiltfilt``): the forward pass is
  causal and is carried from chunk to chunk exactly (its start-up reflection included, so the stream's
  first samples match too); the backward pass is anti-causal, so each chunk is filtered backwards from
  ``lookahead`` samples later, starting from the same steady state the offline filter starts from at the
  record's end. The error of an interior sample is the slowest pole's decay over the look-ahead; the
  default look-ahead is the time that decay takes to fall below :data:`DEFAULT_TOLERANCE` (1e-7: float32
  resolution), about 13.6 s for the 0.5 Hz 4th-order Butterworth high-pass at any rate. At the end of the
  stream the offline end-reflection is applied, so the last samples are exact as well. Causal filters
  (``zero_phase=False``) are the offline single pass, exactly.
* **Resampling.** The polyphase resampler (a finite FIR) is exact in the interior with a margin of
  ``10 max(up, down) / up`` input samples; its first ``10 max(up, down) / down`` output samples use a
  constant instead of the offline line extension, whose slope is ``(x[-1] - x[0]) / n`` over the whole
  record (unknown online): they differ by about that slope times the filter half-length, 1e-5 of the
  signal on a 10 s record and below float32 resolution on records of minutes.
* **Record-level steps** (:data:`RECORD_OPS`: ``zscore``, ``minmax``, ``robust``, ``fixed_length``) need
  the whole record; they must come after the sample-wise ones and are handed back as
  :attr:`StreamingPreprocessor.suffix` for the caller to apply (per window, or with running statistics:
  :class:`~leanecg.signal.normalize.RunningNorm`).

Output is float64 here (float32 once the model's input is built, as offline). The filters and the
resampler run on scipy's compiled kernels (:mod:`leanecg.signal._kernels`) with their designs cached on
disk (:mod:`leanecg.signal._designs`): the values of ``scipy.signal``, without importing it once the
designs are cached.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from leanecg.errors import LeanECGError
from leanecg.signal import _designs, _kernels, filters
from leanecg.signal.leads import canonical_lead_name, lead_index, select_leads
from leanecg.signal.pipeline import Pipeline
from leanecg.signal.resample import resample_ratio

__all__ = ["DEFAULT_TOLERANCE", "RECORD_OPS", "SAMPLE_OPS", "StreamingPreprocessor"]

#: Relative error allowed for a zero-phase filter's interior samples; sets the default look-ahead.
DEFAULT_TOLERANCE = 1e-7
#: Ops that transform every sample from a bounded neighbourhood (run online).
SAMPLE_OPS = ("leads", "bandpass", "notch", "remove_baseline", "resample")
#: Ops that need the whole record (applied per window, or with running statistics for beats).
RECORD_OPS = ("zscore", "minmax", "robust", "fixed_length")


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
        self.zi_unit = _designs.sosfilt_zi(self.sos)[:, :, None]
        self.head: list[np.ndarray] = []
        self.n_head = 0
        self.started = False
        self.zi: np.ndarray | None = None
        self.fwd = _empty(n_leads)  # forward-filtered samples not yet emitted
        self.tail = _empty(n_leads)  # the last pad + 1 raw samples (end reflection)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        y, self.zi = _kernels.sosfilt(self.sos, x, axis=0, zi=self.zi)
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
        y, _ = _kernels.sosfilt(self.sos, f[::-1], axis=0, zi=zi)
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
        self.h = _designs.resample_fir(self.up, self.down) if self.up != self.down else None
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
        y = _kernels.resample_poly(seg, self.up, self.down, axis=0, window=self.h, padtype="constant")
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
    """The sample-wise part of a pipeline, run online (module docstring).

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
                "lookahead_s", f"must be a non-negative number of seconds, got {lookahead_s!r}"
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
