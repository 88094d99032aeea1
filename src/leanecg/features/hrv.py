"""Heart-rate variability (HRV) and RR-irregularity features from R-peak positions.

Every function is vectorised numpy; RR intervals are in milliseconds, times in seconds, frequencies in
Hz, powers in ms². Nothing here raises for short or degenerate input: with fewer than
:data:`MIN_BEATS` beats every feature except ``n_beats`` is NaN, and a feature that is undefined for a
particular series (an entropy without template matches, a spectral band longer than the record) is NaN.
Classic models deal with NaN by imputation (:mod:`leanecg.models.classic`) or natively (LightGBM).
Only malformed peaks (not 1-D, not whole numbers, not strictly increasing) raise
:class:`~leanecg.errors.LeanECGError`.

The RR series is used as detected (no ectopic-beat editing): the irregularity that an NN-interval
cleaner would remove is exactly what separates atrial fibrillation and ectopy from sinus rhythm.

Groups (column order of :data:`HRV_FEATURE_NAMES`):

* **time domain** (Task Force of the ESC/NASPE, Circulation 93(5), 1996): ``mean_rr_ms``, ``sdnn_ms``
  (sample SD, ``ddof=1``), ``rmssd_ms``, ``sdsd_ms`` (``ddof=1``), ``pnn50`` and ``pnn20`` (percent of
  successive differences larger than 50 / 20 ms), ``cv_rr`` (SDNN / mean RR), ``median_rr_ms``,
  ``iqr_rr_ms``, ``mad_rr_ms`` (median absolute deviation, unscaled), ``min_rr_ms``, ``max_rr_ms``,
  ``mean_hr_bpm``, ``sd_hr_bpm``. SDNN, RMSSD, SDSD and CV equal NeuroKit2's ``hrv_time``
  (``HRV_SDNN``, ``HRV_RMSSD``, ``HRV_SDSD``, ``HRV_CVNN``); two differences: NeuroKit2 divides NN50 by
  the number of intervals rather than of successive differences (its pNN50 is ``(n - 1) / n`` of this
  one for ``n`` intervals), and its ``HRV_MadNN`` is scaled by 1.4826.
* **frequency domain**: Lomb-Scargle periodogram of the RR series at the beat times (see
  :func:`lomb_scargle_psd`), integrated over LF 0.04-0.15 Hz and HF 0.15-0.40 Hz; ``lf_hf_ratio``,
  ``lf_nu`` = LF / (LF + HF) (Task Force normalised units), ``total_power_ms2`` over 0.0033-0.40 Hz and
  ``hf_peak_hz`` (the respiratory frequency in sinus rhythm). A band is NaN unless the RR series spans
  at least one period of the band's lower edge (25 s for LF, 6.7 s for HF). Compared with NeuroKit2's
  ``hrv_frequency``: same band edges, but NeuroKit2 by default interpolates the RR series onto a regular
  grid and uses Welch's method (``psd_method="lomb"`` is its alternative), reports a band that is too
  short for the record as 0 rather than NaN, and its ``LFn``/``HFn`` divide by the total power of all
  five bands (ULF to VHF) while ``lf_nu`` here divides by LF + HF. Lomb-Scargle is used because it needs
  no interpolation, which on short records (CinC 2017: 9-60 s, 10-100 beats) and irregular rhythms
  (AF, ectopy) adds spurious low-pass structure. The Task Force recommends 1 min (HF) and 2 min (LF)
  of recording; on 30 s records treat LF as a rough feature, not a physiological index.
* **nonlinear**: Poincaré ``sd1_ms`` = SD(RR[i+1] - RR[i]) / sqrt 2 and ``sd2_ms`` =
  SD(RR[i+1] + RR[i]) / sqrt 2 (``ddof=1``; some NeuroKit2 versions compute SD2 through the
  asymptotically equal ``sqrt(2 SDNN² - SD1²)`` of Brennan et al. 2001), ``sd1_sd2_ratio`` (NeuroKit2
  reports the inverse, ``HRV_SD2SD1``), ``sampen`` (:func:`sample_entropy`, m = 2, r = 0.2 SD, as
  NeuroKit2's ``HRV_SampEn``) and ``apen`` (:func:`approximate_entropy`, same m and r).
* **irregularity** (atrial-fibrillation oriented): ``nrmssd`` (RMSSD / mean RR), ``nmasd`` (mean
  absolute successive difference / mean RR), ``cosen`` (:func:`coefficient_of_sample_entropy`, Lake &
  Moorman 2011), ``tpr`` (turning-point ratio; about 2/3 for a random series, Dash et al. 2009),
  ``shannon_entropy_rr`` (16-bin histogram entropy normalised to [0, 1], Dash et al. 2009) and
  ``rdr_nec_ratio`` (non-empty 25 ms cells of the RR/dRR map per point, after Lian et al. 2011).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from leanecg.errors import InvalidOptionError, check_number
from leanecg.signal.beats import _check_peaks
from leanecg.signal.checks import check_fs

__all__ = [
    "HF_BAND_HZ",
    "HRV_FEATURE_NAMES",
    "LF_BAND_HZ",
    "MIN_BEATS",
    "approximate_entropy",
    "coefficient_of_sample_entropy",
    "hrv_features",
    "hrv_frequency_domain",
    "hrv_irregularity",
    "hrv_nonlinear",
    "hrv_time_domain",
    "lomb_scargle_psd",
    "rr_intervals_ms",
    "sample_entropy",
]

#: Fewer beats than this (two RR intervals) give NaN features.
MIN_BEATS = 3
LF_BAND_HZ = (0.04, 0.15)
HF_BAND_HZ = (0.15, 0.40)
TOTAL_BAND_HZ = (0.0033, 0.40)
_F_MAX_HZ = 0.5  # periodogram evaluated on (0, 0.5] Hz
_MAX_FREQS = 512  # frequency grid: oversampled 4x, capped at this many points

TIME_NAMES: tuple[str, ...] = (
    "n_beats",
    "mean_rr_ms",
    "sdnn_ms",
    "rmssd_ms",
    "sdsd_ms",
    "pnn50",
    "pnn20",
    "cv_rr",
    "median_rr_ms",
    "iqr_rr_ms",
    "mad_rr_ms",
    "min_rr_ms",
    "max_rr_ms",
    "mean_hr_bpm",
    "sd_hr_bpm",
)
FREQUENCY_NAMES: tuple[str, ...] = (
    "lf_power_ms2",
    "hf_power_ms2",
    "lf_hf_ratio",
    "lf_nu",
    "total_power_ms2",
    "hf_peak_hz",
)
NONLINEAR_NAMES: tuple[str, ...] = ("sd1_ms", "sd2_ms", "sd1_sd2_ratio", "sampen", "apen")
IRREGULARITY_NAMES: tuple[str, ...] = (
    "nrmssd",
    "nmasd",
    "cosen",
    "tpr",
    "shannon_entropy_rr",
    "rdr_nec_ratio",
)
#: Column order of :func:`hrv_features`.
HRV_FEATURE_NAMES: tuple[str, ...] = TIME_NAMES + FREQUENCY_NAMES + NONLINEAR_NAMES + IRREGULARITY_NAMES

_BLOCK_ELEMENTS = 1 << 20  # pairwise-distance blocks of at most ~1M entries (8 MB)


# ---------------------------------------------------------------------------------------------------------
# helpers


def _nan_dict(names: Sequence[str]) -> dict[str, float]:
    return dict.fromkeys(names, math.nan)


def _std(x: np.ndarray) -> float:
    """Sample standard deviation (``ddof=1``); NaN for fewer than two values."""
    return float(np.std(x, ddof=1)) if x.size >= 2 else math.nan


def _ratio(num: float, den: float) -> float:
    """``num / den``; NaN when either is NaN or the denominator is 0."""
    if not (math.isfinite(num) and math.isfinite(den)) or den == 0:
        return math.nan
    return num / den


def _as_rr(rr_ms: np.ndarray | Sequence[float]) -> np.ndarray:
    rr = np.asarray(rr_ms, dtype=np.float64).ravel()
    return rr[np.isfinite(rr)]


def rr_intervals_ms(peaks: np.ndarray | Sequence[int], fs: float) -> np.ndarray:
    """RR intervals in ms between successive R peaks.

    Args:
        peaks: strictly increasing R-peak sample indices ``(n_beats,)``.
        fs: sampling rate of the signal the peaks index, Hz.

    Returns:
        float64 ``(n_beats - 1,)`` (empty for fewer than two peaks).

    Raises:
        LeanECGError: peaks not 1-D whole numbers / not strictly increasing; bad ``fs``.
    """
    fs_f = check_fs(fs)
    p = _check_peaks(peaks, strictly_increasing=True)
    return np.diff(p).astype(np.float64) * (1000.0 / fs_f)


# ---------------------------------------------------------------------------------------------------------
# time domain


def hrv_time_domain(rr_ms: np.ndarray | Sequence[float]) -> dict[str, float]:
    """Time-domain HRV of an RR series in ms (columns :data:`TIME_NAMES`).

    ``n_beats`` is ``len(rr) + 1`` (0 for an empty series; :func:`hrv_features` counts the peaks).
    """
    rr = _as_rr(rr_ms)
    out = _nan_dict(TIME_NAMES)
    out["n_beats"] = float(rr.size + 1) if rr.size else 0.0
    if rr.size < MIN_BEATS - 1:
        return out
    d = np.diff(rr)
    mean = float(rr.mean())
    hr = 60000.0 / rr
    q25, q50, q75 = np.percentile(rr, [25, 50, 75])
    out.update(
        mean_rr_ms=mean,
        sdnn_ms=_std(rr),
        rmssd_ms=float(np.sqrt(np.mean(d * d))),
        sdsd_ms=_std(d),
        pnn50=float(100.0 * np.mean(np.abs(d) > 50.0)),
        pnn20=float(100.0 * np.mean(np.abs(d) > 20.0)),
        median_rr_ms=float(q50),
        iqr_rr_ms=float(q75 - q25),
        mad_rr_ms=float(np.median(np.abs(rr - q50))),
        min_rr_ms=float(rr.min()),
        max_rr_ms=float(rr.max()),
        mean_hr_bpm=float(hr.mean()),
        sd_hr_bpm=_std(hr),
    )
    out["cv_rr"] = _ratio(out["sdnn_ms"], mean)
    return out


# ---------------------------------------------------------------------------------------------------------
# frequency domain


def lomb_scargle_psd(t_s: np.ndarray, y: np.ndarray, freqs_hz: np.ndarray) -> np.ndarray:
    """One-sided Lomb-Scargle power spectral density of an unevenly sampled series.

    The classical Lomb (1976) / Scargle (1982) periodogram ``P(f)`` of the mean-removed series, scaled
    to a density ``S(f) = 2 * dt * P(f)`` with ``dt`` the mean sampling interval, so that for an evenly
    sampled series ``S`` equals the one-sided periodogram and its integral from 0 to the Nyquist
    frequency is the variance (Parseval). For an RR series in ms, ``S`` is in ms²/Hz and the integral
    over a band is that band's power in ms².

    Args:
        t_s: sample times in s ``(n,)``, strictly increasing, ``n >= 2``.
        y: values ``(n,)``.
        freqs_hz: frequencies ``(n_freqs,)``, all > 0.

    Returns:
        float64 ``(n_freqs,)``.
    """
    t = np.asarray(t_s, dtype=np.float64)
    yc = np.asarray(y, dtype=np.float64)
    yc = yc - yc.mean()
    w = 2.0 * np.pi * np.asarray(freqs_hz, dtype=np.float64)[:, None]  # (F, 1)
    wt2 = 2.0 * w * t[None, :]
    tau = np.arctan2(np.sin(wt2).sum(axis=1), np.cos(wt2).sum(axis=1))[:, None] / (2.0 * w)
    arg = w * (t[None, :] - tau)
    c, s = np.cos(arg), np.sin(arg)
    yc_c, yc_s = c @ yc, s @ yc
    cc, ss = (c * c).sum(axis=1), (s * s).sum(axis=1)
    tiny = 1e-12 * t.size
    p = 0.5 * (
        np.divide(yc_c**2, cc, out=np.zeros_like(cc), where=cc > tiny)
        + np.divide(yc_s**2, ss, out=np.zeros_like(ss), where=ss > tiny)
    )
    dt = (t[-1] - t[0]) / (t.size - 1)
    return 2.0 * dt * p


def _band(freqs: np.ndarray, psd: np.ndarray, df: float, lo: float, hi: float, duration_s: float) -> float:
    if duration_s * lo < 1.0:  # the series does not span one period of the band's lower edge
        return math.nan
    m = (freqs >= lo) & (freqs < hi)
    return float(psd[m].sum() * df)


def hrv_frequency_domain(
    rr_ms: np.ndarray | Sequence[float], beat_times_s: np.ndarray | Sequence[float] | None = None
) -> dict[str, float]:
    """LF / HF powers (ms²) from a Lomb-Scargle periodogram of the RR series (columns :data:`FREQUENCY_NAMES`).

    Args:
        rr_ms: RR intervals in ms ``(n,)``.
        beat_times_s: time in s of the beat that ends each interval ``(n,)``; default the cumulative sum
            of the intervals.
    """
    rr = np.asarray(rr_ms, dtype=np.float64).ravel()
    out = _nan_dict(FREQUENCY_NAMES)
    if beat_times_s is None:
        t = np.cumsum(rr) / 1000.0
    else:
        t = np.asarray(beat_times_s, dtype=np.float64).ravel()
        if t.shape != rr.shape:
            raise InvalidOptionError(
                "beat_times_s", f"has shape {t.shape}, but rr_ms has {rr.shape}: one time per interval"
            )
    ok = np.isfinite(rr) & np.isfinite(t)
    rr, t = rr[ok], t[ok]
    if rr.size < 4 or np.any(np.diff(t) <= 0):
        return out
    duration = float(t[-1] - t[0] + rr[0] / 1000.0)
    df = max(1.0 / (4.0 * duration), _F_MAX_HZ / _MAX_FREQS)
    freqs = (np.arange(round(_F_MAX_HZ / df)) + 0.5) * df  # bin centres on (0, 0.5] Hz
    psd = lomb_scargle_psd(t, rr, freqs)
    lf = _band(freqs, psd, df, *LF_BAND_HZ, duration)
    hf = _band(freqs, psd, df, *HF_BAND_HZ, duration)
    out["lf_power_ms2"] = lf
    out["hf_power_ms2"] = hf
    out["lf_hf_ratio"] = _ratio(lf, hf)
    out["lf_nu"] = _ratio(lf, lf + hf) if math.isfinite(lf) and math.isfinite(hf) else math.nan
    tp_mask = (freqs >= TOTAL_BAND_HZ[0]) & (freqs < TOTAL_BAND_HZ[1])
    out["total_power_ms2"] = float(psd[tp_mask].sum() * df)
    if math.isfinite(hf):
        hf_mask = (freqs >= HF_BAND_HZ[0]) & (freqs < HF_BAND_HZ[1])
        if hf > 0:
            out["hf_peak_hz"] = float(freqs[hf_mask][np.argmax(psd[hf_mask])])
    return out


# ---------------------------------------------------------------------------------------------------------
# entropies (vectorised: blocked pairwise Chebyshev distances, O(block * n) memory)


def _chebyshev_block(x: np.ndarray, k: int, start: int, stop: int, n_t: int) -> np.ndarray:
    """Chebyshev distances between length-``k`` templates ``i in [start, stop)`` and ``j in (start, n_t)``.

    Entry ``[a, b]`` is the distance between templates ``start + a`` and ``start + 1 + b``; only the
    entries with ``j > i`` (``b >= a``) are meaningful.
    """
    d = np.abs(x[start:stop, None] - x[start + 1 : n_t][None, :])
    for e in range(1, k):
        np.maximum(d, np.abs(x[start + e : stop + e, None] - x[start + 1 + e : n_t + e][None, :]), out=d)
    return d


def _count_within(d: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """For each radius, how many entries of ``d`` are ``<= radius`` (``radii`` ascending)."""
    if radii.size == 1:
        return np.array([np.count_nonzero(d <= radii[0])], dtype=np.int64)
    idx = np.searchsorted(radii, d, side="left")  # d <= radii[k]  <=>  idx <= k
    return np.cumsum(np.bincount(idx, minlength=radii.size + 1)[: radii.size])


def _template_matches(x: np.ndarray, m: int, radii: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample-entropy match counts ``(B, A)``, one value per radius.

    Over the ``n - m`` template start positions, ``B`` counts the unordered pairs ``i < j`` whose
    length-``m`` templates are within Chebyshev distance ``<= r`` and ``A`` those whose length-``m + 1``
    templates are. Blocked over rows: memory O(block * n), never O(n^2).
    """
    n_t = x.size - m
    b_counts = np.zeros(radii.size, dtype=np.int64)
    a_counts = np.zeros(radii.size, dtype=np.int64)
    block = max(1, _BLOCK_ELEMENTS // max(n_t, 1))
    for start in range(0, n_t - 1, block):
        stop = min(start + block, n_t - 1)
        d = _chebyshev_block(x, m, start, stop, n_t)
        upper = np.arange(start + 1, n_t)[None, :] > np.arange(start, stop)[:, None]
        b_counts += _count_within(d[upper], radii)
        np.maximum(d, np.abs(x[start + m : stop + m, None] - x[start + 1 + m : n_t + m][None, :]), out=d)
        a_counts += _count_within(d[upper], radii)
    return b_counts, a_counts


def _row_counts(x: np.ndarray, k: int, r: float) -> np.ndarray:
    """For each of the ``n - k + 1`` length-``k`` templates, how many templates (itself included) lie
    within Chebyshev distance ``<= r``."""
    n_t = x.size - k + 1
    counts = np.ones(n_t, dtype=np.int64)  # self-match
    block = max(1, _BLOCK_ELEMENTS // max(n_t, 1))
    for start in range(0, n_t - 1, block):
        stop = min(start + block, n_t - 1)
        d = _chebyshev_block(x, k, start, stop, n_t)
        upper = np.arange(start + 1, n_t)[None, :] > np.arange(start, stop)[:, None]
        match = (d <= r) & upper
        counts[start:stop] += match.sum(axis=1)
        counts[start + 1 :] += match.sum(axis=0)
    return counts


def _tolerance(x: np.ndarray, r: float | None) -> float:
    return 0.2 * float(np.std(x, ddof=1)) if r is None else float(r)


def sample_entropy(x: np.ndarray | Sequence[float], m: int = 2, r: float | None = None) -> float:
    """Sample entropy (Richman & Moorman, Am J Physiol 278, 2000), vectorised.

    ``SampEn = -ln(A / B)``: ``B`` counts pairs of length-``m`` templates within Chebyshev distance
    ``<= r``, ``A`` pairs of length-``m + 1`` templates, both over the same ``len(x) - m`` start
    positions, self-matches excluded (PhysioNet ``sampen.c`` convention).

    Args:
        x: the series ``(n,)`` (non-finite values are dropped).
        m: template length (>= 1).
        r: tolerance in the units of ``x``; default ``0.2 * SD(x)`` (``ddof=1``, as NeuroKit2).

    Returns:
        The entropy (>= 0), or NaN when undefined (fewer than ``m + 2`` values, no matches).
    """
    xs = _as_rr(x)
    m = int(check_number("m", m, low=1, integer=True))
    if xs.size < m + 2:
        return math.nan
    b, a = _template_matches(xs, m, np.array([_tolerance(xs, r)]))
    if a[0] == 0 or b[0] == 0:
        return math.nan
    return float(math.log(b[0] / a[0]))


def approximate_entropy(x: np.ndarray | Sequence[float], m: int = 2, r: float | None = None) -> float:
    """Approximate entropy (Pincus, PNAS 88, 1991), vectorised; self-matches included as defined.

    ``ApEn = Phi_m - Phi_{m+1}`` with ``Phi_k`` the mean over the ``n - k + 1`` templates of
    ``ln(C_i^k)``, ``C_i^k`` the fraction of templates within Chebyshev distance ``<= r``.

    Args:
        x: the series ``(n,)`` (non-finite values are dropped).
        m: template length (>= 1).
        r: tolerance; default ``0.2 * SD(x)`` (``ddof=1``).

    Returns:
        The entropy, or NaN for fewer than ``m + 2`` values.
    """
    xs = _as_rr(x)
    m = int(check_number("m", m, low=1, integer=True))
    if xs.size < m + 2:
        return math.nan
    tol = _tolerance(xs, r)
    phi = []
    for k in (m, m + 1):
        c = _row_counts(xs, k, tol)
        phi.append(float(np.mean(np.log(c / c.size))))
    return phi[0] - phi[1]


#: COSEn tolerance grid: from 30 ms up in 10 ms steps (Lake & Moorman 2011 start at 30 ms).
COSEN_RADII_MS = np.arange(30.0, 500.0 + 1e-9, 10.0)
COSEN_MIN_MATCHES = 5


def coefficient_of_sample_entropy(rr_ms: np.ndarray | Sequence[float]) -> float:
    """COSEn, the coefficient of sample entropy of an RR series (Lake & Moorman, Am J Physiol Heart Circ
    Physiol 300, H319-H325, 2011).

    Sample entropy with ``m = 1`` at the smallest tolerance ``r`` of :data:`COSEN_RADII_MS` (30 ms,
    40 ms, ...) that gives at least :data:`COSEN_MIN_MATCHES` matching pairs of length-2 templates,
    converted from a probability to a density (``+ ln(2r)``, the quadratic sample entropy) and corrected
    for the heart rate (``- ln(mean RR)``), with ``r`` and RR in seconds:
    ``COSEn = SampEn + ln(2 r) - ln(mean RR)``. High in AF, low in sinus rhythm.

    Returns:
        COSEn, or NaN for fewer than 3 intervals or when no tolerance up to 500 ms gives enough matches.
    """
    rr = _as_rr(rr_ms)
    if rr.size < 3:
        return math.nan
    b, a = _template_matches(rr, 1, COSEN_RADII_MS)
    ok = np.flatnonzero(a >= COSEN_MIN_MATCHES)
    if ok.size == 0:
        return math.nan
    k = ok[0]
    r_s = COSEN_RADII_MS[k] / 1000.0
    return float(math.log(b[k] / a[k]) + math.log(2.0 * r_s) - math.log(rr.mean() / 1000.0))


# ---------------------------------------------------------------------------------------------------------
# nonlinear and irregularity


def hrv_nonlinear(rr_ms: np.ndarray | Sequence[float]) -> dict[str, float]:
    """Poincaré SD1 / SD2 and sample / approximate entropy (columns :data:`NONLINEAR_NAMES`)."""
    rr = _as_rr(rr_ms)
    out = _nan_dict(NONLINEAR_NAMES)
    if rr.size < MIN_BEATS - 1:
        return out
    a, b = rr[:-1], rr[1:]
    sd1 = _std(b - a) / math.sqrt(2.0)
    sd2 = _std(b + a) / math.sqrt(2.0)
    out.update(sd1_ms=sd1, sd2_ms=sd2, sd1_sd2_ratio=_ratio(sd1, sd2))
    out["sampen"] = sample_entropy(rr, 2)
    out["apen"] = approximate_entropy(rr, 2)
    return out


def _turning_point_ratio(rr: np.ndarray) -> float:
    if rr.size < 3:
        return math.nan
    left, mid, right = rr[:-2], rr[1:-1], rr[2:]
    turning = ((mid > left) & (mid > right)) | ((mid < left) & (mid < right))
    return float(turning.mean())


def _shannon_entropy(rr: np.ndarray, bins: int = 16) -> float:
    lo, hi = float(rr.min()), float(rr.max())
    if hi <= lo:
        return 0.0  # one value: no uncertainty
    counts = np.bincount(
        np.minimum(((rr - lo) / (hi - lo) * bins).astype(np.int64), bins - 1), minlength=bins
    )
    p = counts[counts > 0] / rr.size
    return float(-(p * np.log(p)).sum() / math.log(bins))


def _rdr_nec_ratio(rr: np.ndarray, cell_ms: float = 25.0) -> float:
    if rr.size < 3:
        return math.nan
    x = np.floor(rr[1:] / cell_ms).astype(np.int64)
    y = np.floor(np.diff(rr) / cell_ms).astype(np.int64)
    cells = np.unique(np.stack([x, y], axis=1), axis=0)
    return float(cells.shape[0] / x.size)


def hrv_irregularity(rr_ms: np.ndarray | Sequence[float]) -> dict[str, float]:
    """RR irregularity features for AF detection (columns :data:`IRREGULARITY_NAMES`)."""
    rr = _as_rr(rr_ms)
    out = _nan_dict(IRREGULARITY_NAMES)
    if rr.size < MIN_BEATS - 1:
        return out
    d = np.diff(rr)
    mean = float(rr.mean())
    out["nrmssd"] = _ratio(float(np.sqrt(np.mean(d * d))), mean)
    out["nmasd"] = _ratio(float(np.mean(np.abs(d))), mean)
    out["cosen"] = coefficient_of_sample_entropy(rr)
    out["tpr"] = _turning_point_ratio(rr)
    out["shannon_entropy_rr"] = _shannon_entropy(rr)
    out["rdr_nec_ratio"] = _rdr_nec_ratio(rr)
    return out


# ---------------------------------------------------------------------------------------------------------
# all of them


def hrv_features(peaks: np.ndarray | Sequence[int], fs: float) -> dict[str, float]:
    """All HRV features of a record, keyed and ordered as :data:`HRV_FEATURE_NAMES`.

    Args:
        peaks: strictly increasing R-peak sample indices ``(n_beats,)``.
        fs: sampling rate of the signal the peaks index, Hz.

    Returns:
        ``{name: value}`` (floats; NaN where undefined, see the module docstring).

    Raises:
        LeanECGError: malformed peaks or ``fs``.
    """
    fs_f = check_fs(fs)
    p = _check_peaks(peaks, strictly_increasing=True)
    rr = np.diff(p).astype(np.float64) * (1000.0 / fs_f)
    out: dict[str, float] = {}
    out.update(hrv_time_domain(rr))
    out["n_beats"] = float(p.size)  # also right for a single beat (no interval)
    if rr.size >= MIN_BEATS - 1:
        out.update(hrv_frequency_domain(rr, p[1:] / fs_f))
    else:
        out.update(_nan_dict(FREQUENCY_NAMES))
    out.update(hrv_nonlinear(rr))
    out.update(hrv_irregularity(rr))
    return {name: out[name] for name in HRV_FEATURE_NAMES}
