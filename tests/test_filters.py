"""Filters, resampling and normalisation: frequency responses measured numerically, edge cases, errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from leanecg.errors import LeanECGError
from leanecg.signal.filters import (
    StreamingFilter,
    bandpass,
    bandpass_sos,
    notch,
    notch_sos,
    remove_baseline,
)
from leanecg.signal.normalize import minmax, robust, zscore
from leanecg.signal.resample import resample, resample_indices, resample_ratio, resampled_length


def _sine(freq: float, fs: float, seconds: float = 20.0, amp: float = 1.0) -> np.ndarray:
    t = np.arange(round(seconds * fs)) / fs
    return amp * np.sin(2 * np.pi * freq * t)


def _gain_db(y: np.ndarray, x: np.ndarray, fs: float, margin_s: float = 5.0) -> float:
    """Steady-state gain in dB, measured away from the edges."""
    m = slice(round(margin_s * fs), -round(margin_s * fs))
    return 20 * math.log10(np.sqrt(np.mean(y[m] ** 2)) / np.sqrt(np.mean(x[m] ** 2)))


def _mitdb(mitdb_dir: Path, record: str, seconds: float) -> np.ndarray:
    wfdb = pytest.importorskip("wfdb")
    return wfdb.rdrecord(str(mitdb_dir / record), sampto=round(seconds * 360)).p_signal


# --------------------------------------------------------------------------------------- band-pass


@pytest.mark.parametrize("fs", [250.0, 360.0, 500.0])
def test_bandpass_frequency_response(fs: float) -> None:
    for freq in (5.0, 10.0, 20.0):
        x = _sine(freq, fs)
        assert abs(_gain_db(bandpass(x, fs), x, fs)) < 0.5, freq
    x = _sine(0.1, fs, seconds=60)
    assert _gain_db(bandpass(x, fs), x, fs, margin_s=15) < -20  # baseline
    x = _sine(100.0, fs)
    assert _gain_db(bandpass(x, fs), x, fs) < -40  # muscle noise band
    # -6 dB (zero-phase: twice the -3 dB of one pass) at the cut-offs
    for cut in (0.5, 40.0):
        x = _sine(cut, fs, seconds=60)
        assert _gain_db(bandpass(x, fs), x, fs, margin_s=15) == pytest.approx(-6.02, abs=0.3)


def test_bandpass_is_zero_phase() -> None:
    fs = 500.0
    t = np.arange(5000) / fs
    pulse = np.exp(-0.5 * ((t - 5.0) / 0.01) ** 2)  # a QRS-like 10 ms Gaussian
    y = bandpass(pulse, fs)
    assert int(np.argmax(y)) == int(np.argmax(pulse))
    causal = bandpass(pulse, fs, zero_phase=False)
    assert int(np.argmax(causal)) > int(np.argmax(pulse))  # one causal pass delays


def test_bandpass_nyquist_policy() -> None:
    fs = 100.0  # PTB-XL records100
    x = np.random.default_rng(0).standard_normal((1000, 12))
    # a low-pass at or above Nyquist has nothing to remove: the high-pass stage alone
    np.testing.assert_array_equal(bandpass(x, fs, 0.5, 60.0), bandpass(x, fs, 0.5, None))
    np.testing.assert_array_equal(bandpass(x, fs, 0.5, 50.0), bandpass(x, fs, 0.5, None))
    assert not np.array_equal(bandpass(x, fs, 0.5, 40.0), bandpass(x, fs, 0.5, None))
    with pytest.raises(LeanECGError, match="at or above Nyquist"):
        bandpass(x, fs, 50.0, None)
    with pytest.raises(LeanECGError, match="must be below high_hz"):
        bandpass(x, fs, 30.0, 20.0)
    with pytest.raises(LeanECGError, match="order"):
        bandpass(x, fs, order=0)
    # no stage at all: the signal unchanged
    np.testing.assert_allclose(bandpass(x, fs, None, None), x)


def test_shapes_dtypes_and_validation() -> None:
    x32 = np.random.default_rng(1).standard_normal((2000, 3)).astype(np.float32)
    y = bandpass(x32, 360)
    assert y.dtype == np.float32 and y.shape == x32.shape
    y1 = bandpass(x32[:, 0], 360)
    assert y1.shape == (2000,)
    np.testing.assert_allclose(y1, y[:, 0], atol=1e-6)
    assert bandpass(np.arange(2000), 360).dtype == np.float64
    with pytest.raises(LeanECGError, match="NaN"):
        bandpass(np.array([0.0, np.nan] * 500), 360)
    with pytest.raises(LeanECGError, match="too short"):
        bandpass(np.zeros(10), 360)
    with pytest.raises(LeanECGError, match="sampling rate"):
        bandpass(x32, 0)
    with pytest.raises(LeanECGError, match="sampling rate"):
        bandpass(x32, float("nan"))
    with pytest.raises(LeanECGError, match="shape"):
        bandpass(np.zeros((10, 2, 2)), 360)


def test_design_is_cached_and_read_only() -> None:
    a = bandpass_sos(500.0, 0.5, 40.0, 4)
    assert a is bandpass_sos(500, 0.5, 40, 4)
    assert not a.flags.writeable
    assert notch_sos(500.0) is notch_sos(500.0)


def test_filter_edges_on_real_ecg(mitdb_dir: Path) -> None:
    """A 10 s segment filtered alone matches the same filter over 2 minutes, away from its first/last second."""
    x = _mitdb(mitdb_dir, "100", 120)[:, 0]
    full = bandpass(x, 360)
    for start in (20000, 30000):
        seg = bandpass(x[start : start + 3600], 360)
        err = np.abs(seg - full[start : start + 3600])
        assert err[360:-360].max() < 0.05
        assert err.max() < 0.5


# --------------------------------------------------------------------------------------- notch


@pytest.mark.parametrize(("fs", "mains"), [(500.0, 50.0), (360.0, 60.0), (250.0, 50.0)])
def test_notch_attenuates_mains_and_keeps_passband(fs: float, mains: float) -> None:
    x = _sine(mains, fs)
    assert _gain_db(notch(x, fs, mains), x, fs) < -30
    for freq in (1.0, 10.0, 20.0):
        x = _sine(freq, fs)
        assert abs(_gain_db(notch(x, fs, mains), x, fs)) < 0.5
    # harmonics below Nyquist are notched too, unless switched off
    x = _sine(2 * mains, fs)
    assert _gain_db(notch(x, fs, mains), x, fs) < -30
    assert abs(_gain_db(notch(x, fs, mains, harmonics=False), x, fs)) < 0.5


def test_notch_harmonics_stop_below_nyquist() -> None:
    assert len(notch_sos(500.0, 50.0)) == 4  # 50, 100, 150, 200 (250 is Nyquist)
    assert len(notch_sos(360.0, 60.0)) == 2  # 60, 120
    assert len(notch_sos(360.0, 60.0, harmonics=False)) == 1


def test_notch_refuses_mains_at_or_above_nyquist() -> None:
    with pytest.raises(LeanECGError, match="not below Nyquist"):
        notch(np.zeros(1000), 100.0, 50.0)
    with pytest.raises(LeanECGError, match="quality"):
        notch(np.zeros(1000), 500.0, 50.0, quality=0)


# --------------------------------------------------------------------------------------- baseline


@pytest.mark.parametrize("method", ["highpass", "median"])
def test_remove_baseline_removes_slow_wander(method: str) -> None:
    fs = 360.0
    t = np.arange(round(30 * fs)) / fs
    # a pulse train (QRS-like spikes every 0.8 s) riding on a 0.2 Hz, 1 mV wander
    beats = sum(np.exp(-0.5 * ((t - c) / 0.012) ** 2) for c in np.arange(0.4, 30, 0.8))
    wander = np.sin(2 * np.pi * 0.2 * t)
    y = remove_baseline(beats + wander, fs, method=method)
    clean = remove_baseline(beats, fs, method=method)
    m = slice(round(3 * fs), -round(3 * fs))
    assert np.sqrt(np.mean((y - clean)[m] ** 2)) < 0.1 * np.sqrt(np.mean(wander[m] ** 2))  # > 20 dB
    # the spikes survive: the peak amplitude above the local baseline stays within 10 %
    assert np.max(y[m]) == pytest.approx(1.0, rel=0.1)


def test_highpass_baseline_passband() -> None:
    fs = 500.0
    x = _sine(0.2, fs, seconds=60)
    assert _gain_db(remove_baseline(x, fs), x, fs, margin_s=15) < -20
    x = _sine(5.0, fs)
    assert abs(_gain_db(remove_baseline(x, fs), x, fs)) < 0.5


def test_median_baseline_on_real_ecg(mitdb_dir: Path) -> None:
    """A slow wander added to a real ECG is removed by > 20 dB (the result barely changes)."""
    x = _mitdb(mitdb_dir, "103", 30)
    t = np.arange(len(x)) / 360
    wander = 0.8 * np.sin(2 * np.pi * 0.15 * t)[:, None]
    for method in ("median", "highpass"):
        diff = remove_baseline(x + wander, 360, method) - remove_baseline(x, 360, method)
        rms = np.sqrt(np.mean(diff[1080:-1080] ** 2, axis=0))
        assert np.all(rms < 0.1 * np.sqrt(np.mean(wander**2))), method


def test_remove_baseline_errors() -> None:
    with pytest.raises(LeanECGError, match="unknown baseline method"):
        remove_baseline(np.zeros(1000), 360, method="wavelet")  # type: ignore[arg-type]
    with pytest.raises(LeanECGError, match="causal"):
        remove_baseline(np.zeros(1000), 360, method="median", zero_phase=False)


# --------------------------------------------------------------------------------------- streaming


def test_streaming_filter_matches_one_pass() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5000, 2)) + 2.0  # DC offset: no start-up transient thanks to the steady state
    f = StreamingFilter.bandpass(360.0, n_leads=2).then(StreamingFilter.notch(360.0, 60.0, n_leads=2))
    sizes = rng.integers(0, 700, size=30)
    chunks = np.split(x, np.cumsum(sizes)[np.cumsum(sizes) < len(x)])
    y = np.concatenate([f.process(c) for c in chunks])
    whole = StreamingFilter(np.vstack([bandpass_sos(360.0), notch_sos(360.0, 60.0)]), 2).process(x)
    np.testing.assert_allclose(y, whole, atol=1e-12)
    one_pass = notch(bandpass(x, 360, zero_phase=False), 360, 60, zero_phase=False)
    np.testing.assert_allclose(whole, one_pass, atol=1e-9)
    # a DC offset gives no start-up transient: the state starts at the steady state of the first sample
    dc = np.full((1000, 2), 2.0)
    assert np.abs(StreamingFilter.bandpass(360.0, n_leads=2).process(dc)).max() < 1e-9
    f.reset()
    np.testing.assert_allclose(f.process(x[:100]), whole[:100], atol=1e-12)
    with pytest.raises(LeanECGError, match="expected"):
        f.process(np.zeros((10, 3)))
    assert f.process(np.zeros((0, 2))).shape == (0, 2)


# --------------------------------------------------------------------------------------- resample


@pytest.mark.parametrize(
    ("fs_in", "fs_out", "ratio"),
    [
        (360, 250, (25, 36)),
        (300, 500, (5, 3)),
        (257, 500, (500, 257)),
        (100, 500, (5, 1)),
        (500, 100, (1, 5)),
    ],
)
def test_resample_lengths_and_fidelity(fs_in: float, fs_out: float, ratio: tuple[int, int]) -> None:
    assert resample_ratio(fs_in, fs_out) == ratio
    n = round(12.3 * fs_in)
    t = np.arange(n) / fs_in
    x = np.column_stack([np.sin(2 * np.pi * 5 * t) + 1.0, 0.3 * np.sin(2 * np.pi * 17.3 * t + 1)])
    y = resample(x, fs_in, fs_out)
    up, down = ratio
    assert y.shape == (math.ceil(n * up / down), 2) == (resampled_length(n, fs_in, fs_out), 2)
    to = np.arange(len(y)) / fs_out
    ref = np.column_stack([np.sin(2 * np.pi * 5 * to) + 1.0, 0.3 * np.sin(2 * np.pi * 17.3 * to + 1)])
    m = slice(len(y) // 10, -len(y) // 10)
    assert np.abs(y[m] - ref[m]).max() < 0.01


def test_resample_non_integer_rates() -> None:
    up, down = resample_ratio(1000 / 3, 250)
    assert (up, down) == (3, 4)
    up, down = resample_ratio(257.3, 500)
    assert max(up, down) <= 1000
    assert abs(257.3 * up / down - 500) / 500 < 1e-5


def test_resample_keeps_dtype_and_copies() -> None:
    x = np.random.default_rng(0).standard_normal(3600).astype(np.float32)
    y = resample(x, 360, 360)
    assert y.dtype == np.float32 and y is not x and np.array_equal(x, y)
    assert resample(x, 360, 250).dtype == np.float32
    assert resample(np.array([1.0]), 100, 500).shape == (5,)


def test_resample_indices_follow_the_signal() -> None:
    fs_in, fs_out = 360.0, 250.0
    n = 3600
    idx = np.array([100, 717, 1500, 2222, 3333])
    t = np.arange(n)
    x = sum(np.exp(-0.5 * ((t - i) / 4.0) ** 2) for i in idx)
    y = resample(x, fs_in, fs_out)
    mapped = resample_indices(idx, fs_in, fs_out, n_out=len(y))
    assert mapped.dtype == np.int64
    for m in mapped:
        local = m - 3 + int(np.argmax(y[m - 3 : m + 4]))
        assert abs(local - m) <= 1
    assert resample_indices(np.array([3599]), 360, 250, n_out=2500)[0] == 2499
    assert resample_indices(np.array([], dtype=np.int64), 360, 250).shape == (0,)
    with pytest.raises(LeanECGError, match="non-negative"):
        resample_indices(np.array([-1]), 360, 250)
    with pytest.raises(LeanECGError, match="whole numbers"):
        resample_indices(np.array([1.5]), 360, 250)


# --------------------------------------------------------------------------------------- normalise


def test_zscore_minmax_robust() -> None:
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(2.0, 3.0, 5000), rng.normal(-1.0, 0.5, 5000), np.full(5000, 7.0)])
    z = zscore(x)
    np.testing.assert_allclose(z[:, :2].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z[:, :2].std(axis=0), 1, atol=1e-12)
    assert np.all(z[:, 2] == 0)  # flat lead: zeros, not NaN
    mm = minmax(x, feature_range=(-1.0, 1.0))
    np.testing.assert_allclose(mm[:, :2].min(axis=0), -1)
    np.testing.assert_allclose(mm[:, :2].max(axis=0), 1)
    assert np.all(mm[:, 2] == 0)
    r = robust(x)
    lo, med, hi = np.percentile(r[:, :2], [25, 50, 75], axis=0)
    np.testing.assert_allclose(med, 0, atol=1e-12)
    np.testing.assert_allclose(hi - lo, 1, atol=1e-12)
    assert np.all(r[:, 2] == 0)
    for y in (z, mm, r):
        assert np.isfinite(y).all() and y.shape == x.shape


def test_global_normalisation_keeps_lead_ratios() -> None:
    rng = np.random.default_rng(1)
    base = rng.standard_normal(2000)
    x = np.column_stack([base, 3.0 * base, np.zeros(2000)]).astype(np.float32)
    z = zscore(x, per_lead=False)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z[:, 1] - z[0, 1], 3.0 * (z[:, 0] - z[0, 0]), rtol=1e-4, atol=1e-4)
    assert np.all(z[:, 2] == 0)  # the zero-filled lead stays zero
    assert zscore(x[:, 0]).shape == (2000,)


def test_normalise_errors() -> None:
    with pytest.raises(LeanECGError, match="eps"):
        zscore(np.zeros(10), eps=-1)
    with pytest.raises(LeanECGError, match="feature_range"):
        minmax(np.zeros(10), feature_range=(1.0, 1.0))
    with pytest.raises(LeanECGError, match="quantiles"):
        robust(np.zeros(10), quantiles=(75.0, 25.0))
    with pytest.raises(LeanECGError, match="NaN"):
        zscore(np.array([1.0, np.nan]))
