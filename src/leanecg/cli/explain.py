"""``leanecg explain``: a model's prediction on a record, drawn as relevance on ECG paper (PNG, HTML, JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leanecg.cli.infer import load_model
from leanecg.cli.options import FsOpt, LeadOpt, ModelOpt, QuietOpt, check_fs, check_option
from leanecg.cli.render import print_leads, progress_bar, say
from leanecg.errors import LeanECGError


def explain(
    path: Annotated[
        Path, typer.Argument(help="A record (WFDB, .mat+.hea, CSV with --fs, EDF) or a folder of records.")
    ],
    model: ModelOpt,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="FILE.png (ECG-paper figure), FILE.html (self-contained page) or FILE.json (relevance curve, "
            "beats, feature contributions); for a folder PATH, a folder receiving RECORD.<format> per record.",
        ),
    ],
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            help="ig (integrated gradients; default for torch models), gradcam (1-D Grad-CAM on the last conv "
            "block) or occlusion (default and only method for an exported .onnx model).",
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--class",
            help="Class to explain, e.g. A or V (default: the predicted class; for beat models each beat's own).",
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="png, html or json (default: --out's suffix; png for a folder --out)."),
    ] = None,
    start: Annotated[
        float | None, typer.Option("--start", help="Figure: first second drawn (default: see --duration).")
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(
            "--duration",
            help="Figure: seconds drawn, at most 60 (default: the whole record up to 60 s; a longer record: "
            "20 s around the most confident abnormal beat, or its first 20 s).",
        ),
    ] = None,
    steps: Annotated[int, typer.Option("--steps", help="Integrated-gradients steps, 1 to 1024.")] = 32,
    fs: FsOpt = None,
    lead: LeadOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Explain a model's prediction: the ECG on ECG paper coloured by relevance, with R peaks, beat labels,
    the predicted class and probability, and the feature contributions of models with a feature input.

    Interrupted (Ctrl-C, SIGTERM): the file being written is discarded; for a folder PATH the files of the
    records already finished are kept.
    """
    from leanecg.data import list_record_paths, load_record
    from leanecg.deploy.batch import claim_output_name
    from leanecg.explain.figure import FORMATS, write_explanation

    check_fs(fs)
    check_option("--steps", steps, 1, 1024, integer=True)
    check_option("--duration", duration, 0, 60, low_open=True, unit="s")
    check_option("--start", start, 0, unit="s")
    folder_mode = path.is_dir()
    kind = (fmt or ("png" if folder_mode and not out.suffix else out.suffix.lstrip("."))).lower()
    if kind not in FORMATS:
        where = "--format" if fmt else out
        raise LeanECGError(where, f"unknown output format {kind!r}; use .png, .html or .json (or --format)")
    if folder_mode and out.exists() and not out.is_dir():
        raise LeanECGError(
            out, "PATH is a folder, so --out must be a folder (one RECORD.<format> per record)"
        )
    from leanecg.explain.core import check_method, class_index, default_method, explain_record

    if method is None:  # gradients need torch: an .onnx file (or no torch installed) gets occlusion
        method = default_method(model)
    pkg = load_model(model, prefer="onnx" if method == "occlusion" else "torch")
    check_method(pkg, method)
    class_index(pkg, target)
    files = list_record_paths(path)
    seen: dict[str, Path] = {}
    choices: dict[str, int] = {}
    with progress_bar(quiet) as bar:
        task = bar.add_task(f"explain ({pkg.name}, {method})", total=len(files))
        for f in files:
            record = load_record(f, fs=fs, annotations=False)
            if folder_mode:
                claim_output_name(seen, record.name, f)
            expl = explain_record(pkg, record, method=method, target=target, lead=lead, steps=steps)
            choices[expl.lead_choice] = choices.get(expl.lead_choice, 0) + 1
            target_path = out / f"{record.name}.{kind}" if folder_mode else out
            write_explanation(expl, target_path, kind, start_s=start, duration_s=duration)
            if not folder_mode:
                say(f"{record.name}: {expl.label} (p = {expl.probability:.3f})", quiet)
            bar.advance(task)
    print_leads(choices, quiet)
    where = f"{len(files)} files in {out}" if folder_mode else str(out)
    say(f"wrote the {method} explanation of {len(files)} record(s) to {where}", quiet)
