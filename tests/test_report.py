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


# ---------------------------------------------------------------- Pareto plots: front, legible labels


def _zoo(n: int, seed: int = 1) -> list[dict]:
    """``n`` results with costs over three decades, scores bunched together (labels would pile up)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        f = float(rng.uniform(0.6, 0.7))
        r = _result(
            f"model_{i:02d}", f, float(10 ** rng.uniform(4.5, 7.5)), float(10 ** rng.uniform(-1, 0.3))
        )
        out.append(r)
    return out


@pytest.mark.parametrize("cost_key", ["macs", "latency_ms_median"])
def test_pareto_plot_draws_its_front_and_keeps_labels_apart(cost_key: str) -> None:
    from leanecg.evaluate.report import labels_overlap, pareto_figure, visible_tick_labels

    results = _zoo(24)
    fig = pareto_figure(results, cost_key)
    ax = fig.axes[0]
    ticks = visible_tick_labels(ax, "x")
    assert len(ticks) >= 3 and not labels_overlap(ticks)  # legible log axis: several labels, none overlap
    assert all(t.get_fontsize() >= 8 for t in ticks)
    names = {t.get_text() for t in ax.texts}
    assert names == {r["model"] for r in results}  # every model labelled ...
    assert not labels_overlap(list(ax.texts))  # ... and no two labels overlap
    cost = np.array([r["cost"][cost_key] for r in results])
    score = np.array([r["metrics"]["f1"]["value"] for r in results])
    front = pareto_front(cost, score)
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == "Pareto front"]
    xs, ys = line.get_data()
    assert list(xs[: len(front)]) == list(cost[front]) and list(ys[: len(front)]) == list(score[front])
    bold = {t.get_text() for t in ax.texts if t.get_fontweight() == "bold"}
    assert bold == {results[i]["model"] for i in front}


def test_log_axis_labels_narrow_and_wide_ranges() -> None:
    from leanecg.evaluate.report import _plt, compact_number, labels_overlap, log_axis, visible_tick_labels

    assert [compact_number(v) for v in (2e7, 3e5, 1500, 0.25)] == ["20M", "300k", "1.5k", "0.25"]
    for lo, hi in ((0.31, 0.36), (0.1, 3.0), (1e3, 1e10)):
        fig, ax = _plt().subplots(figsize=(5, 3))
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        log_axis(ax, "x")
        shown = visible_tick_labels(ax, "x")
        assert len(shown) >= 2 and not labels_overlap(shown), (lo, hi, [t.get_text() for t in shown])
        _plt().close(fig)


# ------------------------------------------------------------- example ECGs and the zoo's Pareto front


def _examples_doc(folder: Path, result: dict, tiny: bool = False) -> dict:
    """A hand-made examples document of ``result`` (beat task): two 10 s strips, 12 and 11 beats."""
    from leanecg.atomic import write_json
    from leanecg.evaluate.report_examples import EXAMPLES_SCHEMA, examples_file

    fs = 100.0
    t = np.arange(1000) / fs
    sig = np.round(0.05 * np.sin(2 * np.pi * t), 4)
    examples = []
    for k, (cls, n) in enumerate((("a", 12), ("b", 11))):
        x = sig.copy()
        peaks = (np.arange(n) * 80 + 40).tolist()
        x[peaks] = 1.2
        labels = ["a"] * n
        labels[3] = "b"
        examples.append(
            {
                "record": f"r{k}",
                "class": cls,
                "reference": cls,
                "lead": "II",
                "fs": fs,
                "start_s": 100.0 * k,
                "signal_mv": x.tolist(),
                "peaks": peaks,
                "labels": labels,
                "focus_sample": peaks[3],
                "predicted": labels[3],
                "probability": 0.8,
                "probabilities": {"a": 0.2, "b": 0.8},
                "explanation": f"examples/{result['model']}/{k}.png" if k == 0 else None,
            }
        )
    png = folder / "examples" / result["model"] / "0.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    png.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    doc = {
        "schema": EXAMPLES_SCHEMA,
        "kind": "beats",
        "tiny": tiny,
        "class_names": ["a", "b"],
        "method": "ig",
        "method_title": "integrated gradients",
        "baseline": "zeros",
        "rule": "1 test beat per class, drawn with seed 0.",
        "examples": examples,
    }
    write_json(examples_file(folder, result), doc)
    return doc


def test_report_draws_example_strips_and_explanations(tmp_path: Path) -> None:
    import re

    from leanecg.bench.examples import leaderboard_figures
    from leanecg.evaluate.report import plot_pareto

    m1, m2 = _result("m1", 0.8, 1e6, 1.5), _result("m2", 0.7, 1e5, 0.5)
    folder = tmp_path / "out" / "demo"
    _examples_doc(folder, m1)
    _examples_doc(folder, m2, tiny=True)  # of a smoke run: never in a full run's report
    board = tmp_path / "out" / "leaderboard"
    board.mkdir(parents=True)
    (board / "demo.json").write_text(json.dumps({"tiny": False, "rows": [{"seeds": 1}, {"seeds": 3}]}))
    plot_pareto(_zoo(6), board / "demo_pareto_macs.png")
    zoo = leaderboard_figures(tmp_path / "out", "demo", tiny=False)
    assert [c for c, _ in zoo] == ["Whole zoo (2 models): accuracy vs MACs"]
    assert leaderboard_figures(tmp_path / "out", "demo", tiny=True) == []
    files = write_report([m1, m2], folder, zoo_pareto=zoo)
    page = files["html"].read_text(encoding="utf-8")
    assert page.count('class="ecg-strip"') == 2  # m1's two strips; m2's smoke-run examples left out
    beats = re.findall(r'<g class="beat" data-label="(\w)" data-sample="(\d+)"', page)
    assert len(beats) == 12 + 11 and [b[1] for b in beats[:12]] == [str(80 * i + 40) for i in range(12)]
    assert sum(label == "b" for label, _ in beats) == 2
    assert page.count('<rect class="focus"') == 2
    assert "r0 at 2.80 s: reference a beat, predicted b (p = 0.80)" in page
    assert ">100 s</text>" in page  # the second strip's time axis: its place in the record
    assert page.count("class='explanation'") == 1 and "integrated gradients relevance" in page
    assert "Pareto front of the whole zoo" in page and page.count("data:image/png;base64,") == 6 + 1 + 1
    md = files["markdown"].read_text(encoding="utf-8")
    assert (
        "## Example ECGs" in md and "| m1 | r0 at 2.80 s | a | b | 0.800 | [0.png](examples/m1/0.png) |" in md
    )
    assert "[Whole zoo (2 models): accuracy vs MACs](../leaderboard/demo_pareto_macs.png)" in md


def test_examples_are_drawn_by_a_seeded_rule_not_by_correctness() -> None:
    from types import SimpleNamespace

    from leanecg.bench.examples import choose_examples

    y = np.array([0, 1, 0, 2, 0, 1, 0, 0, 1, 0])
    records = [f"r{i}" for i in range(10)]
    task = SimpleNamespace(name="demo", class_names=("N", "A", "O", "~"))
    data = SimpleNamespace(info={"test_records": records}, test=SimpleNamespace(y=y, groups=None))
    one = choose_examples(task, data, seed=0, per_class=2)
    assert one == choose_examples(task, data, seed=0, per_class=2)  # deterministic
    assert [e["class"] for e in one] == ["N", "N", "A", "A", "O"]  # no ~ in the test split
    assert all(y[records.index(e["record"])] == "NAO~".index(e["class"]) for e in one)
    others = [choose_examples(task, data, seed=s, per_class=2) for s in range(1, 6)]
    assert any(o != one for o in others)  # the seed draws them
    # beat tasks: beats of the class, with their record and their ordinal among its beats of that class
    beat_task = SimpleNamespace(name="beats", class_names=("N", "V"), before_s=0.25, after_s=0.45)
    groups = np.array(["100"] * 5 + ["200"] * 5)
    beat_data = SimpleNamespace(info={}, test=SimpleNamespace(y=y.clip(0, 1), groups=groups))
    picked = choose_examples(beat_task, beat_data, seed=3, per_class=1)
    assert [e["class"] for e in picked] == ["N", "V"]
    for e in picked:
        same = np.flatnonzero((groups == e["record"]) & (y.clip(0, 1) == "NV".index(e["class"])))
        assert 0 <= e["ordinal"] < same.size
