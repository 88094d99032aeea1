"""Model zoo (torch) and classic models.

Names are imported lazily so ``import leanecg.models`` does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ModelSpec": "leanecg.models.registry",
    "build_model": "leanecg.models.registry",
    "build_from_config": "leanecg.models.registry",
    "count_parameters": "leanecg.models.registry",
    "list_models": "leanecg.models.registry",
    "model_config": "leanecg.models.registry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'leanecg.models' has no attribute {name!r}")
