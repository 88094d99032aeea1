"""Benchmark task base class: what a task provides and how its predictions are scored."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from leanecg.evaluate.metrics import confusion, metrics_with_ci, one_vs_rest_curves, per_class_from_confusion
from leanecg.signal.pipeline import Pipeline
from leanecg.train.datasets import ArraySplit
from leanecg.train.hybrid import EARLY_STOPPING_ROUNDS, NUM_BOOST_ROUND
from leanecg.train.trainer import BatchLoss, TrainConfig


@dataclass
class TaskData:
    """Everything a benchmark run needs from a task.

    Attributes:
        train, val, test: labelled splits (``X`` channels-first ``(n_leads, n_samples)``).
        fs: sampling rate of the model input (Hz), after the pipeline.
        input_samples: the input length the cost meter uses (a typical record / beat window).
        pipeline: the preprocessing applied to raw records (stored with every result and model).
        info: what the results' ``data`` block says (dataset, split rule, sizes, test ids).
        extra_train: examples from another source that join every training part (the final training and
            each cross-validation fold's) and are never held out, validated on or scored, e.g. beats of
            another database, whose patients are none of the task's; ``None``: none.
        train_transform: applied to every training part (the final training and each cross-validation
            fold's) before :attr:`extra_train` joins it, never to held-out, validation or test data, e.g. an
            augmentation built from the part's own records; ``None``: none.
    """

    train: ArraySplit
    val: ArraySplit
    test: ArraySplit
    fs: float
    input_samples: int
    pipeline: Pipeline
    info: dict[str, Any] = field(default_factory=dict)
    extra_train: ArraySplit | None = None
    train_transform: Callable[[ArraySplit], ArraySplit] | None = None

    @property
    def n_features(self) -> int:
        return self.train.n_features

    def training_part(self, train: ArraySplit) -> ArraySplit:
        """``train`` (the training split, or a fold's training part) through :attr:`train_transform`, with
        :attr:`extra_train` appended."""
        if self.train_transform is not None:
            train = self.train_transform(train)
        if self.extra_train is None:
            return train
        return concat_splits([train, self.extra_train], name=train.name)


class BenchTask(ABC):
    """A benchmark task (see the module docstring)."""

    name: str
    description: str
    dataset: str
    class_names: tuple[str, ...]
    primary_metric: str
    default_models: tuple[str, ...]
    classic_models: tuple[str, ...] = ()
    train_epochs: int  # full runs; ``tiny`` runs train 2 epochs without early stopping
    train_batch_size: int
    train_patience: int  # early-stopping patience (epochs)
    train_loss: str = "weighted_ce"  # TrainConfig.loss: single-label; multi-label tasks use "bce"
    #: whether training selects its epoch on ``val`` (early stopping, best-epoch restore). ``False``: a fixed
    #: epoch budget on the whole training data, ``val`` is a subset of ``train`` kept for reporting only.
    train_uses_val: bool = True
    #: channel multiplier of the zoo model a deep row builds (``build_model(width=...)``; 1: the zoo default)
    model_width: float = 1.0
    #: ensemble distillation (0: off): each deep model is trained as the student of an ensemble of this
    #: many teachers, the same recipe with other seeds trained first on the same data; the loss is
    #: ``distill_alpha * hard + (1 - distill_alpha) * T**2 * KL`` at temperature ``distill_temperature``
    #: (:mod:`leanecg.compress.distill`). The student costs what one model costs; training costs
    #: ``distill_teachers + 1`` trainings.
    distill_teachers: int = 0
    distill_temperature: float = 2.0
    distill_alpha: float = 0.5
    #: the task's LightGBM recipe (classic and hybrid rows): parameters over
    #: :func:`leanecg.train.hybrid.lightgbm_params` and the power of the balanced class weights
    #: (:func:`leanecg.train.hybrid.fit_lightgbm`)
    lightgbm_options: Mapping[str, Any] = MappingProxyType({})
    lightgbm_class_weight_power: float = 1.0
    #: at most this many boosting rounds, stopping after ``lightgbm_early_stopping_rounds`` without a lower
    #: validation loss (a lower ``learning_rate`` needs more of both)
    lightgbm_num_boost_round: int = NUM_BOOST_ROUND
    lightgbm_early_stopping_rounds: int = EARLY_STOPPING_ROUNDS
    #: classic rows: after early stopping on ``val``, refit on ``train`` + ``val`` together with the rounds
    #: found scaled by their size ratio (:func:`leanecg.train.hybrid.refit_lightgbm`), so the shipped
    #: booster learns from every training record
    lightgbm_refit: bool = False

    @abstractmethod
    def load(self, root: Path, *, tiny: bool = False, seed: int = 0, progress: Any = None) -> TaskData:
        """Load and preprocess the splits (``tiny``: a few records per split, for smoke runs)."""

    def cv_pool(self, data: TaskData) -> ArraySplit:
        """The training data that ``--cv K`` splits into folds: train + val (train alone when val is part
        of it, :attr:`train_uses_val` ``False``)."""
        if not self.train_uses_val:
            return data.train
        return concat_splits([data.train, data.val], name="cv-pool")

    @abstractmethod
    def scores(self, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
        """All metrics of the task from int class indices (0-1 scale; NaN when undefined)."""

    def train_config(self, *, tiny: bool, seed: int, epochs: int | None) -> TrainConfig:
        """The task's default training configuration: :attr:`train_loss` (class-weighted cross-entropy
        unless the task says otherwise) with balanced class weights, lr 3e-3, the task's epochs / batch size / patience plus :meth:`train_options` (``tiny``: 2 epochs,
        no early stopping; ``epochs`` overrides the epoch count)."""
        return TrainConfig(
            epochs=epochs or (2 if tiny else self.train_epochs),
            batch_size=self.train_batch_size,
            lr=3e-3,
            loss=self.train_loss,
            class_weights="balanced",
            early_stopping_patience=None if tiny else self.train_patience,
            seed=seed,
            **self.train_options(),
        )

    def train_options(self) -> dict[str, Any]:
        """Task-specific :class:`TrainConfig` fields on top of :meth:`train_config`'s (default: none)."""
        return {}

    def use_features(self, names: Sequence[str]) -> None:
        """Compute the feature columns ``names`` (those a trained package takes, e.g. to score an ensemble
        of packages). Default: the task's features are fixed; :meth:`load`'s ``info["input"]["features"]``
        tells whether they match."""
        return None

    def use_leads(self, leads: Sequence[str]) -> None:
        """Feed the input leads ``leads`` (those a trained package takes). Default: the task's leads are
        fixed; :meth:`load`'s ``info["input"]["leads"]`` tells whether they match."""
        return None

    def use_orientation(self, on: bool) -> None:
        """Orient each record's leads by its QRS polarity (``on``, as a trained package's
        ``input.orient_polarity`` says; :mod:`leanecg.signal.polarity`). Default: the task has no such
        option; :meth:`load`'s ``info["input"]`` tells whether it matches."""
        return None

    def batch_loss(self, seed: int) -> BatchLoss | None:
        """Task-specific training loss of one batch for :func:`~leanecg.train.trainer.fit` (e.g. with a
        feature augmentation), seeded by ``seed``; ``None`` (default): the plain ``criterion(model(x), y)``."""
        return None

    def val_metric(self, y_true: np.ndarray, proba: np.ndarray) -> float:
        """The primary metric of argmax predictions (early stopping / model selection)."""
        return self.scores(np.asarray(y_true), np.argmax(proba, axis=1))[self.primary_metric]

    def evaluate(
        self, split: ArraySplit, proba: np.ndarray, *, n_boot: int = 1000, seed: int = 0
    ) -> dict[str, Any]:
        """Metrics with CIs, per-class statistics, confusion matrix and curves for the results schema."""
        y_true = np.asarray(split.y, dtype=np.int64)
        y_pred = np.argmax(proba, axis=1).astype(np.int64)
        n = len(self.class_names)
        conf = confusion(y_true, y_pred, n)
        per_class = per_class_from_confusion(conf, self.class_names)
        curves = one_vs_rest_curves(y_true, proba, self.class_names)
        for name, c in curves["roc"].items():
            per_class[name]["auroc"] = c["auc"]
        for name, c in curves["pr"].items():
            per_class[name]["auprc"] = c["ap"]
        metrics = metrics_with_ci(self.scores, y_true, y_pred, groups=split.groups, n_boot=n_boot, seed=seed)
        return {
            "metrics": metrics,
            "per_class": per_class,
            "confusion": {"labels": list(self.class_names), "matrix": conf.tolist()},
            "curves": curves,
        }


def concat_splits(splits: Sequence[ArraySplit], name: str) -> ArraySplit:
    """One split holding the records of ``splits`` in order (in-memory arrays or lists of records)."""
    first = splits[0]
    if all(isinstance(s.X, np.ndarray) for s in splits):
        X: Any = np.concatenate([np.asarray(s.X) for s in splits])
    else:
        X = [x for s in splits for x in (s.X[i] for i in range(len(s)))]

    def joined(attr: str) -> np.ndarray | None:
        return None if getattr(first, attr) is None else np.concatenate([getattr(s, attr) for s in splits])

    return ArraySplit(X=X, y=joined("y"), features=joined("features"), groups=joined("groups"), name=name)


def load_signals(
    paths: Sequence[Path], pipeline: Pipeline | Sequence[Pipeline], progress: Any, what: str
) -> list[np.ndarray]:
    """Preprocessed float32 ``(n_leads, n_samples)`` arrays, decoded once and cached on disk; ``pipeline``
    is one for every record or one per record."""
    from leanecg.data.cache import cached_record_signal

    pipelines = [pipeline] * len(paths) if isinstance(pipeline, Pipeline) else list(pipeline)
    if len(pipelines) != len(paths):
        raise ValueError(f"{len(paths)} records but {len(pipelines)} pipelines")
    out = []
    task = progress.add_task(what, total=len(paths)) if progress is not None else None
    for p, pipe in zip(paths, pipelines, strict=True):
        x, _ = cached_record_signal(p, transform=pipe)
        out.append(np.ascontiguousarray(np.asarray(x).T))
        if progress is not None:
            progress.advance(task)
    return out


def sha256_lines(items: Sequence[Any]) -> str:
    """Hex SHA-256 of ``items`` (converted with ``str``) joined by newlines: a fingerprint of a record list."""
    return hashlib.sha256("\n".join(map(str, items)).encode()).hexdigest()


def per_class_head(records: list[str], labels: dict[str, list[str]], n: int) -> list[str]:
    """The first ``n`` records of each class, in split order (deterministic small subsets)."""
    taken: dict[str, int] = {}
    out = []
    for r in records:
        c = labels[r][0]
        if taken.get(c, 0) < n:
            taken[c] = taken.get(c, 0) + 1
            out.append(r)
    return out
