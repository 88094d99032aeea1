"""Fit a logistic-regression zoo model (:class:`~leanecg.models.linear.FeatureLinear`) to convergence.

A logistic regression has a convex loss, so it needs no epochs, learning rate or early stopping: a few
epochs of AdamW stop it well short of its optimum (small weights, soft decisions), and early stopping on a
handful of validation records only adds noise. :func:`fit_logistic` instead solves it with scikit-learn's
``LogisticRegression`` (L-BFGS, L2 penalty ``C = model.l2_c``) on the training features standardised by
their mean and standard deviation, with the run's class weights as sample weights, and writes the solution
into the model: the batch norm's running mean becomes the training mean (its running variance
``1 - eps``, so it divides by exactly 1), the linear layer the coefficients divided by the training standard
deviations. The model then computes scikit-learn's ``predict_proba`` (up to float32 rounding).

:func:`leanecg.train.trainer.fit` calls it for every model with ``convex = True``, so ``leanecg train``,
``leanecg bench`` (and its cross-validation) and the studies fit the linear model this way; the validation
split, when given, is scored once (loss and metric) for the history, never used to choose anything.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from leanecg.errors import LeanECGError
from leanecg.train.datasets import ArraySplit
from leanecg.train.losses import make_loss
from leanecg.train.train_config import TrainConfig

__all__ = ["LogisticFit", "fit_logistic"]

#: L-BFGS iterations at most (the fits here converge in a few hundred)
MAX_ITER = 5000


def _standardisation(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and (population) variance of ``(N, F)`` features; a constant column gets variance 1."""
    mean = features.mean(axis=0)
    var = features.var(axis=0)
    return mean, np.where(var > 0, var, 1.0)


@dataclass(frozen=True)
class LogisticFit:
    """What :func:`fit_logistic` did: one ``history`` row (the trainer's keys), the L-BFGS iterations,
    whether the solver converged and a one-line description of the solver."""

    history_row: dict[str, Any]
    steps: int
    converged: bool
    solver: str


def fit_logistic(
    model: nn.Module,
    train: ArraySplit,
    val: ArraySplit | None,
    config: TrainConfig,
    metric_fn: Callable[[np.ndarray, np.ndarray], float] | None = None,
) -> LogisticFit:
    """Fit ``model`` (a :class:`~leanecg.models.linear.FeatureLinear`) on ``train.features`` / ``train.y``.

    Args:
        model: the linear model; its ``n_features`` must match the splits' feature width.
        train: training split with ``features`` ``(N, n_features)`` (finite) and class indices ``y`` ``(N,)``.
        val: optional validation split, scored once for the history (loss and ``metric_fn``).
        config: the run's :class:`TrainConfig`: ``class_weights`` (``"balanced"``, a list or ``None``;
            ``loss="weighted_ce"`` defaults it to balanced) and ``num_threads`` are used; epochs, batch size,
            learning rate and early stopping do not apply. The loss must be cross-entropy.
        metric_fn: ``metric_fn(y_true, proba) -> float`` on the validation split.

    Returns:
        A :class:`LogisticFit` (:func:`leanecg.train.trainer.fit` turns it into its ``TrainResult``). The model
        is in eval mode.

    Raises:
        LeanECGError: a loss other than cross-entropy, label smoothing, multi-hot labels, missing or
            non-finite features, or features of the wrong width (class indices are checked by the caller,
            :func:`leanecg.train.trainer.fit`).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    t0 = time.perf_counter()
    if config.loss not in ("ce", "weighted_ce"):
        raise LeanECGError(
            "TrainConfig.loss", f"a logistic regression fits cross-entropy, not {config.loss!r}"
        )
    if config.label_smoothing:
        raise LeanECGError("TrainConfig.label_smoothing", "a logistic regression is fitted without smoothing")
    if train.multilabel:
        raise LeanECGError("train", "a logistic regression needs class indices (N,), not multi-hot labels")
    n_classes = int(model.fc.out_features)
    X, y = _checked_features(train, model, "train"), np.asarray(train.y, dtype=np.int64)
    # the run's loss (its class weights: "weighted_ce" defaults them to balanced) reports the fit's losses
    criterion = make_loss(config.loss, y_train=y, n_classes=n_classes, class_weights=config.class_weights)
    weights = None if criterion.weight is None else criterion.weight.numpy().astype(np.float64)
    mean, var = _standardisation(X)
    Z = (X - mean) / np.sqrt(var)
    clf = LogisticRegression(C=float(model.l2_c), max_iter=MAX_ITER)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        clf.fit(Z, y, sample_weight=None if weights is None else weights[y])
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    coef = np.zeros((n_classes, X.shape[1]))
    intercept = np.full(n_classes, -1e4)  # a class absent from training: never predicted
    present = clf.classes_.astype(np.int64)
    if present.size == 2:  # scikit-learn's binary form: one logit for the second class
        coef[present[1]], intercept[present[0]], intercept[present[1]] = clf.coef_[0], 0.0, clf.intercept_[0]
    else:
        coef[present], intercept[present] = clf.coef_, clf.intercept_
    with torch.no_grad():
        model.norm.running_mean.copy_(torch.from_numpy(mean))
        model.norm.running_var.fill_(1.0 - model.norm.eps)  # the norm centres; the weights scale
        model.norm.num_batches_tracked.fill_(1)
        model.fc.weight.copy_(torch.from_numpy(coef / np.sqrt(var)))
        model.fc.bias.copy_(torch.from_numpy(intercept))
    model.eval()
    row: dict[str, Any] = {
        "epoch": 1,
        "train_loss": _loss(model, criterion, X, y),
        "val_loss": None,
        "val_metric": None,
        "lr": None,
        "steps": int(np.max(clf.n_iter_)),
        "partial": False,
    }
    if val is not None:
        Xv, yv = _checked_features(val, model, "val"), np.asarray(val.y, dtype=np.int64)
        row["val_loss"] = _loss(model, criterion, Xv, yv)
        row["val_metric"] = None if metric_fn is None else float(metric_fn(yv, _proba(model, Xv)))
    row["seconds"] = time.perf_counter() - t0
    solver = (
        f"scikit-learn LogisticRegression (lbfgs, L2, C={float(model.l2_c):g}) on standardised features, "
        "class weights as sample weights"
    )
    return LogisticFit(history_row=row, steps=row["steps"], converged=converged, solver=solver)


def _checked_features(split: ArraySplit, model: nn.Module, name: str) -> np.ndarray:
    if split.features is None:
        raise LeanECGError(
            name, "a logistic regression reads the handcrafted features, and the split has none"
        )
    X = np.asarray(split.features, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != model.n_features:
        raise LeanECGError(name, f"features must be (N, {model.n_features}), got {X.shape}")
    if not np.isfinite(X).all():
        raise LeanECGError(name, "features must be finite (impute missing values first)")
    return X


def _logits(model: nn.Module, X: np.ndarray) -> torch.Tensor:
    """Logits of the fitted model on ``(N, F)`` features (the signal it does not read: zeros)."""
    with torch.no_grad():
        return model(torch.zeros(len(X), model.n_leads, 1), features=torch.from_numpy(X).float())


def _proba(model: nn.Module, X: np.ndarray) -> np.ndarray:
    """Softmax probabilities of the fitted model on ``(N, F)`` features."""
    return torch.softmax(_logits(model, X), dim=1).double().numpy()


def _loss(model: nn.Module, criterion: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    """The run's loss (``criterion``, class-weighted cross-entropy) of the fitted model on ``X``, ``y``."""
    with torch.no_grad():
        return float(criterion(_logits(model, X), torch.from_numpy(y)))
