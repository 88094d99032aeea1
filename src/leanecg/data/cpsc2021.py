"""CPSC 2021: paroxysmal atrial fibrillation events in 2-lead (I, II) 200 Hz dynamic ECG records.

Layout: WFDB ``data_<patient>_<n>.{hea,dat,atr}`` anywhere below the dataset folder (the PhysioNet
release has ``training_I/`` and ``training_II/``; the staged sample is flat).

Record class: the last comment line of the header, one of ``non atrial fibrillation`` (``N``),
``paroxysmal atrial fibrillation`` (``AFp``) and ``persistent atrial fibrillation`` (``AFf``).

AF episodes come from the rhythm annotations of the ``.atr`` file: an annotation whose aux note is
``(AFIB`` (or ``(AFL``, which the official scoring code ``score_2021.py`` also treats as an AF onset)
opens an episode, the next ``(N`` closes it. Each episode is returned as ``(onset, offset)`` sample
indices at 200 Hz, the samples of those two annotations (inclusive), clipped to ``[0, n_samples - 1]``:
the release places the closing ``(N`` of a record that ends in AF at ``n_samples`` (one past the end).
An episode still open at the end of the record closes at ``n_samples - 1``; a ``(N`` with no open
episode is ignored. Persistent-AF records are one episode ``(0, n_samples - 1)``.

Split: CPSC 2021's test set is hidden; record names carry the patient, so the public training records
are split by patient: a seeded (2021) 70/15/15 train/val/test patient split (SHA-256 ranking).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.data.registry import (
    FetchPlan,
    HeaderIndexedDataset,
    HeaderInfo,
    group_split,
    read_annotation,
    read_header,
    record_stems,
    register,
)
from leanecg.errors import LeanECGError

CLASSES: dict[str, str] = {
    "non atrial fibrillation": "N",
    "paroxysmal atrial fibrillation": "AFp",
    "persistent atrial fibrillation": "AFf",
}
CLASS_CODES: tuple[str, ...] = ("N", "AFp", "AFf")
AF_ONSET_NOTES: tuple[str, ...] = ("(AFIB", "(AFL")
AF_OFFSET_NOTE = "(N"
SPLIT_FRACTIONS: dict[str, float] = {"train": 0.70, "val": 0.15, "test": 0.15}
SPLIT_SEED = 2021
_NAME = re.compile(r"^data_(\d+)_(\d+)$")


def record_class(header: HeaderInfo) -> str:
    """``N``, ``AFp`` or ``AFf`` from the last header comment.

    Raises:
        LeanECGError: no comment, or an unknown class text.
    """
    if not header.comments:
        raise LeanECGError(header.path, "no record class comment in the header")
    text = header.comments[-1].strip().lower()
    if text not in CLASSES:
        raise LeanECGError(
            header.path,
            f"unknown record class {header.comments[-1]!r} (expected one of: {', '.join(CLASSES)})",
        )
    return CLASSES[text]


def af_episodes_from_annotation(sample: np.ndarray, aux_note: list[str], n_samples: int) -> np.ndarray:
    """AF episodes ``(n_episodes, 2)`` int64 ``[onset, offset]`` from rhythm annotations (module docstring)."""
    last = max(int(n_samples) - 1, 0)
    episodes: list[tuple[int, int]] = []
    onset: int | None = None
    for s, note in zip(np.asarray(sample, dtype=np.int64), aux_note, strict=True):
        note = (note or "").strip()
        if note in AF_ONSET_NOTES and onset is None:
            onset = min(max(int(s), 0), last)
        elif note == AF_OFFSET_NOTE and onset is not None:
            episodes.append((onset, min(max(int(s), 0), last)))
            onset = None
    if onset is not None:
        episodes.append((onset, last))
    return np.asarray(episodes, dtype=np.int64).reshape(-1, 2)


def patient_of(record: str) -> str:
    """Patient id from a record name ``data_<patient>_<n>`` (the record name itself if it does not match)."""
    m = _NAME.match(record)
    return m.group(1) if m else record


def _order(record: str) -> tuple[int, int, str]:
    m = _NAME.match(record)
    return (int(m.group(1)), int(m.group(2)), record) if m else (-1, -1, record)


class Cpsc2021Dataset(HeaderIndexedDataset):
    name = "cpsc2021"
    title = "Paroxysmal Atrial Fibrillation Events Detection from Dynamic ECG Recordings: CPSC 2021"
    description = (
        "CPSC 2021, 1,436 two-lead 200 Hz Holter excerpts, AF episodes (onset/offset) and record class"
    )
    slug = "cpsc2021"
    version = "1.0.0"
    n_records_full = 1436
    licence = "CC BY 4.0"
    citation = (
        "Wang X, Ma C, Zhang X, Gao H, Clifford GD, Liu C. Paroxysmal Atrial Fibrillation Events Detection from "
        "Dynamic ECG Recordings: The 4th China Physiological Signal Challenge 2021. PhysioNet (2021), "
        "doi:10.13026/ksya-qw89"
    )
    folders = ("cpsc2021", "cpsc2021_sample")
    label_names = CLASS_CODES
    split_names = ("train", "val", "test")
    record_kind = "CPSC 2021 record"
    patient_ids_known = True

    def looks_like(self, folder: Path) -> bool:
        if not folder.is_dir():
            return False
        return any(p.with_suffix(".atr").is_file() for p in folder.rglob("data_*_*.hea"))

    def _stems(self, root: str | Path) -> dict[str, Path]:
        return record_stems(self._folder(root), "data_*_*.hea")

    def records(self, root: str | Path) -> list[str]:
        return sorted(self._stems(root), key=_order)

    def patients(self, root: str | Path) -> dict[str, str]:
        return {r: patient_of(r) for r in self.records(root)}

    def labels(self, root: str | Path) -> dict[str, list[str]]:
        """``record -> [record class]`` (``N``, ``AFp`` or ``AFf``) from the headers."""
        return {r: [record_class(read_header(p))] for r, p in sorted(self._stems(root).items())}

    def af_episodes(self, root: str | Path, record: str) -> np.ndarray:
        """``(n_episodes, 2)`` int64 ``[onset, offset]`` sample pairs at 200 Hz (no signal is read)."""
        path = self.record_path(root, record)
        header = read_header(path)
        ann = read_annotation(path, "atr")
        return af_episodes_from_annotation(ann.sample, ann.aux_note, header.n_samples)

    def split(
        self, root: str | Path, name: str | None = None, seed: int = SPLIT_SEED
    ) -> dict[str, list[str]]:
        """Seeded (default 2021) 70/15/15 train/val/test split by patient."""
        return self._select(group_split(self.patients(root), SPLIT_FRACTIONS, seed), name)

    def _attach(self, root: str | Path, record: str, rec: Any) -> Any:
        path = self.record_path(root, record)
        header = read_header(path)
        rec.labels = [record_class(header)]
        if rec.annotation is None:
            rec.annotation = read_annotation(path, "atr")
        rec.meta.update(
            {
                "patient_id": patient_of(record),
                "af_episodes": af_episodes_from_annotation(
                    rec.annotation.sample, rec.annotation.aux_note, rec.n_samples
                ).tolist(),
            }
        )
        return rec

    def describe(self, root: str | Path, split: str | None = None) -> dict[str, Any]:
        self.check_split(split)
        labels = self.labels(root)
        rows = []
        for name, recs in self.split(root, split).items():
            counts = Counter(labels[r][0] for r in recs)
            n_episodes = 0
            af_s = 0.0
            total_s = 0.0
            for r in recs:
                header = read_header(self.record_path(root, r))
                ep = self.af_episodes(root, r)
                n_episodes += len(ep)
                af_s += float(np.sum(ep[:, 1] - ep[:, 0] + 1)) / header.fs if len(ep) else 0.0
                total_s += header.duration_s
            row: dict[str, Any] = {
                "split": name,
                "records": len(recs),
                "patients": len({patient_of(r) for r in recs}),
            }
            row.update({c: int(counts.get(c, 0)) for c in CLASS_CODES})
            row["af_episodes"] = n_episodes
            row["af_hours"] = round(af_s / 3600.0, 3)
            row["hours"] = round(total_s / 3600.0, 3)
            rows.append(row)
        return {
            "split_rule": f"patient split 70/15/15, seed {SPLIT_SEED} (patient = <p> in data_<p>_<n>)",
            "episode_rule": "(AFIB or (AFL opens, (N closes; samples of those annotations, clipped to the record",
            "record_classes": rows,
        }

    def fetch_plan(self) -> FetchPlan:
        return FetchPlan(index="RECORDS", annotation_exts=("atr",))


CPSC2021 = register(Cpsc2021Dataset())
