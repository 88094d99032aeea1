"""Rewrites of an exported ONNX graph that leave its computation unchanged (:mod:`leanecg.deploy.onnx`).

:func:`fold_batchnorm_into_gemm` folds a batch normalisation feeding fully connected layers into them;
:func:`compact_onnx` drops what is not needed to run the graph (debugging metadata, doc strings, shape
annotations, node names, default attributes, unused opsets) and gives tensors short names;
:func:`drop_zero_zero_points` and :func:`drop_output_requantization` trim the int8 quantizer's output.
All take ``onnx`` protos (``onnx`` is imported inside the functions, never at import time).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from leanecg.package.ort_runtime import OUTPUT_NAME

__all__ = [
    "SELECTION_OPS",
    "compact_onnx",
    "drop_output_requantization",
    "drop_unused_initializers",
    "drop_zero_zero_points",
    "fold_batchnorm_into_gemm",
    "narrow_int64_tables",
    "unquantize_selection_inputs",
]


def fold_batchnorm_into_gemm(graph: Any) -> None:
    """Fold each ``BatchNormalization`` whose only consumers are ``Gemm`` layers (as their input ``A``, with
    constant weights) into them: ``BN(x) = x * s + t`` with ``s = gamma / sqrt(var + eps)`` and
    ``t = beta - mean * s``, so ``BN(x) @ W.T + c = x @ (W * s).T + (c + W @ t)``. The exporter already
    folds batch norms that follow convolutions; this covers the one on a wide-and-deep model's features.

    Args:
        graph: an ``onnx.GraphProto``, changed in place (folded nodes and unused initializers removed).
    """
    from onnx import helper, numpy_helper

    inits = {t.name: t for t in graph.initializer}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    for bn in [n for n in graph.node if n.op_type == "BatchNormalization" and len(n.output) == 1]:
        users = consumers.get(bn.output[0], [])
        params = [inits.get(name) for name in bn.input[1:5]]
        if not users or bn.output[0] in outputs or any(t is None for t in params):
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in bn.attribute}
        if attrs.get("training_mode", 0):
            continue
        gemms = []
        for gemm in users:
            ga = {a.name: helper.get_attribute_value(a) for a in gemm.attribute}
            if (
                gemm.op_type != "Gemm"
                or list(gemm.input[:1]) != [bn.output[0]]
                or ga.get("transA", 0)
                or gemm.input[1] not in inits
                or (len(gemm.input) > 2 and gemm.input[2] and gemm.input[2] not in inits)
            ):
                break
            gemms.append(
                (gemm, bool(ga.get("transB", 0)), float(ga.get("alpha", 1.0)), float(ga.get("beta", 1.0)))
            )
        else:
            gamma, beta, mean, var = (numpy_helper.to_array(t).astype(np.float64) for t in params)
            scale = gamma / np.sqrt(var + float(attrs.get("epsilon", 1e-5)))
            shift = beta - mean * scale
            for gemm, trans_b, alpha, beta_g in gemms:
                w_init = inits[gemm.input[1]]
                w = numpy_helper.to_array(w_init).astype(np.float64)
                w_out = w if trans_b else w.T  # (n_out, n_in)
                bias = alpha * (w_out @ shift)
                if len(gemm.input) > 2 and gemm.input[2]:
                    bias = bias + beta_g * numpy_helper.to_array(inits[gemm.input[2]]).astype(np.float64)
                w_new = w_out * scale[None, :]
                dtype = numpy_helper.to_array(w_init).dtype
                w_init.CopyFrom(
                    numpy_helper.from_array((w_new if trans_b else w_new.T).astype(dtype), w_init.name)
                )
                b_name = f"{w_init.name}_folded_bias"
                graph.initializer.append(numpy_helper.from_array(bias.astype(dtype), b_name))
                while len(gemm.input) < 3:
                    gemm.input.append("")
                gemm.input[0], gemm.input[2] = bn.input[0], b_name
                for a in gemm.attribute:
                    if a.name == "beta":
                        a.f = 1.0
            graph.node.remove(bn)
    drop_unused_initializers(graph)


def drop_unused_initializers(graph: Any) -> None:
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)


#: Attribute values equal to the ONNX defaults of the operators an exported LeanECG model uses (a missing
#: ``kernel_shape`` is the weight's shape; ``strides`` / ``dilations`` of 1 and zero ``pads`` are defaults).
_DEFAULT_ATTRIBUTES: dict[str, dict[str, Any]] = {
    "Conv": {
        "auto_pad": b"NOTSET",
        "group": 1,
        "dilations": 1,
        "strides": 1,
        "pads": 0,
        "kernel_shape": None,
    },
    "Gemm": {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0},
    "Concat": {},
    "ReduceMean": {"keepdims": 1, "noop_with_empty_axes": 0},
    "ReduceMax": {"keepdims": 1, "noop_with_empty_axes": 0},
    "BatchNormalization": {"epsilon": 1e-5, "momentum": 0.9, "training_mode": 0},
}


def _is_default(op_type: str, attr: Any) -> bool:
    """Whether ``attr`` of a node ``op_type`` holds the ONNX default (``None`` in the table: always
    implied, e.g. ``Conv``'s ``kernel_shape`` is the weight's spatial shape)."""
    from onnx import helper

    table = _DEFAULT_ATTRIBUTES.get(op_type, {})
    if attr.name not in table:
        return False
    default, value = table[attr.name], helper.get_attribute_value(attr)
    if default is None:
        return True
    if isinstance(value, list):
        return all(v == default for v in value)
    if isinstance(value, float):
        return bool(np.float32(value) == np.float32(default))
    return bool(value == default)


def _short_names(reserved: set[str]) -> Iterator[str]:
    """``0, 1, ..., z, 10, 11, ...`` (base 36), skipping ``reserved``."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    i = 0
    while True:
        n, name = i, ""
        while True:
            n, r = divmod(n, 36)
            name = digits[r] + name
            if n == 0:
                break
        i += 1
        if name not in reserved:
            yield name


def compact_onnx(proto: Any) -> None:
    """Drop from an ONNX model (in place) what is not needed to run it; the computation is unchanged.

    Removed: metadata of the model, graph, nodes and inputs / outputs (the exporter's stack traces and
    export signature; the LeanECG metadata is set afterwards, if at all), doc strings of the graph and
    nodes, ``value_info`` (ONNX Runtime infers shapes), node names, attributes equal to their ONNX
    defaults (:data:`_DEFAULT_ATTRIBUTES`) and opset imports no node uses. Tensors are renamed to short
    base-36 names; the inputs keep theirs and the (single) output is named
    :data:`~leanecg.package.ort_runtime.OUTPUT_NAME`.

    Args:
        proto: an ``onnx.ModelProto`` with one graph output.
    """
    graph = proto.graph
    del proto.metadata_props[:]
    del graph.metadata_props[:]
    del graph.value_info[:]
    graph.doc_string = ""
    for value in [*graph.input, *graph.output]:
        del value.metadata_props[:]
        value.doc_string = ""
    rename = {v.name: v.name for v in graph.input}
    rename[graph.output[0].name] = OUTPUT_NAME
    names = _short_names(set(rename.values()))
    for tensor in graph.initializer:
        rename.setdefault(tensor.name, next(names))
        tensor.name = rename[tensor.name]
        tensor.doc_string = ""
    for node in graph.node:
        for out in node.output:
            if out:
                rename.setdefault(out, next(names))
    for node in graph.node:
        node.name = ""
        node.doc_string = ""
        del node.metadata_props[:]
        for i, name in enumerate(node.input):
            node.input[i] = rename.get(name, name) if name else ""
        for i, name in enumerate(node.output):
            node.output[i] = rename[name] if name else ""
        keep = [a for a in node.attribute if not _is_default(node.op_type, a)]
        del node.attribute[:]
        node.attribute.extend(keep)
    for value in graph.output:
        value.name = rename[value.name]
    used_domains = {node.domain for node in graph.node} | {""}
    opsets = [o for o in proto.opset_import if o.domain in used_domains]
    del proto.opset_import[:]
    proto.opset_import.extend(opsets)


def drop_zero_zero_points(graph: Any) -> None:
    """Remove all-zero zero points of ``QuantizeLinear`` / ``DequantizeLinear`` nodes where ONNX's default
    gives the same values and types.

    ``zero_point`` is optional and defaults to 0: of type uint8 for ``QuantizeLinear`` (so only uint8
    zero points are dropped there: the activations after a ReLU), of the input's type for
    ``DequantizeLinear`` (uint8 activations, and the int8 symmetric weights). ONNX Runtime fuses the graph
    the same way. Saves one byte per weight channel plus a tensor per layer.
    """
    import onnx
    from onnx import numpy_helper

    inits = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear") or len(node.input) != 3:
            continue
        zero = inits.get(node.input[2])
        if zero is None or numpy_helper.to_array(zero).any():
            continue
        data = inits.get(node.input[0])
        weight_int8 = data is not None and data.data_type == onnx.TensorProto.INT8
        if zero.data_type == onnx.TensorProto.UINT8 or (node.op_type == "DequantizeLinear" and weight_int8):
            del node.input[2]


def drop_output_requantization(graph: Any) -> None:
    """Remove the ``QuantizeLinear -> DequantizeLinear`` pair on the graph output (the quantizer's rounding
    of the final logits to 8 bits, which only loses precision): the layer before it then writes the
    output itself, in fp32."""
    producers = {out: node for node in graph.node for out in node.output}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    for value in graph.output:
        dq = producers.get(value.name)
        if dq is None or dq.op_type != "DequantizeLinear":
            continue
        q = producers.get(dq.input[0])
        if q is None or q.op_type != "QuantizeLinear" or uses.get(q.output[0], 0) != 1:
            continue
        layer = producers.get(q.input[0])
        if layer is None or uses.get(q.input[0], 0) != 1:
            continue
        layer.output[list(layer.output).index(q.input[0])] = value.name
        graph.node.remove(q)
        graph.node.remove(dq)


#: Ops that compare or select values (tree models, :mod:`leanecg.deploy.onnx_trees`: the ``TreeEnsemble`` node
#: and the zero / NaN reading before it): their inputs must be the exact float values, never an 8-bit rounding.
SELECTION_OPS = (
    "TreeEnsemble",
    "Abs",
    "LessOrEqual",
    "Less",
    "Greater",
    "GreaterOrEqual",
    "Where",
    "GatherElements",
    "GatherND",
)


def unquantize_selection_inputs(graph: Any) -> None:
    """Feed comparison / selection nodes (:data:`SELECTION_OPS`) the float tensors themselves.

    The QDQ quantizer rewires *every* consumer of a quantized tensor to its ``QuantizeLinear ->
    DequantizeLinear`` copy, so a graph input read by a network layer (quantized) and by the splits of a
    tree model would give the trees values rounded to 8 bits, moving examples across split thresholds. Each
    such input is pointed back at the tensor before the pair; pairs left without consumers are removed.
    """
    producers = {out: node for node in graph.node for out in node.output}
    for node in graph.node:
        if node.op_type not in SELECTION_OPS:
            continue
        for i, name in enumerate(node.input):
            dq = producers.get(name)
            q = producers.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
            if q is not None and q.op_type == "QuantizeLinear":
                node.input[i] = q.input[0]
    changed = True
    while changed:  # drop Q / DQ nodes nothing reads any more
        used = {name for node in graph.node for name in node.input} | {v.name for v in graph.output}
        dead = [
            n
            for n in graph.node
            if n.op_type in ("QuantizeLinear", "DequantizeLinear") and n.output[0] not in used
        ]
        for n in dead:
            graph.node.remove(n)
        changed = bool(dead)


def narrow_int64_tables(graph: Any, min_size: int = 1024) -> None:
    """Store large int64 lookup tables (the data input of ``Gather`` / ``GatherND`` / ``GatherElements``,
    e.g. a tree model's split features and child indices after the quantizer's pre-processing folded their
    casts) in the narrowest of int16 / int32 that holds them, with one ``Cast`` back to int64 in front: the
    same values at a quarter or half of the bytes."""
    import onnx
    from onnx import numpy_helper

    gathers = ("Gather", "GatherND", "GatherElements")
    readers: dict[str, list[Any]] = {}
    for node in graph.node:
        for k, name in enumerate(node.input):
            readers.setdefault(name, []).append((node, k))
    casts = []
    for init in list(graph.initializer):
        if init.data_type != onnx.TensorProto.INT64:
            continue
        uses = readers.get(init.name, [])
        if not uses or any(n.op_type not in gathers or k != 0 for n, k in uses):
            continue
        values = numpy_helper.to_array(init)
        if values.size < min_size:
            continue
        kind = np.int16 if values.min() >= -(2**15) and values.max() < 2**15 else np.int32
        if kind is np.int32 and (values.min() < -(2**31) or values.max() >= 2**31):
            continue
        narrow = numpy_helper.from_array(values.astype(kind), name=f"{init.name}_narrow")
        graph.initializer.remove(init)
        graph.initializer.append(narrow)
        casts.append(onnx.helper.make_node("Cast", [narrow.name], [init.name], to=onnx.TensorProto.INT64))
    for node in reversed(casts):
        graph.node.insert(0, node)
