"""Rhythm-pattern, beat-consistency, atrial-activity and signal-quality features of a single-lead record.

The record features of :mod:`leanecg.features.hrv` summarise the RR series as a whole; the CinC 2017
classes differ also in *how* a rhythm is irregular and in what lies between the beats. These features
(column order :data:`RHYTHM_FEATURE_NAMES`) measure that, from the R peaks and the 0.5-40 Hz band-passed
signal (:func:`leanecg.features.morphology.band_passed`):

* record: ``duration_s``;
* ectopy and rhythm pattern (RR intervals ``rr_i``, their running 7-beat median ``m_i``):
  ``frac_dev10`` / ``frac_dev20`` (successive RR ratios off 1 by more than 10 / 20 %),
  ``frac_premature`` (a short interval, ``< 0.85 m``, followed by a long one, ``> 1.05 m``: a premature
  beat with its pause), ``frac_short`` (``< 0.8 m``), ``frac_long`` (``> 1.25 m``), ``alternation``
  (successive RR changes of opposite sign: bigeminy, AF), ``clean_frac`` / ``clean_cv`` /
  ``clean_rmssd_ms`` (the intervals within 15 % of ``m``: how irregular the rhythm is once ectopic beats
  are set aside), ``longest_regular`` (longest run of successive ratios within 10 %, as a fraction of the
  record), ``hr5_max_bpm`` / ``hr5_min_bpm`` (extremes of the 5-beat mean heart rate), ``frac_drr_lt30``
  (successive RR differences under 30 ms), over 10 s windows every 5 s the extremes of the fraction of
  ratios off by 10 % and of the RR coefficient of variation (``w10_dev10_max`` / ``_min``,
  ``w10_cv_max`` / ``_min``: episodes), ``rr_bins_frac`` (distinct 50 ms RR bins per interval) and
  ``poincare_corr`` (correlation of ``rr_i`` with ``rr_{i+1}``);
* beat consistency, on the beats with a whole window -0.2 to +0.4 s around the R peak, against their
  median beat (the template): ``corr_frac_lt90`` / ``corr_frac_lt70`` (beats correlating below 0.9 /
  0.7), ``corr_median``, ``amp_cv`` (coefficient of variation of the QRS peak-to-peak amplitude),
  ``prem_corr_median`` (the premature beats' correlation: ectopic or aberrant vs sinus-shaped),
  ``p_corr_median`` / ``p_frac_gt60`` (the -0.2 to -0.05 s part, where the P wave is: its correlation
  with the template's), ``pre_qrs_corr_min`` (5th percentile of the QRS-part correlation) and
  ``wide_frac`` (beats whose steep part around the R peak lasts over 100 ms);
* atrial activity: after subtracting the amplitude-scaled template from every beat, ``resid_rel`` (the
  residual's power outside the beat windows over the signal's power), ``fwave_rel`` (the residual's 4-10 Hz
  share of its 1-40 Hz power: fibrillatory waves) and ``fwave_peak_hz``; ``tq_sd_rel`` (median SD of the
  TQ segments, 0.45 s after one R peak to 0.1 s before the next, over the median QRS amplitude);
* signal quality, over 2 s windows: ``win_sd_ratio`` (largest over median window SD), ``win_empty_frac``
  (windows without an R peak), ``win_kurt_low_frac`` (windows of excess kurtosis under 5: no peaky QRS) and
  ``pk_agree`` (agreement of the R peaks with the peaks of a second, slope-envelope detector, within
  0.15 s: ``2 matched / (n1 + n2)``).

Undefined values (too few beats or windows) are NaN, never an exception; the caller,
:func:`leanecg.features.record.record_features`, checks the signal and peaks.
"""

from __future__ import annotations

import numpy as np

from leanecg.features.spectral import welch_periodogram
from leanecg.signal._kernels import find_peaks
from leanecg.signal.beats import _rowwise_corr
from leanecg.signal.smoothing import running_mean, running_median

__all__ = ["RHYTHM_FEATURE_NAMES", "rhythm_features"]

RHYTHM_FEATURE_NAMES: tuple[str, ...] = (
    "duration_s",
    "frac_dev10",
    "frac_dev20",
    "frac_premature",
    "frac_short",
    "frac_long",
    "alternation",
    "clean_frac",
    "clean_cv",
    "clean_rmssd_ms",
    "longest_regular",
    "hr5_max_bpm",
    "hr5_min_bpm",
    "frac_drr_lt30",
    "corr_frac_lt90",
    "corr_frac_lt70",
    "corr_median",
    "amp_cv",
    "prem_corr_median",
    "fwave_rel",
    "fwave_peak_hz",
    "resid_rel",
    "tq_sd_rel",
    "win_sd_ratio",
    "win_empty_frac",
    "win_kurt_low_frac",
    "pk_agree",
    "w10_dev10_max",
    "w10_dev10_min",
    "w10_cv_max",
    "w10_cv_min",
    "rr_bins_frac",
    "poincare_corr",
    "p_corr_median",
    "p_frac_gt60",
    "wide_frac",
    "pre_qrs_corr_min",
)

_MIN_BEATS = 5  # rhythm and beat-consistency features need this many R peaks / whole beat windows
_WINDOW_S = 2.0  # signal-quality windows
_BEFORE_S, _AFTER_S = 0.2, 0.4  # beat window around the R peak
_EPS = 1e-12


def _segment_sd(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Standard deviation (biased, two-pass) of each segment ``x[lo[k]:hi[k]]`` (non-empty), all in one batch:
    ``(k,)``, what ``x[lo:hi].std()`` gives each (to rounding)."""
    n = hi - lo
    starts = np.concatenate(([0], np.cumsum(n)[:-1]))
    v = x[np.repeat(lo - starts, n) + np.arange(int(n.sum()))]
    d = v - np.repeat(np.add.reduceat(v, starts) / n, n)
    return np.sqrt(np.add.reduceat(d * d, starts) / n)


def _excess_kurtosis(rows: np.ndarray) -> np.ndarray:
    """Fisher (excess) kurtosis of each row, biased moments (``scipy.stats.kurtosis``'s default)."""
    c = rows - rows.mean(axis=1, keepdims=True)
    c2 = c * c  # (c * c) ** 2, not c**4: NumPy's general pow is ~100x slower than a multiplication
    m2 = c2.mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (c2 * c2).mean(axis=1) / (m2 * m2) - 3.0


def _quality(bp: np.ndarray, fs: float, peaks: np.ndarray, out: dict[str, float]) -> None:
    w = int(_WINDOW_S * fs)
    nw = bp.size // w
    if nw >= 2:
        segs = bp[: nw * w].reshape(nw, w)
        sd = segs.std(axis=1)
        out["win_sd_ratio"] = float(sd.max() / (np.median(sd) + 1e-9))
        counts = np.histogram(peaks, bins=np.arange(nw + 1) * w)[0]
        out["win_empty_frac"] = float(np.mean(counts == 0))
        out["win_kurt_low_frac"] = float(np.mean(_excess_kurtosis(segs) < 5))
    env = running_mean(np.abs(np.gradient(bp)), max(1, int(0.08 * fs)))
    q = find_peaks(env, distance=max(1, int(0.25 * fs)), height=0.3 * np.percentile(env, 99))
    if peaks.size and q.size:
        # distance of each second-detector peak to the nearest R peak (both sorted)
        pos = np.clip(np.searchsorted(peaks, q), 1, peaks.size) - 1
        nxt = np.minimum(pos + 1, peaks.size - 1)
        dist = np.minimum(np.abs(q - peaks[pos]), np.abs(q - peaks[nxt]))
        out["pk_agree"] = float(2 * np.sum(dist < 0.15 * fs) / (q.size + peaks.size))


def _rhythm(rr: np.ndarray, t: np.ndarray, out: dict[str, float]) -> np.ndarray:
    """RR-pattern features of the intervals ``rr`` (s) ending at times ``t`` (s); returns the
    premature-beat flags of ``rr[:-1]``."""
    loc = running_median(rr, 7)
    r = rr[1:] / rr[:-1]
    out["frac_dev10"] = float(np.mean(np.abs(r - 1) > 0.1))
    out["frac_dev20"] = float(np.mean(np.abs(r - 1) > 0.2))
    prem = (rr[:-1] < 0.85 * loc[:-1]) & (rr[1:] > 1.05 * loc[1:])
    out["frac_premature"] = float(np.mean(prem))
    out["frac_short"] = float(np.mean(rr < 0.8 * loc))
    out["frac_long"] = float(np.mean(rr > 1.25 * loc))
    d = np.diff(rr)
    s = np.sign(d)
    if s.size >= 2:
        out["alternation"] = float(np.mean(s[1:] * s[:-1] < 0))
    ok = (rr > 0.85 * loc) & (rr < 1.15 * loc)
    out["clean_frac"] = float(ok.mean())
    clean = rr[ok]
    if clean.size >= 3:
        out["clean_cv"] = float(clean.std() / clean.mean())
        both = ok[1:] & ok[:-1]
        if both.sum() >= 2:
            out["clean_rmssd_ms"] = float(np.sqrt(np.mean(d[both] ** 2)) * 1000)
    reg = np.abs(r - 1) < 0.1
    best = run = 0
    for v in reg:
        run = run + 1 if v else 0
        best = max(best, run)
    out["longest_regular"] = best / max(reg.size, 1)
    if rr.size >= 5:
        hr = 60 / np.convolve(rr, np.ones(5) / 5, mode="valid")
        out["hr5_max_bpm"], out["hr5_min_bpm"] = float(hr.max()), float(hr.min())
    out["frac_drr_lt30"] = float(np.mean(np.abs(d) < 0.03))
    dev, cvs = [], []
    for start in np.arange(0, max(t[-1] - 10, 0) + 1e-9, 5.0):
        m = (t >= start) & (t < start + 10)
        if m.sum() >= _MIN_BEATS:
            rw = rr[m]
            dev.append(np.mean(np.abs(rw[1:] / rw[:-1] - 1) > 0.1))
            cvs.append(rw.std() / rw.mean())
    if dev:
        out["w10_dev10_max"], out["w10_dev10_min"] = float(max(dev)), float(min(dev))
        out["w10_cv_max"], out["w10_cv_min"] = float(max(cvs)), float(min(cvs))
    out["rr_bins_frac"] = float(np.unique(np.round(rr / 0.05)).size / rr.size)
    if rr[1:].std() > 0 and rr[:-1].std() > 0:
        out["poincare_corr"] = float(np.corrcoef(rr[1:], rr[:-1])[0, 1])
    return prem


def _beats(bp: np.ndarray, fs: float, peaks: np.ndarray, prem: np.ndarray, out: dict[str, float]) -> None:
    b, a = int(_BEFORE_S * fs), int(_AFTER_S * fs)
    inside = peaks[(peaks >= b) & (peaks + a < bp.size)]
    if inside.size < _MIN_BEATS:
        return
    W = bp[inside[:, None] + np.arange(-b, a)[None, :]]
    T = np.median(W, axis=0)
    c = _rowwise_corr(W, T[None, :])
    out["corr_frac_lt90"] = float(np.mean(c < 0.9))
    out["corr_frac_lt70"] = float(np.mean(c < 0.7))
    out["corr_median"] = float(np.median(c))
    pw = slice(0, b - int(0.05 * fs))
    pc = _rowwise_corr(W[:, pw], T[None, pw])
    out["p_corr_median"] = float(np.median(pc))
    out["p_frac_gt60"] = float(np.mean(pc > 0.6))
    qrs = slice(b - int(0.06 * fs), b + int(0.06 * fs))
    out["pre_qrs_corr_min"] = float(np.percentile(_rowwise_corr(W[:, qrs], T[None, qrs]), 5))
    g = np.abs(np.diff(W[:, b - int(0.1 * fs) : b + int(0.1 * fs)], axis=1))
    out["wide_frac"] = float(np.mean((g > 0.2 * g.max(axis=1, keepdims=True)).sum(axis=1) / fs > 0.1))
    amp = np.ptp(W[:, b - int(0.05 * fs) : b + int(0.05 * fs)], axis=1)
    out["amp_cv"] = float(amp.std() / (amp.mean() + 1e-9))
    premature = peaks[np.nonzero(prem)[0] + 1]  # the beat that ends each short interval
    premature = premature[np.isin(premature, inside)]
    if premature.size:
        out["prem_corr_median"] = float(np.median(c[np.searchsorted(inside, premature)]))
    # atrial activity: what is left once the scaled template is taken out of every beat
    scale = (W @ T) / (T @ T + _EPS)
    res = bp.copy()
    covered = np.zeros(bp.size, dtype=bool)
    for k, pk in enumerate(inside):
        res[pk - b : pk + a] -= scale[k] * T
        covered[pk - b : pk + a] = True
    covered[: inside[0]] = True
    covered[inside[-1] :] = True
    if (~covered).sum() > fs:
        out["resid_rel"] = float(np.mean(res[~covered] ** 2) / (np.mean(bp**2) + _EPS))
    span = res[inside[0] : inside[-1]]
    f, psd = welch_periodogram(span, fs, min(int(4 * fs), span.size), density=False)
    band, full = (f >= 4) & (f <= 10), (f >= 1) & (f <= 40)
    if band.any():
        out["fwave_rel"] = float(psd[band].sum() / (psd[full].sum() + _EPS))
        out["fwave_peak_hz"] = float(f[band][np.argmax(psd[band])])
    lo, hi = inside[:-1] + int(0.45 * fs), inside[1:] - int(0.1 * fs)
    long_enough = hi - lo > int(0.08 * fs)
    if long_enough.any():
        tq = _segment_sd(bp, lo[long_enough], hi[long_enough])
        out["tq_sd_rel"] = float(np.median(tq) / (np.median(amp) + 1e-9))


def rhythm_features(bp: np.ndarray, fs: float, peaks: np.ndarray) -> dict[str, float]:
    """The features of the module docstring, keyed and ordered as :data:`RHYTHM_FEATURE_NAMES`.

    Args:
        bp: the record's 0.5-40 Hz band-passed single lead ``(n_samples,)`` in mV, float64, finite.
        fs: sampling rate in Hz.
        peaks: strictly increasing R-peak sample indices ``(n_beats,)`` inside the signal.

    Returns:
        ``{name: value}``; NaN where a feature is undefined (fewer than 5 beats, no whole 2 s windows, ...).

    >>> import numpy as np
    >>> fs = 250.0
    >>> t = np.arange(int(20 * fs)) / fs
    >>> peaks = np.arange(int(0.5 * fs), t.size - int(0.5 * fs), int(0.8 * fs))  # 75 bpm, regular
    >>> x = np.zeros(t.size); x[peaks] = 1.0
    >>> f = rhythm_features(np.convolve(x, np.hanning(15), mode="same"), fs, peaks)
    >>> f["duration_s"], f["frac_premature"], f["longest_regular"], round(f["hr5_max_bpm"])
    (20.0, 0.0, 1.0, 75)
    """
    out = dict.fromkeys(RHYTHM_FEATURE_NAMES, np.nan)
    out["duration_s"] = bp.size / fs
    _quality(bp, fs, peaks, out)
    if peaks.size < _MIN_BEATS:
        return out
    rr = np.diff(peaks) / fs
    prem = _rhythm(rr, peaks[1:] / fs, out)
    _beats(bp, fs, peaks, prem, out)
    return out
