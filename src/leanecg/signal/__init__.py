"""Signal processing on numpy arrays: preprocessing, quality, R-peak detection, beats.

Conventions: multi-lead signals are ``(n_samples, n_leads)`` float arrays in mV, single-lead ones
``(n_samples,)``; the sampling rate ``fs`` (Hz) is always explicit. Names are imported lazily.
"""

from __future__ import annotations

from leanecg._lazy import lazy_getattr

_EXPORTS = {
    "detect_rpeaks": "leanecg.signal.rpeaks",
    "StreamingRPeakDetector": "leanecg.signal.rpeaks",
    "RPeakParams": "leanecg.signal.rpeaks",
    "beat_windows": "leanecg.signal.beats",
    "rr_features": "leanecg.signal.beats",
    "RR_FEATURE_NAMES": "leanecg.signal.beats",
    "StreamingRRFeatures": "leanecg.signal.beats",
    "record_robust_z": "leanecg.signal.record_norm",
    "RunningRobustZ": "leanecg.signal.record_norm",
    "StreamingBeatInputs": "leanecg.signal.beat_stream",
    "StreamingPreprocessor": "leanecg.signal.streaming",
    "Pipeline": "leanecg.signal.pipeline",
    "signal_quality": "leanecg.signal.quality",
    "window_quality": "leanecg.signal.quality",
    "QualityReport": "leanecg.signal.quality",
    "QualityThresholds": "leanecg.signal.quality",
    "bandpass": "leanecg.signal.filters",
    "notch": "leanecg.signal.filters",
    "remove_baseline": "leanecg.signal.filters",
    "StreamingFilter": "leanecg.signal.filters",
    "resample_indices": "leanecg.signal.resample",
    "zscore": "leanecg.signal.normalize",
    "minmax": "leanecg.signal.normalize",
    "robust": "leanecg.signal.normalize",
    "interpolate_gaps": "leanecg.signal.gaps",
    "valid_segments": "leanecg.signal.gaps",
    "rr_irregularity": "leanecg.signal.rhythm_gate",
    "gate_sveb": "leanecg.signal.rhythm_gate",
    "StreamingRRIrregularity": "leanecg.signal.rhythm_gate",
    "beat_polarity": "leanecg.signal.polarity",
    "record_polarity": "leanecg.signal.polarity",
    "orient_windows": "leanecg.signal.polarity",
    "RunningPolarity": "leanecg.signal.polarity",
    "STANDARD_12": "leanecg.signal.leads",
    "LEAD_SETS": "leanecg.signal.leads",
    "canonical_lead_name": "leanecg.signal.leads",
    "lead_index": "leanecg.signal.leads",
    "select_leads": "leanecg.signal.leads",
    "derive_limb_leads": "leanecg.signal.leads",
    "LEAD_ALIASES": "leanecg.signal.leads",
    "LeadChoice": "leanecg.signal.leads",
    "choose_leads": "leanecg.signal.leads",
    "fixed_length": "leanecg.signal.windows",
    "sliding_windows": "leanecg.signal.windows",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
