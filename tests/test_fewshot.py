"""Few-shot: prototypical logits, episodic training, record embeddings, k-shot episode evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from leanecg.errors import LeanECGError
from leanecg.models import build_model
from leanecg.train.datasets import ArraySplit
from leanecg.train.fewshot import (
    EpisodeConfig,
    embed_records,
    evaluate_episodes,
    prototypical_logits,
    train_prototypical,
)


def test_prototypical_logits_are_negative_squared_distances() -> None:
    support = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [0.0, 6.0]])
    sy = torch.tensor([0, 0, 1, 1])
    query = torch.tensor([[1.0, 1.0]])
    logits = prototypical_logits(support, sy, query, 2)  # prototypes (1, 0) and (0, 5)
    assert logits[0].tolist() == pytest.approx([-1.0, -17.0])


def test_evaluate_episodes_separable_and_random() -> None:
    rng = np.random.default_rng(0)
    centers = np.eye(4) * 10
    ys = np.repeat(np.arange(4), 20)
    yq = np.repeat(np.arange(4), 15)
    sep = evaluate_episodes(
        centers[ys] + rng.normal(size=(80, 4)),
        ys,
        centers[yq] + rng.normal(size=(60, 4)),
        yq,
        [0, 1, 2, 3],
        novel=1,
        k_shot=5,
        n_episodes=100,
    )
    assert sep.accuracy_mean == pytest.approx(1.0) and sep.novel_recall_mean == pytest.approx(1.0)
    rnd = evaluate_episodes(
        rng.normal(size=(80, 4)),
        ys,
        rng.normal(size=(60, 4)),
        yq,
        [0, 1, 2, 3],
        novel=1,
        k_shot=1,
        n_episodes=400,
    )
    assert 0.15 < rnd.accuracy_mean < 0.35 and rnd.accuracy_ci95 > 0
    with pytest.raises(LeanECGError, match="support"):
        evaluate_episodes(centers[ys], ys, centers[yq], yq, [0, 1, 2, 3], novel=1, k_shot=21)
    with pytest.raises(LeanECGError, match="novel"):
        evaluate_episodes(centers[ys], ys, centers[yq], yq, [0, 1, 2], novel=3, k_shot=1)


def _signals(n_per_class: int = 12, length: int = 450) -> ArraySplit:
    rng = np.random.default_rng(0)
    t = np.arange(length) / 150.0
    X, y = [], []
    for c, f in enumerate((1.0, 4.0, 9.0)):
        for _ in range(n_per_class):
            X.append(
                (np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) + 0.2 * rng.standard_normal(length)).astype(
                    np.float32
                )[None]
            )
            y.append(c)
    return ArraySplit(X=X, y=np.array(y), name="train")


def test_episodic_training_learns_and_generalises_to_held_out_class() -> None:
    split = _signals()
    torch.manual_seed(0)
    model = build_model("litenet", n_leads=1, n_classes=3, width=0.25)
    untrained = embed_records(model, split)
    cfg = EpisodeConfig(
        episodes=60, n_way=2, k_shot=3, n_query=4, crop_samples=300, lr=3e-3, seed=0, num_threads=1
    )
    hist = train_prototypical(model, split, classes=[0, 1], config=cfg)  # class 2 held out
    assert hist[-1]["episode"] == 60 and np.isfinite(hist[-1]["loss"])
    emb = embed_records(model, split)
    assert emb.shape == untrained.shape and not np.allclose(emb, untrained)
    y = np.asarray(split.y)
    sc = evaluate_episodes(emb, y, emb, y, [0, 1, 2], novel=2, k_shot=3, n_query=5, n_episodes=100)
    assert sc.accuracy_mean > 0.6  # chance is 1/3
    with pytest.raises(LeanECGError, match="records"):
        train_prototypical(
            model, split, classes=[0, 1], config=EpisodeConfig(k_shot=10, n_query=10, episodes=1)
        )


def test_embed_records_windowed_matches_shape() -> None:
    split = _signals(2)
    model = build_model("litenet", n_leads=1, n_classes=3, width=0.25)
    whole = embed_records(model, split)
    windowed = embed_records(model, split, window=150)
    assert whole.shape == windowed.shape == (len(split), whole.shape[1])
