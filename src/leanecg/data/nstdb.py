"""MIT-BIH Noise Stress Test Database: real ambulatory noise for augmentation and stress tests.

The three noise records ``bw`` (baseline wander), ``ma`` (muscle artefact, EMG) and ``em`` (electrode
motion) were recorded from active volunteers with the electrodes placed where the ECG is not visible:
2 channels, 360 Hz, 650000 samples (30:05 min), the same rate as MIT-BIH Arrhythmia records.

Units: the headers give ADC gain 0 ("uncalibrated"); WFDB then uses its default gain of 200 adu/mV,
which is also what the NSTDB documentation assumes when it mixes the noise into mitdb records 118 and
119 (both use 200 adu/mV and 11/12-bit resolution). :func:`load_noise` therefore returns millivolts on
the mitdb scale, ready to be scaled to a chosen SNR.

Layout: ``nstdb/bw.{hea,dat}``, ``ma.*``, ``em.*`` (the staged copy ``nstdb_noise/`` has ``bw`` and ``ma``).
There are no labels and no splits; :meth:`NstdbDataset.split` returns the noise records as ``all``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from leanecg.data.registry import Dataset, FetchPlan, read_header, register
from leanecg.errors import LeanECGError

NOISE_KINDS: dict[str, str] = {"bw": "baseline wander", "ma": "muscle artefact", "em": "electrode motion"}


class NstdbDataset(Dataset):
    name = "nstdb"
    title = "MIT-BIH Noise Stress Test Database"
    description = "MIT-BIH Noise Stress Test, noise records bw / ma / em (2 channels, 360 Hz, 30 min)"
    slug = "nstdb"
    version = "1.0.0"
    n_records_full = 15
    licence = "ODC-By 1.0"
    citation = (
        "Moody GB, Muldrow WE, Mark RG. A noise stress test for arrhythmia detectors. Computers in "
        "Cardiology 11:381-384 (1984)"
    )
    folders = ("nstdb", "nstdb_noise")
    label_names = tuple(NOISE_KINDS)
    split_names = ("all",)
    patient_ids_known = False

    def looks_like(self, folder: Path) -> bool:
        return any((folder / f"{k}.hea").is_file() for k in NOISE_KINDS)

    def records(self, root: str | Path) -> list[str]:
        folder = self._folder(root)
        return [k for k in NOISE_KINDS if (folder / f"{k}.hea").is_file()]

    def record_path(self, root: str | Path, record: str) -> Path:
        folder = self._folder(root)
        if record not in NOISE_KINDS:
            raise LeanECGError(record, f"unknown noise kind; choose one of {', '.join(NOISE_KINDS)}")
        path = folder / record
        if not (folder / f"{record}.hea").is_file():
            have = ", ".join(self.records(folder)) or "none"
            raise LeanECGError(path, f"noise record {record} is not in this folder (present: {have})")
        return path

    def labels(self, root: str | Path) -> dict[str, list[str]]:
        return {r: [r] for r in self.records(root)}

    def split(self, root: str | Path, name: str | None = None) -> dict[str, list[str]]:
        return self._select({"all": self.records(root)}, name)

    def _attach(self, root: str | Path, record: str, rec: Any) -> Any:
        rec.labels = [record]
        rec.meta["noise"] = NOISE_KINDS[record]
        return rec

    def describe(self, root: str | Path, split: str | None = None) -> dict[str, Any]:
        self.check_split(split)
        rows = []
        for r in self.records(root):
            h = read_header(self.record_path(root, r))
            rows.append(
                {
                    "record": r,
                    "noise": NOISE_KINDS[r],
                    "fs": h.fs,
                    "channels": len(h.leads),
                    "minutes": round(h.duration_s / 60.0, 2),
                }
            )
        return {
            "units": "ADC gain 0 in the headers: read with the WFDB default 200 adu/mV (mV on the mitdb scale)",
            "noise_records": rows,
        }

    def fetch_plan(self) -> FetchPlan:
        return FetchPlan(static_records=tuple(NOISE_KINDS))


def load_noise(root: str | Path, kind: str) -> tuple[np.ndarray, float]:
    """A noise record as ``(signal, fs)``: float32 ``(n_samples, 2)`` in mV (WFDB default gain 200 adu/mV
    where the header says 0) and the sampling rate in Hz (360).

    Args:
        root: the ``nstdb`` folder itself or a data dir containing it.
        kind: ``"bw"``, ``"ma"`` or ``"em"``.

    Raises:
        LeanECGError: unknown kind or missing record.
    """
    if kind not in NOISE_KINDS:
        raise LeanECGError(kind, f"unknown noise kind; choose one of {', '.join(NOISE_KINDS)}")
    rec = NSTDB.load(root, kind)
    signal = np.ascontiguousarray(rec.signal, dtype=np.float32)
    if signal.ndim != 2 or signal.shape[1] != 2:
        raise LeanECGError(
            NSTDB.record_path(root, kind), f"expected 2 noise channels, got shape {signal.shape}"
        )
    return signal, float(rec.fs)


NSTDB = register(NstdbDataset())
