"""ANSI/AAMI EC57 beat-by-beat statistics, counted as WFDB ``bxb`` (with ``-S``/``-L``) and ``sumstats`` do.

Beat classes are the five AAMI classes ``N S V F Q``. Reference and detected beats are matched one-to-one
within 150 ms (:func:`leanecg.evaluate.beat_matching.match_beats`), and every beat lands in a 6x6 count matrix
(rows = reference ``N S V F Q O``, columns = algorithm ``n s v f q o``): matched pairs by their two classes,
missed reference beats in column ``o``, extra detections in row ``O`` (``M[O, o]`` is always 0). From it,
exactly as ``bxb.c`` (``print_results``) computes them:

* QRS detection: ``TP`` = all matched beats, ``FN`` = column ``o``, ``FP`` = row ``O``;
  ``Se = TP / (TP + FN)``, ``+P = TP / (TP + FP)``.
* VEB: ``TP = Vv``; ``FN = Vn + Vs + Vf + Vq + Vo``; ``FP = Nv + Sv + Ov``;
  ``TN`` = rows ``N S F Q O`` x columns ``n s f q``; ``FPR = FP / (TN + FP)``.
* SVEB: ``TP = Ss``; ``FN = Sn + Sv + Sf + Sq + So``; ``FP = Ns + Vs + Fs + Os``;
  ``TN`` = rows ``N V F Q O`` x columns ``n v f q``; ``FPR = FP / (TN + FP)``.

**The EC57 rule for F and Q** (EC57:1998 as implemented in ``bxb.c``): a reference fusion (``F``) or
unclassifiable (``Q``) beat labelled ``V`` is *not* a VEB false positive (``Fv`` and ``Qv`` are left out of
both FP and TN), and a reference ``Q`` beat labelled ``S`` is *not* an SVEB false positive (``Qs`` left out).
A reference ``F`` beat labelled ``S`` *is* an SVEB false positive in ``bxb``. (``sumstats`` reads ``bxb``'s
line format, which merges the F and Q rows, and therefore leaves ``Fs`` out of its gross and average SVEB
+P; the two differ only when fusion beats are called SVEB. This module uses the ``bxb`` rule throughout.)
``bxb`` prints no SVEB false-positive rate; ``sveb_fpr`` here is the exact analogue of the VEB one.

**Gross** statistics pool the matrices of all records; **average** statistics are the mean over records of
the per-record statistic, over the records where it is defined (non-zero denominator), as ``sumstats``.

Per-class ``Se``/``+P``/``F1`` for ``N S V F Q`` are the plain ones (no F/Q exceptions), with missed and
extra beats counted as errors of their class.

``ec57`` beat-class mapping from MIT-BIH symbols (AAMI EC57 / de Chazal et al. 2004): N = ``N L R e j``,
S = ``A a J S``, V = ``V E``, F = ``F``, Q = ``/ f Q``. ``bxb``'s own mapping (``amap``) differs for the
escape beats ``e j n`` (S instead of N) and also maps ``B``->N, ``r``->V, ``?``->Q; use ``mapping="bxb"``.

Known difference from ``bxb``: the comparison window. ``bxb`` skips the first 5 minutes (the "learning
period") and pairs beats with its own sequential rule near that boundary; here ``start``/``end`` simply
keep beats with ``start <= sample < end`` in both annotations (pass ``start=round(300 * fs)`` for EC57).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leanecg.errors import LeanECGError
from leanecg.evaluate.beat_matching import match_beats

#: The five AAMI beat classes, in matrix order.
AAMI_CLASSES = ("N", "S", "V", "F", "Q")
#: Row labels of the count matrix (reference; ``O`` = detection with no reference beat).
ROWS = ("N", "S", "V", "F", "Q", "O")
#: Column labels of the count matrix (algorithm; ``o`` = reference beat with no detection).
COLS = ("n", "s", "v", "f", "q", "o")

_N, _S, _V, _F, _Q, _O = range(6)

#: MIT-BIH beat symbol -> AAMI class, as in AAMI EC57 and de Chazal et al. (2004).
EC57_MAP: dict[str, str] = {
    **dict.fromkeys("NLRej", "N"),
    **dict.fromkeys("AaJS", "S"),
    **dict.fromkeys("VE", "V"),
    "F": "F",
    **dict.fromkeys("/fQ", "Q"),
}
#: MIT-BIH beat symbol -> AAMI class as WFDB ``bxb`` maps it with SVEB statistics (``amap`` in bxb.c).
BXB_MAP: dict[str, str] = {
    **dict.fromkeys("NLRB", "N"),
    **dict.fromkeys("JASaejn", "S"),
    **dict.fromkeys("VrE", "V"),
    "F": "F",
    **dict.fromkeys("Q/f?", "Q"),
}

_RATIO_KEYS = (
    "qrs_se",
    "qrs_ppv",
    "veb_se",
    "veb_ppv",
    "veb_fpr",
    "sveb_se",
    "sveb_ppv",
    "sveb_fpr",
    "accuracy",
    *(f"{c}_{s}" for c in AAMI_CLASSES for s in ("se", "ppv", "f1")),
)


def aami_classes(symbols: Sequence[str], mapping: str = "ec57") -> np.ndarray:
    """AAMI class of each annotation symbol (``""`` for non-beat annotations such as ``+ ~ | [ ]``).

    Args:
        symbols: MIT-BIH annotation symbols (e.g. ``wfdb.rdann(...).symbol``).
        mapping: ``"ec57"`` (default, :data:`EC57_MAP`) or ``"bxb"`` (:data:`BXB_MAP`).

    Returns:
        ``(n,)`` array of ``"N" "S" "V" "F" "Q"`` or ``""``; keep beats with ``classes != ""``.
    """
    table = {"ec57": EC57_MAP, "bxb": BXB_MAP}.get(mapping)
    if table is None:
        raise LeanECGError("mapping", f"must be 'ec57' or 'bxb', got {mapping!r}")
    return np.asarray([table.get(s, "") for s in symbols], dtype="<U1")


def _class_codes(classes: Any, n: int, name: str, blank: bool = False) -> np.ndarray:
    """AAMI classes given as letters (``N S V F Q``) or ints ``0..4`` -> int64 codes ``0..4``; with
    ``blank``, ``""`` (a beat no class is scored for) -> ``-1``."""
    arr = np.asarray(classes)
    if arr.ndim != 1 or arr.size != n:
        raise LeanECGError(name, f"expected {n} beat classes (one per beat), got shape {arr.shape}")
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.min() < 0 or arr.max() > 4:
            raise LeanECGError(name, "integer beat classes must be 0..4 (N, S, V, F, Q)")
        return arr.astype(np.int64)
    text = arr.astype(str)
    out = np.full(n, -1, dtype=np.int64)
    for k, c in enumerate(AAMI_CLASSES):
        out[text == c] = k
    bad_mask = (out < 0) & (text != "") if blank else out < 0
    if np.any(bad_mask):
        bad = str(text[bad_mask][0])
        raise LeanECGError(name, f"unknown beat class {bad!r} (expected one of N, S, V, F, Q)")
    return out


def ec57_matrix(
    ref_samples: Any,
    ref_classes: Any,
    test_samples: Any,
    test_classes: Any,
    fs: float,
    *,
    tolerance_s: float = 0.150,
    exclude: Any = None,
    start: int | None = None,
    end: int | None = None,
) -> np.ndarray:
    """Beat-by-beat 6x6 count matrix of one record (rows :data:`ROWS`, columns :data:`COLS`, int64).

    Args:
        ref_samples: reference beat sample indices ``(n_ref,)``.
        ref_classes: their AAMI classes (``"N" "S" "V" "F" "Q"`` or ``0..4``), ``(n_ref,)``; ``""`` marks a
            beat that takes part in the matching but is not scored (neither it nor the detection matched
            to it is counted; unmatched, it is no missed beat).
        test_samples: detected beat sample indices ``(n_test,)``.
        test_classes: their AAMI classes, ``(n_test,)``.
        fs: sampling rate in Hz of both annotations.
        tolerance_s: match window in seconds (EC57: 0.150 s, rounded to whole samples).
        exclude: ``(k, 2)`` sample intervals not scored (reference VF episodes,
            :func:`leanecg.evaluate.beat_matching.vf_intervals`).
        start: first sample of the comparison (EC57 skips the first 5 minutes: ``round(300 * fs)``).
        end: one past the last sample compared (default: everything).
    """
    if not np.isfinite(fs) or fs <= 0:
        raise LeanECGError("fs", f"sampling rate must be a positive number of Hz, got {fs!r}")
    r = np.asarray(ref_samples)
    t = np.asarray(test_samples)
    rc = _class_codes(ref_classes, r.size, "ref_classes", blank=True)
    tc = _class_codes(test_classes, t.size, "test_classes")
    if start is not None or end is not None:
        lo = -np.inf if start is None else start
        hi = np.inf if end is None else end
        keep_r = (r >= lo) & (r < hi)
        keep_t = (t >= lo) & (t < hi)
        r, rc, t, tc = r[keep_r], rc[keep_r], t[keep_t], tc[keep_t]
    tol = int(np.floor(tolerance_s * fs + 0.5))  # WFDB strtim rounds half up
    m = match_beats(r, t, tol, exclude=exclude)
    mat = np.zeros((6, 6), dtype=np.int64)
    counted = rc[m.tp_ref_idx] >= 0  # a pair on an unscored reference beat is not counted
    np.add.at(mat, (rc[m.tp_ref_idx[counted]], tc[m.tp_test_idx[counted]]), 1)
    fn = m.fn_idx[rc[m.fn_idx] >= 0]
    np.add.at(mat, (rc[fn], _O), 1)
    np.add.at(mat, (_O, tc[m.fp_idx]), 1)
    return mat


def classification_matrix(y_true: Any, y_pred: Any) -> np.ndarray:
    """6x6 count matrix when the classifier labels every reference beat (no detection errors).

    This is the usual "classification only" evaluation (de Chazal et al. 2004): beats are the reference
    beats, so row ``O`` and column ``o`` are zero and the QRS statistics are 1.
    """
    t = np.asarray(y_true)
    yt = _class_codes(t, t.size, "y_true")
    yp = _class_codes(y_pred, t.size, "y_pred")
    mat = np.zeros((6, 6), dtype=np.int64)
    mat[:5, :5] = np.bincount(yt * 5 + yp, minlength=25).reshape(5, 5)
    return mat


def _ratio(a: float, b: float) -> float:
    return float(a) / float(b) if b > 0 else float("nan")


def ec57_statistics(matrix: Any) -> dict[str, Any]:
    """EC57 statistics of a 6x6 count matrix (see the module docstring for the exact definitions).

    Returns:
        ``qrs_se, qrs_ppv, veb_se, veb_ppv, veb_fpr, sveb_se, sveb_ppv, sveb_fpr``, ``accuracy`` (matched beats
        classified correctly), ``<C>_se, <C>_ppv, <C>_f1`` for each AAMI class ``C`` (fractions, NaN when
        undefined) and ``counts`` (the integer numerators and denominators' parts).
    """
    mat = np.asarray(matrix, dtype=np.int64)
    if mat.shape != (6, 6):
        raise LeanECGError("matrix", f"expected a 6x6 EC57 count matrix, got shape {mat.shape}")
    if np.any(mat < 0):
        raise LeanECGError("matrix", "counts must be non-negative")
    qtp = int(mat[:5, :5].sum())
    qfn = int(mat[:5, _O].sum())
    qfp = int(mat[_O, :5].sum())
    vtp = int(mat[_V, _V])
    vfn = int(mat[_V, [_N, _S, _F, _Q, _O]].sum())
    vfp = int(mat[_N, _V] + mat[_S, _V] + mat[_O, _V])
    vtn = int(mat[np.ix_([_N, _S, _F, _Q, _O], [_N, _S, _F, _Q])].sum())
    stp = int(mat[_S, _S])
    sfn = int(mat[_S, [_N, _V, _F, _Q, _O]].sum())
    sfp = int(mat[_N, _S] + mat[_V, _S] + mat[_F, _S] + mat[_O, _S])
    stn = int(mat[np.ix_([_N, _V, _F, _Q, _O], [_N, _V, _F, _Q])].sum())
    out: dict[str, Any] = {
        "qrs_se": _ratio(qtp, qtp + qfn),
        "qrs_ppv": _ratio(qtp, qtp + qfp),
        "veb_se": _ratio(vtp, vtp + vfn),
        "veb_ppv": _ratio(vtp, vtp + vfp),
        "veb_fpr": _ratio(vfp, vtn + vfp),
        "sveb_se": _ratio(stp, stp + sfn),
        "sveb_ppv": _ratio(stp, stp + sfp),
        "sveb_fpr": _ratio(sfp, stn + sfp),
        "accuracy": _ratio(int(np.trace(mat[:5, :5])), qtp),
    }
    counts: dict[str, int] = {
        "qrs_tp": qtp,
        "qrs_fn": qfn,
        "qrs_fp": qfp,
        "veb_tp": vtp,
        "veb_fn": vfn,
        "veb_fp": vfp,
        "veb_tn": vtn,
        "sveb_tp": stp,
        "sveb_fn": sfn,
        "sveb_fp": sfp,
        "sveb_tn": stn,
    }
    for k, c in enumerate(AAMI_CLASSES):
        tp = int(mat[k, k])
        fn = int(mat[k, :].sum()) - tp
        fp = int(mat[:, k].sum()) - tp
        out[f"{c}_se"] = _ratio(tp, tp + fn)
        out[f"{c}_ppv"] = _ratio(tp, tp + fp)
        out[f"{c}_f1"] = _ratio(2 * tp, 2 * tp + fp + fn)
        counts.update({f"{c}_tp": tp, f"{c}_fn": fn, f"{c}_fp": fp})
    out["counts"] = counts
    return out


@dataclass(frozen=True)
class EC57Report:
    """EC57 results over a set of records.

    Attributes:
        records: record names, in input order.
        matrices: ``(n_records, 6, 6)`` int64 count matrices (rows :data:`ROWS`, columns :data:`COLS`).
        per_record: :func:`ec57_statistics` of each record.
        gross: :func:`ec57_statistics` of the pooled matrix.
        average: mean over records of each ratio, over the records where it is defined, plus
            ``n_records_<key>`` (how many records that mean covers).
    """

    records: tuple[str, ...]
    matrices: np.ndarray
    per_record: tuple[dict[str, Any], ...] = field(repr=False)
    gross: dict[str, Any] = field(repr=False)
    average: dict[str, Any] = field(repr=False)

    @property
    def matrix(self) -> np.ndarray:
        """The pooled 6x6 count matrix."""
        return self.matrices.sum(axis=0)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict: gross, average, pooled matrix and per-record statistics."""
        return {
            "rows": list(ROWS),
            "cols": list(COLS),
            "matrix": self.matrix.tolist(),
            "gross": self.gross,
            "average": self.average,
            "per_record": {
                r: {**s, "matrix": m.tolist()}
                for r, s, m in zip(self.records, self.per_record, self.matrices, strict=True)
            },
        }


def ec57_report(matrices: Mapping[str, Any]) -> EC57Report:
    """Gross and average EC57 statistics from per-record 6x6 count matrices."""
    if not matrices:
        raise LeanECGError("records", "no records to evaluate")
    names = tuple(str(k) for k in matrices)
    mats = np.stack([np.asarray(m, dtype=np.int64) for m in matrices.values()])
    if mats.shape[1:] != (6, 6):
        raise LeanECGError("matrices", f"expected 6x6 count matrices, got shape {mats.shape[1:]}")
    per = tuple(ec57_statistics(m) for m in mats)
    gross = ec57_statistics(mats.sum(axis=0))
    average: dict[str, Any] = {}
    for key in _RATIO_KEYS:
        vals = np.array([p[key] for p in per], dtype=np.float64)
        ok = ~np.isnan(vals)
        average[key] = float(vals[ok].mean()) if ok.any() else float("nan")
        average[f"n_records_{key}"] = int(ok.sum())
    return EC57Report(records=names, matrices=mats, per_record=per, gross=gross, average=average)


def evaluate_beats(
    records: Mapping[str, tuple[Any, Any, Any, Any]],
    fs: float,
    *,
    tolerance_s: float = 0.150,
    exclude: Mapping[str, Any] | None = None,
    start: int | None = None,
    end: int | None = None,
) -> EC57Report:
    """EC57 evaluation of detection + classification over records.

    Args:
        records: ``{name: (ref_samples, ref_classes, test_samples, test_classes)}`` (see :func:`ec57_matrix`).
        fs: sampling rate in Hz (all records).
        tolerance_s: match window in seconds (0.150 for EC57).
        exclude: optional ``{name: (k, 2) intervals}`` not scored (reference VF episodes).
        start: first sample compared in every record (EC57: ``round(300 * fs)``).
        end: one past the last sample compared.
    """
    mats = {
        name: ec57_matrix(
            *beats,
            fs,
            tolerance_s=tolerance_s,
            exclude=None if exclude is None else exclude.get(name),
            start=start,
            end=end,
        )
        for name, beats in records.items()
    }
    return ec57_report(mats)


def evaluate_classification(y_true: Any, y_pred: Any, groups: Any = None) -> EC57Report:
    """EC57 statistics when every reference beat has a predicted class (de Chazal-style evaluation).

    Args:
        y_true: reference AAMI class of each beat ``(n_beats,)``.
        y_pred: predicted class of each beat ``(n_beats,)``.
        groups: record of each beat ``(n_beats,)`` for per-record and average statistics; ``None`` treats
            all beats as one record ``"all"``.
    """
    t = np.asarray(y_true)
    if t.ndim != 1:
        raise LeanECGError("y_true", f"expected a 1-D array of beat classes, got shape {t.shape}")
    p = np.asarray(y_pred)
    if p.shape != t.shape:
        raise LeanECGError("y_pred", f"{p.size} predictions for {t.size} beats")
    if groups is None:
        return ec57_report({"all": classification_matrix(t, p)})
    g = np.asarray(groups)
    if g.shape != t.shape:
        raise LeanECGError("groups", f"{g.size} record ids for {t.size} beats")
    names, first = np.unique(g, return_index=True)
    order = names[np.argsort(first)]  # records in order of first appearance
    return ec57_report({str(name): classification_matrix(t[g == name], p[g == name]) for name in order})
