"""What a ``--model`` value means, decided in one place: :func:`open_model`.

A model is given as one of three forms (:data:`MODEL_FORMS`):

* a shipped model name (``cinc2017``, ``mitdb-aami``: :func:`leanecg.package.shipped.list_shipped`);
* a model package folder (``model.json`` + ``model.pt``, written by ``leanecg bench --save-models`` or
  ``leanecg compress``; its ONNX files when exported);
* an exported ``.onnx`` file (``leanecg export``), run by ONNX Runtime without torch.

Anything else raises one :class:`~leanecg.errors.LeanECGError` naming the three forms. A folder runs its ONNX
file when that is in sync with its weights (:func:`~leanecg.package.shipped.onnx_status`) and ``prefer`` is
``"onnx"`` -- numpy + onnxruntime only, nothing exported at start-up, no torch import -- otherwise its torch
weights (the training extra), or one line saying what is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from leanecg.errors import LeanECGError
from leanecg.package.model import META_FILE, ModelPackage, load_model_package
from leanecg.package.ort_runtime import load_onnx_package
from leanecg.package.shipped import EXPORT_COMMAND, ONNX_FILES, onnx_status, shipped_names, shipped_path

__all__ = [
    "MODEL_FORMS",
    "is_onnx_model",
    "load_inference_package",
    "open_model",
    "resolve_model",
]

#: The forms a model may be given in (the error for anything else lists them).
MODEL_FORMS = "a shipped model name, a model package folder (with model.json) or an exported .onnx file"
PREFER = ("onnx", "torch")


def is_onnx_model(spec: str | Path) -> bool:
    """Whether ``spec`` names an exported ``.onnx`` file (by its suffix, or an existing file) rather than a
    shipped name or a package folder."""
    return str(spec).lower().endswith(".onnx") or Path(spec).is_file()


def _unknown(spec: str | Path, why: str) -> LeanECGError:
    shipped = ", ".join(shipped_names()) or "none is shipped with this release yet"
    text = str(spec)
    where: str | Path = Path(text) if ("/" in text or "\\" in text) else "model"
    return LeanECGError(
        where, f"unknown model {text!r}: {why}; a model is {MODEL_FORMS} (shipped: {shipped})"
    )


def _model_form(spec: str | Path) -> tuple[str, Path]:
    """``("onnx", file)`` or ``("folder", package folder)`` for ``spec``; the one error otherwise."""
    if not isinstance(spec, str | Path) or not str(spec).strip():
        raise _unknown(str(spec), "not a name or a path")
    p = Path(spec)
    if p.is_dir():
        if not (p / META_FILE).is_file():
            raise _unknown(spec, f"a folder without {META_FILE}")
        return "folder", p
    if p.is_file():
        if p.suffix.lower() != ".onnx":
            raise _unknown(spec, "a file that is not an .onnx model")
        return "onnx", p
    if str(spec).lower().endswith(".onnx"):
        raise _unknown(spec, "not found (no such .onnx file)")
    if str(spec) in shipped_names():
        return "folder", shipped_path(str(spec))
    raise _unknown(spec, "not a shipped model, and no package folder or .onnx file at that path")


def resolve_model(name_or_dir: str | Path) -> Path:
    """The package folder of a shipped model name or of a package folder path (checked first).

    Raises:
        LeanECGError: anything else, an ``.onnx`` file included (it has no package folder).
    """
    form, path = _model_form(name_or_dir)
    if form != "folder":
        raise LeanECGError(
            path, "is an .onnx file; this needs a shipped model name or a model package folder"
        )
    return path


def open_model(
    spec: str | Path,
    *,
    prefer: str = "onnx",
    precision: str = "fp32",
    threads: int | None = None,
) -> ModelPackage:
    """A :class:`~leanecg.package.model.ModelPackage` from a shipped name, a package folder or an ``.onnx`` file.

    Args:
        spec: the model (:data:`MODEL_FORMS`).
        prefer: for a folder, ``"onnx"``: its ONNX file of ``precision`` when in sync with the weights
            (:func:`~leanecg.package.shipped.onnx_status`), else the torch weights; ``"torch"``: the torch
            weights (training, compression, export, gradients). An ``.onnx`` file always runs in ONNX Runtime.
        precision: which of a folder's ONNX files (:data:`~leanecg.package.shipped.ONNX_FILES`): ``"fp32"`` or
            ``"int8"``.
        threads: ONNX Runtime intra-op threads (``None``: its default).

    Raises:
        LeanECGError: ``spec`` is none of the three forms (one message listing them); an unknown ``prefer``
            or ``precision``; or the folder's ONNX file is stale or missing and torch is not installed (the
            message names the extra and the command that writes the ONNX files).

    Example (the shipped rhythm model on a synthetic 30-s record; ONNX Runtime, no torch):
        >>> from leanecg.data import Record
        >>> from leanecg.data.synthetic import synthetic_ecg
        >>> model = open_model("cinc2017")
        >>> type(model.backend).__name__, model.kind, model.class_names
        ('OrtBackend', 'records', ['N', 'A', 'O', '~'])
        >>> ecg = synthetic_ecg(duration_s=30.0, fs=300.0, seed=0)
        >>> probs = model.predict_records([Record(name="demo", signal=ecg.signal, fs=300.0, leads=["I"])])
        >>> probs.shape, bool(abs(probs.sum() - 1.0) < 1e-6)
        ((1, 4), True)
        >>> open_model("no-such-model")
        Traceback (most recent call last):
        ...
        leanecg.errors.LeanECGError: model: unknown model 'no-such-model': ...
    """
    if prefer not in PREFER:
        raise LeanECGError("prefer", f"unknown backend preference {prefer!r}; use one of {', '.join(PREFER)}")
    form, path = _model_form(spec)
    if form == "onnx":
        return load_onnx_package(path, threads=threads)
    problem = onnx_status(path, precision) if prefer == "onnx" else None
    if prefer == "onnx" and problem is None:
        return load_onnx_package(path / ONNX_FILES[precision], threads=threads)
    try:
        import torch  # noqa: F401  (deferred: the inference path stays torch-free)
    except ImportError:
        extra = 'the training extra: pip install "leanecg[train]"'
        if problem is None:
            raise LeanECGError(path, f"running its torch model needs {extra}") from None
        raise LeanECGError(
            path,
            f"{problem}, and running its torch weights instead needs {extra} (then `{EXPORT_COMMAND}` "
            "writes the ONNX files)",
        ) from None
    return load_model_package(path)


def load_inference_package(
    name_or_path: str | Path,
    *,
    precision: str = "fp32",
    threads: int | None = None,
    prefer: str = "onnx",
) -> Any:
    """:func:`open_model` under its earlier name (the inference commands' loader)."""
    return open_model(name_or_path, prefer=prefer, precision=precision, threads=threads)
