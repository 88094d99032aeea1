"""Gradient-boosted trees as a tensor model: a fitted LightGBM booster that runs in torch and ONNX.

LightGBM on handcrafted record features is a strong rhythm classifier on its own and beside a network
(their averaged probabilities). To ship it inside a model package -- the same pipeline, features,
temperature, ONNX export and ``leanecg ensemble`` as every network -- :class:`TreeEnsemble` holds the
booster's trees as tensors and evaluates them by **tree traversal**: every tree starts at its root and, for
``depth`` steps, moves each example to its left child when ``features[split feature] <= threshold`` and to
its right child otherwise (a leaf points to itself); the leaf values reached are summed per class into
logits (LightGBM's raw multiclass scores, so ``softmax`` gives its probabilities). It is gathers and
comparisons only, so it runs anywhere torch does. In ONNX (:mod:`leanecg.deploy.onnx_trees`) the same trees
are written as one ``ai.onnx.ml`` ``TreeEnsemble`` node, which ONNX Runtime evaluates natively (tens of
times faster than the traversal's ``depth`` rounds of small operators) and without LightGBM.

Conversion (:func:`trees_from_lightgbm`) reads ``booster.dump_model()``: numerical ``<=`` splits only
(categorical splits and zero-as-missing splits are refused). Missing values (NaN) go where LightGBM sends
them: a split without missing-value handling reads NaN as 0; a split that learned a direction for NaN
(``missing_type`` NaN, e.g. a hybrid's beat features) sends it that way (``missing=True``: one more lookup
per step). Thresholds are stored as the
largest float32 not above LightGBM's float64 threshold and feature values of magnitude at most 1e-35 are
read as 0, as LightGBM's predictor does, so a float32 feature goes the same way as in LightGBM; leaf
values are summed in float32 (differences from LightGBM's float64 sums ~1e-6).

Parameters: one per node -- a split's threshold or a leaf's value -- so the model's parameter count is the
booster's node count (:func:`leanecg.train.hybrid.count_tree_nodes`); split features and child indices
are structure (integer buffers). The signal input ``x`` is accepted and ignored: the model reads ``features``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from leanecg.errors import LeanECGError
from leanecg.models.config_names import TREES_NAME

__all__ = ["TREES_NAME", "TreeArrays", "TreeEnsemble", "trees_from_lightgbm"]


#: LightGBM reads a feature value of magnitude at most this as 0 (``kZeroThreshold``); splits at zero sit at
#: +-this value.
ZERO_THRESHOLD = 1e-35

#: Arrays of a converted booster (see :func:`trees_from_lightgbm`).
TreeArrays = dict[str, np.ndarray]


class TreeEnsemble(nn.Module):
    """Boosted trees over ``features`` ``(batch, n_features)`` -> logits ``(batch, n_classes)``.

    Args:
        n_leads: leads of the signal input it accepts beside the features (ignored; for ensembles).
        n_classes: classes; tree ``t`` adds to class ``t % n_classes`` (LightGBM's multiclass order).
        n_features: feature columns.
        n_trees: trees.
        n_nodes: nodes of all trees together (splits + leaves).
        depth: traversal steps, the deepest leaf's depth.
        missing: some splits send NaN their own way (the ``nan_left`` buffer, bool per node); otherwise
            NaN features are read as 0 before the traversal.

    One parameter per node, ``weight``: a split's threshold or a leaf's value (so the parameter count is
    the node count). Structure, stored compactly: nodes are numbered tree by tree in pre-order, so a split's
    left child is the next node; ``feature`` (int16) is a split's feature column (0 for a leaf),
    ``right`` (int32) the right child, a leaf's own index (a node whose right child is itself is a leaf:
    once reached, an example stays), ``root`` (int32) each tree's first node. The weights are filled by :meth:`load_arrays` (or ``load_state_dict``).
    """

    extra_inputs = ("features",)
    min_samples = 1

    def __init__(
        self,
        n_leads: int,
        n_classes: int,
        n_features: int,
        n_trees: int,
        n_nodes: int,
        depth: int,
        missing: bool = False,
    ):
        super().__init__()
        for name, v in (("n_classes", n_classes), ("n_features", n_features), ("n_trees", n_trees)):
            if int(v) < 1:
                raise LeanECGError(name, f"must be a positive integer, got {v!r}")
        if int(n_nodes) < int(n_trees) or int(depth) < 0:
            raise LeanECGError("trees", f"need n_nodes >= n_trees and depth >= 0, got {n_nodes!r}, {depth!r}")
        if int(n_features) >= 2**15 or int(n_nodes) >= 2**31:
            raise LeanECGError(
                "trees", f"at most 32,767 features and 2**31 - 1 nodes, got {n_features}, {n_nodes}"
            )
        self.n_leads, self.n_classes, self.n_features = int(n_leads), int(n_classes), int(n_features)
        self.n_trees, self.n_nodes, self.depth = int(n_trees), int(n_nodes), int(depth)
        self.weight = nn.Parameter(torch.zeros(self.n_nodes), requires_grad=False)
        self.register_buffer("feature", torch.zeros(self.n_nodes, dtype=torch.int16))
        self.register_buffer("right", torch.arange(self.n_nodes, dtype=torch.int32))
        self.register_buffer("root", torch.arange(self.n_trees, dtype=torch.int32))
        self.missing = bool(missing)
        if self.missing:
            self.register_buffer("nan_left", torch.zeros(self.n_nodes, dtype=torch.bool))
        onehot = torch.zeros(self.n_trees, self.n_classes)
        onehot[torch.arange(self.n_trees), torch.arange(self.n_trees) % self.n_classes] = 1.0
        self.register_buffer("tree_class", onehot)

    def load_arrays(self, arrays: Mapping[str, np.ndarray]) -> TreeEnsemble:
        """Fill the trees from :func:`trees_from_lightgbm` arrays of the same shape; returns ``self``."""
        want = {"weight": self.n_nodes, "feature": self.n_nodes, "right": self.n_nodes, "root": self.n_trees}
        if self.missing:
            want["nan_left"] = self.n_nodes
        for name, n in want.items():
            a = np.asarray(arrays[name])
            if a.shape != (n,):
                raise LeanECGError("trees", f"{name} has shape {a.shape}, the model {(n,)}")
        feature, right = np.asarray(arrays["feature"]), np.asarray(arrays["right"])
        nodes = np.arange(self.n_nodes)
        if (
            feature.min() < 0
            or feature.max() >= self.n_features
            or np.any((right < nodes) | (right >= self.n_nodes))
        ):
            raise LeanECGError("trees", "a split feature out of range, or a right child before its node")
        with torch.no_grad():
            self.weight.copy_(torch.from_numpy(np.asarray(arrays["weight"], dtype=np.float32)))
            self.feature.copy_(torch.from_numpy(feature.astype(np.int16)))
            self.right.copy_(torch.from_numpy(right.astype(np.int32)))
            self.root.copy_(torch.from_numpy(np.asarray(arrays["root"]).astype(np.int32)))
            if self.missing:
                self.nan_left.copy_(torch.from_numpy(np.asarray(arrays["nan_left"]).astype(bool)))
        return self

    def read_features(self, features: torch.Tensor | None) -> torch.Tensor:
        """The feature values the splits compare, as LightGBM's predictor reads its input: float32, a value of
        magnitude at most :data:`ZERO_THRESHOLD` as 0 and, unless splits learned a direction for NaN
        (``missing``), NaN as 0. ``(batch, n_features)`` -> same shape."""
        if features is None:
            raise LeanECGError("features", "a tree model needs its features input")
        f = features.float()
        zero = f.abs() <= ZERO_THRESHOLD
        return torch.where(zero if self.missing else zero | torch.isnan(f), torch.zeros_like(f), f)

    def forward(self, x: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        f = self.read_features(features)
        feature, right = self.feature.long(), self.right.long()
        node = self.root.long().unsqueeze(0).expand(f.shape[0], -1)  # (batch, n_trees) node indices
        for _ in range(self.depth):  # left: the next node (pre-order), or the leaf itself; right: right[node]
            value = torch.gather(f, 1, feature[node])
            go_left = value <= self.weight[node]
            if self.missing:
                go_left = torch.where(torch.isnan(value), self.nan_left[node], go_left)
            r = right[node]
            node = torch.where(go_left, node + (r != node).long(), r)
        return self.weight[node] @ self.tree_class


def _f32_at_most(t: float) -> np.float32:
    """The largest float32 ``<= t`` (so ``x <= result`` iff ``x <= t`` for every float32 ``x``); thresholds
    beyond float32's range (LightGBM writes +-1e300 for some NaN splits) become its largest value or -inf."""
    with np.errstate(over="ignore"):
        v = np.float32(t)
    return np.nextafter(v, np.float32(-np.inf)) if float(v) > t else v


def trees_from_lightgbm(booster: Any, num_iteration: int | None = None) -> tuple[dict[str, Any], TreeArrays]:
    """Convert a fitted multiclass (or binary / regression) LightGBM booster to :class:`TreeEnsemble` arrays.

    Args:
        booster: a ``lightgbm.Booster`` with numerical splits only.
        num_iteration: boosting rounds to keep (``None``: the booster's best iteration, else all).

    Returns:
        ``(shape, arrays)``: ``shape`` = ``{"n_classes", "n_features", "n_trees", "n_nodes", "depth"}``, plus
        ``"missing": True`` when a split learned a direction for NaN (the :class:`TreeEnsemble` arguments) and the arrays: ``weight`` (a split's threshold or a leaf's
        value), ``feature`` (0 for a leaf) and ``right`` (a leaf: itself) per node (trees one after the other,
        each in pre-order: a split's left child is the next node) and ``root``, the first node of each tree.

    Raises:
        LeanECGError: a categorical split, or a zero-as-missing split.
    """
    if num_iteration is None:
        best = int(getattr(booster, "best_iteration", 0) or 0)
        num_iteration = best if best > 0 else None
    dump = booster.dump_model(num_iteration=num_iteration)
    trees = [t["tree_structure"] for t in dump["tree_info"]]
    n_classes = max(1, int(dump.get("num_tree_per_iteration", 1)))
    nodes: list[list[dict[str, Any]]] = []
    depth = 0
    for t, root in enumerate(trees):
        flat: list[dict[str, Any]] = []
        stack = [(root, 0)]
        while stack:  # pre-order: a node's index is fixed before its children are numbered
            node, d = stack.pop()
            depth = max(depth, d)
            entry: dict[str, Any] = {"node": node}
            flat.append(entry)
            if "left_child" in node:
                if node.get("decision_type", "<=") != "<=":
                    raise LeanECGError(
                        "trees", f"tree {t}: {node.get('decision_type')!r} splits are not supported"
                    )
                if node.get("missing_type", "None") not in ("None", None, "NaN"):
                    raise LeanECGError(
                        "trees", f"tree {t}: {node.get('missing_type')!r} missing values are not supported"
                    )
                entry["children"] = (node["left_child"], node["right_child"])
                stack.append((node["right_child"], d + 1))
                stack.append((node["left_child"], d + 1))
        nodes.append(flat)
    offsets = np.cumsum([0] + [len(f) for f in nodes])
    size = int(offsets[-1])
    n_features = int(dump["max_feature_idx"]) + 1
    feature = np.zeros(size, np.int64)
    weight = np.zeros(size, np.float32)
    right = np.arange(size, dtype=np.int64)
    nan_left = np.zeros(size, bool)
    for t, flat in enumerate(nodes):
        index = {id(e["node"]): int(offsets[t]) + j for j, e in enumerate(flat)}
        for j, e in enumerate(flat):
            i, node = int(offsets[t]) + j, e["node"]
            if "children" in e:
                feature[i] = int(node["split_feature"])
                weight[i] = _f32_at_most(float(node["threshold"]))
                if index[id(e["children"][0])] != i + 1:  # pre-order: the left child is the next node
                    raise LeanECGError("trees", f"tree {t}: nodes not in pre-order")
                right[i] = index[id(e["children"][1])]
                # NaN: a learned direction, else read as 0 (LightGBM's predictor)
                learned = node.get("missing_type") == "NaN"
                nan_left[i] = bool(node.get("default_left", True)) if learned else bool(0.0 <= weight[i])
            else:
                weight[i] = float(node["leaf_value"])
    shape = {
        "n_classes": n_classes,
        "n_features": n_features,
        "n_trees": len(trees),
        "n_nodes": size,
        "depth": depth,
    }
    missing = [bool(n["node"].get("missing_type") == "NaN") for flat in nodes for n in flat]
    if any(missing):
        shape["missing"] = True
    arrays = {
        "weight": weight,
        "feature": feature,
        "right": right,
        "root": offsets[:-1].astype(np.int64),
    }
    if any(missing):
        arrays["nan_left"] = nan_left
    return shape, arrays
