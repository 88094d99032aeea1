"""Pruning: global unstructured magnitude pruning, and structured channel pruning that shrinks the model.

Unstructured (:func:`magnitude_prune`): the ``amount`` fraction of all convolution and linear weights with the
smallest magnitudes, ranked globally across layers, is zeroed (``torch.nn.utils.prune.global_unstructured``
with an L1 criterion). While the masks are attached, fine-tuning keeps pruned weights at zero; then
:func:`make_permanent` folds the masks into plain weights. Dense MACs and latency do not change (the zeros
are still multiplied); :func:`sparsity` reports the fraction of zero weights.

Structured (:func:`prune_channels`): whole convolution channels are removed and the layers rebuilt smaller, so
parameters, MACs and latency really drop. Channels are organised in *groups* that must be pruned together
(:func:`channel_groups`):

* a plain convolution starts a group with its output channels and its batch-norm;
* a depthwise convolution (``groups == channels``), a squeeze-excite block (its reduce input / expand
  output) and the consumers (next convolutions' input channels, the attention-pooling score, the first
  linear layer of the head -- both halves of ``avgmax`` pooling, the fused feature columns kept) follow the
  group of their input;
* residual additions tie groups: the output of a block with an identity shortcut joins the group of its
  input (MobileNetV2/V3 and EfficientNet inverted residuals, ResNet basic blocks), so a residual stream is
  one group pruned consistently across all its blocks; a projection shortcut starts a new group.

Supported: the zoo's ``litenet``, ``mobilenet_v1/v2/v3``, ``efficientnet1d``, ``resnet1d``, ``se_resnet1d``,
``beatnet`` and ``wide_deep`` / ``wide_deep_lite`` with one of those as deep branch (any other module type in
a backbone raises :class:`LeanECGError`). Channel importance: the L1 norm of each output filter after
folding its batch-norm (``|W_c|_1 * |gamma_c| / sqrt(var_c + eps)``), summed over the producers of a group.
Every group keeps the same fraction of its channels (``keep = max(1, round(n * (1 - ratio)))``, the most
important ones); :func:`prune_channels` chooses the ratio by bisection so that the model's MACs fall by at
least ``macs_reduction``.

A pruned model stays a package-able zoo model: its config (:func:`leanecg.models.model_config`) gains
``"pruned_channels": {group name: channels kept}`` and :func:`leanecg.models.build_from_config` rebuilds the
smaller architecture from it (:func:`apply_channel_counts`), so ``load_state_dict(strict=True)`` works.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from leanecg.errors import LeanECGError
from leanecg.models.channels import (
    PRUNED_KEY,
    ChannelGroup,
    channel_groups,
    keep_first_channels,
    slice_group,
    sync_out_channels,
)
from leanecg.models.registry import model_config, set_model_config

__all__ = [
    "ChannelGroup",
    "apply_channel_counts",
    "channel_groups",
    "magnitude_prune",
    "make_permanent",
    "prune_channels",
    "prune_channels_ratio",
    "sparsity",
]


# ------------------------------------------------------------------------------------------- unstructured


def _prunable_layers(model: nn.Module) -> list[tuple[nn.Module, str]]:
    return [(m, "weight") for m in model.modules() if isinstance(m, nn.Conv1d | nn.Linear)]


def magnitude_prune(model: nn.Module, amount: float) -> nn.Module:
    """Zero the ``amount`` fraction of conv/linear weights with the smallest ``|w|``, ranked globally.

    The masks stay attached (``weight_orig`` * ``weight_mask``) so fine-tuning keeps the pruned weights at
    zero; call :func:`make_permanent` afterwards. Returns ``model`` (pruned in place).
    """
    if isinstance(amount, bool) or not isinstance(amount, int | float) or not 0.0 <= amount < 1.0:
        raise LeanECGError("amount", f"must be a fraction in [0, 1), got {amount!r}")
    layers = _prunable_layers(model)
    if not layers:
        raise LeanECGError("model", "has no convolution or linear layers to prune")
    if amount > 0:
        torch_prune.global_unstructured(
            layers, pruning_method=torch_prune.L1Unstructured, amount=float(amount)
        )
    return model


def make_permanent(model: nn.Module) -> nn.Module:
    """Fold pruning masks into plain weights (``weight_orig``/``weight_mask`` -> ``weight``); in place."""
    for m in model.modules():
        if torch_prune.is_pruned(m) and hasattr(m, "weight_mask"):
            torch_prune.remove(m, "weight")
    return model


def sparsity(model: nn.Module) -> float:
    """Fraction of exactly-zero weights over all convolution and linear weight tensors."""
    total = zeros = 0
    for m, _ in _prunable_layers(model):
        w = m.weight
        total += w.numel()
        zeros += int((w == 0).sum())
    return zeros / total if total else 0.0


# ------------------------------------------------------------------------------------------- structured


def _keep_count(n: int, ratio: float) -> int:
    return max(1, min(n, round(n * (1.0 - ratio))))


def _registry_config(model: nn.Module) -> dict[str, Any] | None:
    """The model's :func:`leanecg.models.model_config` (a copy), or ``None`` when it was not built by
    :func:`leanecg.models.build_model`."""
    try:
        return model_config(model)
    except LeanECGError:
        return None


def _set_config(model: nn.Module, counts: Mapping[str, int]) -> None:
    config = _registry_config(model)
    if config is not None:
        config[PRUNED_KEY] = {str(k): int(v) for k, v in counts.items()}
        set_model_config(model, config)


def prune_channels_ratio(model: nn.Module, ratio: float) -> dict[str, int]:
    """Remove the least important ``ratio`` fraction of every channel group of ``model``, in place.

    Returns ``{group name: channels kept}`` (also stored in the model's config under
    ``"pruned_channels"``). Use on an eval-mode, trained model (the importance uses batch-norm statistics).
    """
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0.0 <= ratio < 1.0:
        raise LeanECGError("ratio", f"must be a fraction in [0, 1), got {ratio!r}")
    groups = channel_groups(model)
    counts = {}
    for g in groups:
        k = _keep_count(g.size, float(ratio))
        if k < g.size:
            keep = torch.sort(torch.topk(g.importance(), k).indices).values
            slice_group(g, keep)
        counts[g.name] = g.size
    sync_out_channels(model)
    previous = _pruned_counts(model)
    _set_config(model, {**previous, **counts})
    return counts


def _pruned_counts(model: nn.Module) -> dict[str, int]:
    config = _registry_config(model)
    return dict(config.get(PRUNED_KEY) or {}) if config is not None else {}


def apply_channel_counts(model: nn.Module, counts: Mapping[str, Any], source: str = PRUNED_KEY) -> nn.Module:
    """Shrink a freshly built model to the channel counts of a pruned config (keeps the first channels) and
    record them in its config (:func:`leanecg.models.channels.keep_first_channels`, which
    :func:`leanecg.models.build_from_config` uses for configs with ``"pruned_channels"``).

    The weights are placeholders to be replaced by ``load_state_dict``.
    """
    keep_first_channels(model, counts, source)
    _set_config(model, {str(k): int(v) for k, v in counts.items()})
    return model


def _global_ranking(
    model: nn.Module,
    input_shape: Sequence[int],
    extra_inputs: Mapping[str, Sequence[int]] | None,
    min_keep: float,
) -> list[tuple[str, int]]:
    """``(group name, channel)`` pairs that may be removed, least valuable first (see ``allocation``)."""
    from leanecg.evaluate.cost.macs import count_macs

    if not 0.0 < float(min_keep) <= 1.0:
        raise LeanECGError("min_keep", f"must be a fraction in (0, 1], got {min_keep!r}")
    breakdown = count_macs(model, tuple(input_shape), extra_inputs=extra_inputs).breakdown
    paths = {id(m): name for name, m in model.named_modules()}
    scored: list[tuple[float, str, int]] = []
    for g in channel_groups(model):
        cost = 0.0
        for kind, m, _ in g.members:
            macs = float(breakdown.get(paths.get(id(m), ""), 0))
            dim = {"conv_out": "out_channels", "dw": "out_channels", "conv_in": "in_channels"}.get(kind)
            if dim is not None:
                cost += macs / max(getattr(m, dim), 1)
            elif kind == "linear_in":
                cost += macs / max(m.in_features, 1)
        imp = g.importance()
        imp = imp / imp.mean().clamp_min(1e-12)
        removable = g.size - max(1, math.ceil(min_keep * g.size))
        order = torch.argsort(imp)[:removable]
        scored += [(float(imp[c]) / max(cost, 1e-9), g.name, int(c)) for c in order]
    scored.sort()
    return [(name, c) for _, name, c in scored]


def _prune_ranked(model: nn.Module, ranking: list[tuple[str, int]], fraction: float) -> None:
    """Remove the first ``fraction`` of ``ranking`` (a :func:`_global_ranking` of this architecture)."""
    n = round(fraction * len(ranking))
    drop: dict[str, set[int]] = {}
    for name, c in ranking[:n]:
        drop.setdefault(name, set()).add(c)
    counts = {}
    for g in channel_groups(model):
        gone = drop.get(g.name, set())
        if gone:
            slice_group(g, torch.tensor([c for c in range(g.size) if c not in gone], dtype=torch.int64))
        counts[g.name] = g.size
    sync_out_channels(model)
    _set_config(model, {**_pruned_counts(model), **counts})


def _macs(
    model: nn.Module, input_shape: Sequence[int], extra_inputs: Mapping[str, Sequence[int]] | None
) -> int:
    from leanecg.evaluate.cost.macs import count_macs

    return int(count_macs(model, tuple(input_shape), extra_inputs=extra_inputs).total)


def prune_channels(
    model: nn.Module,
    macs_reduction: float,
    input_shape: Sequence[int],
    *,
    extra_inputs: Mapping[str, Sequence[int]] | None = None,
    allocation: str = "uniform",
    min_keep: float = 0.2,
    tolerance: float = 1e-3,
) -> tuple[nn.Module, dict[str, Any]]:
    """Channel-prune a copy of ``model`` so that its MACs fall by at least ``macs_reduction``.

    Args:
        model: a trained zoo model (unchanged; a pruned deep copy is returned).
        macs_reduction: fraction of the MACs to remove, in ``(0, 1)`` (e.g. 0.5: at most half the MACs).
        input_shape: ``(n_leads, n_samples)`` at which MACs are counted.
        extra_inputs: keyword input shapes for models that take them (``{"features": (n,)}``).
        allocation: ``"uniform"``: every group loses the same fraction of its channels; ``"global"``: channels
            of all groups are ranked together by importance (normalised by its group's mean) per MAC a
            channel costs (from the per-layer MAC count), and the lowest-ranked are removed first, so
            groups whose channels are expensive and weak lose more; every group keeps at least ``min_keep``
            of its channels.
        min_keep: smallest fraction of a group's channels kept by ``"global"`` allocation.
        tolerance: bisection stops when the pruning fraction interval is this narrow.

    Returns:
        ``(pruned model, info)`` with ``info`` = ``{"ratio", "macs_before", "macs_after", "macs_reduction",
        "params_before", "params_after", "channels": {group: kept}}``.
    """
    if isinstance(macs_reduction, bool) or not isinstance(macs_reduction, int | float):
        raise LeanECGError("macs_reduction", f"must be a fraction in (0, 1), got {macs_reduction!r}")
    if not 0.0 < macs_reduction < 1.0:
        raise LeanECGError("macs_reduction", f"must be a fraction in (0, 1), got {macs_reduction!r}")
    was_training = model.training
    model.eval()
    base = _macs(model, input_shape, extra_inputs)
    target = base * (1.0 - float(macs_reduction))

    if allocation not in ("uniform", "global"):
        raise LeanECGError("allocation", f"must be 'uniform' or 'global', got {allocation!r}")
    ranking = _global_ranking(model, input_shape, extra_inputs, min_keep) if allocation == "global" else None

    def trial(ratio: float) -> tuple[nn.Module, int]:
        m = copy.deepcopy(model)
        if ranking is None:
            prune_channels_ratio(m, ratio)
        else:
            _prune_ranked(m, ranking, ratio)
        return m, _macs(m, input_shape, extra_inputs)

    lo, hi = 0.0, 0.99
    best, best_macs = trial(hi)
    if best_macs > target:
        raise LeanECGError(
            "macs_reduction",
            f"cannot remove {macs_reduction:.0%} of the MACs by channel pruning (at most "
            f"{1 - best_macs / base:.0%}: layers that cannot be pruned dominate)",
        )
    best_ratio = hi
    while hi - lo > tolerance:
        mid = 0.5 * (lo + hi)
        m, macs = trial(mid)
        if macs <= target:
            hi, best, best_macs, best_ratio = mid, m, macs, mid
        else:
            lo = mid
    model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    info = {
        "allocation": allocation,
        "ratio": best_ratio,
        "macs_before": base,
        "macs_after": best_macs,
        "macs_reduction": 1.0 - best_macs / base if base else math.nan,
        "params_before": params,
        "params_after": sum(p.numel() for p in best.parameters()),
        "channels": _pruned_counts(best),
    }
    best.eval()
    return best, info
