"""Model packages (layer 7): what a trained model is on disk and how it is opened.

* :mod:`leanecg.package.model`: :class:`ModelPackage` (preprocessing + network + classes + temperature),
  :func:`save_model_package` / :func:`load_model_package` (torch weights), model cards;
* :mod:`leanecg.package.ort_runtime`: :func:`load_onnx_package`, an exported ``.onnx`` file in ONNX Runtime
  (numpy + onnxruntime only, never torch);
* :mod:`leanecg.package.shipped`: the models shipped in ``leanecg/zoo/`` and the ONNX-in-sync check;
* :mod:`leanecg.package.open`: :func:`open_model`, the one place that decides what a model given by name or
  path (``--model X``) means.

Importing this package is torch-free (torch loads only when a torch package is opened).
"""

from __future__ import annotations

from leanecg.package.model import (
    CARD_FILE,
    META_FILE,
    PACKAGE_FORMAT,
    WEIGHTS_FILE,
    BeatPredictions,
    InferenceBackend,
    LeadOption,
    ModelInputs,
    ModelPackage,
    TorchBackend,
    check_package_meta,
    class_column,
    load_model_package,
    model_card,
    model_lead_choice,
    package_rhythm_gate,
    package_temperature,
    save_model_package,
    set_package_field,
    set_package_fields,
    temperature_meta,
    write_card,
)
from leanecg.package.open import MODEL_FORMS, is_onnx_model, load_inference_package, open_model, resolve_model
from leanecg.package.ort_runtime import load_onnx_package
from leanecg.package.shipped import (
    EXPORT_COMMAND,
    ONNX_FILES,
    list_shipped,
    onnx_status,
    package_summary,
    shipped_names,
    shipped_onnx,
    shipped_path,
    zoo_dir,
)

__all__ = [
    "CARD_FILE",
    "EXPORT_COMMAND",
    "META_FILE",
    "MODEL_FORMS",
    "ONNX_FILES",
    "PACKAGE_FORMAT",
    "WEIGHTS_FILE",
    "BeatPredictions",
    "InferenceBackend",
    "LeadOption",
    "ModelInputs",
    "ModelPackage",
    "TorchBackend",
    "check_package_meta",
    "class_column",
    "is_onnx_model",
    "list_shipped",
    "load_inference_package",
    "load_model_package",
    "load_onnx_package",
    "model_card",
    "model_lead_choice",
    "onnx_status",
    "open_model",
    "package_rhythm_gate",
    "package_summary",
    "package_temperature",
    "resolve_model",
    "save_model_package",
    "set_package_field",
    "set_package_fields",
    "shipped_names",
    "shipped_onnx",
    "shipped_path",
    "temperature_meta",
    "write_card",
    "zoo_dir",
]
