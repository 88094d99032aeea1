"""``benchmarks/beats_end_to_end.py`` and ``benchmarks/beats_external.py`` run end to end as a user runs them
(subprocesses, shipped model, real records): every row is written, the AF gate changes only S calls, and
``leanecg beats`` + ``leanecg score beats`` give the gated row's counts.
DS2 is never read here: the end-to-end script is pointed at two DS1 (training) records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from clihelp import invoke_cli
from conftest import REPO


def _run(script: str, args: list[str], out: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), *args, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (path,) = out.glob("*.json")
    assert path.with_suffix(".md").is_file()
    return json.loads(path.read_text())


def test_end_to_end_rows_with_and_without_the_gate(shared_data: Path, tmp_path: Path) -> None:
    doc = _run("beats_end_to_end.py", ["--data-dir", str(shared_data), "--records", "101,106"], tmp_path)
    assert set(doc["rows"]) == {"native", "native + AF gate", "holter", "holter + AF gate"}
    assert doc["rhythm_gate"]["threshold"] > 0 and doc["records"] == ["101", "106"]
    for row in ("native", "holter"):
        plain, gated = doc["rows"][row]["counts"], doc["rows"][row + " + AF gate"]["counts"]
        # the gate moves S probability to N only: the same beats, no more S calls, and no more V calls (a V
        # call turns N where the S probability it adds to N overtakes V)
        for key in ("qrs_tp", "qrs_fp", "qrs_fn"):
            assert gated[key] == plain[key], key
        assert gated["sveb_tp"] + gated["sveb_fp"] < plain["sveb_tp"] + plain["sveb_fp"]
        assert (
            gated["veb_tp"] <= plain["veb_tp"]
            and gated["veb_tp"] + gated["veb_fn"] == plain["veb_tp"] + plain["veb_fn"]
        )
        assert gated["veb_tp"] + gated.get("veb_fp", 0) <= plain["veb_tp"] + plain.get("veb_fp", 0)
    assert doc["rows"]["holter"]["fs"] == 128.0 and doc["rows"]["native"]["fs"] == 360.0
    # a user's way to the same figures: `leanecg beats` per record, then `leanecg score beats`
    answers = tmp_path / "answers"
    answers.mkdir()
    for rec in ("101", "106"):
        proc = invoke_cli(
            [
                "beats",
                str(shared_data / "mitdb" / rec),
                "--model",
                "mitdb-aami",
                "--out",
                f"answers/{rec}.csv",
                "-q",
            ],
            tmp_path,
        )
        assert proc.returncode == 0, proc.stderr
    proc = invoke_cli(
        ["score", "beats", str(shared_data / "mitdb"), "answers", "--records", "101,106", "--json"], tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    scored = json.loads(proc.stdout)
    assert scored["records"] == ["101", "106"]
    assert scored["gross"]["counts"] == doc["rows"]["native + AF gate"]["counts"]


def test_external_database_counts_s_calls_inside_af(shared_data: Path, tmp_path: Path) -> None:
    doc = _run(
        "beats_external.py", ["--data-dir", str(shared_data), "--dataset", "cpsc2021_sample"], tmp_path
    )
    plain, gated = doc["rows"]["network alone"]["af"], doc["rows"]["+ AF gate"]["af"]
    assert plain["beats_in_af"] == gated["beats_in_af"] > 0
    assert gated["s_calls_in_af"] < plain["s_calls_in_af"]
    assert doc["reference_symbols"]["N"] > 0 and doc["evaluations"] == 1
