"""Static int8 quantization of an exported fp32 ONNX graph (:mod:`leanecg.deploy.onnx`).

:func:`quantize_int8` runs ONNX Runtime's ``quant_pre_process`` then ``quantize_static`` in QDQ format (int8
weights, symmetric and per output channel; uint8 activations, per tensor) with activation ranges
calibrated on a :class:`~leanecg.deploy.calibration.CalibrationSet`, then trims and compacts the result
(:mod:`leanecg.deploy.onnx_graph`). onnx and onnxruntime.quantization are imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.deploy.calibration import CalibrationSet, calibration_feeds
from leanecg.deploy.onnx_export import quiet_converters
from leanecg.deploy.onnx_graph import (
    compact_onnx,
    drop_output_requantization,
    drop_unused_initializers,
    drop_zero_zero_points,
    narrow_int64_tables,
    unquantize_selection_inputs,
)
from leanecg.errors import LeanECGError
from leanecg.package.ort_runtime import FEATURES_INPUT, SIGNAL_INPUT

__all__ = ["CALIBRATION_METHODS", "ProgressFn", "quantize_int8"]

#: ``calibrate_method`` names -> onnxruntime ``CalibrationMethod`` member names.
CALIBRATION_METHODS = {"minmax": "MinMax", "percentile": "Percentile", "entropy": "Entropy"}
#: Progress callback of :func:`leanecg.deploy.onnx.export_onnx`: ``(step, done, total)``; ``total`` is
#: ``None`` when unknown.
ProgressFn = Callable[[str, int, "int | None"], None]


class _Reader:
    """An onnxruntime ``CalibrationDataReader`` over a :class:`CalibrationSet` that serves one batch per
    ``set_range`` (with ``CalibStridedMinMax=1``, the calibrator merges ranges / histograms batch by batch:
    bounded memory, and batches of different lengths never meet in one array). Built lazily so that
    ``onnxruntime.quantization`` is imported only when quantizing."""

    def __new__(cls, calibration: CalibrationSet, on_batch: Callable[[int, int], None] | None = None) -> Any:
        from onnxruntime.quantization import CalibrationDataReader

        feeds = list(calibration_feeds(calibration))

        class Reader(CalibrationDataReader):  # type: ignore[misc]
            def __init__(self) -> None:
                self.next, self.end = 0, len(feeds)

            def __len__(self) -> int:
                return len(feeds)

            def set_range(self, start_index: int, end_index: int) -> None:
                self.next, self.end = start_index, min(end_index, len(feeds))

            def get_next(self) -> dict[str, np.ndarray] | None:
                if self.next >= self.end:
                    return None
                self.next += 1
                if on_batch is not None:
                    on_batch(self.next - 1, len(feeds))
                return feeds[self.next - 1]

        return Reader()


def _first_conv(model_path: Path) -> list[str]:
    """Name of the first ``Conv`` fed by the signal input (empty when there is none)."""
    import onnx

    graph = onnx.load(str(model_path)).graph
    for node in graph.node:
        if node.op_type == "Conv" and SIGNAL_INPUT in node.input:
            return [node.name]
    return []


def _tree_nodes(model_path: Path) -> list[str]:
    """Names of the tree nodes (``ai.onnx.ml`` ``TreeEnsemble``, :mod:`leanecg.deploy.onnx_trees`) that int8
    must leave in float: their split thresholds and leaf values are float attributes, and an 8-bit input
    would move examples across splits. Networks have none (empty list)."""
    import onnx

    graph = onnx.load(str(model_path)).graph
    return [n.name for n in graph.node if n.domain == "ai.onnx.ml"]


def _feature_only_nodes(model_path: Path) -> list[str]:
    """Names of the nodes that the handcrafted features reach and the signal does not: the feature branch of a
    network (up to where it joins the signal's path) and every node of a features-only model (``linear``).

    int8 leaves them in float. They cost a few hundred multiply-adds, and their inputs can span ranges that
    one per-tensor uint8 scale cannot hold: record-normalised columns (``*_rz``) run to tens of IQRs for the
    beats that matter, so a scale that covers them rounds every ordinary beat's value to a handful of steps."""
    import onnx

    graph = onnx.load(str(model_path)).graph

    def reached(start: str) -> set[str]:
        tensors, names = {start}, set()
        for node in graph.node:  # a graph's nodes are in topological order
            if tensors & set(node.input):
                names.add(node.name)
                tensors.update(node.output)
        return names

    from_signal = reached(SIGNAL_INPUT)
    return [n.name for n in graph.node if n.name in reached(FEATURES_INPUT) - from_signal]


def _name_nodes(src: Path, dst: Path) -> None:
    """Copy of ``src`` whose nodes are named ``n0, n1, ...`` (the compacted graph has no node names; the
    quantizer tells nodes apart by name)."""
    import onnx

    proto = onnx.load(str(src))
    for i, node in enumerate(proto.graph.node):
        node.name = f"n{i}"
    onnx.save(proto, str(dst))


def quantize_int8(
    fp32: Path,
    tmp: Path,
    calibration: CalibrationSet,
    method: str,
    keep_first_fp32: bool,
    progress: ProgressFn | None = None,
) -> Path:
    """``quant_pre_process`` then static QDQ quantization (int8 per-channel weights, uint8 activations)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    named, pre, int8 = tmp / "named.onnx", tmp / "pre.onnx", tmp / "int8.onnx"
    label = f"calibrating int8 on {len(calibration)} inputs (batches)"

    def on_batch(done: int, total: int) -> None:
        if progress is not None:
            progress(label, done, total)

    if progress is not None:
        progress("preparing the int8 graph", 0, None)
    _name_nodes(fp32, named)
    try:
        with quiet_converters():
            try:
                quant_pre_process(str(named), str(pre))
            except Exception:  # symbolic shape inference fails on some graphs (e.g. Concat of features)
                quant_pre_process(str(named), str(pre), skip_symbolic_shape=True)
            quantize_static(
                str(pre),
                str(int8),
                _Reader(calibration, on_batch),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                weight_type=QuantType.QInt8,
                activation_type=QuantType.QUInt8,
                calibrate_method=getattr(CalibrationMethod, CALIBRATION_METHODS[method]),
                nodes_to_exclude=(_first_conv(pre) if keep_first_fp32 else [])
                + _tree_nodes(pre)
                + _feature_only_nodes(pre)
                or None,
                extra_options={
                    "QuantizeBias": False,
                    "WeightSymmetric": True,
                    "ActivationSymmetric": False,
                    "CalibStridedMinMax": 1,  # one batch per collection (see _Reader)
                },
            )
    except LeanECGError:
        raise
    except Exception as exc:  # onnxruntime.quantization raises plain Exceptions / ORT errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LeanECGError(fp32, f"int8 quantization failed: {first[:300]}") from None
    _finish_int8(int8)
    return int8


def _finish_int8(path: Path) -> None:
    """Post-process the quantizer's output: :func:`unquantize_selection_inputs`, :func:`narrow_int64_tables`,
    :func:`drop_zero_zero_points`, :func:`drop_output_requantization`, then :func:`compact_onnx` (as for
    the fp32 graph)."""
    import onnx

    proto = onnx.load(str(path))
    unquantize_selection_inputs(proto.graph)
    narrow_int64_tables(proto.graph)
    drop_zero_zero_points(proto.graph)
    drop_output_requantization(proto.graph)
    drop_unused_initializers(proto.graph)
    compact_onnx(proto)
    onnx.save(proto, str(path))
