"""Deep embedding -> LightGBM hybrids: the pure helpers and a ``leanecg bench`` run on a synthetic task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from leanecg.bench import runner
from leanecg.errors import LeanECGError
from leanecg.evaluate.results import SCHEMA, load_results
from leanecg.models.registry import build_model
from leanecg.signal.pipeline import Pipeline
from leanecg.tasks import TASKS, MitdbAamiTask, TaskData
from leanecg.train.datasets import ArraySplit
from leanecg.train.hybrid import (
    EmbeddingNetwork,
    embed_records,
    fit_lightgbm,
    hybrid_matrix,
    hybrid_name,
    parse_hybrid_name,
)

N_FEATURES = 13  # the mitdb-aami beat features
WINDOW = 64


def test_names_round_trip() -> None:
    assert hybrid_name("beatnet") == "beatnet+lightgbm"
    assert parse_hybrid_name("wide_deep_lite+lightgbm") == "wide_deep_lite"
    assert parse_hybrid_name("beatnet") is None and parse_hybrid_name("+lightgbm") is None


def test_hybrid_matrix_puts_embedding_then_features() -> None:
    emb = np.arange(6, dtype=np.float64).reshape(3, 2)
    feats = np.array([[10.0], [np.nan], [12.0]])
    m = hybrid_matrix(emb, feats)
    assert m.dtype == np.float32 and m.shape == (3, 3)
    np.testing.assert_array_equal(m[:, :2], emb)
    assert np.isnan(m[1, 2]) and m[2, 2] == 12.0
    assert hybrid_matrix(emb, None).shape == (3, 2)
    with pytest.raises(LeanECGError):
        hybrid_matrix(emb, feats[:2])


def test_embedding_network_drops_the_head_and_matches_embed() -> None:
    torch.manual_seed(0)
    model = build_model("beatnet", n_leads=1, n_classes=4, n_features=N_FEATURES).eval()
    net = EmbeddingNetwork(model)
    assert sum(p.numel() for p in net.parameters()) < sum(p.numel() for p in model.parameters())
    x = np.random.default_rng(0).normal(size=(5, 1, WINDOW)).astype(np.float32)
    with torch.no_grad():
        expected = model.embed(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(embed_records(net, x, batch_size=2), expected, rtol=1e-5, atol=1e-6)
    # variable-length records (a list) are embedded one length-group at a time, rows in input order
    records = [x[0], x[1, :, :48], x[2]]
    out = embed_records(net, records)
    with torch.no_grad():
        middle = model.embed(torch.from_numpy(x[1:2, :, :48])).numpy()
    np.testing.assert_allclose(out[1], middle[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[[0, 2]], expected[[0, 2]], rtol=1e-5, atol=1e-6)
    with pytest.raises(LeanECGError, match="pooled embedding"):
        EmbeddingNetwork(build_model("leadwise", n_leads=2, n_classes=2))


def test_fit_lightgbm_is_class_balanced_and_stops_early() -> None:
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(180, int), np.ones(20, int)]
    X = (rng.normal(size=(200, 3)) + y[:, None]).astype(np.float32)
    fitted = fit_lightgbm(X, y, X, y, n_classes=2, seed=0)
    assert fitted.config["sample_weight"] == "balanced" and 1 <= fitted.best_iteration <= 400
    assert fitted.predict(X).shape == (200, 2)


def test_fit_lightgbm_takes_a_recipe_and_softens_the_class_weights() -> None:
    """``params`` replace the defaults; ``class_weight_power`` 0 weighs every row alike, so the rare class is
    predicted less often than with fully balanced weights."""
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(450, int), np.ones(50, int)]
    X = (rng.normal(size=(500, 3)) + 0.6 * y[:, None]).astype(np.float32)
    kw = {"n_classes": 2, "seed": 0}
    full = fit_lightgbm(X, y, X, y, **kw)
    plain = fit_lightgbm(X, y, X, y, **kw, params={"num_leaves": 7}, class_weight_power=0.0)
    assert plain.config["num_leaves"] == 7 and plain.config["sample_weight"] == "balanced ** 0"
    assert (plain.predict(X).argmax(1) == 1).sum() < (full.predict(X).argmax(1) == 1).sum()
    with pytest.raises(LeanECGError, match="class_weight_power"):
        fit_lightgbm(X, y, X, y, **kw, class_weight_power=2.0)


def _split(rng: np.random.Generator, n: int, name: str) -> ArraySplit:
    y = np.arange(n) % 4  # N, S, V, F
    X = rng.normal(scale=0.2, size=(n, 1, WINDOW)).astype(np.float32)
    X[:, 0, WINDOW // 2 - 4 : WINDOW // 2 + 4] += (y[:, None] + 1).astype(np.float32)  # class-shaped bump
    feats = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    feats[:, 0] = 0.8 + 0.1 * y + rng.normal(scale=0.02, size=n)  # an RR-like column
    groups = np.repeat(np.arange(n // 10), 10)[:n]
    return ArraySplit(X=X, y=y, features=feats, groups=groups, name=name)


class _SyntheticMitdb(MitdbAamiTask):
    """The mitdb-aami task (classes, metrics, training config) on a small synthetic beat set."""

    def load(self, root: Path, *, tiny: bool = False, seed: int = 0, progress: Any = None) -> TaskData:
        rng = np.random.default_rng(seed)
        train, val, test = (_split(rng, n, k) for n, k in ((160, "train"), (80, "val"), (80, "test")))
        info = {"dataset": "synthetic", "tiny": tiny, "n_train": 160, "n_val": 80, "n_test": 80}
        return TaskData(train, val, test, 360.0, WINDOW, Pipeline([]), info)


def test_bench_hybrid_row_on_a_synthetic_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(TASKS, "mitdb-aami", _SyntheticMitdb())
    out = runner.run_benchmark(
        "mitdb-aami", ["beatnet+lightgbm"], tmp_path, tmp_path / "res", tiny=True, n_boot=20
    )
    assert [p.name for p in out["results"]] == ["beatnet+lightgbm.json"]
    (r,) = load_results(tmp_path / "res" / "mitdb-aami")
    assert r["schema"] == SCHEMA and r["model"] == "beatnet+lightgbm" and r["family"] == "hybrid"
    assert r["primary_metric"] == "sveb_veb_f1" and len(r["confusion"]["matrix"]) == 4
    for m in r["metrics"].values():
        if m["value"] is not None and m["ci_low"] is not None:
            assert m["ci_low"] <= m["value"] + 1e-9 <= m["ci_high"] + 2e-9
    # LightGBM sees the pooled embedding (beatnet: 48 max-pooled channels) and the 13 beat features
    lgb = r["train"]["lightgbm"]
    assert lgb["n_features"] == N_FEATURES and lgb["embedding_dim"] == 48
    assert lgb["columns"] == lgb["embedding_dim"] + N_FEATURES
    assert r["train"]["config"]["lightgbm"]["sample_weight"] == "balanced"
    # one model: the embedding network, then the trees (leanecg.models.hybrid), from the trained beatnet
    assert (
        r["train"]["model_config"]["name"] == "hybrid" and r["train"]["network_config"]["name"] == "beatnet"
    )
    assert r["train"]["model_config"]["network"] == r["train"]["network_config"]
    cost = r["cost"]
    assert cost["params"] == cost["embedding_params"] + cost["tree_nodes"] and cost["tree_nodes"] > 0
    assert cost["reference"] == "resnet1d" and cost["latency_ratio_vs_reference"] > 0
    assert cost["latency_ms_median"] > 0 and cost["macs"] > 0
    assert (tmp_path / "res" / "mitdb-aami" / "results.md").read_text().count("beatnet+lightgbm") >= 1


def test_bench_cross_validates_a_hybrid_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(TASKS, "mitdb-aami", _SyntheticMitdb())
    runner.run_benchmark(
        "mitdb-aami", ["beatnet+lightgbm"], tmp_path, tmp_path / "res", tiny=True, n_boot=20, cv=2
    )
    (r,) = load_results(tmp_path / "res" / "mitdb-aami")
    cv = r["cv"]
    assert cv["k"] == 2 and len(cv["folds"]) == 2 and cv["inner_k"] >= 2
    assert "inner validation" in cv["recipe"] and "never on the held-out fold" in cv["recipe"]
    held = [set(f["groups"]) for f in cv["folds"]]
    assert not held[0] & held[1]  # leave-groups-out: a group is held out by one fold only
    # the class-shaped bump and the RR-like column separate the classes: the hybrid learns them in CV too
    assert cv["pooled"]["sveb_veb_f1"] > 0.5 and 0 <= cv["pooled"]["accuracy"] <= 1


def test_bench_rejects_hybrids_without_an_embedding(tmp_path: Path) -> None:
    with pytest.raises(LeanECGError, match="leadwise\\+lightgbm"):
        runner.run_benchmark("mitdb-aami", ["leadwise+lightgbm"], tmp_path, tmp_path / "res", tiny=True)
    with pytest.raises(LeanECGError, match="unknown model"):
        runner.run_benchmark("mitdb-aami", ["nope+lightgbm"], tmp_path, tmp_path / "res", tiny=True)
