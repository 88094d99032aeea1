"""Weight averaging over the last epochs of a training run (``TrainConfig.average_epochs``).

Tail averaging in the manner of stochastic weight averaging (SWA; Izmailov et al., "Averaging Weights
Leads to Wider Optima and Better Generalization", UAI 2018): the weights kept at the end of training are
the mean of the weights at the end of each of the last ``k`` epochs, and batch-norm statistics, which do
not average meaningfully, are recomputed on the training data with the averaged weights. It costs nothing
at inference (one model), needs no validation split, and is meant to lower the spread of a recipe over
seeds.

:class:`WeightAverage` keeps the running sum (its :meth:`~WeightAverage.state` goes into a resumable
training state); :func:`recompute_batch_norm` resets and re-estimates the statistics, as
``torch.optim.swa_utils.update_bn`` does, for models that also take a ``features=`` input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from leanecg.errors import LeanECGError
from leanecg.train.inference import forward

__all__ = ["WeightAverage", "recompute_batch_norm"]


class WeightAverage:
    """Running mean of a model's floating-point state (parameters and float buffers).

    Integer buffers (e.g. batch norm's ``num_batches_tracked``) are not averaged: the model keeps its own.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> net = nn.Linear(2, 1)
        >>> avg = WeightAverage()
        >>> with torch.no_grad():
        ...     _ = net.weight.fill_(1.0)
        ...     avg.add(net)
        ...     _ = net.weight.fill_(3.0)
        ...     avg.add(net)
        >>> avg.load_into(net)
        >>> net.weight.tolist(), avg.count
        ([[2.0, 2.0]], 2)
    """

    def __init__(self) -> None:
        self.count = 0
        self._sum: dict[str, torch.Tensor] = {}

    def add(self, model: nn.Module) -> None:
        """Add the model's current floating-point state to the sum (float64, on the CPU)."""
        for name, value in model.state_dict().items():
            if value.is_floating_point():
                v = value.detach().to("cpu", torch.float64)
                self._sum[name] = v.clone() if name not in self._sum else self._sum[name] + v
        self.count += 1

    def load_into(self, model: nn.Module) -> None:
        """Load the mean into ``model`` (in place, each tensor in the model's dtype and device); no-op
        before the first :meth:`add`."""
        if not self.count:
            return
        own = model.state_dict()
        mean = {k: (s / self.count).to(own[k].device, own[k].dtype) for k, s in self._sum.items()}
        model.load_state_dict({**own, **mean})

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps: ``{"count", "sum"}``."""
        return {"count": self.count, "sum": dict(self._sum)}

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state`."""
        self.count = int(state["count"])
        self._sum = {k: v.to("cpu", torch.float64) for k, v in state["sum"].items()}


def _batch_norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def recompute_batch_norm(
    model: nn.Module,
    batches: Iterable[dict[str, torch.Tensor]],
    device: torch.device,
    layers: Sequence[str] | None = None,
) -> int:
    """Re-estimate batch-norm layers' running mean and variance as the plain average over ``batches``
    (dicts with ``"x"`` and optionally ``"features"``, e.g. a training loader without augmentation), the
    weights unchanged. ``layers``: ``None`` re-estimates every batch-norm layer with the whole model in
    train mode (as ``torch.optim.swa_utils.update_bn``); the names of some batch-norm layers re-estimate
    those alone, every other module in eval mode (dropout off, the other layers' statistics kept), e.g.
    :func:`leanecg.train.adapt.adapt_batch_norm`. Returns the number of layers re-estimated (0: nothing to
    do, the batches are not read). The model is left in eval mode.

    Raises:
        LeanECGError: a name in ``layers`` is not a batch-norm layer of ``model``.
    """
    norms = _batch_norms(model) if layers is None else [model.get_submodule(n) for n in layers]
    for bn in norms:
        if not isinstance(bn, nn.modules.batchnorm._BatchNorm):
            raise LeanECGError("layers", f"{type(bn).__name__} is not a batch-norm layer")
    if not norms:
        model.eval()
        return 0
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average: every batch counts alike
    was_training = model.training
    model.train(layers is None)
    for bn in norms:
        bn.train()
    try:
        for batch in batches:
            feats = batch["features"].to(device) if "features" in batch else None
            forward(model, batch["x"].to(device), feats)
    finally:
        for bn, m in zip(norms, momenta, strict=True):
            bn.momentum = m
        model.train(was_training)
    model.eval()
    return len(norms)
