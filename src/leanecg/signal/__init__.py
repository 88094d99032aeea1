"""Signal processing on numpy arrays: preprocessing, quality, R-peak detection, beats.

Conventions: multi-lead signals are ``(n_samples, n_leads)`` float arrays in mV, single-lead ones
``(n_samples,)``; the sampling rate ``fs`` (Hz) is always explicit. Names are imported lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "detect_rpeaks": "leanecg.signal.rpeaks",
    "StreamingRPeakDetector": "leanecg.signal.rpeaks",
    "Pipeline": "leanecg.signal.pipeline",
    "signal_quality": "leanecg.signal.quality",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'leanecg.signal' has no attribute {name!r}")
