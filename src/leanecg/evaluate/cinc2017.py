"""PhysioNet/CinC Challenge 2017 scoring (AF classification from a short single-lead ECG).

Follows the official ``score2017Challenge.m`` of the sample entry (``sample2017.zip``, Liu & Li, 2017):

* a 4x4 confusion matrix ``AA`` over the classes ``N`` (normal), ``A`` (AF), ``O`` (other rhythm) and
  ``~`` (noisy), rows = reference, columns = answer;
* per class ``F1_c = 2 * AA[c, c] / (sum of row c + sum of column c)`` (NaN when both sums are 0, as
  MATLAB's 0/0);
* the challenge score ``F1 = (F1_N + F1_A + F1_O) / 3`` -- the noise class is reported, not averaged.

Input handling compared with the official script:

* record names are matched exactly (the official ``strmatch`` matches prefixes, the same for the
  fixed-width ``A00001`` names);
* an answer label other than ``N A O ~`` stops the official script (``Input must contain only N, A, O or
  ~``); here it raises :class:`~leanecg.errors.LeanECGError` naming the file, line and label; a reference
  label other than those four (which the official ``switch`` silently skips) raises too;
* a reference record with no answer: the official script warns and scores it as noise (``~``). Here it
  raises naming the record, unless ``missing="noise"`` reproduces the official behaviour;
* answers for records not in the reference are ignored (as officially); duplicate records raise;
* CRLF line ends, blank lines and spaces around fields are accepted; so is the CSV ``leanecg predict``
  writes (a ``record,label,prob_N,...`` header line, the extra columns ignored, ``noise`` read as ``~``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.data.cinc2017 import CLASSES, read_reference  # the official class order
from leanecg.errors import LeanECGError

_KEYS = ("f1_N", "f1_A", "f1_O", "f1_noise")


def read_labels_csv(path: str | Path) -> dict[str, str]:
    """Read a ``record,label`` CSV (``REFERENCE.csv`` / answers) into an ordered dict; see
    :func:`leanecg.data.cinc2017.read_reference` (the one parser of this format)."""
    return read_reference(path)


def confusion_matrix(y_true: Sequence[str] | np.ndarray, y_pred: Sequence[str] | np.ndarray) -> np.ndarray:
    """The official 4x4 count matrix ``AA`` (int64), rows = reference, columns = answer, order :data:`CLASSES`."""
    t = _codes(y_true, "y_true")
    p = _codes(y_pred, "y_pred")
    if t.size != p.size:
        raise LeanECGError("y_pred", f"{p.size} answers for {t.size} reference labels")
    return np.bincount(t * 4 + p, minlength=16).reshape(4, 4).astype(np.int64)


def _codes(labels: Sequence[str] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(labels).astype(str).ravel()
    idx = np.full(arr.size, -1, dtype=np.int64)
    for k, c in enumerate(CLASSES):
        idx[arr == c] = k
    if np.any(idx < 0):
        bad = str(arr[idx < 0][0])
        raise LeanECGError(name, f"unknown label {bad!r} (expected N, A, O or ~)")
    return idx


def f1_from_confusion(aa: np.ndarray) -> dict[str, float]:
    """Per-class F1 and the challenge score from the 4x4 matrix (keys ``f1``, ``f1_N``, ... ``f1_noise``)."""
    aa = np.asarray(aa, dtype=np.float64)
    if aa.shape != (4, 4):
        raise LeanECGError("confusion", f"expected a 4x4 matrix, got shape {aa.shape}")
    den = aa.sum(axis=1) + aa.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(den > 0, 2 * np.diag(aa) / den, np.nan)
    out: dict[str, float] = {"f1": float((f1[0] + f1[1] + f1[2]) / 3)}
    out.update({k: float(v) for k, v in zip(_KEYS, f1, strict=True)})
    return out


def score_labels(y_true: Sequence[str] | np.ndarray, y_pred: Sequence[str] | np.ndarray) -> dict[str, float]:
    """Challenge 2017 scores for aligned label arrays (``"N" "A" "O" "~"``).

    Returns:
        ``{"f1": mean(F1_N, F1_A, F1_O), "f1_N", "f1_A", "f1_O", "f1_noise"}``; NaN where a class is absent
        from both the reference and the answers.

    Example:
        >>> scores = score_labels(["N", "A", "O", "N"], ["N", "A", "N", "N"])
        >>> round(scores["f1"], 3), scores["f1_N"], scores["f1_A"], scores["f1_O"]
        (0.6, 0.8, 1.0, 0.0)
    """
    return f1_from_confusion(confusion_matrix(y_true, y_pred))


def score_files(
    reference_csv: str | Path, answers_csv: str | Path, *, missing: str = "error"
) -> dict[str, float]:
    """Score an answers file against a reference file, as ``score2017Challenge.m``.

    Args:
        reference_csv: ``REFERENCE.csv`` (``record,label`` per line).
        answers_csv: the classifier's answers in the same format, any order.
        missing: ``"error"`` raises for a reference record without an answer; ``"noise"`` scores it as
            ``~`` like the official script (which prints a warning).

    Returns:
        The dict of :func:`score_labels`.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> tmp = Path(tempfile.mkdtemp())
        >>> _ = (tmp / "REFERENCE.csv").write_text("A00001,N\\nA00002,A\\nA00003,O\\nA00004,~\\n")
        >>> _ = (tmp / "answers.csv").write_text("A00002,A\\nA00001,N\\nA00003,N\\nA00004,~\\n")
        >>> r = score_files(tmp / "REFERENCE.csv", tmp / "answers.csv")
        >>> round(r["f1"], 3), round(r["f1_N"], 3), r["f1_A"], r["f1_O"]
        (0.556, 0.667, 1.0, 0.0)
    """
    if missing not in ("error", "noise"):
        raise LeanECGError("missing", f"must be 'error' or 'noise', got {missing!r}")
    ref = read_labels_csv(reference_csv)
    ans = read_labels_csv(answers_csv)
    y_pred: list[str] = []
    for record in ref:
        if record in ans:
            y_pred.append(ans[record])
        elif missing == "noise":
            y_pred.append("~")
        else:
            raise LeanECGError(answers_csv, f"no answer for record {record}")
    return score_labels(list(ref.values()), y_pred)


def describe(result: dict[str, Any]) -> str:
    """The official script's printout for a result of :func:`score_labels`."""
    return (
        f"F1 measure for Normal rhythm:  {result['f1_N']:.4f}\n"
        f"F1 measure for AF rhythm:  {result['f1_A']:.4f}\n"
        f"F1 measure for Other rhythm:  {result['f1_O']:.4f}\n"
        f"F1 measure for Noisy recordings:  {result['f1_noise']:.4f}\n"
        f"Final F1 measure:  {result['f1']:.4f}\n"
    )
