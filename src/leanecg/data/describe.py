"""``describe()``: what a record, a folder of records or a registered dataset holds (behind ``leanecg info``).

The result is a JSON-able dict shaped for the CLI renderer: scalars become key/value rows, lists of
dicts become tables, dicts become sub-tables and lists of scalars one comma-separated line.

- a record (WFDB ``.hea``/``.dat``, challenge ``.mat`` + ``.hea``, CSV, EDF): read through
  :func:`leanecg.data.loaders.load_record`: name, format, fs, leads, units, samples, duration,
  annotation counts by symbol, rhythm counts, labels, metadata and a signal-quality summary;
- a folder: record count, formats, fs / leads / duration distributions and ``# Dx`` label counts,
  from the WFDB headers only (no signal is decoded); EDF and CSV records, which have no separate header,
  are read (CSV files count as records only in folders without WFDB headers);
- a registered dataset (its folder, or its name resolved in the data dir): the folder summary of its
  records plus the dataset view: the static facts and the split table (mitdb: AAMI N/S/V/F/Q per DS1/DS2
  from the annotation files only; cinc2017: class counts per split; ptbxl: superclass counts per fold
  group; cinc2021: scored class counts; ...). ``split`` limits both to one split.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.data.registry import (
    Dataset,
    HeaderInfo,
    find_dataset_for_folder,
    get_dataset,
    list_datasets,
    read_header,
)
from leanecg.errors import LeanECGError, MissingDataError


def describe(
    path_or_name: str | Path,
    data_dir: str | Path | None = None,
    fs: float | None = None,
    split: str | None = None,
) -> dict[str, Any]:
    """Describe a record, a folder or a dataset (see the module docstring). Never decodes more than needed.

    Args:
        path_or_name: a record path (with or without extension), a folder, or a dataset name (``mitdb``).
        data_dir: where dataset names are looked up (default: ``$LEANECG_DATA`` or the user cache).
        fs: sampling rate in Hz, required for CSV records, checked against the header otherwise.
        split: only this split of a registered dataset (``DS1``, ``train``, ...).

    Raises:
        LeanECGError: nothing by that name, a dataset that is not in the data dir, an unknown split,
            ``split`` for something that is not a dataset, or a bad record.
    """
    text = str(path_or_name)
    path = Path(text).expanduser()
    if path.is_dir():
        dataset = find_dataset_for_folder(path)
        if dataset is not None:
            return describe_dataset(dataset, path, split=split)
        _no_split(split, path)
        return describe_folder(path, fs=fs)
    if path.is_file() or _wfdb_header(path) is not None:
        _no_split(split, path)
        return describe_record(path, fs=fs)
    if "/" not in text and "\\" not in text:
        try:
            dataset = get_dataset(text)
        except LeanECGError:
            dataset = None
        if dataset is not None:
            from leanecg.data.locate import resolve_data_dir

            root = resolve_data_dir(Path(data_dir) if data_dir is not None else None, dataset=dataset.name)
            return describe_dataset(dataset, dataset.require(root), split=split)
    known = ", ".join(ds.name for ds in list_datasets())
    raise LeanECGError(text, f"no such record, folder or dataset (known datasets: {known})")


def _no_split(split: str | None, path: Path) -> None:
    if split is not None:
        raise LeanECGError(
            "split", f"{path} is not a registered dataset folder; `split` only applies to datasets"
        )


def _wfdb_header(path: Path) -> Path | None:
    """The ``.hea`` of a WFDB record given without (or with another) extension, if it exists."""
    if path.suffix == ".hea":
        return path if path.is_file() else None
    cand = path.with_name(path.name + ".hea")
    if cand.is_file():
        return cand
    if path.suffix in (".dat", ".mat", ".atr"):
        cand = path.with_suffix(".hea")
        if cand.is_file():
            return cand
    return None


# ---------------------------------------------------------------------------------------------------------
# one record


def describe_record(path: str | Path, fs: float | None = None) -> dict[str, Any]:
    """Describe one record, read through :func:`leanecg.data.loaders.load_record`."""
    from leanecg.data.loaders import load_record

    path = Path(path)
    header_path = _wfdb_header(path)
    load_path = header_path.with_suffix("") if header_path is not None and path.suffix != ".hea" else path
    rec = load_record(load_path if header_path is not None else path, fs=fs)
    out: dict[str, Any] = {
        "path": str(path),
        "kind": "record",
        "name": rec.name,
        "format": _format_of(path, header_path),
        "fs": float(rec.fs),
        "n_leads": rec.n_leads,
        "leads": list(rec.leads),
        "units": _collapse(rec.units),
        "n_samples": rec.n_samples,
        "duration_s": round(rec.duration_s, 3),
    }
    if rec.annotation is not None:
        symbols = Counter(rec.annotation.symbol)
        out["n_annotations"] = len(rec.annotation.symbol)
        out["annotation_counts"] = [
            {"symbol": s, "count": int(n)} for s, n in sorted(symbols.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        rhythms = Counter(a for a in rec.annotation.aux_note if a.startswith("("))
        if rhythms:
            out["rhythm_counts"] = [
                {"rhythm": a, "count": int(n)}
                for a, n in sorted(rhythms.items(), key=lambda kv: (-kv[1], kv[0]))
            ]
    out["labels"] = [str(x) for x in rec.labels]
    meta = {k: _jsonable(v) for k, v in rec.meta.items() if _is_scalar(v)}
    if meta:
        out["meta"] = meta
    out["quality"] = quality_summary(rec.signal, float(rec.fs), rec.leads)
    return out


def _format_of(path: Path, header_path: Path | None) -> str:
    if header_path is not None:
        try:
            files = read_header(header_path).files
        except LeanECGError:
            files = []
        if files and all(f.lower().endswith(".mat") for f in files):
            return "challenge (.mat + .hea)"
        return "WFDB"
    suffix = path.suffix.lower()
    return {".csv": "CSV", ".edf": "EDF", ".mat": "challenge (.mat + .hea)"}.get(
        suffix, suffix.lstrip(".") or "?"
    )


# ---- quality hook -----------------------------------------------------------------------------------------
# ``leanecg.signal.quality.signal_quality(x, fs)`` is written by another module owner; this is the only
# place that calls it. Until it exists the summary says so instead of failing.


def quality_summary(signal: np.ndarray, fs: float, leads: list[str] | None = None) -> dict[str, Any]:
    """Signal-quality summary of ``signal`` (``(n_samples, n_leads)`` mV at ``fs`` Hz), JSON-able:
    ``usable_leads`` plus one table row per lead (the metrics of ``signal_quality`` and its problems)."""
    try:
        from leanecg.signal.quality import signal_quality
    except ImportError:
        return {"available": "no (leanecg.signal.quality is not installed)"}
    try:
        report = signal_quality(signal, fs, leads=leads)
    except LeanECGError as exc:  # e.g. shorter than the 1 s the indices need
        return {"available": "no", "reason": exc.problem}
    data = _jsonable(report)
    if not isinstance(data, dict) or "leads" not in data:
        return {"report": data}
    names = list(data["leads"])
    per_lead_keys = [
        k for k, v in data.items() if isinstance(v, list) and len(v) == len(names) and k != "leads"
    ]
    rows = []
    for j, name in enumerate(names):
        row: dict[str, Any] = {"lead": name}
        for key in per_lead_keys:
            value = data[key][j]
            if key == "usable":
                value = "yes" if value else "no"
            elif key == "problems":
                value = "; ".join(value) if isinstance(value, list) else value
            elif isinstance(value, float):
                value = round(value, 4)
            row[key] = value
        rows.append(row)
    usable = [r["lead"] for r in rows if r.get("usable") == "yes"]
    return {"usable_leads": ", ".join(usable) if usable else "none", "per_lead": rows}


def _jsonable(obj: Any) -> Any:
    """Convert dataclasses, numpy values, paths, mappings and sequences to plain JSON types."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return _jsonable(obj.to_dict())
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.integer | bool | np.bool_):
        return obj.item() if isinstance(obj, np.generic) else obj
    if isinstance(obj, float | np.floating):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool | np.integer | np.floating)


def _collapse(values: Iterable[str]) -> str:
    vals = list(values)
    uniq = list(dict.fromkeys(vals))
    return uniq[0] if len(uniq) == 1 else ", ".join(vals)


# ---------------------------------------------------------------------------------------------------------
# a folder of records


def describe_folder(folder: str | Path, fs: float | None = None) -> dict[str, Any]:
    """Summarise every record below ``folder`` (WFDB headers only; EDF / CSV records are read)."""
    folder = Path(folder)
    headers = sorted(p for p in folder.rglob("*.hea") if p.is_file())
    others = sorted(p for p in folder.rglob("*.edf") if p.is_file())
    if not headers:
        others += sorted(p for p in folder.rglob("*.csv") if p.is_file())
    if not headers and not others:
        raise MissingDataError(folder, "no ECG records found (looked for .hea, .edf and .csv files)")
    summary = _summary([read_header(h) for h in headers], [_edf_csv_info(p, fs) for p in others])
    return {"path": str(folder), "kind": "folder", **summary}


def _edf_csv_info(path: Path, fs: float | None) -> HeaderInfo:
    from leanecg.data.loaders import load_record

    rec = load_record(path, fs=fs)
    info = HeaderInfo(
        path=path,
        name=rec.name,
        fs=float(rec.fs),
        n_samples=rec.n_samples,
        leads=list(rec.leads),
        units=list(rec.units),
        files=[path.name],
    )
    info.comments = [f"Dx: {','.join(rec.labels)}"] if rec.labels else []
    return info


def _summary(headers: list[HeaderInfo], others: list[HeaderInfo] | None = None) -> dict[str, Any]:
    """Record count, formats, fs / leads / duration distributions and ``# Dx`` label counts."""
    infos = list(headers) + list(others or [])
    formats: Counter[str] = Counter()
    for h in headers:
        mat = bool(h.files) and all(f.lower().endswith(".mat") for f in h.files)
        formats["challenge (.mat + .hea)" if mat else "WFDB"] += 1
    for o in others or []:
        formats[o.path.suffix.lstrip(".").upper()] += 1
    fs_counts = Counter(h.fs for h in infos)
    lead_counts = Counter(", ".join(h.leads) for h in infos)
    durations = np.array([h.duration_s for h in infos if h.n_samples > 0], dtype=np.float64)
    labels: Counter[str] = Counter()
    for h in infos:
        dx = h.comment_value("Dx")
        if dx:
            labels.update(dict.fromkeys(c.strip() for c in dx.split(",") if c.strip()).keys())
    out: dict[str, Any] = {
        "n_records": len(infos),
        "formats": dict(formats.most_common()),
        "fs_hz": [{"fs": _num(f), "records": n} for f, n in sorted(fs_counts.items())],
        "lead_sets": [{"leads": k, "records": n} for k, n in lead_counts.most_common(10)],
    }
    if len(lead_counts) > 10:
        out["lead_sets_not_shown"] = len(lead_counts) - 10
    if durations.size:
        out["duration_s"] = {
            "min": round(float(durations.min()), 3),
            "median": round(float(np.median(durations)), 3),
            "max": round(float(durations.max()), 3),
            "total_hours": round(float(durations.sum()) / 3600.0, 3),
        }
    if labels:
        out["dx_label_counts"] = _dx_rows(labels)
    return out


def _dx_rows(labels: Counter[str]) -> list[dict[str, Any]]:
    """``# Dx`` codes with their CinC 2021 abbreviation when the code is a known SNOMED CT code."""
    from leanecg.data.cinc2021 import snomed_abbreviations

    names = snomed_abbreviations()
    rows = []
    for code, n in sorted(labels.items(), key=lambda kv: (-kv[1], kv[0])):
        row: dict[str, Any] = {"dx": code}
        if code in names:
            row["abbreviation"] = names[code]
        row["records"] = int(n)
        rows.append(row)
    return rows


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else float(x)


# ---------------------------------------------------------------------------------------------------------
# a registered dataset


def describe_dataset(dataset: Dataset, folder: str | Path, split: str | None = None) -> dict[str, Any]:
    """Folder summary of the dataset's records (of one split if given) plus the dataset's own view."""
    folder = Path(folder)
    dataset.check_split(split)
    records = dataset.split(folder, split)[split] if split is not None else None
    paths = dataset.record_paths(folder, records)
    headers = [read_header(p) for p in paths.values()]
    out: dict[str, Any] = {"path": str(folder), "kind": "dataset"}
    out.update(dataset.info())
    if split is not None:
        out["split"] = split
    if headers:
        out.update(_summary(headers))
    else:
        out["n_records"] = 0
    out.update(dataset.describe(folder, split=split))
    return out
