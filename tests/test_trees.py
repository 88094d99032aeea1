"""Boosted trees as a tensor model (:mod:`leanecg.models.trees`): LightGBM's scores in torch and ONNX."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from benchhelp import TinyBench
from leanecg.errors import LeanECGError
from leanecg.features.record import record_feature_names
from leanecg.models.registry import build_from_config, build_model, ensemble_of, model_config, trees_model
from leanecg.models.trees import TreeEnsemble, trees_from_lightgbm
from leanecg.train.hybrid import count_tree_nodes, fit_lightgbm


def _data(n: int = 1500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 12)).astype(np.float32)
    X[:, 3] = np.round(X[:, 3], 1)  # repeated values: splits fall between them
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int) + 2 * (X[:, 3] > 0.5)
    return X, y


@pytest.fixture(scope="module")
def fitted():  # type: ignore[no-untyped-def]
    X, y = _data()
    return fit_lightgbm(X[:1000], y[:1000], X[1000:1250], y[1000:1250], n_classes=4, seed=0)


def test_tree_model_gives_lightgbm_raw_scores_and_counts_its_nodes(fitted) -> None:  # type: ignore[no-untyped-def]
    X, _ = _data(seed=1)
    model = trees_model(fitted.booster, n_leads=1).eval()
    raw = fitted.booster.predict(X, num_iteration=fitted.best_iteration, raw_score=True)
    with torch.no_grad():
        logits = model(torch.zeros(len(X), 1, 5), features=torch.from_numpy(X)).numpy()
    assert np.abs(logits - raw).max() < 1e-4 and np.array_equal(logits.argmax(1), raw.argmax(1))
    assert sum(p.numel() for p in model.parameters()) == count_tree_nodes(fitted)
    assert model.n_trees == 4 * fitted.best_iteration  # one tree per class and round, best rounds only
    # features exactly at a split threshold go left, as in LightGBM (x <= threshold)
    shape, arrays = trees_from_lightgbm(fitted.booster, fitted.best_iteration)
    splits = arrays["right"] != np.arange(shape["n_nodes"])
    at = X[: int(splits.sum())].copy()
    at[np.arange(len(at)), arrays["feature"][splits][: len(at)]] = arrays["weight"][splits][: len(at)]
    with torch.no_grad():
        got = model(torch.zeros(len(at), 1, 5), features=torch.from_numpy(at)).numpy()
    want = fitted.booster.predict(at, num_iteration=fitted.best_iteration, raw_score=True)
    assert np.abs(got - want).max() < 1e-4


def test_config_round_trip_and_ensemble_with_a_network(fitted) -> None:  # type: ignore[no-untyped-def]
    trees = trees_model(fitted.booster, n_leads=1).eval()
    again = build_from_config(model_config(trees))
    assert str(again.load_state_dict(trees.state_dict())) == "<All keys matched successfully>"
    net = build_model("beatnet", n_leads=1, n_classes=4, n_features=12).eval()
    ens = ensemble_of([net, trees]).eval()
    x, f = torch.randn(6, 1, 126), torch.from_numpy(_data(6, seed=2)[0])
    with torch.no_grad():
        p = (net(x, features=f).softmax(-1) + trees(x, features=f).softmax(-1)) / 2
        assert torch.allclose(ens(x, features=f).softmax(-1), p, atol=1e-6)
        rebuilt = build_from_config(model_config(ens))
        rebuilt.load_state_dict(ens.state_dict())
        assert torch.allclose(rebuilt.eval()(x, features=f), ens(x, features=f))
    with pytest.raises(LeanECGError, match="integers"):
        build_from_config({**model_config(trees), "depth": "deep"})
    with pytest.raises(LeanECGError, match="features input"):
        trees(x)


def test_categorical_splits_are_refused() -> None:
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    X = np.column_stack([rng.integers(0, 6, 600), rng.normal(size=600)]).astype(np.float64)
    y = np.isin(X[:, 0], [1, 4]).astype(int)
    params = {"objective": "binary", "verbose": -1, "min_data_per_group": 5, "cat_smooth": 1}
    booster = lgb.train(params, lgb.Dataset(X, y, categorical_feature=[0]), num_boost_round=5)
    with pytest.raises(LeanECGError, match="splits are not supported"):
        trees_from_lightgbm(booster)


def test_shape_checks() -> None:
    with pytest.raises(LeanECGError, match="n_nodes >= n_trees"):
        TreeEnsemble(n_leads=1, n_classes=2, n_features=3, n_trees=4, n_nodes=3, depth=1)
    model = TreeEnsemble(n_leads=1, n_classes=2, n_features=3, n_trees=2, n_nodes=2, depth=0)
    good = {
        "weight": np.zeros(2),
        "feature": np.array([0, 0]),
        "right": np.array([0, 1]),
        "root": np.array([0, 1]),
    }
    model.load_arrays(good)
    with pytest.raises(LeanECGError, match="weight has shape"):
        model.load_arrays({**good, "weight": np.zeros(3)})
    with pytest.raises(LeanECGError, match="right child before its node"):
        model.load_arrays({**good, "right": np.array([0, 0])})
    with pytest.raises(LeanECGError, match="feature out of range"):
        model.load_arrays({**good, "feature": np.array([3, 0])})
    # the structure is stored compactly: int16 features, int32 children and roots
    assert model.feature.dtype == torch.int16 and model.right.dtype == model.root.dtype == torch.int32


@pytest.mark.parametrize(
    ("row", "config_name", "family"),
    [("lightgbm", "lightgbm_trees", "classic"), ("wide_deep_lite+lightgbm", "hybrid", "hybrid")],
)
def test_packaged_trees_run_in_onnx_fp32_and_int8_like_torch(
    tiny_cinc2017_bench: TinyBench, shared_data: Path, tmp_path: Path, row: str, config_name: str, family: str
) -> None:
    """``bench --save-models`` packages cinc2017's LightGBM row and its hybrid; ``export`` (fp32 and int8)
    keeps the trees' outputs: int8 leaves their thresholds and leaf sums in float."""
    from leanecg.deploy.onnx import export_onnx
    from leanecg.package import load_model_package, load_onnx_package

    folder = tiny_cinc2017_bench.package(row)
    pkg = load_model_package(folder)
    assert pkg.meta["model_config"]["name"] == config_name and pkg.meta["family"] == family
    result = tiny_cinc2017_bench.result(row)
    assert pkg.meta["cost"]["params"] == result["cost"]["params"] > 0
    assert result["cost"]["reference"] == "resnet1d" and result["cost"]["latency_ratio_vs_reference"] < 1
    records = sorted((shared_data / "cinc2017").rglob("A0000[1-6].hea"))
    assert len(records) >= 3
    from leanecg.data import load_record

    recs = [load_record(p.with_suffix("")) for p in records]
    want = pkg.predict_records(recs)
    for int8 in (False, True):
        out = tmp_path / f"trees{'_int8' if int8 else ''}.onnx"
        if int8 and family == "hybrid":  # its trees split on the embedding: int8 would move the splits
            with pytest.raises(LeanECGError, match="export it in fp32"):
                export_onnx(folder, out, int8=True, data_dir=shared_data)
            assert not out.exists()
            continue
        export_onnx(folder, out, int8=int8, data_dir=shared_data)
        got = load_onnx_package(out).predict_records(recs)
        assert np.abs(got - want).max() < 1e-5, (int8, np.abs(got - want).max())


def test_network_and_lightgbm_packages_make_one_ensemble_package(
    tiny_cinc2017_bench: TinyBench, shared_data: Path, tmp_path: Path
) -> None:
    """``leanecg ensemble`` of cinc2017's wide_deep_lite and LightGBM packages: one package averaging a
    network and trees (parameters: weights + tree nodes), usable by ``predict``."""
    from clihelp import invoke_cli
    from leanecg.package import load_model_package

    net, trees = (tiny_cinc2017_bench.package(m) for m in ("wide_deep_lite", "lightgbm"))
    out = tmp_path / "ens"
    args = ["ensemble", str(net), str(trees), "--out", str(out), "--data-dir", str(shared_data)]
    proc = invoke_cli(args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    ens = load_model_package(out)
    assert ens.meta["model_name"] == "wide_deep_lite&lightgbm" and ens.meta["family"] == "lightweight"
    params = [load_model_package(p).meta["cost"]["params"] for p in (net, trees)]
    assert ens.meta["cost"]["params"] == sum(params)
    from leanecg.data import load_record

    rec = load_record(sorted((shared_data / "cinc2017").rglob("A00001.hea"))[0].with_suffix(""))
    x = np.ascontiguousarray(ens.preprocess(rec).T)
    feats = torch.from_numpy(ens.record_features([x]).astype(np.float32))
    xt = torch.from_numpy(x[None].astype(np.float32))
    with torch.no_grad():
        members = [load_model_package(p).model.eval()(xt, features=feats).softmax(-1) for p in (net, trees)]
        got = ens.model.eval()(xt, features=feats).softmax(-1)
    torch.testing.assert_close(got, (members[0] + members[1]) / 2, atol=1e-6, rtol=1e-5)
    assert ens.predict_records([rec]).shape == (1, 4)


def test_explain_refuses_gradients_on_trees_and_occludes_them(
    tiny_cinc2017_bench: TinyBench, shared_data: Path, tmp_path: Path
) -> None:
    """Trees have no gradients: ``explain`` occludes by default (signal and features) and refuses ig."""
    import json

    from clihelp import invoke_cli

    record = sorted((shared_data / "cinc2017").rglob("A00001.hea"))[0].with_suffix("")
    pkg = tiny_cinc2017_bench.package("lightgbm")
    out = tmp_path / "e.json"
    proc = invoke_cli(
        ["explain", str(record), "--model", str(pkg), "--method", "ig", "--out", str(out)], tmp_path
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "piecewise constant" in lines[0], proc.stderr
    assert "occlusion" in lines[0] and not out.exists()
    proc = invoke_cli(["explain", str(record), "--model", str(pkg), "--out", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["method"] == "occlusion" and len(doc["features"]) == len(record_feature_names())
    assert doc["feature_contribution_method"] == "each feature set to its training median, one at a time"


def test_int8_of_a_network_and_trees_ensemble_gives_the_trees_float_features(
    tiny_cinc2017_bench: TinyBench, shared_data: Path, tmp_path: Path
) -> None:
    """The features input feeds the network (quantized) and the trees' splits: int8 must not hand the trees
    the 8-bit copy (``unquantize_selection_inputs``)."""
    import onnx

    from clihelp import invoke_cli
    from leanecg.deploy.onnx import export_onnx
    from leanecg.deploy.onnx_graph import SELECTION_OPS

    net, trees = (tiny_cinc2017_bench.package(m) for m in ("wide_deep_lite", "lightgbm"))
    pkg = tmp_path / "ens"
    proc = invoke_cli(
        ["ensemble", str(net), str(trees), "--out", str(pkg), "--data-dir", str(shared_data)], tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    report = export_onnx(pkg, tmp_path / "e8.onnx", int8=True, data_dir=shared_data)
    graph = onnx.load(str(tmp_path / "e8.onnx")).graph
    producers = {o: n.op_type for n in graph.node for o in n.output}
    selection = [n for n in graph.node if n.op_type in SELECTION_OPS]
    assert selection and all(producers.get(i) != "DequantizeLinear" for n in selection for i in n.input)
    # the nodes only the features reach stay in float too (onnx_int8._feature_only_nodes): nothing 8-bit reads them
    assert not any(n.op_type == "QuantizeLinear" and "features" in n.input for n in graph.node)
    # the 8-bit copy of the features had moved the trees' probabilities by 0.12; labels are no measure here,
    # the tiny members' probabilities are nearly tied
    assert report.check["max_abs_prob_diff"] < 0.01


def test_missing_values_go_where_lightgbm_sends_them() -> None:
    """NaN: a split that learned a direction for it sends it there (``missing``); others read it as 0."""
    X, y = _data(2000, seed=3)
    Xn = X.copy()
    Xn[::7, 0] = np.nan  # missing in training: LightGBM learns directions for NaN on column 0
    fit_nan = fit_lightgbm(Xn[:1500], y[:1500], Xn[1500:], y[1500:], n_classes=4, seed=0)
    fit_plain = fit_lightgbm(X[:1500], y[:1500], X[1500:], y[1500:], n_classes=4, seed=0)
    probe = _data(600, seed=4)[0]
    probe[::3, 0] = np.nan
    probe[1::5, 2] = np.nan
    for fitted, missing in ((fit_nan, True), (fit_plain, False)):
        model = trees_model(fitted.booster, n_leads=1).eval()
        assert model.missing is missing and model_config(model).get("missing", False) is missing
        with torch.no_grad():
            got = model(torch.zeros(len(probe), 1, 5), features=torch.from_numpy(probe)).numpy()
        want = fitted.booster.predict(probe, num_iteration=fitted.best_iteration, raw_score=True)
        assert np.abs(got - want).max() < 1e-4, (missing, np.abs(got - want).max())
        again = build_from_config(model_config(model))
        again.load_state_dict(model.state_dict())


def test_onnx_export_writes_each_tree_module_as_one_tree_ensemble_node(fitted, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """fp32 export: every tree module becomes one ``ai.onnx.ml`` ``TreeEnsemble`` node (no traversal left),
    two identical members stay two nodes, a single-leaf tree and NaN (learned directions or read as 0) give
    the torch module's outputs; the model is left as it was."""
    import copy
    from types import SimpleNamespace

    import onnx
    import onnxruntime as ort

    from leanecg.deploy.onnx_export import export_fp32
    from leanecg.deploy.onnx_trees import ML_OPSET, PLACEHOLDER, replace_tree_placeholders

    X, y = _data(2000, seed=5)
    X[::5, 1] = np.nan  # LightGBM learns directions for NaN on column 1
    fit_nan = fit_lightgbm(X[:1500], y[:1500], X[1500:], y[1500:], n_classes=4, seed=0)
    shape = {"n_leads": 1, "n_classes": 4, "n_features": 12, "n_trees": 4, "n_nodes": 8, "depth": 1}
    stump = build_from_config({"format": "leanecg.model/1", "name": "lightgbm_trees", **shape}).load_arrays(
        {  # trees 1 and 3 are single leaves
            "weight": np.array([0.2, 1.0, -1.0, 0.5, -0.1, 0.3, -0.2, 0.7]),
            "feature": np.array([3, 0, 0, 0, 0, 0, 0, 0]),
            "right": np.array([2, 1, 2, 3, 6, 5, 6, 7]),
            "root": np.array([0, 3, 4, 7]),
        }
    )
    plain = trees_model(fitted.booster, n_leads=1)
    members = [plain, copy.deepcopy(plain), trees_model(fit_nan.booster, n_leads=1), stump]
    model = ensemble_of(members).eval()
    assert members[2].missing and not plain.missing
    keys = set(model.state_dict())
    package = SimpleNamespace(
        model=model,
        kind="beats",
        path=tmp_path,
        meta={"input": {"n_leads": 1, "n_samples": 16, "features": [f"f{i}" for i in range(12)]}},
    )
    path = export_fp32(package, tmp_path / "t.onnx")  # type: ignore[arg-type]
    proto = onnx.load(str(path))
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("TreeEnsemble") == 4 and not {"Gather", "GatherElements", "GatherND"} & set(ops)
    assert {(o.domain, o.version) for o in proto.opset_import} >= {("ai.onnx.ml", ML_OPSET)}
    # the placeholders are gone from the model and from the file
    assert all("forward" not in m.__dict__ and PLACEHOLDER not in m._buffers for m in members)
    assert set(model.state_dict()) == keys and not any(PLACEHOLDER in t.name for t in proto.graph.initializer)

    probe = _data(400, seed=6)[0]
    probe[::3, 1] = np.nan
    probe[1::4, 3] = np.nan
    probe[2::5, 0] = 0.0
    x = np.zeros((len(probe), 1, 16), np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"x": x, "features": probe})[0]
    with torch.no_grad():
        want = model(torch.from_numpy(x), features=torch.from_numpy(probe)).numpy()
        stump_logits = stump(torch.from_numpy(x), features=torch.from_numpy(probe)).numpy()
    assert np.abs(got - want).max() < 1e-5, np.abs(got - want).max()
    assert np.allclose(stump_logits[:, 1], 0.5) and np.allclose(stump_logits[:, 3], 0.7)
    with pytest.raises(LeanECGError, match="not found once"):  # a graph without the placeholder
        replace_tree_placeholders(proto, {PLACEHOLDER: stump})
