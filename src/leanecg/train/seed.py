"""Determinism helpers: one seed for Python, numpy and torch.

On CPU, training with the same seed, the same data, the same thread count and the same library versions
gives bit-identical weights (``tests/test_trainer.py`` checks it). The model's *initial* weights come
from whatever random state is current when the model is built, so call :func:`seed_everything` before
building it as well. ``PYTHONHASHSEED`` cannot be changed inside a running process; nothing in LeanECG's
training depends on string hashing.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from leanecg.errors import LeanECGError

_MAX_SEED = 2**63 - 1


def check_seed(seed: int, source: str = "seed") -> int:
    """Return ``seed`` as an ``int`` in ``[0, 2**63)``; anything else raises :class:`LeanECGError`."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= int(seed) <= _MAX_SEED:
        raise LeanECGError(source, f"seed must be an integer between 0 and 2**63-1, got {seed!r}")
    return int(seed)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python's ``random``, numpy's global RNG and torch (CPU and, when present, CUDA).

    Args:
        seed: integer in ``[0, 2**63)``.
        deterministic: also ask torch for deterministic algorithms
            (``torch.use_deterministic_algorithms(True, warn_only=True)``: an operation without a
            deterministic implementation warns instead of failing), disable cuDNN benchmarking and set
            ``CUBLAS_WORKSPACE_CONFIG`` for deterministic cuBLAS on GPUs.
    """
    seed = check_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - the legacy global RNG, for third-party code that uses it
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def torch_generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed`` (for ``DataLoader`` shuffling)."""
    g = torch.Generator()
    g.manual_seed(check_seed(seed))
    return g


def numpy_generator(seed: int, *stream: int) -> np.random.Generator:
    """A numpy ``Generator`` for ``seed``; extra integers select independent streams of the same seed.

    ``numpy_generator(s, 1)`` and ``numpy_generator(s, 2)`` are statistically independent, and both are
    independent of ``numpy_generator(s)``.
    """
    return np.random.default_rng([check_seed(seed), *(int(k) for k in stream)])


def available_cpus() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one, else ``os.cpu_count``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
