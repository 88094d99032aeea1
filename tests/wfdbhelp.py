"""Read real PhysioNet segments with the reference ``wfdb`` package (shared by the signal tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def read_segment(path: Path, seconds: float, fs: float = 360.0) -> np.ndarray:
    """Physical signal (mV) ``(n_samples, n_leads)`` of the first ``seconds`` of the WFDB record ``path``
    sampled at ``fs`` Hz; skips the test when ``wfdb`` or the record is missing."""
    wfdb = pytest.importorskip("wfdb")
    if not path.with_suffix(".hea").is_file():
        pytest.skip(f"{path.name} not staged")
    return wfdb.rdrecord(str(path), sampto=round(seconds * fs)).p_signal
