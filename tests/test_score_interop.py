"""``leanecg score`` reads what ``leanecg predict`` writes: ``record,label,prob_<class>...`` (header line
recognised, the other columns ignored, ``noise`` read as ``~``) for CinC 2017, and the multi-label CSV of a
model of SNOMED CT classes in place of the output folder for CinC 2021."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from clihelp import invoke_cli
from leanecg.errors import LeanECGError
from leanecg.evaluate import cinc2017


def _one_line_error(proc, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_predict_then_score_cinc2017_end_to_end(tmp_path: Path, shared_data: Path) -> None:
    folder = shared_data / "cinc2017" / "training2017"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    headers = sorted(folder.glob("A*.hea"))[:6]  # a handful: it must stay fast
    reference = dict(
        line.strip().split(",") for line in (folder / "REFERENCE-v3.csv").read_text().splitlines() if line
    )
    (tmp_path / "REF.csv").write_text("".join(f"{h.stem},{reference[h.stem]}\n" for h in headers))
    proc = invoke_cli(["predict", *map(str, headers), "--model", "cinc2017", "--out", "preds.csv"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader((tmp_path / "preds.csv").open()))
    assert rows[0] == ["record", "label", "prob_N", "prob_A", "prob_O", "prob_noise"]
    proc = invoke_cli(["score", "cinc2017", "REF.csv", "preds.csv", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {"f1", "f1_N", "f1_A", "f1_O", "f1_noise"}
    assert all(math.isnan(v) or 0.0 <= v <= 1.0 for v in out.values())
    agree = sum({"noise": "~"}.get(r[1], r[1]) == reference[r[0]] for r in rows[1:])
    if agree == len(headers):  # every record right -> every class present scores 1
        assert out["f1_N"] == pytest.approx(1.0)


def test_cinc2017_header_extra_columns_and_noise(tmp_path: Path) -> None:
    ref = tmp_path / "REF.csv"
    ref.write_text("A1,N\nA2,A\nA3,O\nA4,~\n")
    ans = tmp_path / "preds.csv"
    ans.write_text(
        "record,label,prob_N,prob_A,prob_O,prob_noise\n"
        "A2,A,0.1,0.7,0.1,0.1\nA1,N,0.9,0,0.1,0\nA3,N,0.5,0,0.4,0.1\nA4,noise,0,0,0,1\n"
    )
    assert cinc2017.read_labels_csv(ans) == {"A2": "A", "A1": "N", "A3": "N", "A4": "~"}
    assert cinc2017.score_files(ref, ans)["f1_noise"] == pytest.approx(1.0)
    # columns found by name, in any order; a row of the wrong length names its line
    (tmp_path / "swapped.csv").write_text("label,record,extra\nN,A1,x\n")
    assert cinc2017.read_labels_csv(tmp_path / "swapped.csv") == {"A1": "N"}
    (tmp_path / "short.csv").write_text("record,label,prob_N\nA1,N,1\nA2,A\n")
    with pytest.raises(LeanECGError, match=r"line 3: 2 fields, but the header line has 3"):
        cinc2017.read_labels_csv(tmp_path / "short.csv")
    proc = invoke_cli(["score", "cinc2017", "REF.csv", "preds.csv", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["f1_A"] == pytest.approx(1.0)


def _cinc2021_labels(tmp_path: Path) -> tuple[Path, list[frozenset[str]], dict[str, set[str]]]:
    from leanecg.evaluate.cinc2021 import load_weights

    classes, _ = load_weights()
    labels = tmp_path / "labels"
    labels.mkdir()
    truth = {"R1": {"426783006"}, "R2": {"164889003"}, "R3": {"59118001"}}  # NSR, AF, RBBB (= CRBBB class)
    for rec, dx in truth.items():
        (labels / f"{rec}.hea").write_text(f"{rec} 12 500 5000\n#Age: 50\n#Sex: Male\n#Dx: {','.join(dx)}\n")
    return labels, classes, truth


def test_score_cinc2021_reads_a_predict_csv(tmp_path: Path) -> None:
    labels, classes, truth = _cinc2021_labels(tmp_path)
    names = ["|".join(sorted(c)) for c in classes]  # class names of a model trained on the scored classes
    lines = ["record,label," + ",".join(f"prob_{n}" for n in names)]
    for rec, dx in truth.items():
        pos = [n for n, c in zip(names, classes, strict=True) if dx & c]
        probs = [0.9 if dx & c else 0.1 for c in classes]
        lines.append(f"{rec},{';'.join(pos)}," + ",".join(f"{p:.6f}" for p in probs))
    (tmp_path / "preds.csv").write_text("\n".join(lines) + "\n")
    proc = invoke_cli(["score", "cinc2021", str(labels), "preds.csv", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert {"challenge_metric", "auroc", "auprc", "accuracy", "f_measure"} <= set(out)
    assert out["challenge_metric"] == pytest.approx(1.0) and out["accuracy"] == pytest.approx(1.0)
    # a record without a prediction
    (tmp_path / "part.csv").write_text("\n".join(lines[:3]) + "\n")
    _one_line_error(
        invoke_cli(["score", "cinc2021", str(labels), "part.csv"], tmp_path), "no prediction for record R3"
    )


def test_score_cinc2021_refuses_classes_without_a_mapping(tmp_path: Path) -> None:
    labels, _, _ = _cinc2021_labels(tmp_path)
    (tmp_path / "ptbxl.csv").write_text(
        "record,label,prob_NORM,prob_MI,prob_STTC,prob_CD,prob_HYP\nR1,NORM,0.9,0.1,0.1,0.1,0.1\n"
    )
    proc = invoke_cli(["score", "cinc2021", str(labels), "ptbxl.csv"], tmp_path)
    _one_line_error(proc, "ptbxl.csv: class NORM is not a SNOMED CT code", "no mapping")
