"""Trace a torch model package into an fp32 ONNX graph (:mod:`leanecg.deploy.onnx`).

:func:`export_fp32` runs ``torch.onnx.export(..., dynamo=True)`` with a dynamic batch axis (and a dynamic
time axis for record models), writes boosted trees as ONNX's own tree operator (:mod:`leanecg.deploy.onnx_trees`),
then folds batch norms into fully connected layers and compacts the graph (:mod:`leanecg.deploy.onnx_graph`).
torch and onnx are imported inside the functions only.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leanecg.deploy.onnx_graph import compact_onnx, fold_batchnorm_into_gemm
from leanecg.deploy.onnx_trees import replace_tree_placeholders, tree_placeholders
from leanecg.errors import LeanECGError
from leanecg.package.ort_runtime import FEATURES_INPUT, SIGNAL_INPUT

if TYPE_CHECKING:
    from torch import nn

    from leanecg.package.model import ModelPackage

__all__ = ["export_fp32", "min_samples", "quiet_converters"]


def min_samples(model: nn.Module) -> int:
    """Shortest input (samples) the export traces with: the model's ``min_samples``, at least 16."""
    return max(int(getattr(model, "min_samples", 16) or 16), 16)


@contextlib.contextmanager
def quiet_converters() -> Iterator[None]:
    """Silence the exporters' and quantizer's prints, warnings and log records (library code never prints)."""
    loggers = [
        logging.getLogger(n) for n in ("torch.onnx", "torch._export", "torch.export", "onnxruntime", "root")
    ]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def export_fp32(package: ModelPackage, path: Path) -> Path:
    """``torch.onnx.export`` (dynamo) with dynamic axes, tree modules as ``ai.onnx.ml`` ``TreeEnsemble`` nodes,
    batch norms folded, then strip per-node debugging metadata."""
    import onnx
    import torch

    model = package.model
    model.eval()
    spec = package.meta["input"]
    n_leads, length = int(spec["n_leads"]), max(int(spec["n_samples"]), min_samples(model))
    x = torch.zeros(2, n_leads, length)  # batch 2: a batch of 1 would be specialised by torch.export
    batch = torch.export.Dim("batch", min=1)
    dims: dict[str, dict[int, Any]] = {SIGNAL_INPUT: {0: batch}}
    if package.kind == "records" and spec.get("variable_length", True):
        dims[SIGNAL_INPUT][2] = torch.export.Dim("n_samples", min=min_samples(model))
    kwargs: dict[str, Any] = {}
    if spec.get("features"):
        kwargs[FEATURES_INPUT] = torch.zeros(2, len(spec["features"]))
        dims[FEATURES_INPUT] = {0: batch}
    try:
        with quiet_converters(), tree_placeholders(model) as placeholders:
            torch.onnx.export(
                model,
                (x,),
                str(path),
                kwargs=kwargs,
                dynamo=True,
                external_data=False,
                dynamic_shapes=dims,
                optimize=True,
                verbose=False,
            )
    except Exception as exc:  # the exporter raises many types (torch._dynamo / export / onnx errors)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LeanECGError(
            package.path, f"cannot export model {package.meta.get('model_name')!r} to ONNX: {first[:300]}"
        ) from None
    proto = onnx.load(str(path))
    replace_tree_placeholders(proto, placeholders)
    fold_batchnorm_into_gemm(proto.graph)
    compact_onnx(proto)
    onnx.save(proto, str(path))
    return path
