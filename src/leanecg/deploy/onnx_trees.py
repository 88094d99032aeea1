"""Boosted trees in ONNX: each :class:`~leanecg.models.trees.TreeEnsemble` as one ``ai.onnx.ml`` ``TreeEnsemble``.

Traced by ``torch.onnx.export``, a :class:`~leanecg.models.trees.TreeEnsemble` becomes its traversal: ``depth``
rounds (21 for the shipped ``cinc2017`` boosters) of gathers, comparisons and selects over all trees. That is
correct but slow in ONNX Runtime, which pays a dispatch for every small operator: about 0.6 ms per call for the
two shipped boosters, where ONNX's own tree operator (``ai.onnx.ml`` opset :data:`ML_OPSET`, ``TreeEnsemble``)
evaluates the same trees in about 0.02 ms. So the fp32 export (:func:`leanecg.deploy.onnx_export.export_fp32`)
writes each tree module as that operator, in two steps:

1. :func:`tree_placeholders` (a context manager around ``torch.onnx.export``) replaces, for the export only,
   each tree module's forward by a **placeholder**: the features as the trees read them
   (:meth:`~leanecg.models.trees.TreeEnsemble.read_features`: LightGBM's zero and NaN reading, exported as
   ordinary operators) times a constant ``(n_features, n_classes)`` matrix registered on the module under
   :data:`PLACEHOLDER`, filled with a value of its own (so the exporter's optimiser cannot merge the
   placeholders of two members). The export thus holds one ``MatMul`` per tree module whose second input is
   the initializer ``<module path>.<PLACEHOLDER>``.
2. :func:`replace_tree_placeholders` replaces each such ``MatMul`` by :func:`tree_ensemble_node`, built from
   the module's arrays, with the same input and output, and drops the placeholder initializers.

:func:`tree_ensemble_node` encodes the trees exactly as the traversal evaluates them: a split sends an example
to its left child (the "true" branch) when ``value <= threshold`` (``BRANCH_LEQ``, the float32 thresholds of the
module), NaN to the side the module's ``nan_left`` names (a split without a learned direction sees no NaN: the
placeholder's input already read it as 0), and tree ``t``'s leaf values are summed into class ``t % n_classes``
(``SUM``, no post transform: raw scores, the module's logits). ONNX Runtime sums in float32 too; outputs agree
with the torch module to ~1e-6.

torch and onnx are imported inside the functions only (the inference runtime never imports this module).
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from leanecg.errors import LeanECGError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from leanecg.models.trees import TreeEnsemble

__all__ = ["ML_OPSET", "PLACEHOLDER", "replace_tree_placeholders", "tree_ensemble_node", "tree_placeholders"]

#: The ``ai.onnx.ml`` opset of the ``TreeEnsemble`` operator (ONNX 1.17; ONNX Runtime 1.22 and later).
ML_OPSET = 5

#: Name of the placeholder matrix a tree module carries during the export (a non-persistent buffer).
PLACEHOLDER = "onnx_tree_placeholder"

#: ``TreeEnsemble``'s ``aggregate_function`` SUM and ``post_transform`` NONE, and its ``nodes_modes`` BRANCH_LEQ.
_SUM, _NO_TRANSFORM, _BRANCH_LEQ = 1, 0, 0


def _placeholder_forward(
    self: TreeEnsemble, x: torch.Tensor, features: torch.Tensor | None = None
) -> torch.Tensor:
    return self.read_features(features) @ getattr(self, PLACEHOLDER)


@contextlib.contextmanager
def tree_placeholders(model: nn.Module) -> Iterator[dict[str, TreeEnsemble]]:
    """Within the block, every :class:`~leanecg.models.trees.TreeEnsemble` in ``model`` computes its
    placeholder (see the module docstring) instead of its trees; restored on exit, also on an error.

    Yields:
        ``{initializer name: tree module}``: the name its placeholder matrix gets in the exported graph.
    """
    import torch

    from leanecg.models.trees import TreeEnsemble

    found = {name: m for name, m in model.named_modules() if isinstance(m, TreeEnsemble)}
    try:
        for k, m in enumerate(found.values()):
            fill = torch.full((m.n_features, m.n_classes), float(k + 1))
            m.register_buffer(PLACEHOLDER, fill, persistent=False)
            m.forward = types.MethodType(_placeholder_forward, m)  # type: ignore[method-assign]
        yield {f"{name}.{PLACEHOLDER}" if name else PLACEHOLDER: m for name, m in found.items()}
    finally:
        for m in found.values():
            m.__dict__.pop("forward", None)  # the class's forward again
            if hasattr(m, PLACEHOLDER):
                delattr(m, PLACEHOLDER)


def tree_ensemble_node(trees: TreeEnsemble, input_name: str, output_name: str) -> Any:
    """The ``ai.onnx.ml`` ``TreeEnsemble`` node (an ``onnx.NodeProto``) computing ``trees``' logits
    ``(batch, n_classes)`` from ``input_name``, the features as :meth:`TreeEnsemble.read_features` gives them.

    Interior nodes (splits) and leaves are numbered in the module's order (trees one after the other, each in
    pre-order); a tree that is a single leaf gets a split whose two branches both lead to that leaf (the
    operator's roots are interior nodes).
    """
    from onnx import helper, numpy_helper

    weight = trees.weight.detach().cpu().numpy().astype(np.float32)
    feature = trees.feature.cpu().numpy().astype(np.int64)
    right = trees.right.cpu().numpy().astype(np.int64)
    root = trees.root.cpu().numpy().astype(np.int64)
    nan_left = trees.nan_left.cpu().numpy() if trees.missing else weight >= 0.0
    n = weight.size
    leaf = right == np.arange(n)
    split = np.flatnonzero(~leaf)
    split_index = np.cumsum(~leaf) - 1  # a split's position among the splits
    leaf_index = np.cumsum(leaf) - 1  # a leaf's position among the leaves

    def branch(child: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.where(leaf[child], leaf_index[child], split_index[child]), leaf[child].astype(np.int64)

    true_ids, true_leafs = branch(split + 1)  # pre-order: the left child is the next node
    false_ids, false_leafs = branch(right[split])
    features, splits, missing = feature[split], weight[split], nan_left[split].astype(np.int64)
    stumps = root[leaf[root]]  # single-leaf trees
    roots = split_index[root]
    roots[leaf[root]] = split.size + np.arange(stumps.size)
    if stumps.size:
        ids, ones = leaf_index[stumps], np.ones(stumps.size, np.int64)
        true_ids, true_leafs = np.append(true_ids, ids), np.append(true_leafs, ones)
        false_ids, false_leafs = np.append(false_ids, ids), np.append(false_leafs, ones)
        features = np.append(features, np.zeros(stumps.size, np.int64))
        splits = np.append(splits, np.zeros(stumps.size, np.float32))
        missing = np.append(missing, np.zeros(stumps.size, np.int64))
    tree_of = np.repeat(np.arange(trees.n_trees), np.diff(np.append(root, n)))
    return helper.make_node(
        "TreeEnsemble",
        [input_name],
        [output_name],
        domain="ai.onnx.ml",
        nodes_featureids=features.tolist(),
        nodes_splits=numpy_helper.from_array(splits.astype(np.float32)),
        nodes_modes=numpy_helper.from_array(np.full(features.size, _BRANCH_LEQ, np.uint8)),
        nodes_truenodeids=true_ids.tolist(),
        nodes_trueleafs=true_leafs.tolist(),
        nodes_falsenodeids=false_ids.tolist(),
        nodes_falseleafs=false_leafs.tolist(),
        nodes_missing_value_tracks_true=missing.tolist(),
        tree_roots=roots.tolist(),
        leaf_targetids=(tree_of[leaf] % trees.n_classes).tolist(),
        leaf_weights=numpy_helper.from_array(weight[leaf]),
        n_targets=trees.n_classes,
        aggregate_function=_SUM,
        post_transform=_NO_TRANSFORM,
    )


def replace_tree_placeholders(proto: Any, placeholders: dict[str, TreeEnsemble]) -> int:
    """Replace (in place) each placeholder ``MatMul`` of an exported ``onnx.ModelProto`` by its trees'
    :func:`tree_ensemble_node`, drop the placeholder initializers and import ``ai.onnx.ml`` opset
    :data:`ML_OPSET`. Returns the number of nodes replaced.

    Raises:
        LeanECGError: a placeholder is not the second input of exactly one ``MatMul`` (the exporter changed
            the graph in a way this step does not know).
    """
    from onnx import helper

    graph = proto.graph
    replaced: dict[str, int] = dict.fromkeys(placeholders, 0)
    nodes = []
    for node in graph.node:
        name = node.input[1] if node.op_type == "MatMul" and len(node.input) == 2 else ""
        if name in placeholders:
            nodes.append(tree_ensemble_node(placeholders[name], node.input[0], node.output[0]))
            replaced[name] += 1
        else:
            nodes.append(node)
    bad = sorted(name for name, count in replaced.items() if count != 1)
    if bad:
        raise LeanECGError(
            "onnx", f"tree placeholder(s) not found once in the exported graph: {', '.join(bad)}"
        )
    del graph.node[:]
    graph.node.extend(nodes)
    keep = [t for t in graph.initializer if t.name not in placeholders]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    if placeholders and not any(o.domain == "ai.onnx.ml" for o in proto.opset_import):
        proto.opset_import.append(helper.make_opsetid("ai.onnx.ml", ML_OPSET))
    return len(placeholders)
