"""Reading ECG data: records in any supported format, the dataset registry, splits, cache, downloads.

Names are imported lazily so ``import leanecg.data`` stays cheap.
"""

from __future__ import annotations

from leanecg._lazy import lazy_getattr

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


__getattr__ = lazy_getattr(__name__, _EXPORTS)
