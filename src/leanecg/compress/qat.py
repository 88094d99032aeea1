"""Quantization-aware training (QAT) with plain torch ops: int8 fake quantization + straight-through estimator.

The int8 model LeanECG deploys is made by ONNX Runtime's static quantization of the exported fp32 graph
(:mod:`leanecg.deploy.onnx`): batch norm is first folded into the preceding convolution, then weights are
quantized to int8 **symmetrically per output channel** (``scale_c = max|w_c| / 127``, levels -127..127)
and activations to uint8 **per tensor** with ranges calibrated on training data. QAT here simulates exactly
that during fine-tuning so the weights adapt to it:

* every ``Conv1d`` followed by a ``BatchNorm1d`` (the zoo's conv-bn-act triples) is trained through its
  *folded* weight ``w * gamma / sqrt(var + eps)`` (running statistics frozen, gamma/beta trainable), fake
  quantized per output channel; other convolutions and linear layers fake-quantize their own weights;
* the input of every convolution and linear layer is fake quantized per tensor (asymmetric, 8 bits) with
  a range tracked by an exponential moving average of batch minima / maxima while training (fixed in eval);
* rounding uses the straight-through estimator: the forward pass sees quantized values, the backward pass
  the identity (``x + (q(x) - x).detach()``).

:func:`prepare_qat` returns a training copy whose modules are wrapped; :func:`convert_qat` unwraps it back
into the original architecture (same ``state_dict`` keys, same config), an fp32 model whose weights are
QAT-adapted. That fp32 model is what gets packaged and then exported by the ONNX int8 path, which quantizes
the same folded weights with the same per-channel rule. Not ``torch.ao.quantization`` (deprecated).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from leanecg.errors import LeanECGError

__all__ = [
    "ActivationFakeQuant",
    "QATConv1d",
    "QATConvBN1d",
    "QATLinear",
    "convert_qat",
    "fake_quantize",
    "freeze_batchnorm",
    "prepare_qat",
    "weight_fake_quant",
]

INT8_LEVELS = 127  # symmetric int8 weights: -127 .. 127
UINT8_LEVELS = 255  # asymmetric uint8 activations: 0 .. 255


def fake_quantize(
    x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, qmin: int, qmax: int
) -> torch.Tensor:
    """Quantize-dequantize ``x`` with a straight-through gradient.

    ``q = clamp(round(x / scale) + zero_point, qmin, qmax)``; returns ``(q - zero_point) * scale`` in the
    forward pass and passes the gradient through unchanged (``scale``/``zero_point`` broadcast with ``x``).
    """
    q = torch.clamp(torch.round(x / scale) + zero_point, qmin, qmax)
    return x + ((q - zero_point) * scale - x).detach()


def weight_fake_quant(w: torch.Tensor) -> torch.Tensor:
    """Symmetric per-output-channel int8 fake quantization of a weight ``(out, ...)``."""
    absmax = w.detach().abs().flatten(1).amax(dim=1).clamp_min(1e-12)
    scale = (absmax / INT8_LEVELS).view(-1, *([1] * (w.dim() - 1)))
    return fake_quantize(w, scale, torch.zeros_like(scale), -INT8_LEVELS, INT8_LEVELS)


class ActivationFakeQuant(nn.Module):
    """Per-tensor asymmetric 8-bit fake quantization with an EMA-tracked range (always including 0).

    Args:
        momentum: weight of the current batch's min / max in the moving average (training mode).
    """

    def __init__(self, momentum: float = 0.01) -> None:
        super().__init__()
        self.momentum = float(momentum)
        self.register_buffer("min_val", torch.zeros(()))
        self.register_buffer("max_val", torch.zeros(()))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            lo, hi = x.detach().amin(), x.detach().amax()
            if not bool(self.initialized):
                self.min_val.copy_(lo)
                self.max_val.copy_(hi)
                self.initialized.fill_(True)
            else:
                self.min_val.lerp_(lo, self.momentum)
                self.max_val.lerp_(hi, self.momentum)
        elif not bool(self.initialized):
            return x  # never calibrated: nothing to simulate
        lo = torch.clamp(self.min_val, max=0.0)
        hi = torch.clamp(self.max_val, min=0.0)
        scale = ((hi - lo) / UINT8_LEVELS).clamp_min(1e-8)
        zero_point = torch.round(-lo / scale)
        return fake_quantize(x, scale, zero_point, 0, UINT8_LEVELS)


class QATConvBN1d(nn.Module):
    """Conv1d + BatchNorm1d trained through the fake-quantized folded weight (running statistics frozen)."""

    def __init__(self, conv: nn.Conv1d, bn: nn.BatchNorm1d) -> None:
        super().__init__()
        self.conv, self.bn = conv, bn
        self.input_quant = ActivationFakeQuant()

    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch-norm-folded weight and bias (running statistics)."""
        bn = self.bn
        gamma = bn.weight if bn.weight is not None else torch.ones_like(bn.running_var)
        beta = bn.bias if bn.bias is not None else torch.zeros_like(bn.running_mean)
        scale = gamma / torch.sqrt(bn.running_var + bn.eps)
        w = self.conv.weight * scale.view(-1, 1, 1)
        b = beta - bn.running_mean * scale
        if self.conv.bias is not None:
            b = b + self.conv.bias * scale
        return w, b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self.folded()
        c = self.conv
        return F.conv1d(
            self.input_quant(x), weight_fake_quant(w), b, c.stride, c.padding, c.dilation, c.groups
        )


class QATConv1d(nn.Module):
    """A Conv1d with fake-quantized weight and input."""

    def __init__(self, conv: nn.Conv1d) -> None:
        super().__init__()
        self.conv = conv
        self.input_quant = ActivationFakeQuant()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv
        return F.conv1d(
            self.input_quant(x),
            weight_fake_quant(c.weight),
            c.bias,
            c.stride,
            c.padding,
            c.dilation,
            c.groups,
        )


class QATLinear(nn.Module):
    """A Linear layer with fake-quantized weight and input."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.linear = linear
        self.input_quant = ActivationFakeQuant()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.input_quant(x), weight_fake_quant(self.linear.weight), self.linear.bias)


def prepare_qat(model: nn.Module) -> nn.Module:
    """A QAT training copy of ``model`` (``model`` itself is unchanged); see the module docstring.

    Conv-bn pairs inside ``nn.Sequential`` containers (children ``i`` and ``i + 1``) become
    :class:`QATConvBN1d` + ``Identity``; remaining ``Conv1d`` / ``Linear`` layers become :class:`QATConv1d` /
    :class:`QATLinear`. Train it with :func:`leanecg.train.fit`, then call :func:`convert_qat`.

    Raises:
        LeanECGError: the model has no convolution or linear layer, or is already prepared.
    """
    if any(isinstance(m, QATConvBN1d | QATConv1d | QATLinear) for m in model.modules()):
        raise LeanECGError("model", "is already prepared for quantization-aware training")
    qat = copy.deepcopy(model)
    qat.__dict__.pop("train", None)
    n = _wrap(qat)
    if n == 0:
        raise LeanECGError("model", "has no convolution or linear layer to quantize")
    return qat


def _wrap(module: nn.Module) -> int:
    count = 0
    children = list(module.named_children())
    skip: set[str] = set()
    for i, (name, child) in enumerate(children):
        if name in skip:
            continue
        if isinstance(module, nn.Sequential) and isinstance(child, nn.Conv1d) and i + 1 < len(children):
            nxt_name, nxt = children[i + 1]
            if isinstance(nxt, nn.BatchNorm1d) and nxt.num_features == child.out_channels:
                setattr(module, name, QATConvBN1d(child, nxt))
                setattr(module, nxt_name, nn.Identity())
                skip.add(nxt_name)
                count += 1
                continue
        if isinstance(child, nn.Conv1d):
            setattr(module, name, QATConv1d(child))
            count += 1
        elif isinstance(child, nn.Linear):
            setattr(module, name, QATLinear(child))
            count += 1
        else:
            count += _wrap(child)
    return count


def convert_qat(qat_model: nn.Module) -> nn.Module:
    """Unwrap a :func:`prepare_qat` model into the original architecture (a new fp32 model).

    The result has the original module tree, ``state_dict`` keys and config (``leanecg.models.model_config``),
    with the QAT-trained weights and the frozen batch-norm statistics; the activation ranges seen in
    training are dropped (the ONNX int8 path calibrates its own).
    """
    model = copy.deepcopy(qat_model)
    model.__dict__.pop("train", None)  # drop a freeze_batchnorm patch (it points at the QAT copy)
    _unwrap(model)
    model.eval()
    return model


def _unwrap(module: nn.Module) -> None:
    children = list(module.named_children())
    for i, (name, child) in enumerate(children):
        if isinstance(child, QATConvBN1d):
            setattr(module, name, child.conv)
            nxt_name, nxt = children[i + 1]
            if not isinstance(nxt, nn.Identity):
                raise LeanECGError("model", f"QAT module {name} lost its batch-norm slot")
            setattr(module, nxt_name, child.bn)
        elif isinstance(child, QATConv1d):
            setattr(module, name, child.conv)
        elif isinstance(child, QATLinear):
            setattr(module, name, child.linear)
        else:
            _unwrap(child)


def freeze_batchnorm(model: nn.Module) -> nn.Module:
    """Put every BatchNorm of ``model`` in eval mode now and whenever ``model.train()`` is called.

    QAT folds batch norm with its running statistics, so they must not drift during fine-tuning
    (:class:`QATConvBN1d` never updates them; this also freezes batch norms outside conv-bn pairs, e.g. the
    feature normalisation of fusion heads).
    """
    original_train = model.train

    def train(mode: bool = True) -> nn.Module:
        original_train(mode)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.eval()
        return model

    model.train = train  # type: ignore[method-assign]
    return model
