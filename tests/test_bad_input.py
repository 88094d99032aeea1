"""Every bad input ends in one line ``error: <file>: <problem>`` and exit code 2, never a traceback.

Each case builds a broken file (or folder) in ``tmp_path`` and runs the real command line in a
subprocess (``python -m leanecg.cli rpeaks <path> --out <csv>``): exit code 2, stderr exactly one line
starting ``error: `` and naming the file, no ``Traceback`` anywhere, and no output file (or temporary
file) left behind; one case per kind of bad input (``CLI_CASES``), a few also through ``leanecg info``.
The whole table (more cases) runs in-process against :func:`leanecg.data.iter_records`, which checks the
same file naming and message and points at the loader directly.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from clihelp import run_cli
from leanecg.data import iter_records
from leanecg.data.record import Record
from leanecg.data.tabular import write_csv
from leanecg.errors import LeanECGError
from test_io import ecg_like, write_wfdb_record


@dataclass
class Case:
    """A bad input: ``build(tmp) -> path``; the error must name ``names`` and match ``problem``."""

    build: Callable[[Path], Path]
    names: str
    problem: str
    args: list[str] = field(default_factory=list)
    fs: float | None = None


def _valid(tmp: Path, name: str = "t", **kw: object) -> Path:
    return write_wfdb_record(tmp, name, ecg_like(3600, 2), fmt="212", leads=["MLII", "V5"], **kw)  # type: ignore[arg-type]


def _edit_header(base: Path, old: str, new: str, count: int = 1) -> Path:
    hea = base.with_suffix(".hea")
    text = hea.read_text()
    assert old in text, (old, text)
    hea.write_text(text.replace(old, new, count))
    return base


def _truncated_dat(tmp: Path) -> Path:
    base = _valid(tmp)
    dat = base.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[:-100])
    return base


def _dat_longer_than_header(tmp: Path) -> Path:
    base = _valid(tmp)
    with base.with_suffix(".dat").open("ab") as fh:
        fh.write(b"\x00" * 300)  # 100 more frames of 2 x 12-bit samples
    return base


def _checksum_mismatch(tmp: Path) -> Path:
    base = _valid(tmp)
    dat = base.with_suffix(".dat")
    raw = bytearray(dat.read_bytes())
    raw[3000:3003] = bytes(b ^ 0x55 for b in raw[3000:3003])  # same size, corrupt content
    dat.write_bytes(bytes(raw))
    return base


def _challenge_mat(tmp: Path, *, write_mat: bool = True, v5: bool = False) -> Path:
    digital = ecg_like(3000, 1)
    hea = f"m 1 300 3000\nm.mat 16+24 1000/mV 16 0 {int(digital[0, 0])} 0 0 ECG\n"
    (tmp / "m.hea").write_text(hea)
    if write_mat:
        if v5:
            (tmp / "m.mat").write_bytes(
                b"MATLAB 5.0 MAT-file, Platform: GLNXA64".ljust(128, b" ") + b"\0" * 6000
            )
        else:
            head = np.array([30, 1, 3000, 0, 4], dtype="<i4").tobytes() + b"val\0"
            (tmp / "m.mat").write_bytes(head + digital[:, 0].astype("<i2").tobytes())
    return tmp / "m.mat"


def _header_names_a_folder(tmp: Path) -> Path:
    base = _valid(tmp)
    base.with_suffix(".dat").unlink()
    base.with_suffix(".dat").mkdir()
    return base


def _non_utf8_header(tmp: Path) -> Path:
    base = _valid(tmp)
    hea = base.with_suffix(".hea")
    hea.write_bytes(hea.read_bytes() + "# Ärztin: Müller\n".encode("latin-1"))
    return base


def _flat_wfdb(tmp: Path) -> Path:
    return write_wfdb_record(tmp, "flat", np.full((2000, 2), 37), leads=["I", "II"])


def _all_invalid(tmp: Path) -> Path:
    return write_wfdb_record(tmp, "inv", np.full((2000, 1), -32768), checksum=False)


def _zero_length(tmp: Path) -> Path:
    base = _valid(tmp)
    base.with_suffix(".dat").write_bytes(b"")
    return _edit_header(base, "t 2 360 3600", "t 2 360 0")


def _csv(tmp: Path, text: str, name: str = "x.csv") -> Path:
    (tmp / name).write_text(text)
    return tmp / name


def _bytes(tmp: Path, data: bytes, name: str) -> Path:
    (tmp / name).write_bytes(data)
    return tmp / name


def _csv_valid(tmp: Path) -> Path:
    x = ecg_like(1000, 2).astype(np.float32) / 200
    return write_csv(
        Record(name="v", signal=x, fs=250.0, leads=["II", "V1"]), tmp / "v.csv", time_column=False
    )


def _edf_truncated(tmp: Path) -> Path:
    edfio = pytest.importorskip("edfio")
    x = ecg_like(2500, 1, fs=250).astype(np.float64) / 200
    edfio.Edf([edfio.EdfSignal(x[:, 0], 250, label="II", physical_range=(-10, 10))]).write(tmp / "e.edf")
    raw = (tmp / "e.edf").read_bytes()
    (tmp / "e.edf").write_bytes(raw[:-300])
    return tmp / "e.edf"


def _edf_garbled(tmp: Path) -> Path:
    pytest.importorskip("edfio")  # without it every .edf is refused as needing the edf extra
    return _csv(tmp, "garbage" * 100, "g.edf")


def _records_lists_missing(tmp: Path) -> Path:
    _valid(tmp / "db", "r1")
    (tmp / "db" / "RECORDS").write_text("r1\nr2\n")
    return tmp / "db"


def _records_subfolder_is_a_file(tmp: Path) -> Path:
    _valid(tmp / "db", "r1")
    (tmp / "db" / "sub").write_text("not a folder")
    (tmp / "db" / "RECORDS").write_text("r1\nsub/\n")
    return tmp / "db"


def _empty_folder(tmp: Path) -> Path:
    (tmp / "empty").mkdir()
    (tmp / "empty" / "notes.txt").write_text("nothing here")
    return tmp / "empty"


CASES: dict[str, Case] = {
    "truncated_dat": Case(
        _truncated_dat, "t.dat", r"is truncated: \d+ bytes, but t.hea declares 3600 samples"
    ),
    "header_claims_more_samples": Case(
        lambda t: _edit_header(_valid(t), "t 2 360 3600", "t 2 360 4000"), "t.dat", r"is truncated"
    ),
    "dat_longer_than_header": Case(
        _dat_longer_than_header, "t.dat", r"holds 3700 samples per signal but t.hea declares 3600"
    ),
    "checksum_mismatch": Case(_checksum_mismatch, "t.hea", r"checksum mismatch for MLII"),
    "unsupported_format": Case(
        lambda t: _edit_header(_valid(t), " 212 ", " 17 ", 2), "t.hea", r"unsupported WFDB format 17"
    ),
    "missing_dat": Case(
        lambda t: (_valid(t).with_suffix(".dat").unlink(), t / "t")[1], "t.dat", "is missing"
    ),
    "missing_mat": Case(
        lambda t: _challenge_mat(t, write_mat=False).with_suffix(".hea"), "m.mat", "is missing"
    ),
    "mat_is_matlab5": Case(lambda t: _challenge_mat(t, v5=True), "m.mat", "MATLAB 5\\+ file"),
    "header_wrong_signal_count": Case(
        lambda t: _edit_header(_valid(t), "t 2 360", "t 3 360"),
        "t.hea",
        r"declares 3 signal\(s\) but the header has 2 signal line",
    ),
    "header_too_many_fields": Case(
        lambda t: _edit_header(_valid(t), "t 2 360 3600", "t 2 360 3600 10:00:00 01/01/2000 extra"),
        "t.hea",
        "record line .* has 7 fields",
    ),
    "header_non_numeric_fs": Case(
        lambda t: _edit_header(_valid(t), "t 2 360", "t 2 abc"), "t.hea", "sampling frequency 'abc' is not"
    ),
    "header_zero_fs": Case(lambda t: _edit_header(_valid(t), "t 2 360", "t 2 0"), "t.hea", "must be > 0 Hz"),
    "header_negative_fs": Case(
        lambda t: _edit_header(_valid(t), "t 2 360", "t 2 -360"), "t.hea", "'-360' is not a positive number"
    ),
    "header_garbled_gain": Case(
        lambda t: _edit_header(_valid(t), "200(0)/mV", "2x0(0)/mV"), "t.hea", "ADC gain '2x0\\(0\\)/mV'"
    ),
    "header_not_utf8": Case(_non_utf8_header, "t.hea", r"header is not UTF-8 text \(byte 0xc4 on line 4\)"),
    "header_empty": Case(lambda t: _csv(t, "", "h.hea").with_suffix(""), "h.hea", "header is empty"),
    "header_no_fs": Case(
        lambda t: _edit_header(_valid(t), "t 2 360 3600", "t 2"),
        "t.hea",
        "header gives no sampling frequency",
    ),
    "multi_segment": Case(
        lambda t: _csv(t, "ms/2 1 360 2000\nseg1 1000\nseg2 1000\n", "ms.hea"), "ms.hea", "multi-segment"
    ),
    "header_names_a_folder": Case(_header_names_a_folder, "t.dat", "is a folder, but t.hea names it"),
    "zero_length": Case(_zero_length, "t.hea", "signal has no samples"),
    "flat_line_wfdb": Case(_flat_wfdb, "flat.hea", "signal is a flat line"),
    "all_samples_invalid": Case(_all_invalid, "inv.hea", "no valid samples"),
    "fs_mismatch": Case(_valid, "t.hea", "fs=500 Hz was given but the header says 360 Hz", fs=500),
    "csv_nan": Case(
        lambda t: _csv(t, "II,V1\n1,2\n3,nan\n5,6\n"),
        "x.csv",
        r"line 3, column 'V1': 'nan' is not a finite",
        fs=250,
    ),
    "csv_inf": Case(
        lambda t: _csv(t, "II,V1\n1,2\n3,4\n-inf,6\n"),
        "x.csv",
        r"line 4, column 'II': '-inf' is not a finite",
        fs=250,
    ),
    "csv_non_numeric": Case(
        lambda t: _csv(t, "time,II\n0,1\n0.004,2\n0.008,1.2.3\n"),
        "x.csv",
        r"line 4, column 'II': non-numeric value",
    ),
    "csv_single_row": Case(lambda t: _csv(t, "II,V1\n1,2\n"), "x.csv", "only 1 data row", fs=250),
    "csv_no_rows": Case(lambda t: _csv(t, "II,V1\n"), "x.csv", "no data rows", fs=250),
    "csv_flat": Case(
        lambda t: _csv(t, "II,V1\n" + "0.5,0.5\n" * 50), "x.csv", "signal is a flat line", fs=250
    ),
    "csv_no_fs": Case(lambda t: _csv(t, "II,V1\n1,2\n3,4\n"), "x.csv", "sampling rate unknown"),
    "csv_no_header": Case(lambda t: _csv(t, "1,2\n3,4\n"), "x.csv", "needs a header row", fs=250),
    "csv_not_utf8": Case(lambda t: _bytes(t, b"II,V\xe9\n1,2\n3,4\n", "x.csv"), "x.csv", "not UTF-8", fs=250),
    "fs_zero": Case(_csv_valid, "v.csv", "positive finite number of Hz, got 0", fs=0.0),
    "fs_negative": Case(_csv_valid, "v.csv", "positive finite number of Hz, got -5", fs=-5.0),
    "fs_nan": Case(_csv_valid, "v.csv", "positive finite number of Hz, got nan", fs=float("nan")),
    "unknown_file_type": Case(
        lambda t: _csv(t, "hello", "notes.txt"), "notes.txt", "unknown file type '.txt'"
    ),
    "no_such_path": Case(lambda t: t / "nothing", "nothing", "no such file or record"),
    "dat_without_header": Case(
        lambda t: _csv(t, "\x00\x01" * 10, "lone.dat"), "lone.dat", "has no WFDB header"
    ),
    "annotation_file_given": Case(
        lambda t: (_valid(t), _csv(t, "", "t.atr"))[1], "t.atr", "is an annotation file; give the record"
    ),
    "edf_truncated": Case(_edf_truncated, "e.edf", "is truncated"),
    "edf_garbled": Case(_edf_garbled, "g.edf", "not an EDF file"),
    "empty_folder": Case(_empty_folder, "empty", r"no ECG records found \(looked for"),
    "records_lists_missing": Case(
        _records_lists_missing, "RECORDS", "line 2: record 'r2' has no header r2.hea"
    ),
    "records_subfolder_is_a_file": Case(
        _records_subfolder_is_a_file, "RECORDS", "folder 'sub/' does not exist"
    ),
}

# Through the real CLI (one fresh process each, ~1 s of imports): one case per kind of bad input. All
# cases run in-process below; the CLI adds only the error rendering, exit code and --out cleanup.
CLI_CASES = [
    "truncated_dat",
    "dat_longer_than_header",
    "checksum_mismatch",
    "unsupported_format",
    "missing_dat",
    "missing_mat",
    "header_wrong_signal_count",
    "header_non_numeric_fs",
    "header_zero_fs",
    "header_not_utf8",
    "all_samples_invalid",
    "flat_line_wfdb",
    "zero_length",
    "header_names_a_folder",
    "records_subfolder_is_a_file",
    "csv_nan",
    "csv_inf",
    "csv_non_numeric",
    "csv_single_row",
    "fs_zero",
    "fs_nan",
    "unknown_file_type",
    "empty_folder",
    "edf_truncated",
]

# cases that also go through `leanecg info` (one per reader, plus header and folder problems)
INFO_CASES = [
    "truncated_dat",
    "checksum_mismatch",
    "header_non_numeric_fs",
    "csv_nan",
    "edf_truncated",
    "fs_zero",
]


def _fs_args(case: Case) -> list[str]:
    return [] if case.fs is None else [f"--fs={case.fs:g}"]


def _run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(args, cwd, timeout=120)


def _assert_one_line_error(proc: subprocess.CompletedProcess[str], case: Case) -> str:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    assert re.match(rf"error: (\S*/)?{re.escape(case.names)}: ", line), (case.names, line)
    assert re.search(case.problem, line), (case.problem, line)
    return line


@pytest.mark.parametrize("name", list(CASES))
def test_loader_raises_one_line(tmp_path: Path, name: str) -> None:
    """In-process: the same cases raise LeanECGError naming the file (fast, points at the loader)."""
    case = CASES[name]
    path = case.build(tmp_path)
    with pytest.raises(LeanECGError) as info:
        list(iter_records(path, fs=case.fs))
    err = info.value
    assert Path(err.path).name == case.names, (err.path, case.names)
    assert "\n" not in err.problem and re.search(case.problem, err.problem), err.problem


@pytest.mark.parametrize("name", CLI_CASES)
def test_cli_rpeaks_bad_input(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    path = case.build(tmp_path)
    out_dir = tmp_path / "out"
    out = out_dir / "peaks.csv"
    proc = _run_cli(["rpeaks", str(path), "--out", str(out), *_fs_args(case)], tmp_path)
    _assert_one_line_error(proc, case)
    assert not out.exists()
    assert not out_dir.exists() or not list(out_dir.iterdir())  # no temporary file left either


@pytest.mark.parametrize("name", INFO_CASES)
def test_cli_info_bad_input(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    path = case.build(tmp_path)
    proc = _run_cli(["info", str(path), *_fs_args(case)], tmp_path)
    _assert_one_line_error(proc, case)
    assert proc.stdout == ""


def test_cli_good_input_still_works(tmp_path: Path) -> None:
    """The same builders without the defect give exit 0 and a CSV (guards against always-failing setups)."""
    base = _valid(tmp_path)
    out = tmp_path / "peaks.csv"
    proc = _run_cli(["rpeaks", str(base), "--out", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = out.read_text().splitlines()
    assert rows[0] == "record,lead,sample,time_s" and len(rows) > 1
