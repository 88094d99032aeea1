"""LightGBM refit on train + validation data (``refit_lightgbm``, a task's ``lightgbm_refit``).

Checked: the refit trains on every row with the early-stopped rounds scaled by the data's growth and the
same parameters, and learns from the rows it adds; round counts are validated; a ``cinc2017`` classic row
whose task refits says so in its result (note, no temperature fitted on the seen validation split, the
refit's rounds) and its package carries no temperature; an ensemble of refitted members fits none either.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from leanecg.errors import LeanECGError
from leanecg.train.hybrid import fit_lightgbm, refit_lightgbm, refitted_on_val

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # LightGBM's own, on tiny data


def _problem(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] + 0.3 * rng.normal(size=n) > 0).astype(np.int64) + (X[:, 2] > 1.2)
    return X, y


def test_refit_uses_every_row_with_scaled_rounds() -> None:
    X, y = _problem(600, 0)
    fit = fit_lightgbm(X[:400], y[:400], X[400:], y[400:], n_classes=3, seed=0, class_weight_power=0.5)
    refit = refit_lightgbm(fit, X, y, n_train=400, class_weight_power=0.5)
    assert refit.best_iteration == round(fit.best_iteration * 600 / 400)
    assert refit.config["refit"] == {
        "rounds": refit.best_iteration,
        "early_stopped_at": fit.best_iteration,
        "n_rows": 600,
        "n_rows_early_stopping_fit": 400,
    }
    assert refitted_on_val({"config": refit.config}) and not refitted_on_val({"config": fit.config})
    assert not refitted_on_val(None)
    params = refit.booster.params
    assert params["learning_rate"] == 0.05 and params["seed"] == 0  # the early-stopped fit's parameters

    def logloss(f: object, rows: slice) -> float:
        p = f.predict(X[rows])  # type: ignore[attr-defined]
        return float(-np.mean(np.log(p[np.arange(len(p)), y[rows]])))

    assert logloss(refit, slice(400, None)) < logloss(fit, slice(400, None))  # it learned the added rows


def test_round_counts_and_rows_are_checked() -> None:
    X, y = _problem(200, 1)
    for kw, match in (
        ({"num_boost_round": 0}, "num_boost_round"),
        ({"early_stopping_rounds": 1.5}, "early_"),
    ):
        with pytest.raises(LeanECGError, match=match):
            fit_lightgbm(X[:150], y[:150], X[150:], y[150:], n_classes=3, seed=0, **kw)
    fit = fit_lightgbm(X[:150], y[:150], X[150:], y[150:], n_classes=3, seed=0, num_boost_round=20)
    assert fit.best_iteration <= 20 and fit.config["num_boost_round"] == 20
    for n_train in (0, 201):
        with pytest.raises(LeanECGError, match="n_train"):
            refit_lightgbm(fit, X, y, n_train=n_train)


def test_cinc2017_row_refitted_on_val_says_so(
    tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leanecg.bench.ensemble import ensemble_packages
    from leanecg.bench.runner import REFIT_NO_TEMPERATURE, REFIT_NOTE, run_benchmark
    from leanecg.tasks.cinc2017 import Cinc2017Task

    if not (shared_data / "cinc2017").is_dir():
        pytest.skip("cinc2017 not in the shared data")
    monkeypatch.setenv("LEANECG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(Cinc2017Task, "lightgbm_refit", True)
    run_benchmark(
        "cinc2017", ["lightgbm"], shared_data, tmp_path / "results", tiny=True, n_boot=20,
        save_models=tmp_path / "models", examples=0,
    )  # fmt: skip
    result = json.loads((tmp_path / "results" / "cinc2017" / "lightgbm.json").read_text())
    assert REFIT_NOTE in result["notes"]
    assert result["calibration"] == {"error": REFIT_NO_TEMPERATURE}
    info = result["data"]
    refit = result["train"]["config"]["refit"]
    assert refit["n_rows"] == info["n_train"] + info["n_val"]
    assert result["train"]["best_iteration"] == refit["rounds"]  # the package's trees: all refitted rounds
    assert refit["rounds"] == round(refit["early_stopped_at"] * refit["n_rows"] / info["n_train"])
    pkg = tmp_path / "models" / "cinc2017" / "lightgbm"
    assert "temperature" not in json.loads((pkg / "model.json").read_text())
    ens = ensemble_packages([pkg, pkg], tmp_path / "ens", data_dir=shared_data, n_boot=20)
    meta = json.loads((ens / "model.json").read_text())
    assert "temperature" not in meta and meta["train"]["val_seen_by_members"] is True
