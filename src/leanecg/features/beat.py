"""Beat-level feature matrix for classic beat classifiers (e.g. AAMI N/S/V/F on MIT-BIH).

One row per R peak, aligned with the input peaks: the RR-interval features of
:func:`leanecg.signal.beats.rr_features` (de Chazal et al. 2004; RR values in seconds, ratios
dimensionless), the morphology features of :func:`leanecg.features.morphology.beat_morphology` and the
wavelet coefficients of :func:`leanecg.features.morphology.beat_wavelet_features`. Beats too close to
either end of the signal for a morphology or wavelet window have NaN there (the RR columns are always
defined once there are two beats).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from leanecg.features.morphology import (
    AFTER_S,
    BEFORE_S,
    MORPHOLOGY_FEATURE_NAMES,
    WAVELET_FEATURE_NAMES,
    band_passed,
    beat_morphology,
    beat_wavelet_features,
)
from leanecg.signal.beats import RR_FEATURE_NAMES, rr_features
from leanecg.signal.checks import check_fs

__all__ = ["BEAT_FEATURE_NAMES", "beat_feature_matrix"]

_RR_UNITS = {
    "pre_rr": "pre_rr_s",
    "post_rr": "post_rr_s",
    "local_rr": "local_rr_s",
    "average_rr": "average_rr_s",
}

#: Column names of :func:`beat_feature_matrix`, in order.
BEAT_FEATURE_NAMES: tuple[str, ...] = (
    *(_RR_UNITS.get(n, n) for n in RR_FEATURE_NAMES),
    *MORPHOLOGY_FEATURE_NAMES,
    *WAVELET_FEATURE_NAMES,
)


def beat_feature_matrix(
    x: np.ndarray,
    fs: float,
    peaks: np.ndarray | Sequence[int],
    *,
    local_window: int = 10,
    causal_rr: bool = False,
) -> tuple[np.ndarray, list[str]]:
    """RR + morphology + wavelet features of every beat.

    Args:
        x: single-lead signal ``(n_samples,)`` (or ``(n_samples, 1)``) in mV, finite.
        fs: sampling rate in Hz.
        peaks: strictly increasing R-peak (or beat annotation) sample indices ``(n_beats,)``.
        local_window, causal_rr: passed to :func:`~leanecg.signal.beats.rr_features` (``causal_rr=True``
            uses a running-mean average RR, as a streaming deployment would).

    Returns:
        ``(X, names)``: float64 ``(n_beats, len(BEAT_FEATURE_NAMES))`` and the column names.

    Raises:
        LeanECGError: bad signal, ``fs`` or peaks (not strictly increasing, outside the signal).
    """
    fs_f = check_fs(fs)
    n_samples = np.asarray(x).shape[0] if np.ndim(x) else 0
    # filter once for both feature groups, unless no beat window can fit (then neither filters)
    bp = band_passed(x, fs_f) if n_samples >= round((BEFORE_S + AFTER_S) * fs_f) else None
    rr = rr_features(peaks, fs_f, local_window, causal=causal_rr)
    morph = beat_morphology(x, fs_f, peaks, filtered=bp)
    wav = beat_wavelet_features(x, fs_f, peaks, filtered=bp)
    return np.concatenate([rr, morph, wav], axis=1), list(BEAT_FEATURE_NAMES)
