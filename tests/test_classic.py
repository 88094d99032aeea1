"""Classic model pipelines: fit / predict_proba with missing values, determinism, argument errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from leanecg.errors import LeanECGError
from leanecg.models.classic import build_classic, list_classic_models

# normal use must be silent (LightGBM / scikit-learn deprecation and convergence warnings included)
pytestmark = pytest.mark.filterwarnings("error")


def _problem(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three imbalanced classes separated in 4 of 12 features, with NaN, inf and an all-NaN column."""
    rng = np.random.default_rng(seed)
    y = rng.choice(np.array(["N", "A", "O"]), size=240, p=[0.6, 0.25, 0.15])
    centers = {"N": [0, 0, 0, 0], "A": [2, -1, 1, 0], "O": [-1, 2, 0, 2]}
    x = rng.normal(size=(y.size, 12))
    x[:, :4] += np.array([centers[c] for c in y]) * 1.5
    x[rng.random(x.shape) < 0.05] = np.nan  # undefined features (short records)
    x[:, 7] = np.nan  # a feature never defined in training
    x[3, 2] = np.inf
    x[5, 1] = -np.inf
    return x, y


def test_model_names() -> None:
    assert list_classic_models() == ["logreg", "svm", "rf", "lightgbm", "mlp"]


@pytest.mark.parametrize("name", list_classic_models())
def test_fit_predict_proba_with_missing_values(name: str) -> None:
    x, y = _problem()
    model = build_classic(name, seed=0).fit(x[:160], y[:160])
    proba = model.predict_proba(x[160:])
    assert proba.shape == (80, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert list(model.classes_) == ["A", "N", "O"]
    pred = model.predict(x[160:])
    assert (pred == y[160:]).mean() > 0.7  # chance is about 0.5 (majority class)
    # balanced class weights: the rare class is predicted, not ignored
    assert (pred == "O").sum() > 0


@pytest.mark.parametrize("name", list_classic_models())
def test_deterministic_under_a_seed(name: str) -> None:
    x, y = _problem(1)
    p1 = build_classic(name, seed=3).fit(x, y).predict_proba(x)
    p2 = build_classic(name, seed=3).fit(x, y).predict_proba(x)
    np.testing.assert_array_equal(p1, p2)
    if name in ("rf", "lightgbm", "svm", "mlp"):  # randomised: another seed gives another model
        p3 = build_classic(name, seed=4).fit(x, y).predict_proba(x)
        assert not np.array_equal(p1, p3)


def test_settings_that_the_contract_requires() -> None:
    lgbm = build_classic("lightgbm", seed=7).named_steps["model"]
    params = lgbm.get_params()
    assert params["n_jobs"] == 1 and params["deterministic"] is True and params["random_state"] == 7
    assert params["class_weight"] == "balanced"
    assert (
        "impute" in build_classic("rf").named_steps and "impute" not in build_classic("lightgbm").named_steps
    )
    assert "scale" in build_classic("logreg").named_steps and "scale" in build_classic("svm").named_steps
    assert build_classic("rf", class_weight=None).named_steps["model"].class_weight is None


def test_hyperparameter_overrides_and_pickling() -> None:
    x, y = _problem(2)
    model = build_classic("lightgbm", seed=0, n_estimators=20, num_leaves=7).fit(x, y)
    assert model.named_steps["model"].n_estimators == 20
    assert build_classic("svm", C=5.0).named_steps["model"].estimator.C == 5.0
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict_proba(x), model.predict_proba(x))


def test_argument_errors() -> None:
    with pytest.raises(LeanECGError, match="unknown classic model"):
        build_classic("xgboost")
    with pytest.raises(LeanECGError, match="unknown hyperparameter"):
        build_classic("rf", n_trees=10)
    with pytest.raises(LeanECGError, match="seed"):
        build_classic("rf", seed=-1)
    with pytest.raises(LeanECGError, match="class_weight"):
        build_classic("logreg", class_weight="auto")
