"""The public CLI contracts: command names, arguments, output columns and JSON keys, run for real."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from clihelp import invoke_cli, run_cli
from leanecg.data.record import Record
from leanecg.data.synthetic import synthetic_ecg
from leanecg.data.tabular import write_csv


def test_rpeaks_csv_columns_on_a_csv_record(tmp_path: Path) -> None:
    syn = synthetic_ecg(duration_s=20, fs=250, rhythm="pvc", seed=3, n_leads=2)
    src = tmp_path / "rec.csv"
    write_csv(Record(name="rec", signal=syn.signal, fs=250.0, leads=["II", "V1"]), src, time_column=False)
    out = tmp_path / "peaks.csv"
    proc = run_cli(["rpeaks", str(src), "--fs", "250", "--lead", "II", "--out", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["record", "lead", "sample", "time_s"]
    samples = np.array([int(r["sample"]) for r in rows])
    assert {r["lead"] for r in rows} == {"II"} and {r["record"] for r in rows} == {"rec"}
    # every synthetic beat found within 50 ms, nothing extra
    assert len(samples) == len(syn.r_peaks)
    assert np.max(np.abs(samples - syn.r_peaks)) <= 0.05 * 250
    assert np.allclose([float(r["time_s"]) for r in rows], samples / 250, atol=1e-4)


def test_rpeaks_on_real_mitdb_record(tmp_path: Path, mitdb_dir: Path) -> None:
    out = tmp_path / "p.csv"
    proc = invoke_cli(["rpeaks", str(mitdb_dir / "100"), "--out", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(out.open()))
    assert 2260 <= len(rows) <= 2285  # 2273 annotated beats in record 100
    assert "wrote" in proc.stderr


def test_score_cinc2017_json_keys(tmp_path: Path) -> None:
    (tmp_path / "REFERENCE.csv").write_text("A1,N\nA2,A\nA3,O\nA4,~\n")
    (tmp_path / "ANSWERS.csv").write_text("A1,N\nA2,A\nA3,N\nA4,~\n")
    proc = run_cli(["score", "cinc2017", "REFERENCE.csv", "ANSWERS.csv", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {"f1", "f1_N", "f1_A", "f1_O", "f1_noise"}
    # by hand: N: 2*1/(1+2)=2/3, A: 1, O: 0, ~: 1 -> F1 = (2/3 + 1 + 0) / 3
    assert out["f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert out["f1_noise"] == pytest.approx(1.0)


def test_score_cinc2021_json_keys_and_perfect_classifier(tmp_path: Path) -> None:
    from leanecg.evaluate.cinc2021 import load_weights

    classes, _ = load_weights()  # scored classes, each a frozenset of equivalent SNOMED codes
    labels, outputs = tmp_path / "labels", tmp_path / "outputs"
    labels.mkdir()
    outputs.mkdir()
    truth = {"R1": {"426783006"}, "R2": {"164889003"}, "R3": {"59118001"}}  # NSR, AF, RBBB (= CRBBB class)
    header = ",".join("|".join(sorted(c)) for c in classes)
    for rec, dx in truth.items():
        (labels / f"{rec}.hea").write_text(f"{rec} 12 500 5000\n#Age: 50\n#Sex: Male\n#Dx: {','.join(dx)}\n")
        binary = [int(bool(dx & c)) for c in classes]
        (outputs / f"{rec}.csv").write_text(
            f"#{rec}\n{header}\n{','.join(map(str, binary))}\n{','.join(f'{b:.1f}' for b in binary)}\n"
        )
    proc = invoke_cli(["score", "cinc2021", str(labels), str(outputs), "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert {"challenge_metric", "auroc", "auprc", "accuracy", "f_measure"} <= set(out)
    assert out["challenge_metric"] == pytest.approx(1.0)
    assert out["accuracy"] == pytest.approx(1.0)


def test_quickstart_offline_without_data(tmp_path: Path) -> None:
    empty = tmp_path / "nodata"
    empty.mkdir()
    proc = run_cli(["quickstart"], tmp_path, env={"LEANECG_DATA": str(empty)}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    # the real excerpts shipped with LeanECG (leanecg/examples/), with their reference labels
    assert "MIT-BIH 30 s excerpt (real)" in proc.stdout and "233" in proc.stdout
    assert "CinC 2017 example (real)" in proc.stdout and "A00405" in proc.stdout
    assert "ODC-By 1.0" in " ".join(proc.stdout.split()) and "synthetic" not in proc.stdout
    assert "100.00" in proc.stdout  # every reference beat of the clean excerpt found
    assert "Next:" in proc.stdout
    assert (tmp_path / "leanecg-quickstart" / "report.html").is_file()
    # the card gives each model's latency ratio to ResNet-1D in torch and in ONNX Runtime (the runtime it ran on)
    assert "× ResNet, ONNX" in proc.stdout
    from leanecg.package import list_shipped

    card = proc.stdout.split("4. Shipped models")[1].split("HTML report")[0]
    for model in list_shipped():
        row = next(line for line in card.splitlines() if line.startswith(f"│ {model['name']} "))
        assert row.rstrip(" │").endswith(f"{model['onnx_latency_ratio']:.3f}"), row


def test_quickstart_uses_real_data_when_present(tmp_path: Path, shared_data: Path) -> None:
    proc = invoke_cli(["quickstart", "--data-dir", str(shared_data)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "MIT-BIH (real)" in proc.stdout and "232" in proc.stdout
    assert (tmp_path / "leanecg-quickstart" / "report.html").is_file()


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["bench", "nosuchtask", "--tiny"], r"^error: TASK: unknown benchmark task 'nosuchtask'"),
        (["bench", "cinc2017", "--models", "nosuchmodel", "--tiny"], r"^error: --models: unknown model"),
    ],
)
def test_bench_bad_arguments_one_line(
    tmp_path: Path, shared_data: Path, args: list[str], pattern: str
) -> None:
    import re

    proc = invoke_cli([*args, "--data-dir", str(shared_data), "--out", str(tmp_path / "res")], tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and re.match(pattern, lines[0]), proc.stderr
    assert not (tmp_path / "res").exists() or not any((tmp_path / "res").rglob("*.json"))


def _one_line_error(proc, pattern: str) -> None:  # type: ignore[no-untyped-def]
    import re

    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and re.match(pattern, lines[0]), proc.stderr


def test_unknown_lead_name_through_cli(tmp_path: Path, mitdb_dir: Path) -> None:
    out = tmp_path / "p.csv"
    proc = invoke_cli(["rpeaks", str(mitdb_dir / "100"), "--lead", "V7", "--out", str(out)], tmp_path)
    _one_line_error(proc, r"^error: \S*100: unknown lead 'V7'; this record has: II, V5$")
    assert not out.exists() and not list(tmp_path.glob(".p.csv*"))


def test_unknown_label_code_in_a_cinc2021_folder(tmp_path: Path, shared_data: Path) -> None:
    import shutil

    folder = tmp_path / "data" / "cinc2021"
    folder.mkdir(parents=True)
    for f in (shared_data / "cinc2021_sample").glob("E0750[01].*"):
        shutil.copy(f, folder / f.name)
    hea = folder / "E07500.hea"
    lines = [("#Dx: 999999999" if "Dx:" in ln else ln) for ln in hea.read_text().splitlines()]
    hea.write_text("\n".join(lines) + "\n")
    proc = invoke_cli(["info", "cinc2021", "--data-dir", str(tmp_path / "data")], tmp_path)
    _one_line_error(proc, r"^error: \S*E07500\.hea: unknown SNOMED CT code 999999999")


def test_unknown_label_in_cinc2017_reference(tmp_path: Path) -> None:
    (tmp_path / "REF.csv").write_text("A1,N\nA2,X\n")
    (tmp_path / "ANS.csv").write_text("A1,N\nA2,A\n")
    proc = invoke_cli(["score", "cinc2017", "REF.csv", "ANS.csv"], tmp_path)
    _one_line_error(proc, r"^error: \S*REF\.csv: line 2: unknown label 'X'")
