"""Synthetic ECG with known beat positions and labels.

Used where no real recording may be shipped (``leanecg quickstart`` on a fresh install without data) and
by tests that need exact ground truth. Each beat is a sum of Gaussian P, Q, R, S and T waves (the
McSharry et al. 2003 ECGSYN morphology, evaluated directly in time rather than by integrating the ODE),
placed on an RR series with respiratory sinus arrhythmia. Atrial fibrillation replaces P waves by
fibrillatory f-waves and draws irregular RR intervals; premature ventricular contractions are early, wide
beats without a P wave, followed by a compensatory pause.

This is an illustration and a test signal, never a substitute for real data in a benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from leanecg.errors import check_choice, check_positive

Rhythm = Literal["sinus", "af", "pvc"]

# (offset from R in s, width sigma in s, amplitude in mV) for lead II-like morphology
_SINUS_WAVES = (
    (-0.20, 0.025, 0.15),  # P
    (-0.035, 0.010, -0.12),  # Q
    (0.0, 0.011, 1.25),  # R
    (0.035, 0.010, -0.30),  # S
)
_PVC_WAVES = ((-0.01, 0.030, -0.6), (0.04, 0.035, 1.1))  # wide, bizarre QRS
_T_WAVE = (0.30, 0.055, 0.30)  # offset scaled by sqrt(RR) (Bazett-like)


@dataclass
class SyntheticECG:
    """A synthetic recording.

    Attributes:
        signal: float32 ``(n_samples, n_leads)`` in mV.
        fs: sampling rate in Hz.
        r_peaks: int64 ``(n_beats,)`` sample index of each R peak (QRS centre for PVCs).
        beat_labels: ``n_beats`` AAMI classes (``"N"`` or ``"V"``).
        rhythm: the rhythm that generated it.
    """

    signal: np.ndarray
    fs: float
    r_peaks: np.ndarray
    beat_labels: list[str]
    rhythm: str


def _rr_series(duration_s: float, hr_bpm: float, rhythm: Rhythm, rng: np.random.Generator) -> np.ndarray:
    mean_rr = 60.0 / hr_bpm
    n = int(duration_s / mean_rr * 1.5) + 4
    if rhythm == "af":
        # irregularly irregular: a broad, skewed RR distribution, no respiratory modulation
        rr = rng.gamma(shape=8.0, scale=mean_rr / 8.0, size=n).clip(0.3, 2.0)
    else:
        t = np.cumsum(np.full(n, mean_rr))
        rsa = 0.04 * mean_rr * np.sin(2 * np.pi * 0.25 * t)  # respiratory sinus arrhythmia
        rr = mean_rr + rsa + rng.normal(0, 0.01 * mean_rr, n)
    return rr


def synthetic_ecg(
    duration_s: float = 30.0,
    fs: float = 360.0,
    heart_rate_bpm: float = 70.0,
    rhythm: Rhythm = "sinus",
    pvc_fraction: float = 0.1,
    noise_mv: float = 0.02,
    baseline_mv: float = 0.1,
    n_leads: int = 1,
    seed: int = 0,
) -> SyntheticECG:
    """Generate a synthetic ECG with ground-truth R peaks.

    Args:
        duration_s: length in seconds.
        fs: sampling rate in Hz.
        heart_rate_bpm: mean heart rate in beats per minute.
        rhythm: ``"sinus"``, ``"af"`` (atrial fibrillation) or ``"pvc"`` (sinus with premature
            ventricular contractions, a fraction ``pvc_fraction`` of beats).
        noise_mv: standard deviation of additive white noise in mV.
        baseline_mv: amplitude of a 0.15-0.3 Hz baseline wander in mV.
        n_leads: number of leads; extra leads are scaled, partly inverted projections of lead 1.
        seed: random seed (the output is a pure function of the arguments).
    """
    check_positive("fs", fs, unit="Hz")
    check_positive("duration_s", duration_s, unit="seconds")
    check_choice("rhythm", rhythm, ("sinus", "af", "pvc"))
    rng = np.random.default_rng(seed)
    n = round(duration_s * fs)
    t = np.arange(n) / fs
    rr = _rr_series(duration_s, heart_rate_bpm, rhythm, rng)
    is_pvc = np.zeros(len(rr), dtype=bool)
    if rhythm == "pvc":
        is_pvc[1:] = rng.random(len(rr) - 1) < pvc_fraction
        is_pvc[1:] &= ~is_pvc[:-1]  # no couplets
        rr = rr.copy()
        rr[np.flatnonzero(is_pvc) - 1] *= 0.65  # early beat
        rr[is_pvc] *= 1.35  # compensatory pause
    beat_t = 0.4 + np.concatenate([[0.0], np.cumsum(rr[:-1])])
    keep = beat_t < duration_s - 0.4
    beat_t, rr, is_pvc = beat_t[keep], rr[keep], is_pvc[keep]

    x = np.zeros(n)
    for bt, r, pvc in zip(beat_t, rr, is_pvc, strict=True):
        waves = list(_PVC_WAVES if pvc else _SINUS_WAVES)
        if rhythm == "af" and not pvc:
            waves = waves[1:]  # no P wave in AF
        t_off, t_sig, t_amp = _T_WAVE
        waves.append((t_off * np.sqrt(r), t_sig, -1.3 * t_amp if pvc else t_amp))
        lo, hi = np.searchsorted(t, [bt - 0.45, bt + 0.75])
        tt = t[lo:hi] - bt
        for off, sig, amp in waves:
            x[lo:hi] += amp * np.exp(-0.5 * ((tt - off) / sig) ** 2)
    if rhythm == "af":
        f = rng.uniform(5.0, 8.0)
        x += 0.05 * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) * (1 + 0.3 * np.sin(0.7 * t))
    x += baseline_mv * np.sin(2 * np.pi * rng.uniform(0.15, 0.3) * t + rng.uniform(0, 2 * np.pi))
    x += rng.normal(0.0, noise_mv, n)

    gains = np.array([1.0, 0.6, -0.8, 0.4, 1.3, -0.5, 0.9, 0.7, -0.3, 1.1, 0.5, 0.8])
    cols = [x * gains[i % len(gains)] + rng.normal(0.0, noise_mv, n) * (i > 0) for i in range(n_leads)]
    signal = np.stack(cols, axis=1).astype(np.float32)
    if rhythm == "pvc":
        # the QRS centre of the wide PVC complex is its dominant positive wave
        peaks_t = beat_t + np.where(is_pvc, _PVC_WAVES[1][0], 0.0)
    else:
        peaks_t = beat_t
    r_peaks = np.round(peaks_t * fs).astype(np.int64)
    labels = ["V" if p else "N" for p in is_pvc]
    return SyntheticECG(signal=signal, fs=float(fs), r_peaks=r_peaks, beat_labels=labels, rhythm=rhythm)
