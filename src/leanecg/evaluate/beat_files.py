"""Score beat-by-beat answers on files: ``leanecg beats`` CSVs against WFDB reference annotations (EC57).

This is how a beat model is judged on a database it never saw (e.g. a Holter database at 128 Hz with its
``.atr`` files): run ``leanecg beats FOLDER --model M --out ANSWERS`` (one ``RECORD.csv`` per record), then
``leanecg score beats FOLDER ANSWERS``. Every record is scored as :mod:`leanecg.evaluate.aami` does, with
WFDB ``bxb``'s counting rules:

* reference beats are the annotations whose symbol has an AAMI class under ``mapping`` (``ec57``: de Chazal's
  ``N L R e j`` / ``A a J S`` / ``V E`` / ``F`` / ``/ f Q``; ``bxb``: WFDB's own map);
* answers are matched one-to-one within ``window_ms`` (150 ms) at the record's own rate;
* ventricular flutter/fibrillation episodes (``[`` to ``]``) are not scored unless ``exclude_vf=False``;
* a beat-coded reference annotation the mapping leaves out (``B r n ?`` under ``ec57``) is matched like any
  beat but never counted: its answer is neither a true nor a false detection (``bxb`` would score it);
* ``start_s``: beats before it are not compared (EC57's 5-minute learning period is ``start_s=300``).

An answers file is any CSV with a header holding ``sample`` and ``label`` columns (other columns, such as
``leanecg beats``' ``prob_*``, are ignored): ``sample`` is the beat's sample index at the record's rate, a
whole number ``>= 0`` and at most the record's length; ``label`` is one of ``N S V F Q``.

Example:
    >>> import tempfile, wfdb, numpy as np
    >>> from pathlib import Path
    >>> d = Path(tempfile.mkdtemp())
    >>> wfdb.wrsamp("r1", fs=250, units=["mV"], sig_name=["ECG1"], p_signal=np.zeros((2500, 1)),
    ...             fmt=["16"], write_dir=str(d))
    >>> wfdb.wrann("r1", "atr", np.array([250, 500, 700, 1000]), ["N", "N", "A", "N"], write_dir=str(d))
    >>> _ = (d / "r1.csv").write_text("sample,label\\n252,N\\n498,N\\n703,N\\n1001,N\\n1600,N\\n")
    >>> s = score_beat_files(d / "r1", d / "r1.csv")
    >>> s["gross"]["qrs_se"], s["gross"]["qrs_ppv"], s["gross"]["sveb_se"]
    (1.0, 0.8, 0.0)
    >>> import shutil; shutil.rmtree(d)
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.data.registry import read_annotation, read_header, record_stems
from leanecg.errors import LeanECGError
from leanecg.evaluate.aami import AAMI_CLASSES, aami_classes, ec57_matrix, ec57_report
from leanecg.evaluate.beat_matching import BEAT_CODES, vf_intervals

__all__ = ["SUMMARY_KEYS", "read_beats_csv", "record_matrix", "score_beat_files"]

#: The figures a summary shows, in order (fractions; the per-class ones are in the JSON).
SUMMARY_KEYS = ("qrs_se", "qrs_ppv", "sveb_se", "sveb_ppv", "veb_se", "veb_ppv")


def read_beats_csv(path: str | Path, n_samples: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The answers of one record: ``(samples, labels)``, int64 ``(n,)`` and ``<U1`` ``(n,)``.

    Args:
        path: a CSV whose header names ``sample`` and ``label`` columns (``leanecg beats`` writes one).
        n_samples: the record's length in samples; a beat beyond it is an error (answers for another
            record, or at another rate).

    Raises:
        LeanECGError: unreadable file, missing columns, a sample that is not a whole number ``>= 0``, a label
            outside ``N S V F Q``, a repeated sample, or a sample beyond ``n_samples``.
    """
    path = Path(path)
    if not path.is_file():
        raise LeanECGError(path, "answers file not found" if not path.exists() else "is not a file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LeanECGError(path, f"cannot read the answers: {exc}") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or not any(f.strip() for f in rows[0]):
        raise LeanECGError(path, "empty answers file: expected a header with sample and label columns")
    header = [f.strip().lower() for f in rows[0]]
    missing = [c for c in ("sample", "label") if c not in header]
    if missing:
        raise LeanECGError(
            path, f"the header has no {' or '.join(missing)} column (it has {', '.join(header)})"
        )
    i_s, i_l = header.index("sample"), header.index("label")
    samples: list[int] = []
    labels: list[str] = []
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(f.strip() for f in row):
            continue
        if len(row) <= max(i_s, i_l):
            raise LeanECGError(path, f"line {line_no} has {len(row)} field(s), the header has {len(header)}")
        raw, label = row[i_s].strip(), row[i_l].strip()
        if not (raw.isascii() and raw.isdigit()):
            raise LeanECGError(path, f"line {line_no}: sample {raw!r} is not a whole number >= 0")
        if label not in AAMI_CLASSES:
            raise LeanECGError(
                path, f"line {line_no}: label {label!r} is not one of {', '.join(AAMI_CLASSES)}"
            )
        samples.append(int(raw))
        labels.append(label)
    s = np.asarray(samples, dtype=np.int64)
    if np.unique(s).size != s.size:
        raise LeanECGError(path, f"sample {int(_first_repeat(s))} is listed twice")
    if n_samples is not None and s.size and int(s.max()) > n_samples:
        raise LeanECGError(
            path,
            f"sample {int(s.max())} is beyond the end of the record ({n_samples} samples): answers for "
            "another record, or at another rate?",
        )
    return s, np.asarray(labels, dtype="<U1")


def _first_repeat(s: np.ndarray) -> int:
    srt = np.sort(s)
    return int(srt[np.flatnonzero(np.diff(srt) == 0)[0]])


def record_matrix(
    ref_samples: np.ndarray,
    symbols: Sequence[str],
    samples: np.ndarray,
    labels: np.ndarray,
    fs: float,
    *,
    window_ms: float = 150.0,
    start_s: float = 0.0,
    mapping: str = "ec57",
    exclude_vf: bool = True,
) -> tuple[np.ndarray, int]:
    """EC57 counts of one record's answers against its reference annotation, by the rules of the module
    docstring.

    Args:
        ref_samples: the annotation's sample indices ``(n_ann,)`` (beats and non-beats, e.g. ``[ ]`` of VF).
        symbols: its symbols ``(n_ann,)``.
        samples: the answers' beat sample indices ``(n,)``, at the same rate.
        labels: their AAMI classes ``(n,)``.
        fs: the record's sampling rate in Hz.
        window_ms, start_s, mapping, exclude_vf: as :func:`score_beat_files`.

    Returns:
        ``(matrix, unscored)``: the 6x6 int64 count matrix (:func:`leanecg.evaluate.aami.ec57_matrix`) and
        how many beat-coded annotations the mapping left out.
    """
    ref_samples = np.asarray(ref_samples, dtype=np.int64)
    classes = aami_classes(symbols, mapping)  # both maps class beat codes only
    beats = np.fromiter((s in BEAT_CODES for s in symbols), dtype=bool, count=len(symbols))
    matrix = ec57_matrix(
        ref_samples[beats],
        classes[beats],
        samples,
        labels,
        fs,
        tolerance_s=window_ms / 1000.0,
        exclude=vf_intervals(ref_samples, symbols) if exclude_vf else None,
        start=int(np.floor(start_s * fs + 0.5)) if start_s > 0 else None,
    )
    return matrix, int(np.sum(beats & (classes == "")))


def _reference_records(reference: Path, annotator: str, records: Sequence[str] | None) -> dict[str, Path]:
    """``name -> record path (no extension)`` of the reference records to score."""
    if reference.is_dir():
        stems = record_stems(reference)
        if records:
            unknown = [r for r in records if r not in stems]
            if unknown:
                raise LeanECGError(reference, f"no record {unknown[0]!r} here (`records`)")
            stems = {r: stems[r] for r in records}
        else:
            stems = {n: p for n, p in stems.items() if p.with_name(f"{p.name}.{annotator}").is_file()}
        if not stems:
            raise LeanECGError(
                reference, f"no WFDB record with a .{annotator} annotation file here (`annotator`)"
            )
        return stems
    base = reference.with_suffix("") if reference.suffix == ".hea" else reference
    if not base.with_name(base.name + ".hea").is_file():
        raise LeanECGError(reference, "not a WFDB record (no .hea header) nor a folder")
    if records and list(records) != [base.name]:
        raise LeanECGError(reference, f"is the one record {base.name!r}; `records` names others")
    return {base.name: base}


def _answers_file(answers: Path, name: str, n_records: int) -> Path:
    if answers.is_dir():
        path = answers / f"{name}.csv"
        if not path.is_file():
            raise LeanECGError(answers, f"no answers for record {name} (expected {name}.csv here)")
        return path
    if n_records > 1:
        raise LeanECGError(
            answers, f"is one CSV, but the reference has {n_records} records: give a folder of RECORD.csv"
        )
    return answers


def score_beat_files(
    reference: str | Path,
    answers: str | Path,
    *,
    annotator: str = "atr",
    window_ms: float = 150.0,
    start_s: float = 0.0,
    mapping: str = "ec57",
    exclude_vf: bool = True,
    records: Sequence[str] | None = None,
) -> dict[str, Any]:
    """EC57 statistics of beat answers against reference annotations, gross, average and per record.

    Args:
        reference: a WFDB record (path with or without ``.hea``) or a folder of records; a folder's records
            are those with a ``.<annotator>`` file (or ``records``).
        answers: one CSV (for one record) or a folder of ``RECORD.csv`` (what ``leanecg beats`` writes for a
            folder); see :func:`read_beats_csv`.
        annotator: the reference annotation file's extension (``atr``).
        window_ms: match window in ms (EC57: 150).
        start_s: beats before this time (s) are not compared (EC57: 300).
        mapping: ``"ec57"`` or ``"bxb"`` (:func:`leanecg.evaluate.aami.aami_classes`).
        exclude_vf: leave ventricular flutter/fibrillation episodes out, as EC57 does.
        records: score only these records of a reference folder (each must have its answers).

    Returns:
        ``records`` (names scored), the settings, ``gross`` and ``average``
        (:func:`leanecg.evaluate.aami.ec57_statistics` keys; fractions, NaN when undefined), ``per_record``,
        ``matrix`` (the pooled 6x6 counts, ``rows``/``cols``) and ``unscored_reference_beats`` (how many
        beat-coded annotations the mapping left out).

    Raises:
        LeanECGError: a missing or malformed file, an unknown record, bad settings.
    """
    if not np.isfinite(window_ms) or window_ms <= 0:
        raise LeanECGError("window_ms", f"must be a positive number of ms, got {window_ms!r}")
    if not np.isfinite(start_s) or start_s < 0:
        raise LeanECGError("start_s", f"must be a number of seconds >= 0, got {start_s!r}")
    aami_classes([], mapping)  # validates the mapping's name
    reference, answers = Path(reference), Path(answers)
    if not answers.exists():
        raise LeanECGError(answers, "not found")
    refs = _reference_records(reference, annotator, records)
    matrices: dict[str, np.ndarray] = {}
    unscored = 0
    for name, base in refs.items():
        header = read_header(base)
        if header.fs <= 0:
            raise LeanECGError(base.with_name(base.name + ".hea"), "the header gives no sampling rate")
        ann = read_annotation(base, annotator)
        samples, labels = read_beats_csv(_answers_file(answers, name, len(refs)), header.n_samples or None)
        matrices[name], n_unscored = record_matrix(
            ann.sample,
            ann.symbol,
            samples,
            labels,
            header.fs,
            window_ms=window_ms,
            start_s=start_s,
            mapping=mapping,
            exclude_vf=exclude_vf,
        )
        unscored += n_unscored
    report = ec57_report(matrices)
    return {
        "records": list(report.records),
        "annotator": annotator,
        "window_ms": float(window_ms),
        "start_s": float(start_s),
        "mapping": mapping,
        "vf_excluded": bool(exclude_vf),
        "unscored_reference_beats": unscored,
        **report.to_dict(),
    }
