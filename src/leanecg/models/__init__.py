"""Model zoo (torch) and classic models.

Names are imported lazily so ``import leanecg.models`` does not import torch.
"""

from __future__ import annotations

from leanecg._lazy import lazy_getattr

_EXPORTS = {
    "ModelSpec": "leanecg.models.registry",
    "build_model": "leanecg.models.registry",
    "build_from_config": "leanecg.models.registry",
    "ensemble_of": "leanecg.models.registry",
    "count_parameters": "leanecg.models.registry",
    "list_models": "leanecg.models.registry",
    "build_classic": "leanecg.models.classic",
    "list_classic_models": "leanecg.models.classic",
    "model_config": "leanecg.models.registry",
    "set_model_config": "leanecg.models.registry",
    "trees_model": "leanecg.models.registry",
    "hybrid_model": "leanecg.models.registry",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
