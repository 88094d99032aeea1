"""A small transformer encoder for ECG: conv stem, sinusoidal positions, pre-norm encoder layers.

The conv stem (stride-2 conv-bn-gelu blocks, total stride 16 by default) turns the signal into
tokens of 32-53 ms at 500-300 Hz, as in the wide-and-deep transformer that won PhysioNet/CinC
2020 (Natarajan et al.); sinusoidal positional encodings are computed from the token count at run
time, so any input length works without a maximum. The encoder uses pre-layer-norm blocks
(stable without warm-up) with :func:`torch.nn.functional.scaled_dot_product_attention`, a final
layer norm, global pooling over tokens and a linear classifier.

Shapes: ``(batch, n_leads, n_samples) -> (batch, n_classes)``; ``min_samples`` = stem stride.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from leanecg.errors import check_number
from leanecg.models.blocks import ConvBNAct, make_divisible, scale_depth
from leanecg.models.heads import ClassifierHead, SequenceClassifier


class SinusoidalPositionalEncoding(nn.Module):
    """Add fixed sine/cosine position codes (Vaswani et al. 2017) to ``(B, T, d_model)`` tokens.

    Codes are computed for the actual ``T`` on every call, so there is no maximum length.
    """

    def __init__(self, d_model: int, base: float = 10000.0) -> None:
        super().__init__()
        if d_model % 2:
            raise ValueError(f"d_model must be even for sinusoidal positions, got {d_model}")
        inv_freq = torch.exp(-math.log(base) * torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(x.shape[1], device=x.device, dtype=x.dtype)
        angles = pos[:, None] * self.inv_freq.to(x.dtype)[None, :]  # (T, d/2)
        pe = torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)  # (T, d), interleaved
        return x + pe


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention over ``(B, T, d_model)`` tokens (no mask: all tokens are real)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head_dim = x.shape[-1] // self.n_heads
        qkv = self.qkv(x).unflatten(-1, (3, self.n_heads, head_dim)).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (B, H, T, Dh)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).flatten(2))


class EncoderLayer(nn.Module):
    """Pre-norm transformer layer: ``x + attn(ln(x))``, then ``x + ffn(ln(x))``."""

    def __init__(self, d_model: int, n_heads: int, ff_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = MultiHeadSelfAttention(d_model, n_heads, dropout)
        self.drop1 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(
            nn.Linear(d_model, ff_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff_dim, d_model)
        )
        self.drop2 = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop1(self.attn(self.norm1(x)))
        return x + self.drop2(self.ffn(self.norm2(x)))


class TransformerBackbone(nn.Module):
    """Conv stem -> positions -> encoder layers -> layer norm.

    ``(B, n_leads, L) -> (B, d_model, ceil(L / stride))``.
    """

    def __init__(
        self,
        n_leads: int,
        d_model: int,
        n_heads: int,
        n_layers: int,
        ff_dim: int,
        stem_kernels: Sequence[int],
        dropout: float,
    ) -> None:
        super().__init__()
        if not stem_kernels:
            raise ValueError("'stem_kernels' must list at least one kernel size")
        stem: list[nn.Module] = []
        in_ch = n_leads
        for i, k in enumerate(stem_kernels):
            out_ch = d_model if i == len(stem_kernels) - 1 else max(d_model // 2, 8)
            stem.append(ConvBNAct(in_ch, out_ch, k, stride=2, act="gelu"))
            in_ch = out_ch
        self.stem = nn.Sequential(*stem)
        self.positions = SinusoidalPositionalEncoding(d_model)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.Sequential(
            *(EncoderLayer(d_model, n_heads, ff_dim, dropout) for _ in range(n_layers))
        )
        self.norm = nn.LayerNorm(d_model)
        self.out_channels = d_model
        self.stride = 2 ** len(stem_kernels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.stem(x).transpose(1, 2)  # (B, T, d)
        tokens = self.layers(self.dropout(self.positions(tokens)))
        return self.norm(tokens).transpose(1, 2)  # (B, d, T)


class ECGTransformer(SequenceClassifier):
    """Small transformer classifier with a conv stem.

    Args:
        n_leads, n_classes: input leads and output logits.
        width: multiplier of ``d_model`` (rounded to a multiple of ``2 * n_heads``) and ``ff_dim``.
        depth: multiplier of the number of encoder layers.
        d_model: token width at ``width == 1``.
        n_heads: attention heads.
        n_layers: encoder layers at ``depth == 1``.
        ff_mult: feed-forward width as a multiple of ``d_model``.
        stem_kernels: odd kernel length of each stride-2 stem conv (total stride ``2 ** len``).
        dropout: dropout in attention, feed-forward and residual paths.
        pool: pooling over tokens (``"avg"``, ``"max"``, ``"avgmax"``, ``"attention"``).
        head_dropout: dropout before the classifier.
    """

    def __init__(
        self,
        n_leads: int,
        n_classes: int,
        width: float = 1.0,
        depth: float = 1.0,
        *,
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 4,
        ff_mult: int = 2,
        stem_kernels: Sequence[int] = (15, 9, 9, 9),
        dropout: float = 0.1,
        pool: str = "avg",
        head_dropout: float = 0.1,
    ) -> None:
        check_number("n_heads", n_heads, low=1, integer=True)
        d = make_divisible(d_model * width, 2 * n_heads)
        backbone = TransformerBackbone(
            n_leads,
            d,
            n_heads,
            scale_depth(n_layers, depth),
            d * ff_mult,
            stem_kernels,
            dropout,
        )
        head = ClassifierHead(backbone.out_channels, n_classes, pool=pool, dropout=head_dropout)
        super().__init__(backbone, head, n_leads, backbone.stride)
