"""PhysioNet/CinC 2017 scoring (score2017Challenge.m): hand-computed cases, file handling, real labels."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from leanecg.errors import LeanECGError
from leanecg.evaluate import cinc2017

REF = ["N", "N", "A", "O", "~", "O"]
ANS = ["N", "A", "A", "O", "O", "~"]


def test_hand_computed() -> None:
    # AA (rows reference N A O ~, columns answer):
    #   N: [1 1 0 0]   A: [0 1 0 0]   O: [0 0 1 1]   ~: [0 0 1 0]
    aa = cinc2017.confusion_matrix(REF, ANS)
    np.testing.assert_array_equal(aa, [[1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 0]])
    r = cinc2017.score_labels(REF, ANS)
    # F1_N = 2*1/(2+1); F1_A = 2*1/(1+2); F1_O = 2*1/(2+2); F1_~ = 0/(1+1); F1 = mean of N, A, O
    assert r == pytest.approx(
        {"f1": (2 / 3 + 2 / 3 + 0.5) / 3, "f1_N": 2 / 3, "f1_A": 2 / 3, "f1_O": 0.5, "f1_noise": 0.0}
    )
    assert set(r) == {"f1", "f1_N", "f1_A", "f1_O", "f1_noise"}


def test_absent_class_is_nan_like_matlab() -> None:
    r = cinc2017.score_labels(["N", "A"], ["N", "A"])
    assert r["f1_N"] == 1.0 and r["f1_A"] == 1.0
    assert math.isnan(r["f1_O"]) and math.isnan(r["f1_noise"]) and math.isnan(r["f1"])


def _write(path: Path, rows: list[tuple[str, str]], newline: str = "\n") -> Path:
    path.write_bytes(newline.join(f"{a},{b}" for a, b in rows).encode() + newline.encode())
    return path


def test_score_files_any_order_crlf_and_extras(tmp_path: Path) -> None:
    names = [f"A{i:05d}" for i in range(1, 7)]
    ref = _write(tmp_path / "REFERENCE.csv", list(zip(names, REF, strict=True)), "\r\n")
    rows = [*list(zip(names, ANS, strict=True))[::-1], ("A99999", "N")]  # reordered, one extra record
    ans = _write(tmp_path / "answers.txt", rows)
    assert cinc2017.score_files(ref, ans) == cinc2017.score_labels(REF, ANS)
    # blank lines and spaces around fields are fine
    ans.write_text(
        "\n".join(f" {a} , {b} " for a, b in rows[:3]) + "\n\n" + "\n".join(f"{a},{b}" for a, b in rows[3:])
    )
    assert cinc2017.score_files(ref, ans) == cinc2017.score_labels(REF, ANS)


def test_missing_answer(tmp_path: Path) -> None:
    names = [f"A{i:05d}" for i in range(1, 7)]
    ref = _write(tmp_path / "REFERENCE.csv", list(zip(names, REF, strict=True)))
    ans = _write(tmp_path / "answers.txt", list(zip(names, ANS, strict=True))[:-1])
    with pytest.raises(LeanECGError) as exc:
        cinc2017.score_files(ref, ans)
    assert exc.value.path.endswith("answers.txt") and "A00006" in exc.value.problem
    # the official script's behaviour: warn and score the record as noise (~) -- here ANS[-1] was ~ anyway
    assert cinc2017.score_files(ref, ans, missing="noise") == cinc2017.score_labels(REF, ANS)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("A00001,N\nA00002,X\n", "line 2: unknown label 'X'"),
        ("A00001,N\nA00001,A\n", "line 2: record A00001 is listed twice"),
        ("A00001,N\nA00002\n", "line 2: expected 'record,label'"),
        ("data_source,class\nA00001,N\n", "line 1: unknown label 'class'"),
        ("\n\n", "no record,label lines"),
    ],
)
def test_bad_answer_files(tmp_path: Path, content: str, needle: str) -> None:
    ref = _write(tmp_path / "REFERENCE.csv", [("A00001", "N"), ("A00002", "A")])
    ans = tmp_path / "answers.txt"
    ans.write_text(content)
    with pytest.raises(LeanECGError) as exc:
        cinc2017.score_files(ref, ans)
    assert exc.value.path.endswith("answers.txt") and needle in exc.value.problem


def test_array_api_rejects_unknown_labels() -> None:
    with pytest.raises(LeanECGError, match="'noise'"):
        cinc2017.score_labels(["N"], ["noise"])
    with pytest.raises(LeanECGError, match="2 answers for 1"):
        cinc2017.score_labels(["N"], ["N", "A"])


def test_real_reference_versions(shared_data: Path) -> None:
    """Score the original 2017 labels against the final v3 labels (8,528 records, CRLF file)."""
    folder = shared_data / "cinc2017" / "training2017"
    v3, orig = folder / "REFERENCE-v3.csv", folder / "REFERENCE-original.csv"
    assert cinc2017.score_files(v3, v3) == {"f1": 1.0, "f1_N": 1.0, "f1_A": 1.0, "f1_O": 1.0, "f1_noise": 1.0}
    r = cinc2017.score_files(v3, orig)
    ref, ans = cinc2017.read_labels_csv(v3), cinc2017.read_labels_csv(orig)
    assert len(ref) == 8528
    pairs = [(lab, ans[k]) for k, lab in ref.items()]
    f1 = []  # independently: 2TP / (2TP + FP + FN) == 2TP / (row sum + column sum)
    for c in cinc2017.CLASSES:
        tp = sum(t == c and a == c for t, a in pairs)
        fp = sum(t != c and a == c for t, a in pairs)
        fn = sum(t == c and a != c for t, a in pairs)
        f1.append(2 * tp / (2 * tp + fp + fn))
    f1 = np.array(f1)
    assert [r["f1_N"], r["f1_A"], r["f1_O"], r["f1_noise"]] == pytest.approx(f1, abs=1e-12)
    assert r["f1"] == pytest.approx(f1[:3].mean(), abs=1e-12)
    assert 0.8 < r["f1"] < 1.0  # relabelling changed a few percent of the records
