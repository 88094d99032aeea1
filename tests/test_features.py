"""Handcrafted features: HRV, entropies, spectral, statistics, morphology, wavelets, record / beat matrices."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from leanecg.data.synthetic import synthetic_ecg
from leanecg.errors import LeanECGError
from leanecg.features import record as record_mod
from leanecg.features.beat import BEAT_FEATURE_NAMES, beat_feature_matrix
from leanecg.features.hrv import (
    HRV_FEATURE_NAMES,
    approximate_entropy,
    coefficient_of_sample_entropy,
    hrv_features,
    hrv_frequency_domain,
    lomb_scargle_psd,
    rr_intervals_ms,
    sample_entropy,
)
from leanecg.features.morphology import (
    MORPHOLOGY_FEATURE_NAMES,
    WAVELET_FEATURE_NAMES,
    WAVELETS,
    band_passed,
    beat_morphology,
    beat_wavelet_features,
    dwt,
)
from leanecg.features.record import record_feature_matrix, record_feature_names, record_features
from leanecg.features.rhythm import RHYTHM_FEATURE_NAMES, rhythm_features
from leanecg.features.spectral import SPECTRAL_FEATURE_NAMES, spectral_features
from leanecg.features.statistics import statistics_features

# every feature function must be silent: no RuntimeWarning from empty slices or 0/0
pytestmark = pytest.mark.filterwarnings("error")

MORPH = {n: i for i, n in enumerate(MORPHOLOGY_FEATURE_NAMES)}


def _peaks_from_rr(rr_ms: list[float], fs: float = 1000.0, start: int = 500) -> np.ndarray:
    return (start + np.concatenate([[0.0], np.cumsum(rr_ms)]) * fs / 1000.0).round().astype(np.int64)


def _modulated_rr(freq_hz: float, amp_ms: float, duration_s: float, mean_ms: float = 800.0):
    """RR series whose value at each beat time is ``mean + amp * sin(2 pi f t)``."""
    t, rr, times = 0.0, [], []
    while t < duration_s:
        r = mean_ms + amp_ms * math.sin(2 * math.pi * freq_hz * t)
        t += r / 1000.0
        rr.append(r)
        times.append(t)
    return np.array(rr), np.array(times)


# ---------------------------------------------------------------------------------------------------------
# HRV


def test_time_domain_matches_hand_computation() -> None:
    rr = [800.0, 820.0, 780.0, 900.0, 760.0]
    h = hrv_features(_peaks_from_rr(rr), 1000.0)
    # mean 812; deviations -12, 8, -32, 88, -52 -> sum of squares 11680 -> SDNN = sqrt(11680 / 4)
    assert h["n_beats"] == 6
    assert h["mean_rr_ms"] == pytest.approx(812.0)
    assert h["sdnn_ms"] == pytest.approx(math.sqrt(2920.0))
    # successive differences 20, -40, 120, -140 -> RMSSD = sqrt(36000 / 4); two of four exceed 50 ms
    assert h["rmssd_ms"] == pytest.approx(math.sqrt(9000.0))
    assert h["pnn50"] == pytest.approx(50.0)
    assert h["pnn20"] == pytest.approx(75.0)  # 40, 120, 140 exceed 20 ms; 20 itself does not
    # differences' mean -10; deviations 30, -30, 130, -130 -> SDSD = sqrt(35600 / 3)
    assert h["sdsd_ms"] == pytest.approx(math.sqrt(35600.0 / 3.0))
    assert h["median_rr_ms"] == pytest.approx(800.0)
    assert h["iqr_rr_ms"] == pytest.approx(40.0)  # 780 .. 820
    assert h["min_rr_ms"] == 760.0 and h["max_rr_ms"] == 900.0
    assert h["cv_rr"] == pytest.approx(math.sqrt(2920.0) / 812.0)
    assert h["mean_hr_bpm"] == pytest.approx(np.mean(60000.0 / np.array(rr)))
    assert h["nrmssd"] == pytest.approx(math.sqrt(9000.0) / 812.0)
    # Poincaré: SD1 = SD(successive differences) / sqrt 2
    assert h["sd1_ms"] == pytest.approx(math.sqrt(35600.0 / 3.0) / math.sqrt(2.0))
    # turning points: 820 (peak), 780 (trough), 900 (peak) of three interior values
    assert h["tpr"] == pytest.approx(1.0)
    assert list(h) == list(HRV_FEATURE_NAMES)


def test_rr_intervals_units_and_sampling_rate() -> None:
    np.testing.assert_allclose(rr_intervals_ms([0, 360, 648], 360.0), [1000.0, 800.0])


@pytest.mark.parametrize("n_peaks", [0, 1, 2])
def test_too_few_beats_give_nan_not_exceptions(n_peaks: int) -> None:
    h = hrv_features(np.arange(n_peaks) * 300, 300.0)
    assert h["n_beats"] == n_peaks
    assert all(math.isnan(v) for k, v in h.items() if k != "n_beats")


def test_perfectly_regular_rhythm_is_defined_where_it_should_be() -> None:
    h = hrv_features(np.arange(40) * 300, 300.0)
    assert h["sdnn_ms"] == 0.0 and h["rmssd_ms"] == 0.0 and h["pnn50"] == 0.0
    assert h["sampen"] == 0.0  # every template matches: perfectly predictable
    assert h["shannon_entropy_rr"] == 0.0
    assert math.isnan(h["sd1_sd2_ratio"])  # 0 / 0


def test_bad_peaks_raise_user_errors() -> None:
    with pytest.raises(LeanECGError, match="strictly increasing"):
        hrv_features([10, 5, 20], 300.0)
    with pytest.raises(LeanECGError):
        hrv_features(np.zeros((2, 2), dtype=int), 300.0)


def test_lomb_scargle_even_sampling_obeys_parseval() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(256) * 0.5
    y = rng.normal(size=t.size)
    df = 1.0 / (8 * t.size * 0.5)
    freqs = (np.arange(int(1.0 / df)) + 0.5) * df  # (0, Nyquist = 1 Hz]
    psd = lomb_scargle_psd(t, y, freqs)
    assert psd.sum() * df == pytest.approx(np.var(y), rel=0.05)


@pytest.mark.parametrize(("freq", "band"), [(0.25, "hf_power_ms2"), (0.10, "lf_power_ms2")])
def test_frequency_domain_finds_a_modulation_in_its_band(freq: float, band: str) -> None:
    rr, times = _modulated_rr(freq, 50.0, 300.0)
    f = hrv_frequency_domain(rr, times)
    other = "lf_power_ms2" if band == "hf_power_ms2" else "hf_power_ms2"
    assert f[band] == pytest.approx(50.0**2 / 2, rel=0.05)  # a sinusoid of amplitude A has power A^2 / 2
    assert f[other] < 0.01 * f[band]
    assert f["total_power_ms2"] == pytest.approx(np.var(rr), rel=0.05)
    if band == "hf_power_ms2":
        assert f["hf_peak_hz"] == pytest.approx(0.25, abs=0.01)
        assert f["lf_nu"] < 0.01
    else:
        assert f["lf_nu"] > 0.99


def test_lf_needs_one_period_of_its_lower_edge() -> None:
    rr, times = _modulated_rr(0.25, 50.0, 20.0)  # 20 s < 1 / 0.04 Hz
    f = hrv_frequency_domain(rr, times)
    assert math.isnan(f["lf_power_ms2"]) and math.isnan(f["lf_hf_ratio"])
    assert f["hf_power_ms2"] > 0


# ---------------------------------------------------------------------------------------------------------
# entropies


def _sampen_reference(x: np.ndarray, m: int, r: float) -> float:
    n_t = len(x) - m

    def count(k: int) -> int:
        return sum(
            max(abs(x[i + e] - x[j + e]) for e in range(k)) <= r
            for i in range(n_t)
            for j in range(i + 1, n_t)
        )

    b, a = count(m), count(m + 1)
    return math.log(b / a) if a and b else math.nan


def _apen_reference(x: np.ndarray, m: int, r: float) -> float:
    def phi(k: int) -> float:
        t = [x[i : i + k] for i in range(len(x) - k + 1)]
        return float(np.mean([math.log(sum(np.max(np.abs(u - v)) <= r for v in t) / len(t)) for u in t]))

    return phi(m) - phi(m + 1)


def test_sample_entropy_periodic_vs_random() -> None:
    periodic = np.tile([800.0, 900.0, 700.0, 850.0], 25)
    rand = np.random.default_rng(1).normal(800, 50, 100)
    assert sample_entropy(periodic) == 0.0
    assert sample_entropy(rand) > 1.5
    assert approximate_entropy(periodic) < 0.05 < approximate_entropy(rand)


@pytest.mark.parametrize("n", [12, 40, 75])
def test_entropies_match_a_direct_implementation(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    import leanecg.features.hrv as hrv

    monkeypatch.setattr(hrv, "_BLOCK_ELEMENTS", 64)  # exercise the blocked path too
    x = np.random.default_rng(n).normal(size=n)
    r = 0.2 * np.std(x, ddof=1)
    ref = _sampen_reference(x, 2, r)
    got = sample_entropy(x)
    assert (math.isnan(ref) and math.isnan(got)) or got == pytest.approx(ref)
    assert approximate_entropy(x) == pytest.approx(_apen_reference(x, 2, r))


def test_cosen_separates_irregular_from_regular_rhythm() -> None:
    rng = np.random.default_rng(3)
    sinus = 800 + 15 * rng.normal(size=40)
    af = rng.gamma(8.0, 100.0, size=40).clip(300, 2000)
    assert coefficient_of_sample_entropy(af) > coefficient_of_sample_entropy(sinus) + 1.0
    assert math.isnan(coefficient_of_sample_entropy([800.0, 810.0]))


# ---------------------------------------------------------------------------------------------------------
# spectral and statistics


def test_band_powers_of_a_sum_of_sines() -> None:
    fs, t = 250.0, np.arange(0, 30, 1 / 250.0)
    x = 1.0 * np.sin(2 * np.pi * 2 * t) + 0.5 * np.sin(2 * np.pi * 6 * t) + 0.25 * np.sin(2 * np.pi * 20 * t)
    s = spectral_features(x, fs)
    assert s["psd_0p5_4hz_mv2"] == pytest.approx(0.5, rel=0.03)
    assert s["psd_4_8hz_mv2"] == pytest.approx(0.125, rel=0.03)
    assert s["psd_15_40hz_mv2"] == pytest.approx(0.03125, rel=0.03)
    assert s["psd_8_15hz_mv2"] < 1e-3 and s["psd_40_100hz_mv2"] < 1e-3
    total = 0.5 + 0.125 + 0.03125
    assert s["psd_0p5_4hz_rel"] == pytest.approx(0.5 / total, rel=0.03)
    assert s["dominant_freq_hz"] == pytest.approx(2.0, abs=0.3)
    assert 0 < s["spectral_entropy"] < 0.5  # three lines: far from a flat spectrum
    assert list(s) == list(SPECTRAL_FEATURE_NAMES)


def test_bands_above_nyquist_are_nan_and_degenerate_signals_do_not_raise() -> None:
    t = np.arange(0, 10, 1 / 80.0)
    s = spectral_features(np.sin(2 * np.pi * 5 * t), 80.0)
    assert math.isnan(s["psd_40_100hz_mv2"]) and s["psd_15_40hz_mv2"] >= 0
    flat = spectral_features(np.zeros(3000), 300.0)
    assert flat["psd_total_mv2"] == 0.0 and math.isnan(flat["spectral_entropy"])
    assert all(math.isnan(v) for v in spectral_features(np.ones(10), 300.0).values())


def test_statistics_of_known_signals() -> None:
    fs, t = 100.0, np.arange(0, 20, 1 / 100.0)
    sine = statistics_features(np.sin(2 * np.pi * 5 * t + 0.1), fs)
    assert sine["zero_crossing_rate_hz"] == pytest.approx(10.0, rel=0.02)
    assert sine["skewness"] == pytest.approx(0.0, abs=1e-6)
    assert sine["kurtosis"] == pytest.approx(-1.5, abs=1e-3)  # excess kurtosis of a sine
    assert sine["sd_mv"] == pytest.approx(1 / math.sqrt(2), rel=1e-3)
    noise = statistics_features(np.random.default_rng(0).normal(size=20000), fs)
    assert abs(noise["skewness"]) < 0.1 and abs(noise["kurtosis"]) < 0.15
    assert noise["iqr_mv"] == pytest.approx(1.349, rel=0.05)
    flat = statistics_features(np.full(500, 2.0), fs)
    assert flat["mean_mv"] == 2.0 and flat["sd_mv"] == 0.0 and math.isnan(flat["skewness"])
    assert flat["flat_fraction"] == 1.0 and flat["zero_crossing_rate_hz"] == 0.0


# ---------------------------------------------------------------------------------------------------------
# morphology and wavelets


@pytest.mark.parametrize("fs", [250.0, 360.0, 500.0])
def test_pvc_beats_are_wider_and_unlike_the_template(fs: float) -> None:
    s = synthetic_ecg(60.0, fs, rhythm="pvc", pvc_fraction=0.2, seed=1)
    m = beat_morphology(s.signal[:, 0], fs, s.r_peaks)
    labels = np.array(s.beat_labels)
    done = np.isfinite(m[:, 0])
    normal, pvc = done & (labels == "N"), done & (labels == "V")
    assert normal.sum() > 30 and pvc.sum() >= 5
    w_n, w_v = np.median(m[normal, MORPH["qrs_width_ms"]]), np.median(m[pvc, MORPH["qrs_width_ms"]])
    assert 80 <= w_n <= 140  # synthetic Q-R-S spans about +-60 ms
    assert w_v > w_n + 60
    assert np.median(m[normal, MORPH["template_corr"]]) > 0.95 > np.median(m[pvc, MORPH["template_corr"]])
    assert np.median(m[normal, MORPH["r_amp_mv"]]) == pytest.approx(1.25, abs=0.15)
    assert np.median(m[normal, MORPH["t_amp_mv"]]) == pytest.approx(0.3, abs=0.1)
    assert np.median(m[pvc, MORPH["t_amp_mv"]]) < 0  # inverted T after a PVC


def test_p_wave_features_separate_sinus_from_af() -> None:
    sinus = synthetic_ecg(30.0, 300.0, rhythm="sinus", seed=2)
    af = synthetic_ecg(30.0, 300.0, rhythm="af", seed=2)
    ms = beat_morphology(sinus.signal[:, 0], 300.0, sinus.r_peaks)
    ma = beat_morphology(af.signal[:, 0], 300.0, af.r_peaks)
    col = MORPH["p_template_corr"]
    assert np.nanmedian(ms[:, col]) > 0.9 > np.nanmedian(ma[:, col])
    assert np.nanmedian(ms[:, MORPH["p_amp_mv"]]) == pytest.approx(0.15, abs=0.05)


def test_morphology_rows_align_with_peaks_and_edges_are_nan() -> None:
    s = synthetic_ecg(10.0, 360.0, seed=4)
    peaks = s.r_peaks
    m = beat_morphology(s.signal[:, 0], 360.0, peaks)
    w = beat_wavelet_features(s.signal[:, 0], 360.0, peaks)
    assert m.shape == (peaks.size, len(MORPHOLOGY_FEATURE_NAMES))
    assert w.shape == (peaks.size, len(WAVELET_FEATURE_NAMES))
    near_edge = (peaks < 0.35 * 360) | (peaks > s.signal.shape[0] - 0.55 * 360)
    assert np.isnan(m[near_edge]).all() and np.isfinite(m[~near_edge, :9]).all()
    # beats in a signal too short for any window: NaN, no filtering error
    assert np.isnan(beat_morphology(np.zeros(50), 360.0, [25])).all()
    with pytest.raises(LeanECGError, match="outside the signal"):
        beat_morphology(s.signal[:, 0], 360.0, [10, s.signal.shape[0] + 5])


def test_chunked_processing_equals_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    import leanecg.features.morphology as morphology

    s = synthetic_ecg(40.0, 360.0, rhythm="pvc", seed=8)
    x = s.signal[:, 0]
    whole_m = beat_morphology(x, 360.0, s.r_peaks)
    whole_w = beat_wavelet_features(x, 360.0, s.r_peaks)
    monkeypatch.setattr(morphology, "_CHUNK_BEATS", 7)
    np.testing.assert_array_equal(beat_morphology(x, 360.0, s.r_peaks), whole_m)
    np.testing.assert_array_equal(beat_wavelet_features(x, 360.0, s.r_peaks), whole_w)


def test_haar_dwt_known_values_and_orthonormality() -> None:
    a, d = dwt(np.array([1.0, 2.0, 3.0, 4.0]), "haar", 1)
    np.testing.assert_allclose(a, np.array([3.0, 7.0]) / math.sqrt(2))
    np.testing.assert_allclose(d, np.array([-1.0, -1.0]) / math.sqrt(2))
    h = WAVELETS["db4"]
    assert h.sum() == pytest.approx(math.sqrt(2)) and (h * h).sum() == pytest.approx(1.0)
    for shift in (2, 4, 6):  # double-shift orthogonality of the scaling filter
        assert (h[shift:] * h[:-shift]).sum() == pytest.approx(0.0, abs=1e-12)
    x = np.random.default_rng(0).normal(size=(3, 128))
    coeffs = dwt(x, "db4", 4)
    assert [c.shape[-1] for c in coeffs] == [8, 8, 16, 32, 64]
    energy = sum((c * c).sum(axis=-1) for c in coeffs)
    np.testing.assert_allclose(energy, (x * x).sum(axis=-1))  # orthonormal transform
    assert [c.size for c in dwt(np.ones(7), "haar", 2)] == [2, 2, 4]  # odd lengths are extended


def test_dwt_rejects_bad_arguments() -> None:
    with pytest.raises(LeanECGError, match="unknown wavelet"):
        dwt(np.ones(8), "sym5")
    with pytest.raises(LeanECGError, match="levels"):
        dwt(np.ones(8), "haar", 0)


def test_beat_feature_matrix_combines_rr_morphology_and_wavelets() -> None:
    s = synthetic_ecg(20.0, 360.0, rhythm="pvc", pvc_fraction=0.2, seed=5)
    x, names = beat_feature_matrix(s.signal[:, 0], 360.0, s.r_peaks)
    assert names == list(BEAT_FEATURE_NAMES) and len(set(names)) == len(names)
    assert x.shape == (s.r_peaks.size, len(names))
    assert np.isfinite(x[:, : names.index("qrs_width_ms")]).all()  # RR features always defined
    v = np.array(s.beat_labels) == "V"
    assert np.median(x[v, names.index("pre_rr_ratio")]) < 0.85  # premature
    assert np.isnan(beat_feature_matrix(np.zeros(100), 360.0, [50])[0][:, 7:]).all()


# ---------------------------------------------------------------------------------------------------------
# rhythm pattern, beat consistency, atrial activity, signal quality


def _rhythm(rhythm: str, noise_mv: float = 0.0, **kw: float) -> dict[str, float]:
    from leanecg.signal.rpeaks import detect_rpeaks

    s = synthetic_ecg(30.0, 300.0, rhythm=rhythm, seed=3, **kw)
    x = s.signal[:, 0] + np.random.default_rng(0).normal(0.0, noise_mv, s.signal.shape[0]) * (noise_mv > 0)
    peaks = s.r_peaks if noise_mv == 0 else detect_rpeaks(x, 300.0)
    return rhythm_features(band_passed(x, 300.0), 300.0, peaks)


def test_rhythm_features_tell_sinus_af_ectopy_and_noise_apart() -> None:
    sinus, af = _rhythm("sinus"), _rhythm("af")
    pvc, noisy = _rhythm("pvc", pvc_fraction=0.2), _rhythm("sinus", noise_mv=0.5)
    assert list(sinus) == list(RHYTHM_FEATURE_NAMES) and sinus["duration_s"] == 30.0
    # sinus: one regular run, no premature beats, every beat like the template with its P wave
    assert sinus["frac_premature"] == 0.0 and sinus["longest_regular"] == 1.0 and sinus["wide_frac"] == 0.0
    assert sinus["corr_median"] > 0.99 and sinus["p_corr_median"] > 0.9 and sinus["pk_agree"] == 1.0
    # AF: irregular everywhere, no P wave, fibrillatory residual between the beats
    assert af["frac_dev10"] > 0.5 and af["w10_dev10_min"] > 0.5 and af["longest_regular"] < 0.2
    assert af["p_corr_median"] < sinus["p_corr_median"] - 0.3
    assert af["fwave_rel"] > 2 * sinus["fwave_rel"] and af["clean_cv"] > 3 * sinus["clean_cv"]
    # ectopy: premature, wide beats unlike the template, RR alternating short-long
    assert pvc["frac_premature"] > 0.05 and pvc["wide_frac"] > 0.1
    assert pvc["prem_corr_median"] < 0.6 and pvc["pre_qrs_corr_min"] < 0.8 and pvc["poincare_corr"] < 0
    # the underlying rhythm once the ectopic beats are set aside is as regular as sinus
    assert pvc["clean_cv"] < 0.1
    # noise: peaks the two detectors disagree on, windows without a peaky QRS, beats unlike each other
    assert noisy["pk_agree"] < 0.9 and noisy["win_kurt_low_frac"] > 0.5 and noisy["corr_median"] < 0.8


def test_rhythm_features_of_too_few_beats_are_nan() -> None:
    f = rhythm_features(np.zeros(3000), 300.0, np.array([300, 900, 1500]))
    assert f["duration_s"] == 10.0
    undefined = [
        n
        for n in RHYTHM_FEATURE_NAMES
        if n not in ("duration_s", "win_sd_ratio", "win_empty_frac", "win_kurt_low_frac", "pk_agree")
    ]
    assert all(math.isnan(f[n]) for n in undefined)


# ---------------------------------------------------------------------------------------------------------
# record level


def test_feature_versions_only_append_columns() -> None:
    names = record_feature_names()
    rhy = [n for n in names if n.startswith("rhy_")]
    # version 2 appended the rhy_ columns after the 79 columns of version 1, which keep their order
    assert record_mod.FEATURE_VERSION == 2 and len(rhy) == len(RHYTHM_FEATURE_NAMES)
    assert names[-len(rhy) :] == rhy and len(names) - len(rhy) == 79
    assert names[0] == "hrv_n_beats" and names[78] == "morph_template_corr_iqr"


def test_record_features_names_shape_and_speed() -> None:
    s = synthetic_ecg(30.0, 300.0, rhythm="af", seed=6)
    x = s.signal[:, 0]
    vec, names = record_features(x, 300.0)
    assert names == record_feature_names() and len(set(names)) == len(names) == vec.size
    assert not np.isinf(vec).any()
    assert vec[names.index("hrv_n_beats")] == pytest.approx(s.r_peaks.size, abs=1)
    # given peaks are used as given
    vec2, _ = record_features(x, 300.0, peaks=s.r_peaks)
    assert vec2[names.index("hrv_n_beats")] == s.r_peaks.size
    # whole sample indices given as floats (or a list) are the same peaks
    vec3, _ = record_features(x, 300.0, peaks=s.r_peaks.astype(float).tolist())
    assert np.array_equal(vec2, vec3, equal_nan=True)
    timings = []
    for _ in range(5):
        t0 = time.perf_counter()
        record_features(x, 300.0)
        timings.append(time.perf_counter() - t0)
    assert sorted(timings)[2] < 0.05  # 30 s at 300 Hz: well under 50 ms (about 9 ms measured, version 2)


def test_record_features_separate_af_from_sinus() -> None:
    names = record_feature_names()
    f = {
        rhythm: record_features(synthetic_ecg(30.0, 300.0, rhythm=rhythm, seed=7).signal[:, 0], 300.0)[0]
        for rhythm in ("sinus", "af")
    }
    for name in ("hrv_nrmssd", "hrv_cosen", "hrv_sd1_ms"):
        assert f["af"][names.index(name)] > f["sinus"][names.index(name)], name


@pytest.mark.parametrize("signal", [np.zeros(9000), np.zeros(10), np.zeros(0), np.full(3000, 1.5)])
def test_degenerate_records_give_nan_not_exceptions(signal: np.ndarray) -> None:
    vec, names = record_features(signal, 300.0)
    assert vec.shape == (len(names),)
    assert vec[names.index("hrv_n_beats")] == 0
    assert np.isnan(vec[names.index("hrv_sdnn_ms")]) and np.isnan(
        vec[names.index("morph_qrs_width_ms_median")]
    )


def test_record_features_reject_multi_lead_and_nan_signals() -> None:
    with pytest.raises(LeanECGError, match="one lead"):
        record_features(np.zeros((3000, 2)), 300.0)
    with pytest.raises(LeanECGError, match="NaN"):
        record_features(np.full(3000, np.nan), 300.0)


def test_record_feature_matrix_cache_hit_on_second_call(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    signals = [
        synthetic_ecg(12.0, 300.0, rhythm=r, seed=i).signal[:, 0]
        for i, r in enumerate(("sinus", "af", "pvc"))
    ]
    calls: list[int] = []
    real = record_mod.record_features

    def counting(x, fs, peaks=None):
        calls.append(1)
        return real(x, fs, peaks)

    monkeypatch.setattr(record_mod, "record_features", counting)
    seen: list[tuple[int, int]] = []
    x1, names = record_feature_matrix(
        signals, 300.0, progress=lambda d, t: seen.append((d, t)), cache_dir=tmp_path
    )
    assert len(calls) == 3 and seen[-1] == (3, 3)
    x2, _ = record_feature_matrix(signals, 300.0, cache_dir=tmp_path)
    assert len(calls) == 3  # served from the cache
    np.testing.assert_array_equal(x1, x2)
    assert x1.shape == (3, len(names))
    # one changed record: only that one is recomputed (per-record entries)
    changed = [signals[0], signals[1] * 1.1, signals[2]]
    x3, _ = record_feature_matrix(changed, [300.0, 300.0, 300.0], cache_dir=tmp_path)
    assert len(calls) == 4
    np.testing.assert_array_equal(x3[[0, 2]], x1[[0, 2]])
    # without the cache everything is computed again, with identical values
    x4, _ = record_feature_matrix(signals, 300.0, cache=False)
    assert len(calls) == 7
    np.testing.assert_array_equal(x4, x1)
    with pytest.raises(LeanECGError, match=r"signals\[1\]"):
        record_feature_matrix([signals[0], np.zeros((10, 2))], 300.0, cache=False)
    with pytest.raises(LeanECGError, match="sampling rates"):
        record_feature_matrix(signals, [300.0, 300.0], cache_dir=tmp_path)


# ---------------------------------------------------------------------------------------------------------
# real data (skipped without it)


def test_cinc2017_records_give_plausible_features(shared_data) -> None:
    from leanecg.data import get_dataset

    ds = get_dataset("cinc2017")
    if not ds.is_present(shared_data):
        pytest.skip("cinc2017 not in the shared data")
    labels = {r: v[0] for r, v in ds.labels(shared_data).items()}
    chosen = [r for r in sorted(labels) if labels[r] == "N"][:4] + [
        r for r in sorted(labels) if labels[r] == "A"
    ][:4]
    names = record_feature_names()
    rows = {r: record_features(ds.load(shared_data, r).signal[:, 0], 300.0)[0] for r in chosen}
    for vec in rows.values():
        assert 30 < vec[names.index("hrv_mean_hr_bpm")] < 200
    nrmssd = names.index("hrv_nrmssd")
    af = np.median([rows[r][nrmssd] for r in chosen[4:]])
    normal = np.median([rows[r][nrmssd] for r in chosen[:4]])
    assert af > 2 * normal


def test_mitdb_ventricular_beats_are_wider(mitdb_dir) -> None:
    from leanecg.data import load_record
    from leanecg.data.mitdb import mitdb_beats

    beats = mitdb_beats(mitdb_dir, ["208"])
    rec = load_record(mitdb_dir / "208")
    lead = rec.signal[:, next(i for i, name in enumerate(rec.leads) if name in ("MLII", "II"))]
    peaks, idx = np.unique(beats.samples[0], return_index=True)
    labels = beats.labels[0][idx]
    m = beat_morphology(lead, rec.fs, peaks)
    w = m[:, MORPH["qrs_width_ms"]]
    assert np.nanmedian(w[labels == "V"]) > np.nanmedian(w[labels == "N"]) + 40


@pytest.mark.parametrize(("n", "nperseg"), [(9000, 1200), (9001, 1200), (3000, 1201), (1000, 1000)])
def test_batched_welch_is_scipys_welch(n: int, nperseg: int) -> None:
    """The record features' Welch PSD (all segments in one batch) equals ``scipy.signal.welch`` to rounding,
    and its unscaled form differs from it by one constant factor away from DC and Nyquist."""
    import scipy.signal as sps

    from leanecg.features.spectral import welch_periodogram

    x = np.random.default_rng(n).normal(size=n)
    f, p = welch_periodogram(x, 300.0, nperseg)
    f_ref, p_ref = sps.welch(
        x, fs=300.0, window="hann", nperseg=nperseg, detrend="constant", scaling="density"
    )
    assert np.array_equal(f, f_ref)
    np.testing.assert_allclose(p, p_ref, rtol=1e-12, atol=0)
    _, raw = welch_periodogram(x, 300.0, nperseg, density=False)
    ratio = p[1:-1] / raw[1:-1]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)


def test_morphology_quartiles_batched_equal_one_call_per_column() -> None:
    from leanecg.features.record import _column_quartiles

    rng = np.random.default_rng(3)
    for rows in (0, 1, 2, 35):
        v = rng.normal(size=(rows, 6))
        v[rng.random(v.shape) < 0.2] = np.nan
        v[:, 4] = np.nan
        q = _column_quartiles(v)
        for j in range(6):
            col = v[:, j][np.isfinite(v[:, j])]
            want = np.percentile(col, [25, 50, 75]) if col.size else np.full(3, np.nan)
            assert np.array_equal(q[:, j], want, equal_nan=True)


def test_segment_sd_is_numpys_std_of_each_segment() -> None:
    from leanecg.features.rhythm import _segment_sd

    x = np.random.default_rng(4).normal(size=5000)
    lo, hi = np.array([0, 10, 700, 4000]), np.array([3, 500, 702, 5000])
    want = [x[a:b].std() for a, b in zip(lo, hi, strict=True)]
    np.testing.assert_allclose(_segment_sd(x, lo, hi), want, rtol=1e-13)


def test_hann_window_is_scipys_bit_for_bit() -> None:
    from scipy.signal import get_window

    from leanecg.features.spectral import hann_window

    for n in [*range(1, 64), 1199, 1200, 1201, 9000]:
        assert np.array_equal(hann_window(n), get_window("hann", n)), n
