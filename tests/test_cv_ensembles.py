"""``benchmarks/cv_ensembles.py``: ensembles of ``bench --cv`` rows scored on their out-of-fold probabilities."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from conftest import load_benchmark
from leanecg.bench.cv import run_cv, save_oof
from leanecg.tasks import get_task
from leanecg.train.datasets import ArraySplit


def _script() -> ModuleType:
    return load_benchmark("cv_ensembles.py")


def _row(folder: Path, name: str, pool: ArraySplit, noise: float, seed: int, params: int) -> None:
    """A ``bench --cv`` row of cinc2017's shape: its result JSON (the fields the script reads) + OOF file."""
    task = get_task("cinc2017")
    rng = np.random.default_rng(seed)

    def fit_predict(train: ArraySplit, heldout: ArraySplit, fold: int) -> np.ndarray:
        p = np.eye(4)[heldout.y] + rng.uniform(0, noise, size=(len(heldout), 4))
        return p / p.sum(axis=1, keepdims=True)

    block = run_cv(pool, 5, seed, fit_predict, task.scores, keep_proba=True)
    proba = block.pop("proba")
    block["proba_file"] = f"{name}.cv.npz"
    save_oof(folder / block["proba_file"], block, proba, pool)
    result = {
        "model": name,
        "cv": block,
        "cost": {"params": params},
        "metrics": {"f1": {"value": 0.5}},
        "provenance": {"git_commit": "abc"},
    }
    (folder / f"{name}.json").write_text(json.dumps(result), encoding="utf-8")


def test_ensemble_of_two_noisy_rows_is_scored_with_a_paired_gain(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = rng.choice(4, size=400, p=[0.55, 0.15, 0.25, 0.05])
    pool = ArraySplit(X=rng.normal(size=(400, 1, 8)).astype(np.float32), y=y)
    _row(tmp_path, "net", pool, noise=1.6, seed=0, params=40_000)
    _row(tmp_path, "trees", pool, noise=1.6, seed=1, params=20_000)
    out = tmp_path / "out"
    code = _script().main(
        [
            "--task",
            "cinc2017",
            "--dir",
            str(tmp_path),
            "--ensemble",
            "net,trees",
            "--reference",
            "net",
            "--n-boot",
            "200",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    doc = json.loads((out / "cv_ensembles_cinc2017.json").read_text(encoding="utf-8"))
    assert [m["name"] for m in doc["members"]] == ["net", "trees"] and doc["test_split_evaluations"] == 0
    (ens,) = doc["ensembles"]
    assert ens["params"] == 60_000 and ens["members"] == ["net", "trees"]
    best = max(m["cv"]["value"] for m in doc["members"])
    # two independent noisy predictions of the truth: their average is better, and the paired CI says so
    assert ens["cv"]["value"] > best
    gain = ens["gain_over_best_member"]
    assert gain["value"] == pytest.approx(ens["cv"]["value"] - best) and gain["ci_low"] > 0
    # every row against the reference row (paired), the reference itself excepted
    net = doc["members"][0]
    assert doc["reference"] == "net" and net["gain_over_reference"] is None
    assert ens["gain_over_reference"]["value"] == pytest.approx(ens["cv"]["value"] - net["cv"]["value"])
    trees = doc["members"][1]["gain_over_reference"]
    assert trees["ci_low"] <= trees["value"] <= trees["ci_high"]
    for block in [*doc["members"], ens]:
        assert block["cv"]["ci_low"] <= block["cv"]["value"] <= block["cv"]["ci_high"]
    md = (out / "cv_ensembles_cinc2017.md").read_text(encoding="utf-8")
    assert "| net + trees |" in md and "no ensemble is scored on the test split" in md
    assert "gain over net [95 % CI]" in md
    assert str(tmp_path) not in md and str(tmp_path) not in json.dumps(doc["provenance"])


def test_rows_of_other_folders_and_an_ensemble_reference(tmp_path: Path) -> None:
    """A row given as a path (another --seed's run folder) joins like a row of --dir, and the reference may
    be several rows averaged (a shipped ensemble): its gains are paired with that average."""
    rng = np.random.default_rng(1)
    y = rng.choice(4, size=300, p=[0.55, 0.15, 0.25, 0.05])
    pool = ArraySplit(X=rng.normal(size=(300, 1, 8)).astype(np.float32), y=y)
    other = tmp_path / "seed1"
    other.mkdir()
    _row(tmp_path, "net", pool, noise=1.6, seed=0, params=40_000)
    _row(tmp_path, "trees", pool, noise=1.6, seed=1, params=20_000)
    _row(other, "trees", pool, noise=1.6, seed=2, params=21_000)
    out = tmp_path / "out"
    args = ["--task", "cinc2017", "--dir", str(tmp_path), "--n-boot", "100", "--out", str(out)]
    script = _script()
    code = script.main([*args, "--reference", "net,trees", "--ensemble", f"trees,{other / 'trees'}"])
    assert code == 0
    doc = json.loads((out / "cv_ensembles_cinc2017.json").read_text(encoding="utf-8"))
    assert doc["reference"] == "net + trees"
    (ens,) = doc["ensembles"]
    assert ens["params"] == 41_000 and ens["members"] == ["trees", str(other / "trees")]
    # the reference's own score: the same average scored alone
    again = json.loads(json.dumps(doc))
    code = script.main([*args, "--ensemble", "net,trees"])
    ref = json.loads((out / "cv_ensembles_cinc2017.json").read_text(encoding="utf-8"))["ensembles"][0]
    assert code == 0
    net = next(m for m in again["members"] if m["name"] == "net")
    assert net["gain_over_reference"]["value"] == pytest.approx(net["cv"]["value"] - ref["cv"]["value"])


def test_bad_rows_are_one_line_errors_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(0)
    pool = ArraySplit(X=np.zeros((100, 1, 4), np.float32), y=rng.choice(4, size=100))
    _row(tmp_path, "net", pool, noise=1.0, seed=0, params=1)
    out = tmp_path / "out"
    script = _script()
    assert (
        script.main(
            ["--task", "cinc2017", "--dir", str(tmp_path), "--ensemble", "net,nope", "--out", str(out)]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "nope.json" in err and len(err.splitlines()) == 1
    assert (
        script.main(["--task", "cinc2017", "--dir", str(tmp_path), "--ensemble", "net", "--out", str(out)])
        == 2
    )
    assert "at least two" in capsys.readouterr().err
    # an out-of-fold file that no longer matches its result's pooled score is refused
    res = json.loads((tmp_path / "net.json").read_text(encoding="utf-8"))
    res["cv"]["pooled"]["f1"] = 0.01
    (tmp_path / "net.json").write_text(json.dumps(res), encoding="utf-8")
    assert (
        script.main(["--task", "cinc2017", "--dir", str(tmp_path), "--members", "net", "--out", str(out)])
        == 2
    )
    assert "does not reproduce" in capsys.readouterr().err
    assert not out.exists()
