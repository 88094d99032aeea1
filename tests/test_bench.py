"""``leanecg bench`` end to end on a tiny run: JSON results, Markdown table, PNG plots, HTML report."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchhelp import TinyBench
from leanecg.evaluate.results import SCHEMA, load_results

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture()
def tiny_mitdb_run(tiny_mitdb_bench: TinyBench) -> Path:
    """The results folder of the session's tiny ``mitdb-aami`` run (beatnet and lightgbm, ``--cv 2``)."""
    return tiny_mitdb_bench.results


def test_cv_block_is_leave_records_out_next_to_the_test_score(tiny_mitdb_run: Path) -> None:
    results = {r["model"]: r for r in load_results(tiny_mitdb_run)}
    for r in results.values():
        cv = r["cv"]
        assert cv["k"] == 2 and cv["unit"].startswith("records") and set(cv["pooled"]) == set(r["metrics"])
        held = [set(f["groups"]) for f in cv["folds"]]
        assert not (held[0] & held[1])  # no record in two folds
        # the pool: the training data, train + val records (val is inside train for fixed-budget recipes)
        assert held[0] | held[1] == set(r["data"]["train_records"]) | set(r["data"]["val_records"])
        assert not (held[0] | held[1]) & set(r["data"]["test_records"])  # DS2 never in the CV
        # both rows early-stop (beatnet on validation records, LightGBM rounds): on an inner part of the
        # fold's training records, never on the held-out fold
        assert "never on the held-out fold" in cv["recipe"] and cv["inner_k"] >= 2
    table = (tiny_mitdb_run / "results.md").read_text()
    assert "CV sveb_veb_f1 (pooled)" in table and "(2-fold)" in table
    # the out-of-fold probabilities beside each result, in the pool's order: they give its pooled scores
    from leanecg.bench.cv import load_oof
    from leanecg.tasks import get_task

    for name, r in results.items():
        oof = load_oof(tiny_mitdb_run / r["cv"]["proba_file"])
        assert r["cv"]["proba_file"] == f"{name}.cv.npz" and oof["k"] == 2 and oof["proba"].shape[1] == 4
        assert sorted(set(oof["groups"].tolist())) == sorted(set().union(*held))
        pooled = get_task("mitdb-aami").scores(oof["y"], np.argmax(oof["proba"], axis=1))
        assert pooled == pytest.approx(r["cv"]["pooled"])


def test_leaderboard_rows_plots_and_resume(tiny_mitdb_run: Path, tmp_path: Path, shared_data: Path) -> None:
    from leanecg.bench.leaderboard import leaderboard_models, run_leaderboard
    from leanecg.models.registry import list_models

    names = leaderboard_models("mitdb-aami")
    assert {"beatnet", "resnet1d", "lightgbm", "beatnet+lightgbm", "transformer"} <= set(names)
    assert {s.name for s in list_models()} <= set(names)  # every zoo model, the feature-only linear one too
    seed_dir = tmp_path / "leaderboard" / "mitdb-aami" / "seed0" / "mitdb-aami"
    seed_dir.mkdir(parents=True)
    for f in ("beatnet.json", "lightgbm.json"):
        shutil.copy(tiny_mitdb_run / f, seed_dir / f)
    before = {p.name: p.stat().st_mtime_ns for p in seed_dir.iterdir()}
    # resumable: finished runs are not recomputed (nothing to train here, so no data is even loaded)
    paths = run_leaderboard(
        "mitdb-aami",
        shared_data,
        tmp_path / "leaderboard",
        seeds=1,
        models=["beatnet", "lightgbm"],
        tiny=True,
    )
    assert {p.name: p.stat().st_mtime_ns for p in seed_dir.iterdir()} == before
    md = paths["md"].read_text()
    assert "smoke run" in md and md.count("| beatnet |") == 1 and md.count("| lightgbm |") == 1
    assert paths["pareto_macs"].read_bytes()[:8] == PNG_MAGIC
    import json

    rows = {r["model"]: r for r in json.loads(paths["json"].read_text())["rows"]}
    assert rows["beatnet"]["seeds"] == 1 and rows["beatnet"]["params"] > 0
    # how much of the stated budget each run used: epochs trained (tiny: 2 epochs), none for LightGBM
    assert rows["beatnet"]["epochs_trained"] and 0 < rows["beatnet"]["epochs_trained"][0] <= 2
    assert rows["lightgbm"]["epochs_trained"] == [None] and "epochs trained (stop)" in md
    assert "budget: the task's epochs and early stopping" in md  # no --epochs / --max-train-seconds given


def test_results_json_follow_the_schema(tiny_mitdb_run: Path) -> None:
    results = {r["model"]: r for r in load_results(tiny_mitdb_run)}
    assert set(results) == {"beatnet", "lightgbm"}
    for r in results.values():
        assert r["schema"] == SCHEMA and r["task"] == "mitdb-aami"
        assert r["primary_metric"] == "sveb_veb_f1"
        for name in ("sveb_veb_f1", "sveb_se", "sveb_ppv", "veb_se", "veb_ppv", "accuracy"):
            m = r["metrics"][name]
            if m["value"] is not None and m["ci_low"] is not None:
                assert m["ci_low"] <= m["value"] + 1e-9 and m["value"] <= m["ci_high"] + 1e-9
        assert r["data"]["tiny"] is True and r["notes"]
        assert r["data"]["test_records"] == ["100", "232"]
        assert r["provenance"]["seed"] == 0 and r["provenance"]["packages"]["numpy"]
        assert len(r["confusion"]["matrix"]) == 4
    beatnet = results["beatnet"]
    assert beatnet["cost"]["params"] < 50_000 and beatnet["cost"]["macs"] > 0
    assert beatnet["cost"]["reference"] == "resnet1d"
    assert beatnet["cost"]["latency_ratio_vs_reference"] < 1.0  # a 36k-parameter model beats a 2.8M one
    from leanecg.signal.beats import BEAT_FEATURE_NAMES

    names = beatnet["data"]["input"]["features"]
    assert names == list(BEAT_FEATURE_NAMES)  # the shipped recipe: RR and template features
    assert beatnet["cost"]["extra_input_shapes"] == {"features": [len(names)]}
    assert beatnet["train"]["model_config"]["name"] == "beatnet"
    assert results["lightgbm"]["family"] == "classic"


def test_markdown_pngs_and_self_contained_html(tiny_mitdb_run: Path) -> None:
    md = (tiny_mitdb_run / "results.md").read_text()
    assert re.search(r"^\| model \| family \| sveb_veb_f1 \(95% CI\)", md, re.M)
    assert "| beatnet | lightweight |" in md and "| lightgbm | classic |" in md
    pngs = sorted(p.name for p in tiny_mitdb_run.glob("*.png"))
    assert {"pareto_macs.png", "pareto_latency.png", "confusion_beatnet.png", "curves_beatnet.png"} <= set(
        pngs
    )
    for p in tiny_mitdb_run.glob("*.png"):
        assert p.read_bytes()[:8] == PNG_MAGIC
    html = (tiny_mitdb_run / "report.html").read_text()
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    # every plot and every example's explanation figure (examples/<model>/*.png) is embedded, once
    explanations = sorted((tiny_mitdb_run / "examples").rglob("*.png"))
    assert explanations and all(p.parent.name == "beatnet" for p in explanations)  # deep rows only
    assert len(images) == len(pngs) + len(explanations)
    assert all(base64.b64decode(b)[:8] == PNG_MAGIC for b in images)
    assert "<table>" in html and "git_commit" in html
    # a --tiny run says so in the title of both reports
    assert md.splitlines()[0].endswith("(smoke run — not a benchmark)"), md.splitlines()[0]
    assert re.search(r"<title>[^<]*\(smoke run — not a benchmark\)</title>", html)
    assert re.search(r"<h1>[^<]*\(smoke run — not a benchmark\)</h1>", html)


def test_report_renders_in_headless_chromium(tiny_mitdb_run: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium) to screenshot the report")
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1300,1800",
            f"--screenshot={shot}",
            (tiny_mitdb_run / "report.html").as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.is_file() and shot.read_bytes()[:8] == PNG_MAGIC
    assert shot.stat().st_size > 50_000  # a rendered page with tables and plots, not a blank one


def test_tiny_cinc2017_variable_length_records(tiny_cinc2017_bench: TinyBench) -> None:
    r = tiny_cinc2017_bench.result("litenet")
    assert set(r["metrics"]) >= {"f1", "f1_N", "f1_A", "f1_O", "f1_noise", "accuracy"}
    assert r["data"]["input"]["variable_length"] is True
    assert r["cost"]["real_time_factor"] > 1
    assert "| litenet | lightweight |" in tiny_cinc2017_bench.stdout  # the table on stdout


def test_tiny_cinc2017_lightgbm_row_uses_the_record_features(tiny_cinc2017_bench: TinyBench) -> None:
    """The classic row of a variable-length task: LightGBM on the record features alone."""
    r = tiny_cinc2017_bench.result("lightgbm")
    deep = tiny_cinc2017_bench.result("wide_deep_lite")
    assert r["family"] == "classic" and r["data"]["test_records"] == deep["data"]["test_records"]
    assert len(r["per_class"]) == 4 and 0.0 <= r["metrics"]["f1"]["value"] <= 1.0
    n_features = len(deep["data"]["input"]["features"])
    # the task's LightGBM recipe (Cinc2017Task.lightgbm_options, lightgbm_class_weight_power)
    config = r["train"]["config"]
    assert config["sample_weight"] == "balanced ** 0.5" and config["feature_fraction"] == 0.6
    assert config["bagging_fraction"] == 0.8 and r["cost"]["params"] > 0
    assert "extracting the features not included" in r["cost"]["notes"]
    assert "| lightgbm | classic |" in tiny_cinc2017_bench.stdout and n_features > 50


def test_classic_matrix_of_variable_length_records_is_the_feature_table() -> None:
    from leanecg.bench.runner import _classic_matrix
    from leanecg.errors import LeanECGError
    from leanecg.train.datasets import ArraySplit

    rng = np.random.default_rng(0)
    X = [rng.standard_normal((1, n)).astype(np.float32) for n in (900, 1500, 1200)]
    feats = rng.standard_normal((3, 5))
    m = _classic_matrix(ArraySplit(X=X, y=np.array([0, 1, 2]), features=feats, groups=None, name="t"))
    assert m.dtype == np.float32 and m.shape == (3, 5) and np.allclose(m, feats)
    fixed = ArraySplit(
        X=np.ones((3, 1, 9), np.float32), y=np.zeros(3, int), features=feats, groups=None, name="t"
    )
    assert _classic_matrix(fixed).shape == (3, 5 + 3)  # features, then the window decimated by 3
    with pytest.raises(LeanECGError, match="needs the task's record features"):
        _classic_matrix(ArraySplit(X=X, y=np.array([0, 1, 2]), features=None, groups=None, name="t"))


def test_mitdb_task_labels_and_inputs_match_the_annotations(
    shared_data: Path, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Every non-Q reference beat becomes one example with its own AAMI class (F included)."""
    import numpy as np

    from leanecg.data.mitdb import aami_counts
    from leanecg.signal.beats import BEAT_FEATURE_NAMES
    from leanecg.tasks import MitdbAamiTask

    monkeypatch.setenv("LEANECG_CACHE", str(tmp_path / "cache"))
    task = MitdbAamiTask()
    data = task.load(shared_data, tiny=True)
    for split, records in (("train", ["101", "106", "208", "209"]), ("test", ["100", "232"])):
        counts = aami_counts(shared_data, records)
        got = np.bincount(getattr(data, split).y, minlength=4)
        assert dict(zip(task.class_names, got.tolist(), strict=True)) == {
            c: counts[c] for c in task.class_names
        }
        if split == "train":
            assert got[task.class_names.index("F")] > 300  # record 208's F beats are labelled F
    x, rr = data.train.X, data.train.features
    assert x.shape[1:] == (1, round(0.25 * 180) + round(0.45 * 180)) and rr.shape[1] == 13
    assert np.isfinite(x).all() and np.isfinite(rr).all()
    # streaming-safe inputs only: no record-wide normalisation in the pipeline, causal beat features
    assert [s["op"] for s in task.pipeline().steps] == ["leads", "bandpass", "resample"]
    assert data.info["input"]["features"] == list(BEAT_FEATURE_NAMES)
    assert data.info["input"]["beat_inputs"] == {"causal": True, "templates": True, "template_history": 64}


def test_mitdb_beat_augmentation_scales_rr_seconds_and_shifts_windows() -> None:
    import torch

    from leanecg.tasks import MitdbAamiTask
    from leanecg.tasks.mitdb_aami import RR_SECONDS_COLUMNS, beat_augment_batch_loss

    assert RR_SECONDS_COLUMNS == (0, 1, 2, 3)  # pre, post, local and average RR; ratios untouched
    seen: dict[str, torch.Tensor] = {}

    def model(x: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        seen["x"], seen["f"] = x, features
        return torch.zeros(len(x), 4)

    x = torch.arange(2 * 126, dtype=torch.float32).reshape(2, 1, 126)
    feats = torch.ones(2, 13)
    batch = {"x": x, "features": feats, "y": torch.zeros(2, dtype=torch.int64)}
    loss = beat_augment_batch_loss(RR_SECONDS_COLUMNS, 0.5, 3, seed=0)(
        model, batch, torch.nn.CrossEntropyLoss()
    )
    assert torch.isfinite(loss)
    f = seen["f"]
    assert torch.equal(feats, torch.ones(2, 13))  # the batch itself is not modified
    assert torch.equal(f[:, 4:], feats[:, 4:]) and torch.allclose(f[:, :4], f[:, :1].expand(2, 4))
    assert ((f[:, 0] >= np.exp(-0.5) - 1e-6) & (f[:, 0] <= np.exp(0.5) + 1e-6)).all()
    assert any(torch.equal(seen["x"], torch.roll(x, k, dims=-1)) for k in range(-3, 4))
    # models without features (resnet1d) get the shift only
    plain = {"x": x, "y": batch["y"]}
    loss = beat_augment_batch_loss(RR_SECONDS_COLUMNS, 0.5, 3, seed=0)(
        lambda x: torch.zeros(len(x), 4), plain, torch.nn.CrossEntropyLoss()
    )
    assert torch.isfinite(loss)
    task = MitdbAamiTask()
    assert task.batch_loss(0) is None  # off by default: the trainer's plain loss
    task.rr_scale, task.max_shift = 0.5, 3
    assert task.batch_loss(0) is not None


def _windows_the_model_saw(loss_fn: Any, x: Any) -> Any:
    """The windows a stand-in model receives when ``loss_fn`` (a task's ``batch_loss``) runs on the batch of
    windows ``x`` (13 beat features, class N); the loss must be finite."""
    import torch

    seen: dict[str, torch.Tensor] = {}

    def model(x: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        seen["x"] = x
        return torch.zeros(len(x), 4)

    batch = {"x": x, "features": torch.ones(len(x), 13), "y": torch.zeros(len(x), dtype=torch.int64)}
    assert torch.isfinite(loss_fn(model, batch, torch.nn.CrossEntropyLoss()))
    return seen["x"]


def test_mitdb_second_lead_feeds_each_records_other_lead_and_drops_it_in_training(
    shared_data: Path, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """``second_lead``: channel 0 is MLII exactly as the one-lead task has it, channel 1 the record's other
    lead (V5 on record 100, V1 on 101, and V5 on 114 whose MLII is its second signal); ``lead_dropout``
    zeroes only channel 1, in about that share of training windows; the inference pipeline asks for both
    input leads."""
    import numpy as np
    import torch

    from leanecg.data.loaders import load_record
    from leanecg.errors import LeanECGError
    from leanecg.tasks import MitdbAamiTask
    from leanecg.tasks.mitdb_aami import RR_SECONDS_COLUMNS, beat_augment_batch_loss

    monkeypatch.setenv("LEANECG_CACHE", str(tmp_path / "cache"))
    one, two = MitdbAamiTask(), MitdbAamiTask()
    two.second_lead = True
    for record, other in (("100", "V5"), ("101", "V1"), ("114", "V5")):
        header = shared_data / "mitdb" / f"{record}.hea"
        assert two.record_pipeline(header).steps[0] == {
            "op": "leads",
            "leads": ["II", other],
            "missing": "error",
        }
        rec = load_record(shared_data / "mitdb" / record)
        y1 = one.record_pipeline(header).apply(rec.signal, rec.fs, leads=rec.leads).signal
        y2 = two.record_pipeline(header).apply(rec.signal, rec.fs, leads=rec.leads).signal
        assert y2.shape == (y1.shape[0], 2)
        np.testing.assert_array_equal(y2[:, 0], y1[:, 0])
        assert np.corrcoef(y2[:, 0], y2[:, 1])[0, 1] < 0.99  # a different lead, not a copy
    # the inference pipeline (a saved package) takes both input leads; a one-lead record is refused
    assert two.pipeline().steps[0] == {"op": "leads", "leads": ["II", "V1"], "missing": "error"}
    ecg = np.random.default_rng(0).normal(size=(3600, 1))
    with pytest.raises(LeanECGError):
        two.pipeline().apply(ecg, 360.0, leads=["MLII"])

    x = torch.randn(2000, 2, 126)
    seen = _windows_the_model_saw(
        beat_augment_batch_loss(RR_SECONDS_COLUMNS, 0.0, 0, seed=0, lead_dropout=0.3), x
    )
    assert torch.equal(seen[:, 0], x[:, 0])
    dropped = (seen[:, 1] == 0).all(dim=1)
    assert torch.equal(seen[~dropped, 1], x[~dropped, 1])
    assert 0.25 < dropped.float().mean() < 0.35
    two.lead_dropout = 0.3
    assert MitdbAamiTask().batch_loss(0) is None and two.batch_loss(0) is not None
    with pytest.raises(ValueError, match="lead_dropout"):
        beat_augment_batch_loss(RR_SECONDS_COLUMNS, 0.0, 0, seed=0, lead_dropout=1.5)


def test_ensemble_distillation_trains_seeded_teachers_then_one_student(
    shared_data: Path, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """``distill_teachers``: the teachers (the student's architecture, seeds apart from every run's) train
    first, then the student learns from their ensemble; the result is one model of the zoo size."""
    import torch

    from leanecg.bench.runner import _train_deep, teacher_seeds
    from leanecg.errors import LeanECGError
    from leanecg.models.registry import model_config
    from leanecg.tasks import MitdbAamiTask

    monkeypatch.setenv("LEANECG_CACHE", str(tmp_path / "cache"))
    assert teacher_seeds(0, 3) == [10_000, 10_001, 10_002] and teacher_seeds(1, 2) == [10_100, 10_101]
    task = MitdbAamiTask()
    task.distill_teachers = 2
    data = task.load(shared_data, tiny=True)
    kw = {"seed": 0, "tiny": True, "epochs": 1, "max_train_seconds": None, "num_threads": 1}
    trained = _train_deep(task, "beatnet", data, **kw)
    config = trained.result.to_dict()["config"]
    assert config["teachers"]["seeds"] == [10_000, 10_001] and len(config["teachers"]["val_metric"]) == 2
    assert config["distill"]["temperature"] == 2.0 and config["distill"]["alpha"] == 0.5
    assert model_config(trained.model)["name"] == "beatnet"  # one plain model, not the ensemble
    plain = _train_deep(MitdbAamiTask(), "beatnet", data, **kw).model
    assert sum(p.numel() for p in trained.model.parameters()) == sum(p.numel() for p in plain.parameters())
    assert any(
        not torch.equal(a, b)
        for a, b in zip(trained.model.state_dict().values(), plain.state_dict().values(), strict=True)
    )
    task.flip_p = 0.3  # an augmentation loss cannot be distilled into
    with pytest.raises(LeanECGError, match="plain loss"):
        _train_deep(task, "beatnet", data, **kw)


def test_mitdb_real_noise_augmentation_adds_nstdb_noise_at_the_drawn_snr(shared_data: Path) -> None:
    """``real_noise_p``: the task reads the NSTDB bw + ma noise at the model's rate; about that share of the
    training windows gets a noise segment whose SNR against the window lies in the drawn range, the rest
    are untouched; without ``load()`` the augmentation is refused."""
    import numpy as np
    import torch

    from leanecg.errors import LeanECGError
    from leanecg.tasks import MitdbAamiTask
    from leanecg.tasks.mitdb_aami import RR_SECONDS_COLUMNS, beat_augment_batch_loss

    task = MitdbAamiTask()
    noise = task.noise_channels(shared_data)
    assert noise.shape[1] == 4 and noise.dtype == np.float32 and len(noise) == 650_000 // 2  # 360 -> 180 Hz
    assert np.isfinite(noise).all() and (noise.std(axis=0) > 0).all()
    x = torch.randn(4000, 1, 126)
    loss_fn = beat_augment_batch_loss(
        RR_SECONDS_COLUMNS, 0.0, 0, seed=0, real_noise=noise, real_noise_p=0.5, real_noise_snr_db=(6.0, 12.0)
    )
    added = _windows_the_model_saw(loss_fn, x) - x
    changed = added.abs().amax(dim=(1, 2)) > 0
    assert 0.45 < changed.float().mean() < 0.55
    snr = 20 * torch.log10(x[changed].std(dim=-1) / added[changed].std(dim=-1))
    assert snr.min() > 6.0 - 1e-3 and snr.max() < 12.0 + 1e-3
    with pytest.raises(ValueError, match="real_noise"):
        beat_augment_batch_loss(RR_SECONDS_COLUMNS, 0.0, 0, seed=0, real_noise_p=0.5)
    task.real_noise_p = 0.5
    with pytest.raises(LeanECGError, match="load"):
        task.batch_loss(0)
    task._real_noise = noise
    assert task.batch_loss(0) is not None
