"""The dataset registry: the real PhysioNet datasets LeanECG knows, their labels and their splits.

One registry for the whole project. Each dataset module (``leanecg.data.mitdb``, ``cinc2017``,
``ptbxl``, ``cinc2021``, ``cpsc2021``, ``nstdb``) defines a :class:`Dataset` subclass and registers one
instance with :func:`register` when it is imported; :func:`get_dataset` and :func:`list_datasets` import
them on first use.

A dataset lives in ``<data dir>/<folder>/`` (see :func:`leanecg.data.locate.resolve_data_dir`), in its
original PhysioNet file layout. ``Dataset.folders`` lists the folder names that are recognised, the
canonical one first (where ``leanecg data fetch`` puts it): e.g. ``cinc2021`` and ``cinc2021_sample``.

Splits are dictionaries ``split name -> sorted record ids`` (record ids are the names a dataset's
``load`` accepts). Every split rule is deterministic across platforms and Python versions: seeded
splits rank records by a SHA-256 digest of ``"<seed>:<key>"`` (never Python's ``hash`` or a random
generator whose stream may change between numpy versions).

This module also holds the header- and annotation-only readers the dataset views use so that
``leanecg info`` never decodes signals it does not need; signals are always read through
:func:`leanecg.data.loaders.load_record`.
"""

from __future__ import annotations

import hashlib
import importlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from leanecg.errors import LeanECGError, MissingDataError
from leanecg.registry import Registry

if TYPE_CHECKING:
    from leanecg.data.record import Annotation, Record

DATASET_MODULES = (
    "leanecg.data.mitdb",
    "leanecg.data.cinc2017",
    "leanecg.data.ptbxl",
    "leanecg.data.cinc2021",
    "leanecg.data.cpsc2021",
    "leanecg.data.nstdb",
)

_REGISTRY: Registry[Dataset] = Registry("dataset", "dataset")
_LOADED = False


# ---------------------------------------------------------------------------------------------------------
# download plans (used by leanecg.data.fetch)


@dataclass(frozen=True)
class RemoteFile:
    """A file of a PhysioNet release to download.

    Attributes:
        remote: path relative to the release root (``https://physionet.org/files/<slug>/<version>/``).
        local: path relative to the dataset folder where it is stored.
        required: a missing optional file is skipped; a missing required one is an error.
    """

    remote: str
    local: str
    required: bool = True


@dataclass(frozen=True)
class FetchPlan:
    """How to download a dataset's official release, file by file.

    Attributes:
        metadata: files fetched first, whatever ``max_records`` says (label tables, indexes).
        index: remote path of the record index: a WFDB ``RECORDS`` file (entries ending in ``/`` are
            sub-folders with their own ``RECORDS``) or, with ``index_column``, a CSV file.
        index_column: the CSV column that holds record paths (PTB-XL: ``filename_lr``).
        static_records: a fixed record list used instead of ``index`` (remote paths without extension).
        remote_prefix: folder of the indexed records, relative to the release root.
        local_prefix: folder the records are stored in, relative to the dataset folder.
        flatten: store each record under its base name only (drop sub-folders of the remote layout).
        annotation_exts: annotation files fetched with each record when the release has them.
        records_file: local path of a ``RECORDS`` file listing the records fetched (``None``: none).
    """

    metadata: tuple[RemoteFile, ...] = ()
    index: str | None = None
    index_column: str | None = None
    static_records: tuple[str, ...] = ()
    remote_prefix: str = ""
    local_prefix: str = ""
    flatten: bool = False
    annotation_exts: tuple[str, ...] = ()
    records_file: str | None = None


# ---------------------------------------------------------------------------------------------------------
# the dataset base class


class Dataset(ABC):
    """A registered dataset. Subclasses fill in the class attributes and the abstract methods.

    Attributes:
        name: registry name (``mitdb``, ``cinc2017``, ...).
        title: official name of the release.
        description: one line for ``leanecg data list``.
        slug, version: the PhysioNet project and release (``https://physionet.org/content/<slug>/<version>/``).
        n_records_full: number of records of the complete official release.
        licence: the data licence of the release.
        citation: what to cite when using it.
        folders: folder names recognised under a data dir, canonical first.
        label_names: the label vocabulary, in the order label matrices use.
        split_names: names accepted by :meth:`split` (``--split``).
        patient_ids_known: whether records map to real patients (for patient-level bootstrap / splits).
        distinctive_layout: the marker files are specific enough to recognise the dataset in a folder of
            any name (e.g. a ``wget`` mirror ``physionet.org/files/mitdb/1.0.0``).
    """

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    slug: ClassVar[str]
    version: ClassVar[str]
    n_records_full: ClassVar[int]
    licence: ClassVar[str]
    citation: ClassVar[str]
    folders: ClassVar[tuple[str, ...]]
    label_names: ClassVar[tuple[str, ...]]
    split_names: ClassVar[tuple[str, ...]]
    patient_ids_known: ClassVar[bool] = False
    distinctive_layout: ClassVar[bool] = False  # looks_like() alone identifies the dataset

    # ---- location ----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The release's PhysioNet page."""
        return f"https://physionet.org/content/{self.slug}/{self.version}/"

    def path(self, root: str | Path) -> Path:
        """The dataset's folder under ``root``: the first recognised folder that holds the dataset,
        else the canonical one (which may not exist yet)."""
        root = Path(root)
        for folder in self.folders:
            if self.looks_like(root / folder):
                return root / folder
        return root / self.folders[0]

    def is_present(self, root: str | Path) -> bool:
        """Whether the dataset (or part of it) is in ``root``."""
        return self.looks_like(self.path(root))

    def require(self, root: str | Path) -> Path:
        """The dataset folder under ``root``; :class:`LeanECGError` if the dataset is not there."""
        where = self.path(root)
        if not self.looks_like(where):
            names = " or ".join(f"{root}/{f}" for f in self.folders)
            raise MissingDataError(
                where,
                f"dataset {self.name} not found (looked for {names}); download it with "
                f"`leanecg data fetch {self.name}` or pass `data_dir`",
            )
        return where

    def _folder(self, root: str | Path) -> Path:
        """``root`` itself when it holds the dataset, else the dataset folder under it (:meth:`require`)."""
        root = Path(root)
        return root if self.looks_like(root) else self.require(root)

    def matches_folder(self, folder: str | Path) -> bool:
        """Whether ``folder`` *is* this dataset (its name is one of :attr:`folders` and it looks right)."""
        folder = Path(folder)
        return folder.name in self.folders and self.looks_like(folder)

    @abstractmethod
    def looks_like(self, folder: Path) -> bool:
        """Whether ``folder`` holds this dataset (cheap: checks for its marker files)."""

    # ---- records -----------------------------------------------------------------------------------
    @abstractmethod
    def records(self, root: str | Path) -> list[str]:
        """Sorted ids of the records present under ``root``."""

    @abstractmethod
    def record_path(self, root: str | Path, record: str) -> Path:
        """The path :func:`leanecg.data.loaders.load_record` reads for ``record``."""

    def record_paths(self, root: str | Path, records: Sequence[str] | None = None) -> dict[str, Path]:
        """``record -> path`` (without extension) for ``records`` (default: all present)."""
        return {r: self.record_path(root, r) for r in (self.records(root) if records is None else records)}

    def load(self, root: str | Path, record: str, fs: float | None = None) -> Record:
        """Read one record (signal in mV, ``(n_samples, n_leads)``) with the dataset's labels attached."""
        from leanecg.data.loaders import load_record

        rec = load_record(self.record_path(root, record), fs=fs)
        return self._attach(root, record, rec)

    def iter_records(
        self, root: str | Path, records: Sequence[str] | None = None, fs: float | None = None
    ) -> Iterator[Record]:
        """Yield :meth:`load` for each record id (all present records when ``records`` is ``None``)."""
        for record in self.records(root) if records is None else records:
            yield self.load(root, record, fs=fs)

    def _attach(self, root: str | Path, record: str, rec: Record) -> Record:
        """Hook: add dataset-level labels / metadata to a loaded record."""
        return rec

    def patients(self, root: str | Path) -> dict[str, str]:
        """``record -> patient id``. Datasets without patient ids use the record id (documented there)."""
        return {r: r for r in self.records(root)}

    # ---- labels and splits -------------------------------------------------------------------------
    @abstractmethod
    def labels(self, root: str | Path) -> dict[str, list[str]]:
        """``record -> labels`` (names from :attr:`label_names`) for every record present."""

    @abstractmethod
    def split(self, root: str | Path, name: str | None = None) -> dict[str, list[str]]:
        """``split name -> sorted record ids`` (all splits, or only ``name``)."""

    def check_split(self, name: str | None) -> None:
        """Raise :class:`LeanECGError` if ``name`` is not one of :attr:`split_names`."""
        if name is not None and name not in self.split_names:
            raise LeanECGError(
                "split",
                f"unknown split {name!r} of {self.name}; choose one of {', '.join(self.split_names)}",
            )

    def _select(self, splits: dict[str, list[str]], name: str | None) -> dict[str, list[str]]:
        self.check_split(name)
        return splits if name is None else {name: splits[name]}

    # ---- description and download -----------------------------------------------------------------
    @abstractmethod
    def describe(self, root: str | Path, split: str | None = None) -> dict[str, Any]:
        """The dataset view for ``leanecg info``: scalars plus tables (lists of dicts); JSON-able."""

    @abstractmethod
    def fetch_plan(self) -> FetchPlan:
        """How :func:`leanecg.data.fetch.fetch_dataset` downloads the official release."""

    def info(self) -> dict[str, Any]:
        """Static facts about the dataset (JSON-able)."""
        return {
            "dataset": self.name,
            "title": self.title,
            "physionet": self.url,
            "licence": self.licence,
            "n_records_full": self.n_records_full,
            "labels": ", ".join(self.label_names),
            "splits": ", ".join(self.split_names),
            "patient_ids": "yes" if self.patient_ids_known else "no (record = patient)",
            "cite": self.citation,
        }

    def __repr__(self) -> str:
        return f"<Dataset {self.name}: {self.title}>"


class HeaderIndexedDataset(Dataset):
    """A dataset whose records are the WFDB headers found in its folder (CinC 2021, CPSC 2021).

    Subclasses implement :meth:`_stems` and name their records in :attr:`record_kind` (used in the
    "record not found" error of :meth:`record_path`).
    """

    record_kind: ClassVar[str]

    @abstractmethod
    def _stems(self, root: str | Path) -> dict[str, Path]:
        """``record -> record path without extension`` for every record present."""

    def record_paths(self, root: str | Path, records: Sequence[str] | None = None) -> dict[str, Path]:
        stems = self._stems(root)
        wanted = sorted(stems) if records is None else list(records)
        missing = [r for r in wanted if r not in stems]
        if missing:
            raise MissingDataError(self._folder(root) / missing[0], "record not found")
        return {r: stems[r] for r in wanted}

    def record_path(self, root: str | Path, record: str) -> Path:
        stems = self._stems(root)
        if record not in stems:
            raise MissingDataError(self._folder(root) / record, f"{self.record_kind} not found")
        return stems[record]


# ---------------------------------------------------------------------------------------------------------
# registry


def register(dataset: Dataset) -> Dataset:
    """Add ``dataset`` to the registry (called by each dataset module at import) and return it."""
    return _REGISTRY.register(dataset.name, dataset, replace=True)


def _load_all() -> None:
    global _LOADED
    if not _LOADED:
        for module in DATASET_MODULES:
            importlib.import_module(module)
        _LOADED = True


def list_datasets() -> list[Dataset]:
    """Every registered dataset: the built-in ones in :data:`DATASET_MODULES` order, then any others."""
    _load_all()
    order = {m: i for i, m in enumerate(DATASET_MODULES)}
    return sorted(_REGISTRY.values(), key=lambda ds: order.get(type(ds).__module__, len(order)))


def get_dataset(name: str) -> Dataset:
    """The dataset called ``name`` (also accepts a recognised folder name such as ``cinc2021_sample``).

    Raises:
        LeanECGError: unknown name; the message lists the known names.
    """
    _load_all()
    key = str(name).strip().lower()
    if key in _REGISTRY:
        return _REGISTRY[key]
    for ds in _REGISTRY.values():
        if key in ds.folders:
            return ds
    raise _REGISTRY.unknown(name, where=str(name))


def find_dataset_for_folder(folder: str | Path) -> Dataset | None:
    """The registered dataset ``folder`` is, or ``None``: by folder name and marker files, else (for
    datasets with a distinctive layout: mitdb, cinc2017, ptbxl) by marker files alone."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    folder = folder.resolve()  # "." and trailing separators have the folder's real name
    for ds in list_datasets():
        if ds.matches_folder(folder):
            return ds
    for ds in list_datasets():
        if ds.distinctive_layout and ds.looks_like(folder):
            return ds
    return None


# ---------------------------------------------------------------------------------------------------------
# deterministic seeded splits


def seeded_rank(keys: Sequence[str], seed: int) -> list[str]:
    """``keys`` ordered by the SHA-256 of ``"<seed>:<key>"``: a seeded shuffle that is identical on every
    platform and Python / numpy version, and where a key's rank does not depend on the other keys."""
    return sorted(keys, key=lambda k: hashlib.sha256(f"{seed}:{k}".encode()).hexdigest())


def proportional_split(
    keys: Sequence[str], fractions: Mapping[str, float], seed: int
) -> dict[str, list[str]]:
    """Split ``keys`` by ``fractions`` (``{"train": 0.7, "val": 0.15, "test": 0.15}``) after a seeded shuffle.

    Part sizes are rounded with the largest-remainder method so they add up to ``len(keys)``; the parts
    are returned sorted.
    """
    ranked = seeded_rank(sorted(set(keys)), seed)
    sizes = _largest_remainder(len(ranked), list(fractions.values()))
    out: dict[str, list[str]] = {}
    start = 0
    for name, size in zip(fractions, sizes, strict=True):
        out[name] = sorted(ranked[start : start + size])
        start += size
    return out


def stratified_split(
    labels: Mapping[str, str], fractions: Mapping[str, float], seed: int
) -> dict[str, list[str]]:
    """A seeded split of ``labels``' keys that keeps each class's proportions in every part.

    Each class (processed in sorted order) is split on its own with :func:`proportional_split`.
    """
    by_class: dict[str, list[str]] = {}
    for key, label in labels.items():
        by_class.setdefault(label, []).append(key)
    out: dict[str, list[str]] = {name: [] for name in fractions}
    for label in sorted(by_class):
        part = proportional_split(by_class[label], fractions, seed)
        for name in fractions:
            out[name].extend(part[name])
    return {name: sorted(v) for name, v in out.items()}


def group_split(groups: Mapping[str, str], fractions: Mapping[str, float], seed: int) -> dict[str, list[str]]:
    """A seeded split where all keys of one group (e.g. one patient) land in the same part."""
    members: dict[str, list[str]] = {}
    for key, group in groups.items():
        members.setdefault(group, []).append(key)
    part_of_group = proportional_split(list(members), fractions, seed)
    return {name: sorted(k for g in gs for k in members[g]) for name, gs in part_of_group.items()}


def _largest_remainder(n: int, fractions: Sequence[float]) -> list[int]:
    total = float(sum(fractions))
    exact = [n * f / total for f in fractions]
    sizes = [int(np.floor(e)) for e in exact]
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - sizes[i]), i))
    for i in order[: n - sum(sizes)]:
        sizes[i] += 1
    return sizes


# ---------------------------------------------------------------------------------------------------------
# header- and annotation-only reading (the dataset views never decode signals)


@dataclass
class HeaderInfo:
    """What a WFDB ``.hea`` header says, without reading the signal.

    Attributes:
        path: the header file.
        name: record name.
        fs: sampling frequency in Hz.
        n_samples: samples per lead (0 when the header does not say).
        leads: lead names (canonical spelling, as :func:`~leanecg.data.loaders.load_record` gives them).
        units: physical units per lead (``"mV"`` when the header gives none).
        files: signal file names, in order of first use.
        comments: the ``#`` comment lines, without ``#`` and surrounding spaces.
    """

    path: Path
    name: str
    fs: float
    n_samples: int
    leads: list[str]
    units: list[str]
    files: list[str]
    comments: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs if self.fs > 0 else 0.0

    def comment_value(self, key: str) -> str | None:
        """The value of a ``# Key: value`` comment (CinC challenge headers), or ``None``."""
        prefix = key.lower() + ":"
        for c in self.comments:
            if c.lower().startswith(prefix):
                return c[len(prefix) :].strip()
        return None


def read_header(path: str | Path) -> HeaderInfo:
    """Parse a WFDB header (``.hea``) without touching the signal files.

    Parsing is :func:`leanecg.data.wfdb_io.read_header` (the project's one strict header parser); this
    returns the subset the dataset views need.

    Args:
        path: the ``.hea`` file, or the record path without extension.

    Raises:
        LeanECGError: missing or malformed header.
    """
    from leanecg.data.loaders import canonical_leads
    from leanecg.data.wfdb_io import read_header as _read_wfdb_header

    path = Path(path)
    if path.suffix != ".hea":
        path = path.with_name(path.name + ".hea")
    h = _read_wfdb_header(path)
    return HeaderInfo(
        path=h.path,
        name=h.record_name,
        fs=float(h.fs) if h.fs is not None else 0.0,
        n_samples=int(h.n_samples) if h.n_samples is not None else 0,
        leads=canonical_leads([s.description.strip() for s in h.signals]),
        units=[s.units or "mV" for s in h.signals],
        files=list(dict.fromkeys(s.file_name for s in h.signals)),
        comments=list(h.comments),
    )


def read_annotation(record_path: str | Path, extension: str = "atr") -> Annotation:
    """Read only the annotation file ``<record_path>.<extension>`` (no signal decoding), through
    :func:`leanecg.data.wfdb_io.read_annotation_file`.

    Returns:
        :class:`~leanecg.data.record.Annotation` with int64 sample indices, symbols and aux notes
        (``""`` where none).

    Raises:
        LeanECGError: the file is missing or unreadable.
    """
    from leanecg.data.wfdb_io import read_annotation_file

    record_path = Path(record_path)
    ann_file = record_path.with_name(f"{record_path.name}.{extension}")
    if not ann_file.is_file():
        raise MissingDataError(ann_file, "annotation file not found")
    return read_annotation_file(ann_file)


def record_stems(folder: Path, pattern: str = "*.hea") -> dict[str, Path]:
    """``record name -> record path without extension`` for every header below ``folder`` (recursive)."""
    out: dict[str, Path] = {}
    for hea in sorted(folder.rglob(pattern)):
        if hea.is_file():
            out.setdefault(hea.stem, hea.with_suffix(""))
    return out


def read_records_file(path: Path) -> list[str]:
    """Record names listed in a WFDB ``RECORDS`` file (blank lines and ``#`` comments skipped)."""
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out
