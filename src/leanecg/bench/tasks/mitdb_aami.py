"""``mitdb-aami``: MIT-BIH beat classification N/S/V/F, trained on DS1, tested on DS2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from leanecg.bench.metrics import confusion, per_class_from_confusion
from leanecg.bench.tasks.base import BenchTask, TaskData, load_signals
from leanecg.signal.pipeline import Pipeline
from leanecg.train.datasets import ArraySplit


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
            signals = load_signals(paths, pipeline, progress, f"{self.name} {split_name}")
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
