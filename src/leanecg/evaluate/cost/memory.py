"""Peak memory of one batch-1 inference, measured (not estimated).

Two methods, one per backend, each stating exactly what it counts:

``torch-profiler`` (:func:`torch_peak_memory`)
    ``tracemalloc`` cannot see torch's allocator, and process RSS is too coarse (the allocator reuses
    pages already resident, the first call pays one-off initialisation). Instead the forward pass runs
    under ``torch.profiler`` with ``profile_memory=True``, which records every allocation and free made
    through PyTorch's CPU allocator - activations, temporaries, the output, and the oneDNN scratch
    buffers (oneDNN allocates through the same allocator in PyTorch builds). The peak of the running
    sum of those events is the *transient* peak. The reported total is
    ``weights (parameters + buffers) + input + transient peak``: the tensor memory live at the worst
    moment of one inference (``input`` covers keyword inputs such as ``features`` too). Not counted: the Python interpreter, library code and static data,
    allocator fragmentation. One warm-up forward runs first so lazily created, persistent state is not
    mistaken for per-inference memory. Deterministic to the byte for a given model and torch build.

``ort-subprocess-rss`` (:func:`onnx_peak_memory`)
    ONNX Runtime has its own arena allocator that Python cannot observe, so a fresh Python process
    imports onnxruntime, creates and runs a trivial one-node session (so the runtime's shared code pages
    and allocator set-up are in the baseline), notes its resident set size (RSS), creates the model's
    session (1 thread), resets the kernel's peak-RSS counter (``/proc/self/clear_refs``), runs one
    batch-1 inference and reads the peak RSS (``VmHWM``). Reported: peak RSS minus the baseline RSS -
    the weights, session state, ORT arena and activations, with page (4 KiB) granularity. It includes
    a per-session overhead of a few MiB (graph structures, code pages of the model's kernels), so it is
    an upper bound for tiny models and is **not** comparable with the torch number. Where the peak
    cannot be reset, the peak of session creation is included (the method string then says so); off
    Linux ``ru_maxrss`` is used.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from leanecg.errors import LeanECGError

__all__ = ["MemoryPeak", "onnx_peak_memory", "torch_peak_memory"]


@dataclass(frozen=True)
class MemoryPeak:
    """Peak memory of one inference.

    Attributes:
        total_bytes: the peak (what ``CostReport.peak_memory_bytes`` reports).
        method: how it was measured, in words (units and what is counted).
        breakdown: components in bytes (``weights_bytes``, ``input_bytes``, ``transient_bytes`` for
            torch; ``session_bytes``, ``rss_peak_bytes``... for ONNX Runtime).
    """

    total_bytes: int
    method: str
    breakdown: dict[str, int]


TORCH_METHOD = (
    "torch-profiler: parameters + buffers + input + peak of tensor allocations through the PyTorch "
    "CPU allocator during one batch-1 forward (after one warm-up forward)"
)

# Lines libkineto writes straight to file descriptor 2 when a profiler session starts or stops.
_KINETO_NOISE = re.compile(
    rb"^(?:USDT|INFO|WARNING|ERROR)?:?\d{4}-\d\d-\d\d .*(?:Profiler|profiler|kineto).*$"
)


@contextlib.contextmanager
def _filter_kineto_stderr() -> Iterator[None]:
    """Swallow libkineto's start/stop chatter on fd 2; anything else written meanwhile is passed on."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = [ln for ln in tmp.read().splitlines(keepends=True) if not _KINETO_NOISE.match(ln.strip())]
            if kept:
                with contextlib.suppress(OSError):
                    os.write(2, b"".join(kept))


def _tensor_bytes(tensors: Sequence[torch.Tensor]) -> int:
    seen: set[int] = set()
    total = 0
    for t in tensors:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr in seen:
            continue
        seen.add(ptr)
        total += storage.nbytes()
    return total


def _memory_events(prof: Any) -> list[tuple[int, int]]:
    """``(time_ns, signed bytes)`` of every CPU allocator event recorded by a profiler session."""
    results = getattr(getattr(prof, "profiler", None), "kineto_results", None)
    if results is None:
        raise RuntimeError("this torch build's profiler does not expose allocation events")
    cpu_like = {"CPU", "MKLDNN", "IDEEP"}
    events = []
    for ev in results.events():
        if ev.name() != "[memory]":
            continue
        if str(ev.device_type()).rsplit(".", 1)[-1] not in cpu_like:
            continue
        events.append((int(ev.start_ns()), int(ev.nbytes())))
    events.sort(key=lambda e: e[0])  # stable: ties keep the recorded order
    return events


def _running_peak(events: Sequence[tuple[int, int]]) -> int:
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak


def torch_peak_memory(
    model: nn.Module, example: torch.Tensor, example_kwargs: Mapping[str, torch.Tensor] | None = None
) -> MemoryPeak:
    """Peak tensor memory of ``model(example, **example_kwargs)`` (see the module docstring).

    Args:
        model: the model, already in the mode to measure (eval) and on CPU.
        example: the batch-1 signal input tensor.
        example_kwargs: batch-1 keyword inputs besides the signal (e.g. ``features``), if the model
            takes any; they count in ``input_bytes``.

    Returns:
        :class:`MemoryPeak` with ``weights_bytes``, ``input_bytes`` and ``transient_bytes``.
    """
    from torch.profiler import ProfilerActivity, profile

    kwargs = dict(example_kwargs or {})
    weights = _tensor_bytes([*model.parameters(), *model.buffers()])
    input_bytes = _tensor_bytes([example, *(t for t in kwargs.values() if isinstance(t, torch.Tensor))])
    with torch.no_grad():
        model(example, **kwargs)  # warm-up: lazy, persistent state is not per-inference memory
        with _filter_kineto_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            out = model(example, **kwargs)
        del out
    transient = _running_peak(_memory_events(prof))
    return MemoryPeak(
        total_bytes=weights + input_bytes + transient,
        method=TORCH_METHOD,
        breakdown={"weights_bytes": weights, "input_bytes": input_bytes, "transient_bytes": transient},
    )


_ORT_CHILD = r"""
import json, os, sys
args = json.loads(sys.argv[1])
def proc_status():
    out = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                key, _, val = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(val.split()[0]) * 1024
    except OSError:
        pass
    return out
def maxrss():
    import resource
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r if sys.platform == "darwin" else r * 1024
import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper
st = proc_status()
use_proc = "VmRSS" in st and "VmHWM" in st
def rss():
    return proc_status()["VmRSS"] if use_proc else maxrss()
def options():
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return so
imported = rss()
# A trivial session first, so the runtime's own code pages and allocator set-up are in the baseline.
v_in = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
v_out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "trivial", [v_in], [v_out])
trivial = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
trivial.ir_version = 8
t_sess = ort.InferenceSession(trivial.SerializeToString(), options(), providers=["CPUExecutionProvider"])
t_sess.run(None, {"x": np.zeros(1, dtype=np.float32)})
base = rss()
sess = ort.InferenceSession(args["path"], options(), providers=["CPUExecutionProvider"])
x = np.random.default_rng(0).standard_normal(args["shape"]).astype(args["dtype"])
after_session = rss()
reset = False
if use_proc:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        reset = True
    except OSError:
        pass
sess.run(None, {sess.get_inputs()[0].name: x})
peak = proc_status()["VmHWM"] if use_proc else maxrss()
print(json.dumps({"imported": imported, "base": base, "after_session": after_session, "peak": peak,
                  "reset": reset, "proc": use_proc}))
"""


def onnx_peak_memory(
    path: str | Path, input_shape: Sequence[int], dtype: str = "float32", timeout_s: float = 300.0
) -> MemoryPeak:
    """Peak RSS growth of a fresh process running one inference of an ONNX model (1 thread).

    Args:
        path: the ``.onnx`` file.
        input_shape: full input shape **including** the batch axis, e.g. ``(1, n_leads, n_samples)``.
        dtype: numpy dtype name of the input.
        timeout_s: give up after this many seconds.

    Raises:
        LeanECGError: when the child process fails (its last error line is reported).
    """
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    payload = json.dumps({"path": str(path), "shape": [int(s) for s in input_shape], "dtype": dtype})
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _ORT_CHILD, payload],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LeanECGError(path, f"memory measurement did not finish within {timeout_s:.0f} s") from exc
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise LeanECGError(path, f"memory measurement failed: {lines[-1] if lines else proc.returncode}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    peak = max(0, int(result["peak"]) - int(result["base"]))
    session = max(0, int(result["after_session"]) - int(result["base"]))
    if result["proc"] and result["reset"]:
        method = (
            "ort-subprocess-rss: peak RSS of a fresh process during one batch-1 inference minus its RSS "
            "after a trivial warm-up session (weights, session state, ORT arena, activations; 4 KiB pages)"
        )
    elif result["proc"]:
        method = (
            "ort-subprocess-rss: peak RSS of a fresh process (including session creation, the peak could "
            "not be reset) minus its RSS after a trivial warm-up session"
        )
    else:
        method = "ort-subprocess-maxrss: growth of ru_maxrss over session creation and one batch-1 inference"
    return MemoryPeak(
        total_bytes=peak,
        method=method,
        breakdown={
            "session_bytes": session,
            "runtime_baseline_bytes": max(0, int(result["base"]) - int(result["imported"])),
            "rss_base_bytes": int(result["base"]),
            "rss_peak_bytes": int(result["peak"]),
        },
    )
