"""Structured channel surgery on zoo models: the channel groups that must shrink together, and rebuilding a
model with fewer channels per group.

:func:`channel_groups` organises a backbone + head model's convolution channels in groups (see
:mod:`leanecg.compress.prune` for the rules); :func:`keep_first_channels` shrinks a freshly built model to
``{group name: channels kept}`` -- what :func:`leanecg.models.build_from_config` does for a config with
``"pruned_channels"``, so a channel-pruned model's weights load with ``strict=True``. Choosing *which* channels
to drop (importance, MAC targets) is compression's job (:mod:`leanecg.compress.prune`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from leanecg.errors import LeanECGError
from leanecg.models import blocks
from leanecg.models.heads import ClassifierHead, FusionHead, GlobalPool
from leanecg.models.litenet import BeatNetBackbone

__all__ = [
    "PRUNED_KEY",
    "ChannelGroup",
    "channel_groups",
    "keep_first_channels",
    "slice_group",
    "sync_out_channels",
]

#: The model-config key holding ``{group name: channels kept}`` of a channel-pruned model.
PRUNED_KEY = "pruned_channels"


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
        if isinstance(se, blocks.SqueezeExcite):
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


def slice_group(group: ChannelGroup, keep: torch.Tensor) -> None:
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


def sync_out_channels(model: nn.Module) -> None:
    """Update each ``ConvBNAct``'s ``out_channels`` attribute after its convolution was sliced."""
    for m in model.modules():
        if isinstance(m, blocks.ConvBNAct):
            m.out_channels = m[0].out_channels


def keep_first_channels(model: nn.Module, counts: Mapping[str, Any], source: str = PRUNED_KEY) -> nn.Module:
    """Shrink a freshly built model to ``counts`` (``{group name: channels kept}``), keeping each group's first
    channels, in place; the weights are placeholders for ``load_state_dict``. The model's config is not
    touched (callers record ``counts`` under :data:`PRUNED_KEY`).

    Raises:
        LeanECGError: ``counts`` is not an object, names an unknown group, or a count outside ``[1, size]``.
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
            slice_group(g, torch.arange(k, dtype=torch.int64))
    sync_out_channels(model)
    return model
