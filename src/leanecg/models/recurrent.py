"""Recurrent classifiers: CNN-LSTM, BiLSTM and GRU.

All three shorten the signal with strided convolutions before the recurrence (running an RNN over
thousands of raw samples is slow and forgets), then pool the recurrent outputs over time:

* ``CNNLSTM``: a stack of stride-2 conv-bn-relu blocks (a real feature extractor, total stride 16)
  followed by a unidirectional LSTM -- the classic CinC 2017 / Oh et al. 2018 design.
* ``BiRNN`` (``bilstm``, ``gru``): a single overlapping strided-conv "patch embedding" (kernel
  ``2 * patch + 1``, stride ``patch``) followed by stacked bidirectional LSTM or GRU layers, so
  the recurrence itself does the modelling.

Shapes: ``(batch, n_leads, n_samples) -> (batch, n_classes)``; the recurrent outputs are pooled
(mean by default) so every input length works. ``min_samples`` is the front-end stride.

ONNX: the recurrences export (``torch.onnx.export(..., dynamo=True)``) to native ONNX ``LSTM`` /
``GRU`` ops. The LSTM models (``cnn_lstm``, ``bilstm``) also export with a dynamic batch and
length (layers are stacked single-layer LSTMs, see :class:`StackedRNN`); torch 2.13's exporter
cannot export ``nn.GRU`` with a dynamic sequence length at all, so export ``gru`` once per input
length (ECG windows are usually fixed).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from leanecg.errors import check_choice, check_number
from leanecg.models.blocks import ConvBNAct, check_same_length, same_padding, scale_channels, scale_depth
from leanecg.models.heads import ClassifierHead, SequenceClassifier

RNN_TYPES = ("lstm", "gru")


class StackedRNN(nn.Module):
    """Stacked (bi)directional LSTM/GRU over ``(B, T, input_size) -> (B, T, hidden * directions)``.

    Built from single-layer unidirectional ``nn.LSTM`` / ``nn.GRU`` modules; the backward direction
    of each layer runs on the time-reversed sequence and is reversed back, which is exactly a
    bidirectional layer. Unlike a multi-layer bidirectional ``nn.LSTM``, this form exports to ONNX
    with a dynamic sequence length (torch 2.13); dropout acts between layers as in ``nn.LSTM``.
    """

    def __init__(
        self,
        input_size: int,
        hidden: int,
        layers: int,
        bidirectional: bool,
        rnn_type: str = "lstm",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_choice("rnn_type", rnn_type, RNN_TYPES)
        check_number("layers", layers, low=1, integer=True)
        rnn_cls = nn.LSTM if rnn_type == "lstm" else nn.GRU
        directions = 2 if bidirectional else 1
        sizes = [input_size] + [hidden * directions] * (layers - 1)
        self.forward_layers = nn.ModuleList(rnn_cls(n, hidden, batch_first=True) for n in sizes)
        self.backward_layers = nn.ModuleList(
            rnn_cls(n, hidden, batch_first=True) for n in (sizes if bidirectional else [])
        )
        self.bidirectional = bidirectional
        self.dropout = nn.Dropout(dropout) if dropout > 0 and layers > 1 else nn.Identity()
        self.out_features = hidden * directions

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, fwd in enumerate(self.forward_layers):
            if i > 0:
                x = self.dropout(x)
            y, _ = fwd(x)
            if self.bidirectional:
                z, _ = self.backward_layers[i](x.flip(1))
                y = torch.cat([y, z.flip(1)], dim=-1)
            x = y
        return x


class RecurrentBackbone(nn.Module):
    """Conv front end -> (bi)LSTM/GRU, ``(B, n_leads, L) -> (B, hidden * directions, ceil(L / stride))``.

    Args:
        front: module mapping ``(B, n_leads, L)`` to ``(B, front_channels, ceil(L / stride))``.
        front_channels: output channels of ``front``.
        stride: total stride of ``front``.
        rnn_type: ``"lstm"`` or ``"gru"``.
        hidden: hidden size per direction.
        layers: stacked recurrent layers.
        bidirectional: run the recurrence both ways and concatenate.
        rnn_dropout: dropout between recurrent layers (only with ``layers > 1``).
    """

    def __init__(
        self,
        front: nn.Module,
        front_channels: int,
        stride: int,
        rnn_type: str,
        hidden: int,
        layers: int,
        bidirectional: bool,
        rnn_dropout: float,
    ) -> None:
        super().__init__()
        self.front = front
        self.rnn = StackedRNN(front_channels, hidden, layers, bidirectional, rnn_type, rnn_dropout)
        self.out_channels = self.rnn.out_features
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.front(x).transpose(1, 2)  # (B, T, C)
        return self.rnn(h).transpose(1, 2)  # (B, hidden * directions, T)


class CNNLSTM(SequenceClassifier):
    """Conv feature extractor (stride-2 blocks) followed by an LSTM and global pooling.

    Args:
        n_leads, n_classes: input leads and output logits.
        width: multiplier of conv channels and LSTM hidden size.
        depth: multiplier of the number of LSTM layers.
        conv_channels: channels of each stride-2 conv block (total stride ``2 ** len``).
        kernel_sizes: odd kernel length of each conv block (samples).
        hidden: LSTM hidden size at ``width == 1``.
        layers: LSTM layers at ``depth == 1``.
        bidirectional: bidirectional LSTM (off: the classic causal CNN-LSTM).
        rnn_dropout: dropout between LSTM layers.
        pool: pooling of the LSTM outputs over time.
        dropout: dropout before the classifier.
    """

    def __init__(
        self,
        n_leads: int,
        n_classes: int,
        width: float = 1.0,
        depth: float = 1.0,
        *,
        conv_channels: Sequence[int] = (32, 64, 64, 64),
        kernel_sizes: Sequence[int] = (15, 9, 9, 9),
        hidden: int = 64,
        layers: int = 2,
        bidirectional: bool = False,
        rnn_dropout: float = 0.1,
        pool: str = "avg",
        dropout: float = 0.2,
    ) -> None:
        check_same_length("conv_channels", conv_channels, "kernel_sizes", kernel_sizes)
        blocks: list[nn.Module] = []
        in_ch = n_leads
        for c, k in zip(conv_channels, kernel_sizes, strict=True):
            out_ch = scale_channels(c, width)
            blocks.append(ConvBNAct(in_ch, out_ch, k, stride=2))
            in_ch = out_ch
        backbone = RecurrentBackbone(
            nn.Sequential(*blocks),
            in_ch,
            2 ** len(conv_channels),
            "lstm",
            scale_channels(hidden, width),
            scale_depth(layers, depth),
            bidirectional,
            rnn_dropout,
        )
        head = ClassifierHead(backbone.out_channels, n_classes, pool=pool, dropout=dropout)
        super().__init__(backbone, head, n_leads, backbone.stride)


class PatchEmbedding(ConvBNAct):
    """Overlapping strided conv: kernel ``2 * patch + 1``, stride ``patch``, ``ceil(L / patch)`` steps."""

    def __init__(self, n_leads: int, channels: int, patch: int) -> None:
        check_number("patch", patch, low=1, integer=True, unit="samples")
        kernel = 2 * patch + 1
        same_padding(kernel)
        super().__init__(n_leads, channels, kernel, stride=patch)


class BiRNN(SequenceClassifier):
    """Patch embedding followed by stacked (bidirectional) LSTM or GRU layers and global pooling.

    Args:
        n_leads, n_classes: input leads and output logits.
        width: multiplier of the embedding and hidden sizes.
        depth: multiplier of the number of recurrent layers.
        rnn_type: ``"lstm"`` or ``"gru"``.
        patch: samples per recurrent step (the embedding's stride).
        embed: embedding channels at ``width == 1``.
        hidden: hidden size per direction at ``width == 1``.
        layers: recurrent layers at ``depth == 1``.
        bidirectional: run both directions.
        rnn_dropout: dropout between recurrent layers.
        pool: pooling of the recurrent outputs over time.
        dropout: dropout before the classifier.
    """

    def __init__(
        self,
        n_leads: int,
        n_classes: int,
        width: float = 1.0,
        depth: float = 1.0,
        *,
        rnn_type: str = "lstm",
        patch: int = 16,
        embed: int = 64,
        hidden: int = 64,
        layers: int = 2,
        bidirectional: bool = True,
        rnn_dropout: float = 0.1,
        pool: str = "avg",
        dropout: float = 0.2,
    ) -> None:
        embed_ch = scale_channels(embed, width)
        backbone = RecurrentBackbone(
            PatchEmbedding(n_leads, embed_ch, patch),
            embed_ch,
            patch,
            rnn_type,
            scale_channels(hidden, width),
            scale_depth(layers, depth),
            bidirectional,
            rnn_dropout,
        )
        head = ClassifierHead(backbone.out_channels, n_classes, pool=pool, dropout=dropout)
        super().__init__(backbone, head, n_leads, backbone.stride)
