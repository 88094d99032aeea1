"""PhysioNet/CinC Challenge 2021: 12-lead ECGs from 8 sources with SNOMED CT diagnoses (multi-label).

Layout: challenge ``.hea`` + ``.mat`` pairs anywhere below the dataset folder (the PhysioNet release has
``training/<source>/g<N>/``; the staged sample is flat). Each header carries ``# Age:``, ``# Sex:`` and
``# Dx: <code>,<code>,...``.

Labels: the 26 scored classes of the official evaluation (``weights.csv`` shipped in
``leanecg/data/resources``, see its README), in ``weights.csv`` order. A class may stand for several
equivalent codes (``713427006|59118001`` CRBBB/RBBB, ``284470004|63593006`` PAC/SVPB,
``427172004|17338001`` PVC/VPB, ``733534002|164909002`` CLBBB/LBBB), exactly as the official
``evaluate_model.py`` treats them: a record is positive for a class when any of its codes is. Codes in
``dx_mapping_unscored.csv`` are valid but not scored (they are kept in :attr:`Record.labels`); a code in
neither table is an error naming the header file and the code.

Sources are told apart by the record-name prefix (``A`` CPSC 2018, ``Q`` CPSC-Extra, ``I``
St Petersburg INCART, ``S`` PTB, ``HR`` PTB-XL, ``E`` Georgia, ``JS`` Chapman-Shaoxing and Ningbo).

Split: the challenge's validation and test sets are hidden, and the challenge headers carry no patient
ids, so the public training set is split by record: a seeded (2021) 70/15/15 train/val/test split,
stratified by source database (SHA-256 ranking, identical on every platform).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.data.registry import (
    FetchPlan,
    HeaderIndexedDataset,
    HeaderInfo,
    read_header,
    record_stems,
    register,
    stratified_split,
)
from leanecg.errors import LeanECGError, MissingDataError

RESOURCE_FILES: tuple[str, ...] = ("weights.csv", "dx_mapping_scored.csv", "dx_mapping_unscored.csv")
EQUIVALENT_CODES: tuple[tuple[str, str], ...] = (
    ("713427006", "59118001"),
    ("284470004", "63593006"),
    ("427172004", "17338001"),
    ("733534002", "164909002"),
)
SOURCES: tuple[tuple[str, str], ...] = (  # (record-name prefix, source), longest prefixes first
    ("HR", "PTB-XL"),
    ("JS", "Chapman-Shaoxing/Ningbo"),
    ("A", "CPSC 2018"),
    ("Q", "CPSC-Extra"),
    ("I", "St Petersburg INCART"),
    ("S", "PTB"),
    ("E", "Georgia"),
)
SPLIT_FRACTIONS: dict[str, float] = {"train": 0.70, "val": 0.15, "test": 0.15}
SPLIT_SEED = 2021


def resource_path(name: str) -> Path:
    """Path of a shipped scoring table (``weights.csv``, ``dx_mapping_scored.csv``, ``dx_mapping_unscored.csv``)."""
    if name not in RESOURCE_FILES:
        raise LeanECGError(name, f"unknown resource; shipped: {', '.join(RESOURCE_FILES)}")
    return Path(str(resources.files("leanecg.data").joinpath("resources", name)))


def _read_resource(name: str) -> str:
    return resources.files("leanecg.data").joinpath("resources", name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class ScoredClass:
    """One of the 26 scored classes.

    Attributes:
        name: the ``weights.csv`` column name (codes joined by ``|``), e.g. ``"713427006|59118001"``.
        codes: the SNOMED CT codes it stands for.
        abbreviation: e.g. ``"CRBBB|RBBB"``.
        description: e.g. ``"complete right bundle branch block"``.
    """

    name: str
    codes: tuple[str, ...]
    abbreviation: str
    description: str


@cache
def _mapping(name: str) -> dict[str, tuple[str, str]]:
    """``code -> (abbreviation, description)`` from a dx mapping table."""
    rows = csv.DictReader(io.StringIO(_read_resource(name)))
    return {r["SNOMEDCTCode"].strip(): (r["Abbreviation"].strip(), r["Dx"].strip()) for r in rows}


@cache
def scored_classes() -> tuple[ScoredClass, ...]:
    """The 26 scored classes in ``weights.csv`` order."""
    header = next(csv.reader(io.StringIO(_read_resource("weights.csv"))))
    scored = _mapping("dx_mapping_scored.csv")
    out = []
    for col in header[1:]:
        codes = tuple(c.strip() for c in col.split("|"))
        abbr = "|".join(scored[c][0] if c in scored else c for c in codes)
        desc = " / ".join(dict.fromkeys(scored[c][1] for c in codes if c in scored))
        out.append(ScoredClass(name=col.strip(), codes=codes, abbreviation=abbr, description=desc))
    return tuple(out)


def weights_matrix() -> np.ndarray:
    """The official ``(26, 26)`` float64 reward matrix, rows/columns in :func:`scored_classes` order."""
    rows = list(csv.reader(io.StringIO(_read_resource("weights.csv"))))
    return np.array([[float(v) for v in r[1:]] for r in rows[1:]], dtype=np.float64)


@cache
def _code_to_class() -> dict[str, int]:
    return {code: i for i, cls in enumerate(scored_classes()) for code in cls.codes}


def known_codes() -> frozenset[str]:
    """Every valid SNOMED CT code: scored (incl. equivalents) and unscored."""
    return frozenset(_mapping("dx_mapping_scored.csv")) | frozenset(_mapping("dx_mapping_unscored.csv"))


def snomed_abbreviations() -> dict[str, str]:
    """``SNOMED CT code -> abbreviation`` for every code of both dx mapping tables (e.g. ``"426177001": "SB"``)."""
    merged = {**_mapping("dx_mapping_unscored.csv"), **_mapping("dx_mapping_scored.csv")}
    return {code: abbr for code, (abbr, _) in merged.items()}


def is_scored(code: str) -> bool:
    return code in _code_to_class()


def class_index(code: str) -> int | None:
    """Index of the scored class a code belongs to (equivalent codes share one), ``None`` if unscored."""
    return _code_to_class().get(str(code))


def check_codes(codes: list[str], source: str | Path) -> list[str]:
    """Return ``codes`` unchanged after checking each is a known SNOMED CT code.

    Raises:
        LeanECGError: a code in neither dx mapping table (names ``source`` and the code).
    """
    valid = known_codes()
    for code in codes:
        if code not in valid:
            raise LeanECGError(
                source,
                f"unknown SNOMED CT code {code} in '# Dx:' (not in the challenge's dx_mapping_scored.csv "
                "or dx_mapping_unscored.csv)",
            )
    return codes


def codes_to_multihot(codes: list[str], source: str | Path = "#Dx") -> np.ndarray:
    """uint8 ``(26,)`` multi-hot vector over :func:`scored_classes` for a record's codes (unscored ignored)."""
    y = np.zeros(len(scored_classes()), dtype=np.uint8)
    for code in check_codes(list(codes), source):
        idx = class_index(code)
        if idx is not None:
            y[idx] = 1
    return y


def parse_dx(header: HeaderInfo) -> list[str]:
    """The SNOMED CT codes of a challenge header's ``# Dx:`` line (checked; order kept, duplicates dropped).

    Raises:
        LeanECGError: no ``# Dx:`` line, an empty one, or an unknown code.
    """
    value = header.comment_value("Dx")
    if value is None:
        raise LeanECGError(header.path, "no '# Dx:' line in the header")
    codes = list(dict.fromkeys(c.strip() for c in value.split(",") if c.strip()))
    if not codes:
        raise LeanECGError(header.path, "empty '# Dx:' line")
    return check_codes(codes, header.path)


def parse_age_sex(header: HeaderInfo) -> tuple[float | None, str | None]:
    """``(age in years or None, "male"/"female" or None)`` from ``# Age:`` / ``# Sex:`` comments."""
    age: float | None = None
    raw_age = header.comment_value("Age")
    if raw_age:
        try:
            age = float(raw_age)
        except ValueError:
            age = None
        if age is not None and not np.isfinite(age):
            age = None
    raw_sex = (header.comment_value("Sex") or "").strip().lower()
    sex = {"male": "male", "m": "male", "female": "female", "f": "female"}.get(raw_sex)
    return age, sex


def source_of(record: str) -> str:
    """The source database of a record, from its name prefix (``"unknown"`` if none matches)."""
    for prefix, source in SOURCES:
        if record.startswith(prefix) and record[len(prefix) : len(prefix) + 1].isdigit():
            return source
    return "unknown"


class Cinc2021Dataset(HeaderIndexedDataset):
    name = "cinc2021"
    title = "Will Two Do? Varying Dimensions in Electrocardiography: PhysioNet/CinC Challenge 2021"
    description = "PhysioNet/CinC 2021, 88,253 12-lead records from 8 sources, 26 scored SNOMED CT classes"
    slug = "challenge-2021"
    version = "1.0.3"
    n_records_full = 88253
    licence = "CC BY 4.0"
    citation = (
        "Reyna MA et al. Will Two Do? Varying Dimensions in Electrocardiography: The PhysioNet/Computing in "
        "Cardiology Challenge 2021. Computing in Cardiology 48 (2021)"
    )
    folders = ("cinc2021", "cinc2021_sample", "challenge-2021")
    label_names = tuple(c.abbreviation for c in scored_classes())
    split_names = ("train", "val", "test")
    record_kind = "CinC 2021 record"
    patient_ids_known = False

    def looks_like(self, folder: Path) -> bool:
        if not folder.is_dir():
            return False
        for hea in folder.rglob("*.hea"):
            try:
                return read_header(hea).comment_value("Dx") is not None
            except LeanECGError:
                return False
        return False

    def _stems(self, root: str | Path) -> dict[str, Path]:
        folder = self._folder(root)
        return {n: p for n, p in record_stems(folder).items() if p.with_name(p.name + ".mat").is_file()}

    def records(self, root: str | Path) -> list[str]:
        return sorted(self._stems(root))

    def headers(self, root: str | Path) -> dict[str, HeaderInfo]:
        """``record -> parsed header`` (no signal is read)."""
        return {r: read_header(p) for r, p in sorted(self._stems(root).items())}

    def codes(self, root: str | Path) -> dict[str, list[str]]:
        """``record -> SNOMED CT codes`` of its ``# Dx:`` line (checked against the dx tables)."""
        return {r: parse_dx(h) for r, h in self.headers(root).items()}

    def labels(self, root: str | Path) -> dict[str, list[str]]:
        """``record -> scored class abbreviations`` (equivalent codes merged; unscored codes dropped)."""
        classes = scored_classes()
        out = {}
        for r, codes in self.codes(root).items():
            idx = sorted({i for c in codes if (i := class_index(c)) is not None})
            out[r] = [classes[i].abbreviation for i in idx]
        return out

    def label_matrix(self, root: str | Path, records: list[str] | None = None) -> np.ndarray:
        """Multi-hot uint8 ``(n_records, 26)`` over the scored classes in ``weights.csv`` order."""
        stems = self._stems(root)
        recs = sorted(stems) if records is None else list(records)
        y = np.zeros((len(recs), len(scored_classes())), dtype=np.uint8)
        for i, r in enumerate(recs):
            if r not in stems:
                raise MissingDataError(self._folder(root) / r, f"{self.record_kind} not found")
            header = read_header(stems[r])
            y[i] = codes_to_multihot(parse_dx(header), header.path)
        return y

    def sources(self, root: str | Path) -> dict[str, str]:
        return {r: source_of(r) for r in self.records(root)}

    def split(
        self, root: str | Path, name: str | None = None, seed: int = SPLIT_SEED
    ) -> dict[str, list[str]]:
        """Seeded (default 2021) 70/15/15 train/val/test record split, stratified by source database."""
        return self._select(stratified_split(self.sources(root), SPLIT_FRACTIONS, seed), name)

    def _attach(self, root: str | Path, record: str, rec: Any) -> Any:
        header = read_header(self.record_path(root, record))
        codes = parse_dx(header)
        age, sex = parse_age_sex(header)
        rec.labels = codes
        rec.meta.update(
            {
                "age": age,
                "sex": sex,
                "source": source_of(record),
                "scored": [
                    scored_classes()[i].abbreviation for i in np.flatnonzero(codes_to_multihot(codes))
                ],
            }
        )
        return rec

    def describe(self, root: str | Path, split: str | None = None) -> dict[str, Any]:
        self.check_split(split)
        headers = self.headers(root)
        codes = {r: parse_dx(h) for r, h in headers.items()}
        splits = self.split(root, split)
        classes = scored_classes()
        rows = []
        per_split = {
            name: Counter(i for r in recs for i in {class_index(c) for c in codes[r]} if i is not None)
            for name, recs in splits.items()
        }
        for i, cls in enumerate(classes):
            row: dict[str, Any] = {"class": cls.abbreviation, "codes": cls.name}
            for name in splits:
                row[name] = int(per_split[name].get(i, 0))
            if split is None:
                row["total"] = sum(int(per_split[n].get(i, 0)) for n in splits)
            rows.append(row)
        n_unscored_only = sum(1 for cs in codes.values() if all(class_index(c) is None for c in cs))
        source_counts = Counter(source_of(r) for r in headers)
        return {
            "records_on_disk": len(headers),
            "records_without_scored_class": n_unscored_only,
            "split_rule": f"record split 70/15/15 stratified by source, seed {SPLIT_SEED} (no patient ids)",
            "split_sizes": [{"split": n, "records": len(v)} for n, v in splits.items()],
            "sources": [{"source": s, "records": n} for s, n in sorted(source_counts.items())],
            "scored_class_counts": rows,
        }

    def fetch_plan(self) -> FetchPlan:
        return FetchPlan(index="RECORDS")


CINC2021 = register(Cinc2021Dataset())
