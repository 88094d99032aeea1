"""Explanations: where on the ECG a model looked, and what its features contributed.

* :func:`explain_record` (:mod:`leanecg.explain.core`): a model package's prediction on one raw record,
  explained by integrated gradients (``"ig"``), 1-D Grad-CAM (``"gradcam"``) or occlusion (``"occlusion"``,
  also for ONNX models), as a relevance curve at the record's sampling rate, plus feature contributions for
  models with a feature input; returns an :class:`Explanation`.
* :func:`write_explanation` / :func:`plot_explanation` (:mod:`leanecg.explain.figure`): the ECG-paper figure
  (``.png``), a self-contained ``.html`` page, or ``.json``.
* :mod:`leanecg.explain.attribution`: the methods on model inputs, and
  :func:`lightgbm_contributions` (a LightGBM model's own SHAP values, ``pred_contrib``).
* :mod:`leanecg.explain.faithfulness`: deletion / insertion curves and the model-randomisation check
  (``benchmarks/explain_faithfulness.py``).

``leanecg explain PATH --model NAME [--method ig|gradcam|occlusion] [--class C] [--lead L] --out FILE`` is
the command line. Nothing here imports torch until a gradient method runs.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "METHODS",
    "Explanation",
    "FeatureContribution",
    "explain_record",
    "feature_integrated_gradients",
    "feature_unit",
    "grad_cam",
    "integrated_gradients",
    "lightgbm_contributions",
    "occlusion",
    "plot_explanation",
    "write_explanation",
]

_WHERE = {
    "METHODS": "attribution",
    "feature_integrated_gradients": "attribution",
    "grad_cam": "attribution",
    "integrated_gradients": "attribution",
    "lightgbm_contributions": "attribution",
    "occlusion": "attribution",
    "Explanation": "core",
    "FeatureContribution": "core",
    "explain_record": "core",
    "feature_unit": "core",
    "plot_explanation": "figure",
    "write_explanation": "figure",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"leanecg.explain.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'leanecg.explain' has no attribute {name!r}")
