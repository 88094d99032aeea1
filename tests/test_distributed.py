"""DistributedDataParallel under torchrun (gloo, CPU): 2 processes vs 1, rank-0-only outputs, elastic restart.

Each test launches ``torchrun`` (as ``python -m torch.distributed.run``) on :mod:`ddphelp`'s tiny task:
96 records, global batch 16, 4 epochs, random crops, validation every epoch.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HELPER = Path(__file__).with_name("ddphelp.py")
#: 1 vs 2 processes: the same global batches and averaged gradients, summed in another order.
TOLERANCE = 1e-5


def torchrun(nproc: int, *args: str, max_restarts: int = 0) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        str(nproc),
        "--max-restarts",
        str(max_restarts),
        str(HELPER),
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(folder / "weights.pt", weights_only=True)


def max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ddp2")
    torchrun(2, str(root / "out"), "--checkpoint-dir", str(root / "ckpt"))
    return root


@pytest.mark.slow
def test_two_processes_end_with_the_weights_of_one(two_process_run, tmp_path):
    torchrun(1, str(tmp_path / "out"))
    one, two = tmp_path / "out", two_process_run / "out"
    assert max_diff(weights(one), weights(two)) <= TOLERANCE
    r1 = json.loads((one / "result.json").read_text())
    r2 = json.loads((two / "result.json").read_text())
    assert (r1["world_size"], r2["world_size"]) == (1, 2)
    assert r1["device"] == r2["device"] == "cpu"
    assert r1["best_epoch"] == r2["best_epoch"]
    # validation: all-gathered predictions scored once; the same numbers as one process
    for h1, h2 in zip(r1["history"], r2["history"], strict=True):
        assert h1["steps"] == h2["steps"] == 96 // 16  # each process: 6 steps of 8 records
        assert h1["val_loss"] == pytest.approx(h2["val_loss"], abs=1e-5)
        assert h1["val_metric"] == pytest.approx(h2["val_metric"])
        assert h1["train_loss"] == pytest.approx(h2["train_loss"], abs=1e-5)
    assert r2["history"][-1]["val_metric"] > 0.5  # it learned


@pytest.mark.slow
def test_only_rank_zero_writes(two_process_run):
    assert sorted(p.name for p in (two_process_run / "out").iterdir()) == ["result.json", "weights.pt"]
    ckpt = two_process_run / "ckpt"
    assert sorted(p.name for p in ckpt.iterdir()) == ["last.json", "state-00004.pt"]
    meta = json.loads((ckpt / "last.json").read_text())
    assert meta["world_size"] == 2 and meta["epoch"] == 4 and meta["finished"] is True
    state = torch.load(ckpt / "state-00004.pt", weights_only=True)
    assert len(state["rng"]) == 2  # every rank's RNG state, gathered on rank 0


@pytest.mark.slow
def test_elastic_restart_resumes_with_the_same_weights(two_process_run, tmp_path):
    # rank 1 is SIGKILLed at its 9th step (epoch 2 of 4) on the first attempt; torchrun restarts both
    # processes once, and --resume continues from the epoch-1 checkpoint
    proc = torchrun(
        2,
        str(tmp_path / "out"),
        "--checkpoint-dir",
        str(tmp_path / "ckpt"),
        "--resume",
        "--kill-at-step",
        "9",
        "--once",
        max_restarts=1,
    )
    # the first attempt really died: torchrun reports the first rank it sees fail, rank 1's SIGKILL (-9)
    # or rank 0 aborting (-6) when its peer's connection drops -- a race between the two processes
    assert re.search(r"exitcode: -(9|6)\b", proc.stderr), proc.stderr[-2000:]
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["resumed_from_epoch"] == 1
    assert max_diff(weights(tmp_path / "out"), weights(two_process_run / "out")) == 0.0


def test_bench_nproc_launches_torchrun(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from leanecg import cli

    seen = {}

    def fake_run(cmd, **kw):
        seen["cmd"] = cmd
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    res = CliRunner().invoke(
        cli.app,
        [
            "bench",
            "cinc2017",
            "--models",
            "litenet",
            "--nproc",
            "2",
            "--max-restarts",
            "3",
            "--out",
            str(tmp_path),
            "--checkpoint-dir",
            str(tmp_path / "ck"),
            "--resume",
            "--device",
            "cpu",
            "--tiny",
        ],
    )
    assert res.exit_code == 0, res.output
    cmd = seen["cmd"]
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    i = cmd.index("-m", 3)
    assert cmd[i + 1] == "leanecg.cli.worker" and cmd[i + 2 : i + 4] == ["bench", "cinc2017"]
    assert cmd[cmd.index("--nproc_per_node") + 1] == "2" and cmd[cmd.index("--max-restarts") + 1] == "3"
    tail = cmd[i + 2 :]
    assert "--nproc" not in tail and "--resume" in tail and "--tiny" in tail
    assert tail[tail.index("--models") + 1] == "litenet"


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--nproc", "0"], "error: --nproc: must be an integer from 1 to 1024, got 0"),
        (["--max-restarts", "2"], "error: --max-restarts: applies with --nproc N"),
        (["--resume"], "error: --resume: needs --checkpoint-dir"),
        (["--device", "gpu"], "error: --device: must be cpu, cuda or auto, got 'gpu'"),
    ],
)
def test_bench_scale_out_options_are_checked_first(args, problem, tmp_path):
    from clihelp import invoke_cli

    r = invoke_cli(["bench", "cinc2017", "--tiny", "--data-dir", str(tmp_path / "none"), *args], tmp_path)
    assert r.returncode == 2 and problem in r.stderr, r.stderr


def test_python_m_leanecg_train_is_the_documented_worker(tmp_path):
    """``torchrun ... -m leanecg.train COMMAND`` (the documented form): without torchrun it runs the command
    in one process, like ``leanecg COMMAND``."""
    proc = subprocess.run(
        [sys.executable, "-m", "leanecg.train", "models", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    names = {m["name"] for m in json.loads(proc.stdout)}
    assert {"cinc2017", "mitdb-aami"} <= names
