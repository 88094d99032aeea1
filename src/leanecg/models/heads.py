"""Pooling and classifier heads, and the backbone + head container every zoo model is.

A *backbone* maps ``(batch, n_leads, n_samples)`` to a feature sequence ``(batch, channels,
n_steps)`` with ``n_steps = ceil(n_samples / stride)``; a *head* pools that sequence over time
(global pooling, so any input length works) and maps it to logits ``(batch, n_classes)``.
Heads that fuse a feature vector (RR intervals for beats, handcrafted features and age/sex for
wide-and-deep) take it as ``features: (batch, n_features)``, standardised inside the model by a
batch-norm layer so raw units (seconds, ms, years) are fine as long as they are finite.
"""

from __future__ import annotations

import torch
from torch import nn

from leanecg.errors import LeanECGError
from leanecg.models.blocks import init_weights, make_activation

POOLS = ("avg", "max", "avgmax", "attention")


class GlobalPool(nn.Module):
    """Pool ``(B, C, L)`` over time to ``(B, out_features)``.

    Modes: ``"avg"`` (mean), ``"max"``, ``"avgmax"`` (both, concatenated: ``out_features = 2C``),
    ``"attention"`` (softmax-weighted mean with a learned 1x1-conv score per time step).
    """

    def __init__(self, channels: int, mode: str = "avg") -> None:
        super().__init__()
        if mode not in POOLS:
            raise LeanECGError("pool", f"unknown pooling {mode!r}; available: {', '.join(POOLS)}")
        self.mode = mode
        self.out_features = 2 * channels if mode == "avgmax" else channels
        self.score = nn.Conv1d(channels, 1, 1) if mode == "attention" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "avg":
            return x.mean(dim=-1)
        if self.mode == "max":
            return x.amax(dim=-1)
        if self.mode == "avgmax":
            return torch.cat([x.mean(dim=-1), x.amax(dim=-1)], dim=1)
        assert self.score is not None
        weights = torch.softmax(self.score(x), dim=-1)  # (B, 1, L)
        return (x * weights).sum(dim=-1)


def _mlp(in_features: int, hidden: int, dropout: float, act: str = "relu") -> tuple[nn.Module, int]:
    """Optional hidden layer ``Linear -> act (-> Dropout)``; identity when ``hidden == 0``."""
    if hidden <= 0:
        return nn.Identity(), in_features
    layers = [nn.Linear(in_features, hidden), make_activation(act)]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers), hidden


class ClassifierHead(nn.Module):
    """Global pooling -> optional hidden layer -> dropout -> linear, ``(B, C, L) -> (B, n_classes)``.

    Args:
        channels: channels of the backbone output.
        n_classes: number of output logits.
        pool: pooling mode (see :class:`GlobalPool`).
        hidden: width of an optional hidden layer (0: none).
        dropout: dropout before the final linear layer.
        act: activation of the hidden layer.
    """

    def __init__(
        self,
        channels: int,
        n_classes: int,
        pool: str = "avg",
        hidden: int = 0,
        dropout: float = 0.0,
        act: str = "relu",
    ) -> None:
        super().__init__()
        self.pool = GlobalPool(channels, pool)
        self.hidden, dim = _mlp(self.pool.out_features, hidden, 0.0, act)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.hidden(self.pool(x))))


class FusionHead(nn.Module):
    """Fuse the pooled deep embedding with a feature vector, ``(B, C, L), (B, F) -> (B, n_classes)``.

    The features are standardised by ``BatchNorm1d`` (running mean/variance learnt in training),
    optionally passed through their own hidden layer (the "wide" branch), concatenated with the
    pooled embedding and classified by an optional hidden layer + linear layer. With
    ``n_features == 0`` only the pooled embedding is classified. The feature batch-norm needs
    training batches of at least 2 records.

    Args:
        channels: channels of the backbone output.
        n_features: length of the feature vector (0: none).
        n_classes: number of output logits.
        pool: pooling mode of the deep branch.
        feature_hidden: width of the feature-branch hidden layer (0: features enter the fusion
            layer directly after standardisation).
        hidden: width of the fusion hidden layer (0: linear classifier on the concatenation).
        dropout: dropout after hidden layers and before the final layer.
    """

    def __init__(
        self,
        channels: int,
        n_features: int,
        n_classes: int,
        pool: str = "avg",
        feature_hidden: int = 0,
        hidden: int = 64,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.n_features = n_features
        self.pool = GlobalPool(channels, pool)
        if n_features > 0:
            self.feature_norm: nn.Module = nn.BatchNorm1d(n_features)
            self.feature_branch, feat_dim = _mlp(n_features, feature_hidden, dropout)
        else:
            self.feature_norm = nn.Identity()
            self.feature_branch, feat_dim = nn.Identity(), 0
        self.hidden, dim = _mlp(self.pool.out_features + feat_dim, hidden, 0.0)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(dim, n_classes)

    def forward(self, x: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        z = self.pool(x)
        if self.n_features > 0:
            check_features(features, self.n_features)
            assert features is not None
            z = torch.cat([z, self.feature_branch(self.feature_norm(features))], dim=1)
        return self.fc(self.dropout(self.hidden(z)))


class BeatHead(FusionHead):
    """Beat-classification head: the pooled beat-window embedding plus an RR-feature vector.

    RR context (pre-RR, post-RR, local and average RR, their ratios...) is what separates
    premature beats (S, V) from normal ones whose morphology alone is ambiguous, so the RR vector
    ``features: (B, n_features)`` (seconds or normalised ratios; standardised inside) is joined with
    the morphology embedding before a small MLP. ``n_features == 0`` gives a morphology-only head.
    """

    def __init__(
        self,
        channels: int,
        n_features: int,
        n_classes: int,
        pool: str = "avgmax",
        hidden: int = 64,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(channels, n_features, n_classes, pool=pool, hidden=hidden, dropout=dropout)


def check_input(x: torch.Tensor, n_leads: int) -> None:
    """Raise :class:`LeanECGError` unless ``x`` is ``(batch, n_leads, n_samples)``.

    Symbolic values (``torch.fx`` proxies while tracing for quantization) are not checked.
    """
    if not isinstance(x, torch.Tensor):
        return
    if x.dim() != 3 or x.shape[1] != n_leads:
        raise LeanECGError(
            "x",
            f"expected a (batch, {n_leads} leads, n_samples) tensor, got shape {tuple(x.shape)}"
            " (signals are (n_samples, n_leads) in numpy; transpose to channels-first for the model)",
        )


def check_features(features: torch.Tensor | None, n_features: int) -> None:
    """Raise :class:`LeanECGError` unless ``features`` is ``(batch, n_features)``."""
    check_vector(features, n_features, "features")


def check_vector(value: torch.Tensor | None, width: int, name: str, layout: str = "") -> None:
    """Raise :class:`LeanECGError` unless the keyword input ``name`` is ``(batch, width)``.

    Symbolic values (``torch.fx`` proxies while tracing for quantization) are not checked.
    """
    if value is None:
        raise LeanECGError(name, f"this model needs {name} of shape (batch, {width}){layout}")
    if not isinstance(value, torch.Tensor):
        return
    if value.dim() != 2 or value.shape[1] != width:
        raise LeanECGError(name, f"expected shape (batch, {width}){layout}, got {tuple(value.shape)}")


class SequenceClassifier(nn.Module):
    """A backbone plus a head: ``(batch, n_leads, n_samples) -> (batch, n_classes)`` logits.

    Attributes:
        n_leads: number of input leads (channels).
        min_samples: documented minimum input length: the backbone's total stride, so the
            pooled sequence has at least one step computed from real samples. Shorter inputs
            still run (zero padding) but are not meaningful.
        extra_inputs: names of keyword inputs ``forward`` needs besides ``x`` (empty here).
    """

    extra_inputs: tuple[str, ...] = ()

    def __init__(self, backbone: nn.Module, head: nn.Module, n_leads: int, min_samples: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.n_leads = int(n_leads)
        self.min_samples = int(min_samples)
        self.apply(init_weights)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone output ``(batch, channels, n_steps)``."""
        check_input(x, self.n_leads)
        return self.backbone(x)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled signal embedding ``(batch, head.pool.out_features)`` (SSL, distillation, probing).

        For feature-fusion models this is the deep branch only (no ``features``).
        """
        return self.head.pool(self.forward_features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


class FusionClassifier(SequenceClassifier):
    """A backbone plus a :class:`FusionHead`: ``forward(x, features=None)``.

    ``features`` ``(batch, n_features)`` is required when the model was built with
    ``n_features > 0`` and ignored otherwise.
    """

    def __init__(self, backbone: nn.Module, head: FusionHead, n_leads: int, min_samples: int) -> None:
        super().__init__(backbone, head, n_leads, min_samples)
        self.n_features = head.n_features
        self.extra_inputs = ("features",) if head.n_features > 0 else ()

    def forward(self, x: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.forward_features(x), features)
