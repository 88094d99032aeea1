"""CinC 2017 wide-and-deep model: record-feature inputs, the ``wide_deep_lite`` model, its package and CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from benchhelp import TinyBench
from clihelp import invoke_cli
from leanecg.data.synthetic import synthetic_ecg
from leanecg.errors import LeanECGError
from leanecg.features.record import record_feature_names
from leanecg.models.record_inputs import (
    apply_feature_config,
    check_feature_config,
    fit_feature_config,
    model_input_features,
    raw_input_features,
)

FS = 150.0


def _inputs(rhythms: tuple[str, ...] = ("sinus", "af"), duration_s: float = 20.0) -> list[np.ndarray]:
    """Channel-first ``(1, n)`` model inputs of synthetic records at ``FS``."""
    return [
        synthetic_ecg(duration_s=duration_s, fs=FS, rhythm=r, seed=i).signal.T.astype(np.float32)
        for i, r in enumerate(rhythms)
    ]


def test_fit_feature_config_is_robust_median_and_iqr() -> None:
    names = ["a", "b", "c", "d"]
    f = np.array(
        [
            [1.0, 5.0, np.nan, 2.0],
            [2.0, 5.0, np.nan, 2.0],
            [3.0, 5.0, np.nan, 2.0],
            [4.0, 5.0, np.nan, 2.0],
            [100.0, 5.0, np.nan, 2.0],
        ]
    )
    f[4, 3] = 4.0  # IQR of column d is 0 but its std is not
    cfg = fit_feature_config(f, names, clip=3.0)
    assert cfg["names"] == names and cfg["clip"] == 3.0
    assert cfg["center"][0] == 3.0 and cfg["scale"][0] == 2.0  # median 3, IQR 4 - 2
    assert cfg["scale"][1] == 1.0  # constant column: neither IQR nor std, so 1
    assert cfg["center"][2] == 0.0 and cfg["scale"][2] == 1.0  # all missing
    assert cfg["scale"][3] == pytest.approx(np.std(f[:, 3]))
    z = apply_feature_config(f, cfg)
    assert z.dtype == np.float32 and np.isfinite(z).all()
    assert z[4, 0] == 3.0  # (100 - 3) / 2 clipped to the clip value
    assert z[0, 0] == -1.0 and (z[:, 2] == 0).all()  # missing -> 0 (the training median)
    json.dumps(cfg)


def test_fit_feature_config_rejects_bad_shapes() -> None:
    with pytest.raises(LeanECGError, match="expected shape"):
        fit_feature_config(np.zeros((3, 2)), ["a", "b", "c"])
    with pytest.raises(LeanECGError, match="clip"):
        fit_feature_config(np.zeros((3, 1)), ["a"], clip=0.0)


def test_model_input_features_follow_the_config() -> None:
    X = _inputs(("sinus", "af", "sinus"))
    names = record_feature_names()
    raw = np.stack([np.arange(len(names), dtype=float)] * 3)
    cfg = fit_feature_config(raw, names)
    feats = model_input_features(X, FS, cfg)
    assert feats.shape == (3, len(names)) and feats.dtype == np.float32 and np.isfinite(feats).all()
    assert np.abs(feats).max() <= cfg["clip"]
    # the AF record's RR irregularity shows up in the features: it differs from both sinus records
    assert not np.allclose(feats[0], feats[1])
    assert model_input_features([], FS, cfg).shape == (0, len(names))


def test_feature_config_of_another_version_is_refused() -> None:
    names = record_feature_names()
    cfg = fit_feature_config(np.ones((2, len(names))), names)
    check_feature_config(cfg)
    with pytest.raises(LeanECGError, match="version"):
        check_feature_config({**cfg, "feature_version": -1})
    with pytest.raises(LeanECGError, match="version"):
        check_feature_config({**cfg, "feature_version": cfg["feature_version"] + 1})
    with pytest.raises(LeanECGError, match="version"):
        check_feature_config({**cfg, "names": [*names, "rhy_not_a_feature"]})


def test_a_version_1_model_reads_its_columns_out_of_a_version_2_row() -> None:
    """Versions only append columns: a model trained on version 1 (the 79 columns before rhy_) gets exactly
    those columns, scaled as before, from this version's features."""
    X = _inputs(("sinus", "af"))
    names = record_feature_names()
    v1 = [n for n in names if not n.startswith("rhy_")]
    raw, _ = raw_input_features(X, FS)
    cfg = fit_feature_config(raw, names)
    cfg_v1 = {**fit_feature_config(raw[:, : len(v1)], v1), "feature_version": 1}
    check_feature_config(cfg_v1)
    both = model_input_features(X, FS, cfg)
    old = model_input_features(X, FS, cfg_v1)
    assert old.shape == (2, 79) and np.array_equal(old, both[:, : len(v1)])
    sub, sub_names = raw_input_features(X, FS, names=["rhy_frac_dev10", "hrv_n_beats"])
    assert sub_names == ["rhy_frac_dev10", "hrv_n_beats"]
    assert np.array_equal(sub, raw[:, [names.index("rhy_frac_dev10"), 0]], equal_nan=True)
    with pytest.raises(LeanECGError, match="does not compute"):
        raw_input_features(X, FS, names=["no_such_feature"])
    with pytest.raises(LeanECGError, match="not a record-feature config"):
        check_feature_config({"format": "other"})


def test_wide_deep_lite_is_small_and_takes_features() -> None:
    import torch

    from leanecg.models.registry import build_from_config, build_model, count_parameters, model_config

    n_feat = len(record_feature_names())
    model = build_model("wide_deep_lite", n_leads=1, n_classes=4, n_features=n_feat)
    assert count_parameters(model) <= 100_000
    assert model.extra_inputs == ("features",)
    model.eval()
    x = torch.randn(2, 1, int(30 * FS))
    out = model(x, features=torch.randn(2, n_feat))
    assert out.shape == (2, 4)
    same = build_from_config(json.loads(json.dumps(model_config(model))))
    same.load_state_dict(model.state_dict(), strict=True)
    same.eval()
    f = torch.zeros(2, n_feat)
    assert torch.allclose(same(x, features=f), model(x, features=f))
    with pytest.raises(LeanECGError, match="features"):
        model(x)


def test_tiny_bench_packages_the_feature_model(
    tmp_path: Path, shared_data: Path, tiny_cinc2017_bench: TinyBench
) -> None:
    """A --tiny run of wide_deep_lite is packaged with its feature config and predicts raw records."""
    from leanecg.data import get_dataset, load_record
    from leanecg.package.model import load_model_package

    pkg = load_model_package(tiny_cinc2017_bench.package("wide_deep_lite"))
    spec = pkg.input
    assert spec["features"] == record_feature_names()
    assert spec["feature_config"]["names"] == spec["features"]
    assert len(spec["feature_config"]["center"]) == len(spec["features"])
    ds = get_dataset("cinc2017")
    names = ds.split(shared_data)["test"][:3]
    records = [load_record(ds.record_path(shared_data, r), annotations=False) for r in names]
    probs = pkg.predict_records(records)
    assert probs.shape == (3, 4) and np.allclose(probs.sum(axis=1), 1.0)
    # the package computes the features from the model input, exactly as the task did in training
    X = [pkg.preprocess(r).T for r in records]
    feats = pkg.record_features(X)
    assert feats is not None and feats.shape == (3, len(spec["features"]))

    out = tmp_path / "p.csv"
    files = [str(ds.record_path(shared_data, r)) for r in names]
    proc = invoke_cli(["predict", *files, "--model", str(pkg.path), "--out", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    with out.open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["record", "label", "prob_N", "prob_A", "prob_O", "prob_noise"]
    assert len(rows) == 4
    got = np.array([[float(v) for v in row[2:]] for row in rows[1:]])
    assert np.allclose(got, probs, atol=1e-5)


def test_predict_bad_input_names_the_path(tmp_path: Path) -> None:
    proc = invoke_cli(["predict", "no_such_record.mat", "--model", "cinc2017", "--out", "p.csv"], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ")


SHIPPED = Path(__file__).resolve().parent.parent / "src" / "leanecg" / "zoo" / "cinc2017"


@pytest.mark.skipif(
    not (SHIPPED / "model.json").is_file(), reason="no shipped cinc2017 model in this checkout"
)
def test_shipped_cinc2017_model_meets_its_contract(tmp_path: Path, shared_data: Path) -> None:
    """The shipped package: a real (not --tiny) run, <= 100k weights (all members), < 3 MB for the folder
    (the model three times -- torch, ONNX fp32, ONNX int8 -- plus the int8 calibration subset; about 8 bytes
    per parameter or tree node in each copy), features
    recorded, predicts."""
    from leanecg.data import get_dataset
    from leanecg.package.model import load_model_package

    pkg = load_model_package(SHIPPED)
    meta = pkg.meta
    assert meta["task"]["name"] == "cinc2017" and not meta["data"]["tiny"]
    assert meta["cost"]["params"] <= 100_000
    assert sum(f.stat().st_size for f in SHIPPED.iterdir()) < 3_000_000
    assert set(meta["input"]["features"]) <= set(record_feature_names())
    assert meta["cost"]["reference"] == "resnet1d"
    ds = get_dataset("cinc2017")
    names = ds.split(shared_data)["test"][:2]
    out = tmp_path / "p.csv"
    files = [str(ds.record_path(shared_data, r)) for r in names]
    proc = invoke_cli(["predict", *files, "--model", str(SHIPPED), "--out", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["record"] for r in rows] == names
    assert all(r["label"] in ("N", "A", "O", "~") for r in rows)
