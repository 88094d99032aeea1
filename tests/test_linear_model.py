"""The zoo's logistic regression (``linear``): solved to convergence by ``trainer.fit``, equal to scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from leanecg.errors import LeanECGError
from leanecg.models.registry import build_from_config, build_model, ensemble_of, model_config
from leanecg.train.datasets import ArraySplit
from leanecg.train.losses import balanced_class_weights
from leanecg.train.train_config import TrainConfig
from leanecg.train.trainer import fit, predict_proba


def _split(n: int, seed: int, n_features: int = 5, name: str = "train") -> ArraySplit:
    """Three imbalanced classes whose features differ in mean, in raw units of very different scales."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.85, 0.1, 0.05])
    scale = np.array([0.01, 1.0, 100.0, 5.0, 0.5])[:n_features]
    f = (rng.normal(size=(n, n_features)) + 1.5 * np.eye(3, n_features)[y]) * scale + 3.0
    x = rng.normal(size=(n, 1, 40)).astype(np.float32)
    return ArraySplit(X=x, y=y.astype(np.int64), features=f.astype(np.float32), name=name)


def test_fit_solves_the_class_weighted_logistic_regression_of_scikit_learn() -> None:
    train, val = _split(3000, 0), _split(800, 1, name="val")
    model = build_model("linear", 1, 3, n_features=5, l2_c=0.5)
    config = TrainConfig(epochs=3, class_weights="balanced", seed=0)
    res = fit(model, train, val, config, metric_fn=lambda y, p: float(np.mean(np.argmax(p, 1) == y)))
    assert res.epochs_run == 1 and res.stop_reason == "completed" and res.config["converged"]
    assert res.steps > 0 and "LogisticRegression" in res.config["solver"]
    assert res.best_val_metric is not None and res.best_val_metric > 0.7
    # scikit-learn on the same standardised features with the run's class weights as sample weights
    f = train.features.astype(np.float64)
    mean, sd = f.mean(0), f.std(0)
    w = balanced_class_weights(train.y, 3)[train.y]
    clf = LogisticRegression(C=0.5, max_iter=5000).fit((f - mean) / sd, train.y, sample_weight=w)
    expected = clf.predict_proba((val.features.astype(np.float64) - mean) / sd)
    got = predict_proba(model, val.X, features=val.features)
    np.testing.assert_allclose(got, expected, atol=1e-3)
    assert np.mean(got.argmax(1) == expected.argmax(1)) > 0.995
    # balanced weights recover the rare class far more often than an unweighted fit
    plain = build_model("linear", 1, 3, n_features=5, l2_c=0.5)
    fit(plain, train, None, TrainConfig(class_weights=None))
    rare = val.y == 2
    weighted_recall = np.mean(got[rare].argmax(1) == 2)
    plain_recall = np.mean(predict_proba(plain, val.X, features=val.features)[rare].argmax(1) == 2)
    assert weighted_recall > plain_recall


def test_fitted_model_round_trips_and_ignores_the_signal() -> None:
    train = _split(1000, 2)
    model = build_model("linear", 1, 3, n_features=5)
    fit(model, train, None, TrainConfig(class_weights="balanced"))
    copy = build_from_config(model_config(model))
    copy.load_state_dict(model.state_dict())
    copy.eval()
    a = predict_proba(model, train.X, features=train.features)
    b = predict_proba(copy, np.zeros_like(train.X), features=train.features)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_ensemble_with_a_network_averages_probabilities() -> None:
    train = _split(600, 3)
    linear = build_model("linear", 1, 3, n_features=5)
    fit(linear, train, None, TrainConfig(class_weights="balanced"))
    torch.manual_seed(0)
    net = build_model("beatnet", 1, 3, n_features=5).eval()
    ens = ensemble_of([net, linear]).eval()
    p = predict_proba(ens, train.X, features=train.features)
    expected = (
        predict_proba(net, train.X, features=train.features)
        + predict_proba(linear, train.X, features=train.features)
    ) / 2
    np.testing.assert_allclose(p, expected, atol=1e-5)


def test_a_class_absent_from_training_is_never_predicted() -> None:
    train = _split(1000, 4)
    keep = train.y != 1
    two = ArraySplit(X=train.X[keep], y=train.y[keep], features=train.features[keep], name="train")
    model = build_model("linear", 1, 3, n_features=5)
    fit(model, two, None, TrainConfig(class_weights="balanced"))
    p = predict_proba(model, train.X, features=train.features)
    assert p.shape == (1000, 3) and np.all(p[:, 1] < 1e-6)
    assert set(np.unique(p.argmax(1))) <= {0, 2}


@pytest.mark.parametrize(
    ("config", "kwargs", "problem"),
    [
        (TrainConfig(loss="focal"), {}, "cross-entropy"),
        (TrainConfig(label_smoothing=0.1), {}, "smoothing"),
        (TrainConfig(), {"batch_loss": lambda m, b, c: c(m(b["x"]), b["y"])}, "no batch loss"),
    ],
)
def test_what_a_convex_fit_cannot_take_is_a_user_error(config, kwargs, problem: str) -> None:
    model = build_model("linear", 1, 3, n_features=5)
    with pytest.raises(LeanECGError, match=problem):
        fit(model, _split(300, 5), None, config, **kwargs)


def test_features_must_be_present_finite_and_of_the_model_width() -> None:
    train = _split(300, 6)
    model = build_model("linear", 1, 3, n_features=5)
    bad = train.features.copy()
    bad[3, 1] = np.nan
    with pytest.raises(LeanECGError, match="finite"):
        fit(model, ArraySplit(X=train.X, y=train.y, features=bad, name="train"), None, TrainConfig())
    with pytest.raises(LeanECGError, match="features"):
        fit(build_model("linear", 1, 3, n_features=4), train, None, TrainConfig())
    with pytest.raises(LeanECGError, match="l2_c"):
        build_model("linear", 1, 3, n_features=5, l2_c=0.0)
