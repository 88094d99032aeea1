"""Calibration inputs for the static int8 ONNX export (:mod:`leanecg.deploy.onnx`).

A :class:`CalibrationSet` holds model inputs whose activations set the int8 ranges. They come from the
package's task's **training split** (:func:`training_calibration`, drawn with :func:`calibration_set`), or,
with no training data at hand, from the calibration subset a package ships beside its weights
(:data:`CALIBRATION_FILE`, written by :func:`save_calibration`, read by :func:`load_calibration`);
:func:`default_calibration` picks between them as ``leanecg export --int8`` does. Nothing here imports torch
or onnx.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from leanecg.errors import LeanECGError
from leanecg.package.ort_runtime import FEATURES_INPUT, SIGNAL_INPUT
from leanecg.signal.batching import inference_batches

if TYPE_CHECKING:
    from leanecg.package.model import ModelPackage
    from leanecg.train.datasets import ArraySplit

__all__ = [
    "CALIBRATION_FILE",
    "DEFAULT_CALIBRATION",
    "CalibrationSet",
    "calibration_feeds",
    "calibration_set",
    "default_calibration",
    "load_calibration",
    "package_split_seed",
    "save_calibration",
    "training_calibration",
]

#: Default number of calibration inputs: whole records (record models) or beats (beat models).
DEFAULT_CALIBRATION = {"records": 256, "beats": 4096}
#: The calibration subset a model package may ship beside its weights (:func:`save_calibration`), used by
#: ``leanecg export --int8`` when no training data is found (:func:`default_calibration`).
CALIBRATION_FILE = "calibration.npz"
#: Keys of a record model's ``feature_config`` fitted on its training data (applied when a subset is loaded).
_FITTED_FEATURE_KEYS = ("center", "scale", "clip")
#: Format tag of :data:`CALIBRATION_FILE`.
_CALIBRATION_FORMAT = "leanecg.calibration/1"
#: Inputs per calibration batch (records are batched with records of the same length only).
_CALIBRATION_BATCH = 16


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
    from leanecg.data import get_dataset, resolve_data_dir
    from leanecg.tasks import TASKS, task_for_package

    task_name = package.meta["task"]["name"]
    if task_name not in TASKS:
        raise LeanECGError(
            package.path,
            f"int8 calibration needs the training data of task {task_name!r}, which this LeanECG does not know",
        )
    task = task_for_package(package.meta)
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

        raw_features, _ = raw_input_features(
            list(calibration.X),
            float(package.meta["input"]["fs"]),
            names=package.meta["input"]["feature_config"]["names"],
        )
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


def calibration_feeds(calibration: CalibrationSet) -> Iterator[dict[str, np.ndarray]]:
    """Input feeds of equal-length batches (at most :data:`_CALIBRATION_BATCH` inputs each)."""
    X = calibration.X
    for idx, _, _ in inference_batches([np.shape(x)[-1] for x in X], _CALIBRATION_BATCH):
        feed = {SIGNAL_INPUT: np.ascontiguousarray(np.stack([X[int(i)] for i in idx]), dtype=np.float32)}
        if calibration.features is not None:
            feed[FEATURES_INPUT] = np.ascontiguousarray(calibration.features[idx], dtype=np.float32)
        yield feed
