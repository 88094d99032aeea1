"""Weight averaging (``TrainConfig.average_epochs``, :mod:`leanecg.train.averaging`): the kept weights are the
mean of the last epochs' weights, batch-norm statistics are re-estimated on the training data, a resumed run
ends with the uninterrupted run's weights, and the option is refused where it cannot apply."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from leanecg.errors import InvalidOptionError, LeanECGError
from leanecg.tasks.mitdb_aami import MitdbAamiTask
from leanecg.train.averaging import WeightAverage, recompute_batch_norm
from leanecg.train.datasets import ArraySplit
from leanecg.train.seed import seed_everything
from leanecg.train.trainer import TrainConfig, fit


class _Net(nn.Module):
    """Conv -> batch norm -> pooled logits: (batch, 1, 32) -> (batch, 3)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 5, padding=2)
        self.bn = nn.BatchNorm1d(4)
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.bn(self.conv(x))).mean(dim=2))


def _split(seed: int = 0, n: int = 96) -> ArraySplit:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    t = np.linspace(0, 1, 32)
    X = np.stack([np.sin(2 * np.pi * (k + 1) * t) for k in y])[:, None, :] * 2.0 + 0.5
    X = (X + 0.3 * rng.standard_normal(X.shape)).astype(np.float32)
    return ArraySplit(X=X, y=y, name="train")


def _config(**kw) -> TrainConfig:
    base = {"epochs": 4, "batch_size": 16, "lr": 1e-2, "num_threads": 1, "seed": 0}
    return TrainConfig(**{**base, **kw})


def _train(config: TrainConfig, **kw) -> tuple[_Net, list[dict[str, torch.Tensor]], object]:
    """Train a seeded net; also return each epoch's end-of-epoch state (the callback sees the same net)."""
    seed_everything(0)
    net = _Net()
    states: list[dict[str, torch.Tensor]] = []

    def snapshot(_record: dict) -> None:
        states.append({k: v.detach().clone() for k, v in net.state_dict().items()})

    result = fit(net, _split(), None, config, progress=False, on_epoch=snapshot, **kw)
    return net, states, result


def test_the_kept_weights_are_the_mean_of_the_last_epochs() -> None:
    net, states, result = _train(_config(average_epochs=2))
    assert result.averaged_epochs == 2 and result.best_epoch == 4
    for name, p in net.named_parameters():
        mean = (states[2][name].double() + states[3][name].double()) / 2
        torch.testing.assert_close(p.detach().double(), mean, rtol=0, atol=1e-6)
    # batch-norm statistics: re-estimated for the averaged weights, not the last epoch's running values
    assert not torch.allclose(net.bn.running_mean, states[3]["bn.running_mean"])
    feats = net.conv(torch.from_numpy(_split().X)).detach()
    torch.testing.assert_close(net.bn.running_mean, feats.mean(dim=(0, 2)), rtol=1e-4, atol=1e-5)
    assert not net.training


def test_off_by_default_keeps_the_last_epoch() -> None:
    net, states, result = _train(_config())
    assert result.averaged_epochs == 0
    for k, v in net.state_dict().items():
        assert torch.equal(v, states[-1][k]), k


class _Crash(Exception):
    pass


def test_resumed_run_ends_with_the_uninterrupted_weights(tmp_path: Path) -> None:
    cfg = _config(average_epochs=3)
    plain, _, _ = _train(cfg)

    def crash_in_epoch_three(record: dict) -> None:
        if record["epoch"] == 3:  # after epoch 2's state (one averaged epoch) was written
            raise _Crash

    seed_everything(0)
    with pytest.raises(_Crash):
        fit(
            _Net(),
            _split(),
            None,
            cfg,
            progress=False,
            checkpoint_dir=tmp_path,
            on_epoch=crash_in_epoch_three,
        )
    resumed = _Net()
    result = fit(resumed, _split(), None, cfg, progress=False, checkpoint_dir=tmp_path, resume=True)
    assert result.resumed_from_epoch == 2 and result.averaged_epochs == 3
    for k, v in plain.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_refused_with_validation_and_beyond_the_epochs() -> None:
    with pytest.raises(InvalidOptionError, match="average_epochs"):
        _config(average_epochs=5)
    with pytest.raises(LeanECGError, match="without validation"):
        fit(_Net(), _split(), _split(1, 24), _config(average_epochs=2), progress=False)
    task = MitdbAamiTask()
    task.average_epochs = 5
    with pytest.raises(LeanECGError, match="train_uses_val"):
        task.train_config(tiny=False, seed=0, epochs=None)
    task.train_uses_val = False
    assert task.train_config(tiny=False, seed=0, epochs=10).average_epochs == 5
    assert task.train_config(tiny=True, seed=0, epochs=None).average_epochs == 2  # a tiny run has 2 epochs


def test_weight_average_state_round_trip_and_no_batch_norm() -> None:
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    avg = WeightAverage()
    avg.add(a)
    avg.add(b)
    again = WeightAverage()
    again.load_state(avg.state())
    out = nn.Linear(3, 2)
    again.load_into(out)
    torch.testing.assert_close(out.weight, (a.weight + b.weight).detach() / 2)
    assert recompute_batch_norm(out, [], torch.device("cpu")) == 0
