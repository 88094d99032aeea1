"""A hybrid as one tensor model: a network's pooled embedding, beside the task features, into boosted trees.

The hybrid ``<zoo model>+lightgbm`` (:mod:`leanecg.train.hybrid`) trains a zoo model, then fits LightGBM on
its pooled penultimate embedding ``(N, D)`` followed by the task's handcrafted features ``(N, F)``.
:class:`Hybrid` is that pipeline as one module -- :class:`EmbeddingNetwork` (the zoo model with its head
reduced to the pooling layer) and a :class:`~leanecg.models.trees.TreeEnsemble` over the ``D + F``
columns -- so it packages, exports to ONNX and joins ensembles like any model taking ``x`` and
``features``. Its parameters are the embedding network's weights plus one per tree node.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from leanecg.errors import LeanECGError
from leanecg.models.config_names import HYBRID_NAME
from leanecg.models.trees import TreeEnsemble

__all__ = ["HYBRID_NAME", "EmbeddingNetwork", "Hybrid"]


class _PoolOnly(nn.Module):
    """A head reduced to its pooling layer (what :meth:`SequenceClassifier.embed` uses)."""

    def __init__(self, pool: nn.Module) -> None:
        super().__init__()
        self.pool = pool


class EmbeddingNetwork(nn.Module):
    """The embedding part of a trained zoo model: ``(B, n_leads, n_samples) -> (B, D)``.

    A deep copy of ``model`` whose head keeps only its pooling layer, so parameter counts, sizes and
    MACs cover exactly what the hybrid runs (the head's hidden / final layers are dropped). The
    handcrafted features of fusion models (``beatnet``, ``wide_deep``) are *not* inputs: the hybrid
    passes them to the trees directly.

    Raises:
        LeanECGError: the model has no pooled embedding (``embed`` and ``head.pool``), e.g. ``leadwise``.
    """

    extra_inputs: tuple[str, ...] = ()

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        head = getattr(model, "head", None)
        if not callable(getattr(model, "embed", None)) or not isinstance(
            getattr(head, "pool", None), nn.Module
        ):
            raise LeanECGError(
                "model",
                f"{type(model).__name__} has no pooled embedding (embed / head.pool); "
                "hybrids need a backbone + head zoo model",
            )
        net = copy.deepcopy(model)
        net.head = _PoolOnly(net.head.pool)
        self.net = net
        self.n_leads = getattr(model, "n_leads", None)
        self.min_samples = int(getattr(model, "min_samples", 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.embed(x)


class Hybrid(nn.Module):
    """Trees over ``[embedding(x), features]``: logits ``(batch, n_classes)``.

    Args:
        embedding: the zoo model's :class:`EmbeddingNetwork` (``(B, D)`` out).
        trees: a :class:`~leanecg.models.trees.TreeEnsemble` over ``D + n_features`` columns, the
            embedding's first (the column order of :func:`leanecg.train.hybrid.hybrid_matrix`).
        n_features: task feature columns after the embedding (0: the trees read the embedding alone).

    Raises:
        LeanECGError: the trees' columns are fewer than ``n_features``.
    """

    def __init__(self, embedding: EmbeddingNetwork, trees: TreeEnsemble, n_features: int) -> None:
        super().__init__()
        if int(n_features) < 0 or trees.n_features <= int(n_features):
            raise LeanECGError(
                "trees", f"the trees read {trees.n_features} columns; the embedding needs some besides "
                f"{n_features} features",
            )  # fmt: skip
        self.embedding, self.trees = embedding, trees
        self.n_leads = embedding.n_leads
        self.n_features = int(n_features)
        self.extra_inputs = ("features",) if self.n_features else ()
        self.min_samples = embedding.min_samples

    def forward(self, x: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.embedding(x)
        if self.n_features:
            if features is None:
                raise LeanECGError("features", f"this hybrid needs its {self.n_features} features")
            emb = torch.cat([emb, features.to(emb.dtype)], dim=1)
        return self.trees(x, features=emb)
