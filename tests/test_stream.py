"""Streaming inference (``leanecg.deploy.stream``, ``leanecg stream``).

Packages are built here from small freshly constructed models (BeatNet for beats, LiteNet for records,
batch-norm statistics settled so outputs depend on the input) with the real task definitions. Checked:
the online preprocessing equals the offline pipeline (interior to float32 resolution, stream ends
exactly, any chunking); online beats equal ``predict_beats`` (same samples, same probabilities) when the
package's inputs have an online form, and the same detections when they do not (record-level z-score);
chunking does not change results; bounded buffers; windows of record models equal ``predict_records`` for
a stream shorter than one window; rhythm onset/offset events; real-time pacing; stdin text parsing; the
CLI's CSV contract (as ``leanecg beats`` / ``predict``) and its one-line errors.
"""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from clihelp import invoke_cli, run_cli  # noqa: E402
from leanecg.data.record import Record  # noqa: E402
from leanecg.data.synthetic import synthetic_ecg  # noqa: E402
from leanecg.data.tabular import write_csv  # noqa: E402
from leanecg.deploy.stream import (  # noqa: E402
    StreamClassifier,
    StreamingPreprocessor,
    beat_agreement,
    format_time,
    record_chunks,
    run_stream,
    text_chunks,
)
from leanecg.errors import LeanECGError  # noqa: E402
from leanecg.signal.beats import (  # noqa: E402
    BEAT_FEATURE_NAMES,
    beat_model_inputs,
    rr_features,
    template_features,
)
from leanecg.signal.pipeline import Pipeline  # noqa: E402
from pkghelp import beat_package, record_package  # noqa: E402

BANDPASS = {"op": "bandpass", "low_hz": 0.5, "high_hz": 40.0}


# ---------------------------------------------------------------------------------------- packages


@pytest.fixture(scope="module")
def pkgs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from leanecg.tasks import get_task

    root = tmp_path_factory.mktemp("stream_pkgs")
    task = get_task("mitdb-aami")
    # the task's pipeline without its record-level z-score: every step has an exact online form
    exact = Pipeline([s for s in task.pipeline().steps if s["op"] != "zscore"])
    return {
        "beat": beat_package(root / "beat", None, True, len(BEAT_FEATURE_NAMES)),
        "beat_exact": beat_package(root / "beat_exact", exact, features=False),
        "beat_templates": beat_package(root / "beat_templates", exact, True, len(BEAT_FEATURE_NAMES)),
        "record": record_package(root / "record"),
    }


def _load(path: Path) -> Any:
    from leanecg.package.model import load_model_package

    return load_model_package(path)


def _ecg(duration_s: float, fs: float = 360.0, seed: int = 0, rhythm: str = "pvc", leads=("II",)) -> Record:
    syn = synthetic_ecg(
        duration_s=duration_s, fs=fs, heart_rate_bpm=75.0, rhythm=rhythm, n_leads=len(leads), seed=seed
    )
    return Record(name=f"syn{seed}", signal=syn.signal.astype(np.float32), fs=fs, leads=list(leads))


def _stream(pkg: Any, rec: Record, chunk_s: float, **kw: Any) -> Any:
    clf = StreamClassifier(pkg, rec.fs, rec.leads, name=rec.name, **kw)
    return run_stream(clf, record_chunks(rec, chunk_s))


# ----------------------------------------------------------------------------------- preprocessing


@pytest.mark.parametrize(
    "steps",
    [
        [{"op": "leads", "leads": ["II"]}, BANDPASS, {"op": "resample", "fs_out": 180.0}],
        [{"op": "notch", "freq_hz": 60.0}, {"op": "remove_baseline"}, {"op": "resample", "fs_out": 500.0}],
        [{**BANDPASS, "zero_phase": False}, {"op": "resample", "fs_out": 128.0}],
        [{"op": "resample", "fs_out": 250.0}, BANDPASS],
    ],
)
def test_online_preprocessing_equals_offline_pipeline(steps: list[dict[str, Any]]) -> None:
    rec = _ecg(60.0, leads=("I", "II"))
    p = Pipeline(steps)
    off = p.apply(rec.signal, rec.fs, leads=rec.leads).signal
    off = off if off.ndim == 2 else off[:, None]
    scale = float(np.abs(off).max())
    for chunk in (1, 997, 3600, 10**6):
        sp = StreamingPreprocessor(p, rec.fs, rec.leads)
        x = rec.signal[:4000] if chunk == 1 else rec.signal  # sample by sample on a shorter stream
        want = off if chunk != 1 else p.apply(x, rec.fs, leads=rec.leads).signal.reshape(-1, off.shape[1])
        parts = [sp.process(x[a : a + chunk]) for a in range(0, len(x), chunk)] + [sp.flush()]
        got = np.concatenate(parts).astype(np.float32)
        assert got.shape == want.shape, (chunk, got.shape, want.shape)
        err = np.abs(got - want)
        # the resampler's first outputs use a constant, not the record-wide line, as left extension
        assert err[:50].max() <= 1e-4 * scale, (chunk, err[:50].max())
        assert err[50:].max() <= 4e-7 * scale, (chunk, err[50:].max())  # float32 resolution
        assert err[-50:].max() <= 1e-7 * scale  # the end uses the offline end handling
    assert sp.delay_s >= 0


def test_stream_shorter_than_the_filter_start_up_is_exact() -> None:
    rec = _ecg(3.0)
    p = Pipeline([BANDPASS, {"op": "resample", "fs_out": 180.0}])
    sp = StreamingPreprocessor(p, rec.fs, rec.leads)
    assert sp.process(rec.signal[:500]).shape[0] == 0  # still gathering the start-up reflection
    got = np.concatenate([sp.process(rec.signal[500:]), sp.flush()]).astype(np.float32)
    np.testing.assert_allclose(got, p.apply(rec.signal, rec.fs).signal, atol=1e-6)


def test_lookahead_trades_delay_for_accuracy() -> None:
    rec = _ecg(60.0)
    p = Pipeline([BANDPASS])
    off = p.apply(rec.signal, rec.fs).signal
    errs = []
    for la in (1.0, 4.0, None):
        sp = StreamingPreprocessor(p, rec.fs, rec.leads, lookahead_s=la)
        got = np.concatenate([sp.process(c) for c in record_chunks(rec, 2.0)] + [sp.flush()])
        errs.append(float(np.abs(got.astype(np.float32) - off).max()))
        if la is not None:
            assert sp.delay_s == pytest.approx(la, abs=1 / rec.fs)
    assert errs[0] > errs[1] > errs[2] and errs[2] < 1e-6


@pytest.mark.parametrize(
    ("steps", "needle"),
    [
        ([{"op": "interpolate_gaps"}], "interpolate_gaps"),
        ([{"op": "remove_baseline", "method": "median"}], "remove_baseline"),
        ([{"op": "zscore"}, BANDPASS], "after the record-level step zscore"),
    ],
)
def test_steps_without_online_form_are_refused(steps: list[dict[str, Any]], needle: str) -> None:
    with pytest.raises(LeanECGError, match=needle):
        StreamingPreprocessor(Pipeline(steps), 360.0, ["II"], source="rec")


# ------------------------------------------------------------------------------------------- beats


def test_beats_equal_offline_when_inputs_have_an_online_form(pkgs: dict[str, Path]) -> None:
    pkg = _load(pkgs["beat_exact"])
    rec = _ecg(90.0, seed=4)
    off = pkg.predict_beats(rec)
    rep = _stream(pkg, rec, 3.0)
    assert len(off.samples) > 100
    np.testing.assert_array_equal(np.asarray(rep.keys), off.samples)
    assert rep.labels == off.labels
    np.testing.assert_allclose(rep.probs, off.probs, atol=1e-5)
    assert rep.late_beats == 0
    ag = beat_agreement(off.samples, off.labels, rep.keys, rep.labels, rec.fs)
    assert ag["detection_agreement"] == 1.0 and ag["label_agreement"] == 1.0 and ag["exact_position"] == 1.0


class _Recorder:
    """Wraps a package's backend and keeps every (windows, features) it is given."""

    def __init__(self, backend: Any) -> None:
        self.backend, self.runtime, self.calls = backend, backend.runtime, []

    def proba(self, X: Any, features: Any, batch_size: int, multilabel: bool) -> np.ndarray:
        self.calls.append((np.asarray(X).copy(), None if features is None else features.copy()))
        return self.backend.proba(X, features, batch_size, multilabel)


def test_online_beat_inputs_are_the_causal_offline_inputs(pkgs: dict[str, Path]) -> None:
    """Windows, causal RR features and causal template features, exactly as computed offline."""
    pkg = _load(pkgs["beat_templates"])
    rec = _ecg(80.0, seed=8)
    pkg.backend = rec_backend = _Recorder(pkg.backend)
    rep = _stream(pkg, rec, 4.0)
    assert len(rec_backend.calls) > 5  # one call per chunk with beats ready
    win_on = np.concatenate([c[0] for c in rec_backend.calls])
    feat_on = np.concatenate([c[1] for c in rec_backend.calls])
    spec = pkg.input
    y = pkg.preprocess(rec)
    from leanecg.signal.rpeaks import detect_rpeaks

    peaks = detect_rpeaks(y[:, 0], spec["fs"])
    win, _ = beat_model_inputs(y, spec["fs"], peaks, spec["before_s"], spec["after_s"])
    rr = rr_features(peaks, spec["fs"], causal=True)
    r_index = round(spec["before_s"] * spec["fs"])
    tf = template_features(win[:, 0, :], spec["fs"], r_index, causal=True)
    assert len(rep.keys) == len(peaks) == len(win_on)
    np.testing.assert_allclose(win_on, win, atol=1e-6)
    np.testing.assert_allclose(feat_on, np.hstack([rr, tf]).astype(np.float32), rtol=1e-5, atol=1e-5)
    assert spec["features"] == list(BEAT_FEATURE_NAMES)
    # `leanecg beats` computes these causal inputs too: online beats are the offline beats
    pkg.backend = rec_backend.backend
    off = pkg.predict_beats(rec)
    np.testing.assert_array_equal(np.asarray(rep.keys), off.samples)
    assert rep.labels == off.labels
    np.testing.assert_allclose(rep.probs, off.probs, atol=1e-5)


@pytest.mark.parametrize("history", [1, 7, 8, 64])
def test_causal_templates_equal_beat_templates_on_any_chunking(history: int) -> None:
    """The batched running medians are exactly ``beat_templates(..., causal=True)`` (ties included),
    whatever the chunk sizes (single beats, several, more than one sorted block)."""
    from leanecg.signal.beats import CausalTemplates, beat_templates

    rng = np.random.default_rng(history)
    w = np.round(rng.standard_normal((300, 23)), 1)  # coarse values: many ties
    ref = beat_templates(w, causal=True, history=history)
    sizes = [1, 1, 3, 0, 5, 2, 70, 1, 17, 150, 50]
    assert sum(sizes) == len(w)
    temps = CausalTemplates(history)
    edges = np.cumsum([0, *sizes])
    got = np.concatenate([temps.next(w[a:b]) for a, b in itertools.pairwise(edges)])
    np.testing.assert_array_equal(got, ref)
    assert len(temps) == history


def test_stream_backend_choices(pkgs: dict[str, Path]) -> None:
    import dataclasses

    from leanecg.deploy.stream import stream_backend

    pkg = _load(pkgs["beat_exact"])
    assert stream_backend(pkg, "torch") is pkg.backend
    with pytest.raises(LeanECGError, match="unknown backend") as err:
        stream_backend(pkg, "tpu")
    assert err.value.path == "backend"

    class _Ort:
        runtime = "onnxruntime"

    exported = dataclasses.replace(pkg, backend=_Ort())
    assert stream_backend(exported, "auto") is exported.backend
    assert stream_backend(exported, "onnx") is exported.backend
    with pytest.raises(LeanECGError, match="no torch network"):
        stream_backend(exported, "torch")


@pytest.mark.slow
def test_onnx_backend_gives_the_torch_labels(
    pkgs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``backend="onnx"`` exports the torch package at start-up (cached for the next stream); the
    stream's beats stay the offline ones."""
    pytest.importorskip("onnxruntime")
    from leanecg.deploy.stream import stream_backend

    monkeypatch.setenv("LEANECG_CACHE", str(tmp_path / "cache"))
    pkg = _load(pkgs["beat_templates"])
    rec = _ecg(60.0, seed=9)
    off = pkg.predict_beats(rec)
    rep = _stream(pkg, rec, 5.0, backend=stream_backend(pkg, "onnx"))
    assert rep.runtime == "onnxruntime" and _stream(pkg, rec, 5.0).runtime == "torch"
    np.testing.assert_array_equal(np.asarray(rep.keys), off.samples)
    assert rep.labels == off.labels
    np.testing.assert_allclose(rep.probs, off.probs, atol=1e-4)
    (cached,) = (tmp_path / "cache" / "stream-onnx").glob("*.onnx")  # the export is kept
    assert _stream(pkg, rec, 5.0, backend=stream_backend(pkg, "onnx")).labels == off.labels
    cached.write_bytes(b"not an onnx file")  # a damaged cache entry is exported again
    assert _stream(pkg, rec, 5.0, backend=stream_backend(pkg, "onnx")).labels == off.labels
    assert cached.read_bytes() != b"not an onnx file"


def test_beats_with_record_level_zscore_same_detections(pkgs: dict[str, Path]) -> None:
    pkg = _load(pkgs["beat"])
    rec = _ecg(120.0, seed=5)
    off = pkg.predict_beats(rec)
    rep = _stream(pkg, rec, 5.0)
    np.testing.assert_array_equal(np.asarray(rep.keys), off.samples)
    assert rep.probs.shape == (len(off.samples), len(pkg.class_names))
    np.testing.assert_allclose(rep.probs.sum(axis=1), 1.0, atol=1e-5)
    # running statistics differ from the whole record's only slightly on a stationary signal
    assert np.abs(rep.probs - off.probs).max() < 0.2
    ag = beat_agreement(off.samples, off.labels, rep.keys, rep.labels, rec.fs)
    assert ag["detection_agreement"] == 1.0 and ag["label_agreement"] >= 0.9
    # beats are held until the warm-up, then come with the stream's own delay
    assert min(rep.delays_s) > 0 and max(rep.delays_s) >= 10.0 - 1e-9
    assert rep.events and all(e.kind == "beat" and e.label != "N" for e in rep.events)
    assert rep.events[0].text.endswith(format_time(rep.events[0].time_s))


def test_chunking_does_not_change_beats_and_buffers_stay_bounded(pkgs: dict[str, Path]) -> None:
    pkg = _load(pkgs["beat"])
    rec = _ecg(120.0, seed=6)
    ref = _stream(pkg, rec, 3.0)
    clf = StreamClassifier(pkg, rec.fs, rec.leads, name=rec.name)
    sizes = []

    def chunks():  # type: ignore[no-untyped-def]
        for chunk in record_chunks(rec, 9.0):
            yield chunk
            sizes.append(clf.n_buffered + clf.beats.detector.n_buffered)

    rep = run_stream(clf, chunks())
    # the beat history (30 s), a beat window, the detector's look-back and one chunk; not the stream
    assert max(sizes) <= (30.0 + 1.0 + 1.0 + 9.0) * clf.fs
    assert max(sizes[len(sizes) // 2 :]) <= max(sizes[: len(sizes) // 2]) + 9 * clf.fs
    assert rep.keys == ref.keys and rep.labels == ref.labels
    np.testing.assert_allclose(rep.probs, ref.probs, atol=1e-6)


@pytest.mark.shared
def test_mitdb_record_detections_match_offline(pkgs: dict[str, Path], mitdb_dir: Path) -> None:
    from leanecg.data import load_record

    pkg = _load(pkgs["beat"])
    full = load_record(mitdb_dir / "208", annotations=False)
    rec = Record(name="208", signal=full.signal[: int(300 * full.fs)], fs=full.fs, leads=full.leads)
    off = pkg.predict_beats(rec)
    rep = _stream(pkg, rec, 10.0)
    ag = beat_agreement(off.samples, off.labels, rep.keys, rep.labels, rec.fs)
    assert ag["detection_agreement"] >= 0.999 and ag["exact_position"] == 1.0


# ------------------------------------------------------------------------------------------ windows


def test_short_stream_window_equals_predict(pkgs: dict[str, Path]) -> None:
    pkg = _load(pkgs["record"])
    syn = synthetic_ecg(duration_s=25.0, fs=300.0, heart_rate_bpm=80.0, rhythm="af", seed=2)
    rec = Record(name="A1", signal=syn.signal.astype(np.float32), fs=300.0, leads=["ECG"])
    want = pkg.predict_records([rec])
    rep = _stream(pkg, rec, 2.0, window_s=30.0)
    assert rep.keys == ["A1@0.000"]
    np.testing.assert_allclose(rep.probs, want, atol=1e-5)


def test_windows_tile_the_stream(pkgs: dict[str, Path]) -> None:
    pkg = _load(pkgs["record"])
    rec = _ecg(65.0, fs=300.0, leads=("ECG",))
    rep = _stream(pkg, rec, 4.0, window_s=20.0, hop_s=10.0)
    assert rep.keys == [f"syn0@{s:.3f}" for s in (0, 10, 20, 30, 40, 45)]  # the last one ends at 65 s
    assert rep.probs.shape == (6, 4)
    with pytest.raises(LeanECGError, match="window"):
        StreamClassifier(_load(pkgs["beat"]), 360.0, ["II"], window_s=10.0)


class _StubRecordModel:
    """A record 'model' labelling a window A when its mean amplitude is positive (for event logic)."""

    kind = "records"
    name = "stub"
    path = Path("stub")
    multilabel = False

    def __init__(self) -> None:
        self.class_names = ["N", "A", "O", "~"]
        self.pipeline = Pipeline([])
        self.input = {"fs": 100.0, "leads": [], "n_leads": 1, "n_samples": 1000, "variable_length": True}

    def predict_inputs(self, X: list[np.ndarray], batch_size: int = 64) -> np.ndarray:
        p = np.zeros((len(X), 4))
        for k, x in enumerate(X):
            p[k, 1 if x.mean() > 0 else 0] = 1.0
        return p

    def labels_of(self, probs: np.ndarray) -> list[str]:
        return [self.class_names[int(k)] for k in probs.argmax(axis=1)]


def test_rhythm_onset_and_offset_events() -> None:
    x = -np.ones(100 * 100, dtype=np.float32)
    x[3000:6000] = 1.0  # 'AF' from 30 s to 60 s
    clf = StreamClassifier(_StubRecordModel(), 100.0, ["ecg"], name="s", window_s=10.0, hop_s=10.0)
    rep = run_stream(clf, (x[a : a + 700, None] for a in range(0, x.size, 700)))
    assert [e.text for e in rep.events] == ["AF onset at 00:00:30", "AF offset at 00:01:00"]
    assert [e.kind for e in rep.events] == ["onset", "offset"]
    assert all(e.emitted_s >= e.time_s for e in rep.events)
    # an episode still running at the end is closed at the end
    clf = StreamClassifier(_StubRecordModel(), 100.0, ["ecg"], name="s", window_s=10.0, hop_s=10.0)
    rep = run_stream(clf, [np.r_[-np.ones(2000), np.ones(2000)][:, None]])
    assert [e.text for e in rep.events] == ["AF onset at 00:00:20", "AF offset at 00:00:40"]


# --------------------------------------------------------------------------------- driver / sources


def test_realtime_pacing_waits_for_each_chunk() -> None:
    now = [0.0]
    slept: list[float] = []

    def clock() -> float:
        return now[0]

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    clf = StreamClassifier(_StubRecordModel(), 100.0, ["ecg"], window_s=10.0)
    chunks = [np.zeros((200, 1), dtype=np.float32)] * 5
    run_stream(clf, chunks, realtime=True, clock=clock, sleep=sleep, cpu_clock=clock)
    assert slept == pytest.approx([2.0] * 5)
    rep = run_stream(
        StreamClassifier(_StubRecordModel(), 100.0, ["ecg"], window_s=10.0), chunks, clock=clock, sleep=sleep
    )
    assert len(slept) == 5 and rep.duration_s == pytest.approx(10.0)


def test_text_chunks_header_blank_lines_and_errors() -> None:
    names, chunks = text_chunks(io.StringIO("MLII,V5\n0.1,0.2\n\n0.3,0.4\n0.5,0.6\n"), 360.0, 2 / 360)
    assert names == ["MLII", "V5"]
    got = list(chunks)
    assert [c.shape for c in got] == [(2, 2), (1, 2)]
    assert got[1][0, 1] == pytest.approx(0.6)
    names, chunks = text_chunks(io.StringIO("1.5\n-2e-1\n"), 100.0, 1.0)
    assert names == ["0"] and next(iter(chunks)).ravel().tolist() == [1.5, -0.2]
    _, chunks = text_chunks(io.StringIO("a,b\n1,2\n3\n"), 100.0, 1.0)
    with pytest.raises(LeanECGError, match="line 3 has 1 value"):
        list(chunks)
    _, chunks = text_chunks(io.StringIO("1\nx\n"), 100.0, 1.0)
    with pytest.raises(LeanECGError, match="line 2 is not 1"):
        list(chunks)
    with pytest.raises(LeanECGError, match="no samples"):
        text_chunks(io.StringIO("\n\n"), 100.0, 1.0)


def test_format_time() -> None:
    assert format_time(182.44) == "00:03:02.4"
    assert format_time(751.2, 0) == "00:12:31"
    assert format_time(3 * 3600 + 59.96) == "03:01:00.0"


def test_bad_chunks_are_refused(pkgs: dict[str, Path]) -> None:
    clf = StreamClassifier(_load(pkgs["beat"]), 360.0, ["II"], source="rec")
    with pytest.raises(LeanECGError, match=r"shape \(n, 1\)"):
        clf.process(np.zeros((10, 2)))
    # invalid samples: a beat model skips them (test below); a record model refuses them
    rclf = StreamClassifier(_load(pkgs["record"]), 300.0, ["I"], source="rec")
    with pytest.raises(LeanECGError, match="sample 3 is NaN"):
        rclf.process(np.array([0.0, 0.1, 0.2, np.nan]))
    with pytest.raises(
        LeanECGError, match=r"needs lead\(s\) II; the record has V1, V5 \(choose one with `lead`\)"
    ):
        StreamClassifier(_load(pkgs["beat"]), 360.0, ["V1", "V5"], source="rec")
    with pytest.raises(LeanECGError, match="`lead` NOPE"):
        StreamClassifier(_load(pkgs["beat"]), 360.0, ["V1", "V5"], source="rec", lead="NOPE")
    clf = StreamClassifier(_load(pkgs["beat"]), 360.0, ["V1", "V5"], source="rec", lead="V5")
    assert str(clf.lead_choice) == "V5 -> II (chosen with --lead)"
    with pytest.raises(LeanECGError, match=r"shape \(n, 2\)"):
        clf.process(np.zeros((10, 1)))
    with pytest.raises(LeanECGError, match="lookahead_s"):
        StreamClassifier(_load(pkgs["beat"]), 360.0, ["II"], lookahead_s=-1.0)
    with pytest.raises(LeanECGError, match="warmup_s"):
        StreamClassifier(_load(pkgs["beat"]), 360.0, ["II"], warmup_s=float("nan"))


@pytest.mark.parametrize("chunk_s", [1.0, 7.3])
def test_invalid_samples_restart_the_stream_as_offline(
    pkgs: dict[str, Path], mitdb_dir: Path, chunk_s: float
) -> None:
    """NaN samples in the lead the model reads (a lead that came off): the stream ends its segment at
    the gap, skips a valid stretch shorter than MIN_SEGMENT_S, restarts after it, and gives exactly the
    beats, labels and skipped spans of ``predict_beats`` on the same record; NaN in the other lead is
    ignored."""
    from leanecg.data import load_record
    from leanecg.signal.gaps import MIN_SEGMENT_S

    pkg = _load(pkgs["beat"])
    full = load_record(mitdb_dir / "208", annotations=False)
    fs = full.fs
    sig = np.array(full.signal[: int(240 * fs)], dtype=np.float32)
    sig[int(60 * fs) : int(64 * fs), 0] = np.nan  # a 4 s gap in MLII
    sig[int(66 * fs) : int(66 * fs) + 5, 0] = np.nan  # leaves a 2 s stretch: too short
    sig[int(150 * fs) : int(151 * fs), 1] = np.nan  # the lead the model does not read
    sig[int(200 * fs), 0] = np.inf  # one invalid sample
    rec = Record(name="208", signal=sig, fs=fs, leads=full.leads)
    off = pkg.predict_beats(rec)
    assert off.skipped == (
        (int(60 * fs), int(66 * fs) + 5),
        (int(200 * fs), int(200 * fs) + 1),
    )
    assert 2 * fs < MIN_SEGMENT_S * fs
    clf = StreamClassifier(pkg, rec.fs, rec.leads, name=rec.name)
    rep = run_stream(clf, record_chunks(rec, chunk_s))
    assert rep.keys == off.samples.tolist() and rep.labels == off.labels
    np.testing.assert_allclose(rep.probs, off.probs, atol=1e-5)
    assert clf.skipped == list(off.skipped)
    assert all(t >= 0 for t in rep.delays_s)
    # a stream that ends inside a gap, or in a stretch too short after one: that tail is skipped
    tail = Record(name="t", signal=sig[: int(62 * fs)], fs=fs, leads=full.leads)
    clf = StreamClassifier(pkg, fs, tail.leads, name="t")
    rep = run_stream(clf, record_chunks(tail, chunk_s))
    assert clf.skipped == [(int(60 * fs), int(62 * fs))]
    assert rep.keys == pkg.predict_beats(tail).samples.tolist()


# ---------------------------------------------------------------------------------------------- CLI


def _read(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _one_line_error(proc: Any, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_cli_stream_writes_the_beats_csv_format(pkgs: dict[str, Path], tmp_path: Path) -> None:
    rec = _ecg(60.0, seed=7)
    write_csv(rec, tmp_path / "rec.csv")
    from leanecg.data import load_record

    offline = _load(pkgs["beat"]).predict_beats(load_record(tmp_path / "rec.csv", fs=360.0))
    beat_model = str(pkgs["beat"])
    args = [
        "stream",
        "rec.csv",
        "--model",
        beat_model,
        *"--out on.csv --fs 360 --json --chunk-s 2 --backend torch".split(),
    ]
    proc = run_cli(args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    on = _read(tmp_path / "on.csv")
    assert on[0] == ["sample", "label", "prob_N", "prob_S", "prob_V", "prob_F"]  # as `leanecg beats`
    assert [int(r[0]) for r in on[1:]] == offline.samples.tolist() and len(on) > 50
    import json

    summary = json.loads(proc.stdout)
    assert summary["rows"] == len(on) - 1 and summary["realtime_factor"] > 0
    assert summary["chunk_ms_p95"] >= summary["chunk_ms_median"] > 0
    assert summary["backend"] == "torch"
    # stdin: the same samples as text give the same beats
    text = "II\n" + "\n".join(f"{v:.6f}" for v in rec.signal[:, 0])
    proc = invoke_cli(
        [
            "stream",
            "-",
            "--model",
            str(pkgs["beat"]),
            "--fs",
            "360",
            "--out",
            "in.csv",
            "--no-events",
            "--backend",
            "torch",
        ],
        tmp_path,
        stdin=text,
    )
    assert proc.returncode == 0, proc.stderr
    stdin_rows = _read(tmp_path / "in.csv")
    assert [r[0] for r in stdin_rows] == [r[0] for r in on]
    assert "realtime_factor" in proc.stdout


def test_cli_stream_windows_csv(pkgs: dict[str, Path], tmp_path: Path) -> None:
    rec = _ecg(45.0, fs=300.0, leads=("ECG",))
    rec.name = "A7"
    write_csv(rec, tmp_path / "A7.csv")
    args = [
        "stream",
        "A7.csv",
        "--model",
        str(pkgs["record"]),
        *"--out w.csv --fs 300 --window-s 20 --backend torch".split(),
    ]
    proc = invoke_cli(args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = _read(tmp_path / "w.csv")
    assert rows[0] == ["record", "label", "prob_N", "prob_A", "prob_O", "prob_noise"]
    assert [r[0] for r in rows[1:]] == ["A7@0.000", "A7@10.000", "A7@20.000", "A7@25.000"]


def test_cli_stream_errors(pkgs: dict[str, Path], tmp_path: Path) -> None:
    """The source / option errors (raised by the library, checked in-process) and, through the CLI, that
    one of them mid-stream still ends as a one-line ``error:`` (exit 2)."""
    from leanecg.deploy.stream import open_source
    from leanecg.package.model import load_model_package

    with pytest.raises(LeanECGError, match="stdin") as err:
        open_source("-", None, 10.0, stdin=io.StringIO("1\n"))
    assert err.value.path == "fs"
    with pytest.raises(LeanECGError, match="is a folder"):
        open_source(str(tmp_path), None, 10.0)
    with pytest.raises(LeanECGError, match="positive number of seconds") as err:
        open_source("-", 360.0, 0.0, stdin=io.StringIO("1\n"))
    assert err.value.path == "chunk_s"
    with pytest.raises(LeanECGError, match="window options are for record models") as err:
        StreamClassifier(load_model_package(pkgs["beat"]), 360.0, ["II"], window_s=5.0)
    assert err.value.path == "window_s"
    model = str(pkgs["beat"])
    _one_line_error(
        invoke_cli(
            ["stream", "-", "--model", model, "--fs", "360", "--backend", "torch"],
            tmp_path,
            stdin="II\n0.1\nabc\n",
        ),
        "error: -: line 3",
    )
