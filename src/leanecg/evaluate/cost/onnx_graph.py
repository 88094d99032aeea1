"""Parameters, MACs and int8 size of an ONNX graph, by the same convention as the torch counter.

MACs (see :mod:`leanecg.evaluate.cost.macs` for the convention) are computed per node from tensor
shapes:

- ``Conv`` / ``FusedConv`` / ``ConvInteger`` / ``QLinearConv``: ``numel(Y) * prod(W.shape[1:])``
  (``W`` is ``[M, C/group, k...]``); ``ConvTranspose``: ``numel(X) * prod(W.shape[1:])``.
- ``Gemm`` / ``MatMul`` (+ ``FusedGemm``, ``FusedMatMul``, ``MatMulInteger``, ``QLinearMatMul``):
  ``numel(Y) * K``.
- ``LSTM`` / ``GRU`` / ``RNN``: ``seq * batch * (numel(W) + numel(R))`` with ``W = [dirs, gates*H, I]``
  and ``R = [dirs, gates*H, H]`` - i.e. ``gates*H*(I + H)`` per step and direction.

Shapes come from ``onnx.shape_inference`` (with data propagation) after fixing the graph input to the
requested concrete shape. Where inference leaves a needed dimension unknown, the graph is run once in
ONNX Runtime with those tensors added as outputs and the actual shapes are read. Nodes that may carry
MACs but have no formula (``Einsum``, attention contrib ops, ``Loop``/``Scan`` bodies...) are listed in
``uncounted``.

Parameters are the elements of the weight initializers: floating-point initializers with at least 2
elements, excluding those used only in auxiliary slots (RNN initial states, quantisation scales and
zero points), plus integer initializers read as weights by quantised ops (int8 weights and int32 biases
of a QDQ or QOperator model), so an int8 model has the same parameter count as its float original. Constant float tensors the
exporter stores as initializers (e.g. a positional-encoding buffer) count too. BatchNorm running statistics count when the exporter kept
a ``BatchNormalization`` node (torch counts them as buffers, not parameters); when the exporter folded
BatchNorm into the convolution, its parameters are gone from the graph.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, shape_inference

from leanecg.errors import LeanECGError
from leanecg.evaluate.cost.macs import MacCount

__all__ = [
    "OnnxInput",
    "check_input_dims",
    "count_onnx_macs",
    "load_onnx",
    "onnx_input",
    "onnx_int8_estimate_bytes",
    "onnx_params",
]

_FLOAT_TYPES = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16}
_INT_WEIGHT_TYPES = {
    TensorProto.INT8, TensorProto.UINT8, TensorProto.INT4, TensorProto.UINT4, TensorProto.INT16,
    TensorProto.UINT16, TensorProto.INT32,
}  # fmt: skip
# Ops that read quantised weights (int8 weights, int32 biases) from initializers.
_QUANT_WEIGHT_CONSUMERS = {
    "DequantizeLinear", "QLinearConv", "QLinearMatMul", "MatMulInteger", "ConvInteger", "QGemm",
    "DynamicQuantizeLSTM", "MatMulNBits",
}  # fmt: skip

# (op_type, input slot) pairs that hold state, scales or zero points, not weights.
_AUX_SLOTS = {
    ("LSTM", 4), ("LSTM", 5), ("LSTM", 6), ("GRU", 4), ("GRU", 5), ("RNN", 4), ("RNN", 5),
    ("QuantizeLinear", 1), ("QuantizeLinear", 2), ("DequantizeLinear", 1), ("DequantizeLinear", 2),
    ("QLinearConv", 1), ("QLinearConv", 2), ("QLinearConv", 4), ("QLinearConv", 5),
    ("QLinearConv", 6), ("QLinearConv", 7),
    ("QLinearMatMul", 1), ("QLinearMatMul", 2), ("QLinearMatMul", 4), ("QLinearMatMul", 5),
    ("QLinearMatMul", 6), ("QLinearMatMul", 7),
    ("MatMulInteger", 2), ("MatMulInteger", 3), ("ConvInteger", 2), ("ConvInteger", 3),
}  # fmt: skip

_HEAVY_UNCOUNTED = {
    "Einsum", "Attention", "MultiHeadAttention", "GroupQueryAttention", "QAttention", "DynamicQuantizeLSTM",
    "MatMulNBits", "QGemm", "DFT", "STFT", "Loop", "Scan", "If",
}  # fmt: skip


def load_onnx(path: str | Path) -> onnx.ModelProto:
    """Load an ONNX file, raising :class:`LeanECGError` for a missing or unreadable file."""
    p = Path(path)
    if not p.is_file():
        raise LeanECGError(p, "ONNX file not found")
    try:
        return onnx.load(str(p))
    except Exception as exc:  # onnx raises DecodeError, ValueError, OSError... for bad files
        raise LeanECGError(p, f"not a readable ONNX model: {exc}") from exc


@dataclass(frozen=True)
class OnnxInput:
    """The single graph input of a model.

    Attributes:
        name: input name.
        dims: declared dims; an int for a fixed dim, ``None`` for a symbolic / unknown one.
        dtype: numpy dtype name (``"float32"``...).
    """

    name: str
    dims: tuple[int | None, ...]
    dtype: str


def onnx_input(model: onnx.ModelProto, where: str | Path = "model") -> OnnxInput:
    """The one non-initializer graph input (the cost meter supports single-input models)."""
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise LeanECGError(where, f"the model has {len(inputs)} inputs; the cost meter needs exactly one")
    vi = inputs[0]
    tt = vi.type.tensor_type
    dims = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tt.shape.dim)
    dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type)).name
    return OnnxInput(name=vi.name, dims=dims, dtype=dtype)


# --------------------------------------------------------------------------------------------------
# Parameters and int8 size
# --------------------------------------------------------------------------------------------------


def _consumers(model: onnx.ModelProto) -> dict[str, list[tuple[str, int]]]:
    uses: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for node in _all_nodes(model.graph):
        for slot, name in enumerate(node.input):
            if name:
                uses[name].append((node.op_type, slot))
    return uses


def _all_nodes(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        nodes.append(node)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                nodes.extend(_all_nodes(attr.g))
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    nodes.extend(_all_nodes(g))
    return nodes


def _weight_initializers(model: onnx.ModelProto) -> list[onnx.TensorProto]:
    uses = _consumers(model)
    out = []
    for init in model.graph.initializer:
        if init.data_type not in _FLOAT_TYPES | _INT_WEIGHT_TYPES:
            continue
        if math.prod(init.dims) < 2:
            continue
        slots = uses.get(init.name, [])
        if slots and all(s in _AUX_SLOTS for s in slots):
            continue
        if init.data_type in _INT_WEIGHT_TYPES and not any(
            op in _QUANT_WEIGHT_CONSUMERS and (op, slot) not in _AUX_SLOTS for op, slot in slots
        ):
            continue  # integer tensors are weights only when a (de)quantising op reads them as such
        out.append(init)
    return out


def onnx_params(model: onnx.ModelProto) -> int:
    """Number of weight elements in the graph's initializers (see the module docstring)."""
    return sum(math.prod(init.dims) for init in _weight_initializers(model))


def _itemsize(data_type: int) -> float:
    if data_type in (TensorProto.INT4, TensorProto.UINT4):
        return 0.5
    return float(np.dtype(onnx.helper.tensor_dtype_to_np_dtype(data_type)).itemsize)


def onnx_int8_estimate_bytes(model: onnx.ModelProto, file_bytes: int) -> int:
    """Estimated file size with every float weight matrix (rank >= 2) as int8 + fp32 per-channel scales.

    The same substitution as the torch estimate: ``file_bytes - itemsize*n + n + 4*channels`` for each
    floating-point weight initializer of rank >= 2 (output channels: the last axis of a ``MatMul`` /
    non-transposed ``Gemm`` right operand, ``dirs * gates*H`` for RNN weights, else the first axis).
    """
    uses = _consumers(model)
    total = float(file_bytes)
    for init in _weight_initializers(model):
        if init.data_type not in _FLOAT_TYPES or len(init.dims) < 2:
            continue
        n = math.prod(init.dims)
        slots = uses.get(init.name, [])
        if any(op in ("MatMul", "FusedMatMul") and slot == 1 for op, slot in slots):
            channels = init.dims[-1]
        elif any(op in ("LSTM", "GRU", "RNN") for op, _ in slots) and len(init.dims) == 3:
            channels = init.dims[0] * init.dims[1]
        else:
            channels = init.dims[0]
        total += -_itemsize(init.data_type) * n + n + 4 * channels
    return round(total)


# --------------------------------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------------------------------

Shape = list[int | None]


def _dims_of(tt: onnx.TypeProto.Tensor) -> Shape | None:
    if not tt.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]


def _fixed_input_model(model: onnx.ModelProto, input_name: str, dims: Sequence[int]) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for vi in m.graph.input:
        if vi.name == input_name:
            shape = vi.type.tensor_type.shape
            shape.ClearField("dim")
            for d in dims:
                shape.dim.add().dim_value = int(d)
    del m.graph.value_info[:]
    for vi in m.graph.output:  # let inference recompute them from the concrete input
        vi.type.tensor_type.ClearField("shape")
    return m


def _inferred_shapes(model: onnx.ModelProto) -> dict[str, Shape]:
    try:
        inferred = shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except Exception:  # inference is best effort; the runtime fallback covers what it cannot do
        inferred = model
    shapes: dict[str, Shape] = {}
    for vi in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        dims = _dims_of(vi.type.tensor_type)
        if dims is not None:
            shapes[vi.name] = dims
    for init in inferred.graph.initializer:
        shapes[init.name] = [int(d) for d in init.dims]
    for node in inferred.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    shapes[node.output[0]] = [int(d) for d in attr.t.dims]
    return shapes


def _runtime_shapes(
    model: onnx.ModelProto, inp: OnnxInput, dims: Sequence[int], names: set[str]
) -> dict[str, Shape]:
    """Actual shapes of ``names`` from one ONNX Runtime run on a random input of shape ``dims``."""
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    existing = {o.name for o in m.graph.output}
    for name in sorted(names - existing):
        m.graph.output.append(onnx.ValueInfoProto(name=name))
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal(tuple(dims)).astype(inp.dtype)
    wanted = [o.name for o in sess.get_outputs() if o.name in names]
    values = sess.run(wanted, {inp.name: x})
    return {name: [int(d) for d in np.shape(v)] for name, v in zip(wanted, values, strict=True)}


# --------------------------------------------------------------------------------------------------
# MAC formulas
# --------------------------------------------------------------------------------------------------


class _NeedShape(Exception):
    def __init__(self, names: set[str]) -> None:
        super().__init__(", ".join(sorted(names)))
        self.names = names


def _attr(node: onnx.NodeProto, name: str, default: Any) -> Any:
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _full(shapes: dict[str, Shape], name: str) -> list[int]:
    dims = shapes.get(name)
    if dims is None or any(d is None for d in dims):
        raise _NeedShape({name})
    return [int(d) for d in dims]  # type: ignore[arg-type]


def _unknown(dims: Shape) -> bool:
    return any(d is None for d in dims)


def _numel(shapes: dict[str, Shape], name: str) -> int:
    return math.prod(_full(shapes, name))


def _node_macs(node: onnx.NodeProto, shapes: dict[str, Shape]) -> int | None:
    """MACs of one node, ``None`` when the op type carries no MACs by the convention."""
    op = node.op_type
    ins = list(node.input)
    if op in ("Conv", "FusedConv", "ConvInteger"):
        return _numel(shapes, node.output[0]) * math.prod(_full(shapes, ins[1])[1:])
    if op == "QLinearConv":
        return _numel(shapes, node.output[0]) * math.prod(_full(shapes, ins[3])[1:])
    if op == "ConvTranspose":
        return _numel(shapes, ins[0]) * math.prod(_full(shapes, ins[1])[1:])
    if op in ("Gemm", "FusedGemm"):
        a = shapes.get(ins[0])
        trans_a = bool(_attr(node, "transA", 0))
        k_dim = (a[0] if trans_a else a[-1]) if a else None
        if k_dim is None:
            b = _full(shapes, ins[1])
            k_dim = b[1] if _attr(node, "transB", 0) else b[0]
        return _numel(shapes, node.output[0]) * int(k_dim)
    if op in ("MatMul", "FusedMatMul", "MatMulInteger", "QLinearMatMul"):
        a_name, b_name = (ins[0], ins[3]) if op == "QLinearMatMul" else (ins[0], ins[1])
        a = shapes.get(a_name)
        k_dim = a[-1] if a else None
        if k_dim is None:
            b = _full(shapes, b_name)
            k_dim = b[-2] if len(b) >= 2 else b[0]
        if op == "FusedMatMul" and _attr(node, "transA", 0) and a and len(a) >= 2:
            k_dim = a[-2]
        return _numel(shapes, node.output[0]) * int(k_dim)
    if op in ("LSTM", "GRU", "RNN"):
        x = _full(shapes, ins[0])
        steps_times_batch = x[0] * x[1]  # [seq, batch, I] (layout 0) or [batch, seq, I] (layout 1)
        return steps_times_batch * (_numel(shapes, ins[1]) + _numel(shapes, ins[2]))
    return None


def count_onnx_macs(
    model: onnx.ModelProto | str | Path, input_shape: Sequence[int], batch_size: int = 1
) -> MacCount:
    """MACs of one run of an ONNX model on an input of shape ``(batch_size, *input_shape)``.

    Args:
        model: a loaded ``ModelProto`` or a path to an ``.onnx`` file.
        input_shape: input shape without the batch axis, e.g. ``(n_leads, n_samples)``.
        batch_size: batch size (must agree with a fixed batch dimension of the model).

    Returns:
        :class:`~leanecg.evaluate.cost.macs.MacCount` with ``breakdown`` keyed by node name and ``by_op``
        by ONNX op type.
    """
    where: str | Path = model if isinstance(model, str | Path) else "model"
    proto = load_onnx(model) if isinstance(model, str | Path) else model
    inp = onnx_input(proto, where)
    dims = check_input_dims(inp, input_shape, batch_size, where)
    fixed = _fixed_input_model(proto, inp.name, dims)
    shapes = _inferred_shapes(fixed)

    nodes = list(fixed.graph.node)
    missing: set[str] = set()
    for node in nodes:
        try:
            _node_macs(node, shapes)
        except _NeedShape:
            # ask the runtime for every tensor this node touches, not only the first one found missing
            missing |= {
                n for n in [*node.input, *node.output[:1]] if n and (n not in shapes or _unknown(shapes[n]))
            }
    if missing:
        shapes.update(_runtime_shapes(fixed, inp, dims, missing))

    breakdown: dict[str, int] = {}
    by_op: dict[str, int] = defaultdict(int)
    uncounted: set[str] = set()
    for i, node in enumerate(nodes):
        label = node.name or f"{node.op_type}_{i}"
        try:
            macs = _node_macs(node, shapes)
        except _NeedShape as need:
            uncounted.add(f"{node.op_type}:{label} (unknown shape of {need})")
            continue
        if macs is None:
            if node.op_type in _HEAVY_UNCOUNTED:
                uncounted.add(f"{node.op_type}:{label}")
            continue
        breakdown[label] = breakdown.get(label, 0) + int(macs)
        by_op[node.op_type] += int(macs)
    return MacCount(
        total=sum(breakdown.values()),
        breakdown=breakdown,
        by_op=dict(by_op),
        uncounted=tuple(sorted(uncounted)),
    )


def check_input_dims(
    inp: OnnxInput, input_shape: Sequence[int], batch_size: int, where: str | Path = "model"
) -> list[int]:
    """``[batch_size, *input_shape]``, checked against the model's declared input dims."""
    shape = [int(s) for s in input_shape]
    if any(s < 1 for s in shape):
        raise LeanECGError("input_shape", f"every axis must be >= 1, got {tuple(input_shape)}")
    dims = [int(batch_size), *shape]
    if len(inp.dims) != len(dims):
        raise LeanECGError(
            where,
            f"input {inp.name!r} has rank {len(inp.dims)} but input_shape {tuple(shape)} plus the batch axis "
            f"has rank {len(dims)}",
        )
    for axis, (declared, wanted) in enumerate(zip(inp.dims, dims, strict=True)):
        if declared is not None and declared != wanted:
            what = "batch size" if axis == 0 else f"axis {axis}"
            raise LeanECGError(
                where, f"input {inp.name!r} has a fixed {what} of {declared}, cannot run it with {wanted}"
            )
    return dims
