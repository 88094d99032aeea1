"""A tiny training run for the torchrun (DDP) and kill-and-resume tests, as a script.

    python tests/ddphelp.py OUT [--checkpoint-dir DIR] [--resume] [--kill-at-step N] [--once]
    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/ddphelp.py OUT ...

Trains :class:`SmallNet` (no batch norm, no dropout: one process and N processes then take the same steps)
on separable synthetic sines with random crops, validation every epoch (accuracy) and a global batch of
16. Rank 0 alone writes ``OUT/weights.pt`` and ``OUT/result.json``; every rank writes nothing else.
``--kill-at-step N``: the last rank SIGKILLs itself at its N-th training step (mid-epoch); with ``--once``
only on torchrun's first attempt (``TORCHELASTIC_RESTART_COUNT`` 0), so an elastic restart (``--max-restarts
1``) with ``--resume`` continues from the last checkpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

N_TRAIN, N_VAL, N_SAMPLES, GLOBAL_BATCH, EPOCHS = 96, 30, 256, 16, 4


def make_splits():
    from leanecg.train.datasets import ArraySplit

    rng = np.random.default_rng(0)
    n = N_TRAIN + N_VAL
    y = rng.integers(0, 3, n)
    t = np.arange(N_SAMPLES)
    f = np.asarray((0.02, 0.07, 0.17))[y][:, None, None]
    x = np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3, (n, 2, 1))) + 0.3 * rng.standard_normal(
        (n, 2, N_SAMPLES)
    )
    x = x.astype(np.float32)
    return (
        ArraySplit(x[:N_TRAIN], y[:N_TRAIN], name="train"),
        ArraySplit(x[N_TRAIN:], y[N_TRAIN:], name="val"),
    )


class SmallNet(nn.Module):
    """Conv -> ReLU -> (mean, max) pooling -> linear: no batch statistics, no dropout."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 8, 9, padding=4)
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(x))
        return self.head(torch.cat([h.mean(-1), h.amax(-1)], 1))


def config():
    from leanecg.train.trainer import TrainConfig

    return TrainConfig(
        epochs=EPOCHS,
        batch_size=GLOBAL_BATCH,
        lr=1e-2,
        crop_samples=200,
        num_threads=1,
        seed=5,
        schedule="cosine",
    )


def accuracy(y: np.ndarray, proba: np.ndarray) -> float:
    return float((proba.argmax(1) == y).mean())


def main(argv: list[str] | None = None) -> int:
    from leanecg.train.distributed import init_process_group, is_distributed, leave_and_exit, rank_and_world
    from leanecg.train.seed import seed_everything
    from leanecg.train.trainer import fit

    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--checkpoint-dir", type=Path)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--kill-at-step", type=int)
    ap.add_argument("--once", action="store_true")
    args = ap.parse_args(argv)
    init_process_group("cpu")
    rank, world = rank_and_world()
    first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
    kill = args.kill_at_step if (rank == world - 1 and (first_attempt or not args.once)) else None
    train, val = make_splits()
    seed_everything(0)
    model = SmallNet()
    steps = {"n": 0}

    def batch_loss(m: nn.Module, batch: dict[str, torch.Tensor], criterion: nn.Module) -> torch.Tensor:
        steps["n"] += 1
        if kill is not None and steps["n"] == kill:
            os.kill(os.getpid(), signal.SIGKILL)  # an abrupt death mid-epoch: no clean-up runs
        return criterion(m(batch["x"]), batch["y"])

    res = fit(
        model,
        train,
        val,
        config(),
        metric_fn=accuracy,
        progress=False,
        batch_loss=batch_loss,
        checkpoint_dir=args.checkpoint_dir,
        resume=args.resume,
    )
    if rank == 0:
        args.out.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), args.out / "weights.pt")
        (args.out / "result.json").write_text(json.dumps(res.to_dict()), encoding="utf-8")
    if is_distributed():
        leave_and_exit(0)  # ends the process (see its docstring for why)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    sys.exit(main())
