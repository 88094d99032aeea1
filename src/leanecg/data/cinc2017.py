"""PhysioNet/CinC Challenge 2017: AF classification from a short single-lead ECG (300 Hz, 9-61 s).

Layout (as in ``training2017.zip`` and ``leanecg data fetch cinc2017``)::

    cinc2017/training2017/A00001.hea, A00001.mat, ..., RECORDS, REFERENCE-v3.csv

Labels come from ``REFERENCE-v3.csv`` (the final, corrected labels; ``REFERENCE.csv`` is used only when
v3 is absent): ``N`` normal sinus rhythm, ``A`` atrial fibrillation, ``O`` other rhythm, ``~`` noise (too
noisy to classify). The record list is ``RECORDS`` (restricted to records whose files are present).

Split: the challenge's hidden test set was never released, so the field splits the public training set.
:meth:`Cinc2017Dataset.split` is a class-stratified 70/15/15 train/val/test record split, seed 2017:
within each class the records are ranked by SHA-256 of ``"2017:<record>"`` and cut with largest-remainder
rounding, so it is identical on every platform. The records carry no patient ids (a known limitation of
this dataset: one patient may have several records, so a record split can leak patients; every paper on
the public set shares this limitation).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from leanecg.data.registry import (
    Dataset,
    FetchPlan,
    RemoteFile,
    read_records_file,
    register,
    stratified_split,
)
from leanecg.errors import LeanECGError, MissingDataError

CLASSES: tuple[str, ...] = ("N", "A", "O", "~")
CLASS_NAMES: dict[str, str] = {"N": "normal", "A": "AF", "O": "other rhythm", "~": "noise"}
SPLIT_FRACTIONS: dict[str, float] = {"train": 0.70, "val": 0.15, "test": 0.15}
SPLIT_SEED = 2017
REFERENCE_FILES: tuple[str, ...] = ("REFERENCE-v3.csv", "REFERENCE.csv")


def read_reference(path: str | Path) -> dict[str, str]:
    """Parse a CinC 2017 ``record,label`` CSV (``REFERENCE*.csv`` or an answers file), in order.

    The one reader of this format in LeanECG: the dataset's labels and ``leanecg score cinc2017`` both use it.
    The official files have no header and two columns. A first line naming the columns (``record`` and
    ``label`` among them, any order, as ``leanecg predict`` writes: ``record,label,prob_N,...``) is read as
    a header: the records and labels are then taken from those columns and the other columns are ignored.
    The label ``noise`` (the spelling of ``~`` in LeanECG's CSV columns) is read as ``~``.

    Raises:
        LeanECGError: missing or unreadable file, a folder, non-UTF-8 text, a malformed row, an unknown label
            (naming file and line), a record listed twice, or no rows at all.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise MissingDataError(path, "file not found") from None
    except IsADirectoryError:
        raise LeanECGError(path, "is a folder, expected a record,label CSV file") from None
    except UnicodeDecodeError as exc:
        raise LeanECGError(path, f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x})") from None
    except OSError as exc:
        raise LeanECGError(path, f"cannot read: {exc.strerror or exc}") from None
    out: dict[str, str] = {}
    header: list[str] | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        parts = [p.strip() for p in line.split(",")]
        names = [p.lower() for p in parts]
        if header is None and not out and "record" in names and "label" in names:
            header = names  # e.g. record,label,prob_N,prob_A,prob_O,prob_noise (leanecg predict)
            continue
        if header is not None:
            if len(parts) != len(header):
                raise LeanECGError(
                    path,
                    f"line {lineno}: {len(parts)} fields, but the header line has {len(header)} ({','.join(header)})",
                )
            record, label = parts[header.index("record")], parts[header.index("label")]
            if not record:
                raise LeanECGError(path, f"line {lineno}: the record field is empty")
        elif len(parts) != 2 or not parts[0]:
            raise LeanECGError(path, f"line {lineno}: expected 'record,label', got {line!r}")
        else:
            record, label = parts
        if label == "noise":
            label = "~"
        if label not in CLASSES:
            raise LeanECGError(path, f"line {lineno}: unknown label {label!r} (expected N, A, O or ~)")
        if record in out:
            raise LeanECGError(path, f"line {lineno}: record {record} is listed twice")
        out[record] = label
    if not out:
        raise LeanECGError(path, "no record,label lines")
    return out


def _records_dir(folder: Path) -> Path:
    """The folder holding the ``.hea``/``.mat`` files (``training2017/`` or the dataset folder itself)."""
    for cand in (folder / "training2017", folder):
        if (cand / "RECORDS").is_file() or _has_header(cand):
            return cand
    return folder / "training2017"


def _has_header(folder: Path) -> bool:
    if not folder.is_dir():
        return False
    with os.scandir(folder) as it:
        return any(e.name.endswith(".hea") for e in it)


def _reference_file(folder: Path) -> Path:
    for cand_dir in (folder / "training2017", folder):
        for name in REFERENCE_FILES:
            if (cand_dir / name).is_file():
                return cand_dir / name
    raise LeanECGError(folder, "no REFERENCE-v3.csv (or REFERENCE.csv) found for CinC 2017 labels")


class Cinc2017Dataset(Dataset):
    name = "cinc2017"
    title = "AF Classification from a Short Single Lead ECG Recording: PhysioNet/CinC Challenge 2017"
    description = "PhysioNet/CinC 2017, 8,528 single-lead 300 Hz records, N / A (AF) / O (other) / ~ (noise)"
    slug = "challenge-2017"
    version = "1.0.0"
    n_records_full = 8528
    licence = "ODC-By 1.0"
    citation = (
        "Clifford GD et al. AF Classification from a Short Single Lead ECG Recording: the PhysioNet/Computing "
        "in Cardiology Challenge 2017. Computing in Cardiology 44 (2017), doi:10.22489/CinC.2017.065-469"
    )
    folders = ("cinc2017",)
    label_names = CLASSES
    split_names = ("train", "val", "test")
    patient_ids_known = False
    distinctive_layout = True

    def looks_like(self, folder: Path) -> bool:
        if not folder.is_dir():
            return False
        return any((d / n).is_file() for d in (folder / "training2017", folder) for n in REFERENCE_FILES)

    def reference(self, root: str | Path) -> dict[str, str]:
        """``record -> label`` from the reference file, for all records it lists (present or not)."""
        return read_reference(_reference_file(self._folder(root)))

    def records(self, root: str | Path) -> list[str]:
        rdir = _records_dir(self._folder(root))
        listed = read_records_file(rdir / "RECORDS") if (rdir / "RECORDS").is_file() else None
        names = listed if listed is not None else [p.stem for p in rdir.glob("*.hea")]
        return sorted(n for n in {Path(n).name for n in names} if (rdir / f"{n}.hea").is_file())

    def record_path(self, root: str | Path, record: str) -> Path:
        return _records_dir(self._folder(root)) / record

    def record_paths(self, root: str | Path, records: Sequence[str] | None = None) -> dict[str, Path]:
        rdir = _records_dir(self._folder(root))
        return {r: rdir / r for r in (self.records(root) if records is None else records)}

    def labels(self, root: str | Path) -> dict[str, list[str]]:
        """``record -> [label]`` for every present record.

        Raises:
            LeanECGError: a present record has no row in the reference file.
        """
        ref = self.reference(root)
        out = {}
        for r in self.records(root):
            if r not in ref:
                raise LeanECGError(_reference_file(self._folder(root)), f"no label for record {r}")
            out[r] = [ref[r]]
        return out

    def split(
        self, root: str | Path, name: str | None = None, seed: int = SPLIT_SEED
    ) -> dict[str, list[str]]:
        """Seeded (default 2017), class-stratified 70/15/15 train/val/test split of the present records."""
        single = {r: labs[0] for r, labs in self.labels(root).items()}
        return self._select(stratified_split(single, SPLIT_FRACTIONS, seed), name)

    def _attach(self, root: str | Path, record: str, rec: Any) -> Any:
        ref = self.reference(root)
        if record in ref:
            rec.labels = [ref[record]]
        return rec

    def describe(self, root: str | Path, split: str | None = None) -> dict[str, Any]:
        self.check_split(split)
        labels = self.labels(root)
        splits = self.split(root, split)
        rows = []
        for name, recs in splits.items():
            counts = Counter(labels[r][0] for r in recs)
            row: dict[str, Any] = {"split": name, "records": len(recs)}
            row.update({c: int(counts.get(c, 0)) for c in CLASSES})
            rows.append(row)
        ref_file = _reference_file(self._folder(root))
        return {
            "label_file": ref_file.name,
            "split_rule": f"class-stratified 70/15/15 record split, seed {SPLIT_SEED} (SHA-256 ranking)",
            "patient_ids": "none in this dataset: a record split may put one patient in two splits",
            "class_counts": rows,
        }

    def fetch_plan(self) -> FetchPlan:
        return FetchPlan(
            metadata=(RemoteFile("REFERENCE-v3.csv", "training2017/REFERENCE-v3.csv"),),
            index="training/RECORDS",
            remote_prefix="training/",
            local_prefix="training2017/",
            flatten=True,
            records_file="training2017/RECORDS",
        )


CINC2017 = register(Cinc2017Dataset())
