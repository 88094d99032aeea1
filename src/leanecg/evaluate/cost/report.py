"""The cost meter: parameters, MACs, size, peak memory, latency, throughput and real-time factor.

:func:`measure_cost` measures a torch ``nn.Module``; :func:`measure_onnx_cost` an ONNX file run by ONNX
Runtime. Both return a :class:`CostReport` whose :meth:`~CostReport.to_dict` is JSON-able, with units
in the key names.

Timing protocol (both backends): CPU, **one thread** (``torch.set_num_threads(1)``, restored
afterwards; ORT ``intra_op_num_threads = inter_op_num_threads = 1``, sequential execution, all graph
optimisations). Latency is per batch-1 call (median and p99 over single-call repeats, after warm-up);
throughput is ``batch / median time`` of batch-``throughput_batch`` calls (64 by default; 1 when an
ONNX model has a fixed batch of 1); the real-time factor is seconds of signal per second of compute at
batch 1 (``n_samples / fs / latency``). With a ``reference`` model, both are timed in the same run with
interleaved repeats (ABBA order) so machine noise hits both alike, and the ratio is the median of
per-round ratios (``> 1``: slower than the reference). Repeat counts follow a time budget (``budget_s``,
split 60/40 between latency and throughput) unless given, with floors of 10 latency and 3 throughput
repeats - so a large model (a batch of 64 taking a second) exceeds the budget rather than the
statistics becoming meaningless.

Models with keyword inputs besides the signal (``beatnet``, ``wide_deep``: ``features``, optionally
``age_sex``) are measured with ``extra_inputs={"features": (n_features,)}`` (shapes without the batch
axis): every call - MAC count, peak memory, latency, throughput - then gets them, see
:mod:`leanecg.evaluate.cost.inputs`. A model whose ``extra_inputs`` attribute names inputs that are
not given is refused with a :class:`~leanecg.errors.LeanECGError`.

MACs follow :mod:`leanecg.evaluate.cost.macs`; sizes :mod:`leanecg.evaluate.cost.size` /
:mod:`leanecg.evaluate.cost.onnx_graph`; peak memory :mod:`leanecg.evaluate.cost.memory`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import platform
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from leanecg.atomic import write_json
from leanecg.errors import LeanECGError
from leanecg.evaluate.cost.inputs import check_extra_inputs, describe_shapes, make_extra_inputs, model_dtype
from leanecg.evaluate.cost.macs import MacCount, count_macs
from leanecg.evaluate.cost.memory import MemoryPeak, onnx_peak_memory, torch_peak_memory
from leanecg.evaluate.cost.size import count_params, int8_estimate_bytes, state_dict_fp32_bytes
from leanecg.evaluate.timing import TimingStats, compare_timings, estimate_repeats, time_callable

__all__ = ["CostReport", "measure_cost", "measure_onnx_cost", "single_thread"]

_LATENCY_SHARE = 0.6
_LATENCY_REPEATS = (10, 1000)
_THROUGHPUT_REPEATS = (3, 200)


@dataclass(frozen=True)
class CostReport:
    """Cost of one model on one input shape. Units are in the field names; ``None`` = not measured.

    Attributes:
        backend: ``"torch"`` or ``"onnxruntime"``.
        input_shape: model input without the batch axis, e.g. ``(n_leads, n_samples)``.
        extra_input_shapes: keyword inputs besides the signal, ``{name: shape without the batch
            axis}`` (e.g. ``{"features": (7,)}`` for ``beatnet``); empty for single-input models.
        fs_hz: sampling rate of the signal (Hz).
        signal_s: seconds of signal in one input (``n_samples / fs``).
        params: parameter count (torch: ``model.parameters()``; ONNX: weight initializers).
        macs: multiply-accumulates of one batch-1 inference.
        bytes_fp32: size of the weights-only state_dict saved as fp32 (torch) / of the ONNX file.
        bytes_int8: int8 size, estimated (weights int8 + fp32 per-channel scales) or measured from a file.
        bytes_int8_method: ``"estimate"`` or ``"measured: <file name>"``.
        peak_memory_bytes: peak memory of one batch-1 inference (method in ``peak_memory_method``).
        peak_memory_method: what the peak memory counts, in words.
        peak_memory_breakdown: its components in bytes.
        latency_ms_median, latency_ms_p99, latency_ms_iqr: batch-1 latency statistics (ms).
        latency_repeats: number of timed batch-1 calls.
        throughput_per_s: examples per second at ``throughput_batch_size``.
        throughput_batch_size: batch size used for the throughput.
        real_time_factor: seconds of signal processed per second of compute at batch 1.
        latency_ratio_vs_reference: latency relative to the reference (``> 1``: slower).
        reference: name of the reference model timed in the same run.
        reference_latency_ms_median: the reference's median batch-1 latency (ms).
        reference_extra_input_shapes: the reference's keyword inputs (as ``extra_input_shapes``).
        threads: CPU threads used for timing (always 1).
        macs_breakdown: MACs per torch module path / ONNX node.
        macs_uncounted_ops: operators that may carry MACs but have no formula (empty = complete count).
        environment: versions and CPU, for reproducibility.
    """

    backend: str
    input_shape: tuple[int, ...]
    fs_hz: float
    signal_s: float
    params: int
    macs: int
    bytes_fp32: int
    bytes_int8: int | None
    bytes_int8_method: str | None
    peak_memory_bytes: int | None
    peak_memory_method: str | None
    peak_memory_breakdown: dict[str, int] | None
    latency_ms_median: float
    latency_ms_p99: float
    latency_ms_iqr: float
    latency_repeats: int
    throughput_per_s: float
    throughput_batch_size: int
    real_time_factor: float
    latency_ratio_vs_reference: float | None = None
    reference: str | None = None
    reference_latency_ms_median: float | None = None
    extra_input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    reference_extra_input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    threads: int = 1
    macs_breakdown: dict[str, int] = field(default_factory=dict)
    macs_uncounted_ops: tuple[str, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (tuples become lists, also inside dicts), keys as the field names."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, dict):
                value = {k: list(v) if isinstance(v, tuple) else v for k, v in value.items()}
            out[f.name] = value
        return out

    def to_json(self, path: str | Path) -> None:
        """Write :meth:`to_dict` as JSON, atomically."""
        write_json(path, self.to_dict())


# --------------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one intra-op thread inside the block; the previous setting is restored after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class _Signal(NamedTuple):
    """The checked signal input: ``shape`` without the batch axis, ``fs`` (Hz) and its ``seconds``."""

    shape: tuple[int, ...]
    fs: float
    seconds: float


def _check_shape_fs(input_shape: Sequence[int], fs: float, time_axis: int) -> _Signal:
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError) as exc:
        raise LeanECGError("input_shape", f"must be a sequence of integers, got {input_shape!r}") from exc
    if not shape or any(s < 1 for s in shape):
        raise LeanECGError("input_shape", f"must be non-empty with every axis >= 1, got {tuple(input_shape)}")
    if not (isinstance(fs, int | float) and math.isfinite(fs) and fs > 0):
        raise LeanECGError("fs", f"sampling rate must be a positive number of Hz, got {fs!r}")
    if not -len(shape) <= time_axis < len(shape):
        raise LeanECGError("time_axis", f"axis {time_axis} is out of range for input_shape {shape}")
    return _Signal(shape, float(fs), shape[time_axis] / float(fs))


def _check_budget(budget_s: float, throughput_batch: int, warmup: int) -> None:
    if not (isinstance(budget_s, int | float) and budget_s > 0):
        raise LeanECGError("budget_s", f"must be a positive number of seconds, got {budget_s!r}")
    if not isinstance(throughput_batch, int) or throughput_batch < 1:
        raise LeanECGError("throughput_batch", f"must be an integer >= 1, got {throughput_batch!r}")
    if not isinstance(warmup, int) or warmup < 0:
        raise LeanECGError("warmup", f"must be an integer >= 0, got {warmup!r}")


def _measured_int8(int8_bytes: bool | str | Path) -> tuple[int, str] | None:
    if isinstance(int8_bytes, bool):
        return None
    p = Path(int8_bytes)
    if not p.is_file():
        raise LeanECGError(p, "int8 model file not found")
    return p.stat().st_size, f"measured: {p.name}"


@dataclass(frozen=True)
class _Sizes:
    """What is counted without timing: parameters, MACs, fp32 bytes and ``(int8 bytes, method)``."""

    params: int
    macs: MacCount
    bytes_fp32: int
    int8: tuple[int, str] | None


def _sizes(
    params: int,
    macs: MacCount,
    bytes_fp32: int,
    int8_bytes: bool | str | Path,
    int8_measured: tuple[int, str] | None,
    int8_estimate: Callable[[int], int],
) -> _Sizes:
    """Bundle the counts; the int8 size is the measured file's (``int8_measured``), else
    ``int8_estimate(bytes_fp32)`` when ``int8_bytes`` asks for it, else ``None``."""
    int8 = int8_measured
    if int8 is None and int8_bytes:
        int8 = (int8_estimate(bytes_fp32), "estimate")
    return _Sizes(params, macs, bytes_fp32, int8)


def _environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_name(),
    }
    if "onnxruntime" in sys.modules:
        env["onnxruntime"] = sys.modules["onnxruntime"].__version__
    env.update(extra or {})
    return env


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _warm_seconds(fn: Callable[[], Any], warmup: int) -> float:
    """Run ``max(warmup, 1)`` untimed-for-statistics calls; return the fastest call time (s)."""
    import time

    best = math.inf
    for _ in range(max(warmup, 1)):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


@dataclass(frozen=True)
class _Timings:
    latency: TimingStats
    ratio: float | None
    reference_latency: TimingStats | None
    throughput: TimingStats
    throughput_batch: int


def _run_timings(
    latency_fn: Callable[[], Any],
    throughput_fn: Callable[[], Any],
    throughput_batch: int,
    reference_fn: Callable[[], Any] | None,
    repeats: int | None,
    warmup: int,
    budget_s: float,
) -> _Timings:
    # Latency (and reference, interleaved).
    per_call = _warm_seconds(latency_fn, warmup)
    if reference_fn is not None:
        per_call += _warm_seconds(reference_fn, warmup)
    n_lat = repeats or estimate_repeats(per_call, budget_s * _LATENCY_SHARE, *_LATENCY_REPEATS)
    if reference_fn is not None:
        compared = compare_timings(
            {"model": latency_fn, "reference": reference_fn}, n_lat, warmup=0, reference="reference"
        )
        latency, ratio = compared["model"].stats, compared["model"].ratio
        reference_latency: TimingStats | None = compared["reference"].stats
    else:
        latency, ratio, reference_latency = time_callable(latency_fn, n_lat, warmup=0), None, None
    # Throughput.
    per_batch = _warm_seconds(throughput_fn, min(warmup, 1))
    n_thr = repeats or estimate_repeats(per_batch, budget_s * (1 - _LATENCY_SHARE), *_THROUGHPUT_REPEATS)
    throughput = time_callable(throughput_fn, n_thr, warmup=0)
    return _Timings(latency, ratio, reference_latency, throughput, throughput_batch)


def _report(
    backend: str,
    signal: _Signal,
    sizes: _Sizes,
    memory: MemoryPeak | None,
    timings: _Timings,
    reference: str | None,
    environment: dict[str, str],
    extra_shapes: Mapping[str, tuple[int, ...]] | None = None,
    reference_extra_shapes: Mapping[str, tuple[int, ...]] | None = None,
) -> CostReport:
    lat, int8 = timings.latency, sizes.int8
    return CostReport(
        backend=backend,
        input_shape=signal.shape,
        fs_hz=signal.fs,
        signal_s=signal.seconds,
        params=int(sizes.params),
        macs=int(sizes.macs.total),
        bytes_fp32=int(sizes.bytes_fp32),
        bytes_int8=None if int8 is None else int(int8[0]),
        bytes_int8_method=None if int8 is None else int8[1],
        peak_memory_bytes=None if memory is None else int(memory.total_bytes),
        peak_memory_method=None if memory is None else memory.method,
        peak_memory_breakdown=None if memory is None else dict(memory.breakdown),
        latency_ms_median=lat.median * 1e3,
        latency_ms_p99=lat.p99 * 1e3,
        latency_ms_iqr=lat.iqr * 1e3,
        latency_repeats=lat.n,
        throughput_per_s=timings.throughput_batch / timings.throughput.median,
        throughput_batch_size=timings.throughput_batch,
        real_time_factor=signal.seconds / lat.median,
        latency_ratio_vs_reference=timings.ratio,
        reference=reference,
        reference_latency_ms_median=None
        if timings.reference_latency is None
        else timings.reference_latency.median * 1e3,
        extra_input_shapes=dict(extra_shapes or {}),
        reference_extra_input_shapes=dict(reference_extra_shapes or {}),
        threads=1,
        macs_breakdown=dict(sizes.macs.breakdown),
        macs_uncounted_ops=tuple(sizes.macs.uncounted),
        environment=environment,
    )


# --------------------------------------------------------------------------------------------------
# torch
# --------------------------------------------------------------------------------------------------


def _check_torch_model(model: Any, where: str) -> None:
    if not isinstance(model, nn.Module):
        raise LeanECGError(where, f"expected a torch nn.Module, got {type(model).__name__}")
    devices = {t.device.type for t in [*model.parameters(), *model.buffers()]}
    if devices - {"cpu"}:
        raise LeanECGError(where, f"the cost meter times CPU inference; the model is on {sorted(devices)}")


def _forward_or_raise(
    model: nn.Module, x: torch.Tensor, kwargs: Mapping[str, torch.Tensor], where: str
) -> None:
    try:
        with torch.no_grad():
            model(x, **kwargs)
    except LeanECGError:  # the model's own input check: already names what is wrong
        raise
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        raise LeanECGError(where, f"forward failed on inputs {describe_shapes(x, kwargs)}: {exc}") from exc


def measure_cost(
    model: nn.Module,
    input_shape: Sequence[int],
    fs: float,
    reference: nn.Module | None = None,
    int8_bytes: bool | str | Path = True,
    *,
    time_axis: int = -1,
    repeats: int | None = None,
    warmup: int = 3,
    throughput_batch: int = 64,
    budget_s: float = 1.5,
    measure_memory: bool = True,
    seed: int = 0,
    reference_name: str | None = None,
    extra_inputs: Mapping[str, Sequence[int]] | None = None,
    reference_extra_inputs: Mapping[str, Sequence[int]] | None = None,
) -> CostReport:
    """Measure the inference cost of a torch model on CPU, one thread.

    Args:
        model: the model (on CPU). It is run in eval mode under ``no_grad``; its train/eval flag and
            torch's thread count are restored afterwards.
        input_shape: one input without the batch axis, ``(n_leads, n_samples)`` for LeanECG models.
        fs: sampling rate of the signal (Hz), for the real-time factor.
        reference: optional model taking the same signal input, timed interleaved with ``model``.
        int8_bytes: ``True`` to estimate the int8 size, ``False`` to skip it, or the path of a real
            int8 file (e.g. an ORT static-int8 ``.onnx``) whose size is reported instead.
        time_axis: axis of ``input_shape`` that holds the samples.
        repeats: timed repeats for latency and throughput (default: from ``budget_s``).
        warmup: untimed calls before timing.
        throughput_batch: batch size for the throughput.
        budget_s: approximate seconds spent timing (latency + throughput).
        measure_memory: measure the peak memory (one profiled forward).
        seed: seed of the random input.
        reference_name: name reported for the reference (default: its class name).
        extra_inputs: keyword inputs of ``model`` besides the signal, as shapes **without** the batch
            axis, e.g. ``{"features": (7,)}`` for ``beatnet`` (``wide_deep`` with age/sex also
            ``"age_sex": (2,)``). Random normal tensors ``(batch, *shape)`` in the model's dtype
            (float32) are passed by keyword to every call: the MAC count, the peak memory, batch-1
            latency and the throughput batch. Required when ``model.extra_inputs`` names inputs.
        reference_extra_inputs: the same for ``reference`` (default: none; it may take other inputs
            than ``model``).

    Returns:
        :class:`CostReport` (``extra_input_shapes`` records ``extra_inputs``).

    Raises:
        LeanECGError: bad arguments, a model that is not a CPU ``nn.Module``, a model that needs keyword
            inputs that are not given (or is given ones it does not take), or a forward that fails on
            ``(1, *input_shape)``.

    Example:
        A tiny one-lead model on 10 s at 250 Hz (timings vary by machine; counts do not):

        >>> from torch import nn
        >>> model = nn.Sequential(nn.Conv1d(1, 4, 7), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
        ...                       nn.Linear(4, 2))
        >>> report = measure_cost(model, (1, 2500), fs=250.0, int8_bytes=False, repeats=5, warmup=1,
        ...                       measure_memory=False)
        >>> report.params, report.macs, report.signal_s
        (42, 69840, 10.0)
        >>> report.real_time_factor > 1
        True
    """
    signal = _check_shape_fs(input_shape, fs, time_axis)
    shape = signal.shape
    _check_budget(budget_s, throughput_batch, warmup)
    _check_torch_model(model, "model")
    extra_shapes = check_extra_inputs(model, extra_inputs)
    ref_extra_shapes: dict[str, tuple[int, ...]] = {}
    if reference is not None:
        _check_torch_model(reference, "reference")
        ref_extra_shapes = check_extra_inputs(
            reference, reference_extra_inputs, where="reference", arg="reference_extra_inputs"
        )
    elif reference_extra_inputs is not None:
        raise LeanECGError("reference_extra_inputs", "given without a reference model")
    int8_measured = _measured_int8(int8_bytes)

    dtype = model_dtype(model)
    gen = torch.Generator().manual_seed(seed)
    x1 = torch.randn((1, *shape), generator=gen).to(dtype)
    xb = torch.randn((throughput_batch, *shape), generator=gen).to(dtype)
    kw1 = make_extra_inputs(extra_shapes, 1, dtype, gen)
    kwb = make_extra_inputs(extra_shapes, throughput_batch, dtype, gen)
    ref_x1, ref_kw1 = x1, {}
    if reference is not None:
        ref_dtype = model_dtype(reference)
        ref_x1 = x1.to(ref_dtype)
        ref_kw1 = make_extra_inputs(ref_extra_shapes, 1, ref_dtype, gen)

    modes = [(m, m.training) for m in (model, reference) if m is not None]
    try:
        for m, _ in modes:
            m.eval()
        _forward_or_raise(model, x1, kw1, "input_shape")
        if reference is not None:
            _forward_or_raise(reference, ref_x1, ref_kw1, "reference")

        sizes = _sizes(
            count_params(model),
            count_macs(model, example_inputs=(x1,), example_kwargs=kw1),
            state_dict_fp32_bytes(model),
            int8_bytes,
            int8_measured,
            partial(int8_estimate_bytes, model),
        )

        with single_thread(), torch.no_grad():
            memory = torch_peak_memory(model, x1, kw1) if measure_memory else None
            ref_fn = None if reference is None else (lambda: reference(ref_x1, **ref_kw1))
            timings = _run_timings(
                lambda: model(x1, **kw1),
                lambda: model(xb, **kwb),
                throughput_batch,
                ref_fn,
                repeats,
                warmup,
                budget_s,
            )
    finally:
        for m, was_training in modes:
            m.train(was_training)

    ref_name = None if reference is None else (reference_name or type(reference).__name__)
    return _report(
        "torch", signal, sizes, memory, timings, ref_name, _environment(), extra_shapes, ref_extra_shapes
    )


# --------------------------------------------------------------------------------------------------
# ONNX Runtime
# --------------------------------------------------------------------------------------------------


def _ort_session(path: Path) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types for invalid graphs
        raise LeanECGError(path, f"ONNX Runtime cannot load the model: {str(exc).splitlines()[0]}") from exc


def _ort_call(sess: Any, name: str, x: np.ndarray, where: Path) -> Callable[[], Any]:
    def run() -> Any:
        return sess.run(None, {name: x})

    try:
        run()
    except Exception as exc:  # ORT raises its own exception types for shape errors
        raise LeanECGError(
            where, f"inference failed on an input of shape {x.shape}: {str(exc).splitlines()[0]}"
        ) from exc
    return run


def measure_onnx_cost(
    path: str | Path,
    input_shape: Sequence[int],
    fs: float,
    reference: str | Path | None = None,
    int8_bytes: bool | str | Path = True,
    *,
    time_axis: int = -1,
    repeats: int | None = None,
    warmup: int = 3,
    throughput_batch: int = 64,
    budget_s: float = 1.5,
    measure_memory: bool = True,
    seed: int = 0,
    reference_name: str | None = None,
) -> CostReport:
    """Measure the inference cost of an ONNX model in ONNX Runtime (CPU, one thread).

    Args:
        path: the ``.onnx`` file (one input; weights inside the file, e.g. exported with
            ``torch.onnx.export(model, (x,), f, dynamo=True, external_data=False)``; a dynamic time axis
            and batch axis are supported).
        input_shape: one input without the batch axis, ``(n_leads, n_samples)``.
        fs: sampling rate (Hz).
        reference: optional second ``.onnx`` file with the same input, timed interleaved.
        int8_bytes: ``True`` to estimate the int8 size, ``False`` to skip, or the path of a real int8
            file (e.g. from ``onnxruntime.quantization.quantize_static``) to measure.
        time_axis, repeats, warmup, throughput_batch, budget_s, measure_memory, seed: as in
            :func:`measure_cost`; ``reference_name`` defaults to the reference's file name. If the model's batch axis is fixed at 1, throughput is measured at 1.

    Returns:
        :class:`CostReport` (``bytes_fp32`` is the file size; ``params`` counts weight initializers).
    """
    from leanecg.evaluate.cost.onnx_graph import (
        check_input_dims,
        count_onnx_macs,
        load_onnx,
        onnx_input,
        onnx_int8_estimate_bytes,
        onnx_params,
    )

    path = Path(path)
    signal = _check_shape_fs(input_shape, fs, time_axis)
    shape = signal.shape
    _check_budget(budget_s, throughput_batch, warmup)
    int8_measured = _measured_int8(int8_bytes)
    proto = load_onnx(path)
    inp = onnx_input(proto, path)
    check_input_dims(inp, shape, 1, path)
    batch = throughput_batch if inp.dims[0] is None else int(inp.dims[0])

    ref_path = None if reference is None else Path(reference)
    ref_inp = None
    if ref_path is not None:
        ref_inp = onnx_input(load_onnx(ref_path), ref_path)
        check_input_dims(ref_inp, shape, 1, ref_path)

    sizes = _sizes(
        onnx_params(proto),
        count_onnx_macs(proto, shape),
        path.stat().st_size,
        int8_bytes,
        int8_measured,
        partial(onnx_int8_estimate_bytes, proto),
    )
    del proto

    rng = np.random.default_rng(seed)
    x1 = rng.standard_normal((1, *shape)).astype(inp.dtype)
    xb = rng.standard_normal((batch, *shape)).astype(inp.dtype)
    sess = _ort_session(path)
    latency_fn = _ort_call(sess, inp.name, x1, path)
    throughput_fn = _ort_call(sess, inp.name, xb, path) if batch > 1 else latency_fn
    ref_fn = None
    if ref_path is not None and ref_inp is not None:
        ref_sess = _ort_session(ref_path)
        ref_fn = _ort_call(ref_sess, ref_inp.name, x1.astype(ref_inp.dtype), ref_path)

    timings = _run_timings(latency_fn, throughput_fn, batch, ref_fn, repeats, warmup, budget_s)
    memory = onnx_peak_memory(path, (1, *shape), inp.dtype) if measure_memory else None

    ref_name = None if ref_path is None else (reference_name or ref_path.name)
    environment = _environment({"execution_provider": "CPUExecutionProvider"})
    return _report("onnxruntime", signal, sizes, memory, timings, ref_name, environment)
