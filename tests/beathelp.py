"""A synthetic beat stream shared by the beat-feature tests."""

from __future__ import annotations

import numpy as np

from leanecg.data.synthetic import synthetic_ecg
from leanecg.signal.rpeaks import detect_rpeaks


def pvc_stream(fs: float, seed: int = 3, duration_s: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic ECG with PVCs at ``fs`` Hz (a preprocessed model-rate stream, float64 ``(n, 1)``, mV) and its
    detected R peaks (sample indices)."""
    syn = synthetic_ecg(duration_s=duration_s, fs=fs, heart_rate_bpm=75.0, rhythm="pvc", seed=seed)
    x = np.asarray(syn.signal[:, :1], dtype=np.float64)
    return x, detect_rpeaks(x[:, 0].astype(np.float32), fs)
