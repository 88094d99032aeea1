"""--device cpu|cuda|auto and --amp: device selection, AMP off on the CPU, the AMP code path, CUDA runs.

Tests that need a GPU skip with a reason on CPU-only machines (the CPU build of torch in CI).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from leanecg.errors import LeanECGError
from leanecg.train import device as dev
from leanecg.train.datasets import ArraySplit, make_train_loader
from leanecg.train.device import TrainRuntime, amp_settings, check_device_name, resolve_device
from leanecg.train.epoch import train_epoch as _train_epoch
from leanecg.train.seed import seed_everything
from leanecg.train.trainer import TrainConfig, fit

NO_CUDA = not torch.cuda.is_available()
NEEDS_CUDA = pytest.mark.skipif(
    NO_CUDA, reason="needs a CUDA GPU: torch sees none (CPU-only build or no driver)"
)


def tiny_data(n: int = 48, seed: int = 0) -> ArraySplit:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    t = np.arange(128)
    x = np.sin(2 * np.pi * np.where(y, 0.15, 0.03)[:, None, None] * t) + 0.2 * rng.standard_normal(
        (n, 1, 128)
    )
    return ArraySplit(x.astype(np.float32), y, name="train")


def tiny_model() -> torch.nn.Module:
    seed_everything(0)
    return torch.nn.Sequential(
        torch.nn.Conv1d(1, 4, 7, padding=3),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool1d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 2),
    )


def test_device_names():
    assert check_device_name("auto") == "auto"
    assert check_device_name("cuda:1") == "cuda:1"
    for bad in ("gpu", "tpu0", "mps", 3):
        with pytest.raises(LeanECGError, match="cpu, cuda or auto"):
            check_device_name(bad)  # type: ignore[arg-type]
    assert resolve_device("cpu") == torch.device("cpu")


def test_auto_is_the_cpu_without_a_gpu(monkeypatch):
    monkeypatch.setattr(dev, "cuda_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")


def test_cuda_without_a_gpu_is_an_error_not_a_fallback(monkeypatch):
    monkeypatch.setattr(dev, "cuda_available", lambda: False)
    with pytest.raises(LeanECGError, match="CUDA was requested but torch sees no GPU"):
        resolve_device("cuda")
    with pytest.raises(LeanECGError, match=r"TrainConfig\.device"):
        fit(
            tiny_model(),
            tiny_data(),
            config=TrainConfig(epochs=1, batch_size=16, device="cuda"),
            progress=False,
        )


def test_amp_is_off_on_the_cpu():
    s = amp_settings(torch.device("cpu"), True)
    assert not s.enabled and s.dtype is None and "CUDA only" in s.note
    assert not amp_settings(torch.device("cpu"), False).enabled


def test_fit_records_device_and_amp_and_cpu_amp_changes_nothing():
    train = tiny_data()
    cfg = {"epochs": 2, "batch_size": 16, "num_threads": 1, "seed": 1}
    m0 = tiny_model()
    fit(m0, train, config=TrainConfig(**cfg), progress=False)
    m1 = tiny_model()
    with pytest.warns(RuntimeWarning, match="--amp ignored"):
        r1 = fit(
            m1,
            train,
            config=TrainConfig(**cfg, amp=True, device="auto" if NO_CUDA else "cpu"),
            progress=False,
        )
    assert r1.device == "cpu" and r1.amp is False and r1.amp_dtype is None and r1.world_size == 1
    for a, b in zip(m0.state_dict().values(), m1.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    doc = json.loads(json.dumps(r1.to_dict()))
    assert doc["device"] == "cpu" and doc["amp"] is False and doc["config"]["amp"] is True


def test_the_mixed_precision_step_runs_on_the_cpu():
    """The AMP branch of a training step (autocast + GradScaler + unscale before clipping), exercised on the
    CPU with bfloat16 autocast (what CUDA runs with float16 / bfloat16)."""
    train = tiny_data()
    model = tiny_model()
    loader = make_train_loader(train, 16, seed=0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    before = [p.detach().clone() for p in model.parameters()]
    settings = dev.AmpSettings(True, torch.bfloat16, scaled=True)
    scaler = torch.amp.GradScaler("cpu", enabled=True)
    cfg = TrainConfig(epochs=1, batch_size=16, grad_clip=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CPU autocast / scaler notes
        loss, steps, _, _ = _train_epoch(
            model,
            loader,
            torch.nn.CrossEntropyLoss(),
            opt,
            None,
            cfg,
            torch.device("cpu"),
            train,
            1,
            0.0,
            0,
            on_step=lambda _: None,
            amp=settings,
            scaler=scaler,
        )
    assert steps == 3 and np.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_runtime_applies_device_amp_and_checkpoint_folders(tmp_path):
    rt = TrainRuntime(device="auto", amp=True, checkpoint_dir=tmp_path, resume=True)
    cfg = rt.apply(TrainConfig())
    assert (cfg.device, cfg.amp) == ("auto", True)
    assert rt.fit_kwargs("cinc2017", "litenet") == {
        "checkpoint_dir": tmp_path / "cinc2017" / "litenet",
        "resume": True,
    }
    assert TrainRuntime().fit_kwargs("x") == {}
    with pytest.raises(LeanECGError, match="needs `checkpoint_dir`") as err:
        TrainRuntime(resume=True)
    assert err.value.path == "resume"
    with pytest.raises(LeanECGError, match="must be cpu, cuda or auto") as err:
        TrainRuntime(device="gpu")
    assert err.value.path == "device"


@NEEDS_CUDA
def test_cuda_training_with_amp():
    train = tiny_data()
    model = tiny_model()
    res = fit(
        model, train, train, TrainConfig(epochs=2, batch_size=16, device="cuda", amp=True), progress=False
    )
    assert res.device.startswith("cuda") and res.amp is True and res.amp_dtype in ("bfloat16", "float16")
    assert next(model.parameters()).is_cuda


@NEEDS_CUDA
def test_auto_picks_the_gpu():
    assert resolve_device("auto").type == "cuda"


def test_pretraining_and_few_shot_take_device_and_amp():
    from leanecg.models.registry import build_model
    from leanecg.ssl.pretrain import PretrainConfig, pretrain
    from leanecg.train.fewshot import EpisodeConfig, train_prototypical

    rng = np.random.default_rng(0)
    X = [
        (np.sin(np.arange(600) / (3 + i % 3)) + 0.1 * rng.standard_normal(600)).astype(np.float32)[None]
        for i in range(12)
    ]
    torch.manual_seed(0)
    model = build_model("litenet", n_leads=1, n_classes=3, width=0.25)
    cfg = PretrainConfig(
        method="simclr", epochs=1, batch_size=6, segment_s=1.5, num_threads=1, device="auto", amp=True
    )
    res = pretrain(model, ArraySplit(X=X, y=None), 150.0, cfg)
    expected = "cuda" if not NO_CUDA else "cpu"
    assert res.device.startswith(expected) and res.amp is (not NO_CUDA)
    with pytest.raises(LeanECGError, match=r"PretrainConfig\.device"):
        PretrainConfig(device="gpu")
    y = np.arange(12) % 3
    ecfg = EpisodeConfig(
        episodes=2, n_way=3, k_shot=1, n_query=1, crop_samples=300, num_threads=1, device="auto", amp=True
    )
    hist = train_prototypical(model, ArraySplit(X=X, y=y), [0, 1, 2], ecfg)
    assert len(hist) == 1 and next(model.parameters()).device.type == "cpu"  # returned on the CPU
    with pytest.raises(LeanECGError, match=r"EpisodeConfig\.device"):
        EpisodeConfig(device="tpu").validate()


@pytest.mark.skipif(not NO_CUDA, reason="checks the refusal on a machine without a GPU")
@pytest.mark.parametrize(
    "args",
    [
        ["bench", "cinc2017", "--tiny"],
        ["pretrain", "--method", "simclr", "--out", "enc", "--tiny"],
        ["compress", "cinc2017", "--prune", "0.5"],
    ],
)
def test_cli_device_cuda_without_a_gpu_exits_2_before_any_work(args, tmp_path):
    from clihelp import invoke_cli

    r = invoke_cli([*args, "--device", "cuda", "--data-dir", str(tmp_path / "nothing-here")], tmp_path)
    assert r.returncode == 2, r.stderr
    assert "error: --device: CUDA was requested but torch sees no GPU" in r.stderr
