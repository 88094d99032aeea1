"""Where LeanECG keeps its user cache: one rule for every floor that caches (decoded signals, filter designs).

``$LEANECG_CACHE`` when set, else ``~/.cache/leanecg``. :func:`leanecg.data.cache.resolve_cache_dir` adds an
explicit override and its checks; :mod:`leanecg.signal._designs` stores filter designs below the same root.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV", "default_cache_root"]

#: The environment variable naming the cache root.
CACHE_ENV = "LEANECG_CACHE"


def default_cache_root() -> Path:
    """The cache root: ``$LEANECG_CACHE`` if set (and not empty), else ``~/.cache/leanecg`` (user expanded)."""
    env = os.environ.get(CACHE_ENV)
    return (Path(env) if env else Path.home() / ".cache" / "leanecg").expanduser()
