"""Benchmark tasks: how each is loaded, split, trained and scored.

A task turns a registered dataset into train / val / test :class:`~leanecg.train.datasets.ArraySplit`
objects (preprocessed once, cached on disk), names its classes and its primary metric, and scores
predictions with 95 % bootstrap CIs. Splits are the ones the field uses:

- ``mitdb-aami``: beat classification N / S / V / F on MIT-BIH, trained on de Chazal DS1 and tested on
  DS2 (inter-patient); validation records are held out of DS1 by patient. Reference beat positions
  (classification-only evaluation, as de Chazal 2004); RR-interval context goes in as features. The
  15 Q beats (8 in DS1, 7 in DS2) are left out of training and scoring, as in de Chazal 2004.
- ``cinc2017``: record classification N / A / O / ~ on the single-lead PhysioNet/CinC 2017 records with
  the seeded, class-stratified 70/15/15 split of :mod:`leanecg.data.cinc2017` (the data has no patient ids).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.bench.metrics import confusion, metrics_with_ci, one_vs_rest_curves, per_class_from_confusion
from leanecg.errors import LeanECGError
from leanecg.signal.pipeline import Pipeline
from leanecg.train.datasets import ArraySplit
from leanecg.train.trainer import TrainConfig


@dataclass
class TaskData:
    """Everything a benchmark run needs from a task.

    Attributes:
        train, val, test: labelled splits (``X`` channels-first ``(n_leads, n_samples)``).
        fs: sampling rate of the model input (Hz), after the pipeline.
        input_samples: the input length the cost meter uses (a typical record / beat window).
        pipeline: the preprocessing applied to raw records (stored with every result and model).
        info: what the results' ``data`` block says (dataset, split rule, sizes, test ids).
    """

    train: ArraySplit
    val: ArraySplit
    test: ArraySplit
    fs: float
    input_samples: int
    pipeline: Pipeline
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return self.train.n_features


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

    @abstractmethod
    def load(self, root: Path, *, tiny: bool = False, seed: int = 0, progress: Any = None) -> TaskData:
        """Load and preprocess the splits (``tiny``: a few records per split, for smoke runs)."""

    @abstractmethod
    def scores(self, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
        """All metrics of the task from int class indices (0-1 scale; NaN when undefined)."""

    def train_config(self, *, tiny: bool, seed: int, epochs: int | None) -> TrainConfig:
        """The task's default training configuration: class-weighted cross-entropy (balanced weights),
        lr 3e-3, the task's epochs / batch size / patience plus :meth:`train_options` (``tiny``: 2 epochs,
        no early stopping; ``epochs`` overrides the epoch count)."""
        return TrainConfig(
            epochs=epochs or (2 if tiny else self.train_epochs),
            batch_size=self.train_batch_size,
            lr=3e-3,
            loss="weighted_ce",
            class_weights="balanced",
            early_stopping_patience=None if tiny else self.train_patience,
            seed=seed,
            **self.train_options(),
        )

    def train_options(self) -> dict[str, Any]:
        """Task-specific :class:`TrainConfig` fields on top of :meth:`train_config`'s (default: none)."""
        return {}

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


def _load_signals(paths: Sequence[Path], pipeline: Pipeline, progress: Any, what: str) -> list[np.ndarray]:
    """Preprocessed float32 ``(n_leads, n_samples)`` arrays, decoded once and cached on disk."""
    from leanecg.data.cache import cached_record_signal

    out = []
    task = progress.add_task(what, total=len(paths)) if progress is not None else None
    for p in paths:
        x, _ = cached_record_signal(p, transform=pipeline)
        out.append(np.ascontiguousarray(np.asarray(x).T))
        if progress is not None:
            progress.advance(task)
    return out


# --------------------------------------------------------------------------------------------------------
# MIT-BIH AAMI beat classification


class MitdbAamiTask(BenchTask):
    name = "mitdb-aami"
    description = "MIT-BIH beat classification N/S/V/F, train DS1 -> test DS2 (de Chazal, inter-patient)"
    dataset = "mitdb"
    class_names = ("N", "S", "V", "F")
    primary_metric = "sveb_veb_f1"
    default_models = ("beatnet", "resnet1d", "lightgbm")
    classic_models = ("lightgbm",)
    train_epochs, train_batch_size, train_patience = 20, 256, 5
    fs_model = 180.0
    before_s = 0.25
    after_s = 0.45
    n_val_records = 5

    def pipeline(self) -> Pipeline:
        return Pipeline(
            [
                {"op": "leads", "leads": ["II"]},
                {"op": "bandpass", "low_hz": 0.5, "high_hz": 40.0},
                {"op": "resample", "fs_out": self.fs_model},
                {"op": "zscore"},
            ]
        )

    def split_records(self, seed: int) -> dict[str, list[str]]:
        """DS1 minus ``n_val_records`` seeded validation records / those records / DS2."""
        from leanecg.data.mitdb import DS1, DS2
        from leanecg.data.registry import seeded_rank

        val = sorted(seeded_rank(list(DS1), seed)[: self.n_val_records])
        return {"train": [r for r in DS1 if r not in val], "val": val, "test": list(DS2)}

    def load(self, root: Path, *, tiny: bool = False, seed: int = 0, progress: Any = None) -> TaskData:
        from leanecg.data import get_dataset
        from leanecg.data.mitdb import mitdb_beats
        from leanecg.signal.beats import beat_model_inputs
        from leanecg.signal.resample import resample_indices

        ds = get_dataset(self.dataset)
        folder = ds.require(root)
        splits = self.split_records(seed)
        if tiny:
            splits = {"train": ["101", "106", "208", "209"], "val": ["207"], "test": ["100", "232"]}
        pipeline = self.pipeline()
        index = {c: k for k, c in enumerate(self.class_names)}
        out: dict[str, ArraySplit] = {}
        for split_name, records in splits.items():
            paths = [ds.record_path(folder, r) for r in records]
            signals = _load_signals(paths, pipeline, progress, f"{self.name} {split_name}")
            beats = mitdb_beats(folder, records)
            xs, feats, ys, groups = [], [], [], []
            for rec, x, samples, labels in zip(records, signals, beats.samples, beats.labels, strict=True):
                peaks = resample_indices(samples, 360.0, self.fs_model, n_out=x.shape[1])
                win, rr = beat_model_inputs(x.T, self.fs_model, peaks, self.before_s, self.after_s)
                ok = labels != "Q"
                xs.append(win[ok])
                feats.append(rr[ok])
                ys.append(np.array([index[c] for c in labels[ok]], dtype=np.int64))
                groups.append(np.full(int(ok.sum()), rec))
            out[split_name] = ArraySplit(
                X=np.concatenate(xs).astype(np.float32),
                y=np.concatenate(ys).astype(np.int64),
                features=np.concatenate(feats).astype(np.float32),
                groups=np.concatenate(groups),
                name=split_name,
            )
        n_win = out["train"].X.shape[-1]
        info = {
            "dataset": "mitdb",
            "split": "de Chazal DS1 (train, minus validation records) / DS2 (test), inter-patient",
            "train_records": splits["train"],
            "val_records": splits["val"],
            "test_records": splits["test"],
            "n_train": len(out["train"]),
            "n_val": len(out["val"]),
            "n_test": len(out["test"]),
            "input": {"fs": self.fs_model, "leads": ["II"], "n_samples": n_win, "features": "RR intervals"},
            "beats": "reference annotation positions (classification-only evaluation); Q beats excluded",
            "pipeline": pipeline.to_dict(),
            "tiny": tiny,
        }
        return TaskData(out["train"], out["val"], out["test"], self.fs_model, n_win, pipeline, info)

    def scores(self, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
        m = confusion(y_true, y_pred, len(self.class_names))
        pc = per_class_from_confusion(m, self.class_names)
        total = m.sum()
        return {
            "sveb_veb_f1": float(np.mean([pc["S"]["f1"], pc["V"]["f1"]])),
            "sveb_se": pc["S"]["se"],
            "sveb_ppv": pc["S"]["ppv"],
            "veb_se": pc["V"]["se"],
            "veb_ppv": pc["V"]["ppv"],
            "accuracy": float(np.trace(m) / total) if total else float("nan"),
            "macro_f1": float(np.nanmean([pc[c]["f1"] for c in self.class_names])),
        }


# --------------------------------------------------------------------------------------------------------
# PhysioNet/CinC 2017 record classification


class Cinc2017Task(BenchTask):
    name = "cinc2017"
    description = "PhysioNet/CinC 2017 single-lead record classification N/A/O/~ (seeded stratified split)"
    dataset = "cinc2017"
    class_names = ("N", "A", "O", "~")
    primary_metric = "f1"
    default_models = ("litenet", "mobilenet_v3", "resnet1d")
    train_epochs, train_batch_size, train_patience = 40, 32, 8
    fs_model = 150.0
    crop_s = 20.0
    typical_s = 30.0

    def pipeline(self) -> Pipeline:
        return Pipeline(
            [
                {"op": "bandpass", "low_hz": 0.5, "high_hz": 40.0},
                {"op": "resample", "fs_out": self.fs_model},
                {"op": "zscore"},
            ]
        )

    def load(self, root: Path, *, tiny: bool = False, seed: int = 0, progress: Any = None) -> TaskData:
        from leanecg.data import get_dataset

        ds = get_dataset(self.dataset)
        splits = ds.split(root)
        labels = ds.labels(root)
        if tiny:
            splits = {k: _per_class_head(v, labels, 12 if k == "train" else 6) for k, v in splits.items()}
        pipeline = self.pipeline()
        out = {}
        for split_name, records in splits.items():
            paths = [ds.record_path(root, r) for r in records]
            X = _load_signals(paths, pipeline, progress, f"{self.name} {split_name}")
            y = np.array([self.class_names.index(labels[r][0]) for r in records], dtype=np.int64)
            out[split_name] = ArraySplit(X=X, y=y, groups=None, name=split_name)
        n_typ = int(self.typical_s * self.fs_model)
        info = {
            "dataset": "cinc2017",
            "split": "class-stratified 70/15/15 record split, seed 2017 (no patient ids in the data)",
            "test_records": splits["test"],
            "n_train": len(out["train"]),
            "n_val": len(out["val"]),
            "n_test": len(out["test"]),
            "input": {"fs": self.fs_model, "leads": ["I"], "n_samples": n_typ, "variable_length": True},
            "pipeline": pipeline.to_dict(),
            "tiny": tiny,
        }
        return TaskData(out["train"], out["val"], out["test"], self.fs_model, n_typ, pipeline, info)

    def scores(self, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
        m = confusion(y_true, y_pred, 4)
        f1 = {}
        for k, c in enumerate(("N", "A", "O", "noise")):
            denom = m[k].sum() + m[:, k].sum()
            f1[c] = 2 * m[k, k] / denom if denom else float("nan")
        return {
            "f1": float(np.mean([f1["N"], f1["A"], f1["O"]])),
            "f1_N": float(f1["N"]),
            "f1_A": float(f1["A"]),
            "f1_O": float(f1["O"]),
            "f1_noise": float(f1["noise"]),
            "accuracy": float(np.trace(m) / m.sum()) if m.sum() else float("nan"),
        }

    def train_options(self) -> dict[str, Any]:
        return {"crop_samples": int(self.crop_s * self.fs_model)}


def _per_class_head(records: list[str], labels: dict[str, list[str]], n: int) -> list[str]:
    """The first ``n`` records of each class, in split order (deterministic small subsets)."""
    taken: dict[str, int] = {}
    out = []
    for r in records:
        c = labels[r][0]
        if taken.get(c, 0) < n:
            taken[c] = taken.get(c, 0) + 1
            out.append(r)
    return out


TASKS: dict[str, BenchTask] = {t.name: t for t in (MitdbAamiTask(), Cinc2017Task())}


def get_task(name: str) -> BenchTask:
    """The task called ``name``; unknown names raise :class:`LeanECGError` listing the known ones."""
    if name not in TASKS:
        raise LeanECGError("TASK", f"unknown benchmark task {name!r}; available: {', '.join(TASKS)}")
    return TASKS[name]
