"""Export a model package to ONNX (fp32, or static int8 calibrated on the task's training data).

:func:`export_onnx` (``leanecg export MODEL --format onnx [--int8] --out FILE``) turns a torch model package
into one self-contained ``.onnx`` file that :func:`leanecg.deploy.ort_runtime.load_onnx_package` runs with
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
  ``FILE`` (:func:`~leanecg.deploy.ort_runtime.sidecar_path`), with the file's SHA-256; the loader reads it
  from there. With ``embed_metadata=True`` (``leanecg export --embed-metadata``) it also travels as JSON
  in the ONNX ``metadata_props`` (key :data:`~leanecg.deploy.ort_runtime.META_KEY`, without the split
  record ids), making the ``.onnx`` file self-contained at the cost of ~20 kB. An ``"onnx"`` block adds
  the precision, calibration, the check against the torch model, and the versions used.
* **check**: the exported file is run in ONNX Runtime on the calibration inputs (or synthetic ones) next
  to the torch model; an fp32 export whose probabilities differ by more than :data:`FP32_PROB_ATOL` is
  refused; for int8 the label agreement and largest probability difference are recorded.

The metrics in the metadata are those of the torch fp32 model on the task's test split; the int8
accuracy change is measured on the same test records by ``benchmarks/int8_onnx.py``.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from leanecg.deploy.ort_runtime import (
    FEATURES_INPUT,
    META_KEY,
    OUTPUT_NAME,
    SIGNAL_INPUT,
    OrtBackend,
    ort_session,
    sidecar_path,
)
from leanecg.deploy.package import ModelPackage, TorchBackend
from leanecg.errors import LeanECGError
from leanecg.train.batching import inference_batches

if TYPE_CHECKING:
    from torch import nn

    from leanecg.train.datasets import ArraySplit

__all__ = [
    "CALIBRATION_FILE",
    "CALIBRATION_METHODS",
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
#: ``calibrate_method`` names -> onnxruntime ``CalibrationMethod`` member names.
CALIBRATION_METHODS = {"minmax": "MinMax", "percentile": "Percentile", "entropy": "Entropy"}
#: Default number of calibration inputs: whole records (record models) or beats (beat models).
DEFAULT_CALIBRATION = {"records": 256, "beats": 4096}
#: The calibration subset a model package may ship beside its weights (:func:`save_calibration`), used by
#: ``leanecg export --int8`` when no training data is found (:func:`default_calibration`).
CALIBRATION_FILE = "calibration.npz"
#: Keys of a record model's ``feature_config`` fitted on its training data (applied when a subset is loaded).
_FITTED_FEATURE_KEYS = ("center", "scale", "clip")
#: Format tag of :data:`CALIBRATION_FILE`.
_CALIBRATION_FORMAT = "leanecg.calibration/1"
#: Progress callback of :func:`export_onnx`: ``(step, done, total)``; ``total`` is ``None`` when unknown.
ProgressFn = Callable[[str, int, "int | None"], None]
#: Inputs per calibration batch (records are batched with records of the same length only).
_CALIBRATION_BATCH = 16
#: Number of calibration / check inputs compared with the torch model.
_CHECK_INPUTS = 64
#: Split-level record id lists kept out of the ONNX file's metadata (they stay in the sidecar).
_SIDECAR_ONLY_DATA_KEYS = ("train_records", "val_records", "test_records")
#: Keys of the torch checkpoint's own sidecar (they describe ``model.pt``, not the ONNX file); the weights'
#: SHA-256 stays, as ``onnx.source_package.weights_sha256``.
_CHECKPOINT_KEYS = ("format", "weights_file", "weights_sha256", "weights_bytes", "tensors")


@dataclass
class CalibrationSet:
    """Model inputs to calibrate int8 activation ranges on.

    Attributes:
        X: channel-first float32 inputs, a list of ``(n_leads, n_samples_i)`` arrays or one
            ``(N, n_leads, n_samples)`` array.
        features: float32 ``(N, n_features)`` for models that take features, else ``None``.
        info: what the inputs are (recorded in the ONNX metadata), e.g. task, split, count, seed.
    """

    X: list[np.ndarray] | np.ndarray
    features: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.X)


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


# -------------------------------------------------------------------------------------------- calibration


def training_calibration(
    package: ModelPackage,
    data_dir: str | Path | None = None,
    n: int | None = None,
    *,
    seed: int = 0,
) -> CalibrationSet:
    """Inputs of the package's task's **training split**, drawn at random (seeded) for int8 calibration.

    The task named in the package metadata is loaded from the data dir (``--data-dir``, else
    ``$LEANECG_DATA``, else the user cache) exactly as for training: the same preprocessing, the split of
    the seed the model was trained with, the ``--tiny`` subset for a smoke-run package.

    Args:
        package: the model package.
        data_dir: folder holding the task's dataset.
        n: number of inputs (records or beats; default :data:`DEFAULT_CALIBRATION`), all if fewer.
        seed: seed of the random draw.

    Raises:
        LeanECGError: the task is unknown to this LeanECG, or its dataset is not in the data dir.
    """
    task_name, task, root = _training_data(package, data_dir)
    meta = package.meta
    tiny = bool(meta.get("data", {}).get("tiny"))
    split_seed = package_split_seed(package)
    train = task.load(root, tiny=tiny, seed=split_seed).train
    info = {"task": task_name, "split": "train", "split_seed": split_seed, "tiny": tiny}
    return calibration_set(package, train, n, seed=seed, info=info)


def _training_data(package: ModelPackage, data_dir: str | Path | None) -> tuple[str, Any, Path]:
    """``(task name, task, data root)`` of the package's training data.

    Raises:
        LeanECGError: the task is unknown to this LeanECG, or its dataset is not in the data dir.
    """
    from leanecg.bench.tasks import TASKS
    from leanecg.data import get_dataset, resolve_data_dir

    task_name = package.meta["task"]["name"]
    if task_name not in TASKS:
        raise LeanECGError(
            package.path,
            f"int8 calibration needs the training data of task {task_name!r}, which this LeanECG does not know",
        )
    task = TASKS[task_name]
    try:
        root = resolve_data_dir(data_dir)
        get_dataset(task.dataset).require(root)
    except LeanECGError as err:
        raise LeanECGError(
            err.path, f"int8 calibration needs the {task_name} training data: {err.problem}"
        ) from None
    return task_name, task, root


def default_calibration(
    package: ModelPackage,
    data_dir: str | Path | None = None,
    n: int | None = None,
    *,
    seed: int = 0,
) -> CalibrationSet:
    """The calibration inputs ``leanecg export --int8`` uses: :func:`training_calibration` when
    ``data_dir`` is given or the training data is found in the default places; otherwise the calibration
    subset shipped in the package folder (:data:`CALIBRATION_FILE`, :func:`load_calibration`).

    Raises:
        LeanECGError: no training data and no shipped subset (the message says both), an unusable
            shipped subset, or anything :func:`training_calibration` raises.
    """
    if data_dir is None:
        try:
            _training_data(package, None)
        except LeanECGError as err:
            shipped = Path(package.path) / CALIBRATION_FILE
            if shipped.is_file():
                return load_calibration(package, shipped, n, seed=seed)
            raise LeanECGError(
                err.path, f"{err.problem}; and {package.name} ships no {CALIBRATION_FILE}"
            ) from None
    return training_calibration(package, data_dir, n, seed=seed)


def _input_fingerprint(package: ModelPackage) -> dict[str, Any]:
    """What a calibration subset depends on: the preprocessing and the model's input (not its weights, nor
    the record-feature scaling fitted in training: record features are stored unscaled), so the subset
    stays valid for a retrained model with the same inputs."""
    spec = package.meta["input"]
    keys = ("fs", "leads", "n_leads", "n_samples", "variable_length", "before_s", "after_s", "features")
    config = spec.get("feature_config")
    if config:
        config = {k: v for k, v in config.items() if k not in _FITTED_FEATURE_KEYS}
    return {
        "kind": package.kind,
        "pipeline": package.meta.get("pipeline"),
        "input": {k: spec.get(k) for k in keys},
        "feature_config": config,
    }


def save_calibration(
    package: ModelPackage,
    calibration: CalibrationSet,
    path: str | Path | None = None,
    *,
    max_samples: int | None = None,
) -> Path:
    """Write ``calibration`` as the package's shipped calibration subset (compressed ``.npz``, float16
    signals), by default to ``<package>/calibration.npz`` (:data:`CALIBRATION_FILE`).

    ``max_samples``: longer inputs are cut to their middle ``max_samples`` samples (record models: whole
    records are long; their features stay those of the whole record, stored unscaled, and are scaled with
    the loading package's ``feature_config``). The file records the package's preprocessing and input spec;
    :func:`load_calibration` refuses it for a package with other inputs.
    ``benchmarks/make_calibration.py`` writes it from the training split (see ``leanecg/zoo/README.md``).
    """
    from leanecg.atomic import atomic_path, json_default

    target = Path(path) if path is not None else Path(package.path) / CALIBRATION_FILE
    raw_features = None
    if package.kind == "records" and package.meta["input"].get("feature_config"):
        from leanecg.models.record_inputs import raw_input_features

        raw_features, _ = raw_input_features(list(calibration.X), float(package.meta["input"]["fs"]))
    parts = []
    for x in calibration.X:
        x = np.asarray(x)
        if max_samples is not None and x.shape[-1] > max_samples:
            a = (x.shape[-1] - max_samples) // 2
            x = x[..., a : a + max_samples]
        parts.append(x.astype(np.float16))
    info = {
        **dict(calibration.info),
        "n_inputs": len(parts),
        "max_samples": max_samples,
        "stored_as": "float16",
    }
    arrays: dict[str, np.ndarray] = {
        "signal": np.concatenate(parts, axis=-1) if parts else np.zeros((0, 0), np.float16),
        "lengths": np.array([p.shape[-1] for p in parts], dtype=np.int64),
        "info": np.array(
            json.dumps(
                {"format": _CALIBRATION_FORMAT, "info": info, "inputs": _input_fingerprint(package)},
                default=json_default,
                sort_keys=True,
            )
        ),
    }
    if raw_features is not None:
        arrays["raw_features"] = np.asarray(raw_features, dtype=np.float64)
    elif calibration.features is not None:
        arrays["features"] = np.asarray(calibration.features, dtype=np.float32)
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    return target


def load_calibration(
    package: ModelPackage, path: str | Path | None = None, n: int | None = None, *, seed: int = 0
) -> CalibrationSet:
    """The calibration subset :func:`save_calibration` wrote (default: the package's own
    :data:`CALIBRATION_FILE`); ``n`` inputs drawn from it (seeded, kept in order), all by default.

    Raises:
        LeanECGError: the file is missing, unreadable, or was made for other inputs than the package's.
    """
    file = Path(path) if path is not None else Path(package.path) / CALIBRATION_FILE
    regen = f"regenerate it: python benchmarks/make_calibration.py --model {package.path} --data-dir DIR"
    try:
        with np.load(file, allow_pickle=False) as z:
            head = json.loads(str(z["info"]))
            signal, lengths = z["signal"], z["lengths"]
            features = z["features"] if "features" in z.files else None
            raw_features = z["raw_features"] if "raw_features" in z.files else None
    except FileNotFoundError:
        raise LeanECGError(file, "no calibration subset here") from None
    except (OSError, ValueError, KeyError) as exc:
        raise LeanECGError(file, f"unreadable calibration subset ({exc}); {regen}") from None
    if head.get("format") != _CALIBRATION_FORMAT:
        raise LeanECGError(file, f"not a LeanECG calibration subset ({head.get('format')!r}); {regen}")
    from leanecg.atomic import json_default

    want = json.loads(json.dumps(_input_fingerprint(package), default=json_default, sort_keys=True))
    if head.get("inputs") != want:
        raise LeanECGError(
            file, f"was made for a model with other inputs (preprocessing, input size or features); {regen}"
        )
    if raw_features is not None:
        from leanecg.models.record_inputs import apply_feature_config

        features = apply_feature_config(raw_features, package.meta["input"]["feature_config"])
    ends = np.cumsum(lengths)
    X = [signal[..., e - k : e].astype(np.float32) for e, k in zip(ends, lengths, strict=True)]
    if package.kind == "beats" or (X and len(set(lengths.tolist())) == 1):
        X = np.stack(X) if X else np.zeros((0, 0, 0), np.float32)
    count = len(lengths) if n is None else min(int(n), len(lengths))
    if count < 1:
        raise LeanECGError("n_calibration", f"must be a positive number of inputs, got {n!r}")
    idx = np.arange(len(lengths))
    if count < len(lengths):
        idx = np.sort(np.random.default_rng(seed).choice(len(lengths), size=count, replace=False))
        X = X[idx] if isinstance(X, np.ndarray) else [X[int(i)] for i in idx]
        features = None if features is None else features[idx]
    info = {
        **head["info"],
        "source": f"shipped calibration subset {file.parent.name}/{file.name}",
        "n_inputs": len(idx),
        "seed": seed,
    }
    return CalibrationSet(X=X, features=features, info=info)


def package_split_seed(package: ModelPackage) -> int:
    """The seed the package's model was trained with (it picks the task's split), 0 when not recorded."""
    meta = package.meta
    return int(meta.get("provenance", {}).get("seed") or meta.get("train", {}).get("seed") or 0)


def calibration_set(
    package: ModelPackage,
    split: ArraySplit,
    n: int | None = None,
    *,
    seed: int = 0,
    info: dict[str, Any] | None = None,
) -> CalibrationSet:
    """``n`` inputs of a loaded task split (seeded random draw, kept in split order) for calibration.

    Args:
        package: the model package (its kind sets the default ``n``; its features input, if any).
        split: the task's training split (``ArraySplit`` of the task's ``load``).
        n: number of inputs (default :data:`DEFAULT_CALIBRATION`), all if the split has fewer.
        seed: seed of the draw.
        info: what the split is (stored with ``n_inputs``, ``n_split`` and ``seed`` in the metadata).
    """
    count = DEFAULT_CALIBRATION[package.kind] if n is None else int(n)
    if count < 1:
        raise LeanECGError("n_calibration", f"must be a positive number of inputs, got {n!r}")
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(split), size=min(count, len(split)), replace=False))
    X: list[np.ndarray] | np.ndarray = (
        np.asarray(split.X[idx], dtype=np.float32) if split.stacked else [split.X[int(i)] for i in idx]
    )
    features = None
    if package.meta["input"].get("features"):
        features = split.features[idx] if split.features is not None else package.record_features(X)
    full = {**(info or {}), "n_inputs": len(idx), "n_split": len(split), "seed": seed}
    return CalibrationSet(X=X, features=features, info=full)


def _calibration_feeds(calibration: CalibrationSet) -> Iterator[dict[str, np.ndarray]]:
    """Input feeds of equal-length batches (at most :data:`_CALIBRATION_BATCH` inputs each)."""
    X = calibration.X
    for idx, _, _ in inference_batches([np.shape(x)[-1] for x in X], _CALIBRATION_BATCH):
        feed = {SIGNAL_INPUT: np.ascontiguousarray(np.stack([X[int(i)] for i in idx]), dtype=np.float32)}
        if calibration.features is not None:
            feed[FEATURES_INPUT] = np.ascontiguousarray(calibration.features[idx], dtype=np.float32)
        yield feed


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
    if int8 and calibration is None:
        step("loading the calibration inputs")
        calibration = default_calibration(package, data_dir, n_calibration, seed=seed)
    if calibration is not None and len(calibration) == 0:
        raise LeanECGError("calibration", "holds no inputs")
    check_set = _check_inputs(package, calibration, seed)
    with tempfile.TemporaryDirectory(prefix="leanecg-onnx-") as tmp_name:
        tmp = Path(tmp_name)
        step("exporting the fp32 graph")
        fp32 = _export_fp32(package, tmp / "fp32.onnx")
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
            final = _quantize_int8(
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
    from leanecg.deploy.package import load_model_package
    from leanecg.deploy.shipped import resolve_model

    if not isinstance(model, ModelPackage) and Path(model).is_file():
        raise LeanECGError(model, "is a file; export takes a shipped model name or a model package folder")
    package = model if isinstance(model, ModelPackage) else load_model_package(resolve_model(model))
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
    lengths = [length, length, max(length // 2, _min_samples(package.model)), length + 7]
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


def _min_samples(model: nn.Module) -> int:
    return max(int(getattr(model, "min_samples", 16) or 16), 16)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
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


def _export_fp32(package: ModelPackage, path: Path) -> Path:
    """``torch.onnx.export`` (dynamo) with dynamic axes, then strip per-node debugging metadata."""
    import onnx
    import torch

    model = package.model
    model.eval()
    spec = package.meta["input"]
    n_leads, length = int(spec["n_leads"]), max(int(spec["n_samples"]), _min_samples(model))
    x = torch.zeros(2, n_leads, length)  # batch 2: a batch of 1 would be specialised by torch.export
    batch = torch.export.Dim("batch", min=1)
    dims: dict[str, dict[int, Any]] = {SIGNAL_INPUT: {0: batch}}
    if package.kind == "records" and spec.get("variable_length", True):
        dims[SIGNAL_INPUT][2] = torch.export.Dim("n_samples", min=_min_samples(model))
    kwargs: dict[str, Any] = {}
    if spec.get("features"):
        kwargs[FEATURES_INPUT] = torch.zeros(2, len(spec["features"]))
        dims[FEATURES_INPUT] = {0: batch}
    try:
        with _quiet():
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
    fold_batchnorm_into_gemm(proto.graph)
    compact_onnx(proto)
    onnx.save(proto, str(path))
    return path


def fold_batchnorm_into_gemm(graph: Any) -> None:
    """Fold each ``BatchNormalization`` whose only consumers are ``Gemm`` layers (as their input ``A``, with
    constant weights) into them: ``BN(x) = x * s + t`` with ``s = gamma / sqrt(var + eps)`` and
    ``t = beta - mean * s``, so ``BN(x) @ W.T + c = x @ (W * s).T + (c + W @ t)``. The exporter already
    folds batch norms that follow convolutions; this covers the one on a wide-and-deep model's features.

    Args:
        graph: an ``onnx.GraphProto``, changed in place (folded nodes and unused initializers removed).
    """
    from onnx import helper, numpy_helper

    inits = {t.name: t for t in graph.initializer}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    for bn in [n for n in graph.node if n.op_type == "BatchNormalization" and len(n.output) == 1]:
        users = consumers.get(bn.output[0], [])
        params = [inits.get(name) for name in bn.input[1:5]]
        if not users or bn.output[0] in outputs or any(t is None for t in params):
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in bn.attribute}
        if attrs.get("training_mode", 0):
            continue
        gemms = []
        for gemm in users:
            ga = {a.name: helper.get_attribute_value(a) for a in gemm.attribute}
            if (
                gemm.op_type != "Gemm"
                or list(gemm.input[:1]) != [bn.output[0]]
                or ga.get("transA", 0)
                or gemm.input[1] not in inits
                or (len(gemm.input) > 2 and gemm.input[2] and gemm.input[2] not in inits)
            ):
                break
            gemms.append(
                (gemm, bool(ga.get("transB", 0)), float(ga.get("alpha", 1.0)), float(ga.get("beta", 1.0)))
            )
        else:
            gamma, beta, mean, var = (numpy_helper.to_array(t).astype(np.float64) for t in params)
            scale = gamma / np.sqrt(var + float(attrs.get("epsilon", 1e-5)))
            shift = beta - mean * scale
            for gemm, trans_b, alpha, beta_g in gemms:
                w_init = inits[gemm.input[1]]
                w = numpy_helper.to_array(w_init).astype(np.float64)
                w_out = w if trans_b else w.T  # (n_out, n_in)
                bias = alpha * (w_out @ shift)
                if len(gemm.input) > 2 and gemm.input[2]:
                    bias = bias + beta_g * numpy_helper.to_array(inits[gemm.input[2]]).astype(np.float64)
                w_new = w_out * scale[None, :]
                dtype = numpy_helper.to_array(w_init).dtype
                w_init.CopyFrom(
                    numpy_helper.from_array((w_new if trans_b else w_new.T).astype(dtype), w_init.name)
                )
                b_name = f"{w_init.name}_folded_bias"
                graph.initializer.append(numpy_helper.from_array(bias.astype(dtype), b_name))
                while len(gemm.input) < 3:
                    gemm.input.append("")
                gemm.input[0], gemm.input[2] = bn.input[0], b_name
                for a in gemm.attribute:
                    if a.name == "beta":
                        a.f = 1.0
            graph.node.remove(bn)
    _drop_unused_initializers(graph)


def _drop_unused_initializers(graph: Any) -> None:
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)


#: Attribute values equal to the ONNX defaults of the operators an exported LeanECG model uses (a missing
#: ``kernel_shape`` is the weight's shape; ``strides`` / ``dilations`` of 1 and zero ``pads`` are defaults).
_DEFAULT_ATTRIBUTES: dict[str, dict[str, Any]] = {
    "Conv": {
        "auto_pad": b"NOTSET",
        "group": 1,
        "dilations": 1,
        "strides": 1,
        "pads": 0,
        "kernel_shape": None,
    },
    "Gemm": {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0},
    "Concat": {},
    "ReduceMean": {"keepdims": 1, "noop_with_empty_axes": 0},
    "ReduceMax": {"keepdims": 1, "noop_with_empty_axes": 0},
    "BatchNormalization": {"epsilon": 1e-5, "momentum": 0.9, "training_mode": 0},
}


def _is_default(op_type: str, attr: Any) -> bool:
    """Whether ``attr`` of a node ``op_type`` holds the ONNX default (``None`` in the table: always
    implied, e.g. ``Conv``'s ``kernel_shape`` is the weight's spatial shape)."""
    from onnx import helper

    table = _DEFAULT_ATTRIBUTES.get(op_type, {})
    if attr.name not in table:
        return False
    default, value = table[attr.name], helper.get_attribute_value(attr)
    if default is None:
        return True
    if isinstance(value, list):
        return all(v == default for v in value)
    if isinstance(value, float):
        return bool(np.float32(value) == np.float32(default))
    return bool(value == default)


def _short_names(reserved: set[str]) -> Iterator[str]:
    """``0, 1, ..., z, 10, 11, ...`` (base 36), skipping ``reserved``."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    i = 0
    while True:
        n, name = i, ""
        while True:
            n, r = divmod(n, 36)
            name = digits[r] + name
            if n == 0:
                break
        i += 1
        if name not in reserved:
            yield name


def compact_onnx(proto: Any) -> None:
    """Drop from an ONNX model (in place) what is not needed to run it; the computation is unchanged.

    Removed: metadata of the model, graph, nodes and inputs / outputs (the exporter's stack traces and
    export signature; the LeanECG metadata is set afterwards, if at all), doc strings of the graph and
    nodes, ``value_info`` (ONNX Runtime infers shapes), node names, attributes equal to their ONNX
    defaults (:data:`_DEFAULT_ATTRIBUTES`) and opset imports no node uses. Tensors are renamed to short
    base-36 names; the inputs keep theirs and the (single) output is named
    :data:`~leanecg.deploy.ort_runtime.OUTPUT_NAME`.

    Args:
        proto: an ``onnx.ModelProto`` with one graph output.
    """
    graph = proto.graph
    del proto.metadata_props[:]
    del graph.metadata_props[:]
    del graph.value_info[:]
    graph.doc_string = ""
    for value in [*graph.input, *graph.output]:
        del value.metadata_props[:]
        value.doc_string = ""
    rename = {v.name: v.name for v in graph.input}
    rename[graph.output[0].name] = OUTPUT_NAME
    names = _short_names(set(rename.values()))
    for tensor in graph.initializer:
        rename.setdefault(tensor.name, next(names))
        tensor.name = rename[tensor.name]
        tensor.doc_string = ""
    for node in graph.node:
        for out in node.output:
            if out:
                rename.setdefault(out, next(names))
    for node in graph.node:
        node.name = ""
        node.doc_string = ""
        del node.metadata_props[:]
        for i, name in enumerate(node.input):
            node.input[i] = rename.get(name, name) if name else ""
        for i, name in enumerate(node.output):
            node.output[i] = rename[name] if name else ""
        keep = [a for a in node.attribute if not _is_default(node.op_type, a)]
        del node.attribute[:]
        node.attribute.extend(keep)
    for value in graph.output:
        value.name = rename[value.name]
    used_domains = {node.domain for node in graph.node} | {""}
    opsets = [o for o in proto.opset_import if o.domain in used_domains]
    del proto.opset_import[:]
    proto.opset_import.extend(opsets)


class _Reader:
    """An onnxruntime ``CalibrationDataReader`` over a :class:`CalibrationSet` that serves one batch per
    ``set_range`` (with ``CalibStridedMinMax=1``, the calibrator merges ranges / histograms batch by batch:
    bounded memory, and batches of different lengths never meet in one array). Built lazily so that
    ``onnxruntime.quantization`` is imported only when quantizing."""

    def __new__(cls, calibration: CalibrationSet, on_batch: Callable[[int, int], None] | None = None) -> Any:
        from onnxruntime.quantization import CalibrationDataReader

        feeds = list(_calibration_feeds(calibration))

        class Reader(CalibrationDataReader):  # type: ignore[misc]
            def __init__(self) -> None:
                self.next, self.end = 0, len(feeds)

            def __len__(self) -> int:
                return len(feeds)

            def set_range(self, start_index: int, end_index: int) -> None:
                self.next, self.end = start_index, min(end_index, len(feeds))

            def get_next(self) -> dict[str, np.ndarray] | None:
                if self.next >= self.end:
                    return None
                self.next += 1
                if on_batch is not None:
                    on_batch(self.next - 1, len(feeds))
                return feeds[self.next - 1]

        return Reader()


def _first_conv(model_path: Path) -> list[str]:
    """Name of the first ``Conv`` fed by the signal input (empty when there is none)."""
    import onnx

    graph = onnx.load(str(model_path)).graph
    for node in graph.node:
        if node.op_type == "Conv" and SIGNAL_INPUT in node.input:
            return [node.name]
    return []


def _name_nodes(src: Path, dst: Path) -> None:
    """Copy of ``src`` whose nodes are named ``n0, n1, ...`` (the compacted graph has no node names; the
    quantizer tells nodes apart by name)."""
    import onnx

    proto = onnx.load(str(src))
    for i, node in enumerate(proto.graph.node):
        node.name = f"n{i}"
    onnx.save(proto, str(dst))


def _quantize_int8(
    fp32: Path,
    tmp: Path,
    calibration: CalibrationSet,
    method: str,
    keep_first_fp32: bool,
    progress: ProgressFn | None = None,
) -> Path:
    """``quant_pre_process`` then static QDQ quantization (int8 per-channel weights, uint8 activations)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    named, pre, int8 = tmp / "named.onnx", tmp / "pre.onnx", tmp / "int8.onnx"
    label = f"calibrating int8 on {len(calibration)} inputs (batches)"

    def on_batch(done: int, total: int) -> None:
        if progress is not None:
            progress(label, done, total)

    if progress is not None:
        progress("preparing the int8 graph", 0, None)
    _name_nodes(fp32, named)
    try:
        with _quiet():
            try:
                quant_pre_process(str(named), str(pre))
            except Exception:  # symbolic shape inference fails on some graphs (e.g. Concat of features)
                quant_pre_process(str(named), str(pre), skip_symbolic_shape=True)
            quantize_static(
                str(pre),
                str(int8),
                _Reader(calibration, on_batch),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                weight_type=QuantType.QInt8,
                activation_type=QuantType.QUInt8,
                calibrate_method=getattr(CalibrationMethod, CALIBRATION_METHODS[method]),
                nodes_to_exclude=_first_conv(pre) if keep_first_fp32 else None,
                extra_options={
                    "QuantizeBias": False,
                    "WeightSymmetric": True,
                    "ActivationSymmetric": False,
                    "CalibStridedMinMax": 1,  # one batch per collection (see _Reader)
                },
            )
    except LeanECGError:
        raise
    except Exception as exc:  # onnxruntime.quantization raises plain Exceptions / ORT errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LeanECGError(fp32, f"int8 quantization failed: {first[:300]}") from None
    _finish_int8(int8)
    return int8


def _finish_int8(path: Path) -> None:
    """Post-process the quantizer's output: :func:`_drop_zero_zero_points`,
    :func:`_drop_output_requantization`, then :func:`compact_onnx` (as for the fp32 graph)."""
    import onnx

    proto = onnx.load(str(path))
    _drop_zero_zero_points(proto.graph)
    _drop_output_requantization(proto.graph)
    _drop_unused_initializers(proto.graph)
    compact_onnx(proto)
    onnx.save(proto, str(path))


def _drop_zero_zero_points(graph: Any) -> None:
    """Remove all-zero zero points of ``QuantizeLinear`` / ``DequantizeLinear`` nodes where ONNX's default
    gives the same values and types.

    ``zero_point`` is optional and defaults to 0: of type uint8 for ``QuantizeLinear`` (so only uint8
    zero points are dropped there: the activations after a ReLU), of the input's type for
    ``DequantizeLinear`` (uint8 activations, and the int8 symmetric weights). ONNX Runtime fuses the graph
    the same way. Saves one byte per weight channel plus a tensor per layer.
    """
    import onnx
    from onnx import numpy_helper

    inits = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear") or len(node.input) != 3:
            continue
        zero = inits.get(node.input[2])
        if zero is None or numpy_helper.to_array(zero).any():
            continue
        data = inits.get(node.input[0])
        weight_int8 = data is not None and data.data_type == onnx.TensorProto.INT8
        if zero.data_type == onnx.TensorProto.UINT8 or (node.op_type == "DequantizeLinear" and weight_int8):
            del node.input[2]


def _drop_output_requantization(graph: Any) -> None:
    """Remove the ``QuantizeLinear -> DequantizeLinear`` pair on the graph output (the quantizer's rounding
    of the final logits to 8 bits, which only loses precision): the layer before it then writes the
    output itself, in fp32."""
    producers = {out: node for node in graph.node for out in node.output}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    for value in graph.output:
        dq = producers.get(value.name)
        if dq is None or dq.op_type != "DequantizeLinear":
            continue
        q = producers.get(dq.input[0])
        if q is None or q.op_type != "QuantizeLinear" or uses.get(q.output[0], 0) != 1:
            continue
        layer = producers.get(q.input[0])
        if layer is None or uses.get(q.input[0], 0) != 1:
            continue
        layer.output[list(layer.output).index(q.input[0])] = value.name
        graph.node.remove(q)
        graph.node.remove(dq)


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
