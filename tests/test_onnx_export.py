"""ONNX export (fp32 / static int8) and the torch-free ONNX Runtime package.

Packages are built inside the tests from freshly constructed small models (LiteNet for records, BeatNet
for beats, batch-norm statistics set by a few training-mode passes so outputs vary with the input) and the
real task definitions; nothing comes from the zoo. Checked: exported probabilities equal torch's, the
metadata in the sidecar (and optionally in the file), the compacted graph, the int8 graph (QDQ, int8
weights) and its agreement with fp32, one shared preprocessing path (same beats, same probabilities), a run with ``torch`` unimportable,
the CLI (``export``, ``predict`` / ``beats --model FILE.onnx``) and its one-line errors.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
torch = pytest.importorskip("torch")

from clihelp import invoke_cli, run_cli  # noqa: E402
from leanecg.data.record import Record  # noqa: E402
from leanecg.data.synthetic import synthetic_ecg  # noqa: E402
from leanecg.data.tabular import write_csv  # noqa: E402
from leanecg.errors import LeanECGError  # noqa: E402
from pkghelp import beat_package, record_features_package, record_package  # noqa: E402

# ---------------------------------------------------------------------------------------- packages


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two packages and their fp32 exports (int8 of the record model, calibrated on synthetic inputs)."""
    from leanecg.deploy.onnx import CalibrationSet, export_onnx

    root = tmp_path_factory.mktemp("onnx")
    rec, beat = record_package(root / "rec"), beat_package(root / "beat")
    rng = np.random.default_rng(5)
    calib = CalibrationSet(
        X=[rng.standard_normal((1, n)).astype(np.float32) for n in rng.integers(1200, 3000, 40)],
        info={"split": "synthetic"},
    )
    export_onnx(rec, root / "rec.onnx")
    export_onnx(rec, root / "rec.int8.onnx", int8=True, calibration=calib)
    export_onnx(beat, root / "beat.onnx", embed_metadata=True)
    return {
        "root": root,
        "rec": rec,
        "beat": beat,
        "rec_onnx": root / "rec.onnx",
        "rec_int8": root / "rec.int8.onnx",
        "beat_onnx": root / "beat.onnx",
    }


def _ecg_csv(path: Path, lead: str, fs: float = 250.0, seed: int = 3) -> Record:
    syn = synthetic_ecg(duration_s=30.0, fs=fs, heart_rate_bpm=75.0, seed=seed)
    record = Record(name=path.stem, signal=syn.signal, fs=syn.fs, leads=[lead])
    write_csv(record, path)
    return record


# ---------------------------------------------------------------------------------------- fp32 export


def test_fp32_record_export_matches_torch_on_any_length(work: dict[str, Path]) -> None:
    from leanecg.package.model import load_model_package
    from leanecg.package.ort_runtime import load_onnx_package

    tp, op = load_model_package(work["rec"]), load_onnx_package(work["rec_onnx"])
    rng = np.random.default_rng(9)
    X = [rng.standard_normal((1, n)).astype(np.float32) for n in (900, 4500, 4500, 7777, 64)]
    expected, got = tp.predict_inputs(X, batch_size=2), op.predict_inputs(X, batch_size=2)
    assert got.shape == (5, 4) and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, atol=2e-5)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-9)
    assert np.ptp(got[:, 0]) > 1e-4  # the inputs give different outputs
    # batching does not change the results
    np.testing.assert_allclose(op.predict_inputs(X, batch_size=64), got, atol=1e-6)
    assert op.backend.runtime == "onnxruntime" and tp.backend.runtime == "torch"
    with pytest.raises(LeanECGError, match="no torch model"):
        _ = op.model


def test_metadata_in_sidecar_and_optionally_in_file(work: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    import onnx

    from leanecg.package.ort_runtime import META_KEY, load_onnx_package, sidecar_path

    pkg_meta = json.loads((work["rec"] / "model.json").read_text())
    proto = onnx.load(str(work["rec_onnx"]))
    assert len(proto.metadata_props) == 0  # default: metadata in the sidecar only
    meta = json.loads(sidecar_path(work["rec_onnx"]).read_text())
    for key in ("pipeline", "class_names", "input", "metrics", "provenance", "task", "package", "licence"):
        assert meta[key] == pkg_meta[key], key
    assert meta["onnx"]["precision"] == "fp32" and meta["onnx"]["quantization"] is None
    assert meta["onnx"]["dynamic_axes"] == ["batch", "n_samples"]
    assert meta["onnx"]["check_vs_torch"]["max_abs_prob_diff"] < 1e-4
    assert meta["onnx"]["metadata_embedded"] is False
    assert meta["data"]["test_records"] == ["r1", "r2"]
    assert meta["onnx"]["file"] == "rec.onnx" and len(meta["onnx"]["sha256"]) == 64
    assert "tensors" not in meta and "weights_file" not in meta  # the torch checkpoint's own fields
    assert meta["onnx"]["source_package"]["weights_sha256"] == pkg_meta["weights_sha256"]
    # --embed-metadata: the same metadata in the file (split id lists: sidecar only)
    beat = onnx.load(str(work["beat_onnx"]))
    embedded = json.loads({p.key: p.value for p in beat.metadata_props}[META_KEY])
    side = json.loads(sidecar_path(work["beat_onnx"]).read_text())
    assert embedded["onnx"]["metadata_embedded"] is True and "test_records" not in embedded["data"]
    assert {k: v for k, v in side.items() if k not in ("data", "onnx")} == {
        k: v for k, v in embedded.items() if k not in ("data", "onnx")
    }
    lone = tmp_path / "lone.onnx"  # embedded: the file alone is a package; without: it needs its sidecar
    shutil.copy(work["beat_onnx"], lone)
    assert load_onnx_package(lone).class_names == side["class_names"]
    shutil.copy(work["rec_onnx"], lone)
    with pytest.raises(LeanECGError, match="without LeanECG metadata"):
        load_onnx_package(lone)
    shutil.copy(sidecar_path(work["beat_onnx"]), sidecar_path(lone))  # another file's sidecar
    with pytest.raises(LeanECGError, match="SHA-256 differs"):
        load_onnx_package(lone)


def test_graph_is_compacted(work: dict[str, Path]) -> None:
    """Only what runs the graph is shipped: no exporter metadata, shape annotations, node names or
    default attributes; short tensor names; inputs ``x`` (+ ``features``), output ``logits``."""
    import onnx

    for key in ("rec_onnx", "rec_int8", "beat_onnx"):
        proto = onnx.load(str(work[key]))
        graph = proto.graph
        assert len(graph.metadata_props) == 0 and len(graph.value_info) == 0, key
        assert all(len(n.metadata_props) == 0 and not n.name and not n.doc_string for n in graph.node)
        assert all(len(t.name) <= 2 for t in graph.initializer)
        assert [o.name for o in graph.output] == ["logits"]
        assert {o.domain for o in proto.opset_import} == {""}
        for node in graph.node:
            if node.op_type == "Conv":
                assert {a.name for a in node.attribute} <= {"pads", "strides", "group", "dilations"}
    inputs = {
        i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
        for i in onnx.load(str(work["rec_onnx"])).graph.input
    }
    assert inputs == {"x": ["batch", 1, "n_samples"]}


def test_batchnorm_before_gemm_is_folded() -> None:
    """``BatchNormalization -> Gemm`` becomes one ``Gemm`` computing the same values."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from leanecg.deploy.onnx import compact_onnx, fold_batchnorm_into_gemm

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.uniform(0.5, 2, 6).astype(np.float32), "gamma"),
        numpy_helper.from_array(rng.standard_normal(6).astype(np.float32), "beta"),
        numpy_helper.from_array(rng.standard_normal(6).astype(np.float32), "mean"),
        numpy_helper.from_array(rng.uniform(0.5, 2, 6).astype(np.float32), "var"),
        numpy_helper.from_array(rng.standard_normal((3, 6)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "c"),
    ]
    nodes = [
        helper.make_node("BatchNormalization", ["f", "gamma", "beta", "mean", "var"], ["n"], epsilon=1e-3),
        helper.make_node("Gemm", ["n", "W", "c"], ["y"], transB=1, alpha=0.5, beta=2.0),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("f", TensorProto.FLOAT, ["b", 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 3])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    f = rng.standard_normal((5, 6)).astype(np.float32)

    def run(m: object) -> np.ndarray:
        return ort.InferenceSession(m.SerializeToString()).run(None, {"f": f})[0]  # type: ignore[attr-defined]

    want = run(model)
    fold_batchnorm_into_gemm(model.graph)
    compact_onnx(model)
    assert [n.op_type for n in model.graph.node] == ["Gemm"] and len(model.graph.initializer) == 2
    np.testing.assert_allclose(run(model), want, rtol=1e-5, atol=1e-5)


def test_int8_export_is_quantized_smaller_and_agrees(work: dict[str, Path]) -> None:
    import onnx

    from leanecg.package.ort_runtime import load_onnx_package, sidecar_path

    proto = onnx.load(str(work["rec_int8"]))
    ops = {n.op_type for n in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    int8_weights = [
        t for t in proto.graph.initializer if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 3
    ]
    assert len(int8_weights) >= 5
    inits = {t.name: t for t in proto.graph.initializer}
    weight_dq = [n for n in proto.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits]
    per_channel = [
        inits[n.input[1]] for n in weight_dq if inits[n.input[0]].data_type == onnx.TensorProto.INT8
    ]
    assert per_channel and all(len(t.dims) == 1 and t.dims[0] > 1 for t in per_channel)
    assert all(len(n.input) == 2 for n in weight_dq)  # symmetric: the all-zero zero points are dropped
    assert proto.graph.node[-1].op_type == "Gemm"  # the logits' quantize-dequantize pair is dropped
    # every conv weight is int8 except the first convolution's (on the signal), kept fp32
    first = next(n for n in proto.graph.node if n.op_type == "Conv" and "x" in n.input)
    kept = [
        t for t in proto.graph.initializer if t.name in first.input and t.data_type == onnx.TensorProto.FLOAT
    ]
    kept = [t for t in kept if len(t.dims) == 3]  # the weight (the bias is fp32 for every layer)
    assert len(kept) == 1
    fp32_weights = [t for t in onnx.load(str(work["rec_onnx"])).graph.initializer if len(t.dims) == 3]
    n_int8 = sum(np.prod(t.dims) for t in int8_weights)
    assert n_int8 + np.prod(kept[0].dims) == sum(np.prod(t.dims) for t in fp32_weights)
    assert work["rec_int8"].stat().st_size < work["rec_onnx"].stat().st_size
    meta = json.loads(sidecar_path(work["rec_int8"]).read_text())
    q = meta["onnx"]["quantization"]
    assert (
        meta["onnx"]["precision"] == "int8"
        and q["format"] == "QDQ"
        and q["fp32_layers"].startswith("the first")
    )
    assert q["calibration"] == {"split": "synthetic"} and q["calibration_method"] == "percentile"
    fp, q8 = load_onnx_package(work["rec_onnx"]), load_onnx_package(work["rec_int8"])
    rng = np.random.default_rng(11)
    X = [rng.standard_normal((1, 1500 + 10 * i)).astype(np.float32) for i in range(30)]
    p_fp, p_q = fp.predict_inputs(X), q8.predict_inputs(X)
    assert np.max(np.abs(p_fp - p_q)) < 0.05
    assert not np.array_equal(p_fp, p_q)  # it really runs another (quantized) graph


def test_record_model_with_record_features(tmp_path: Path) -> None:
    """wide-and-deep: the record features are computed by the package's numpy code for both runtimes."""
    from leanecg.deploy.onnx import export_onnx
    from leanecg.package.model import load_model_package
    from leanecg.package.ort_runtime import load_onnx_package

    folder = record_features_package(tmp_path / "wd")
    report = export_onnx(folder, tmp_path / "wd.onnx")
    assert report.check["max_abs_prob_diff"] < 1e-4
    tp, op = load_model_package(folder), load_onnx_package(report.path)
    assert op.backend.takes_features and op.input["features"] == tp.input["features"]
    records = [
        Record(
            name=f"r{k}",
            signal=synthetic_ecg(duration_s=d, fs=250.0, seed=10 + k).signal,
            fs=250.0,
            leads=["ECG"],
        )
        for k, d in enumerate((15.0, 22.0))
    ]
    want, got = tp.predict_records(records), op.predict_records(records)
    np.testing.assert_allclose(got, want, atol=2e-5)


def test_int8_export_of_beat_model_with_features(work: dict[str, Path], tmp_path: Path) -> None:
    from leanecg.deploy.onnx import CalibrationSet, export_onnx
    from leanecg.package.model import load_model_package
    from leanecg.package.ort_runtime import load_onnx_package

    tp = load_model_package(work["beat"])
    rng = np.random.default_rng(4)
    n_win = int(tp.input["n_samples"])
    calib = CalibrationSet(
        X=rng.standard_normal((200, 1, n_win)).astype(np.float32),
        features=rng.uniform(0.5, 1.5, (200, len(tp.input["features"]))).astype(np.float32),
    )
    report = export_onnx(tp, tmp_path / "beat.int8.onnx", int8=True, calibration=calib)
    assert report.precision == "int8" and report.check["n_inputs"] == 64
    assert report.check["label_agreement"] >= 0.9
    op = load_onnx_package(report.path)
    got = op.backend.proba(calib.X[:50], calib.features[:50], 16, False)
    want = tp.backend.proba(calib.X[:50], calib.features[:50], 16, False)
    assert np.mean(got.argmax(1) == want.argmax(1)) >= 0.9


def test_beats_same_as_torch_package(work: dict[str, Path], tmp_path: Path) -> None:
    from leanecg.package.model import load_model_package
    from leanecg.package.ort_runtime import load_onnx_package

    record = _ecg_csv(tmp_path / "ecg.csv", "II")
    tp, op = load_model_package(work["beat"]), load_onnx_package(work["beat_onnx"])
    a, b = tp.predict_beats(record), op.predict_beats(record)
    assert len(a.samples) >= 30
    np.testing.assert_array_equal(a.samples, b.samples)
    np.testing.assert_allclose(a.probs, b.probs, atol=2e-5)
    assert a.labels == b.labels
    with pytest.raises(LeanECGError, match="classifies beats, not records"):
        op.predict_records([record])


# ---------------------------------------------------------------------------------------- torch-free


_BLOCKED_RUN = """
import importlib.abc, json, sys

class BlockTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
        return None

sys.meta_path.insert(0, BlockTorch())
try:
    import torch  # noqa: F401
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("torch was importable")

from leanecg.data import load_record
from leanecg.package.ort_runtime import load_onnx_package

rec = load_onnx_package(sys.argv[1], threads=1)
beat = load_onnx_package(sys.argv[2], threads=1)
probs = rec.predict_records([load_record(sys.argv[3])])
beats = beat.predict_beats(load_record(sys.argv[4]))
assert not any(m == "torch" or m.startswith("torch.") for m in sys.modules), "torch was imported"
print(json.dumps({"probs": probs.tolist(), "labels": rec.labels_of(probs),
                  "samples": beats.samples.tolist(), "beat_probs": beats.probs.tolist()}))
"""


def test_onnx_package_runs_without_torch(work: dict[str, Path], tmp_path: Path) -> None:
    from leanecg.package.model import load_model_package

    rec_csv, beat_csv = tmp_path / "rec.csv", tmp_path / "beat.csv"
    rec_record, beat_record = _ecg_csv(rec_csv, "ECG", seed=5), _ecg_csv(beat_csv, "II", seed=6)
    script = tmp_path / "blocked.py"
    script.write_text(textwrap.dedent(_BLOCKED_RUN))
    args = [str(work["rec_int8"]), str(work["beat_onnx"]), str(rec_csv), str(beat_csv)]
    proc = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    torch_beats = load_model_package(work["beat"]).predict_beats(beat_record)
    assert out["samples"] == torch_beats.samples.tolist()
    np.testing.assert_allclose(out["beat_probs"], torch_beats.probs, atol=2e-5)
    torch_rec = load_model_package(work["rec"]).predict_records([rec_record])
    np.testing.assert_allclose(out["probs"], torch_rec, atol=0.05)  # int8 vs fp32
    assert len(out["labels"]) == 1 and out["labels"][0] in ("N", "A", "O", "~")


# ---------------------------------------------------------------------------------------- errors


def test_load_errors(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    from leanecg.package.ort_runtime import load_onnx_package

    with pytest.raises(LeanECGError, match="not found"):
        load_onnx_package(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_text("not a model")
    with pytest.raises(LeanECGError, match="not a readable ONNX model"):
        load_onnx_package(junk)
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 10])],
    )
    plain = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(plain))
    with pytest.raises(LeanECGError, match="without LeanECG metadata"):
        load_onnx_package(plain)


def test_export_argument_errors(work: dict[str, Path], tmp_path: Path) -> None:
    from leanecg.deploy.onnx import export_onnx

    with pytest.raises(LeanECGError, match=r"must end in \.onnx"):
        export_onnx(work["rec"], tmp_path / "model.pt")
    with pytest.raises(LeanECGError, match="is a file"):
        export_onnx(work["rec_onnx"], tmp_path / "again.onnx")
    with pytest.raises(LeanECGError, match="unknown method"):
        export_onnx(work["rec"], tmp_path / "m.onnx", int8=True, calibrate_method="magic")
    empty = tmp_path / "empty_data"
    empty.mkdir()
    with pytest.raises(LeanECGError, match="int8 calibration needs the cinc2017 training data"):
        export_onnx(work["rec"], tmp_path / "m.onnx", int8=True, data_dir=empty)
    assert not (tmp_path / "m.onnx").exists()


# ---------------------------------------------------------------------------------------- CLI


def _one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_cli_export_predict_and_beats(work: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "cli.onnx"
    proc = run_cli(["export", str(work["rec"]), "--format", "onnx", "--out", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert out.is_file() and (tmp_path / "cli.onnx.json").is_file()
    assert "fp32" in proc.stderr and "label agreement 100.0%" in proc.stderr
    _ecg_csv(tmp_path / "rec.csv", "ECG")
    proc = invoke_cli(
        ["predict", "rec.csv", "--model", str(out), "--out", "pred.csv", "--fs", "250"], tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "pred.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["record", "label", "prob_N", "prob_A", "prob_O", "prob_noise"] and len(rows) == 2
    _ecg_csv(tmp_path / "beat.csv", "II")
    proc = invoke_cli(
        ["beats", "beat.csv", "--model", str(work["beat_onnx"]), "--out", "beats.csv"], tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "beats.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["sample", "label", "prob_N", "prob_S", "prob_V", "prob_F"] and len(rows) > 30


def test_cli_errors(work: dict[str, Path], tmp_path: Path) -> None:
    _ecg_csv(tmp_path / "rec.csv", "ECG")
    (tmp_path / "junk.onnx").write_bytes(b"\x00\x01garbage")
    empty = tmp_path / "nodata"
    empty.mkdir()
    predict = ["predict", "rec.csv", "--out", "p.csv", "--model"]
    _one_line_error(invoke_cli([*predict, "missing.onnx"], tmp_path), "missing.onnx", "not found")
    _one_line_error(invoke_cli([*predict, "junk.onnx"], tmp_path), "junk.onnx", "not a readable ONNX model")
    _one_line_error(
        invoke_cli(["beats", "rec.csv", "--out", "b.csv", "--model", str(work["rec_onnx"])], tmp_path),
        "classifies records, not beats",
    )
    export = ["export", str(work["rec"]), "--out"]
    _one_line_error(
        invoke_cli([*export, "x.onnx", "--int8", "--data-dir", str(empty)], tmp_path),
        "int8 calibration needs the cinc2017 training data",
        "leanecg data fetch cinc2017",
    )
    _one_line_error(invoke_cli([*export, "x.onnx", "--format", "tflite"], tmp_path), "--format", "tflite")
    _one_line_error(invoke_cli([*export, "x.pt"], tmp_path), "x.pt", ".onnx")
    assert not (tmp_path / "x.onnx").exists()


# ---------------------------------------------------------------------------------------- real data


def test_training_calibration_uses_the_task_train_split(
    work: dict[str, Path], shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leanecg.deploy.onnx import training_calibration
    from leanecg.package.model import load_model_package
    from leanecg.tasks import get_task

    monkeypatch.setenv("LEANECG_CACHE", str(tmp_path / "cache"))
    pkg = load_model_package(work["rec"])  # a --tiny package: the tiny training subset
    calib = training_calibration(pkg, shared_data, n=10, seed=3)
    train = get_task("cinc2017").load(shared_data, tiny=True).train
    assert calib.info == {
        "task": "cinc2017",
        "split": "train",
        "n_inputs": 10,
        "n_split": len(train),
        "seed": 3,
        "split_seed": 0,
        "tiny": True,
    }
    assert calib.features is None  # LiteNet takes no features
    train_arrays = {x.tobytes() for x in train.X}
    assert all(x.tobytes() in train_arrays for x in calib.X)
    assert training_calibration(pkg, shared_data, n=10, seed=3).X[0].tobytes() == calib.X[0].tobytes()
