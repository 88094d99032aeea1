"""Torch-free inference: an exported LeanECG model run by ONNX Runtime, with numpy preprocessing.

An ``.onnx`` file written by :func:`leanecg.deploy.onnx.export_onnx` (``leanecg export``) comes with its
package metadata (the preprocessing pipeline JSON, class names, input spec, metrics, provenance) in the
sidecar ``FILE.json`` (:func:`sidecar_path`, which also holds the file's SHA-256) or, when exported with
``--embed-metadata``, as JSON under the ONNX ``metadata_props`` key :data:`META_KEY` (then the file alone
is a complete model package; embedded metadata wins over the sidecar). :func:`load_onnx_package` returns a :class:`~leanecg.package.model.ModelPackage` whose network runs in
:class:`OrtBackend`; preprocessing, R-peak detection and beat inputs are the very same numpy code as for
a torch package. This module and everything it imports need only numpy, scipy and onnxruntime -- never
torch -- so a model runs on a small device::

    pkg = load_onnx_package("cinc2017.int8.onnx")
    probs = pkg.predict_records([load_record("A00001.hea")])   # float64 (1, 4)
    labels = pkg.labels_of(probs)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.errors import LeanECGError
from leanecg.package.model import ModelInputs, ModelPackage, check_package_meta
from leanecg.signal.batching import inference_batches

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

#: ``metadata_props`` key of the ONNX file holding the package metadata (a JSON object).
META_KEY = "leanecg.package"
#: Input names of an exported model: the signal ``(batch, n_leads, n_samples)`` and, for models that
#: take them, the features ``(batch, n_features)``.
SIGNAL_INPUT = "x"
FEATURES_INPUT = "features"
#: Output name of an exported model: the logits ``(batch, n_classes)``.
OUTPUT_NAME = "logits"


def sidecar_path(onnx_path: str | Path) -> Path:
    """The metadata sidecar of an exported model: ``FILE.json`` next to ``FILE`` (``m.onnx`` -> ``m.onnx.json``)."""
    p = Path(onnx_path)
    return p.with_name(p.name + ".json")


class OrtBackend:
    """ONNX Runtime (CPU) as a :class:`~leanecg.package.model.InferenceBackend`.

    Inputs of equal length are batched together (at most ``batch_size`` per call), so each record is
    classified whole, exactly as the torch backend does; outputs are logits turned into probabilities
    in float64 (softmax, or sigmoid for multi-label models).

    Args:
        path: the ``.onnx`` file (named in errors).
        session: an ``onnxruntime.InferenceSession`` of it.
    """

    runtime = "onnxruntime"

    def __init__(self, path: Path, session: Any) -> None:
        self.path = path
        self.session = session
        names = [i.name for i in session.get_inputs()]
        if SIGNAL_INPUT not in names or set(names) - {SIGNAL_INPUT, FEATURES_INPUT}:
            raise LeanECGError(
                path,
                f"model inputs are {names}; a LeanECG model takes {SIGNAL_INPUT!r} (+ {FEATURES_INPUT!r})",
            )
        self.takes_features = FEATURES_INPUT in names
        self.output = session.get_outputs()[0].name

    def proba(
        self, X: ModelInputs, features: np.ndarray | None, batch_size: int, multilabel: bool
    ) -> np.ndarray:
        """Probabilities float64 ``(N, C)`` of channel-first inputs (see the class docstring)."""
        if batch_size < 1:
            raise LeanECGError("batch_size", f"must be a positive integer, got {batch_size!r}")
        if self.takes_features != (features is not None):
            need = "takes" if self.takes_features else "does not take"
            raise LeanECGError(self.path, f"the model {need} a features input")
        if len(X) == 0:
            raise LeanECGError(self.path, "no inputs to classify")
        batches = [recs for recs, _, _ in inference_batches([np.shape(x)[-1] for x in X], batch_size)]
        logits = np.concatenate([self._run(idx, X, features) for idx in batches])
        out = np.empty_like(logits)
        out[np.concatenate(batches)] = logits
        return _probabilities(out, multilabel)

    def _run(self, idx: np.ndarray, X: ModelInputs, features: np.ndarray | None) -> np.ndarray:
        batch = X[idx] if isinstance(X, np.ndarray) else np.stack([np.asarray(X[int(i)]) for i in idx])
        x = np.ascontiguousarray(batch, dtype=np.float32)
        feed = {SIGNAL_INPUT: x}
        if features is not None:
            feed[FEATURES_INPUT] = np.ascontiguousarray(np.asarray(features)[idx], dtype=np.float32)
        try:
            (y,) = self.session.run([self.output], feed)
        except Exception as exc:  # onnxruntime raises its own exception types (Fail, InvalidArgument, ...)
            problem = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise LeanECGError(
                self.path, f"onnxruntime failed on an input of shape {tuple(x.shape)}: {problem}"
            ) from None
        y = np.asarray(y, dtype=np.float64)
        if y.ndim != 2 or y.shape[0] != len(idx):
            raise LeanECGError(self.path, f"model returned shape {y.shape}, expected (batch, n_classes)")
        return y


def _probabilities(logits: np.ndarray, multilabel: bool) -> np.ndarray:
    if multilabel:
        from scipy.special import expit  # ~0.2 s to import: only for the multi-label models that use it

        return expit(logits)
    # scipy.special.softmax's formula in plain NumPy (the same values, without its per-call dispatch
    # overhead, ~0.1 ms: a stream calls this for every chunk)
    e = np.exp(logits - np.max(logits, axis=1, keepdims=True))
    return e / np.sum(e, axis=1, keepdims=True)


def ort_session(path: str | Path, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session of ``path`` (``threads``: intra-op threads, ``None`` = its default).

    Raises:
        LeanECGError: the file is not a model ONNX Runtime can read.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads is not None:
        if threads < 1:
            raise LeanECGError("threads", f"must be a positive integer, got {threads!r}")
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3  # errors only: warnings would print from library code
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's InvalidProtobuf / Fail / NoSuchFile
        problem = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LeanECGError(path, f"is not a readable ONNX model ({problem[:200]})") from None


def onnx_meta(session: Any, path: Path) -> dict[str, Any]:
    """The LeanECG package metadata of an exported model: embedded in the model
    (``metadata_props[META_KEY]``), else the sidecar :func:`sidecar_path` (checked against the file's
    SHA-256 when it records one).

    Raises:
        LeanECGError: neither holds LeanECG metadata, it is not a JSON object, or the sidecar belongs to
            another file.
    """
    props = session.get_modelmeta().custom_metadata_map
    if META_KEY in props:
        return _json_object(props[META_KEY], path, "its embedded LeanECG metadata")
    side = sidecar_path(path)
    if not side.is_file():
        raise LeanECGError(
            path,
            f"is an ONNX model without LeanECG metadata (no preprocessing pipeline or classes): neither "
            f"embedded nor in {side.name} next to it; export models with `leanecg export MODEL --format onnx`",
        )
    meta = _json_object(side.read_text(encoding="utf-8"), side, "the LeanECG metadata")
    want = meta.get("onnx", {}).get("sha256") if isinstance(meta.get("onnx"), dict) else None
    if want and hashlib.sha256(path.read_bytes()).hexdigest() != want:
        raise LeanECGError(side, f"describes another file than {path.name} (SHA-256 differs); re-export both")
    return meta


def _json_object(text: str, where: Path, what: str) -> dict[str, Any]:
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LeanECGError(where, f"{what} is not valid JSON ({exc.msg})") from None
    if not isinstance(meta, dict):
        raise LeanECGError(where, f"{what} is not a JSON object")
    return meta


def load_onnx_package(path: str | Path, *, threads: int | None = None) -> ModelPackage:
    """Open an exported ``.onnx`` LeanECG model as a :class:`~leanecg.package.model.ModelPackage`.

    Args:
        path: the ``.onnx`` file written by ``leanecg export`` (fp32 or int8), with its sidecar
            ``FILE.json`` unless the metadata is embedded.
        threads: ONNX Runtime intra-op threads (``None``: its default, one per physical core).

    Raises:
        LeanECGError: the file is missing, is not an ONNX model, has no LeanECG metadata, or its inputs
            do not match its metadata.
    """
    path = Path(path)
    if not path.exists():
        raise LeanECGError(path, "not found (expected an .onnx file written by `leanecg export`)")
    if not path.is_file():
        raise LeanECGError(path, "is not a file (expected an .onnx file written by `leanecg export`)")
    session = ort_session(path, threads)
    meta = onnx_meta(session, path)
    pipeline = check_package_meta(meta, path)
    backend = OrtBackend(path, session)
    n_leads = int(meta["input"]["n_leads"])
    dims = session.get_inputs()[[i.name for i in session.get_inputs()].index(SIGNAL_INPUT)].shape
    if len(dims) != 3 or (isinstance(dims[1], int) and dims[1] != n_leads):
        raise LeanECGError(path, f"signal input has shape {dims}; its metadata says {n_leads} lead(s)")
    if backend.takes_features != bool(meta["input"].get("features")):
        raise LeanECGError(path, "its features input does not match the features named in its metadata")
    return ModelPackage(path=path, backend=backend, meta=meta, pipeline=pipeline)
