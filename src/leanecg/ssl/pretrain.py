"""Contrastive pretraining of a zoo model's encoder, and reuse of the encoder for fine-tuning.

>>> model = build_model("litenet", n_leads=1, n_classes=4)
>>> result = pretrain(model, unlabelled_split, fs=150.0, config=PretrainConfig(method="cmsc"))
>>> save_encoder("runs/cmsc", model, config, result)        # encoder.pt (weights only) + encoder.json
>>> fresh = build_model("litenet", n_leads=1, n_classes=4)
>>> load_encoder(fresh, "runs/cmsc")                         # then leanecg.train.fit(fresh, ...)

The *encoder* is the model's ``backbone`` (everything before the classifier head's pooling); the embedding
is the head's global pooling of it (``model.embed``). During pretraining a two-layer projection head
(Linear -> ReLU -> Linear, as in SimCLR) maps the embedding to the space the loss works in; it is thrown
away afterwards. Methods: ``simclr`` (NT-Xent on two augmented views), ``cmsc``, ``cmlc``, ``cmsmlc``
(CLOCS views with the patient-specific contrastive loss; patient ids come from ``split.groups``, else each
record is its own patient). Optimiser: AdamW with a linear warm-up (5 % of steps) and cosine decay,
stepped per batch; deterministic on CPU for a seed, data and thread count.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from leanecg.atomic import atomic_path, write_json
from leanecg.config import config_from_dict, flag, non_negative, one_of, positive, validate_config
from leanecg.errors import InvalidOptionError, LeanECGError
from leanecg.signal.pipeline import Pipeline
from leanecg.ssl.clocs import CMLCViews, CMSCViews, CMSMLCViews
from leanecg.ssl.losses import nt_xent, patient_contrastive_loss
from leanecg.ssl.simclr import SimCLRViews
from leanecg.tasks.base import load_signals
from leanecg.tasks.cinc2017 import load_cinc2017
from leanecg.tasks.preprocess import task_pipeline
from leanecg.train.datasets import ArraySplit
from leanecg.train.device import amp_settings, autocast, check_device_name, grad_scaler, resolve_device
from leanecg.train.seed import available_cpus, check_seed, numpy_generator, seed_everything

METHODS = ("simclr", "cmsc", "cmlc", "cmsmlc")
ENCODER_FORMAT = "leanecg.encoder/1"
WEIGHTS_FILE = "encoder.pt"
SIDECAR_FILE = "encoder.json"


@dataclass
class PretrainConfig:
    """Everything that defines a pretraining run.

    Attributes:
        method: ``simclr``, ``cmsc``, ``cmlc`` or ``cmsmlc``.
        epochs: passes over the unlabelled records (one view set per record and epoch).
        batch_size: records per step (each gives ``n_views`` views).
        lr: peak AdamW learning rate.
        weight_decay: AdamW decoupled weight decay (weight matrices and kernels only).
        temperature: contrastive temperature ``tau``.
        segment_s: view length in seconds (CMSC / CMSMLC views are two adjacent segments of this length).
        proj_dim: output size of the projection head.
        n_view_leads: leads per instance for ``cmlc`` (views) and ``cmsmlc`` (2 segments x half of them).
        seed: seeds the initial projection head, batch order, crops and augmentation.
        num_threads: torch threads (``None``: all cores this process may use).
        max_train_seconds: wall-clock budget; stops after the step that exceeds it.
        device: ``cpu``, ``cuda`` (``cuda:N``) or ``auto`` (:mod:`leanecg.train.device`).
        amp: mixed precision on CUDA (ignored on the CPU).
    """

    method: str = one_of("simclr", METHODS)
    epochs: int = positive(40, integer=True)
    batch_size: int = positive(64, integer=True)
    lr: float = positive(3e-3)
    weight_decay: float = non_negative(1e-4)
    temperature: float = positive(0.1)
    segment_s: float = positive(5.0)
    proj_dim: int = positive(64, integer=True)
    n_view_leads: int = positive(4, integer=True)
    seed: int = 0
    num_threads: int | None = positive(None, integer=True, optional=True)
    max_train_seconds: float | None = positive(None, optional=True)
    device: str = "cpu"
    amp: bool = flag(False)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, source: str = "PretrainConfig") -> None:
        """Check every field; a wrong one raises ``InvalidOptionError("<source>.<field>", problem)``
        (the ranges are declared on the fields, :mod:`leanecg.config`)."""
        validate_config(self, source)
        if self.batch_size < 2:
            raise InvalidOptionError(
                f"{source}.batch_size", "contrastive learning needs at least 2 records per batch"
            )
        check_seed(self.seed, f"{source}.seed")
        check_device_name(self.device, f"{source}.device")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "PretrainConfig") -> PretrainConfig:
        cfg = config_from_dict(cls, d, source, "pretraining")
        cfg.validate(source)
        return cfg


@dataclass
class PretrainResult:
    """What :func:`pretrain` did: per-epoch ``history`` (``epoch``, ``loss``, ``lr``, ``seconds``), steps,
    seconds, whether the time budget stopped it, the number of records and views per record, and the
    device and mixed precision it ran with."""

    history: list[dict[str, Any]]
    steps: int
    seconds: float
    time_limited: bool
    n_records: int
    n_views: int
    input_leads: int
    num_threads: int
    config: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    amp: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def make_views(method: str, segment_samples: int, fs: float, n_view_leads: int = 4) -> Any:
    """The view generator of ``method`` (see :mod:`leanecg.ssl.simclr`, :mod:`leanecg.ssl.clocs`)."""
    if method == "simclr":
        return SimCLRViews(segment_samples, fs)
    if method == "cmsc":
        return CMSCViews(segment_samples)
    if method == "cmlc":
        return CMLCViews(segment_samples, n_view_leads)
    if method == "cmsmlc":
        return CMSMLCViews(segment_samples, n_view_leads)
    raise LeanECGError("method", f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def encoder_input_leads(method: str, n_data_leads: int) -> int:
    """Leads the encoder takes when pretraining ``method`` on records with ``n_data_leads`` leads."""
    return 1 if method in ("cmlc", "cmsmlc") else int(n_data_leads)


class ProjectionHead(nn.Module):
    """``Linear(dim, dim) -> ReLU -> Linear(dim, out)`` on the pooled embedding."""

    def __init__(self, dim: int, out: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, out))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def _check_encoder_model(model: nn.Module) -> None:
    if not (hasattr(model, "backbone") and hasattr(model, "embed") and hasattr(model, "head")):
        raise LeanECGError(
            "model",
            f"{type(model).__name__} has no backbone/embed(); use a convolutional zoo model such as litenet",
        )


def embedding_dim(model: nn.Module, n_leads: int, n_samples: int) -> int:
    """Size of ``model.embed`` for a ``(1, n_leads, n_samples)`` input."""
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            return int(model.embed(torch.zeros(1, n_leads, n_samples)).shape[1])
    finally:
        model.train(was)


def pretrain(
    model: nn.Module, split: ArraySplit, fs: float, config: PretrainConfig | None = None
) -> PretrainResult:
    """Contrastive pretraining of ``model``'s encoder on the (unlabelled) records of ``split``.

    Args:
        model: a zoo model with ``backbone`` and ``embed`` (e.g. ``build_model("litenet", ...)``) whose
            ``n_leads`` is :func:`encoder_input_leads` of the method (1 for ``cmlc`` / ``cmsmlc``).
        split: records ``(n_leads, n_samples_i)``; labels are ignored; ``groups`` (patient ids), when
            given, make all records of a patient positives of one another (CLOCS methods).
        fs: sampling rate of the records in Hz.
        config: :class:`PretrainConfig`.

    Returns:
        :class:`PretrainResult`; the model's encoder holds the final weights (the model is in eval mode).
    """
    config = PretrainConfig() if config is None else config
    config.validate()
    _check_encoder_model(model)
    if not isinstance(split, ArraySplit):
        raise LeanECGError("split", f"expected an ArraySplit, got {type(split).__name__}")
    if len(split) < 2:
        raise LeanECGError(f"{split.name}.X", "pretraining needs at least 2 records")
    if isinstance(fs, bool) or not isinstance(fs, int | float) or not fs > 0:
        raise LeanECGError("fs", f"must be a positive sampling rate in Hz, got {fs!r}")
    segment = max(8, round(config.segment_s * fs))
    views_fn = make_views(config.method, segment, float(fs), config.n_view_leads)
    in_leads = views_fn.input_leads(split.n_leads)
    if config.method in ("cmlc", "cmsmlc") and split.n_leads < 2:
        raise LeanECGError(
            "method",
            f"{config.method} contrasts different leads of one recording but the data is single-lead; "
            "use simclr or cmsc, or pretrain on multi-lead data (ptbxl)",
        )
    if getattr(model, "n_leads", in_leads) != in_leads:
        raise LeanECGError(
            "model",
            f"{config.method} needs a {in_leads}-lead encoder, the model takes {model.n_leads} lead(s)",
        )
    device = resolve_device(config.device, "PretrainConfig.device")
    amp = amp_settings(device, config.amp)
    n_threads = int(config.num_threads or available_cpus())
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    t0 = time.perf_counter()
    try:
        seed_everything(config.seed)
        model.to(device)
        dim = embedding_dim(model, in_leads, segment)
        proj = ProjectionHead(dim, config.proj_dim).to(device)
        params = [p for p in model.backbone.parameters() if p.requires_grad] + list(proj.parameters())
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        opt = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": config.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=config.lr,
        )
        n = len(split)
        bs = min(config.batch_size, n)
        steps_per_epoch = max(1, n // bs)  # drop the last partial batch: the loss wants full batches
        total = steps_per_epoch * config.epochs
        warm = max(1, round(0.05 * total))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
        )
        rng = numpy_generator(config.seed, 7)
        scaler = grad_scaler(device, amp)
        groups = split.groups
        history: list[dict[str, Any]] = []
        steps, time_limited = 0, False
        model.train()
        proj.train()
        for epoch in range(1, config.epochs + 1):
            t_epoch = time.perf_counter()
            order = rng.permutation(n)
            loss_sum = 0.0
            n_steps = 0
            for s in range(steps_per_epoch):
                idx = np.sort(order[s * bs : (s + 1) * bs])
                views = views_fn(split, idx, rng)  # (B, V, L, T)
                b, v = views.shape[:2]
                x = torch.from_numpy(np.ascontiguousarray(views.reshape(b * v, *views.shape[2:]))).to(device)
                with autocast(device, amp):
                    z = proj(model.embed(x)).reshape(b, v, -1)
                z = z.float()  # the contrastive losses in float32
                if config.method == "simclr":
                    loss = nt_xent(z[:, 0], z[:, 1], config.temperature)
                else:
                    g = idx if groups is None else groups[idx]
                    loss = patient_contrastive_loss(z, g, config.temperature)
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise LeanECGError(
                        "PretrainConfig.lr", f"pretraining diverged (loss {value} at epoch {epoch}); lower lr"
                    )
                opt.zero_grad(set_to_none=True)
                if scaler.is_enabled():
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
                else:
                    loss.backward()
                    opt.step()
                sched.step()
                steps += 1
                n_steps += 1
                loss_sum += value
                if (
                    config.max_train_seconds is not None
                    and time.perf_counter() - t0 > config.max_train_seconds
                ):
                    time_limited = True
                    break
            history.append(
                {
                    "epoch": epoch,
                    "loss": loss_sum / max(n_steps, 1),
                    "lr": float(opt.param_groups[0]["lr"]),
                    "seconds": time.perf_counter() - t_epoch,
                }
            )
            if time_limited:
                break
        model.eval()
    finally:
        torch.set_num_threads(prev_threads)
    return PretrainResult(
        history=history,
        steps=steps,
        seconds=time.perf_counter() - t0,
        time_limited=time_limited,
        n_records=len(split),
        n_views=int(views_fn.n_views),
        input_leads=in_leads,
        num_threads=n_threads,
        config=config.to_dict(),
        device=str(device),
        amp=amp.enabled,
    )


# ------------------------------------------------------------------------------------------ saving


def save_encoder(
    out_dir: str | Path,
    model: nn.Module,
    config: PretrainConfig,
    result: PretrainResult | None = None,
    **meta: Any,
) -> Path:
    """Write ``out_dir/encoder.pt`` (the backbone's ``state_dict``, tensors only) and ``encoder.json``.

    The sidecar holds the format tag, the model's registry config (architecture), the pretraining config
    and result, and ``meta`` (e.g. ``data=``, ``provenance=``). Both files are written atomically, weights
    first. Returns the weights path.
    """
    from leanecg.models.registry import model_config

    _check_encoder_model(model)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise LeanECGError(out, "exists and is not a folder")
    state = {k: v.detach().cpu().clone() for k, v in model.backbone.state_dict().items()}
    weights = out / WEIGHTS_FILE
    with atomic_path(weights) as tmp:
        torch.save(state, tmp)
    sidecar = {
        "format": ENCODER_FORMAT,
        "weights": WEIGHTS_FILE,
        "model_config": model_config(model),
        "pretrain": config.to_dict(),
        "result": None if result is None else result.to_dict(),
        **meta,
    }
    write_json(out / SIDECAR_FILE, sidecar)
    return weights


def read_encoder_sidecar(path: str | Path) -> tuple[dict[str, Any], Path]:
    """``(sidecar dict, weights path)`` for an encoder folder (or its ``encoder.json`` / ``encoder.pt``)."""
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    side = folder / SIDECAR_FILE
    if not side.is_file():
        raise LeanECGError(
            folder, f"no {SIDECAR_FILE} here; not a LeanECG encoder folder (see leanecg pretrain)"
        )
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LeanECGError(side, f"not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != ENCODER_FORMAT:
        raise LeanECGError(side, f"not a LeanECG encoder sidecar (format must be {ENCODER_FORMAT!r})")
    weights = folder / str(meta.get("weights", WEIGHTS_FILE))
    if not weights.is_file():
        raise LeanECGError(weights, "encoder weights file not found")
    return meta, weights


def load_encoder(model: nn.Module, path: str | Path) -> dict[str, Any]:
    """Load pretrained encoder weights into ``model.backbone`` (weights-only ``torch.load``); returns the sidecar.

    The model must have the encoder's architecture (registry name, leads, width, depth and options); the
    classifier head is left as built.
    """
    from leanecg.models.registry import model_config

    _check_encoder_model(model)
    meta, weights = read_encoder_sidecar(path)
    want = dict(meta.get("model_config") or {})
    have = model_config(model)
    for key in ("name", "n_leads", "width", "depth", "options"):
        if want.get(key) != have.get(key):
            raise LeanECGError(
                weights,
                f"encoder was pretrained for {key}={want.get(key)!r} but the model has {key}={have.get(key)!r}",
            )
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise LeanECGError(weights, f"cannot read encoder weights ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict):
        raise LeanECGError(weights, "not a state_dict")
    try:
        model.backbone.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise LeanECGError(weights, f"weights do not fit the model: {str(exc).splitlines()[0]}") from None
    return meta


class FrozenEncoder(nn.Module):
    """Linear-probe wrapper: the encoder's parameters are frozen and it stays in eval mode (batch-norm
    statistics too) even while :func:`leanecg.train.fit` trains the head.

    ``FrozenEncoder(model)(x)`` gives the model's logits; only ``model.head`` is trainable.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        _check_encoder_model(model)
        self.model = model
        for p in model.backbone.parameters():
            p.requires_grad_(False)
        self.n_leads = getattr(model, "n_leads", None)

    def train(self, mode: bool = True) -> FrozenEncoder:
        super().train(mode)
        self.model.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.embed(x)


# ------------------------------------------------------------------------------------------ data

PRETRAIN_DATASETS = ("cinc2017", "ptbxl")


def load_unlabelled(
    dataset: str, root: str | Path, *, tiny: bool = False, progress: Any = None
) -> tuple[ArraySplit, float, dict[str, Any]]:
    """The training split of ``dataset`` without labels, preprocessed like the ``cinc2017`` bench task.

    Preprocessing (cached on disk): band-pass 0.5-40 Hz, resample to 150 Hz, z-score per lead (as the
    label studies of :mod:`leanecg.bench.labels`). Only the
    *training* split is used (never validation or test records), so a model pretrained here can be
    fine-tuned and tested on the same task without leakage.

    Args:
        dataset: ``cinc2017`` (single lead, record ids as patients: the data has no patient ids) or
            ``ptbxl`` (12 leads, ``strat_fold`` 1-8, patient ids from the database).
        root: the data root holding the dataset folder.
        tiny: a few records (smoke runs).

    Returns:
        ``(split with y=None, fs in Hz, info dict)``.
    """

    if dataset == "cinc2017":
        data = load_cinc2017(Path(root), tiny=tiny, progress=progress)
        split = ArraySplit(X=data.train.X, y=None, groups=None, name="unlabelled")
        info = {
            "dataset": "cinc2017",
            "split": "train split of the cinc2017 bench task (labels dropped)",
            "n_records": len(split),
            "patients": "unknown (each record is its own patient)",
            "pipeline": data.pipeline.to_dict(),
            "tiny": tiny,
        }
        return split, data.fs, info
    if dataset == "ptbxl":
        from leanecg.data import get_dataset

        ds = get_dataset("ptbxl")
        records = ds.split(Path(root))["train"]
        if tiny:
            records = records[:24]
        if len(records) < 2:
            raise LeanECGError(Path(root) / "ptbxl", "fewer than 2 PTB-XL training records on disk")
        paths = ds.record_paths(Path(root), records)
        patients = ds.patients(Path(root))
        pipeline = _pipeline_150()
        X = load_signals([paths[r] for r in records], pipeline, progress, "ptbxl train")
        groups = np.array([patients[r] for r in records])
        split = ArraySplit(X=X, y=None, groups=groups, name="unlabelled")
        info = {
            "dataset": "ptbxl",
            "split": "strat_fold 1-8 (train), labels dropped",
            "n_records": len(split),
            "n_patients": len(set(groups.tolist())),
            "pipeline": pipeline.to_dict(),
            "tiny": tiny,
        }
        return split, 150.0, info
    raise LeanECGError(
        "dataset", f"unknown pretraining dataset {dataset!r}; choose one of {', '.join(PRETRAIN_DATASETS)}"
    )


def _pipeline_150() -> Pipeline:
    return task_pipeline(150.0)


def pretrain_encoder(
    method: str,
    dataset: str,
    data_dir: str | Path | None,
    out_dir: str | Path,
    *,
    model_name: str = "litenet",
    width: float = 1.0,
    epochs: int = 20,
    batch_size: int = 64,
    seed: int = 0,
    num_threads: int | None = 1,
    max_train_seconds: float | None = None,
    tiny: bool = False,
    progress: Any = None,
    device: str = "cpu",
    amp: bool = False,
) -> dict[str, Any]:
    """What ``leanecg pretrain`` does: load the unlabelled training records, pretrain, save the encoder.

    ``data_dir``: the folder holding the dataset (``None``: ``$LEANECG_DATA``, else the user cache); it is
    resolved after the arguments are checked, so a wrong method is reported even without data.
    Returns the sidecar written to ``out_dir/encoder.json`` (with data description and provenance).
    """
    from leanecg.data import resolve_data_dir
    from leanecg.models.registry import build_model
    from leanecg.provenance import collect_provenance

    if method not in METHODS:
        raise LeanECGError("method", f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if dataset not in PRETRAIN_DATASETS:
        raise LeanECGError(
            "dataset",
            f"unknown pretraining dataset {dataset!r}; choose one of {', '.join(PRETRAIN_DATASETS)}",
        )
    if dataset == "cinc2017" and method in ("cmlc", "cmsmlc"):
        raise LeanECGError(
            "method",
            f"{method} contrasts different leads of one recording but cinc2017 is single-lead; "
            "use simclr or cmsc, or `dataset` ptbxl",
        )
    config = PretrainConfig(
        method=method,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        num_threads=num_threads,
        max_train_seconds=max_train_seconds,
        device=device,
        amp=amp,
    )
    resolve_device(device, "device")  # CUDA without a GPU: refused before the data is loaded
    split, fs, info = load_unlabelled(dataset, resolve_data_dir(data_dir), tiny=tiny, progress=progress)
    seed_everything(seed)
    model = build_model(
        model_name, n_leads=encoder_input_leads(method, split.n_leads), n_classes=2, width=width
    )
    _check_encoder_model(model)
    result = pretrain(model, split, fs, config)
    prov = collect_provenance(seed=seed, config=config, device=result.device, world_size=1)
    save_encoder(out_dir, model, config, result, data={**info, "fs": fs}, provenance=prov)
    return json.loads((Path(out_dir) / SIDECAR_FILE).read_text(encoding="utf-8"))
