"""leanecg.explain and `leanecg explain`: attribution methods, explanations of the shipped models on the
shipped example records (a record, a CSV, a folder, an exported .onnx), figures / HTML / JSON, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from benchhelp import TinyBench
from clihelp import invoke_cli, run_cli
from leanecg.data import load_record
from leanecg.data.record import Record
from leanecg.data.tabular import write_csv
from leanecg.errors import LeanECGError
from leanecg.explain import (
    explain_record,
    feature_integrated_gradients,
    feature_unit,
    grad_cam,
    integrated_gradients,
    lightgbm_contributions,
    occlusion,
    write_explanation,
)
from leanecg.explain.attribution import _score
from leanecg.models import build_model
from leanecg.package import resolve_model
from leanecg.package.model import load_model_package

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "src" / "leanecg" / "examples"
CINC_RECORD = EXAMPLES / "cinc2017" / "A00405.hea"
MITDB_RECORD = EXAMPLES / "mitdb" / "233.hea"


def _tiny(n_features: int = 0) -> torch.nn.Module:
    torch.manual_seed(0)
    name = "beatnet" if n_features else "litenet"
    opts = {"input_norm": False} if n_features else {}
    return build_model(name, n_leads=1, n_classes=3, n_features=n_features, **opts).eval()


def _log_odds(model: torch.nn.Module, x: np.ndarray, k: int, feats: np.ndarray | None = None) -> np.ndarray:
    with torch.no_grad():
        f = None if feats is None else torch.from_numpy(feats)
        return _score(model, torch.from_numpy(x), f, torch.full((len(x),), k), 1.0, False).numpy()


def test_integrated_gradients_add_up_to_the_change_from_the_baseline() -> None:
    model = _tiny()
    x = np.random.default_rng(0).normal(size=(2, 1, 256)).astype(np.float32)
    attr = integrated_gradients(model, x, 1, steps=256)
    assert attr.shape == x.shape
    delta = _log_odds(model, x, 1) - _log_odds(model, np.zeros_like(x), 1)
    np.testing.assert_allclose(attr.sum(axis=(1, 2)), delta, rtol=0.02, atol=0.02)


def test_feature_attributions_add_up_and_grad_cam_is_non_negative() -> None:
    model = _tiny(n_features=3)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 1, 64)).astype(np.float32)
    f = rng.normal(size=(4, 3)).astype(np.float32)
    base = np.zeros(3, dtype=np.float32)
    attr = feature_integrated_gradients(model, x, f, 2, steps=256, baseline=base)
    delta = _log_odds(model, x, 2, f) - _log_odds(model, x, 2, np.zeros_like(f))
    np.testing.assert_allclose(attr.sum(axis=1), delta, rtol=0.02, atol=0.02)
    cam = grad_cam(model, x, [0, 1, 2, 0], f)
    assert cam.shape == (4, 64) and np.all(cam >= 0) and np.isfinite(cam).all()


def test_occlusion_finds_the_only_samples_that_matter() -> None:
    def proba(batch: np.ndarray) -> np.ndarray:  # class 1 "looks at" samples 40..59 only
        s = batch[:, 0, 40:60].mean(axis=1)
        p1 = 1 / (1 + np.exp(-s))
        return np.stack([1 - p1, p1], axis=1)

    x = np.ones((1, 1, 100), dtype=np.float32) * 3
    rel = occlusion(proba, x, 1, window=10, stride=5)[0]
    assert rel[45:55].min() > 0.1
    assert np.abs(rel[:25]).max() == 0 and np.abs(rel[75:]).max() == 0


def test_lightgbm_contributions_add_up_to_the_raw_score() -> None:
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + 0.5 * X[:, 2] > 0).astype(int) + (X[:, 1] > 1).astype(int)
    booster = lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1}, lgb.Dataset(X, y), 20)
    contrib, bias = lightgbm_contributions(booster, X[:5], target=1)
    raw = booster.predict(X[:5], raw_score=True)[:, 1]
    np.testing.assert_allclose(contrib.sum(axis=1) + bias, raw, rtol=1e-6, atol=1e-6)
    assert np.abs(contrib[:, 3]).max() < np.abs(contrib[:, 0]).max()  # the noise column matters least


def test_feature_units_from_names() -> None:
    assert feature_unit("hrv_mean_rr_ms") == "ms"
    assert feature_unit("morph_qrs_area_mv_ms_median") == "mV·ms"
    assert feature_unit("hrv_lf_power_ms2") == "ms²"
    assert feature_unit("spec_dominant_freq_hz") == "Hz"
    assert feature_unit("pre_rr") == "s"
    assert feature_unit("template_corr") == ""


@pytest.mark.parametrize("method", ["ig", "gradcam"])
def test_explain_record_network(method: str, tmp_path: Path, tiny_cinc2017_bench: TinyBench) -> None:
    """Gradient methods on a record network with record features (a wide_deep_lite package)."""
    _check_record_explanation(
        load_model_package(tiny_cinc2017_bench.package("wide_deep_lite")), method, tmp_path
    )


def test_explain_shipped_record_model_occludes_signal_and_features(tmp_path: Path) -> None:
    """The shipped cinc2017 model averages a network and boosted trees: occlusion, feature occlusion, and a
    one-line refusal of gradient methods (the trees have none)."""
    pkg = load_model_package(resolve_model("cinc2017"))
    e = _check_record_explanation(pkg, "occlusion", tmp_path)
    assert "feature occlusion" in " ".join(e.notes) and "training median" in e.feature_method
    for method in ("ig", "gradcam"):
        with pytest.raises(LeanECGError, match="piecewise constant"):
            explain_record(pkg, load_record(CINC_RECORD), method=method, steps=4)


def _check_record_explanation(pkg: Any, method: str, tmp_path: Path) -> Any:
    rec = load_record(CINC_RECORD)
    e = explain_record(pkg, rec, method=method, steps=4)
    assert e.relevance.shape == (rec.n_samples, 1) and np.isfinite(e.relevance).all()
    assert np.abs(e.relevance).max() > 0
    assert e.label in pkg.class_names and 0 < e.probability <= 1
    probs = pkg.predict_records([rec])[0]
    assert e.probabilities == pytest.approx(dict(zip(pkg.class_names, probs, strict=True)), abs=1e-6)
    assert e.features and len(e.features) == len(pkg.input["features"])
    assert any(f.unit == "ms" for f in e.features)
    assert abs(e.features[0].contribution) >= abs(e.features[-1].contribution)  # ranked
    doc = e.to_dict()
    assert len(doc["relevance"][0]) == rec.n_samples and doc["method"] == method
    png = write_explanation(e, tmp_path / "x.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return e


def test_explain_beat_model_for_a_class(tmp_path: Path) -> None:
    pkg = load_model_package(resolve_model("mitdb-aami"))
    rec = load_record(MITDB_RECORD)
    e = explain_record(pkg, rec, method="ig", target="V", steps=4)
    assert e.beats and len(e.beats) == len(e.rpeaks) > 20
    assert {b["target"] for b in e.beats} == {"V"}
    assert e.beats[e.focus_beat]["target_probability"] == max(b["target_probability"] for b in e.beats)
    assert e.features and e.features_of.startswith("beat at")
    assert "blurred" in e.baseline  # beatnet normalises its windows: a zero baseline is degenerate
    # relevance sits on the beats: within 0.25 s before / 0.45 s after some R peak
    t = np.flatnonzero(np.abs(e.relevance[:, 0]) > 0)
    near = np.zeros(rec.n_samples, bool)
    for p in e.rpeaks:
        near[max(0, p - int(0.26 * rec.fs)) : p + int(0.46 * rec.fs)] = True
    assert near[t].all()
    html = write_explanation(e, tmp_path / "x.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and "Feature contributions" in html


@pytest.fixture(scope="module")
def cli_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("explain_cli")
    folder = d / "records"
    folder.mkdir()
    for stem in ("A00001", "A00405"):
        for ext in (".hea", ".mat"):
            shutil.copy(EXAMPLES / "cinc2017" / f"{stem}{ext}", folder / f"{stem}{ext}")
    rec = load_record(EXAMPLES / "cinc2017" / "A00001.hea")
    write_csv(Record(name="rec", signal=rec.signal[:3000], fs=rec.fs, leads=["ECG"]), d / "rec.csv")
    return d


def test_cli_explain_record_csv_and_folder(cli_dir: Path) -> None:
    proc = run_cli(
        ["explain", str(MITDB_RECORD), "--model", "mitdb-aami", "--out", "b.png", "--steps", "4"], cli_dir
    )
    assert proc.returncode == 0, proc.stderr
    assert (cli_dir / "b.png").stat().st_size > 10_000
    proc = invoke_cli(
        [
            "explain",
            "rec.csv",
            "--fs",
            "300",
            "--model",
            "cinc2017",
            "--out",
            "r.json",
        ],
        cli_dir,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((cli_dir / "r.json").read_text(encoding="utf-8"))
    # the shipped cinc2017 model holds trees: occlusion by default, features by feature occlusion
    assert doc["method"] == "occlusion" and len(doc["relevance"][0]) == 3000 and doc["features"]
    assert doc["feature_contribution_method"].startswith("each feature set to its training median")
    proc = invoke_cli(
        [
            "explain",
            "records",
            "--model",
            "cinc2017",
            "--out",
            "out",
            "--format",
            "html",
            "--class",
            "A",
            "-q",
        ],
        cli_dir,
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert sorted(p.name for p in (cli_dir / "out").iterdir()) == ["A00001.html", "A00405.html"]


def test_cli_explain_onnx_occlusion(cli_dir: Path) -> None:
    onnx = resolve_model("cinc2017") / "model.onnx"
    if not onnx.is_file():
        pytest.skip("the shipped cinc2017 model has no exported model.onnx here")
    proc = invoke_cli(["explain", str(CINC_RECORD), "--model", str(onnx), "--out", "o.json"], cli_dir)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((cli_dir / "o.json").read_text(encoding="utf-8"))
    assert doc["method"] == "occlusion" and doc["features"]  # trees: feature occlusion, any runtime
    proc = invoke_cli(
        ["explain", str(CINC_RECORD), "--model", str(onnx), "--method", "ig", "--out", "o.json"], cli_dir
    )
    assert (
        proc.returncode == 2 and proc.stderr.startswith("error: ") and "use --method occlusion" in proc.stderr
    )
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--class", "Z"], "--class: unknown class 'Z'"),
        (["--method", "shap"], "--method: unknown method 'shap'"),
        (["--steps", "0"], "--steps"),
        (["--out", "x.txt"], "unknown output format 'txt'"),
    ],
)
def test_cli_explain_bad_input(cli_dir: Path, args: list[str], needle: str) -> None:
    base = ["explain", str(CINC_RECORD), "--model", "cinc2017", "--out", "x.png"]
    proc = invoke_cli(base + args if "--out" not in args else base[:-2] + args, cli_dir)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], proc.stderr


def test_deletion_and_insertion_curves_favour_the_true_relevance() -> None:
    from leanecg.explain.faithfulness import (
        FRACTIONS,
        curve_area,
        mean_ci,
        perturbation_curves,
        random_relevance,
        rank_correlation,
    )

    def proba(batch: np.ndarray) -> np.ndarray:  # class 1 depends on samples 40..59 only
        s = batch[:, 0, 40:60].mean(axis=1) - 1.5
        p1 = 1 / (1 + np.exp(-4 * s))
        return np.stack([1 - p1, p1], axis=1)

    x = np.full((3, 1, 100), 3.0, dtype=np.float32)
    base = np.zeros_like(x)
    true = np.zeros((3, 100))
    true[:, 40:60] = 1.0
    rand = random_relevance((3, 100), seed=1)
    d_true = perturbation_curves(proba, x, true, 1, base)
    d_rand = perturbation_curves(proba, x, rand, 1, base)
    i_true = perturbation_curves(proba, x, true, 1, base, mode="insertion")
    assert d_true.shape == (3, len(FRACTIONS)) and d_true[0, 0] == pytest.approx(proba(x[:1])[0, 1])
    assert d_true[0, -1] == pytest.approx(proba(base[:1])[0, 1])  # everything deleted
    assert (curve_area(d_true) < curve_area(d_rand) - 0.2).all()
    assert (curve_area(i_true) > 0.7).all()
    np.testing.assert_allclose(rank_correlation(true + rand, true + rand), 1.0)
    np.testing.assert_allclose(rank_correlation(rand, -rand), -1.0)
    ci = mean_ci(np.array([1.0, 2.0, 3.0, 4.0]), np.array(["a", "a", "b", "b"]), n_boot=200)
    assert ci["mean"] == 2.5 and 1.5 <= ci["ci_low"] <= ci["ci_high"] <= 3.5


def test_randomised_package_has_other_weights() -> None:
    from leanecg.explain.faithfulness import randomised_package

    pkg = load_model_package(resolve_model("mitdb-aami"))
    rnd = randomised_package(pkg, 3)
    a = dict(pkg.model.state_dict())
    b = dict(rnd.model.state_dict())
    assert a.keys() == b.keys()
    weights = [k for k, v in a.items() if k.endswith("weight") and v.ndim == 2]  # linear layers
    assert weights and all(not torch.allclose(a[k], b[k]) for k in weights)
    assert rnd.temperature == pkg.temperature and rnd.input == pkg.input


def test_occlusion_of_several_beats_keeps_each_beat_with_its_own_features() -> None:
    from leanecg.explain.core import input_baseline, model_proba_fn
    from leanecg.signal.beats import beat_model_inputs, select_beat_features

    pkg = load_model_package(resolve_model("mitdb-aami"))
    y = pkg.preprocess(load_record(MITDB_RECORD))
    from leanecg.signal.rpeaks import detect_rpeaks

    fs = float(pkg.input["fs"])
    peaks = detect_rpeaks(y[:, 0], fs)
    win, feats = beat_model_inputs(y, fs, peaks, pkg.input["before_s"], pkg.input["after_s"], context=True)
    feats = select_beat_features(feats, pkg.input["features"])
    X, F = win[5:9], feats[5:9]
    base, _ = input_baseline(pkg, X)
    together = occlusion(model_proba_fn(pkg, F, recompute=False), X, 2, window=9, stride=5, baseline=base)
    for i in range(len(X)):
        fn = model_proba_fn(pkg, F[i : i + 1], recompute=False)
        alone = occlusion(fn, X[i : i + 1], 2, window=9, stride=5, baseline=base[i : i + 1])
        np.testing.assert_allclose(together[i], alone[0], atol=1e-5)


def test_the_feature_baseline_of_an_ensemble_whose_members_read_their_own_columns() -> None:
    """Each member's training means land in the ensemble's columns it reads; a column read by two members gets
    their mean (the shipped mitdb-aami pair: a network on 34 columns, a linear model on the first 17)."""
    import torch

    from leanecg.explain.attribution import feature_baseline
    from leanecg.models.ensemble import Ensemble
    from leanecg.models.linear import FeatureLinear

    a, b = FeatureLinear(1, 4, n_features=3), FeatureLinear(1, 4, n_features=2)
    with torch.no_grad():
        a.norm.running_mean.copy_(torch.tensor([1.0, 2.0, 3.0]))
        b.norm.running_mean.copy_(torch.tensor([5.0, 7.0]))
    ens = Ensemble([a, b], feature_columns=[[0, 1, 2], [0, 3]], n_features=4)
    np.testing.assert_allclose(feature_baseline(ens), [3.0, 2.0, 3.0, 7.0])
    same = Ensemble([a, FeatureLinear(1, 4, n_features=3)])
    np.testing.assert_allclose(feature_baseline(same), [0.5, 1.0, 1.5])  # the second member's means are 0
