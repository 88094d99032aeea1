"""``leanecg bench``: train -> evaluate -> cost for every model of a task, then the report.

Each model gets one result document (:mod:`leanecg.evaluate.results`) in ``<out>/<task>/``, with the seed,
training config, data split, git commit and package versions; the task folder also receives
``results.md``, the PNG plots and ``report.html`` (:mod:`leanecg.evaluate.report`), with example ECGs,
predictions and explanation figures of each deep model (:mod:`leanecg.bench.examples`). Latency is always
reported next to a reference model (``resnet1d`` at width 1 on the same input) timed in the same run.

Model names are zoo models (:func:`leanecg.models.registry.list_models`), the task's classic models, or
hybrids ``<zoo model>+lightgbm`` (e.g. ``beatnet+lightgbm``; :mod:`leanecg.train.hybrid`): the zoo model
is trained as usual, then LightGBM is fitted on its pooled embedding plus the task's handcrafted features.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.bench.cv import OOF_SUFFIX, save_oof
from leanecg.bench.examples import EXAMPLES_PER_CLASS, clear_examples, leaderboard_figures, write_examples
from leanecg.errors import LeanECGError
from leanecg.evaluate.report import write_report
from leanecg.evaluate.results import load_results, make_result, result_filename, save_result
from leanecg.tasks import BenchTask, TaskData, get_task
from leanecg.train.distributed import is_main_process
from leanecg.train.hybrid import (
    HYBRID_SUFFIX,
    EmbeddingNetwork,
    embed_records,
    hybrid_matrix,
    hybrid_name,
    parse_hybrid_name,
    refitted_on_val,
)

REFERENCE_MODEL = "resnet1d"
#: The calibration block of a model refitted on its validation split (no held-out data for a temperature).
REFIT_NO_TEMPERATURE = "no temperature: the model was refitted on the validation records (training data)"
#: The note of such a model's result.
REFIT_NOTE = (
    "refitted on train + val together (the rounds found by early stopping on val, scaled by the data's growth): "
    "the validation split is training data"
)


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
    runtime: Any = None,
    cv: int | None = None,
    data: TaskData | None = None,
    examples: int = EXAMPLES_PER_CLASS,
) -> dict[str, Any]:
    """Run a benchmark; returns ``{"results": [paths], "report": {name: path}}``.

    Args:
        task_name: a task of :mod:`leanecg.tasks` (``mitdb-aami``, ``cinc2017``).
        models: model names (zoo names, the task's classic models, or hybrids ``<zoo name>+lightgbm``);
            ``None``: the task's defaults.
        data_dir: the data root holding the task's dataset.
        out_dir: results root; files go to ``out_dir/<task>/``.
        seed: seeds the split (where seeded), training and the bootstrap.
        tiny: a few records per split and 2 epochs: a smoke run of the whole pipeline, not a result.
        epochs: override the task's epoch count.
        max_train_seconds: time budget per model (recorded in the result when it stops training).
        num_threads: torch threads for training (1 is fastest on a shared 2-core machine).
        n_boot: bootstrap resamples for the CIs.
        save_models: when given, every trained deep model is saved as a model package
            (:func:`leanecg.package.model.save_model_package`) in ``save_models/<task>/<model>/``.
        runtime: a :class:`leanecg.train.device.TrainRuntime` (device, AMP, checkpoints / resume in
            ``checkpoint_dir/<task>/<model>/``); ``None``: CPU, no checkpoints.
        cv: ``K``: before the test score, cross-validate each model's recipe over the task's training
            data (:mod:`leanecg.bench.cv`; leave-records-out for beat tasks) and store the per-fold and
            pooled scores in the result's ``cv`` block, next to the test metrics (rank 0 only; CPU).
        data: the task's data already loaded with the same ``seed`` / ``tiny`` (a caller running many
            models, e.g. the leaderboard); ``None``: loaded here.
        examples: test examples per class whose ECG strip, prediction and explanation figure the report
            shows, for each deep model (:mod:`leanecg.bench.examples`; a seeded draw); 0: none.

    The report also embeds the whole zoo's Pareto plots when ``out_dir/leaderboard/`` holds the task's
    leaderboard (:func:`leanecg.bench.examples.leaderboard_figures`).

    Under ``torch.distributed`` (``torchrun``, ``--nproc``) every rank trains the deep models together and
    only rank 0 evaluates, measures cost and writes results (the other ranks return no paths).
    """
    from leanecg.models.registry import list_models
    from leanecg.provenance import collect_provenance

    task = get_task(task_name)
    models = list(models or task.default_models)
    zoo = {s.name for s in list_models()}
    known = zoo | set(task.classic_models)
    unknown = [m for m in models if m not in known and parse_hybrid_name(m) not in zoo]
    if unknown:
        raise LeanECGError(
            "models",
            f"unknown model(s) {', '.join(unknown)} for task {task.name}; available: {', '.join(sorted(known))}"
            f", or a hybrid <zoo model>{HYBRID_SUFFIX} (e.g. {hybrid_name(task.default_models[0])})",
        )
    for m in models:
        if parse_hybrid_name(m) is not None:
            _check_hybrid(m)
    if data is None:
        log(f"loading {task.name} from {data_dir}")
        data = task.load(data_dir, tiny=tiny, seed=seed, progress=progress)
    extra = (
        ""
        if data.extra_train is None
        else f" (+ {len(data.extra_train)} extra training examples, never scored)"
    )
    log(f"train {len(data.train)} / val {len(data.val)} / test {len(data.test)} examples{extra}")
    paths = []
    results = []
    for name in models:
        t0 = time.perf_counter()
        model = None
        training = {
            "seed": seed,
            "tiny": tiny,
            "epochs": epochs,
            "max_train_seconds": max_train_seconds,
            "num_threads": num_threads,
            "n_boot": n_boot,
            "runtime": runtime,
        }
        if name in task.classic_models and not is_main_process():
            continue  # classic models fit on rank 0 alone
        cv_block, oof = None, None
        if cv and is_main_process():
            cv_block = cross_validate(task, name, data, k=int(cv), log=log, keep_proba=True, **training)
            oof = cv_block.pop("proba")
        if name in task.classic_models:
            result, model = _run_classic(task, name, data, seed=seed, n_boot=n_boot)
            if save_models is not None and model is None:
                log(
                    f"{name}: not saved (a packaged classic model reads the task's feature table; {task.name}'s "
                    "also reads the input window)"
                )
        elif parse_hybrid_name(name) is not None:
            result, model = run_hybrid(task, name, data, **training)
        else:
            result, model = run_deep(task, name, data, **training)
        if result is None:  # not rank 0: the deep model was trained together, rank 0 reports it
            continue
        result["provenance"] = collect_provenance(
            seed=seed,
            config=result["train"].get("config"),
            device=result["train"].get("device", "cpu"),
            world_size=result["train"].get("world_size", 1),
        )
        if cv_block is not None:
            # the out-of-fold probabilities beside the result: recipes combined later are scored by CV too
            cv_block["proba_file"] = (
                result_filename(name, result.get("variant"))[: -len(".json")] + OOF_SUFFIX
            )
            result["cv"] = cv_block
        result = make_result(**{k: v for k, v in result.items() if k not in ("schema",)})
        paths.append(save_result(result, out_dir))
        if cv_block is not None:
            save_oof(paths[-1].parent / cv_block["proba_file"], cv_block, oof, task.cv_pool(data))
        results.append(result)
        # example figures explain networks only (tree rows: gradients see no trees)
        deep = None if name in task.classic_models or parse_hybrid_name(name) is not None else model
        _report_examples(task, deep, data, result, data_dir, out_dir, seed=seed, per_class=examples, log=log)
        if save_models is not None and model is not None:
            from leanecg.package.model import save_model_package

            pkg = save_model_package(Path(save_models) / task.name / name, model, task, data, result)
            log(f"{name}: model package saved to {pkg}")
        pm = result["metrics"][task.primary_metric]
        log(
            f"{name}: {task.primary_metric} {pm['value']:.4f} [{pm['ci_low']:.4f}, {pm['ci_high']:.4f}] "
            f"({time.perf_counter() - t0:.0f} s)"
        )
    if not is_main_process():
        return {"results": [], "report": {}}
    # the report covers every result of this task in the folder (earlier runs of other models included),
    # but never mixes smoke runs (--tiny) with real ones
    folder = Path(out_dir) / task.name
    everything = [r for r in load_results(folder) if bool(r["data"].get("tiny")) == tiny]
    report = write_report(
        everything,
        folder,
        title=f"LeanECG benchmark: {task.description}",
        zoo_pareto=leaderboard_figures(Path(out_dir), task.name, tiny),
    )
    return {"results": paths, "report": report}


def _report_examples(
    task: BenchTask,
    model: Any,
    data: TaskData,
    result: dict[str, Any],
    data_dir: Path,
    out_dir: Path,
    *,
    seed: int,
    per_class: int,
    log: Callable[[str], None],
) -> None:
    """The example ECGs of one result for the report (deep models; others: any old ones removed)."""
    folder = Path(out_dir) / task.name
    if model is None or per_class <= 0:
        clear_examples(folder, result)
        return
    try:
        write_examples(task, model, data, result, data_dir, folder, seed=seed, per_class=per_class, log=log)
    except LeanECGError as err:
        clear_examples(folder, result)
        log(f"{result['model']}: no example ECGs in the report ({err.problem})")


def calibration(task: BenchTask, data: TaskData, p_val: np.ndarray, p_test: np.ndarray) -> dict[str, Any]:
    """The result's ``calibration`` block (:func:`leanecg.evaluate.calibration.calibration_block`): a
    temperature fitted on the validation predictions, per-class reliability and ECE before / after it, decision
    curves on the test split. A task whose validation records are training records too
    (:attr:`~leanecg.tasks.base.BenchTask.train_uses_val` ``False``) fits it on seen data, and says so.
    A block that cannot be computed (e.g. a smoke run without some class) holds ``{"error": ...}``."""
    from leanecg.evaluate.calibration import calibration_block

    yv, yt = np.asarray(data.val.y), np.asarray(data.test.y)
    fitted_on = (
        "val"
        if task.train_uses_val
        else "val (records that are also training records: the temperature is fitted on seen data)"
    )
    try:
        return calibration_block(
            task.class_names, yv, p_val, yt, p_test, multilabel=yt.ndim == 2, fitted_on=fitted_on
        )
    except LeanECGError as err:
        return {"error": err.problem}


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


@dataclass
class _TrainedDeep:
    """A deep model trained by :func:`_train_deep` and what the evaluation needs from it."""

    model: Any
    result: Any  # TrainResult
    family: str
    uses_features: bool


def _train_deep(
    task: BenchTask,
    name: str,
    data: TaskData,
    *,
    seed: int,
    tiny: bool,
    epochs: int | None,
    max_train_seconds: float | None,
    num_threads: int | None,
    runtime: Any = None,
    train: Any = None,
    val: Any = None,
) -> _TrainedDeep:
    """Build zoo model ``name`` for the task and train it (task config; early stopping on val when the
    task trains with it, :attr:`~leanecg.tasks.base.BenchTask.train_uses_val`). ``train`` / ``val``:
    other splits than the task's (a cross-validation fold)."""
    from leanecg.models.registry import build_model, list_models
    from leanecg.train.seed import seed_everything
    from leanecg.train.trainer import fit

    seed_everything(seed)
    n_feat = data.n_features
    spec = next(s for s in list_models() if s.name == name)
    uses_features = spec.takes_features and n_feat > 0
    model = build_model(
        name,
        n_leads=data.train.n_leads,
        n_classes=len(task.class_names),
        width=task.model_width,
        n_features=n_feat if uses_features else 0,
    )
    train = _maybe_without_features(data.training_part(data.train if train is None else train), uses_features)
    val = _maybe_without_features(data.val if val is None else val, uses_features)
    if not task.train_uses_val:
        val = None
    config = task.train_config(tiny=tiny, seed=seed, epochs=epochs)
    config.num_threads = num_threads
    config.max_train_seconds = max_train_seconds
    config.validate()
    fit_kwargs = {} if runtime is None else runtime.fit_kwargs(task.name, name)
    if runtime is not None:
        runtime.apply(config)
    if task.distill_teachers > 0:
        res = _distill_from_ensemble(task, model, train, val, config, fit_kwargs)
        return _TrainedDeep(model, res, spec.family, uses_features)
    res = fit(
        model,
        train,
        val,
        config,
        metric_fn=task.val_metric,
        progress=True,
        batch_loss=task.batch_loss(seed),
        **fit_kwargs,
    )
    return _TrainedDeep(model, res, spec.family, uses_features)


def teacher_seeds(seed: int, n: int) -> list[int]:
    """The seeds of the ``n`` ensemble-distillation teachers of a run with ``seed``: distinct from every
    run seed below 10,000 and from the teachers of other run seeds."""
    return [10_000 + 100 * int(seed) + j for j in range(int(n))]


def _distill_from_ensemble(
    task: BenchTask,
    model: Any,
    train: Any,
    val: Any,
    config: Any,
    fit_kwargs: dict[str, Any],
) -> Any:
    """Train ``task.distill_teachers`` teachers (``model``'s architecture, the task's recipe, seeds
    :func:`teacher_seeds`) on ``train`` / ``val``, then ``model`` as the student of their ensemble
    (:func:`leanecg.compress.distill.distill`); returns the student's ``TrainResult`` with the teachers'
    seeds and validation metrics in its config."""
    from leanecg.compress.distill import DistillConfig, distill
    from leanecg.models.registry import build_from_config, ensemble_of, model_config
    from leanecg.train.seed import seed_everything
    from leanecg.train.trainer import fit

    if task.batch_loss(config.seed) is not None or fit_kwargs:
        raise LeanECGError(
            "distill_teachers",
            "ensemble distillation takes the task's plain loss and the default runtime (no augmentation "
            "loss, no DDP / AMP options)",
        )
    cfg = model_config(model)  # the teachers are the student's architecture
    teachers, teacher_val = [], []
    for t_seed in teacher_seeds(config.seed, task.distill_teachers):
        seed_everything(t_seed)
        teacher = build_from_config(cfg)
        res = fit(
            teacher,
            train,
            val,
            dataclasses.replace(config, seed=t_seed),
            metric_fn=task.val_metric,
            progress=True,
        )
        teachers.append(teacher.eval())
        teacher_val.append(res.best_val_metric)
    seed_everything(config.seed)
    dcfg = DistillConfig(temperature=task.distill_temperature, alpha=task.distill_alpha)
    res = distill(model, ensemble_of(teachers).eval(), train, val, config, dcfg, task.val_metric)
    res.config = {
        **res.config,
        "teachers": {"seeds": teacher_seeds(config.seed, task.distill_teachers), "val_metric": teacher_val},
    }
    return res


def cross_validate(
    task: BenchTask,
    name: str,
    data: TaskData,
    *,
    k: int,
    log: Callable[[str], None],
    keep_proba: bool = False,
    fold_seed: int | None = None,
    **training: Any,
) -> dict[str, Any]:
    """The ``cv`` block of one model: its recipe cross-validated over :meth:`BenchTask.cv_pool` (folds
    train on CPU without checkpoints; CV reports point scores, the CIs are the test split's).
    ``keep_proba``: add the out-of-fold probabilities (``"proba"``, see :func:`leanecg.bench.cv.run_cv`).
    ``fold_seed``: the seed of the fold assignment and the inner splits when it differs from the training
    seed (members of a seed ensemble cross-validated on the same folds); default the training seed."""
    from leanecg.bench.cv import inner_split, run_cv
    from leanecg.train.trainer import predict_proba

    hybrid = parse_hybrid_name(name)
    seed = int(training["seed"])
    split_seed = seed if fold_seed is None else int(fold_seed)
    deep = {k: v for k, v in training.items() if k not in ("n_boot", "runtime")}
    classic = name in task.classic_models

    # LightGBM (classic and hybrid rows) always stops on validation data; deep rows when the task does
    early_stops = classic or hybrid is not None or task.train_uses_val
    # inner validation share = the task's own validation share of its training data
    inner_k = max(2, round((len(data.train) + len(data.val)) / max(len(data.val), 1)))

    def fit_predict(train: Any, heldout: Any, fold: int) -> np.ndarray:
        inner_val = None
        if early_stops:  # early stopping on records of the fold's training part, never the held-out fold
            train, inner_val = inner_split(train, inner_k, split_seed + 1000 + fold)
        if classic:
            train = data.training_part(train)
            Xho = _classic_matrix(heldout)
            Xtr, Xva = _classic_matrix(train), _classic_matrix(inner_val)
            return _fit_task_lightgbm(
                task, train, inner_val, Xtr, Xva, seed, refit=task.lightgbm_refit
            ).predict(Xho)
        if hybrid is not None:  # as run_hybrid: the zoo model, its embedding + the task features -> LightGBM
            trained = _train_deep(task, hybrid, data, train=train, val=inner_val, **deep)
            train = data.training_part(train)
            Xtr, Xva, Xho = _hybrid_matrices(trained.model, (train, inner_val, heldout))
            return _fit_task_lightgbm(task, train, inner_val, Xtr, Xva, seed).predict(Xho)
        trained = _train_deep(task, name, data, train=train, val=inner_val, **deep)
        ho = _maybe_without_features(heldout, trained.uses_features)
        return predict_proba(trained.model, ho.X, features=ho.features)

    block = run_cv(
        task.cv_pool(data), k, split_seed, fit_predict, task.scores, log=log, keep_proba=keep_proba
    )
    block["recipe"] = (
        "the row's own recipe in every fold: fixed epoch budget, no early stopping"
        if not early_stops
        else f"the row's own recipe in every fold; early stopping / LightGBM rounds on an inner validation "
        f"part of the fold's training data (1/{inner_k} of its records), never on the held-out fold"
        + (
            " (the zoo model of a hybrid trains on the rest with the task's own recipe)"
            if hybrid is not None and not task.train_uses_val
            else ""
        )
    )
    block["inner_k"] = inner_k if early_stops else None
    log(f"{name}: cv pooled " + ", ".join(f"{m} {v:.3f}" for m, v in list(block["pooled"].items())[:5]))
    return block


def run_deep(
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
    runtime: Any = None,
) -> tuple[dict[str, Any] | None, Any]:
    """Train, evaluate and cost one deep model; returns ``(result fields, trained model)`` (``None`` result
    on ranks other than 0 under ``torch.distributed``)."""
    trained = _train_deep(
        task,
        name,
        data,
        seed=seed,
        tiny=tiny,
        epochs=epochs,
        max_train_seconds=max_train_seconds,
        num_threads=num_threads,
        runtime=runtime,
    )
    if not is_main_process():
        return None, trained.model
    out = evaluate_deep(
        task,
        name,
        data,
        trained.model,
        family=trained.family,
        uses_features=trained.uses_features,
        train_info=trained.result.to_dict(),
        seed=seed,
        n_boot=n_boot,
    )
    return out, trained.model


def evaluate_deep(
    task: BenchTask,
    name: str,
    data: TaskData,
    model: Any,
    *,
    family: str | None,
    uses_features: bool,
    train_info: dict[str, Any],
    seed: int,
    n_boot: int,
) -> dict[str, Any]:
    """The result fields of a trained deep model (one scoring of the test split): test metrics with
    bootstrap CIs, validation / test calibration, cost against the reference model, ``train`` (``train_info``
    plus the model config). Used by :func:`run_deep` and for ensembles of trained models."""
    from leanecg.evaluate.cost import measure_cost
    from leanecg.models.registry import model_config
    from leanecg.train.trainer import predict_proba

    test = _maybe_without_features(data.test, uses_features)
    proba = predict_proba(model, test.X, features=test.features)
    ev = task.evaluate(test, proba, n_boot=n_boot, seed=seed)
    if refitted_on_val(train_info):
        ev["calibration"] = {"error": REFIT_NO_TEMPERATURE}
    else:
        val = _maybe_without_features(data.val, uses_features)
        ev["calibration"] = calibration(task, data, predict_proba(model, val.X, features=val.features), proba)
    extra = {"features": (data.n_features,)} if uses_features else None
    cost = measure_cost(
        model,
        (data.train.n_leads, data.input_samples),
        data.fs,
        reference=_reference_model(task, data),
        reference_name=REFERENCE_MODEL,
        extra_inputs=extra,
    ).to_dict()
    out = _common(task, data, name, family)
    out.update(ev)
    out["cost"] = cost
    out["train"] = {**train_info, "model_config": model_config(model)}
    return out


def _reference_model(task: BenchTask, data: TaskData) -> Any:
    """The latency reference: untrained ``resnet1d`` (width 1, no features) on the task's input."""
    from leanecg.models.registry import build_model

    return build_model(
        REFERENCE_MODEL, n_leads=data.train.n_leads, n_classes=len(task.class_names), n_features=0
    )


def _maybe_without_features(split: Any, uses_features: bool) -> Any:
    from leanecg.train.datasets import ArraySplit

    if uses_features or split.features is None:
        return split
    return ArraySplit(X=split.X, y=split.y, features=None, groups=split.groups, name=split.name)


def _classic_matrix(split: Any) -> np.ndarray:
    """The classic model's design matrix ``(N, n_columns)``: the task features then the flattened input
    window decimated by 3 (fixed-length inputs), or the task features alone (variable-length records, e.g.
    ``cinc2017``: its record-level RR/HRV, morphology and spectral features)."""
    if not isinstance(split.X, np.ndarray):
        if split.features is None:
            raise LeanECGError(
                "models", "a classic model of variable-length records needs the task's record features"
            )
        return np.asarray(split.features, dtype=np.float32)
    X = split.X
    flat = X[:, :, ::3].reshape(len(X), -1)
    parts = [flat] if split.features is None else [split.features, flat]
    return np.concatenate(parts, axis=1).astype(np.float32)


def _fit_task_lightgbm(
    task: BenchTask,
    train: Any,
    val: Any,
    Xtr: np.ndarray,
    Xva: np.ndarray,
    seed: int,
    *,
    refit: bool = False,
) -> Any:
    """:func:`~leanecg.train.hybrid.fit_lightgbm` on ``train``'s labels, early stopping on ``val``'s (the
    task's splits, or a cross-validation fold), with the task's LightGBM recipe
    (:attr:`~leanecg.tasks.base.BenchTask.lightgbm_options`, ``lightgbm_class_weight_power``, the round
    counts); ``refit``: then refitted on ``train`` + ``val`` (:func:`~leanecg.train.hybrid.refit_lightgbm`;
    the classic rows pass the task's ``lightgbm_refit``, the hybrids never refit: their embedding network
    did not train on ``val``)."""
    from leanecg.train.hybrid import fit_lightgbm, refit_lightgbm

    fitted = fit_lightgbm(
        Xtr,
        train.y,
        Xva,
        val.y,
        n_classes=len(task.class_names),
        seed=seed,
        params=task.lightgbm_options,
        class_weight_power=task.lightgbm_class_weight_power,
        num_boost_round=task.lightgbm_num_boost_round,
        early_stopping_rounds=task.lightgbm_early_stopping_rounds,
    )
    if not refit:
        return fitted
    return refit_lightgbm(
        fitted,
        np.concatenate([Xtr, Xva]),
        np.concatenate([np.asarray(train.y), np.asarray(val.y)]),
        n_train=len(Xtr),
        class_weight_power=task.lightgbm_class_weight_power,
    )


def _run_classic(
    task: BenchTask, name: str, data: TaskData, *, seed: int, n_boot: int
) -> tuple[dict[str, Any], Any]:
    """Fit, evaluate and cost a classic (LightGBM) row; returns its result fields and the packageable model.

    When the design matrix is the task's feature table (variable-length records, e.g. ``cinc2017``), the
    booster becomes a tensor model (:func:`~leanecg.models.registry.trees_model`) that is evaluated and
    costed exactly as a network is (:func:`evaluate_deep`: latency next to ResNet-1D in the same run) and
    is returned to be packaged; its predictions equal LightGBM's (float32 sums). Otherwise (the design
    matrix also holds the input window) LightGBM itself is scored and timed, and no model is returned.
    """
    from leanecg.evaluate.timing import time_callable
    from leanecg.models.registry import trees_model
    from leanecg.train.hybrid import booster_bytes, count_tree_nodes

    train = data.training_part(data.train)
    Xtr, Xva, Xte = (_classic_matrix(s) for s in (train, data.val, data.test))
    fitted = _fit_task_lightgbm(task, train, data.val, Xtr, Xva, seed, refit=task.lightgbm_refit)
    train_info = {"config": fitted.config, "seconds": fitted.seconds, "best_iteration": fitted.best_iteration}
    seen = refitted_on_val(train_info)  # the validation split is training data
    notes = [REFIT_NOTE] if seen else []
    if not isinstance(data.train.X, np.ndarray):
        model = trees_model(fitted.booster, n_leads=data.train.n_leads, num_iteration=fitted.best_iteration)
        model.eval()
        out = evaluate_deep(
            task, name, data, model, family="classic", uses_features=True, train_info=train_info, seed=seed,
            n_boot=n_boot,
        )  # fmt: skip
        out["cost"]["notes"] = (
            "params = tree nodes (a split's threshold or a leaf's value); the trees run as tensors "
            "(leanecg.models.trees), timed like a network on the features input; extracting the features "
            "not included"
        )
        out["notes"] = [*out.get("notes", []), *notes]
        return out, model
    proba = fitted.predict(Xte)
    ev = task.evaluate(data.test, proba, n_boot=n_boot, seed=seed)
    ev["calibration"] = (
        {"error": REFIT_NO_TEMPERATURE} if seen else calibration(task, data, fitted.predict(Xva), proba)
    )
    one = Xte[:1]
    stats = time_callable(lambda: fitted.predict(one), repeats=30, warmup=3)
    cost = {
        "params": count_tree_nodes(fitted),
        "macs": None,
        "bytes_fp32": booster_bytes(fitted),
        "bytes_int8": None,
        "latency_ms_median": stats.median * 1e3,
        "latency_ms_p99": stats.p99 * 1e3,
        "real_time_factor": (data.input_samples / data.fs) / stats.median,
        "notes": "params = tree nodes; MACs undefined for trees; latency of one LightGBM predict on one example",
    }
    out = _common(task, data, name, "classic")
    out.update(ev)
    out["notes"] = [*out["notes"], *notes]
    out["cost"] = cost
    out["train"] = train_info
    return out, None


def _hybrid_matrices(model: Any, splits: Sequence[Any]) -> list[np.ndarray]:
    """The LightGBM design matrix of each split for a trained zoo model: its pooled embedding
    (:class:`~leanecg.train.hybrid.EmbeddingNetwork`), then the task features when the split has them."""
    net = EmbeddingNetwork(model)
    return [hybrid_matrix(embed_records(net, s.X), s.features) for s in splits]


def _check_hybrid(name: str) -> None:
    """Raise :class:`LeanECGError` before any training when the hybrid's zoo model has no pooled embedding."""
    from leanecg.models.registry import build_model
    from leanecg.train.hybrid import EmbeddingNetwork

    deep = parse_hybrid_name(name)
    try:
        EmbeddingNetwork(build_model(deep, n_leads=1, n_classes=2))
    except LeanECGError as exc:
        raise LeanECGError("models", f"{name}: {exc.args[-1] if exc.args else exc}") from None


def run_hybrid(
    task: BenchTask,
    name: str,
    data: TaskData,
    *,
    seed: int = 0,
    tiny: bool = False,
    epochs: int | None = None,
    max_train_seconds: float | None = None,
    num_threads: int | None = 1,
    n_boot: int = 1000,
    runtime: Any = None,
) -> tuple[dict[str, Any] | None, Any]:
    """Train, evaluate and cost the hybrid ``<zoo model>+lightgbm``; returns the result fields and the
    hybrid as one model (:func:`~leanecg.models.registry.hybrid_model`, packageable), ``(None, None)`` on
    ranks other than 0 under ``torch.distributed`` (they only train the zoo model together).

    1. The zoo model is trained exactly as its own benchmark row (task config, early stopping on val).
    2. Its pooled embedding (:class:`~leanecg.train.hybrid.EmbeddingNetwork`, ``(N, D)``) is computed for
       train / val / test and the task's handcrafted features ``(N, F)`` are appended when it has them.
    3. LightGBM (:func:`~leanecg.train.hybrid.fit_lightgbm`: class-balanced, early stopping on val) is
       fitted on the train rows; test probabilities go through the task's metrics / CIs.
    4. The hybrid becomes one model (:class:`~leanecg.models.hybrid.Hybrid`: the embedding network, then
       the trees as tensors; the same probabilities to ~1e-6) that is scored and costed as a network is
       (:func:`evaluate_deep`: latency next to the reference in this run); ``params`` = embedding weights +
       tree nodes (``cost.embedding_params``, ``cost.tree_nodes``).

    The result's ``train`` block holds the deep training record plus ``lightgbm``: its rounds, time,
    validation metric and input columns (``embedding_dim + n_features``).
    """
    from leanecg.models.registry import hybrid_model, model_config
    from leanecg.train.hybrid import count_tree_nodes

    deep = parse_hybrid_name(name)
    if deep is None:
        raise LeanECGError("models", f"{name!r} is not a hybrid name (<zoo model>{HYBRID_SUFFIX})")
    if np.asarray(data.train.y).ndim != 1:
        raise LeanECGError("models", f"{name}: hybrids need a single-label task; {task.name} is multilabel")
    _check_hybrid(name)
    trained = _train_deep(
        task,
        deep,
        data,
        seed=seed,
        tiny=tiny,
        epochs=epochs,
        max_train_seconds=max_train_seconds,
        num_threads=num_threads,
        runtime=runtime,
    )
    if not is_main_process():
        return None, None
    train = data.training_part(data.train)
    Xtr, Xva = _hybrid_matrices(trained.model, (train, data.val))
    fitted = _fit_task_lightgbm(task, train, data.val, Xtr, Xva, seed)
    val_metric = task.val_metric(data.val.y, fitted.predict(Xva))
    feats = data.test.features
    n_feat = 0 if feats is None else int(np.asarray(feats).shape[1])
    model = hybrid_model(
        trained.model, fitted.booster, n_features=n_feat, num_iteration=fitted.best_iteration
    )
    deep_train = trained.result.to_dict()
    train_info = {
        **deep_train,
        "config": {**deep_train["config"], "lightgbm": fitted.config},
        "network_config": model_config(trained.model),
        "lightgbm": {
            "best_iteration": fitted.best_iteration,
            "seconds": fitted.seconds,
            "best_val_metric": float(val_metric),
            "columns": int(fitted.booster.num_feature()),
            "embedding_dim": int(Xtr.shape[1]) - n_feat,
            "n_features": n_feat,
            "inputs": "deep embedding (pooled backbone output) + task features"
            if n_feat
            else "deep embedding (pooled backbone output)",
        },
    }
    out = evaluate_deep(
        task, name, data, model.eval(), family="hybrid", uses_features=n_feat > 0, train_info=train_info,
        seed=seed, n_boot=n_boot,
    )  # fmt: skip
    out["cost"].update(
        embedding_params=int(sum(p.numel() for p in model.embedding.parameters())),
        tree_nodes=int(count_tree_nodes(fitted)),
        notes="params = embedding-network weights (head reduced to its pooling) + tree nodes; the hybrid "
        "runs as one model (leanecg.models.hybrid: the embedding network, then the trees as tensors), "
        "costed like a network, latency timed against the reference in the same run",
    )
    return out, model
