"""Validation of a WFDB record's signal files against its header, before decoding: existence, sizes
(truncated or over-long files), formats, and the MATLAB v4 header of challenge ``.mat`` files (see
:mod:`leanecg.data.wfdb_io` for the rules).
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

from leanecg.data.wfdb_header import SignalSpec, WfdbHeader
from leanecg.errors import MissingDataError, UnreadableRecordError

__all__ = ["SUPPORTED_FORMATS", "expected_signal_bytes", "validate_signal_files"]

#: Storage formats wfdb-python decodes (header(5) / signal(5) of the WFDB software package).
SUPPORTED_FORMATS: frozenset[str] = frozenset(
    {"8", "16", "24", "32", "61", "80", "160", "212", "310", "311", "508", "516", "524"}
)
_COMPRESSED_FORMATS = frozenset({"508", "516", "524"})
_BYTES_PER_SAMPLE = {"8": 1, "16": 2, "24": 3, "32": 4, "61": 2, "80": 1, "160": 2}


def expected_signal_bytes(fmt: str, n_values: int) -> int:
    """Bytes a signal file needs for ``n_values`` stored samples (all signals of the file, all frames).

    Mirrors the WFDB packings: format 212 packs two 12-bit samples in 3 bytes, 310/311 three 10-bit
    samples in 4 bytes (310 pads a trailing pair to a whole 4-byte word), the others use whole bytes.
    """
    if fmt == "212":
        return math.ceil(n_values * 1.5)
    if fmt in ("310", "311"):
        if fmt == "310" and n_values % 3 == 2:
            return 4 * math.ceil(n_values * 4 / 3 / 4)
        return math.ceil(n_values * 4 / 3)
    if fmt in _BYTES_PER_SAMPLE:
        return n_values * _BYTES_PER_SAMPLE[fmt]
    raise ValueError(f"format {fmt} has no fixed size")


def _values_in_bytes(fmt: str, n_bytes: int) -> int:
    """How many whole samples ``n_bytes`` of data can hold in format ``fmt``."""
    if fmt == "212":
        return (n_bytes // 3) * 2 + (1 if n_bytes % 3 >= 2 else 0)
    if fmt in ("310", "311"):
        return (n_bytes // 4) * 3 + {0: 0, 1: 0, 2: 1, 3: 2}[n_bytes % 4]
    return n_bytes // _BYTES_PER_SAMPLE[fmt]


def validate_signal_files(header: WfdbHeader) -> int:
    """Check that every signal file exists and has exactly the size the header implies.

    Returns:
        The number of samples per signal (from the header, or from the file size when the header
        omits it).

    Raises:
        LeanECGError: naming the file, for anything that would make decoding fail or lie.
    """
    hpath = header.path
    if header.n_sig == 0:
        raise UnreadableRecordError(hpath, "header declares no signals")
    for k, s in enumerate(header.signals, start=1):
        if s.fmt == "0" or s.file_name == "~":
            raise UnreadableRecordError(hpath, f"signal {k} is a null signal (format 0, no stored samples)")
        if s.fmt not in SUPPORTED_FORMATS:
            raise UnreadableRecordError(
                hpath,
                f"signal {k}: unsupported WFDB format {s.fmt} "
                f"(supported: {', '.join(sorted(SUPPORTED_FORMATS, key=int))})",
            )
        if s.samples_per_frame != 1:
            raise UnreadableRecordError(
                hpath,
                f"signal {k} has {s.samples_per_frame} samples per frame: "
                "multi-frequency WFDB records are not supported",
            )
        if s.file_name in ("-", "") or s.block_size:
            raise UnreadableRecordError(
                hpath, f"signal {k} is read from a stream or block device; not supported"
            )

    n_samples = header.n_samples
    for file in header.signal_files():
        group = [s for s in header.signals if s.file_name == file.name]
        fmts = sorted({s.fmt for s in group})
        if len(fmts) > 1:
            raise UnreadableRecordError(
                file, f"signals stored in one file use different formats ({', '.join(fmts)})"
            )
        fmt = fmts[0]
        if file.is_dir():
            raise UnreadableRecordError(file, f"is a folder, but {hpath.name} names it as its signal file")
        if not file.exists():
            raise MissingDataError(file, f"signal file named in {hpath.name} is missing")
        if file.suffix.lower() == ".mat":
            _check_mat_v4(file, header, group)
        if fmt in _COMPRESSED_FORMATS:
            continue
        offset = group[0].byte_offset
        frame = len(group)
        try:
            size = file.stat().st_size
        except OSError as exc:
            raise UnreadableRecordError(file, f"cannot read: {exc.strerror or exc}") from None
        if size < offset:
            raise UnreadableRecordError(
                file, f"is truncated: {size} bytes, shorter than its {offset}-byte header"
            )
        if n_samples is None:  # WFDB: length not in the header -> whatever the file holds
            n_samples = _values_in_bytes(fmt, size - offset) // frame
            continue
        need = offset + expected_signal_bytes(fmt, n_samples * frame)
        if size < need:
            held = _values_in_bytes(fmt, size - offset) // frame
            raise UnreadableRecordError(
                file,
                f"is truncated: {size} bytes, but {hpath.name} declares {n_samples} samples x {frame} "
                f"signal(s) in format {fmt} = {need} bytes (the file holds {held} complete samples)",
            )
        one_more = offset + expected_signal_bytes(fmt, (n_samples + 1) * frame)
        if size >= one_more > need:
            held = _values_in_bytes(fmt, size - offset) // frame
            raise UnreadableRecordError(
                file,
                f"holds {held} samples per signal but {hpath.name} declares {n_samples}: "
                "the header's record length is wrong (or the file belongs to another record)",
            )
    assert n_samples is not None
    return n_samples


# MATLAB v4: type = M*1000 + O*100 + P*10 + T; M machine (0 little-endian, 1 big-endian), P element type.
_MAT_ELEMENT_FORMAT = {(0, 3): "16", (0, 2): "32", (1, 3): "61"}


def _check_mat_v4(file: Path, header: WfdbHeader, group: list[SignalSpec]) -> None:
    """Validate the MATLAB v4 matrix header of a challenge ``.mat`` signal file."""
    try:
        with file.open("rb") as fh:
            head = fh.read(20)
    except OSError as exc:
        raise UnreadableRecordError(file, f"cannot read: {exc.strerror or exc}") from None
    if head[:6] == b"MATLAB":
        raise UnreadableRecordError(
            file, "is a MATLAB 5+ file; challenge records store 'val' as a MATLAB v4 matrix (save -v4)"
        )
    if len(head) < 20:
        raise UnreadableRecordError(
            file, f"is truncated: {len(head)} bytes, shorter than a MATLAB v4 matrix header"
        )
    mtype, mrows, ncols, imagf, namlen = struct.unpack("<5i", head)
    m_, o_, p_, t_ = mtype // 1000, (mtype // 100) % 10, (mtype // 10) % 10, mtype % 10
    if not (0 <= mtype < 5000 and o_ == 0 and t_ == 0 and imagf == 0 and 0 < namlen < 64 and mrows >= 0):
        raise UnreadableRecordError(file, "is not a MATLAB v4 real matrix (bad matrix header)")
    fmt = _MAT_ELEMENT_FORMAT.get((m_, p_))
    if fmt is None or fmt != group[0].fmt:
        raise UnreadableRecordError(
            file,
            f"MATLAB element type {mtype} does not match WFDB format {group[0].fmt} in {header.path.name}",
        )
    if mrows != len(group):
        raise UnreadableRecordError(
            file, f"holds a {mrows} x {ncols} matrix but {header.path.name} declares {len(group)} signal(s)"
        )
    if header.n_samples is not None and ncols != header.n_samples:
        raise UnreadableRecordError(
            file,
            f"holds {ncols} samples per signal but {header.path.name} declares {header.n_samples}: "
            "the header's record length is wrong (or the file belongs to another record)",
        )
    if group[0].byte_offset != 20 + namlen:
        raise UnreadableRecordError(
            file,
            f"{header.path.name} says the data start at byte {group[0].byte_offset}, "
            f"but the MATLAB v4 header ends at byte {20 + namlen}",
        )
