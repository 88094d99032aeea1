"""ShuffleNetV2-style 1-D classifier (Ma et al. 2018).

Each unit splits its channels in two halves (stride 1) or feeds the input to two branches
(stride 2), runs one half through pointwise -> depthwise -> pointwise convolutions, concatenates
and shuffles the channels so information crosses the halves. Equal in/out widths of every
convolution and few branches make it fast on real CPUs, not only in FLOPs.

ECG adaptations: 9-sample depthwise kernels, a 15-sample stem, and stage widths below the
ImageNet "0.5x" model by default (``width=2`` gives the 0.5x stage widths (48, 96, 192)).

Shapes: ``(batch, n_leads, n_samples) -> (batch, n_classes)``; total stride 32 by default
(stem conv 2, max-pool 2, three stride-2 stages), so ``min_samples == 32``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from leanecg.models.blocks import (
    ConvBNAct,
    StemBackbone,
    channel_shuffle,
    check_same_length,
    conv_pool_stem,
    scale_channels,
    scale_depth,
)
from leanecg.models.heads import ClassifierHead, SequenceClassifier


class ShuffleUnit(nn.Module):
    """ShuffleNetV2 unit, ``(B, in, L) -> (B, out, ceil(L / stride))``; ``out`` must be even.

    Stride 1 needs ``in == out`` (channel split); stride 2 runs both branches on the full input.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        if out_channels % 2:
            raise ValueError(f"ShuffleNet unit needs an even channel count, got {out_channels}")
        if stride == 1 and in_channels != out_channels:
            raise ValueError("a stride-1 ShuffleNet unit needs in_channels == out_channels")
        half = out_channels // 2
        self.stride = stride
        if stride > 1:
            self.branch1: nn.Module = nn.Sequential(
                ConvBNAct(in_channels, in_channels, kernel_size, stride, groups=in_channels, act="identity"),
                ConvBNAct(in_channels, half, 1),
            )
            branch_in = in_channels
        else:
            self.branch1 = nn.Identity()
            branch_in = half
        self.branch2 = nn.Sequential(
            ConvBNAct(branch_in, half, 1),
            ConvBNAct(half, half, kernel_size, stride, groups=half, act="identity"),
            ConvBNAct(half, half, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat([x1, self.branch2(x2)], dim=1)
        else:
            out = torch.cat([self.branch1(x), self.branch2(x)], dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2Backbone(StemBackbone):
    """Stem conv (stride 2) + max-pool (stride 2), stride-2 stages of shuffle units, 1x1 conv."""

    body_name = "stages"

    def __init__(
        self,
        n_leads: int,
        stem_channels: int,
        stem_kernel: int,
        channels: Sequence[int],
        repeats: Sequence[int],
        kernel_size: int,
        last_channels: int,
    ) -> None:
        check_same_length("channels", channels, "repeats", repeats)
        stem = conv_pool_stem(n_leads, stem_channels, stem_kernel)
        units: list[nn.Module] = []
        in_ch = stem_channels
        for out_ch, n in zip(channels, repeats, strict=True):
            for i in range(n):
                units.append(ShuffleUnit(in_ch, out_ch, kernel_size, 2 if i == 0 else 1))
                in_ch = out_ch
        units.append(ConvBNAct(in_ch, last_channels, 1))
        super().__init__(stem, units, last_channels, 4 * 2 ** len(channels))


class ShuffleNetV2(SequenceClassifier):
    """ShuffleNetV2-1D classifier.

    Args:
        n_leads, n_classes: input leads and output logits.
        width: multiplier of stem, stage and last-conv channels (multiples of 8).
        depth: multiplier of the units per stage.
        stem_channels: stem channels at ``width == 1``.
        stem_kernel: odd stem kernel length.
        channels: output channels of each stage at ``width == 1``.
        repeats: units per stage at ``depth == 1`` (the paper's 4, 8, 4).
        kernel_size: odd depthwise kernel length.
        last_channels: channels of the final 1x1 conv at ``width == 1``.
        pool: global pooling of the head.
        dropout: dropout before the classifier.
    """

    def __init__(
        self,
        n_leads: int,
        n_classes: int,
        width: float = 1.0,
        depth: float = 1.0,
        *,
        stem_channels: int = 16,
        stem_kernel: int = 15,
        channels: Sequence[int] = (24, 48, 96),
        repeats: Sequence[int] = (4, 8, 4),
        kernel_size: int = 9,
        last_channels: int = 256,
        pool: str = "avg",
        dropout: float = 0.2,
    ) -> None:
        backbone = ShuffleNetV2Backbone(
            n_leads,
            scale_channels(stem_channels, width),
            stem_kernel,
            [scale_channels(c, width) for c in channels],
            [scale_depth(n, depth) for n in repeats],
            kernel_size,
            scale_channels(last_channels, width),
        )
        head = ClassifierHead(backbone.out_channels, n_classes, pool=pool, dropout=dropout)
        super().__init__(backbone, head, n_leads, backbone.stride)
