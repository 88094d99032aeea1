"""Reading ECG data: records in any supported format, the dataset registry, splits, cache, downloads.

Names are imported lazily so ``import leanecg.data`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Record": "leanecg.data.record",
    "Annotation": "leanecg.data.record",
    "load_record": "leanecg.data.loaders",
    "iter_records": "leanecg.data.loaders",
    "list_record_paths": "leanecg.data.loaders",
    "resolve_data_dir": "leanecg.data.locate",
    "get_dataset": "leanecg.data.registry",
    "list_datasets": "leanecg.data.registry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'leanecg.data' has no attribute {name!r}")
