"""Small pieces shared by the bench studies (:mod:`leanecg.bench.labels`, :mod:`leanecg.bench.leads`,
:mod:`leanecg.bench.fewshot`, :mod:`leanecg.bench.noisy_labels`): a digest of record lists, torch thread
settings that are restored, and the merging of seeds run in separate invocations (``leanecg study ...
--seeds S``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from leanecg.tasks.base import sha256_lines  # noqa: F401  (moved to leanecg.tasks; importable here)


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)`` (inference too, not only training); the previous
    setting is restored afterwards. ``None`` leaves the setting alone."""
    import torch

    prev = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(prev)


def finite_mean(values: Sequence[Any]) -> float | None:
    """Mean of the finite numbers among ``values`` (``None``, NaN and inf left out); ``None`` if there are none."""
    import math

    import numpy as np

    v = [float(x) for x in values if isinstance(x, int | float | np.number) and math.isfinite(x)]
    return float(np.mean(v)) if v else None


def comparable_config(config: dict[str, Any]) -> dict[str, Any]:
    """A study's settings without those that do not change its numbers (seeds, threads, extra)."""
    return {k: v for k, v in config.items() if k not in ("seeds", "num_threads", "extra")}


def comparable_run(path: Path, benchmark: str, config: dict[str, Any], tiny: bool) -> dict[str, Any] | None:
    """The results document in ``path`` of an earlier run of ``benchmark`` with the same settings
    (:func:`comparable_config`) and the same ``tiny`` flag, or ``None`` (no file, unreadable, or another
    study / settings): what a seeded study may merge its new seeds into."""
    import json

    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("benchmark") != benchmark or bool(doc.get("tiny")) != tiny:
        return None
    if comparable_config(doc.get("config") or {}) != comparable_config(json.loads(json.dumps(config))):
        return None
    return doc


def merge_seeds(
    path: Path, benchmark: str, config: dict[str, Any], tiny: bool, seeds: Sequence[int]
) -> list[dict[str, Any]]:
    """Entries (``{"seed": ...}`` dicts) of an earlier run in ``path`` with the same settings and other seeds."""
    doc = comparable_run(path, benchmark, config, tiny)
    return [] if doc is None else [e for e in doc.get("entries", []) if e.get("seed") not in set(seeds)]
