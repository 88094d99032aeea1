"""``leanecg bench labels`` on ``mitdb-aami`` beats: a tiny real-data smoke run (3 MIT-BIH records), the
DS1-only pool and pretraining data, nested beat subsets, and bad input."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from leanecg.atomic import finite_json
from leanecg.bench.labels import (
    LabelsConfig,
    MitdbLabelsConfig,
    labels_results_stem,
    load_mitdb_beats,
    nested_label_subsets,
    run_labels_benchmark,
    run_labels_cli,
    signal_chunks,
)
from leanecg.data.mitdb import DS1, DS2
from leanecg.errors import LeanECGError
from leanecg.evaluate.results import validate_result

FRACTIONS = (0.05, 0.25)
METHODS = ("scratch", "cmsc", "cmlc")


@pytest.fixture(scope="module")
def tiny_doc(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("labels_beats")
    config = MitdbLabelsConfig(seeds=(0,), fractions=FRACTIONS, methods=METHODS, n_boot=20)
    return run_labels_benchmark(shared_data, out, config=config, tiny=True), out


@pytest.mark.slow
def test_tiny_run_structure(tiny_doc: tuple[dict, Path]) -> None:
    doc, out = tiny_doc
    stem = labels_results_stem("mitdb-aami")
    assert stem == "labels_mitdb-aami" and labels_results_stem() == "labels"
    # the file is the returned document as strict JSON (an undefined +P of a tiny run is null, not NaN)
    assert json.loads((out / f"{stem}.json").read_text()) == finite_json(json.loads(json.dumps(doc)))
    assert (out / f"{stem}.md").is_file() and (out / f"{stem}.png").stat().st_size > 0
    assert not (out / "labels.json").exists()  # the cinc2017 study's files are never touched
    assert doc["benchmark"] == "labels" and doc["task"] == "mitdb-aami" and doc["tiny"] is True
    assert "DS1" in doc["protocol"] and "sveb_veb_f1" in doc["metric"]
    entries = doc["results"]
    keys = {(e["variant"]["method"], e["variant"]["label_fraction"], e["variant"]["seed"]) for e in entries}
    assert len(entries) == len(keys) == len(METHODS) * len(FRACTIONS)
    for e in entries:
        validate_result(e)
        m = e["metrics"]
        assert e["task"] == stem and e["model"] == "beatnet" and e["primary_metric"] == "f1"
        assert 0.0 <= m["f1"]["value"] <= 1.0 and m["f1"]["value"] == m["sveb_veb_f1"]["value"]
        assert {"sveb_se", "sveb_ppv", "sveb_f1", "veb_se", "veb_ppv", "veb_f1"} <= set(m)
        d = e["data"]
        assert not set(d["train_records"]) & set(DS2) and set(d["test_records"]) <= set(DS2)
        assert not set(d["pretraining_input"]["records"]) & set(DS2)
        assert d["n_unlabelled"] > 0 if e["variant"]["method"] != "scratch" else d["n_unlabelled"] == 0
    assert {(p["method"], p["seed"]) for p in doc["pretraining"]} == {("cmsc", 0), ("cmlc", 0)}
    counts = {e["variant"]["label_fraction"]: e["data"]["train_class_counts"] for e in entries}
    assert all(c >= 1 for c in counts[0.05]) and all(np.less_equal(counts[0.05], counts[0.25]))
    rows = {(r["method"], r["label_fraction"]): r for r in doc["summary"]}
    assert (
        rows[("cmsc", 0.25)]["delta_vs_scratch"] is not None
        and "veb_se" in rows[("cmsc", 0.25)]["metric_means"]
    )


def test_ds1_pool_pretraining_and_nested_beats(shared_data: Path) -> None:
    data = load_mitdb_beats(shared_data, multilead=True, tiny=True)
    assert set(data.train.groups) <= set(DS1) and set(data.test.groups) <= set(DS2)
    assert data.train.X.shape[1:] == (1, 126) and data.train.features.shape[1] == 13
    for kind, leads in (("signal", 1), ("multilead", 2)):
        unl = data.unlabelled[kind]
        assert unl.y is None and unl.n_leads == leads and unl.X.shape[-1] == round(10.0 * data.fs)
        assert set(unl.groups) == set(data.train.groups) and not set(unl.groups) & set(DS2)
    assert data.pretrain_split("cmlc") is data.unlabelled["multilead"]
    fr = (0.01, 0.05, 0.1, 0.25, 1.0)
    subs = nested_label_subsets(data.train.y, fr, seed=0)
    for small, big in itertools.pairwise(fr):
        assert set(subs[small]) <= set(subs[big])
    assert len(subs[1.0]) == len(data.train)
    assert np.bincount(data.train.y[subs[0.01]], minlength=4).min() >= 1  # N, S, V, F all present


def test_bad_input(tmp_path: Path) -> None:
    with pytest.raises(LeanECGError) as err:
        run_labels_cli(None, tmp_path, tmp_path, task="ptbxl")
    assert err.value.path == "task" and "mitdb-aami" in err.value.problem
    with pytest.raises(LeanECGError, match="cinc2017 supports"):
        LabelsConfig(methods=("scratch", "cmlc")).validate()  # single-lead cinc2017 has no CMLC views
    with pytest.raises(LeanECGError, match="mitdb-aami supports"):
        MitdbLabelsConfig(methods=("scratch", "cmsmlc")).validate()
    with pytest.raises(LeanECGError, match="chunk"):
        signal_chunks([np.zeros((1, 50), np.float32)], ["100"], 100)


def test_cli_labels_task_option_errors(tmp_path: Path) -> None:
    from clihelp import invoke_cli

    proc = invoke_cli(["bench", "labels", "--labels-task", "ptbxl", "--data-dir", str(tmp_path)], tmp_path)
    assert proc.returncode == 2 and "--labels-task" in proc.stderr and "mitdb-aami" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = invoke_cli(
        ["bench", "leads", "--labels-task", "mitdb-aami", "--data-dir", str(tmp_path)], tmp_path
    )
    assert proc.returncode == 2 and "labels study only" in proc.stderr
