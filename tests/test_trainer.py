"""leanecg.train.trainer / datasets: learning, early stopping, time budget, determinism, inference."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from leanecg.errors import LeanECGError
from leanecg.train.datasets import (
    ArraySplit,
    TrainBatches,
    channels_last_augment,
    gather_windows,
    inference_batches,
    make_train_loader,
    window_starts,
)
from leanecg.train.seed import seed_everything
from leanecg.train.trainer import TrainConfig, TrainResult, fit, predict_proba

FREQS = (0.02, 0.07, 0.17)  # cycles per sample of the three classes


def make_data(n: int, seed: int, n_samples: int = 256, n_leads: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Class k = a sine at FREQS[k] with random phase and amplitude, plus white noise: separable."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    t = np.arange(n_samples)
    phase = rng.uniform(0, 2 * np.pi, (n, n_leads, 1))
    f = np.asarray(FREQS)[y][:, None, None]
    x = np.sin(2 * np.pi * f * t + phase) * rng.uniform(0.5, 1.5, (n, 1, 1))
    x += 0.3 * rng.standard_normal((n, n_leads, n_samples))
    return x.astype(np.float32), y


def make_multilabel(n: int, seed: int, n_samples: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Two independent labels: a slow and a fast component, each present with probability 1/2."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, 2)) < 0.5).astype(np.float32)
    t = np.arange(n_samples)
    x = 0.3 * rng.standard_normal((n, 1, n_samples))
    for k, f in enumerate((0.02, 0.17)):
        x += y[:, k, None, None] * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3, (n, 1, 1)))
    return x.astype(np.float32), y


class TinyNet(nn.Module):
    """Conv -> BatchNorm -> ReLU -> (mean, max) pooling -> linear; optional extra features."""

    def __init__(self, n_leads: int = 2, n_classes: int = 3, n_features: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv1d(n_leads, 8, 9, padding=4)
        self.bn = nn.BatchNorm1d(8)
        self.drop = nn.Dropout(0.1)
        self.head = nn.Linear(16 + n_features, n_classes)

    def forward(self, x: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        h = torch.relu(self.bn(self.conv(x)))
        z = self.drop(torch.cat([h.mean(-1), h.amax(-1)], 1))
        if features is not None:
            z = torch.cat([z, features], 1)
        return self.head(z)


def accuracy(y: np.ndarray, proba: np.ndarray) -> float:
    return float((proba.argmax(1) == y).mean())


def macro_auroc(y: np.ndarray, proba: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, proba, average="macro"))


def cfg(**kw) -> TrainConfig:
    base = {
        "epochs": 6,
        "batch_size": 32,
        "lr": 1e-2,
        "num_threads": 1,
        "seed": 0,
    }  # 1 thread: fast on a busy CPU
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def data() -> tuple[ArraySplit, ArraySplit]:
    xtr, ytr = make_data(192, seed=1)
    xva, yva = make_data(96, seed=2)
    return ArraySplit(xtr, ytr, name="train"), ArraySplit(xva, yva, name="val")


def trained(data, seed_model: int = 0, **kw) -> tuple[TinyNet, TrainResult]:
    seed_everything(seed_model)
    model = TinyNet()
    result = fit(model, data[0], data[1], cfg(**kw), metric_fn=accuracy, progress=False)
    return model, result


def test_learns_a_separable_problem(data):
    model, result = trained(data, crop_samples=200)
    val = data[1]
    assert result.best_val_metric is not None and result.best_val_metric > 0.85  # chance is 1/3
    assert result.history[0]["val_metric"] < result.best_val_metric
    assert result.stop_reason == "completed" and result.epochs_run == 6 and not result.stopped_early
    assert result.n_classes == 3 and result.multilabel is False
    assert 1 <= result.best_epoch <= 6
    assert result.history[result.best_epoch - 1]["val_metric"] == result.best_val_metric
    # the restored model is the best epoch's: its validation accuracy is the recorded one
    proba = predict_proba(model, val.X)
    assert proba.shape == (len(val), 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-9)
    assert accuracy(val.y, proba) == pytest.approx(result.best_val_metric)
    assert not model.training and model.multilabel is False
    for h in result.history:
        assert set(h) == {
            "epoch",
            "train_loss",
            "val_loss",
            "val_metric",
            "lr",
            "seconds",
            "steps",
            "partial",
        }
        assert h["steps"] == 6  # 192 / 32
    json.dumps(result.to_dict())  # JSON-able
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def test_same_seed_gives_bit_identical_weights(data):
    def aug(x, rng):  # per-record augmentation: random gain and sign flip
        return x * rng.uniform(0.8, 1.2) * rng.choice([-1.0, 1.0])

    def run(seed):
        seed_everything(0)
        m = TinyNet()
        r = fit(
            m, data[0], data[1], cfg(epochs=3, crop_samples=160, seed=seed), metric_fn=accuracy, augment=aug
        )
        return m.state_dict(), r

    s1, r1 = run(7)
    s2, r2 = run(7)
    s3, _ = run(8)
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert [h["train_loss"] for h in r1.history] == [h["train_loss"] for h in r2.history]
    assert not all(torch.equal(s1[k], s3[k]) for k in s1)


def test_early_stopping_restores_the_best_epoch(data):
    scores = iter([0.9, 0.5, 0.6, 0.7, 0.8, 0.85, 0.86, 0.87])  # best at epoch 1, never beaten
    states = []
    seed_everything(0)
    model = TinyNet()

    def metric(y, p):
        return next(scores)

    def on_epoch(record):
        states.append({k: v.clone() for k, v in model.state_dict().items()})

    result = fit(model, data[0], data[1], cfg(epochs=8, early_stopping_patience=2), metric, on_epoch=on_epoch)
    assert result.stopped_early and result.stop_reason == "early_stopping"
    assert result.epochs_run == 3 and result.best_epoch == 1 and result.best_val_metric == 0.9
    assert all(torch.equal(model.state_dict()[k], states[0][k]) for k in states[0])
    assert not all(torch.equal(states[2][k], states[0][k]) for k in states[0])


def test_validation_loss_selects_when_there_is_no_metric(data):
    seed_everything(0)
    model = TinyNet()
    result = fit(model, data[0], data[1], cfg(epochs=4), progress=False)
    losses = [h["val_loss"] for h in result.history]
    assert result.best_epoch == int(np.argmin(losses)) + 1
    assert result.best_val_loss == min(losses) and result.best_val_metric is None


def test_max_train_seconds_stops_cleanly(data):
    xtr, ytr = make_data(4096, seed=3)
    seed_everything(0)
    model = TinyNet()
    result = fit(model, ArraySplit(xtr, ytr), data[1], cfg(epochs=500, max_train_seconds=0.3), accuracy)
    assert result.time_limited and result.stop_reason == "time_limit" and not result.stopped_early
    assert result.epochs_run < 500 and result.seconds < 20
    assert result.history[-1]["val_metric"] is not None  # the last (partial) epoch was still validated
    assert result.history[-1]["partial"] == (result.history[-1]["steps"] < 128)


def test_on_epoch_can_stop_training(data):
    seed_everything(0)
    result = fit(TinyNet(), data[0], None, cfg(epochs=5), on_epoch=lambda r: r["epoch"] == 2)
    assert result.stop_reason == "callback" and result.epochs_run == 2 and result.best_epoch == 2
    assert result.history[0]["val_loss"] is None


def test_multilabel_with_bce_and_asymmetric_loss():
    xtr, ytr = make_multilabel(192, seed=4)
    xva, yva = make_multilabel(96, seed=5)
    for loss in ("bce", "asymmetric"):
        seed_everything(0)
        model = TinyNet(n_leads=1, n_classes=2)
        result = fit(
            model,
            ArraySplit(xtr, ytr),
            ArraySplit(xva, yva),
            cfg(epochs=8, loss=loss, class_weights="balanced"),
            metric_fn=macro_auroc,
        )
        assert result.multilabel and model.multilabel
        assert result.best_val_metric > 0.9, loss
        proba = predict_proba(model, xva)
        assert proba.shape == (96, 2) and (proba >= 0).all() and (proba <= 1).all()
        assert not np.allclose(proba.sum(1), 1.0)  # sigmoid, not softmax
        assert macro_auroc(yva, proba) == pytest.approx(result.best_val_metric)


def test_label_kind_and_loss_must_agree(data):
    xml, yml = make_multilabel(32, seed=6)
    with pytest.raises(LeanECGError, match="multi-hot"):
        fit(TinyNet(1, 2), ArraySplit(xml, yml), None, cfg(loss="ce"))
    with pytest.raises(LeanECGError, match="class indices"):
        fit(TinyNet(), data[0], None, cfg(loss="bce"))
    with pytest.raises(LeanECGError, match="outputs only 2"):
        fit(TinyNet(n_classes=2), data[0], None, cfg())
    with pytest.raises(LeanECGError, match=r"val\.y"):
        fit(TinyNet(1, 2), ArraySplit(xml, yml), ArraySplit(xml, yml.argmax(1), name="val"), cfg(loss="bce"))
    with pytest.raises(LeanECGError, match="model"):
        fit(TinyNet(n_leads=5), data[0], None, cfg())


def test_variable_length_records_train_and_predict():
    rng = np.random.default_rng(9)
    x, y = make_data(150, seed=9, n_samples=720)
    lengths = rng.integers(180, 721, len(x))
    records = [x[i, :, : lengths[i]] for i in range(len(x))]
    train = ArraySplit(records[:100], y[:100])
    val = ArraySplit(records[100:], y[100:])
    seed_everything(0)
    model = TinyNet()
    result = fit(model, train, val, cfg(epochs=6, crop_samples=256), accuracy)
    assert result.best_val_metric > 0.8
    full = predict_proba(model, val)
    windowed = predict_proba(model, val, window=256, hop=128)
    assert full.shape == windowed.shape == (50, 3)
    assert accuracy(val.y, windowed) > 0.8
    # full length: each record predicted alone gives the same result (no padding across records)
    for i in (0, 7, 31):
        alone = predict_proba(model, [val.X[i]])
        np.testing.assert_allclose(alone[0], full[i], rtol=1e-5, atol=1e-6)
        # window mode equals the mean over the record's windows predicted one by one
        n = val.X[i].shape[1]
        wins = [val.X[i][:, s : s + 256] for s in window_starts(n, 256, 128)]
        wins = [np.pad(w, ((0, 0), (0, 256 - w.shape[1]))) for w in wins]
        np.testing.assert_allclose(predict_proba(model, wins).mean(0), windowed[i], rtol=1e-5, atol=1e-6)
    # deterministic and order-preserving
    np.testing.assert_array_equal(predict_proba(model, val), full)
    perm = rng.permutation(50)
    np.testing.assert_allclose(
        predict_proba(model, [val.X[i] for i in perm]), full[perm], rtol=1e-5, atol=1e-6
    )


def test_full_length_training_pads_within_a_batch():
    x, y = make_data(64, seed=10, n_samples=300)
    records = [x[i, :, : 200 + (i % 5) * 25] for i in range(64)]
    seed_everything(0)
    result = fit(TinyNet(), ArraySplit(records, y), None, cfg(epochs=2))
    assert result.steps == 4 and np.isfinite(result.history[-1]["train_loss"])


def test_features_reach_the_model():
    rng = np.random.default_rng(11)
    y = rng.integers(0, 3, 160)
    x = 0.3 * rng.standard_normal((160, 1, 128)).astype(np.float32)  # the signal says nothing
    feats = np.eye(3, dtype=np.float32)[y] + 0.1 * rng.standard_normal((160, 3)).astype(np.float32)
    train = ArraySplit(x[:120], y[:120], features=feats[:120])
    val = ArraySplit(x[120:], y[120:], features=feats[120:])
    seed_everything(0)
    model = TinyNet(n_leads=1, n_features=3)
    result = fit(model, train, val, cfg(epochs=10, lr=3e-2), accuracy)
    assert result.best_val_metric > 0.9
    assert accuracy(val.y, predict_proba(model, val.X, features=val.features)) > 0.9
    with pytest.raises(LeanECGError, match="features"):
        fit(TinyNet(n_leads=1, n_features=3), train, ArraySplit(x[120:], y[120:]), cfg())


def test_nan_in_a_record_is_named():
    x, y = make_data(40, seed=12)
    x[17, 0, 5] = np.nan
    with pytest.raises(LeanECGError, match=r"train\.X: record 17 contains NaN"):
        fit(TinyNet(), ArraySplit(x, y, name="train"), None, cfg(epochs=1, batch_size=40))


def test_num_threads_is_restored(data):
    before = torch.get_num_threads()
    fit(TinyNet(), data[0], None, cfg(epochs=1, num_threads=1))
    assert torch.get_num_threads() == before


def test_config_json_round_trip_and_validation():
    c = TrainConfig(epochs=3, loss="focal", class_weights=[1, 2, 3], crop_samples=500, grad_clip=1.0)
    d = json.loads(json.dumps(c.to_dict()))
    assert TrainConfig.from_dict(d) == c
    assert TrainConfig.from_dict({"lr": 3e-4}).lr == 3e-4
    with pytest.raises(LeanECGError, match="unknown training option"):
        TrainConfig.from_dict({"lr": 1e-3, "learning_rate": 1})
    with pytest.raises(LeanECGError, match=r"cfg\.json\.epochs"):
        TrainConfig.from_dict({"epochs": 0}, source="cfg.json")
    for bad in (
        {"lr": -1.0},
        {"schedule": "step"},
        {"loss": "mse"},
        {"optimizer": "sgd"},
        {"class_weights": "inverse"},
        {"label_smoothing": 1.0},
        {"batch_size": 2.5},
        {"epochs": True},
        {"eval_hop": 10},
        {"seed": -1},
        {"device": "gpu0"},
    ):
        with pytest.raises(LeanECGError):
            TrainConfig.from_dict(bad)


@pytest.mark.parametrize("schedule", ["onecycle", "cosine", "constant"])
def test_schedules(data, schedule):
    seed_everything(0)
    result = fit(TinyNet(), data[0], None, cfg(epochs=2, schedule=schedule, lr=1e-2))
    lrs = [h["lr"] for h in result.history]
    if schedule == "constant":
        assert lrs == [1e-2, 1e-2]
    elif schedule == "cosine":
        assert 0 < lrs[1] < lrs[0] <= 1e-2
    else:  # warm-up 30 % then anneal: the first epoch ends near the peak, the last near zero
        assert lrs[1] < 1e-4 < lrs[0]


def test_train_batches_crop_pad_and_augment():
    recs = [np.arange(n, dtype=np.float32)[None, :].repeat(2, 0) for n in (50, 100, 400)]
    split = ArraySplit(recs, np.array([0, 1, 2]))
    calls = []

    def aug(x, rng):
        calls.append(x.shape)
        return -x

    ds = TrainBatches(split, crop_samples=100, augment=aug, rng=np.random.default_rng(0))
    b = ds[[0, 1, 2]]
    assert b["x"].shape == (3, 2, 100) and b["x"].dtype == torch.float32
    assert calls == [(2, 100)] * 3  # per-record call, channel-first
    x = -b["x"].numpy()
    np.testing.assert_array_equal(x[0, :, :50], recs[0])
    np.testing.assert_array_equal(x[0, :, 50:], 0)
    np.testing.assert_array_equal(x[1], recs[1])  # exactly one possible crop
    start = int(x[2, 0, 0])
    np.testing.assert_array_equal(x[2], recs[2][:, start : start + 100])
    assert b["y"].tolist() == [0, 1, 2] and b["index"].tolist() == [0, 1, 2]

    def batched(x, rng):
        assert x.ndim == 3
        return x * 2

    batched.batched = True
    full = TrainBatches(split, crop_samples=None, augment=batched)[[2, 0]]["x"].numpy()
    assert full.shape == (2, 2, 400)
    np.testing.assert_array_equal(full[1, :, :50], 2 * recs[0])
    np.testing.assert_array_equal(full[1, :, 50:], 0)

    def channels_last(x, rng):
        assert x.shape == (100, 2)  # (n_samples, n_leads)
        return x + np.array([0.0, 10.0], dtype=np.float32)

    out = TrainBatches(split, 100, channels_last_augment(channels_last))[[1]]["x"].numpy()
    np.testing.assert_array_equal(out[0, 1], recs[1][1] + 10)
    with pytest.raises(LeanECGError, match="augment"):
        TrainBatches(split, 100, lambda x, rng: x[:, :10])[[0]]


def test_loader_never_yields_a_batch_of_one_and_covers_every_record():
    x, y = make_data(65, seed=13, n_samples=32)
    loader = make_train_loader(ArraySplit(x, y), batch_size=16, seed=0)
    assert len(loader) == 4
    batches = [b["index"].tolist() for b in loader]
    assert [len(b) for b in batches] == [16, 16, 16, 17]
    assert sorted(i for b in batches for i in b) == list(range(65))
    assert batches != [b["index"].tolist() for b in loader]  # reshuffled every epoch


def test_gather_windows_and_inference_plan():
    X = np.arange(2 * 3 * 10, dtype=np.float32).reshape(2, 3, 10)
    w = gather_windows(X, np.array([1, 0]), np.array([2, 6]), 4)
    np.testing.assert_array_equal(w[0], X[1, :, 2:6])
    np.testing.assert_array_equal(w[1], X[0, :, 6:10])
    padded = gather_windows(X, np.array([0]), np.array([0]), 12)
    np.testing.assert_array_equal(padded[0, :, :10], X[0])
    np.testing.assert_array_equal(padded[0, :, 10:], 0)
    assert window_starts(10, 4, 3).tolist() == [0, 3, 6]
    assert window_starts(11, 4, 3).tolist() == [0, 3, 6, 7]  # last window ends at the end
    assert window_starts(3, 4, 2).tolist() == [0]
    assert window_starts(0, 4, 2).tolist() == [0]  # even an empty record gets one (padded) window
    lengths = np.array([5, 3, 5, 9, 3, 5])
    plan = list(inference_batches(lengths, batch_size=2))
    assert [(r.tolist(), n) for r, _, n in plan] == [([1, 4], 3), ([0, 2], 5), ([5], 5), ([3], 9)]
    plan = list(inference_batches(lengths, batch_size=10, pad_fraction=0.5))
    assert [(r.tolist(), n) for r, _, n in plan] == [([1, 4, 0, 2, 5], 5), ([3], 9)]
    plan = list(inference_batches(np.array([6, 3]), batch_size=3, window=4, hop=2))
    assert [(r.tolist(), s.tolist()) for r, s, _ in plan] == [([0, 0, 1], [0, 2, 0])]


def test_array_split_checks():
    with pytest.raises(LeanECGError, match=r"has 5000 leads"):
        ArraySplit([np.zeros((5000, 12), np.float32)], np.array([0]))
    with pytest.raises(LeanECGError, match="record 1 has 2 leads"):
        ArraySplit([np.zeros((1, 10)), np.zeros((2, 10))], np.array([0, 1]))
    with pytest.raises(LeanECGError, match="labels for"):
        ArraySplit(np.zeros((3, 1, 10), np.float32), np.array([0, 1]))
    with pytest.raises(LeanECGError, match="integer"):
        ArraySplit(np.zeros((2, 1, 10), np.float32), np.array([0.5, 1.0]))
    with pytest.raises(LeanECGError, match=r"\[0, 1\]"):
        ArraySplit(np.zeros((2, 1, 10), np.float32), np.array([[0.0, 2.0], [1.0, 0.0]]))
    s = ArraySplit(
        np.zeros((4, 10), np.float64), np.array([0, 2, 1, 2]), groups=np.array(["a", "a", "b", "c"])
    )
    assert s.n_leads == 1 and s.n_classes == 3 and s.lengths.tolist() == [10] * 4
    sub = s.subset(s.groups == "a")
    assert len(sub) == 2 and sub.y.tolist() == [0, 2]


def test_memory_mapped_cache_is_used_in_place(tmp_path):
    x, y = make_data(64, seed=14, n_samples=128)
    np.save(tmp_path / "x.npy", x.astype(np.float16))
    xm = np.load(tmp_path / "x.npy", mmap_mode="r")
    split = ArraySplit(xm, y)
    assert isinstance(split.X, np.memmap)  # not copied into memory
    seed_everything(0)
    model = TinyNet()
    result = fit(model, split, None, cfg(epochs=1, crop_samples=100))
    assert result.steps == 2
    np.testing.assert_allclose(
        predict_proba(model, xm),
        predict_proba(model, x.astype(np.float16).astype(np.float32)),
        rtol=0,
        atol=0,
    )
