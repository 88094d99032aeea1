"""Multiply-accumulate (MAC) counting for torch models, with one explicit convention.

Convention (the same for torch and ONNX, see :mod:`leanecg.evaluate.cost.onnx_graph`):

- 1 MAC = one multiply-add. Biases, activations, normalisation, pooling, softmax, element-wise ops and
  the element-wise parts of RNN cells are **not** counted; BatchNorm counts 0 (it folds into the
  preceding convolution for inference).
- Convolution: ``numel(output) * (C_in / groups) * prod(kernel)`` (covers stride, padding, dilation,
  grouped and depthwise); transposed convolution: ``numel(input) * (C_out / groups) * prod(kernel)``.
- Matrix products (``Linear``, ``matmul``, ``bmm``, ``einsum``...): ``numel(output) * K``.
- RNNs, per time step, per direction, per layer (``H`` hidden size, ``I_l`` the layer input size, ``P``
  the projection size or ``H``): LSTM ``4*H*(I_l + P)`` (+ ``H*P`` with ``proj_size``), GRU
  ``3*H*(I_l + H)``, vanilla RNN ``H*(I_l + H)``. Layer ``l > 0`` has ``I_l = P * directions``.
- ``nn.MultiheadAttention`` (``L`` query length, ``S`` key length incl. ``add_bias_kv`` /
  ``add_zero_attn`` slots, ``E`` embed dim): input projections ``L*E*E + S*kdim*E + S*vdim*E``, ``QK^T``
  ``L*S*E`` and ``AV`` ``L*S*E`` (summed over heads: ``heads * L*S*(E/heads)``), output projection
  ``L*E*E``; ``scaled_dot_product_attention`` counts ``L*S*(E + E_v)`` per batch and head.

How it counts: one forward pass (``eval`` mode, ``no_grad``) runs under a ``TorchDispatchMode`` that
sees every ATen operator, so functional code (``x @ w``, ``F.conv1d``, ``F.scaled_dot_product_attention``)
is counted, not only known ``nn`` modules. RNN modules and ``nn.MultiheadAttention`` are counted by the
formulas above from their hyper-parameters and input shapes (their kernels are fused and opaque, e.g.
``mkldnn_rnn_layer``, ``_native_multi_head_attention``); operators inside them are then ignored. Fused
operators met outside those modules (``_transformer_encoder_layer_fwd`` from the
``TransformerEncoderLayer`` fast path, ``mkldnn_rnn_layer``, ``aten.lstm``...) have their own formulas.
Operators that may carry MACs but have no formula (custom or quantized kernels, FFTs...) are listed in
:attr:`MacCount.uncounted`, never silently dropped.

Why not torchinfo alone: it counts biases, ignores the sequence axis of ``Linear`` on ``(B, L, F)``
inputs and cannot see the attention matmuls; it agrees with this counter for bias-free convolutions
(plain, strided, grouped, depthwise) and bias-free LSTM/GRU, which the tests check.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from leanecg.errors import LeanECGError
from leanecg.evaluate.cost.inputs import (
    check_extra_inputs,
    declared_extra_inputs,
    describe_shapes,
    make_extra_inputs,
    model_dtype,
)

__all__ = ["MacCount", "count_callable_macs", "count_macs", "lstm_like_macs", "mha_macs"]

ROOT = "(root)"


@dataclass(frozen=True)
class MacCount:
    """Result of a MAC count.

    Attributes:
        total: MACs of one forward pass at the counted batch size.
        breakdown: MACs per place: torch module path (``"(root)"`` for the model's own forward) or
            ONNX node name. Each MAC is attributed to the innermost module running when it happens.
        by_op: MACs per operator or formula (``"aten.convolution"``, ``"nn.LSTM"``, ``"Conv"``...).
        uncounted: operators that ran, may carry MACs and have no formula (empty when the count is
            complete).
    """

    total: int
    breakdown: dict[str, int] = field(default_factory=dict)
    by_op: dict[str, int] = field(default_factory=dict)
    uncounted: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------------
# Module-level formulas (documented convention)
# --------------------------------------------------------------------------------------------------

_RNN_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def lstm_like_macs(
    mode: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    proj_size: int = 0,
) -> int:
    """MACs of one time step of one sequence through a stacked RNN (all layers and directions).

    Args:
        mode: ``"LSTM"``, ``"GRU"``, ``"RNN_TANH"`` or ``"RNN_RELU"``.
        input_size, hidden_size, num_layers, bidirectional, proj_size: as in ``torch.nn.LSTM``.

    Returns:
        ``sum over layers and directions of gates*H*(I_l + P) (+ H*P when projecting)``.
    """
    if mode not in _RNN_GATES:
        raise LeanECGError("mode", f"unknown RNN mode {mode!r}; expected one of {sorted(_RNN_GATES)}")
    gates = _RNN_GATES[mode]
    dirs = 2 if bidirectional else 1
    h = hidden_size
    p = proj_size if proj_size > 0 else hidden_size
    per_step = 0
    for layer in range(num_layers):
        in_size = input_size if layer == 0 else p * dirs
        per_dir = gates * h * (in_size + p) + (h * p if proj_size > 0 else 0)
        per_step += dirs * per_dir
    return per_step


def _rnn_module_macs(module: nn.RNNBase, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    x = args[0] if args else kwargs.get("input")
    if isinstance(x, nn.utils.rnn.PackedSequence):
        steps_times_batch = int(x.data.shape[0])
    elif isinstance(x, torch.Tensor):
        # (L, N, I), (N, L, I) or unbatched (L, I): steps * batch is everything but the feature axis.
        steps_times_batch = x.numel() // max(int(x.shape[-1]), 1)
    else:
        return 0
    per_step = lstm_like_macs(
        module.mode,
        module.input_size,
        module.hidden_size,
        module.num_layers,
        module.bidirectional,
        getattr(module, "proj_size", 0),
    )
    return steps_times_batch * per_step


def mha_macs(
    embed_dim: int,
    query_len: int,
    key_len: int,
    batch: int = 1,
    kdim: int | None = None,
    vdim: int | None = None,
    extra_key_slots: int = 0,
) -> int:
    """MACs of ``nn.MultiheadAttention`` for one call.

    Args:
        embed_dim: ``E``.
        query_len: ``L``; key_len: ``S`` (key/value sequence length).
        batch: ``N``.
        kdim, vdim: key / value feature sizes (default ``E``).
        extra_key_slots: key positions appended inside the module (``add_bias_kv`` adds 1,
            ``add_zero_attn`` adds 1); they enter ``QK^T`` and ``AV`` but not the projections.

    Returns:
        ``N * (L*E*E + S*kdim*E + S*vdim*E + 2*L*S'*E + L*E*E)`` with ``S' = S + extra_key_slots``.
    """
    e = embed_dim
    kd = e if kdim is None else kdim
    vd = e if vdim is None else vdim
    s_eff = key_len + extra_key_slots
    projections = query_len * e * e + key_len * kd * e + key_len * vd * e
    attention = 2 * query_len * s_eff * e
    out_proj = query_len * e * e
    return batch * (projections + attention + out_proj)


def _mha_module_macs(module: nn.MultiheadAttention, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    names = ("query", "key", "value")
    tensors = [args[i] if len(args) > i else kwargs.get(n) for i, n in enumerate(names)]
    query, key = tensors[0], tensors[1]
    if not isinstance(query, torch.Tensor) or not isinstance(key, torch.Tensor):
        return 0
    if query.is_nested or key.is_nested:
        raise _Uncountable("nn.MultiheadAttention on nested tensors")
    if query.dim() == 2:  # unbatched (L, E)
        batch, q_len, k_len = 1, int(query.shape[0]), int(key.shape[0])
    elif module.batch_first:
        batch, q_len, k_len = int(query.shape[0]), int(query.shape[1]), int(key.shape[1])
    else:
        batch, q_len, k_len = int(query.shape[1]), int(query.shape[0]), int(key.shape[0])
    extra = (1 if module.bias_k is not None else 0) + (1 if module.add_zero_attn else 0)
    return mha_macs(module.embed_dim, q_len, k_len, batch, module.kdim, module.vdim, extra)


class _Uncountable(Exception):
    """A call whose MACs cannot be derived (reported in ``uncounted``)."""


_MODULE_FORMULAS: tuple[tuple[type[nn.Module], Callable[..., int]], ...] = (
    (nn.RNNBase, _rnn_module_macs),
    (nn.MultiheadAttention, _mha_module_macs),
)


def _module_formula(module: nn.Module) -> tuple[str, Callable[..., int]] | None:
    for cls, fn in _MODULE_FORMULAS:
        if isinstance(module, cls):
            return f"nn.{type(module).__name__}", fn
    return None


# --------------------------------------------------------------------------------------------------
# Operator-level formulas
# --------------------------------------------------------------------------------------------------


def _t(x: Any) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise _Uncountable(f"expected a tensor, got {type(x).__name__}")
    if x.is_nested:
        raise _Uncountable("nested tensor")
    return x


def _first(out: Any) -> torch.Tensor:
    return _t(out[0] if isinstance(out, tuple | list) else out)


def _k_inner(args: Sequence[Any], a_idx: int, out: Any) -> int:
    """``numel(out) * K`` for a matrix product whose left operand is ``args[a_idx]``."""
    a = _t(args[a_idx])
    return _first(out).numel() * int(a.shape[-1])


def _conv(args: Sequence[Any], transposed_idx: int | None, out: Any, transposed: bool = False) -> int:
    x, w = _t(args[0]), _t(args[1])
    if transposed_idx is not None and len(args) > transposed_idx:
        transposed = bool(args[transposed_idx])
    per = math.prod(int(s) for s in w.shape[1:])
    return (x.numel() if transposed else _first(out).numel()) * per


def _sdpa(args: Sequence[Any], out: Any) -> int:
    q, k, v = _t(args[0]), _t(args[1]), _t(args[2])
    batch_heads = math.prod(int(s) for s in q.shape[:-2])
    q_len, e = int(q.shape[-2]), int(q.shape[-1])
    s_len, ev = int(k.shape[-2]), int(v.shape[-1])
    return batch_heads * q_len * s_len * (e + ev)


def _native_mha(args: Sequence[Any], out: Any) -> int:
    # _native_multi_head_attention(query, key, value, embed_dim, num_head, qkv_weight, qkv_bias, ...)
    q, k = _t(args[0]), _t(args[1])
    e = int(args[3])
    batch = math.prod(int(s) for s in q.shape[:-2])
    return mha_macs(e, int(q.shape[-2]), int(k.shape[-2]), batch)


def _encoder_layer(args: Sequence[Any], out: Any) -> int:
    # _transformer_encoder_layer_fwd(src, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight,
    #   proj_bias, use_gelu, norm_first, eps, norm_weight_1, norm_bias_1, norm_weight_2, norm_bias_2,
    #   ffn_weight_1, ffn_bias_1, ffn_weight_2, ffn_bias_2, mask, mask_type)
    src = _t(args[0])
    e = int(args[1])
    ffn = int(_t(args[14]).shape[0])
    batch = math.prod(int(s) for s in src.shape[:-2])
    seq = int(src.shape[-2])
    return mha_macs(e, seq, seq, batch) + batch * 2 * seq * e * ffn


def _mkldnn_rnn_layer(args: Sequence[Any], out: Any) -> int:
    # mkldnn_rnn_layer(input, weight0 (W_ih), weight1 (W_hh), weight2, weight3, hx_, cx_, ...)
    x, w_ih, w_hh = _t(args[0]), _t(args[1]), _t(args[2])
    return (x.numel() // int(x.shape[-1])) * (w_ih.numel() + w_hh.numel())


def _fused_rnn(args: Sequence[Any], out: Any, overload: str) -> int:
    # aten.lstm.input(input, hx, params, has_biases, ...) / aten.lstm.data(data, batch_sizes, hx, params, ...)
    # aten.gru / rnn_tanh / rnn_relu have the same layout. Weight matrices are the 2-D params.
    x = _t(args[0])
    params = args[3] if overload == "data" else args[2]
    steps_times_batch = x.numel() // int(x.shape[-1])
    return steps_times_batch * sum(p.numel() for p in params if isinstance(p, torch.Tensor) and p.dim() == 2)


def _rnn_cell(args: Sequence[Any], out: Any) -> int:
    # lstm_cell / gru_cell / rnn_tanh_cell / rnn_relu_cell(input, hx, w_ih, w_hh, b_ih, b_hh)
    x, w_ih, w_hh = _t(args[0]), _t(args[2]), _t(args[3])
    return (x.numel() // int(x.shape[-1])) * (w_ih.numel() + w_hh.numel())


def _build_op_formulas() -> dict[Any, Callable[[Sequence[Any], Any, str], int]]:
    aten = torch.ops.aten
    table: dict[str, Callable[[Sequence[Any], Any, str], int]] = {
        "mm": lambda a, o, _: _k_inner(a, 0, o),
        "bmm": lambda a, o, _: _k_inner(a, 0, o),
        "matmul": lambda a, o, _: _k_inner(a, 0, o),
        "addmm": lambda a, o, _: _k_inner(a, 1, o),
        "_addmm_activation": lambda a, o, _: _k_inner(a, 1, o),
        "baddbmm": lambda a, o, _: _k_inner(a, 1, o),
        "addbmm": lambda a, o, _: _t(a[1]).numel() * int(_t(a[2]).shape[-1]),
        "linear": lambda a, o, _: _first(o).numel() * int(_t(a[1]).shape[-1]),
        "dot": lambda a, o, _: _t(a[0]).numel(),
        "vdot": lambda a, o, _: _t(a[0]).numel(),
        "mv": lambda a, o, _: _t(a[0]).numel(),
        "addmv": lambda a, o, _: _t(a[1]).numel(),
        "convolution": lambda a, o, _: _conv(a, 6, o),
        "_convolution": lambda a, o, _: _conv(a, 6, o),
        "convolution_overrideable": lambda a, o, _: _conv(a, 6, o),
        "conv1d": lambda a, o, _: _conv(a, None, o),
        "conv2d": lambda a, o, _: _conv(a, None, o),
        "conv3d": lambda a, o, _: _conv(a, None, o),
        "mkldnn_convolution": lambda a, o, _: _conv(a, None, o),
        "conv_transpose1d": lambda a, o, _: _conv(a, None, o, transposed=True),
        "conv_transpose2d": lambda a, o, _: _conv(a, None, o, transposed=True),
        "conv_transpose3d": lambda a, o, _: _conv(a, None, o, transposed=True),
        "scaled_dot_product_attention": lambda a, o, _: _sdpa(a, o),
        "_scaled_dot_product_flash_attention_for_cpu": lambda a, o, _: _sdpa(a, o),
        "_scaled_dot_product_flash_attention": lambda a, o, _: _sdpa(a, o),
        "_scaled_dot_product_efficient_attention": lambda a, o, _: _sdpa(a, o),
        "_scaled_dot_product_cudnn_attention": lambda a, o, _: _sdpa(a, o),
        "_scaled_dot_product_fused_attention_overrideable": lambda a, o, _: _sdpa(a, o),
        "_native_multi_head_attention": lambda a, o, _: _native_mha(a, o),
        "_transformer_encoder_layer_fwd": lambda a, o, _: _encoder_layer(a, o),
        "mkldnn_rnn_layer": lambda a, o, _: _mkldnn_rnn_layer(a, o),
        "lstm": _fused_rnn_formula,
        "gru": _fused_rnn_formula,
        "rnn_tanh": _fused_rnn_formula,
        "rnn_relu": _fused_rnn_formula,
        "lstm_cell": lambda a, o, _: _rnn_cell(a, o),
        "gru_cell": lambda a, o, _: _rnn_cell(a, o),
        "rnn_tanh_cell": lambda a, o, _: _rnn_cell(a, o),
        "rnn_relu_cell": lambda a, o, _: _rnn_cell(a, o),
    }
    formulas: dict[Any, Callable[[Sequence[Any], Any, str], int]] = {}
    for name, fn in table.items():
        packet = getattr(aten, name, None)
        if packet is not None:
            formulas[packet] = fn
    return formulas


def _fused_rnn_formula(args: Sequence[Any], out: Any, overload: str) -> int:
    return _fused_rnn(args, out, overload)


_OP_FORMULAS = _build_op_formulas()

# Operators that may carry MACs: flagged when met without a formula (outside counted modules).
_HEAVY = re.compile(
    r"(mm|matmul|conv|linear|lstm|gru|rnn|attention|einsum|fft|bilinear|tensordot|quantized|_weight_int|"
    r"embedding_bag)"
)
_HARMLESS_NAMESPACES = {"profiler", "prim", "prims"}


def _looks_heavy(func: Any) -> bool:
    namespace = getattr(func, "namespace", "aten")
    if namespace != "aten":
        return namespace not in _HARMLESS_NAMESPACES
    return bool(_HEAVY.search(func.overloadpacket.__name__))


# --------------------------------------------------------------------------------------------------
# Counting machinery
# --------------------------------------------------------------------------------------------------


class _State:
    def __init__(self) -> None:
        self.stack: list[str] = [ROOT]
        self.opaque_depth = 0
        self.breakdown: dict[str, int] = defaultdict(int)
        self.by_op: dict[str, int] = defaultdict(int)
        self.uncounted: set[str] = set()

    def add(self, where: str, op: str, macs: int) -> None:
        if macs:
            self.breakdown[where] += int(macs)
            self.by_op[op] += int(macs)


def _positional(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """All arguments of an ATen call in schema order (keyword arguments and defaults filled in)."""
    if not kwargs:
        return tuple(args)
    out = list(args)
    for arg in func._schema.arguments[len(args) :]:
        if arg.name in kwargs:
            out.append(kwargs[arg.name])
        elif arg.has_default_value():
            out.append(arg.default_value)
        else:
            break
    return tuple(out)


class _MacMode(TorchDispatchMode):
    def __init__(self, state: _State) -> None:
        super().__init__()
        self.state = state

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.state.opaque_depth == 0:
            packet = func.overloadpacket
            formula = _OP_FORMULAS.get(packet)
            name = f"{getattr(func, 'namespace', 'aten')}.{packet.__name__}"
            if formula is not None:
                try:
                    macs = formula(_positional(func, args, kwargs), out, func._overloadname)
                except (_Uncountable, IndexError, TypeError) as exc:
                    self.state.uncounted.add(f"{name} ({exc})" if str(exc) else name)
                else:
                    self.state.add(self.state.stack[-1], name, macs)
            elif _looks_heavy(func):
                self.state.uncounted.add(name)
        return out


def _install_hooks(model: nn.Module, state: _State) -> list[Any]:
    handles: list[Any] = []
    for name, module in model.named_modules():
        where = name or ROOT
        formula = _module_formula(module)

        def pre(mod: nn.Module, args: Any, kwargs: Any, where: str = where, formula: Any = formula) -> None:
            state.stack.append(where)
            if formula is not None:
                if state.opaque_depth == 0:
                    label, fn = formula
                    try:
                        state.add(where, label, fn(mod, tuple(args), dict(kwargs)))
                    except _Uncountable as exc:
                        state.uncounted.add(f"{label} ({exc})")
                state.opaque_depth += 1

        def post(mod: nn.Module, args: Any, kwargs: Any, output: Any, formula: Any = formula) -> None:
            if formula is not None:
                state.opaque_depth -= 1
            if len(state.stack) > 1:
                state.stack.pop()

        try:
            handles.append(module.register_forward_pre_hook(pre, with_kwargs=True))
            handles.append(module.register_forward_hook(post, with_kwargs=True, always_call=True))
        except RuntimeError:  # TorchScript modules do not take hooks; their operators are still counted
            continue
    return handles


def _example_inputs(
    model: nn.Module,
    input_shape: Sequence[int] | None,
    example_inputs: tuple[Any, ...] | None,
    batch_size: int,
) -> tuple[Any, ...]:
    if example_inputs is not None:
        return tuple(example_inputs)
    if input_shape is None:
        raise LeanECGError("input_shape", "give input_shape (without the batch axis) or example_inputs")
    shape = tuple(int(s) for s in input_shape)
    if any(s < 1 for s in shape):
        raise LeanECGError("input_shape", f"every axis must be >= 1, got {tuple(input_shape)}")
    return (torch.zeros((batch_size, *shape), dtype=model_dtype(model), device=_model_device(model)),)


def _model_device(model: nn.Module) -> torch.device:
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def _example_kwargs(
    model: nn.Module,
    extra_inputs: Mapping[str, Sequence[int]] | None,
    example_kwargs: Mapping[str, Any] | None,
    batch_size: int,
) -> dict[str, Any]:
    if example_kwargs is not None:
        if extra_inputs is not None:
            raise LeanECGError(
                "extra_inputs", "give extra_inputs (shapes) or example_kwargs (tensors), not both"
            )
        if not isinstance(example_kwargs, Mapping):
            raise LeanECGError("example_kwargs", f"must be a mapping, got {type(example_kwargs).__name__}")
        declared = declared_extra_inputs(model)
        missing = [n for n in declared or () if n not in example_kwargs]
        if missing:
            raise LeanECGError(
                "model", f"{type(model).__name__} needs example_kwargs for {', '.join(map(repr, missing))}"
            )
        return dict(example_kwargs)
    shapes = check_extra_inputs(model, extra_inputs)
    return make_extra_inputs(shapes, batch_size, model_dtype(model), None, _model_device(model))


def count_macs(
    model: nn.Module,
    input_shape: Sequence[int] | None = None,
    *,
    example_inputs: tuple[Any, ...] | None = None,
    batch_size: int = 1,
    extra_inputs: Mapping[str, Sequence[int]] | None = None,
    example_kwargs: Mapping[str, Any] | None = None,
) -> MacCount:
    """Count the MACs of one forward pass of ``model`` (see the module docstring for the convention).

    Args:
        model: a torch module; it is run once in eval mode under ``no_grad`` (its train/eval flag is
            restored afterwards).
        input_shape: input shape **without** the batch axis, e.g. ``(n_leads, n_samples)``; a zero
            tensor of shape ``(batch_size, *input_shape)`` in the model's dtype is fed.
        example_inputs: alternatively, the exact positional inputs to call the model with.
        batch_size: batch size used with ``input_shape`` and ``extra_inputs``.
        extra_inputs: keyword inputs besides the signal, as shapes **without** the batch axis, e.g.
            ``{"features": (7,)}`` for ``beatnet``; zero tensors ``(batch_size, *shape)`` in the model's
            dtype are passed by keyword. Required when the model's ``extra_inputs`` attribute names
            inputs (see :mod:`leanecg.evaluate.cost.inputs`).
        example_kwargs: alternatively, the exact keyword inputs (tensors) to call the model with.

    Returns:
        :class:`MacCount` for the whole batch (divide by the batch size for per-example MACs).

    Raises:
        LeanECGError: when the model needs keyword inputs that are not given, or cannot run on the
            given inputs.
    """
    inputs = _example_inputs(model, input_shape, example_inputs, batch_size)
    kwargs = _example_kwargs(model, extra_inputs, example_kwargs, batch_size)
    state = _State()
    was_training = model.training
    model.eval()
    handles = _install_hooks(model, state)
    try:
        with torch.no_grad(), _MacMode(state):
            model(*inputs, **kwargs)
    except LeanECGError:  # the model's own input check: already names what is wrong
        raise
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        shapes = describe_shapes(inputs, kwargs)
        raise LeanECGError("input_shape", f"the model failed on inputs {shapes}: {exc}") from exc
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return MacCount(
        total=sum(state.breakdown.values()),
        breakdown=dict(state.breakdown),
        by_op=dict(state.by_op),
        uncounted=tuple(sorted(state.uncounted)),
    )


def count_callable_macs(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> MacCount:
    """Count the MACs of ``fn(*args, **kwargs)`` at the operator level only (no module formulas).

    Useful for functional code and to cross-check the module formulas: every ATen operator with a
    formula is counted wherever it runs, including the fused kernels behind ``nn.LSTM``
    (``mkldnn_rnn_layer``) and ``nn.MultiheadAttention`` (``_native_multi_head_attention``).
    Everything is attributed to ``"(root)"`` in :attr:`MacCount.breakdown`.
    """
    state = _State()
    with torch.no_grad(), _MacMode(state):
        fn(*args, **kwargs)
    return MacCount(
        total=sum(state.breakdown.values()),
        breakdown=dict(state.breakdown),
        by_op=dict(state.by_op),
        uncounted=tuple(sorted(state.uncounted)),
    )
