"""``leanecg study labels|fewshot|noisy-labels`` (the seeded studies, formerly argparse scripts under
``benchmarks/``): options are checked before any work, and the CLI names flags where the library names
parameters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from clihelp import run_cli


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["study", "labels", "--task", "foo"],
            "error: --task: unknown labels task 'foo'; use cinc2017 or mitdb-aami",
        ),
        (["study", "fewshot", "--seeds", "0,x"], "error: --seeds: must be comma-separated integers"),
        (["study", "noisy-labels", "--seeds", "-1"], "error: --seeds: must be comma-separated integers"),
        (
            ["study", "noisy-labels", "--method", "nope"],
            "error: --method: unknown method 'nope'; choose one of threshold, confident",
        ),
        (["study", "noisy-labels", "--rates", "a,b"], "error: --rates: must be comma-separated fractions"),
        (["study", "fewshot", "--threads", "0"], "error: --threads: must be an integer from 1 to 256, got 0"),
    ],
)
def test_study_options_are_checked_first(args: list[str], line: str, tmp_path: Path) -> None:
    proc = run_cli([*args, "--out", str(tmp_path / "out")], tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(line), proc.stderr
    assert not (tmp_path / "out").exists()


def test_study_group_lists_its_commands(tmp_path: Path) -> None:
    proc = run_cli(["study", "--help"], tmp_path, env={"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    for name in ("labels", "fewshot", "noisy-labels"):
        assert name in proc.stdout


def test_library_parameter_names_become_flags() -> None:
    from leanecg.cli.runner import option_of

    predict = ["predict", "rec.csv", "--model", "m", "--out", "o.csv"]
    assert option_of("batch_size", predict) == "--batch-size"
    assert option_of("quiet", predict) == "--quiet"  # the long spelling of -q / --quiet
    assert option_of("lookahead_s", ["stream", "r"]) == "--lookahead-s"
    assert option_of("base_url", ["data", "fetch", "mitdb"]) == "--base-url"  # a subcommand of a group
    assert option_of("lookahead_s", predict) == "lookahead_s"  # not an option of this command
    assert option_of("paths", predict) == "paths"  # an argument, not an option
    assert option_of("rec.csv", predict) == "rec.csv"  # a file
    assert option_of("batch_size", []) == "batch_size"


def test_earlier_study_scripts_forward_to_the_cli(tmp_path: Path) -> None:
    """benchmarks/<study>.py keep their argparse spelling (``--seeds 0 1``, ``--out-dir``) and run the
    ``leanecg study`` command: same checks, same one-line errors, nothing written."""

    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    sys.path.insert(0, str(bench))
    try:
        from study_alias import study_argv
    finally:
        sys.path.remove(str(bench))
    assert study_argv(["study", "noisy-labels"], ["--seeds", "0", "1", "--rates", "0.1", "0.2", "--tiny"]) == [
        "study", "noisy-labels", "--seeds", "0,1", "--rates", "0.1,0.2", "--tiny", "--out", str(bench / "results"),
    ]  # fmt: skip
    assert study_argv(["study", "fewshot"], ["--out-dir", "x"]) == ["study", "fewshot", "--out", "x"]
    proc = subprocess.run(
        [sys.executable, str(bench / "noisy_labels_cinc2017.py"), "--seeds", "0", "x", "--out-dir", "out"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.startswith("error: --seeds: "), proc.stderr
    assert not (tmp_path / "out").exists()
