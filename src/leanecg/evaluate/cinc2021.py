"""PhysioNet/CinC Challenge 2021 scoring, exactly as the official ``evaluate_model.py`` computes it.

Reference implementation: ``evaluate_model.py`` and ``helper_code.py`` of the repository
``physionetchallenges/evaluation-2021`` (final 2021 version, whose ``weights.csv`` joins equivalent SNOMED CT
codes with ``|``, e.g. ``713427006|59118001``). Every number below follows that code; where the official
code silently does something surprising, this module either does the same (and says so) or refuses the
input with a :class:`~leanecg.errors.LeanECGError` naming the file (never a different number):

* **Classes.** The scored classes are the rows of ``weights.csv``; a row named ``a|b`` is one class whose
  members ``a`` and ``b`` are equivalent. A record is positive for a class when any of its ``#Dx:`` codes is
  a member; unscored codes are ignored.
* **Records without a scored label** are kept (the official scorer does not drop them): their label row is all
  zero, so they count in accuracy (correct only if no class is output), add false positives to the
  F-measure and negatives to AUROC/AUPRC, and contribute nothing to the challenge metric (its modified
  confusion matrix only has rows for positive labels).
* **Output files** (``<record>.csv`` beside each ``<record>.hea``) have 4 lines: ``#<record id>``, the
  classes, the binary outputs, the scores. A column may name one code or ``a|b``; several columns matching
  one scored class are combined (binary: any is positive; score: mean). A scored class missing from the
  file is output 0 with score 0; non-finite scores count as 0. Binary tokens ``1 True true T t`` are
  positive and ``0 False false F f`` negative; the official scorer reads *any other* token (``1.0``!) as 0,
  this module rejects it. Rows of different lengths, unparsable scores and files with fewer than 4 lines
  are rejected (the official code crashes or misreads them). Instead of the folder, the CSV of ``leanecg
  predict`` (``record,label,prob_<class>...``) of a multi-label model whose classes are SNOMED CT codes is
  read as the same outputs (:func:`load_predict_csv`).
* **Missing output files**: the official scorer stops with an error; so does :func:`score_directories`
  unless ``missing_outputs="negative"`` (all classes output 0 with score 0 for that record).
* **Challenge metric**: the modified confusion matrix ``A[j, k] += 1 / max(|labels ∪ outputs|, 1)`` for
  each labelled class ``j`` and output class ``k`` of a record; score ``sum(W * A)`` (NaN weights ignored),
  normalised so that the classifier always outputting sinus rhythm (426783006) scores 0 and the one
  outputting the true labels scores 1 (0.0 when those two coincide).
* **AUROC / AUPRC**: the official per-class sweep over distinct score values; AUROC is the trapezoid area of
  TNR versus TPR, AUPRC the step area ``sum (TPR[j+1] - TPR[j]) * PPV[j+1]``, computed with the official
  arithmetic and summation order (bit-identical results; sklearn's AUC and average precision agree only
  to rounding, ~1e-16). Classes without positives (or without negatives, for AUROC) are NaN and left out
  of the macro mean.
* **F-measure**: per class ``2TP / (2TP + FP + FN)`` on record counts, NaN when undefined, macro = nanmean.

One deliberate difference in reading label files: the official ``get_labels`` only reads lines starting with
exactly ``#Dx`` followed by ``": "``; headers rewritten by other tools (e.g. ``# Dx: ...``) would silently
lose all their labels. This module also reads ``# Dx:`` / ``#Dx:`` without the space and raises when a
header has no ``Dx`` line at all.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.errors import LeanECGError

#: SNOMED CT code of sinus rhythm, the reference ("inactive") classifier of the challenge metric.
SINUS_RHYTHM = "426783006"

#: Binary output tokens read as positive by the official scorer; everything else it reads as negative.
TRUE_TOKENS = ("1", "True", "true", "T", "t")
#: Binary output tokens this module accepts as negative (anything else is rejected).
FALSE_TOKENS = ("0", "False", "false", "F", "f")

_DX_LINE = re.compile(r"#\s*Dx\s*:(.*)")

ClassLike = str | Iterable[str]


# ----------------------------------------------------------------------------------------------------------
# classes and weights
# ----------------------------------------------------------------------------------------------------------


def parse_class(name: ClassLike) -> frozenset[str]:
    """A scored class as the set of its equivalent SNOMED CT codes: ``"713427006|59118001"`` -> 2 codes."""
    if isinstance(name, str):
        return frozenset(code.strip() for code in name.split("|"))
    return frozenset(str(code).strip() for code in name)


def class_name(cls: ClassLike) -> str:
    """The name the official scorer prints for a class: its codes sorted and joined with ``|``."""
    return "|".join(sorted(parse_class(cls)))


def default_weights_file() -> Path:
    """The official challenge ``weights.csv`` shipped with LeanECG (``leanecg/data/resources``)."""
    return Path(str(files("leanecg.data").joinpath("resources", "weights.csv")))


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig", errors="replace")
    except FileNotFoundError:
        raise LeanECGError(path, f"{what} not found") from None
    except IsADirectoryError:
        raise LeanECGError(path, f"{what} is a folder, expected a file") from None
    except OSError as exc:
        raise LeanECGError(path, f"cannot read {what}: {exc.strerror or exc}") from None


def load_weights(weights_file: str | Path | None = None) -> tuple[list[frozenset[str]], np.ndarray]:
    """Read the challenge ``weights.csv``: the scored classes and the ``(n_classes, n_classes)`` weights.

    The table's first row and first column name the classes (``a|b`` for equivalent codes); they must
    agree, in order. Non-finite entries become NaN (ignored by the metric), as in the official
    ``load_table``; entries that are not numbers at all are rejected.

    Args:
        weights_file: path to ``weights.csv``; ``None`` for :func:`default_weights_file`.

    Returns:
        ``(classes, weights)``: a list of frozensets of codes and a float64 array, rows = labels,
        columns = outputs.
    """
    path = Path(weights_file) if weights_file is not None else default_weights_file()
    if weights_file is None and not path.is_file():
        raise LeanECGError(
            path,
            "the official CinC 2021 weights.csv is not installed with LeanECG; pass the weights file explicitly",
        )
    text = _read_text(path, "weights file")
    table = [[cell.strip() for cell in line.split(",")] for line in text.splitlines() if line.strip()]
    if len(table) < 2:
        raise LeanECGError(path, "the weights table is empty (need a header row and one row per class)")
    n = len(table) - 1
    for i, row in enumerate(table):
        if len(row) != n + 1:
            raise LeanECGError(
                path, f"line {i + 1} has {len(row)} cells; a table of {n} classes needs {n + 1} on every line"
            )
    col_names, row_names = table[0][1:], [row[0] for row in table[1:]]
    if any(not name for name in col_names + row_names):
        raise LeanECGError(path, "a class name in the header row or the first column is empty")
    cols = [parse_class(name) for name in col_names]
    rows = [parse_class(name) for name in row_names]
    if rows != cols:
        bad = next(i for i in range(n) if rows[i] != cols[i])
        raise LeanECGError(
            path,
            f"row {bad + 1} is class {row_names[bad]!r} but column {bad + 1} is {col_names[bad]!r}; "
            "the header row and the first column must list the same classes in the same order",
        )
    if len(set(rows)) != n:
        raise LeanECGError(path, "a class is listed twice")
    weights = np.empty((n, n), dtype=np.float64)
    for i in range(n):
        for j in range(n):
            cell = table[i + 1][j + 1]
            try:
                value = float(cell)
            except ValueError:
                raise LeanECGError(path, f"line {i + 2}, column {j + 2}: {cell!r} is not a number") from None
            weights[i, j] = value if math.isfinite(value) else np.nan
    return rows, weights


def _classes_and_weights(
    weights: np.ndarray, classes: Sequence[ClassLike], n_classes: int
) -> tuple[list[frozenset[str]], np.ndarray]:
    cls = [parse_class(c) for c in classes]
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (len(cls), len(cls)):
        raise LeanECGError("weights", f"shape {w.shape} does not match {len(cls)} classes")
    if len(cls) != n_classes:
        raise LeanECGError("classes", f"{len(cls)} classes for label arrays with {n_classes} columns")
    return cls, w


# ----------------------------------------------------------------------------------------------------------
# label and output files
# ----------------------------------------------------------------------------------------------------------


def load_label_file(label_file: str | Path) -> list[str]:
    """The diagnosis codes of a CinC 2021 header: every ``#Dx:`` line, split on commas, stripped.

    Raises :class:`LeanECGError` when the header has no ``Dx`` line.
    """
    path = Path(label_file)
    text = _read_text(path, "label file")
    codes: list[str] = []
    found = False
    for line in text.splitlines():
        m = _DX_LINE.match(line)
        if m:
            found = True
            codes.extend(entry.strip() for entry in m.group(1).split(","))
    if not found:
        raise LeanECGError(path, "no '#Dx:' line with the record's diagnosis codes")
    return codes


def load_labels(label_files: Sequence[str | Path], classes: Sequence[ClassLike]) -> np.ndarray:
    """One-hot labels ``(n_records, n_classes)`` bool: class ``j`` is positive if any Dx code is a member."""
    cls = [parse_class(c) for c in classes]
    labels = np.zeros((len(label_files), len(cls)), dtype=bool)
    for i, f in enumerate(label_files):
        codes = set(load_label_file(f))
        for j, members in enumerate(cls):
            if members & codes:
                labels[i, j] = True
    return labels


def load_output_file(output_file: str | Path) -> tuple[str, list[str], list[bool], list[float]]:
    """Read one classifier output file: ``(record_id, classes, binary, scores)``.

    Format (official ``helper_code.save_outputs``)::

        #A0001
        164889003,164890007,426783006
        0,1,1
        0.12,0.84,0.93

    Line 1 is taken as the record id (without its leading ``#``), lines 2-4 as the three rows; later lines
    are ignored, as in the official ``load_outputs``. Non-finite scores (``nan``, ``inf``) become 0 as in
    the official scorer.

    Raises:
        LeanECGError: fewer than 4 lines, rows of different lengths, an empty class name, a binary token that
            is not one of :data:`TRUE_TOKENS` / :data:`FALSE_TOKENS`, or a score that is not a number.
    """
    path = Path(output_file)
    lines = _read_text(path, "output file").splitlines()
    if len(lines) < 4:
        hint = ""
        if lines and not lines[0].startswith("#"):
            hint = " (is the '#<record id>' first line missing?)"
        raise LeanECGError(
            path,
            f"expected 4 lines (#record id, classes, binary outputs, scores), found {len(lines)}{hint}",
        )
    record_id = lines[0][1:].strip() if lines[0].startswith("#") else lines[0].strip()
    classes = [e.strip() for e in lines[1].split(",")]
    binary_tokens = [e.strip() for e in lines[2].split(",")]
    score_tokens = [e.strip() for e in lines[3].split(",")]
    if not len(classes) == len(binary_tokens) == len(score_tokens):
        raise LeanECGError(
            path,
            f"the classes, binary and score rows have {len(classes)}, {len(binary_tokens)} and "
            f"{len(score_tokens)} entries; they must be equal",
        )
    for k, c in enumerate(classes):
        if not c:
            raise LeanECGError(path, f"line 2: class name {k + 1} is empty")
    binary: list[bool] = []
    for k, tok in enumerate(binary_tokens):
        if tok in TRUE_TOKENS:
            binary.append(True)
        elif tok in FALSE_TOKENS:
            binary.append(False)
        else:
            raise LeanECGError(
                path,
                f"line 3: binary output {tok!r} for class {classes[k]} is not 0/1 "
                "(the official scorer would silently read it as 0)",
            )
    scores: list[float] = []
    for k, tok in enumerate(score_tokens):
        try:
            value = float(tok)
        except ValueError:
            raise LeanECGError(
                path, f"line 4: score {tok!r} for class {classes[k]} is not a number"
            ) from None
        scores.append(value if math.isfinite(value) else 0.0)
    return record_id, classes, binary, scores


def load_classifier_outputs(
    output_files: Sequence[str | Path | None], classes: Sequence[ClassLike]
) -> tuple[np.ndarray, np.ndarray]:
    """Binary ``(n_records, n_classes)`` bool and scalar float64 outputs, in the order of ``classes``.

    A ``None`` entry stands for a missing output file: all classes 0 with score 0.
    """
    return _outputs_in_class_order(
        [None if f is None else load_output_file(f)[1:] for f in output_files], classes
    )


def _outputs_in_class_order(
    outputs: Sequence[tuple[list[str], list[bool], list[float]] | None], classes: Sequence[ClassLike]
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`load_classifier_outputs` for outputs already read: ``(classes, binary, scores)`` per record."""
    cls = [parse_class(c) for c in classes]
    binary = np.zeros((len(outputs), len(cls)), dtype=bool)
    scalar = np.zeros((len(outputs), len(cls)), dtype=np.float64)
    for i, output in enumerate(outputs):
        if output is None:
            continue
        rec_classes, rec_binary, rec_scores = output
        rec_sets = [parse_class(c) for c in rec_classes]
        for j, members in enumerate(cls):
            ks = [k for k, s in enumerate(rec_sets) if members & s]
            if ks:
                binary[i, j] = any(rec_binary[k] for k in ks)
                scalar[i, j] = np.mean([rec_scores[k] for k in ks])
    return binary, scalar


_SNOMED_CLASS = re.compile(r"\d+(\|\d+)*")


def load_predict_csv(path: str | Path) -> dict[str, tuple[list[str], list[bool], list[float]]]:
    """Read the CSV ``leanecg predict`` writes for a multi-label model as CinC 2021 outputs.

    Format: a header ``record,label,prob_<class>,...``, then one row per record; ``label`` lists the
    classes output positive (probability >= 0.5), joined by ``;`` (empty when none). The classes must be
    SNOMED CT codes (``164889003``, or equivalent codes joined as ``a|b``), the classes of CinC 2021: a
    model of other classes (e.g. the PTB-XL superclasses NORM, MI, STTC, CD, HYP) has no one-to-one
    mapping to them and is refused. Other columns are ignored; non-finite probabilities count as 0, as in
    the official scorer.

    Returns:
        ``{record: (classes, binary, scores)}`` in file order (as :func:`load_output_file` per record).

    Raises:
        LeanECGError naming the file: no header with ``record`` and ``label``, no ``prob_`` columns, a class
            that is not a SNOMED CT code, a row of the wrong length, a label that is not one of the classes,
            a probability that is not a number, a record listed twice, or no rows.
    """
    import csv

    path = Path(path)
    rows = list(csv.reader(_read_text(path, "predictions CSV").splitlines()))
    rows = [(k + 1, [c.strip() for c in r]) for k, r in enumerate(rows) if any(c.strip() for c in r)]
    if not rows:
        raise LeanECGError(
            path, "no lines (expected the header record,label,prob_<class>,... of leanecg predict)"
        )
    names = rows[0][1]
    lower = [n.lower() for n in names]
    if "record" not in lower or "label" not in lower:
        raise LeanECGError(
            path,
            f"line 1: expected a header record,label,prob_<class>,... (the CSV of leanecg predict), got "
            f"{','.join(names)!r}",
        )
    rec_col, label_col = lower.index("record"), lower.index("label")
    prob_cols = [k for k, n in enumerate(names) if n.startswith("prob_") and len(n) > 5]
    if not prob_cols:
        raise LeanECGError(path, "line 1: no prob_<class> columns")
    classes = [names[k][5:] for k in prob_cols]
    bad = [c for c in classes if not _SNOMED_CLASS.fullmatch(c)]
    if bad:
        raise LeanECGError(
            path,
            f"class {bad[0]} is not a SNOMED CT code: these predictions ({', '.join(classes)}) have no mapping "
            "to the CinC 2021 classes; score them with a model whose classes are SNOMED CT codes",
        )
    out: dict[str, tuple[list[str], list[bool], list[float]]] = {}
    for lineno, row in rows[1:]:
        if len(row) != len(names):
            raise LeanECGError(path, f"line {lineno}: {len(row)} fields, but the header has {len(names)}")
        record = row[rec_col]
        if not record:
            raise LeanECGError(path, f"line {lineno}: the record field is empty")
        if record in out:
            raise LeanECGError(path, f"line {lineno}: record {record} is listed twice")
        positive = {t.strip() for t in row[label_col].split(";") if t.strip()}
        unknown = sorted(positive - set(classes))
        if unknown:
            raise LeanECGError(
                path, f"line {lineno}: label {unknown[0]!r} is not one of the classes ({', '.join(classes)})"
            )
        scores: list[float] = []
        for c, k in zip(classes, prob_cols, strict=True):
            try:
                value = float(row[k])
            except ValueError:
                raise LeanECGError(
                    path, f"line {lineno}: probability {row[k]!r} of class {c} is not a number"
                ) from None
            scores.append(value if math.isfinite(value) else 0.0)
        out[record] = (list(classes), [c in positive for c in classes], scores)
    if not out:
        raise LeanECGError(path, "no prediction rows after the header")
    return out


def find_challenge_files(
    label_dir: str | Path, output_dir: str | Path, missing_outputs: str = "error"
) -> tuple[list[Path], list[Path | None]]:
    """Pair every ``<record>.hea`` of ``label_dir`` (sorted by name) with ``output_dir/<record>.csv``.

    Args:
        missing_outputs: ``"error"`` (official behaviour) raises for a missing output file; ``"negative"``
            pairs it with ``None`` (scored as all classes negative).
    """
    if missing_outputs not in ("error", "negative"):
        raise LeanECGError("missing_outputs", f"must be 'error' or 'negative', got {missing_outputs!r}")
    ldir, odir = Path(label_dir), Path(output_dir)
    for d, what in ((ldir, "label folder"), (odir, "output folder")):
        if not d.is_dir():
            raise LeanECGError(d, f"{what} not found" if not d.exists() else f"{what} is not a folder")
    label_files = _label_files(ldir)
    output_files: list[Path | None] = []
    for f in label_files:
        out = odir / (f.stem + ".csv")
        if out.is_file():
            output_files.append(out)
        elif missing_outputs == "error":
            raise LeanECGError(out, f"output file missing for label file {f.name}")
        else:
            output_files.append(None)
    return label_files, output_files


def _label_files(ldir: Path) -> list[Path]:
    """The ``.hea`` files of the label folder ``ldir`` (an existing folder), sorted by name."""
    label_files: list[Path] = []
    for name in sorted(p.name for p in ldir.iterdir()):
        f = ldir / name
        if f.is_file() and name.lower().endswith(".hea") and not name.startswith("."):
            label_files.append(f)
    if not label_files:
        raise LeanECGError(ldir, "no .hea label files in the label folder")
    return label_files


# ----------------------------------------------------------------------------------------------------------
# metrics on arrays
# ----------------------------------------------------------------------------------------------------------


def _as_binary(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise LeanECGError(name, f"expected a 2-D (n_records, n_classes) array, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise LeanECGError(name, "no records to score")
    if arr.dtype != bool:
        if not np.issubdtype(arr.dtype, np.number) or not np.all((arr == 0) | (arr == 1)):
            raise LeanECGError(name, "binary labels/outputs must be 0/1 or bool")
        arr = arr != 0
    return arr


def _as_scores(x: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.shape != shape:
        raise LeanECGError(name, f"shape {arr.shape} does not match the labels' shape {shape}")
    if not np.all(np.isfinite(arr)):
        raise LeanECGError(name, "scores must be finite (the official loader turns NaN/inf into 0)")
    return arr


def compute_accuracy(labels: Any, outputs: Any) -> float:
    """Fraction of records whose binary outputs equal their labels on every scored class."""
    y = _as_binary(labels, "labels")
    o = _as_binary(outputs, "outputs")
    _same_shape(y, o)
    return float(np.count_nonzero(np.all(y == o, axis=1))) / float(y.shape[0])


def _same_shape(y: np.ndarray, o: np.ndarray) -> None:
    if y.shape != o.shape:
        raise LeanECGError("outputs", f"shape {o.shape} does not match the labels' shape {y.shape}")


def compute_f_measure(labels: Any, outputs: Any) -> tuple[float, np.ndarray]:
    """Macro F-measure and per-class ``2TP / (2TP + FP + FN)`` (NaN when a class is never labelled or output)."""
    y = _as_binary(labels, "labels")
    o = _as_binary(outputs, "outputs")
    _same_shape(y, o)
    tp = np.count_nonzero(y & o, axis=0).astype(np.float64)
    fp = np.count_nonzero(~y & o, axis=0).astype(np.float64)
    fn = np.count_nonzero(y & ~o, axis=0).astype(np.float64)
    den = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(den > 0, (2 * tp) / den, np.nan)
    return _nanmean(f), f


def _nanmean(x: np.ndarray) -> float:
    return float(np.nanmean(x)) if np.any(np.isfinite(x)) else float("nan")


def _auc_one_class(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """The official per-class AUROC and AUPRC (same thresholds, same arithmetic, same summation order)."""
    n_pos = float(np.count_nonzero(y))
    n_neg = float(y.size) - n_pos
    values, inverse = np.unique(s, return_inverse=True)
    pos = np.bincount(inverse, weights=y.astype(np.float64), minlength=values.size)
    tot = np.bincount(inverse, minlength=values.size).astype(np.float64)
    # thresholds: max + 1 (nothing positive), then every distinct score from high to low
    tp = np.concatenate(([0.0], np.cumsum(pos[::-1])))
    fp = np.concatenate(([0.0], np.cumsum((tot - pos)[::-1])))
    fn = n_pos - tp
    tn = n_neg - fp
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = tp / (tp + fn) if n_pos else np.full(tp.size, np.nan)
        tnr = tn / (fp + tn) if n_neg else np.full(tp.size, np.nan)
        ppv = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
    d_tpr = tpr[1:] - tpr[:-1]
    roc_terms = 0.5 * d_tpr * (tnr[1:] + tnr[:-1])
    pr_terms = d_tpr * ppv[1:]
    # np.add.accumulate sums left to right, exactly like the official `auroc[k] += ...` loop
    return float(np.add.accumulate(roc_terms)[-1]), float(np.add.accumulate(pr_terms)[-1])


def compute_auc(labels: Any, outputs: Any) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Macro AUROC, macro AUPRC and their per-class arrays, exactly as the official ``compute_auc``.

    Args:
        labels: ``(n_records, n_classes)`` 0/1 or bool.
        outputs: ``(n_records, n_classes)`` finite scores.
    """
    y = _as_binary(labels, "labels")
    s = _as_scores(outputs, "outputs", y.shape)
    auroc = np.empty(y.shape[1])
    auprc = np.empty(y.shape[1])
    for k in range(y.shape[1]):
        auroc[k], auprc[k] = _auc_one_class(y[:, k], s[:, k])
    return _nanmean(auroc), _nanmean(auprc), auroc, auprc


def compute_modified_confusion_matrix(labels: Any, outputs: Any, chunk: int = 4096) -> np.ndarray:
    """The challenge's ``(n_classes, n_classes)`` multi-label confusion matrix (rows labels, columns outputs).

    Each record adds ``1 / max(|labels ∪ outputs|, 1)`` to ``A[j, k]`` for every labelled class ``j`` and
    output class ``k``. The additions are made in the official loop order (record, label class, output
    class), so the result is bit-identical to the official one.
    """
    y = _as_binary(labels, "labels")
    o = _as_binary(outputs, "outputs")
    _same_shape(y, o)
    n, c = y.shape
    a = np.zeros((c, c))
    norm = 1.0 / np.maximum(np.count_nonzero(y | o, axis=1), 1).astype(np.float64)
    for start in range(0, n, chunk):
        yy, oo = y[start : start + chunk], o[start : start + chunk]
        i, j, k = np.nonzero(yy[:, :, None] & oo[:, None, :])  # C order = official loop order
        np.add.at(a, (j, k), norm[start + i])
    return a


def _class_index(classes: list[frozenset[str]], code: ClassLike) -> int:
    target = parse_class(code)
    if target not in classes:
        raise LeanECGError("sinus_rhythm", f"class {class_name(target)} is not one of the scored classes")
    return classes.index(target)


def challenge_metric(
    labels: Any,
    binary_outputs: Any,
    weights: Any,
    classes: Sequence[ClassLike],
    sinus_rhythm: ClassLike = SINUS_RHYTHM,
) -> float:
    """The normalised CinC 2021 challenge metric (1 = true labels, 0 = "always sinus rhythm").

    Args:
        labels: ``(n_records, n_classes)`` 0/1 or bool.
        binary_outputs: ``(n_records, n_classes)`` 0/1 or bool.
        weights: ``(n_classes, n_classes)`` reward matrix (rows labels, columns outputs; NaN ignored).
        classes: the scored classes in column order (``"a|b"`` strings or sets of codes).
        sinus_rhythm: the class of the reference classifier (default 426783006).

    Returns:
        ``(observed - inactive) / (correct - inactive)``, or 0.0 when ``correct == inactive``.
    """
    y = _as_binary(labels, "labels")
    o = _as_binary(binary_outputs, "binary_outputs")
    _same_shape(y, o)
    cls, w = _classes_and_weights(weights, classes, y.shape[1])
    sr = _class_index(cls, sinus_rhythm)
    observed = np.nansum(w * compute_modified_confusion_matrix(y, o))
    correct = np.nansum(w * compute_modified_confusion_matrix(y, y))
    inactive_outputs = np.zeros_like(y)
    inactive_outputs[:, sr] = True
    inactive = np.nansum(w * compute_modified_confusion_matrix(y, inactive_outputs))
    if correct != inactive:
        return float(observed - inactive) / float(correct - inactive)
    return 0.0


def score_arrays(
    labels: Any,
    binary_outputs: Any,
    scalar_outputs: Any,
    weights: Any,
    classes: Sequence[ClassLike],
    sinus_rhythm: ClassLike = SINUS_RHYTHM,
) -> dict[str, Any]:
    """All official metrics from arrays: the five summary numbers plus per-class arrays.

    Returns:
        ``challenge_metric, auroc, auprc, accuracy, f_measure`` (floats), ``classes`` (names),
        ``auroc_classes, auprc_classes, f_measure_classes`` (lists of floats, NaN where undefined),
        ``n_records`` and ``n_records_without_scored_label``.

    Example:
        Four records, two scored classes (sinus rhythm and atrial fibrillation), identity weights:

        >>> import numpy as np
        >>> labels = np.array([[1, 0], [0, 1], [0, 1], [1, 0]])
        >>> scores = np.array([[0.9, 0.2], [0.3, 0.8], [0.6, 0.4], [0.7, 0.1]])
        >>> r = score_arrays(labels, scores >= 0.5, scores, np.eye(2), ["426783006", "164889003"])
        >>> r["challenge_metric"], r["accuracy"], r["auroc"], round(r["f_measure"], 4)
        (0.5, 0.75, 1.0, 0.7333)
    """
    y = _as_binary(labels, "labels")
    o = _as_binary(binary_outputs, "binary_outputs")
    _same_shape(y, o)
    s = _as_scores(scalar_outputs, "scalar_outputs", y.shape)
    cls, w = _classes_and_weights(weights, classes, y.shape[1])
    auroc, auprc, auroc_c, auprc_c = compute_auc(y, s)
    f, f_c = compute_f_measure(y, o)
    return {
        "challenge_metric": challenge_metric(y, o, w, cls, sinus_rhythm),
        "auroc": auroc,
        "auprc": auprc,
        "accuracy": compute_accuracy(y, o),
        "f_measure": f,
        "classes": [class_name(c) for c in cls],
        "auroc_classes": [float(v) for v in auroc_c],
        "auprc_classes": [float(v) for v in auprc_c],
        "f_measure_classes": [float(v) for v in f_c],
        "n_records": int(y.shape[0]),
        "n_records_without_scored_label": int(np.count_nonzero(~y.any(axis=1))),
    }


def score_directories(
    label_dir: str | Path,
    output_dir: str | Path,
    weights_file: str | Path | None = None,
    *,
    missing_outputs: str = "error",
) -> dict[str, Any]:
    """Score a folder of classifier outputs against a folder of labelled headers, as the official scorer.

    Args:
        label_dir: folder of ``<record>.hea`` files with ``#Dx:`` lines (other files are ignored).
        output_dir: folder of ``<record>.csv`` output files (4 lines, see :func:`load_output_file`), or the
            CSV file of ``leanecg predict`` of a model whose classes are SNOMED CT codes
            (:func:`load_predict_csv`; records matched by name to the label files).
        weights_file: the challenge ``weights.csv``; ``None`` for the official one shipped with LeanECG.
        missing_outputs: ``"error"`` (official) or ``"negative"`` (score a missing file as all-negative).

    Returns:
        The dict of :func:`score_arrays` (keys ``challenge_metric``, ``auroc``, ``auprc``, ``accuracy``,
        ``f_measure`` and the per-class extras) plus ``n_missing_outputs``.

    Example (two records, sinus rhythm and atrial fibrillation, both right):
        >>> import tempfile
        >>> from pathlib import Path
        >>> tmp = Path(tempfile.mkdtemp())
        >>> (tmp / "labels").mkdir(); (tmp / "out").mkdir()
        >>> for rec, dx in (("A1", "426783006"), ("A2", "164889003")):
        ...     _ = (tmp / "labels" / f"{rec}.hea").write_text(f"{rec} 1 500 5000\\n# Dx: {dx}\\n")
        >>> _ = (tmp / "out" / "A1.csv").write_text("#A1\\n426783006,164889003\\n1,0\\n0.9,0.2\\n")
        >>> _ = (tmp / "out" / "A2.csv").write_text("#A2\\n426783006,164889003\\n0,1\\n0.1,0.7\\n")
        >>> r = score_directories(tmp / "labels", tmp / "out")
        >>> round(r["challenge_metric"], 3), r["accuracy"], r["n_missing_outputs"]
        (1.0, 1.0, 0)
    """
    classes, weights = load_weights(weights_file)
    if frozenset({SINUS_RHYTHM}) not in classes:
        raise LeanECGError(
            weights_file or default_weights_file(), f"sinus rhythm ({SINUS_RHYTHM}) is not a scored class"
        )
    if Path(output_dir).is_file():  # the CSV of `leanecg predict` (a multi-label model of SNOMED CT classes)
        predictions = load_predict_csv(output_dir)
        ldir = Path(label_dir)
        if not ldir.is_dir():
            raise LeanECGError(
                ldir, "label folder not found" if not ldir.exists() else "label folder is not a folder"
            )
        label_files = _label_files(ldir)
        outputs = [predictions.get(f.stem) for f in label_files]
        missing = [f.stem for f, o in zip(label_files, outputs, strict=True) if o is None]
        if missing and missing_outputs == "error":
            raise LeanECGError(
                output_dir,
                f"no prediction for record {missing[0]} ({len(missing)} of {len(label_files)} missing)",
            )
        labels = load_labels(label_files, classes)
        binary, scalar = _outputs_in_class_order(outputs, classes)
        n_missing = len(missing)
    else:
        label_files, output_files = find_challenge_files(label_dir, output_dir, missing_outputs)
        labels = load_labels(label_files, classes)
        binary, scalar = load_classifier_outputs(output_files, classes)
        n_missing = sum(f is None for f in output_files)
    result = score_arrays(labels, binary, scalar, weights, classes, SINUS_RHYTHM)
    result["n_missing_outputs"] = n_missing
    return result
