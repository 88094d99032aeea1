"""MIT-BIH Arrhythmia Database: AAMI EC57 beat classes and the de Chazal et al. (2004) DS1/DS2 split.

Beat classes (ANSI/AAMI EC57, as tabulated by de Chazal, O'Dwyer and Reilly, IEEE TBME 51(7), 2004,
Table I) from the reference annotation symbols of the ``.atr`` files:

====  ==========================================================================================
N     ``N`` normal, ``L`` left / ``R`` right bundle branch block, ``e`` atrial escape, ``j`` nodal escape
S     ``A`` atrial premature, ``a`` aberrated atrial premature, ``J`` nodal premature,
      ``S`` supraventricular premature
V     ``V`` premature ventricular contraction, ``E`` ventricular escape
F     ``F`` fusion of ventricular and normal
Q     ``/`` paced, ``f`` fusion of paced and normal, ``Q`` unclassifiable
====  ==========================================================================================

Every other annotation is not a beat for this task. de Chazal's table contains exactly the 15 symbols
above, so ``B`` (bundle branch block beat, unspecified), ``r`` (R-on-T PVC), ``n`` (supraventricular
escape) and ``?`` (beat not classified during learning) are *not* mapped; none of them occurs in the
MIT-BIH reference annotations, so this choice does not change any count. ``!`` (ventricular flutter
wave, 472 in record 207) is a rhythm waveform, not a beat, and is excluded, as are ``+`` rhythm changes,
``~`` noise, ``"`` comments, ``x`` non-conducted P waves, ``|`` artefacts and ``[``/``]`` VF bounds.

Counting convention: every mapped beat annotation of the whole 30:05 min record is counted, including
beats in the first and last samples (no beats are dropped at the record edges). With that convention
the counts equal the published ones exactly: DS1 N 45866, S 944, V 3788, F 415, Q 8 and
DS2 N 44259, S 1837, V 3221, F 388, Q 7. Beat classifiers that cut a window around each beat must drop
the beats whose window does not fit themselves, and report how many they dropped.

Records 102, 104, 107 and 217 (paced) are excluded from both sets, as in de Chazal 2004. Patients: the
database has one record per subject except 201 and 202, which come from the same man; following de
Chazal they stay in their sets (201 in DS1, 202 in DS2), so DS1/DS2 share this one subject. The patient
id of a record is its record name (``mitdb_beats`` returns it; treat 201/202 as a known leak).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from leanecg.data.registry import (
    Dataset,
    FetchPlan,
    HeaderInfo,
    RemoteFile,
    read_annotation,
    read_header,
    read_records_file,
    register,
)

AAMI_CLASSES: tuple[str, ...] = ("N", "S", "V", "F", "Q")
AAMI_MAP: dict[str, str] = {
    **dict.fromkeys("NLRej", "N"),
    **dict.fromkeys("AaJS", "S"),
    **dict.fromkeys("VE", "V"),
    "F": "F",
    **dict.fromkeys("/fQ", "Q"),
}
PACED_RECORDS: tuple[str, ...] = ("102", "104", "107", "217")
DS1: tuple[str, ...] = (
    "101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122",
    "124", "201", "203", "205", "207", "208", "209", "215", "220", "223", "230",
)  # fmt: skip
DS2: tuple[str, ...] = (
    "100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210",
    "212", "213", "214", "219", "221", "222", "228", "231", "232", "233", "234",
)  # fmt: skip
SAME_SUBJECT: tuple[tuple[str, str], ...] = (("201", "202"),)
ALL_RECORDS: tuple[str, ...] = tuple(sorted(DS1 + DS2 + PACED_RECORDS))
PUBLISHED_COUNTS: dict[str, dict[str, int]] = {
    "DS1": {"N": 45866, "S": 944, "V": 3788, "F": 415, "Q": 8},
    "DS2": {"N": 44259, "S": 1837, "V": 3221, "F": 388, "Q": 7},
}


def aami_class(symbol: str) -> str | None:
    """The AAMI class (``N``, ``S``, ``V``, ``F``, ``Q``) of a beat annotation symbol; ``None`` if not a beat."""
    return AAMI_MAP.get(symbol)


class MitdbBeats(NamedTuple):
    """Beats of a set of MIT-BIH records (one entry per record, in the order asked for).

    Attributes:
        samples: per record, int64 ``(n_beats,)`` R-peak sample indices at 360 Hz.
        labels: per record, ``(n_beats,)`` array of AAMI classes (``"N"``, ``"S"``, ``"V"``, ``"F"``, ``"Q"``).
        patients: per record, the patient id (the record name; 201 and 202 are the same subject).
    """

    samples: list[np.ndarray]
    labels: list[np.ndarray]
    patients: list[str]


def mitdb_beats(root: str | Path, records: Sequence[str | int]) -> MitdbBeats:
    """AAMI-labelled beats of ``records`` from the reference annotations (no signal is read).

    Args:
        root: the ``mitdb`` folder itself, or a data dir that contains it.
        records: record names (``"100"`` or ``100``), e.g. :data:`DS1`.

    Returns:
        :class:`MitdbBeats` (unpacks as ``samples, labels, patients``).
    """
    folder = _folder(root)
    samples: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    patients: list[str] = []
    for rec in records:
        name = str(rec)
        ann = read_annotation(folder / name, "atr")
        keep = [i for i, s in enumerate(ann.symbol) if s in AAMI_MAP]
        samples.append(ann.sample[keep].astype(np.int64))
        labels.append(np.array([AAMI_MAP[ann.symbol[i]] for i in keep], dtype="<U1"))
        patients.append(name)
    return MitdbBeats(samples, labels, patients)


def aami_counts(root: str | Path, records: Sequence[str | int]) -> dict[str, int]:
    """Number of beats of each AAMI class (N, S, V, F, Q) over ``records``."""
    counts = Counter({c: 0 for c in AAMI_CLASSES})
    for lab in mitdb_beats(root, records).labels:
        counts.update(lab.tolist())
    return {c: int(counts[c]) for c in AAMI_CLASSES}


def _folder(root: str | Path) -> Path:
    return MITDB._folder(root)


class MitdbDataset(Dataset):
    name = "mitdb"
    title = "MIT-BIH Arrhythmia Database"
    description = (
        "MIT-BIH Arrhythmia, 48 two-lead 30-min records at 360 Hz, beat annotations (AAMI N/S/V/F/Q)"
    )
    slug = "mitdb"
    version = "1.0.0"
    n_records_full = 48
    licence = "ODC-By 1.0"
    citation = (
        "Moody GB, Mark RG. The impact of the MIT-BIH Arrhythmia Database. IEEE Eng Med Biol 20(3):45-50 "
        "(2001); Goldberger AL et al. PhysioNet. Circulation 101(23):e215-e220 (2000)"
    )
    folders = ("mitdb",)
    label_names = AAMI_CLASSES
    split_names = ("DS1", "DS2")
    patient_ids_known = True
    distinctive_layout = True

    def looks_like(self, folder: Path) -> bool:
        return folder.is_dir() and any(folder.glob("[12][0-9][0-9].atr"))

    def records(self, root: str | Path) -> list[str]:
        folder = _folder(root)
        listed = read_records_file(folder / "RECORDS") if (folder / "RECORDS").is_file() else None
        names = listed if listed is not None else [p.stem for p in folder.glob("*.hea")]
        return sorted(n for n in set(names) if (folder / f"{n}.hea").is_file())

    def record_path(self, root: str | Path, record: str) -> Path:
        return _folder(root) / str(record)

    def patients(self, root: str | Path) -> dict[str, str]:
        """Record name = patient id (201 and 202 are the same subject; see the module docstring)."""
        return {r: r for r in self.records(root)}

    def labels(self, root: str | Path) -> dict[str, list[str]]:
        """Per record, the AAMI classes present among its beats (beat-level labels: :func:`mitdb_beats`)."""
        recs = self.records(root)
        beats = mitdb_beats(root, recs)
        return {
            r: [c for c in AAMI_CLASSES if c in set(lab.tolist())]
            for r, lab in zip(recs, beats.labels, strict=True)
        }

    def split(self, root: str | Path, name: str | None = None) -> dict[str, list[str]]:
        """de Chazal DS1 (train) / DS2 (test), restricted to the records present; paced records excluded."""
        present = set(self.records(root))
        splits = {
            "DS1": sorted(r for r in DS1 if r in present),
            "DS2": sorted(r for r in DS2 if r in present),
        }
        return self._select(splits, name)

    def describe(self, root: str | Path, split: str | None = None) -> dict[str, Any]:
        folder = _folder(root)
        present = set(self.records(folder))
        rows = []
        for name in (split,) if split else self.split_names:
            self.check_split(name)
            wanted = DS1 if name == "DS1" else DS2
            recs = [r for r in wanted if r in present]
            counts = aami_counts(folder, recs)
            row: dict[str, Any] = {"split": name, "records": len(recs)}
            row.update(counts)
            row["total"] = sum(counts.values())
            missing = len(wanted) - len(recs)
            row["matches_published"] = "yes" if counts == PUBLISHED_COUNTS[name] else "no"
            if missing:
                row["missing_records"] = missing
            rows.append(row)
        return {
            "split_rule": "de Chazal 2004 inter-patient DS1 (train) / DS2 (test); paced 102, 104, 107, 217 excluded",
            "beat_classes": "AAMI EC57: N={N,L,R,e,j} S={A,a,J,S} V={V,E} F={F} Q={/,f,Q}",
            "aami_beats": rows,
        }

    def fetch_plan(self) -> FetchPlan:
        return FetchPlan(
            metadata=(
                RemoteFile("RECORDS", "RECORDS"),
                RemoteFile("ANNOTATORS", "ANNOTATORS", required=False),
            ),
            index="RECORDS",
            annotation_exts=("atr",),
        )

    def _attach(self, root: str | Path, record: str, rec: Any) -> Any:
        rec.meta.setdefault("patient_id", str(record))
        if rec.annotation is None:
            rec.annotation = read_annotation(self.record_path(root, record), "atr")
        return rec

    def header(self, root: str | Path, record: str) -> HeaderInfo:
        """The record's header (fs 360 Hz, leads, age/sex comment) without reading the signal."""
        return read_header(self.record_path(root, record))


MITDB = register(MitdbDataset())
