"""``ptbxl-superclass``: PTB-XL 12-lead multi-label diagnostic superclasses NORM/MI/STTC/CD/HYP.

Data: the 100 Hz records of PTB-XL (whatever subset is on disk), the recommended ``strat_fold`` split
(folds 1-8 train, 9 validation, 10 test; patient-disjoint) and the superclass rule of the PTB-XL benchmark
code (:mod:`leanecg.data.ptbxl`). Records without any superclass are dropped, as in the benchmark's
superdiagnostic task. Input: all 12 leads in :data:`~leanecg.signal.leads.STANDARD_12` order, band-passed
0.5-40 Hz and z-scored per lead, 10 s at 100 Hz (1000 samples).

Scoring: macro AUROC over the five classes (the PTB-XL benchmark's primary metric; NaN in a bootstrap
resample that lacks a positive of some class, which is then left out, as the benchmark's bootstrap does),
macro AUPRC, and macro F1 at per-class thresholds (chosen on validation data by the caller; 0.5 when none
are given). 95 % CIs resample patients (``patient_id``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.evaluate.metrics import metrics_with_ci
from leanecg.signal.leads import STANDARD_12
from leanecg.signal.pipeline import Pipeline
from leanecg.tasks.base import BenchTask, TaskData, load_signals
from leanecg.tasks.preprocess import task_pipeline
from leanecg.train.datasets import ArraySplit


def macro_auroc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Mean per-class AUROC; NaN unless every class has positives and negatives (PTB-XL benchmark rule)."""
    from leanecg.evaluate.multilabel import auroc_per_class

    per = auroc_per_class(y_true, y_score)
    return float(per.mean()) if np.all(np.isfinite(per)) else float("nan")


class PtbxlSuperclassTask(BenchTask):
    name = "ptbxl-superclass"
    description = (
        "PTB-XL 12-lead diagnostic superclasses NORM/MI/STTC/CD/HYP, multi-label (strat_fold 1-8/9/10)"
    )
    dataset = "ptbxl"
    class_names = ("NORM", "MI", "STTC", "CD", "HYP")
    primary_metric = "macro_auroc"
    default_models = ("litenet", "leadwise", "resnet1d")
    train_epochs, train_batch_size, train_patience = 40, 32, 12
    train_loss = "bce"  # multi-label: binary cross-entropy with balanced positive weights
    fs_model = 100.0
    leads: tuple[str, ...] = STANDARD_12

    def pipeline(self) -> Pipeline:
        return task_pipeline(self.fs_model, leads=self.leads)

    def load(self, root: Path, *, tiny: bool = False, seed: int = 0, progress: Any = None) -> TaskData:
        from leanecg.data import get_dataset

        ds = get_dataset(self.dataset)
        splits = ds.split(root)
        labels = ds.superclasses(root)
        patients = ds.patients(root)
        splits = {k: [r for r in v if labels[r]] for k, v in splits.items()}  # benchmark: drop unlabelled
        if tiny:
            splits = {k: _class_cover(v, labels, 4 if k == "train" else 2) for k, v in splits.items()}
        pipeline = self.pipeline()
        out: dict[str, ArraySplit] = {}
        for split_name, records in splits.items():
            paths = [ds.record_path(root, r) for r in records]
            signals = load_signals(paths, pipeline, progress, f"{self.name} {split_name}")
            X = np.stack([_fixed_length(x, int(10 * self.fs_model)) for x in signals]).astype(np.float32)
            y = np.zeros((len(records), len(self.class_names)), dtype=np.float32)
            for i, r in enumerate(records):
                for c in labels[r]:
                    y[i, self.class_names.index(c)] = 1.0
            groups = np.array([patients[r] for r in records])
            out[split_name] = ArraySplit(X=X, y=y, features=None, groups=groups, name=split_name)
        n = int(10 * self.fs_model)
        info = {
            "dataset": "ptbxl",
            "split": "PTB-XL strat_fold 1-8 train / 9 val / 10 test (patient-disjoint), records on disk",
            "label_rule": "diagnostic superclass of every diagnostic scp statement, any likelihood; "
            "records without a superclass dropped (PTB-XL benchmark)",
            "test_records": splits["test"],
            "n_train": len(out["train"]),
            "n_val": len(out["val"]),
            "n_test": len(out["test"]),
            "input": {"fs": self.fs_model, "leads": list(self.leads), "n_samples": n},
            "pipeline": pipeline.to_dict(),
            "tiny": tiny,
        }
        return TaskData(out["train"], out["val"], out["test"], self.fs_model, n, pipeline, info)

    def scores(self, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
        """Macro AUROC / AUPRC of scores ``y_pred`` ``(N, 5)`` against multi-hot ``y_true``."""
        from leanecg.evaluate.multilabel import auprc_per_class

        ap = auprc_per_class(y_true, y_pred)
        return {
            "macro_auroc": macro_auroc(y_true, y_pred),
            "macro_auprc": float(ap.mean()) if np.all(np.isfinite(ap)) else float("nan"),
        }

    def val_metric(self, y_true: np.ndarray, proba: np.ndarray) -> float:
        """Macro AUROC (NaN when a validation class has no positive)."""
        return macro_auroc(np.asarray(y_true), np.asarray(proba))

    def evaluate(
        self,
        split: ArraySplit,
        proba: np.ndarray,
        *,
        n_boot: int = 1000,
        seed: int = 0,
        thresholds: Sequence[float] | np.ndarray | float = 0.5,
    ) -> dict[str, Any]:
        """Metrics with patient-level CIs, per-class AUROC / AUPRC / F1 and ROC / PR curves.

        Args:
            split: the scored split (multi-hot ``y``, ``groups`` = patient ids).
            proba: sigmoid outputs ``(N, 5)``.
            thresholds: per-class decision thresholds for F1 (choose them on validation data).
        """
        from leanecg.evaluate.metrics import one_vs_rest_curves
        from leanecg.evaluate.multilabel import apply_thresholds, f1_per_class, multilabel_metrics

        y = np.asarray(split.y)
        p = np.asarray(proba, dtype=np.float64)
        thr = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (y.shape[1],)).copy()

        def all_metrics(yt: np.ndarray, pp: np.ndarray) -> dict[str, float]:
            out = self.scores(yt, pp)
            f1 = f1_per_class(yt, apply_thresholds(pp, thr))
            out["macro_f1"] = float(f1.mean()) if np.all(np.isfinite(f1)) else float("nan")
            return out

        metrics = metrics_with_ci(all_metrics, y, p, groups=split.groups, n_boot=n_boot, seed=seed)
        ml = multilabel_metrics(y, p, thresholds=thr, class_names=self.class_names)
        per_class = {
            c: {**v, "threshold": float(t)} for (c, v), t in zip(ml["per_class"].items(), thr, strict=True)
        }
        curves: dict[str, Any] = {"roc": {}, "pr": {}}
        for k, c in enumerate(self.class_names):
            one = one_vs_rest_curves(
                (y[:, k] > 0).astype(np.int64), np.stack([1 - p[:, k], p[:, k]], 1), ["-", c]
            )
            if c in one["roc"]:
                curves["roc"][c] = one["roc"][c]
            if c in one["pr"]:
                curves["pr"][c] = one["pr"][c]
        return {"metrics": metrics, "per_class": per_class, "confusion": {}, "curves": curves}


def _class_cover(records: Sequence[str], labels: dict[str, list[str]], n: int) -> list[str]:
    """A small deterministic subset (split order) holding at least ``n`` positives of every superclass
    where the split has them, for smoke runs."""
    need = dict.fromkeys(PtbxlSuperclassTask.class_names, n)
    out = []
    for r in records:
        if any(need.get(c, 0) > 0 for c in labels[r]):
            out.append(r)
            for c in labels[r]:
                need[c] = need.get(c, 0) - 1
    return out


def _fixed_length(x: np.ndarray, n: int) -> np.ndarray:
    """``(n_leads, n)``: crop or zero-pad on the right (PTB-XL records are all 10 s; this guards odd ones)."""
    if x.shape[1] >= n:
        return x[:, :n]
    return np.pad(x, ((0, 0), (0, n - x.shape[1])))
