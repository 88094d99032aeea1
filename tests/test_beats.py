"""Beat windows and RR features on hand-made signals and peak trains."""

from __future__ import annotations

import numpy as np
import pytest

from leanecg.errors import LeanECGError
from leanecg.signal.beats import (
    BEAT_FEATURE_NAMES,
    RR_FEATURE_NAMES,
    TEMPLATE_FEATURE_NAMES,
    StreamingRRFeatures,
    beat_model_inputs,
    beat_templates,
    beat_windows,
    rr_features,
    template_features,
)

COL = {name: i for i, name in enumerate(RR_FEATURE_NAMES)}


# ----------------------------------------------------------------------------- beat_windows
def test_windows_are_centred_on_the_peak_single_lead():
    x = np.arange(1000, dtype=np.float32)  # value == sample index, so windows show their indices
    w, kept = beat_windows(x, 100.0, [100, 500, 900], before_s=0.2, after_s=0.3)
    assert w.shape == (3, 50)
    assert w.dtype == np.float32
    assert kept.tolist() == [100, 500, 900]
    np.testing.assert_array_equal(w[1], np.arange(480, 530))
    assert np.all(w[:, 20] == kept)  # R peak at index round(before_s * fs)


def test_windows_multi_lead_shape_and_content():
    n = 600
    x = np.stack([np.arange(n), -np.arange(n), np.full(n, 7)], axis=1).astype(np.float64)
    w, kept = beat_windows(x, 250.0, np.array([100, 300]), before_s=0.1, after_s=0.2)
    assert w.shape == (2, 75, 3)
    np.testing.assert_array_equal(w[0, :, 0], np.arange(75, 150))
    np.testing.assert_array_equal(w[1, :, 1], -np.arange(275, 350))
    assert np.all(w[:, :, 2] == 7)
    assert kept.dtype == np.int64


def test_beats_near_the_edges_are_dropped_by_default():
    x = np.arange(100, dtype=np.float64)
    w, kept = beat_windows(x, 10.0, [1, 5, 50, 96, 99], before_s=0.5, after_s=0.5)
    # windows are [p - 5, p + 5): p = 5 fits at the start, p = 95 would be the last that fits
    assert kept.tolist() == [5, 50]
    assert w.shape == (2, 10)
    np.testing.assert_array_equal(w[0], np.arange(0, 10))


def test_beats_near_the_edges_can_be_padded_with_edge_values():
    x = np.arange(100, dtype=np.float64)
    w, kept = beat_windows(x, 10.0, [1, 98], before_s=0.5, after_s=0.5, edge="pad")
    assert kept.tolist() == [1, 98]
    np.testing.assert_array_equal(w[0], [0, 0, 0, 0, 0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(w[1], [93, 94, 95, 96, 97, 98, 99, 99, 99, 99])


def test_window_lengths_follow_rounding_at_odd_fs():
    x = np.zeros(5000)
    w, _ = beat_windows(x, 257.0, [2000], before_s=0.25, after_s=0.4)
    assert w.shape == (1, round(0.25 * 257) + round(0.4 * 257))


def test_no_peaks_gives_an_empty_stack_of_the_right_shape():
    w, kept = beat_windows(np.zeros((300, 2)), 100.0, [], before_s=0.1, after_s=0.1)
    assert w.shape == (0, 20, 2) and kept.size == 0
    w, kept = beat_windows(np.zeros(300), 100.0, [1], before_s=0.1, after_s=0.1)  # dropped
    assert w.shape == (0, 20)


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"peaks": [5, 1000]}, "peaks"),
        ({"peaks": [-1]}, "peaks"),
        ({"peaks": [[5]]}, "peaks"),
        ({"peaks": [5.5]}, "peaks"),
        ({"before_s": -0.1}, "before_s"),
        ({"before_s": 0.0, "after_s": 0.001}, "before_s"),
        ({"edge": "wrap"}, "edge"),
        ({"fs": 0.0}, "fs"),
    ],
)
def test_beat_windows_bad_arguments(kwargs, path):
    args = {"x": np.zeros(1000), "fs": 100.0, "peaks": [500], "before_s": 0.2, "after_s": 0.2}
    args.update(kwargs)
    with pytest.raises(LeanECGError) as err:
        beat_windows(**args)
    assert err.value.path == path


def test_beat_windows_rejects_3d_signal():
    with pytest.raises(LeanECGError):
        beat_windows(np.zeros((10, 2, 2)), 100.0, [5], 0.01, 0.01)


# ----------------------------------------------------------------------------- rr_features
def test_regular_rhythm_has_unit_ratios():
    fs = 360.0
    peaks = np.arange(20) * 288 + 100  # RR = 0.8 s
    f = rr_features(peaks, fs)
    assert f.shape == (20, len(RR_FEATURE_NAMES)) == (20, 7)
    np.testing.assert_allclose(f[:, :4], 0.8)
    np.testing.assert_allclose(f[:, 4:], 1.0)


def test_premature_beat_has_short_pre_and_long_post_interval():
    fs = 100.0
    # RR 1.0 s, one premature beat at 3.6 s (pre 0.6 s) followed by a compensatory pause (1.4 s)
    peaks = np.array([0, 100, 200, 300, 360, 500, 600, 700])
    f = rr_features(peaks, fs, local_window=3)
    i = 4
    assert f[i, COL["pre_rr"]] == pytest.approx(0.6)
    assert f[i, COL["post_rr"]] == pytest.approx(1.4)
    assert f[i, COL["local_rr"]] == pytest.approx((1.0 + 1.0 + 0.6) / 3)
    avg = np.diff(peaks).mean() / fs  # 1.0
    assert f[i, COL["average_rr"]] == pytest.approx(avg)
    assert f[i, COL["pre_rr_ratio"]] == pytest.approx(0.6 / avg)
    assert f[i, COL["post_rr_ratio"]] == pytest.approx(1.4 / avg)
    assert f[i, COL["local_rr_ratio"]] == pytest.approx(f[i, COL["local_rr"]] / avg)
    # the beat after the pause
    assert f[5, COL["pre_rr"]] == pytest.approx(1.4)
    assert f[5, COL["local_rr"]] == pytest.approx((1.0 + 0.6 + 1.4) / 3)


def test_first_and_last_beat_borrow_the_missing_interval():
    f = rr_features([0, 50, 150], 100.0)
    assert f[0, COL["pre_rr"]] == pytest.approx(0.5)  # = its post_rr
    assert f[0, COL["post_rr"]] == pytest.approx(0.5)
    assert f[0, COL["local_rr"]] == pytest.approx(0.5)
    assert f[2, COL["post_rr"]] == pytest.approx(1.0)  # = its pre_rr
    assert f[1, COL["local_rr"]] == pytest.approx(0.5)
    assert f[2, COL["local_rr"]] == pytest.approx(0.75)


def test_fewer_than_two_beats_give_nan_rows():
    assert rr_features([], 100.0).shape == (0, 7)
    one = rr_features([10], 100.0)
    assert one.shape == (1, 7) and np.isnan(one).all()


def test_causal_average_is_a_running_mean_without_look_ahead():
    rng = np.random.default_rng(3)
    peaks = np.cumsum(rng.integers(150, 450, size=60))
    full = rr_features(peaks, 360.0, local_window=5, causal=True)
    rr = np.diff(peaks) / 360.0
    np.testing.assert_allclose(full[1:, COL["average_rr"]], np.cumsum(rr) / np.arange(1, rr.size + 1))
    for i in range(peaks.size - 1):
        # row i only needs the beats up to the next one
        part = rr_features(peaks[: i + 2], 360.0, local_window=5, causal=True)
        np.testing.assert_allclose(part[i], full[i], rtol=1e-12)
    offline = rr_features(peaks, 360.0, local_window=5)
    np.testing.assert_allclose(offline[:, COL["average_rr"]], rr.mean())
    np.testing.assert_allclose(offline[:, :3], full[:, :3])


def test_streaming_rr_features_equal_batch_causal_on_any_chunking():
    rng = np.random.default_rng(7)
    peaks = np.cumsum(rng.integers(100, 500, size=300)) + 17
    batch = rr_features(peaks, 250.0, local_window=8, causal=True)
    for _ in range(3):
        s = StreamingRRFeatures(250.0, local_window=8)
        done, rows = [], []
        i = 0
        while i < peaks.size:
            k = int(rng.integers(0, 6))
            d, r = s.update(peaks[i : i + k])
            done.append(d)
            rows.append(r)
            i += k
        d, r = s.flush()
        done.append(d)
        rows.append(r)
        np.testing.assert_array_equal(np.concatenate(done), peaks)
        np.testing.assert_allclose(np.concatenate(rows), batch, rtol=1e-12)
        assert len(s._recent) <= 8  # bounded state


def test_streaming_rr_features_rejects_going_back_in_time():
    s = StreamingRRFeatures(100.0)
    s.update([10, 20])
    with pytest.raises(LeanECGError):
        s.update([15])


@pytest.mark.parametrize(
    ("peaks", "kwargs"),
    [
        ([10, 5, 20], {}),
        ([10, 10, 20], {}),
        ([[1, 2]], {}),
        ([1, 2, 3], {"local_window": 0}),
        ([1, 2, 3], {"fs": -1.0}),
    ],
)
def test_rr_features_bad_arguments(peaks, kwargs):
    args = {"fs": 100.0}
    args.update(kwargs)
    with pytest.raises(LeanECGError):
        rr_features(peaks, **args)


# ----------------------------------------------------------------------------- templates and model inputs
def _beat_train(n: int, fs: float, ectopic: set[int]) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic ECG: narrow Gaussian QRS every 0.8 s; beats in ``ectopic`` are wide and inverted."""
    peaks = (np.arange(n) * 0.8 * fs + fs).astype(np.int64)
    t = np.arange(int(peaks[-1] + fs)) / fs
    x = np.zeros_like(t)
    for i, p in enumerate(peaks):
        width, amp = (0.04, -1.5) if i in ectopic else (0.012, 1.0)
        x += amp * np.exp(-0.5 * ((t - p / fs) / width) ** 2)
    return x, peaks


def test_causal_templates_use_only_earlier_beats():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(30, 20))
    t = beat_templates(w, causal=True, history=5)
    np.testing.assert_array_equal(t[0], w[0])
    for i in range(1, 30):
        np.testing.assert_allclose(t[i], np.median(w[max(0, i - 5) : i], axis=0))
    offline = beat_templates(w)
    np.testing.assert_allclose(offline, np.broadcast_to(np.median(w, axis=0), w.shape))


def test_template_features_single_out_a_different_beat():
    fs = 180.0
    x, peaks = _beat_train(40, fs, ectopic={25})
    win, _ = beat_windows(x, fs, peaks, 0.25, 0.45, edge="pad")
    tf = template_features(win, fs, round(0.25 * fs), causal=True)
    col = {n: i for i, n in enumerate(TEMPLATE_FEATURE_NAMES)}
    normal = np.delete(np.arange(1, 40), 24)  # skip the first beat (its own template) and the ectopic one
    np.testing.assert_allclose(tf[normal, col["template_corr"]], 1.0, atol=1e-9)
    np.testing.assert_allclose(tf[normal, col["template_amp_ratio"]], 1.0, atol=1e-9)
    assert tf[25, col["template_qrs_corr"]] < 0  # inverted QRS
    assert tf[25, col["template_rms_diff"]] > 1 and tf[25, col["template_amp_ratio"]] > 1.2
    # the ectopic beat does not change the (median) template of the beats after it
    np.testing.assert_allclose(tf[26:, col["template_corr"]], 1.0, atol=1e-9)


def test_beat_model_inputs_are_causal_with_bounded_look_ahead():
    """Row i depends only on the signal up to ``after_s`` past beat i and on the peaks up to beat i + 1."""
    fs = 180.0
    x, peaks = _beat_train(30, fs, ectopic={7, 19})
    win, feats = beat_model_inputs(x, fs, peaks, 0.25, 0.45)
    assert win.shape == (30, 1, 126) and win.dtype == np.float32
    assert feats.shape == (30, len(BEAT_FEATURE_NAMES)) and feats.dtype == np.float32
    assert np.isfinite(feats).all()
    after = round(0.45 * fs)
    for i in (3, 7, 19, 28):
        end = min(int(peaks[i + 1]) + 1 if i + 1 < 30 else x.size, x.size)
        end = max(end, int(peaks[i]) + after)
        w_i, f_i = beat_model_inputs(x[:end], fs, peaks[: i + 2], 0.25, 0.45)
        np.testing.assert_allclose(w_i[i], win[i], atol=1e-6)
        np.testing.assert_allclose(f_i[i], feats[i], rtol=1e-5, atol=1e-6)
    rr_only_win, rr_only = beat_model_inputs(x, fs, peaks, 0.25, 0.45, templates=False)
    assert rr_only.shape == (30, len(RR_FEATURE_NAMES))
    np.testing.assert_array_equal(rr_only, feats[:, : len(RR_FEATURE_NAMES)])
    np.testing.assert_array_equal(rr_only_win, win)
    _, offline = beat_model_inputs(x, fs, peaks, 0.25, 0.45, causal=False)
    np.testing.assert_allclose(offline[:, 3], np.diff(peaks).mean() / fs, rtol=1e-6)  # record-wide mean RR


def test_rr_context_features_online_equals_offline_and_flags_irregular_rhythm() -> None:
    from leanecg.signal.beats import (
        RR_CONTEXT_FEATURE_NAMES,
        StreamingRRContext,
        rr_context_features,
        rr_features,
    )

    rng = np.random.default_rng(1)
    fs = 250.0
    sinus = np.cumsum(np.full(120, 200) + rng.integers(-4, 5, 120))  # 0.8 s, +-2 %: regular
    af = sinus[-1] + np.cumsum(rng.integers(100, 300, 120))  # 0.4-1.2 s: irregular
    peaks = np.concatenate((sinus, af))
    rr = rr_features(peaks, fs, causal=True)
    ctx = rr_context_features(rr)
    assert ctx.shape == (peaks.size, len(RR_CONTEXT_FEATURE_NAMES))
    online = StreamingRRContext()
    chunks = [online.update(rr[i : i + 7]) for i in range(0, len(rr), 7)]
    np.testing.assert_allclose(np.concatenate(chunks), ctx, rtol=1e-12)
    irr = ctx[:, 3]
    assert np.median(irr[20:120]) < 0.05 < 0.2 < np.median(irr[140:])
    # a premature beat in sinus rhythm: prematurity < 1 against the local rhythm, compensatory pause > 1
    p = peaks[:60].copy()
    p[40] -= 60  # 0.24 s early
    c = rr_context_features(rr_features(p, fs, causal=True))
    assert c[40, 1] < 0.75 and c[40, 0] > 1.4


def test_rr_median_features_online_equals_offline_and_ignore_ectopy() -> None:
    from leanecg.signal.beats import (
        RR_MEDIAN_FEATURE_NAMES,
        StreamingRRMedians,
        beat_model_inputs,
        rr_features,
        rr_median_features,
    )

    rng = np.random.default_rng(2)
    fs = 250.0
    peaks = np.cumsum(np.full(400, 200) + rng.integers(-4, 5, 400))  # 0.8 s sinus rhythm
    # every 3rd beat from 100 on is 0.2 s premature (trigeminy, compensatory pause after it)
    peaks[100::3] -= 50
    rr = rr_features(peaks, fs, causal=True)
    med = rr_median_features(rr)
    assert med.shape == (peaks.size, len(RR_MEDIAN_FEATURE_NAMES))
    online = StreamingRRMedians()
    chunks = [online.update(rr[i : i + 11]) for i in range(0, len(rr), 11)]
    np.testing.assert_array_equal(np.concatenate(chunks), med)
    premature = np.arange(103, 400, 3)
    # the premature beats stay ~0.75 of the median rhythm (0.6 s / 0.8 s), the median keeps ~1 for others
    assert np.all(np.abs(med[premature, 0] - 0.75) < 0.05)
    assert np.all(np.abs(med[premature + 2, 0] - 1.0) < 0.05)
    assert np.all(med[premature, 4] < 0.8)  # against the beats just before it, too
    # beat_model_inputs(context=True) carries them, in ALL_BEAT_FEATURE_NAMES order
    x = rng.normal(0, 0.01, int(peaks[-1]) + 200)
    _, feats = beat_model_inputs(x, fs, peaks, 0.25, 0.45, context=True)
    from leanecg.signal.beats import ALL_BEAT_FEATURE_NAMES, select_beat_features

    assert feats.shape[1] == len(ALL_BEAT_FEATURE_NAMES)
    np.testing.assert_allclose(select_beat_features(feats, RR_MEDIAN_FEATURE_NAMES), med, rtol=1e-6)
    # a caller that takes no median column does not pay for them (left NaN); one that does gets them
    _, rr_only = beat_model_inputs(x, fs, peaks, 0.25, 0.45, context=True, only=["pre_rr", "template_corr"])
    assert np.isnan(select_beat_features(rr_only, RR_MEDIAN_FEATURE_NAMES)).all()
    unpaid = [  # the median, template-difference and record-normalised columns
        i for i, n in enumerate(ALL_BEAT_FEATURE_NAMES) if n in RR_MEDIAN_FEATURE_NAMES or n.startswith("template_diff")
        or n.endswith(("_rz", "_rzn"))
    ]  # fmt: skip
    assert len(unpaid) == 6 + 20 + 2 * 17
    np.testing.assert_array_equal(np.delete(rr_only, unpaid, axis=1), np.delete(feats, unpaid, axis=1))
    _, with_med = beat_model_inputs(x, fs, peaks, 0.25, 0.45, context=True, only=["pre_median_ratio"])
    np.testing.assert_array_equal(with_med[:, :23], feats[:, :23])
    # fewer than two beats: NaN rows, no error
    assert np.isnan(rr_median_features(rr_features(peaks[:1], fs))).all()
