"""ECG signals in EDF / EDF+ / BDF files, read with the optional package ``edfio``.

``edfio`` silently shortens a file whose last data record is cut off (it only warns), so the file size
is checked here first against the header: ``header bytes + data records x record bytes``. A shorter file
is truncated; a file holding at least one whole data record more than the header declares is refused
too (the header lies about its length); a partial trailing record is ignored, as EDF readers do.

Signal selection: all ordinary signals when they share one sampling rate. Otherwise only the ECG
signals (label starting with ``ECG``/``EKG`` or naming a standard lead) are kept when *they* share one
rate; if not, the file is refused rather than resampled behind the user's back. EDF+ annotations go to
``Record.meta["edf_annotations"]`` as ``(onset_s, duration_s or None, text)`` tuples; discontinuous
EDF+D files are refused. Labels such as ``ECG II`` / ``EKG V1`` lose the ``ECG`` prefix when the rest is a
standard lead.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.data.record import Record
from leanecg.errors import InvalidOptionError, LeanECGError, MissingDataError, UnreadableRecordError

__all__ = ["EdfLayout", "check_edf_layout", "read_edf"]

_ECG_PREFIX = re.compile(r"(?:ECG|EKG)[\s_\-:]*(?P<rest>.*)", re.IGNORECASE)


class EdfLayout:
    """What an EDF/BDF header says about the file's size (only the fields needed to check it)."""

    def __init__(self, header_bytes: int, n_records: int, record_bytes: int, record_duration: float) -> None:
        self.header_bytes = header_bytes
        self.n_records = n_records
        self.record_bytes = record_bytes
        self.record_duration = record_duration


def _field(raw: bytes, start: int, width: int, what: str, path: Path) -> str:
    try:
        return raw[start : start + width].decode("ascii").strip()
    except UnicodeDecodeError:
        raise UnreadableRecordError(
            path, f"not an EDF file: header field '{what}' is not ASCII text"
        ) from None


def _int_field(raw: bytes, start: int, width: int, what: str, path: Path) -> int:
    text = _field(raw, start, width, what, path)
    try:
        return int(text)
    except ValueError:
        raise UnreadableRecordError(
            path, f"not an EDF file: header field '{what}' is {text!r}, not a whole number"
        ) from None


def check_edf_layout(path: str | Path) -> EdfLayout:
    """Parse the fixed part of an EDF/BDF header and check the file size against it.

    Raises:
        LeanECGError: garbled header, truncated file, or more data than the header declares.
    """
    path = Path(path)
    bdf = path.suffix.lower() == ".bdf"
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            fixed = fh.read(256)
            if len(fixed) < 256:
                raise UnreadableRecordError(
                    path, f"is truncated or not an EDF file: {size} bytes, shorter than a 256-byte header"
                )
            ns = _int_field(fixed, 252, 4, "number of signals", path)
            if ns <= 0:
                raise UnreadableRecordError(path, f"EDF header declares {ns} signals")
            rest = fh.read(256 * ns)
    except OSError as exc:
        raise UnreadableRecordError(path, f"cannot read: {exc.strerror or exc}") from None
    if len(rest) < 256 * ns:
        raise UnreadableRecordError(path, f"is truncated: its header declares {ns} signals but ends early")
    header_bytes = _int_field(fixed, 184, 8, "number of bytes in header", path)
    if header_bytes != 256 * (ns + 1):
        raise UnreadableRecordError(
            path, f"EDF header size field says {header_bytes} bytes, but {ns} signals need {256 * (ns + 1)}"
        )
    n_records = _int_field(fixed, 236, 8, "number of data records", path)
    dur_text = _field(fixed, 244, 8, "duration of a data record", path)
    try:
        duration = float(dur_text)
    except ValueError:
        raise UnreadableRecordError(path, f"not an EDF file: data record duration is {dur_text!r}") from None
    spr_start = ns * (16 + 80 + 8 + 8 + 8 + 8 + 8 + 80)
    spr = [
        _int_field(rest, spr_start + 8 * k, 8, f"samples per record of signal {k + 1}", path)
        for k in range(ns)
    ]
    if any(s < 0 for s in spr):
        raise UnreadableRecordError(path, "EDF header declares a negative number of samples per record")
    record_bytes = sum(spr) * (3 if bdf else 2)
    data = size - header_bytes
    if record_bytes == 0:
        raise UnreadableRecordError(path, "EDF header declares no samples in a data record")
    held = data // record_bytes
    if n_records < 0:  # -1: "unknown", still being recorded when the header was written
        n_records = held
    elif data < n_records * record_bytes:
        raise UnreadableRecordError(
            path,
            f"is truncated: {size} bytes, but its header declares {n_records} data records of "
            f"{record_bytes} bytes after a {header_bytes}-byte header = {header_bytes + n_records * record_bytes} "
            f"bytes (the file holds {held} complete records)",
        )
    elif held > n_records:
        raise UnreadableRecordError(
            path,
            f"holds {held} data records but its header declares {n_records}: the header's length is wrong",
        )
    return EdfLayout(header_bytes, n_records, record_bytes, duration)


def _is_ecg_label(label: str) -> bool:
    from leanecg.signal.leads import is_standard_lead

    if _ECG_PREFIX.fullmatch(label.strip()):
        return True
    try:
        return is_standard_lead(label)
    except LeanECGError:
        return False


def _lead_name(label: str, k: int) -> str:
    from leanecg.signal.leads import is_standard_lead

    label = label.strip()
    if not label:
        return f"ch{k}"
    m = _ECG_PREFIX.fullmatch(label)
    if m and m.group("rest"):
        try:
            if is_standard_lead(m.group("rest")):
                return m.group("rest")
        except LeanECGError:
            pass
    return label


def read_edf(path: str | Path, fs: float | None = None) -> Record:
    """Read an EDF, EDF+ (continuous) or BDF file.

    Args:
        path: the ``.edf`` / ``.bdf`` file.
        fs: expected sampling rate in Hz; must equal the file's.

    Returns:
        :class:`Record` with float32 ``(n_samples, n_leads)`` physical values in the file's units (as
        written in its ``physical dimension`` fields), lead names from the labels.

    Raises:
        LeanECGError: edfio missing, garbled / truncated file, mixed rates, discontinuous EDF+D.
    """
    path = Path(path)
    try:
        import edfio
    except ImportError:
        raise LeanECGError(
            path, "reading EDF/BDF needs the optional package edfio: pip install 'leanecg[edf]'"
        ) from None
    if path.is_dir():
        raise UnreadableRecordError(path, "is a folder, but an EDF file was expected")
    if not path.is_file():
        raise MissingDataError(path, "no such file")
    layout = check_edf_layout(path)
    if layout.n_records == 0:
        raise UnreadableRecordError(path, "signal has no samples (0 data records)")
    reader = edfio.read_bdf if path.suffix.lower() == ".bdf" else edfio.read_edf
    try:
        edf = reader(path, lazy_load_data=False)
        signals = list(edf.signals)
        continuous = bool(edf.is_continuous)
        annotations = [(float(a.onset), a.duration, str(a.text)) for a in edf.annotations]
    except LeanECGError:
        raise
    except Exception as exc:  # edfio raises ValueError / UnicodeDecodeError / ... on garbled files
        raise UnreadableRecordError(
            path, f"cannot read EDF: {type(exc).__name__}: {' '.join(str(exc).split())}"
        ) from None
    if not continuous:
        raise UnreadableRecordError(
            path, "discontinuous EDF+D files are not supported (export a continuous EDF+C)"
        )
    if not signals:
        raise UnreadableRecordError(path, "EDF file has no signals (only annotations)")

    chosen = _choose_signals(path, signals)
    rate = float(chosen[0].sampling_frequency)
    if not math.isfinite(rate) or rate <= 0:
        raise UnreadableRecordError(path, f"sampling frequency {rate:g} Hz is not a positive number")
    if fs is not None and not math.isclose(fs, rate, rel_tol=1e-9, abs_tol=1e-9):
        raise InvalidOptionError(path, f"fs={fs:g} Hz was given but the file says {rate:g} Hz")
    lengths = {len(s.data) for s in chosen}
    if len(lengths) != 1:  # cannot happen for equal rates in one file, but never stack ragged columns
        raise UnreadableRecordError(path, f"signals have different lengths {sorted(lengths)}")
    signal = np.column_stack([np.asarray(s.data, dtype=np.float64) for s in chosen]).astype(np.float32)
    meta: dict[str, Any] = {"format": "bdf" if path.suffix.lower() == ".bdf" else "edf"}
    if annotations:
        meta["edf_annotations"] = annotations
    with_start = _start(edf)
    if with_start:
        meta["start"] = with_start
    return Record(
        name=path.stem,
        signal=signal,
        fs=rate,
        leads=[_lead_name(s.label, k) for k, s in enumerate(chosen)],
        units=[s.physical_dimension.strip() for s in chosen],  # "" = not stated: left as is
        path=path,
        meta=meta,
    )


def _choose_signals(path: Path, signals: list[Any]) -> list[Any]:
    rates = {float(s.sampling_frequency) for s in signals}
    if len(rates) == 1:
        return signals
    ecg = [s for s in signals if _is_ecg_label(s.label)]
    if ecg and len({float(s.sampling_frequency) for s in ecg}) == 1:
        return ecg
    listing = ", ".join(f"{s.label.strip() or '?'} {float(s.sampling_frequency):g} Hz" for s in signals)
    raise UnreadableRecordError(
        path, f"signals have different sampling rates ({listing}); export the ECG leads at one rate"
    )


def _start(edf: Any) -> str | None:
    try:
        return edf.startdatetime.isoformat()
    except Exception:  # anonymised / garbled date fields are not worth failing for
        return None
