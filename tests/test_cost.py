"""The cost meter: timer, sizes, peak memory, measure_cost (torch) and measure_onnx_cost (ONNX Runtime).

Timing assertions are structural or use ratios far from 1 (a model with ~100x the MACs timed interleaved
with a tiny one), never tight absolute bounds.
"""

from __future__ import annotations

import io
import json
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from leanecg.errors import LeanECGError
from leanecg.evaluate.cost import (
    CostReport,
    count_macs,
    int8_estimate_bytes,
    measure_cost,
    measure_onnx_cost,
    state_dict_fp32_bytes,
    torch_peak_memory,
)
from leanecg.evaluate.timing import TimingStats, compare_timings, estimate_repeats, time_callable

FS = 250.0

# --------------------------------------------------------------------------------------------------
# Timer
# --------------------------------------------------------------------------------------------------


def test_timing_stats_from_known_samples() -> None:
    # samples 1..100 s: median 50.5, mean 50.5, p25 25.75, p75 75.25 -> IQR 49.5, p99 99.01 (linear)
    stats = TimingStats.from_samples([float(i) for i in range(1, 101)])
    assert stats.median == pytest.approx(50.5)
    assert stats.mean == pytest.approx(50.5)
    assert stats.iqr == pytest.approx(49.5)
    assert stats.p99 == pytest.approx(99.01)
    assert stats.min == 1.0 and stats.n == 100
    d = stats.to_dict("ms")
    assert d["median_ms"] == pytest.approx(50500.0) and d["n"] == 100
    with pytest.raises(LeanECGError):
        stats.to_dict("minutes")


def test_time_callable_measures_seconds_per_call() -> None:
    calls = []

    def work() -> None:
        calls.append(1)
        time.sleep(0.002)

    stats = time_callable(work, repeats=5, warmup=2, number=2)
    assert len(calls) == 2 + 5 * 2  # warm-up calls are made but not timed
    assert stats.n == 5 and len(stats.samples) == 5
    assert stats.median >= 0.002  # per call, not per repeat of 2 calls
    assert stats.min <= stats.median <= stats.p99
    assert stats.iqr >= 0


def test_time_callable_stops_at_max_seconds_and_checks_arguments() -> None:
    stats = time_callable(lambda: time.sleep(0.01), repeats=1000, warmup=0, max_seconds=0.05)
    assert 3 <= stats.n < 1000
    for bad in ({"repeats": 0}, {"warmup": -1}, {"number": 0}):
        with pytest.raises(LeanECGError):
            time_callable(lambda: None, **bad)  # type: ignore[arg-type]


def test_compare_timings_interleaves_and_gives_ratios() -> None:
    order: list[str] = []
    fns = {"a": lambda: order.append("a"), "b": lambda: order.append("b")}
    compare_timings(fns, repeats=4, warmup=0)
    assert "".join(order) == "abbaabba"  # ABBA: order effects cancel

    def fast() -> None:
        time.sleep(0.001)

    def slow() -> None:
        time.sleep(0.004)

    out = compare_timings({"fast": fast, "slow": slow}, repeats=7, warmup=1, reference="fast")
    assert out["fast"].ratio == 1.0 and out["slow"].reference == "fast"
    assert out["slow"].ratio > 1.5  # ~4 in theory; sleep granularity makes it loose
    assert out["slow"].stats.median > out["fast"].stats.median
    sequential = compare_timings({"fast": fast, "slow": slow}, repeats=3, warmup=0, interleave=False)
    assert sequential["slow"].ratio > 1.5
    with pytest.raises(LeanECGError, match="reference"):
        compare_timings({"fast": fast}, reference="nope")


def test_estimate_repeats_clamps_to_the_budget() -> None:
    assert estimate_repeats(0.001, 1.0, 5, 1000) == 1000
    assert estimate_repeats(0.01, 1.0, 5, 1000) == 100
    assert estimate_repeats(10.0, 1.0, 5, 1000) == 5
    assert estimate_repeats(0.0, 1.0, 5, 50) == 50


# --------------------------------------------------------------------------------------------------
# Small models
# --------------------------------------------------------------------------------------------------


def tiny_net(leads: int = 2) -> nn.Module:
    # conv: L_out = n (padding 1) * 4 * (leads * 3); head: 4 * 3
    return nn.Sequential(
        nn.Conv1d(leads, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(4, 3)
    )


def big_net(leads: int = 2) -> nn.Module:
    # ~100x the MACs of tiny_net at the same input
    return nn.Sequential(
        nn.Conv1d(leads, 32, 7, padding=3),
        nn.ReLU(),
        nn.Conv1d(32, 32, 7, padding=3),
        nn.ReLU(),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(32, 3),
    )


class DenseNet(nn.Module):
    """Linear layers only (flattened input)."""

    def __init__(self, leads: int = 2, n: int = 50) -> None:
        super().__init__()
        self.fc1 = nn.Linear(leads * n, 32)
        self.fc2 = nn.Linear(32, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


class AttentionNet(nn.Module):
    def __init__(self, leads: int = 2) -> None:
        super().__init__()
        self.proj = nn.Conv1d(leads, 16, 1)
        self.attn = nn.MultiheadAttention(16, 4, batch_first=True)
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.proj(x).transpose(1, 2)
        a, _ = self.attn(h, h, h, need_weights=False)
        return self.head(a.mean(1))


# --------------------------------------------------------------------------------------------------
# Sizes and memory
# --------------------------------------------------------------------------------------------------


def test_fp32_size_is_the_saved_state_dict_and_int8_estimate_substitutes_weights() -> None:
    model = nn.Sequential(nn.Linear(100, 10), nn.BatchNorm1d(10))
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    fp32 = state_dict_fp32_bytes(model)
    assert fp32 == buf.getbuffer().nbytes
    # weight 10x100: 4000 fp32 bytes -> 1000 int8 bytes + 10 fp32 scales (40 bytes); all else unchanged
    assert int8_estimate_bytes(model) == fp32 - 4000 + 1000 + 40
    # a float64 model is sized as fp32
    assert state_dict_fp32_bytes(nn.Linear(100, 10).double()) == state_dict_fp32_bytes(nn.Linear(100, 10))


def test_torch_peak_memory_counts_activations_exactly() -> None:
    model = nn.Sequential(nn.Conv1d(1, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool1d(1)).eval()
    x = torch.zeros(1, 1, 10_000)
    peak = torch_peak_memory(model, x)
    # weights 32*3 + 32 floats; input 10000 floats
    assert peak.breakdown["weights_bytes"] == (32 * 3 + 32) * 4
    assert peak.breakdown["input_bytes"] == 40_000
    # conv output and ReLU output (32 x 10000 float32 = 1.28 MB each) are alive together
    assert peak.breakdown["transient_bytes"] >= 2 * 1_280_000
    assert peak.breakdown["transient_bytes"] < 4 * 1_280_000
    assert peak.total_bytes == sum(peak.breakdown.values())
    assert torch_peak_memory(model, x).total_bytes == peak.total_bytes  # deterministic


def test_profiler_chatter_is_filtered_but_other_stderr_kept(capfd: pytest.CaptureFixture[str]) -> None:
    from leanecg.evaluate.cost.memory import _filter_kineto_stderr

    with _filter_kineto_stderr():
        os.write(2, b"USDT:2026-01-01 10:00:00 1:1 SyncActivityProfilerHandler.cpp:52] profiler_start\n")
        os.write(2, b"a warning the user must see\n")
    err = capfd.readouterr().err
    assert "a warning the user must see" in err
    assert "profiler_start" not in err


# --------------------------------------------------------------------------------------------------
# measure_cost (torch)
# --------------------------------------------------------------------------------------------------


def test_measure_cost_report_is_consistent() -> None:
    model = tiny_net().train()
    threads = torch.get_num_threads()
    report = measure_cost(model, (2, 500), fs=FS, repeats=15, warmup=2, throughput_batch=8)
    assert model.training and torch.get_num_threads() == threads  # both restored
    assert report.backend == "torch" and report.threads == 1
    assert report.params == (2 * 4 * 3 + 4) + (4 * 3 + 3)
    assert report.macs == 500 * 4 * 6 + 12 == count_macs(model, (2, 500)).total
    assert report.macs_uncounted_ops == ()
    assert report.bytes_fp32 > 4 * report.params
    assert report.bytes_int8_method == "estimate"
    assert report.bytes_int8 is not None and report.bytes_int8 < report.bytes_fp32
    assert report.peak_memory_bytes is not None
    assert report.peak_memory_bytes >= 4 * report.params + 4 * 1000  # weights + the input at least
    assert report.latency_repeats == 15 and report.throughput_batch_size == 8
    assert 0 < report.latency_ms_median <= report.latency_ms_p99
    assert report.signal_s == 2.0
    assert report.real_time_factor == pytest.approx(2.0 / (report.latency_ms_median / 1e3))
    assert report.throughput_per_s > 0
    assert report.latency_ratio_vs_reference is None and report.reference is None

    d = report.to_dict()
    json.dumps(d)  # JSON-able
    for key in ("params", "macs", "bytes_fp32", "bytes_int8", "peak_memory_bytes", "latency_ms_median",
                "latency_ms_p99", "throughput_per_s", "real_time_factor", "latency_ratio_vs_reference"):  # fmt: skip
        assert key in d
    assert d["input_shape"] == [2, 500]


def test_bigger_model_is_slower_against_reference() -> None:
    big, tiny = big_net(), tiny_net()
    macs_big, macs_tiny = count_macs(big, (2, 2000)).total, count_macs(tiny, (2, 2000)).total
    assert macs_big > 100 * macs_tiny
    report = measure_cost(
        big, (2, 2000), fs=FS, reference=tiny, repeats=15, warmup=2, throughput_batch=4, measure_memory=False
    )
    assert report.reference == "Sequential" and report.reference_latency_ms_median is not None
    assert report.latency_ratio_vs_reference is not None and report.latency_ratio_vs_reference > 2.0
    assert report.latency_ms_median > report.reference_latency_ms_median
    assert report.peak_memory_bytes is None and report.peak_memory_method is None


def test_measure_cost_budget_keeps_small_models_fast() -> None:
    start = time.perf_counter()
    report = measure_cost(tiny_net(), (2, 500), fs=FS, budget_s=0.3)
    assert time.perf_counter() - start < 10.0  # generous: a shared 2-core CI machine
    assert report.latency_repeats >= 10  # the floor of the repeat plan


def test_measure_cost_int8_file_and_argument_errors(tmp_path: Path) -> None:
    q = tmp_path / "model.int8.onnx"
    q.write_bytes(b"\0" * 1234)
    report = measure_cost(tiny_net(), (2, 100), fs=FS, int8_bytes=q, repeats=3, measure_memory=False)
    assert report.bytes_int8 == 1234 and report.bytes_int8_method == "measured: model.int8.onnx"
    assert (
        measure_cost(tiny_net(), (2, 100), FS, int8_bytes=False, repeats=3, measure_memory=False).bytes_int8
        is None
    )

    with pytest.raises(LeanECGError, match="int8"):
        measure_cost(tiny_net(), (2, 100), FS, int8_bytes=tmp_path / "missing.onnx")
    with pytest.raises(LeanECGError, match="fs"):
        measure_cost(tiny_net(), (2, 100), fs=0)
    with pytest.raises(LeanECGError, match="input_shape"):
        measure_cost(tiny_net(), (2, 0), fs=FS)
    with pytest.raises(LeanECGError, match="input_shape"):
        measure_cost(tiny_net(), (5, 100), fs=FS)  # the model takes 2 leads
    with pytest.raises(LeanECGError, match="model"):
        measure_cost("not a model", (2, 100), fs=FS)  # type: ignore[arg-type]


def test_report_to_json_roundtrip(tmp_path: Path) -> None:
    report = measure_cost(tiny_net(), (2, 100), fs=FS, repeats=3, measure_memory=False)
    out = tmp_path / "cost.json"
    report.to_json(out)
    assert json.loads(out.read_text()) == json.loads(json.dumps(report.to_dict()))
    assert isinstance(report, CostReport)


class FeatureNet(nn.Module):
    """Conv branch on the signal + linear branch on ``features`` (declared like LeanECG models)."""

    extra_inputs = ("features",)

    def __init__(self, leads: int = 2, n_features: int = 7) -> None:
        super().__init__()
        self.n_features = n_features
        self.conv = nn.Conv1d(leads, 4, 3, padding=1)
        self.feat = nn.Linear(n_features, 5)
        self.fc = nn.Linear(4 + 5, 3)

    def forward(self, x: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        deep = torch.relu(self.conv(x)).mean(-1)
        return self.fc(torch.cat([deep, torch.relu(self.feat(features))], dim=1))


def test_measure_cost_with_keyword_inputs() -> None:
    model = FeatureNet().train()
    report = measure_cost(
        model,
        (2, 500),
        FS,
        reference=tiny_net(),
        extra_inputs={"features": (7,)},
        repeats=10,
        throughput_batch=8,
    )
    assert model.training
    # conv (padding 1): 500 * 4 * (2 * 3) = 12000;  feat: 7 * 5 = 35;  fc: 9 * 3 = 27;  total 12062
    assert report.macs == 12062 and report.macs_uncounted_ops == ()
    assert report.macs_breakdown == {"conv": 12000, "feat": 35, "fc": 27}
    assert report.params == (2 * 4 * 3 + 4) + (7 * 5 + 5) + (9 * 3 + 3)
    assert report.peak_memory_breakdown is not None
    assert report.peak_memory_breakdown["input_bytes"] == 4 * (2 * 500 + 7)  # signal + features
    assert report.extra_input_shapes == {"features": (7,)} and report.reference_extra_input_shapes == {}
    assert report.latency_ratio_vs_reference is not None and report.latency_repeats == 10
    assert report.throughput_batch_size == 8 and report.throughput_per_s > 0
    d = report.to_dict()
    assert d["input_shape"] == [2, 500] and d["extra_input_shapes"] == {"features": [7]}
    assert json.loads(json.dumps(d))["extra_input_shapes"] == {"features": [7]}
    # a single-input model records none
    assert (
        measure_cost(tiny_net(), (2, 100), FS, repeats=3, measure_memory=False).to_dict()[
            "extra_input_shapes"
        ]
        == {}
    )


def test_measure_cost_reference_with_its_own_keyword_inputs() -> None:
    report = measure_cost(
        tiny_net(),
        (2, 300),
        FS,
        reference=FeatureNet(n_features=3),
        reference_extra_inputs={"features": (3,)},
        repeats=5,
        throughput_batch=4,
        measure_memory=False,
    )
    assert report.extra_input_shapes == {} and report.reference_extra_input_shapes == {"features": (3,)}
    assert report.reference == "FeatureNet" and report.reference_latency_ms_median is not None
    with pytest.raises(LeanECGError, match=r"needs reference_extra_inputs=\{'features': \(3,\)\}") as err:
        measure_cost(tiny_net(), (2, 300), FS, reference=FeatureNet(n_features=3), repeats=3)
    assert err.value.path == "reference"
    with pytest.raises(LeanECGError, match="without a reference"):
        measure_cost(tiny_net(), (2, 300), FS, reference_extra_inputs={"features": (3,)}, repeats=3)


def test_measure_cost_keyword_input_errors() -> None:
    with pytest.raises(LeanECGError, match=r"FeatureNet needs extra_inputs=\{'features': \(7,\)\}") as err:
        measure_cost(FeatureNet(), (2, 100), FS)
    assert err.value.path == "model"
    with pytest.raises(LeanECGError, match="does not take 'age_sex'"):
        measure_cost(FeatureNet(), (2, 100), FS, extra_inputs={"features": (7,), "age_sex": (2,)})
    with pytest.raises(LeanECGError, match="forward failed on inputs x \\(1, 2, 100\\), features \\(1, 7\\)"):
        measure_cost(
            tiny_net(), (2, 100), FS, extra_inputs={"features": (7,)}
        )  # Sequential takes no keywords
    with pytest.raises(LeanECGError, match="sequence of integers"):
        measure_cost(FeatureNet(), (2, 100), FS, extra_inputs={"features": 7})  # type: ignore[dict-item]
    with pytest.raises(LeanECGError, match=r"features \(1, 6\)") as err:
        measure_cost(FeatureNet(), (2, 100), FS, extra_inputs={"features": (6,)})
    assert err.value.path == "input_shape"


def test_measure_cost_beatnet_at_a_beat_window() -> None:
    from leanecg.models.registry import build_model, count_parameters

    # BeatNet's documented input: 0.25 s before to 0.45 s after the R peak; at MIT-BIH's 360 Hz
    # that is round(0.25 * 360) + round(0.45 * 360) = 90 + 162 = 252 samples (0.7 s), 7 RR features.
    fs, n = 360.0, 252
    # The architecture is spelled out (not the registry defaults) so the hand count below stays valid.
    model = build_model(
        "beatnet",
        n_leads=1,
        n_classes=4,
        n_features=7,
        channels=(16, 32, 48, 64),
        kernel_sizes=(9, 7, 5, 5),
        pool="avgmax",
        downsample="maxpool",
        input_norm=False,
    )
    assert model.extra_inputs == ("features",) and n >= model.min_samples
    with pytest.raises(LeanECGError, match=r"BeatNet needs extra_inputs=\{'features': \(7,\)\}"):
        measure_cost(model, (1, n), fs)
    report = measure_cost(model, (1, n), fs, extra_inputs={"features": (7,)}, repeats=10, throughput_batch=64)
    # Backbone: "same"-padded convs, stride-2 max-pools of length ceil(L / 2): 252 -> 126 -> 63 -> 32
    #   conv 1 -> 16, k 9:  252 * 16 * 1 * 9  =  36288
    #   conv 16 -> 32, k 7: 126 * 32 * 16 * 7 = 451584
    #   conv 32 -> 48, k 5:  63 * 48 * 32 * 5 = 483840
    #   conv 48 -> 64, k 5:  32 * 64 * 48 * 5 = 491520
    # Head: avg+max pool (128) + 7 standardised features -> Linear(135, 64) = 8640 -> Linear(64, 4) = 256
    # total 1472128
    assert report.macs == 36288 + 451584 + 483840 + 491520 + 8640 + 256 == 1472128
    assert report.macs_uncounted_ops == ()
    assert report.params == count_parameters(model) < 50_000
    assert report.signal_s == pytest.approx(0.7)
    assert report.extra_input_shapes == {"features": (7,)}
    assert report.peak_memory_breakdown is not None
    assert report.peak_memory_breakdown["input_bytes"] == 4 * (n + 7)
    assert report.throughput_batch_size == 64 and report.throughput_per_s > 0
    assert report.real_time_factor == pytest.approx(0.7 / (report.latency_ms_median / 1e3))


# --------------------------------------------------------------------------------------------------
# ONNX
# --------------------------------------------------------------------------------------------------


def _export(model: nn.Module, path: Path, leads: int, n: int, dynamic_time: bool = True) -> Path:
    model.eval()
    x = torch.randn(2, leads, n)  # batch 2: a batch of 1 would be specialised by torch.export
    dims: dict[int, torch.export.Dim] = {0: torch.export.Dim("batch", min=1, max=4096)}
    if dynamic_time:
        dims[2] = torch.export.Dim("time", min=16, max=1_000_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), dynamo=True, external_data=False, dynamic_shapes=(dims,))
    return path


@pytest.fixture(scope="module")
def onnx_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[nn.Module, Path]]:
    root = tmp_path_factory.mktemp("onnx")
    torch.manual_seed(0)
    conv, dense, attn = big_net(), DenseNet(), AttentionNet()
    return {
        "conv": (conv, _export(conv, root / "conv.onnx", 2, 300)),
        "dense": (dense, _export(dense, root / "dense.onnx", 2, 50, dynamic_time=False)),
        "attn": (attn, _export(attn, root / "attn.onnx", 2, 40)),
    }


@pytest.mark.parametrize(
    ("name", "n"), [("conv", 300), ("conv", 777), ("dense", 50), ("attn", 40), ("attn", 90)]
)
def test_onnx_macs_and_params_equal_torch(
    onnx_models: dict[str, tuple[nn.Module, Path]], name: str, n: int
) -> None:
    from leanecg.evaluate.cost import count_onnx_macs, onnx_params
    from leanecg.evaluate.cost.onnx_graph import load_onnx

    model, path = onnx_models[name]
    proto = load_onnx(path)
    onnx_count = count_onnx_macs(proto, (2, n))
    assert onnx_count.total == count_macs(model, (2, n)).total
    assert onnx_count.uncounted == ()
    if name != "attn":  # the exporter may fold attention biases into other constants
        assert onnx_params(proto) == sum(p.numel() for p in model.parameters())


def test_measure_onnx_cost(onnx_models: dict[str, tuple[nn.Module, Path]]) -> None:
    model, path = onnx_models["conv"]
    _, ref_path = onnx_models["attn"]
    report = measure_onnx_cost(
        path, (2, 300), fs=FS, reference=ref_path, repeats=5, warmup=1, throughput_batch=8
    )
    assert report.backend == "onnxruntime"
    assert report.macs == count_macs(model, (2, 300)).total
    assert report.params == sum(p.numel() for p in model.parameters())
    assert report.bytes_fp32 == path.stat().st_size
    assert report.bytes_int8 is not None and report.bytes_int8 < report.bytes_fp32
    assert report.throughput_batch_size == 8  # dynamic batch axis
    assert 0 < report.latency_ms_median <= report.latency_ms_p99
    assert report.latency_ratio_vs_reference is not None and report.latency_ratio_vs_reference > 0
    assert report.reference == "attn.onnx"
    assert report.real_time_factor == pytest.approx(report.signal_s / (report.latency_ms_median / 1e3))
    assert report.peak_memory_bytes is not None and report.peak_memory_bytes > 0
    assert report.peak_memory_method is not None and report.peak_memory_method.startswith("ort-subprocess")
    assert report.environment["execution_provider"] == "CPUExecutionProvider"
    json.dumps(report.to_dict())


def test_onnx_peak_memory_grows_with_activations(onnx_models: dict[str, tuple[nn.Module, Path]]) -> None:
    from leanecg.evaluate.cost import onnx_peak_memory

    _, path = onnx_models["conv"]
    small = onnx_peak_memory(path, (1, 2, 100)).total_bytes
    large = onnx_peak_memory(path, (1, 2, 200_000)).total_bytes
    # one 32-channel float32 activation of 200k samples is 25.6 MB
    assert large - small > 20_000_000


def test_onnx_int8_file_counts_and_measured_size(
    onnx_models: dict[str, tuple[nn.Module, Path]], tmp_path: Path
) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from leanecg.evaluate.cost import count_onnx_macs, onnx_params
    from leanecg.evaluate.cost.onnx_graph import load_onnx, onnx_input

    model, path = onnx_models["conv"]
    name = onnx_input(load_onnx(path)).name
    rng = np.random.default_rng(0)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(
                [{name: rng.standard_normal((1, 2, 300)).astype(np.float32)} for _ in range(3)]
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    q_path = tmp_path / "conv.int8.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_static(str(path), str(q_path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)  # fmt: skip
    q = load_onnx(q_path)
    # the int8 graph does the same multiply-adds and holds the same weights (int8 + int32 biases)
    assert count_onnx_macs(q, (2, 300)).total == count_macs(model, (2, 300)).total
    assert onnx_params(q) == sum(p.numel() for p in model.parameters())
    report = measure_onnx_cost(path, (2, 300), FS, int8_bytes=q_path, repeats=3, measure_memory=False)
    assert report.bytes_int8 == q_path.stat().st_size
    assert report.bytes_int8_method == "measured: conv.int8.onnx"
    estimate = measure_onnx_cost(path, (2, 300), FS, repeats=3, measure_memory=False).bytes_int8
    assert estimate is not None and math.isclose(estimate, report.bytes_int8, rel_tol=0.5)


def test_onnx_fixed_batch_of_one_measures_throughput_at_one(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    # Conv 2 -> 4 channels, k 3 on 100 samples: L_out 98 * 4 * (2 * 3) = 2352 MACs; 24 + 0 params
    weight = numpy_helper.from_array(np.ones((4, 2, 3), dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"])],
        "fixed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, "time"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "fixed.onnx"
    onnx.save(model, str(path))
    report = measure_onnx_cost(path, (2, 100), fs=100.0, repeats=3, measure_memory=False)
    assert report.throughput_batch_size == 1
    assert report.macs == 2352 and report.params == 24
    assert report.signal_s == 1.0


def test_onnx_errors(onnx_models: dict[str, tuple[nn.Module, Path]], tmp_path: Path) -> None:
    _, dense = onnx_models["dense"]
    with pytest.raises(LeanECGError, match="not found"):
        measure_onnx_cost(tmp_path / "missing.onnx", (2, 50), FS)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(LeanECGError):
        measure_onnx_cost(bad, (2, 50), FS)
    with pytest.raises(LeanECGError, match="fixed axis 2 of 50"):
        measure_onnx_cost(dense, (2, 60), FS)  # exported with a fixed time axis
    with pytest.raises(LeanECGError, match="rank"):
        measure_onnx_cost(dense, (100,), FS)
