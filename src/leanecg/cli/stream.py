"""``leanecg stream``: classify a record or stdin samples online, chunk by chunk, with event lines and a
latency summary."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Any

import typer

from leanecg.cli.infer import load_model
from leanecg.cli.options import (
    MAX_STREAM_S,
    MAX_THREADS,
    STREAM_EVENTS_EVERY,
    FsOpt,
    LeadOpt,
    ModelOpt,
    QuietOpt,
    RhythmGateOpt,
    check_fs,
    check_option,
)
from leanecg.cli.render import print_leads, print_text, render, say, skipped_note, status_line
from leanecg.errors import LeanECGError


def events_every(events: str, off: bool) -> int | None:
    """``--events`` as the number of events per printed line (1: every event), ``None`` for no lines."""
    value = events.strip().lower()
    if off or value == "none":
        return None
    if value == "all":
        return 1
    if value.isdigit() and int(value) >= 1:
        return int(value)
    raise LeanECGError(
        "--events", f"must be a positive number of events per line, all or none, got {events!r}"
    )


def bare_events_flag(args: list[str]) -> list[str]:
    """``stream ... --events`` without a value (the flag of earlier releases) means ``--events all``."""
    if not args or args[0] != "stream":
        return args
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        out.append(arg)
        nxt = args[i + 1] if i + 1 < len(args) else None
        if arg == "--events" and (nxt is None or nxt.startswith("-")):
            out.append("all")
    return out


def stream(
    source: Annotated[
        str,
        typer.Argument(
            help="A record (WFDB, .mat+.hea, CSV, EDF), or - for samples on stdin (one per line, leads "
            "comma-separated, optional header line of lead names; needs --fs)."
        ),
    ],
    model: ModelOpt,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="CSV of the online results: beat models as `leanecg beats` (sample,label,prob_<class>...); "
            "record models as `leanecg predict` (record,label,prob_<class>...) with record = NAME@START_S.",
        ),
    ] = None,
    realtime: Annotated[
        bool,
        typer.Option(
            "--realtime", help="Pace the input at its true sampling rate (default: as fast as possible)."
        ),
    ] = False,
    chunk_s: Annotated[
        float,
        typer.Option(
            "--chunk-s", help="Seconds of signal per chunk (one model call each): more than 0, at most 3600."
        ),
    ] = 10.0,
    fs: FsOpt = None,
    window_s: Annotated[
        float | None,
        typer.Option(
            "--window-s", help="Record models: window length, s (default: the model's input length)."
        ),
    ] = None,
    hop_s: Annotated[
        float | None,
        typer.Option("--hop-s", help="Record models: window step, s (default: min(10, window))."),
    ] = None,
    lookahead_s: Annotated[
        float | None,
        typer.Option(
            "--lookahead-s",
            help="Look-ahead of the zero-phase filters, s (default: exact to float32, ~13.6 s at 0.5 Hz).",
        ),
    ] = None,
    warmup_s: Annotated[
        float,
        typer.Option(
            "--warmup-s", help="Beat models: hold beats until the running normalisation saw this much signal."
        ),
    ] = 10.0,
    events: Annotated[
        str,
        typer.Option(
            "--events",
            metavar="N|all|none",
            help="Event lines on stdout: N (default 100) prints one line per N events, e.g. 'events 1-100 "
            "(00:00:00.1 to 00:04:58.3): 88 PVC, 12 Fusion beat', and one for the rest at the end; all: one "
            "line per event as it happens (--events alone means all); none: no event lines. The summary counts "
            "every event by type (events_by_type).",
        ),
    ] = str(STREAM_EVENTS_EVERY),
    no_events: Annotated[
        bool, typer.Option("--no-events", help="No event lines (the same as --events none).")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the latency summary as one JSON object.")
    ] = False,
    threads: Annotated[int, typer.Option(help="torch / ONNX Runtime threads (1: one core).")] = 1,
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            help="Network runtime: onnx (ONNX Runtime: a shipped model's own ONNX file; a package folder "
            "without one is exported once at start-up, 5-17 s), torch (the package's torch weights: the "
            "training extra) or auto (onnx when onnxruntime is installed, else torch).",
        ),
    ] = "auto",
    lead: LeadOpt = None,
    rhythm_gate: RhythmGateOpt = True,
    quiet: QuietOpt = False,
) -> None:
    """Classify beats (beat models) or rhythm windows (record models) of a stream online, chunk by chunk.

    Prints events (non-normal beats, rhythm onsets / offsets) aggregated, one line per 100 by default
    (--events), then a summary; a status line on stderr (a terminal only) shows the start-up and the signal
    time done. --quiet: only the summary (and errors).

    Interrupted (Ctrl-C, SIGTERM): exit 130 / 143 and --out is not written (no partial CSV; an older file of that name stays); events already printed stay printed. A CSV is written only when the stream reaches its end.
    """
    import contextlib
    import json
    import math
    import sys

    from leanecg.atomic import atomic_open
    from leanecg.deploy.stream import (
        EventLines,
        StreamClassifier,
        StreamUpdate,
        open_source,
        run_stream,
        stream_backend,
    )

    check_option("--threads", threads, 1, MAX_THREADS, integer=True)
    check_option("--chunk-s", chunk_s, 0, MAX_STREAM_S, low_open=True, unit=" seconds (an hour)")
    check_fs(fs)
    check_option("--window-s", window_s, 0, MAX_STREAM_S, low_open=True, unit=" seconds")
    check_option("--hop-s", hop_s, 0, MAX_STREAM_S, low_open=True, unit=" seconds")
    check_option("--lookahead-s", lookahead_s, 0, MAX_STREAM_S, unit=" seconds")
    check_option("--warmup-s", warmup_s, 0, MAX_STREAM_S, unit=" seconds")
    every = events_every(events, quiet or no_events)
    if backend not in ("auto", "torch", "onnx"):
        raise LeanECGError("--backend", f"unknown backend {backend!r}; use one of auto, torch, onnx")
    pkg = load_model(model, threads=threads, prefer="torch" if backend == "torch" else "onnx")
    if not rhythm_gate:
        pkg = pkg.without_rhythm_gate()
    if pkg.backend.runtime == "torch":
        import torch

        torch.set_num_threads(threads)
    src = open_source(source, fs, chunk_s)
    lines = EventLines(every or STREAM_EVENTS_EVERY)
    show_events = every is not None and not as_json

    def show(texts: list[str]) -> None:
        if show_events:
            for text in texts:
                print_text(text)

    with contextlib.ExitStack() as stack:
        bar = stack.enter_context(status_line(quiet))
        task = bar.add_task(f"stream {src.name}: starting ({backend} backend)", total=None)
        clf = StreamClassifier(
            pkg,
            src.fs,
            src.leads,
            name=src.name,
            lookahead_s=lookahead_s,
            window_s=window_s,
            hop_s=hop_s,
            warmup_s=warmup_s,
            source=src.source,
            backend=stream_backend(pkg, backend, threads=threads),
            lead=lead,
        )
        writer = None
        if out is not None:
            writer = csv.writer(stack.enter_context(atomic_open(out)))
            writer.writerow(["sample" if pkg.kind == "beats" else "record", "label", *pkg.columns])
        total = None if src.n_samples is None else round(src.n_samples / src.fs)
        bar.update(task, description=f"stream {src.name}: signal seconds", total=total)

        def chunks() -> Any:
            done = 0
            for chunk in src.chunks:
                yield chunk
                done += len(chunk)
                bar.update(task, completed=min(done / src.fs, total or math.inf))

        def on_update(update: StreamUpdate) -> None:
            if writer is not None and update.probs is not None:
                for key, label, row in zip(update.keys, update.labels, update.probs, strict=True):
                    writer.writerow([key, label, *(f"{p:.6f}" for p in row)])
            show(lines.add(update.events))

        report = run_stream(clf, chunks(), realtime=realtime, on_update=on_update)
    show(lines.close())
    print_leads({str(clf.lead_choice): 1}, quiet)  # at the end: an error mid-stream stays one line
    if clf.skipped:
        say(f"{src.name}: {skipped_note(clf.skipped, src.fs)}", quiet)
    summary = {
        "source": src.source,
        "model": pkg.name,
        "kind": pkg.kind,
        "backend": report.runtime,
        "chunk_s": chunk_s,
        "leads": str(clf.lead_choice),
        **report.latency(),
        "events_by_type": dict(lines.counts),
    }
    if as_json or clf.skipped:  # spans not analysed (invalid samples), seconds; always in --json
        summary["skipped_s"] = [[a / src.fs, b / src.fs] for a, b in clf.skipped]
    if as_json:
        sys.stdout.write(json.dumps(summary, default=float) + "\n")
    else:
        render(summary, title=f"stream {src.name} ({'real time' if realtime else 'as fast as possible'})")
    if out is not None:
        say(f"wrote {len(report.keys)} {'beats' if pkg.kind == 'beats' else 'windows'} to {out}", quiet)
