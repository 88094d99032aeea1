"""Noisy labels: label flipping, stratified folds, the self-learning loop and confident learning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from leanecg.errors import LeanECGError
from leanecg.train.datasets import ArraySplit
from leanecg.train.label_correction import (
    CorrectionConfig,
    confident_joint,
    find_label_issues,
    flip_labels,
    out_of_fold_proba,
    prototype_labels,
    self_learning_correction,
    stratified_folds,
)


def test_flip_labels_exact_count_and_always_another_class() -> None:
    y = np.repeat(np.arange(4), 50)
    noisy, flipped = flip_labels(y, 0.2, 4, seed=0)
    assert flipped.sum() == 40
    assert np.all(noisy[flipped] != y[flipped]) and np.all(noisy[~flipped] == y[~flipped])
    again, _ = flip_labels(y, 0.2, 4, seed=0)
    assert np.array_equal(noisy, again)
    assert not np.array_equal(noisy, flip_labels(y, 0.2, 4, seed=1)[0])
    with pytest.raises(LeanECGError):
        flip_labels(y, 1.2, 4, 0)
    with pytest.raises(LeanECGError):
        flip_labels(y, 0.2, 3, 0)  # label 3 outside [0, 3)


def test_stratified_folds_balance_classes() -> None:
    y = np.repeat([0, 1], [30, 9])
    folds = stratified_folds(y, 3, seed=0)
    for c in (0, 1):
        assert np.bincount(folds[y == c], minlength=3).tolist() == ([10, 10, 10] if c == 0 else [3, 3, 3])


# a stand-in "model": nearest class centroid of the records' mean value (fits in microseconds)
def _centroid_train(split: ArraySplit, seed: int) -> dict:
    v = np.array([x.mean() for x in split.X])
    return {"centroids": np.array([np.median(v[split.y == c]) for c in range(3)])}


def _centroid_predict(model: dict, split: ArraySplit) -> np.ndarray:
    v = np.array([x.mean() for x in split.X])
    d = -np.abs(v[:, None] - model["centroids"][None, :]) * 5
    e = np.exp(d - d.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _clustered(n_per_class: int = 40) -> tuple[ArraySplit, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), n_per_class)
    X = [np.full((1, 20), 3.0 * c + 0.3 * rng.standard_normal(), dtype=np.float32) for c in y]
    return ArraySplit(X=X, y=y, name="train"), y


def test_out_of_fold_predictions_cover_every_record() -> None:
    split, y = _clustered()
    p = out_of_fold_proba(split, _centroid_train, _centroid_predict, n_folds=3, seed=0)
    assert p.shape == (len(y), 3) and np.allclose(p.sum(axis=1), 1)
    assert (p.argmax(axis=1) == y).mean() > 0.95


@pytest.mark.parametrize("agreement", ["none", "prototype"])
def test_correction_fixes_flipped_labels(agreement: str) -> None:
    split, y = _clustered()
    noisy, flipped = flip_labels(y, 0.2, 3, seed=0)
    noisy_split = ArraySplit(X=split.X, y=noisy, name="train")
    res = self_learning_correction(
        noisy_split,
        _centroid_train,
        _centroid_predict,
        CorrectionConfig(n_folds=3, threshold=0.6, agreement=agreement, seed=0),
        embed_fn=lambda m, s: np.array([[x.mean(), 1.0] for x in s.X]),
    )
    assert (res.y[flipped] == y[flipped]).mean() > 0.9  # most flips undone
    assert (res.y[~flipped] == y[~flipped]).mean() > 0.95  # clean labels kept
    assert res.rounds[0]["n_relabelled"] == int(res.changed.sum())


def test_correction_config_and_inputs_are_checked() -> None:
    split, _ = _clustered()
    with pytest.raises(LeanECGError, match="embed_fn"):
        self_learning_correction(
            split, _centroid_train, _centroid_predict, CorrectionConfig(agreement="prototype")
        )
    with pytest.raises(LeanECGError, match="threshold"):
        self_learning_correction(split, _centroid_train, _centroid_predict, CorrectionConfig(threshold=0.0))
    with pytest.raises(LeanECGError, match="n_folds"):
        out_of_fold_proba(split, _centroid_train, _centroid_predict, n_folds=1)


def test_prototype_labels_nearest_trusted_mean() -> None:
    emb = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [1.0, 0.05]])
    y = np.array([0, 0, 1, 1, 1])  # the last record is labelled 1 but looks like class 0
    trusted = np.array([True, True, True, True, False])
    assert prototype_labels(emb, y, trusted, 3).tolist() == [0, 0, 1, 1, 0]


def test_drop_below_sets_aside_unsure_records() -> None:
    split, y = _clustered()
    noisy, flipped = flip_labels(y, 0.2, 3, seed=1)
    res = self_learning_correction(
        ArraySplit(X=split.X, y=noisy, name="train"),
        _centroid_train,
        _centroid_predict,
        CorrectionConfig(threshold=1.0, agreement="none", drop_below=0.3, seed=0),  # re-labels nothing
    )
    assert not res.changed.any()
    assert not res.keep[flipped].any() or res.keep[flipped].mean() < 0.1  # flipped records are set aside
    assert res.keep[~flipped].mean() > 0.9
    assert res.rounds[0]["n_dropped"] == int((~res.keep).sum())
    with pytest.raises(LeanECGError, match="drop_below"):
        CorrectionConfig(drop_below=1.5).validate()


def test_confident_joint_counts_and_per_class_thresholds() -> None:
    p = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8], [0.9, 0.1]])
    y = np.array([0, 0, 1, 1, 1])  # the last record is labelled 1 but looks like class 0
    joint, thr = confident_joint(p, y)
    assert np.allclose(thr, [0.85, (0.7 + 0.8 + 0.1) / 3])
    assert np.allclose(joint, [[2, 0], [1, 2]]) and np.allclose(joint.sum(axis=1), [2, 3])
    assert find_label_issues(p, y).tolist() == [False, False, False, False, True]


def _imbalanced(seed: int = 0) -> tuple[ArraySplit, np.ndarray]:
    """Three overlapping classes of 120 / 30 / 60 records (the centroid model is right ~90 % of the time)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), [120, 30, 60])
    X = [np.full((1, 4), 3.0 * c + 0.9 * rng.standard_normal(), dtype=np.float32) for c in y]
    return ArraySplit(X=X, y=y, name="train"), y


def test_confident_learning_measurably_reduces_label_error() -> None:
    split, y = _imbalanced()
    noisy, flipped = flip_labels(y, 0.2, 3, seed=0)
    res = self_learning_correction(
        ArraySplit(X=split.X, y=noisy, name="train"),
        _centroid_train,
        _centroid_predict,
        CorrectionConfig(method="confident", threshold=0.95, agreement="none", n_repeats=2, seed=0),
    )
    before = (noisy != y).mean()
    kept_error = (res.y[res.keep] != y[res.keep]).mean()
    assert kept_error < 0.5 * before  # at least half of the label error gone from the retraining set
    assert (~res.keep[flipped]).mean() + (res.y[flipped] == y[flipped]).mean() > 0.6  # flips dropped or fixed
    assert res.keep[~flipped].mean() > 0.8  # most correct records stay
    if res.changed.any():
        assert (res.y[res.changed] == y[res.changed]).mean() > 0.8  # re-labels are mostly right
    assert abs(res.rounds[0]["noise_rate_estimate"] - before) < 0.1  # noise rate estimated from data


def test_out_of_fold_repeats_average_and_new_settings_are_checked() -> None:
    split, _ = _clustered()
    p1 = out_of_fold_proba(split, _centroid_train, _centroid_predict, n_folds=3, seed=0)
    p7 = out_of_fold_proba(split, _centroid_train, _centroid_predict, n_folds=3, seed=7)
    p2 = out_of_fold_proba(split, _centroid_train, _centroid_predict, n_folds=3, seed=0, n_repeats=2)
    assert np.allclose(p2, (p1 + p7) / 2)
    with pytest.raises(LeanECGError, match="method"):
        CorrectionConfig(method="magic").validate()
    with pytest.raises(LeanECGError, match="n_repeats"):
        CorrectionConfig(n_repeats=0).validate()


def test_recovery_of_means_and_seed_bootstrap() -> None:
    from leanecg.bench.noisy_labels import NoisyConfig, noisy_results_stem, recovery_of_means

    clean, noisy, corrected = [0.80, 0.82, 0.78, 0.80], [0.70, 0.72, 0.68, 0.70], [0.75, 0.77, 0.73, 0.75]
    out = recovery_of_means([clean, noisy, corrected], n_boot=200, seed=0)
    assert out["recovered_fraction_of_means"] == pytest.approx(0.5)
    low, high = out["recovered_ci95_seeds"]
    assert low == pytest.approx(0.5) and high == pytest.approx(0.5)  # every seed recovers exactly half
    assert out["recovered_boot_undefined"] == 0.0
    none_lost = recovery_of_means([[0.8, 0.8], [0.8, 0.8], [0.7, 0.9]])
    assert none_lost["recovered_fraction_of_means"] is None and none_lost["recovered_ci95_seeds"] is None
    with pytest.raises(LeanECGError, match="f1"):
        recovery_of_means([[0.8], [0.7, 0.7], [0.75]])
    assert noisy_results_stem(NoisyConfig()) == "noisy_labels"
    assert noisy_results_stem(NoisyConfig(model="rf")) == "noisy_labels_rf"
    assert (
        noisy_results_stem(NoisyConfig(model="litenet", width=0.5, epochs=15))
        == "noisy_labels_litenet_w0.5_e15"
    )
    assert noisy_results_stem(NoisyConfig(model="mlp", detector_epochs=20)) == "noisy_labels_mlp_det20"
    assert noisy_results_stem(NoisyConfig(model="mlp", eval_split="val")) == "noisy_labels_mlp_val"


def test_noisy_config_rejects_what_it_cannot_do() -> None:
    from leanecg.bench.noisy_labels import NoisyConfig

    with pytest.raises(LeanECGError, match=r"^NoisyConfig\.detector_epochs: .*not lightgbm"):
        NoisyConfig(model="lightgbm", detector_epochs=10).validate()
    with pytest.raises(LeanECGError, match=r"^NoisyConfig\.detector_epochs: must be a positive integer"):
        NoisyConfig(model="mlp", detector_epochs=0)
    with pytest.raises(LeanECGError, match=r"^NoisyConfig\.eval_split: unknown eval_split 'train'"):
        NoisyConfig(eval_split="train")
    with pytest.raises(LeanECGError, match=r"^NoisyConfig\.rates\[1\]: must be a number in \[0, 1\]"):
        NoisyConfig(rates=(0.1, 1.5))
    NoisyConfig(model="mlp", detector_epochs=20, eval_split="val").validate()
    NoisyConfig(model="litenet", detector_epochs=3).validate()


def test_noisy_config_sets_the_threshold_methods_drop_below() -> None:
    """The study's rule (in the library, not the CLI): the threshold method leaves out records whose own
    label has an out-of-fold probability below 0.1 unless told otherwise; confident learning has no
    such setting."""
    from leanecg.bench.noisy_labels import THRESHOLD_DROP_BELOW, NoisyConfig

    assert THRESHOLD_DROP_BELOW == 0.1
    assert NoisyConfig(method="threshold").drop_below == THRESHOLD_DROP_BELOW
    assert NoisyConfig(method="threshold", drop_below=0.3).drop_below == 0.3
    assert NoisyConfig().drop_below is None  # confident
    with pytest.raises(LeanECGError, match=r"^NoisyConfig\.drop_below: applies to method threshold"):
        NoisyConfig(method="confident", drop_below=0.2)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--method", "bogus"],
            "error: --method: unknown method 'bogus'; choose one of threshold, confident",
        ),
        (
            ["--eval-split", "train"],
            "error: --eval-split: unknown eval_split 'train'; choose one of test, val",
        ),
        (["--repeats", "0"], "error: --repeats: must be a positive integer, got 0"),  # n_repeats: renamed
    ],
)
def test_noisy_config_errors_name_the_cli_flag(tmp_path: Path, args: list[str], line: str) -> None:
    """The CLI shows a NoisyConfig field's error under its flag (of the same name, or ``--repeats`` for
    ``n_repeats``: :data:`leanecg.cli.runner.RENAMED`)."""
    from clihelp import invoke_cli

    proc = invoke_cli(["study", "noisy-labels", "--data-dir", str(tmp_path), *args], tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip() == line, proc.stderr


def test_noisy_benchmark_tiny_run_with_an_early_learning_detector(shared_data: Path, tmp_path: Path) -> None:
    """The whole study on a few real cinc2017 records: clean / noisy / corrected MLP, OOF models trained
    briefly; the validation run writes its own ``_val`` files and never the test-split results."""
    import json

    from leanecg.bench.noisy_labels import NoisyConfig, run_noisy_benchmark

    cfg = NoisyConfig(model="mlp", rates=(0.2,), seeds=(0,), detector_epochs=3, eval_split="val", n_boot=20)
    doc = run_noisy_benchmark(shared_data, tmp_path, config=cfg, tiny=True)
    # (plus the hidden lock file the seeds merge under)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "noisy_labels_mlp_det3_val.json",
        "noisy_labels_mlp_det3_val.md",
    ]
    saved = json.loads((tmp_path / "noisy_labels_mlp_det3_val.json").read_text())
    assert saved["eval_split"] == "val" and saved["config"]["detector_epochs"] == 3
    (entry,) = doc["entries"]
    assert entry["n_flipped"] == round(0.2 * entry["n_train"])
    for key in ("f1_clean", "f1_noisy", "f1_corrected"):
        assert 0.0 <= entry[key]["value"] <= 1.0
    md = (tmp_path / "noisy_labels_mlp_det3_val.md").read_text()
    assert "Validation-split run" in md and "--detector-epochs 3 --eval-split val" in md


def test_seeds_run_in_parallel_processes_merge(shared_data: Path, tmp_path: Path) -> None:
    """Seeds run in separate processes at the same time merge: the file is read when the results are
    written, so seeds another process wrote meanwhile are kept (here seed 1's file appears while seed 0
    runs)."""
    import json
    import shutil

    from leanecg.bench.noisy_labels import NoisyConfig, run_noisy_benchmark

    def cfg(seed: int) -> NoisyConfig:
        return NoisyConfig(
            model="mlp", rates=(0.2,), seeds=(seed,), detector_epochs=2, eval_split="val", n_boot=20
        )

    other, out = tmp_path / "other", tmp_path / "out"
    run_noisy_benchmark(shared_data, other, config=cfg(1), tiny=True)
    name = "noisy_labels_mlp_det2_val.json"
    appeared = []

    def log(_: str) -> None:  # called while seed 0 runs: the other process finishes now
        if not appeared:
            out.mkdir(exist_ok=True)
            shutil.copy(other / name, out / name)
            appeared.append(True)

    run_noisy_benchmark(shared_data, out, config=cfg(0), tiny=True, log=log)
    assert appeared
    saved = json.loads((out / name).read_text())
    assert sorted(e["seed"] for e in saved["entries"]) == [0, 1]
