"""The preprocessing pipeline the benchmark tasks (and the studies built on them) feed their models.

Every task model input is the same chain: optional lead selection, band-pass 0.5-40 Hz, resampling to the
model rate and (for record tasks) per-record z-scoring; :func:`task_pipeline` writes it once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from leanecg.signal.pipeline import Pipeline

__all__ = ["BAND_HZ", "task_pipeline"]

#: The band-pass edges (Hz) of every task pipeline.
BAND_HZ = (0.5, 40.0)


def task_pipeline(fs_out: float, *, leads: Sequence[str] | None = None, zscore: bool = True) -> Pipeline:
    """``[leads] -> bandpass 0.5-40 Hz -> resample to fs_out Hz -> [zscore]`` as a :class:`Pipeline`.

    Args:
        fs_out: model input rate (Hz).
        leads: canonical lead names to select first (``None``: keep the record's leads).
        zscore: end with per-record z-scoring (record tasks); beat tasks keep millivolts (``False``).
    """
    steps: list[dict[str, Any]] = []
    if leads is not None:
        steps.append({"op": "leads", "leads": list(leads)})
    steps.append({"op": "bandpass", "low_hz": BAND_HZ[0], "high_hz": BAND_HZ[1]})
    steps.append({"op": "resample", "fs_out": fs_out})
    if zscore:
        steps.append({"op": "zscore"})
    return Pipeline(steps)
