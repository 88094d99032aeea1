"""Results schema and report writer on hand-made result documents (no data needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from leanecg.errors import LeanECGError
from leanecg.evaluate.metrics import confusion, metrics_with_ci, per_class_from_confusion
from leanecg.evaluate.report import markdown_table, pareto_front, write_report
from leanecg.evaluate.results import load_results, make_result, metric_entry, result_filename, save_result


def _result(model: str, f1: float, macs: float | None, latency: float) -> dict:
    return make_result(
        task="demo",
        model=model,
        family="lightweight",
        primary_metric="f1",
        metrics={"f1": metric_entry(f1, f1 - 0.05, f1 + 0.05), "accuracy": metric_entry(0.9)},
        cost={"params": 1000, "macs": macs, "bytes_fp32": 4000, "latency_ms_median": latency},
        data={"dataset": "demo"},
        provenance={"git_commit": "abc", "packages": {"numpy": "2"}},
        confusion={"labels": ["a", "b"], "matrix": [[5, 1], [2, 7]]},
        curves={
            "roc": {"a": {"fpr": [0, 0.5, 1], "tpr": [0, 0.8, 1], "auc": 0.65}},
            "pr": {"a": {"recall": [1, 0.5, 0], "precision": [0.5, 0.8, 1], "ap": 0.7}},
        },
    )


def test_pareto_front_by_hand() -> None:
    cost = np.array([1.0, 2.0, 3.0, 4.0, 2.5])
    score = np.array([0.5, 0.7, 0.6, 0.9, 0.7])
    # (1,.5) -> (2,.7) -> (4,.9); (3,.6) and (2.5,.7) are dominated
    assert pareto_front(cost, score).tolist() == [0, 1, 3]


def test_markdown_table_formats_ci_and_missing_values() -> None:
    md = markdown_table([_result("m1", 0.8, 1e6, 1.5), _result("m2", 0.7, None, 0.5)])
    lines = md.strip().splitlines()
    assert lines[0].startswith("| model | family | f1 (95% CI) | accuracy (95% CI) |")
    assert "| m1 | lightweight | 0.800 [0.750, 0.850] | 0.900 |" in md
    assert "| 1,000,000 |" in md and "| – |" in md  # MACs of m2 unknown


def test_schema_validation_and_round_trip(tmp_path: Path) -> None:
    r = _result("m1", 0.8, 1e6, 1.5)
    path = save_result(r, tmp_path)
    assert path == tmp_path / "demo" / "m1.json"
    assert load_results(tmp_path / "demo") == [json.loads(path.read_text())]
    assert result_filename("m", {"leads": ["I", "II"], "seed": 1}) == "m__leads=I+II__seed=1.json"
    with pytest.raises(LeanECGError, match="primary metric 'auc' is not among the metrics"):
        make_result(
            task="t",
            model="m",
            primary_metric="auc",
            metrics={"f1": metric_entry(1.0)},
            cost={},
            data={},
            provenance={},
        )
    with pytest.raises(LeanECGError, match="no LeanECG result files"):
        load_results(tmp_path)
    (tmp_path / "demo" / "broken.json").write_text("{not json")
    with pytest.raises(LeanECGError, match=r"broken\.json: not valid JSON"):
        load_results(tmp_path / "demo")


def test_nan_metric_becomes_null_in_json(tmp_path: Path) -> None:
    r = _result("m1", 0.8, 1e6, 1.5)
    r["metrics"]["sveb"] = metric_entry(float("nan"))
    path = save_result(r, tmp_path)
    assert json.loads(path.read_text())["metrics"]["sveb"]["value"] is None


def test_write_report_files(tmp_path: Path) -> None:
    files = write_report([_result("m1", 0.8, 1e6, 1.5), _result("m2", 0.7, 1e5, 0.5)], tmp_path)
    for key in ("markdown", "html", "pareto_macs", "pareto_latency", "confusion_m1", "curves_m2"):
        assert files[key].is_file(), key
    html = files["html"].read_text()
    assert html.count("data:image/png;base64,") == 6
    assert "packages.numpy" in html  # nested provenance is flattened into the table
    assert "smoke run" not in html and "smoke run" not in files["markdown"].read_text()
    smoke = [_result("m1", 0.8, 1e6, 1.5)]
    smoke[0]["data"]["tiny"] = True
    files = write_report(smoke, tmp_path / "tiny", title="T")
    assert files["markdown"].read_text().startswith("# T (smoke run — not a benchmark)\n")
    assert "<title>T (smoke run — not a benchmark)</title>" in files["html"].read_text()


def test_metrics_with_ci_paired_and_grouped() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    pred = np.where(rng.random(400) < 0.8, y, 1 - y)
    groups = np.repeat(np.arange(20), 20)

    def fn(t: np.ndarray, p: np.ndarray) -> dict[str, float]:
        m = confusion(t, p, 2)
        return {"acc": float(np.trace(m) / m.sum()), "se1": per_class_from_confusion(m, "ab")["b"]["se"]}

    out = metrics_with_ci(fn, y, pred, groups=groups, n_boot=200, seed=1)
    assert out["acc"]["value"] == pytest.approx(np.mean(y == pred))
    assert out["acc"]["ci_low"] < out["acc"]["value"] < out["acc"]["ci_high"]
    assert out["acc"]["ci_high"] - out["acc"]["ci_low"] < 0.15
    assert out["acc"]["resampled"] == "groups" and out["acc"]["n_valid"] == 200
    again = metrics_with_ci(fn, y, pred, groups=groups, n_boot=200, seed=1)
    assert again == out  # deterministic under the seed
