"""Streaming inference: classify beats or rhythm windows of an ECG that arrives chunk by chunk.

:class:`StreamClassifier` runs a model package on a stream with memory that does not grow with the
stream's length, and gives the same answers as the offline commands (``leanecg beats`` /
``leanecg predict``) wherever the offline computation can be reproduced online. The causal stages live in
:mod:`leanecg.signal`; this module runs the model on what they produce:

1. **Preprocessing**: :class:`~leanecg.signal.streaming.StreamingPreprocessor` runs the sample-wise steps
   of the package's pipeline online (zero-phase filters emulated with a look-ahead, by default to float32
   resolution: :data:`DEFAULT_TOLERANCE`; the resampler exact in the interior). The stream's leads that
   feed the model are chosen as offline (:func:`~leanecg.package.model.model_lead_choice`; ``lead=`` /
   ``--lead``), and :attr:`StreamClassifier.lead_choice` records the choice.
2. **Beat models** (``kind == "beats"``): :class:`~leanecg.signal.beat_stream.StreamingBeatInputs` detects
   the R peaks (identical to the offline detector on any chunking), cuts the windows, applies a trailing
   record-level ``zscore`` / ``minmax`` with the statistics of *all the stream so far* (the one input whose
   online value cannot equal the offline one: labels can differ from ``leanecg beats`` early in a stream
   or where the amplitude drifts; ``warmup_s`` holds the first beats until the statistics have seen that
   much signal) and computes the causal RR and template features ``leanecg beats`` and training use. All
   beats that become ready in one chunk are classified in one model call. Invalid (NaN / inf) samples in
   the leads the model reads end the running segment and restart the engine once
   :data:`~leanecg.signal.gaps.MIN_SEGMENT_S` seconds of valid samples follow, exactly as
   :meth:`~leanecg.package.model.ModelPackage.predict_beats` splits a record offline
   (:attr:`StreamClassifier.skipped`: the spans not analysed). Record models refuse invalid samples.
3. **Record models** (``kind == "records"``): the preprocessed stream is cut into windows of
   ``window_s`` every ``hop_s`` (default: the model's costed input length and ``min(10 s, window_s)``),
   each classified like a record of that length (the record-level steps applied per window) with
   :meth:`~leanecg.package.model.ModelPackage.predict_inputs` (record features included). A stream
   shorter than one window gives one window over the whole stream -- exactly what ``leanecg predict``
   computes for that record; a stream whose last window does not end at its end gets a last window
   ending there. Rows are keyed ``<name>@<start_s>`` (window start in seconds, 3 decimals).

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
real-time factor. Chunk sources (:mod:`leanecg.data.stream_sources`, re-exported here): :func:`record_chunks`
(a loaded record, cut strictly chunk-wise), :func:`text_chunks` (one sample per line, comma-separated
leads, e.g. stdin) and :func:`open_source` (either, from what ``leanecg stream`` is given).

Runtime: :func:`stream_backend` picks what runs the network (``leanecg stream --backend``): the package's
torch model, or ONNX Runtime on the package exported once at start-up (``auto`` when onnxruntime is
installed) -- the same labels as ``leanecg beats`` on all 22 MIT-BIH DS2 records
(``benchmarks/results/stream_mitdb.md``) at ~0.7 ms less per chunk.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from leanecg.data.stream_sources import StreamSource, open_source, record_chunks, text_chunks
from leanecg.errors import LeanECGError, check_number
from leanecg.signal.beat_stream import BEAT_HISTORY_S, StreamingBeatInputs
from leanecg.signal.beats import ALL_BEAT_FEATURE_NAMES
from leanecg.signal.gaps import MIN_SEGMENT_S, valid_segments
from leanecg.signal.pipeline import Pipeline
from leanecg.signal.polarity import RunningPolarity, orient_windows
from leanecg.signal.resample import resample_indices
from leanecg.signal.rhythm_gate import StreamingRRIrregularity
from leanecg.signal.streaming import DEFAULT_TOLERANCE, RECORD_OPS, SAMPLE_OPS, StreamingPreprocessor

if TYPE_CHECKING:
    from leanecg.package.model import InferenceBackend, LeadOption, ModelPackage

__all__ = [
    "BEAT_HISTORY_S",
    "DEFAULT_EVENTS_EVERY",
    "DEFAULT_TOLERANCE",
    "RECORD_OPS",
    "SAMPLE_OPS",
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
        self.every = int(check_number("every", every, low=1, integer=True))
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
        raise LeanECGError("backend", f"unknown backend {backend!r}; use one of {', '.join(STREAM_BACKENDS)}")
    own = pkg.backend
    if backend == "torch" or own.runtime != "torch":
        if backend == "torch" and own.runtime != "torch":
            raise LeanECGError(
                "backend", f"model {pkg.name} is an exported {own.runtime} model; it has no torch network"
            )
        return own
    try:
        import onnxruntime  # noqa: F401

        from leanecg.deploy.onnx import export_onnx
        from leanecg.package.ort_runtime import OrtBackend, ort_session
    except ImportError as exc:
        if backend == "auto":
            return own
        raise LeanECGError("backend", f"onnx needs onnxruntime and onnx installed ({exc})") from None
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
        from leanecg.package.model import model_lead_choice

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
            raise LeanECGError("batch_size", f"must be a positive number, got {batch_size}")
        spec = pkg.input
        # the stream's columns that feed the model, renamed to the model's leads (as ModelPackage.preprocess)
        self.lead_choice = model_lead_choice(spec, pkg.pipeline, [str(n) for n in leads], lead, source)
        self.n_leads_in = len(leads)
        cols = list(self.lead_choice.columns)
        self.columns = None if cols == list(range(self.n_leads_in)) else cols
        self._lookahead_s = lookahead_s
        self.pre = self._new_preprocessor(fs)
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
        self.n_model = 0  # preprocessed samples produced (this segment)
        self._warmup_s = warmup_s
        # invalid samples (beat models): the engine restarts after each gap, as predict_beats does offline
        self._seg_start = 0  # input index where the running segment started
        self._held: list[np.ndarray] | None = None  # valid samples after a gap, until MIN_SEGMENT_S of them
        self._hold_start = 0  # input index of the first held sample (all up to n_in are held)
        self._gap_start = 0  # input index where the open skipped span began
        #: input sample ranges ``[start, stop)`` not analysed (invalid samples, short stretches between them)
        self.skipped: list[tuple[int, int]] = []
        self.class_names = pkg.class_names
        self.normal = "N" if "N" in self.class_names else self.class_names[0]
        self._flushed = False
        if self.kind == "beats":
            if window_s is not None or hop_s is not None:
                raise LeanECGError(
                    "window_s", f"model {pkg.name} classifies beats; window options are for record models"
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
        self.beats = StreamingBeatInputs(
            self.fs,
            self.pre.n_leads,
            float(spec["before_s"]),
            float(spec["after_s"]),
            norm_step=suffix[0] if suffix else None,
            warmup_s=warmup_s,
            feature_names=list(spec.get("features") or []),
            # causal templates: the history beat_model_inputs uses unless the package states its own
            template_history=spec.get("template_history") or None,
            source=self.source,
        )
        # the QRS polarity of the beats so far, restarted with the beats (predict_beats: the whole record's)
        self._polarity = (
            RunningPolarity(self.pre.n_leads, self.pkg.r_index) if spec.get("orient_polarity") else None
        )
        gate = self.pkg.rhythm_gate  # the AF gate's irregularity, restarted with the beats
        self._irregularity = (
            StreamingRRIrregularity(
                self.fs, int(gate["window"]), exclude_ectopic=bool(gate.get("exclude_ectopic"))
            )
            if gate
            else None
        )
        unknown = [n for n in self.beats.feature_names if n not in ALL_BEAT_FEATURE_NAMES]
        if unknown:
            raise LeanECGError(
                self.pkg.path,
                f"model {self.pkg.name} takes beat features this LeanECG cannot compute online "
                f"({', '.join(unknown)})",
            )

    def _init_windows(self, spec: dict[str, Any], window_s: float | None, hop_s: float | None) -> None:
        default_w = int(spec.get("n_samples") or 0) / self.fs
        if window_s is None:
            if default_w <= 0:
                raise LeanECGError(
                    "window_s", f"model {self.pkg.name} states no input length; give `window_s`"
                )
            window_s = default_w
        if not (math.isfinite(window_s) and window_s > 0):
            raise LeanECGError("window_s", f"must be a positive number of seconds, got {window_s!r}")
        if (
            not spec.get("variable_length", False)
            and default_w > 0
            and round(window_s * self.fs) != int(spec["n_samples"])
        ):
            raise LeanECGError(
                "window_s",
                f"model {self.pkg.name} takes inputs of exactly {default_w:g} s; got {window_s:g} s",
            )
        hop_s = min(10.0, window_s) if hop_s is None else hop_s
        if not (math.isfinite(hop_s) and hop_s > 0):
            raise LeanECGError("hop_s", f"must be a positive number of seconds, got {hop_s!r}")
        self.window = max(1, round(window_s * self.fs))
        self.hop = max(1, round(hop_s * self.fs))
        self.suffix = Pipeline(self.pre.suffix)
        self.buf = np.zeros((0, self.pre.n_leads), dtype=np.float64)
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
        return self.beats.n_buffered if self.kind == "beats" else int(self.buf.shape[0])

    @property
    def late_beats(self) -> int:
        """Beat models: peaks reported after their window had left the buffer (edge-padded); else 0."""
        return self.beats.late_beats if self.kind == "beats" else 0

    # -- public API -------------------------------------------------------------------------------

    def process(self, chunk: np.ndarray) -> StreamUpdate:
        """Consume the next ``(n, n_leads)`` (or ``(n,)``) raw samples in mV; return the new rows.

        Beat models take invalid (NaN / inf) samples in the leads they read, as ``leanecg beats`` does: a
        gap ends the running segment (its last beats are classified), the engine restarts once
        :data:`~leanecg.signal.gaps.MIN_SEGMENT_S` seconds of valid samples have followed it (a shorter
        stretch is skipped), and the spans not analysed collect in :attr:`skipped`.
        """
        if self._flushed:
            raise LeanECGError(self.source, "the stream was flushed; start a new StreamClassifier")
        x = self._check_chunk(chunk)
        if self.columns is not None:
            x = x[:, self.columns]
        valid = np.isfinite(x).all(axis=1)
        if self._held is None and valid.all():
            return self._valid_run(x)
        kept, gaps = valid_segments(valid, self.fs_in, 0.0)  # every valid run, and the invalid runs between
        runs = sorted([(a, b, True) for a, b in kept] + [(a, b, False) for a, b in gaps])
        updates = [self._valid_run(x[a:b]) if ok else self._invalid_run(b - a) for a, b, ok in runs]
        return _merge_updates(updates, len(self.class_names))

    def flush(self) -> StreamUpdate:
        """End of stream: classify what is left (edge handling as offline)."""
        if self._flushed:
            return self._nothing()
        self._flushed = True
        if self._held is not None:  # a gap, then too little valid signal to analyse: skipped
            self.skipped.append((self._gap_start, self.n_in))
            return self._nothing()
        y = self.pre.flush()
        return self._consume(y, final=True)

    def _valid_run(self, x: np.ndarray) -> StreamUpdate:
        """Valid samples: into the running segment, or held after a gap until there are enough."""
        self.n_in += x.shape[0]
        if self._held is None:
            return self._consume(self.pre.process(x), final=False)
        self._held.append(x)
        if self.n_in - self._hold_start < math.ceil(MIN_SEGMENT_S * self.fs_in):
            return self._nothing()
        # enough valid signal: a new segment starts at the first held sample, with fresh state
        self.skipped.append((self._gap_start, self._hold_start))
        self._seg_start = self._hold_start
        samples, self._held = np.concatenate(self._held), None
        self._restart_engine()
        return self._consume(self.pre.process(samples), final=False)

    def _invalid_run(self, n: int) -> StreamUpdate:
        """``n`` invalid samples: the running segment ends (its last beats classified), or the samples
        held since the last gap are dropped (too few to analyse)."""
        update = self._nothing()
        if self._held is None:
            update = self._consume(self.pre.flush(), final=True)
            self._gap_start = self.n_in
        self.n_in += n
        self._held = []
        self._hold_start = self.n_in
        return update

    def _restart_engine(self) -> None:
        """Fresh preprocessing and beat state for a segment after a gap (as a new record offline)."""
        self.pre = self._new_preprocessor(self.fs_in)
        self.n_model = 0
        self._init_beats(self.pkg.input, self._warmup_s)

    def _new_preprocessor(self, fs: float) -> StreamingPreprocessor:
        return StreamingPreprocessor(
            self.pkg.pipeline,
            fs,
            self.lead_choice.model_leads,
            lookahead_s=self._lookahead_s,
            source=self.source,
        )

    def _nothing(self) -> StreamUpdate:
        """An update without rows."""
        return StreamUpdate(probs=np.zeros((0, len(self.class_names))))

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
        if self.kind != "beats" and arr.size and not np.isfinite(arr).all():
            row = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
            raise LeanECGError(
                self.source,
                f"sample {self.n_in + row} is NaN or infinite; streaming a record model needs finite samples "
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
        batch = self.beats.push(y, final)
        if not len(batch):
            return self._nothing()
        windows = batch.windows
        if self._polarity is not None:
            windows = orient_windows(windows, self._polarity.update(windows))
        probs = self.pkg.backend.proba(windows, batch.features, self.batch_size, self.pkg.multilabel)
        probs = self.pkg.calibrate(probs)  # the package's temperature, as `leanecg beats`
        if self._irregularity is not None:
            probs = self.pkg.gate(probs, self._irregularity.update(batch.peaks))
        labels = self.pkg.labels_of(probs)
        n_seg = self.n_in - self._seg_start  # input samples fed to this segment's engine
        samples = self._seg_start + resample_indices(batch.peaks, self.fs, self.fs_in, n_out=max(n_seg, 1))
        now = self.n_in / self.fs_in
        times = batch.peaks / self.fs + self._seg_start / self.fs_in
        update = StreamUpdate(keys=samples.tolist(), labels=labels, probs=probs, times_s=times.tolist())
        for t, label in zip(update.times_s, labels, strict=True):
            if label != self.normal and label:
                text = f"{BEAT_EVENT_NAMES.get(label, label)} at {format_time(t, 1)}"
                update.events.append(StreamEvent("beat", label, t, now, text))
        return update

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
        if not spans:
            return self._nothing()
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


# ------------------------------------------------------------------------------------------ driver


def _merge_updates(updates: Sequence[StreamUpdate], n_classes: int) -> StreamUpdate:
    """One update holding the rows and events of several, in order."""
    probs = [u.probs for u in updates if u.probs is not None and len(u.probs)]
    return StreamUpdate(
        keys=[k for u in updates for k in u.keys],
        labels=[lab for u in updates for lab in u.labels],
        probs=np.concatenate(probs) if probs else np.zeros((0, n_classes)),
        times_s=[t for u in updates for t in u.times_s],
        events=[e for u in updates for e in u.events],
    )


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
