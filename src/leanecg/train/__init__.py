"""One trainer for all deep models: data containers, losses, checkpoints, determinism.

Names are imported lazily so ``import leanecg.train`` stays cheap (torch loads on first use).
"""

from __future__ import annotations

from leanecg._lazy import lazy_getattr

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


__getattr__ = lazy_getattr(__name__, _EXPORTS)
