"""Deep embedding -> LightGBM hybrids ("DL features + ML classifier") and the shared LightGBM fit.

A hybrid is named ``<zoo model>+lightgbm`` (e.g. ``beatnet+lightgbm``, ``wide_deep_lite+lightgbm``): the
zoo model is trained as usual, then its pooled penultimate embedding (``model.embed(x)``: the backbone
output pooled over time, before the head's hidden / final layers, ``(N, D)``) is concatenated with the
task's handcrafted features (``(N, F)``, when the task has them) and a class-balanced LightGBM is fitted
on that ``(N, D + F)`` matrix with early stopping on validation data. The benchmark runner
(:mod:`leanecg.bench.runner`) drives it; this module holds the reusable parts, numpy in, numpy out:

* :func:`parse_hybrid_name` / :func:`hybrid_name`: the naming convention;
* :func:`embed_records`: ``(N, n_leads, n_samples)`` records (or a list of variable-length ones) ->
  float32 ``(N, D)`` embeddings; :class:`EmbeddingNetwork` is the embedding part of a trained model
  (its head reduced to the pooling layer), for cost measurement and deployment;
* :func:`hybrid_matrix`: embeddings + features -> the LightGBM design matrix;
* :func:`fit_lightgbm`, :func:`refit_lightgbm`, :func:`count_tree_nodes`, :func:`booster_bytes`: the
  class-balanced LightGBM fit (and its refit on train + validation data), and its size, shared with the
  runner's plain ``lightgbm`` rows.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from leanecg.errors import LeanECGError, check_number, check_positive
from leanecg.models.hybrid import EmbeddingNetwork
from leanecg.signal.batching import inference_batches
from leanecg.train.datasets import gather_windows, record_lengths

__all__ = [
    "HYBRID_SUFFIX",
    "EmbeddingNetwork",
    "LightGBMFit",
    "booster_bytes",
    "count_tree_nodes",
    "embed_records",
    "fit_lightgbm",
    "hybrid_matrix",
    "hybrid_name",
    "lightgbm_params",
    "parse_hybrid_name",
    "refit_lightgbm",
    "refitted_on_val",
]

#: Suffix that turns a zoo model name into its hybrid: ``beatnet`` -> ``beatnet+lightgbm``.
HYBRID_SUFFIX = "+lightgbm"

#: Boosting rounds and early-stopping patience (rounds without validation improvement).
NUM_BOOST_ROUND = 400
EARLY_STOPPING_ROUNDS = 30


def hybrid_name(deep_model: str) -> str:
    """The hybrid's model name for zoo model ``deep_model``."""
    return f"{deep_model}{HYBRID_SUFFIX}"


def parse_hybrid_name(name: str) -> str | None:
    """The zoo model of a hybrid name (``"beatnet+lightgbm"`` -> ``"beatnet"``); ``None`` for other names."""
    if name.endswith(HYBRID_SUFFIX) and len(name) > len(HYBRID_SUFFIX):
        return name[: -len(HYBRID_SUFFIX)]
    return None


def embed_records(model: nn.Module, X: np.ndarray | list[np.ndarray], batch_size: int = 64) -> np.ndarray:
    """Pooled embeddings of records, float32 ``(N, D)``, rows in the order of ``X``.

    Args:
        model: a trained zoo model with ``embed`` (or an :class:`EmbeddingNetwork`); run in eval mode
            under ``torch.inference_mode`` on its device (its train/eval flag is restored).
        X: float32 records ``(N, n_leads, n_samples)`` or a list of ``(n_leads, n_samples_i)`` arrays;
            each record is embedded whole (records of equal length are batched together, as in
            :func:`leanecg.train.trainer.predict_proba`).
        batch_size: records per forward pass.
    """
    embed = model if isinstance(model, EmbeddingNetwork) else getattr(model, "embed", None)
    if not callable(embed):
        raise LeanECGError("model", f"{type(model).__name__} has no embed(x) method")
    if len(X) == 0:
        raise LeanECGError("X", "no records to embed")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    out: np.ndarray | None = None
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for recs, starts, length in inference_batches(record_lengths(X), batch_size):
                x = torch.from_numpy(gather_windows(X, recs, starts, length)).to(device)
                z = embed(x).float().cpu().numpy()
                if out is None:
                    out = np.zeros((len(X), z.shape[1]), dtype=np.float32)
                out[recs] = z
    finally:
        model.train(was_training)
    assert out is not None
    return out


def hybrid_matrix(embedding: np.ndarray, features: np.ndarray | None) -> np.ndarray:
    """LightGBM design matrix: float32 ``(N, D + F)`` = embedding ``(N, D)`` then features ``(N, F)``.

    ``features`` ``None`` (the task has none) gives the embedding alone. NaN features stay NaN
    (LightGBM learns a default direction for missing values).
    """
    emb = np.asarray(embedding, dtype=np.float32)
    if emb.ndim != 2:
        raise LeanECGError("embedding", f"expected (N, D), got shape {emb.shape}")
    if features is None:
        return emb
    feats = np.asarray(features, dtype=np.float32)
    if feats.ndim != 2 or len(feats) != len(emb):
        raise LeanECGError("features", f"expected ({len(emb)}, F) to match the embedding, got {feats.shape}")
    return np.concatenate([emb, feats], axis=1)


def lightgbm_params(n_classes: int, seed: int) -> dict[str, Any]:
    """The benchmark's LightGBM parameters: multiclass, learning rate 0.05, 31 leaves, one thread,
    deterministic (``force_row_wise``), seeded."""
    return {
        "objective": "multiclass",
        "num_class": int(n_classes),
        "learning_rate": 0.05,
        "num_leaves": 31,
        "seed": int(seed),
        "num_threads": 1,
        "verbose": -1,
        "deterministic": True,
        "force_row_wise": True,
    }


@dataclass(frozen=True)
class LightGBMFit:
    """A fitted booster and how it was trained.

    Attributes:
        booster: the ``lightgbm.Booster``; predict with ``num_iteration=best_iteration``.
        best_iteration: boosting round with the best validation loss (early stopping).
        seconds: wall-clock training time (s).
        config: the parameters plus rounds, patience and sample weighting (for the result's ``train``).
    """

    booster: Any
    best_iteration: int
    seconds: float
    config: dict[str, Any]

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities float64 ``(N, n_classes)`` of design-matrix rows ``X`` ``(N, n_columns)``."""
        return np.asarray(self.booster.predict(X, num_iteration=self.best_iteration))


def fit_lightgbm(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    *,
    n_classes: int,
    seed: int,
    params: Mapping[str, Any] | None = None,
    class_weight_power: float = 1.0,
    num_boost_round: int = NUM_BOOST_ROUND,
    early_stopping_rounds: int = EARLY_STOPPING_ROUNDS,
) -> LightGBMFit:
    """Fit a class-balanced multiclass LightGBM (:func:`lightgbm_params`) with early stopping on validation.

    Args:
        X_train, X_val: float32 design matrices ``(N, n_columns)`` (NaN = missing).
        y_train, y_val: int class indices ``(N,)`` in ``[0, n_classes)``.
        n_classes: number of classes.
        seed: LightGBM seed.
        params: LightGBM parameters that replace or extend :func:`lightgbm_params` (a task's recipe, e.g.
            ``{"feature_fraction": 0.6}``).
        class_weight_power: training rows are weighted by their class's balanced weight
            ``N / (n_classes * N_class)`` to this power: 1 balances the classes fully, 0 not at all.
        num_boost_round, early_stopping_rounds: at most ``num_boost_round`` rounds, stopping after
            ``early_stopping_rounds`` rounds without a lower validation multi-logloss.

    Raises:
        LeanECGError: multi-label targets, ``class_weight_power`` outside ``[0, 1]``, or round counts
            below 1.
    """
    import lightgbm as lgb

    check_positive("num_boost_round", num_boost_round, integer=True)
    check_positive("early_stopping_rounds", early_stopping_rounds, integer=True)
    params = {**lightgbm_params(n_classes, seed), **dict(params or {})}
    dtrain = _weighted_dataset(X_train, y_train, class_weight_power)
    dval = lgb.Dataset(X_val, np.asarray(y_val), reference=dtrain)
    t0 = time.perf_counter()
    booster = lgb.train(
        params,
        dtrain,
        num_boost_round=num_boost_round,
        valid_sets=[dval],
        callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False)],
    )
    seconds = time.perf_counter() - t0
    config = {
        **params,
        "num_boost_round": num_boost_round,
        "early_stopping_rounds": early_stopping_rounds,
        "sample_weight": _weight_name(class_weight_power),
    }
    return LightGBMFit(booster, int(booster.best_iteration), seconds, config)


def refit_lightgbm(
    fitted: LightGBMFit,
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_train: int,
    class_weight_power: float = 1.0,
) -> LightGBMFit:
    """Refit a booster's recipe on more data (e.g. train + validation) without early stopping.

    The rounds are ``fitted.best_iteration`` (found by early stopping on validation data) scaled by the
    data's growth, ``round(best_iteration * len(X) / n_train)``: the usual rule for boosting, whose number
    of useful rounds grows with the data. Same parameters and class weighting as ``fitted``.

    Args:
        fitted: the early-stopped fit (:func:`fit_lightgbm`).
        X, y: the design matrix ``(N, n_columns)`` and int class indices ``(N,)`` to refit on (the rows
            ``fitted`` trained on and the validation rows).
        n_train: the number of rows ``fitted`` trained on (``<= len(X)``).
        class_weight_power: as in :func:`fit_lightgbm` (the value ``fitted`` used).

    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4)).astype(np.float32); y = (X[:, 0] > 0).astype(int)
    >>> fit = fit_lightgbm(X[:200], y[:200], X[200:], y[200:], n_classes=2, seed=0)
    >>> refit = refit_lightgbm(fit, X, y, n_train=200)
    >>> refit.best_iteration == round(fit.best_iteration * 1.5), refit.config["refit"]["n_rows"]
    (True, 300)
    """
    import lightgbm as lgb

    n = len(X)
    check_number("n_train", n_train, low=1, high=n, integer=True)
    rounds = max(1, round(fitted.best_iteration * n / int(n_train)))
    params = {k: v for k, v in fitted.config.items() if k not in _FIT_KEYS}
    t0 = time.perf_counter()
    booster = lgb.train(params, _weighted_dataset(X, y, class_weight_power), num_boost_round=rounds)
    seconds = time.perf_counter() - t0
    config = {
        **fitted.config,
        "refit": {
            "rounds": rounds,
            "early_stopped_at": fitted.best_iteration,
            "n_rows": n,
            "n_rows_early_stopping_fit": int(n_train),
        },
    }
    return LightGBMFit(booster, rounds, fitted.seconds + seconds, config)


def refitted_on_val(train: Mapping[str, Any] | None) -> bool:
    """Whether a result's or package's ``train`` block is that of a booster refitted on its validation
    split (:func:`refit_lightgbm`): its validation figures and any temperature fitted there are on seen data."""
    return (
        isinstance(train, Mapping) and isinstance(train.get("config"), Mapping) and "refit" in train["config"]
    )


#: ``LightGBMFit.config`` entries that describe the fit, not LightGBM parameters.
_FIT_KEYS = ("num_boost_round", "early_stopping_rounds", "sample_weight", "refit")


def _weighted_dataset(X: np.ndarray, y: np.ndarray, class_weight_power: float) -> Any:
    """A ``lightgbm.Dataset`` of ``X``, ``y`` with balanced class weights to ``class_weight_power``."""
    import lightgbm as lgb
    from sklearn.utils.class_weight import compute_sample_weight

    y = np.asarray(y)
    if y.ndim != 1:
        raise LeanECGError("y", "LightGBM here needs single-label targets (int class indices)")
    if not 0.0 <= float(class_weight_power) <= 1.0:
        raise LeanECGError("class_weight_power", f"must be in [0, 1], got {class_weight_power!r}")
    weight = compute_sample_weight("balanced", y) ** float(class_weight_power)
    return lgb.Dataset(X, y, weight=weight)


def _weight_name(class_weight_power: float) -> str:
    return "balanced" if class_weight_power == 1 else f"balanced ** {float(class_weight_power):g}"


def count_tree_nodes(fitted: LightGBMFit) -> int:
    """Nodes (splits + leaves) of all trees up to the best iteration: the booster's "parameter" count."""
    dump = fitted.booster.dump_model(num_iteration=fitted.best_iteration)
    return sum(_count_nodes(t["tree_structure"]) for t in dump["tree_info"])


def booster_bytes(fitted: LightGBMFit) -> int:
    """Bytes of the booster's text model (up to the best iteration)."""
    return len(fitted.booster.model_to_string(num_iteration=fitted.best_iteration).encode())


def _count_nodes(node: dict[str, Any]) -> int:
    if "left_child" not in node:
        return 1
    return 1 + _count_nodes(node["left_child"]) + _count_nodes(node["right_child"])
