"""Shipped models and opening a model by name or path; moved to :mod:`leanecg.package` (layer 7:
:mod:`leanecg.package.shipped`, :mod:`leanecg.package.open`), re-exported here for ``leanecg.deploy.shipped``
imports. New code: :func:`leanecg.package.open_model`."""

from leanecg.package.open import is_onnx_model, load_inference_package, open_model, resolve_model
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
    "EXPORT_COMMAND",
    "ONNX_FILES",
    "is_onnx_model",
    "list_shipped",
    "load_inference_package",
    "onnx_status",
    "open_model",
    "package_summary",
    "resolve_model",
    "shipped_names",
    "shipped_onnx",
    "shipped_path",
    "zoo_dir",
]
