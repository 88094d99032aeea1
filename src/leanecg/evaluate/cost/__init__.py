"""The model cost meter: accuracy's other half, measured the same way for every model.

``measure_cost(model, input_shape, fs)`` (torch) and ``measure_onnx_cost(path, input_shape, fs)`` (ONNX
Runtime) return a :class:`CostReport`: parameters, MACs, fp32 / int8 size, peak memory, batch-1 latency
(median, p99) on one CPU thread, batch-64 throughput, real-time factor and, with a reference model, the
latency ratio. Submodules document each convention: :mod:`.macs`, :mod:`.onnx_graph`, :mod:`.size`,
:mod:`.memory`, :mod:`.report`; the timer is :mod:`leanecg.evaluate.timing`.

Names are imported lazily so ``import leanecg.evaluate.cost`` stays cheap.
"""

from __future__ import annotations

from leanecg._lazy import lazy_getattr

_EXPORTS = {
    "CostReport": "leanecg.evaluate.cost.report",
    "measure_cost": "leanecg.evaluate.cost.report",
    "measure_onnx_cost": "leanecg.evaluate.cost.report",
    "single_thread": "leanecg.evaluate.cost.report",
    "MacCount": "leanecg.evaluate.cost.macs",
    "count_macs": "leanecg.evaluate.cost.macs",
    "count_callable_macs": "leanecg.evaluate.cost.macs",
    "lstm_like_macs": "leanecg.evaluate.cost.macs",
    "mha_macs": "leanecg.evaluate.cost.macs",
    "count_onnx_macs": "leanecg.evaluate.cost.onnx_graph",
    "onnx_params": "leanecg.evaluate.cost.onnx_graph",
    "count_params": "leanecg.evaluate.cost.size",
    "state_dict_fp32_bytes": "leanecg.evaluate.cost.size",
    "int8_estimate_bytes": "leanecg.evaluate.cost.size",
    "MemoryPeak": "leanecg.evaluate.cost.memory",
    "torch_peak_memory": "leanecg.evaluate.cost.memory",
    "onnx_peak_memory": "leanecg.evaluate.cost.memory",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
