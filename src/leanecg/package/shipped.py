"""Models shipped inside the LeanECG package (``leanecg/zoo/<name>/``), found without any network access.

Each shipped model is a package folder written by :func:`leanecg.package.model.save_model_package`
(``model.pt``, ``model.json``, ``MODEL_CARD.md``) plus its ONNX files (:data:`ONNX_FILES`: fp32 and int8,
each with its sidecar ``FILE.json``, written by ``python benchmarks/export_shipped_onnx.py``).

This module is the catalogue (:func:`list_shipped`, :func:`shipped_path`) and the ONNX-in-sync check
(:func:`onnx_status`); what a ``--model`` value means (a shipped name, a package folder or an ``.onnx``
file) and how it is opened is :func:`leanecg.package.open_model`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from leanecg.errors import LeanECGError

__all__ = [
    "EXPORT_COMMAND",
    "ONNX_FILES",
    "list_shipped",
    "onnx_status",
    "package_summary",
    "shipped_names",
    "shipped_onnx",
    "shipped_path",
    "zoo_dir",
]

#: The ONNX files of a package folder by precision (each with its metadata sidecar ``FILE.json``).
ONNX_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
#: The command that rewrites them from the package's torch weights.
EXPORT_COMMAND = "python benchmarks/export_shipped_onnx.py"


def zoo_dir() -> Path:
    """The folder holding the shipped model packages (it may hold none)."""
    return Path(__file__).resolve().parent.parent / "zoo"


def _package_dirs() -> list[Path]:
    root = zoo_dir()
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / "model.json").is_file())


def _summary(folder: Path) -> dict[str, Any]:
    meta_file = folder / "model.json"
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LeanECGError(meta_file, f"shipped model metadata is unreadable ({exc})") from None
    return package_summary(folder.name, folder, meta)


def package_summary(name: str, folder: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """One row of ``leanecg models``: name, task, classes, params, MACs, latency (torch, and ONNX Runtime when
    measured; each with its ratio to ResNet-1D timed in the same run), headline metric, and the
    threshold of the AF gate a beat model applies (``rhythm_gate``; ``None`` without one)."""
    task = meta.get("task", {})
    cost = meta.get("cost", {})
    primary = task.get("primary_metric")
    m = meta.get("metrics", {}).get(primary, {}) if primary else {}
    return {
        "name": name,
        "task": task.get("name"),
        "kind": meta.get("package", {}).get("kind"),
        "model": meta.get("model_name"),
        "classes": list(meta.get("class_names", [])),
        "params": cost.get("params"),
        "macs": cost.get("macs"),
        "latency_ms": cost.get("latency_ms_median"),
        "latency_ratio": cost.get("latency_ratio_vs_reference"),
        # the forward pass in ONNX Runtime, the runtime of predict / beats / stream / serve (None: not measured)
        "onnx_latency_ms": cost.get("onnx_latency_ms_median"),
        "onnx_latency_ratio": cost.get("onnx_latency_ratio_vs_reference"),
        "metric": primary,
        "value": m.get("value"),
        "ci_low": m.get("ci_low"),
        "ci_high": m.get("ci_high"),
        "tiny": bool(meta.get("data", {}).get("tiny")),
        "licence": meta.get("licence", {}).get("licence"),
        "path": str(folder),
        # the AF gate's threshold (beat models that carry one; the metric above is the network's alone)
        "rhythm_gate": (meta.get("rhythm_gate") or {}).get("threshold"),
    }


def list_shipped() -> list[dict[str, Any]]:
    """Every shipped model, sorted by name (see :func:`package_summary` for the keys); ``[]`` when none."""
    return [_summary(p) for p in _package_dirs()]


def shipped_names() -> list[str]:
    """The names of the shipped models, sorted (``[]`` when none is shipped)."""
    return [p.name for p in _package_dirs()]


def shipped_path(name: str) -> Path:
    """The package folder of the shipped model ``name``.

    Raises:
        LeanECGError: no shipped model has that name (the message lists those that exist).
    """
    for p in _package_dirs():
        if p.name == name:
            return p
    names = [p.name for p in _package_dirs()]
    have = ", ".join(names) if names else "none is shipped with this release yet"
    raise LeanECGError(
        "model",
        f"unknown model {name!r}: not a shipped model (shipped: {have}) and no package folder at that path",
    )


def _json_file(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LeanECGError(path, f"unreadable model metadata ({exc})") from None
    if not isinstance(meta, dict):
        raise LeanECGError(path, "model metadata is not a JSON object")
    return meta


def onnx_status(folder: str | Path, precision: str = "fp32") -> str | None:
    """``None`` when the package folder's ONNX file of ``precision`` (:data:`ONNX_FILES`) and its sidecar
    are present and were exported from the weights ``model.json`` describes; otherwise what is wrong (one
    phrase). Reads two JSON files (the ONNX file's own SHA-256 is checked when it is loaded)."""
    if precision not in ONNX_FILES:
        have = ", ".join(ONNX_FILES)
        raise LeanECGError("precision", f"unknown precision {precision!r}; use one of {have}")
    folder = Path(folder)
    onnx_file = folder / ONNX_FILES[precision]
    side = onnx_file.with_name(onnx_file.name + ".json")
    if not onnx_file.is_file() or not side.is_file():
        return f"{onnx_file.name} (or {side.name}) is missing"
    source = _json_file(side).get("onnx", {}).get("source_package", {}).get("weights_sha256")
    weights = _json_file(folder / "model.json").get("weights_sha256")
    if not source or source != weights:
        return f"{onnx_file.name} was exported from other weights than model.json describes"
    return None


def shipped_onnx(folder: str | Path, precision: str = "fp32") -> Path | None:
    """The package folder's ONNX file of ``precision`` when it is in sync with the weights, else ``None``."""
    if onnx_status(folder, precision) is not None:
        return None
    return Path(folder) / ONNX_FILES[precision]
