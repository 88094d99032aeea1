"""``leanecg bench labels``: nested label subsets, fine-tuning length, summary, CLI (tiny) and bad input."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from clihelp import invoke_cli, run_cli
from leanecg.bench.labels import finetune_epochs, nested_label_subsets, summarise
from leanecg.errors import LeanECGError
from leanecg.evaluate.results import validate_result


def test_nested_stratified_subsets() -> None:
    y = np.repeat([0, 1, 2, 3], [500, 80, 200, 20])
    fr = (0.01, 0.05, 0.1, 0.25, 1.0)
    subs = nested_label_subsets(y, fr, seed=0)
    for small, big in itertools.pairwise(fr):
        assert set(subs[small]) <= set(subs[big])  # nested
    assert len(subs[1.0]) == len(y)
    counts = np.bincount(y[subs[0.1]], minlength=4)
    assert counts.tolist() == [50, 8, 20, 2]  # stratified: round(0.1 * n_class)
    assert np.bincount(y[subs[0.01]], minlength=4).min() >= 1  # every class present
    again = nested_label_subsets(y, fr, seed=0)
    assert all(np.array_equal(subs[f], again[f]) for f in fr)
    other = nested_label_subsets(y, fr, seed=1)
    assert not np.array_equal(subs[0.1], other[0.1])
    with pytest.raises(LeanECGError):
        nested_label_subsets(y, (0.0,), 0)
    with pytest.raises(LeanECGError):
        nested_label_subsets(y, (1.5,), 0)


def test_finetune_epochs_budget() -> None:
    assert finetune_epochs(2100, 32, 200, 15, 200) == 15
    assert finetune_epochs(211, 32, 200, 15, 200) == 29  # 7 steps per epoch
    assert finetune_epochs(21, 32, 200, 15, 200) == 200


def test_summary_mean_sd_and_delta() -> None:
    def entry(method: str, frac: float, seed: int, f1: float) -> dict:
        return {
            "variant": {"method": method, "label_fraction": frac, "seed": seed},
            "metrics": {"f1": {"value": f1}},
        }

    rows = summarise(
        [
            entry("scratch", 0.1, 0, 0.5),
            entry("scratch", 0.1, 1, 0.6),
            entry("cmsc", 0.1, 0, 0.6),
            entry("cmsc", 0.1, 1, 0.7),
        ]
    )
    by = {r["method"]: r for r in rows}
    assert by["scratch"]["f1_mean"] == pytest.approx(0.55)
    assert by["scratch"]["f1_sd"] == pytest.approx(np.std([0.5, 0.6], ddof=1))
    assert by["cmsc"]["delta_vs_scratch"] == pytest.approx(0.1)
    assert by["scratch"]["delta_vs_scratch"] is None


@pytest.mark.slow
def test_cli_bench_labels_tiny(shared_data, tmp_path) -> None:
    out = tmp_path / "res"
    r = run_cli(
        ["bench", "labels", "--data-dir", str(shared_data), "--out", str(out), "--tiny", "--n-boot", "20"],
        tmp_path,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads((out / "labels.json").read_text())
    assert doc["tiny"] is True and (out / "labels.md").is_file() and (out / "labels.png").stat().st_size > 0
    entries = doc["results"]
    assert len(entries) == 3 * 5 * 3  # methods x fractions x seeds
    keys = {(e["variant"]["method"], e["variant"]["label_fraction"], e["variant"]["seed"]) for e in entries}
    assert len(keys) == len(entries)
    for e in entries:
        validate_result(e)
        assert e["task"] == "labels" and 0.0 <= e["metrics"]["f1"]["value"] <= 1.0
    assert "Tiny smoke run" in r.stdout
    assert (out / "labels.md").read_text().splitlines()[0].endswith("(smoke run — not a benchmark)")


def test_cli_bench_labels_bad_input(tmp_path) -> None:
    r = invoke_cli(["bench", "labels", "--models", "litenet,resnet1d", "--out", str(tmp_path)], tmp_path)
    assert r.returncode == 2 and "error: --models:" in r.stderr
