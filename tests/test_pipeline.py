"""Pipeline: composition, fs and lead tracking, the stored JSON format, fingerprints, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from leanecg.errors import LeanECGError
from leanecg.signal import Pipeline
from leanecg.signal.filters import bandpass, notch, remove_baseline
from leanecg.signal.leads import LEAD_SETS
from leanecg.signal.normalize import zscore
from leanecg.signal.pipeline import OPS, VERSION
from leanecg.signal.resample import resample

STEPS = [
    {"op": "bandpass", "low_hz": 0.5, "high_hz": 40},
    {"op": "resample", "fs_out": 250},
    {"op": "zscore"},
]
# sha256 of the canonical JSON of Pipeline(STEPS): changes only if the stored format changes (then bump VERSION)
STEPS_FINGERPRINT = "c0dd5bc0ea181f08a163271ea897b16d1271d6541681a48417949959bd1dbcaf"


@pytest.fixture(scope="module")
def mitdb_segment(mitdb_dir: Path) -> tuple[np.ndarray, list[str]]:
    wfdb = pytest.importorskip("wfdb")
    rec = wfdb.rdrecord(str(mitdb_dir / "100"), sampfrom=3600, sampto=3600 + 3600 * 3)
    return rec.p_signal.astype(np.float32), list(rec.sig_name)


@pytest.fixture(scope="module")
def ptbxl_record(shared_data: Path) -> tuple[np.ndarray, float, list[str]]:
    wfdb = pytest.importorskip("wfdb")
    rec = wfdb.rdrecord(str(shared_data / "ptbxl" / "records100" / "00000" / "00007_lr"))
    return rec.p_signal.astype(np.float32), float(rec.fs), list(rec.sig_name)


def test_pipeline_equals_the_functions_it_names(mitdb_segment: tuple[np.ndarray, list[str]]) -> None:
    x, _ = mitdb_segment
    y, fs_out = Pipeline(STEPS)(x, 360)
    manual = zscore(resample(bandpass(x.astype(np.float64), 360, 0.5, 40.0), 360, 250))
    assert fs_out == 250.0
    assert y.dtype == np.float32 and y.shape == (7500, 2)
    np.testing.assert_allclose(y, manual.astype(np.float32), rtol=0, atol=1e-6)


def test_json_round_trip_gives_identical_output(mitdb_segment: tuple[np.ndarray, list[str]]) -> None:
    x, leads = mitdb_segment
    p = Pipeline(
        [
            {"op": "interpolate_gaps", "max_gap_s": 0.2},
            {"op": "notch", "freq_hz": 60},
            {"op": "remove_baseline", "method": "median"},
            {"op": "bandpass", "low_hz": None, "high_hz": 45.0, "order": 3},
            {"op": "resample", "fs_out": 500},
            {"op": "leads", "leads": ["II", "V5"]},
            {"op": "fixed_length", "duration_s": 20.0, "mode": "start", "pad": "edge"},
            {"op": "robust", "q_low": 10, "q_high": 90},
        ]
    )
    text = p.to_json()
    q = Pipeline.from_json(text)
    assert q == p and q.fingerprint() == p.fingerprint() and hash(q) == hash(p)
    assert Pipeline.from_dict(json.loads(text)) == p
    a = p.apply(x, 360, leads=leads)
    b = q.apply(x, 360, leads=leads)
    np.testing.assert_array_equal(a.signal, b.signal)
    assert a.signal.shape == (10000, 2) and a.fs == 500.0 and a.leads == ["II", "V5"]


def test_stored_format_is_complete_and_stable() -> None:
    p = Pipeline(STEPS)
    d = p.to_dict()
    assert d["format"] == "leanecg.pipeline" and d["version"] == VERSION == 1
    assert d["steps"][0] == {"op": "bandpass", "low_hz": 0.5, "high_hz": 40.0, "order": 4, "zero_phase": True}
    assert d["steps"][1] == {"op": "resample", "fs_out": 250.0}
    assert isinstance(d["steps"][0]["order"], int) and isinstance(d["steps"][1]["fs_out"], float)
    assert p.fingerprint() == STEPS_FINGERPRINT
    # defaults written or not, ints or floats: the same pipeline
    same = Pipeline(
        [{"op": "bandpass"}, {"op": "resample", "fs_out": 250.0}, {"op": "zscore", "per_lead": True}]
    )
    assert same == p and same.fingerprint() == STEPS_FINGERPRINT
    other = Pipeline([{"op": "bandpass", "high_hz": 45}, *STEPS[1:]])
    assert other != p and other.fingerprint() != p.fingerprint()
    assert len(p) == 3 and len(p + other) == 6
    # steps are copies: mutating them does not change the pipeline
    p.steps[0]["low_hz"] = 5.0
    assert p.fingerprint() == STEPS_FINGERPRINT
    assert set(OPS) >= {"bandpass", "notch", "remove_baseline", "resample", "leads", "zscore"}


def test_save_and_load(tmp_path: Path) -> None:
    p = Pipeline(STEPS)
    target = tmp_path / "model" / "pipeline.json"
    p.save(target)
    assert Pipeline.load(target) == p
    assert json.loads(target.read_text())["version"] == 1
    with pytest.raises(LeanECGError, match="not found"):
        Pipeline.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(LeanECGError) as err:
        Pipeline.load(bad)
    assert err.value.path == str(bad) and "not valid JSON" in err.value.problem


def test_fs_tracking() -> None:
    x = np.random.default_rng(0).standard_normal(3000)  # 10 s at 300 Hz (CinC 2017)
    p = Pipeline([{"op": "resample", "fs_out": 500}, {"op": "bandpass"}, {"op": "resample", "fs_out": 250}])
    y, fs_out = p(x, 300)
    assert fs_out == 250.0 == p.output_fs(300)
    assert y.shape == (2500,)  # 1-D in, 1-D out
    # fixed_length in seconds uses the rate at that point of the pipeline
    q = Pipeline([{"op": "resample", "fs_out": 100}, {"op": "fixed_length", "duration_s": 30.0}])
    y, fs_out = q(x, 300)
    assert y.shape == (3000,) and fs_out == 100.0
    # 100 Hz PTB-XL through a 0.5-40 Hz, then 60 Hz low-pass pipeline: both legal (60 >= Nyquist is dropped)
    assert Pipeline([{"op": "bandpass", "high_hz": 60}])(x[:1000], 100)[0].shape == (1000,)


def test_lead_selection_step(ptbxl_record: tuple[np.ndarray, float, list[str]]) -> None:
    x, fs, leads = ptbxl_record
    assert leads[3] == "AVR"  # PTB-XL spelling
    p = Pipeline([{"op": "leads", "leads": list(LEAD_SETS["3"])}, {"op": "bandpass"}])
    out = p.apply(x, fs, leads=leads)
    assert out.leads == ["I", "II", "V2"] and out.mask.all() and out.signal.shape == (1000, 3)
    np.testing.assert_allclose(out.signal[:, 2], bandpass(x[:, 7].astype(np.float64), fs), atol=1e-6)
    # a 2-lead device asked for 12 leads: limb leads derived, chest leads zero-filled and masked
    two = x[:, :2]
    p12 = Pipeline([{"op": "leads", "leads": list(LEAD_SETS["12"]), "missing": "derive"}, {"op": "zscore"}])
    out = p12.apply(two, fs, leads=["I", "II"])
    assert out.mask.tolist() == [True] * 6 + [False] * 6
    assert np.all(out.signal[:, 6:] == 0)
    full = p12.apply(x, fs, leads=leads)
    np.testing.assert_allclose(out.signal[:, :6], full.signal[:, :6], atol=0.02)  # derived ~= recorded
    with pytest.raises(LeanECGError, match="pass the record's lead names"):
        p(x, fs)
    # by index, no names needed
    y, _ = Pipeline([{"op": "leads", "leads": [1]}])(x, fs)
    np.testing.assert_array_equal(y[:, 0], x[:, 1])
    with pytest.raises(LeanECGError, match="unknown lead 'V7'"):
        Pipeline([{"op": "leads", "leads": ["V7"]}])(x, fs, leads=leads)


def test_causal_and_median_options(mitdb_segment: tuple[np.ndarray, list[str]]) -> None:
    x, _ = mitdb_segment
    x64 = x.astype(np.float64)
    y, _ = Pipeline([{"op": "bandpass", "zero_phase": False}])(x, 360)
    np.testing.assert_allclose(y, bandpass(x64, 360, zero_phase=False), atol=1e-6)
    y, _ = Pipeline([{"op": "notch", "freq_hz": 60, "harmonics": False}])(x, 360)
    np.testing.assert_allclose(y, notch(x64, 360, 60, harmonics=False), atol=1e-6)
    y, _ = Pipeline([{"op": "remove_baseline", "method": "median"}])(x, 360)
    np.testing.assert_allclose(y, remove_baseline(x64, 360, "median"), atol=1e-6)


def test_gaps_step_and_float32_output() -> None:
    x = np.sin(np.arange(2000) / 20.0)
    x[500:520] = np.nan
    y, _ = Pipeline([{"op": "interpolate_gaps"}, {"op": "bandpass"}])(x, 250)
    assert y.dtype == np.float32 and np.isfinite(y).all()
    with pytest.raises(LeanECGError, match="NaN"):
        Pipeline([{"op": "bandpass"}])(x, 250)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([{"op": "bandpas"}], "unknown op 'bandpas'; available: bandpass, fixed_length"),
        ([{"low_hz": 1}], "unknown op None"),
        (["bandpass"], "must be an object"),
        (
            [{"op": "bandpass", "low": 1}],
            "unknown parameter 'low'; known: low_hz, high_hz, order, zero_phase",
        ),
        ([{"op": "resample"}], "missing required parameter 'fs_out'"),
        ([{"op": "resample", "fs_out": "250"}], "fs_out must be a positive number"),
        ([{"op": "resample", "fs_out": -1}], "fs_out must be a positive number"),
        ([{"op": "bandpass", "order": 2.5}], "order must be a positive integer"),
        ([{"op": "bandpass", "order": 12}], "order must be from 1 to 10"),
        ([{"op": "bandpass", "low_hz": 40, "high_hz": 20}], "must be below high_hz"),
        ([{"op": "zscore", "per_lead": "yes"}], "per_lead must be true or false"),
        ([{"op": "leads", "leads": []}], "non-empty list"),
        ([{"op": "leads", "leads": ["I"], "missing": "skip"}], "one of 'error', 'zero', 'derive'"),
        ([{"op": "fixed_length"}], "exactly one of n_samples and duration_s"),
        ([{"op": "fixed_length", "n_samples": 10, "mode": "random"}], "one of 'center', 'start'"),
        ([{"op": "interpolate_gaps", "max_gap_s": -1}], "max_gap_s must be >= 0"),
    ],
)
def test_invalid_steps_are_refused(steps: list, message: str) -> None:
    with pytest.raises(LeanECGError) as err:
        Pipeline(steps)
    assert err.value.path == "pipeline"
    assert message in err.value.problem


def test_invalid_documents_are_refused() -> None:
    good = Pipeline(STEPS).to_dict()
    with pytest.raises(LeanECGError, match="version 2 is not supported"):
        Pipeline.from_dict({**good, "version": 2})
    with pytest.raises(LeanECGError, match="no integer 'version'"):
        Pipeline.from_dict({"steps": []})
    with pytest.raises(LeanECGError, match="not a LeanECG pipeline"):
        Pipeline.from_dict({**good, "format": "torch_ecg"})
    with pytest.raises(LeanECGError, match="unknown pipeline field 'comment'"):
        Pipeline.from_dict({**good, "comment": "x"})
    with pytest.raises(LeanECGError, match="'steps' must be a list"):
        Pipeline.from_dict({"version": 1, "steps": {"op": "zscore"}})
    with pytest.raises(LeanECGError, match="not valid JSON"):
        Pipeline.from_json("[1, 2")
    with pytest.raises(LeanECGError, match="steps must be a list"):
        Pipeline({"op": "zscore"})  # type: ignore[arg-type]
    # the format field is optional on input
    assert Pipeline.from_dict({"version": 1, "steps": STEPS}) == Pipeline(STEPS)
    assert Pipeline().to_dict() == {"format": "leanecg.pipeline", "version": 1, "steps": []}
