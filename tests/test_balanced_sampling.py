"""Class-balanced sampling (``TrainConfig.sampling = "balanced"``): each epoch draws as many records as the
split holds, every class about equally often, deterministically per seed; refused where it cannot apply; the
mitdb-aami switch replaces the weighted loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from leanecg.errors import InvalidOptionError, LeanECGError
from leanecg.tasks.mitdb_aami import MitdbAamiTask
from leanecg.train.datasets import ArraySplit, class_balanced_weights, make_train_loader
from leanecg.train.seed import seed_everything
from leanecg.train.trainer import TrainConfig, fit


def _split(n: int = 400) -> ArraySplit:
    y = np.zeros(n, dtype=np.int64)
    y[:20] = 1  # 5 % minority
    y[20:40] = 2
    X = np.random.default_rng(0).standard_normal((n, 1, 16)).astype(np.float32)
    return ArraySplit(X=X, y=y, name="train")


def _drawn(loader) -> np.ndarray:
    return np.concatenate([b["y"].numpy() for b in loader])


def test_weights_equalise_the_classes() -> None:
    y = np.array([0] * 90 + [1] * 9 + [2])
    w = class_balanced_weights(y)
    assert w.sum() == pytest.approx(1.0)
    for c in range(3):
        assert w[y == c].sum() == pytest.approx(1 / 3)
    with pytest.raises(LeanECGError, match="class index"):
        class_balanced_weights(np.eye(3))


def test_balanced_loader_draws_each_class_about_equally_and_repeats_per_seed() -> None:
    split = _split()
    loader = make_train_loader(split, 32, seed=3, balanced=True)
    first = _drawn(loader)
    assert len(first) == len(split)
    shares = np.bincount(first, minlength=3) / len(first)
    assert np.all(np.abs(shares - 1 / 3) < 0.08), shares
    plain = _drawn(make_train_loader(split, 32, seed=3))
    assert np.bincount(plain).tolist() == [360, 20, 20]  # a permutation: every record once
    again = _drawn(make_train_loader(split, 32, seed=3, balanced=True))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, _drawn(loader))  # the next epoch draws anew


def test_fit_with_balanced_sampling_and_refusals() -> None:
    seed_everything(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    cfg = TrainConfig(epochs=1, batch_size=32, num_threads=1, sampling="balanced")
    result = fit(net, _split(), None, cfg, progress=False)
    assert result.config["sampling"] == "balanced" and result.steps == len(
        make_train_loader(_split(), 32, seed=0)
    )
    with pytest.raises(InvalidOptionError, match="sampling"):
        TrainConfig(sampling="oversample")
    with pytest.raises(LeanECGError, match="single-process loader"):
        fit(net, _split(), None, TrainConfig(epochs=1, num_workers=1, sampling="balanced"), progress=False)
    assert torch.isfinite(net[1].weight).all()


def test_mitdb_switch_replaces_the_weighted_loss() -> None:
    task = MitdbAamiTask()
    plain = task.train_config(tiny=True, seed=0, epochs=None)
    assert plain.sampling == "shuffle" and plain.class_weights == "balanced"
    task.balanced_sampling = True
    cfg = task.train_config(tiny=True, seed=0, epochs=None)
    assert cfg.sampling == "balanced" and cfg.class_weights is None and cfg.loss == "ce"
