"""One training epoch and one validation pass of :func:`leanecg.train.trainer.fit`.

:func:`train_epoch` runs the optimiser over the training loader (mixed precision, gradient clipping, the
time budget, a diverged loss reported with its cause); :func:`validation_scores` gives the validation
loss and metric (under ``torch.distributed`` the predictions of all processes are scored on rank 0).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from leanecg.errors import LeanECGError
from leanecg.train.datasets import ArraySplit
from leanecg.train.device import AmpSettings, autocast
from leanecg.train.distributed import (
    all_gather_object,
    all_reduce_sum,
    any_rank,
    broadcast_object,
    is_distributed,
    rank_and_world,
)
from leanecg.train.inference import forward, infer
from leanecg.train.train_config import TrainConfig

__all__ = ["BatchLoss", "MetricFn", "past_budget", "train_epoch", "validation_scores"]

MetricFn = Callable[[np.ndarray, np.ndarray], float]
#: ``batch_loss(model, batch, criterion) -> scalar loss`` (see :func:`fit`).
BatchLoss = Callable[[nn.Module, dict[str, torch.Tensor], nn.Module], torch.Tensor]


def train_epoch(
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
                loss = criterion(forward(model, x, feats), y)
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
        if config.max_train_seconds is not None and any_rank(past_budget(t_start, config.max_train_seconds)):
            out_of_time = True
            break
    if is_distributed():
        loss_sum, n_seen_all = all_reduce_sum([loss_sum, n_seen])
        n_seen = int(n_seen_all)
    return loss_sum / max(n_seen, 1), n_steps, lr_used, out_of_time


def past_budget(t_start: float, budget: float | None) -> bool:
    """Whether more than ``budget`` seconds have passed since ``t_start`` (never with no budget)."""
    return budget is not None and time.perf_counter() - t_start > budget


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


def validation_scores(
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
        proba, logits = infer(
            model, val, config.batch_size, config.eval_window, config.eval_hop, multilabel, 0.0
        )
        return _score_val(val, proba, logits, criterion, metric_fn, device)
    idx = np.arange(rank, len(val), world)
    part: tuple[np.ndarray, np.ndarray] | None = None
    if len(idx):
        part = infer(
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
