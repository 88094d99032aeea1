"""Record-normalised beat features: each beat's features against its own record's median and IQR.

Checked on arrays built here (what the standardisation does to a column, its invariance to a patient's scale and
offset, constant and NaN columns), for the running twin of a stream (any chunking, bounded history), through
``beat_model_inputs`` (computed only when a model asks, equal to the function on the base columns), on a
stream cut into chunks (each beat against the beats so far) and through the mitdb-aami task's switches; and the
twins against the non-premature beats only (``*_rzn``), which keep the normal rhythm as the yardstick where ectopic
beats are as frequent as normal ones (bigeminy), and the model-card note ``benchmarks/record_reference_screen.py``
writes (its stress view: tests/test_ectopy_mix.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from beathelp import pvc_stream
from leanecg.errors import LeanECGError
from leanecg.signal.beat_stream import StreamingBeatInputs
from leanecg.signal.beats import (
    ALL_BEAT_FEATURE_NAMES,
    RECORD_Z_BASE_NAMES,
    RECORD_Z_FEATURE_NAMES,
    RECORD_ZN_FEATURE_NAMES,
    RR_FEATURE_NAMES,
    beat_model_inputs,
    rr_features,
    select_beat_features,
)
from leanecg.signal.record_norm import (
    MIN_IQR,
    MIN_REFERENCE,
    RunningRobustZ,
    not_premature,
    record_robust_z,
    robust_z,
)
from leanecg.tasks.mitdb_aami import MitdbAamiTask

FS = 180.0


def test_a_column_is_centred_on_its_median_in_units_of_its_iqr():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(501, 3)) * [1.0, 5.0, 0.1] + [0.0, 10.0, -2.0]
    z = record_robust_z(f)
    np.testing.assert_allclose(np.median(z, axis=0), 0.0, atol=1e-12)
    q1, q3 = np.percentile(z, [25, 75], axis=0)
    np.testing.assert_allclose(q3 - q1, 1.0, rtol=1e-12)
    # a patient's own scale and offset (a gain of the lead, a slower heart) do not change the columns
    np.testing.assert_allclose(record_robust_z(3.0 * f + 7.0), z, atol=1e-9)
    # a beat unusual for this patient stands out, whatever the patient's baseline
    g = np.vstack([f, f[0] + np.array([10.0, 50.0, 1.0])])
    assert (record_robust_z(g)[-1] > 5).all()


def test_constant_columns_are_only_centred_and_nan_stays_nan():
    f = np.array([[1.0, 0.3, np.nan], [1.0, 0.5, np.nan], [1.0, 0.9, np.nan]])
    z = record_robust_z(f)
    np.testing.assert_array_equal(z[:, 0], 0.0)  # IQR 0 < MIN_IQR: divided by 1
    assert np.isnan(z[:, 2]).all()
    assert MIN_IQR > 0
    assert record_robust_z(np.zeros((0, 4))).shape == (0, 4)
    with pytest.raises(LeanECGError, match="n_beats, F"):
        record_robust_z(np.zeros(5))
    with pytest.raises(LeanECGError, match="reference"):
        robust_z(np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(LeanECGError, match="at least 1 beat"):
        RunningRobustZ(history=0)


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000])
def test_the_running_twin_uses_the_beats_so_far_on_any_chunking(chunk: int):
    rng = np.random.default_rng(1)
    f = rng.gamma(2.0, size=(300, 4))
    run = RunningRobustZ(history=100)
    got = np.vstack([run.next(f[a : a + chunk]) for a in range(0, len(f), chunk)])
    expected = np.vstack([robust_z(f[i : i + 1], f[max(0, i - 99) : i + 1]) for i in range(len(f))])
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    assert run.windows is not None and len(run.windows[0]) == 100  # memory bounded by the history
    # with a history longer than the record the last beat gets exactly the offline value
    whole = RunningRobustZ().next(f)
    np.testing.assert_allclose(whole[-1], record_robust_z(f)[-1], rtol=1e-9)
    assert not np.allclose(whole[:50], record_robust_z(f)[:50])  # early beats: fewer beats to judge by


def test_beat_model_inputs_computes_the_columns_only_when_asked():
    x, peaks = pvc_stream(FS, duration_s=90.0)
    _, feats = beat_model_inputs(x, FS, peaks, 0.25, 0.45, context=True)
    assert feats.shape[1] == len(ALL_BEAT_FEATURE_NAMES)
    base = select_beat_features(feats, RECORD_Z_BASE_NAMES).astype(np.float64)
    rz = select_beat_features(feats, RECORD_Z_FEATURE_NAMES)
    np.testing.assert_allclose(rz, record_robust_z(base), rtol=1e-3, atol=1e-3)  # float32 base columns
    # the PVCs (premature, wide) stand out of their record on the prematurity and QRS columns
    pre = rz[:, RECORD_Z_FEATURE_NAMES.index("pre_rr_ratio_rz")]
    qrs = rz[:, RECORD_Z_FEATURE_NAMES.index("template_qrs_corr_rz")]
    assert pre.min() < -2 and qrs.min() < -2
    _, rr_only = beat_model_inputs(x, FS, peaks, 0.25, 0.45, context=True, only=list(RR_FEATURE_NAMES))
    assert np.isnan(select_beat_features(rr_only, RECORD_Z_FEATURE_NAMES)).all()
    _, asked = beat_model_inputs(x, FS, peaks, 0.25, 0.45, context=True, only=["pre_rr_rz"])
    np.testing.assert_array_equal(select_beat_features(asked, RECORD_Z_FEATURE_NAMES), rz)
    # the same record at another gain: the template and RR columns, and so their twins, do not move
    _, louder = beat_model_inputs(2.5 * x, FS, peaks, 0.25, 0.45, context=True, only=["pre_rr_rz"])
    np.testing.assert_allclose(select_beat_features(louder, RECORD_Z_FEATURE_NAMES), rz, atol=1e-4)


@pytest.mark.parametrize("chunk_s", [0.5, 3.7, 20.0])
def test_a_stream_standardises_each_beat_against_the_beats_so_far(chunk_s: float):
    x, peaks = pvc_stream(FS, seed=5, duration_s=90.0)
    names = ["pre_rr_ratio", "template_corr", *RECORD_Z_FEATURE_NAMES]
    stream = StreamingBeatInputs(FS, 1, 0.25, 0.45, feature_names=[*RECORD_Z_BASE_NAMES, *names])
    step = round(chunk_s * FS)
    parts = [stream.push(x[a : a + step], final=a + step >= len(x)) for a in range(0, len(x), step)]
    got = np.concatenate([p.features for p in parts if len(p)]).astype(np.float64)
    np.testing.assert_array_equal(np.concatenate([p.peaks for p in parts]), peaks)
    base, rz = got[:, : len(RECORD_Z_BASE_NAMES)], got[:, -len(RECORD_Z_FEATURE_NAMES) :]
    # the base columns are the offline (causal) ones; each beat's twins use the beats up to it
    _, feats = beat_model_inputs(x, FS, peaks, 0.25, 0.45, context=True, only=names)
    np.testing.assert_allclose(base, select_beat_features(feats, RECORD_Z_BASE_NAMES), rtol=1e-5, atol=1e-5)
    expected = np.vstack([robust_z(base[i : i + 1], base[: i + 1]) for i in range(len(base))])
    np.testing.assert_allclose(rz, expected, rtol=1e-4, atol=1e-4)
    # by the record's end a beat's twins are the offline ones
    offline = select_beat_features(feats, RECORD_Z_FEATURE_NAMES)
    np.testing.assert_allclose(rz[-1], offline[-1], rtol=1e-4, atol=1e-4)


def test_the_task_switches_and_a_package_restores_them():
    task = MitdbAamiTask()
    task.rr_context = True
    raw = list(task.feature_names)
    assert raw == list(RECORD_Z_BASE_NAMES)  # the shipped pair's 17 columns have twins
    task.record_z = True
    assert list(task.feature_names) == raw + list(RECORD_Z_FEATURE_NAMES)
    task.record_z, task.record_z_only = False, True
    assert list(task.feature_names) == list(RECORD_Z_FEATURE_NAMES)
    for names in (raw + list(RECORD_Z_FEATURE_NAMES), list(RECORD_Z_FEATURE_NAMES), raw):
        fresh = MitdbAamiTask()
        fresh.use_features(names)
        assert list(fresh.feature_names) == names
    with pytest.raises(LeanECGError, match="does not compute"):
        MitdbAamiTask().use_features(list(RECORD_Z_FEATURE_NAMES[:3]))


def test_the_running_twin_skips_nan_as_the_offline_statistics_do():
    rng = np.random.default_rng(4)
    f = rng.normal(size=(60, 3))
    f[:2, 0] = np.nan  # e.g. the RR columns of a stream's first beats
    f[10:20, 2] = np.nan
    got = RunningRobustZ(history=25).next(f)
    expected = np.vstack([robust_z(f[i : i + 1], f[max(0, i - 24) : i + 1]) for i in range(len(f))])
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)  # NaN where expected is NaN
    run = RunningRobustZ()
    run.next(np.zeros((2, 3)))
    with pytest.raises(LeanECGError, match="3 columns"):
        run.next(np.zeros((1, 2)))


def _bigeminy_peaks(fs: float, n_pairs: int, seed: int = 0) -> np.ndarray:
    """R peaks (samples) of N, V, N, V, ...: each ectopic beat 0.5 s after an N beat, then a 1.1 s pause
    (jittered by 20 ms)."""
    rng = np.random.default_rng(seed)
    steps = np.tile([0.5, 1.1], n_pairs) + rng.normal(0.0, 0.02, 2 * n_pairs)
    return np.round(np.concatenate(([1.0], 1.0 + np.cumsum(steps))) * fs).astype(np.int64)


def test_in_bigeminy_the_non_premature_yardstick_keeps_ectopy_standing_out():
    rr = rr_features(_bigeminy_peaks(FS, 60), FS, causal=True)[1:-1].astype(np.float64)  # whole intervals
    pre, post = rr[:, 0], rr[:, 1]
    ectopic = pre < 0.8  # the beats 0.5 s after the one before
    reference = not_premature(pre, post)
    np.testing.assert_array_equal(reference, ~ectopic)  # early-then-pause beats are left out, no label read
    col = RR_FEATURE_NAMES.index("pre_rr")
    every = record_robust_z(rr)[:, col]  # half the beats are ectopic: the median sits between the two
    normal_only = record_robust_z(rr, reference=reference)[:, col]
    assert np.abs(np.median(every[ectopic])) < 1.5  # ectopy hardly stands out against all beats
    assert np.median(normal_only[ectopic]) < -10  # against the normal beats it does
    assert abs(np.median(normal_only[~ectopic])) < 0.1
    np.testing.assert_allclose(normal_only, robust_z(rr, rr[reference])[:, col])


def test_too_few_reference_beats_fall_back_to_every_beat():
    rng = np.random.default_rng(2)
    f = rng.normal(size=(40, 2))
    few = np.zeros(40, dtype=bool)
    few[: MIN_REFERENCE - 1] = True
    np.testing.assert_array_equal(record_robust_z(f, reference=few), record_robust_z(f))
    few[MIN_REFERENCE - 1] = True
    np.testing.assert_allclose(record_robust_z(f, reference=few), robust_z(f, f[few]))
    with pytest.raises(LeanECGError, match="bool mask"):
        record_robust_z(f, reference=few[:-1])
    assert not_premature(np.array([np.nan, 0.8]), np.array([0.8, np.nan])).tolist() == [False, False]


@pytest.mark.parametrize("chunk", [1, 7, 50])
def test_the_running_twin_with_a_reference_uses_the_reference_beats_so_far(chunk: int):
    rng = np.random.default_rng(6)
    f = rng.normal(size=(120, 3))
    ref = rng.random(120) < 0.6
    run = RunningRobustZ(history=30)
    got = np.vstack([run.next(f[a : a + chunk], reference=ref[a : a + chunk]) for a in range(0, 120, chunk)])
    expected = []
    for i in range(len(f)):
        mine = np.flatnonzero(ref[: i + 1])[-30:]
        yardstick = f[mine] if len(mine) >= MIN_REFERENCE else f[max(0, i - 29) : i + 1]
        expected.append(robust_z(f[i : i + 1], yardstick))
    np.testing.assert_allclose(got, np.vstack(expected), rtol=1e-9, atol=1e-12)


def test_the_non_premature_twins_offline_and_in_a_stream():
    x, peaks = pvc_stream(FS, seed=5, duration_s=90.0)
    _, feats = beat_model_inputs(x, FS, peaks, 0.25, 0.45, context=True, only=["pre_rr_rzn"])
    base = select_beat_features(feats, RECORD_Z_BASE_NAMES).astype(np.float64)
    rzn = select_beat_features(feats, RECORD_ZN_FEATURE_NAMES)
    reference = not_premature(base[:, 0], base[:, 1])
    assert 0 < reference.sum() < len(reference)
    np.testing.assert_allclose(rzn, record_robust_z(base, reference=reference), rtol=1e-3, atol=1e-3)
    assert np.isnan(select_beat_features(feats, RECORD_Z_FEATURE_NAMES)).all()  # computed only when asked
    names = [*RECORD_Z_BASE_NAMES, *RECORD_ZN_FEATURE_NAMES]
    stream = StreamingBeatInputs(FS, 1, 0.25, 0.45, feature_names=names)
    step = round(2.3 * FS)
    parts = [stream.push(x[a : a + step], final=a + step >= len(x)) for a in range(0, len(x), step)]
    got = np.concatenate([p.features for p in parts if len(p)]).astype(np.float64)
    sbase, srzn = got[:, : len(RECORD_Z_BASE_NAMES)], got[:, len(RECORD_Z_BASE_NAMES) :]
    expected = RunningRobustZ().next(sbase, reference=not_premature(sbase[:, 0], sbase[:, 1]))
    np.testing.assert_allclose(srzn, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(srzn[-1], rzn[-1], rtol=1e-3, atol=1e-3)  # by the end, the offline values
    task = MitdbAamiTask()
    task.use_features([*RECORD_Z_BASE_NAMES, *RECORD_ZN_FEATURE_NAMES])
    assert task.record_zn and not task.record_z


def test_the_screen_writes_one_stress_note_from_its_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conftest import REPO, load_benchmark

    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))  # the script imports its siblings
    script = load_benchmark("record_reference_screen.py")
    # --write-note: one note from both pages, replacing an earlier one
    doc = {
        "runs": [
            {"seed": seed} | {name: {"gated": {"sveb_se": se}, "stress": {"sveb_se": se / 2}} for name in
             (script.RECIPES[0][0], script.BEFORE, script.AUGMENTED)} for seed, se in ((0, 0.4), (1, 0.6))
        ]
    }  # fmt: skip
    for _, _, stem, _ in script.CANDIDATES.values():
        (tmp_path / f"{stem}.json").write_text(json.dumps(doc))
    # a page whose runs lack the RR-context pair (the balanced candidate's) adds its seed to the others only
    last = script.CANDIDATES["balanced"][2]
    late = {"seed": 9} | {
        name: {"gated": {"sveb_se": 0.8}, "stress": {"sveb_se": 0.7}}
        for name in (script.RECIPES[0][0], script.AUGMENTED)
    }
    (tmp_path / f"{last}.json").write_text(json.dumps({"runs": [late]}))
    (tmp_path / "model.json").write_text(json.dumps({"notes": ["kept", script.NOTE_PREFIX + " old"]}))
    notes = script.stress_notes(tmp_path, tmp_path)
    assert notes[0] == "kept" and len(notes) == 2
    assert notes[1].startswith(script.NOTE_PREFIX)
    # every page holds seeds 0 and 1: each counted once
    assert "goes from 40-80 % as recorded (AF gate) to 20-70 % (3 seeds)" in notes[1]
    assert "keeps 20-30 % (2 seeds)" in notes[1]


def test_the_balanced_gain_is_the_mean_of_the_two_views_gains(monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import REPO, load_benchmark

    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    script = load_benchmark("record_reference_screen.py")
    task = MitdbAamiTask()
    rng = np.random.default_rng(0)
    groups = np.repeat([f"r{i}" for i in range(6)], 40)
    y = rng.integers(0, 3, size=groups.size)  # N, S, V in every record
    noisy = np.where(rng.random(y.size) < 0.3, (y + 1) % 3, y)
    recorded = [(y, noisy, noisy, groups)]  # the same predictions as recorded: no gain there
    stressed = [(y, y, noisy, groups)]  # a perfect candidate under stress
    got = script.balanced_gain(task, recorded, stressed, n_boot=200)
    stress_gain = task.scores(y, y)["sveb_veb_f1"] - task.scores(y, noisy)["sveb_veb_f1"]
    assert got["point"] == pytest.approx(stress_gain / 2) and stress_gain > 0.2
    assert got["ci95"][0] > 0 and got["ci95"][1] <= stress_gain + 1e-12
    same = script.balanced_gain(task, recorded, [(y, noisy, noisy, groups)], n_boot=50)
    assert same == {"point": 0.0, "ci95": [0.0, 0.0]}
