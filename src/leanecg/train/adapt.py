"""Unsupervised test-time adaptation of batch-norm statistics to one record (AdaBN).

A network trained on some patients meets another patient's ECG with another lead placement, amplitude and
beat shape: the activations of its convolutional layers shift, and a batch-norm layer standardises them
with the training data's mean and variance. AdaBN (Li et al., "Revisiting Batch Normalization for Practical
Domain Adaptation", ICLR workshop 2017) re-estimates those statistics on the new domain's inputs -- here the
beats of one record -- and keeps every weight. It reads no label: the adaptation is allowed at test time
(it uses the record itself, as the record-normalised beat features do).

:func:`adapt_batch_norm` returns an adapted copy: the chosen batch-norm layers hold the mean and (unbiased)
variance of their inputs over all the given beats (and time steps), computed in one pass with every other
layer in eval mode (dropout off), so the statistics are those of the deployed network's activations. The
re-estimation itself is :func:`leanecg.train.averaging.recompute_batch_norm`'s, which weight averaging uses
on the training data.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from leanecg.errors import LeanECGError
from leanecg.train.averaging import recompute_batch_norm

__all__ = ["adapt_batch_norm", "backbone_norms"]


def backbone_norms(model: nn.Module) -> list[str]:
    """The names of the batch-norm layers that normalise a signal (``BatchNorm1d`` over ``(N, C, T)``
    activations: the convolutional backbone), not those of a feature input (over ``(N, C)``): the layers
    whose module path holds a ``backbone`` module (the zoo's naming)."""
    return [
        name
        for name, m in model.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and "backbone" in name.split(".")
    ]


def adapt_batch_norm(
    model: nn.Module,
    x: np.ndarray,
    features: np.ndarray | None = None,
    layers: Callable[[nn.Module], list[str]] = backbone_norms,
) -> nn.Module:
    """A copy of ``model`` whose batch-norm layers ``layers(model)`` hold the statistics of the inputs
    ``x`` ``(N, n_leads, T)`` (and ``features`` ``(N, n_features)`` for a model that takes them), e.g.
    every beat of one record; ``model`` is unchanged. One pass over all ``N`` inputs at once (a record's
    beats fit in memory), every other module in eval mode; the copy is returned in eval mode.

    Raises:
        LeanECGError: fewer than 2 inputs (no variance), or ``layers`` names no batch-norm layer.

    >>> from leanecg.models.registry import build_model
    >>> net = build_model("beatnet", n_leads=1, n_classes=4, n_features=3).eval()
    >>> x = np.random.default_rng(0).normal(2.0, 1.0, (64, 1, 126)).astype(np.float32)
    >>> f = np.zeros((64, 3), dtype=np.float32)
    >>> adapted = adapt_batch_norm(net, x, f)
    >>> first = backbone_norms(net)[0]
    >>> bool(net.get_submodule(first).running_mean.abs().max() == 0), adapted is net
    (True, False)
    """
    n = int(np.asarray(x).shape[0])
    if n < 2:
        raise LeanECGError("x", f"adapting batch-norm statistics needs at least 2 inputs, got {n}")
    names = layers(model)
    if not names:
        raise LeanECGError("layers", "names no batch-norm layer of the model")
    out = copy.deepcopy(model)
    batch = {"x": torch.as_tensor(np.asarray(x, dtype=np.float32))}
    if features is not None:
        batch["features"] = torch.as_tensor(np.asarray(features, dtype=np.float32))
    # one batch: the cumulative average of recompute_batch_norm is exactly its statistics
    recompute_batch_norm(out, [batch], torch.device("cpu"), layers=names)
    return out
