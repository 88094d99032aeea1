"""EfficientNet-style 1-D classifier with compound scaling (Tan & Le 2019).

MBConv blocks (inverted residuals with squeeze-excite and SiLU) in the B0 stage layout, and the
paper's compound scaling: a single coefficient ``phi`` grows width by ``1.1 ** phi`` and depth by
``1.2 ** phi`` (``alpha = 1.2``, ``beta = 1.1``). The paper's third axis, input resolution
(``1.15 ** phi``), is a data choice for ECG (sampling rate and window length) and is left to the
caller; :func:`compound_coefficients` returns all three factors. ``width`` and ``depth`` multiply
on top of the compound factors.

ECG adaptations: depthwise kernels 5 and 9 samples (the B0 table's 3 and 5, stretched for 1-D
signals) and the B0 channel counts halved (``width=2`` restores them; at ``width=1`` the rounding
to multiples of 8 turns 12 and 20 into 16 and 24).

Shapes: ``(batch, n_leads, n_samples) -> (batch, n_classes)``; total stride 32 with the default
table, so ``min_samples == 32``.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from leanecg.errors import check_number
from leanecg.models.blocks import ConvBNAct, InvertedResidual, StemBackbone, scale_channels, scale_depth
from leanecg.models.heads import ClassifierHead, SequenceClassifier

ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15


def compound_coefficients(phi: float) -> tuple[float, float, float]:
    """``(width, depth, resolution)`` factors of compound coefficient ``phi`` (EfficientNet-B``phi``)."""
    return BETA**phi, ALPHA**phi, GAMMA**phi


class EfficientNet1dBackbone(StemBackbone):
    """Stem conv (stride 2), MBConv stages, 1x1 head conv.

    ``(B, n_leads, L) -> (B, head_channels, ceil(L / stride))``.
    """

    def __init__(
        self,
        n_leads: int,
        stem_channels: int,
        stem_kernel: int,
        stages: Sequence[tuple[int, int, int, int, int]],
        head_channels: int,
        se_ratio: float,
        drop_path: float,
    ) -> None:
        stem = ConvBNAct(n_leads, stem_channels, stem_kernel, stride=2, act="silu")
        total = sum(n for *_, n in stages)
        blocks: list[nn.Module] = []
        in_ch, stride, index = stem_channels, 2, 0
        for expand, kernel, s, out_ch, n in stages:
            for i in range(n):
                se_ch = max(1, int(in_ch * se_ratio)) if se_ratio > 0 else 0
                blocks.append(
                    InvertedResidual(
                        in_ch,
                        out_ch,
                        in_ch * expand,
                        kernel,
                        s if i == 0 else 1,
                        act="silu",
                        se_channels=se_ch,
                        se_act="silu",
                        se_gate="sigmoid",
                        drop_path=drop_path * index / max(1, total),
                    )
                )
                in_ch, index = out_ch, index + 1
            stride *= s
        blocks.append(ConvBNAct(in_ch, head_channels, 1, act="silu"))
        super().__init__(stem, blocks, head_channels, stride)


class EfficientNet1d(SequenceClassifier):
    """EfficientNet-1D classifier.

    Args:
        n_leads, n_classes: input leads and output logits.
        width: channel multiplier on top of the compound factor ``1.1 ** phi``.
        depth: repeat multiplier on top of the compound factor ``1.2 ** phi``.
        phi: compound coefficient (0 = B0 layout, 1 = B1, ...; fractional values allowed).
        stem_channels: stem channels at unit width.
        stem_kernel: odd stem kernel length.
        stages: rows ``[expansion, kernel, stride, out_channels, repeats]`` at unit width/depth.
        head_channels: channels of the final 1x1 conv at unit width.
        se_ratio: squeeze-excite width as a fraction of each block's input channels (0: no SE).
        drop_path: stochastic-depth rate of the last block (linearly increasing from 0).
        pool: global pooling of the head.
        dropout: dropout before the classifier (the paper's 0.2 for B0).
    """

    def __init__(
        self,
        n_leads: int,
        n_classes: int,
        width: float = 1.0,
        depth: float = 1.0,
        *,
        phi: float = 0.0,
        stem_channels: int = 16,
        stem_kernel: int = 15,
        stages: Sequence[Sequence[int]] = (
            (1, 5, 1, 8, 1),
            (6, 5, 2, 12, 2),
            (6, 9, 2, 20, 2),
            (6, 5, 2, 40, 3),
            (6, 9, 1, 56, 3),
            (6, 9, 2, 96, 4),
            (6, 5, 1, 160, 1),
        ),
        head_channels: int = 640,
        se_ratio: float = 0.25,
        drop_path: float = 0.2,
        pool: str = "avg",
        dropout: float = 0.2,
    ) -> None:
        check_number("phi", phi, low=0)
        w_phi, d_phi, _ = compound_coefficients(phi)
        w, d = width * w_phi, depth * d_phi
        rows: list[tuple[int, int, int, int, int]] = []
        for row in stages:
            if len(row) != 5:
                raise ValueError(
                    f"each EfficientNet stage is [expansion, kernel, stride, out, repeats], got {row}"
                )
            e, k, s, c, n = (int(v) for v in row)
            rows.append((e, k, s, scale_channels(c, w), scale_depth(n, d)))
        backbone = EfficientNet1dBackbone(
            n_leads,
            scale_channels(stem_channels, w),
            stem_kernel,
            rows,
            scale_channels(head_channels, w),
            se_ratio,
            drop_path,
        )
        head = ClassifierHead(backbone.out_channels, n_classes, pool=pool, dropout=dropout)
        super().__init__(backbone, head, n_leads, backbone.stride)
