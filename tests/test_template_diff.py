"""The template-difference beat features: the beat minus the patient's running median beat at a reduced rate.

Checked on hand-made windows (where a difference lands, gain invariance, flat leads), through
``beat_model_inputs`` (the causal templates of training and ``leanecg beats``), on a stream cut into chunks
(the online twin must give the offline columns) and through the mitdb-aami task's feature switch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from beathelp import pvc_stream
from conftest import load_benchmark
from leanecg.errors import LeanECGError
from leanecg.signal.beat_stream import StreamingBeatInputs
from leanecg.signal.beats import (
    ALL_BEAT_FEATURE_NAMES,
    RR_FEATURE_NAMES,
    TEMPLATE_DIFF_BINS,
    TEMPLATE_DIFF_FEATURE_NAMES,
    beat_model_inputs,
    beat_templates,
    select_beat_features,
    template_diff_features_against,
)
from leanecg.tasks.mitdb_aami import MitdbAamiTask

FS = 180.0
R_INDEX = 45  # 0.25 s before the R peak at 180 Hz
N_SAMPLES = 126  # 0.25 s + 0.45 s


def _beat(p_amp: float = 0.15, qrs_width: int = 3, t_amp: float = 0.3) -> np.ndarray:
    """A hand-made beat window: a P wave, a QRS spike at R_INDEX and a T wave (mV)."""
    t = np.arange(N_SAMPLES)
    p = p_amp * np.exp(-0.5 * ((t - 18) / 4.0) ** 2)
    qrs = 1.0 * np.exp(-0.5 * ((t - R_INDEX) / qrs_width) ** 2)
    tw = t_amp * np.exp(-0.5 * ((t - 95) / 9.0) ** 2)
    return p + qrs + tw


def _bins_of(sample_lo: int, sample_hi: int) -> set[int]:
    """The bins the samples ``[sample_lo, sample_hi)`` fall in."""
    edges = np.round(np.linspace(0, N_SAMPLES, TEMPLATE_DIFF_BINS + 1)).astype(int)
    return {int(np.searchsorted(edges, s, side="right") - 1) for s in range(sample_lo, sample_hi)}


def test_a_beat_like_its_template_has_no_difference():
    w = np.stack([_beat(), _beat()])
    d = template_diff_features_against(w, w.copy(), FS, R_INDEX)
    assert d.shape == (2, TEMPLATE_DIFF_BINS)
    np.testing.assert_array_equal(d, 0.0)


def test_a_different_p_wave_shows_before_the_qrs_only():
    normal = _beat()
    ectopic = _beat(p_amp=-0.15)  # an inverted P wave (a low atrial focus), same QRS and T wave
    d = template_diff_features_against(ectopic[None], normal[None], FS, R_INDEX)[0]
    p_bins = _bins_of(6, 31)  # the P wave's +-3 sd
    assert all(d[k] < -0.01 for k in p_bins if 8 <= k * N_SAMPLES / TEMPLATE_DIFF_BINS <= 26)
    others = [k for k in range(TEMPLATE_DIFF_BINS) if k not in p_bins]
    assert np.abs(d[others]).max() < 1e-3


def test_a_wide_qrs_shows_around_the_r_peak():
    d = template_diff_features_against(_beat(qrs_width=8)[None], _beat()[None], FS, R_INDEX)[0]
    qrs_bins = sorted(_bins_of(R_INDEX - 14, R_INDEX + 15))
    far = [k for k in range(TEMPLATE_DIFF_BINS) if k not in _bins_of(R_INDEX - 30, R_INDEX + 31)]
    assert np.abs(d[qrs_bins]).max() > 0.1
    assert np.abs(d[far]).max() < 0.05 * np.abs(d[qrs_bins]).max()


def test_columns_do_not_depend_on_the_gain_or_offset_of_the_lead():
    rng = np.random.default_rng(0)
    w = np.stack([_beat(p_amp=a) for a in (0.1, -0.1, 0.3)]) + rng.normal(0, 0.01, (3, N_SAMPLES))
    t = np.broadcast_to(_beat(), w.shape)
    d = template_diff_features_against(w, t, FS, R_INDEX)
    np.testing.assert_allclose(template_diff_features_against(4.0 * w + 2.0, 4.0 * t + 2.0, FS, R_INDEX), d)
    # a bin is the mean difference there, in units of the template's QRS peak-to-peak amplitude
    edges = np.round(np.linspace(0, N_SAMPLES, TEMPLATE_DIFF_BINS + 1)).astype(int)
    scale = np.ptp(_beat()[R_INDEX - 14 : R_INDEX + 19])
    np.testing.assert_allclose(d[:, 0], (w - t)[:, edges[0] : edges[1]].mean(axis=1) / scale)


def test_a_flat_template_gives_zeros_and_bad_shapes_are_refused():
    w = np.stack([_beat()])
    np.testing.assert_array_equal(template_diff_features_against(w, np.zeros_like(w), FS, R_INDEX), 0.0)
    assert template_diff_features_against(
        np.zeros((0, N_SAMPLES)), np.zeros((0, N_SAMPLES)), FS, 45
    ).shape == (
        0,
        TEMPLATE_DIFF_BINS,
    )
    with pytest.raises(LeanECGError, match="one shape"):
        template_diff_features_against(w, w[:, :-1], FS, R_INDEX)
    with pytest.raises(LeanECGError, match="at least 20 samples"):
        template_diff_features_against(w[:, :10], w[:, :10], FS, 5)
    with pytest.raises(LeanECGError, match="outside the window"):
        template_diff_features_against(w, w, FS, N_SAMPLES)


def test_beat_model_inputs_compares_each_beat_with_its_causal_template():
    x, peaks = pvc_stream(FS, duration_s=60.0)
    win, feats = beat_model_inputs(x, FS, peaks, 0.25, 0.45, context=True)
    assert feats.shape[1] == len(ALL_BEAT_FEATURE_NAMES)
    diff = select_beat_features(feats, TEMPLATE_DIFF_FEATURE_NAMES)
    expected = template_diff_features_against(
        win[:, 0, :], beat_templates(win[:, 0, :], causal=True, history=64), FS, R_INDEX
    )
    np.testing.assert_allclose(diff, expected.astype(np.float32), rtol=1e-5, atol=1e-6)
    assert np.abs(diff[1:]).max() > 0.1  # the PVCs differ from the running median beat
    # a model that takes none of the columns does not pay for them; one that does gets them
    _, rr_only = beat_model_inputs(x, FS, peaks, 0.25, 0.45, context=True, only=list(RR_FEATURE_NAMES))
    assert np.isnan(select_beat_features(rr_only, TEMPLATE_DIFF_FEATURE_NAMES)).all()
    _, asked = beat_model_inputs(x, FS, peaks, 0.25, 0.45, context=True, only=["template_diff_03"])
    np.testing.assert_array_equal(select_beat_features(asked, TEMPLATE_DIFF_FEATURE_NAMES), diff)
    # without the context columns the version-1 matrix is unchanged (RR + template features)
    _, v1 = beat_model_inputs(x, FS, peaks, 0.25, 0.45)
    assert v1.shape[1] == len(RR_FEATURE_NAMES) + 6


@pytest.mark.parametrize("chunk_s", [0.5, 3.7, 20.0])
def test_a_stream_gives_the_offline_columns_on_any_chunking(chunk_s: float):
    x, peaks = pvc_stream(FS, seed=5, duration_s=60.0)
    names = ["pre_rr_ratio", "template_corr", *TEMPLATE_DIFF_FEATURE_NAMES]
    _, feats = beat_model_inputs(x, FS, peaks, 0.25, 0.45, context=True, only=names)
    offline = select_beat_features(feats, names)
    stream = StreamingBeatInputs(FS, 1, 0.25, 0.45, feature_names=names)
    step = round(chunk_s * FS)
    parts = [stream.push(x[a : a + step], final=a + step >= len(x)) for a in range(0, len(x), step)]
    got = np.concatenate([p.features for p in parts if len(p)])
    np.testing.assert_array_equal(np.concatenate([p.peaks for p in parts]), peaks)
    np.testing.assert_allclose(got, offline, rtol=1e-5, atol=1e-6)


def test_the_task_switch_adds_the_columns_and_a_package_restores_it():
    task = MitdbAamiTask()
    task.rr_context = True
    assert not any(n in TEMPLATE_DIFF_FEATURE_NAMES for n in task.feature_names)
    task.template_diff = True
    names = list(task.feature_names)
    assert names[-TEMPLATE_DIFF_BINS:] == list(TEMPLATE_DIFF_FEATURE_NAMES)
    fresh = MitdbAamiTask()
    fresh.use_features(names)
    assert fresh.template_diff and fresh.rr_context and list(fresh.feature_names) == names
    fresh.use_features(names[:-TEMPLATE_DIFF_BINS])
    assert not fresh.template_diff
    with pytest.raises(LeanECGError, match="does not compute"):
        fresh.use_features(names[:-1])


@pytest.fixture(scope="module")
def tiny_pair(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    """The ablation's members of '+ template diff + linear member' on the tiny mitdb-aami split: a beatnet
    reading the 37 columns and the linear model reading 17."""
    if not (shared_data / "mitdb").is_dir():
        pytest.skip("mitdb not in the shared data")
    ablation = load_benchmark("beat_ablation.py")
    overrides = next(acc for name, _, acc in ablation.ROWS if name == "+ template diff + linear member")
    mp = pytest.MonkeyPatch()
    mp.setenv("LEANECG_CACHE", str(tmp_path_factory.mktemp("cache")))
    try:
        members = []
        for member in overrides["models"]:
            model_name, extra = (member, {}) if isinstance(member, str) else member
            task = ablation._task({**overrides, **extra})
            members.append((model_name, task, task.load(shared_data, tiny=True, seed=0), 0))
        yield ablation, members
    finally:
        mp.undo()


def test_an_ablation_pair_whose_members_read_different_columns(tiny_pair: tuple[Any, list[Any]]) -> None:
    """Its DS2 probabilities are the average of each member's on its own inputs; no one-matrix ensemble."""
    from leanecg.train.trainer import predict_proba

    ablation, members = tiny_pair
    (_, net_task, net_data, _), (_, _, lin_data, _) = members
    assert net_data.train.features.shape[1] == 37 and lin_data.train.features.shape[1] == 17
    assert list(net_task.feature_names)[-TEMPLATE_DIFF_BINS:] == list(TEMPLATE_DIFF_FEATURE_NAMES)
    assert not ablation._same_columns(members) and ablation._same_columns(members[:1] * 2)
    training = {
        "seed": 0,
        "tiny": True,
        "epochs": None,
        "max_train_seconds": None,
        "num_threads": 1,
        "n_boot": 20,
    }
    cv, result, model, trained = ablation._run_members(members, 2, training)
    assert model is None and len(trained) == 2
    proba = np.mean(
        [
            predict_proba(m, d.test.X, features=d.test.features)
            for (_, m), (_, _, d, _) in zip(trained, members, strict=True)
        ],
        axis=0,
    )
    assert result["confusion"] == net_task.evaluate(net_data.test, proba)["confusion"]
    assert cv["proba"].shape == (len(net_task.cv_pool(net_data).y), 4)
    np.testing.assert_allclose(cv["proba"].sum(axis=1), 1.0, atol=1e-5)
