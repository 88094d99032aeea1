"""Signal quality indices (SQIs) per lead, and a documented ``usable`` decision.

:func:`signal_quality` scores a whole signal, :func:`window_quality` every window of a signal (to reject or
flag windows before training or inference). Both work on raw samples in mV (quality is judged before
preprocessing) and score each lead on its own:

``nan_fraction``
    Fraction of non-finite samples (gaps). The other indices are computed after linear interpolation.
``flat_fraction``
    Fraction of samples lying in a stretch of at least ``flat_min_s`` seconds whose peak-to-peak
    amplitude is at most ``flat_tol_mv`` (electrode off, disconnected or zero-filled leads).
``clip_fraction``
    Fraction of samples in runs of at least ``clip_min_s`` seconds that sit at the lead's maximum or
    minimum (within ``clip_tol`` of its range): the amplifier or ADC rails (saturation).
``hf_noise_ratio``
    Mean power spectral density (Welch, 0.5 Hz resolution) in the high-frequency band 40-100 Hz (from
    ``0.8 * Nyquist`` when Nyquist is below 50 Hz) divided by that in the QRS band 5-15 Hz. Densities, not
    band powers, so the value does not depend on the sampling rate. Muscle (EMG) noise and mains
    interference raise it.
``qrs_power_ratio``
    Power in 5-15 Hz over power in 5-40 Hz (pSQI of Li, Clifford et al. 2008): most of an ECG's
    energy above baseline is in the QRS band; broadband EMG noise spreads it to 40 Hz.
``baseline_ratio``
    Power below 0.5 Hz (zero-phase 2nd-order Butterworth low-pass) over total power, both after removing
    the mean: baseline wander from respiration and electrode motion.
``ksqi``
    Kurtosis (Pearson; a Gaussian has 3) of the signal after a 0.5 Hz high-pass (kSQI, Li, Clifford et
    al. 2008). An ECG is a train of sharp QRS complexes on a quiet baseline and is strongly leptokurtic;
    noise mostly is not. Flat leads get 0.

A lead is ``usable`` when every index is within its threshold (:class:`QualityThresholds`, defaults:
NaN <= 10 %, flat <= 10 %, clipped <= 5 %, ``hf_noise_ratio <= 0.15``, ``qrs_power_ratio >= 0.3``,
``baseline_ratio <= 0.9``, ``ksqi >= 3.5``). They were chosen on real data, 10 s windows
(:func:`window_quality`):

==========================================================  ==================
data                                                        windows usable
==========================================================  ==================
MIT-BIH, all 48 records, both leads (17,376 lead-windows)   97.7 %
NSTDB ``bw`` baseline-wander noise record (362)             3.3 %
NSTDB ``ma`` muscle-artefact noise record (362)             2.5 %
==========================================================  ==================

Most rejected MIT-BIH windows are in the paced records 107 and 217, the low-amplitude V1 of 101, and
real noise episodes (105, 200, 207). Baseline wander added to MIT-BIH at 0 dB SNR (variance ratio) leaves
97 % of windows usable (it is removable by a high-pass), muscle noise at -6 dB 75 %. On CinC 2017 (5 s
windows, 3,001 records) 47 % of the records labelled noisy (``~``) have a rejected window against 11 % of
the normal ones. These indices reject absent, flat, saturated and noise-dominated signals; they are not a
fine-grained artefact detector. ``tests/test_quality.py`` re-checks the behaviour on the data; with
``LEANECG_SLOW=1`` it also recomputes the table above.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import ndimage
from scipy import signal as sps

from leanecg.config import non_negative, positive, validate_config
from leanecg.errors import LeanECGError, check_choice, check_number, check_positive
from leanecg.signal.filters import apply_sos, bandpass_sos, check_fs, check_signal, highpass_sos
from leanecg.signal.windows import window_starts

__all__ = ["QualityReport", "QualityThresholds", "WindowQuality", "signal_quality", "window_quality"]

_QRS_BAND = (5.0, 15.0)
_HF_BAND = (40.0, 100.0)
_WIDE_BAND_HZ = 40.0
_BASELINE_HZ = 0.5
_MIN_SECONDS = 1.0
_MIN_FS = 50.0
_METRICS = (
    "nan_fraction",
    "flat_fraction",
    "clip_fraction",
    "hf_noise_ratio",
    "qrs_power_ratio",
    "baseline_ratio",
    "ksqi",
)


@dataclass(frozen=True)
class QualityThresholds:
    """What makes a lead usable (all must hold), and how flat lines and clipping are recognised.

    Attributes:
        max_nan_fraction: largest fraction of missing samples.
        max_flat_fraction: largest fraction of samples in flat stretches.
        max_clip_fraction: largest fraction of samples at the rails.
        max_hf_noise_ratio: largest HF (40-100 Hz) / QRS band (5-15 Hz) PSD ratio.
        max_baseline_ratio: largest fraction of power below 0.5 Hz.
        min_ksqi: smallest kurtosis (Pearson) of the high-passed signal.
        flat_min_s: shortest flat stretch, seconds.
        flat_tol_mv: largest peak-to-peak amplitude of a flat stretch, mV.
        clip_min_s: shortest run at a rail that counts as clipping, seconds (at least 3 samples).
        clip_tol: distance from the lead's extreme that still counts as "at the rail", as a fraction of
            the lead's range (max - min).
    """

    max_nan_fraction: float = non_negative(0.10)
    max_flat_fraction: float = non_negative(0.10)
    max_clip_fraction: float = non_negative(0.05)
    max_hf_noise_ratio: float = non_negative(0.15)
    min_qrs_power_ratio: float = non_negative(0.3)
    max_baseline_ratio: float = non_negative(0.90)
    min_ksqi: float = non_negative(3.5)
    flat_min_s: float = positive(0.5)
    flat_tol_mv: float = non_negative(0.01)
    clip_min_s: float = positive(0.02)
    clip_tol: float = non_negative(0.001)

    def __post_init__(self) -> None:
        validate_config(self)  # the checks declared on the fields (leanecg.config)


def _json_number(v: float) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _problems(metrics: dict[str, np.ndarray], th: QualityThresholds) -> list[list[str]]:
    """Human-readable reasons a lead is not usable (empty list: usable)."""
    n_leads = len(metrics["ksqi"])
    out: list[list[str]] = []
    for j in range(n_leads):
        why: list[str] = []
        nan_f = metrics["nan_fraction"][j]
        if nan_f >= 1.0:
            out.append(["no valid samples"])
            continue
        if nan_f > th.max_nan_fraction:
            why.append(f"missing {nan_f:.0%} > {th.max_nan_fraction:.0%}")
        if metrics["flat_fraction"][j] > th.max_flat_fraction:
            why.append(f"flat {metrics['flat_fraction'][j]:.0%} > {th.max_flat_fraction:.0%}")
        if metrics["clip_fraction"][j] > th.max_clip_fraction:
            why.append(f"clipped {metrics['clip_fraction'][j]:.0%} > {th.max_clip_fraction:.0%}")
        if metrics["hf_noise_ratio"][j] > th.max_hf_noise_ratio:
            why.append(f"HF noise ratio {metrics['hf_noise_ratio'][j]:.3g} > {th.max_hf_noise_ratio:g}")
        if not metrics["qrs_power_ratio"][j] >= th.min_qrs_power_ratio:
            why.append(f"QRS power ratio {metrics['qrs_power_ratio'][j]:.3g} < {th.min_qrs_power_ratio:g}")
        if metrics["baseline_ratio"][j] > th.max_baseline_ratio:
            why.append(
                f"baseline wander ratio {metrics['baseline_ratio'][j]:.3g} > {th.max_baseline_ratio:g}"
            )
        if not metrics["ksqi"][j] >= th.min_ksqi:
            why.append(f"kSQI {metrics['ksqi'][j]:.3g} < {th.min_ksqi:g}")
        out.append(why)
    return out


@dataclass
class QualityReport:
    """Quality of one signal, per lead.

    Attributes:
        fs: sampling rate in Hz.
        n_samples: length of the signal in samples.
        leads: lead names (``"0"``, ``"1"``, ... when none were given).
        nan_fraction, flat_fraction, clip_fraction: float ``(n_leads,)`` fractions of samples (0-1).
        hf_noise_ratio: float ``(n_leads,)``, HF / QRS-band PSD ratio (dimensionless).
        baseline_ratio: float ``(n_leads,)``, fraction of power below 0.5 Hz (0-1).
        ksqi: float ``(n_leads,)``, kurtosis (Pearson) of the high-passed lead.
        usable: bool ``(n_leads,)``.
        problems: per lead, why it is not usable (empty when usable).
        thresholds: the thresholds applied.
    """

    fs: float
    n_samples: int
    leads: list[str]
    nan_fraction: np.ndarray
    flat_fraction: np.ndarray
    clip_fraction: np.ndarray
    hf_noise_ratio: np.ndarray
    qrs_power_ratio: np.ndarray
    baseline_ratio: np.ndarray
    ksqi: np.ndarray
    usable: np.ndarray
    problems: list[list[str]]
    thresholds: QualityThresholds = field(default_factory=QualityThresholds)

    @property
    def all_usable(self) -> bool:
        """Whether every lead is usable."""
        return bool(np.all(self.usable))

    @property
    def usable_leads(self) -> list[str]:
        """Names of the usable leads."""
        return [name for name, ok in zip(self.leads, self.usable, strict=True) if ok]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (arrays as lists; non-finite numbers as ``None``)."""
        out: dict[str, Any] = {
            "fs": float(self.fs),
            "n_samples": int(self.n_samples),
            "leads": list(self.leads),
        }
        for name in _METRICS:
            out[name] = [_json_number(v) for v in getattr(self, name)]
        out["usable"] = [bool(v) for v in self.usable]
        out["problems"] = [list(p) for p in self.problems]
        out["thresholds"] = asdict(self.thresholds)
        return out


@dataclass
class WindowQuality:
    """Quality of every window of a signal.

    Attributes:
        fs: sampling rate in Hz.
        win: window length in samples.
        starts: int64 ``(n_windows,)`` first sample of each window.
        leads: lead names.
        nan_fraction ... ksqi: float ``(n_windows, n_leads)``, as in :class:`QualityReport`.
        usable: bool ``(n_windows, n_leads)``.
        thresholds: the thresholds applied.
    """

    fs: float
    win: int
    starts: np.ndarray
    leads: list[str]
    nan_fraction: np.ndarray
    flat_fraction: np.ndarray
    clip_fraction: np.ndarray
    hf_noise_ratio: np.ndarray
    qrs_power_ratio: np.ndarray
    baseline_ratio: np.ndarray
    ksqi: np.ndarray
    usable: np.ndarray
    thresholds: QualityThresholds = field(default_factory=QualityThresholds)

    def usable_windows(self, require: Literal["all", "any"] = "all") -> np.ndarray:
        """bool ``(n_windows,)``: windows whose leads are all (or any) usable."""
        if require == "all":
            return np.all(self.usable, axis=1)
        check_choice("require", require, ("all", "any"), what="rule")
        return np.any(self.usable, axis=1)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (arrays as nested lists; non-finite numbers as ``None``)."""
        out: dict[str, Any] = {
            "fs": float(self.fs),
            "win": int(self.win),
            "starts": [int(s) for s in self.starts],
            "leads": list(self.leads),
        }
        for name in _METRICS:
            out[name] = [[_json_number(v) for v in row] for row in getattr(self, name)]
        out["usable"] = [[bool(v) for v in row] for row in self.usable]
        out["thresholds"] = asdict(self.thresholds)
        return out


# ---------------------------------------------------------------------------------------------------
# computation
# ---------------------------------------------------------------------------------------------------


@dataclass
class _Prepared:
    raw: np.ndarray  # (n, L) float64, gaps linearly filled (all-missing leads: zeros)
    missing: np.ndarray  # (n, L) bool
    dead: np.ndarray  # (L,) bool, lead has no valid sample
    highpassed: np.ndarray  # (n, L) 0.5 Hz high-pass of raw
    baseline: np.ndarray  # (n, L) 0.5 Hz low-pass of raw minus its mean
    flat: np.ndarray  # (n, L) bool, sample lies in a flat stretch


def _fill(x: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.array(x, dtype=np.float64, copy=True)
    dead = missing.all(axis=0)
    t = np.arange(y.shape[0], dtype=np.float64)
    for j in np.flatnonzero(missing.any(axis=0)):
        if dead[j]:
            y[:, j] = 0.0
        else:
            good = ~missing[:, j]
            y[~good, j] = np.interp(t[~good], t[good], y[good, j])
    return y, dead


def _dilate_forward(starts: np.ndarray, size: int) -> np.ndarray:
    """``out[i] = any(starts[i - size + 1 : i + 1])`` per column: samples covered by a marked window."""
    n = starts.shape[0]
    c = np.cumsum(
        np.vstack([np.zeros((1, starts.shape[1]), dtype=np.int64), starts.astype(np.int64)]), axis=0
    )
    lo = np.maximum(np.arange(n) - size + 1, 0)
    return (c[np.arange(n) + 1] - c[lo]) > 0


def _run_mask(cond: np.ndarray, size: int) -> np.ndarray:
    """Samples lying in a run of at least ``size`` consecutive ``True`` values of ``cond`` (per column)."""
    n, n_cols = cond.shape
    if size > n:
        return np.zeros(cond.shape, dtype=bool)
    counts = np.cumsum(np.vstack([np.zeros((1, n_cols), dtype=np.int64), cond.astype(np.int64)]), axis=0)
    full = (counts[size:] - counts[:-size]) == size  # window [i, i + size) all True, i = 0 .. n - size
    return _dilate_forward(np.vstack([full, np.zeros((size - 1, n_cols), dtype=bool)]), size)


def _flat_mask(raw: np.ndarray, fs: float, th: QualityThresholds) -> np.ndarray:
    """Samples lying in a window of ``flat_min_s`` whose peak-to-peak amplitude is <= ``flat_tol_mv``."""
    size = max(2, round(th.flat_min_s * fs))
    n, n_cols = raw.shape
    if size > n:
        return np.zeros(raw.shape, dtype=bool)
    # max / min over [i, i + size) (origin shifts ndimage's centred window to start at i)
    hi = ndimage.maximum_filter1d(raw, size, axis=0, mode="nearest", origin=-(size // 2))
    lo = ndimage.minimum_filter1d(raw, size, axis=0, mode="nearest", origin=-(size // 2))
    quiet = (hi - lo)[: n - size + 1] <= th.flat_tol_mv
    return _dilate_forward(np.vstack([quiet, np.zeros((size - 1, n_cols), dtype=bool)]), size)


def _prepare(x: np.ndarray, fs: float, th: QualityThresholds, source: str) -> _Prepared:
    if fs < _MIN_FS:
        raise LeanECGError(
            "fs", f"signal quality needs fs >= {_MIN_FS:g} Hz (QRS and HF bands), got {fs:g} Hz"
        )
    x2, _ = check_signal(x, source, allow_nan=True)
    if x2.shape[0] < _MIN_SECONDS * fs:
        raise LeanECGError(
            source, f"signal quality needs at least {_MIN_SECONDS:g} s; got {x2.shape[0] / fs:.3g} s"
        )
    missing = ~np.isfinite(np.asarray(x2, dtype=np.float64))
    raw, dead = _fill(x2, missing)
    highpassed = apply_sos(raw, highpass_sos(fs, _BASELINE_HZ, 2), zero_phase=True, source=source)
    centred = raw - raw.mean(axis=0, keepdims=True)
    baseline = apply_sos(centred, bandpass_sos(fs, None, _BASELINE_HZ, 2), zero_phase=True, source=source)
    return _Prepared(raw, missing, dead, highpassed, baseline, _flat_mask(raw, fs, th))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.where(num <= 0, 0.0, num / np.maximum(den, np.finfo(np.float64).tiny))


def _spectral_ratios(seg: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """``(hf_noise_ratio, qrs_power_ratio)`` per lead from a Welch PSD (0.5 Hz resolution)."""
    n = seg.shape[0]
    nyq = fs / 2.0
    f, p = sps.welch(seg, fs=fs, nperseg=min(n, round(2 * fs)), axis=0)
    hf = (f >= min(_HF_BAND[0], 0.8 * nyq)) & (f <= min(_HF_BAND[1], nyq))
    qrs = (f >= _QRS_BAND[0]) & (f <= _QRS_BAND[1])
    wide = (f >= _QRS_BAND[0]) & (f <= min(_WIDE_BAND_HZ, nyq))
    hf_ratio = _ratio(p[hf].mean(axis=0), p[qrs].mean(axis=0))
    qrs_ratio = _ratio(p[qrs].sum(axis=0), p[wide].sum(axis=0))
    return hf_ratio, qrs_ratio


def _segment_metrics(
    prep: _Prepared, a: int, b: int, fs: float, th: QualityThresholds
) -> dict[str, np.ndarray]:
    raw = prep.raw[a:b]
    nan_fraction = prep.missing[a:b].mean(axis=0)
    flat_fraction = prep.flat[a:b].mean(axis=0)

    # clipping: runs at the segment's own extremes
    hi, lo = raw.max(axis=0), raw.min(axis=0)
    span = hi - lo
    tol = th.clip_tol * span
    at_rail = ((raw >= hi - tol) | (raw <= lo + tol)) & (span > 0)
    clip_fraction = _run_mask(at_rail, max(3, round(th.clip_min_s * fs))).mean(axis=0)

    hf_noise_ratio, qrs_power_ratio = _spectral_ratios(raw, fs)

    centred = raw - raw.mean(axis=0, keepdims=True)
    base = prep.baseline[a:b]
    base = base - base.mean(axis=0, keepdims=True)
    total = np.mean(centred**2, axis=0)
    baseline_ratio = np.where(total > 0, np.mean(base**2, axis=0) / np.where(total > 0, total, 1.0), 0.0)
    baseline_ratio = np.minimum(baseline_ratio, 1.0)

    hp = prep.highpassed[a:b]
    hp = hp - hp.mean(axis=0, keepdims=True)
    hp2 = hp * hp  # hp2 * hp2, not hp**4: NumPy's general pow is ~100x slower than a multiplication
    m2 = np.mean(hp2, axis=0)
    m4 = np.mean(hp2 * hp2, axis=0)
    quiet = (span <= th.flat_tol_mv) | (m2 <= 1e-12)
    ksqi = np.where(quiet, 0.0, m4 / np.where(quiet, 1.0, m2) ** 2)

    metrics = {
        "nan_fraction": nan_fraction,
        "flat_fraction": flat_fraction,
        "clip_fraction": clip_fraction,
        "hf_noise_ratio": hf_noise_ratio,
        "qrs_power_ratio": qrs_power_ratio,
        "baseline_ratio": baseline_ratio,
        "ksqi": ksqi,
    }
    dead = prep.dead
    if dead.any():
        for key in ("hf_noise_ratio", "qrs_power_ratio", "baseline_ratio", "ksqi"):
            metrics[key] = np.where(dead, np.nan, metrics[key])
        metrics["flat_fraction"] = np.where(dead, np.nan, metrics["flat_fraction"])
        metrics["clip_fraction"] = np.where(dead, np.nan, metrics["clip_fraction"])
    return metrics


def _lead_names(leads: Sequence[str] | None, n_leads: int, source: str) -> list[str]:
    if leads is None:
        return [str(j) for j in range(n_leads)]
    if isinstance(leads, str) or len(leads) != n_leads:
        raise LeanECGError(source, f"lead names must be a list of {n_leads} names, got {leads!r}")
    return [str(name) for name in leads]


def signal_quality(
    x: np.ndarray,
    fs: float,
    *,
    leads: Sequence[str] | None = None,
    thresholds: QualityThresholds | None = None,
    source: str = "signal",
) -> QualityReport:
    """Score the quality of each lead of a raw signal (see the module docstring for the indices).

    Args:
        x: ``(n_samples, n_leads)`` or ``(n_samples,)`` raw signal in mV, at least 1 s long; NaN marks
            missing samples.
        fs: sampling rate in Hz (at least 30 Hz, so that the QRS band exists).
        leads: lead names for the report (default ``"0"``, ``"1"``, ...).
        thresholds: what counts as usable (default :class:`QualityThresholds`).
        source: the file or argument named in errors.

    Returns:
        A :class:`QualityReport`.
    """
    fs = check_fs(fs)
    th = thresholds if thresholds is not None else QualityThresholds()
    prep = _prepare(x, fs, th, source)
    n, n_leads = prep.raw.shape
    names = _lead_names(leads, n_leads, source)
    metrics = _segment_metrics(prep, 0, n, fs, th)
    problems = _problems(metrics, th)
    usable = np.array([not p for p in problems], dtype=bool)
    return QualityReport(
        fs=fs, n_samples=n, leads=names, usable=usable, problems=problems, thresholds=th, **metrics
    )


def window_quality(
    x: np.ndarray,
    fs: float,
    win_s: float = 10.0,
    hop_s: float | None = None,
    *,
    leads: Sequence[str] | None = None,
    thresholds: QualityThresholds | None = None,
    source: str = "signal",
) -> WindowQuality:
    """Score the quality of every window of a raw signal.

    Filtering is done once over the whole signal (no edge effects per window); each window is then
    scored like :func:`signal_quality`. Windows start every ``hop_s`` seconds; when samples would be
    left over at the end, one more window ending at the last sample is added (``tail="end"`` of
    :func:`leanecg.signal.windows.window_starts`), so every sample is scored. A signal shorter than one
    window is scored as one window.

    Args:
        x: ``(n_samples, n_leads)`` or ``(n_samples,)`` raw signal in mV (NaN marks missing samples).
        fs: sampling rate in Hz.
        win_s: window length in seconds (at least 1 s).
        hop_s: distance between window starts in seconds (default ``win_s``: no overlap).
        leads: lead names (default ``"0"``, ``"1"``, ...).
        thresholds: what counts as usable (default :class:`QualityThresholds`).
        source: the file or argument named in errors.

    Returns:
        A :class:`WindowQuality` with ``(n_windows, n_leads)`` arrays.
    """
    fs = check_fs(fs)
    th = thresholds if thresholds is not None else QualityThresholds()
    check_number("win_s", win_s, low=_MIN_SECONDS, unit="seconds")
    if hop_s is not None:
        check_positive("hop_s", hop_s, unit="seconds")
    prep = _prepare(x, fs, th, source)
    n, n_leads = prep.raw.shape
    names = _lead_names(leads, n_leads, source)
    win = min(n, max(1, round(win_s * fs)))
    hop = max(1, round((hop_s if hop_s is not None else win_s) * fs))
    starts = window_starts(n, win, hop, tail="end")
    rows = [_segment_metrics(prep, int(s), int(s) + win, fs, th) for s in starts]
    metrics = {key: np.stack([r[key] for r in rows]) for key in _METRICS}
    usable = np.array([[not p for p in _problems(r, th)] for r in rows], dtype=bool).reshape(
        len(rows), n_leads
    )
    return WindowQuality(fs=fs, win=win, starts=starts, leads=names, usable=usable, thresholds=th, **metrics)
