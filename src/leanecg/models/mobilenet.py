"""MobileNetV1/V2/V3-style 1-D classifiers.

* V1 (Howard et al. 2017): depthwise-separable convolutions.
* V2 (Sandler et al. 2018): inverted residuals with linear bottlenecks.
* V3 (Howard et al. 2019): inverted residuals with squeeze-excite, hard-swish and the "small"
  block layout.

ECG adaptations: 1-D depthwise kernels are longer than the 3x3/5x5 of images (a depthwise kernel
costs ``k`` weights per channel, so 9-sample kernels are nearly free and widen the receptive field
quickly), the stem conv is 15 samples wide, and the channel tables are narrower than the ImageNet
ones (ImageNet widths would give 1-D models of millions of parameters, far from the wearable
budget these models are for). The block layouts (strides, expansion, SE and activation
placement) follow the papers; ``width`` scales the channels.

Shapes: ``(batch, n_leads, n_samples) -> (batch, n_classes)``; ``min_samples`` is the total
stride (32 with the default tables).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from leanecg.models.blocks import (
    ConvBNAct,
    DepthwiseSeparableConv,
    InvertedResidual,
    StemBackbone,
    make_divisible,
    scale_channels,
    scale_depth,
)
from leanecg.models.heads import ClassifierHead, SequenceClassifier


class MobileNetV1(SequenceClassifier):
    """MobileNetV1-1D: stem conv, then stages of depthwise-separable blocks, global pooling.

    Args:
        n_leads, n_classes: input leads and output logits.
        width: channel multiplier (multiples of 8).
        depth: multiplier of the repeats of every stage.
        stem_channels: stem conv channels at ``width == 1``.
        stem_kernel: odd stem kernel length (the stem has stride 2).
        kernel_size: odd depthwise kernel length.
        stages: rows ``[out_channels, stride, repeats]``; the stride applies to a stage's first block.
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
        kernel_size: int = 9,
        stages: Sequence[Sequence[int]] = ((32, 1, 1), (64, 2, 2), (96, 2, 2), (128, 2, 4), (192, 2, 2)),
        pool: str = "avg",
        dropout: float = 0.2,
    ) -> None:
        in_ch = scale_channels(stem_channels, width)
        stem = ConvBNAct(n_leads, in_ch, stem_kernel, stride=2)
        blocks: list[nn.Module] = []
        stride = 2
        for row in stages:
            if len(row) != 3:
                raise ValueError(
                    f"each MobileNetV1 stage is [out_channels, stride, repeats], got {list(row)}"
                )
            out, s, n = int(row[0]), int(row[1]), int(row[2])
            out_ch = scale_channels(out, width)
            for i in range(scale_depth(n, depth)):
                blocks.append(DepthwiseSeparableConv(in_ch, out_ch, kernel_size, s if i == 0 else 1))
                in_ch = out_ch
            stride *= s
        backbone = StemBackbone(stem, blocks, in_ch, stride)
        head = ClassifierHead(in_ch, n_classes, pool=pool, dropout=dropout)
        super().__init__(backbone, head, n_leads, stride)


class MobileNetV2(SequenceClassifier):
    """MobileNetV2-1D: inverted residuals with linear bottlenecks, a 1x1 head conv, global pooling.

    Args:
        n_leads, n_classes: input leads and output logits.
        width: channel multiplier (multiples of 8), also applied to ``last_channels``.
        depth: multiplier of the repeats of every stage.
        stem_channels: stem conv channels at ``width == 1``.
        stem_kernel: odd stem kernel length (the stem has stride 2).
        kernel_size: odd depthwise kernel length.
        stages: rows ``[expansion, out_channels, repeats, stride]`` (the paper's ``t, c, n, s``).
        last_channels: channels of the final 1x1 conv.
        pool: global pooling of the head.
        dropout: dropout before the classifier.
        drop_path: maximum stochastic-depth rate over the residual blocks.
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
        kernel_size: int = 9,
        stages: Sequence[Sequence[int]] = (
            (1, 8, 1, 1),
            (4, 16, 2, 2),
            (4, 24, 3, 2),
            (4, 32, 3, 2),
            (4, 48, 2, 1),
            (4, 64, 2, 2),
        ),
        last_channels: int = 256,
        pool: str = "avg",
        dropout: float = 0.2,
        drop_path: float = 0.0,
    ) -> None:
        in_ch = scale_channels(stem_channels, width)
        stem = ConvBNAct(n_leads, in_ch, stem_kernel, stride=2, act="relu6")
        rows = [_row(r, 4, "MobileNetV2 stage", "[expansion, out_channels, repeats, stride]") for r in stages]
        total = sum(scale_depth(int(r[2]), depth) for r in rows)
        blocks: list[nn.Module] = []
        stride, index = 2, 0
        for t, c, n, s in rows:
            out_ch = scale_channels(c, width)
            for i in range(scale_depth(int(n), depth)):
                rate = drop_path * index / max(1, total - 1)
                expanded = make_divisible(in_ch * t, 8) if t != 1 else in_ch
                blocks.append(
                    InvertedResidual(
                        in_ch, out_ch, expanded, kernel_size, int(s) if i == 0 else 1, "relu6", drop_path=rate
                    )
                )
                in_ch, index = out_ch, index + 1
            stride *= int(s)
        last = scale_channels(last_channels, width)
        blocks.append(ConvBNAct(in_ch, last, 1, act="relu6"))
        backbone = StemBackbone(stem, blocks, last, stride)
        head = ClassifierHead(last, n_classes, pool=pool, dropout=dropout)
        super().__init__(backbone, head, n_leads, stride)


class MobileNetV3(SequenceClassifier):
    """MobileNetV3-1D ("small" layout): SE + hard-swish inverted residuals, hidden-layer head.

    Args:
        n_leads, n_classes: input leads and output logits.
        width: channel multiplier (multiples of 8) of every conv, SE and head width.
        depth: multiplier of the number of blocks per stage (a strided row and the rows after it).
        stem_channels: stem conv channels at ``width == 1`` (hard-swish, stride 2).
        stem_kernel: odd stem kernel length.
        blocks: rows ``[kernel, expanded, out_channels, se (0/1), activation, stride]`` with
            activation ``"relu"`` or ``"hswish"`` (the paper's table, 1-D kernels).
        last_channels: channels of the final 1x1 conv at ``width == 1``.
        head_hidden: hidden layer of the head at ``width == 1`` (hard-swish).
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
        stem_channels: int = 8,
        stem_kernel: int = 15,
        blocks: Sequence[Sequence[int | str]] = (
            (5, 8, 8, 1, "relu", 2),
            (5, 24, 8, 0, "relu", 2),
            (5, 24, 8, 0, "relu", 1),
            (9, 24, 16, 1, "hswish", 2),
            (9, 64, 16, 1, "hswish", 1),
            (9, 64, 16, 1, "hswish", 1),
            (9, 32, 16, 1, "hswish", 1),
            (9, 40, 16, 1, "hswish", 1),
            (9, 72, 24, 1, "hswish", 2),
            (9, 144, 24, 1, "hswish", 1),
            (9, 144, 24, 1, "hswish", 1),
        ),
        last_channels: int = 144,
        head_hidden: int = 128,
        pool: str = "avg",
        dropout: float = 0.2,
    ) -> None:
        in_ch = scale_channels(stem_channels, width)
        stem = ConvBNAct(n_leads, in_ch, stem_kernel, stride=2, act="hswish")
        rows = [_row(r, 6, "MobileNetV3 block", "[kernel, expanded, out, se, act, stride]") for r in blocks]
        layers: list[nn.Module] = []
        stride = 2
        for k, exp, out, se, act, s in _scale_stages(rows, depth):
            exp_ch, out_ch = scale_channels(int(exp), width), scale_channels(int(out), width)
            se_ch = make_divisible(exp_ch / 4, 8) if int(se) else 0
            layers.append(
                InvertedResidual(in_ch, out_ch, exp_ch, int(k), int(s), str(act), se_ch, "relu", "hsigmoid")
            )
            in_ch = out_ch
            stride *= int(s)
        last = scale_channels(last_channels, width)
        layers.append(ConvBNAct(in_ch, last, 1, act="hswish"))
        backbone = StemBackbone(stem, layers, last, stride)
        head = ClassifierHead(
            last,
            n_classes,
            pool=pool,
            hidden=scale_channels(head_hidden, width),
            dropout=dropout,
            act="hswish",
        )
        super().__init__(backbone, head, n_leads, stride)


def _scale_stages(rows: Sequence[Sequence[int | str]], depth: float) -> list[list[int | str]]:
    """Scale the number of blocks of every stage of a V3 table by ``depth``.

    A stage is a strided row and the stride-1 rows after it. The stage keeps its first
    ``scale_depth(n, depth)`` rows; extra rows (``depth > 1``) repeat its last row with stride 1.
    """
    stages: list[list[list[int | str]]] = []
    for row in rows:
        if int(row[5]) != 1 or not stages:
            stages.append([])
        stages[-1].append(list(row))
    out: list[list[int | str]] = []
    for stage in stages:
        n = scale_depth(len(stage), depth)
        extra = [[*stage[-1][:5], 1] for _ in range(max(0, n - len(stage)))]
        out.extend((stage + extra)[:n])
    return out


def _row(row: Sequence[int | str], length: int, what: str, layout: str) -> Sequence[int | str]:
    """Check one row of an architecture table."""
    if len(row) != length:
        raise ValueError(f"each {what} is {layout}, got {list(row)}")
    return row
