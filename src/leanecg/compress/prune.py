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
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from leanecg.errors import LeanECGError

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

PRUNED_KEY = "pruned_channels"


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


@dataclass
class ChannelGroup:
    """Channels that must be pruned together (see the module docstring).

    Attributes:
        name: module path of the group's first producer convolution (stable across rebuilds).
        size: current number of channels.
        members: ``(kind, module, extra)`` to slice: ``conv_out``, ``conv_in``, ``dw`` (depthwise conv),
            ``bn``, ``se``, ``linear_in`` (``extra``: the pooling module in front of it) and ``pool``.
        producers: ``(conv, batch-norm or None)`` pairs whose output channels form the group.
    """

    name: str
    size: int
    members: list[tuple[str, nn.Module, Any]] = field(default_factory=list)
    producers: list[tuple[nn.Conv1d, nn.BatchNorm1d | None]] = field(default_factory=list)

    def add(self, kind: str, module: nn.Module, extra: Any = None) -> None:
        self.members.append((kind, module, extra))

    def importance(self) -> torch.Tensor:
        """float64 ``(size,)``: summed L1 norms of the batch-norm-folded producer filters."""
        score = torch.zeros(self.size, dtype=torch.float64)
        with torch.no_grad():
            for conv, bn in self.producers:
                w = conv.weight.detach().double().abs().flatten(1).sum(dim=1)
                if bn is not None:
                    scale = bn.weight.detach().double().abs() if bn.weight is not None else 1.0
                    w = w * scale / torch.sqrt(bn.running_var.detach().double() + bn.eps)
                score += w / w.max().clamp_min(1e-12)  # each producer on the same scale
        return score


class _Walker:
    def __init__(self) -> None:
        self.groups: list[ChannelGroup] = []

    def new_group(self, name: str, conv: nn.Conv1d, bn: nn.BatchNorm1d | None) -> ChannelGroup:
        g = ChannelGroup(name, conv.out_channels)
        g.add("conv_out", conv)
        if bn is not None:
            g.add("bn", bn)
        g.producers.append((conv, bn))
        self.groups.append(g)
        return g

    def walk(self, mod: nn.Module, path: str, stream: ChannelGroup | None) -> ChannelGroup | None:
        from leanecg.models import blocks
        from leanecg.models.litenet import BeatNetBackbone

        if isinstance(mod, blocks.ConvBNAct):
            return self.conv_bn(mod[0], mod[1], f"{path}.0", stream)
        if isinstance(mod, blocks.DepthwiseSeparableConv):
            s = self.walk(mod.depthwise, f"{path}.depthwise", stream)
            s = self.se(mod.se, s, path)
            return self.walk(mod.pointwise, f"{path}.pointwise", s)
        if isinstance(mod, blocks.InvertedResidual):
            s = (
                stream
                if isinstance(mod.expand, nn.Identity)
                else self.walk(mod.expand, f"{path}.expand", stream)
            )
            s = self.walk(mod.depthwise, f"{path}.depthwise", s)
            s = self.se(mod.se, s, path)
            if not mod.use_residual:
                return self.walk(mod.project, f"{path}.project", s)
            conv, bn = mod.project[0], mod.project[1]
            assert s is not None and stream is not None
            s.add("conv_in", conv)
            stream.add("conv_out", conv)
            stream.add("bn", bn)
            stream.producers.append((conv, bn))
            return stream
        if isinstance(mod, blocks.BasicBlock1d):
            inner = self.walk(mod.conv1, f"{path}.conv1", stream)
            out = (
                stream
                if isinstance(mod.shortcut, nn.Identity)
                else self.walk(mod.shortcut, f"{path}.shortcut", stream)
            )
            assert inner is not None and out is not None
            conv, bn = mod.conv2[0], mod.conv2[1]
            inner.add("conv_in", conv)
            out.add("conv_out", conv)
            out.add("bn", bn)
            out.producers.append((conv, bn))
            return self.se(mod.se, out, path)
        if isinstance(mod, blocks.StemBackbone):
            s = self.walk(mod.stem, f"{path}.stem", stream)
            return self.walk(getattr(mod, mod.body_name), f"{path}.{mod.body_name}", s)
        if isinstance(mod, BeatNetBackbone):
            return self.walk(mod.layers, f"{path}.layers", stream)
        if type(mod) is nn.Sequential:
            for name, child in mod.named_children():
                stream = self.walk(child, f"{path}.{name}", stream)
            return stream
        passthrough = (
            blocks.MaxPool,
            blocks.DropPath,
            nn.Identity,
            nn.Dropout,
            nn.ReLU,
            nn.ReLU6,
            nn.Hardswish,
            nn.Hardsigmoid,
            nn.SiLU,
            nn.GELU,
            nn.Sigmoid,
        )
        if isinstance(mod, passthrough):
            return stream
        raise LeanECGError(
            "model", f"structured pruning does not support {type(mod).__name__} (at {path.lstrip('.')})"
        )

    def conv_bn(self, conv: nn.Conv1d, bn: nn.Module, path: str, stream: ChannelGroup | None) -> ChannelGroup:
        bn_ = bn if isinstance(bn, nn.BatchNorm1d) else None
        if conv.groups == 1:
            if stream is not None:
                stream.add("conv_in", conv)
            return self.new_group(path.lstrip("."), conv, bn_)
        if stream is not None and conv.groups == conv.in_channels == conv.out_channels == stream.size:
            stream.add("dw", conv)
            if bn_ is not None:
                stream.add("bn", bn_)
            return stream
        raise LeanECGError(
            "model", f"structured pruning does not support grouped convolutions (at {path.lstrip('.')})"
        )

    def se(self, se: nn.Module, stream: ChannelGroup | None, path: str) -> ChannelGroup | None:
        from leanecg.models.blocks import SqueezeExcite

        if isinstance(se, SqueezeExcite):
            if stream is None:
                raise LeanECGError("model", f"squeeze-excite on the model input (at {path})")
            stream.add("se", se)
        elif not isinstance(se, nn.Identity):
            raise LeanECGError(
                "model", f"structured pruning does not support {type(se).__name__} (at {path})"
            )
        return stream


def channel_groups(model: nn.Module) -> list[ChannelGroup]:
    """The prunable channel groups of a zoo model, in forward order (see the module docstring).

    Raises:
        LeanECGError: a model (or a module in its backbone) that channel pruning does not support.
    """
    from leanecg.models.heads import ClassifierHead, FusionHead, GlobalPool

    backbone, head = getattr(model, "backbone", None), getattr(model, "head", None)
    if not isinstance(backbone, nn.Module) or not isinstance(head, ClassifierHead | FusionHead):
        raise LeanECGError(
            "model", f"structured pruning needs a zoo backbone + head model, got {type(model).__name__}"
        )
    walker = _Walker()
    last = walker.walk(backbone, "backbone", None)
    if last is None:
        raise LeanECGError("model", "the backbone has no convolution to prune")
    pool = head.pool
    assert isinstance(pool, GlobalPool)
    if pool.score is not None:
        last.add("conv_in", pool.score)
    first = head.hidden[0] if isinstance(head.hidden, nn.Sequential) else head.fc
    if not isinstance(first, nn.Linear):
        raise LeanECGError("model", f"unexpected head layer {type(first).__name__}")
    last.add("linear_in", first, pool)
    last.add("pool", pool)
    last.add("backbone", backbone)
    return walker.groups


def _param(t: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(t.detach().clone().contiguous())


def _slice_group(group: ChannelGroup, keep: torch.Tensor) -> None:
    """Remove every channel of ``group`` not in ``keep`` (sorted int64 indices), in place."""
    n_old = group.size
    k = len(keep)
    for kind, m, extra in group.members:
        if kind == "conv_out":
            m.weight = _param(m.weight[keep])
            if m.bias is not None:
                m.bias = _param(m.bias[keep])
            m.out_channels = k
        elif kind == "conv_in":
            m.weight = _param(m.weight[:, keep])
            m.in_channels = k
        elif kind == "dw":
            m.weight = _param(m.weight[keep])
            if m.bias is not None:
                m.bias = _param(m.bias[keep])
            m.in_channels = m.out_channels = m.groups = k
        elif kind == "bn":
            if m.weight is not None:
                m.weight = _param(m.weight[keep])
                m.bias = _param(m.bias[keep])
            m.running_mean = m.running_mean[keep].clone()
            m.running_var = m.running_var[keep].clone()
            m.num_features = k
        elif kind == "se":
            m.reduce.weight = _param(m.reduce.weight[:, keep])
            m.reduce.in_channels = k
            m.expand.weight = _param(m.expand.weight[keep])
            if m.expand.bias is not None:
                m.expand.bias = _param(m.expand.bias[keep])
            m.expand.out_channels = k
        elif kind == "linear_in":
            cols = keep if extra.mode != "avgmax" else torch.cat([keep, keep + n_old])
            tail = torch.arange(extra.out_features, m.in_features, dtype=torch.int64)  # fused feature columns
            cols = torch.cat([cols, tail])
            m.weight = _param(m.weight[:, cols])
            m.in_features = len(cols)
        elif kind == "pool":
            m.out_features = 2 * k if m.mode == "avgmax" else k
        elif kind == "backbone":
            m.out_channels = k
    group.size = k


def _keep_count(n: int, ratio: float) -> int:
    return max(1, min(n, round(n * (1.0 - ratio))))


def _registry_config(model: nn.Module) -> dict[str, Any] | None:
    """The model's :func:`leanecg.models.model_config` (a copy), or ``None`` when it was not built by
    :func:`leanecg.models.build_model`."""
    from leanecg.models.registry import model_config

    try:
        return model_config(model)
    except LeanECGError:
        return None


def _set_config(model: nn.Module, counts: Mapping[str, int]) -> None:
    from leanecg.models.registry import set_model_config

    config = _registry_config(model)
    if config is not None:
        config[PRUNED_KEY] = {str(k): int(v) for k, v in counts.items()}
        set_model_config(model, config)


def _sync_out_channels(model: nn.Module) -> None:
    from leanecg.models.blocks import ConvBNAct

    for m in model.modules():
        if isinstance(m, ConvBNAct):
            m.out_channels = m[0].out_channels


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
            _slice_group(g, keep)
        counts[g.name] = g.size
    _sync_out_channels(model)
    previous = _pruned_counts(model)
    _set_config(model, {**previous, **counts})
    return counts


def _pruned_counts(model: nn.Module) -> dict[str, int]:
    config = _registry_config(model)
    return dict(config.get(PRUNED_KEY) or {}) if config is not None else {}


def apply_channel_counts(model: nn.Module, counts: Mapping[str, Any], source: str = PRUNED_KEY) -> nn.Module:
    """Shrink a freshly built model to the channel counts of a pruned config (keeps the first channels).

    The weights are placeholders to be replaced by ``load_state_dict``; used by
    :func:`leanecg.models.build_from_config` for configs with ``"pruned_channels"``.
    """
    if not isinstance(counts, Mapping):
        raise LeanECGError(source, "must be an object {channel group: channels kept}")
    groups = {g.name: g for g in channel_groups(model)}
    unknown = sorted(set(counts) - set(groups))
    if unknown:
        raise LeanECGError(source, f"unknown channel group(s) {', '.join(unknown)} for this architecture")
    for name, k in counts.items():
        g = groups[name]
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= g.size:
            raise LeanECGError(
                source, f"{name}: channels kept must be an integer in [1, {g.size}], got {k!r}"
            )
        if k < g.size:
            _slice_group(g, torch.arange(k, dtype=torch.int64))
    _sync_out_channels(model)
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
            _slice_group(g, torch.tensor([c for c in range(g.size) if c not in gone], dtype=torch.int64))
        counts[g.name] = g.size
    _sync_out_channels(model)
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
