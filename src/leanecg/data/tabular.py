"""ECG signals in CSV files: one column per lead, a header row naming the leads.

Layout read by :func:`read_csv`::

    time_s,II,V5            <- header row: lead names (required); "II (uV)" or "II [uV]" gives a unit
    mV,mV                   <- optional units row (only recognised voltage / time units), as PhysioNet exports
    0.000000,-0.145,-0.065
    0.002778,-0.145,-0.065
    ...

* **Delimiter:** ``,`` (``;`` or tab when the header row has no comma; always tab for ``.tsv``).
* **Time column** (optional, first column only): ``time``, ``t``, ``time_s``, ``time (s)``, ``seconds``,
  ``Elapsed time`` ... in seconds, or ``time_ms`` / ``ms`` in milliseconds. The sampling rate is derived
  from it: it must increase evenly (to within the rounding of its printed decimals), and the rate is
  ``(n - 1) / (t_last - t_first)`` snapped to the shortest decimal the printed precision allows (e.g.
  ``360`` rather than ``359.99998``). A given ``fs`` must agree with it.
* **Sample-index column** (``sample``, ``sample #``, ``index``): dropped; it must count up by one and
  ``fs`` must be given.
* Without a time column ``fs`` is required.
* **Units** default to mV; ``uV`` / ``V`` columns are converted by :mod:`leanecg.data.loaders`.
* **Every cell must be a finite number**: an empty, non-numeric, NaN or infinite cell is an error that
  names its line and column (a CSV has no "invalid sample" convention, so a NaN there is a broken
  export, unlike WFDB's invalid-sample markers, see :mod:`leanecg.data.wfdb_io`).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from leanecg.atomic import atomic_open
from leanecg.data.record import Record, millivolt_scale
from leanecg.errors import InvalidOptionError, MissingDataError, UnreadableRecordError

__all__ = ["looks_like_signal_csv", "read_csv", "write_csv"]

_TIME_SECONDS = {
    "time",
    "t",
    "times",
    "timesec",
    "timeseconds",
    "elapsedtime",
    "elapsedtimes",
    "elapsedtimesec",
    "elapsedtimeseconds",
    "seconds",
    "sec",
    "timestamp",
}
_TIME_MS = {"timems", "ms", "msec", "milliseconds", "timemsec", "elapsedtimems", "elapsedtimemsec"}
_INDEX = {"sample", "samples", "sample#", "samplenumber", "samplenum", "sampleindex", "index", "idx"}
_TIME_UNITS = {"s": 1.0, "sec": 1.0, "secs": 1.0, "seconds": 1.0, "ms": 1e-3, "msec": 1e-3}
_UNIT_IN_NAME = re.compile(r"(?P<name>.*?)\s*[\(\[]\s*(?P<unit>[^\)\]]+?)\s*[\)\]]")
_MAX_DECIMALS_SCAN = 2000


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-\(\)\[\]'\"]+", "", name.lower())


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _open_text(path: Path) -> io.TextIOWrapper:
    if path.is_dir():
        raise UnreadableRecordError(path, "is a folder, but a CSV file was expected")
    try:
        return open(path, encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise MissingDataError(path, "no such file") from None
    except OSError as exc:
        raise UnreadableRecordError(path, f"cannot read: {exc.strerror or exc}") from None


def _delimiter(path: Path, header_line: str) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    if "," in header_line:
        return ","
    for d in (";", "\t"):
        if d in header_line:
            return d
    return ","


def _cells(line: str, delimiter: str) -> list[str]:
    row = next(csv.reader([line], delimiter=delimiter), [])
    return [c.strip().strip("'").strip() for c in row]


def _iter_rows(path: Path, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """``(line number, cells)`` of every non-blank line (1-based line numbers as an editor shows them)."""
    lineno = 0
    with _open_text(path) as fh:
        try:
            for lineno, line in enumerate(fh, start=1):
                if line.strip():
                    yield lineno, _cells(line.rstrip("\r\n"), delimiter)
        except UnicodeDecodeError as exc:
            raise UnreadableRecordError(
                path, f"is not UTF-8 text (near line {lineno + 1}: {exc.reason})"
            ) from None


def looks_like_signal_csv(path: str | Path) -> bool:
    """Cheap sniff used by folder scans: a header row with a name, then a numeric (or units) row.

    Metadata tables that share the ``.csv`` extension (``REFERENCE.csv``, ``ptbxl_database.csv``) fail it.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            lines = [ln for ln in (fh.readline() for _ in range(8)) if ln.strip()][:3]
    except (OSError, UnicodeDecodeError):
        return False
    if len(lines) < 2:
        return False
    delimiter = _delimiter(path, lines[0])
    head = _cells(lines[0], delimiter)
    if all(_is_number(c) for c in head):
        return False
    rows = [_cells(ln, delimiter) for ln in lines[1:]]
    if _is_units_row(rows[0], head) and len(rows) > 1:
        rows = rows[1:]
    return len(rows[0]) == len(head) and all(_is_number(c) for c in rows[0])


def _is_units_row(cells: list[str], header: list[str]) -> bool:
    if len(cells) != len(header) or not cells:
        return False
    for j, cell in enumerate(cells):
        key = cell.strip().lower()
        if j == 0 and _column_role(header[0]) != "lead":
            if key not in _TIME_UNITS and key not in ("", "#", "samples", "sample"):
                return False
        elif millivolt_scale(key) is None:
            return False
    return True


def _column_role(name: str) -> str:
    key = _norm(name)
    if key in _TIME_SECONDS:
        return "time_s"
    if key in _TIME_MS:
        return "time_ms"
    if key in _INDEX:
        return "index"
    return "lead"


def read_csv(path: str | Path, fs: float | None = None) -> Record:
    """Read a CSV (or ``.tsv``) ECG file, strictly (see the module docstring).

    Args:
        path: the file.
        fs: sampling rate in Hz; required without a time column, checked against it otherwise.

    Returns:
        :class:`Record` with float32 ``(n_samples, n_leads)``, lead names and units as written
        (``"mV"`` unless a unit was given); ``meta["start_time_s"]`` when a time column starts away
        from zero.

    Raises:
        LeanECGError: naming the file and, for bad cells, the line and column.
    """
    import pandas as pd  # deferred: heavy import

    path = Path(path)
    with _open_text(path) as fh:
        try:
            first = [fh.readline() for _ in range(2)]
        except UnicodeDecodeError as exc:
            raise UnreadableRecordError(
                path, f"is not UTF-8 text ({exc.reason} in the first lines)"
            ) from None
    header_line = first[0].rstrip("\r\n")
    if not header_line.strip():
        raise UnreadableRecordError(path, "CSV file is empty (or its first line is blank)")
    delimiter = _delimiter(path, header_line)
    header = _cells(header_line, delimiter)
    if all(_is_number(c) for c in header):
        raise UnreadableRecordError(
            path, "line 1 is numeric: the CSV needs a header row naming the leads (e.g. time_s,II,V5)"
        )
    for j, name in enumerate(header):
        if not name:
            raise UnreadableRecordError(path, f"line 1: column {j + 1} has no name")
    dups = sorted({n for n in header if header.count(n) > 1})
    if dups:
        raise UnreadableRecordError(path, f"line 1: duplicate column name(s) {', '.join(map(repr, dups))}")

    units_row: list[str] | None = None
    second = _cells(first[1].rstrip("\r\n"), delimiter) if first[1].strip() else []
    if second and _is_units_row(second, header):
        units_row = second
    skip = 2 if units_row is not None else 1

    n_cols = len(header)
    try:
        frame = pd.read_csv(
            path,
            sep=delimiter,
            header=None,
            names=list(range(n_cols)),
            index_col=False,
            skiprows=skip,
            dtype=np.float64,
            engine="c",
            encoding="utf-8-sig",
            skip_blank_lines=True,
            quotechar='"',
            skipinitialspace=True,
        )
        data = frame.to_numpy(dtype=np.float64)
    except Exception:  # non-numeric cell, ragged row, bad bytes: find and name it exactly
        _raise_first_bad_cell(path, delimiter, header, skip)
        raise  # pragma: no cover - _raise_first_bad_cell always raises when pandas failed
    if data.shape[0] == 0:
        raise UnreadableRecordError(path, "has no data rows (zero-length signal)")
    if not np.isfinite(data).all():
        _raise_first_bad_cell(path, delimiter, header, skip)
    if data.shape[0] == 1:
        raise UnreadableRecordError(path, "has only 1 data row; a signal needs at least 2 samples")

    role = _column_role(header[0])
    first_lead = 0 if role == "lead" else 1
    if first_lead >= n_cols:
        raise UnreadableRecordError(path, f"has only a {header[0]!r} column and no lead columns")
    if units_row is not None and role.startswith("time") and units_row[0].lower() in _TIME_UNITS:
        role = "time_ms" if _TIME_UNITS[units_row[0].lower()] == 1e-3 else "time_s"

    meta: dict[str, object] = {"format": "csv"}
    if role in ("time_s", "time_ms"):
        scale = 1.0 if role == "time_s" else 1e-3
        decimals = _time_decimals(path, delimiter, skip)
        record_fs, t0 = _fs_from_time(path, data[:, 0], scale, decimals, header[0], skip)
        if fs is not None and not _fs_agrees(fs, record_fs, data[:, 0], scale, decimals):
            raise InvalidOptionError(
                path, f"fs={fs:g} Hz was given but the time column says {record_fs:g} Hz"
            )
        if t0 != 0:
            meta["start_time_s"] = t0
    else:
        if role == "index":
            _check_index_column(path, data[:, 0], header[0], skip)
        if fs is None:
            raise InvalidOptionError(path, "sampling rate unknown: the CSV has no time column; give `fs`")
        record_fs = float(fs)

    leads: list[str] = []
    units: list[str] = []
    for j in range(first_lead, n_cols):
        name, unit = header[j], "mV"
        m = _UNIT_IN_NAME.fullmatch(name)
        if m and m.group("name") and millivolt_scale(m.group("unit")) is not None:
            name, unit = m.group("name"), m.group("unit")
        if units_row is not None:
            unit = units_row[j]
        leads.append(name)
        units.append(unit)
    return Record(
        name=path.stem,
        signal=data[:, first_lead:].astype(np.float32),
        fs=record_fs,
        leads=leads,
        units=units,
        path=path,
        meta=meta,
    )


def _raise_first_bad_cell(path: Path, delimiter: str, header: list[str], skip: int) -> None:
    """Scan the file and raise for the first ragged row or non-finite / non-numeric cell."""
    n_cols = len(header)
    seen = 0
    for lineno, cells in _iter_rows(path, delimiter):
        seen += 1
        if seen <= skip:
            continue
        if len(cells) != n_cols:
            raise UnreadableRecordError(
                path, f"line {lineno} has {len(cells)} field(s), the header has {n_cols}"
            )
        for j, cell in enumerate(cells):
            col = header[j]
            if not cell:
                raise UnreadableRecordError(path, f"line {lineno}, column {col!r}: empty cell")
            try:
                value = float(cell)
            except ValueError:
                raise UnreadableRecordError(
                    path, f"line {lineno}, column {col!r}: non-numeric value {cell[:40]!r}"
                ) from None
            if not math.isfinite(value):
                raise UnreadableRecordError(
                    path, f"line {lineno}, column {col!r}: {cell!r} is not a finite number"
                )
    raise UnreadableRecordError(path, "cannot be parsed as a numeric CSV table")


def _time_decimals(path: Path, delimiter: str, skip: int) -> int | None:
    """Most decimals printed in the time column (first lines); ``None`` for exponent notation."""
    decimals = 0
    for k, (_, cells) in enumerate(_iter_rows(path, delimiter)):
        if k < skip:
            continue
        if k >= skip + _MAX_DECIMALS_SCAN:
            break
        cell = cells[0].lower()
        if "e" in cell:
            return None
        if "." in cell:
            decimals = max(decimals, len(cell.split(".", 1)[1]))
    return decimals


def _fs_from_time(
    path: Path, t: np.ndarray, scale: float, decimals: int | None, name: str, skip: int
) -> tuple[float, float]:
    """Sampling rate (Hz) and start time (s) from a time column in units of ``scale`` seconds."""
    n = t.size
    dt = np.diff(t)
    nonpos = np.flatnonzero(dt <= 0)
    if nonpos.size:
        i = int(nonpos[0])
        raise UnreadableRecordError(path, f"time column {name!r} does not increase at line {i + 2 + skip}")
    span = float(t[-1] - t[0])
    step = span / (n - 1)
    quant = _quantum(t, decimals)
    bad = np.flatnonzero(np.abs(dt - step) > quant)
    if bad.size:
        i = int(bad[0])
        raise UnreadableRecordError(
            path,
            f"time column {name!r} is not evenly spaced: the step before line {i + 2 + skip} is "
            f"{dt[i] * scale:.6g} s, the average step is {step * scale:.6g} s (missing rows or a varying rate?)",
        )
    fs_est = (n - 1) / (span * scale)
    tol = fs_est * quant / span + 1e-12 * fs_est
    for digits in range(0, 7):
        candidate = round(fs_est, digits)
        if candidate > 0 and abs(candidate - fs_est) <= tol:
            return float(candidate), float(t[0] * scale)
    return float(fs_est), float(t[0] * scale)


def _quantum(t: np.ndarray, decimals: int | None) -> float:
    """Largest error two printed times can have in their difference, in the column's units."""
    magnitude = float(np.max(np.abs(t))) if t.size else 0.0
    float_err = 8 * np.finfo(np.float64).eps * max(magnitude, 1.0)
    if decimals is None:
        return float_err
    return 10.0**-decimals + float_err


def _fs_agrees(fs: float, derived: float, t: np.ndarray, scale: float, decimals: int | None) -> bool:
    span = float(t[-1] - t[0])
    tol = derived * _quantum(t, decimals) / span + 1e-9 * derived
    return abs(float(fs) - derived) <= tol


def _check_index_column(path: Path, idx: np.ndarray, name: str, skip: int) -> None:
    bad = np.flatnonzero(np.diff(idx) != 1)
    if bad.size:
        i = int(bad[0])
        raise UnreadableRecordError(
            path,
            f"sample column {name!r} does not count up by 1 at line {i + 2 + skip} (missing or repeated rows?)",
        )


def write_csv(record: Record, path: str | Path, *, time_column: bool = True) -> Path:
    """Write ``record`` as a CSV that :func:`read_csv` reads back exactly (atomically).

    The header is ``time_s,<lead>,...`` (lead names get ``" (unit)"`` when not mV); times are printed with
    9 decimals so the sampling rate is recovered exactly, samples with 9 significant digits so float32
    values survive the round trip bit for bit.

    Returns:
        ``path``.
    """
    path = Path(path)
    x = np.asarray(record.signal, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    names = [n if u == "mV" else f"{n} ({u})" for n, u in zip(record.leads, record.units, strict=True)]
    header = (["time_s"] if time_column else []) + names
    fmt = (["%.9f"] if time_column else []) + ["%.9g"] * x.shape[1]
    with atomic_open(path, "w") as fh:
        csv.writer(fh, lineterminator="\n").writerow(header)
        if time_column:
            t = np.arange(x.shape[0], dtype=np.float64) / float(record.fs)
            table = np.column_stack([t, x.astype(np.float64)])
        else:
            table = x.astype(np.float64)
        np.savetxt(fh, table, fmt=fmt, delimiter=",")
    return path
