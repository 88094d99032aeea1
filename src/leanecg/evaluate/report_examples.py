"""Example ECGs of a bench report: the strips, the predictions and the explanation figures, drawn from the
examples documents that ``leanecg bench`` writes beside the results (:mod:`leanecg.bench.examples`).

One examples document per result, ``<task folder>/examples/<result stem>.json`` (:func:`examples_file`;
schema :data:`EXAMPLES_SCHEMA`), holds for a few test records (record tasks) or beats (beat tasks) per class:
the strip's signal excerpt in mV (one lead, the one the model reads), its sampling rate and start in the
record, the R peaks with the model's beat labels (beat tasks) or the detected R peaks (record tasks), the
reference class, the model's prediction with its probabilities, and the path of the explanation figure
relative to the task folder (``examples/<result stem>/*.png``). This module only reads and draws them (numpy and the strip SVG of
:mod:`leanecg.evaluate.ecg_svg`): the report embeds the strips as inline SVG (one ``<g class="beat">`` per
R peak) and the explanation PNGs (base64).
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.evaluate.ecg_svg import CLASS_COLOURS, class_colour, ecg_strip_svg
from leanecg.evaluate.results import result_filename

__all__ = [
    "EXAMPLES_DIR",
    "EXAMPLES_SCHEMA",
    "examples_file",
    "examples_html",
    "examples_markdown",
    "load_examples",
    "strip_title",
]

EXAMPLES_SCHEMA = "leanecg.report-examples/1"
#: The folder of the examples documents and figures inside a task's results folder.
EXAMPLES_DIR = "examples"


def examples_file(task_folder: str | Path, result: Mapping[str, Any]) -> Path:
    """Where the examples document of ``result`` lives: ``<task_folder>/examples/<result file stem>.json``."""
    stem = Path(result_filename(str(result["model"]), result.get("variant"))).stem
    return Path(task_folder) / EXAMPLES_DIR / f"{stem}.json"


def load_examples(task_folder: str | Path, result: Mapping[str, Any]) -> dict[str, Any] | None:
    """The examples document of ``result`` (``None``: none written, unreadable, or of another run: a smoke
    run's examples never join a full run's report, nor the reverse)."""
    path = examples_file(task_folder, result)
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("schema") != EXAMPLES_SCHEMA:
        return None
    if bool(doc.get("tiny")) != bool((result.get("data") or {}).get("tiny")):
        return None
    return doc


def strip_title(doc: Mapping[str, Any], ex: Mapping[str, Any]) -> str:
    """The strip's title: the record, the example's reference class and the model's prediction with its
    probability (beat tasks: of the example beat; record tasks: of the record)."""
    p = ex.get("probability")
    prob = f" (p = {p:.2f})" if isinstance(p, int | float) else ""
    if doc.get("kind") == "beats":
        t = float(ex["start_s"]) + float(ex["focus_sample"]) / float(ex["fs"])
        pred = ex.get("predicted")
        said = f"predicted {pred}{prob}" if pred else "not detected by the model's R-peak detector"
        return f"{ex['record']} at {t:.2f} s: reference {ex['reference']} beat, {said}"
    return f"{ex['record']}: predicted {ex.get('predicted')}{prob}, reference {ex['reference']}"


def _strip(doc: Mapping[str, Any], ex: Mapping[str, Any]) -> str:
    x = np.asarray(ex["signal_mv"], dtype=np.float64)
    return ecg_strip_svg(
        x,
        float(ex["fs"]),
        seconds=x.size / float(ex["fs"]),
        peaks=ex.get("peaks") or [],
        labels=ex.get("labels"),
        title=strip_title(doc, ex),
        lead=str(ex.get("lead") or ""),
        time_offset_s=float(ex.get("start_s", 0.0)),
        highlight=[ex["focus_sample"]] if ex.get("focus_sample") is not None else None,
    )


def _probabilities(ex: Mapping[str, Any]) -> str:
    probs = ex.get("probabilities") or {}
    if not probs:
        return ""
    top = max(probs, key=lambda c: probs[c])
    cells = "".join(
        f"<tr{' class=top' if c == top else ''}><td><span style='color:{class_colour(c)}'>&#9679;</span> "
        f"{html.escape(c)}</td><td>{float(v):.3f}</td></tr>"
        for c, v in probs.items()
    )
    return f"<table class='probs'><tr><th>class</th><th>probability</th></tr>{cells}</table>"


def _image(folder: Path, name: str | None, alt: str) -> str:
    if not name:
        return ""
    path = folder / name
    if not path.is_file():
        return ""
    b64 = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"<img class='explanation' alt='{html.escape(alt)}' src='data:image/png;base64,{b64}'>"


def _example_html(folder: Path, doc: Mapping[str, Any], ex: Mapping[str, Any]) -> str:
    what = "beat" if doc.get("kind") == "beats" else "record"
    expl = _image(folder, ex.get("explanation"), f"explanation of {ex['record']}")
    if expl:
        start = float(ex.get("start_s") or 0.0)
        caption = (
            f"{html.escape(str(doc.get('method_title') or doc.get('method')))} relevance on the "
            + (f"excerpt (its time axis starts at the excerpt's {start:g} s; " if start else "record (")
            + f"<code>leanecg explain</code>'s figure; baseline: {html.escape(str(doc.get('baseline') or '–'))})"
        )
        expl = f"<figure>{expl}<figcaption>{caption}</figcaption></figure>"
    elif ex.get("explanation_error"):
        expl = f"<p class='note'>No explanation: {html.escape(str(ex['explanation_error']))}</p>"
    return (
        f"<div class='example' data-kind='{what}' data-record='{html.escape(str(ex['record']))}' "
        f"data-reference='{html.escape(str(ex['reference']))}' "
        f"data-predicted='{html.escape(str(ex.get('predicted') or ''))}'>"
        f"<div class='prediction'><div class='strip'>{_strip(doc, ex)}</div>{_probabilities(ex)}</div>"
        f"{expl}</div>"
    )


def examples_html(results: Sequence[Mapping[str, Any]], task_folder: str | Path) -> list[str]:
    """The HTML section of the example ECGs: per model with an examples document, its strips (prediction,
    probabilities) and explanation figures; the first such model's part is open, the others folded."""
    folder = Path(task_folder)
    docs = [(r, d) for r in results if (d := load_examples(folder, r)) is not None and d.get("examples")]
    if not docs:
        return []
    first = docs[0][1]
    legend = " ".join(
        f"<span style='color:{class_colour(k)};font-weight:bold'>&#9679; {html.escape(k)}</span>"
        for k in first.get("class_names") or CLASS_COLOURS
    )
    parts = [
        "<h2 id='examples'>Example ECGs, predictions and explanations</h2>",
        f"<p>{html.escape(str(first.get('rule', '')))} Strips: 25&nbsp;mm/s, 10&nbsp;mm/mV (small squares "
        "0.04&nbsp;s &times; 0.1&nbsp;mV, large 0.2&nbsp;s &times; 0.5&nbsp;mV), the lead the model reads, "
        f"R peaks marked and coloured by the model's class ({legend}); the example beat is shaded. Beside each "
        "strip: the model's probabilities; below it: the explanation figure of <code>leanecg explain</code> "
        "on the same excerpt.</p>",
    ]
    for k, (r, doc) in enumerate(docs):
        label = str(r["model"]) + (
            f" ({', '.join(f'{a}={b}' for a, b in sorted((r.get('variant') or {}).items()))})"
            if r.get("variant")
            else ""
        )
        n = len(doc["examples"])
        parts.append(
            f"<details class='examples'{' open' if k == 0 else ''} data-model='{html.escape(label)}'>"
            f"<summary>{html.escape(label)}: {n} example{'s' if n != 1 else ''}</summary>"
        )
        parts += [_example_html(folder, doc, ex) for ex in doc["examples"]]
        parts += [f"<p class='note'>{html.escape(str(note))}</p>" for note in doc.get("notes") or []]
        parts.append("</details>")
    return parts


EXAMPLES_CSS = (
    ".example{margin:10px 0 22px}.prediction{display:flex;gap:16px;align-items:flex-start;flex-wrap:wrap}"
    ".strip{overflow-x:auto;max-width:100%}table.probs{font-size:13px}table.probs tr.top td{font-weight:bold}"
    "figure{margin:4px 0}figcaption{font-size:13px;color:#555}.note{color:#555;font-size:13px}"
    "details.examples>summary{font-size:17px;font-weight:bold;cursor:pointer;margin:10px 0}"
)


def examples_markdown(results: Sequence[Mapping[str, Any]], task_folder: str | Path) -> str:
    """The Markdown section of the example ECGs: one row per example (model, record, reference, prediction,
    probability, explanation figure); the strips are in the HTML report."""
    folder = Path(task_folder)
    rows = []
    for r in results:
        doc = load_examples(folder, r)
        for ex in (doc or {}).get("examples") or []:
            fig = ex.get("explanation")
            p = ex.get("probability")
            where = str(ex["record"])
            if doc.get("kind") == "beats":
                where += f" at {float(ex['start_s']) + float(ex['focus_sample']) / float(ex['fs']):.2f} s"
            rows.append(
                f"| {r['model']} | {where} | {ex['reference']} | {ex.get('predicted') or '–'} | "
                f"{'–' if p is None else f'{p:.3f}'} | {f'[{Path(fig).name}]({fig})' if fig else '–'} |"
            )
    if not rows:
        return ""
    return (
        "\n## Example ECGs\n\n"
        "A few test examples per class (seeded choice; strips and explanation figures in `report.html`).\n\n"
        "| model | example | reference | predicted | probability | explanation |\n|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )
