"""The example ECGs of a bench report: a few test examples per class, the trained model's prediction on each,
and the explanation figure of ``leanecg explain`` (issue 13 item 5, issue 14 item 4).

For every deep model of a ``leanecg bench`` run, :func:`write_examples` packages the trained model (as
``--save-models`` would, in a temporary folder) and, for :data:`EXAMPLES_PER_CLASS` test examples per class
chosen by :func:`choose_examples` (a seeded draw among the test examples whose *reference* class it is,
whatever the model predicts: not cherry-picked by correctness):

* record tasks: the raw test record, the package's prediction (label, probabilities) on the whole record,
  a strip of its first :data:`STRIP_S` s with the detected R peaks, and the explanation figure of the record;
* beat tasks: the :data:`STRIP_S` s of the raw test record around the example beat (reference annotation),
  every beat in it detected and classified by the package (as ``leanecg beats`` does, on the excerpt), the
  prediction of the example beat, and the explanation figure of the excerpt.

It writes ``<task folder>/examples/<result stem>.json`` (:mod:`leanecg.evaluate.report_examples` reads and
draws it) and the figures ``<task folder>/examples/<result stem>/*.png``. Explanations need torch (the
training stack that ``leanecg bench`` runs on); nothing here is on the inference path.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.atomic import write_json
from leanecg.errors import LeanECGError
from leanecg.evaluate.report_examples import EXAMPLES_DIR, EXAMPLES_SCHEMA, examples_file

__all__ = [
    "EXAMPLES_PER_CLASS",
    "EXPLAIN_METHOD",
    "STRIP_S",
    "choose_examples",
    "clear_examples",
    "leaderboard_figures",
    "write_examples",
]

#: Test examples per class in a bench report (records for record tasks, beats for beat tasks).
EXAMPLES_PER_CLASS = 1
#: Seconds of signal per strip (and per beat-task excerpt).
STRIP_S = 10.0
#: The explanation method of the report's figures (integrated gradients, ``leanecg explain``'s default).
EXPLAIN_METHOD = "ig"
#: A predicted beat counts as the example beat when its R peak is within this many seconds of it (EC57).
MATCH_S = 0.15


def _is_beat_task(task: Any) -> bool:
    return getattr(task, "before_s", None) is not None and getattr(task, "after_s", None) is not None


def choose_examples(
    task: Any, data: Any, seed: int, per_class: int = EXAMPLES_PER_CLASS
) -> list[dict[str, Any]]:
    """The report's examples: per class (in the task's order), ``per_class`` test examples drawn with
    ``numpy.random.default_rng([seed, class index])`` among those of that reference class.

    Returns ``{"record", "class", "ordinal"}`` per example: record tasks draw test records (multi-label
    tasks: records carrying the class); beat tasks draw test beats and keep their record and their
    ``ordinal`` among that record's test beats of the class (the example is that reference beat of the raw
    record). Classes without test examples are left out.
    """
    records = list(data.info.get("test_records") or [])
    y = np.asarray(data.test.y)
    beats = _is_beat_task(task)
    groups = np.asarray(data.test.groups) if beats and data.test.groups is not None else None
    if beats and groups is None:
        raise LeanECGError(task.name, "the test split has no record of each beat: no example beats")
    out = []
    for k, cls in enumerate(task.class_names):
        idx = np.flatnonzero(y[:, k] > 0 if y.ndim == 2 else y == k)
        if idx.size == 0:
            continue
        rng = np.random.default_rng([int(seed), k])
        for i in np.sort(rng.choice(idx, size=min(per_class, idx.size), replace=False)).tolist():
            if beats:
                rec = str(groups[i])
                same = idx[groups[idx] == groups[i]]
                out.append({"record": rec, "class": cls, "ordinal": int(np.searchsorted(same, i))})
            else:
                out.append({"record": str(records[i]), "class": cls, "ordinal": 0})
    return out


def clear_examples(task_folder: Path, result: Mapping[str, Any]) -> None:
    """Remove the examples document and figures of ``result`` (before a rerun writes new ones)."""
    doc = examples_file(task_folder, result)
    doc.unlink(missing_ok=True)
    shutil.rmtree(doc.with_suffix(""), ignore_errors=True)


def write_examples(
    task: Any,
    model: Any,
    data: Any,
    result: Mapping[str, Any],
    data_dir: Path,
    task_folder: Path,
    *,
    seed: int = 0,
    per_class: int = EXAMPLES_PER_CLASS,
    method: str = EXPLAIN_METHOD,
    log: Callable[[str], None] = lambda s: None,
) -> Path | None:
    """Write the examples document and explanation figures of one trained deep model (module docstring);
    returns the document's path (``None`` when the task has no test example to show).

    Raises:
        LeanECGError: the model cannot be packaged (e.g. a feature input the package format lacks).
    """
    from leanecg.data import get_dataset
    from leanecg.explain import explain_record, plot_explanation
    from leanecg.package import open_model, save_model_package

    clear_examples(task_folder, result)
    chosen = choose_examples(task, data, seed, per_class)
    if not chosen:
        return None
    ds = get_dataset(task.dataset)
    path = examples_file(task_folder, result)
    fig_dir = path.with_suffix("")
    beats = _is_beat_task(task)
    examples, notes = [], []
    method_title, baseline = method, None
    with tempfile.TemporaryDirectory(prefix="leanecg-examples-") as tmp:
        saved = save_model_package(Path(tmp) / "pkg", model, task, data, dict(result))
        pkg = open_model(saved, prefer="torch")
        for n, choice in enumerate(chosen):
            try:
                record = _load(ds, data_dir, choice["record"], beats)
                ex = (
                    _beat_example(pkg, record, choice)
                    if beats
                    else _record_example(pkg, record, choice, data)
                )
            except LeanECGError as err:
                notes.append(f"{choice['record']} ({choice['class']}): not shown ({err.problem})")
                continue
            excerpt = ex.pop("_record")
            try:
                expl = explain_record(pkg, excerpt, method=method)
                method_title, baseline = expl.method_title, expl.baseline
                name = f"{n:02d}_{_slug(choice['record'])}_{_slug(choice['class'])}.png"
                plot_explanation(expl, fig_dir / name)
                ex["explanation"] = f"{EXAMPLES_DIR}/{path.stem}/{name}"
            except LeanECGError as err:
                ex["explanation_error"] = err.problem
            examples.append(ex)
    what = "beats" if beats else "records"
    doc = {
        "schema": EXAMPLES_SCHEMA,
        "task": task.name,
        "model": result["model"],
        "variant": dict(result.get("variant") or {}),
        "kind": what,
        "tiny": bool((result.get("data") or {}).get("tiny")),
        "class_names": list(task.class_names),
        "method": method,
        "method_title": method_title,
        "baseline": baseline,
        "seed": int(seed),
        "rule": (
            f"{per_class} test {what[:-1]}{'s' if per_class != 1 else ''} per class, drawn with seed {seed} "
            f"among the test {what} of that reference class, whatever the model predicts (not chosen by "
            "correctness)."
            + (
                f" Beat examples: the {STRIP_S:g} s of the raw test record around the reference beat, every "
                "beat detected and classified by the packaged model on that excerpt (as leanecg beats does)."
                if beats
                else f" Record examples: the prediction on the whole raw record; the strip shows its first "
                f"{STRIP_S:g} s."
            )
        ),
        "examples": examples,
        "notes": notes,
    }
    write_json(path, doc)
    log(f"{result['model']}: {len(examples)} example ECG(s) with explanations in {path.parent}")
    return path


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(s).replace("~", "noise"))


def _load(ds: Any, data_dir: Path, record: str, annotations: bool) -> Any:
    from leanecg.data import load_record

    return load_record(ds.record_path(data_dir, record), annotations=annotations)


def _lead(pkg: Any, record: Any) -> tuple[np.ndarray, str]:
    """The record's first lead that feeds the model (mV) and its name."""
    choice = pkg.lead_choice(record.leads, None)
    col = int(choice.columns[0])
    return np.asarray(record.signal[:, col], dtype=np.float64), str(choice.record_leads[0])


def _round(x: np.ndarray) -> list[float | None]:
    return [None if not math.isfinite(v) else round(float(v), 4) for v in np.asarray(x, dtype=np.float64)]


def _record_example(pkg: Any, record: Any, choice: Mapping[str, Any], data: Any) -> dict[str, Any]:
    from leanecg.signal.rpeaks import detect_rpeaks

    probs = pkg.predict_records([record])[0]
    label = pkg.labels_of(probs[None])[0]
    x, lead = _lead(pkg, record)
    n = min(x.size, round(STRIP_S * record.fs))
    peaks = detect_rpeaks(np.nan_to_num(x), record.fs)
    reference = choice["class"]
    y = np.asarray(data.test.y)
    if y.ndim == 2:  # multi-label: every class of the record
        i = list(data.info["test_records"]).index(choice["record"])
        reference = ";".join(c for c, v in zip(pkg.class_names, y[i], strict=True) if v > 0)
    return {
        "_record": record,
        "record": record.name,
        "class": choice["class"],
        "reference": reference,
        "lead": lead,
        "fs": float(record.fs),
        "start_s": 0.0,
        "duration_s": round(record.n_samples / record.fs, 3),
        "signal_mv": _round(x[:n]),
        "peaks": [int(p) for p in peaks if p < n],
        "labels": None,
        "focus_sample": None,
        "predicted": label,
        "probability": float(np.max(probs)),
        "probabilities": {c: round(float(p), 6) for c, p in zip(pkg.class_names, probs, strict=True)},
    }


def _beat_example(pkg: Any, record: Any, choice: Mapping[str, Any]) -> dict[str, Any]:
    """The :data:`STRIP_S` s around the ``ordinal``-th reference beat of the class, classified on the excerpt."""
    from leanecg.data.mitdb import aami_class
    from leanecg.data.record import Annotation

    ann = record.annotation
    if ann is None:
        raise LeanECGError(record.name, "has no beat annotations")
    ref = [
        int(s) for s, sym in zip(ann.sample, ann.symbol, strict=True) if aami_class(sym) == choice["class"]
    ]
    if not ref:
        raise LeanECGError(record.name, f"has no reference {choice['class']} beat")
    beat = ref[min(choice["ordinal"], len(ref) - 1)]
    fs = float(record.fs)
    start = max(0, min(math.floor(beat / fs - STRIP_S / 2), math.floor(record.n_samples / fs - STRIP_S)))
    i0 = round(start * fs)
    i1 = min(record.n_samples, i0 + round(STRIP_S * fs))
    keep = (ann.sample >= i0) & (ann.sample < i1)
    excerpt = dataclasses.replace(
        record,
        signal=record.signal[i0:i1],
        annotation=Annotation(
            sample=ann.sample[keep] - i0,
            symbol=[s for s, k in zip(ann.symbol, keep, strict=True) if k],
            aux_note=[a for a, k in zip(ann.aux_note, keep, strict=True) if k],
        ),
    )
    pred = pkg.predict_beats(excerpt)
    focus = beat - i0
    match = None
    if len(pred.samples):
        j = int(np.argmin(np.abs(pred.samples - focus)))
        match = j if abs(int(pred.samples[j]) - focus) <= MATCH_S * fs else None
    x, lead = _lead(pkg, excerpt)
    return {
        "_record": excerpt,
        "record": record.name,
        "class": choice["class"],
        "reference": choice["class"],
        "lead": lead,
        "fs": fs,
        "start_s": float(start),
        "duration_s": round((i1 - i0) / fs, 3),
        "signal_mv": _round(x),
        "peaks": [int(p) for p in pred.samples],
        "labels": list(pred.labels),
        "focus_sample": int(focus),
        "predicted": None if match is None else pred.labels[match],
        "probability": None if match is None else float(np.max(pred.probs[match])),
        "probabilities": {}
        if match is None
        else {c: round(float(p), 6) for c, p in zip(pkg.class_names, pred.probs[match], strict=True)},
    }


def leaderboard_figures(out_dir: Path, task_name: str, tiny: bool) -> list[tuple[str, Path]]:
    """The whole zoo's Pareto plots of the task's leaderboard (``<out_dir>/leaderboard/<task>_pareto_*.png``
    with its ``<task>.json``), when it exists and is of the same kind of run (smoke or not)."""
    import json

    folder = Path(out_dir) / "leaderboard"
    doc = folder / f"{task_name}.json"
    if not doc.is_file():
        return []
    try:
        board = json.loads(doc.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return []
    if bool(board.get("tiny")) != bool(tiny):
        return []
    n = sum(1 for r in board.get("rows") or [] if r.get("seeds"))
    out = []
    for stem, what in (("macs", "MACs"), ("latency", "latency at batch 1, one thread")):
        png = folder / f"{task_name}_pareto_{stem}.png"
        if png.is_file():
            out.append((f"Whole zoo ({n} models): accuracy vs {what}", png))
    return out
