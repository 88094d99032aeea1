"""The shipped models as ONNX (issue 13, item 2): each shipped package holds fp32 and int8 ONNX files written
from its current weights (``python benchmarks/export_shipped_onnx.py``), the inference commands run them
with ONNX Runtime, and their outputs agree with the torch model's on real records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from leanecg.package import (
    EXPORT_COMMAND,
    ONNX_FILES,
    list_shipped,
    load_inference_package,
    onnx_status,
    shipped_path,
)

SHIPPED = [s["name"] for s in list_shipped()]


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("precision", list(ONNX_FILES))
def test_shipped_onnx_files_are_in_sync(name: str, precision: str) -> None:
    problem = onnx_status(shipped_path(name), precision)
    assert problem is None, f"{name}: {problem}; regenerate with `{EXPORT_COMMAND}`"


def test_inference_loader_prefers_onnx_and_falls_back_to_torch(tmp_path: Path) -> None:
    import json
    import shutil

    pkg = load_inference_package("mitdb-aami")
    assert pkg.backend.runtime == "onnxruntime" and pkg.path.name == "model.onnx"
    assert load_inference_package("mitdb-aami", precision="int8").path.name == "model.int8.onnx"
    assert load_inference_package("mitdb-aami", prefer="torch").backend.runtime == "torch"
    # weights changed without re-exporting: the stale ONNX file is not used
    copy = tmp_path / "pkg"
    shutil.copytree(shipped_path("mitdb-aami"), copy)
    meta = json.loads((copy / "model.onnx.json").read_text())
    meta["onnx"]["source_package"]["weights_sha256"] = "0" * 64
    (copy / "model.onnx.json").write_text(json.dumps(meta))
    assert "other weights" in (onnx_status(copy) or "")
    assert load_inference_package(copy).backend.runtime == "torch"
    (copy / "model.int8.onnx").unlink()
    assert "missing" in (onnx_status(copy, "int8") or "")


def _both(name: str) -> tuple:
    return (
        load_inference_package(name, prefer="torch"),
        load_inference_package(name),
        load_inference_package(name, precision="int8"),
    )


@pytest.mark.shared
def test_beats_onnx_agrees_with_torch_on_real_records(mitdb_dir: Path) -> None:
    from leanecg.data import load_record

    torch_pkg, fp32, int8 = _both("mitdb-aami")
    n = same_int8 = 0
    for rec in ("100", "208", "232"):  # 5 min of each: normal, many PVC / fusion, many APB
        record = load_record(mitdb_dir / rec, annotations=False)
        record = type(record)(
            name=record.name, signal=record.signal[: 300 * 360], fs=record.fs, leads=record.leads
        )
        t, o, q = (p.predict_beats(record) for p in (torch_pkg, fp32, int8))
        np.testing.assert_array_equal(t.samples, o.samples)
        np.testing.assert_allclose(o.probs, t.probs, atol=1e-4)
        assert o.labels == t.labels
        np.testing.assert_array_equal(q.samples, t.samples)
        same_int8 += sum(a == b for a, b in zip(q.labels, t.labels, strict=True))
        n += len(t.labels)
    assert n > 1000
    assert same_int8 / n >= 0.97  # int8: a few borderline beats may flip


@pytest.mark.shared
def test_rhythm_onnx_agrees_with_torch_on_real_records(shared_data: Path) -> None:
    from leanecg.data import get_dataset, load_record

    ds = get_dataset("cinc2017")
    if not ds.is_present(shared_data):
        pytest.skip("cinc2017 not in the data folder")
    names = ds.split(shared_data)["test"][:40]
    records = [load_record(ds.record_path(shared_data, r), annotations=False) for r in names]
    torch_pkg, fp32, int8 = _both("cinc2017")
    t, o, q = (p.predict_records(records) for p in (torch_pkg, fp32, int8))
    np.testing.assert_allclose(o, t, atol=1e-4)
    assert fp32.labels_of(o) == torch_pkg.labels_of(t)
    agree = np.mean(np.argmax(q, axis=1) == np.argmax(t, axis=1))
    assert agree >= 0.9


def test_the_shipped_int8_files_quantize_the_network_and_leave_the_trees_float(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """int8 of the beat network quantizes its layers; the cinc2017 boosters (one ``TreeEnsemble`` node each)
    have nothing to quantize, which ``benchmarks/int8_onnx.py`` reports (``int8_quantized_nodes``)."""
    pytest.importorskip("onnx")
    import onnx

    from conftest import REPO, load_benchmark

    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    script = load_benchmark("int8_onnx.py")
    assert script._quantized_nodes(shipped_path("mitdb-aami") / "model.int8.onnx") > 0
    trees = shipped_path("cinc2017") / "model.int8.onnx"
    assert script._quantized_nodes(trees) == 0
    assert "TreeEnsemble" in [n.op_type for n in onnx.load(str(trees)).graph.node]
