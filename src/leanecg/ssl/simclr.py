"""SimCLR views for ECG: two independently augmented copies of one random crop of each record.

The augmentations come from :mod:`leanecg.signal.augment` (amplitude scaling, Gaussian noise, baseline
wander, time masking, time shift), written for LeanECG's ``(n_samples, n_leads)`` convention; the view
generator works on the trainer's channel-first records ``(n_leads, n_samples)`` and returns a batch of
views ``(B, 2, n_leads, segment_samples)`` float32 in the records' units (mV or z-scored).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from leanecg.errors import LeanECGError
from leanecg.signal.augment import AmplitudeScale, BaselineWander, Compose, GaussianNoise, TimeMask, TimeShift
from leanecg.train.datasets import ArraySplit, gather_windows, random_crop_starts

AugmentFn = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


def default_ecg_augment() -> Compose:
    """SimCLR's default ECG augmentation chain (each applied with its own probability).

    Gain 0.5-2 (log-uniform), white noise at 10-30 dB SNR (p 0.8), baseline wander up to 0.5 units
    (p 0.5), up to two masked spans of up to 0.5 s (p 0.5), a time shift of up to 0.5 s (p 0.5).
    """
    return Compose(
        [
            AmplitudeScale(0.5, 2.0),
            GaussianNoise(snr_db=(10.0, 30.0), p=0.8),
            BaselineWander(amplitude_mv=0.5, p=0.5),
            TimeMask(n_masks=2, max_width_s=0.5, p=0.5),
            TimeShift(max_shift_s=0.5, p=0.5),
        ]
    )


def check_segment(segment_samples: Any, source: str = "segment_samples") -> int:
    """``segment_samples`` as a positive int, else :class:`LeanECGError`."""
    if isinstance(segment_samples, bool) or not isinstance(segment_samples, int | np.integer):
        raise LeanECGError(source, f"must be a positive number of samples, got {segment_samples!r}")
    if segment_samples < 8:
        raise LeanECGError(source, f"must be at least 8 samples, got {segment_samples}")
    return int(segment_samples)


class SimCLRViews:
    """Two augmented views of one random ``segment_samples`` crop per record.

    Args:
        segment_samples: crop length in samples (records shorter than that are zero-padded on the right).
        fs: sampling rate of the records in Hz (the augmentations' time parameters need it).
        augment: ``aug(x, fs, rng)`` on ``(n_samples, n_leads)`` arrays; default :func:`default_ecg_augment`.

    Calling it with ``(split, idx, rng)`` returns float32 ``(len(idx), 2, n_leads, segment_samples)``.
    """

    n_views = 2

    def __init__(self, segment_samples: int, fs: float, augment: AugmentFn | None = None) -> None:
        self.segment_samples = check_segment(segment_samples)
        if isinstance(fs, bool) or not isinstance(fs, int | float) or not fs > 0:
            raise LeanECGError("fs", f"must be a positive sampling rate in Hz, got {fs!r}")
        self.fs = float(fs)
        self.augment = augment if augment is not None else default_ecg_augment()

    def input_leads(self, n_leads: int) -> int:
        """Leads of the encoder input for records with ``n_leads`` leads (all of them)."""
        return int(n_leads)

    def __call__(self, split: ArraySplit, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        starts = random_crop_starts(split.lengths[idx], self.segment_samples, rng)
        crops = gather_windows(split.X, idx, starts, self.segment_samples)  # (B, L, T)
        out = np.empty((len(idx), 2, *crops.shape[1:]), dtype=np.float32)
        for i, crop in enumerate(crops):
            x = np.ascontiguousarray(crop.T)
            for v in range(2):
                out[i, v] = np.asarray(self.augment(x, self.fs, rng), dtype=np.float32).T
        return out
