"""Sources of a stream: consecutive chunks of samples from a loaded record or from text (e.g. stdin).

* :func:`record_chunks`: a loaded record cut strictly chunk-wise (each chunk a copy, so a consumer never
  sees samples beyond it).
* :func:`text_chunks`: samples as text, one per line, leads separated by commas, chunked as the lines
  arrive (``leanecg stream -``).
* :func:`open_source`: either, from what ``leanecg stream`` is given (a record file or ``-``).

Chunks are float ``(n, n_leads)`` arrays in mV; they feed :class:`leanecg.deploy.stream.StreamClassifier`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

import numpy as np

from leanecg.errors import LeanECGError
from leanecg.signal import filters

if TYPE_CHECKING:
    from leanecg.data.record import Record

__all__ = ["StreamSource", "chunk_samples", "open_source", "record_chunks", "text_chunks"]


def record_chunks(record: Record, chunk_s: float) -> Iterator[np.ndarray]:
    """Consecutive ``(n, n_leads)`` chunks of ``chunk_s`` seconds of a loaded record (the last may be
    shorter); each chunk is a copy, so the consumer never sees samples beyond it."""
    n = chunk_samples(chunk_s, record.fs)
    sig = record.signal if record.signal.ndim == 2 else record.signal[:, None]
    for a in range(0, sig.shape[0], n):
        yield np.array(sig[a : a + n])


def chunk_samples(chunk_s: float, fs: float) -> int:
    """Samples per chunk of ``chunk_s`` seconds at ``fs`` Hz (at least 1); :class:`LeanECGError` naming
    ``chunk_s`` unless it is a positive number."""
    if not (isinstance(chunk_s, int | float) and math.isfinite(chunk_s) and chunk_s > 0):
        raise LeanECGError("chunk_s", f"must be a positive number of seconds, got {chunk_s!r}")
    return max(1, round(chunk_s * fs))


_NUM = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


def text_chunks(
    stream: IO[str], fs: float, chunk_s: float, source: str = "-"
) -> tuple[list[str], Iterator[np.ndarray]]:
    """Samples as text, one per line, leads separated by commas (e.g. stdin).

    An optional first line of lead names (any line that is not all numbers) names the columns; without
    it the columns are named ``0``, ``1``, ... Blank lines are skipped.

    Returns:
        ``(lead_names, chunks)``: ``chunks`` yields float64 ``(n, n_leads)`` arrays of ``chunk_s``
        seconds as the lines arrive.

    Raises:
        LeanECGError naming ``source``: no samples, a line with a different number of values, a value
        that is not a number.
    """
    fs = filters.check_fs(fs)
    n = chunk_samples(chunk_s, fs)
    line_no = 0
    first: str | None = None
    for raw in stream:
        line_no += 1
        if raw.strip():
            first = raw
            break
    if first is None:
        raise LeanECGError(source, "no samples (expected one sample per line, leads separated by commas)")
    cells = [c.strip() for c in first.split(",")]
    if all(_NUM.match(c) for c in cells):
        names = [str(k) for k in range(len(cells))]
        pending: list[str] = [first]
    else:
        names = [c or str(k) for k, c in enumerate(cells)]
        pending = []
    width = len(names)
    start_line = line_no - len(pending)

    def parse(lines: list[str], at: int) -> np.ndarray:
        out = np.empty((len(lines), width))
        for k, line in enumerate(lines):
            vals = line.split(",")
            if len(vals) != width:
                raise LeanECGError(source, f"line {at + k + 1} has {len(vals)} value(s), expected {width}")
            try:
                out[k] = [float(v) for v in vals]
            except ValueError:
                raise LeanECGError(
                    source, f"line {at + k + 1} is not {width} comma-separated number(s)"
                ) from None
        return out

    def gen() -> Iterator[np.ndarray]:
        nonlocal pending
        at = start_line
        for raw in stream:
            if raw.strip():
                pending.append(raw)
            if len(pending) >= n:
                yield parse(pending, at)
                at += len(pending)
                pending = []
        if pending:
            yield parse(pending, at)

    return names, gen()


@dataclass
class StreamSource:
    """An opened stream: its name, rate, lead names and chunk iterator (:func:`open_source`)."""

    name: str
    fs: float
    leads: list[str]
    chunks: Iterator[np.ndarray]
    source: str
    n_samples: int | None = None  # the stream's length when known in advance (a record), else None


def open_source(source: str, fs: float | None, chunk_s: float, stdin: IO[str] | None = None) -> StreamSource:
    """Open ``source`` for streaming: a record file (any format :func:`leanecg.data.load_record` reads,
    cut into chunks of ``chunk_s`` seconds) or ``"-"`` for text samples on ``stdin`` (:func:`text_chunks`;
    ``fs`` required).

    Raises:
        LeanECGError: ``-`` without ``fs``; a folder; anything :func:`~leanecg.data.load_record` refuses.
    """
    from pathlib import Path

    chunk_samples(chunk_s, fs or 1.0)
    if source == "-":
        if fs is None:
            raise LeanECGError("fs", "is required when samples come from stdin (-)")
        import sys

        names, chunks = text_chunks(stdin if stdin is not None else sys.stdin, fs, chunk_s, source="-")
        return StreamSource("stdin", float(fs), names, chunks, "-")
    from leanecg.data.loaders import load_record

    path = Path(source)
    if path.is_dir():
        raise LeanECGError(path, "is a folder; `leanecg stream` takes one record (or - for stdin)")
    record = load_record(path, fs=fs, annotations=False)
    return StreamSource(
        record.name,
        float(record.fs),
        list(record.leads),
        record_chunks(record, chunk_s),
        str(path),
        n_samples=int(record.signal.shape[0]),
    )
