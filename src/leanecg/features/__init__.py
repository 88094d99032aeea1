"""Handcrafted ECG features for classic models: HRV, spectral, statistics, morphology, wavelets.

Record level (one row per single-lead record): :func:`record_features`, :func:`record_feature_matrix`
(cached). Beat level (one row per R peak): :func:`beat_feature_matrix`. Names are imported lazily.
"""

from __future__ import annotations

from leanecg._lazy import lazy_getattr

_EXPORTS = {
    "record_features": "leanecg.features.record",
    "record_feature_matrix": "leanecg.features.record",
    "record_feature_names": "leanecg.features.record",
    "FEATURE_VERSION": "leanecg.features.record",
    "beat_feature_matrix": "leanecg.features.beat",
    "BEAT_FEATURE_NAMES": "leanecg.features.beat",
    "hrv_features": "leanecg.features.hrv",
    "HRV_FEATURE_NAMES": "leanecg.features.hrv",
    "sample_entropy": "leanecg.features.hrv",
    "approximate_entropy": "leanecg.features.hrv",
    "coefficient_of_sample_entropy": "leanecg.features.hrv",
    "lomb_scargle_psd": "leanecg.features.hrv",
    "spectral_features": "leanecg.features.spectral",
    "SPECTRAL_FEATURE_NAMES": "leanecg.features.spectral",
    "statistics_features": "leanecg.features.statistics",
    "STATISTICS_FEATURE_NAMES": "leanecg.features.statistics",
    "beat_morphology": "leanecg.features.morphology",
    "beat_wavelet_features": "leanecg.features.morphology",
    "MORPHOLOGY_FEATURE_NAMES": "leanecg.features.morphology",
    "WAVELET_FEATURE_NAMES": "leanecg.features.morphology",
    "dwt": "leanecg.features.morphology",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
