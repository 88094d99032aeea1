"""What a resumable training state holds beyond the model and optimiser (:func:`leanecg.train.trainer.fit`
with ``checkpoint_dir`` / ``resume``): the run's fingerprint, weight copies, the global RNG states, the
training loader's shuffling and crop streams, and the random generators a ``batch_loss`` holds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from leanecg.train.datasets import ArraySplit
from leanecg.train.train_config import TrainConfig

__all__ = [
    "callable_rngs",
    "copy_state",
    "loader_state",
    "rng_state",
    "run_fingerprint",
    "set_callable_rngs",
    "set_loader_state",
    "set_rng_state",
]


def copy_state(model: nn.Module, cpu: bool = False) -> dict[str, Any]:
    """A detached copy of ``model``'s state dict (on the CPU with ``cpu``, else where the tensors are)."""
    return {
        k: (v.detach().cpu().clone() if cpu else v.detach().clone()) if isinstance(v, torch.Tensor) else v
        for k, v in model.state_dict().items()
    }


#: TrainConfig fields added after resumable states were first written: at their declared defaults they are left
#: out of :func:`run_fingerprint`, so states written before they existed still resume
LATER_FIELDS = ("average_epochs", "sampling")


def run_fingerprint(
    config: TrainConfig, train: ArraySplit, val: ArraySplit | None, model: nn.Module, indexed: bool
) -> str:
    """SHA-256 of what must not change between a run and its resumption (not the thread count, device,
    time budget or number of processes)."""
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    cfg = {
        k: v
        for k, v in config.to_dict().items()
        if k not in ("num_threads", "device", "max_train_seconds", "num_workers")
        and not (k in LATER_FIELDS and v == defaults[k])
    }
    doc = {
        "config": cfg,
        "indexed_sampling": indexed,
        "train": [len(train), train.n_leads, int(train.lengths.sum()), train.n_features],
        "val": None if val is None else [len(val), val.n_leads, int(val.lengths.sum())],
        "tensors": {k: list(v.shape) for k, v in model.state_dict().items() if isinstance(v, torch.Tensor)},
    }
    text = json.dumps(doc, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def rng_state(device: torch.device) -> dict[str, Any]:
    """This process's global RNG states (torch CPU and CUDA, numpy's legacy global RNG, Python's)."""
    np_state = np.random.get_state()  # noqa: NPY002 - the legacy global RNG other code may draw from
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": random.getstate(),
    }


def set_rng_state(state: Mapping[str, Any], device: torch.device) -> None:
    """Restore the global RNG states :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"], device)
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))  # noqa: NPY002
    random.setstate(_as_tuple(state["python"]))


def _as_tuple(v: Any) -> Any:
    return tuple(_as_tuple(x) for x in v) if isinstance(v, list | tuple) else v


def loader_state(loader: Any) -> dict[str, Any]:
    """The shuffling and crop streams of a :func:`make_train_loader` loader (the indexed loader has none:
    its draws are functions of the epoch)."""
    ds = loader.dataset
    if getattr(ds, "record_seed", None) is not None:
        return {}
    return {"sampler": loader.sampler.sampler.generator.get_state(), "crops": ds.rng.bit_generator.state}


def set_loader_state(loader: Any, state: Mapping[str, Any]) -> None:
    """Restore the streams :func:`loader_state` returned (nothing for an empty state)."""
    if not state:
        return
    loader.sampler.sampler.generator.set_state(state["sampler"])
    loader.dataset.rng.bit_generator.state = dict(state["crops"])


def callable_rngs(fn: Any) -> list[Any]:
    """States of the ``torch.Generator`` / numpy ``Generator`` objects ``fn`` holds (attributes, closure)."""
    return [_generator_state(g) for g in _callable_generators(fn)]


def set_callable_rngs(fn: Any, states: list[Any]) -> None:
    """Restore the generator states :func:`callable_rngs` returned (skipped when their number differs)."""
    gens = _callable_generators(fn)
    if len(gens) != len(states):
        return
    for g, st in zip(gens, states, strict=True):
        if isinstance(g, torch.Generator):
            g.set_state(st)
        else:
            g.bit_generator.state = dict(st)


def _callable_generators(fn: Any) -> list[Any]:
    if fn is None:
        return []
    kinds = (torch.Generator, np.random.Generator)
    found = [c.cell_contents for c in (getattr(fn, "__closure__", None) or ()) if _cell_is(c, kinds)]
    found += (
        [v for _, v in sorted(vars(fn).items()) if isinstance(v, kinds)] if hasattr(fn, "__dict__") else []
    )
    return found


def _cell_is(cell: Any, kinds: tuple[type, ...]) -> bool:
    try:
        return isinstance(cell.cell_contents, kinds)
    except ValueError:  # an empty cell
        return False


def _generator_state(g: Any) -> Any:
    return g.get_state() if isinstance(g, torch.Generator) else g.bit_generator.state
