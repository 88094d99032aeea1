"""Augmentations: SNR accuracy on real ECG and noise, determinism under a seed, units and invariants."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from leanecg.errors import LeanECGError
from leanecg.signal.augment import (
    AmplitudeScale,
    BaselineWander,
    Compose,
    GaussianNoise,
    LeadDropout,
    RandomCrop,
    RealNoise,
    TimeMask,
    TimeShift,
    add_real_noise,
    amplitude_scale,
    baseline_wander,
    gaussian_noise,
    lead_dropout,
    measure_snr_db,
    random_crop,
    time_mask,
    time_shift,
)
from leanecg.signal.resample import resample
from wfdbhelp import read_segment

FS = 360.0


@pytest.fixture(scope="module")
def ecg(mitdb_dir: Path) -> np.ndarray:
    return read_segment(mitdb_dir / "100", 20).astype(np.float32)


@pytest.fixture(scope="module")
def ma_noise(shared_data: Path) -> np.ndarray:
    return read_segment(shared_data / "nstdb_noise" / "ma", 300)


def _synthetic(n: int = 3600, leads: int = 3) -> np.ndarray:
    t = np.arange(n) / FS
    return np.column_stack([np.sin(2 * np.pi * (1 + k) * t) * (k + 1) for k in range(leads)])


@pytest.mark.parametrize("snr", [-6.0, 0.0, 6.0, 12.0, 24.0])
def test_gaussian_noise_hits_the_target_snr(ecg: np.ndarray, snr: float) -> None:
    rng = np.random.default_rng(int(snr) + 100)
    noisy = gaussian_noise(ecg, rng, snr)
    measured = measure_snr_db(ecg, noisy)
    assert measured.shape == (2,)
    assert np.all(np.abs(measured - snr) < 0.5), measured
    assert noisy.dtype == np.float32


@pytest.mark.parametrize("snr", [0.0, 6.0, 12.0])
def test_real_noise_hits_the_target_snr(ecg: np.ndarray, ma_noise: np.ndarray, snr: float) -> None:
    rng = np.random.default_rng(7)
    noisy = add_real_noise(ecg, ma_noise, rng, snr)
    assert np.all(np.abs(measure_snr_db(ecg, noisy) - snr) < 0.5)
    # the added noise is a segment of the recording, scaled: it correlates perfectly with one
    added = (noisy - ecg).astype(np.float64)[:, 0]
    assert np.std(added) > 0


def test_real_noise_class_resamples_the_noise(ecg: np.ndarray, ma_noise: np.ndarray) -> None:
    x500 = resample(ecg, FS, 500.0)
    aug = RealNoise(ma_noise, noise_fs=FS, snr_db=3.0)
    noisy = aug(x500, 500.0, np.random.default_rng(1))
    assert noisy.shape == x500.shape
    assert np.all(np.abs(measure_snr_db(x500, noisy) - 3.0) < 0.5)
    assert 500.0 in aug._by_fs and len(aug._by_fs[500.0]) == round(len(ma_noise) * 500 / 360)


def test_real_noise_offsets_and_wrapping() -> None:
    """The segment starts at a random sample and wraps around a noise recording shorter than the signal."""
    noise = np.arange(100.0)[:, None] * np.array([1.0, -1.0])  # a ramp: each sample tells its position
    x = _synthetic(250, 2)
    starts = set()
    for seed in range(30):
        added = (add_real_noise(x, noise, np.random.default_rng(seed), 0.0) - x)[:, 0]
        step = np.median(np.abs(np.diff(added)))  # gain * 1 between neighbouring noise samples
        pos = np.rint(np.abs(added) / step).astype(int)  # noise sample index used at each signal sample
        start = int(pos[0])
        np.testing.assert_array_equal(pos, (start + np.arange(250)) % 100)
        starts.add(start)
    assert len(starts) > 15


def test_determinism_under_a_seed() -> None:
    x = _synthetic()
    pipeline = Compose(
        [
            RandomCrop(duration_s=8.0),
            AmplitudeScale(0.5, 2.0, per_lead=True),
            BaselineWander(amplitude_mv=0.5),
            GaussianNoise(snr_db=(5.0, 25.0)),
            RealNoise(
                np.random.default_rng(9).standard_normal((2000, 2)), noise_fs=FS, snr_db=(0.0, 10.0), p=0.5
            ),
            TimeShift(max_shift_s=0.3),
            LeadDropout(p_drop=0.5),
            TimeMask(n_masks=2, max_width_s=0.5),
        ]
    )
    a = pipeline(x, FS, np.random.default_rng(42))
    b = pipeline(x, FS, np.random.default_rng(42))
    c = pipeline(x, FS, np.random.default_rng(43))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (round(8 * FS), 3)
    assert not np.array_equal(a, c)
    assert np.array_equal(x, _synthetic())  # input untouched
    assert len(pipeline) == 8


def test_amplitude_scale() -> None:
    x = _synthetic()
    ok = np.abs(x) > 1e-6
    gains = []
    for seed in range(200):
        y = amplitude_scale(x, np.random.default_rng(seed), 0.8, 1.25)
        g = y[ok] / x[ok]
        gains.append(np.median(g))
        assert np.allclose(g, gains[-1])  # one gain for all leads
    gains = np.array(gains)
    assert gains.min() >= 0.8 and gains.max() <= 1.25
    assert abs(np.mean(np.log(gains))) < 0.03  # log-uniform: symmetric around 1
    y = amplitude_scale(x, np.random.default_rng(0), 0.5, 2.0, per_lead=True)
    per = [np.median(y[ok[:, k], k] / x[ok[:, k], k]) for k in range(3)]
    assert len({round(p, 6) for p in per}) == 3


def test_baseline_wander_units() -> None:
    x = np.zeros((round(60 * FS), 2))
    y = baseline_wander(x, FS, np.random.default_rng(0), amplitude_mv=0.4, freq_range_hz=(0.1, 0.3))
    assert np.abs(y).max() <= 0.4 and np.abs(y).max() > 0.05
    spectrum = np.abs(np.fft.rfft(y, axis=0)) ** 2
    f = np.fft.rfftfreq(len(y), 1 / FS)
    assert spectrum[f <= 0.35].sum() / spectrum.sum() > 0.99  # all power in the requested band
    with pytest.raises(LeanECGError, match="Nyquist"):
        baseline_wander(x, 100.0, np.random.default_rng(0), freq_range_hz=(1.0, 60.0))


def test_time_shift_and_crop() -> None:
    x = np.arange(100.0)
    for seed in range(10):
        y = time_shift(x, 100.0, np.random.default_rng(seed), max_shift_s=0.2)
        nz = np.flatnonzero(y)
        shift = int(y[nz[0]] - nz[0]) * -1 if nz.size else 0
        assert abs(shift) <= 20
        np.testing.assert_array_equal(y[nz], x[nz - shift])
        r = time_shift(x, 100.0, np.random.default_rng(seed), max_shift_s=0.2, mode="roll")
        assert sorted(r) == sorted(x)
    c = random_crop(x, 100.0, np.random.default_rng(3), duration_s=0.3)
    assert c.shape == (30,) and np.all(np.diff(c) == 1)
    assert random_crop(x, 100.0, np.random.default_rng(3), duration_s=2.0).shape == (200,)  # zero-padded


def test_lead_dropout_and_time_mask() -> None:
    x = _synthetic(3600, 12) + 5.0
    for seed in range(50):
        y = lead_dropout(x, np.random.default_rng(seed), p_drop=0.9)
        kept = np.any(y != 0, axis=0)
        assert kept.sum() >= 1
        np.testing.assert_array_equal(y[:, kept], x[:, kept])
        assert np.all(y[:, ~kept] == 0)
    assert np.array_equal(lead_dropout(x[:, 0], np.random.default_rng(0), p_drop=1.0), x[:, 0])
    y = lead_dropout(x, np.random.default_rng(0), p_drop=1.0, min_keep=3)
    assert np.any(y != 0, axis=0).sum() == 3
    m = time_mask(x, FS, np.random.default_rng(0), n_masks=1, max_width_s=0.5)
    masked = np.all(m == 0, axis=1)
    assert 0 < masked.sum() <= round(0.5 * FS)
    idx = np.flatnonzero(masked)
    assert np.all(np.diff(idx) == 1)  # one contiguous span, all leads
    np.testing.assert_array_equal(m[~masked], x[~masked])


def test_probability_and_validation() -> None:
    x = _synthetic()
    never = GaussianNoise(snr_db=0.0, p=0.0)
    y = never(x, FS, np.random.default_rng(0))
    assert np.array_equal(y, x) and y is not x
    applied = sum(
        not np.array_equal(GaussianNoise(snr_db=0.0, p=0.3)(x, FS, np.random.default_rng(s)), x)
        for s in range(200)
    )
    assert 40 <= applied <= 80
    with pytest.raises(LeanECGError, match=r"np\.random\.Generator"):
        gaussian_noise(x, 0, 10.0)  # type: ignore[arg-type]
    with pytest.raises(LeanECGError, match=r"^GaussianNoise\.p: must be a number in \[0, 1\], got 1\.5$"):
        GaussianNoise(p=1.5)
    with pytest.raises(LeanECGError, match=r"^GaussianNoise\.snr_db: "):
        GaussianNoise(snr_db=(20.0, 10.0))
    # the class forms check their fields when built, not on the first call
    with pytest.raises(LeanECGError, match=r"^TimeMask\.n_masks: must be an integer >= 0, got -1$"):
        TimeMask(n_masks=-1)
    with pytest.raises(LeanECGError, match=r"^TimeShift\.mode: unknown mode 'wrap'"):
        TimeShift(mode="wrap")  # type: ignore[arg-type]
    with pytest.raises(LeanECGError, match=r"^AmplitudeScale\.low: range must be"):
        AmplitudeScale(2.0, 1.0)
    with pytest.raises(LeanECGError, match="callable"):
        Compose([1])
    # flat leads get no noise (SNR undefined) instead of NaN
    flat = np.zeros((1000, 2))
    assert np.all(gaussian_noise(flat, np.random.default_rng(0), 10.0) == 0)
