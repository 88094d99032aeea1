"""The in-memory ECG record every loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Annotation:
    """Beat / rhythm annotations of a record.

    Attributes:
        sample: int64 array ``(n,)`` of sample indices (at the record's ``fs``).
        symbol: list of ``n`` annotation symbols (WFDB codes such as ``"N"``, ``"V"``, ``"+"``).
        aux_note: list of ``n`` auxiliary strings (rhythm labels such as ``"(AFIB"``; ``""`` when none).
    """

    sample: np.ndarray
    symbol: list[str]
    aux_note: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sample = np.asarray(self.sample, dtype=np.int64)
        if not self.aux_note:
            self.aux_note = [""] * len(self.symbol)


@dataclass
class Record:
    """One ECG recording.

    Attributes:
        name: record name (file stem, e.g. ``"100"`` or ``"A00001"``).
        signal: float32 array ``(n_samples, n_leads)`` in millivolts (``units`` says otherwise if not).
        fs: sampling frequency in Hz (> 0).
        leads: lead names, one per column (canonical spelling, e.g. ``"II"``, ``"aVR"``, ``"V1"``).
        units: physical unit per lead (normally ``"mV"``).
        path: the file the record was read from (without extension for WFDB records), if any.
        labels: record-level labels in the dataset's own vocabulary (e.g. ``["A"]`` for CinC 2017,
            SNOMED codes for CinC 2021).
        annotation: beat / rhythm annotations, if the record has them.
        meta: anything else the source knows (``age``, ``sex``, ``patient_id``, header comments...).
    """

    name: str
    signal: np.ndarray
    fs: float
    leads: list[str]
    units: list[str] = field(default_factory=list)
    path: Path | None = None
    labels: list[str] = field(default_factory=list)
    annotation: Annotation | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.signal = np.asarray(self.signal, dtype=np.float32)
        if self.signal.ndim == 1:
            self.signal = self.signal[:, None]
        if not self.units:
            self.units = ["mV"] * self.signal.shape[1]

    @property
    def n_samples(self) -> int:
        return int(self.signal.shape[0])

    @property
    def n_leads(self) -> int:
        return int(self.signal.shape[1])

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.n_samples / float(self.fs)
