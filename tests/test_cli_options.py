"""Out-of-range numeric options are refused before any work, with one line ``error: <option>: ...`` and
exit code 2 (never a traceback, never a run with an absurd setting such as a 1e12-second chunk)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clihelp import invoke_cli, run_cli

# every command is refused before it reads its input, so the record paths need not exist
STREAM = "stream rec.csv --model mitdb-aami"
CASES = [
    (f"{STREAM} --chunk-s 1e12", "--chunk-s: must be a number more than 0 and at most 3600", "1e12"),
    (f"{STREAM} --chunk-s 0", "--chunk-s: must be a number more than 0", "0"),
    (f"{STREAM} --chunk-s nan", "--chunk-s:", "nan"),
    (f"{STREAM} --threads 0", "--threads: must be an integer from 1 to 256", "0"),
    (f"{STREAM} --hop-s -1", "--hop-s: must be a number more than 0", "-1"),
    (f"{STREAM} --lookahead-s inf", "--lookahead-s:", "inf"),
    ("predict rec.csv --model cinc2017 --out p.csv --fs 0.5", "--fs: must be a number at least 1", "0.5"),
    ("rpeaks rec.csv --out p.csv --fs 1e9", "--fs: must be a number at least 1 and at most 100000", "1e9"),
    ("bench cinc2017 --tiny --seed -1", "--seed: must be an integer from 0 to 4294967295", "-1"),
    ("bench cinc2017 --tiny --n-boot 0", "--n-boot: must be an integer from 1 to 100000", "0"),
    ("bench cinc2017 --tiny --max-train-seconds 0", "--max-train-seconds: must be a number more than 0", "0"),
    ("pretrain --method simclr --out enc --batch-size 1", "--batch-size: must be an integer >= 2", "1"),
    ("data fetch mitdb --records 0", "--records: must be a positive integer", "0"),
]


@pytest.mark.parametrize(("args", "problem", "got"), CASES, ids=[c[0] for c in CASES])
def test_out_of_range_options_one_line_exit_2(tmp_path: Path, args: str, problem: str, got: str) -> None:
    run = run_cli if args == CASES[0][0] else invoke_cli  # the real entry point once, in a subprocess
    proc = run(args.split(), tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {problem}"), proc.stderr
    assert lines[0].endswith(f"got {float(got):g}"), lines[0]  # the value as given
    assert not [p for p in tmp_path.iterdir() if p.name != "cache"]  # nothing written


def test_check_option_bounds() -> None:
    from leanecg.cli import _check_option
    from leanecg.errors import LeanECGError

    _check_option("--x", None, 0)  # not given
    _check_option("--x", 3600, 0, 3600, low_open=True)  # bounds inclusive unless open
    _check_option("--x", 0, 0)
    with pytest.raises(LeanECGError, match="more than 0"):
        _check_option("--x", 0, 0, low_open=True)
    with pytest.raises(LeanECGError, match="at most 3600"):
        _check_option("--x", 3600.5, 0, 3600)
