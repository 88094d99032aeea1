"""Small model packages built from freshly constructed models, for tests that need a package but not a
trained one (ONNX export, streaming): the real task definitions (classes, pipeline, beat window), a fake
result block, and batch-norm statistics set by a few training-mode passes so outputs vary with the input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from leanecg.signal.pipeline import Pipeline


def fake_result(model_name: str, task: Any) -> dict[str, Any]:
    """A minimal result document for :func:`leanecg.package.model.save_model_package` (a ``--tiny`` run)."""
    metric = {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6}
    return {
        "model": model_name,
        "family": "lightweight",
        "metrics": {task.primary_metric: metric},
        "data": {"tiny": True, "test_records": ["r1", "r2"], "n_train": 8},
        "cost": {"params": 1, "macs": 1},
        "provenance": {"seed": 0, "git_commit": "test"},
    }


def settle_batchnorm(model: Any, x: torch.Tensor, feats: torch.Tensor | None = None) -> None:
    """A few training-mode passes so batch-norm running statistics are not the identity; eval mode after."""
    torch.manual_seed(0)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x) if feats is None else model(x, features=feats)
    model.eval()


def record_package(out: Path) -> Path:
    """A ``cinc2017`` LiteNet (width 0.5) package: whole records of any length at the task's rate."""
    from leanecg.models import build_model
    from leanecg.package.model import save_model_package
    from leanecg.tasks import get_task
    from leanecg.tasks.base import TaskData
    from leanecg.train.datasets import ArraySplit

    task = get_task("cinc2017")
    torch.manual_seed(1)
    model = build_model("litenet", n_leads=1, n_classes=4, width=0.5)
    rng = np.random.default_rng(0)
    fs = float(task.fs_model)
    n = int(10 * fs)  # 10 s records
    settle_batchnorm(model, torch.from_numpy(rng.standard_normal((8, 1, n)).astype(np.float32)))
    X = [rng.standard_normal((1, k)).astype(np.float32) for k in (n, n + 300, n + 600, n)]
    split = ArraySplit(X=X, y=np.array([0, 1, 2, 3]), name="train")
    info = {"input": {"fs": fs, "leads": ["I"], "n_samples": n, "variable_length": True}}
    data = TaskData(split, split, split, fs, n, task.pipeline(), info)
    return save_model_package(out, model, task, data, fake_result("litenet", task))


def beat_package(
    out: Path, pipeline: Pipeline | None = None, features: bool = True, n_feat: int | None = None
) -> Path:
    """A ``mitdb-aami`` BeatNet (width 0.5) package, with beat features (``features``: the first
    ``n_feat`` of those :func:`~leanecg.signal.beats.beat_model_inputs` computes, default all) or without;
    ``pipeline`` replaces the task's preprocessing."""
    from leanecg.models import build_model
    from leanecg.package.model import save_model_package
    from leanecg.signal.beats import beat_model_inputs
    from leanecg.tasks import get_task
    from leanecg.tasks.base import TaskData
    from leanecg.train.datasets import ArraySplit

    task = get_task("mitdb-aami")
    n_win = round(task.before_s * task.fs_model) + round(task.after_s * task.fs_model)
    torch.manual_seed(2)
    # as many beat features as beat_model_inputs computes (the model must take exactly those)
    probe = np.sin(np.arange(4000, dtype=np.float32) / 20.0)
    _, probe_feats = beat_model_inputs(
        probe, task.fs_model, np.arange(300, 3800, 150), task.before_s, task.after_s
    )
    n_feat = (n_feat or probe_feats.shape[1]) if features else 0
    model = build_model("beatnet", n_leads=1, n_classes=4, width=0.5, n_features=n_feat)
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal((16, 1, n_win)).astype(np.float32))
    f = torch.from_numpy(rng.uniform(0.5, 1.5, (16, n_feat)).astype(np.float32)) if features else None
    settle_batchnorm(model, x, f)
    split = ArraySplit(
        X=x.numpy(), y=np.zeros(16, dtype=np.int64), features=None if f is None else f.numpy(), name="train"
    )
    info = {"input": {"fs": task.fs_model, "leads": ["II"], "n_samples": n_win}}
    data = TaskData(split, split, split, task.fs_model, n_win, pipeline or task.pipeline(), info)
    return save_model_package(out, model, task, data, fake_result("beatnet", task))


def record_features_package(out: Path) -> Path:
    """A ``cinc2017`` ``wide_deep_lite`` (width 0.5) package: whole records plus the handcrafted record
    features of :mod:`leanecg.models.record_inputs`, scaled by a configuration fitted on synthetic ECGs."""
    from leanecg.data.synthetic import synthetic_ecg
    from leanecg.models import build_model
    from leanecg.models.record_inputs import apply_feature_config, fit_feature_config, raw_input_features
    from leanecg.package.model import save_model_package
    from leanecg.tasks import get_task
    from leanecg.tasks.base import TaskData
    from leanecg.train.datasets import ArraySplit

    task = get_task("cinc2017")
    fs = float(task.fs_model)
    X = [
        synthetic_ecg(duration_s=12.0, fs=fs, heart_rate_bpm=hr, seed=k).signal.T.astype(np.float32)
        for k, hr in enumerate((55.0, 70.0, 85.0, 110.0))
    ]
    raw, names = raw_input_features(X, fs)
    config = fit_feature_config(raw, names)
    feats = apply_feature_config(raw, config)
    torch.manual_seed(3)
    model = build_model("wide_deep_lite", n_leads=1, n_classes=4, width=0.5, n_features=len(names))
    settle_batchnorm(model, torch.from_numpy(np.stack(X)), torch.from_numpy(feats))
    split = ArraySplit(X=X, y=np.array([0, 1, 2, 3]), features=feats, name="train")
    n = X[0].shape[-1]
    info = {
        "input": {
            "fs": fs,
            "leads": ["I"],
            "n_samples": n,
            "variable_length": True,
            "features": list(names),
            "feature_config": config,
        }
    }
    data = TaskData(split, split, split, fs, n, task.pipeline(), info)
    return save_model_package(out, model, task, data, fake_result("wide_deep_lite", task))
