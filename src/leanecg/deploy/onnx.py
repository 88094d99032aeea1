"""Export a model package to ONNX (fp32, or static int8 calibrated on the task's training data).

:func:`export_onnx` (``leanecg export MODEL --format onnx [--int8] --out FILE``) turns a torch model package
into one self-contained ``.onnx`` file that :func:`leanecg.package.ort_runtime.load_onnx_package` runs with
numpy + onnxruntime only:

* **graph**: ``torch.onnx.export(..., dynamo=True, external_data=False)`` with a dynamic batch axis (and a
  dynamic time axis for record models, which classify whole records of any length). Inputs are ``x``
  ``(batch, n_leads, n_samples)`` and, for models that take them, ``features`` ``(batch, n_features)``
  (beat models: the beat features of :func:`leanecg.signal.beats.beat_model_inputs`); the output is
  ``logits`` ``(batch, n_classes)``. A batch normalisation feeding a fully connected layer (the exporter
  folds those after convolutions itself) is folded into it.
* **compaction** (:func:`compact_onnx`, the same for fp32 and int8, so their sizes compare like with like):
  what is not needed to run the graph is dropped -- the exporter's debugging metadata (per-node Python
  stack traces, the graph's export signature), doc strings, ``value_info`` shape annotations, node names,
  attributes equal to their ONNX defaults, unused opset imports -- and tensors get short names.
* **int8**: ONNX Runtime post-training *static* quantization in QDQ format: int8 weights, symmetric and
  per output channel; uint8 activations, per tensor, with ranges calibrated on inputs of the task's
  **training split** (:func:`training_calibration`: the package's task is loaded from ``--data-dir`` with
  the split the model was trained on; with no ``--data-dir`` and no training data found, the package's
  shipped calibration subset :data:`CALIBRATION_FILE`, see :func:`default_calibration`) by the 99.999th
  percentile of the activation histograms (MinMax
  ranges let a few artefact spikes in noisy records stretch the 8-bit grid). The first convolution, which
  sees the z-scored signal itself, stays fp32 (the usual first-layer exception; a few % of the MACs). The
  graph is first optimised by ``quant_pre_process``. Biases stay fp32 in the file (ONNX Runtime quantizes
  them to int32 when it fuses ``DequantizeLinear -> Conv -> QuantizeLinear`` into ``QLinearConv``); this
  saves 8 bytes per channel over int32 biases with their scales, at identical outputs and speed. All-zero
  zero points are dropped (0 of the same type is ONNX's default), and so is the quantize-dequantize pair
  the quantizer puts on the output logits (it only rounds the final fp32 result).
* **metadata**: the package metadata (pipeline JSON, class names, input spec, metrics, cost, licence,
  provenance, plus the split record ids ``data.*_records``) goes to the sidecar ``FILE.json`` next to
  ``FILE`` (:func:`~leanecg.package.ort_runtime.sidecar_path`), with the file's SHA-256; the loader reads it
  from there. With ``embed_metadata=True`` (``leanecg export --embed-metadata``) it also travels as JSON
  in the ONNX ``metadata_props`` (key :data:`~leanecg.package.ort_runtime.META_KEY`, without the split
  record ids), making the ``.onnx`` file self-contained at the cost of ~20 kB. An ``"onnx"`` block adds
  the precision, calibration, the check against the torch model, and the versions used.
* **check**: the exported file is run in ONNX Runtime on the calibration inputs (or synthetic ones) next
  to the torch model; an fp32 export whose probabilities differ by more than :data:`FP32_PROB_ATOL` is
  refused; for int8 the label agreement and largest probability difference are recorded.

The metrics in the metadata are those of the torch fp32 model on the task's test split; the int8
accuracy change is measured on the same test records by ``benchmarks/int8_onnx.py``.

This module runs the steps and writes the files; the steps live in sibling modules, whose public names it
re-exports: :mod:`~leanecg.deploy.calibration` (calibration inputs), :mod:`~leanecg.deploy.onnx_export`
(torch -> fp32 graph), :mod:`~leanecg.deploy.onnx_graph` (batch-norm folding, compaction) and
:mod:`~leanecg.deploy.onnx_int8` (static int8 quantization).
"""

from __future__ import annotations

import copy
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.deploy.calibration import (
    CALIBRATION_FILE,
    DEFAULT_CALIBRATION,
    CalibrationSet,
    calibration_set,
    default_calibration,
    load_calibration,
    package_split_seed,
    save_calibration,
    training_calibration,
)
from leanecg.deploy.onnx_export import export_fp32, min_samples
from leanecg.deploy.onnx_graph import compact_onnx, fold_batchnorm_into_gemm
from leanecg.deploy.onnx_int8 import CALIBRATION_METHODS, ProgressFn, quantize_int8
from leanecg.errors import LeanECGError
from leanecg.models.config_names import HYBRID_NAME, contains_model
from leanecg.package.model import ModelPackage, TorchBackend
from leanecg.package.ort_runtime import (
    FEATURES_INPUT,
    META_KEY,
    SIGNAL_INPUT,
    OrtBackend,
    ort_session,
    sidecar_path,
)

__all__ = [
    "CALIBRATION_FILE",
    "CALIBRATION_METHODS",
    "DEFAULT_CALIBRATION",
    "FP32_PROB_ATOL",
    "CalibrationSet",
    "ExportReport",
    "calibration_set",
    "compact_onnx",
    "default_calibration",
    "export_onnx",
    "fold_batchnorm_into_gemm",
    "load_calibration",
    "package_split_seed",
    "save_calibration",
    "sidecar_path",
    "training_calibration",
]

#: Largest probability difference allowed between an fp32 export and its torch model.
FP32_PROB_ATOL = 1e-4
#: Number of calibration / check inputs compared with the torch model.
_CHECK_INPUTS = 64
#: Split-level record id lists kept out of the ONNX file's metadata (they stay in the sidecar).
_SIDECAR_ONLY_DATA_KEYS = ("train_records", "val_records", "test_records")
#: Keys of the torch checkpoint's own sidecar (they describe ``model.pt``, not the ONNX file); the weights'
#: SHA-256 stays, as ``onnx.source_package.weights_sha256``.
_CHECKPOINT_KEYS = ("format", "weights_file", "weights_sha256", "weights_bytes", "tensors")


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_onnx` wrote.

    Attributes:
        path: the ``.onnx`` file.
        sidecar: the metadata JSON next to it (:func:`sidecar_path`).
        precision: ``"fp32"`` or ``"int8"``.
        bytes: size of the ``.onnx`` file.
        check: the comparison with the torch model (``n_inputs``, ``max_abs_prob_diff``,
            ``label_agreement``).
        calibration: the calibration info (int8) or ``None``.
    """

    path: Path
    sidecar: Path
    precision: str
    bytes: int
    check: dict[str, Any]
    calibration: dict[str, Any] | None


# ------------------------------------------------------------------------------------------------- export


def export_onnx(
    model: str | Path | ModelPackage,
    out: str | Path,
    *,
    int8: bool = False,
    data_dir: str | Path | None = None,
    calibration: CalibrationSet | None = None,
    n_calibration: int | None = None,
    calibrate_method: str = "percentile",
    keep_first_conv_fp32: bool = True,
    embed_metadata: bool = False,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> ExportReport:
    """Export a model package to one ``.onnx`` file (+ sidecar ``FILE.json``); see the module docstring.

    Args:
        model: a shipped model name, a package folder, or a loaded torch :class:`ModelPackage`.
        out: the ``.onnx`` file to write (replaced atomically).
        int8: static int8 quantization (needs calibration inputs).
        data_dir: where the task's training data is (int8 without ``calibration``).
        calibration: explicit calibration inputs (default: :func:`default_calibration`: the training
            split, else -- no ``data_dir`` given and no training data found -- the package's shipped
            :data:`CALIBRATION_FILE`).
        n_calibration: number of training inputs drawn for calibration (default
            :data:`DEFAULT_CALIBRATION`).
        calibrate_method: activation ranges from ``"percentile"`` (default: the 99.999th percentile of
            |activation| histograms, onnxruntime's defaults; clips rare artefact spikes), ``"minmax"`` or
            ``"entropy"``.
        keep_first_conv_fp32: keep the first convolution, the one that sees the z-scored signal itself,
            in fp32 (default; the usual first-layer exception: a per-tensor uint8 grid over the signal's
            range blurs the small P / f waves that rhythm classes depend on).
        embed_metadata: also store the package metadata in the ``.onnx`` file (``metadata_props``), not
            only in the sidecar ``FILE.json``.
        seed: seed of the calibration draw and of synthetic check inputs.
        progress: called as ``progress(step, done, total)`` when a step starts (``done=0``) and as
            calibration batches are done (``leanecg export`` shows it as a status line).

    Returns:
        An :class:`ExportReport`.

    Raises:
        LeanECGError: the model is not a torch package, ``out`` is not an ``.onnx`` path, the calibration
            data is missing, the export fails, or the fp32 export disagrees with the torch model.
    """
    from leanecg.atomic import atomic_path, write_json
    from leanecg.data.fetch import sha256_file

    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise LeanECGError(out, "the output file name must end in .onnx")
    if out.is_dir():
        raise LeanECGError(out, "is a folder; give the .onnx file to write")
    if calibrate_method not in CALIBRATION_METHODS:
        raise LeanECGError(
            "calibrate_method",
            f"unknown method {calibrate_method!r}; use one of {', '.join(CALIBRATION_METHODS)}",
        )

    def step(name: str, done: int = 0, total: int | None = None) -> None:
        if progress is not None:
            progress(name, done, total)

    package = _torch_package(model)
    if int8 and contains_model(package.meta.get("model_config") or {}, HYBRID_NAME):
        raise LeanECGError(
            package.path,
            "holds a hybrid, whose trees split on its network's embedding: int8 would move those splits; "
            "export it in fp32 (int8 off)",
        )
    if int8 and calibration is None:
        step("loading the calibration inputs")
        calibration = default_calibration(package, data_dir, n_calibration, seed=seed)
    if calibration is not None and len(calibration) == 0:
        raise LeanECGError("calibration", "holds no inputs")
    check_set = _check_inputs(package, calibration, seed)
    with tempfile.TemporaryDirectory(prefix="leanecg-onnx-") as tmp_name:
        tmp = Path(tmp_name)
        step("exporting the fp32 graph")
        fp32 = export_fp32(package, tmp / "fp32.onnx")
        step("checking fp32 against torch")
        check = _compare(package, fp32, check_set)
        if check["max_abs_prob_diff"] > FP32_PROB_ATOL:
            raise LeanECGError(
                package.path,
                f"the ONNX export disagrees with the torch model (probabilities differ by up to "
                f"{check['max_abs_prob_diff']:.2g} > {FP32_PROB_ATOL:g})",
            )
        final = fp32
        if int8:
            assert calibration is not None
            final = quantize_int8(
                fp32, tmp, calibration, calibrate_method, keep_first_conv_fp32, progress=progress
            )
            step("checking int8 against torch")
            check = _compare(package, final, check_set)
        meta = _onnx_meta(
            package,
            "int8" if int8 else "fp32",
            calibration,
            calibrate_method,
            keep_first_conv_fp32,
            check,
            embed_metadata,
        )
        _set_metadata(final, meta, embed=embed_metadata)
        with atomic_path(out) as target:
            target.write_bytes(final.read_bytes())
    sidecar = sidecar_path(out)
    sidecar_meta = dict(meta)
    sidecar_meta["data"] = dict(package.meta.get("data", {}))
    sidecar_meta["onnx"] = {**meta["onnx"], "file": out.name, "sha256": sha256_file(out)}
    write_json(sidecar, sidecar_meta)
    return ExportReport(
        path=out,
        sidecar=sidecar,
        precision=meta["onnx"]["precision"],
        bytes=out.stat().st_size,
        check=check,
        calibration=None if not int8 or calibration is None else dict(calibration.info),
    )


def _torch_package(model: str | Path | ModelPackage) -> ModelPackage:
    from leanecg.package import open_model

    if not isinstance(model, ModelPackage) and Path(model).is_file():
        raise LeanECGError(model, "is a file; export takes a shipped model name or a model package folder")
    package = model if isinstance(model, ModelPackage) else open_model(model, prefer="torch")
    if not isinstance(package.backend, TorchBackend):
        raise LeanECGError(package.path, "is already an ONNX model; export the package folder it came from")
    return package


def _check_inputs(package: ModelPackage, calibration: CalibrationSet | None, seed: int) -> CalibrationSet:
    """Inputs to compare the export with the torch model on: calibration inputs, else synthetic ones
    (unit-variance noise, like z-scored ECG) of the package's typical input size."""
    if calibration is not None:
        n = min(len(calibration), _CHECK_INPUTS)
        X = calibration.X[:n]
        feats = None if calibration.features is None else calibration.features[:n]
        return CalibrationSet(X=X, features=feats, info={"inputs": "calibration"})
    spec = package.meta["input"]
    rng = np.random.default_rng(seed)
    length = int(spec["n_samples"])
    lengths = [length, length, max(length // 2, min_samples(package.model)), length + 7]
    if package.kind == "beats" or not spec.get("variable_length"):
        lengths = [length] * 4
    X = [rng.standard_normal((int(spec["n_leads"]), n)).astype(np.float32) for n in lengths]
    feats = None
    if spec.get("features"):
        feats = (
            package.record_features(X)
            if package.kind == "records"
            else _synthetic_beat_features(package, rng)
        )
    return CalibrationSet(X=X, features=feats, info={"inputs": "synthetic"})


def _synthetic_beat_features(package: ModelPackage, rng: np.random.Generator) -> np.ndarray:
    """Plausible beat features for the check: positive values around 1 (RR intervals in s and ratios)."""
    n_features = len(package.meta["input"]["features"])
    return rng.uniform(0.5, 1.5, size=(4, n_features)).astype(np.float32)


def _compare(package: ModelPackage, path: Path, inputs: CalibrationSet) -> dict[str, Any]:
    """Probabilities of the ONNX file (ONNX Runtime) next to the torch model's on the same inputs."""
    torch_p = package.backend.proba(inputs.X, inputs.features, 64, package.multilabel)
    ort_p = OrtBackend(path, ort_session(path, 1)).proba(inputs.X, inputs.features, 64, package.multilabel)
    return {
        "inputs": inputs.info.get("inputs", "calibration"),
        "n_inputs": len(inputs),
        "max_abs_prob_diff": float(np.max(np.abs(torch_p - ort_p))),
        "label_agreement": float(np.mean(np.argmax(torch_p, axis=1) == np.argmax(ort_p, axis=1))),
    }


def _onnx_meta(
    package: ModelPackage,
    precision: str,
    calibration: CalibrationSet | None,
    method: str,
    keep_first_fp32: bool,
    check: dict[str, Any],
    embed: bool,
) -> dict[str, Any]:
    """The package metadata with the ``"onnx"`` block; split record id lists removed (sidecar only)."""
    import onnx
    import onnxruntime
    import torch

    meta = {k: v for k, v in copy.deepcopy(package.meta).items() if k not in _CHECKPOINT_KEYS}
    meta["data"] = {k: v for k, v in meta.get("data", {}).items() if k not in _SIDECAR_ONLY_DATA_KEYS}
    quant = None
    if precision == "int8" and calibration is not None:
        quant = {
            "tool": "onnxruntime.quantization.quantize_static",
            "format": "QDQ",
            "weights": "int8, symmetric, per output channel",
            "activations": "uint8, per tensor",
            "fp32_layers": "the first convolution (on the signal)" if keep_first_fp32 else "none",
            "biases": "fp32 in the file (int32 at run time, fused by ONNX Runtime)",
            "calibration_method": method,
            "calibration": dict(calibration.info),
            "pre_process": "onnxruntime.quantization.shape_inference.quant_pre_process",
            "post_process": "all-zero zero points and the output's quantize-dequantize pair dropped",
        }
    inputs = {"signal": SIGNAL_INPUT, "features": FEATURES_INPUT if meta["input"].get("features") else None}
    meta["onnx"] = {
        "precision": precision,
        "inputs": inputs,
        "dynamic_axes": ["batch", "n_samples"]
        if package.kind == "records" and meta["input"].get("variable_length", True)
        else ["batch"],
        "exporter": "torch.onnx.export(dynamo=True)",
        "compaction": "leanecg.deploy.onnx.compact_onnx (batch norm before a Gemm folded into it)",
        "metadata_embedded": embed,
        "quantization": quant,
        "check_vs_torch": check,
        "metrics_of": "the fp32 torch model of the package (test split); see check_vs_torch for this file",
        "source_package": {"name": package.name, "weights_sha256": package.meta.get("weights_sha256")},
        "versions": {
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
    }
    return meta


def _set_metadata(path: Path, meta: dict[str, Any], *, embed: bool) -> None:
    """Name the model in its doc string; with ``embed``, store ``meta`` under :data:`META_KEY` too."""
    import onnx

    from leanecg.atomic import json_default

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    if embed:
        entry = proto.metadata_props.add()
        entry.key = META_KEY
        entry.value = json.dumps(meta, default=json_default, separators=(",", ":"))
    proto.doc_string = f"LeanECG model {meta['package']['name']} ({meta['onnx']['precision']})"
    onnx.save(proto, str(path))
