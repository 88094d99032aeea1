"""Strict parsing of single-segment WFDB headers (``.hea``) into :class:`WfdbHeader` (see
:mod:`leanecg.data.wfdb_io` for what is checked and why).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leanecg.errors import MissingDataError, UnreadableRecordError

__all__ = ["DEFAULT_ADC_GAIN", "SignalSpec", "WfdbHeader", "parse_header_text", "read_header"]

DEFAULT_ADC_GAIN = 200.0  # WFDB's gain for an uncalibrated signal (gain field 0 or absent)

_NUM = r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|[0-9]+\.(?:[eE][-+]?[0-9]+)?"
_RX_NAME = re.compile(r"(?P<name>[-\w]+)(?:/(?P<n_seg>[0-9]+))?")
_RX_FS = re.compile(
    rf"(?P<fs>{_NUM})(?:/(?P<counter>[-+]?(?:{_NUM}))(?:\((?P<base_counter>[-+]?(?:{_NUM}))\))?)?"
)
_RX_FMT = re.compile(r"(?P<fmt>[0-9]+)(?:x(?P<spf>[0-9]+))?(?::(?P<skew>[0-9]+))?(?:\+(?P<offset>[0-9]+))?")
_RX_GAIN = re.compile(rf"(?P<gain>[-+]?(?:{_NUM}))(?:\((?P<baseline>[-+]?[0-9]+)\))?(?:/(?P<units>\S*))?")
_RX_INT = re.compile(r"[-+]?[0-9]+")


@dataclass(frozen=True)
class SignalSpec:
    """One signal line of a WFDB header.

    Attributes:
        file_name: the signal file, relative to the header's folder.
        fmt: WFDB storage format (``"212"``, ``"16"``, ...).
        samples_per_frame: samples of this signal per frame (only 1 is supported for reading).
        skew: skew in frames.
        byte_offset: bytes to skip at the start of the file (``24`` for challenge ``.mat`` files).
        adc_gain: digital units per physical unit; ``0`` in the file means uncalibrated.
        baseline: digital value of physical zero.
        units: physical unit as written (``"mV"`` when absent).
        adc_res, adc_zero, init_value, checksum, block_size: optional integer fields (``None`` if absent).
        description: the signal description (the lead name), ``""`` if absent.
    """

    file_name: str
    fmt: str
    samples_per_frame: int = 1
    skew: int = 0
    byte_offset: int = 0
    adc_gain: float = DEFAULT_ADC_GAIN
    baseline: int = 0
    units: str = "mV"
    adc_res: int | None = None
    adc_zero: int | None = None
    init_value: int | None = None
    checksum: int | None = None
    block_size: int | None = None
    description: str = ""


@dataclass(frozen=True)
class WfdbHeader:
    """A parsed single-segment WFDB header.

    Attributes:
        path: the ``.hea`` file.
        record_name: the name on the record line.
        n_sig: number of signals.
        fs: sampling frequency in Hz (``None`` when the header omits it).
        n_samples: samples per signal (``None`` when the header omits it: taken from the file size).
        base_time, base_date: as written, or ``None``.
        signals: one :class:`SignalSpec` per signal.
        comments: comment lines, without the leading ``#`` and surrounding blanks.
    """

    path: Path
    record_name: str
    n_sig: int
    fs: float | None
    n_samples: int | None
    base_time: str | None = None
    base_date: str | None = None
    signals: tuple[SignalSpec, ...] = ()
    comments: tuple[str, ...] = field(default_factory=tuple)

    @property
    def base(self) -> Path:
        """The record path without extension (``.../100``), as wfdb-python wants it."""
        return self.path.with_suffix("")

    def signal_files(self) -> list[Path]:
        """The distinct signal files, in header order."""
        names = list(dict.fromkeys(s.file_name for s in self.signals))
        return [self.path.parent / n for n in names]


def read_header(path: str | Path) -> WfdbHeader:
    """Read and strictly parse a WFDB header file.

    Args:
        path: the ``.hea`` file.

    Raises:
        LeanECGError: missing, unreadable, not UTF-8, or not a valid single-segment header.
    """
    path = Path(path)
    if path.is_dir():
        raise UnreadableRecordError(path, "is a folder, but a WFDB header file was expected")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise MissingDataError(path, "header file not found") from None
    except OSError as exc:
        raise UnreadableRecordError(path, f"cannot read header: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UnreadableRecordError(
            path, f"header is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line})"
        ) from None
    return parse_header_text(text, path)


def parse_header_text(text: str, path: str | Path) -> WfdbHeader:
    """Parse the text of a WFDB header (see :func:`read_header`); ``path`` is where it came from."""
    path = Path(path)
    text = text.removeprefix("\ufeff")
    lines: list[tuple[int, str]] = []
    comments: list[str] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("#"):
            comments.append(stripped.lstrip("#").strip())
        elif stripped:
            if not stripped.isascii():
                raise UnreadableRecordError(
                    path, f"header line {lineno} has non-ASCII characters outside a comment"
                )
            if "\x00" in stripped:
                raise UnreadableRecordError(
                    path, f"header line {lineno} contains NUL bytes (not a text header)"
                )
            lines.append((lineno, stripped))
    if not lines:
        raise UnreadableRecordError(path, "header is empty (no record line)")

    lineno, record_line = lines[0]
    rec = _parse_record_line(record_line, lineno, path)
    signal_lines = lines[1:]
    if len(signal_lines) != rec["n_sig"]:
        raise UnreadableRecordError(
            path,
            f"record line declares {rec['n_sig']} signal(s) but the header has "
            f"{len(signal_lines)} signal line(s)",
        )
    signals = tuple(_parse_signal_line(line, no, path) for no, line in signal_lines)
    return WfdbHeader(path=path, signals=signals, comments=tuple(comments), **rec)


def _parse_record_line(line: str, lineno: int, path: Path) -> dict[str, Any]:
    tokens = line.split()
    where = f"record line (line {lineno})"
    m = _RX_NAME.fullmatch(tokens[0])
    if m is None:
        raise UnreadableRecordError(path, f"{where}: invalid record name {tokens[0]!r}")
    if m.group("n_seg") is not None:
        raise UnreadableRecordError(path, "multi-segment WFDB records are not supported")
    if len(tokens) < 2:
        raise UnreadableRecordError(
            path, f"{where} has 1 field; it needs at least a record name and a number of signals"
        )
    if len(tokens) > 6:
        raise UnreadableRecordError(
            path, f"{where} has {len(tokens)} fields; a WFDB record line has at most 6 ({line[:60]!r})"
        )
    if not tokens[1].isdigit():
        raise UnreadableRecordError(path, f"{where}: number of signals {tokens[1]!r} is not a whole number")
    n_sig = int(tokens[1])
    fs: float | None = None
    if len(tokens) > 2:
        mf = _RX_FS.fullmatch(tokens[2])
        if mf is None:
            raise UnreadableRecordError(
                path, f"{where}: sampling frequency {tokens[2]!r} is not a positive number"
            )
        fs = float(mf.group("fs"))
        if not math.isfinite(fs) or fs <= 0:
            raise UnreadableRecordError(
                path, f"{where}: sampling frequency must be > 0 Hz, got {tokens[2]!r}"
            )
    n_samples: int | None = None
    if len(tokens) > 3:
        if not tokens[3].isdigit():
            raise UnreadableRecordError(
                path, f"{where}: number of samples {tokens[3]!r} is not a whole number"
            )
        n_samples = int(tokens[3])
    return {
        "record_name": m.group("name"),
        "n_sig": n_sig,
        "fs": fs,
        "n_samples": n_samples,
        "base_time": tokens[4] if len(tokens) > 4 else None,
        "base_date": tokens[5] if len(tokens) > 5 else None,
    }


def _parse_signal_line(line: str, lineno: int, path: Path) -> SignalSpec:
    spans = [(m.start(), m.group()) for m in re.finditer(r"\S+", line)]
    where = f"signal line {lineno}"
    if len(spans) < 2:
        raise UnreadableRecordError(
            path, f"{where} has only 1 field; it needs at least a file name and a format"
        )
    file_name = spans[0][1]
    mf = _RX_FMT.fullmatch(spans[1][1])
    if mf is None:
        raise UnreadableRecordError(path, f"{where}: format {spans[1][1]!r} is not a WFDB storage format")
    fmt = str(int(mf.group("fmt")))
    kw: dict[str, Any] = {
        "file_name": file_name,
        "fmt": fmt,
        "samples_per_frame": int(mf.group("spf")) if mf.group("spf") else 1,
        "skew": int(mf.group("skew") or 0),
        "byte_offset": int(mf.group("offset") or 0),
    }
    i = 2
    baseline: int | None = None
    if i < len(spans) and not spans[i][1][0].isalpha():
        mg = _RX_GAIN.fullmatch(spans[i][1])
        if mg is None:
            raise UnreadableRecordError(
                path, f"{where}: ADC gain {spans[i][1]!r} is not of the form gain(baseline)/units"
            )
        gain = float(mg.group("gain"))
        if not math.isfinite(gain):
            raise UnreadableRecordError(path, f"{where}: ADC gain {spans[i][1]!r} is not finite")
        kw["adc_gain"] = gain
        if mg.group("baseline") is not None:
            baseline = int(mg.group("baseline"))
        if mg.group("units"):
            kw["units"] = mg.group("units")
        i += 1
    for name in ("adc_res", "adc_zero", "init_value", "checksum", "block_size"):
        if i < len(spans) and _RX_INT.fullmatch(spans[i][1]):
            kw[name] = int(spans[i][1])
            i += 1
        else:
            break
    kw["description"] = line[spans[i][0] :].strip() if i < len(spans) else ""
    if baseline is None:
        baseline = kw.get("adc_zero") or 0
    kw["baseline"] = baseline
    return SignalSpec(**kw)
