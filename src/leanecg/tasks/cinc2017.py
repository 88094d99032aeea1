"""``cinc2017``: PhysioNet/CinC 2017 single-lead record classification N/A/O/~."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from leanecg.bench.metrics import confusion
from leanecg.bench.tasks.base import BenchTask, TaskData, load_signals, per_class_head
from leanecg.signal.pipeline import Pipeline
from leanecg.train.datasets import ArraySplit


class Cinc2017Task(BenchTask):
    name = "cinc2017"
    description = "PhysioNet/CinC 2017 single-lead record classification N/A/O/~ (seeded stratified split)"
    dataset = "cinc2017"
    class_names = ("N", "A", "O", "~")
    primary_metric = "f1"
    default_models = ("wide_deep_lite", "litenet", "mobilenet_v3", "resnet1d")
    train_epochs, train_batch_size, train_patience = 40, 32, 15
    # the records' own rate: R-peak timing at 300 Hz makes the HRV features clearly better than at 150 Hz
    # (LightGBM on the record features: validation F1 0.82 vs 0.79)
    fs_model = 300.0
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
