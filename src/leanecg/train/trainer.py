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
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import random
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn

from leanecg.config import config_from_dict, flag, in_range, non_negative, one_of, positive, validate_config
from leanecg.errors import InvalidOptionError, LeanECGError, check_number, check_positive
from leanecg.signal.batching import inference_batches
from leanecg.train.checkpoint import STATE_POINTER, load_train_state, save_train_state
from leanecg.train.datasets import (
    ArraySplit,
    Augment,
    gather_windows,
    is_record_store,
    make_indexed_loader,
    make_train_loader,
    set_loader_epoch,
)
from leanecg.train.device import AmpSettings, amp_settings, autocast, grad_scaler, resolve_device
from leanecg.train.distributed import (
    all_gather_object,
    all_reduce_sum,
    any_rank,
    broadcast_object,
    is_distributed,
    rank_and_world,
)
from leanecg.train.losses import LOSSES, MULTILABEL_LOSSES, make_loss
from leanecg.train.seed import available_cpus, check_seed, seed_everything

SCHEDULES = ("onecycle", "cosine", "constant")
OPTIMIZERS = ("adamw",)
MetricFn = Callable[[np.ndarray, np.ndarray], float]
#: ``batch_loss(model, batch, criterion) -> scalar loss`` (see :func:`fit`).
BatchLoss = Callable[[nn.Module, dict[str, torch.Tensor], nn.Module], torch.Tensor]


@dataclass
class TrainConfig:
    """Everything that defines a training run; JSON round trip via :meth:`to_dict` / :meth:`from_dict`.

    Attributes:
        epochs: passes over the training data.
        batch_size: records per step.
        lr: peak learning rate (``onecycle``), start rate (``cosine``) or the rate (``constant``).
        weight_decay: AdamW decoupled weight decay (applied to parameters with >= 2 dimensions).
        optimizer: ``"adamw"`` (the only one; kept so configs stay explicit).
        schedule: ``"onecycle"`` (warm-up 30 % then cosine decay), ``"cosine"`` (cosine decay to 0) or
            ``"constant"``; stepped every batch.
        loss: ``"ce"``, ``"weighted_ce"``, ``"focal"``, ``"bce"`` or ``"asymmetric"``
            (:mod:`leanecg.train.losses`); ``bce`` / ``asymmetric`` need multi-hot labels.
        gamma: focal-loss focusing parameter.
        focal_alpha: sigmoid focal loss's weight of positives (``None``: no alpha; multi-label only).
        gamma_pos, gamma_neg, asl_clip: asymmetric-loss parameters (Ridnik et al. 2021).
        class_weights: ``"balanced"`` (from the training labels), a list of one weight per class, or ``None``.
        label_smoothing: in ``[0, 1)``.
        early_stopping_patience: stop after this many epochs without improvement of the validation
            metric (``metric_fn``; the validation loss when there is none); ``None`` = never.
        max_train_seconds: wall-clock budget for the whole :func:`fit` call; when exceeded training stops
            after the current step (the partial epoch is still validated) and the result says so.
        crop_samples: training window length in samples (random position per record and epoch);
            ``None`` = full-length records.
        eval_window, eval_hop: validation inference in sliding windows (see :func:`predict_proba`);
            ``None`` = full-length records.
        num_threads: ``torch.set_num_threads`` during training (restored afterwards); ``None`` = all
            cores this process may use.
        seed: seeds shuffling, crops, augmentation and dropout.
        grad_clip: maximum global gradient norm (``None`` = no clipping).
        device: ``"cpu"``, ``"cuda"`` (``"cuda:N"``) or ``"auto"`` (CUDA when torch sees a GPU, else the
            CPU); see :mod:`leanecg.train.device`.
        amp: automatic mixed precision on CUDA (bfloat16 where supported, else float16 with loss
            scaling); ignored on the CPU (the result records ``amp: false``).
        num_workers: ``DataLoader`` worker processes that cut training batches. ``0`` (default) cuts them
            in the training process with the historical random streams (bit-identical to earlier
            versions); ``> 0``, lazily read records (:class:`leanecg.data.shards.ShardedRecords`) and
            ``torch.distributed`` runs draw crops and augmentations per record from ``(seed, epoch,
            record)`` instead, so the batches do not depend on workers or processes.
    """

    epochs: int = positive(30, integer=True)
    batch_size: int = positive(64, integer=True)
    lr: float = positive(1e-3)
    weight_decay: float = non_negative(1e-2)
    optimizer: str = one_of("adamw", OPTIMIZERS)
    schedule: str = one_of("onecycle", SCHEDULES)
    loss: str = one_of("ce", LOSSES)
    gamma: float = non_negative(2.0)
    focal_alpha: float | None = in_range(None, 0, 1, low_open=True, high_open=True, optional=True)
    gamma_pos: float = non_negative(0.0)
    gamma_neg: float = non_negative(4.0)
    asl_clip: float = in_range(0.05, 0, 1, high_open=True)
    class_weights: str | list[float] | None = None
    label_smoothing: float = in_range(0.0, 0, 1, high_open=True)
    early_stopping_patience: int | None = positive(None, integer=True, optional=True)
    max_train_seconds: float | None = positive(None, optional=True)
    crop_samples: int | None = positive(None, integer=True, optional=True)
    eval_window: int | None = positive(None, integer=True, optional=True)
    eval_hop: int | None = positive(None, integer=True, optional=True)
    num_threads: int | None = positive(None, integer=True, optional=True)
    seed: int = 0
    grad_clip: float | None = positive(None, optional=True)
    device: str = "cpu"
    amp: bool = flag(False)
    num_workers: int = non_negative(0, integer=True)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, source: str = "TrainConfig") -> None:
        """Check every field; a wrong one raises ``InvalidOptionError("<source>.<field>", problem)``.

        The per-field ranges are declared on the fields (:mod:`leanecg.config`); the checks here are
        the ones that span fields or need more than a range.
        """

        def bad(name: str, problem: str) -> InvalidOptionError:
            return InvalidOptionError(f"{source}.{name}", problem)

        validate_config(self, source)
        if self.eval_hop is not None and self.eval_window is None:
            raise bad("eval_hop", "needs eval_window")
        cw = self.class_weights
        if isinstance(cw, str):
            if cw != "balanced":
                raise bad("class_weights", f"must be 'balanced', a list of numbers or null, got {cw!r}")
        elif cw is not None:
            if not isinstance(cw, list | tuple) or not cw or not all(_is_number(w) and w >= 0 for w in cw):
                raise bad("class_weights", "must be 'balanced', a list of numbers >= 0 or null")
            self.class_weights = [float(w) for w in cw]
        check_seed(self.seed, f"{source}.seed")
        if not isinstance(self.device, str):
            raise bad("device", f"must be a torch device name such as 'cpu' or 'cuda', got {self.device!r}")
        if self.device != "auto":
            try:
                torch.device(self.device)
            except (RuntimeError, ValueError):
                raise bad("device", f"is not a torch device name: {self.device!r}") from None

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-able dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "TrainConfig") -> TrainConfig:
        """Build from a dict (e.g. parsed JSON); unknown keys and bad values raise :class:`LeanECGError`."""
        cfg = config_from_dict(cls, d, source, "training")
        if isinstance(cfg.class_weights, tuple):
            cfg.class_weights = list(cfg.class_weights)
        cfg.validate(source)
        return cfg

    @property
    def multilabel_loss(self) -> bool:
        """True for losses that need multi-hot labels (``bce``, ``asymmetric``)."""
        return self.loss in MULTILABEL_LOSSES


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


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
    if resume and checkpoint_dir is None:
        raise LeanECGError("resume", "needs checkpoint_dir (the folder the interrupted run wrote)")
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
                train, config.batch_size, seed=config.seed, crop_samples=config.crop_samples, augment=augment
            )
        steps_per_epoch = len(loader)
        net = _wrap_ddp(model, device) if distributed else model
        optimizer = torch.optim.AdamW(_param_groups(model, config.weight_decay), lr=config.lr)
        scheduler = _make_schedule(optimizer, config.schedule, config.lr, config.epochs * steps_per_epoch)
        scaler = grad_scaler(device, amp)

        history: list[dict[str, Any]] = []
        best: dict[str, Any] = {"score": -math.inf, "epoch": 0, "metric": None, "loss": None, "state": None}
        stop_reason = "completed"
        steps = 0
        stale = 0
        start_epoch = 1
        fingerprint = _run_fingerprint(config, train, val, model, indexed)
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
            _set_rng_state(rngs[rank] if len(rngs) == world else rngs[0], device)
            _set_loader_state(loader, state["loader"])
            _set_callable_rngs(batch_loss, state["batch_loss_rng"])
            resumed_from = int(state["epoch"])
            start_epoch = config.epochs + 1 if state["finished"] else resumed_from + 1

        def save_state(epoch: int, finished: bool) -> None:
            rngs = all_gather_object(_rng_state(device))
            if checkpoint_dir is None or rank != 0:
                return
            state = {
                "epoch": epoch,
                "finished": finished,
                "stop_reason": stop_reason,
                "model": _copy_state(model, cpu=True),
                "optimizer": optimizer.state_dict(),
                "scheduler": None if scheduler is None else scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "history": history,
                "best": {**best, "score": None if not math.isfinite(best["score"]) else best["score"]},
                "steps": steps,
                "stale": stale,
                "rng": rngs,
                "loader": _loader_state(loader),
                "batch_loss_rng": _callable_rngs(batch_loss),
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
                train_loss, n_steps, lr_used, out_of_time = _train_epoch(
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
                    record["val_loss"], record["val_metric"] = _validate(
                        model, val, criterion, config, metric_fn, device, multilabel
                    )
                    # higher is better: the metric, or minus the validation loss
                    score = record["val_metric"] if metric_fn is not None else -record["val_loss"]
                    improved = score is not None and math.isfinite(score) and score > best["score"]
                else:  # no validation: the last epoch is the result
                    improved = False
                    best.update(epoch=epoch)
                if improved:
                    best.update(
                        score=score,
                        epoch=epoch,
                        metric=record["val_metric"],
                        loss=record["val_loss"],
                        state=_copy_state(model),
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
                elif out_of_time or any_rank(_out_of_time(t_start, config.max_train_seconds)):
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
    )


def predict_proba(
    model: nn.Module,
    X: list[np.ndarray] | np.ndarray | ArraySplit,
    features: np.ndarray | None = None,
    batch_size: int = 64,
    window: int | None = None,
    hop: int | None = None,
    *,
    multilabel: bool | None = None,
    pad_fraction: float = 0.0,
) -> np.ndarray:
    """Class probabilities for records ``X``: float64 ``(N, n_classes)``, rows in the order of ``X``.

    Args:
        model: a trained model (run in eval mode under ``torch.inference_mode``; its mode is restored).
        X: records ``(n_leads, n_samples_i)`` (list or stacked array, as in ``ArraySplit.X``) or an
            :class:`ArraySplit` (its features are used unless ``features`` is given).
        features: optional float32 ``(N, n_features)``.
        batch_size: records (full-length) or windows (sliding) per forward pass.
        window: ``None``: each record is classified whole; records are sorted by length and batched with
            records of the same length (see ``pad_fraction``). An int: the record is cut into windows of
            ``window`` samples every ``hop`` samples (default ``hop = window``; the last window ends at the
            record's end; a shorter record is zero-padded to one window) and the record's probabilities
            are the mean of its windows' probabilities.
        hop: window step in samples.
        multilabel: sigmoid (True) or softmax (False); ``None``: ``model.multilabel`` (set by :func:`fit`),
            else softmax.
        pad_fraction: full-length mode: let a batch mix records whose lengths differ by up to this
            fraction of the longest, zero-padding the shorter ones on the right (faster, but padding can
            change a prediction slightly). The default 0 batches equal lengths only.

    Deterministic: the batching depends only on the record lengths and the arguments.
    """
    if isinstance(X, ArraySplit):
        split = X if features is None else ArraySplit(X.X, None, features, name="X")
    else:
        split = ArraySplit(X, None, features, name="X")
    if multilabel is None:
        multilabel = bool(getattr(model, "multilabel", False))
    proba, _ = _infer(model, split, batch_size, window, hop, multilabel, pad_fraction)
    return proba


# ---------------------------------------------------------------------------------------------- helpers


def _train_epoch(
    model: nn.Module,
    loader: Iterable[dict[str, torch.Tensor]],
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    config: TrainConfig,
    device: torch.device,
    train: ArraySplit,
    epoch: int,
    t_start: float,
    steps_before: int,
    on_step: Callable[[float], Any],
    batch_loss: BatchLoss | None = None,
    amp: AmpSettings | None = None,
    scaler: torch.amp.GradScaler | None = None,
    params: Callable[[], Iterable[nn.Parameter]] | None = None,
) -> tuple[float, int, float, bool]:
    """One pass over ``loader``: ``(mean training loss, steps, last step's lr, time budget exceeded)``.

    Stops after the step that exceeds ``config.max_train_seconds`` (counted from ``t_start``; under
    ``torch.distributed`` all processes stop after the same step). ``model`` may be the DDP wrapper;
    ``params`` gives the parameters to clip (default ``model.parameters``). The mean loss is over every
    process's records.
    """
    amp = amp if amp is not None else AmpSettings(False)
    scaled = scaler is not None and scaler.is_enabled()
    params = params if params is not None else model.parameters
    model.train()
    loss_sum, n_seen, n_steps, lr_used = 0.0, 0, 0, float(optimizer.param_groups[0]["lr"])
    out_of_time = False
    for batch in loader:
        x = batch["x"].to(device, non_blocking=True)
        y = batch["y"].to(device, non_blocking=True)
        feats = batch["features"].to(device, non_blocking=True) if "features" in batch else None
        with autocast(device, amp):
            if batch_loss is None:
                loss = criterion(_forward(model, x, feats), y)
            else:
                on_device = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                loss = batch_loss(model, on_device, criterion)
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            _raise_diverged(train, batch, epoch, steps_before + n_steps + 1, loss_value)
        optimizer.zero_grad(set_to_none=True)
        if scaled:
            assert scaler is not None
            scaler.scale(loss).backward()
            if config.grad_clip is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(params(), config.grad_clip)
            lr_used = float(optimizer.param_groups[0]["lr"])
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            if config.grad_clip is not None:
                nn.utils.clip_grad_norm_(params(), config.grad_clip)
            lr_used = float(optimizer.param_groups[0]["lr"])
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
        n_steps += 1
        loss_sum += loss_value * len(x)
        n_seen += len(x)
        on_step(loss_sum / n_seen)
        if config.max_train_seconds is not None and any_rank(_out_of_time(t_start, config.max_train_seconds)):
            out_of_time = True
            break
    if is_distributed():
        loss_sum, n_seen_all = all_reduce_sum([loss_sum, n_seen])
        n_seen = int(n_seen_all)
    return loss_sum / max(n_seen, 1), n_steps, lr_used, out_of_time


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


def _forward(model: nn.Module, x: torch.Tensor, feats: torch.Tensor | None) -> torch.Tensor:
    return model(x) if feats is None else model(x, features=feats)


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
            out = _forward(model, x, feats)
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


def _out_of_time(t_start: float, budget: float | None) -> bool:
    return budget is not None and time.perf_counter() - t_start > budget


def _copy_state(model: nn.Module, cpu: bool = False) -> dict[str, Any]:
    return {
        k: (v.detach().cpu().clone() if cpu else v.detach().clone()) if isinstance(v, torch.Tensor) else v
        for k, v in model.state_dict().items()
    }


def _wrap_ddp(model: nn.Module, device: torch.device) -> nn.Module:
    """``DistributedDataParallel(model)`` (on this process's GPU for CUDA, ``device_ids=None`` on the CPU)."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" and device.index is not None else None
    return DistributedDataParallel(model, device_ids=ids)


def _run_fingerprint(
    config: TrainConfig, train: ArraySplit, val: ArraySplit | None, model: nn.Module, indexed: bool
) -> str:
    """SHA-256 of what must not change between a run and its resumption (not the thread count, device,
    time budget or number of processes)."""
    cfg = {
        k: v
        for k, v in config.to_dict().items()
        if k not in ("num_threads", "device", "max_train_seconds", "num_workers")
    }
    doc = {
        "config": cfg,
        "indexed_sampling": indexed,
        "train": [len(train), train.n_leads, int(train.lengths.sum()), train.n_features],
        "val": None if val is None else [len(val), val.n_leads, int(val.lengths.sum())],
        "tensors": {k: list(v.shape) for k, v in model.state_dict().items() if isinstance(v, torch.Tensor)},
    }
    text = json.dumps(doc, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _rng_state(device: torch.device) -> dict[str, Any]:
    """This process's global RNG states (torch CPU and CUDA, numpy's legacy global RNG, Python's)."""
    np_state = np.random.get_state()  # noqa: NPY002 - the legacy global RNG other code may draw from
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": random.getstate(),
    }


def _set_rng_state(state: Mapping[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"], device)
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))  # noqa: NPY002
    random.setstate(_as_tuple(state["python"]))


def _as_tuple(v: Any) -> Any:
    return tuple(_as_tuple(x) for x in v) if isinstance(v, list | tuple) else v


def _loader_state(loader: Any) -> dict[str, Any]:
    """The shuffling and crop streams of a :func:`make_train_loader` loader (the indexed loader has none:
    its draws are functions of the epoch)."""
    ds = loader.dataset
    if getattr(ds, "record_seed", None) is not None:
        return {}
    return {"sampler": loader.sampler.sampler.generator.get_state(), "crops": ds.rng.bit_generator.state}


def _set_loader_state(loader: Any, state: Mapping[str, Any]) -> None:
    if not state:
        return
    loader.sampler.sampler.generator.set_state(state["sampler"])
    loader.dataset.rng.bit_generator.state = dict(state["crops"])


def _callable_rngs(fn: Any) -> list[Any]:
    """States of the ``torch.Generator`` / numpy ``Generator`` objects ``fn`` holds (attributes, closure)."""
    return [_generator_state(g) for g in _callable_generators(fn)]


def _set_callable_rngs(fn: Any, states: list[Any]) -> None:
    gens = _callable_generators(fn)
    if len(gens) != len(states):
        return
    for g, st in zip(gens, states, strict=True):
        if isinstance(g, torch.Generator):
            g.set_state(st)
        else:
            g.bit_generator.state = dict(st)


def _callable_generators(fn: Any) -> list[Any]:
    if fn is None:
        return []
    kinds = (torch.Generator, np.random.Generator)
    found = [c.cell_contents for c in (getattr(fn, "__closure__", None) or ()) if _cell_is(c, kinds)]
    found += (
        [v for _, v in sorted(vars(fn).items()) if isinstance(v, kinds)] if hasattr(fn, "__dict__") else []
    )
    return found


def _cell_is(cell: Any, kinds: tuple[type, ...]) -> bool:
    try:
        return isinstance(cell.cell_contents, kinds)
    except ValueError:  # an empty cell
        return False


def _generator_state(g: Any) -> Any:
    return g.get_state() if isinstance(g, torch.Generator) else g.bit_generator.state


def _set_multilabel(model: nn.Module, multilabel: bool) -> None:
    try:
        model.multilabel = multilabel
    except AttributeError:  # a read-only property of the model itself
        pass


def _raise_diverged(
    train: ArraySplit, batch: Mapping[str, torch.Tensor], epoch: int, step: int, loss: float
) -> None:
    bad = ~torch.isfinite(batch["x"]).flatten(1).all(dim=1)
    if bad.any():
        rec = int(batch["index"][bad][0])
        raise LeanECGError(f"{train.name}.X", f"record {rec} contains NaN or infinite values")
    raise LeanECGError(
        "TrainConfig.lr",
        f"training diverged (loss {loss} at epoch {epoch}, step {step}); lower lr or set grad_clip",
    )


def _validate(
    model: nn.Module,
    val: ArraySplit,
    criterion: nn.Module,
    config: TrainConfig,
    metric_fn: MetricFn | None,
    device: torch.device,
    multilabel: bool,
) -> tuple[float, float | None]:
    """Validation loss and metric. Under ``torch.distributed`` each process predicts every
    ``world_size``-th record; rank 0 scores the gathered predictions and sends the scores to all."""
    rank, world = rank_and_world()
    if world == 1:
        proba, logits = _infer(
            model, val, config.batch_size, config.eval_window, config.eval_hop, multilabel, 0.0
        )
        return _score_val(val, proba, logits, criterion, metric_fn, device)
    idx = np.arange(rank, len(val), world)
    part: tuple[np.ndarray, np.ndarray] | None = None
    if len(idx):
        part = _infer(
            model, val.subset(idx), config.batch_size, config.eval_window, config.eval_hop, multilabel, 0.0
        )
    gathered = all_gather_object((idx, part))
    scores: tuple[float, float | None] | None = None
    if rank == 0:
        n_classes = next(p[0].shape[1] for _, p in gathered if p is not None)
        proba = np.zeros((len(val), n_classes), dtype=np.float64)
        logits = np.zeros((len(val), n_classes), dtype=np.float32)
        for i, p in gathered:
            if p is not None:
                proba[i], logits[i] = p
        scores = _score_val(val, proba, logits, criterion, metric_fn, device)
    return broadcast_object(scores)


def _score_val(
    val: ArraySplit,
    proba: np.ndarray,
    logits: np.ndarray,
    criterion: nn.Module,
    metric_fn: MetricFn | None,
    device: torch.device,
) -> tuple[float, float | None]:
    if not np.isfinite(proba).all():
        raise LeanECGError(
            f"{val.name}.X", "the model's predictions are NaN or infinite (NaN in the records?)"
        )
    with torch.no_grad():
        target = torch.from_numpy(val.y).to(device)  # type: ignore[arg-type]
        val_loss = float(criterion(torch.from_numpy(logits).to(device), target))
    metric = None
    if metric_fn is not None:
        metric = float(metric_fn(val.y, proba))  # type: ignore[arg-type]
        metric = metric if math.isfinite(metric) else None
    return val_loss, metric


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def _infer(
    model: nn.Module,
    split: ArraySplit,
    batch_size: int,
    window: int | None,
    hop: int | None,
    multilabel: bool,
    pad_fraction: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities float64 ``(N, C)`` and matching logits float32 ``(N, C)``.

    Full-length mode returns the model's logits; window mode returns the logits of the averaged
    probabilities (``log p`` for softmax, ``logit p`` for sigmoid), so a loss can be computed on them.
    """
    check_positive("batch_size", batch_size, integer=True)
    check_number("window", window, low=1, integer=True, optional=True)
    if hop is not None and window is None:
        raise InvalidOptionError("hop", "needs window")
    check_number("hop", hop, low=1, integer=True, optional=True)
    check_number("pad_fraction", pad_fraction, low=0, high=1, high_open=True)
    device = _model_device(model)
    n = len(split)
    logits_out: np.ndarray | None = None
    proba_sum: np.ndarray | None = None
    counts = np.zeros(n, dtype=np.int64)
    was_training = model.training
    if was_training:  # switching modes walks every submodule: skip it for models already in eval mode
        model.eval()
    try:
        with torch.inference_mode():
            for recs, starts, length in inference_batches(
                split.lengths, batch_size, window, hop, pad_fraction
            ):
                x = torch.from_numpy(gather_windows(split.X, recs, starts, length)).to(device)
                feats = None if split.features is None else torch.from_numpy(split.features[recs]).to(device)
                out = _forward(model, x, feats)
                if out.ndim != 2 or out.shape[0] != len(recs):
                    raise LeanECGError(
                        "model", f"must return logits (batch, n_classes), returned {tuple(out.shape)}"
                    )
                lg = out.detach().float().cpu().numpy()
                if logits_out is None:
                    logits_out = np.zeros((n, lg.shape[1]), dtype=np.float32)
                    proba_sum = np.zeros((n, lg.shape[1]), dtype=np.float64)
                if window is None:
                    logits_out[recs] = lg
                else:
                    np.add.at(proba_sum, recs, _activate(lg.astype(np.float64), multilabel))
                    np.add.at(counts, recs, 1)
    finally:
        if was_training:
            model.train()
    assert logits_out is not None and proba_sum is not None
    if window is None:
        return _activate(logits_out.astype(np.float64), multilabel), logits_out
    proba = proba_sum / counts[:, None]
    if multilabel:
        p = np.clip(proba, 1e-7, 1 - 1e-7)
        logits = np.log(p) - np.log1p(-p)
    else:
        logits = np.log(np.clip(proba, 1e-12, None))
    return proba, logits.astype(np.float32)


def _activate(logits: np.ndarray, multilabel: bool) -> np.ndarray:
    """Sigmoid (multi-label) or softmax over classes, in float64."""
    if multilabel:
        return 0.5 * (1.0 + np.tanh(0.5 * logits))  # sigmoid without overflow
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


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
