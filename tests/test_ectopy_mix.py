"""Records made mostly ectopic from labelled ones (``leanecg.tasks.ectopy_mix``): the stress view's beats, the
record-normalised columns computed again over them, and the ``thinned_copies`` training augmentation.

Checked on arrays built here (which beats are kept, which columns move, the copies' records) and on real DS1
records through the mitdb-aami task (the copies join every training part and nothing else).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from leanecg.data.arrays import ArraySplit
from leanecg.errors import LeanECGError
from leanecg.signal.beats import RECORD_Z_BASE_NAMES, RECORD_Z_FEATURE_NAMES, RECORD_ZN_FEATURE_NAMES
from leanecg.signal.record_norm import not_premature, record_robust_z
from leanecg.tasks.base import TaskData
from leanecg.tasks.ectopy_mix import (
    MIN_ECTOPIC,
    N_SHARE,
    ectopic_majority_subset,
    renormalise,
    with_thinned_copies,
)
from leanecg.tasks.mitdb_aami import MitdbAamiTask

NAMES = [*RECORD_Z_BASE_NAMES, *RECORD_Z_FEATURE_NAMES, *RECORD_ZN_FEATURE_NAMES]


def _beats(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three records: r0 with 30 S beats among 110, r1 with 10 V beats among 150 (too few), r2 all N."""
    y = np.array([0] * 80 + [1] * 30 + [0] * 90 + [2] * 10 + [0] * 50 + [0] * 40)
    groups = np.array(["r0"] * 110 + ["r1"] * 150 + ["r2"] * 40)
    base = rng.uniform(0.5, 1.5, (len(y), len(RECORD_Z_BASE_NAMES)))
    base[y != 0, 0] *= 0.6  # the ectopic beats are early ...
    base[y != 0, 1] *= 1.5  # ... then a pause
    feats = np.hstack([base, np.zeros((len(y), 2 * len(RECORD_Z_BASE_NAMES)))]).astype(np.float32)
    return y, groups, feats


def test_thinned_records_keep_every_ectopic_beat_and_half_as_many_normal_ones():
    y, groups, _ = _beats(np.random.default_rng(0))
    keep = ectopic_majority_subset(y, groups, np.random.default_rng(1))
    assert set(groups[keep]) == {"r0"}  # r1 has fewer than MIN_ECTOPIC ectopic beats, r2 none
    assert (y[keep] != 0).sum() == 30 >= MIN_ECTOPIC and (y[keep] == 0).sum() == round(N_SHARE * 30)
    assert np.all(np.diff(keep) > 0)
    np.testing.assert_array_equal(keep, ectopic_majority_subset(y, groups, np.random.default_rng(1)))
    assert not np.array_equal(keep, ectopic_majority_subset(y, groups, np.random.default_rng(2)))
    with pytest.raises(LeanECGError, match="one shape"):
        ectopic_majority_subset(y[:-1], groups, np.random.default_rng(0))


def test_renormalise_moves_only_the_record_normalised_columns():
    y, groups, feats = _beats(np.random.default_rng(3))
    rows = feats[groups == "r0"][70:]  # 10 N and 30 S beats: ectopic majority
    out = renormalise(rows, NAMES)
    n = len(RECORD_Z_BASE_NAMES)
    np.testing.assert_array_equal(out[:, :n], rows[:, :n])
    base = rows[:, :n].astype(np.float64)
    np.testing.assert_allclose(out[:, n : 2 * n], record_robust_z(base), rtol=1e-5, atol=1e-5)
    reference = not_premature(base[:, 0], base[:, 1])
    np.testing.assert_allclose(
        out[:, 2 * n :], record_robust_z(base, reference=reference), rtol=1e-5, atol=1e-5
    )
    # against all beats the early S beats hardly stand out; against the non-premature ones they do
    s = y[groups == "r0"][70:] != 0
    assert np.median(out[s, 2 * n]) < np.median(out[s, n]) - 1
    only_raw = renormalise(rows[:, :n], NAMES[:n])  # no record-normalised column: nothing to do
    np.testing.assert_array_equal(only_raw, rows[:, :n])
    with pytest.raises(LeanECGError, match="base columns"):
        renormalise(rows[:, 1 : n + 1], NAMES[1 : n + 1])


def test_thinned_copies_append_recomputed_copies_of_ectopy_rich_records():
    y, groups, feats = _beats(np.random.default_rng(4))
    train = ArraySplit(X=np.zeros((len(y), 1, 8), np.float32), y=y, features=feats, groups=groups, name="t")
    out = with_thinned_copies(train, NAMES, np.random.default_rng(5))
    k = len(out) - len(train)
    assert k == 30 + round(N_SHARE * 30)
    np.testing.assert_array_equal(out.features[: len(train)], feats)  # the originals untouched
    assert set(out.groups[len(train) :]) == {"r0~thinned"} and out.name == "t"
    copies = out.features[len(train) :]
    np.testing.assert_allclose(copies, renormalise(copies, NAMES), rtol=1e-6)  # computed over the copy
    assert not np.allclose(copies, renormalise(feats[groups == "r0"], NAMES)[: len(copies)])
    with pytest.raises(LeanECGError, match="groups"):
        with_thinned_copies(
            ArraySplit(X=train.X, y=y, features=feats, name="g"), NAMES, np.random.default_rng(0)
        )


def test_the_task_switch_gives_copies_to_training_parts_only(shared_data: Path, monkeypatch) -> None:
    pytest.importorskip("torch")
    if not (shared_data / "mitdb").is_dir():
        pytest.skip("mitdb not in the shared data")
    task = MitdbAamiTask()
    task.train_uses_val, task.rr_context, task.record_z, task.thinned_copies = False, True, True, True
    data = task.load(shared_data, tiny=True, seed=0)
    assert "thinned_copies" in data.info
    pool = task.cv_pool(data)
    part = data.training_part(pool)
    rich = [g for g in np.unique(pool.groups) if (pool.y[pool.groups == g] != 0).sum() >= MIN_ECTOPIC]
    assert rich, "the tiny DS1 slice holds an ectopy-rich record"
    assert set(part.groups[len(pool) :]) == {f"{g}~thinned" for g in rich}
    np.testing.assert_array_equal(part.y[: len(pool)], pool.y)
    plain = TaskData(**{**data.__dict__, "train_transform": None})
    assert plain.training_part(pool) is pool  # no transform, no extra beats: the part itself


def test_the_model_card_states_thinned_copies_of_the_package_or_of_a_member() -> None:
    from leanecg.package.model import model_card

    meta = json.loads((Path(__file__).parents[1] / "src/leanecg/zoo/mitdb-aami/model.json").read_text())
    rule = {"rule": "each training record with >= 20 ectopic beats gets a copy"}
    plain = model_card(
        {**meta, "data": {**meta["data"], "thinned_copies": None, "members_thinned_copies": None}}
    )
    assert "thinned copy" not in plain
    own = model_card(
        {**meta, "data": {**meta["data"], "thinned_copies": rule, "members_thinned_copies": None}}
    )
    assert "- Augmentation: its training part also held a thinned copy" in own and rule["rule"] in own
    member = model_card({**meta, "data": {**meta["data"], "members_thinned_copies": {"beatnet": rule}}})
    assert "- Augmentation of the `beatnet` member: its training part" in member
    assert member.index("Augmentation") < member.index("## Test metrics")  # under Training data
