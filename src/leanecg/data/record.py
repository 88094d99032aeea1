"""The in-memory ECG record every loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Scale factors from voltage units (as written in headers, lower-cased) to millivolts.
_MV_PER_UNIT = {
    "mv": 1.0,
    "millivolt": 1.0,
    "millivolts": 1.0,
    "uv": 1e-3,
    "µv": 1e-3,  # micro sign U+00B5
    "μv": 1e-3,  # Greek mu U+03BC
    "microvolt": 1e-3,
    "microvolts": 1e-3,
    "nv": 1e-6,
    "v": 1e3,
    "volt": 1e3,
    "volts": 1e3,
}


def millivolt_scale(unit: str) -> float | None:
    """Factor that converts values in ``unit`` to mV (``"uV"`` -> 0.001), ``None`` if not a voltage.

    Case-insensitive (``"MV"`` is read as mV: megavolts do not occur in ECG files).
    """
    return _MV_PER_UNIT.get(unit.strip().lower())


@dataclass
class Annotation:
    """Beat / rhythm annotations of a record.

    Attributes:
        sample: int64 array ``(n,)`` of sample indices (at the record's ``fs``); ``0 <= sample <=
            n_samples`` (an end-of-record marker may sit exactly at ``n_samples``, as in CPSC 2021).
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
            NaN marks samples a WFDB record flags as invalid (``meta["invalid_samples"]`` counts them);
            fill short gaps with :func:`leanecg.signal.gaps.interpolate_gaps`.
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
