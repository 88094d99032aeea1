"""``leanecg bench --cv K``: fold assignment (leave-records-out / stratified) and pooled scoring."""

from __future__ import annotations

import numpy as np
import pytest

from leanecg.bench.cv import cv_folds, inner_split, run_cv
from leanecg.errors import LeanECGError
from leanecg.train.datasets import ArraySplit


def _pool(groups: bool) -> ArraySplit:
    rng = np.random.default_rng(0)
    n = 300
    y = rng.choice(3, size=n, p=[0.8, 0.15, 0.05])
    g = np.repeat([f"r{i}" for i in range(10)], n // 10) if groups else None
    return ArraySplit(X=rng.normal(size=(n, 1, 8)).astype(np.float32), y=y, groups=g)


@pytest.mark.parametrize("groups", [True, False])
def test_folds_are_disjoint_cover_and_deterministic(groups: bool) -> None:
    pool = _pool(groups)
    folds = cv_folds(pool, 5, seed=3)
    allidx = np.concatenate(folds)
    assert sorted(allidx.tolist()) == list(range(len(pool)))  # every example exactly once
    assert [f.tolist() for f in folds] == [f.tolist() for f in cv_folds(pool, 5, seed=3)]
    assert [f.tolist() for f in folds] != [f.tolist() for f in cv_folds(pool, 5, seed=4)]
    if groups:  # a record never sits in two folds
        owners = [set(pool.groups[f]) for f in folds]
        assert all(not (owners[i] & owners[j]) for i in range(5) for j in range(i + 1, 5))
    else:  # stratified: each fold's count of a class within one of an equal share
        for c in range(3):
            n_c = int(np.sum(pool.y == c))
            assert all(abs(int(np.sum(pool.y[f] == c)) - n_c / 5) <= 1 for f in folds)


def test_k_out_of_range_is_a_one_line_error() -> None:
    with pytest.raises(LeanECGError, match="2 <= K <= 10"):
        cv_folds(_pool(True), 11, seed=0)


def test_run_cv_pools_heldout_predictions() -> None:
    pool = _pool(True)
    seen: list[set[str]] = []

    def oracle(train: ArraySplit, heldout: ArraySplit, fold: int) -> np.ndarray:
        assert not set(train.groups) & set(heldout.groups)  # leave-records-out
        seen.append(set(heldout.groups))
        return np.eye(3)[heldout.y]  # perfect on the held-out part

    def acc(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
        return {"accuracy": float(np.mean(y == p)), "n": float(len(y))}

    block = run_cv(pool, 5, 0, oracle, acc)
    assert block["pooled"] == {"accuracy": 1.0, "n": float(len(pool))}
    assert [r["n"] for r in block["folds"]] == [int(r["scores"]["n"]) for r in block["folds"]]
    assert set().union(*seen) == set(pool.groups) and block["unit"].startswith("records")


@pytest.mark.parametrize("groups", [True, False])
def test_inner_split_stays_inside_the_fold_training_part(groups: bool) -> None:
    """Early stopping in a CV fold uses an inner part of the fold's training data, whole records."""
    pool = _pool(groups)
    held = cv_folds(pool, 5, seed=0)[0]
    rest = np.setdiff1d(np.arange(len(pool)), held)
    train = pool.subset(rest, name="cv0-train")
    inner_tr, inner_va = inner_split(train, 3, seed=1)
    assert len(inner_tr) + len(inner_va) == len(train)
    assert 0.2 < len(inner_va) / len(train) < 0.5  # about 1/3
    if groups:
        assert not set(inner_tr.groups) & set(inner_va.groups)  # whole records
        assert not set(inner_va.groups) & set(pool.groups[held])  # never the held-out fold's records
        assert set(inner_tr.groups) | set(inner_va.groups) == set(train.groups)
    else:
        assert sorted(np.concatenate([inner_tr.y, inner_va.y]).tolist()) == sorted(train.y.tolist())


@pytest.mark.parametrize("groups", [True, False])
def test_out_of_fold_files_round_trip_and_average_into_an_ensemble(groups: bool, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from leanecg.bench.cv import load_oof, mean_oof, save_oof

    pool = _pool(groups)
    rng = np.random.default_rng(1)

    def noisy(seed: int):  # type: ignore[no-untyped-def]
        def fit_predict(train: ArraySplit, heldout: ArraySplit, fold: int) -> np.ndarray:
            p = np.eye(3)[heldout.y] + rng.uniform(0, 1.2, size=(len(heldout), 3))
            return p / p.sum(axis=1, keepdims=True)

        return run_cv(
            pool, 5, seed, fit_predict, lambda y, p: {"acc": float(np.mean(y == p))}, keep_proba=True
        )

    blocks = [noisy(s) for s in (0, 1)]
    files = [save_oof(tmp_path / f"m{s}.cv.npz", b, b["proba"], pool) for s, b in enumerate(blocks)]
    back = load_oof(files[0])
    assert np.array_equal(back["proba"], blocks[0]["proba"]) and np.array_equal(back["y"], pool.y)
    assert back["k"] == 5 and back["seed"] == 0 and (back["groups"] is not None) == groups
    proba, y = mean_oof(files)
    assert np.allclose(proba, (blocks[0]["proba"] + blocks[1]["proba"]) / 2, atol=1e-6)
    # averaging two independent noisy held-out predictions is at least as accurate as either, here
    acc = [float(np.mean(np.argmax(b["proba"], 1) == y)) for b in blocks]
    assert float(np.mean(np.argmax(proba, 1) == y)) >= min(acc)
    # a file of another pool cannot be averaged in
    other = ArraySplit(X=pool.X, y=np.roll(pool.y, 1), groups=pool.groups)
    bad = save_oof(tmp_path / "other.cv.npz", blocks[1], blocks[1]["proba"], other)
    with pytest.raises(LeanECGError, match="another pool"):
        mean_oof([files[0], bad])
    with pytest.raises(LeanECGError, match="finite"):
        save_oof(tmp_path / "nan.cv.npz", blocks[0], np.full((len(pool), 3), np.nan), pool)
    assert not (tmp_path / "nan.cv.npz").exists()
    (tmp_path / "junk.cv.npz").write_bytes(b"not a zip")
    with pytest.raises(LeanECGError, match="not an out-of-fold"):
        load_oof(tmp_path / "junk.cv.npz")
