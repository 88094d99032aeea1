"""Shared 1-D building blocks for the deep model zoo.

Every block maps a channels-first tensor ``(batch, channels, n_samples)`` to
``(batch, out_channels, ceil(n_samples / stride))``. All convolutions use odd kernel sizes with
"same" padding so residual branches always line up, whatever the input length. Activations are
``nn.Module`` instances (never functional calls hidden in ``forward``) and conv -> batch-norm ->
activation triples are ``nn.Sequential`` (children ``"0"``, ``"1"``, ``"2"``), so later fusion and
static int8 quantization can find them. No block has data-dependent Python control flow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from leanecg.errors import check_choice, check_number

ACTIVATIONS = ("relu", "relu6", "hswish", "hsigmoid", "silu", "gelu", "sigmoid", "identity")


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by name (one of :data:`ACTIVATIONS`).

    ``"hswish"`` is the hard-swish of MobileNetV3, ``x * relu6(x + 3) / 6``; ``"hsigmoid"`` its
    gate, ``relu6(x + 3) / 6``. Both export to single ONNX ops and quantize well.
    """
    factories = {
        "relu": lambda: nn.ReLU(inplace=False),
        "relu6": lambda: nn.ReLU6(inplace=False),
        "hswish": nn.Hardswish,
        "hsigmoid": nn.Hardsigmoid,
        "silu": nn.SiLU,
        "gelu": nn.GELU,
        "sigmoid": nn.Sigmoid,
        "identity": nn.Identity,
    }
    check_choice("activation", name, ACTIVATIONS)
    return factories[name]()


def init_weights(module: nn.Module) -> None:
    """Initialise one module the way ImageNet-trained conv nets are (use with ``model.apply``).

    Convolutions: He-normal (fan-out, ReLU gain), zero bias. Batch/layer norms: weight 1, bias 0.
    Linear layers: truncated normal with std 0.02, zero bias. Recurrent layers keep PyTorch's
    uniform initialisation. Keeps the activation scale roughly constant through deep stacks, so
    untrained models (and the first training steps) do not collapse to input-independent outputs.
    """
    if isinstance(module, nn.Conv1d):
        nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm1d | nn.LayerNorm):
        if module.weight is not None:
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` (MobileNet rule).

    Never rounds down by more than 10 % and never returns less than ``min_value`` (default:
    ``divisor``).
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return int(rounded)


def scale_channels(channels: int, width: float, divisor: int = 8) -> int:
    """``channels * width`` rounded with :func:`make_divisible`."""
    return make_divisible(channels * width, divisor)


def scale_depth(repeats: int, depth: float) -> int:
    """``ceil(repeats * depth)``, at least 1 (EfficientNet rule)."""
    return max(1, math.ceil(repeats * depth - 1e-9))


def same_padding(kernel_size: int, dilation: int = 1) -> int:
    """Padding that keeps ``ceil(n / stride)`` output samples for an odd ``kernel_size``."""
    if kernel_size % 2 != 1:
        raise ValueError(f"kernel_size must be odd for 'same' padding, got {kernel_size}")
    return (kernel_size - 1) // 2 * dilation


class ConvBNAct(nn.Sequential):
    """``Conv1d`` (no bias) -> ``BatchNorm1d`` -> activation, with "same" padding.

    Args:
        in_channels, out_channels: channel counts.
        kernel_size: odd kernel length in samples.
        stride: temporal stride (output length ``ceil(n / stride)``).
        groups: convolution groups (``in_channels`` for a depthwise conv).
        act: activation name (``"identity"`` for none, e.g. before a residual sum).
        dilation: temporal dilation.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        act: str = "relu",
        dilation: int = 1,
    ) -> None:
        super().__init__(
            nn.Conv1d(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=same_padding(kernel_size, dilation),
                dilation=dilation,
                groups=groups,
                bias=False,
            ),
            nn.BatchNorm1d(out_channels),
            make_activation(act),
        )
        self.out_channels = out_channels


def check_same_length(first: str, first_value: Sequence, second: str, second_value: Sequence) -> None:
    """Raise ``ValueError`` unless two per-stage option lists are non-empty and of the same length."""
    if len(first_value) != len(second_value) or not first_value:
        raise ValueError(f"'{first}' and '{second}' must be non-empty lists of the same length")


class MaxPool(nn.Module):
    """Max-pool over time with "same" padding: ``(B, C, L) -> (B, C, ceil(L / stride))``.

    Computed as a ``(1, kernel)`` 2-D max-pool on ``(B, C, 1, L)``: identical results to
    ``nn.MaxPool1d(kernel_size, stride, kernel_size // 2)``, but ``torch.export`` (and so ONNX
    export with a dynamic length) keeps the length symbolic, whereas torch 2.13 specializes
    ``max_pool1d`` to the example length.
    """

    def __init__(self, kernel_size: int = 3, stride: int = 2) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = same_padding(kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.max_pool2d(x.unsqueeze(2), (1, self.kernel_size), (1, self.stride), (0, self.padding))
        return y.squeeze(2)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: scale each channel by a gate computed from its temporal mean.

    ``(B, C, L) -> (B, C, L)``. The two 1x1 convolutions act on the pooled ``(B, C, 1)`` vector.

    Args:
        channels: channels of the input.
        squeeze_channels: bottleneck width (e.g. ``channels // 16`` for SE-ResNet).
        act: bottleneck activation.
        gate: gate activation (``"sigmoid"``, or ``"hsigmoid"`` for MobileNetV3).
    """

    def __init__(
        self, channels: int, squeeze_channels: int, act: str = "relu", gate: str = "sigmoid"
    ) -> None:
        super().__init__()
        self.reduce = nn.Conv1d(channels, squeeze_channels, 1)
        self.act = make_activation(act)
        self.expand = nn.Conv1d(squeeze_channels, channels, 1)
        self.gate = make_activation(gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=-1, keepdim=True)
        s = self.gate(self.expand(self.act(self.reduce(s))))
        return x * s


class DropPath(nn.Module):
    """Stochastic depth: zero whole residual branches per sample while training (identity in eval)."""

    def __init__(self, rate: float = 0.0) -> None:
        super().__init__()
        check_number("drop_path", rate, low=0, high=1, high_open=True)
        self.rate = float(rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device) < keep
        return x * mask.to(x.dtype) / keep


class DepthwiseSeparableConv(nn.Module):
    """MobileNetV1 block: depthwise conv-bn-act (optional SE) -> pointwise conv-bn-act.

    ``(B, in, L) -> (B, out, ceil(L / stride))``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 9,
        stride: int = 1,
        act: str = "relu",
        se_ratio: float = 0.0,
    ) -> None:
        super().__init__()
        self.depthwise = ConvBNAct(in_channels, in_channels, kernel_size, stride, groups=in_channels, act=act)
        self.se = (
            SqueezeExcite(in_channels, make_divisible(in_channels * se_ratio, 4), gate="hsigmoid")
            if se_ratio > 0
            else nn.Identity()
        )
        self.pointwise = ConvBNAct(in_channels, out_channels, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.se(self.depthwise(x)))


class InvertedResidual(nn.Module):
    """MobileNetV2/V3 and EfficientNet MBConv block.

    1x1 expansion (skipped when ``expanded == in_channels``) -> depthwise ``kernel_size`` conv ->
    optional squeeze-excite -> linear 1x1 projection; identity shortcut (with optional drop-path)
    when ``stride == 1`` and ``in_channels == out_channels``.

    Args:
        in_channels, out_channels: channel counts.
        expanded: channels inside the block (``in_channels * expansion ratio``).
        kernel_size: odd depthwise kernel length.
        stride: temporal stride.
        act: activation of the expansion and depthwise convs.
        se_channels: squeeze-excite bottleneck width (0: no SE).
        se_act, se_gate: SE activations (``"relu"``/``"hsigmoid"`` for V3, ``"silu"``/``"sigmoid"``
            for EfficientNet).
        drop_path: stochastic-depth rate of the residual branch.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        expanded: int,
        kernel_size: int = 3,
        stride: int = 1,
        act: str = "relu6",
        se_channels: int = 0,
        se_act: str = "relu",
        se_gate: str = "hsigmoid",
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.use_residual = stride == 1 and in_channels == out_channels
        self.expand = (
            ConvBNAct(in_channels, expanded, 1, act=act) if expanded != in_channels else nn.Identity()
        )
        self.depthwise = ConvBNAct(expanded, expanded, kernel_size, stride, groups=expanded, act=act)
        self.se = SqueezeExcite(expanded, se_channels, se_act, se_gate) if se_channels > 0 else nn.Identity()
        self.project = ConvBNAct(expanded, out_channels, 1, act="identity")
        self.drop_path = DropPath(drop_path) if self.use_residual else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.se(self.depthwise(self.expand(x))))
        if self.use_residual:
            return x + self.drop_path(y)
        return y


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet channel shuffle of ``(B, C, L)``: interleave ``groups`` equal channel groups."""
    return x.unflatten(1, (groups, x.shape[1] // groups)).transpose(1, 2).flatten(1, 2)


class ChannelShuffle(nn.Module):
    """Module form of :func:`channel_shuffle`."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(x, self.groups)


class BasicBlock1d(nn.Module):
    """ResNet basic block with large kernels: conv-bn-relu -> conv-bn (-> SE) + shortcut -> relu.

    The shortcut is a strided 1x1 conv + batch-norm when the stride or channel count changes.
    ``(B, in, L) -> (B, out, ceil(L / stride))``.

    Args:
        in_channels, out_channels: channel counts.
        kernel_size: odd kernel length of both convolutions (e.g. 9 or 15 samples).
        stride: stride of the first convolution.
        se_reduction: squeeze-excite reduction ratio (0: plain ResNet block).
        dropout: dropout between the two convolutions (as in Ribeiro et al. 2020).
        drop_path: stochastic-depth rate of the residual branch.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 9,
        stride: int = 1,
        se_reduction: int = 0,
        dropout: float = 0.0,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.conv1 = ConvBNAct(in_channels, out_channels, kernel_size, stride, act="relu")
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = ConvBNAct(out_channels, out_channels, kernel_size, 1, act="identity")
        self.se = (
            SqueezeExcite(out_channels, max(4, out_channels // se_reduction))
            if se_reduction > 0
            else nn.Identity()
        )
        self.shortcut = (
            ConvBNAct(in_channels, out_channels, 1, stride, act="identity")
            if stride != 1 or in_channels != out_channels
            else nn.Identity()
        )
        self.drop_path = DropPath(drop_path)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.se(self.conv2(self.dropout(self.conv1(x))))
        return self.act(self.shortcut(x) + self.drop_path(y))


def conv_pool_stem(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    """ResNet-style stem: stride-2 conv-bn-relu then stride-2 max-pool (total stride 4).

    ``(B, in, L) -> (B, out, ceil(ceil(L / 2) / 2))``; children ``"0"`` (the :class:`ConvBNAct`)
    and ``"1"`` (the :class:`MaxPool`).
    """
    return nn.Sequential(ConvBNAct(in_channels, out_channels, kernel_size, stride=2), MaxPool(3, 2))


class StemBackbone(nn.Module):
    """A stem followed by a sequence of blocks: ``(B, n_leads, L) -> (B, out_channels, ceil(L / stride))``.

    The container of the convolutional zoo backbones; it carries the ``out_channels`` and the total
    ``stride`` that the head and ``min_samples`` need. The blocks form an ``nn.Sequential`` child
    named by the class attribute :attr:`body_name` (``"blocks"``; subclasses whose checkpoints
    name it ``"stages"`` set that), so state-dict keys are ``stem.*`` and ``<body_name>.<i>.*``.

    Args:
        stem: module applied first.
        blocks: modules applied in order after the stem.
        out_channels: channels of the last block's output.
        stride: total temporal stride of stem and blocks.
    """

    body_name = "blocks"

    def __init__(self, stem: nn.Module, blocks: Sequence[nn.Module], out_channels: int, stride: int) -> None:
        super().__init__()
        self.stem = stem
        self.add_module(self.body_name, nn.Sequential(*blocks))
        self.out_channels = out_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, self.body_name)(self.stem(x))
