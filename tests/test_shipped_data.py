"""Data shipped inside the package: the int8 calibration subsets beside the shipped models
(``zoo/<name>/calibration.npz``, used by ``export --int8`` without training data) and the real example ECGs
(``leanecg/examples/``, used by the quickstart and docs/python-api.md)."""

from __future__ import annotations

import dataclasses
import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from leanecg.deploy.onnx import (
    CALIBRATION_FILE,
    CalibrationSet,
    default_calibration,
    load_calibration,
    save_calibration,
)
from leanecg.errors import LeanECGError
from leanecg.package import list_shipped
from leanecg.package.model import load_model_package
from leanecg.quickstart import (
    EXAMPLES_DIR,
    example_path,
    example_records,
    rhythm_examples,
    shipped_examples,
)

REPO = Path(__file__).resolve().parents[1]
SHIPPED = {m["name"]: Path(m["path"]) for m in list_shipped()}


def _shipped(name: str):  # type: ignore[no-untyped-def]
    if name not in SHIPPED:
        pytest.skip(f"no shipped {name} model in this checkout")
    return load_model_package(SHIPPED[name])


# ---------------------------------------------------------------------------------- calibration subsets


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_every_shipped_model_ships_a_usable_calibration_subset(name: str) -> None:
    """Small, and made for this model's inputs (regenerate with benchmarks/make_calibration.py otherwise)."""
    pkg = load_model_package(SHIPPED[name])
    file = SHIPPED[name] / CALIBRATION_FILE
    assert file.is_file(), f"run: python benchmarks/make_calibration.py --model {name} --data-dir DIR"
    assert file.stat().st_size < 1_000_000
    calib = load_calibration(pkg)
    assert len(calib) >= 64 and calib.info["split"] == "train"
    assert (calib.features is not None) == bool(pkg.meta["input"].get("features"))
    probs = pkg.backend.proba(calib.X[:8], None if calib.features is None else calib.features[:8], 8, False)
    assert probs.shape == (8, len(pkg.class_names)) and np.all(np.isfinite(probs))


def test_save_and_load_calibration_round_trip(tmp_path: Path) -> None:
    pkg = _shipped("cinc2017")
    rng = np.random.default_rng(0)
    X = [rng.standard_normal((1, n)).astype(np.float32) for n in (4000, 9000, 2500)]
    feats = pkg.record_features(X)  # of the whole records
    calib = CalibrationSet(X, feats, {"split": "train"})
    path = save_calibration(pkg, calib, tmp_path / "c.npz", max_samples=3000)
    back = load_calibration(pkg, path)
    assert [x.shape for x in back.X] == [(1, 3000), (1, 3000), (1, 2500)]
    np.testing.assert_allclose(back.X[1], X[1][:, 3000:6000], atol=4e-3)  # the middle, float16
    np.testing.assert_allclose(back.features, feats, atol=1e-6)
    assert back.info["n_inputs"] == 3 and back.info["max_samples"] == 3000
    assert "shipped" in back.info["source"]
    two = load_calibration(pkg, path, n=2, seed=1)
    assert len(two) == 2 and two.features.shape == (2, feats.shape[1])

    # a retrained model (other feature scaling, same inputs) uses the subset with its own scaling
    config = pkg.meta["input"]["feature_config"]
    scaled = {**config, "scale": [2 * v for v in config["scale"]]}
    meta = {**pkg.meta, "input": {**pkg.meta["input"], "feature_config": scaled}}
    retrained = dataclasses.replace(pkg, meta=meta)
    want = retrained.record_features(X)
    np.testing.assert_allclose(load_calibration(retrained, path).features, want, atol=1e-6)
    other = dataclasses.replace(pkg, meta={**pkg.meta, "input": {**pkg.meta["input"], "fs": 250.0}})
    with pytest.raises(LeanECGError, match=r"made for a model with other inputs.*make_calibration\.py"):
        load_calibration(other, path)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(LeanECGError, match="unreadable calibration subset"):
        load_calibration(pkg, tmp_path / "bad.npz")


def test_default_calibration_falls_back_only_without_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = _shipped("mitdb-aami")
    empty = tmp_path / "nodata"
    empty.mkdir()
    monkeypatch.setenv("LEANECG_DATA", str(empty))  # no training data in the default places
    calib = default_calibration(pkg, n=100)
    assert len(calib) == 100 and calib.info["source"].endswith("mitdb-aami/calibration.npz")
    with pytest.raises(LeanECGError, match="int8 calibration needs the mitdb-aami training data"):
        default_calibration(pkg, data_dir=empty)  # an explicit --data-dir is never second-guessed
    bare = tmp_path / "pkg"
    shutil.copytree(SHIPPED["mitdb-aami"], bare, ignore=shutil.ignore_patterns(CALIBRATION_FILE))
    with pytest.raises(LeanECGError, match=r"training data.*ships no calibration\.npz"):
        default_calibration(load_model_package(bare))


# ------------------------------------------------------------------------------------- example ECGs


def test_shipped_examples_are_small_real_and_attributed() -> None:
    from leanecg.data import load_record
    from leanecg.data.mitdb import aami_class

    files = [f for f in EXAMPLES_DIR.rglob("*") if f.is_file()]
    assert sum(f.stat().st_size for f in files) < 300_000
    readme = (EXAMPLES_DIR / "README.md").read_text()
    assert "ODC-By 1.0" in readme and "Moody GB, Mark RG" in readme and "Clifford GD" in readme
    assert shipped_examples() == [
        "cinc2017/A00001",
        "cinc2017/A00041",
        "cinc2017/A00405",
        "cinc2017/A00700",
        "mitdb/100",
        "mitdb/232",
        "mitdb/233",
    ]
    classes: set[str] = set()
    for name in ("100", "232", "233"):
        rec = load_record(example_path(f"mitdb/{name}"))
        assert rec.fs == 360 and rec.duration_s == 30 and rec.leads[0] == "II"
        classes |= {c for c in map(aami_class, rec.annotation.symbol) if c}
    assert {"N", "S", "V"} <= classes  # PVCs and APCs among the reference beats
    labels = dict(
        line.split(",") for line in (EXAMPLES_DIR / "cinc2017" / "REFERENCE.csv").read_text().splitlines()
    )
    assert set(labels.values()) == {"N", "A", "O", "~"}
    with pytest.raises(LeanECGError, match="no shipped example of that name; shipped: cinc2017/A00001"):
        example_path("mitdb/999")


def test_quickstart_examples_without_data() -> None:
    records = list(example_records(None))
    assert [r.name for r, _ in records] == ["100", "232", "233"]
    assert {s for _, s in records} == {"MIT-BIH 30 s excerpt (real)"}
    rhythms = list(rhythm_examples(None))
    assert [(r.name, ref) for r, _, ref in rhythms] == [
        ("A00001", "N"),
        ("A00405", "A"),
        ("A00041", "O"),
        ("A00700", "~"),
    ]
    # without the shipped examples (a stripped installation): synthetic ECGs, as before
    assert {s for _, s in example_records(None, examples_dir=None)} == {"synthetic"}
    assert {s for _, s, _ in rhythm_examples(None, examples_dir=None)} == {"synthetic"}


@pytest.mark.shared
def test_examples_are_regenerated_identically(tmp_path: Path, shared_data: Path) -> None:
    script = REPO / "benchmarks" / "make_examples.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--data-dir", str(shared_data), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for sub in ("mitdb", "cinc2017"):
        cmp = filecmp.dircmp(EXAMPLES_DIR / sub, tmp_path / sub)
        assert not cmp.left_only and not cmp.right_only
        common = cmp.common_files
        _, mismatch, errors = filecmp.cmpfiles(EXAMPLES_DIR / sub, tmp_path / sub, common, shallow=False)
        assert not mismatch and not errors, mismatch
