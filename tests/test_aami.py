"""AAMI EC57 beat-by-beat statistics (bxb/sumstats rules) on hand-made beat sequences."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from leanecg.errors import LeanECGError
from leanecg.evaluate import aami

FS = 100.0  # 150 ms = 15 samples

# Record A. Reference beats and the algorithm's beats (sample, class):
REF_A = ([100, 200, 300, 400, 500, 600, 700, 800, 900], list("NNSVFQNSV"))
TEST_A = ([105, 195, 310, 400, 510, 590, 800, 1000, 1100], list("NSSVVSNVN"))
# pairs: 100N-105N (Nn) 200N-195S (Ns) 300S-310S (Ss) 400V-400V (Vv) 500F-510V (Fv) 600Q-590S (Qs)
#        700N missed (No) 800S-800N (Sn) 900V missed (Vo) 1000V extra (Ov) 1100N extra (On)
MATRIX_A = [
    # n  s  v  f  q  o
    [1, 1, 0, 0, 0, 1],  # N
    [1, 1, 0, 0, 0, 0],  # S
    [0, 0, 1, 0, 0, 1],  # V
    [0, 0, 1, 0, 0, 0],  # F
    [0, 1, 0, 0, 0, 0],  # Q
    [1, 0, 1, 0, 0, 0],  # O
]


def matrix_a() -> np.ndarray:
    return aami.ec57_matrix(*REF_A[:1], REF_A[1], *TEST_A[:1], TEST_A[1], FS)


def test_matrix_of_hand_made_record() -> None:
    np.testing.assert_array_equal(matrix_a(), MATRIX_A)


def test_ec57_statistics_follow_bxb() -> None:
    s = aami.ec57_statistics(MATRIX_A)
    # QRS: 7 matched, 2 missed (700, 900), 2 extra (1000, 1100)
    assert s["qrs_se"] == pytest.approx(7 / 9) and s["qrs_ppv"] == pytest.approx(7 / 9)
    # VEB: TP Vv=1, FN Vo=1; FP = Nv + Sv + Ov = 1 -- the F beat called V (Fv) is NOT a false positive
    assert s["veb_se"] == 0.5 and s["veb_ppv"] == 0.5
    # VEB TN = rows N S F Q O x cols n s f q = (1+1) + (1+1) + 0 + 1 + 1 = 6 -> FPR = 1 / (6 + 1)
    assert s["veb_fpr"] == pytest.approx(1 / 7)
    # SVEB: TP Ss=1, FN Sn=1; FP = Ns + Vs + Fs + Os = 1 -- the Q beat called S (Qs) is NOT a false positive
    assert s["sveb_se"] == 0.5 and s["sveb_ppv"] == 0.5
    # SVEB TN = rows N V F Q O x cols n v f q = 1 + 1 + 1 + 0 + 2 = 5 -> FPR = 1 / 6
    assert s["sveb_fpr"] == pytest.approx(1 / 6)
    # plain per-class statistics: N tp1, fn = row N - 1 = 2, fp = column n - 1 = 2
    assert s["N_se"] == pytest.approx(1 / 3) and s["N_ppv"] == pytest.approx(1 / 3)
    assert s["N_f1"] == pytest.approx(1 / 3)
    # F and Q: never right -> 0; the matched beats classified correctly: Nn Ss Vv = 3 of 7
    assert s["F_se"] == 0.0 and math.isnan(s["F_ppv"]) and s["Q_se"] == 0.0
    assert s["accuracy"] == pytest.approx(3 / 7)
    assert s["counts"]["veb_tn"] == 6 and s["counts"]["sveb_fp"] == 1


def test_fusion_called_sveb_is_a_false_positive() -> None:
    m = np.zeros((6, 6), dtype=int)
    m[1, 1] = 1  # Ss
    m[3, 1] = 1  # Fs: an SVEB false positive in bxb
    m[4, 1] = 5  # Qs: ignored
    assert aami.ec57_statistics(m)["sveb_ppv"] == 0.5


def test_gross_and_average_statistics() -> None:
    rep = aami.evaluate_beats(
        {
            "A": (REF_A[0], REF_A[1], TEST_A[0], TEST_A[1]),
            # record B: two V beats, the second called N: VEB Se 1/2, +P 1/1; no S beat at all
            "B": ([100, 200], ["V", "V"], [100, 200], ["V", "N"]),
        },
        FS,
    )
    assert rep.records == ("A", "B")
    np.testing.assert_array_equal(rep.matrices[0], MATRIX_A)
    # gross: pooled Vv = 2, VFN = 1 (A: Vo) + 1 (B: Vn) = 2, VFP = 1 (A: Ov)
    assert rep.gross["veb_se"] == 0.5 and rep.gross["veb_ppv"] == pytest.approx(2 / 3)
    # average: mean of per-record values, over records where defined (sumstats)
    assert rep.average["veb_se"] == 0.5 and rep.average["veb_ppv"] == pytest.approx(0.75)
    assert rep.average["sveb_se"] == 0.5 and rep.average["n_records_sveb_se"] == 1
    assert math.isnan(rep.per_record[1]["sveb_se"])
    d = rep.to_dict()
    assert d["matrix"] == rep.matrix.tolist() and set(d["per_record"]) == {"A", "B"}


def test_excluded_regions_and_start() -> None:
    # reference VF episode [250, 450]: reference beats inside are not scored, detections inside not FPs
    m = aami.ec57_matrix(REF_A[0], REF_A[1], TEST_A[0], TEST_A[1], FS, exclude=[[250, 450]])
    expect = np.array(MATRIX_A)
    expect[1, 1] -= 1  # Ss at 300 gone
    expect[2, 2] -= 1  # Vv at 400 gone
    np.testing.assert_array_equal(m, expect)
    # comparison starting at sample 650 and ending before 1050: 700 No, 800 Sn, 900 Vo, 1000 Ov
    m = aami.ec57_matrix(REF_A[0], REF_A[1], TEST_A[0], TEST_A[1], FS, start=650, end=1050)
    assert m.sum() == 4 and m[0, 5] == 1 and m[1, 0] == 1 and m[2, 5] == 1 and m[5, 2] == 1


def test_tolerance_is_150_ms_rounded_half_up() -> None:
    # at 250 Hz, 0.15 s = 37.5 samples -> 38 (WFDB strtim rounds half up)
    m = aami.ec57_matrix([1000], ["N"], [1038], ["N"], 250.0)
    assert m[0, 0] == 1
    m = aami.ec57_matrix([1000], ["N"], [1039], ["N"], 250.0)
    assert m[0, 5] == 1 and m[5, 0] == 1


def test_classification_only_mode() -> None:
    y_true = list("NNSVFQ")
    y_pred = list("NSSVVS")
    rep = aami.evaluate_classification(y_true, y_pred)
    s = rep.gross
    assert s["qrs_se"] == 1.0 and s["qrs_ppv"] == 1.0
    assert s["veb_se"] == 1.0 and s["veb_ppv"] == 1.0  # Fv not a false positive
    assert s["sveb_ppv"] == 0.5  # Ns is, Qs is not
    assert s["accuracy"] == pytest.approx(3 / 6)
    # integer classes 0..4 work the same; per-record statistics with groups
    codes = {c: i for i, c in enumerate(aami.AAMI_CLASSES)}
    rep2 = aami.evaluate_classification(
        [codes[c] for c in y_true], [codes[c] for c in y_pred], groups=["r2", "r2", "r1", "r1", "r1", "r1"]
    )
    assert rep2.records == ("r2", "r1")
    np.testing.assert_array_equal(rep2.matrix, rep.matrix)
    assert rep2.per_record[0]["N_se"] == 0.5 and math.isnan(rep2.per_record[0]["veb_se"])


def test_symbol_mappings() -> None:
    symbols = list("NLReAaJSVEF/fQ+~jn")
    ec57 = aami.aami_classes(symbols)
    assert "".join(c or "-" for c in ec57) == "NNNNSSSSVVFQQQ--N-"
    bxb = aami.aami_classes(symbols, mapping="bxb")
    assert "".join(c or "-" for c in bxb) == "NNNSSSSSVVFQQQ--SS"


def test_bad_inputs() -> None:
    with pytest.raises(LeanECGError, match="unknown beat class 'X'"):
        aami.ec57_matrix([1, 2], ["N", "X"], [1], ["N"], FS)
    with pytest.raises(LeanECGError, match="expected 2 beat classes"):
        aami.ec57_matrix([1, 2], ["N"], [1], ["N"], FS)
    with pytest.raises(LeanECGError, match=r"0\.\.4"):
        aami.evaluate_classification([0, 5], [0, 0])
    with pytest.raises(LeanECGError, match="6x6"):
        aami.ec57_statistics(np.zeros((5, 5)))
    with pytest.raises(LeanECGError, match="mapping"):
        aami.aami_classes(["N"], mapping="mit")
    with pytest.raises(LeanECGError, match="no records"):
        aami.ec57_report({})


def test_real_record_against_itself(mitdb_dir: Path) -> None:
    """MIT-BIH 119 (many PVCs): the reference scored against itself, then with every beat shifted."""
    wfdb = pytest.importorskip("wfdb")
    ann = wfdb.rdann(str(mitdb_dir / "119"), "atr")
    cls = aami.aami_classes(ann.symbol)
    beat = cls != ""
    samples, classes = ann.sample[beat], cls[beat]
    m = aami.ec57_matrix(samples, classes, samples, classes, ann.fs)
    counts = {c: int(np.count_nonzero(classes == c)) for c in aami.AAMI_CLASSES}
    np.testing.assert_array_equal(np.diag(m)[:5], [counts[c] for c in aami.AAMI_CLASSES])
    assert m.sum() == beat.sum() and counts["V"] > 400
    s = aami.ec57_statistics(m)
    assert s["veb_se"] == 1.0 and s["veb_ppv"] == 1.0 and s["veb_fpr"] == 0.0
    # shifting every detection by 150 ms still matches; by 151 ms nothing does
    tol = int(np.floor(0.15 * ann.fs + 0.5))
    assert (
        aami.ec57_statistics(aami.ec57_matrix(samples, classes, samples + tol, classes, ann.fs))["qrs_se"]
        == 1.0
    )
    s = aami.ec57_statistics(aami.ec57_matrix(samples, classes, samples + tol + 1, classes, ann.fs))
    # consecutive beats are > 2 * 151 ms apart here, so every shifted detection is extra and every beat missed
    assert s["qrs_se"] == 0.0 and s["counts"]["qrs_fp"] == beat.sum()
