"""``cinc2017``: PhysioNet/CinC 2017 single-lead record classification N/A/O/~."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from leanecg.evaluate.metrics import confusion
from leanecg.signal.pipeline import Pipeline
from leanecg.tasks.base import BenchTask, TaskData, load_signals, per_class_head, sha256_lines
from leanecg.tasks.preprocess import task_pipeline
from leanecg.train.datasets import ArraySplit

__all__ = ["STUDY_FS", "Cinc2017Arrays", "Cinc2017Task", "load_cinc2017"]

#: Hz: the input rate of the label studies and of contrastive pretraining on cinc2017 (short, cheap inputs).
STUDY_FS = 150.0


class Cinc2017Task(BenchTask):
    name = "cinc2017"
    description = "PhysioNet/CinC 2017 single-lead record classification N/A/O/~ (seeded stratified split)"
    dataset = "cinc2017"
    class_names = ("N", "A", "O", "~")
    primary_metric = "f1"
    default_models = ("wide_deep_lite", "litenet", "mobilenet_v3", "resnet1d")
    # LightGBM on the record features alone (the records vary in length: no flattened window)
    classic_models = ("lightgbm",)
    # LightGBM recipe chosen by 5-fold CV on train + val (2 fold seeds, 7 variants; see benchmarks/README):
    # column and row subsampling, larger leaves, and class weights balanced to the power 0.5 (the metric
    # averages N/A/O only: fully balanced weights over-predict the rare noise class)
    lightgbm_options = MappingProxyType(
        {"feature_fraction": 0.6, "bagging_fraction": 0.8, "bagging_freq": 1, "min_child_samples": 30}
    )
    lightgbm_class_weight_power = 0.5
    train_epochs, train_batch_size, train_patience = 40, 32, 15
    # the records' own rate: R-peak timing at 300 Hz makes the HRV features clearly better than at 150 Hz
    # (LightGBM on the record features: validation F1 0.82 vs 0.79)
    fs_model = 300.0
    crop_s = 20.0
    typical_s = 30.0

    def pipeline(self) -> Pipeline:
        return task_pipeline(self.fs_model)

    def load(self, root: Path, *, tiny: bool = False, seed: int = 0, progress: Any = None) -> TaskData:
        from leanecg.data import get_dataset

        ds = get_dataset(self.dataset)
        splits = ds.split(root)
        labels = ds.labels(root)
        if tiny:
            splits = {k: per_class_head(v, labels, 12 if k == "train" else 6) for k, v in splits.items()}
        pipeline = self.pipeline()
        signals, targets = {}, {}
        for split_name, records in splits.items():
            paths = [ds.record_path(root, r) for r in records]
            signals[split_name] = load_signals(paths, pipeline, progress, f"{self.name} {split_name}")
            targets[split_name] = np.array(
                [self.class_names.index(labels[r][0]) for r in records], dtype=np.int64
            )
        features, feature_config = self.record_features(signals, progress)
        out = {
            k: ArraySplit(X=signals[k], y=targets[k], features=features[k], groups=None, name=k)
            for k in signals
        }
        n_typ = int(self.typical_s * self.fs_model)
        info = {
            "dataset": "cinc2017",
            "split": "class-stratified 70/15/15 record split, seed 2017 (no patient ids in the data)",
            "test_records": splits["test"],
            "n_train": len(out["train"]),
            "n_val": len(out["val"]),
            "n_test": len(out["test"]),
            "input": {
                "fs": self.fs_model,
                "leads": ["I"],
                "n_samples": n_typ,
                "variable_length": True,
                "features": feature_config["names"],
                "feature_config": feature_config,
            },
            "pipeline": pipeline.to_dict(),
            "tiny": tiny,
        }
        return TaskData(out["train"], out["val"], out["test"], self.fs_model, n_typ, pipeline, info)

    def record_features(
        self, signals: dict[str, list[np.ndarray]], progress: Any = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The ``features=`` input of every split and its configuration (fitted on ``train`` only).

        Record features (:mod:`leanecg.models.record_inputs`) of each preprocessed record, computed once
        and cached on disk; the robust scaling uses training records only. Models without a feature
        input ignore them.
        """
        from leanecg.models.record_inputs import apply_feature_config, fit_feature_config, raw_input_features

        raw: dict[str, np.ndarray] = {}
        task = (
            progress.add_task(f"{self.name} record features", total=len(signals))
            if progress is not None
            else None
        )
        for k, X in signals.items():
            raw[k], names = raw_input_features(X, self.fs_model, cache=True)
            if progress is not None:
                progress.advance(task)
        config = fit_feature_config(raw["train"], names)
        return {k: apply_feature_config(v, config) for k, v in raw.items()}, config

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


@dataclass
class Cinc2017Arrays:
    """The cinc2017 splits at :data:`STUDY_FS` for the label studies and pretraining (signals only, no
    features)."""

    train: Any
    val: Any
    test: Any
    fs: float
    input_samples: int
    pipeline: Any
    info: dict[str, Any]


def load_cinc2017(root: Path, *, tiny: bool = False, progress: Any = None) -> Cinc2017Arrays:
    """The ``cinc2017`` task's record split (seeded, class-stratified 70/15/15) and labels, preprocessed
    for the label studies: band-pass 0.5-40 Hz, resample to 150 Hz, z-score (cached on disk).

    ``tiny``: the first 12 training and 6 validation / test records of each class (smoke runs).
    """
    from leanecg.data import get_dataset

    task = Cinc2017Task()
    ds = get_dataset("cinc2017")
    splits = ds.split(Path(root))
    labels = ds.labels(Path(root))
    if tiny:
        splits = {k: per_class_head(v, labels, 12 if k == "train" else 6) for k, v in splits.items()}
    pipeline = task_pipeline(STUDY_FS)
    out = {}
    for name, records in splits.items():
        X = load_signals(
            [ds.record_path(Path(root), r) for r in records], pipeline, progress, f"cinc2017 {name}"
        )
        y = np.array([task.class_names.index(labels[r][0]) for r in records], dtype=np.int64)
        out[name] = ArraySplit(X=X, y=y, name=name)
    info = {
        "dataset": "cinc2017",
        "split": "class-stratified 70/15/15 record split, seed 2017 (no patient ids in the data)",
        "n_train": len(out["train"]),
        "n_val": len(out["val"]),
        "n_test": len(out["test"]),
        "test_records_sha256": sha256_lines(splits["test"]),
        "input": {"fs": STUDY_FS, "leads": ["I"], "n_samples": int(30 * STUDY_FS), "variable_length": True},
        "pipeline": pipeline.to_dict(),
        "tiny": tiny,
    }
    return Cinc2017Arrays(out["train"], out["val"], out["test"], STUDY_FS, int(30 * STUDY_FS), pipeline, info)
