"""Contrastive self-supervised pretraining: SimCLR and CLOCS (CMSC, CMLC, CMSMLC).

Names are imported lazily so ``import leanecg.ssl`` stays cheap (torch loads on first use).
"""

from __future__ import annotations

from leanecg._lazy import lazy_getattr

_EXPORTS = {
    "PretrainConfig": "leanecg.ssl.pretrain",
    "PretrainResult": "leanecg.ssl.pretrain",
    "pretrain": "leanecg.ssl.pretrain",
    "save_encoder": "leanecg.ssl.pretrain",
    "load_encoder": "leanecg.ssl.pretrain",
    "load_unlabelled": "leanecg.ssl.pretrain",
    "FrozenEncoder": "leanecg.ssl.pretrain",
    "METHODS": "leanecg.ssl.pretrain",
    "nt_xent": "leanecg.ssl.losses",
    "patient_contrastive_loss": "leanecg.ssl.losses",
    "SimCLRViews": "leanecg.ssl.simclr",
    "default_ecg_augment": "leanecg.ssl.simclr",
    "CMSCViews": "leanecg.ssl.clocs",
    "CMLCViews": "leanecg.ssl.clocs",
    "CMSMLCViews": "leanecg.ssl.clocs",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
