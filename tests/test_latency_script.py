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
