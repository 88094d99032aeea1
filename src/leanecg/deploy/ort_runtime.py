"""Torch-free ONNX Runtime inference; moved to :mod:`leanecg.package.ort_runtime` (layer 7), re-exported here
for ``leanecg.deploy.ort_runtime`` imports."""

from leanecg.package.ort_runtime import (
    FEATURES_INPUT,
    META_KEY,
    OUTPUT_NAME,
    SIGNAL_INPUT,
    OrtBackend,
    load_onnx_package,
    onnx_meta,
    ort_session,
    sidecar_path,
)

__all__ = [
    "FEATURES_INPUT",
    "META_KEY",
    "OUTPUT_NAME",
    "SIGNAL_INPUT",
    "OrtBackend",
    "load_onnx_package",
    "onnx_meta",
    "ort_session",
    "sidecar_path",
]
