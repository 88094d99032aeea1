"""Minimal CNNs for wearables: LiteNet (record/window classifier) and BeatNet (beat classifier).

* ``LiteNet``: in the spirit of LiteNet (He et al. 2018) and PD-Net: a wide-kernel stem, a few
  stride-2 depthwise-separable blocks, global pooling and one linear layer -- about 15 k weights
  for one lead at ``width == 1``, ReLU only and no squeeze-excite (conv-bn-relu triples that fuse
  and quantize to int8 without special cases).
* ``BeatNet``: a small CNN on a window around one R peak (e.g. 0.25 s before to 0.45 s after,
  126 samples at 180 Hz for MIT-BIH), each window normalised to zero mean and unit RMS inside the
  model, whose pooled morphology embedding is joined with a beat-feature vector (RR intervals,
  template similarity) by :class:`~leanecg.models.heads.BeatHead`; about 16 k weights by default, few
  operations (strided convolutions) for a low batch-1 latency.

Shapes: ``(batch, n_leads, n_samples) -> (batch, n_classes)``; BeatNet also takes
``features: (batch, n_features)`` when built with ``n_features > 0``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from leanecg.errors import check_choice
from leanecg.models.blocks import (
    ConvBNAct,
    DepthwiseSeparableConv,
    MaxPool,
    StemBackbone,
    check_same_length,
    make_divisible,
)
from leanecg.models.heads import BeatHead, ClassifierHead, FusionClassifier, SequenceClassifier, check_input


def _scale(channels: int, width: float) -> int:
    """Channel scaling for tiny models: multiples of 4, at least 4."""
    return make_divisible(channels * width, 4)


class LiteNetBackbone(StemBackbone):
    """Stem conv (stride 2) + depthwise-separable blocks; ``(B, n_leads, L) -> (B, C, ceil(L/stride))``."""

    def __init__(
        self,
        n_leads: int,
        stem_channels: int,
        stem_kernel: int,
        blocks: Sequence[tuple[int, int]],
        kernel_size: int,
    ) -> None:
        stem = ConvBNAct(n_leads, stem_channels, stem_kernel, stride=2)
        layers: list[nn.Module] = []
        in_ch, stride = stem_channels, 2
        for out_ch, s in blocks:
            layers.append(DepthwiseSeparableConv(in_ch, out_ch, kernel_size, s))
            in_ch, stride = out_ch, stride * s
        super().__init__(stem, layers, in_ch, stride)

    @classmethod
    def scaled(
        cls,
        n_leads: int,
        width: float,
        depth: float,
        stem_channels: int,
        stem_kernel: int,
        blocks: Sequence[Sequence[int]],
        kernel_size: int,
    ) -> LiteNetBackbone:
        """The backbone with channels scaled by ``width`` (multiples of 4, at least 4) and ``int(depth) - 1``
        extra stride-1 blocks after each row of ``blocks`` (``[out_channels, stride]`` rows at width 1).

        Raises:
            ValueError: a row of ``blocks`` is not ``[out_channels, stride]``.
        """
        rows: list[tuple[int, int]] = []
        extra = max(0, int(depth) - 1)
        for row in blocks:
            if len(row) != 2:
                raise ValueError(f"each LiteNet block is [out_channels, stride], got {list(row)}")
            c, s = _scale(int(row[0]), width), int(row[1])
            rows.append((c, s))
            rows.extend((c, 1) for _ in range(extra))
        return cls(n_leads, _scale(stem_channels, width), stem_kernel, rows, kernel_size)


class LiteNet(SequenceClassifier):
    """Minimal depthwise-separable CNN for wearable ECG.

    Args:
        n_leads, n_classes: input leads and output logits.
        width: channel multiplier (multiples of 4).
        depth: multiplier of the number of extra stride-1 blocks (one after each strided block at
            ``depth >= 2``; ``depth < 1`` is treated as 1 -- the strided blocks set the resolution).
        stem_channels: stem channels at ``width == 1``.
        stem_kernel: odd stem kernel length (stride 2).
        blocks: rows ``[out_channels, stride]`` of depthwise-separable blocks.
        kernel_size: odd depthwise kernel length.
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
        blocks: Sequence[Sequence[int]] = ((24, 2), (32, 2), (48, 2), (64, 2), (96, 1)),
        kernel_size: int = 9,
        pool: str = "avg",
        dropout: float = 0.1,
    ) -> None:
        backbone = LiteNetBackbone.scaled(
            n_leads, width, depth, stem_channels, stem_kernel, blocks, kernel_size
        )
        head = ClassifierHead(backbone.out_channels, n_classes, pool=pool, dropout=dropout)
        super().__init__(backbone, head, n_leads, backbone.stride)


class BeatNetBackbone(nn.Module):
    """Conv-bn-relu blocks that halve the length between blocks.

    ``downsample="maxpool"``: each block but the last is followed by a stride-2 max-pool;
    ``"stride"``: each block but the first convolves with stride 2 (fewer operations: lower batch-1
    latency). ``(B, n_leads, L) -> (B, channels[-1], ceil(L / 2 ** (len(channels) - 1)))``.
    """

    def __init__(
        self,
        n_leads: int,
        channels: Sequence[int],
        kernel_sizes: Sequence[int],
        downsample: str = "maxpool",
    ) -> None:
        super().__init__()
        check_same_length("channels", channels, "kernel_sizes", kernel_sizes)
        check_choice("downsample", downsample, ("maxpool", "stride"))
        layers: list[nn.Module] = []
        in_ch = n_leads
        for i, (c, k) in enumerate(zip(channels, kernel_sizes, strict=True)):
            if downsample == "stride":
                layers.append(ConvBNAct(in_ch, c, k, stride=2 if i > 0 else 1))
            else:
                layers.append(ConvBNAct(in_ch, c, k))
                if i < len(channels) - 1:
                    layers.append(MaxPool(3, 2))
            in_ch = c
        self.layers = nn.Sequential(*layers)
        self.out_channels = in_ch
        self.stride = 2 ** (len(channels) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class BeatNet(FusionClassifier):
    """Beat classifier: small CNN on the beat window + RR features (``forward(x, features=None)``).

    Args:
        n_leads, n_classes: input leads and output logits (e.g. 5 AAMI classes N, S, V, F, Q).
        width: channel multiplier (multiples of 4) of the CNN and the head's hidden layer.
        depth: ``depth > 1`` appends ``round((len(channels) - 1) * (depth - 1))`` extra conv blocks
            at the last width (no pooling); ``depth <= 1`` keeps the listed blocks.
        n_features: RR features per beat (e.g. pre-RR, post-RR, local and average RR); 0 for a
            morphology-only model.
        channels: conv channels per block at ``width == 1``.
        kernel_sizes: odd kernel length per block.
        pool: pooling of the CNN output (``"avgmax"`` keeps peak amplitudes).
        hidden: hidden units of the fusion MLP at ``width == 1``.
        dropout: dropout in the head.
        input_norm: centre each input window and scale it to unit RMS, per lead, inside the model
            (per-beat amplitude normalisation, so the signal needs no record-wide normalisation).
        downsample: ``"stride"`` (strided convolutions) or ``"maxpool"``; see :class:`BeatNetBackbone`.
    """

    def __init__(
        self,
        n_leads: int,
        n_classes: int,
        width: float = 1.0,
        depth: float = 1.0,
        n_features: int = 0,
        *,
        channels: Sequence[int] = (16, 32, 48),
        kernel_sizes: Sequence[int] = (9, 7, 5),
        pool: str = "max",
        hidden: int = 64,
        dropout: float = 0.1,
        input_norm: bool = True,
        downsample: str = "stride",
    ) -> None:
        chans = [_scale(c, width) for c in channels]
        kernels = list(kernel_sizes)
        extra = max(0, round((len(chans) - 1) * (depth - 1)))
        backbone = BeatNetBackbone(n_leads, chans, kernels, downsample)
        if extra:
            tail = [ConvBNAct(chans[-1], chans[-1], kernels[-1]) for _ in range(extra)]
            backbone.layers.extend(tail)
        head = BeatHead(backbone.out_channels, n_features, n_classes, pool, _scale(hidden, width), dropout)
        super().__init__(backbone, head, n_leads, backbone.stride)
        self.input_norm = bool(input_norm)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone output ``(batch, channels, n_steps)``; with ``input_norm`` every beat window is first
        centred and scaled to unit RMS per lead (per-beat amplitude normalisation: no record statistics,
        so the model takes the same input offline and in a stream)."""
        check_input(x, self.n_leads)
        if self.input_norm:
            x = F.layer_norm(x, (x.shape[-1],), eps=1e-6)
        return self.backbone(x)
