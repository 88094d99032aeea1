"""ResNet-1D and SE-ResNet-1D with large kernels.

The architecture family of many top PhysioNet/CinC 2020 and 2021 entries and of Ribeiro et al.
(Nat. Commun. 2020): a wide-kernel stem, max-pooling, then stages of residual basic blocks
whose kernels span tens of milliseconds (9 samples at 125-500 Hz after the stem), optionally with
squeeze-and-excitation channel attention (Hu et al. 2018), global average pooling and a linear
classifier.

Shapes: ``(batch, n_leads, n_samples) -> (batch, n_classes)``; total stride 32 with the default
four stages, so ``min_samples == 32``.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from leanecg.models.blocks import (
    BasicBlock1d,
    StemBackbone,
    check_same_length,
    conv_pool_stem,
    scale_channels,
    scale_depth,
)
from leanecg.models.heads import ClassifierHead, SequenceClassifier


class ResNet1dBackbone(StemBackbone):
    """Stem (conv ``stem_kernel``, stride 2, + max-pool stride 2) and residual stages.

    The first stage keeps the resolution, every later stage halves it.
    ``(B, n_leads, L) -> (B, channels[-1], ceil(L / stride))`` with ``stride = 2 ** (len(channels) + 1)``.
    """

    body_name = "stages"

    def __init__(
        self,
        n_leads: int,
        channels: Sequence[int],
        blocks: Sequence[int],
        kernel_size: int,
        stem_kernel: int,
        se_reduction: int,
        block_dropout: float,
        drop_path: float,
    ) -> None:
        check_same_length("channels", channels, "blocks", blocks)
        stem = conv_pool_stem(n_leads, channels[0], stem_kernel)
        total = sum(blocks)
        layers: list[nn.Module] = []
        in_ch, index = channels[0], 0
        for stage, (out_ch, n_blocks) in enumerate(zip(channels, blocks, strict=True)):
            for b in range(n_blocks):
                stride = 2 if stage > 0 and b == 0 else 1
                rate = drop_path * index / max(1, total - 1)
                layers.append(
                    BasicBlock1d(in_ch, out_ch, kernel_size, stride, se_reduction, block_dropout, rate)
                )
                in_ch, index = out_ch, index + 1
        super().__init__(stem, layers, in_ch, 2 ** (len(channels) + 1))


class ResNet1d(SequenceClassifier):
    """ResNet-1D (``se_reduction == 0``) or SE-ResNet-1D (``se_reduction > 0``) classifier.

    Args:
        n_leads: input leads.
        n_classes: output logits.
        width: multiplier of every stage's channels (rounded to multiples of 8).
        depth: multiplier of the number of blocks per stage (rounded up).
        channels: channels of each stage at ``width == 1``.
        blocks: residual blocks per stage at ``depth == 1``.
        kernel_size: odd kernel length of the residual convolutions (samples).
        stem_kernel: odd kernel length of the stem convolution (samples).
        se_reduction: squeeze-excite reduction ratio (0: no SE).
        pool: global pooling of the head (``"avg"``, ``"max"``, ``"avgmax"``, ``"attention"``).
        dropout: dropout before the classifier.
        block_dropout: dropout between the two convolutions of each block.
        drop_path: maximum stochastic-depth rate (linearly increasing over blocks).
    """

    def __init__(
        self,
        n_leads: int,
        n_classes: int,
        width: float = 1.0,
        depth: float = 1.0,
        *,
        channels: Sequence[int] = (32, 64, 128, 256),
        blocks: Sequence[int] = (2, 2, 2, 2),
        kernel_size: int = 9,
        stem_kernel: int = 15,
        se_reduction: int = 0,
        pool: str = "avg",
        dropout: float = 0.2,
        block_dropout: float = 0.0,
        drop_path: float = 0.0,
    ) -> None:
        backbone = ResNet1dBackbone(
            n_leads,
            [scale_channels(c, width) for c in channels],
            [scale_depth(b, depth) for b in blocks],
            kernel_size,
            stem_kernel,
            se_reduction,
            block_dropout,
            drop_path,
        )
        head = ClassifierHead(backbone.out_channels, n_classes, pool=pool, dropout=dropout)
        super().__init__(backbone, head, n_leads, backbone.stride)
