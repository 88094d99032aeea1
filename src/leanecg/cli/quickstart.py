"""``leanecg quickstart``: the tables of :mod:`leanecg.quickstart` on the terminal and in an HTML report."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from leanecg.cli.infer import load_model
from leanecg.cli.options import DataDirOpt
from leanecg.cli.render import console, num, pct, print_text, progress_bar, table
from leanecg.errors import LeanECGError


def quickstart(
    data_dir: DataDirOpt = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for the HTML report of the quickstart.")] = Path(
        "leanecg-quickstart"
    ),
) -> None:
    """A first look, offline in under a minute: R peaks, the shipped models' predictions on example ECGs,
    their accuracy × cost card, and an HTML report."""
    from leanecg.package import list_shipped
    from leanecg.quickstart import (
        NEXT_STEPS,
        quickstart_data_dir,
        run_quickstart,
        write_model_reports,
        write_quickstart_page,
    )

    root = quickstart_data_dir(data_dir)
    if out.exists() and not out.is_dir():
        raise LeanECGError(out, "is a file; --out takes a folder for the quickstart report")
    recorder = Console(record=True, file=io.StringIO(), width=140)

    def show(renderable: Any) -> None:
        console.print(renderable)
        recorder.print(renderable)

    shipped = list_shipped()
    packages = [load_model(s["path"]) for s in shipped]  # their ONNX files, in ONNX Runtime
    with progress_bar() as bar:
        task = bar.add_task("examples", total=None)
        run = run_quickstart(root, packages, step=lambda: bar.advance(task))
    show(_detection_table(run, root))
    if run.beat_rows:
        show(_beat_table(run, next(p for p in packages if p.kind == "beats").class_names))
    if run.rhythm_rows:
        show(_rhythm_table(run))
    reports: list[Path] = []
    if packages:
        show(_card_table(shipped))
        reports = write_model_reports(packages, out)
    else:
        show("No shipped models in this installation (see `leanecg models`).")
    page = write_quickstart_page(recorder.export_html(inline_styles=True), out, run, reports, bool(packages))
    print_text(f"HTML report: {page}\n{NEXT_STEPS}")


def _detection_table(run: Any, root: Path | None) -> Any:
    """Table 1: R-peak detection on each example record."""
    from leanecg.quickstart import detection_caption

    t = table(
        "1. R-peak detection on example ECGs",
        ["record", "fs", "sec", "usable leads", "beats", "HR", "Se %", "+P %", "× real time"],
        right=("fs", "sec", "beats", "HR", "Se %", "+P %", "× real time"),
    )
    for r in run.detections:
        t.add_row(
            r.name,
            f"{r.fs:g}",
            f"{r.duration_s:.0f}",
            r.usable_leads,
            str(r.beats_detected),
            f"{r.heart_rate_bpm:.0f}",
            pct(r.sensitivity),
            pct(r.ppv),
            f"{r.real_time_factor:,.0f}",
        )
    t.caption = detection_caption(run.sources, root)
    return t


def _beat_table(run: Any, classes: list[str]) -> Any:
    """Table 2: beats per class by each beat model (and the reference), with the agreement."""
    cols = [f"{c} pred (ref)" for c in classes]
    t = table(
        "2. Heartbeat classification with the shipped beat model",
        ["model", "record", *cols, "agree with ref %"],
        right=(*cols, "agree with ref %"),
    )
    for name, b in run.beat_rows:
        cells = [
            f"{b.counts.get(c, 0)}" + ("" if b.reference is None else f" ({b.reference.get(c, 0)})")
            for c in classes
        ]
        t.add_row(name, b.name, *cells, pct(b.agreement))
    t.caption = (
        "pred: beats the model assigns to each AAMI class; ref: reference annotations (Q beats left out)."
    )
    return t


def _rhythm_table(run: Any) -> Any:
    """Table 3: each record model's rhythm on the rhythm examples."""
    t = table(
        "3. Rhythm classification with the shipped record model",
        ["model", "record", "source", "sec", "prediction", "prob", "reference"],
        right=("sec", "prob"),
    )
    for name, r in run.rhythm_rows:
        t.add_row(
            name, r.name, r.source, f"{r.duration_s:.0f}", r.label, f"{r.probability:.2f}", r.reference or "–"
        )
    return t


def _card_table(shipped: list[dict[str, Any]]) -> Any:
    """Table 4: the shipped models' accuracy × cost card: batch-1 latency in torch and its ratio to ResNet-1D, and
    the ratio in ONNX Runtime (the runtime of the quickstart's own predictions) when measured."""
    t = table(
        "4. Shipped models: accuracy × cost (test split of their task)",
        [
            "model",
            "task",
            "metric [95 % CI]",
            "params",
            "MACs",
            "latency ms",
            "× ResNet latency",
            "× ResNet, ONNX",
        ],
        right=("params", "MACs", "latency ms", "× ResNet latency", "× ResNet, ONNX"),
    )
    for s in shipped:
        t.add_row(
            s["name"],
            str(s["task"]),
            f"{s['metric']} {num(s['value'], '.3f')} [{num(s['ci_low'], '.3f')}, {num(s['ci_high'], '.3f')}]",
            num(s["params"], ",.0f"),
            num(s["macs"], ",.0f"),
            num(s["latency_ms"], ".3g"),
            num(s["latency_ratio"], ".3f"),
            num(s.get("onnx_latency_ratio"), ".3f"),  # the runtime the commands above ran on
        )
    return t
