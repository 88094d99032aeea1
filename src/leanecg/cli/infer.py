"""``leanecg predict`` (a label per record) and ``leanecg beats`` (a label per heartbeat)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Any

import typer

from leanecg.cli.options import FsOpt, LeadOpt, ModelOpt, QuietOpt, RhythmGateOpt, check_fs
from leanecg.cli.render import inverted_lead_note, print_leads, progress_bar, say, skipped_note
from leanecg.errors import LeanECGError


def load_model(spec: str, threads: int | None = None, prefer: str = "onnx") -> Any:
    """The model of ``--model`` for inference (:func:`leanecg.package.open_model`): an ``.onnx`` file, or a
    shipped name / package folder run from its ONNX file in ONNX Runtime (numpy + onnxruntime, no torch) when
    it is in sync with the weights, else from its torch weights."""
    from leanecg.package import open_model

    return open_model(spec, threads=threads, prefer=prefer)


def load_model_of_kind(spec: str, kind: str) -> Any:
    """:func:`load_model`, refusing (``--model``) a package that classifies the other kind of input."""
    pkg = load_model(spec)
    if pkg.kind != kind:
        other = ("records", "beats") if kind == "beats" else ("beats", "records")
        command = "predict" if kind == "beats" else "beats"
        raise LeanECGError(
            "--model",
            f"{spec} classifies {other[0]}, not {other[1]}; use `leanecg {command} PATH --model {spec}`",
        )
    return pkg


def predict(
    paths: Annotated[
        list[Path], typer.Argument(help="Records (WFDB, .mat+.hea, CSV, EDF) or folders of them.")
    ],
    model: ModelOpt,
    out: Annotated[Path, typer.Option("--out", help="CSV file to write: record,label,prob_<class>...")],
    fs: FsOpt = None,
    batch_size: Annotated[int, typer.Option(help="Records per model call.")] = 64,
    lead: LeadOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Classify whole records with a model; one CSV row per record (`~` is spelled `noise` in columns).

    Interrupted (Ctrl-C, SIGTERM): --out is not written (no partial CSV; an older file of that name stays).
    """
    from leanecg.atomic import atomic_open
    from leanecg.data import list_record_paths
    from leanecg.deploy.batch import predict_record_files

    check_fs(fs)
    if batch_size < 1:
        raise LeanECGError("--batch-size", f"must be a positive number of records, got {batch_size}")
    pkg = load_model_of_kind(model, "records")
    files = [f for p in paths for f in list_record_paths(p)]
    n = 0
    choices: dict[str, int] = {}
    with atomic_open(out) as fh, progress_bar(quiet) as bar:
        writer = csv.writer(fh)
        writer.writerow(["record", "label", *pkg.columns])
        task = bar.add_task(f"predict ({pkg.name}, records)", total=len(files))
        for batch in predict_record_files(pkg, files, fs=fs, lead=lead, batch_size=batch_size):
            for p in batch:
                writer.writerow([p.name, p.label, *(f"{v:.6f}" for v in p.probs)])
                choices[p.lead_choice] = choices.get(p.lead_choice, 0) + 1
            n += len(batch)
            bar.advance(task, len(batch))
    print_leads(choices, quiet)
    say(f"wrote predictions for {n} record(s) to {out}", quiet)


def beats(
    path: Annotated[
        Path, typer.Argument(help="A record (WFDB, .mat+.hea, CSV, EDF) or a folder of records.")
    ],
    model: ModelOpt,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="CSV file (sample,label,prob_<class>...); for a folder PATH, a folder receiving RECORD.csv per record.",
        ),
    ],
    fs: FsOpt = None,
    lead: LeadOpt = None,
    rhythm_gate: RhythmGateOpt = True,
    quiet: QuietOpt = False,
) -> None:
    """Detect and classify every heartbeat; one CSV row per beat (sample = R peak at the record's rate).

    Interrupted (Ctrl-C, SIGTERM): the CSV being written is discarded; for a folder PATH the CSVs of the records already finished are kept (each is complete).
    """
    from leanecg.data import list_record_paths, load_record
    from leanecg.deploy.batch import claim_output_name, write_beats_csv

    check_fs(fs)
    pkg = load_model_of_kind(model, "beats")
    if not rhythm_gate:
        pkg = pkg.without_rhythm_gate()
    files = list_record_paths(path)
    folder_mode = path.is_dir()
    if folder_mode and out.exists() and not out.is_dir():
        raise LeanECGError(out, "PATH is a folder, so --out must be a folder (one RECORD.csv per record)")
    n_beats = 0
    seen: dict[str, Path] = {}
    choices: dict[str, int] = {}
    with progress_bar(quiet) as bar:
        task = bar.add_task(f"beats ({pkg.name}, records)", total=len(files))
        for f in files:
            record = load_record(f, fs=fs, annotations=False)
            if folder_mode:
                claim_output_name(seen, record.name, f, "their CSVs would clash")
            target = out / f"{record.name}.csv" if folder_mode else out
            pred = pkg.predict_beats(record, lead=lead)
            chosen = pkg.lead_choice(record.leads, lead)
            choice = str(chosen)
            choices[choice] = choices.get(choice, 0) + 1
            write_beats_csv(target, pkg.columns, pred)
            if pred.skipped:
                say(f"{record.name}: {skipped_note(pred.skipped, record.fs)}", quiet)
            if len(pred.samples) == 0:
                say(f"{record.name}: fewer than 2 beats detected; no beats classified", quiet)
            note = inverted_lead_note(pkg, pred.upright, chosen.record_leads[0])
            if note:
                say(f"{record.name}: {note}", quiet)
            n_beats += len(pred.samples)
            bar.advance(task)
    print_leads(choices, quiet)
    where = f"{len(files)} files in {out}" if folder_mode else str(out)
    say(f"wrote {n_beats} beats from {len(files)} record(s) to {where}", quiet)
