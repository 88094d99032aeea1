"""PTB-XL: 21,837 clinical 12-lead 10 s ECGs of 18,885 patients (100 Hz and 500 Hz WFDB records).

Layout (the PhysioNet release)::

    ptbxl/ptbxl_database.csv, scp_statements.csv, records100/00000/00001_lr.{hea,dat}, records500/...

Record ids are the ``ecg_id`` values as strings (``"1"`` ... ``"21837"``). Records listed in
``ptbxl_database.csv`` whose 100 Hz files are not on disk are left out of :meth:`PtbxlDataset.records`,
splits and labels (a partial download or a subset still works); ``describe`` reports how many are missing.

Labels, as in the PTB-XL benchmark code (Strodthoff et al., IEEE JBHI 2021,
``ecg_ptbxl_benchmarking/code/utils/utils.py: compute_label_aggregations``):

- diagnostic superclasses ``NORM, MI, STTC, CD, HYP``: every statement of ``scp_codes`` that is a
  diagnostic statement in ``scp_statements.csv`` (``diagnostic == 1``) contributes its
  ``diagnostic_class``. Likelihood rule: the benchmark code uses **every** statement whatever its
  likelihood, including likelihood 0 (it only looks at the dict keys); that is the default here
  (``min_likelihood=0``). Pass e.g. ``min_likelihood=50`` to keep only statements at least that likely.
  Records without any superclass get an empty label list (the benchmark drops them from the
  superdiagnostic task; :func:`superclass_matrix` keeps them as all-zero rows and says how many).
- rhythm statements (``rhythm == 1``: SR, AFIB, STACH, SARRH, SBRAD, PACE, SVARR, BIGU, AFLT, SVTAC,
  PSVT, TRIGU), same likelihood rule.

Superclass order in matrices is the paper's: NORM, MI, STTC, CD, HYP (the benchmark's
``MultiLabelBinarizer`` sorts alphabetically; macro metrics do not depend on the order).

Split: the recommended ``strat_fold``: folds 1-8 train, 9 validation, 10 test (the folds are
patient-disjoint, stratified by the PTB-XL authors). ``patient_id`` is kept for patient-level bootstrap.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.data.registry import Dataset, FetchPlan, RemoteFile, register
from leanecg.errors import LeanECGError, MissingDataError

SUPERCLASSES: tuple[str, ...] = ("NORM", "MI", "STTC", "CD", "HYP")
FOLDS: dict[str, tuple[int, ...]] = {"train": (1, 2, 3, 4, 5, 6, 7, 8), "val": (9,), "test": (10,)}
DATABASE = "ptbxl_database.csv"
STATEMENTS = "scp_statements.csv"
_REQUIRED_COLUMNS = ("patient_id", "scp_codes", "strat_fold", "filename_lr", "filename_hr")

_CACHE: dict[tuple[str, int, int], Any] = {}


def _cached(path: Path, build: Any) -> Any:
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _CACHE:
        _CACHE.clear()  # one table at a time is plenty
        _CACHE[key] = build(path)
    return _CACHE[key]


def read_statements(path: str | Path) -> Any:
    """``scp_statements.csv`` as a pandas DataFrame indexed by statement code."""
    import pandas as pd

    path = Path(path)
    try:
        df = pd.read_csv(path, index_col=0)
    except FileNotFoundError:
        raise MissingDataError(path, "file not found") from None
    except Exception as exc:
        raise LeanECGError(path, f"cannot read SCP statement table: {exc}") from None
    for col in ("diagnostic", "rhythm", "diagnostic_class"):
        if col not in df.columns:
            raise LeanECGError(path, f"missing column {col!r}")
    return df


def _read_database(path: Path) -> Any:
    import pandas as pd

    try:
        df = pd.read_csv(path, index_col="ecg_id")
    except FileNotFoundError:
        raise MissingDataError(path, "file not found") from None
    except Exception as exc:
        raise LeanECGError(path, f"cannot read PTB-XL database table: {exc}") from None
    missing = [c for c in _REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise LeanECGError(path, f"missing column(s) {', '.join(missing)}")
    codes = []
    for ecg_id, text in df["scp_codes"].items():
        try:
            value = ast.literal_eval(str(text))
        except (ValueError, SyntaxError):
            raise LeanECGError(path, f"ecg_id {ecg_id}: malformed scp_codes {text!r}") from None
        if not isinstance(value, dict):
            raise LeanECGError(path, f"ecg_id {ecg_id}: scp_codes is not a dict")
        codes.append({str(k): float(v) for k, v in value.items()})
    df = df.copy()
    df["scp_codes"] = codes
    df.index = df.index.astype(int).astype(str)
    return df


def read_database(path: str | Path) -> Any:
    """``ptbxl_database.csv`` as a DataFrame indexed by ``ecg_id`` (str), ``scp_codes`` parsed to dicts."""
    return _cached(Path(path), _read_database)


def _aggregate(codes: dict[str, float], table: dict[str, str], min_likelihood: float) -> list[str]:
    out: list[str] = []
    for code, likelihood in codes.items():
        if code not in table:
            continue
        if likelihood >= min_likelihood and table[code] not in out:
            out.append(table[code])
    return out


def _float_or_none(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def _int_or_none(v: Any) -> int | None:
    f = _float_or_none(v)
    return int(f) if f is not None else None


class PtbxlDataset(Dataset):
    name = "ptbxl"
    title = "PTB-XL, a large publicly available electrocardiography dataset"
    description = "PTB-XL, 21,837 12-lead 10 s records (100/500 Hz), diagnostic superclasses and rhythm"
    slug = "ptb-xl"
    version = "1.0.3"
    n_records_full = 21837
    licence = "CC BY 4.0"
    citation = (
        "Wagner P et al. PTB-XL, a large publicly available electrocardiography dataset. Scientific Data 7, "
        "154 (2020), doi:10.1038/s41597-020-0495-6"
    )
    folders = ("ptbxl", "ptb-xl")
    label_names = SUPERCLASSES
    split_names = ("train", "val", "test")
    patient_ids_known = True
    distinctive_layout = True

    def looks_like(self, folder: Path) -> bool:
        return (folder / DATABASE).is_file()

    def database(self, root: str | Path, on_disk: bool = True) -> Any:
        """The database table (DataFrame indexed by ``ecg_id`` as str); ``on_disk``: only rows whose
        100 Hz record files exist."""
        folder = self._folder(root)
        df = read_database(folder / DATABASE)
        if not on_disk:
            return df
        present = [
            (folder / f"{f}.hea").is_file() and (folder / f"{f}.dat").is_file() for f in df["filename_lr"]
        ]
        return df[np.asarray(present, dtype=bool)]

    def statements(self, root: str | Path) -> Any:
        return read_statements(self._folder(root) / STATEMENTS)

    def records(self, root: str | Path) -> list[str]:
        return sorted(self.database(root).index, key=int)

    def record_paths(self, root: str | Path, records: Sequence[str] | None = None) -> dict[str, Path]:
        """``ecg_id -> 100 Hz record path`` for the records on disk (default) or the given ids."""
        folder = self._folder(root)
        df = self.database(root)
        paths = {r: folder / str(f) for r, f in zip(df.index, df["filename_lr"], strict=True)}
        if records is None:
            return paths
        missing = [str(r) for r in records if str(r) not in paths]
        if missing:
            raise LeanECGError(folder / DATABASE, f"ecg_id {missing[0]} is not on disk")
        return {str(r): paths[str(r)] for r in records}

    def record_path(self, root: str | Path, record: str, fs: float | None = None) -> Path:
        """Path of the 100 Hz record (``fs`` None or 100) or the 500 Hz one (``fs`` 500)."""
        folder = self._folder(root)
        df = read_database(folder / DATABASE)
        if str(record) not in df.index:
            raise LeanECGError(folder / DATABASE, f"no ecg_id {record}")
        if fs is None or float(fs) == 100.0:
            column = "filename_lr"
        elif float(fs) == 500.0:
            column = "filename_hr"
        else:
            raise LeanECGError("fs", f"PTB-XL records exist at 100 Hz and 500 Hz, not {fs:g} Hz")
        path = folder / str(df.loc[str(record), column])
        if not path.with_name(path.name + ".hea").is_file():
            raise LeanECGError(
                path, f"PTB-XL record {record} is not on disk at {100 if column.endswith('lr') else 500} Hz"
            )
        return path

    def load(self, root: str | Path, record: str, fs: float | None = None) -> Any:
        """Read a record at 100 Hz (default) or 500 Hz (``fs=500``, when ``records500/`` is present)."""
        from leanecg.data.loaders import load_record

        rec = load_record(self.record_path(root, record, fs), fs=fs)
        return self._attach(root, record, rec)

    def has_500hz(self, root: str | Path) -> bool:
        return (self._folder(root) / "records500").is_dir()

    def patients(self, root: str | Path) -> dict[str, str]:
        df = self.database(root)
        out = {}
        for r, p in zip(df.index, df["patient_id"], strict=True):
            pid = _int_or_none(p)
            out[r] = str(pid) if pid is not None else f"ecg{r}"
        return out

    def superclasses(self, root: str | Path, min_likelihood: float = 0.0) -> dict[str, list[str]]:
        """``ecg_id -> diagnostic superclasses`` (see the module docstring for the likelihood rule)."""
        st = self.statements(root)
        diag = st[st["diagnostic"] == 1.0]
        table = {str(k): str(v) for k, v in diag["diagnostic_class"].items() if str(v) != "nan"}
        df = self.database(root)
        return {
            r: _aggregate(c, table, min_likelihood) for r, c in zip(df.index, df["scp_codes"], strict=True)
        }

    def rhythms(self, root: str | Path, min_likelihood: float = 0.0) -> dict[str, list[str]]:
        """``ecg_id -> rhythm statements`` (SR, AFIB, ...), same likelihood rule."""
        st = self.statements(root)
        table = {str(k): str(k) for k in st[st["rhythm"] == 1.0].index}
        df = self.database(root)
        return {
            r: _aggregate(c, table, min_likelihood) for r, c in zip(df.index, df["scp_codes"], strict=True)
        }

    def rhythm_names(self, root: str | Path) -> list[str]:
        st = self.statements(root)
        return [str(k) for k in st[st["rhythm"] == 1.0].index]

    def labels(self, root: str | Path) -> dict[str, list[str]]:
        """Diagnostic superclasses per record (benchmark rule, any likelihood)."""
        return self.superclasses(root)

    def superclass_matrix(self, root: str | Path, records: list[str] | None = None) -> np.ndarray:
        """Multi-hot ``(n_records, 5)`` uint8 matrix over :data:`SUPERCLASSES` (rows in ``records`` order)."""
        sc = self.superclasses(root)
        recs = self.records(root) if records is None else [str(r) for r in records]
        y = np.zeros((len(recs), len(SUPERCLASSES)), dtype=np.uint8)
        for i, r in enumerate(recs):
            for c in sc[r]:
                y[i, SUPERCLASSES.index(c)] = 1
        return y

    def split(self, root: str | Path, name: str | None = None) -> dict[str, list[str]]:
        """``strat_fold`` 1-8 train, 9 val, 10 test, over the records on disk."""
        self.check_split(name)
        df = self.database(root)
        folds = dict(zip(df.index, df["strat_fold"].astype(int), strict=True))
        splits = {s: sorted((r for r, f in folds.items() if f in fs), key=int) for s, fs in FOLDS.items()}
        return self._select(splits, name)

    def _attach(self, root: str | Path, record: str, rec: Any) -> Any:
        df = read_database(self._folder(root) / DATABASE)
        row = df.loc[str(record)]
        codes = dict(row["scp_codes"])
        st = self.statements(root)
        diag = st[st["diagnostic"] == 1.0]
        diag_table = {str(k): str(v) for k, v in diag["diagnostic_class"].items() if str(v) != "nan"}
        rhythm_table = {str(k): str(k) for k in st[st["rhythm"] == 1.0].index}
        rec.labels = _aggregate(codes, diag_table, 0.0)
        rec.meta.update(
            {
                "ecg_id": str(record),
                "patient_id": _int_or_none(row.get("patient_id")),
                "age": _float_or_none(row.get("age")),
                "sex": {0: "male", 1: "female"}.get(_int_or_none(row.get("sex"))),  # PTB-XL: 0 male, 1 female
                "strat_fold": int(row["strat_fold"]),
                "scp_codes": codes,
                "rhythm": _aggregate(codes, rhythm_table, 0.0),
            }
        )
        if rec.meta["patient_id"] is not None:
            rec.meta["patient_id"] = str(rec.meta["patient_id"])
        return rec

    def describe(self, root: str | Path, split: str | None = None) -> dict[str, Any]:
        self.check_split(split)
        folder = self._folder(root)
        listed = read_database(folder / DATABASE)
        on_disk = self.database(root)
        sc = self.superclasses(root)
        rh = self.rhythms(root)
        rhythm_names = self.rhythm_names(root)
        rows, rrows = [], []
        for name, recs in self.split(root, split).items():
            folds = FOLDS[name]
            label = f"{name} (fold {folds[0]}-{folds[-1]})" if len(folds) > 1 else f"{name} (fold {folds[0]})"
            counts = Counter(c for r in recs for c in sc[r])
            row: dict[str, Any] = {"split": label, "records": len(recs)}
            row.update({c: int(counts.get(c, 0)) for c in SUPERCLASSES})
            row["none"] = sum(1 for r in recs if not sc[r])
            row["patients"] = len({str(p) for p in on_disk.loc[recs, "patient_id"]})
            rows.append(row)
            rcounts = Counter(c for r in recs for c in rh[r])
            rrow: dict[str, Any] = {"split": label}
            rrow.update({c: int(rcounts[c]) for c in rhythm_names if rcounts.get(c)})
            rrows.append(rrow)
        return {
            "records_listed": len(listed),
            "records_on_disk": len(on_disk),
            "missing_on_disk": len(listed) - len(on_disk),
            "records_500hz": "present" if self.has_500hz(root) else "absent",
            "split_rule": "strat_fold 1-8 train, 9 val, 10 test (patient-disjoint folds)",
            "label_rule": "diagnostic superclass of every diagnostic statement, any likelihood (PTB-XL benchmark)",
            "superclass_counts": rows,
            "rhythm_counts": rrows,
        }

    def fetch_plan(self) -> FetchPlan:
        return FetchPlan(
            metadata=(RemoteFile(DATABASE, DATABASE), RemoteFile(STATEMENTS, STATEMENTS)),
            index=DATABASE,
            index_column="filename_lr",
        )


PTBXL = register(PtbxlDataset())
