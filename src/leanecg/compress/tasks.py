"""A model package's task, data, evaluation, cost and fine-tuning: what every compression step shares.

:func:`package_task` loads the package's benchmark task with the split the model was trained on;
:func:`evaluate_model` scores a model on the task's test split exactly as ``leanecg bench`` does (metrics
with bootstrap CIs); :func:`model_cost` measures it with :func:`leanecg.evaluate.cost.measure_cost`;
:func:`fine_tune` retrains it with the task's training recipe (fewer epochs, a lower learning rate);
:func:`distill_fine_tune` does the same with a teacher's soft targets added (knowledge distillation).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from leanecg.errors import LeanECGError

if TYPE_CHECKING:
    from torch import nn

    from leanecg.package.model import ModelPackage
    from leanecg.tasks import BenchTask, TaskData
    from leanecg.train.datasets import ArraySplit
    from leanecg.train.trainer import MetricFn, TrainConfig, TrainResult

__all__ = [
    "PackageTask",
    "distill_fine_tune",
    "evaluate_model",
    "fine_tune",
    "fine_tune_config",
    "model_cost",
    "package_task",
    "takes_features",
    "with_model_inputs",
]


@dataclass
class PackageTask:
    """A loaded model package with its task and task data.

    Attributes:
        package: the torch model package.
        task: its benchmark task.
        data: the task's splits, preprocessed as for training (same split seed, same ``--tiny`` subset).
        split_seed: the seed the split was drawn with.
    """

    package: ModelPackage
    task: BenchTask
    data: TaskData
    split_seed: int


def package_task(model: str | Path, data_dir: str | Path | None = None) -> PackageTask:
    """Load a model package (a shipped name or a folder) and its task data from ``data_dir``.

    Raises:
        LeanECGError: not a package, a task this LeanECG does not know, or its dataset is not there.
    """
    from leanecg.data import get_dataset, resolve_data_dir
    from leanecg.package import open_model
    from leanecg.tasks import TASKS, task_for_package

    pkg = open_model(model, prefer="torch")
    if getattr(pkg, "backend", None) is not None and getattr(pkg.backend, "runtime", "torch") != "torch":
        raise LeanECGError(pkg.path, "compression needs a torch model package, not an ONNX file")
    task_name = pkg.meta["task"]["name"]
    if task_name not in TASKS:
        raise LeanECGError(pkg.path, f"the package's task {task_name!r} is not a task this LeanECG knows")
    task = task_for_package(pkg.meta)
    pipeline = getattr(task, "pipeline", None)
    if callable(pipeline) and pipeline().fingerprint() != pkg.pipeline.fingerprint():
        raise LeanECGError(
            pkg.path,
            f"the model was trained with another preprocessing than task {task_name} uses now "
            f"({_ops(pkg.pipeline)} vs {_ops(pipeline())}); its task data would not match -- retrain it",
        )
    root = resolve_data_dir(data_dir)
    get_dataset(task.dataset).require(root)
    tiny = bool(pkg.meta.get("data", {}).get("tiny"))
    split_seed = int(pkg.meta.get("provenance", {}).get("seed") or 0)
    data = task.load(root, tiny=tiny, seed=split_seed)
    if data.train.n_leads != int(pkg.meta["input"]["n_leads"]):
        raise LeanECGError(
            pkg.path,
            f"the model takes {pkg.meta['input']['n_leads']} leads but task {task_name} gives "
            f"{data.train.n_leads}",
        )
    return PackageTask(pkg, task, data, split_seed)


def takes_features(model: nn.Module) -> bool:
    """Whether ``model`` takes the ``features=`` input."""
    return "features" in tuple(getattr(model, "extra_inputs", ()))


def with_model_inputs(split: ArraySplit, model: nn.Module) -> ArraySplit:
    """``split`` without its features when ``model`` does not take them (as ``leanecg bench`` trains)."""
    from leanecg.train.datasets import ArraySplit

    if takes_features(model) or split.features is None:
        return split
    return ArraySplit(X=split.X, y=split.y, features=None, groups=split.groups, name=split.name)


def predict_split(model: nn.Module, split: ArraySplit) -> np.ndarray:
    """Probabilities ``(N, C)`` of ``model`` on ``split`` (features passed when the model takes them)."""
    from leanecg.train.trainer import predict_proba

    s = with_model_inputs(split, model)
    return predict_proba(model, s.X, features=s.features)


def evaluate_model(
    model: nn.Module, pt: PackageTask, *, n_boot: int = 1000, seed: int = 0, proba: np.ndarray | None = None
) -> dict[str, Any]:
    """The task's test metrics with 95 % bootstrap CIs (``metrics``, ``per_class``, ``confusion``, ``curves``).

    ``proba`` (``(N, C)`` on the test split) replaces the model's own predictions, e.g. those of an ONNX export.
    """
    if proba is None:
        proba = predict_split(model, pt.data.test)
    return pt.task.evaluate(pt.data.test, proba, n_boot=n_boot, seed=seed)


def model_cost(
    model: nn.Module, pt: PackageTask, reference: nn.Module | None, reference_name: str
) -> dict[str, Any]:
    """:func:`leanecg.evaluate.cost.measure_cost` of ``model`` at the task's input size (no MACs breakdown)."""
    from leanecg.evaluate.cost import measure_cost

    data = pt.data
    shape = (data.train.n_leads, data.input_samples)

    def extra(m: nn.Module | None) -> dict[str, tuple[int, ...]] | None:
        return {"features": (data.n_features,)} if m is not None and takes_features(m) else None

    cost = measure_cost(
        model,
        shape,
        data.fs,
        reference=reference,
        reference_name=reference_name,
        extra_inputs=extra(model),
        reference_extra_inputs=extra(reference),
    ).to_dict()
    cost.pop("macs_breakdown", None)
    return cost


def fine_tune_config(
    pt: PackageTask,
    *,
    epochs: int,
    lr: float,
    seed: int,
    max_seconds: float | None,
    threads: int | None = 1,
    schedule: str = "cosine",
    device: str = "cpu",
    amp: bool = False,
) -> TrainConfig:
    """The task's training recipe with ``epochs``, ``lr`` (decayed by ``schedule``; cosine: from ``lr`` to 0,
    no warm-up, as suits a trained model), ``seed``, a time budget, ``threads``, ``device`` and ``amp``."""
    cfg = pt.task.train_config(tiny=bool(pt.data.info.get("tiny")), seed=seed, epochs=epochs)
    cfg.lr = float(lr)
    cfg.schedule = schedule
    cfg.max_train_seconds = max_seconds
    cfg.num_threads = threads
    cfg.device = device
    cfg.amp = amp
    cfg.validate()
    return cfg


def fine_tune(model: nn.Module, pt: PackageTask, config: TrainConfig, **kwargs: Any) -> TrainResult:
    """Train ``model`` further on the task's training split (best epoch by the task's validation metric)."""
    from leanecg.train.trainer import fit

    metric_fn: MetricFn = pt.task.val_metric
    train = with_model_inputs(pt.data.train, model)
    val = with_model_inputs(pt.data.val, model)
    res = fit(
        model, train, val, config, metric_fn=metric_fn, progress=kwargs.pop("progress", False), **kwargs
    )
    model.cpu()  # trained on config.device; evaluation, pruning and export run on the CPU
    return res


def distill_fine_tune(
    model: nn.Module,
    teacher: nn.Module,
    pt: PackageTask,
    config: TrainConfig,
    *,
    temperature: float,
    alpha: float,
) -> TrainResult:
    """Train ``model`` further on the task's training split with ``teacher``'s soft targets added.

    :func:`leanecg.compress.distill.distill` with temperature ``temperature`` and hard-label weight ``alpha``
    (best epoch by the task's validation metric). The splits keep their features when either model takes
    them (each model is given only the inputs it takes).
    """
    from leanecg.compress.distill import DistillConfig, distill

    train, val = (
        s if takes_features(teacher) else with_model_inputs(s, model) for s in (pt.data.train, pt.data.val)
    )
    dcfg = DistillConfig(temperature=temperature, alpha=alpha)
    res = distill(model, teacher, train, val, config, dcfg, metric_fn=pt.task.val_metric, progress=False)
    model.cpu()  # trained on config.device; evaluation, pruning and export run on the CPU
    teacher.cpu()
    return res


def primary(ev: dict[str, Any], pt: PackageTask) -> float:
    """The value of the task's primary metric in an :func:`evaluate_model` result."""
    v = ev["metrics"][pt.task.primary_metric]["value"]
    return float("nan") if v is None else float(v)


def _ops(pipeline: Any) -> str:
    """A short description of a pipeline: its ops with their main parameters."""
    parts = []
    for step in pipeline.to_dict()["steps"]:
        params = ", ".join(
            f"{k}={v}" for k, v in step.items() if k != "op" and k in ("fs_out", "low_hz", "high_hz")
        )
        parts.append(f"{step['op']}({params})" if params else step["op"])
    return " -> ".join(parts)
