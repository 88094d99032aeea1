"""benchmarks/latency_cinc2017.py --onnx: the forward pass of a shipped package and of ResNet-1D, both exported
in the same run, timed in one-thread ONNX Runtime sessions."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")


def test_the_onnx_runtime_ratio_is_measured_on_both_models_exported_in_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from conftest import REPO, load_benchmark

    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    script = load_benchmark("latency_cinc2017.py")
    r = script.measure_onnx(REPO / "src/leanecg/zoo/mitdb-aami", rounds=2, repeats=5)
    assert r["repeats_per_round"] == 5 and len(r["ratios"]) == 2
    assert all(math.isfinite(x) and x > 0 for x in r["ratios"])
    assert r["latency_ms_median"] > 0 and r["reference_latency_ms_median"] > 0
    # a 17 k-parameter network is faster than ResNet-1D on the same input in any run
    assert r["ratio_median"] < 1.0


def test_a_tree_package_gets_its_end_to_end_in_onnx_runtime_and_writes_both_runtimes_to_its_cost(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """The shipped cinc2017 boosters run as ONNX's tree operator: far under ResNet-1D's forward pass; their
    end to end (record features in every call) costs more than the forward pass alone; ``--write-cost`` stores
    both runtimes' figures in a copy of the package and its card."""
    import json
    import shutil

    from conftest import REPO, load_benchmark

    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    script = load_benchmark("latency_cinc2017.py")
    pkg = tmp_path / "cinc2017"
    shutil.copytree(REPO / "src/leanecg/zoo/cinc2017", pkg)
    r = script.measure_onnx(pkg, rounds=2, repeats=3)
    assert r["end_to_end"]["reference_latency_ms_median"] > 0
    e = r["end_to_end"]
    assert len(e["ratios"]) == 2 and e["latency_ms_median"] > r["latency_ms_median"] > 0
    assert r["ratio_median"] < 0.05  # trees in ONNX Runtime's native kernel, not a traversal of small ops
    forward = {
        "latency_ms_median": 2.0,
        "reference_latency_ms_median": 20.0,
        "ratio_median": 0.1,
        "ratios": [0.1],
    }
    torch_e2e = {"latency_ms_median": 9.0, "ratio_median": 0.45}
    script._write_cost(pkg, {"rounds": 1, "forward": forward, "end_to_end": torch_e2e, "onnx_runtime": r})
    cost = json.loads((pkg / "model.json").read_text(encoding="utf-8"))["cost"]
    assert cost["onnx_latency_ratio_vs_reference"] == r["ratio_median"]
    assert cost["onnx_end_to_end_ratio_vs_reference"] == e["ratio_median"]
    assert cost["end_to_end_ratio_vs_reference"] == 0.45 and cost["latency_ratio_vs_reference"] == 0.1
    card = (pkg / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "In ONNX Runtime fp32" in card and "End to end with the record features: torch 9.000 ms" in card
