"""Model compression: knowledge distillation, pruning, quantization-aware training, and their composition.

* :mod:`.distill`: teacher -> student training (soft targets with temperature, hard labels, optional
  feature-map matching), same leads or many leads -> fewer leads; out-of-fold teachers.
* :mod:`.prune`: global unstructured magnitude pruning and structured channel pruning that rebuilds smaller
  layers (pruned models save and load as model packages).
* :mod:`.qat`: int8 fake quantization with a straight-through estimator (plain torch ops), whose fp32 result
  is exported by the ONNX Runtime static int8 path.
* :mod:`.compose`: ``leanecg compress``: distil -> prune -> quantize a package, before/after card.

Names are imported lazily so ``import leanecg.compress`` stays cheap (torch loads on first use).
"""

from __future__ import annotations

from leanecg._lazy import lazy_getattr

_EXPORTS = {
    "DistillConfig": "leanecg.compress.distill",
    "CrossFitTeacher": "leanecg.compress.distill",
    "cross_fit_teachers": "leanecg.compress.distill",
    "distill": "leanecg.compress.distill",
    "distillation_loss": "leanecg.compress.distill",
    "select_leads": "leanecg.compress.distill",
    "magnitude_prune": "leanecg.compress.prune",
    "make_permanent": "leanecg.compress.prune",
    "sparsity": "leanecg.compress.prune",
    "channel_groups": "leanecg.compress.prune",
    "prune_channels": "leanecg.compress.prune",
    "prune_channels_ratio": "leanecg.compress.prune",
    "apply_channel_counts": "leanecg.compress.prune",
    "prepare_qat": "leanecg.compress.qat",
    "convert_qat": "leanecg.compress.qat",
    "freeze_batchnorm": "leanecg.compress.qat",
    "compress_package": "leanecg.compress.compose",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
