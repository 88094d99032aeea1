"""PhysioNet/CinC 2021 scoring: hand-computed cases, file handling, and (optionally) the official code."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import load_benchmark
from leanecg.errors import LeanECGError
from leanecg.evaluate import cinc2021

AF, RBBB, SR = "164889003", "713427006|59118001", "426783006"
UNSCORED = "164951009"

# Three scored classes; RBBB is the equivalence class 713427006|59118001.
WEIGHTS = f""",{AF},{RBBB},{SR}
{AF},1.0,0.5,0.0
{RBBB},0.5,1.0,0.25
{SR},0.0,0.25,1.0
"""

# record: (Dx codes, output file lines 2-4)
RECORDS = {
    # labels {RBBB (via the equivalent code 59118001), SR}
    "R1": ("59118001,426783006", ["164889003,713427006,426783006", "0,1,0", "0.2,0.9,0.4"]),
    # labels {AF}; the output names RBBB with the joined form
    "R2": ("164889003", ["164889003,713427006|59118001,426783006", "1,1,0", "0.8,0.9,0.1"]),
    # no scored label; both RBBB codes output separately (binary: any -> 1, score: mean(0.2, 0.6) = 0.4)
    "R3": (UNSCORED, ["164889003,59118001,713427006,426783006", "0,0,1,0", "0.3,0.2,0.6,0.5"]),
    # labels {SR}; columns reordered, RBBB missing (-> 0, score 0), official true/false spellings
    "R4": ("426783006", ["426783006,164889003", "True,false", "0.7,0.1"]),
}


def write_case(root: Path, records: dict = RECORDS, weights: str = WEIGHTS) -> tuple[Path, Path, Path]:
    labels, outputs = root / "labels", root / "outputs"
    labels.mkdir(parents=True)
    outputs.mkdir()
    for rec, (dx, rows) in records.items():
        (labels / f"{rec}.hea").write_text(f"{rec} 12 500 5000\n#Age: 60\n#Dx: {dx}\n#Rx: Unknown\n")
        (outputs / f"{rec}.csv").write_text("\n".join([f"#{rec}", *rows]) + "\n")
    wfile = root / "weights.csv"
    wfile.write_text(weights)
    return labels, outputs, wfile


def test_hand_computed_case(tmp_path: Path) -> None:
    labels, outputs, wfile = write_case(tmp_path)
    r = cinc2021.score_directories(labels, outputs, wfile)
    assert r["classes"] == [AF, "59118001|713427006", SR]
    # labels:  R1 [0 1 1]  R2 [1 0 0]  R3 [0 0 0]  R4 [0 0 1]
    # outputs: R1 [0 1 0]  R2 [1 1 0]  R3 [0 1 0]  R4 [0 0 1]
    # accuracy: only R4 is right on every class -> 1/4
    assert r["accuracy"] == 0.25
    # F: AF tp1 -> 1; RBBB tp1 fp2 -> 2/4; SR tp1 fn1 -> 2/3; macro = (1 + 1/2 + 2/3) / 3
    assert r["f_measure_classes"] == pytest.approx([1.0, 0.5, 2 / 3], abs=1e-15)
    assert r["f_measure"] == pytest.approx((1 + 0.5 + 2 / 3) / 3, abs=1e-15)
    # challenge metric, modified confusion matrix A (rows labels, cols outputs):
    #   observed: R1 union {RBBB,SR} -> A[RBBB,RBBB] += 1/2, A[SR,RBBB] += 1/2
    #             R2 union {AF,RBBB} -> A[AF,AF] += 1/2, A[AF,RBBB] += 1/2;  R3: no label row;  R4 A[SR,SR] += 1
    #             score = .5*1 + .5*.25 + .5*1 + .5*.5 + 1*1 = 2.375
    #   correct:  R1 4 cells of 1/2 -> .5 + .125 + .125 + .5 = 1.25; R2 1; R4 1 -> 3.25
    #   inactive (SR only): R1 A[RBBB,SR] 1/2*.25 + A[SR,SR] 1/2*1 = .625; R2 A[AF,SR] weight 0; R4 1 -> 1.625
    #   (2.375 - 1.625) / (3.25 - 1.625) = 0.75 / 1.625 = 6/13
    assert r["challenge_metric"] == pytest.approx(6 / 13, abs=1e-15)
    # AUROC / AUPRC per class (scores per record R1..R4):
    #   AF   [.2 .8 .3 .1], positive R2 ranked first -> 1, 1
    #   RBBB [.9 .9 .4 .0], positive R1 tied with R2 -> AUROC .5 * 1 * (2/3 + 1) = 5/6; AUPRC 1 * 1/2 = 1/2
    #   SR   [.4 .1 .5 .7], positives R4 (.7) and R1 (.4), negatives .5 and .1 -> AUROC 3/4;
    #        AUPRC: recall .5 at precision 1 (>= .7), recall 1 at precision 2/3 (>= .4) -> .5 + .5 * 2/3 = 5/6
    assert r["auroc_classes"] == pytest.approx([1.0, 5 / 6, 0.75], abs=1e-15)
    assert r["auprc_classes"] == pytest.approx([1.0, 0.5, 5 / 6], abs=1e-15)
    assert r["auroc"] == pytest.approx(31 / 36, abs=1e-15)
    assert r["auprc"] == pytest.approx(7 / 9, abs=1e-15)
    assert r["n_records"] == 4
    assert r["n_records_without_scored_label"] == 1
    assert r["n_missing_outputs"] == 0
    json.dumps(r)  # the CLI prints it with json.dumps


def test_array_api_matches_files(tmp_path: Path) -> None:
    classes, weights = cinc2021.load_weights(write_case(tmp_path)[2])
    labels = np.array([[0, 1, 1], [1, 0, 0], [0, 0, 0], [0, 0, 1]], dtype=bool)
    binary = np.array([[0, 1, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=bool)
    assert cinc2021.challenge_metric(labels, binary, weights, classes, SR) == pytest.approx(6 / 13, abs=1e-15)
    # string class names work too, and the default sinus rhythm is 426783006
    assert cinc2021.challenge_metric(labels, binary, weights, [AF, RBBB, SR]) == pytest.approx(6 / 13)
    # the true labels score 1, "always sinus rhythm" scores 0
    assert cinc2021.challenge_metric(labels, labels, weights, classes) == 1.0
    sr_only = np.zeros_like(labels)
    sr_only[:, 2] = True
    assert cinc2021.challenge_metric(labels, sr_only, weights, classes) == 0.0
    a = cinc2021.compute_modified_confusion_matrix(labels, binary)
    np.testing.assert_array_equal(a, [[0.5, 0.5, 0], [0, 0.5, 0], [0, 0.5, 1.0]])


def test_degenerate_normalisation_and_undefined_classes() -> None:
    classes = [frozenset({AF}), frozenset({SR})]
    w = np.array([[1.0, 0.0], [0.0, 1.0]])
    labels = np.array([[0, 1], [0, 1]], dtype=bool)  # every record sinus rhythm only
    out = np.array([[1, 0], [0, 1]], dtype=bool)
    # correct score == inactive score -> 0.0 by definition, whatever the outputs
    assert cinc2021.challenge_metric(labels, out, w, classes) == 0.0
    # AF has no positive: AUROC and AUPRC NaN, left out of the macro; SR has no negative: AUROC NaN
    macro_roc, macro_pr, roc, pr = cinc2021.compute_auc(labels, np.array([[0.2, 0.9], [0.1, 0.3]]))
    assert np.isnan(roc).all() and np.isnan(macro_roc)
    assert np.isnan(pr[0]) and pr[1] == 1.0 and macro_pr == 1.0
    # F-measure: AF never labelled but output once -> 0; a class neither labelled nor output -> NaN
    f, fc = cinc2021.compute_f_measure(labels, out)
    assert fc[0] == 0.0 and fc[1] == pytest.approx(2 / 3) and f == pytest.approx(1 / 3)
    f2, fc2 = cinc2021.compute_f_measure(labels, np.array([[0, 1], [0, 1]]))
    assert np.isnan(fc2[0]) and f2 == 1.0


def test_missing_output_file(tmp_path: Path) -> None:
    labels, outputs, wfile = write_case(tmp_path)
    (outputs / "R2.csv").unlink()
    with pytest.raises(LeanECGError) as exc:
        cinc2021.score_directories(labels, outputs, wfile)
    assert exc.value.path.endswith("R2.csv") and "R2.hea" in exc.value.problem
    r = cinc2021.score_directories(labels, outputs, wfile, missing_outputs="negative")
    assert r["n_missing_outputs"] == 1
    # R2 (AF) now has no output: AF F-measure 0 (tp0 fn1), the observed score loses 0.5*1 + 0.5*0.5
    assert r["f_measure_classes"][0] == 0.0
    assert r["challenge_metric"] == pytest.approx((2.375 - 0.75 - 1.625) / 1.625)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("#R1\n164889003,426783006\n0,1\n", "expected 4 lines"),
        ("164889003,426783006\n0,1\n0.1,0.9\n", "record id"),
        ("#R1\n164889003,426783006\n0,1,1\n0.1,0.9\n", "2, 3 and 2 entries"),
        ("#R1\n164889003,426783006\n0,1.0\n0.1,0.9\n", "'1.0'"),
        ("#R1\n164889003,426783006\n0,1\n0.1,high\n", "'high'"),
        ("#R1\n164889003,\n0,1\n0.1,0.9\n", "empty"),
    ],
)
def test_malformed_output_files(tmp_path: Path, content: str, needle: str) -> None:
    labels, outputs, wfile = write_case(tmp_path)
    (outputs / "R3.csv").write_text(content)
    with pytest.raises(LeanECGError) as exc:
        cinc2021.score_directories(labels, outputs, wfile)
    assert exc.value.path.endswith("R3.csv")
    assert needle in exc.value.problem


def test_nonfinite_scores_count_as_zero_and_crlf(tmp_path: Path) -> None:
    labels, outputs, wfile = write_case(tmp_path)
    base = cinc2021.score_directories(labels, outputs, wfile)
    # R4 written with CRLF and an extra trailing line (ignored); RBBB given as nan -> 0 (as when missing)
    (outputs / "R4.csv").write_bytes(
        b"#R4\r\n426783006,164889003,59118001\r\nTrue,false,0\r\n0.7,0.1,nan\r\nignored\r\n"
    )
    assert cinc2021.score_directories(labels, outputs, wfile) == base


def test_label_file_problems(tmp_path: Path) -> None:
    labels, outputs, wfile = write_case(tmp_path)
    (labels / "R1.hea").write_text("R1 12 500 5000\n#Age: 60\n")
    with pytest.raises(LeanECGError) as exc:
        cinc2021.score_directories(labels, outputs, wfile)
    assert exc.value.path.endswith("R1.hea") and "Dx" in exc.value.problem
    # '# Dx:' (as written by some tools) is read like '#Dx: '
    (labels / "R1.hea").write_text("R1 12 500 5000\n# Dx: 59118001,426783006\n")
    assert cinc2021.score_directories(labels, outputs, wfile)["challenge_metric"] == pytest.approx(6 / 13)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LeanECGError, match=r"no \.hea"):
        cinc2021.score_directories(empty, outputs, wfile)


def test_weights_file_problems(tmp_path: Path) -> None:
    bad = tmp_path / "w.csv"
    bad.write_text(f",{AF},{SR}\n{SR},1,0\n{AF},0,1\n")
    with pytest.raises(LeanECGError, match="same classes in the same order"):
        cinc2021.load_weights(bad)
    bad.write_text(f",{AF},{SR}\n{AF},1,0\n{SR},0\n")
    with pytest.raises(LeanECGError, match="line 3"):
        cinc2021.load_weights(bad)
    bad.write_text(f",{AF},{SR}\n{AF},1,x\n{SR},0,1\n")
    with pytest.raises(LeanECGError, match="not a number"):
        cinc2021.load_weights(bad)
    bad.write_text(f",{AF},{RBBB}\n{AF},1,0\n{RBBB},0,1\n")
    labels, outputs, _ = write_case(tmp_path / "case", records=dict(list(RECORDS.items())[:1]))
    with pytest.raises(LeanECGError, match="sinus rhythm"):
        cinc2021.score_directories(labels, outputs, bad)
    with pytest.raises(LeanECGError, match="not found"):
        cinc2021.load_weights(tmp_path / "nope.csv")


def test_official_weights_file(shared_data: Path, tmp_path: Path) -> None:
    """The official weights.csv: 26 classes (4 equivalence pairs); perfect outputs on real headers score 1."""
    wfile = shared_data / "cinc2021_scoring" / "weights.csv"
    classes, w = cinc2021.load_weights(wfile)
    assert len(classes) == 26 and w.shape == (26, 26)
    assert frozenset({"713427006", "59118001"}) in classes
    assert sum(len(c) == 2 for c in classes) == 4
    np.testing.assert_array_equal(np.diag(w), 1.0)
    label_dir = shared_data / "cinc2021_sample"
    names = [c for c in (cinc2021.class_name(c) for c in classes)]
    perfect, sinus = tmp_path / "perfect", tmp_path / "sinus"
    perfect.mkdir()
    sinus.mkdir()
    hea = sorted(label_dir.glob("*.hea"))
    truth = cinc2021.load_labels(hea, classes)
    for f, row in zip(hea, truth, strict=True):
        bits = ",".join("1" if b else "0" for b in row)
        (perfect / f"{f.stem}.csv").write_text(f"#{f.stem}\n{','.join(names)}\n{bits}\n{bits}\n")
        (sinus / f"{f.stem}.csv").write_text(f"#{f.stem}\n426783006\n1\n1.0\n")
    r = cinc2021.score_directories(label_dir, perfect, wfile)
    assert r["challenge_metric"] == 1.0 and r["accuracy"] == 1.0 and r["f_measure"] == 1.0
    assert r["n_records"] == 50
    assert cinc2021.score_directories(label_dir, sinus, wfile)["challenge_metric"] == 0.0


def test_against_official_code(tmp_path: Path) -> None:
    """Random folders scored by the official evaluate_model.py (path in LEANECG_CINC2021_OFFICIAL)."""
    official = os.environ.get("LEANECG_CINC2021_OFFICIAL")
    if not official:
        pytest.skip(
            "set LEANECG_CINC2021_OFFICIAL to the official evaluate_model.py of "
            "physionetchallenges/evaluation-2021 (with helper_code.py beside it) to compare with it"
        )
    weights = Path(official).parent / "weights.csv"
    if not weights.is_file():
        weights = cinc2021.default_weights_file()
    if not weights.is_file():
        pytest.skip("no weights.csv beside the official code and none installed with LeanECG")
    bench = load_benchmark("compare_cinc2021_official.py")
    summary = bench.compare(official, weights, n_trials=12, seed=1)
    assert max(summary["max_abs_diff"].values()) <= 1e-9, summary["max_abs_diff"]
    assert not any(summary["nan_position_mismatches"].values())
