"""``benchmarks/beat_ablation.py``'s report helpers: figures derived from kept out-of-fold files only when the
files are the recorded runs', and the CV-DS2 agreement from recorded scores (built data, no training)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from conftest import load_benchmark
from leanecg.tasks.mitdb_aami import MitdbAamiTask
from leanecg.train.datasets import ArraySplit

ROW = "v1 recipe"


def _script() -> ModuleType:
    return load_benchmark("beat_ablation.py")


def _pool(rng: np.random.Generator) -> ArraySplit:
    """Six records of 50 beats each, all four classes present."""
    y = rng.choice(4, size=300, p=[0.7, 0.1, 0.15, 0.05])
    y[:4] = [0, 1, 2, 3]
    groups = np.repeat([f"r{i}" for i in range(6)], 50)
    return ArraySplit(X=np.zeros((300, 1, 8), np.float32), y=y, groups=groups, name="pool")


def _runs(mod: ModuleType, out: Path, pool: ArraySplit, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Two seeds' out-of-fold files written as the script keeps them, and their recorded CV scores."""
    runs = []
    for seed in range(2):
        proba = rng.dirichlet(np.ones(4), size=len(pool)).astype(np.float32)
        proba[np.arange(len(pool)), pool.y] += 0.5 * (rng.random(len(pool)) < 0.7)
        proba /= proba.sum(axis=1, keepdims=True)
        mod._save_oof(out, ROW, seed, proba, pool)
        kept = np.load(mod.oof_path(out, ROW, seed))["proba"].astype(np.float32)  # as stored (float16)
        cv = MitdbAamiTask().scores(pool.y, np.argmax(kept, axis=1))
        runs.append({"row": ROW, "seed": seed, "cv": cv})
    return runs


def test_recorded_oof_accepts_the_recorded_runs_and_refuses_recomputed_ones(tmp_path: Path) -> None:
    mod = _script()
    rng = np.random.default_rng(0)
    pool = _pool(rng)
    doc = {"runs": _runs(mod, tmp_path, pool, rng)}
    kept = mod.recorded_oof(tmp_path, doc, ROW, 2)
    assert kept is not None and len(kept) == 2
    assert mod._ensemble_cv(tmp_path, doc, ROW, 2) is not None
    # a run recorded elsewhere (its CV differs from what the file gives): no figure from these files
    doc["runs"][1]["cv"] = {**doc["runs"][1]["cv"], "sveb_veb_f1": doc["runs"][1]["cv"]["sveb_veb_f1"] + 0.01}
    assert mod.recorded_oof(tmp_path, doc, ROW, 2) is None
    assert mod._ensemble_cv(tmp_path, doc, ROW, 2) is None
    assert mod._bias_cv(tmp_path, doc, ROW, 2) is None
    # a missing seed: nothing either
    assert mod.recorded_oof(tmp_path, {"runs": doc["runs"][:1]}, ROW, 2) is None


def _run(row: str, seed: int, cv: float, ds2: float) -> dict[str, Any]:
    return {"row": row, "seed": seed, "cv": {"sveb_veb_f1": cv}, "ds2": {"sveb_veb_f1": {"value": ds2}}}


def test_cv_ds2_agreement_over_rows_and_runs() -> None:
    mod = _script()
    # row means rise together (rows agree perfectly) while each row's two runs disagree in order
    runs = []
    for i in range(5):
        runs += [
            _run(f"row{i}", 0, 0.40 + 0.05 * i, 0.52 + 0.05 * i),
            _run(f"row{i}", 1, 0.42 + 0.05 * i, 0.50 + 0.05 * i),
        ]
    agree = mod.cv_ds2_agreement(runs, n_boot=200)
    assert agree["rows"]["n"] == 5 and agree["runs"]["n"] == 10
    assert agree["rows"]["spearman"] == pytest.approx(1.0)
    assert agree["runs"]["spearman"] < agree["rows"]["spearman"]
    for block in agree.values():
        assert block["ci_low"] <= block["spearman"] <= block["ci_high"]
    reversed_runs = [
        _run(r["row"], r["seed"], r["cv"]["sveb_veb_f1"], -r["ds2"]["sveb_veb_f1"]["value"]) for r in runs
    ]
    assert mod.cv_ds2_agreement(reversed_runs, n_boot=50)["rows"]["spearman"] == pytest.approx(-1.0)
