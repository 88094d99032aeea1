"""Spectral features of an ECG signal from a Welch power spectral density.

The PSD is estimated with Welch's method (Hann window, 4 s segments with 50 % overlap, or the whole
signal when shorter; each segment mean-removed), in mV²/Hz. Features (column order of
:data:`SPECTRAL_FEATURE_NAMES`):

* ``psd_<band>_mv2``: absolute power in each band of :data:`SPECTRAL_BANDS_HZ`, mV²
  (``0p5_4hz``: the QRS-T fundamental and heart-rate harmonics; ``4_8hz``: atrial f-waves in AF;
  ``8_15hz`` and ``15_40hz``: QRS energy; ``40_100hz``: muscle noise and other artefacts);
* ``psd_<band>_rel``: the same divided by the total power over 0.5-100 Hz;
* ``psd_total_mv2``: total power over 0.5-100 Hz;
* ``spectral_entropy``: Shannon entropy of the PSD over 0.5-100 Hz normalised to [0, 1] by the log of
  the number of frequency bins (so the value does not depend on ``fs`` or the segment length);
* ``dominant_freq_hz``: frequency of the PSD maximum over 0.5-100 Hz;
* ``spectral_centroid_hz`` and ``spectral_edge95_hz`` (frequency below which 95 % of the 0.5-100 Hz
  power lies).

Bands are clipped at the Nyquist frequency (``fs / 2``); a band that lies entirely above it is NaN
(``40_100hz`` is 40-50 Hz for PTB-XL at 100 Hz and NaN at ``fs <= 80`` Hz). Signals
shorter than :data:`MIN_DURATION_S` and flat signals (zero power) give NaN, never an exception.
"""

from __future__ import annotations

import math

import numpy as np

from leanecg.errors import LeanECGError
from leanecg.signal.checks import check_fs
from leanecg.signal.filters import check_signal

__all__ = [
    "MIN_DURATION_S",
    "SPECTRAL_BANDS_HZ",
    "SPECTRAL_FEATURE_NAMES",
    "hann_window",
    "spectral_features",
    "welch_periodogram",
    "welch_psd",
]

#: ``(name, low Hz, high Hz)``; powers integrate ``low <= f < high``.
SPECTRAL_BANDS_HZ: tuple[tuple[str, float, float], ...] = (
    ("0p5_4hz", 0.5, 4.0),
    ("4_8hz", 4.0, 8.0),
    ("8_15hz", 8.0, 15.0),
    ("15_40hz", 15.0, 40.0),
    ("40_100hz", 40.0, 100.0),
)
ANALYSIS_BAND_HZ = (0.5, 100.0)
SEGMENT_S = 4.0
#: Signals shorter than this (seconds) have no meaningful 0.5 Hz resolution: all features NaN.
MIN_DURATION_S = 2.0

SPECTRAL_FEATURE_NAMES: tuple[str, ...] = (
    *(f"psd_{b}_mv2" for b, _, _ in SPECTRAL_BANDS_HZ),
    *(f"psd_{b}_rel" for b, _, _ in SPECTRAL_BANDS_HZ),
    "psd_total_mv2",
    "spectral_entropy",
    "dominant_freq_hz",
    "spectral_centroid_hz",
    "spectral_edge95_hz",
)


def welch_psd(x: np.ndarray, fs: float, segment_s: float = SEGMENT_S) -> tuple[np.ndarray, np.ndarray]:
    """One-sided Welch PSD of a single-lead signal.

    Args:
        x: signal ``(n_samples,)`` in mV (finite).
        fs: sampling rate in Hz.
        segment_s: Welch segment length in s (the whole signal when shorter).

    Returns:
        ``(freqs, psd)``: Hz and mV²/Hz, both float64 ``(n_freqs,)``.
    """
    fs_f = check_fs(fs)
    x2, _ = check_signal(x, "signal", min_samples=2)
    sig = np.asarray(x2[:, 0], dtype=np.float64)
    nperseg = int(min(sig.size, max(8, round(segment_s * fs_f))))
    return welch_periodogram(sig, fs_f, nperseg)


def hann_window(n: int) -> np.ndarray:
    """The periodic Hann window of ``n`` samples, float64: ``scipy.signal.get_window("hann", n)``, computed as
    scipy computes it (bit for bit) without importing ``scipy.signal`` (about 0.5 s of start-up)."""
    if n <= 1:
        return np.ones(n)
    fac = np.linspace(-np.pi, np.pi, n + 1, dtype=np.float64)
    w = np.zeros(n + 1, dtype=np.float64)
    for k, a in enumerate((0.5, 1.0 - 0.5)):
        w += a * np.cos(k * fac)
    return w[:-1]


def welch_periodogram(
    x: np.ndarray, fs: float, nperseg: int, *, density: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Welch's averaged periodogram, all segments in one batch: Hann window (periodic), half overlap, each
    segment's mean removed, the segments' periodograms averaged.

    ``scipy.signal.welch(x, fs, "hann", nperseg, detrend="constant", scaling="density")`` computes the same
    (to ~1e-15 relative: the order of the scaling differs), segment by segment, at several times the cost.

    Args:
        x: signal ``(n_samples,)``, float64, ``n_samples >= nperseg``.
        fs: sampling rate in Hz.
        nperseg: segment length in samples (at least 2).
        density: one-sided PSD in units²/Hz (scipy's ``scaling="density"``); ``False``: the averaged
            ``|FFT|²`` of the windowed segments without scaling or one-sided doubling (for ratios of band
            powers).

    Returns:
        ``(freqs, psd)``: Hz and the PSD, float64 ``(nperseg // 2 + 1,)``.
    """
    step = nperseg - nperseg // 2
    starts = np.arange(0, x.size - nperseg + 1, step)
    segs = x[starts[:, None] + np.arange(nperseg)[None, :]]
    segs = segs - segs.mean(axis=1, keepdims=True)
    window = hann_window(nperseg)
    spec = np.fft.rfft(segs * window, axis=1)
    psd = (spec.real * spec.real + spec.imag * spec.imag).mean(axis=0)
    if density:
        psd = psd / (fs * float(window @ window))
        psd[1 : -1 if nperseg % 2 == 0 else None] *= 2.0  # one-sided: DC and Nyquist once
    return np.fft.rfftfreq(nperseg, 1.0 / fs), psd


def spectral_features(x: np.ndarray, fs: float) -> dict[str, float]:
    """Welch band powers, spectral entropy and characteristic frequencies (see the module docstring).

    Args:
        x: single-lead signal ``(n_samples,)`` in mV.
        fs: sampling rate in Hz.

    Returns:
        ``{name: value}`` keyed and ordered as :data:`SPECTRAL_FEATURE_NAMES`.

    Raises:
        LeanECGError: ``x`` not a 1-D finite numeric array (or ``(n, 1)``); bad ``fs``.
    """
    fs_f = check_fs(fs)
    x2, _ = check_signal(x, "signal", min_samples=0)
    if x2.shape[1] != 1:
        raise LeanECGError(
            "signal", f"spectral features need one lead, got shape {np.shape(x)}; select a lead"
        )
    out = dict.fromkeys(SPECTRAL_FEATURE_NAMES, math.nan)
    if x2.shape[0] < MIN_DURATION_S * fs_f:
        return out
    freqs, psd = welch_psd(x2[:, 0], fs_f)
    df = float(freqs[1] - freqs[0])
    lo, hi = ANALYSIS_BAND_HZ
    in_range = (freqs >= lo) & (freqs < hi)
    total = float(psd[in_range].sum() * df)
    out["psd_total_mv2"] = total
    nyquist = fs_f / 2.0
    for name, b_lo, b_hi in SPECTRAL_BANDS_HZ:
        if b_lo >= nyquist:
            continue
        power = float(psd[(freqs >= b_lo) & (freqs < b_hi)].sum() * df)
        out[f"psd_{name}_mv2"] = power
        out[f"psd_{name}_rel"] = power / total if total > 0 else math.nan
    if not total > 0 or np.count_nonzero(in_range) < 2:
        return out
    f, p = freqs[in_range], psd[in_range]
    prob = p / p.sum()
    nz = prob[prob > 0]
    out["spectral_entropy"] = float(-(nz * np.log(nz)).sum() / math.log(prob.size))
    out["dominant_freq_hz"] = float(f[np.argmax(p)])
    out["spectral_centroid_hz"] = float((f * prob).sum())
    out["spectral_edge95_hz"] = float(f[min(np.searchsorted(np.cumsum(prob), 0.95), f.size - 1)])
    return out
