"""Few-shot rhythm classification: a prototypical network (Snell et al. 2017) on ECG records.

An embedding network (a zoo model's encoder + global pooling, ``model.embed``) is trained *episodically*
on base classes: each episode draws ``n_way`` base classes, ``k_shot`` support and ``n_query`` query
records per class (a random crop of each), embeds them, takes each class's mean support embedding as its
prototype and classifies the queries by a softmax over negative squared Euclidean distances to the
prototypes. At test time a class never seen in training gets a prototype from its ``k`` support
examples, and queries are classified against all prototypes (novel and base): no retraining, so a new
rhythm class is "learned" from k = 1, 5 or 10 examples.

Shapes: records are channel-first ``(n_leads, n_samples)`` in :class:`~leanecg.train.datasets.ArraySplit`;
embeddings are float64 ``(N, D)``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from leanecg.config import non_negative, positive, validate_config
from leanecg.errors import InvalidOptionError, LeanECGError
from leanecg.signal.batching import inference_batches
from leanecg.train.datasets import ArraySplit, gather_windows, random_crop_starts
from leanecg.train.device import amp_settings, autocast, check_device_name, grad_scaler, resolve_device
from leanecg.train.seed import available_cpus, check_seed, numpy_generator, seed_everything


@dataclass
class EpisodeConfig:
    """Episodic training settings.

    Attributes:
        episodes: training episodes (optimizer steps).
        n_way: classes per episode (at most the number of base classes).
        k_shot: support records per class.
        n_query: query records per class.
        crop_samples: crop length in samples (random position per record and episode).
        lr: AdamW learning rate (cosine decay to 0 over the episodes).
        weight_decay: AdamW weight decay (weight matrices and kernels).
        seed: seeds the episodes, crops and the model's dropout.
        num_threads: torch threads (``None``: all cores this process may use).
        device: ``cpu``, ``cuda`` (``cuda:N``) or ``auto`` (:mod:`leanecg.train.device`); the model is
            returned on the CPU.
        amp: mixed precision on CUDA (ignored on the CPU).
    """

    episodes: int = positive(600, integer=True)
    n_way: int = positive(3, integer=True)
    k_shot: int = positive(5, integer=True)
    n_query: int = positive(10, integer=True)
    crop_samples: int = positive(1500, integer=True)
    lr: float = positive(1e-3)
    weight_decay: float = non_negative(1e-4)
    seed: int = 0
    num_threads: int | None = None
    device: str = "cpu"
    amp: bool = False

    def validate(self) -> None:
        """Raise :class:`InvalidOptionError` naming ``EpisodeConfig.<field>`` for a wrong field (the
        ranges are declared on the fields, :mod:`leanecg.config`)."""
        validate_config(self)
        if self.n_way < 2:
            raise InvalidOptionError(
                "EpisodeConfig.n_way", f"an episode needs at least 2 classes, got {self.n_way}"
            )
        check_seed(self.seed, "EpisodeConfig.seed")
        check_device_name(self.device, "EpisodeConfig.device")


def prototypical_logits(
    support: torch.Tensor, support_y: torch.Tensor, query: torch.Tensor, n_way: int
) -> torch.Tensor:
    """Logits ``(Q, n_way)`` = minus squared Euclidean distance of each query to each class prototype.

    Args:
        support: ``(S, D)`` embeddings; ``support_y``: ``(S,)`` episode class indices ``0..n_way-1``
            (every class present); query: ``(Q, D)``.
    """
    protos = torch.stack([support[support_y == c].mean(dim=0) for c in range(n_way)])
    return -torch.cdist(query, protos).pow(2)


def train_prototypical(
    model: nn.Module, split: ArraySplit, classes: Sequence[int], config: EpisodeConfig | None = None
) -> list[dict[str, float]]:
    """Episodic training of ``model.embed`` on the records of ``split`` whose label is in ``classes``.

    Returns:
        History: one dict per 50 episodes (``episode``, ``loss``, ``accuracy`` on the episodes' queries,
        ``seconds``). The model ends in eval mode.
    """
    config = EpisodeConfig() if config is None else config
    config.validate()
    if not hasattr(model, "embed"):
        raise LeanECGError("model", f"{type(model).__name__} has no embed(); use a zoo model such as litenet")
    if split.y is None or split.y.ndim != 1:
        raise LeanECGError(f"{split.name}.y", "episodic training needs single-label class indices")
    pools = {int(c): np.flatnonzero(split.y == c) for c in classes}
    need = config.k_shot + config.n_query
    usable = [c for c, p in pools.items() if p.size >= need]
    if len(usable) < 2:
        raise LeanECGError(
            f"{split.name}.y", f"fewer than 2 classes have {need} records (k_shot + n_query) for episodes"
        )
    n_way = min(config.n_way, len(usable))
    device = resolve_device(config.device, "EpisodeConfig.device")
    amp = amp_settings(device, config.amp)
    n_threads = int(config.num_threads or available_cpus())
    prev = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    t0 = time.perf_counter()
    history: list[dict[str, float]] = []
    try:
        seed_everything(config.seed)
        rng = numpy_generator(config.seed, 11)
        model.to(device)
        scaler = grad_scaler(device, amp)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(
            [
                {"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
                {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
            ],
            lr=config.lr,
        )
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.episodes)
        model.train()
        loss_sum = acc_sum = 0.0
        for ep in range(1, config.episodes + 1):
            chosen = rng.choice(usable, size=n_way, replace=False)
            idx = np.concatenate([rng.choice(pools[int(c)], size=need, replace=False) for c in chosen])
            starts = random_crop_starts(split.lengths[idx], config.crop_samples, rng)
            x = torch.from_numpy(gather_windows(split.X, idx, starts, config.crop_samples)).to(device)
            with autocast(device, amp):
                emb = model.embed(x)
            emb = emb.float().reshape(n_way, need, -1)  # distances in float32
            sup = emb[:, : config.k_shot].reshape(n_way * config.k_shot, -1)
            qry = emb[:, config.k_shot :].reshape(n_way * config.n_query, -1)
            sy = torch.arange(n_way, device=device).repeat_interleave(config.k_shot)
            qy = torch.arange(n_way, device=device).repeat_interleave(config.n_query)
            logits = prototypical_logits(sup, sy, qry, n_way)
            loss = F.cross_entropy(logits, qy)
            if not math.isfinite(float(loss.detach())):
                raise LeanECGError(
                    "EpisodeConfig.lr", f"episodic training diverged at episode {ep}; lower lr"
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
            loss_sum += float(loss.detach())
            acc_sum += float((logits.argmax(dim=1) == qy).float().mean())
            if ep % 50 == 0 or ep == config.episodes:
                n = 50 if ep % 50 == 0 else ep % 50
                history.append(
                    {
                        "episode": ep,
                        "loss": loss_sum / n,
                        "accuracy": acc_sum / n,
                        "seconds": time.perf_counter() - t0,
                    }
                )
                loss_sum = acc_sum = 0.0
        model.eval()
    finally:
        torch.set_num_threads(prev)
        if device.type != "cpu":
            model.cpu()  # embeddings and evaluation run on the CPU
    return history


def embed_records(
    model: nn.Module,
    X: list[np.ndarray] | np.ndarray | ArraySplit,
    batch_size: int = 64,
    window: int | None = None,
) -> np.ndarray:
    """float64 ``(N, D)`` embeddings (``model.embed``) of whole records, in the order of ``X``.

    ``window=None`` embeds each record whole (batched with records of the same length); an int averages
    the embeddings of consecutive non-overlapping windows of that many samples.
    """
    split = X if isinstance(X, ArraySplit) else ArraySplit(X, None, name="X")
    if not hasattr(model, "embed"):
        raise LeanECGError("model", f"{type(model).__name__} has no embed()")
    n = len(split)
    out: np.ndarray | None = None
    counts = np.zeros(n)
    was = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for recs, starts, length in inference_batches(split.lengths, batch_size, window, window):
                e = (
                    model.embed(torch.from_numpy(gather_windows(split.X, recs, starts, length)))
                    .double()
                    .numpy()
                )
                if out is None:
                    out = np.zeros((n, e.shape[1]))
                np.add.at(out, recs, e)
                np.add.at(counts, recs, 1)
    finally:
        model.train(was)
    assert out is not None
    return out / counts[:, None]


@dataclass
class EpisodeScores:
    """k-shot evaluation over many random episodes (accuracies in [0, 1]; CI: normal 95 % of the mean)."""

    k_shot: int
    n_episodes: int
    n_way: int
    n_query: int
    accuracy_mean: float
    accuracy_ci95: float
    novel_recall_mean: float
    novel_recall_ci95: float
    novel_f1_mean: float
    novel_f1_ci95: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_episodes(
    support_emb: np.ndarray,
    support_y: np.ndarray,
    query_emb: np.ndarray,
    query_y: np.ndarray,
    classes: Sequence[int],
    novel: int,
    k_shot: int,
    n_query: int = 10,
    n_episodes: int = 1000,
    seed: int = 0,
) -> EpisodeScores:
    """k-shot classification episodes: each draws ``k_shot`` support embeddings per class of ``classes``
    (from the support pool) and ``n_query`` queries per class (from the query pool, without replacement;
    fewer when a class has fewer), and classifies the queries by the nearest prototype (squared Euclidean).

    Reports the mean and 95 % CI (1.96 standard errors over episodes) of the all-class accuracy, of the
    recall of the ``novel`` class's queries and of the novel class's F1.
    """
    classes = [int(c) for c in classes]
    if int(novel) not in classes:
        raise LeanECGError("novel", f"class {novel} is not among the episode classes {classes}")
    rng = np.random.default_rng([check_seed(seed), 9090, int(k_shot)])
    s_pools = {c: np.flatnonzero(support_y == c) for c in classes}
    q_pools = {c: np.flatnonzero(query_y == c) for c in classes}
    for c in classes:
        if s_pools[c].size < k_shot:
            raise LeanECGError(
                "support_y", f"class {c} has {s_pools[c].size} support records, k_shot is {k_shot}"
            )
        if q_pools[c].size == 0:
            raise LeanECGError("query_y", f"class {c} has no query records")
    accs, recalls, f1s = [], [], []
    nov = classes.index(int(novel))
    for _ in range(n_episodes):
        protos = np.stack(
            [support_emb[rng.choice(s_pools[c], size=k_shot, replace=False)].mean(axis=0) for c in classes]
        )
        q_idx = np.concatenate(
            [rng.choice(q_pools[c], size=min(n_query, q_pools[c].size), replace=False) for c in classes]
        )
        truth = np.array([classes.index(int(c)) for c in query_y[q_idx]])
        d = ((query_emb[q_idx][:, None, :] - protos[None, :, :]) ** 2).sum(axis=2)
        pred = np.argmin(d, axis=1)
        accs.append(float((pred == truth).mean()))
        tp = float(((pred == nov) & (truth == nov)).sum())
        recalls.append(tp / max(float((truth == nov).sum()), 1.0))
        denom = float((pred == nov).sum() + (truth == nov).sum())
        f1s.append(2 * tp / denom if denom else 0.0)

    def mean_ci(v: list[float]) -> tuple[float, float]:
        a = np.asarray(v)
        return float(a.mean()), float(1.96 * a.std(ddof=1) / math.sqrt(a.size)) if a.size > 1 else 0.0

    acc = mean_ci(accs)
    rec = mean_ci(recalls)
    f1 = mean_ci(f1s)
    return EpisodeScores(
        k_shot=int(k_shot),
        n_episodes=int(n_episodes),
        n_way=len(classes),
        n_query=int(n_query),
        accuracy_mean=acc[0],
        accuracy_ci95=acc[1],
        novel_recall_mean=rec[0],
        novel_recall_ci95=rec[1],
        novel_f1_mean=f1[0],
        novel_f1_ci95=f1[1],
    )
