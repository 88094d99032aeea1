"""Batch inference over record files: what ``leanecg predict`` and ``leanecg beats`` run, usable from Python.

A model package here is anything :func:`leanecg.package.open_model` returns (torch or
ONNX Runtime backend): it has ``preprocess``, ``predict_inputs``, ``labels_of``, ``lead_choice`` and
``predict_beats``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.errors import LeanECGError


@dataclass(frozen=True)
class RecordPrediction:
    """A record model's output on one record file.

    Attributes:
        name: the record's name (the CSV's ``record`` column).
        label: the predicted label (:meth:`labels_of`; multi-label: classes joined by ``;``).
        probs: class probabilities, float64 ``(n_classes,)`` in the package's class order.
        lead_choice: which record lead(s) fed the model, as text (e.g. ``"MLII -> II"``).
    """

    name: str
    label: str
    probs: np.ndarray
    lead_choice: str


def predict_record_files(
    pkg: Any,
    files: Iterable[Path],
    *,
    fs: float | None = None,
    lead: str | None = None,
    batch_size: int = 64,
) -> Iterator[list[RecordPrediction]]:
    """Classify whole records, ``batch_size`` records per model call; yields each batch's predictions in file
    order (so a caller can write rows and show progress as it goes, holding one batch of inputs in memory).

    Args:
        pkg: a record model package (``pkg.kind == "records"``).
        files: record files (any format :func:`leanecg.data.load_record` reads).
        fs: sampling rate in Hz for files that do not state one (CSV).
        lead: the record lead(s) feeding the model (``"ECG1"``, ``"I,II"``); ``None``: the default rule.
        batch_size: records per model call, >= 1.

    Raises:
        LeanECGError: ``batch_size`` < 1 (``path`` ``batch_size``); a record that cannot be read or
            preprocessed for the model (``path``: its file).
    """
    from leanecg.data import load_record

    if batch_size < 1:
        raise LeanECGError("batch_size", f"must be a positive number of records, got {batch_size}")
    names: list[str] = []
    choices: list[str] = []
    inputs: list[np.ndarray] = []

    def flush() -> list[RecordPrediction]:
        probs = pkg.predict_inputs(inputs, batch_size=batch_size)
        labels = pkg.labels_of(probs)
        batch = [
            RecordPrediction(n, lab, row, c)
            for n, lab, row, c in zip(names, labels, probs, choices, strict=True)
        ]
        names.clear()
        choices.clear()
        inputs.clear()
        return batch

    for f in files:
        record = load_record(f, fs=fs, annotations=False)
        inputs.append(pkg.preprocess(record, lead=lead).T.copy())
        choices.append(str(pkg.lead_choice(record.leads, lead)))
        names.append(record.name)
        if len(inputs) >= batch_size:
            yield flush()
    if inputs:
        yield flush()


def claim_output_name(
    seen: dict[str, Path], name: str, path: Path, clash: str = "outputs would clash"
) -> None:
    """Note that ``path``'s output file is named after its record ``name`` (one file per record in an output
    folder), in ``seen`` (record name -> file).

    Raises:
        LeanECGError naming ``path``: an earlier file in ``seen`` has the same record name (``clash`` says
            what would happen, e.g. ``"their CSVs would clash"``).
    """
    if name in seen:
        raise LeanECGError(path, f"two records are named {name!r} (also {seen[name]}); {clash}")
    seen[name] = path


def write_beats_csv(target: Path, columns: list[str], pred: Any) -> None:
    """The CSV of ``leanecg beats`` for one record, written atomically: ``sample,label,<columns>...``, one row
    per beat (``pred``: :class:`~leanecg.package.model.BeatPredictions`; probabilities with 6 decimals)."""
    import csv

    from leanecg.atomic import atomic_open

    with atomic_open(target) as fh:
        writer = csv.writer(fh)
        writer.writerow(["sample", "label", *columns])
        for s, label, row in zip(pred.samples, pred.labels, pred.probs, strict=True):
            writer.writerow([int(s), label, *(f"{p:.6f}" for p in row)])
