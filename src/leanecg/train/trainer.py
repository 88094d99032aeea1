"""One trainer for every deep model: :func:`fit` and :func:`predict_proba`.

A model is any ``torch.nn.Module`` that maps ``(batch, n_leads, n_samples)`` float32 to logits
``(batch, n_classes)`` (and, when the data has features, accepts ``features=(batch, n_features)``).
Data come in :class:`~leanecg.train.datasets.ArraySplit` containers (channel-first records, see
:mod:`leanecg.train.datasets` for cropping, padding and augmentation).

Training is AdamW (weight decay on weight matrices and kernels only, never on biases or normalisation
parameters) with a per-step learning-rate schedule, optional gradient clipping, validation after every
epoch, early stopping on a validation metric, and a wall-clock budget. The weights of the best epoch are
restored into the model at the end. On CPU, the same seed, data, thread count and library versions give
bit-identical weights (seed the model's initialisation too: :func:`leanecg.train.seed.seed_everything`).

Scale-out (see ``docs/scaling.md``): ``config.device`` (``cpu``, ``cuda``, ``auto``) and ``config.amp``
(mixed precision on CUDA, :mod:`leanecg.train.device`); inside a ``torch.distributed`` process group
(``torchrun``, :mod:`leanecg.train.distributed`) the model is wrapped in ``DistributedDataParallel`` and
each process trains on its share of every global batch; ``checkpoint_dir`` / ``resume`` write a training
state every epoch and continue from the last complete one with the same final weights.

This module holds :func:`fit` and its set-up; the pieces live in sibling modules whose public names it
re-exports: :mod:`~leanecg.train.train_config` (:class:`TrainConfig`), :mod:`~leanecg.train.epoch` (one
training epoch, validation), :mod:`~leanecg.train.inference` (:func:`predict_proba`) and
:mod:`~leanecg.train.train_state` (what a resumable training state holds).
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn

from leanecg.errors import LeanECGError
from leanecg.train.averaging import WeightAverage, recompute_batch_norm
from leanecg.train.checkpoint import STATE_POINTER, load_train_state, save_train_state
from leanecg.train.convex import fit_logistic
from leanecg.train.datasets import (
    ArraySplit,
    Augment,
    gather_windows,
    is_record_store,
    make_indexed_loader,
    make_train_loader,
    set_loader_epoch,
)
from leanecg.train.device import amp_settings, grad_scaler, resolve_device
from leanecg.train.distributed import (
    all_gather_object,
    any_rank,
    broadcast_object,
    is_distributed,
    rank_and_world,
)
from leanecg.train.epoch import BatchLoss, MetricFn, past_budget, train_epoch, validation_scores
from leanecg.train.inference import forward, predict_proba
from leanecg.train.losses import make_loss
from leanecg.train.seed import available_cpus, seed_everything
from leanecg.train.train_config import OPTIMIZERS, SCHEDULES, TrainConfig
from leanecg.train.train_state import (
    callable_rngs,
    copy_state,
    loader_state,
    rng_state,
    run_fingerprint,
    set_callable_rngs,
    set_loader_state,
    set_rng_state,
)

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "BatchLoss",
    "MetricFn",
    "TrainConfig",
    "TrainResult",
    "fit",
    "predict_proba",
]


@dataclass
class TrainResult:
    """What :func:`fit` did.

    Attributes:
        history: one dict per epoch: ``epoch`` (1-based), ``train_loss``, ``val_loss``, ``val_metric``
            (``None`` without validation / metric), ``lr`` (of the epoch's last step), ``seconds``,
            ``steps`` and ``partial`` (the time budget cut the epoch short).
        best_epoch: 1-based epoch whose weights were restored (the last one without validation).
        best_val_metric, best_val_loss: validation scores of that epoch (``None`` when not computed).
        stopped_early: early stopping ended training.
        time_limited: ``max_train_seconds`` ended training.
        stop_reason: ``"completed"``, ``"early_stopping"``, ``"time_limit"`` or ``"callback"``.
        seconds: wall-clock time of the whole call.
        epochs_run, steps: epochs started and optimizer steps taken.
        n_classes: model outputs; multilabel: sigmoid (True) or softmax (False) outputs.
        num_threads, device: what training ran on.
        config: the :class:`TrainConfig` as a dict.
        amp, amp_dtype: whether mixed precision ran and in which dtype (``None`` without).
        world_size: processes that trained together (``torch.distributed``; 1 without).
        resumed_from_epoch: the checkpointed epoch this call continued from (``None``: started afresh).
        averaged_epochs: how many end-of-epoch weights were averaged into the result
            (``config.average_epochs``; fewer when the time budget ended training early; 0: none).
    """

    history: list[dict[str, Any]]
    best_epoch: int
    best_val_metric: float | None
    best_val_loss: float | None
    stopped_early: bool
    time_limited: bool
    stop_reason: str
    seconds: float
    epochs_run: int
    steps: int
    n_classes: int
    multilabel: bool
    num_threads: int
    device: str
    config: dict[str, Any] = field(default_factory=dict)
    amp: bool = False
    amp_dtype: str | None = None
    world_size: int = 1
    resumed_from_epoch: int | None = None
    averaged_epochs: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (the ``train`` block of a result document)."""
        return dataclasses.asdict(self)


def fit(
    model: nn.Module,
    train: ArraySplit,
    val: ArraySplit | None = None,
    config: TrainConfig | None = None,
    metric_fn: MetricFn | None = None,
    augment: Augment | None = None,
    progress: bool = True,
    on_epoch: Callable[[dict[str, Any]], bool | None] | None = None,
    batch_loss: BatchLoss | None = None,
    *,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
) -> TrainResult:
    """Train ``model`` on ``train``, validating on ``val`` after every epoch; restore the best weights.

    Args:
        model: ``(batch, n_leads, n_samples) -> (batch, n_classes)`` logits (``features=`` keyword when the
            splits carry features). Its initial weights are used as they are.
        train: labelled training records (class indices -> softmax model, multi-hot -> sigmoid model).
        val: validation records (same leads, label kind and features) or ``None`` (then the last epoch is
            kept and early stopping is off).
        config: hyper-parameters (default :class:`TrainConfig()`).
        metric_fn: ``metric_fn(y_true, proba) -> float``, higher is better, on the validation split
            (``y_true`` as in ``val.y``, ``proba`` ``(N, n_classes)``); selects the best epoch and drives
            early stopping. ``None``: the validation loss does (lower is better). A NaN metric never counts
            as an improvement.
        augment: ``aug(x, rng) -> x`` on training batches (see :mod:`leanecg.train.datasets`).
        progress: show a transient rich progress bar on stderr (only when stderr is a terminal).
        on_epoch: called with each epoch's history dict; returning ``True`` stops training.
        batch_loss: optional training loss of one batch, ``batch_loss(model, batch, criterion) -> loss``
            (a scalar tensor), replacing the default ``criterion(model(batch["x"]), batch["y"])``;
            ``batch`` holds the tensors of :class:`~leanecg.train.datasets.TrainBatches` on the training
            device (``"x"``, ``"y"``, ``"index"``, ``"features"`` when present) and ``criterion`` is the
            loss of ``config.loss``. Used by knowledge distillation (:mod:`leanecg.compress.distill`) to
            add a teacher term; validation and model selection are unchanged (``criterion`` and
            ``metric_fn`` on the model's outputs). Under ``torch.distributed`` it receives the
            ``DistributedDataParallel`` wrapper: call ``model(...)`` for gradients to be synchronised.
            A ``torch.Generator`` / numpy ``Generator`` it holds (attribute or closure) is checkpointed.
        checkpoint_dir: write a resumable training state after every epoch (model, optimiser, scheduler,
            loss scaler, sampler and crop streams, RNG states, history, best weights;
            :func:`leanecg.train.checkpoint.save_train_state`); only rank 0 writes.
        resume: continue from the last complete state in ``checkpoint_dir`` -- a run killed mid-epoch
            repeats that epoch and ends with the weights of an uninterrupted run (same seed, thread count and
            library versions). Without a state yet (e.g. the first attempt under ``torchrun
            --max-restarts``) training starts afresh; a state of another run (config, data sizes or the
            model's tensors differ) is refused. A finished run (completed, stopped early, time limit or
            callback) is not trained further: its best weights are restored. ``max_train_seconds`` counts
            from this call.

    Distributed (inside an initialised ``torch.distributed`` process group, e.g. under ``torchrun``):
    ``DistributedDataParallel`` with a ``DistributedSampler``; ``config.batch_size`` is the *global* batch
    (each of the ``world_size`` processes takes ``batch_size / world_size`` records per step); validation
    predictions are all-gathered and scored once on rank 0, which decides best epoch and early stopping for
    all. With the same global batch, one process and N processes take the same steps (equal up to
    floating-point rounding) for models without batch statistics or dropout and unweighted mean
    losses; batch norm normalises each process's share. Records are drawn by ``(seed, epoch, record)``
    (:func:`~leanecg.train.datasets.make_indexed_loader`), as with ``config.num_workers > 0``.

    Returns:
        A :class:`TrainResult`. The model holds the best epoch's weights, is in eval mode, and has
        ``model.multilabel`` set (read by :func:`predict_proba`).
    """
    t_start = time.perf_counter()
    config = TrainConfig() if config is None else config
    if not isinstance(config, TrainConfig):
        raise LeanECGError("config", f"expected a TrainConfig, got {type(config).__name__}")
    config.validate()
    _check_splits(train, val)
    if getattr(model, "convex", False):
        return _fit_convex(model, train, val, config, metric_fn, augment, on_epoch, batch_loss, t_start)
    if resume and checkpoint_dir is None:
        raise LeanECGError("resume", "needs checkpoint_dir (the folder the interrupted run wrote)")
    if config.average_epochs and val is not None:
        raise LeanECGError(
            "TrainConfig.average_epochs",
            "needs training without validation (val=None): with validation the best epoch is kept",
        )
    multilabel = train.multilabel
    device = resolve_device(config.device, "TrainConfig.device")
    amp = amp_settings(device, config.amp)
    if amp.note:
        warnings.warn(amp.note, RuntimeWarning, stacklevel=2)
    rank, world = rank_and_world()
    distributed = is_distributed()
    if config.batch_size % world:
        raise LeanECGError(
            "TrainConfig.batch_size",
            f"the global batch ({config.batch_size}) must be a multiple of the number of processes ({world})",
        )
    n_threads = int(config.num_threads or available_cpus())
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    resumed_from: int | None = None
    try:
        seed_everything(config.seed)
        model.to(device)
        n_classes = _probe_model(model, train, device)
        _check_labels(train, n_classes, multilabel)
        if val is not None:
            _check_labels(val, n_classes, multilabel)
        criterion = make_loss(
            config.loss,
            y_train=train.y,  # type: ignore[arg-type]
            n_classes=n_classes,
            class_weights=config.class_weights,
            label_smoothing=config.label_smoothing,
            gamma=config.gamma,
            focal_alpha=config.focal_alpha,
            gamma_pos=config.gamma_pos,
            gamma_neg=config.gamma_neg,
            asl_clip=config.asl_clip,
        ).to(device)
        indexed = distributed or config.num_workers > 0 or is_record_store(train.X)
        balanced = config.sampling == "balanced"
        if balanced and (indexed or multilabel):
            raise LeanECGError(
                "TrainConfig.sampling",
                "'balanced' needs class-index labels and the single-process loader (num_workers 0, no "
                "torch.distributed, records in memory)",
            )
        if indexed:  # per-record randomness: the same batches for any number of workers / processes
            loader = make_indexed_loader(
                train,
                config.batch_size // world,
                seed=config.seed,
                crop_samples=config.crop_samples,
                augment=augment,
                rank=rank,
                world_size=world,
                num_workers=config.num_workers,
                pin_memory=device.type == "cuda",
            )
        else:  # the historical single-process streams (bit-identical to earlier versions)
            loader = make_train_loader(
                train,
                config.batch_size,
                seed=config.seed,
                crop_samples=config.crop_samples,
                augment=augment,
                balanced=balanced,
            )
        steps_per_epoch = len(loader)
        net = _wrap_ddp(model, device) if distributed else model
        optimizer = torch.optim.AdamW(_param_groups(model, config.weight_decay), lr=config.lr)
        scheduler = _make_schedule(optimizer, config.schedule, config.lr, config.epochs * steps_per_epoch)
        scaler = grad_scaler(device, amp)

        history: list[dict[str, Any]] = []
        best: dict[str, Any] = {"score": -math.inf, "epoch": 0, "metric": None, "loss": None, "state": None}
        stop_reason = "completed"
        average = WeightAverage() if config.average_epochs else None
        steps = 0
        stale = 0
        start_epoch = 1
        fingerprint = run_fingerprint(config, train, val, model, indexed)
        loaded = None
        if resume and checkpoint_dir is not None and rank == 0:
            loaded = load_train_state(checkpoint_dir)
        if resume and distributed:  # rank 0 wrote it: the other ranks (other machines) get its copy
            loaded = broadcast_object(loaded)
        if loaded is not None:
            state, meta = loaded
            if meta.get("fingerprint") != fingerprint:
                raise LeanECGError(
                    Path(checkpoint_dir) / STATE_POINTER,  # type: ignore[arg-type]
                    "holds the state of another run (training config, data sizes or model differ); "
                    "use another checkpoint folder or delete this one",
                )
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            if scheduler is not None:
                scheduler.load_state_dict(state["scheduler"])
            scaler.load_state_dict(state["scaler"])
            history, steps, stale = list(state["history"]), int(state["steps"]), int(state["stale"])
            best = dict(state["best"])
            best["score"] = -math.inf if best["score"] is None else float(best["score"])
            stop_reason = str(state["stop_reason"])
            rngs = state["rng"]
            set_rng_state(rngs[rank] if len(rngs) == world else rngs[0], device)
            set_loader_state(loader, state["loader"])
            set_callable_rngs(batch_loss, state["batch_loss_rng"])
            if average is not None:
                average.load_state(state["average"])
            resumed_from = int(state["epoch"])
            start_epoch = config.epochs + 1 if state["finished"] else resumed_from + 1

        def save_state(epoch: int, finished: bool) -> None:
            rngs = all_gather_object(rng_state(device))
            if checkpoint_dir is None or rank != 0:
                return
            state = {
                "epoch": epoch,
                "finished": finished,
                "stop_reason": stop_reason,
                "model": copy_state(model, cpu=True),
                "optimizer": optimizer.state_dict(),
                "scheduler": None if scheduler is None else scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "history": history,
                "best": {**best, "score": None if not math.isfinite(best["score"]) else best["score"]},
                "steps": steps,
                "stale": stale,
                "rng": rngs,
                "loader": loader_state(loader),
                "batch_loss_rng": callable_rngs(batch_loss),
                "average": None if average is None else average.state(),
            }
            meta = {"epoch": epoch, "finished": finished, "world_size": world, "fingerprint": fingerprint}
            save_train_state(checkpoint_dir, state, meta)

        with _progress_bar(progress and rank == 0) as bar:
            epoch_task = bar.add_task("epochs", total=config.epochs, completed=start_epoch - 1, loss="")
            batch_task = bar.add_task("batches", total=steps_per_epoch, loss="")
            for epoch in range(start_epoch, config.epochs + 1):
                t_epoch = time.perf_counter()
                set_loader_epoch(loader, epoch)
                bar.reset(batch_task, total=steps_per_epoch)
                train_loss, n_steps, lr_used, out_of_time = train_epoch(
                    net,
                    loader,
                    criterion,
                    optimizer,
                    scheduler,
                    config,
                    device,
                    train,
                    epoch,
                    t_start,
                    steps,
                    on_step=lambda loss: bar.update(batch_task, advance=1, loss=f"loss {loss:.4f}"),
                    batch_loss=batch_loss,
                    amp=amp,
                    scaler=scaler,
                    params=model.parameters,
                )
                steps += n_steps
                record: dict[str, Any] = {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "val_loss": None,
                    "val_metric": None,
                    "lr": lr_used,
                    "seconds": 0.0,
                    "steps": n_steps,
                    "partial": out_of_time and n_steps < steps_per_epoch,
                }
                if val is not None:
                    record["val_loss"], record["val_metric"] = validation_scores(
                        model, val, criterion, config, metric_fn, device, multilabel
                    )
                    # higher is better: the metric, or minus the validation loss
                    score = record["val_metric"] if metric_fn is not None else -record["val_loss"]
                    improved = score is not None and math.isfinite(score) and score > best["score"]
                else:  # no validation: the last epoch is the result (or the last epochs' mean)
                    improved = False
                    best.update(epoch=epoch)
                    if average is not None and epoch > config.epochs - config.average_epochs:
                        average.add(model)
                if improved:
                    best.update(
                        score=score,
                        epoch=epoch,
                        metric=record["val_metric"],
                        loss=record["val_loss"],
                        state=copy_state(model),
                    )
                    stale = 0
                else:
                    stale += 1
                record["seconds"] = time.perf_counter() - t_epoch
                history.append(record)
                bar.update(epoch_task, advance=1, loss=_epoch_summary(record))
                stop = None
                if on_epoch is not None and any_rank(on_epoch(dict(record)) is True):
                    stop = "callback"
                elif out_of_time or any_rank(past_budget(t_start, config.max_train_seconds)):
                    stop = "time_limit"
                elif (
                    val is not None
                    and config.early_stopping_patience
                    and stale >= config.early_stopping_patience
                ):
                    stop = "early_stopping"
                if stop is not None:
                    stop_reason = stop
                if checkpoint_dir is not None:
                    save_state(epoch, finished=stop is not None or epoch == config.epochs)
                if stop is not None:
                    break
        if average is not None and average.count:
            average.load_into(model)
            plain = make_train_loader(
                train, config.batch_size, seed=config.seed, crop_samples=config.crop_samples
            )
            recompute_batch_norm(model, plain, device)
        if best["state"] is not None:
            model.load_state_dict(best["state"])
        elif val is not None:  # validation never gave a finite score: keep the last weights
            best.update(
                epoch=history[-1]["epoch"], metric=history[-1]["val_metric"], loss=history[-1]["val_loss"]
            )
        model.eval()
        _set_multilabel(model, multilabel)
    finally:
        torch.set_num_threads(prev_threads)
    return TrainResult(
        history=history,
        best_epoch=int(best["epoch"]),
        best_val_metric=best["metric"],
        best_val_loss=best["loss"],
        stopped_early=stop_reason == "early_stopping",
        time_limited=stop_reason == "time_limit",
        stop_reason=stop_reason,
        seconds=time.perf_counter() - t_start,
        epochs_run=len(history),
        steps=steps,
        n_classes=n_classes,
        multilabel=multilabel,
        num_threads=n_threads,
        device=str(device),
        config=config.to_dict(),
        amp=amp.enabled,
        amp_dtype=amp.dtype_name,
        world_size=world,
        resumed_from_epoch=resumed_from,
        averaged_epochs=0 if average is None else average.count,
    )


# ---------------------------------------------------------------------------------------------- helpers


def _fit_convex(
    model: nn.Module,
    train: ArraySplit,
    val: ArraySplit | None,
    config: TrainConfig,
    metric_fn: MetricFn | None,
    augment: Augment | None,
    on_epoch: Callable[[dict[str, Any]], bool | None] | None,
    batch_loss: BatchLoss | None,
    t_start: float,
) -> TrainResult:
    """:func:`fit` of a model with ``convex = True`` (the zoo's logistic regression): solved to convergence by
    :func:`leanecg.train.convex.fit_logistic` in one pass; signal augmentations do not reach it (it reads
    only the features), a batch loss (augmented features, distillation) has no batches to act on."""
    del augment  # acts on the signal, which the model does not read
    if batch_loss is not None:
        raise LeanECGError(
            "batch_loss",
            "a logistic regression is solved in one pass over the features, without batches: no batch loss",
        )
    if is_distributed():
        raise LeanECGError("model", "a logistic regression is fitted on one process, not under torchrun")
    n_classes = int(model.fc.out_features)
    for split in (train, val):
        if split is not None and not split.multilabel:  # multi-hot labels: fit_logistic refuses them
            _check_labels(split, n_classes, multilabel=False)
    n_threads = int(config.num_threads or available_cpus())
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        seed_everything(config.seed)
        res = fit_logistic(model, train, val, config, metric_fn)
    finally:
        torch.set_num_threads(prev_threads)
    model.multilabel = False
    if on_epoch is not None:
        on_epoch(dict(res.history_row))
    return TrainResult(
        history=[res.history_row],
        best_epoch=1,
        best_val_metric=res.history_row["val_metric"],
        best_val_loss=res.history_row["val_loss"],
        stopped_early=False,
        time_limited=False,
        stop_reason="completed",
        seconds=time.perf_counter() - t_start,
        epochs_run=1,
        steps=res.steps,
        n_classes=n_classes,
        multilabel=False,
        num_threads=n_threads,
        device="cpu",
        config={**config.to_dict(), "solver": res.solver, "converged": res.converged},
    )


def _check_splits(train: ArraySplit, val: ArraySplit | None) -> None:
    if not isinstance(train, ArraySplit):
        raise LeanECGError("train", f"expected an ArraySplit, got {type(train).__name__}")
    if train.y is None:
        raise LeanECGError(f"{train.name}.y", "training needs labels")
    if len(train) < 2:
        raise LeanECGError(f"{train.name}.X", "training needs at least 2 records")
    if val is None:
        return
    if not isinstance(val, ArraySplit):
        raise LeanECGError("val", f"expected an ArraySplit or None, got {type(val).__name__}")
    if val.y is None:
        raise LeanECGError(f"{val.name}.y", "validation needs labels")
    if val.multilabel != train.multilabel:
        kinds = {True: "multi-hot", False: "class indices"}
        raise LeanECGError(
            f"{val.name}.y",
            f"labels are {kinds[val.multilabel]} but training labels are {kinds[train.multilabel]}",
        )
    if val.n_leads != train.n_leads:
        raise LeanECGError(f"{val.name}.X", f"has {val.n_leads} leads, training data has {train.n_leads}")
    if val.n_features != train.n_features:
        raise LeanECGError(
            f"{val.name}.features", f"has {val.n_features} features, training data has {train.n_features}"
        )


def _check_labels(split: ArraySplit, n_classes: int, multilabel: bool) -> None:
    y = split.y
    assert y is not None
    if multilabel and y.shape[1] != n_classes:
        raise LeanECGError(
            f"{split.name}.y", f"has {y.shape[1]} label columns but the model outputs {n_classes}"
        )
    if not multilabel and int(y.max()) >= n_classes:
        raise LeanECGError(
            f"{split.name}.y",
            f"holds class index {int(y.max())} but the model outputs only {n_classes} classes",
        )


def _probe_model(model: nn.Module, split: ArraySplit, device: torch.device) -> int:
    """Run two records through ``model`` (eval mode, no grad) to check shapes; returns ``n_classes``."""
    idx = np.arange(min(2, len(split)))
    length = int(split.lengths[idx].min())
    x = torch.from_numpy(gather_windows(split.X, idx, np.zeros_like(idx), length)).to(device)
    feats = None if split.features is None else torch.from_numpy(split.features[idx]).to(device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = forward(model, x, feats)
    except LeanECGError:  # the model's own input check: already names what is wrong
        raise
    except (RuntimeError, TypeError, ValueError) as exc:
        raise LeanECGError(
            "model",
            f"failed on a ({len(idx)}, {split.n_leads}, {length}) input"
            f"{'' if feats is None else ' with features'}: {type(exc).__name__}: {exc}",
        ) from exc
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != len(idx):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise LeanECGError("model", f"must return logits (batch, n_classes), returned {shape}")
    return int(out.shape[1])


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise LeanECGError("model", "has no trainable parameters")
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def _make_schedule(
    optimizer: torch.optim.Optimizer, name: str, lr: float, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    if name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=[lr] * len(optimizer.param_groups), total_steps=max(total_steps, 2)
        )
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1), eta_min=0.0)
    return None


def _wrap_ddp(model: nn.Module, device: torch.device) -> nn.Module:
    """``DistributedDataParallel(model)`` (on this process's GPU for CUDA, ``device_ids=None`` on the CPU)."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" and device.index is not None else None
    return DistributedDataParallel(model, device_ids=ids)


def _set_multilabel(model: nn.Module, multilabel: bool) -> None:
    try:
        model.multilabel = multilabel
    except AttributeError:  # a read-only property of the model itself
        pass


def _epoch_summary(record: Mapping[str, Any]) -> str:
    parts = [f"loss {record['train_loss']:.4f}"]
    if record["val_loss"] is not None:
        parts.append(f"val {record['val_loss']:.4f}")
    if record["val_metric"] is not None:
        parts.append(f"metric {record['val_metric']:.4f}")
    return " ".join(parts)


def _progress_bar(enabled: bool) -> Progress:
    console = Console(stderr=True)
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[loss]}"),
        console=console,
        transient=True,
        disable=not (enabled and console.is_terminal),
    )
