"""Checkpoints: weights-only tensors plus a JSON sidecar -- never pickled code.

``save_checkpoint("run/model.pt", model, model_config, extra)`` writes two files, each atomically:

* ``run/model.pt``: ``torch.save`` of the model's ``state_dict`` (CPU tensors), read back with
  ``torch.load(weights_only=True)``, which refuses anything but tensors and plain containers;
* ``run/model.json``: the sidecar, written last::

    {"format": "leanecg.checkpoint/1", "weights_file": "model.pt", "weights_sha256": "...",
     "weights_bytes": 12345, "tensors": {"conv.weight": {"shape": [8, 2, 7], "dtype": "float32"}, ...},
     "model_config": {...}, <the keys of extra: class_names, pipeline, metrics, provenance, train, ...>}

:func:`load_checkpoint` checks the SHA-256 of the weights against the sidecar before unpickling anything,
so a corrupted, truncated, modified or mismatched pair raises :class:`LeanECGError` naming the file.
Non-finite floats in the metadata are written as ``null`` (JSON has no NaN).

Training state (resume): :func:`save_train_state` writes what :func:`leanecg.train.trainer.fit` needs to
continue a run -- model, optimiser, scheduler, loss scaler, sampler / crop streams, RNG states, history and
best weights -- as ``<dir>/state-<epoch>.pt`` (tensors and plain containers only, read back with
``weights_only=True``), then points ``<dir>/last.json`` at it (checksum, epoch, run fingerprint). The JSON
is replaced atomically *after* the state file is complete, so :func:`load_train_state` always finds the
last complete checkpoint, even when the process was killed while writing the next one.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from leanecg.atomic import atomic_path, write_json
from leanecg.errors import LeanECGError

FORMAT = "leanecg.checkpoint/1"
STATE_FORMAT = "leanecg.train-state/1"
STATE_POINTER = "last.json"
RESERVED_KEYS = frozenset(
    {"format", "weights_file", "weights_sha256", "weights_bytes", "tensors", "model_config"}
)


def sidecar_path(path: str | Path) -> Path:
    """The JSON sidecar of the weights file ``path`` (``model.pt`` -> ``model.json``)."""
    return Path(path).with_suffix(".json")


def save_checkpoint(
    path: str | Path,
    model: nn.Module | Mapping[str, Any],
    model_config: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights to ``path`` and its metadata to the sidecar; returns ``path``.

    Args:
        path: weights file (conventionally ``*.pt``; must not end in ``.json``).
        model: a module or a ``state_dict``.
        model_config: JSON-able dict that rebuilds the architecture (``leanecg.models.registry``).
        extra: JSON-able metadata stored at the top level of the sidecar: e.g. ``class_names``,
            ``pipeline`` (preprocessing Pipeline JSON), ``metrics``, ``provenance``, ``train``,
            ``multilabel``. Keys in :data:`RESERVED_KEYS` are not allowed.
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        raise LeanECGError(
            path, "a checkpoint's weights file must not end in .json (that name is the sidecar's)"
        )
    extra = dict(extra or {})
    clash = sorted(RESERVED_KEYS & set(extra))
    if clash:
        raise LeanECGError(path, f"extra metadata uses reserved key(s): {', '.join(clash)}")
    if not isinstance(model_config, Mapping):
        raise LeanECGError(path, f"model_config must be a dict, got {type(model_config).__name__}")
    state = model.state_dict() if isinstance(model, nn.Module) else dict(model)
    state = {
        str(k): (v.detach().cpu().contiguous() if isinstance(v, torch.Tensor) else v)
        for k, v in state.items()
    }
    meta_tail = {
        "model_config": _jsonable(model_config, path, "model_config"),
        **_jsonable(extra, path, "extra"),
    }
    tensors = {
        k: {"shape": list(v.shape), "dtype": _dtype_name(v.dtype)}
        for k, v in state.items()
        if isinstance(v, torch.Tensor)
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
        digest, size = _sha256(tmp), tmp.stat().st_size
    meta = {
        "format": FORMAT,
        "weights_file": path.name,
        "weights_sha256": digest,
        "weights_bytes": size,
        "tensors": tensors,
        **meta_tail,
    }
    write_json(sidecar_path(path), meta)
    return path


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint`: ``(state_dict, meta)``.

    ``path`` is the weights file or its ``.json`` sidecar. Tensors are loaded on the CPU. Raises
    :class:`LeanECGError` naming the file when either file is missing, unreadable, not a LeanECG
    checkpoint, fails its checksum, or holds anything but tensors.
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        sidecar = path
        meta = _read_sidecar(sidecar)
        weights = sidecar.with_name(meta["weights_file"])
    else:
        weights, sidecar = path, sidecar_path(path)
        if not weights.is_file():
            raise LeanECGError(weights, "checkpoint not found")
        meta = _read_sidecar(sidecar)
    if not weights.is_file():
        raise LeanECGError(weights, f"checkpoint weights not found (named by {sidecar.name})")
    digest = _sha256(weights)
    if digest != meta["weights_sha256"]:
        raise LeanECGError(
            weights,
            f"does not match the checksum recorded in {sidecar.name}: the file is corrupted, truncated "
            "or was modified (or the two files are from different checkpoints)",
        )
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling failure is a bad file
        problem = " ".join(str(exc).split())[:200]
        raise LeanECGError(
            weights, f"is not a weights-only checkpoint ({type(exc).__name__}: {problem})"
        ) from None
    if not isinstance(state, Mapping) or not all(isinstance(k, str) for k in state):
        raise LeanECGError(weights, "does not hold a state_dict (a mapping of names to tensors)")
    listed = meta["tensors"]
    for name, t in state.items():
        if not isinstance(t, torch.Tensor):
            continue
        spec = listed.get(name)
        if (
            spec is None
            or list(t.shape) != list(spec.get("shape", []))
            or _dtype_name(t.dtype) != spec.get("dtype")
        ):
            raise LeanECGError(sidecar, f"tensor {name!r} does not match the weights file {weights.name}")
    missing = sorted(set(listed) - {k for k, v in state.items() if isinstance(v, torch.Tensor)})
    if missing:
        raise LeanECGError(weights, f"lacks tensor(s) listed in {sidecar.name}: {', '.join(missing[:5])}")
    return dict(state), meta


def load_weights_into(model: nn.Module, path: str | Path) -> dict[str, Any]:
    """Load a checkpoint's weights into ``model`` (strict); returns the metadata.

    A state_dict that does not fit the model (missing or unexpected tensors, other shapes) raises
    :class:`LeanECGError` naming the checkpoint.
    """
    state, meta = load_checkpoint(path)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(
        k
        for k in set(own) & set(state)
        if isinstance(own[k], torch.Tensor)
        and isinstance(state[k], torch.Tensor)
        and own[k].shape != state[k].shape
    )
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:3])}{' ...' if len(unexpected) > 3 else ''}")
        if wrong:
            k = wrong[0]
            parts.append(f"shape of {k} is {tuple(state[k].shape)}, the model has {tuple(own[k].shape)}")
        raise LeanECGError(path, f"weights do not fit the model: {'; '.join(parts)}")
    model.load_state_dict(state, strict=True)
    return meta


def load_model(
    path: str | Path, build: Callable[[dict[str, Any]], nn.Module] | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the architecture from ``meta["model_config"]``, load the weights; returns ``(model, meta)``.

    Args:
        path: weights file or sidecar.
        build: ``config -> nn.Module``; default ``leanecg.models.registry.build_from_config``.

    The model is returned in eval mode; ``model.multilabel`` is set when the metadata records it.
    """
    _, meta = load_checkpoint(path)  # fail on a bad file before building anything
    if build is None:
        from leanecg.models.registry import build_from_config

        build = build_from_config
    model = build(dict(meta["model_config"]))
    load_weights_into(model, path)
    model.eval()
    if isinstance(meta.get("multilabel"), bool):
        try:
            model.multilabel = meta["multilabel"]
        except AttributeError:
            pass
    return model, meta


def save_train_state(folder: str | Path, state: Mapping[str, Any], meta: Mapping[str, Any]) -> Path:
    """Write a resumable training state: ``folder/state-<epoch>.pt``, then ``folder/last.json``.

    Args:
        folder: checkpoint folder (created).
        state: tensors and plain containers (``torch.load(weights_only=True)`` must read it back).
        meta: JSON-able; must hold ``epoch`` (int). Stored in ``last.json`` with the format tag, the state
            file name, its SHA-256 and size.

    Older state files are removed once the pointer names the new one. Returns the state file's path.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    epoch = int(meta["epoch"])
    name = f"state-{epoch:05d}.pt"
    with atomic_path(folder / name) as tmp:
        torch.save(dict(state), tmp)
        digest, size = _sha256(tmp), tmp.stat().st_size
    pointer = {
        "format": STATE_FORMAT,
        "state_file": name,
        "state_sha256": digest,
        "state_bytes": size,
        **_jsonable(dict(meta), folder / STATE_POINTER, "meta"),
    }
    write_json(folder / STATE_POINTER, pointer)
    for old in folder.glob("state-*.pt"):
        if old.name != name:
            try:
                old.unlink()
            except OSError:
                pass
    return folder / name


def load_train_state(folder: str | Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The last complete training state in ``folder``: ``(state, meta)``; ``None`` when there is none yet.

    Raises:
        LeanECGError: the pointer or state file is unreadable, of another format, or fails its checksum.
    """
    folder = Path(folder)
    pointer = folder / STATE_POINTER
    if not pointer.is_file():
        return None
    try:
        meta = json.loads(pointer.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LeanECGError(pointer, f"is not a readable training-state pointer ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != STATE_FORMAT:
        raise LeanECGError(pointer, f"is not a LeanECG training state (format must be {STATE_FORMAT!r})")
    name = meta.get("state_file")
    if not isinstance(name, str) or Path(name).name != name or not name.endswith(".pt"):
        raise LeanECGError(pointer, "state_file must be the plain name of a .pt file beside it")
    path = folder / name
    if not path.is_file():
        raise LeanECGError(path, f"training state named by {STATE_POINTER} is missing")
    if _sha256(path) != meta.get("state_sha256"):
        raise LeanECGError(path, f"does not match the checksum in {STATE_POINTER} (corrupted or modified)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling failure is a bad file
        problem = " ".join(str(exc).split())[:200]
        raise LeanECGError(
            path, f"is not a weights-only training state ({type(exc).__name__}: {problem})"
        ) from None
    if not isinstance(state, dict):
        raise LeanECGError(path, "does not hold a training-state dict")
    return state, meta


# ---------------------------------------------------------------------------------------------- helpers


def _read_sidecar(sidecar: Path) -> dict[str, Any]:
    if not sidecar.is_file():
        raise LeanECGError(sidecar, "checkpoint metadata (the JSON sidecar of the weights) is missing")
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise LeanECGError(sidecar, "is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise LeanECGError(sidecar, f"is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise LeanECGError(sidecar, f"is not a LeanECG checkpoint (format {found!r}, expected {FORMAT!r})")
    if not isinstance(meta.get("weights_sha256"), str) or not isinstance(meta.get("tensors"), dict):
        raise LeanECGError(sidecar, "lacks the weights checksum or the tensor list")
    name = meta.get("weights_file")
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        raise LeanECGError(
            sidecar, "weights_file must be the plain file name of the weights, beside the sidecar"
        )
    if not isinstance(meta.get("model_config"), dict):
        raise LeanECGError(sidecar, "lacks the model_config object")
    return meta


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _jsonable(obj: Any, path: Path, what: str) -> Any:
    """A JSON-native copy of ``obj`` (numpy scalars/arrays, tuples, paths converted; NaN/inf -> None)."""
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist(), path, what)
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise LeanECGError(path, f"{what} has a non-string key {k!r}; JSON keys must be strings")
            out[k] = _jsonable(v, path, what)
        return out
    if isinstance(obj, list | tuple):
        return [_jsonable(v, path, what) for v in obj]
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return _jsonable(obj.to_dict(), path, what)
    raise LeanECGError(path, f"{what} holds a {type(obj).__name__}, which cannot be stored as JSON")
