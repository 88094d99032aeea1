"""Fault tolerance: a training run SIGKILLed mid-epoch and resumed ends with the uninterrupted run's weights.

The run is :mod:`ddphelp`'s tiny task (4 epochs of 6 steps, random crops, validation every epoch) in one
process, ``TrainConfig.num_threads = 1``. Tolerance: exact equality (0.0) -- the resumed run restores the
model, optimiser, scheduler, shuffling and crop streams and every RNG state of the last complete epoch.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import ddphelp
from leanecg.errors import LeanECGError
from leanecg.train.checkpoint import load_train_state
from leanecg.train.datasets import ArraySplit
from leanecg.train.seed import seed_everything
from leanecg.train.trainer import TrainConfig, fit

HELPER = Path(__file__).with_name("ddphelp.py")


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(folder / "weights.pt", weights_only=True)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plain") / "out"
    assert ddphelp.main([str(out)]) == 0
    return out


@pytest.mark.slow
def test_killed_mid_epoch_then_resumed_gives_the_same_weights(uninterrupted, tmp_path):
    ckpt = tmp_path / "ckpt"
    # step 15 of 24 = the 3rd step of epoch 3: epochs 1-2 are checkpointed, epoch 3 is cut short
    proc = subprocess.run(
        [
            sys.executable,
            str(HELPER),
            str(tmp_path / "killed"),
            "--checkpoint-dir",
            str(ckpt),
            "--kill-at-step",
            "15",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -9, proc.stderr[-3000:]  # SIGKILL: no clean-up ran
    assert not (tmp_path / "killed").exists()
    assert json.loads((ckpt / "last.json").read_text())["epoch"] == 2
    assert ddphelp.main([str(tmp_path / "resumed"), "--checkpoint-dir", str(ckpt), "--resume"]) == 0
    result = json.loads((tmp_path / "resumed" / "result.json").read_text())
    assert result["resumed_from_epoch"] == 2 and result["epochs_run"] == 4
    plain, resumed = weights(uninterrupted), weights(tmp_path / "resumed")
    for k in plain:
        assert torch.equal(plain[k], resumed[k]), k
    history = json.loads((uninterrupted / "result.json").read_text())["history"]
    assert [h["val_loss"] for h in result["history"]] == [h["val_loss"] for h in history]


@pytest.mark.slow
def test_resuming_a_finished_run_trains_no_further(uninterrupted, tmp_path):
    ckpt = tmp_path / "ckpt"
    assert ddphelp.main([str(tmp_path / "a"), "--checkpoint-dir", str(ckpt)]) == 0
    assert ddphelp.main([str(tmp_path / "b"), "--checkpoint-dir", str(ckpt), "--resume"]) == 0
    r = json.loads((tmp_path / "b" / "result.json").read_text())
    assert r["resumed_from_epoch"] == 4 and r["epochs_run"] == 4 and r["steps"] == 24
    for k, v in weights(uninterrupted).items():
        assert torch.equal(v, weights(tmp_path / "b")[k])


def small_run(tmp_path: Path, **cfg) -> tuple[ArraySplit, TrainConfig]:
    rng = np.random.default_rng(0)
    train = ArraySplit(
        rng.standard_normal((32, 2, 64)).astype(np.float32), rng.integers(0, 3, 32), name="train"
    )
    return train, TrainConfig(epochs=2, batch_size=8, num_threads=1, **cfg)


def test_resume_without_a_state_starts_afresh_and_a_foreign_state_is_refused(tmp_path):
    train, cfg = small_run(tmp_path)
    seed_everything(0)
    res = fit(
        ddphelp.SmallNet(), train, config=cfg, progress=False, checkpoint_dir=tmp_path / "c", resume=True
    )
    assert res.resumed_from_epoch is None and res.epochs_run == 2
    state, meta = load_train_state(tmp_path / "c")
    assert meta["epoch"] == 2 and meta["finished"] is True and state["steps"] == 8
    other = TrainConfig(epochs=2, batch_size=8, num_threads=1, lr=5e-3)
    with pytest.raises(LeanECGError, match="another run"):
        fit(
            ddphelp.SmallNet(),
            train,
            config=other,
            progress=False,
            checkpoint_dir=tmp_path / "c",
            resume=True,
        )
    with pytest.raises(LeanECGError, match="needs checkpoint_dir"):
        fit(ddphelp.SmallNet(), train, config=cfg, progress=False, resume=True)


def test_a_corrupted_state_is_named(tmp_path):
    train, cfg = small_run(tmp_path)
    fit(ddphelp.SmallNet(), train, config=cfg, progress=False, checkpoint_dir=tmp_path / "c")
    state_file = next((tmp_path / "c").glob("state-*.pt"))
    state_file.write_bytes(state_file.read_bytes()[:-10])
    with pytest.raises(LeanECGError, match="checksum"):
        fit(ddphelp.SmallNet(), train, config=cfg, progress=False, checkpoint_dir=tmp_path / "c", resume=True)


def test_dataloader_workers_resume_exactly(tmp_path):
    """num_workers > 0 (per-record crops): an interrupted and resumed run equals the uninterrupted one."""
    train, cfg = small_run(tmp_path, num_workers=2, crop_samples=48, seed=3)

    class Stop(Exception):
        pass

    calls = {"n": 0, "stop": 6}

    def batch_loss(m, batch, criterion):
        calls["n"] += 1
        if calls["n"] == calls["stop"]:
            raise Stop
        return criterion(m(batch["x"]), batch["y"])

    def build():
        seed_everything(0)
        return ddphelp.SmallNet()

    calls.update(n=0, stop=-1)
    plain = build()
    fit(plain, train, config=cfg, progress=False, batch_loss=batch_loss)
    calls.update(n=0, stop=6)  # epoch 2, step 2
    with pytest.raises(Stop):
        fit(build(), train, config=cfg, progress=False, batch_loss=batch_loss, checkpoint_dir=tmp_path / "c")
    calls.update(n=0, stop=-1)
    resumed = build()
    res = fit(
        resumed,
        train,
        config=cfg,
        progress=False,
        batch_loss=batch_loss,
        checkpoint_dir=tmp_path / "c",
        resume=True,
    )
    assert res.resumed_from_epoch == 1
    for a, b in zip(plain.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)
