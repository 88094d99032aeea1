"""Temperature scaling, the calibration block of bench results, its report section, and packages that carry a
temperature (issue 14 item 2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from benchhelp import TinyBench
from leanecg.data import load_record
from leanecg.evaluate.calibration import apply_temperature, calibration_block, fit_temperature
from leanecg.evaluate.report import write_report
from leanecg.evaluate.results import make_result
from leanecg.package import resolve_model
from leanecg.package.model import META_FILE, load_model_package, model_card

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "leanecg" / "examples"


def test_temperature_keeps_labels_and_is_recovered() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4000, 4)) * 3
    p_true = np.exp(z / 2.5) / np.exp(z / 2.5).sum(1, keepdims=True)
    y = np.array([rng.choice(4, p=row) for row in p_true])
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)  # overconfident by T = 2.5
    t = fit_temperature(y, p)
    assert 2.2 < t < 2.8
    q = apply_temperature(p, t)
    np.testing.assert_array_equal(q.argmax(1), p.argmax(1))
    np.testing.assert_allclose(q.sum(1), 1.0)
    np.testing.assert_allclose(apply_temperature(p, 1.0), p)
    np.testing.assert_allclose(apply_temperature(q, 1 / t), p, atol=1e-9)  # softmax(log p / T) is exact
    block = calibration_block("NAOX", y[:2000], p[:2000], y[2000:], p[2000:])
    assert block["ece_top_label_after"] < block["ece_top_label_before"] / 2
    ml = (rng.random((500, 3)) < 0.3).astype(int)
    assert fit_temperature(ml, np.clip(ml * 0.6 + 0.2, 0, 1), multilabel=True) < 1  # underconfident: T < 1


def _hand_result() -> dict:
    # class B: y = 1 1 0 0 0, p_B = .9 .4 .6 .2 .1 (n = 5, prevalence 0.4); temperature fixed at 1
    y = np.array([1, 1, 0, 0, 0])
    pb = np.array([0.9, 0.4, 0.6, 0.2, 0.1])
    p = np.stack([1 - pb, pb], axis=1)
    cal = calibration_block(["A", "B"], y, p, y, p, temperature=1.0)
    return make_result(
        task="hand",
        model="m",
        primary_metric="acc",
        metrics={"acc": {"value": 0.6}},
        cost={},
        data={},
        provenance={},
        calibration=cal,
    )


def test_net_benefit_against_a_hand_computed_case(tmp_path: Path) -> None:
    r = _hand_result()
    dc = r["calibration"]["per_class"]["B"]["decision_curve"]
    at = dict(zip(dc["thresholds"], zip(dc["net_benefit"], dc["treat_all"], strict=True), strict=True))
    # pt 0.1 (odds 1/9): all 5 treated: TP 2, FP 3 -> 2/5 - 3/5 / 9 = 1/3; treat all the same
    # pt 0.2 (odds 1/4): .9 .4 .6 .2 treated: TP 2, FP 2 -> 2/5 - 2/5 / 4 = 0.3; treat all 0.4 - 0.6 / 4 = 0.25
    # pt 0.5 (odds 1): .9 .6 treated: TP 1, FP 1 -> 0; treat all 0.4 - 0.6 = -0.2
    assert at[0.1] == pytest.approx((1 / 3, 1 / 3))
    assert at[0.2] == pytest.approx((0.3, 0.25))
    assert at[0.5] == pytest.approx((0.0, -0.2))
    assert dc["treat_none"] == [0.0] * 99 and dc["prevalence"] == pytest.approx(0.4)
    files = write_report([r], tmp_path)
    md = files["markdown"].read_text(encoding="utf-8")
    assert "## Calibration and decision curves" in md
    assert "| m | B | 2 | " in md and "+0.333 (+0.333) | +0.300 (+0.250) | +0.000 (-0.200) |" in md
    assert (tmp_path / "calibration_m.png").read_bytes()[:4] == b"\x89PNG"
    html = files["html"].read_text(encoding="utf-8")
    assert "Calibration and decision curves" in html and "+0.300 (+0.250)" in html


def test_a_package_temperature_scales_what_predict_returns(tmp_path: Path) -> None:
    folder = tmp_path / "pkg"
    src = resolve_model("cinc2017")
    folder.mkdir()
    for name in ("model.pt", META_FILE):
        shutil.copy(src / name, folder / name)
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    meta.pop("temperature", None)  # the shipped model's own
    (folder / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    plain = load_model_package(folder)
    meta["temperature"] = {"value": 2.0, "fitted_on": "val", "n": 10, "nll_before": 0.5, "nll_after": 0.4}
    (folder / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    scaled = load_model_package(folder)
    assert plain.temperature == 1.0 and scaled.temperature == 2.0
    rec = load_record(EXAMPLES / "cinc2017" / "A00001.hea")
    p0, p2 = plain.predict_records([rec]), scaled.predict_records([rec])
    np.testing.assert_allclose(p2, apply_temperature(p0, 2.0), atol=1e-9)
    assert p2.max() < p0.max()  # T > 1 softens
    card = model_card(scaled.meta)
    assert "T = 2.000" in card and "calibrated probabilities" in card
    assert "no temperature fitted" in model_card(plain.meta)


def test_bench_results_carry_a_calibration_block(tiny_mitdb_bench: TinyBench) -> None:
    for model in ("lightgbm", "beatnet"):
        cal = tiny_mitdb_bench.result(model)["calibration"]
        assert "error" in cal or (cal["temperature"] > 0 and set(cal["per_class"]) == {"N", "S", "V", "F"})
    md = (tiny_mitdb_bench.results / "results.md").read_text(encoding="utf-8")
    assert "## Calibration and decision curves" in md
