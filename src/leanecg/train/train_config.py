"""The settings of a training run: :class:`TrainConfig` (used by :func:`leanecg.train.trainer.fit`).

Per-field ranges are declared on the fields (:mod:`leanecg.config`); :meth:`TrainConfig.validate` adds the
checks that span fields. JSON round trip via :meth:`TrainConfig.to_dict` / :meth:`TrainConfig.from_dict`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from leanecg.config import config_from_dict, flag, in_range, non_negative, one_of, positive, validate_config
from leanecg.errors import InvalidOptionError
from leanecg.train.losses import LOSSES, MULTILABEL_LOSSES
from leanecg.train.seed import check_seed

__all__ = ["OPTIMIZERS", "SAMPLINGS", "SCHEDULES", "TrainConfig"]

SCHEDULES = ("onecycle", "cosine", "constant")
SAMPLINGS = ("shuffle", "balanced")
OPTIMIZERS = ("adamw",)


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
        average_epochs: weight averaging (:mod:`leanecg.train.averaging`): the weights kept are the mean of
            the weights at the end of the last ``average_epochs`` epochs, with batch-norm statistics
            recomputed on the training data; ``0`` (default): off. Training without validation only (with
            validation the best epoch is kept); at most ``epochs``. A convex model's fit (``linear``) has one
            solution and ignores it.
        sampling: ``"shuffle"`` (default: every record once per epoch, in a seeded order) or ``"balanced"``
            (each epoch draws as many records with replacement, every class equally likely; class-index
            labels and the single-process loader, ``num_workers`` 0, only; usually with ``class_weights``
            ``None``, since the batches are already balanced).
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
    average_epochs: int = non_negative(0, integer=True)
    sampling: str = one_of("shuffle", SAMPLINGS)

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
        if self.average_epochs > self.epochs:
            raise bad("average_epochs", f"must be at most epochs ({self.epochs}), got {self.average_epochs}")
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
