"""WFDB records (``.hea`` + ``.dat``) and PhysioNet/CinC challenge records (``.hea`` + MATLAB v4 ``.mat``).

Decoding is done by ``wfdb-python`` (:func:`wfdb.rdrecord`, :func:`wfdb.rdann`), except for the most common
layout -- every signal in one file in format 212 or 16 (MIT-BIH, challenge ``.mat``) -- which numpy decodes
to the same values without importing wfdb and pandas (start-up of ``leanecg beats`` / ``stream``); this
module adds the validation around it so that every bad input ends in one :class:`~leanecg.errors.LeanECGError` line
instead of a ``wfdb`` traceback or, worse, a silently wrong signal:

* **Header.** Read as bytes and decoded as strict UTF-8 (``wfdb`` itself drops undecodable bytes
  without a word). The record line and every signal line are parsed here, strictly: a non-numeric or
  non-positive sampling frequency, a wrong number of signal lines, an unknown storage format or a
  garbled gain is an error (``wfdb``'s permissive regular expressions would read ``100 2 abc 650000`` as
  a 250 Hz record). A header without a sampling frequency is refused unless the caller passes ``fs``
  (WFDB would assume 250 Hz).
* **Signal files.** Every file named in the header must exist and be a regular file. Its size is
  checked against the length the header declares *before* decoding: ``offset + bytes(format,
  n_samples x signals in the file)``. Shorter means truncated. Longer is accepted only when the surplus
  cannot hold one more whole frame (the padding the 212/310/311 packings need); a file holding more
  frames than declared means the header lies about the length and is refused too (strict: reading only
  the declared part would silently drop data, or pair the header with the wrong file).
  Compressed formats (508/516/524, FLAC) have no fixed size and skip this check.
* **Challenge ``.mat`` files** (MATLAB v4, one ``val`` matrix of ``n_sig x n_samples``, as in
  PhysioNet/CinC 2017, 2020 and 2021) are checked for a valid v4 header, a matrix shape that matches the
  ``.hea`` and a byte offset that points just past the variable name.
* **Checksums.** When the header carries per-signal checksums, the 16-bit sum of each signal's digital
  samples must equal it (modulo 2**16; headers write it signed or unsigned). A header whose checksums
  are *all* ``0`` is treated as "no checksum recorded": the CinC 2017 conversion wrote ``0`` into all
  8,528 of its headers whatever the data, so ``0`` there is a placeholder, not a claim.
* **Invalid samples.** WFDB marks missing samples with a per-format sentinel (``-32768`` in format 16,
  ``-2048`` in 212, ...). They become ``NaN`` in the physical signal and are *kept*: short gaps are
  legitimate and are filled by :func:`leanecg.signal.gaps.interpolate_gaps` during preprocessing. Their
  count is in ``Record.meta["invalid_samples"]``. (CSV input, by contrast, may not contain NaN at all:
  see :mod:`leanecg.data.tabular`.)

Physical values are computed here from the digital samples as ``(d - baseline) / gain`` (exactly what
``wfdb``'s ``dac`` does, gain ``0`` meaning "uncalibrated", for which WFDB uses 200 adu per unit and
which is noted in ``meta["uncalibrated_leads"]``), so each record is decoded once and the checksum
costs one vectorised sum. Unit conversion to mV and lead-name canonicalisation happen in
:mod:`leanecg.data.loaders`.

Not supported (each refused with a clear message): multi-segment records, multi-frequency records
(more than one sample per frame), null signals (format 0) and signals in different formats sharing one
file.

Header parsing is in :mod:`leanecg.data.wfdb_header`, the signal-file checks in
:mod:`leanecg.data.wfdb_files`; their public names are importable from here too.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.data.record import Annotation, Record
from leanecg.data.wfdb_files import SUPPORTED_FORMATS, expected_signal_bytes, validate_signal_files
from leanecg.data.wfdb_header import DEFAULT_ADC_GAIN, SignalSpec, WfdbHeader, parse_header_text, read_header
from leanecg.errors import InvalidOptionError, UnreadableRecordError

__all__ = [
    "ANNOTATION_EXTENSIONS",
    "DEFAULT_ADC_GAIN",
    "INVALID_SAMPLE_VALUE",
    "SUPPORTED_FORMATS",
    "SignalSpec",
    "WfdbHeader",
    "expected_signal_bytes",
    "parse_header_text",
    "read_annotation_file",
    "read_header",
    "read_wfdb",
    "validate_signal_files",
]

#: Annotation files looked for beside a record, in order of preference (the first one present is read).
ANNOTATION_EXTENSIONS: tuple[str, ...] = ("atr", "qrs", "ecg")

#: Digital value WFDB stores for "no valid sample" (format 8 has none: it stores first differences).
INVALID_SAMPLE_VALUE: dict[str, int | None] = {
    "8": None,
    "80": -(2**7),
    "508": -(2**7),
    "310": -(2**9),
    "311": -(2**9),
    "212": -(2**11),
    "16": -(2**15),
    "61": -(2**15),
    "160": -(2**15),
    "516": -(2**15),
    "24": -(2**23),
    "524": -(2**23),
    "32": -(2**31),
}


# ---------------------------------------------------------------------------------------------------------
# reading


def read_wfdb(path: str | Path, fs: float | None = None, *, annotations: bool = True) -> Record:
    """Read a WFDB or challenge (``.mat`` + ``.hea``) record, validated.

    Args:
        path: the ``.hea`` file of the record.
        fs: expected sampling rate in Hz; must match the header's (or supplies it when the header has none).
        annotations: also read the first annotation file present (:data:`ANNOTATION_EXTENSIONS`).

    Returns:
        A :class:`Record` with ``signal`` float32 ``(n_samples, n_sig)`` in the header's physical units
        (NaN where a sample is marked invalid), lead names and units as written in the header,
        ``labels`` from ``#Dx:`` comments and parsed comments in ``meta``.

    Raises:
        LeanECGError: see the module docstring.
    """
    header = read_header(path)
    hpath = header.path
    record_fs = _resolve_fs(header, fs)
    n_samples = validate_signal_files(header)
    if n_samples == 0:
        raise UnreadableRecordError(hpath, "signal has no samples (record length 0)")
    digital = _decode_simple(header, n_samples)
    if digital is None:
        import wfdb  # heavy import (pandas): only for the formats and layouts _decode_simple leaves to it

        try:
            rec = wfdb.rdrecord(str(header.base), physical=False, return_res=_return_res(header))
        except Exception as exc:  # wfdb raises many types on corrupt input; never let them leak
            raise UnreadableRecordError(hpath, f"cannot decode signal: {_describe_exc(exc)}") from None
        _check_same_reading(header, rec)
        digital = np.asarray(rec.d_signal)
    if digital.ndim != 2 or digital.shape != (n_samples, header.n_sig):
        raise UnreadableRecordError(
            hpath,
            f"decoded {tuple(digital.shape)} samples x signals, but the header declares "
            f"({n_samples}, {header.n_sig})",
        )
    _verify_checksums(header, digital)
    signal, n_invalid, uncalibrated = _to_physical(header, digital)

    meta: dict[str, Any] = {
        "format": "wfdb-mat" if any(f.suffix.lower() == ".mat" for f in header.signal_files()) else "wfdb",
        "comments": list(header.comments),
    }
    labels = parse_comments(header.comments, meta)
    if header.base_time:
        meta["base_time"] = header.base_time
    if header.base_date:
        meta["base_date"] = header.base_date
    if n_invalid:
        meta["invalid_samples"] = n_invalid
    if uncalibrated:
        meta["uncalibrated_leads"] = uncalibrated
    annotation = None
    if annotations:
        annotation = _read_first_annotation(header.base, n_samples, meta)
    leads = [s.description.strip() or f"ch{k}" for k, s in enumerate(header.signals)]
    return Record(
        name=hpath.stem,
        signal=signal,
        fs=record_fs,
        leads=leads,
        units=[s.units for s in header.signals],
        path=header.base,
        labels=labels,
        annotation=annotation,
        meta=meta,
    )


def _decode_simple(header: WfdbHeader, n_samples: int) -> np.ndarray | None:
    """int16 ``(n_samples, n_sig)`` digital samples of the most common layout -- every signal in one file, in
    header order, format 212 or 16, no skew, one sample per frame (MIT-BIH, challenge ``.mat``) -- decoded
    with numpy alone (the values :func:`wfdb.rdrecord` gives, without importing wfdb and pandas); ``None``
    for anything else (left to wfdb). The file's size was checked by :func:`validate_signal_files`."""
    sigs = header.signals
    files = {s.file_name for s in sigs}
    if len(files) != 1 or {s.fmt for s in sigs} - {"212", "16"} or len({s.fmt for s in sigs}) != 1:
        return None
    if any(s.skew or s.samples_per_frame != 1 for s in sigs) or len({s.byte_offset for s in sigs}) != 1:
        return None
    fmt, offset, n_sig = sigs[0].fmt, sigs[0].byte_offset, len(sigs)
    file = header.signal_files()[0]
    n_values = n_samples * n_sig
    try:
        with file.open("rb") as fh:
            fh.seek(offset)
            raw = fh.read(expected_signal_bytes(fmt, n_values))
    except OSError as exc:
        raise UnreadableRecordError(file, f"cannot read: {exc.strerror or exc}") from None
    if fmt == "16":
        values = np.frombuffer(raw, dtype="<i2", count=n_values)
    else:  # 212: two 12-bit two's-complement samples in 3 bytes
        b = np.frombuffer(raw, dtype=np.uint8)
        pad = (-b.size) % 3
        if pad:
            b = np.concatenate((b, np.zeros(pad, np.uint8)))
        b = b.reshape(-1, 3).astype(np.int16)
        pair = np.empty((b.shape[0], 2), dtype=np.int16)
        pair[:, 0] = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
        pair[:, 1] = b[:, 2] | ((b[:, 1] & 0xF0) << 4)
        pair[pair > 2047] -= 4096
        values = pair.reshape(-1)[:n_values]
    if values.size != n_values:  # pragma: no cover - sizes were validated
        return None
    return values.reshape(n_samples, n_sig).copy()


def _check_same_reading(header: WfdbHeader, rec: Any) -> None:
    """wfdb-python re-parses the header with looser rules: make sure it decoded what we validated."""
    ours = [(s.fmt, s.byte_offset, s.samples_per_frame, s.skew) for s in header.signals]
    theirs = [
        (str(f), int(o or 0), int(p or 1), int(k or 0))
        for f, o, p, k in zip(rec.fmt, rec.byte_offset, rec.samps_per_frame, rec.skew, strict=True)
    ]
    if ours != theirs:  # pragma: no cover - would mean a header both parsers accept but read differently
        raise UnreadableRecordError(
            header.path, f"header is ambiguous: read as {ours} here but {theirs} by wfdb"
        )


_16_BIT_FORMATS = frozenset({"16", "61", "80", "160", "212", "310", "311", "508", "516"})


def _return_res(header: WfdbHeader) -> int:
    """Smallest integer width wfdb may decode into without overflow (int16 halves the work of int64)."""
    return 16 if all(s.fmt in _16_BIT_FORMATS for s in header.signals) else 32


def _resolve_fs(header: WfdbHeader, fs: float | None) -> float:
    if header.fs is None:
        if fs is None:
            raise InvalidOptionError(
                header.path,
                "header gives no sampling frequency; pass it with `fs`",
            )
        return float(fs)
    if fs is not None and not math.isclose(fs, header.fs, rel_tol=1e-9, abs_tol=1e-9):
        raise InvalidOptionError(header.path, f"fs={fs:g} Hz was given but the header says {header.fs:g} Hz")
    return float(header.fs)


def _verify_checksums(header: WfdbHeader, digital: np.ndarray) -> None:
    declared = [s.checksum for s in header.signals]
    if all(c in (None, 0) for c in declared):  # none, or CinC 2017's all-zero placeholders
        return
    for k, s in enumerate(header.signals):
        if s.checksum is None:
            continue
        got = int(digital[:, k].sum(dtype=np.int64)) & 0xFFFF  # per column: 10x faster than axis=0
        if (s.checksum & 0xFFFF) != int(got):
            name = s.description or f"signal {k + 1}"
            raise UnreadableRecordError(
                header.path,
                f"checksum mismatch for {name}: header says {s.checksum}, the samples in {s.file_name} "
                f"sum to {int(got) - 65536 if got > 32767 else int(got)} (mod 2^16); the file is corrupt "
                "or belongs to another record",
            )


def _to_physical(header: WfdbHeader, digital: np.ndarray) -> tuple[np.ndarray, int, list[str]]:
    """``(d - baseline) / gain`` per column (in float64, stored float32), NaN where the sample is invalid."""
    out = np.empty(digital.shape, dtype=np.float32)
    n_invalid = 0
    uncalibrated: list[str] = []
    for k, s in enumerate(header.signals):
        gain = s.adc_gain
        if gain == 0:
            gain = DEFAULT_ADC_GAIN
            uncalibrated.append(s.description or f"ch{k}")
        col = digital[:, k]
        phys = col.astype(np.float64)
        phys -= s.baseline
        phys /= gain
        sentinel = INVALID_SAMPLE_VALUE.get(s.fmt)
        if sentinel is not None:
            bad = col == sentinel
            if bad.any():
                phys[bad] = np.nan
                n_invalid += int(np.count_nonzero(bad))
        out[:, k] = phys
    return out, n_invalid, uncalibrated


_KEY_VALUE = re.compile(r"(?P<key>[A-Za-z][A-Za-z0-9 _./-]{0,39}?)\s*:\s*(?P<value>.*)")
_MITDB_FIRST = re.compile(r"(?P<age>[0-9]{1,3}|\?+)\s+(?P<sex>[MF]|\?)(?:\s|$)")
_RESERVED_META = {"comments", "format", "labels", "annotator", "invalid_samples", "uncalibrated_leads"}


def parse_comments(comments: tuple[str, ...] | list[str], meta: dict[str, Any]) -> list[str]:
    """Parse header comments into ``meta`` and return the ``#Dx:`` labels.

    ``Key: value`` lines become ``meta["key"]`` (lower case, blanks as ``_``): ``Age`` as a number
    (``None`` for ``NaN``/``Unknown``), everything else as the written string. ``Dx`` codes (comma
    separated) are returned as strings. MIT-BIH style first lines (``69 M 1085 1629 x1``) give ``age`` and
    ``sex``.
    """
    labels: list[str] = []
    for k, line in enumerate(comments):
        m = _KEY_VALUE.fullmatch(line)
        if m:
            key = re.sub(r"[\s./-]+", "_", m.group("key").strip()).lower()
            value = m.group("value").strip()
            if key == "dx":
                labels.extend(code.strip() for code in value.split(",") if code.strip())
            elif key == "age":
                meta["age"] = _parse_age(value)
            elif key not in _RESERVED_META:
                meta.setdefault(key, value)
            continue
        if k == 0:
            mm = _MITDB_FIRST.match(line)
            if mm:
                meta.setdefault("age", _parse_age(mm.group("age")))
                meta.setdefault("sex", mm.group("sex") if mm.group("sex") != "?" else None)
    return labels


def _parse_age(value: str) -> int | float | None:
    try:
        age = float(value)
    except ValueError:
        return None
    if not math.isfinite(age) or age < 0:
        return None
    return int(age) if age.is_integer() else age


# ---------------------------------------------------------------------------------------------------------
# annotations


def _read_first_annotation(base: Path, n_samples: int, meta: dict[str, Any]) -> Annotation | None:
    for ext in ANNOTATION_EXTENSIONS:
        file = base.with_name(f"{base.name}.{ext}")
        if file.is_file():
            meta["annotator"] = ext
            return read_annotation_file(file, n_samples)
    return None


def read_annotation_file(file: str | Path, n_samples: int | None = None) -> Annotation:
    """Read a WFDB annotation file (``100.atr``) with :func:`wfdb.rdann`, validated.

    Aux notes lose the trailing NUL byte of MIT format and the literal ``"None"`` some writers store.
    Sample indices must lie in ``[0, n_samples]`` when ``n_samples`` is given (``n_samples`` itself
    occurs: end-of-record markers in CPSC 2021).

    Raises:
        LeanECGError: unreadable or out-of-range annotation file.
    """
    import wfdb

    file = Path(file)
    if file.is_dir():
        raise UnreadableRecordError(file, "is a folder, but an annotation file was expected")
    try:
        size = file.stat().st_size
    except OSError as exc:
        raise UnreadableRecordError(file, f"cannot read: {exc.strerror or exc}") from None
    if size == 0:
        raise UnreadableRecordError(file, "annotation file is empty")
    base, ext = file.with_suffix(""), file.suffix.lstrip(".")
    try:
        ann = wfdb.rdann(str(base), ext)
    except Exception as exc:
        raise UnreadableRecordError(file, f"cannot read annotations: {_describe_exc(exc)}") from None
    sample = np.asarray(ann.sample, dtype=np.int64)
    symbols = [str(s) for s in (ann.symbol or [])]
    raw_aux = list(ann.aux_note or [])
    if len(raw_aux) != len(symbols):
        raw_aux = [""] * len(symbols)
    aux = ["" if a is None or a == "None" else str(a).rstrip("\x00").strip() for a in raw_aux]
    aux = ["" if a == "None" else a for a in aux]
    if len(sample) != len(symbols):
        raise UnreadableRecordError(
            file, f"garbled annotation file: {len(sample)} times but {len(symbols)} symbols"
        )
    if len(sample):
        if sample.min() < 0:
            raise UnreadableRecordError(file, f"annotation at negative sample {int(sample.min())}")
        if n_samples is not None and sample.max() > n_samples:
            raise UnreadableRecordError(
                file,
                f"annotation at sample {int(sample.max())} is beyond the end of the signal "
                f"({n_samples} samples): wrong annotation file for this record?",
            )
    return Annotation(sample=sample, symbol=symbols, aux_note=aux)


def _describe_exc(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
