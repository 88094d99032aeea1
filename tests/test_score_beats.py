"""``leanecg score beats``: EC57 scores of beat answers (``leanecg beats`` CSVs) against WFDB annotations.

Real MIT-BIH annotations (record 207: a ventricular flutter episode, many V beats) and WFDB records built
here; answers written from the reference itself, shifted, relabelled or thinned, so every expected figure
is known by construction.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import wfdb

from clihelp import invoke_cli, run_cli
from leanecg.data.registry import read_annotation
from leanecg.errors import LeanECGError
from leanecg.evaluate.aami import aami_classes
from leanecg.evaluate.beat_files import read_beats_csv, score_beat_files
from leanecg.evaluate.beat_matching import vf_intervals


def _write_answers(path: Path, samples: np.ndarray, labels: np.ndarray, probs: bool = True) -> None:
    head = "sample,label,prob_N,prob_S,prob_V,prob_F" if probs else "sample,label"
    tail = ",0.25,0.25,0.25,0.25" if probs else ""
    lines = [head, *(f"{int(s)},{lab}{tail}" for s, lab in zip(samples, labels, strict=True))]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def rec207(tmp_path: Path, mitdb_dir: Path) -> Path:
    """Record 207's header and annotation in a folder of its own (no signal needed to score)."""
    for ext in ("hea", "atr"):
        shutil.copy(mitdb_dir / f"207.{ext}", tmp_path / f"207.{ext}")
    return tmp_path / "207"


def _reference(rec: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The scored reference beats of ``rec`` (ec57 map): samples, classes, and whether each is in VF."""
    ann = read_annotation(rec)
    cls = aami_classes(ann.symbol)
    keep = cls != ""
    s = ann.sample[keep]
    in_vf = np.zeros(s.size, dtype=bool)
    for a, b in vf_intervals(ann.sample, ann.symbol):
        in_vf |= (s >= a) & (s <= b)
    return s, cls[keep], in_vf


def test_the_reference_as_answers_scores_perfectly(rec207: Path, tmp_path: Path) -> None:
    s, c, _ = _reference(rec207)
    assert (c == "V").sum() > 100 and (c == "S").sum() > 100  # the record exercises both counts
    _write_answers(tmp_path / "a.csv", s, c)
    g = score_beat_files(rec207, tmp_path / "a.csv")["gross"]
    assert g["qrs_se"] == g["qrs_ppv"] == g["veb_se"] == g["veb_ppv"] == g["sveb_se"] == g["accuracy"] == 1.0
    assert g["counts"]["qrs_tp"] == s.size and g["counts"]["veb_tp"] == int((c == "V").sum())


def test_detections_inside_the_vf_episode_are_not_scored(rec207: Path, tmp_path: Path) -> None:
    """207's flutter episode holds no beat annotations: answers there are false detections only when
    ``exclude_vf=False``."""
    s, c, _ = _reference(rec207)
    ann = read_annotation(rec207)
    iv = vf_intervals(ann.sample, ann.symbol)
    extra = np.concatenate([np.arange(a + 20, b, 72) for a, b in iv])  # one every 200 ms inside each episode
    extra = extra[np.abs(extra[:, None] - s[None, :]).min(axis=1) > 54]  # none near a reference beat
    assert extra.size > 40
    order = np.argsort(np.r_[s, extra])
    _write_answers(tmp_path / "a.csv", np.r_[s, extra][order], np.r_[c, ["V"] * extra.size][order])
    excluded = score_beat_files(rec207, tmp_path / "a.csv")["gross"]["counts"]
    included = score_beat_files(rec207, tmp_path / "a.csv", exclude_vf=False)["gross"]["counts"]
    assert excluded["qrs_fp"] == 0 and excluded["veb_fp"] == 0
    assert included["qrs_fp"] == extra.size and included["veb_fp"] == extra.size


def test_match_window_edges_and_start(rec207: Path, tmp_path: Path) -> None:
    s, c, _ = _reference(rec207)
    tol = round(0.150 * 360)
    _write_answers(tmp_path / "in.csv", s + tol, c)
    _write_answers(tmp_path / "out.csv", s + tol + 1, c)
    assert score_beat_files(rec207, tmp_path / "in.csv")["gross"]["qrs_se"] == 1.0
    out = score_beat_files(rec207, tmp_path / "out.csv")["gross"]
    assert out["qrs_se"] < 0.01  # nothing within the window (a beat may pair with its neighbour's answer)
    assert score_beat_files(rec207, tmp_path / "out.csv", window_ms=160)["gross"]["qrs_se"] == 1.0
    late = score_beat_files(rec207, tmp_path / "in.csv", start_s=300.0)["gross"]["counts"]
    full = score_beat_files(rec207, tmp_path / "in.csv")["gross"]["counts"]
    assert late["qrs_tp"] == full["qrs_tp"] - int((s < 300 * 360).sum())


def test_sveb_and_veb_counts_follow_the_answers(rec207: Path, tmp_path: Path) -> None:
    """Every reference V answered S and every tenth N answered V: VEB Se 0, SVEB +P from the counts."""
    s, c, in_vf = _reference(rec207)
    ans = c.copy()
    ans[c == "V"] = "S"
    n_idx = np.flatnonzero(c == "N")[::10]
    ans[n_idx] = "V"
    _write_answers(tmp_path / "a.csv", s, ans, probs=False)
    g = score_beat_files(rec207, tmp_path / "a.csv")["gross"]
    scored = ~in_vf
    assert g["veb_se"] == 0.0 and g["veb_ppv"] == 0.0
    n_sv = int(((c == "S") & scored).sum())
    n_vs = int(((c == "V") & scored).sum())
    assert g["counts"]["sveb_fp"] == n_vs and g["counts"]["sveb_tp"] == n_sv
    assert g["counts"]["veb_fp"] == int(scored[n_idx].sum())


def _synthetic(folder: Path, name: str, symbols: list[str], fs: int = 128) -> np.ndarray:
    """A flat two-lead Holter-like record (ECG1, ECG2) with one beat annotation per second."""
    n = fs * (len(symbols) + 2)
    wfdb.wrsamp(
        name, fs=fs, units=["mV", "mV"], sig_name=["ECG1", "ECG2"], p_signal=np.zeros((n, 2)),
        fmt=["16", "16"], write_dir=str(folder),
    )  # fmt: skip
    samples = fs * np.arange(1, len(symbols) + 1)
    wfdb.wrann(name, "atr", samples, symbols, write_dir=str(folder))
    return samples


def test_beats_outside_the_map_are_matched_but_not_counted(tmp_path: Path) -> None:
    symbols = ["N", "N", "B", "N", "?", "S", "N", "r", "N", "N"]
    samples = _synthetic(tmp_path, "h1", symbols)
    labels = np.array(["N", "N", "N", "N", "N", "S", "N", "V", "N", "N"])
    _write_answers(tmp_path / "h1.csv", samples + 3, labels)
    res = score_beat_files(tmp_path / "h1", tmp_path / "h1.csv")
    g = res["gross"]
    assert res["unscored_reference_beats"] == 3
    assert g["qrs_ppv"] == 1.0 and g["qrs_se"] == 1.0  # the answers on B ? r are not false detections
    assert g["counts"]["qrs_tp"] == 7 and g["sveb_se"] == 1.0
    bxb = score_beat_files(tmp_path / "h1", tmp_path / "h1.csv", mapping="bxb")
    assert bxb["unscored_reference_beats"] == 0 and bxb["gross"]["counts"]["qrs_tp"] == 10
    assert bxb["gross"]["counts"]["veb_tp"] == 1  # bxb maps r to V


def test_folders_records_and_missing_answers(tmp_path: Path) -> None:
    ref, ans = tmp_path / "ref", tmp_path / "ans"
    ref.mkdir()
    ans.mkdir()
    s1 = _synthetic(ref, "h1", ["N"] * 6)
    s2 = _synthetic(ref, "h2", ["N", "S", "N", "V", "N"])
    _synthetic(ref, "h3", ["N"] * 3)
    (ref / "h3.atr").unlink()  # a record without reference annotations is not scored
    _write_answers(ans / "h1.csv", s1, np.array(["N"] * 6))
    _write_answers(ans / "h2.csv", s2[:-1], np.array(["N", "S", "N", "V"]))
    res = score_beat_files(ref, ans)
    assert res["records"] == ["h1", "h2"]
    assert res["per_record"]["h2"]["qrs_se"] == pytest.approx(4 / 5)
    assert res["gross"]["counts"]["qrs_tp"] == 10 and res["gross"]["counts"]["qrs_fn"] == 1
    assert res["average"]["qrs_se"] == pytest.approx((1.0 + 0.8) / 2)
    assert score_beat_files(ref, ans, records=["h2"])["records"] == ["h2"]
    (ans / "h1.csv").unlink()
    with pytest.raises(LeanECGError, match="no answers for record h1"):
        score_beat_files(ref, ans)
    with pytest.raises(LeanECGError, match="one CSV, but the reference has 2 records"):
        score_beat_files(ref, ans / "h2.csv")
    with pytest.raises(LeanECGError, match="no record 'h9'"):
        score_beat_files(ref, ans, records=["h9"])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty answers file"),
        ("sample,prob_N\n5,0.1\n", "no label column"),
        ("sample,label\n12.5,N\n", "line 2: sample '12.5' is not a whole number"),
        ("sample,label\n-3,N\n", "line 2: sample '-3' is not a whole number"),
        ("sample,label\n\u00b2,N\n", "line 2: sample '\u00b2' is not a whole number"),
        ("sample,label\n128,X\n", "line 2: label 'X' is not one of N, S, V, F, Q"),
        ("sample,label\n128,N\n128,V\n", "sample 128 is listed twice"),
        ("sample,label\n99999,N\n", "beyond the end of the record"),
        ("sample,label\n128\n", "line 2 has 1 field"),
    ],
)
def test_bad_answers_are_one_line_errors(tmp_path: Path, text: str, problem: str) -> None:
    _synthetic(tmp_path, "h1", ["N"] * 4)
    (tmp_path / "a.csv").write_text(text)
    with pytest.raises(LeanECGError, match=problem):
        read_beats_csv(tmp_path / "a.csv", n_samples=128 * 6)
    proc = invoke_cli(["score", "beats", "h1", "a.csv"], tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ") and "a.csv" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_settings_errors(tmp_path: Path) -> None:
    samples = _synthetic(tmp_path, "h1", ["N"] * 4)
    _write_answers(tmp_path / "a.csv", samples, np.array(["N"] * 4))
    for args, pattern in [
        (["--window-ms", "0"], "--window-ms"),
        (["--mapping", "foo"], "--mapping"),
        (["--annotator", "qrs"], "h1.qrs"),
        (["--start-s", "-1"], "--start-s"),
    ]:
        proc = invoke_cli(["score", "beats", "h1", "a.csv", *args], tmp_path)
        assert proc.returncode == 2 and proc.stderr.startswith("error: ") and pattern in proc.stderr, (
            proc.stderr
        )
        assert proc.stderr.count("\n") == 1


def test_cli_end_to_end_on_a_holter_like_record(tmp_path: Path) -> None:
    """The real entry point: a table by default, one JSON object (no NaN) with ``--json``."""
    samples = _synthetic(tmp_path, "h1", ["N", "N", "S", "N", "V", "N"])
    _write_answers(tmp_path / "h1.csv", samples[[0, 1, 2, 3, 5]], np.array(["N", "N", "N", "N", "N"]))
    proc = run_cli(["score", "beats", "h1.hea", "h1.csv", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # strict JSON: undefined ratios are null
    assert doc["gross"]["sveb_se"] == 0.0 and doc["gross"]["sveb_ppv"] is None
    assert doc["gross"]["veb_se"] == 0.0 and doc["gross"]["counts"]["qrs_fn"] == 1
    assert doc["matrix"][1] == [1, 0, 0, 0, 0, 0] and doc["matrix"][2] == [0, 0, 0, 0, 0, 1]
    table = invoke_cli(["score", "beats", "h1", "h1.csv", "--per-record"], tmp_path)
    assert table.returncode == 0
    assert "gross" in table.stdout and "h1" in table.stdout and "83.33" in table.stdout  # QRS Se 5/6
    assert "reference SVEB 1, VEB 1; false detections 0" in table.stdout
    assert "check:" not in table.stdout
    (tmp_path / "h1.csv").write_text("sample,label\n64,N\n192,N\n320,N\n")  # between the beats: none match
    wrong = invoke_cli(["score", "beats", "h1", "h1.csv"], tmp_path)
    assert (
        wrong.returncode == 0 and "check: h1 match(es) fewer than half of the reference beats" in wrong.stdout
    )
