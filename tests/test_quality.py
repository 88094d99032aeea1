"""Signal quality: thresholds checked on real data (clean MIT-BIH vs NSTDB noise) and synthetic faults."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from leanecg.errors import LeanECGError
from leanecg.signal.quality import QualityThresholds, signal_quality, window_quality
from wfdbhelp import read_segment

FS = 360.0


@pytest.fixture(scope="module")
def clean_ecg(mitdb_dir: Path) -> dict[str, np.ndarray]:
    """First 5 minutes of MIT-BIH records with clean starts (both leads)."""
    return {r: read_segment(mitdb_dir / r, 300) for r in ("100", "103", "119", "213", "220")}


@pytest.fixture(scope="module")
def nstdb(shared_data: Path) -> dict[str, np.ndarray]:
    """First 10 minutes of the NSTDB baseline-wander and muscle-artefact noise records (mV, gain 200/mV)."""
    return {k: read_segment(shared_data / "nstdb_noise" / k, 600) for k in ("bw", "ma")}


def test_clean_mitdb_windows_are_usable(clean_ecg: dict[str, np.ndarray]) -> None:
    for name, x in clean_ecg.items():
        wq = window_quality(x, FS, win_s=10.0)
        assert wq.usable.shape == (30, 2)
        assert wq.usable.all(), (name, wq.to_dict())
        report = signal_quality(x, FS)
        assert report.all_usable and report.problems == [[], []]


def test_nstdb_noise_is_flagged(nstdb: dict[str, np.ndarray]) -> None:
    for kind, noise in nstdb.items():
        wq = window_quality(noise, FS, win_s=10.0)
        flagged = 1.0 - wq.usable.mean()
        assert flagged >= 0.9, (kind, flagged)
    # which index catches them: baseline wander for bw, broadband power (pSQI / HF ratio) for ma
    bw = window_quality(nstdb["bw"], FS, 10.0)
    ma = window_quality(nstdb["ma"], FS, 10.0)
    assert np.median(bw.baseline_ratio) > 0.9
    assert np.median(ma.qrs_power_ratio) < 0.3
    assert np.median(ma.hf_noise_ratio) > 0.15


def test_noise_added_to_ecg_degrades_the_indices(
    clean_ecg: dict[str, np.ndarray], nstdb: dict[str, np.ndarray]
) -> None:
    x = clean_ecg["100"][: round(60 * FS)]
    noise = nstdb["ma"][: len(x)]
    gain = np.sqrt(x.var(axis=0) / noise.var(axis=0))  # 0 dB (variance ratio)
    clean = signal_quality(x, FS)
    noisy = signal_quality(x + gain * noise, FS)
    assert np.all(noisy.hf_noise_ratio > 2 * clean.hf_noise_ratio)
    assert np.all(noisy.qrs_power_ratio < clean.qrs_power_ratio)
    assert np.all(noisy.ksqi < clean.ksqi)


def test_flat_and_clipped_segments_are_flagged(clean_ecg: dict[str, np.ndarray]) -> None:
    x = clean_ecg["103"][: round(10 * FS)].copy()
    # lead off for 4 s in lead 0
    flat = x.copy()
    flat[1000:2440, 0] = 0.3
    q = signal_quality(flat, FS)
    assert q.flat_fraction[0] == pytest.approx(1440 / len(x), abs=0.01)
    assert q.flat_fraction[1] == 0.0
    assert q.usable.tolist() == [False, True]
    assert q.problems[0][0].startswith("flat 40% > 10%")
    # saturation: a large wander pushes the signal into +-1.2 mV rails
    t = np.arange(len(x)) / FS
    clipped = np.clip(x + 1.5 * np.sin(2 * np.pi * 0.2 * t)[:, None], -1.2, 1.2)
    q = signal_quality(clipped, FS)
    assert np.all(q.clip_fraction > 0.2)
    assert not q.usable.any()
    assert all(any(p.startswith("clipped") for p in probs) for probs in q.problems)
    # the original record has no clipping and no flat line
    q = signal_quality(x, FS)
    assert np.all(q.clip_fraction == 0) and np.all(q.flat_fraction == 0)


def test_zero_and_missing_leads() -> None:
    rng = np.random.default_rng(0)
    x = np.zeros((3600, 3))
    x[:, 1] = rng.standard_normal(3600)
    x[:, 2] = np.nan
    q = signal_quality(x, FS, leads=["I", "II", "III"])
    assert q.flat_fraction[0] == 1.0 and q.ksqi[0] == 0.0
    assert q.nan_fraction.tolist() == [0.0, 0.0, 1.0]
    assert q.problems[2] == ["no valid samples"]
    assert q.usable.tolist() == [False, False, False]  # Gaussian noise: kSQI ~3 < 3.5, pSQI low
    d = q.to_dict()
    text = json.dumps(d, allow_nan=False)  # strictly valid JSON
    assert json.loads(text)["ksqi"][2] is None
    assert d["leads"] == ["I", "II", "III"] and d["usable"] == [False, False, False]
    assert d["thresholds"]["min_ksqi"] == QualityThresholds().min_ksqi
    # partial gaps: counted, then interpolated for the other indices
    y = np.tile(np.sin(np.arange(3600) / 9.0)[:, None], (1, 1))
    y[100:600] = np.nan
    assert signal_quality(y, FS).nan_fraction[0] == pytest.approx(500 / 3600)


def test_window_quality_layout(clean_ecg: dict[str, np.ndarray]) -> None:
    x = clean_ecg["119"][: round(65 * FS)]
    wq = window_quality(x, FS, win_s=10.0, hop_s=5.0, leads=["MLII", "V1"])
    # starts every 5 s; the last window ends exactly at the last sample
    assert wq.win == 3600
    assert wq.starts[-1] == len(x) - 3600
    assert np.all(np.diff(wq.starts[:-1]) == 1800)
    assert wq.ksqi.shape == (len(wq.starts), 2)
    assert wq.usable_windows("all").shape == (len(wq.starts),)
    json.dumps(wq.to_dict(), allow_nan=False)
    # a signal shorter than one window is one window
    short = window_quality(x[: round(4 * FS)], FS, win_s=10.0)
    assert short.starts.tolist() == [0] and short.win == round(4 * FS)
    single = signal_quality(x[: round(4 * FS)], FS)
    np.testing.assert_allclose(short.ksqi[0], single.ksqi)


def test_quality_validation() -> None:
    with pytest.raises(LeanECGError, match="at least 1 s"):
        signal_quality(np.zeros(100), FS)
    with pytest.raises(LeanECGError, match="fs >= 50"):
        signal_quality(np.zeros(1000), 40.0)
    with pytest.raises(LeanECGError, match=r"^QualityThresholds\.min_ksqi: must be a number >= 0, got -1$"):
        QualityThresholds(min_ksqi=-1)
    with pytest.raises(LeanECGError, match=r"^QualityThresholds\.clip_min_s: must be a positive number"):
        QualityThresholds(clip_min_s=0.0)
    with pytest.raises(LeanECGError, match="lead names"):
        signal_quality(np.zeros((1000, 2)), FS, leads=["I"])
    with pytest.raises(LeanECGError, match="win_s"):
        window_quality(np.zeros(4000), FS, win_s=0.5)
    lenient = QualityThresholds(min_ksqi=0.0, min_qrs_power_ratio=0.0, max_hf_noise_ratio=1e9)
    noise = np.random.default_rng(0).standard_normal(3600)
    assert signal_quality(noise, FS, thresholds=lenient).all_usable


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("LEANECG_SLOW"), reason="~25 s of CPU: set LEANECG_SLOW=1 to run")
def test_documented_validation_figures(mitdb_dir: Path, shared_data: Path) -> None:
    """The table in leanecg.signal.quality's docstring: all 48 MIT-BIH records and both whole NSTDB records."""
    wfdb = pytest.importorskip("wfdb")
    names = (mitdb_dir / "RECORDS").read_text().split()
    if len(names) != 48:
        pytest.skip("needs the complete MIT-BIH Arrhythmia Database")
    usable = [window_quality(wfdb.rdrecord(str(mitdb_dir / r)).p_signal, FS, 10.0).usable for r in names]
    cells = np.concatenate([u.ravel() for u in usable])
    assert cells.size == 17376
    assert cells.mean() == pytest.approx(0.977, abs=0.0005)
    for kind, expected in (("bw", 0.033), ("ma", 0.025)):
        noise = wfdb.rdrecord(str(shared_data / "nstdb_noise" / kind)).p_signal
        wq = window_quality(noise, FS, 10.0)
        assert wq.usable.size == 362
        assert wq.usable.mean() == pytest.approx(expected, abs=0.0005)
