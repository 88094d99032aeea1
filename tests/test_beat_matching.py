"""Beat matching: one-to-one, closest first, tolerance edges, exclusions, EC57 helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from leanecg.errors import LeanECGError
from leanecg.evaluate.beat_matching import (
    BEAT_CODES,
    BeatMatch,
    exclusion_mask,
    match_beats,
    reference_beats,
    vf_intervals,
)


def _pairs(m: BeatMatch, ref, test) -> list[tuple[int, int]]:
    ref, test = np.asarray(ref), np.asarray(test)
    return sorted(zip(ref[m.tp_ref_idx].tolist(), test[m.tp_test_idx].tolist(), strict=True))


def _greedy_reference(ref: np.ndarray, test: np.ndarray, tol: int) -> set[tuple[int, int]]:
    """Brute force: all pairs within tol, sorted by (distance, ref index, test index), taken greedily."""
    r_order = np.argsort(ref, kind="stable")
    t_order = np.argsort(test, kind="stable")
    cands = []
    for ri, r in enumerate(ref[r_order]):
        for ti, t in enumerate(test[t_order]):
            d = abs(int(r) - int(t))
            if d <= tol:
                cands.append((d, ri, ti))
    cands.sort()
    used_r, used_t, out = set(), set(), set()
    for _, ri, ti in cands:
        if ri not in used_r and ti not in used_t:
            used_r.add(ri)
            used_t.add(ti)
            out.add((int(r_order[ri]), int(t_order[ti])))
    return out


def test_exact_and_offset_matches_count_correctly():
    ref = [100, 400, 700, 1000]
    test = [102, 395, 1000, 1300]
    m = match_beats(ref, test, tolerance=10)
    assert (m.tp, m.fn, m.fp) == (3, 1, 1)
    assert _pairs(m, ref, test) == [(100, 102), (400, 395), (1000, 1000)]
    assert m.fn_idx.tolist() == [2] and m.fp_idx.tolist() == [3]
    assert m.sensitivity == pytest.approx(3 / 4)
    assert m.ppv == pytest.approx(3 / 4)
    assert m.f1 == pytest.approx(6 / 8)
    assert m.counts() == {"tp": 3, "fn": 1, "fp": 1, "excluded_ref": 0, "excluded_test": 0}


def test_tolerance_is_inclusive_at_the_edge():
    assert match_beats([100], [154], tolerance=54).tp == 1
    assert match_beats([100], [46], tolerance=54).tp == 1
    m = match_beats([100], [155], tolerance=54)
    assert (m.tp, m.fn, m.fp) == (0, 1, 1)
    assert match_beats([100], [100], tolerance=0).tp == 1
    assert match_beats([100], [101], tolerance=0).tp == 0


def test_closest_pair_wins_not_the_first_one():
    # the detection at 125 is 25 from ref 100 but 5 from ref 130: it belongs to 130
    m = match_beats([100, 130], [125], tolerance=30)
    assert _pairs(m, [100, 130], [125]) == [(130, 125)]
    assert m.fn_idx.tolist() == [0]


def test_ties_go_to_the_earlier_beat():
    # reference beat exactly between two detections: the earlier detection gets it
    m = match_beats([100], [90, 110], tolerance=20)
    assert _pairs(m, [100], [90, 110]) == [(100, 90)]
    assert m.fp_idx.tolist() == [1]
    # detection exactly between two reference beats: the earlier reference beat gets it
    m = match_beats([90, 110], [100], tolerance=20)
    assert _pairs(m, [90, 110], [100]) == [(90, 100)]
    assert m.fn_idx.tolist() == [1]


def test_chain_of_equal_distances_is_fully_matched():
    ref, test = [0, 20, 40], [10, 30, 50]
    m = match_beats(ref, test, tolerance=10)
    assert _pairs(m, ref, test) == [(0, 10), (20, 30), (40, 50)]


def test_each_beat_is_used_once():
    m = match_beats([100], [100, 100, 101], tolerance=5)
    assert (m.tp, m.fn, m.fp) == (1, 0, 2)
    m = match_beats([100, 100], [100], tolerance=5)
    assert (m.tp, m.fn, m.fp) == (1, 1, 0)
    assert m.tp_ref_idx.tolist() == [0]  # the first of equal reference times


def test_unsorted_inputs_report_indices_of_the_inputs():
    ref = [700, 100, 400]
    test = [405, 98]
    m = match_beats(ref, test, tolerance=10)
    assert sorted(zip(m.tp_ref_idx.tolist(), m.tp_test_idx.tolist(), strict=True)) == [(1, 1), (2, 0)]
    assert m.fn_idx.tolist() == [0]
    assert m.tp_ref_idx.dtype == np.int64


@pytest.mark.parametrize(
    ("ref", "test", "expect"),
    [
        ([], [], (0, 0, 0)),
        ([1, 2, 3], [], (0, 3, 0)),
        ([], [5, 9], (0, 0, 2)),
    ],
)
def test_empty_inputs(ref, test, expect):
    m = match_beats(np.asarray(ref, dtype=np.int64), np.asarray(test, dtype=np.int64), tolerance=3)
    assert (m.tp, m.fn, m.fp) == expect
    if m.tp + m.fn == 0:
        assert math.isnan(m.sensitivity)
    if m.tp + m.fp == 0:
        assert math.isnan(m.ppv)


@pytest.mark.parametrize("seed", range(12))
def test_matches_brute_force_greedy_closest_first(seed):
    rng = np.random.default_rng(seed)
    # dense enough that windows overlap and ties happen (small integer grid)
    ref = rng.integers(0, 300, size=int(rng.integers(0, 40)))
    test = rng.integers(0, 300, size=int(rng.integers(0, 40)))
    tol = int(rng.integers(0, 15))
    m = match_beats(ref, test, tolerance=tol)
    got = set(zip(m.tp_ref_idx.tolist(), m.tp_test_idx.tolist(), strict=True))
    assert got == _greedy_reference(ref, test, tol)
    assert m.tp + m.fn == ref.size and m.tp + m.fp == test.size
    assert np.all(np.abs(ref[m.tp_ref_idx] - test[m.tp_test_idx]) <= tol)


def test_large_inputs_are_fast_and_consistent():
    rng = np.random.default_rng(1)
    ref = np.cumsum(rng.integers(200, 400, size=200_000))
    kept = ref[rng.random(ref.size) > 0.01]  # 1 % missed
    found = kept + rng.integers(-20, 21, kept.size)  # jitter well inside the window
    extra = rng.integers(0, int(ref[-1]), size=2000)  # false detections
    test = np.concatenate([found, extra])
    m = match_beats(ref, test, tolerance=54)
    assert m.tp + m.fn == ref.size
    assert m.tp + m.fp == test.size
    assert 0.985 < m.sensitivity < 0.995
    assert m.ppv > 0.985


def test_excluded_region_removes_reference_beats_and_unmatched_detections():
    ref = [100, 500, 600, 700, 1100]
    test = [101, 550, 650, 1000, 1101]
    vf = [[480, 720]]
    m = match_beats(ref, test, tolerance=20, exclude=vf)
    assert (m.tp, m.fn, m.fp) == (2, 0, 1)  # 1000 is a false detection outside the region
    assert sorted(m.excluded_ref_idx.tolist()) == [1, 2, 3]
    assert sorted(m.excluded_test_idx.tolist()) == [1, 2]
    full = match_beats(ref, test, tolerance=20)
    assert (full.tp, full.fn, full.fp) == (2, 3, 3)


def test_detection_inside_region_may_still_match_a_beat_just_outside():
    # bxb pairs test beats against the reference stream before asking whether they lie in VF
    m = match_beats([475], [485], tolerance=20, exclude=[[480, 720]])
    assert (m.tp, m.fn, m.fp) == (1, 0, 0)


def test_exclusion_mask_and_vf_intervals():
    samples = [10, 20, 30, 40, 50, 60]
    symbols = ["N", "[", "!", "]", "N", "["]
    iv = vf_intervals(samples, symbols)
    assert iv.tolist()[0] == [20, 40]
    assert iv.shape == (2, 2) and iv[1, 0] == 60  # the open episode runs to the end
    mask = exclusion_mask([5, 20, 30, 40, 41, 70], iv)
    assert mask.tolist() == [False, True, True, True, False, True]
    assert exclusion_mask([1, 2], None).tolist() == [False, False]
    # overlapping intervals
    assert exclusion_mask([5, 15, 25], [[0, 10], [8, 20]]).tolist() == [True, True, False]


def test_reference_beats_keeps_only_beat_codes():
    samples = [1, 2, 3, 4, 5, 6, 7, 8]
    symbols = ["N", "+", "V", "~", "!", "/", "|", "Q"]
    assert reference_beats(samples, symbols).tolist() == [1, 3, 6, 8]
    assert {"N", "L", "R", "V", "A", "/", "f", "Q", "F", "E", "j", "e", "a", "J", "S"} <= BEAT_CODES
    assert not {"+", "~", "|", "x", "[", "]", "!", '"'} & BEAT_CODES


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"ref": [[1, 2]], "test": [1], "tolerance": 3}, "ref"),
        ({"ref": [1], "test": [1.5], "tolerance": 3}, "test"),
        ({"ref": [1], "test": [1], "tolerance": -1}, "tolerance"),
        ({"ref": [1], "test": [1], "tolerance": 2.5}, "tolerance"),
        ({"ref": [1], "test": [1], "tolerance": 3, "exclude": [[5, 1]]}, "exclude"),
        ({"ref": [1], "test": [1], "tolerance": 3, "exclude": [1, 2, 3]}, "exclude"),
    ],
)
def test_bad_arguments_raise(kwargs, path):
    with pytest.raises(LeanECGError) as err:
        match_beats(**kwargs)
    assert err.value.path == path


def test_symbol_count_mismatch_raises():
    with pytest.raises(LeanECGError):
        vf_intervals([1, 2], ["["])
    with pytest.raises(LeanECGError):
        reference_beats([1, 2, 3], ["N"])
