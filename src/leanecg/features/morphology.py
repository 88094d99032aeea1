"""Beat morphology and discrete-wavelet features, vectorised over all beats of a record.

Per-beat features (columns :data:`MORPHOLOGY_FEATURE_NAMES`), measured on the 0.5-40 Hz band-passed
signal (:func:`leanecg.signal.filters.bandpass`, zero-phase) around each R peak:

* ``qrs_width_ms``: QRS duration estimate. The slope envelope (``|dx/dt|`` smoothed over 40 ms) is
  found at its maximum within 50 ms of the R peak; QRS onset and offset are where the envelope falls
  below :data:`QRS_THRESHOLD` (10 %) of that maximum, searching at most 200 ms either side. The
  smoothing and threshold were chosen on MIT-BIH lead MLII so that normal beats of records without
  bundle-branch block measure about 75-100 ms (median over beats per record); there, premature
  ventricular beats measure a median of about 190 ms against 110 ms for all AAMI-N beats (which include
  bundle-branch-block beats), a beat-level N-vs-V AUC of 0.92 on 18 records. It is a feature for
  classifiers, not a validated clinical measurement.
* ``r_amp_mv``: signal at the R peak minus the isoelectric level (mean of the 40 ms before QRS onset);
  signed, so a detector that marks an inverted QRS at its trough gives a negative value.
* ``q_amp_mv`` / ``s_amp_mv``: minimum between QRS onset and the R peak / the R peak and QRS offset,
  relative to the isoelectric level (<= 0 when a Q / S wave is present).
* ``qrs_area_mv_ms`` / ``qrs_abs_area_mv_ms``: signed / absolute area from onset to offset, mV·ms.
* ``t_amp_mv``: signed extreme of the T window, from QRS offset + 40 ms to
  ``min(450 ms, 0.7 * next RR)`` after the R peak.
* ``p_amp_mv`` / ``p_energy_mv2``: signed extreme / variance in the P window, from
  ``min(280 ms, 0.45 * previous RR)`` before the R peak to 10 ms before QRS onset. In atrial
  fibrillation there is no P wave; f-waves show as low-amplitude, irregular activity.
* ``p_template_corr``: correlation of the beat's P window with the same window of the record's median
  beat: high and stable when every beat has the same P wave, low in AF.
* ``template_corr``: correlation of the beat (100 ms before to ``min(400 ms, 0.7 * next RR)`` after R)
  with the record's median beat: low for ectopic or noisy beats.

Beats whose analysis window (:data:`BEFORE_S` before to :data:`AFTER_S` after the R peak) runs past
either end of the signal get NaN rows, as do template correlations when fewer than
:data:`MIN_TEMPLATE_BEATS` beats are complete. Rows stay aligned with the input peaks.

Wavelet features (:func:`beat_wavelet_features`): each beat window from 250 ms before to 450 ms after
the R peak, linearly resampled to :data:`WAVELET_SAMPLES` samples (so the columns do not depend on
``fs``), minus its median, decomposed by a 4-level Daubechies-4 DWT (:func:`dwt`); the level-4
approximation and the level-4 and level-3 details are kept (about 0-6, 6-11 and 11-23 Hz).
PyWavelets is not a dependency: :func:`dwt` is a small numpy implementation (periodised, orthonormal).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from leanecg.errors import LeanECGError
from leanecg.signal.beats import _check_peaks, beat_windows, rr_features
from leanecg.signal.checks import check_fs
from leanecg.signal.filters import bandpass, check_signal
from leanecg.signal.smoothing import running_mean

__all__ = [
    "AFTER_S",
    "BEFORE_S",
    "MORPHOLOGY_FEATURE_NAMES",
    "WAVELETS",
    "WAVELET_FEATURE_NAMES",
    "band_passed",
    "beat_morphology",
    "beat_wavelet_features",
    "dwt",
]

BAND_HZ = (0.5, 40.0)
BEFORE_S = 0.35
AFTER_S = 0.55
MIN_TEMPLATE_BEATS = 3
QRS_THRESHOLD = 0.1
_SMOOTH_S = 0.04
_CORE_S = 0.05
_SEARCH_S = 0.20
_ISO_S = 0.04
_CHUNK_BEATS = 2048  # beats processed at once: bounds memory on day-long records
_TEMPLATE_BEATS = 1000  # at most this many beats (evenly spaced) form the median template

MORPHOLOGY_FEATURE_NAMES: tuple[str, ...] = (
    "qrs_width_ms",
    "r_amp_mv",
    "q_amp_mv",
    "s_amp_mv",
    "qrs_area_mv_ms",
    "qrs_abs_area_mv_ms",
    "t_amp_mv",
    "p_amp_mv",
    "p_energy_mv2",
    "p_template_corr",
    "template_corr",
)

# ---------------------------------------------------------------------------------------------------------
# discrete wavelet transform

_DB4 = np.array(  # Daubechies 4 (8 taps) scaling filter, sum = sqrt(2), sum of squares = 1
    [
        0.23037781330885523,
        0.7148465705525415,
        0.6308807679295904,
        -0.02798376941698385,
        -0.18703481171888114,
        0.030841381835986965,
        0.032883011666982945,
        -0.010597401784997278,
    ]
)
#: Orthonormal scaling (low-pass) filters available to :func:`dwt`.
WAVELETS: dict[str, np.ndarray] = {"haar": np.array([1.0, 1.0]) / math.sqrt(2.0), "db4": _DB4}


def _qmf(h: np.ndarray) -> np.ndarray:
    """The wavelet (high-pass) filter of an orthonormal scaling filter: ``g[k] = (-1)^k h[L-1-k]``."""
    return h[::-1] * np.where(np.arange(h.size) % 2 == 0, 1.0, -1.0)


def dwt(x: np.ndarray, wavelet: str = "db4", level: int = 1) -> list[np.ndarray]:
    """Multi-level periodised discrete wavelet transform along the last axis.

    One level maps ``x`` (length ``n``, extended by repeating the last sample when odd) to
    ``a[k] = sum_j h[j] x[(2k + j) mod n]`` and ``d[k] = sum_j g[j] x[(2k + j) mod n]``, with ``h`` the
    orthonormal scaling filter and ``g`` its quadrature mirror; for even lengths the transform is
    orthonormal (energy preserving). This is the periodised DWT of PyWavelets' ``mode="periodization"``;
    the filter alignment may differ from it by a circular shift of the coefficients of each band.

    Args:
        x: ``(..., n)`` array; every leading index is transformed independently.
        wavelet: a key of :data:`WAVELETS` (``"haar"``, ``"db4"``).
        level: number of levels (>= 1).

    Returns:
        ``[cA_level, cD_level, ..., cD_1]`` like ``pywt.wavedec``.
    """
    if wavelet not in WAVELETS:
        raise LeanECGError("wavelet", f"unknown wavelet {wavelet!r}; choose one of {', '.join(WAVELETS)}")
    if isinstance(level, bool) or not isinstance(level, int) or level < 1:
        raise LeanECGError("level", f"must be a positive number of levels, got {level!r}")
    h = WAVELETS[wavelet]
    g = _qmf(h)
    a = np.asarray(x, dtype=np.float64)
    if a.shape[-1] < 2:
        raise LeanECGError("signal", f"need at least 2 samples for a wavelet transform, got {a.shape[-1]}")
    details: list[np.ndarray] = []
    for _ in range(level):
        if a.shape[-1] % 2:
            a = np.concatenate([a, a[..., -1:]], axis=-1)
        n = a.shape[-1]
        idx = (2 * np.arange(n // 2)[:, None] + np.arange(h.size)[None, :]) % n  # (n/2, taps)
        seg = a[..., idx]
        details.append(seg @ g)
        a = seg @ h
    return [a, *details[::-1]]


WAVELET_NAME = "db4"
WAVELET_LEVEL = 4
WAVELET_SAMPLES = 128
WAVELET_WINDOW_S = (0.25, 0.45)  # before, after the R peak
# (name, index in dwt()'s output, number of coefficients) of the bands kept as features
_KEPT = (
    ("a4", 0, WAVELET_SAMPLES >> WAVELET_LEVEL),
    ("d4", 1, WAVELET_SAMPLES >> WAVELET_LEVEL),
    ("d3", 2, WAVELET_SAMPLES >> (WAVELET_LEVEL - 1)),
)
WAVELET_FEATURE_NAMES: tuple[str, ...] = tuple(
    f"dwt_{band}_{i:02d}" for band, _, size in _KEPT for i in range(size)
)


# ---------------------------------------------------------------------------------------------------------
# helpers


def _one_lead(x: np.ndarray) -> np.ndarray:
    x2, _ = check_signal(x, "signal", min_samples=0)
    if x2.shape[1] != 1:
        raise LeanECGError("signal", f"expected one lead, got shape {np.shape(x)}; select a lead first")
    return np.asarray(x2[:, 0], dtype=np.float64)


def band_passed(x: np.ndarray, fs: float) -> np.ndarray:
    """The 0.5-40 Hz zero-phase band-passed signal the morphology features are measured on (float64)."""
    return bandpass(_one_lead(x), check_fs(fs), *BAND_HZ).astype(np.float64, copy=False)


def _check_inside(peaks: np.ndarray, n_samples: int) -> None:
    if peaks.size and (peaks[0] < 0 or peaks[-1] >= n_samples):
        bad = peaks[(peaks < 0) | (peaks >= n_samples)][0]
        raise LeanECGError("peaks", f"R peak at sample {int(bad)} is outside the signal (0..{n_samples - 1})")


def _filtered(filtered: np.ndarray, n_samples: int) -> np.ndarray:
    bp = _one_lead(filtered)
    if bp.size != n_samples:
        raise LeanECGError("filtered", f"has {bp.size} samples, the signal {n_samples}")
    return bp


def _masked_mean(v: np.ndarray, mask: np.ndarray) -> np.ndarray:
    n = mask.sum(axis=1)
    s = np.where(mask, v, 0.0).sum(axis=1)
    return np.divide(s, n, out=np.full(n.shape, np.nan), where=n > 0)


def _masked_extreme(v: np.ndarray, mask: np.ndarray, kind: str) -> np.ndarray:
    """Per row: the masked ``"min"``, ``"max"`` or signed value of largest magnitude (``"abs"``)."""
    if kind == "min":
        val = np.where(mask, v, np.inf).min(axis=1)
    elif kind == "max":
        val = np.where(mask, v, -np.inf).max(axis=1)
    else:
        i = np.where(mask, np.abs(v), -1.0).argmax(axis=1)
        val = v[np.arange(v.shape[0]), i]
    return np.where(mask.any(axis=1), val, np.nan)


def _masked_corr(v: np.ndarray, template: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per row: Pearson correlation of ``v[i]`` with ``template`` over the samples where ``mask[i]``."""
    w = mask.astype(np.float64)
    n = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        vm = (w * v).sum(axis=1) / n
        tm = (w * template[None, :]).sum(axis=1) / n
        dv = (v - vm[:, None]) * w
        dt = (template[None, :] - tm[:, None]) * w
        den = np.sqrt((dv * dv).sum(axis=1) * (dt * dt).sum(axis=1))
        corr = (dv * dt).sum(axis=1) / den
    return np.where((n >= 3) & (den > 0), corr, np.nan)


def _windows(sig: np.ndarray, fs: float, peaks: np.ndarray, before_s: float, after_s: float) -> np.ndarray:
    w, _ = beat_windows(sig, fs, peaks, before_s, after_s, edge="pad")
    return np.asarray(w, dtype=np.float64)


def _complete(peaks: np.ndarray, n: int, fs: float, before_s: float, after_s: float) -> np.ndarray:
    """Beats whose whole window lies inside the signal (the same rounding as ``beat_windows``)."""
    return (peaks - round(before_s * fs) >= 0) & (peaks + round(after_s * fs) <= n)


# ---------------------------------------------------------------------------------------------------------
# morphology


def beat_morphology(
    x: np.ndarray,
    fs: float,
    peaks: np.ndarray | Sequence[int],
    *,
    filtered: np.ndarray | None = None,
) -> np.ndarray:
    """Morphology features of every beat (columns :data:`MORPHOLOGY_FEATURE_NAMES`).

    Args:
        x: single-lead signal ``(n_samples,)`` in mV (finite).
        fs: sampling rate in Hz.
        peaks: strictly increasing R-peak sample indices ``(n_beats,)`` inside the signal.
        filtered: :func:`band_passed` ``(x, fs)`` if already computed (saves one filtering pass).

    Returns:
        float64 ``(n_beats, 11)``; NaN rows for beats too close to either end (see the module docstring).

    Raises:
        LeanECGError: bad signal, ``fs`` or peaks (not strictly increasing, outside the signal).
    """
    fs_f = check_fs(fs)
    p = _check_peaks(peaks, strictly_increasing=True)
    n_samples = _one_lead(x).size
    _check_inside(p, n_samples)
    n_beats = p.size
    out = np.full((n_beats, len(MORPHOLOGY_FEATURE_NAMES)), np.nan)
    ok = _complete(p, n_samples, fs_f, BEFORE_S, AFTER_S)
    if not ok.any():
        return out
    bp = band_passed(x, fs_f) if filtered is None else _filtered(filtered, n_samples)
    pk = p[ok]
    rr = rr_features(p, fs_f)[ok]  # all NaN for a single beat
    pre_rr = np.where(np.isfinite(rr[:, 0]), rr[:, 0], 1.0)  # no RR known: no RR-based limit (1 s)
    post_rr = np.where(np.isfinite(rr[:, 1]), rr[:, 1], 1.0)
    slope = np.abs(np.gradient(bp)) * fs_f  # mV/s
    env = running_mean(slope, max(1, round(_SMOOTH_S * fs_f)), mode="nearest")

    template = None
    if pk.size >= MIN_TEMPLATE_BEATS:
        # the median beat, from at most _TEMPLATE_BEATS evenly spaced beats (memory stays bounded)
        pick = np.unique(np.linspace(0, pk.size - 1, min(pk.size, _TEMPLATE_BEATS)).round().astype(np.int64))
        _, v_pick = _beat_measures(bp, env, fs_f, pk[pick], pre_rr[pick], post_rr[pick], None)
        template = np.median(v_pick, axis=0)
    feats = np.empty((pk.size, len(MORPHOLOGY_FEATURE_NAMES)))
    for lo in range(0, pk.size, _CHUNK_BEATS):
        sl = slice(lo, lo + _CHUNK_BEATS)
        feats[sl], _ = _beat_measures(bp, env, fs_f, pk[sl], pre_rr[sl], post_rr[sl], template)
    out[ok] = feats
    return out


def _beat_measures(
    bp: np.ndarray,
    env: np.ndarray,
    fs: float,
    pk: np.ndarray,
    pre_rr: np.ndarray,
    post_rr: np.ndarray,
    template: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Features ``(m, 11)`` of complete beats ``pk`` and their baseline-corrected windows ``(m, L)``."""
    w = _windows(bp, fs, pk, BEFORE_S, AFTER_S)  # (m, L), R peak at column b
    e = _windows(env, fs, pk, BEFORE_S, AFTER_S)
    b = round(BEFORE_S * fs)
    rel = (np.arange(w.shape[1]) - b)[None, :]  # samples relative to the R peak
    cols = np.arange(w.shape[1])[None, :]
    rows = np.arange(pk.size)

    # QRS onset / offset from the slope envelope
    core_n, search_n = round(_CORE_S * fs), round(_SEARCH_S * fs)
    core = np.where(np.abs(rel) <= core_n, e, -1.0).argmax(axis=1)  # column of the steepest slope
    peak_env = e[rows, core]
    below = e < (QRS_THRESHOLD * peak_env)[:, None]
    in_search = np.abs(rel) <= search_n
    left = np.where(below & in_search & (cols < core[:, None]), cols, -1).max(axis=1)
    onset = np.where(left >= 0, left + 1, b - search_n)
    right = np.where(below & in_search & (cols > core[:, None]), cols, w.shape[1]).min(axis=1)
    offset = np.where(right < w.shape[1], right - 1, b + search_n)
    width_ms = (offset - onset + 1) * 1000.0 / fs
    width_ms[~(peak_env > 0)] = np.nan  # a flat stretch has no QRS

    iso_mask = (cols >= (onset - round(_ISO_S * fs))[:, None]) & (cols < onset[:, None])
    v = w - _masked_mean(w, iso_mask)[:, None]

    qrs_mask = (cols >= onset[:, None]) & (cols <= offset[:, None])
    r_amp = v[:, b]
    q_amp = _masked_extreme(v, qrs_mask & (cols <= b), "min")
    s_amp = _masked_extreme(v, qrs_mask & (cols >= b), "min")
    qrs_area = np.where(qrs_mask, v, 0.0).sum(axis=1) * 1000.0 / fs
    qrs_abs_area = np.where(qrs_mask, np.abs(v), 0.0).sum(axis=1) * 1000.0 / fs

    t_lo = (offset - b) + round(0.04 * fs)
    t_hi = np.round(np.minimum(0.45, 0.7 * post_rr) * fs)
    t_mask = (rel >= t_lo[:, None]) & (rel <= t_hi[:, None])
    t_amp = _masked_extreme(v, t_mask, "abs")

    p_lo = -np.round(np.minimum(0.28, 0.45 * pre_rr) * fs)
    p_hi = onset - b - round(0.01 * fs)
    p_mask = (rel >= p_lo[:, None]) & (rel <= p_hi[:, None])
    p_amp = _masked_extreme(v, p_mask, "abs")
    p_mean = _masked_mean(v, p_mask)
    p_energy = _masked_mean((v - np.nan_to_num(p_mean)[:, None]) ** 2, p_mask)

    if template is None:
        p_corr = t_corr = np.full(pk.size, np.nan)
    else:
        beat_mask = (rel >= -round(0.1 * fs)) & (
            rel <= np.round(np.minimum(0.4, 0.7 * post_rr) * fs)[:, None]
        )
        p_corr = _masked_corr(v, template, p_mask)
        t_corr = _masked_corr(v, template, beat_mask)
    feats = np.stack(
        [width_ms, r_amp, q_amp, s_amp, qrs_area, qrs_abs_area, t_amp, p_amp, p_energy, p_corr, t_corr],
        axis=1,
    )
    return feats, v


# ---------------------------------------------------------------------------------------------------------
# wavelet coefficients of the beat window


def beat_wavelet_features(
    x: np.ndarray,
    fs: float,
    peaks: np.ndarray | Sequence[int],
    *,
    filtered: np.ndarray | None = None,
) -> np.ndarray:
    """DWT coefficients of every beat window (columns :data:`WAVELET_FEATURE_NAMES`, see the module docstring).

    Args:
        x: single-lead signal ``(n_samples,)`` in mV.
        fs: sampling rate in Hz.
        peaks: strictly increasing R-peak sample indices ``(n_beats,)``.
        filtered: :func:`band_passed` ``(x, fs)`` if already computed.

    Returns:
        float64 ``(n_beats, 32)``; NaN rows for beats whose window runs past either end of the signal.
    """
    fs_f = check_fs(fs)
    p = _check_peaks(peaks, strictly_increasing=True)
    n_samples = _one_lead(x).size
    _check_inside(p, n_samples)
    out = np.full((p.size, len(WAVELET_FEATURE_NAMES)), np.nan)
    before, after = WAVELET_WINDOW_S
    offsets = np.linspace(-before, after, WAVELET_SAMPLES, endpoint=False) * fs_f  # samples
    pos = p[:, None] + offsets[None, :]
    ok = (pos[:, 0] >= 0) & (pos[:, -1] <= n_samples - 1)
    if not ok.any():
        return out
    bp = band_passed(x, fs_f) if filtered is None else _filtered(filtered, n_samples)
    idx = np.flatnonzero(ok)
    for lo in range(0, idx.size, _CHUNK_BEATS):
        rows = idx[lo : lo + _CHUNK_BEATS]
        i0 = np.floor(pos[rows]).astype(np.int64)
        frac = pos[rows] - i0
        beats = bp[i0] * (1.0 - frac) + bp[np.minimum(i0 + 1, bp.size - 1)] * frac
        beats -= np.median(beats, axis=1, keepdims=True)
        coeffs = dwt(beats, WAVELET_NAME, WAVELET_LEVEL)
        out[rows] = np.concatenate([coeffs[k] for _, k, _ in _KEPT], axis=1)
    return out
