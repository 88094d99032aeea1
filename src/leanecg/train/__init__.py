"""One trainer for all deep models: data containers, losses, checkpoints, determinism.

Names are imported lazily so ``import leanecg.train`` stays cheap (torch loads on first use).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ArraySplit": "leanecg.train.datasets",
    "TrainConfig": "leanecg.train.trainer",
    "TrainResult": "leanecg.train.trainer",
    "fit": "leanecg.train.trainer",
    "predict_proba": "leanecg.train.trainer",
    "make_loss": "leanecg.train.losses",
    "save_checkpoint": "leanecg.train.checkpoint",
    "load_checkpoint": "leanecg.train.checkpoint",
    "load_model": "leanecg.train.checkpoint",
    "seed_everything": "leanecg.train.seed",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'leanecg.train' has no attribute {name!r}")
