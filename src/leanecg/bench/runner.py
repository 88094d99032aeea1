"""``leanecg bench``: train -> evaluate -> cost for every model of a task, then the report.

Each model gets one result document (:mod:`leanecg.evaluate.results`) in ``<out>/<task>/``, with the seed,
training config, data split, git commit and package versions; the task folder also receives
``results.md``, the PNG plots and ``report.html`` (:mod:`leanecg.evaluate.report`). Latency is always
reported next to a reference model (``resnet1d`` at width 1 on the same input) timed in the same run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.bench.tasks import BenchTask, TaskData, get_task
from leanecg.errors import LeanECGError
from leanecg.evaluate.report import write_report
from leanecg.evaluate.results import load_results, make_result, save_result

REFERENCE_MODEL = "resnet1d"


def run_benchmark(
    task_name: str,
    models: Sequence[str] | None,
    data_dir: Path,
    out_dir: Path,
    *,
    seed: int = 0,
    tiny: bool = False,
    epochs: int | None = None,
    max_train_seconds: float | None = None,
    num_threads: int | None = 1,
    n_boot: int = 1000,
    progress: Any = None,
    log: Callable[[str], None] = lambda s: None,
    save_models: Path | None = None,
) -> dict[str, Any]:
    """Run a benchmark; returns ``{"results": [paths], "report": {name: path}}``.

    Args:
        task_name: a task of :mod:`leanecg.bench.tasks` (``mitdb-aami``, ``cinc2017``).
        models: model names (zoo names or the task's classic models); ``None``: the task's defaults.
        data_dir: the data root holding the task's dataset.
        out_dir: results root; files go to ``out_dir/<task>/``.
        seed: seeds the split (where seeded), training and the bootstrap.
        tiny: a few records per split and 2 epochs: a smoke run of the whole pipeline, not a result.
        epochs: override the task's epoch count.
        max_train_seconds: time budget per model (recorded in the result when it stops training).
        num_threads: torch threads for training (1 is fastest on a shared 2-core machine).
        n_boot: bootstrap resamples for the CIs.
        save_models: when given, every trained deep model is saved as a model package
            (:func:`leanecg.deploy.package.save_model_package`) in ``save_models/<task>/<model>/``.
    """
    from leanecg.models.registry import list_models
    from leanecg.provenance import collect_provenance

    task = get_task(task_name)
    models = list(models or task.default_models)
    known = {s.name for s in list_models()} | set(task.classic_models)
    unknown = [m for m in models if m not in known]
    if unknown:
        raise LeanECGError(
            "--models",
            f"unknown model(s) {', '.join(unknown)} for task {task.name}; available: {', '.join(sorted(known))}",
        )
    log(f"loading {task.name} from {data_dir}")
    data = task.load(data_dir, tiny=tiny, seed=seed, progress=progress)
    log(f"train {len(data.train)} / val {len(data.val)} / test {len(data.test)} examples")
    paths = []
    results = []
    for name in models:
        t0 = time.perf_counter()
        model = None
        if name in task.classic_models:
            result = _run_classic(task, name, data, seed=seed, n_boot=n_boot)
        else:
            result, model = _run_deep(
                task,
                name,
                data,
                seed=seed,
                tiny=tiny,
                epochs=epochs,
                max_train_seconds=max_train_seconds,
                num_threads=num_threads,
                n_boot=n_boot,
            )
        result["provenance"] = collect_provenance(seed=seed, config=result["train"].get("config"))
        result = make_result(**{k: v for k, v in result.items() if k not in ("schema",)})
        paths.append(save_result(result, out_dir))
        results.append(result)
        if save_models is not None and model is not None:
            from leanecg.deploy.package import save_model_package

            pkg = save_model_package(Path(save_models) / task.name / name, model, task, data, result)
            log(f"{name}: model package saved to {pkg}")
        pm = result["metrics"][task.primary_metric]
        log(
            f"{name}: {task.primary_metric} {pm['value']:.4f} [{pm['ci_low']:.4f}, {pm['ci_high']:.4f}] "
            f"({time.perf_counter() - t0:.0f} s)"
        )
    # the report covers every result of this task in the folder (earlier runs of other models included),
    # but never mixes smoke runs (--tiny) with real ones
    folder = Path(out_dir) / task.name
    everything = [r for r in load_results(folder) if bool(r["data"].get("tiny")) == tiny]
    report = write_report(everything, folder, title=f"LeanECG benchmark: {task.description}")
    return {"results": paths, "report": report}


def _common(task: BenchTask, data: TaskData, name: str, family: str | None) -> dict[str, Any]:
    notes = []
    if data.info.get("tiny"):
        notes.append("tiny smoke run: a few records per split; numbers are not results")
    return {
        "task": task.name,
        "model": name,
        "family": family,
        "primary_metric": task.primary_metric,
        "data": data.info,
        "notes": notes,
    }


def _run_deep(
    task: BenchTask,
    name: str,
    data: TaskData,
    *,
    seed: int,
    tiny: bool,
    epochs: int | None,
    max_train_seconds: float | None,
    num_threads: int | None,
    n_boot: int,
) -> tuple[dict[str, Any], Any]:
    """Train, evaluate and cost one deep model; returns ``(result fields, trained model)``."""
    from leanecg.evaluate.cost import measure_cost
    from leanecg.models.registry import build_model, list_models, model_config
    from leanecg.train.seed import seed_everything
    from leanecg.train.trainer import fit, predict_proba

    seed_everything(seed)
    n_feat = data.n_features
    n_leads = data.train.n_leads
    n_classes = len(task.class_names)
    spec = next(s for s in list_models() if s.name == name)
    uses_features = spec.takes_features and n_feat > 0
    model = build_model(name, n_leads=n_leads, n_classes=n_classes, n_features=n_feat if uses_features else 0)
    train, val, test = (_maybe_without_features(s, uses_features) for s in (data.train, data.val, data.test))
    config = task.train_config(tiny=tiny, seed=seed, epochs=epochs)
    config.num_threads = num_threads
    config.max_train_seconds = max_train_seconds
    config.validate()
    res = fit(
        model, train, val, config, metric_fn=task.val_metric, progress=True, batch_loss=task.batch_loss(seed)
    )
    proba = predict_proba(model, test.X, features=test.features)
    ev = task.evaluate(test, proba, n_boot=n_boot, seed=seed)

    ref = build_model(REFERENCE_MODEL, n_leads=n_leads, n_classes=n_classes, n_features=0)
    extra = {"features": (n_feat,)} if uses_features else None
    cost = measure_cost(
        model,
        (n_leads, data.input_samples),
        data.fs,
        reference=ref,
        reference_name=REFERENCE_MODEL,
        extra_inputs=extra,
    ).to_dict()
    out = _common(task, data, name, spec.family)
    out.update(ev)
    out["cost"] = cost
    out["train"] = {**res.to_dict(), "model_config": model_config(model)}
    return out, model


def _maybe_without_features(split: Any, uses_features: bool) -> Any:
    from leanecg.train.datasets import ArraySplit

    if uses_features or split.features is None:
        return split
    return ArraySplit(X=split.X, y=split.y, features=None, groups=split.groups, name=split.name)


def _classic_matrix(split: Any) -> np.ndarray:
    """Flattened (decimated) input window plus features: the classic model's design matrix."""
    X = np.asarray(split.X)
    flat = X[:, :, ::3].reshape(len(X), -1)
    parts = [flat] if split.features is None else [split.features, flat]
    return np.concatenate(parts, axis=1).astype(np.float32)


def _run_classic(task: BenchTask, name: str, data: TaskData, *, seed: int, n_boot: int) -> dict[str, Any]:
    import lightgbm as lgb

    from leanecg.evaluate.timing import time_callable

    if not isinstance(data.train.X, np.ndarray):
        raise LeanECGError(
            "--models", f"{name} needs fixed-length inputs; task {task.name} has variable-length records"
        )
    Xtr, Xva, Xte = (_classic_matrix(s) for s in (data.train, data.val, data.test))
    from sklearn.utils.class_weight import compute_sample_weight

    params = {
        "objective": "multiclass",
        "num_class": len(task.class_names),
        "learning_rate": 0.05,
        "num_leaves": 31,
        "seed": seed,
        "num_threads": 1,
        "verbose": -1,
        "deterministic": True,
        "force_row_wise": True,
    }
    dtrain = lgb.Dataset(Xtr, data.train.y, weight=compute_sample_weight("balanced", data.train.y))
    dval = lgb.Dataset(Xva, data.val.y, reference=dtrain)
    t0 = time.perf_counter()
    booster = lgb.train(
        params,
        dtrain,
        num_boost_round=400,
        valid_sets=[dval],
        callbacks=[lgb.early_stopping(30, verbose=False)],
    )
    seconds = time.perf_counter() - t0
    proba = booster.predict(Xte, num_iteration=booster.best_iteration)
    ev = task.evaluate(data.test, proba, n_boot=n_boot, seed=seed)
    dump = booster.dump_model(num_iteration=booster.best_iteration)
    n_nodes = sum(_count_nodes(t["tree_structure"]) for t in dump["tree_info"])
    one = Xte[:1]
    stats = time_callable(
        lambda: booster.predict(one, num_iteration=booster.best_iteration), repeats=30, warmup=3
    )
    cost = {
        "params": int(n_nodes),
        "macs": None,
        "bytes_fp32": len(booster.model_to_string(num_iteration=booster.best_iteration).encode()),
        "bytes_int8": None,
        "latency_ms_median": stats.median * 1e3,
        "latency_ms_p99": stats.p99 * 1e3,
        "real_time_factor": (data.input_samples / data.fs) / stats.median,
        "notes": "params = tree nodes; MACs undefined for trees; latency of one LightGBM predict on one example",
    }
    out = _common(task, data, name, "classic")
    out.update(ev)
    out["cost"] = cost
    out["train"] = {
        "config": {
            **params,
            "num_boost_round": 400,
            "early_stopping_rounds": 30,
            "sample_weight": "balanced",
        },
        "seconds": seconds,
        "best_iteration": int(booster.best_iteration),
    }
    return out


def _count_nodes(node: dict[str, Any]) -> int:
    if "left_child" not in node:
        return 1
    return 1 + _count_nodes(node["left_child"]) + _count_nodes(node["right_child"])
