"""One entry point for reading ECG records in any supported format, and for walking folders of them.

Supported inputs of :func:`load_record`:

* a WFDB record: ``.../100``, ``.../100.hea`` or ``.../100.dat`` (:mod:`leanecg.data.wfdb_io`);
* a PhysioNet/CinC challenge record, ``.mat`` (MATLAB v4) + ``.hea``: ``A00001``, ``A00001.mat`` or
  ``A00001.hea``;
* a CSV / TSV file with a header row of lead names (:mod:`leanecg.data.tabular`);
* an EDF / EDF+ / BDF file (:mod:`leanecg.data.edf`, needs ``edfio``).

Whatever the format, the returned :class:`~leanecg.data.record.Record` is normalised the same way:
voltages in mV (``uV`` divided by 1000, ``V`` times 1000; non-voltage units are left as they are and
named in ``Record.units``), lead names canonical (:func:`leanecg.signal.leads.canonical_lead_name`:
``AVR`` -> ``aVR``, ``MLII`` -> ``II``; other names trimmed), and validated: a record with no
samples, a single sample, no valid sample at all, or every lead constant ("signal is a flat line") is
refused. Every problem a user can cause is a :class:`~leanecg.errors.LeanECGError` naming the file.

Folders (:func:`list_record_paths`, :func:`iter_records`) are walked recursively in a deterministic
order: a folder's entries sorted by name, subfolders expanded in place, hidden entries skipped. A
folder with a WFDB ``RECORDS`` file lists exactly the records (and ``sub/`` folders) it names, in its
order. Found: WFDB headers (``*.hea``; that covers challenge ``.mat`` records), ``*.csv``/``*.tsv``
files that look like signal tables (a header row then a numeric row, so ``REFERENCE.csv`` or
``ptbxl_database.csv`` are skipped), ``*.edf`` and ``*.bdf``.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np

from leanecg.data.record import Record, millivolt_scale
from leanecg.errors import MissingDataError, UnreadableRecordError
from leanecg.signal.checks import check_fs

__all__ = [
    "RECORD_SUFFIXES",
    "check_record",
    "iter_records",
    "list_record_paths",
    "load_record",
    "record_source_files",
]

Kind = Literal["wfdb", "csv", "edf"]

#: File suffixes :func:`load_record` understands (lower case).
RECORD_SUFFIXES: dict[str, Kind] = {
    ".hea": "wfdb",
    ".dat": "wfdb",
    ".mat": "wfdb",
    ".csv": "csv",
    ".tsv": "csv",
    ".edf": "edf",
    ".bdf": "edf",
}
_ANNOTATION_SUFFIXES = {".atr", ".qrs", ".ecg", ".ari", ".pu", ".pu0", ".pu1", ".man"}
_LOOKED_FOR = "WFDB .hea headers, challenge .mat+.hea pairs, .csv/.tsv signal tables, .edf/.bdf files"
_EXPECTED = "a WFDB record (.hea/.dat), a challenge record (.mat + .hea), a .csv/.tsv or an .edf/.bdf file"


def _resolve(path: str | Path) -> tuple[Kind, Path]:
    """Which reader handles ``path``, and the file it reads (the ``.hea`` for WFDB records)."""
    p = Path(path)
    if p.is_dir():
        raise UnreadableRecordError(
            p, "is a folder, but a record file was expected (folders are read with iter_records)"
        )
    suffix = p.suffix.lower()
    if suffix == ".hea":
        return "wfdb", p
    if suffix in (".dat", ".mat"):
        header = p.with_suffix(".hea")
        if header.is_file():
            return "wfdb", header
        if p.exists():
            raise MissingDataError(p, f"has no WFDB header: {header.name} not found beside it")
        raise MissingDataError(p, "no such file")
    if suffix in (".csv", ".tsv"):
        return "csv", p
    if suffix in (".edf", ".bdf"):
        return "edf", p
    header = p.with_name(p.name + ".hea")
    if header.is_file():
        return "wfdb", header
    if suffix in _ANNOTATION_SUFFIXES and p.with_suffix(".hea").is_file():
        raise UnreadableRecordError(
            p, f"is an annotation file; give the record instead ({p.with_suffix('')})"
        )
    if p.exists():
        kind = f"'{p.suffix}'" if p.suffix else "(no extension)"
        raise UnreadableRecordError(p, f"unknown file type {kind}: expected {_EXPECTED}")
    raise MissingDataError(p, f"no such file or record (looked for {p.name} and {header.name})")


def _check_fs_argument(fs: float | None, source: str | Path) -> float | None:
    return None if fs is None else check_fs(fs, source)


def load_record(path: str | Path, fs: float | None = None, *, annotations: bool = True) -> Record:
    """Read one ECG record in any supported format (see the module docstring).

    Args:
        path: the record: WFDB base path or ``.hea``/``.dat``, challenge ``.mat``/``.hea``, ``.csv``,
            ``.tsv``, ``.edf`` or ``.bdf``.
        fs: sampling rate in Hz. Required for a CSV without a time column (and a WFDB header without
            one); for files that state their rate it is checked, and a different value is an error.
        annotations: read WFDB annotations (``.atr``, else ``.qrs``, else ``.ecg``) into
            ``Record.annotation``. Turn off to skip that work when only the signal is needed.

    Returns:
        :class:`Record`: ``signal`` float32 ``(n_samples, n_leads)`` in mV, ``fs`` in Hz, canonical
        ``leads``, ``labels`` (``#Dx:`` codes), ``annotation`` and ``meta``.

    Raises:
        LeanECGError: naming the file, with a one-line problem, for every bad input:
            :class:`~leanecg.errors.MissingDataError` (no such file),
            :class:`~leanecg.errors.UnreadableRecordError` (a file that cannot be parsed) or
            :class:`~leanecg.errors.InvalidOptionError` (``fs`` contradicts the file).

    Example:
        A CSV with a time column (the rate comes from it) holding a synthetic ECG:

        >>> import tempfile
        >>> from pathlib import Path
        >>> from leanecg.data.synthetic import synthetic_ecg
        >>> ecg = synthetic_ecg(duration_s=10.0, fs=250.0, seed=1)
        >>> tmp = tempfile.TemporaryDirectory()
        >>> import numpy as np
        >>> table = np.column_stack([np.arange(2500) / 250, ecg.signal[:, 0]])
        >>> path = Path(tmp.name) / "rec.csv"
        >>> np.savetxt(path, table, fmt="%.4f", delimiter=",", header="time_s,II", comments="")
        >>> rec = load_record(path)
        >>> rec.fs, rec.signal.shape, rec.leads
        (250.0, (2500, 1), ['II'])
        >>> load_record(Path(tmp.name) / "absent.csv")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        leanecg.errors.MissingDataError: .../absent.csv: no such file...
        >>> tmp.cleanup()
    """
    fs = _check_fs_argument(fs, path)
    kind, file = _resolve(path)
    if kind == "wfdb":
        from leanecg.data.wfdb_io import read_wfdb

        record = read_wfdb(file, fs=fs, annotations=annotations)
    elif kind == "csv":
        from leanecg.data.tabular import read_csv

        record = read_csv(file, fs=fs)
    else:
        from leanecg.data.edf import read_edf

        record = read_edf(file, fs=fs)
    return check_record(record, file)


def check_record(record: Record, source: str | Path) -> Record:
    """Normalise (units to mV, canonical lead names) and validate a freshly read record, in place.

    Raises:
        LeanECGError: no leads, fewer than 2 samples, no valid sample, or every lead constant.
    """
    x = record.signal
    if x.ndim != 2 or x.shape[1] == 0:
        raise UnreadableRecordError(source, "record has no signals")
    if x.shape[0] == 0:
        raise UnreadableRecordError(source, "signal has no samples (zero length)")
    if x.shape[0] == 1:
        raise UnreadableRecordError(source, "signal has only 1 sample")
    if not math.isfinite(record.fs) or record.fs <= 0:
        raise UnreadableRecordError(source, f"sampling rate must be > 0 Hz, got {record.fs!r}")
    if len(record.leads) != x.shape[1]:
        raise UnreadableRecordError(source, f"{len(record.leads)} lead names for {x.shape[1]} signals")

    units = list(record.units) if record.units else ["mV"] * x.shape[1]
    for j, unit in enumerate(units):
        scale = millivolt_scale(unit)
        if scale is None:
            continue
        if scale != 1.0:
            x[:, j] *= np.float32(scale)
        units[j] = "mV"
    record.units = units
    record.leads = canonical_leads(record.leads)

    if np.isfinite(x.sum(dtype=np.float64)):  # one contiguous pass: no NaN / inf anywhere
        if _is_flat(x):
            level = ", ".join(f"{v:g}" for v in x[0, :4])
            raise UnreadableRecordError(source, f"signal is a flat line (every lead is constant: {level} mV)")
        return record
    if np.isinf(x).any():
        raise UnreadableRecordError(source, "signal contains infinite values")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        lo = np.nanmin(x, axis=0)
        hi = np.nanmax(x, axis=0)
    valid = ~np.isnan(lo)
    if not valid.any():
        raise UnreadableRecordError(source, "no valid samples: every sample of every lead is marked invalid")
    if np.all(hi[valid] == lo[valid]):
        level = ", ".join(f"{v:g}" for v in lo[valid][:4])
        raise UnreadableRecordError(source, f"signal is a flat line (every lead is constant: {level} mV)")
    return record


def _is_flat(x: np.ndarray) -> bool:
    """Whether every column of a finite ``(n, k)`` array is constant (decided on the head when possible)."""
    head = x[:4096]
    varies = (head != head[0]).any(axis=0)
    if varies.any():
        return False
    return not any(bool((x[:, j] != x[0, j]).any()) for j in range(x.shape[1]))


def canonical_leads(names: list[str]) -> list[str]:
    """Canonical spelling of each lead name (:func:`leanecg.signal.leads.canonical_lead_name`)."""
    from leanecg.signal.leads import canonical_lead_name

    out = []
    for k, name in enumerate(names):
        name = str(name).strip()
        out.append(canonical_lead_name(name) if name else f"ch{k}")
    return out


# ---------------------------------------------------------------------------------------------------------
# folders


def list_record_paths(path: str | Path) -> list[Path]:
    """The records :func:`iter_records` would read, in its order (cheap: decodes nothing).

    A file (or WFDB base path) gives itself; a folder is walked as the module docstring says. WFDB
    records are returned as base paths without extension (``.../100``), other files as they are.

    Raises:
        LeanECGError: path missing; a file of unknown type; a ``RECORDS`` entry without header;
            a folder with no ECG record ("no ECG records found (looked for ...)").
    """
    p = Path(path)
    if not p.is_dir():
        kind, file = _resolve(p)
        return [file.with_suffix("") if kind == "wfdb" else file]
    found: list[Path] = []
    skipped: dict[str, int] = {}
    _walk(p, found, skipped, visited=set())
    if not found:
        notes = []
        if skipped.get("csv"):
            notes.append(f"skipped {skipped['csv']} .csv file(s) that are not signal tables")
        if skipped.get("mat"):
            notes.append(f"skipped {skipped['mat']} .mat file(s) without a .hea header")
        extra = f"; {'; '.join(notes)}" if notes else ""
        raise MissingDataError(p, f"no ECG records found (looked for {_LOOKED_FOR}){extra}")
    return found


def _walk(folder: Path, found: list[Path], skipped: dict[str, int], visited: set[str]) -> None:
    try:
        real = os.path.realpath(folder)
    except OSError:  # pragma: no cover - realpath does not fail on existing folders
        real = str(folder)
    if real in visited:  # symlink loop
        return
    visited.add(real)
    records_file = folder / "RECORDS"
    if records_file.is_file():
        _walk_records_file(folder, records_file, found, skipped, visited)
        return
    try:
        entries = sorted(folder.iterdir(), key=lambda e: e.name)
    except OSError as exc:
        raise UnreadableRecordError(folder, f"cannot list folder: {exc.strerror or exc}") from None
    names = {e.name for e in entries}
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            _walk(entry, found, skipped, visited)
            continue
        suffix = entry.suffix.lower()
        if suffix == ".hea":
            found.append(entry.with_suffix(""))
        elif suffix in (".csv", ".tsv"):
            from leanecg.data.tabular import looks_like_signal_csv

            if looks_like_signal_csv(entry):
                found.append(entry)
            else:
                skipped["csv"] = skipped.get("csv", 0) + 1
        elif suffix in (".edf", ".bdf"):
            found.append(entry)
        elif suffix == ".mat" and f"{entry.stem}.hea" not in names:
            skipped["mat"] = skipped.get("mat", 0) + 1


def _walk_records_file(
    folder: Path, records_file: Path, found: list[Path], skipped: dict[str, int], visited: set[str]
) -> None:
    try:
        text = records_file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UnreadableRecordError(records_file, "RECORDS file is not UTF-8 text") from None
    except OSError as exc:
        raise UnreadableRecordError(records_file, f"cannot read: {exc.strerror or exc}") from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        target = folder / name
        if name.endswith("/"):
            if not target.is_dir():
                raise MissingDataError(records_file, f"line {lineno}: folder {name!r} does not exist")
            _walk(target, found, skipped, visited)
            continue
        header = target.with_name(target.name + ".hea")
        if not header.is_file():
            raise UnreadableRecordError(
                records_file, f"line {lineno}: record {name!r} has no header {header.name}"
            )
        found.append(target)


def iter_records(path: str | Path, fs: float | None = None, *, annotations: bool = True) -> Iterator[Record]:
    """Yield :func:`load_record` for each record of a file or folder (order of :func:`list_record_paths`).

    The folder is listed first, so a missing or empty folder fails before anything is read; each record
    is read only when the iterator reaches it, and its problems raise there.
    """
    fs = _check_fs_argument(fs, path)
    for record_path in list_record_paths(path):
        yield load_record(record_path, fs=fs, annotations=annotations)


def record_source_files(path: str | Path) -> list[Path]:
    """The files a record is decoded from: the header and its signal files, or the single file.

    Used to fingerprint records for :mod:`leanecg.data.cache` (annotation files are not included: they
    do not change the signal).
    """
    kind, file = _resolve(path)
    if kind != "wfdb":
        if not file.is_file():
            raise MissingDataError(file, "no such file" if not file.exists() else "is not a regular file")
        return [file]
    from leanecg.data.wfdb_io import read_header

    header = read_header(file)
    return [header.path, *header.signal_files()]
