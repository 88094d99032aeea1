"""Model packages end to end: ``leanecg bench --save-models``, ``leanecg predict``, ``beats``, ``models``.

Two tiny models, trained once per test session (``bench ... --tiny --save-models``: the ``tiny_*_bench``
fixtures of ``conftest.py``), are used on real records (MIT-BIH, CinC 2017) and on synthetic CSV files: exact CSV columns, row counts,
probabilities summing to 1, agreement with what ``bench`` evaluated, and one-line errors for bad input.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from benchhelp import TinyBench
from clihelp import invoke_cli, run_cli
from leanecg.data.record import Record
from leanecg.data.synthetic import synthetic_ecg
from leanecg.data.tabular import write_csv
from leanecg.errors import LeanECGError
from leanecg.signal.beats import RR_FEATURE_NAMES

BEAT_COLUMNS = ["sample", "label", "prob_N", "prob_S", "prob_V", "prob_F"]
RECORD_COLUMNS = ["record", "label", "prob_N", "prob_A", "prob_O", "prob_noise"]


@pytest.fixture()
def beat_pkg(tiny_mitdb_bench: TinyBench) -> Path:
    return tiny_mitdb_bench.package("beatnet")


@pytest.fixture()
def record_pkg(tiny_cinc2017_bench: TinyBench) -> Path:
    return tiny_cinc2017_bench.package("litenet")


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def _probs(rows: list[list[str]]) -> np.ndarray:
    return np.array([[float(v) for v in r[2:]] for r in rows])


def _assert_one_line_error(proc, *needles: str) -> None:  # type: ignore[no-untyped-def]
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def _synthetic_csv(path: Path, leads: list[str], fs: float = 250.0, seed: int = 3) -> np.ndarray:
    syn = synthetic_ecg(duration_s=40.0, fs=fs, heart_rate_bpm=72.0, n_leads=len(leads), seed=seed)
    write_csv(Record(name=path.stem, signal=syn.signal, fs=syn.fs, leads=leads), path)
    return syn.r_peaks


# ---------------------------------------------------------------------------------------- the packages


def test_package_files_and_metadata(
    beat_pkg: Path, record_pkg: Path, tiny_mitdb_bench: TinyBench, tiny_cinc2017_bench: TinyBench
) -> None:
    from leanecg.package.model import PACKAGE_FORMAT

    for pkg, run, kind in (
        (beat_pkg, tiny_mitdb_bench, "beats"),
        (record_pkg, tiny_cinc2017_bench, "records"),
    ):
        task = run.task
        assert f"model package saved to {pkg}" in run.stderr  # bench says where it saved each package
        assert sorted(p.name for p in pkg.iterdir()) == ["MODEL_CARD.md", "model.json", "model.pt"]
        meta = json.loads((pkg / "model.json").read_text())
        result = run.result(pkg.name)
        assert meta["package"] == {
            "format": PACKAGE_FORMAT,
            "name": f"{task}/{result['model']}",
            "kind": kind,
        }
        assert meta["metrics"] == result["metrics"] and meta["confusion"] == result["confusion"]
        assert meta["cost"]["params"] == result["cost"]["params"] and meta["cost"]["macs"] > 0
        assert meta["licence"]["licence"] == "ODC-By 1.0" and meta["licence"]["citation"]
        assert meta["pipeline"] == result["data"]["pipeline"]
        assert meta["provenance"]["git_commit"] == result["provenance"]["git_commit"]
        assert meta["data"]["tiny"] is True
        card = (pkg / "MODEL_CARD.md").read_text()
        primary = result["primary_metric"]
        m = result["metrics"][primary]
        assert f"| {primary} (primary) | {m['value']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}] |" in card
        for heading in ("## Training data", "## Cost", "## Intended use", "## Limits", "ODC-By 1.0"):
            assert heading in card
        assert "Smoke-run model" in card
    beat = json.loads((beat_pkg / "model.json").read_text())["input"]
    assert beat["fs"] == 180.0 and beat["leads"] == ["II"]
    assert (beat["before_s"], beat["after_s"]) == (0.25, 0.45)
    n_feat = json.loads((beat_pkg / "model.json").read_text())["model_config"]["n_features"]
    assert len(beat["features"]) == n_feat and tuple(beat["features"][:7]) == RR_FEATURE_NAMES
    rec = json.loads((record_pkg / "model.json").read_text())["input"]
    assert rec["fs"] == 300.0 and rec["variable_length"] is True and rec["before_s"] is None


def test_corrupted_package_is_refused(beat_pkg: Path, tmp_path: Path) -> None:
    from leanecg.package.model import load_model_package

    bad = tmp_path / "bad"
    shutil.copytree(beat_pkg, bad)
    data = bytearray((bad / "model.pt").read_bytes())
    data[-10] ^= 0xFF
    (bad / "model.pt").write_bytes(bytes(data))
    with pytest.raises(LeanECGError, match="checksum"):
        load_model_package(bad)
    proc = invoke_cli(["beats", "x.csv", "--model", str(bad), "--out", "b.csv"], tmp_path)
    _assert_one_line_error(proc, "model.pt", "checksum")


# ------------------------------------------------------------------------- agreement with the bench run


def test_record_model_agrees_with_bench(
    record_pkg: Path, tiny_cinc2017_bench: TinyBench, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leanecg.data import get_dataset, load_record
    from leanecg.package.model import load_model_package
    from leanecg.tasks import get_task

    monkeypatch.setenv("LEANECG_CACHE", str(tiny_cinc2017_bench.cache))  # the bench's cache: no re-decoding
    task = get_task("cinc2017")
    data = task.load(shared_data, tiny=True, seed=0)
    result = tiny_cinc2017_bench.result("litenet")
    pkg = load_model_package(record_pkg)
    proba = pkg.predict_inputs(data.test.X)
    ev = task.evaluate(data.test, proba, n_boot=50, seed=0)
    assert ev["confusion"] == result["confusion"]
    for name, m in result["metrics"].items():
        assert ev["metrics"][name]["value"] == pytest.approx(m["value"], nan_ok=True)
    # raw records through the stored pipeline give the same inputs, hence the same probabilities
    ds = get_dataset("cinc2017")
    names = result["data"]["test_records"][:6]
    records = [load_record(ds.record_path(shared_data, r)) for r in names]
    for k, rec in enumerate(records):  # the package's preprocessing is exactly the bench's
        np.testing.assert_array_equal(pkg.preprocess(rec).T, data.test.X[k])
    raw = pkg.predict_records(records)
    np.testing.assert_allclose(raw, proba[:6], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(raw.sum(axis=1), 1.0, atol=1e-6)


def test_beat_model_agrees_with_bench(
    beat_pkg: Path, tiny_mitdb_bench: TinyBench, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leanecg.package.model import load_model_package
    from leanecg.tasks import get_task
    from leanecg.train.trainer import predict_proba

    monkeypatch.setenv("LEANECG_CACHE", str(tiny_mitdb_bench.cache))
    task = get_task("mitdb-aami")
    data = task.load(shared_data, tiny=True, seed=0)
    result = tiny_mitdb_bench.result("beatnet")
    pkg = load_model_package(beat_pkg)
    proba = predict_proba(pkg.model, data.test.X, features=data.test.features)
    ev = task.evaluate(data.test, proba, n_boot=50, seed=0)
    assert ev["confusion"] == result["confusion"]
    assert ev["metrics"]["accuracy"]["value"] == pytest.approx(result["metrics"]["accuracy"]["value"])


# ----------------------------------------------------------------------------------------- leanecg beats


def test_beats_on_a_real_record(beat_pkg: Path, shared_data: Path, tmp_path: Path) -> None:
    from leanecg.data import load_record
    from leanecg.evaluate.beat_matching import match_beats, reference_beats

    out = tmp_path / "beats.csv"
    proc = run_cli(
        ["beats", str(shared_data / "mitdb" / "100"), "--model", str(beat_pkg), "--out", str(out)], tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    header, rows = _read(out)
    assert header == BEAT_COLUMNS
    ref = load_record(shared_data / "mitdb" / "100").annotation
    assert ref is not None
    ref_peaks = reference_beats(ref.sample, ref.symbol)
    assert abs(len(rows) - len(ref_peaks)) <= 0.01 * len(ref_peaks)
    samples = np.array([int(r[0]) for r in rows])
    assert np.all(np.diff(samples) > 0) and samples.max() < 650_000
    m = match_beats(ref_peaks, samples, tolerance=round(0.15 * 360))
    assert m.sensitivity > 0.99 and m.ppv > 0.99  # positions are at the record's own 360 Hz
    probs = _probs(rows)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert [r[1] for r in rows] == [("N", "S", "V", "F")[k] for k in probs.argmax(axis=1)]


def test_beats_on_synthetic_csv_at_another_rate(beat_pkg: Path, tmp_path: Path) -> None:
    from leanecg.evaluate.beat_matching import match_beats

    src = tmp_path / "synth.csv"
    truth = _synthetic_csv(src, ["II"], fs=250.0)
    out = tmp_path / "beats.csv"
    proc = invoke_cli(["beats", str(src), "--model", str(beat_pkg), "--out", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    header, rows = _read(out)
    assert header == BEAT_COLUMNS
    samples = np.array([int(r[0]) for r in rows])
    m = match_beats(truth, samples, tolerance=round(0.15 * 250))
    assert m.sensitivity > 0.95 and m.ppv > 0.95  # resampled to 180 Hz inside, mapped back to 250 Hz
    np.testing.assert_allclose(_probs(rows).sum(axis=1), 1.0, atol=1e-4)


def test_beats_on_a_folder_writes_one_csv_per_record(beat_pkg: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    n_truth = {
        name: len(_synthetic_csv(folder / f"{name}.csv", ["MLII"], seed=k)) for k, name in enumerate("ab")
    }
    out = tmp_path / "out"
    proc = invoke_cli(["beats", str(folder), "--model", str(beat_pkg), "--out", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "b.csv"]
    for name, n in n_truth.items():
        header, rows = _read(out / f"{name}.csv")
        assert header == BEAT_COLUMNS and abs(len(rows) - n) <= 2


def test_beats_refuses_a_record_without_the_lead(beat_pkg: Path, shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "beats.csv"
    proc = invoke_cli(
        ["beats", str(shared_data / "mitdb" / "102"), "--model", str(beat_pkg), "--out", str(out)], tmp_path
    )
    _assert_one_line_error(proc, "mitdb/102", "needs lead(s) II", "V5, V2")
    assert not out.exists()
    src = tmp_path / "v.csv"
    _synthetic_csv(src, ["V1", "V2"])
    proc = invoke_cli(["beats", str(src), "--model", str(beat_pkg), "--out", str(out)], tmp_path)
    _assert_one_line_error(proc, "v.csv", "needs lead(s) II")


def test_beats_and_predict_refuse_the_other_kind(beat_pkg: Path, record_pkg: Path, tmp_path: Path) -> None:
    src = tmp_path / "s.csv"
    _synthetic_csv(src, ["II"])
    proc = invoke_cli(["predict", str(src), "--model", str(beat_pkg), "--out", "p.csv"], tmp_path)
    _assert_one_line_error(proc, "--model", "classifies beats", "leanecg beats")
    proc = invoke_cli(["beats", str(src), "--model", str(record_pkg), "--out", "b.csv"], tmp_path)
    _assert_one_line_error(proc, "--model", "classifies records", "leanecg predict")


# --------------------------------------------------------------------------------------- leanecg predict


def test_predict_on_real_records_and_a_csv(record_pkg: Path, shared_data: Path, tmp_path: Path) -> None:
    from leanecg.data import load_record
    from leanecg.package.model import load_model_package

    folder = shared_data / "cinc2017" / "training2017"
    src = tmp_path / "synth.csv"
    _synthetic_csv(src, ["ECG"], fs=300.0)
    out = tmp_path / "preds.csv"
    args = [str(folder / "A00001"), str(folder / "A00002.mat"), str(src)]
    proc = run_cli(["predict", *args, "--model", str(record_pkg), "--out", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    header, rows = _read(out)
    assert header == RECORD_COLUMNS
    assert [r[0] for r in rows] == ["A00001", "A00002", "synth"]
    probs = _probs(rows)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert [r[1] for r in rows] == [("N", "A", "O", "~")[k] for k in probs.argmax(axis=1)]
    pkg = load_model_package(record_pkg)
    direct = pkg.predict_records([load_record(folder / "A00001"), load_record(folder / "A00002")])
    np.testing.assert_allclose(probs[:2], direct, atol=2e-6)  # CSV keeps 6 decimals


def test_predict_resamples_and_selects_the_lead(record_pkg: Path, tmp_path: Path) -> None:
    """A 2-lead record at 500 Hz that has lead I: the model's lead is picked by name, the rate resampled."""
    from leanecg.data import load_record
    from leanecg.package.model import load_model_package

    two = tmp_path / "two.csv"
    _synthetic_csv(two, ["I", "V2"], fs=500.0)
    one = tmp_path / "one.csv"
    rec = load_record(two)
    write_csv(Record(name="one", signal=rec.signal[:, :1], fs=rec.fs, leads=["I"]), one)
    pkg = load_model_package(record_pkg)
    x_two, x_one = pkg.preprocess(load_record(two)), pkg.preprocess(load_record(one))
    assert x_two.shape == (40 * 300, 1)  # 40 s at 500 Hz -> the model's 300 Hz
    np.testing.assert_array_equal(x_two, x_one)
    p = pkg.predict_records([load_record(two), load_record(one)])
    np.testing.assert_array_equal(p[0], p[1])


def test_predict_errors_are_one_line(record_pkg: Path, tmp_path: Path) -> None:
    src = tmp_path / "v.csv"
    _synthetic_csv(src, ["V1", "V2"])
    out = tmp_path / "p.csv"
    proc = invoke_cli(["predict", str(src), "--model", str(record_pkg), "--out", str(out)], tmp_path)
    _assert_one_line_error(proc, "v.csv", "needs lead(s) I", "V1, V2")
    assert not out.exists()
    v1 = tmp_path / "v1.csv"  # a single-lead record feeds a single-lead model whatever its name: recorded
    _synthetic_csv(v1, ["V1"])
    proc = invoke_cli(["predict", str(v1), "--model", str(record_pkg), "--out", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "leads: V1 -> I (the record's only lead)" in proc.stderr.splitlines()
    out.unlink()
    proc = invoke_cli(["predict", str(src), "--model", "no-such-model", "--out", str(out)], tmp_path)
    _assert_one_line_error(proc, "--model", "no-such-model", "not a shipped model")
    proc = invoke_cli(["beats", str(src), "--model", "mitdb-aami", "--out", str(out)], tmp_path)
    _assert_one_line_error(proc, "v.csv", "needs lead(s) II")  # the shipped beat model, a lead it lacks


# ---------------------------------------------------------------------------------- shipped models (zoo)


def test_models_when_nothing_is_shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from leanecg import cli
    from leanecg.package import shipped

    empty = tmp_path / "zoo"
    empty.mkdir()
    monkeypatch.setattr(shipped, "zoo_dir", lambda: empty)
    res = CliRunner().invoke(cli.app, ["models"], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    assert "No models are shipped with this LeanECG release yet" in res.output
    assert "--save-models" in res.output
    res = CliRunner().invoke(cli.app, ["models", "--json"])
    assert res.exit_code == 0 and json.loads(res.output) == []


def test_the_release_ships_both_headline_models(tmp_path: Path) -> None:
    proc = run_cli(["models", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert set(rows) >= {"cinc2017", "mitdb-aami"}
    assert rows["cinc2017"]["classes"] == ["N", "A", "O", "~"] and rows["cinc2017"]["params"] <= 100_000
    assert rows["mitdb-aami"]["classes"] == ["N", "S", "V", "F"] and rows["mitdb-aami"]["params"] <= 50_000
    assert not any(r["tiny"] for r in rows.values())  # real training runs, not smoke runs
    # the beat model carries its AF gate, and the table says the metric is the network's alone
    assert rows["mitdb-aami"]["rhythm_gate"] > 0 and rows["cinc2017"]["rhythm_gate"] is None
    table = run_cli(["models"], tmp_path, env={"COLUMNS": "250"})
    assert "mitdb-aami: `leanecg beats` / `stream` / `serve` apply its AF gate" in table.stdout
    # both carry their forward latency in ONNX Runtime, the runtime they run in, beside torch's
    assert all(r["onnx_latency_ms"] > 0 and r["onnx_latency_ratio"] > 0 for r in rows.values()), rows
    ratio = rows["cinc2017"]["onnx_latency_ratio"]
    assert (
        "cinc2017: forward pass in ONNX Runtime (the runtime of" in table.stdout
        and f"{ratio:.3f}x" in table.stdout
    )


def test_shipped_lookup_and_models_table(
    beat_pkg: Path, record_pkg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from leanecg import cli
    from leanecg.package import resolve_model, shipped
    from leanecg.package.model import model_card

    zoo = tmp_path / "zoo"
    shutil.copytree(beat_pkg, zoo / "mitdb-aami")
    shutil.copytree(record_pkg, zoo / "cinc2017")
    # latencies benchmarks/latency_cinc2017.py --onnx --write-cost adds to a record model's cost block
    record_meta = json.loads((zoo / "cinc2017" / "model.json").read_text())
    record_meta["cost"].update(
        onnx_latency_ms_median=0.25,
        onnx_reference_latency_ms_median=5.0,
        onnx_latency_ratio_vs_reference=0.05,
        end_to_end_ms_median=8.0,
        end_to_end_ratio_vs_reference=0.4,
        onnx_end_to_end_ms_median=6.0,
        onnx_end_to_end_ratio_vs_reference=0.3,
    )
    (zoo / "cinc2017" / "model.json").write_text(json.dumps(record_meta))
    card = model_card(record_meta)
    assert (
        "- In ONNX Runtime fp32 (the runtime of `predict`, `beats`, `stream`, `serve`): 0.250 ms median, 0.050x"
        in card
    )
    assert (
        "End to end with the record features: torch 8.000 ms (0.400x the reference's forward pass); ONNX Runtime 6.000 ms (0.300x"
        in card
    )
    assert "In ONNX Runtime" not in model_card(json.loads((beat_pkg / "model.json").read_text()))
    (zoo / "README.md").write_text("not a model")
    monkeypatch.setattr(shipped, "zoo_dir", lambda: zoo)
    rows = shipped.list_shipped()
    assert [r["name"] for r in rows] == ["cinc2017", "mitdb-aami"]
    meta = json.loads((beat_pkg / "model.json").read_text())
    beat = rows[1]
    assert beat["task"] == "mitdb-aami" and beat["classes"] == ["N", "S", "V", "F"]
    assert beat["params"] == meta["cost"]["params"] and beat["macs"] == meta["cost"]["macs"]
    assert beat["value"] == meta["metrics"]["sveb_veb_f1"]["value"] and beat["tiny"] is True
    assert shipped.shipped_path("mitdb-aami") == zoo / "mitdb-aami"
    assert resolve_model("cinc2017") == zoo / "cinc2017"
    assert resolve_model(str(beat_pkg)) == beat_pkg  # a folder path wins
    with pytest.raises(LeanECGError, match="shipped: cinc2017, mitdb-aami"):
        shipped.shipped_path("ptbxl")
    res = CliRunner().invoke(cli.app, ["models"], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    assert (
        "mitdb-aami" in res.output
        and "N, S, V, F" in res.output
        and f"{meta['cost']['params']:,}" in res.output
    )
    m = meta["metrics"]["sveb_veb_f1"]
    assert f"sveb_veb_f1 {m['value']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]" in res.output
    assert rows[0]["onnx_latency_ms"] == 0.25 and rows[1]["onnx_latency_ms"] is None
    assert (
        "cinc2017: forward pass in ONNX Runtime" in res.output and "0.250 ms, 0.050x ResNet-1D" in res.output
    )
    assert "mitdb-aami: forward pass" not in res.output  # not measured for that package


def test_beats_folder_needs_a_folder_out(beat_pkg: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    _synthetic_csv(folder / "a.csv", ["II"])
    out = tmp_path / "beats.csv"
    out.write_text("keep me")
    proc = invoke_cli(["beats", str(folder), "--model", str(beat_pkg), "--out", str(out)], tmp_path)
    _assert_one_line_error(proc, "beats.csv", "--out must be a folder")
    assert out.read_text() == "keep me"


def test_short_record_gives_no_beats(beat_pkg: Path) -> None:
    from leanecg.package.model import load_model_package

    pkg = load_model_package(beat_pkg)
    syn = synthetic_ecg(duration_s=0.9, fs=360.0, seed=1)  # under 1 s: too short for the R-peak detector
    pred = pkg.predict_beats(Record(name="short", signal=syn.signal, fs=360.0, leads=["II"]))
    assert pred.samples.shape == (0,) and pred.labels == [] and pred.probs.shape == (0, 4)


def test_pipeline_that_cannot_reach_the_model_rate_is_refused(record_pkg: Path, tmp_path: Path) -> None:
    from leanecg.package.model import load_model_package

    pkg_dir = tmp_path / "noresample"
    shutil.copytree(record_pkg, pkg_dir)
    meta = json.loads((pkg_dir / "model.json").read_text())
    meta["pipeline"]["steps"] = [s for s in meta["pipeline"]["steps"] if s["op"] != "resample"]
    (pkg_dir / "model.json").write_text(json.dumps(meta))
    pkg = load_model_package(pkg_dir)
    syn = synthetic_ecg(duration_s=20.0, fs=600.0, seed=2)
    record = Record(name="r", signal=syn.signal, fs=600.0, leads=["ECG"], path=tmp_path / "r.csv")
    with pytest.raises(LeanECGError, match=r"r\.csv: sampling rate 600 Hz .* the model takes 300 Hz"):
        pkg.predict_records([record])
    ok = Record(name="r", signal=syn.signal[::2], fs=300.0, leads=["ECG"])
    assert pkg.predict_records([ok]).shape == (1, 4)


def test_beats_analyse_the_valid_stretches_of_a_record_with_invalid_samples(
    beat_pkg: Path, shared_data: Path, tmp_path: Path
) -> None:
    """A Holter lead that comes off (NaN samples): the valid stretches are analysed, each on its own;
    no beat is reported inside the gap or in a valid stretch too short to analyse; the skipped spans are
    returned and named on stderr; far from the gap the beats are those of the intact record."""
    import dataclasses

    import wfdb

    from leanecg.data import load_record
    from leanecg.package import open_model
    from leanecg.package.model import MIN_SEGMENT_S

    pkg = open_model(str(beat_pkg))
    full = load_record(shared_data / "mitdb" / "100")
    fs = full.fs
    sig = np.array(full.signal[: int(300 * fs)], dtype=np.float32)
    rec = dataclasses.replace(full, signal=sig)
    gap = (int(100 * fs), int(105 * fs))  # 5 s lead-off
    short = (int(105 * fs) + int(2 * fs), int(105 * fs) + int(2 * fs) + 10)  # leaves a 2 s stretch
    broken = sig.copy()
    broken[gap[0] : gap[1], 0] = np.nan
    broken[short[0] : short[1], 0] = np.nan
    broken[int(200 * fs) : int(201 * fs), 1] = np.nan  # the lead the model does not read: ignored
    intact = pkg.predict_beats(rec)
    pred = pkg.predict_beats(dataclasses.replace(rec, signal=broken))
    assert intact.skipped == ()
    assert pred.skipped == ((gap[0], short[1]),) and short[0] - gap[1] < MIN_SEGMENT_S * fs
    assert not ((pred.samples >= gap[0]) & (pred.samples < short[1])).any()
    assert np.all(np.diff(pred.samples) > 0) and len(pred.labels) == len(pred.samples) == len(pred.probs)
    # before the gap the record is the same from its start (causal inputs): the same beats there
    early = intact.samples < 90 * fs
    np.testing.assert_array_equal(pred.samples[pred.samples < 90 * fs], intact.samples[early])
    assert [lab for s, lab in zip(pred.samples, pred.labels, strict=True) if s < 90 * fs] == [
        lab for s, lab, e in zip(intact.samples, intact.labels, early, strict=True) if e
    ]
    # after it the RR features and the running template start afresh; a minute later they agree again
    late_i = intact.samples > 200 * fs
    late_p = pred.samples > 200 * fs
    np.testing.assert_array_equal(pred.samples[late_p], intact.samples[late_i])
    same = np.mean(np.array(pred.labels)[late_p] == np.array(intact.labels)[late_i])
    assert same >= 0.98, same
    # all invalid: nothing analysed, the whole record skipped
    empty = pkg.predict_beats(dataclasses.replace(rec, signal=np.full_like(sig, np.nan)))
    assert len(empty.samples) == 0 and empty.skipped == ((0, len(sig)),)
    # the CLI on a WFDB record with a gap: exit 0, beats outside the gap, the span named on stderr
    folder = tmp_path / "rec"
    folder.mkdir()
    wfdb.wrsamp(
        "hol",
        fs=fs,
        units=["mV", "mV"],
        sig_name=["MLII", "V5"],
        p_signal=broken.astype(np.float64),
        fmt=["212", "212"],
        write_dir=str(folder),
    )
    out = tmp_path / "beats.csv"
    proc = run_cli(["beats", str(folder / "hol"), "--model", str(beat_pkg), "--out", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "hol: 7.0 s not analysed" in proc.stderr and "100.0-107.0 s" in proc.stderr, proc.stderr
    _, rows = _read(out)
    samples = np.array([int(r[0]) for r in rows])
    assert not ((samples >= gap[0]) & (samples < short[1])).any() and len(rows) > 300
