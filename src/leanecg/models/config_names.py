"""Names of the composite model configs and a walk over them: numpy-free, torch-free.

A model config (:func:`leanecg.models.registry.model_config`) names its architecture; three names are
composites built from other models: an ensemble (its ``members``), a hybrid (a ``network`` and its
``trees``) and a tree model. Inference code that must know what a package holds -- without importing torch,
which the runtime install does not have -- reads its config with :func:`contains_model`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ENSEMBLE_NAME", "HYBRID_NAME", "TREES_NAME", "contains_model", "contains_trees"]

#: The ``name`` of an ensemble's model config (:mod:`leanecg.models.ensemble`).
ENSEMBLE_NAME = "ensemble"
#: The ``name`` of a hybrid's model config (:mod:`leanecg.models.hybrid`).
HYBRID_NAME = "hybrid"
#: The ``name`` of a tree model's config (:mod:`leanecg.models.trees`).
TREES_NAME = "lightgbm_trees"


def contains_model(config: Mapping[str, Any], *names: str) -> bool:
    """Whether a model config is, or holds as an ensemble member or a hybrid's part, a model named one of
    ``names``.

    >>> contains_model({"name": "ensemble", "members": [{"name": "beatnet"}, {"name": "lightgbm_trees"}]},
    ...                TREES_NAME)
    True
    """
    if config.get("name") in names:
        return True
    parts = [*(config.get("members") or []), config.get("network"), config.get("trees")]
    return any(contains_model(p, *names) for p in parts if isinstance(p, Mapping))


def contains_trees(config: Mapping[str, Any]) -> bool:
    """Whether a model config holds boosted trees (a tree model or a hybrid, alone or in an ensemble):
    models without gradients, whose splits int8 must not move."""
    return contains_model(config, TREES_NAME, HYBRID_NAME)
