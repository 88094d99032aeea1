"""The ``leanecg`` command line.

Thin by design: every command parses its arguments, calls library functions and renders the result.
Any :class:`~leanecg.errors.LeanECGError` becomes ``error: <file>: <problem>`` on stderr and exit 2.
Set ``LEANECG_DEBUG=1`` to see full tracebacks instead. Ctrl-C (SIGINT) and SIGTERM print ``interrupted`` and
exit 130 / 143; the output file being written is discarded (its temporary file removed).
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from leanecg.errors import LeanECGError

app = typer.Typer(
    name="leanecg",
    help="Efficient ECG arrhythmia classification: fewer leads, smaller models, fewer labels.\n\n"
    "Bad input: one line `error: <file>: <problem>`, exit code 2. Ctrl-C or SIGTERM: `interrupted`, exit code "
    "130 / 143; the output file being written is discarded (an older file of that name is left as it was), "
    "files already completed are kept.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Find, list and download datasets.", no_args_is_help=True)
score_app = typer.Typer(help="Score predictions exactly as the official challenges do.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(score_app, name="score")


def _console_width(stream: Any) -> int | None:
    """Terminal width, or 140 columns when output goes to a file or pipe (rich's default of 80 truncates
    tables); ``$COLUMNS`` wins when set."""
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    return None if stream.isatty() else 140


console = Console(width=_console_width(sys.stdout))
# messages on stderr are never hard-wrapped: a path or command in them stays one copyable line
err_console = Console(stderr=True, width=_console_width(sys.stderr), soft_wrap=True)

DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Folder holding the datasets (default: $LEANECG_DATA or the user cache)."
    ),
]
FsOpt = Annotated[
    float | None,
    typer.Option(
        "--fs", help="Sampling rate in Hz, 1 to 100000 (required for CSV input, checked otherwise)."
    ),
]

#: Bounds of the numeric options (checked by :func:`_check_option` before any work starts).
FS_RANGE_HZ = (1.0, 100_000.0)
#: Longest chunk / window / look-ahead of ``leanecg stream``: an hour of signal (the signal of one chunk is
#: held in memory and classified in one model call; an hour of 12 leads at 1 kHz is ~350 MB of float64).
MAX_STREAM_S = 3600.0
MAX_THREADS = 256
MAX_SEED = 2**32 - 1  # numpy's seed range
MAX_N_BOOT = 100_000  # the bootstrap draws an (n_boot, n_records) index array up front
#: ``leanecg stream`` prints one event line per this many events by default (``--events``); the same as
#: :data:`leanecg.deploy.stream.DEFAULT_EVENTS_EVERY` (not imported here: the CLI starts without numpy/scipy).
STREAM_EVENTS_EVERY = 100


def _check_option(
    option: str,
    value: float | None,
    low: float,
    high: float | None = None,
    *,
    low_open: bool = False,
    integer: bool = False,
    unit: str = "",
) -> None:
    """Refuse an out-of-range numeric option with one line ``error: <option>: must be ..., got ...`` (exit
    2); ``None`` (option not given) passes. ``low_open``: ``value`` must be > ``low`` rather than >=."""
    import math

    if value is None:
        return
    v = float(value)
    if math.isfinite(v) and (v > low if low_open else v >= low) and (high is None or v <= high):
        return

    def num(x: float) -> str:
        if isinstance(x, int):
            return str(x)
        return str(int(x)) if float(x).is_integer() and abs(x) < 1e6 else f"{x:g}"

    if integer:
        want = (
            ("a positive integer" if low == 1 else f"an integer >= {num(low)}")
            if high is None
            else f"an integer from {num(low)} to {num(high)}"
        )
    else:
        want = f"a number {'more than' if low_open else 'at least'} {num(low)}"
        want += f" and at most {num(high)}" if high is not None else ""
    raise LeanECGError(option, f"must be {want}{unit}, got {num(value)}")


def _check_fs(fs: float | None) -> None:
    """A positive ``--fs`` outside :data:`FS_RANGE_HZ` names ``--fs``; zero, negative and non-finite values are
    left to the record readers, whose error names the record the rate was given for."""
    import math

    if fs is not None and math.isfinite(fs) and fs > 0:
        _check_option("--fs", fs, *FS_RANGE_HZ, unit=" Hz")


def _check_training_options(
    seed: int | None = None,
    epochs: int | None = None,
    max_train_seconds: float | None = None,
    threads: int | None = None,
    n_boot: int | None = None,
) -> None:
    """The options shared by bench, compress and pretrain."""
    _check_option("--seed", seed, 0, MAX_SEED, integer=True)
    _check_option("--epochs", epochs, 1, integer=True)
    _check_option("--max-train-seconds", max_train_seconds, 0, low_open=True, unit=" seconds")
    _check_option("--threads", threads, 1, MAX_THREADS, integer=True)
    _check_option("--n-boot", n_boot, 1, MAX_N_BOOT, integer=True)


def progress_bar(quiet: bool = False) -> Progress:
    """A rich progress bar on stderr: what is done / the total, the time left (hidden when stderr is not a
    terminal, and with ``--quiet``). It never writes to stdout: what the command prints there while the
    bar is shown goes above the bar only when stdout is the terminal too, and is left alone otherwise
    (a pipe or file)."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=quiet or not err_console.is_terminal,
        redirect_stdout=sys.stdout.isatty(),
    )


def status_line(quiet: bool = False) -> Progress:
    """A rich status line on stderr for work whose total may be unknown (the step's name, done / total
    when known, the time spent and left); hidden as :func:`progress_bar` is."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=quiet or not err_console.is_terminal,
        redirect_stdout=sys.stdout.isatty(),
    )


QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="Print nothing on stderr but errors: no progress, lead choice or 'wrote' lines (and for "
        "stream no event lines).",
    ),
]


def _log(msg: str) -> None:
    """A progress message on stderr, printed as is (no rich markup or highlighting)."""
    err_console.print(msg, markup=False, highlight=False)


def _say(msg: str, quiet: bool = False) -> None:
    """A closing message on stderr (``wrote ...``), printed as is; nothing with ``--quiet``."""
    if not quiet:
        err_console.print(msg, markup=False, highlight=False)


def _render(obj: Any, title: str | None = None) -> None:
    """Render a description dict: scalars as key/value rows, lists of dicts as tables."""
    scalars = {k: v for k, v in obj.items() if not isinstance(v, dict | list)}
    if scalars:
        table = Table(title=title, show_header=False, title_justify="left")
        table.add_column("key", style="bold", overflow="fold")
        table.add_column("value", overflow="fold")
        for k, v in scalars.items():
            table.add_row(str(k), _fmt(v))
        console.print(table)
    for k, v in obj.items():
        if isinstance(v, dict):
            _render(v, title=str(k))
        elif isinstance(v, list) and v and all(isinstance(r, dict) for r in v):
            cols = list(dict.fromkeys(c for r in v for c in r))
            table = Table(title=str(k), title_justify="left")
            for c in cols:
                table.add_column(str(c), overflow="fold")
            for r in v:
                table.add_row(*(_fmt(r.get(c, "")) for c in cols))
            console.print(table)
        elif isinstance(v, list):
            console.print(f"[bold]{k}[/bold]: {', '.join(_fmt(x) for x in v)}")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


@app.command()
def quickstart(
    data_dir: DataDirOpt = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for the HTML report of the quickstart.")] = Path(
        "leanecg-quickstart"
    ),
) -> None:
    """A first look, offline in under a minute: R peaks, the shipped models' predictions on example ECGs,
    their accuracy × cost card, and an HTML report."""
    import io

    from leanecg.data import resolve_data_dir
    from leanecg.deploy.shipped import list_shipped
    from leanecg.quickstart import (
        analyse,
        classify_beats,
        classify_rhythms,
        example_records,
        report_strips,
        rhythm_examples,
        shipped_results,
    )

    try:
        root: Path | None = resolve_data_dir(data_dir)
    except LeanECGError:
        if data_dir is not None:
            raise
        root = None
    if out.exists() and not out.is_dir():
        raise LeanECGError(out, "is a file; --out takes a folder for the quickstart report")
    recorder = Console(record=True, file=io.StringIO(), width=140)

    def show(renderable: Any) -> None:
        console.print(renderable)
        recorder.print(renderable)

    table = Table(title="1. R-peak detection on example ECGs", title_justify="left")
    for col in ("record", "fs", "sec", "usable leads", "beats", "HR", "Se %", "+P %", "× real time"):
        table.add_column(
            col, justify="left" if col in ("record", "usable leads") else "right", overflow="fold"
        )
    sources = set()
    shipped = list_shipped()
    packages = [_load_package(s["path"]) for s in shipped]  # their ONNX files, in ONNX Runtime
    beat_pkgs = [p for p in packages if p.kind == "beats"]
    record_pkgs = [p for p in packages if p.kind == "records"]
    beat_rows: list[Any] = []
    strip_rows: list[Any] = []
    rhythm_rows: list[tuple[str, Any]] = []
    with progress_bar() as bar:
        task = bar.add_task("examples", total=None)
        for record, source in example_records(root):
            r = analyse(record, source)
            sources.add(r.source)
            table.add_row(
                r.name,
                f"{r.fs:g}",
                f"{r.duration_s:.0f}",
                r.usable_leads,
                str(r.beats_detected),
                f"{r.heart_rate_bpm:.0f}",
                _pct(r.sensitivity),
                _pct(r.ppv),
                f"{r.real_time_factor:,.0f}",
            )
            beat_rows += [(pkg.name, classify_beats(pkg, record, source)) for pkg in beat_pkgs]
            strip_rows += [(name, b, record) for name, b in beat_rows[len(beat_rows) - len(beat_pkgs) :]]
            bar.advance(task)
        for pkg in record_pkgs:
            rhythm_rows += [(pkg.name, r) for r in classify_rhythms(pkg, rhythm_examples(root))]
            bar.advance(task)
    table.caption = (
        f"data: {', '.join(sorted(sources))}"
        + (
            ""
            if root is not None and "MIT-BIH (real)" in sources
            else " (set LEANECG_DATA or --data-dir to a folder holding mitdb/ for whole real records)"
        )
        + (
            "\nExamples: MIT-BIH Arrhythmia DB and CinC 2017 (PhysioNet), ODC-By 1.0; "
            "attribution in leanecg/examples/README.md."
            if any("excerpt" in s or "example" in s for s in sources)
            else ""
        )
        + "\nSe / +P: detected beats matched to the reference beats within 150 ms (ANSI/AAMI EC57)."
    )
    show(table)
    if beat_rows:
        bt = Table(title="2. Heartbeat classification with the shipped beat model", title_justify="left")
        classes = list(beat_pkgs[0].class_names)
        for col in ("model", "record", *(f"{c} pred (ref)" for c in classes), "agree with ref %"):
            bt.add_column(col, justify="left" if col in ("model", "record") else "right", overflow="fold")
        for name, b in beat_rows:
            cells = [
                f"{b.counts.get(c, 0)}" + ("" if b.reference is None else f" ({b.reference.get(c, 0)})")
                for c in classes
            ]
            bt.add_row(name, b.name, *cells, _pct(b.agreement))
        bt.caption = (
            "pred: beats the model assigns to each AAMI class; ref: reference annotations (Q beats left out)."
        )
        show(bt)
    if rhythm_rows:
        rt = Table(title="3. Rhythm classification with the shipped record model", title_justify="left")
        for col in ("model", "record", "source", "sec", "prediction", "prob", "reference"):
            rt.add_column(col, justify="right" if col in ("sec", "prob") else "left", overflow="fold")
        for name, r in rhythm_rows:
            rt.add_row(
                name,
                r.name,
                r.source,
                f"{r.duration_s:.0f}",
                r.label,
                f"{r.probability:.2f}",
                r.reference or "–",
            )
        show(rt)
    reports: list[Path] = []
    if packages:
        card = Table(
            title="4. Shipped models: accuracy × cost (test split of their task)", title_justify="left"
        )
        for col in ("model", "task", "metric [95 % CI]", "params", "MACs", "latency ms", "× ResNet latency"):
            card.add_column(
                col,
                justify="left" if col in ("model", "task", "metric [95 % CI]") else "right",
                overflow="fold",
            )
        for pkg, s in zip(packages, shipped, strict=True):
            ratio = pkg.meta.get("cost", {}).get("latency_ratio_vs_reference")
            card.add_row(
                s["name"],
                str(s["task"]),
                f"{s['metric']} {_num(s['value'], '.3f')} [{_num(s['ci_low'], '.3f')}, {_num(s['ci_high'], '.3f')}]",
                _num(s["params"], ",.0f"),
                _num(s["macs"], ",.0f"),
                _num(s["latency_ms"], ".3g"),
                _num(ratio, ".3f"),
            )
        show(card)
        import importlib.util

        if importlib.util.find_spec("matplotlib") is not None:  # plots: the training extra
            from leanecg.evaluate.report import write_report

            for result in shipped_results(packages):
                files = write_report(
                    [result], out / result["task"], title=f"LeanECG shipped model: {result['task']}"
                )
                reports.append(files["html"])
    else:
        show("No shipped models in this installation (see `leanecg models`).")
    from leanecg.atomic import atomic_open

    page = recorder.export_html(inline_styles=True)
    links = "".join(
        f"<li><a href='{p.relative_to(out).as_posix()}'>{p.parent.name}</a></li>" for p in reports
    )
    extra = report_strips(strip_rows, rhythm_rows)
    if links:
        extra += f"<h2>Model reports</h2><ul>{links}</ul>"
    elif packages:
        extra += (
            "<p>Model reports with plots (confusion matrices, curves, Pareto plots) need the training extra: "
            '<code>pip install "leanecg[train]"</code>.</p>'
        )
    page = page.replace("</body>", f"<div style='font-family:sans-serif'>{extra}</div></body>")
    out.mkdir(parents=True, exist_ok=True)
    with atomic_open(out / "report.html") as fh:
        fh.write(page)
    console.print(
        f"HTML report: {out / 'report.html'}\n"
        "Next:\n"
        "  leanecg predict RECORDS... --model cinc2017 --out preds.csv   rhythm of each record (N/A/O/~)\n"
        "  leanecg beats RECORD --model mitdb-aami --out beats.csv       class of every heartbeat (N/S/V/F)\n"
        "  leanecg models                                                the shipped models, accuracy and cost\n"
        "  leanecg info PATH                                             what a record, folder or dataset holds\n"
        "  leanecg bench cinc2017 --data-dir DIR                          benchmark the model zoo on real data\n"
        "  leanecg bench mitdb-aami --models beatnet --save-models DIR    train your own model package\n"
        "  leanecg data fetch mitdb                                      download a PhysioNet dataset (internet)",
        markup=False,
        highlight=False,
    )


def _num(v: Any, spec: str) -> str:
    """``v`` formatted with ``spec``, or ``–`` when it is missing."""
    return "–" if v is None else format(v, spec)


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.2f}"


@app.command()
def info(
    path: Annotated[
        str, typer.Argument(help="A record, a folder of records, or a dataset name (e.g. mitdb).")
    ],
    data_dir: DataDirOpt = None,
    fs: FsOpt = None,
    split: Annotated[
        str | None, typer.Option(help="Only this split of a registered dataset (e.g. DS1, DS2, train, test).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
) -> None:
    """Show what a record, folder or dataset holds: fs, leads, duration, units, labels, quality."""
    _check_fs(fs)
    from leanecg.data.describe import describe

    desc = describe(path, data_dir=data_dir, fs=fs, split=split)
    if as_json:
        sys.stdout.write(json.dumps(desc, indent=2, default=str) + "\n")
    else:
        _render(desc, title=str(desc.get("path", path)))


@app.command()
def rpeaks(
    path: Annotated[Path, typer.Argument(help="A record (WFDB, .mat+.hea, CSV, EDF) or a folder of them.")],
    out: Annotated[Path, typer.Option("--out", help="CSV file to write: record,lead,sample,time_s.")],
    lead: Annotated[str, typer.Option(help="Lead index (0-based) or lead name, e.g. II.")] = "0",
    fs: FsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Detect R peaks and write them to a CSV file (one row per beat)."""
    _check_fs(fs)
    from leanecg.atomic import atomic_open
    from leanecg.data import iter_records, list_record_paths
    from leanecg.signal import detect_rpeaks
    from leanecg.signal.leads import lead_index

    n_beats = n_records = 0
    total = len(list_record_paths(path)) if path.is_dir() else 1
    with atomic_open(out) as fh, progress_bar(quiet) as bar:
        writer = csv.writer(fh)
        writer.writerow(["record", "lead", "sample", "time_s"])
        task = bar.add_task("R peaks (records)", total=total)
        for record in iter_records(path, fs=fs):
            idx = lead_index(record.leads, lead, source=record.path or path)
            peaks = detect_rpeaks(record.signal[:, idx], record.fs)
            name = record.leads[idx]
            for p in peaks:
                writer.writerow([record.name, name, int(p), f"{p / record.fs:.4f}"])
            n_beats += len(peaks)
            n_records += 1
            bar.advance(task)
    _say(f"wrote {n_beats} R peaks from {n_records} record(s) to {out}", quiet)


@data_app.command("list")
def data_list(data_dir: DataDirOpt = None) -> None:
    """List the registered datasets and whether each is present locally."""
    from leanecg.data import list_datasets, resolve_data_dir

    root = resolve_data_dir(data_dir)
    table = Table(title=f"datasets in {root}", title_justify="left")
    for col in ("name", "present", "records in release", "description"):
        table.add_column(col, overflow="fold")
    for ds in list_datasets():
        table.add_row(ds.name, "yes" if ds.is_present(root) else "no", str(ds.n_records_full), ds.description)
    console.print(table)


@data_app.command("fetch")
def data_fetch(
    name: Annotated[str, typer.Argument(help="Dataset name (see `leanecg data list`).")],
    data_dir: DataDirOpt = None,
    base_url: Annotated[
        str | None, typer.Option(help="Mirror to download from instead of PhysioNet (http(s):// or file://).")
    ] = None,
    records: Annotated[
        int | None, typer.Option(help="Download only the first N records (plus the metadata files).")
    ] = None,
) -> None:
    """Download a dataset's official PhysioNet release into the data folder (resumable, checksummed)."""
    _check_option("--records", records, 1, integer=True)
    from leanecg.data import resolve_data_dir
    from leanecg.data.fetch import fetch_dataset

    root = resolve_data_dir(data_dir)
    with progress_bar() as bar:
        task = bar.add_task(f"fetch {name}", total=None)

        def on_file(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        dest = fetch_dataset(name, root, base_url=base_url, max_records=records, progress=on_file)
    err_console.print(f"{name} is ready in {dest}")


@score_app.command("cinc2021")
def score_cinc2021(
    label_dir: Annotated[Path, typer.Argument(help="Folder of label .hea files with '#Dx:' lines.")],
    output_dir: Annotated[
        Path,
        typer.Argument(
            help="Folder of output .csv files (classes, binary, scores), or the CSV of `leanecg predict` with a "
            "multi-label model whose classes are SNOMED CT codes (records matched to the .hea names)."
        ),
    ],
    weights: Annotated[
        Path | None, typer.Option(help="weights.csv (default: the official one shipped with LeanECG).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """PhysioNet/CinC 2021 metrics: challenge metric, AUROC, AUPRC, accuracy, F-measure."""
    from leanecg.evaluate.cinc2021 import score_directories

    result = score_directories(label_dir, output_dir, weights_file=weights)
    _print_scores(result, as_json)


@score_app.command("cinc2017")
def score_cinc2017(
    reference: Annotated[Path, typer.Argument(help="REFERENCE.csv with record,label rows.")],
    answers: Annotated[
        Path,
        typer.Argument(
            help="ANSWERS.csv with record,label rows, or the CSV of `leanecg predict` (its header line is "
            "recognised, the prob_ columns ignored, noise read as ~)."
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """PhysioNet/CinC 2017 metrics: per-class F1 and the challenge score mean(F1_N, F1_A, F1_O)."""
    from leanecg.evaluate.cinc2017 import score_files

    result = score_files(reference, answers)
    _print_scores(result, as_json)


DeviceOpt = Annotated[
    str,
    typer.Option(
        "--device",
        help="cpu, cuda (cuda:N) or auto (CUDA when torch sees a GPU, else the CPU); CUDA without a GPU is an error.",
    ),
]
AmpOpt = Annotated[
    bool,
    typer.Option(
        "--amp", help="Mixed precision on CUDA (bfloat16, else float16 with loss scaling); off on the CPU."
    ),
]
CheckpointDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--checkpoint-dir",
        help="Write a resumable training state after every epoch (model, optimiser, scheduler, sampler, RNG) "
        "into DIR/<task>/<model>/.",
    ),
]
ResumeOpt = Annotated[
    bool,
    typer.Option(
        "--resume",
        help="Continue each training from the last complete state in --checkpoint-dir (same final weights as an "
        "uninterrupted run); without a state yet, start afresh.",
    ),
]


def _train_runtime(device: str, amp: bool, checkpoint_dir: Path | None, resume: bool) -> Any:
    """The :class:`~leanecg.train.device.TrainRuntime` of ``--device``/``--amp``/``--checkpoint-dir``/``--resume``
    (checked before any work)."""
    from leanecg.train.device import TrainRuntime, resolve_device

    runtime = TrainRuntime(device=device, amp=amp, checkpoint_dir=checkpoint_dir, resume=resume)
    resolve_device(device)  # CUDA asked for without a GPU: refused now, not after loading the data
    return runtime


def _forwarded_args(ctx: typer.Context, drop: tuple[str, ...]) -> list[str]:
    """The command's arguments and non-default options, as a command line (``drop``: parameter names to leave
    out): what a launched copy of the command is given."""
    args: list[str] = [ctx.info_name or ""]
    for p in ctx.command.params:
        value = ctx.params.get(p.name or "")
        if p.name in drop:
            continue
        if p.param_type_name == "argument":
            args.append(str(value))
            continue
        if value is None or value == p.default or str(value) == str(p.default) or not p.opts:
            continue
        if getattr(p, "is_flag", False):
            if value:
                args.append(p.opts[0])
            elif getattr(p, "secondary_opts", None):
                args.append(p.secondary_opts[0])
            continue
        args += [p.opts[0], str(value)]
    return args


def _launch_torchrun(ctx: typer.Context, nproc: int, max_restarts: int) -> int:
    """Run this command again in ``nproc`` processes under torchrun (``python -m torch.distributed.run ...
    -m leanecg.train``); returns torchrun's exit code."""
    import subprocess

    from leanecg.train.distributed import format_command, launched_by_torchrun, torchrun_command

    if launched_by_torchrun():
        raise LeanECGError(
            "--nproc", "is for launching torchrun; under torchrun its --nproc_per_node sets the processes"
        )
    cmd = torchrun_command(nproc, _forwarded_args(ctx, ("nproc", "max_restarts")), max_restarts=max_restarts)
    err_console.print(f"launching {nproc} processes: {format_command(cmd)}", markup=False, highlight=False)
    return subprocess.run(cmd, check=False).returncode


@app.command()
def bench(
    ctx: typer.Context,
    task: Annotated[
        str,
        typer.Argument(
            help="Benchmark task: mitdb-aami, cinc2017 or ptbxl-superclass; or a study: leads (reduced-lead sets), labels (label efficiency), side-inputs (age/sex on ptbxl-superclass, 5 seeds)."
        ),
    ],
    models: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated model names (default: the task's set), or 'all': the whole-zoo leaderboard "
            "into OUT/leaderboard/ (resumable: finished runs are kept); <zoo model>+lightgbm "
            "(e.g. beatnet+lightgbm) is the hybrid: LightGBM on the trained model's embedding + task features."
        ),
    ] = None,
    data_dir: DataDirOpt = None,
    out: Annotated[Path, typer.Option(help="Results root; files go to OUT/TASK/.")] = Path("results"),
    seed: Annotated[int, typer.Option(help="Seed for splits, training and bootstrap.")] = 0,
    epochs: Annotated[int | None, typer.Option(help="Override the task's number of epochs.")] = None,
    max_train_seconds: Annotated[
        float | None, typer.Option(help="Training time budget per model (seconds).")
    ] = None,
    threads: Annotated[int, typer.Option(help="torch threads for training.")] = 1,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples for the 95 % CIs.")] = 1000,
    tiny: Annotated[
        bool, typer.Option(help="Smoke run: a few records per split, 2 epochs (not a result).")
    ] = False,
    save_models: Annotated[
        Path | None,
        typer.Option(
            "--save-models",
            help="Save each trained deep model as a package in DIR/TASK/MODEL/ (use with --model).",
        ),
    ] = None,
    labels_task: Annotated[
        str,
        typer.Option(
            "--labels-task",
            help="labels study only: cinc2017 (records, writes labels.*) or mitdb-aami (beats, DS1 -> DS2, "
            "writes labels_mitdb-aami.*).",
        ),
    ] = "cinc2017",
    device: DeviceOpt = "cpu",
    amp: AmpOpt = False,
    nproc: Annotated[
        int,
        typer.Option(
            "--nproc",
            help="Train each deep model in N processes with DistributedDataParallel (launches torchrun: gloo on "
            "the CPU, NCCL on GPUs); the global batch stays the task's (N x batch/N); rank 0 writes the results.",
        ),
    ] = 1,
    max_restarts: Annotated[
        int,
        typer.Option(
            "--max-restarts",
            help="With --nproc: torchrun restarts all processes up to this many times after one fails (with "
            "--checkpoint-dir and --resume they continue from the last checkpoint).",
        ),
    ] = 0,
    checkpoint_dir: CheckpointDirOpt = None,
    resume: ResumeOpt = False,
    cv: Annotated[
        int | None,
        typer.Option(
            "--cv",
            help="K-fold cross-validation of each model's recipe inside the training data before the test "
            "score (mitdb-aami: leave-records-out over the 22 DS1 records; cinc2017: stratified over train + "
            "val); per-fold and pooled scores go into the result JSON's 'cv' block and the table.",
        ),
    ] = None,
) -> None:
    """Train, evaluate (with 95 % CIs) and cost-measure models on a task; write JSON, table, plots, HTML."""
    _check_training_options(seed, epochs, max_train_seconds, threads, n_boot)
    if cv is not None:
        _check_option("--cv", cv, 2, 1000, integer=True)
    _check_option("--nproc", nproc, 1, 1024, integer=True)
    _check_option("--max-restarts", max_restarts, 0, 1000, integer=True)
    runtime = _train_runtime(device, amp, checkpoint_dir, resume)
    if max_restarts and nproc == 1:
        raise LeanECGError(
            "--max-restarts", "applies with --nproc N (N > 1): torchrun restarts the processes"
        )
    if task in ("leads", "labels", "side-inputs") and (
        nproc > 1 or device != "cpu" or amp or checkpoint_dir is not None
    ):
        raise LeanECGError(
            "--nproc" if nproc > 1 else "--device",
            f"the {task} study trains on the CPU in one process; --device, --amp, --nproc and --checkpoint-dir "
            "apply to the bench tasks (mitdb-aami, cinc2017, ptbxl-superclass)",
        )
    if nproc > 1:
        rc = _launch_torchrun(ctx, nproc, max_restarts)
        if rc:
            raise typer.Exit(rc)
        return
    # ---- anchor: bench studies (leads, labels) ----
    if task != "labels" and labels_task != "cinc2017":
        raise LeanECGError("--labels-task", f"applies to the labels study only, not {task!r}")
    if task == "side-inputs":  # leanecg.bench.side_inputs: the same backbone with / without age and sex
        from leanecg.bench.side_inputs import run_side_inputs_cli

        if save_models is not None or cv:
            raise LeanECGError(
                "--save-models" if save_models is not None else "--cv",
                "is not supported by the side-inputs study",
            )
        with progress_bar() as bar:
            run_side_inputs_cli(
                models,
                data_dir,
                out,
                seed=seed,
                epochs=epochs,
                threads=threads,
                n_boot=n_boot,
                tiny=tiny,
                progress=bar,
                log=_log,
            )
        sys.stdout.write((out / "side_inputs.md").read_text(encoding="utf-8"))
        return
    if task in ("leads", "labels"):  # leanecg.bench.leads.run_leads_cli, leanecg.bench.labels.run_labels_cli
        import importlib

        if task == "leads" and save_models is not None:
            raise LeanECGError("--save-models", "is not supported by the leads study")
        study = importlib.import_module(f"leanecg.bench.{task}")
        run_study = getattr(study, f"run_{task}_cli")
        study_options: dict[str, Any] = {} if save_models is None else {"save_models": save_models}
        stem = task
        if task == "labels":
            study_options["task"] = labels_task
            stem = study.labels_results_stem(labels_task)

        with progress_bar() as bar:
            run_study(
                models,
                data_dir,
                out,
                seed=seed,
                epochs=epochs,
                max_train_seconds=max_train_seconds,
                threads=threads,
                n_boot=n_boot,
                tiny=tiny,
                progress=bar,
                log=_log,
                **study_options,
            )
        sys.stdout.write((out / f"{stem}.md").read_text(encoding="utf-8"))
        return
    from leanecg.bench.runner import run_benchmark
    from leanecg.bench.tasks import TASKS
    from leanecg.data import resolve_data_dir

    if task not in TASKS:
        have = ", ".join([*TASKS, "leads", "labels", "side-inputs"])
        raise LeanECGError("TASK", f"unknown benchmark task {task!r}; available: {have}")
    names = [m.strip() for m in models.split(",") if m.strip()] if models else None
    if names == ["all"]:  # the whole-zoo leaderboard (leanecg.bench.leaderboard), resumable
        from leanecg.bench.leaderboard import run_leaderboard

        if cv or save_models is not None:
            raise LeanECGError("--models", "all (the leaderboard) runs without --cv and --save-models")
        with progress_bar() as bar:
            paths = run_leaderboard(
                task,
                resolve_data_dir(data_dir, dataset=TASKS[task].dataset),
                out / "leaderboard",
                first_seed=seed,
                epochs=epochs,
                max_train_seconds=max_train_seconds,
                num_threads=threads,
                n_boot=n_boot,
                tiny=tiny,
                progress=bar,
                log=_log,
            )
        sys.stdout.write(paths["md"].read_text(encoding="utf-8"))
        return
    with progress_bar() as bar:
        summary = run_benchmark(
            task,
            names,
            resolve_data_dir(data_dir, dataset=TASKS[task].dataset),
            out,
            seed=seed,
            tiny=tiny,
            epochs=epochs,
            max_train_seconds=max_train_seconds,
            num_threads=threads,
            n_boot=n_boot,
            progress=bar,
            log=_log,
            save_models=save_models,
            runtime=runtime,
            cv=cv,
        )
    from leanecg.train.distributed import is_main_process

    if not is_main_process():  # under torchrun: rank 0 writes and prints the results
        return
    sys.stdout.write((out / task / "results.md").read_text(encoding="utf-8"))
    err_console.print(f"report: {summary['report']['html']}")


ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        help="A shipped model name (see `leanecg models`), a model package folder, or an exported .onnx file.",
    ),
]


LeadOpt = Annotated[
    str | None,
    typer.Option(
        "--lead",
        help="Record lead(s) that feed the model's input lead(s), in order, e.g. ECG1 (a Holter's first "
        "channel) or I,II. Default: the model's leads by name (MLII is II), else a single-lead record's one lead.",
    ),
]


def _print_leads(choices: dict[str, int], quiet: bool = False) -> None:
    """One stderr line: the record lead -> model lead choice(s) made (``--lead`` or the default rule);
    nothing with ``--quiet``."""
    if not choices or quiet:
        return
    if len(choices) == 1:
        err_console.print(f"leads: {next(iter(choices))}", markup=False, highlight=False, soft_wrap=True)
        return
    parts = [f"{c} in {n} record(s)" for c, n in choices.items()]
    err_console.print(f"leads: {'; '.join(parts)}", markup=False, highlight=False, soft_wrap=True)


def _load_package(name_or_dir: str, threads: int | None = None, prefer: str = "onnx") -> Any:
    """The model of ``--model`` for inference: an ``.onnx`` file, or a shipped name / package folder run from
    its ONNX file in ONNX Runtime (numpy + onnxruntime, no torch) when it is in sync with the weights, else
    from its torch weights (:func:`leanecg.deploy.shipped.load_inference_package`)."""
    from leanecg.deploy.shipped import load_inference_package

    return load_inference_package(name_or_dir, threads=threads, prefer=prefer)


@app.command()
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
    from leanecg.data import list_record_paths, load_record

    _check_fs(fs)
    if batch_size < 1:
        raise LeanECGError("--batch-size", f"must be a positive number of records, got {batch_size}")
    pkg = _load_package(model)
    if pkg.kind != "records":
        raise LeanECGError(
            "--model", f"{model} classifies beats, not records; use `leanecg beats PATH --model {model}`"
        )
    files = [f for p in paths for f in list_record_paths(p)]
    n = 0
    choices: dict[str, int] = {}
    with atomic_open(out) as fh, progress_bar(quiet) as bar:
        writer = csv.writer(fh)
        writer.writerow(["record", "label", *pkg.columns])
        task = bar.add_task(f"predict ({pkg.name}, records)", total=len(files))
        names: list[str] = []
        inputs: list[Any] = []

        def flush() -> None:
            probs = pkg.predict_inputs(inputs, batch_size=batch_size)
            for name, label, row in zip(names, pkg.labels_of(probs), probs, strict=True):
                writer.writerow([name, label, *(f"{p:.6f}" for p in row)])
            bar.advance(task, len(names))
            names.clear()
            inputs.clear()

        for f in files:
            record = load_record(f, fs=fs, annotations=False)
            inputs.append(pkg.preprocess(record, lead=lead).T.copy())
            choice = str(pkg.lead_choice(record.leads, lead))
            choices[choice] = choices.get(choice, 0) + 1
            names.append(record.name)
            n += 1
            if len(inputs) >= batch_size:
                flush()
        if inputs:
            flush()
    _print_leads(choices, quiet)
    _say(f"wrote predictions for {n} record(s) to {out}", quiet)


@app.command()
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
    quiet: QuietOpt = False,
) -> None:
    """Detect and classify every heartbeat; one CSV row per beat (sample = R peak at the record's rate).

    Interrupted (Ctrl-C, SIGTERM): the CSV being written is discarded; for a folder PATH the CSVs of the records already finished are kept (each is complete).
    """
    from leanecg.data import list_record_paths, load_record

    _check_fs(fs)
    pkg = _load_package(model)
    if pkg.kind != "beats":
        raise LeanECGError(
            "--model", f"{model} classifies records, not beats; use `leanecg predict PATH --model {model}`"
        )
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
                if record.name in seen:
                    raise LeanECGError(
                        f,
                        f"two records are named {record.name!r} (also {seen[record.name]}); their CSVs would clash",
                    )
                seen[record.name] = f
            target = out / f"{record.name}.csv" if folder_mode else out
            pred = pkg.predict_beats(record, lead=lead)
            choice = str(pkg.lead_choice(record.leads, lead))
            choices[choice] = choices.get(choice, 0) + 1
            _write_beats(target, pkg.columns, pred)
            if len(pred.samples) == 0:
                _say(f"{record.name}: fewer than 2 beats detected; no beats classified", quiet)
            n_beats += len(pred.samples)
            bar.advance(task)
    _print_leads(choices, quiet)
    where = f"{len(files)} files in {out}" if folder_mode else str(out)
    _say(f"wrote {n_beats} beats from {len(files)} record(s) to {where}", quiet)


def _write_beats(target: Path, columns: list[str], pred: Any) -> None:
    from leanecg.atomic import atomic_open

    with atomic_open(target) as fh:
        writer = csv.writer(fh)
        writer.writerow(["sample", "label", *columns])
        for s, label, row in zip(pred.samples, pred.labels, pred.probs, strict=True):
            writer.writerow([int(s), label, *(f"{p:.6f}" for p in row)])


@app.command()
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
    from leanecg.explain.figure import FORMATS, write_explanation

    _check_fs(fs)
    _check_option("--steps", steps, 1, 1024, integer=True)
    _check_option("--duration", duration, 0, 60, low_open=True, unit="s")
    _check_option("--start", start, 0, unit="s")
    folder_mode = path.is_dir()
    kind = (fmt or ("png" if folder_mode and not out.suffix else out.suffix.lstrip("."))).lower()
    if kind not in FORMATS:
        where = "--format" if fmt else out
        raise LeanECGError(where, f"unknown output format {kind!r}; use .png, .html or .json (or --format)")
    if folder_mode and out.exists() and not out.is_dir():
        raise LeanECGError(
            out, "PATH is a folder, so --out must be a folder (one RECORD.<format> per record)"
        )
    if method is None:  # gradients need torch: an .onnx file (or no torch installed) gets occlusion
        import importlib.util

        onnx_file = model.lower().endswith(".onnx") or Path(model).is_file()
        method = "occlusion" if onnx_file or importlib.util.find_spec("torch") is None else "ig"
    pkg = _load_package(model, prefer="onnx" if method == "occlusion" else "torch")
    from leanecg.explain.core import check_method, class_index, explain_record

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
                if record.name in seen:
                    raise LeanECGError(
                        f,
                        f"two records are named {record.name!r} (also {seen[record.name]}); outputs would clash",
                    )
                seen[record.name] = f
            expl = explain_record(pkg, record, method=method, target=target, lead=lead, steps=steps)
            choices[expl.lead_choice] = choices.get(expl.lead_choice, 0) + 1
            target_path = out / f"{record.name}.{kind}" if folder_mode else out
            write_explanation(expl, target_path, kind, start_s=start, duration_s=duration)
            if not folder_mode:
                _say(f"{record.name}: {expl.label} (p = {expl.probability:.3f})", quiet)
            bar.advance(task)
    _print_leads(choices, quiet)
    where = f"{len(files)} files in {out}" if folder_mode else str(out)
    _say(f"wrote the {method} explanation of {len(files)} record(s) to {where}", quiet)


@app.command()
def models(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list instead of a table.")] = False,
) -> None:
    """List the models shipped with LeanECG: task, classes, cost and headline metric with 95 % CI."""
    from leanecg.deploy.shipped import list_shipped, zoo_dir

    shipped = list_shipped()
    if as_json:
        sys.stdout.write(json.dumps(shipped, indent=2) + "\n")
        return
    if not shipped:
        console.print(
            "No models are shipped with this LeanECG release yet.\n"
            "Train and package your own:  leanecg bench TASK --save-models DIR\n"
            "then use it:                 leanecg predict PATH --model DIR/TASK/MODEL --out preds.csv",
            markup=False,
            highlight=False,
        )
        return
    table = Table(title=f"shipped models ({zoo_dir()})", title_justify="left")
    for col in ("name", "task", "model", "classes", "params", "MACs", "latency ms", "metric [95% CI]"):
        table.add_column(
            col, justify="right" if col in ("params", "MACs", "latency ms") else "left", overflow="fold"
        )
    for m in shipped:
        metric = "n/a" if m["value"] is None else f"{m['metric']} {m['value']:.3f}"
        if m["value"] is not None and m["ci_low"] is not None and m["ci_high"] is not None:
            metric += f" [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"
        table.add_row(
            m["name"] + (" (tiny smoke run)" if m["tiny"] else ""),
            str(m["task"]),
            str(m["model"]),
            ", ".join(m["classes"]),
            "n/a" if m["params"] is None else f"{m['params']:,}",
            "n/a" if m["macs"] is None else f"{m['macs']:,}",
            "n/a" if m["latency_ms"] is None else f"{m['latency_ms']:.3f}",
            metric,
        )
    console.print(table)


# ---- anchor: export (leanecg.deploy.onnx) ----


@app.command("export")
def export_model(
    model: Annotated[
        str, typer.Argument(help="A shipped model name (see `leanecg models`) or a model package folder.")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="The .onnx file to write; its metadata goes to FILE.json.")
    ],
    fmt: Annotated[str, typer.Option("--format", help="Export format (onnx).")] = "onnx",
    int8: Annotated[
        bool,
        typer.Option(
            "--int8",
            help="Static int8 quantization, calibrated on the task's training split (without --data-dir and "
            "with no training data found: on the calibration subset shipped with the model).",
        ),
    ] = False,
    data_dir: DataDirOpt = None,
    n_calibration: Annotated[
        int | None,
        typer.Option(
            "--n-calibration", help="Training records / beats to calibrate on (default 256 / 4096)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the calibration draw.")] = 0,
    embed_metadata: Annotated[
        bool,
        typer.Option(
            "--embed-metadata",
            help="Also store the metadata in the .onnx file (self-contained, ~20 kB more).",
        ),
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Export a model to ONNX (fp32 or int8) that runs with numpy + onnxruntime only (`--model FILE.onnx`)."""
    from leanecg.deploy.onnx import export_onnx

    _check_option("--n-calibration", n_calibration, 1, integer=True)
    _check_option("--seed", seed, 0, MAX_SEED, integer=True)
    if fmt != "onnx":
        raise LeanECGError("--format", f"unknown export format {fmt!r}; supported: onnx")
    with status_line(quiet) as bar:
        task = bar.add_task(f"export {model}", total=None)

        def on_progress(step: str, done: int, total: int | None) -> None:
            bar.update(task, description=f"export {model}: {step}", completed=done, total=total)

        report = export_onnx(
            model,
            out,
            int8=int8,
            data_dir=data_dir,
            n_calibration=n_calibration,
            seed=seed,
            embed_metadata=embed_metadata,
            progress=on_progress,
        )
    check = report.check
    calib = ""
    if report.calibration:
        source = report.calibration.get("source") or "the training split"
        calib = f", calibrated on {report.calibration['n_inputs']} training inputs ({source})"
    if quiet:
        return
    err_console.print(
        f"wrote {report.path} ({report.precision}, {report.bytes:,} bytes{calib}) and {report.sidecar.name}; "
        f"vs the torch model on {check['n_inputs']} {check['inputs']} inputs: label agreement "
        f"{check['label_agreement']:.1%}, max probability difference {check['max_abs_prob_diff']:.2g}",
        markup=False,
    )


# ---- anchor: stream (leanecg.deploy.stream) ----


@app.command()
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
    quiet: QuietOpt = False,
) -> None:
    """Classify beats (beat models) or rhythm windows (record models) of a stream online, chunk by chunk.

    Prints events (non-normal beats, rhythm onsets / offsets) aggregated, one line per 100 by default
    (--events), then a summary; a status line on stderr (a terminal only) shows the start-up and the signal
    time done. --quiet: only the summary (and errors).

    Interrupted (Ctrl-C, SIGTERM): exit 130 / 143 and --out is not written (no partial CSV; an older file of that name stays); events already printed stay printed. A CSV is written only when the stream reaches its end.
    """
    import contextlib
    import math

    from leanecg.atomic import atomic_open
    from leanecg.deploy.stream import (
        EventLines,
        StreamClassifier,
        StreamUpdate,
        open_source,
        run_stream,
        stream_backend,
    )

    _check_option("--threads", threads, 1, MAX_THREADS, integer=True)
    _check_option("--chunk-s", chunk_s, 0, MAX_STREAM_S, low_open=True, unit=" seconds (an hour)")
    _check_fs(fs)
    _check_option("--window-s", window_s, 0, MAX_STREAM_S, low_open=True, unit=" seconds")
    _check_option("--hop-s", hop_s, 0, MAX_STREAM_S, low_open=True, unit=" seconds")
    _check_option("--lookahead-s", lookahead_s, 0, MAX_STREAM_S, unit=" seconds")
    _check_option("--warmup-s", warmup_s, 0, MAX_STREAM_S, unit=" seconds")
    every = _events_every(events, quiet or no_events)
    if backend not in ("auto", "torch", "onnx"):
        raise LeanECGError("--backend", f"unknown backend {backend!r}; use one of auto, torch, onnx")
    pkg = _load_package(model, threads=threads, prefer="torch" if backend == "torch" else "onnx")
    if pkg.backend.runtime == "torch":
        import torch

        torch.set_num_threads(threads)
    src = open_source(source, fs, chunk_s)
    lines = EventLines(every or STREAM_EVENTS_EVERY)
    show_events = every is not None and not as_json

    def say(texts: list[str]) -> None:
        if show_events:
            for text in texts:
                console.print(text, markup=False, highlight=False)

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
            say(lines.add(update.events))

        report = run_stream(clf, chunks(), realtime=realtime, on_update=on_update)
    say(lines.close())
    _print_leads({str(clf.lead_choice): 1}, quiet)  # at the end: an error mid-stream stays one line
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
    if as_json:
        sys.stdout.write(json.dumps(summary, default=float) + "\n")
    else:
        _render(summary, title=f"stream {src.name} ({'real time' if realtime else 'as fast as possible'})")
    if out is not None:
        _say(f"wrote {len(report.keys)} {'beats' if pkg.kind == 'beats' else 'windows'} to {out}", quiet)


def _events_every(events: str, off: bool) -> int | None:
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


# ---- anchor: serve (leanecg.deploy.serve) ----


@app.command()
def serve(
    host: Annotated[
        str, typer.Option("--host", help="Interface to bind; anything but loopback requires --token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port, 1 to 65535.")] = 8000,
    models: Annotated[
        str | None,
        typer.Option(
            "--models",
            help="Comma-separated models to serve: shipped names, package folders or .onnx files "
            "(default: every shipped model).",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="LEANECG_TOKEN",
            help="Bearer token every API request must carry ('Authorization: Bearer T'; $LEANECG_TOKEN).",
        ),
    ] = None,
    max_upload_mb: Annotated[
        float, typer.Option("--max-upload-mb", help="Largest request body, MB (more is answered 413).")
    ] = 64.0,
    precision: Annotated[
        str, typer.Option("--precision", help="ONNX file of each package: fp32 or int8.")
    ] = "fp32",
    threads: Annotated[int, typer.Option("--threads", help="ONNX Runtime threads per model call.")] = 1,
    workers: Annotated[int, typer.Option("--workers", help="Model calls run at once (others wait).")] = 2,
) -> None:
    """Serve the models over HTTP and WebSocket (FastAPI + uvicorn): GET /health, /models; POST /predict,
    /beats (multipart uploads); WS /stream; the web viewer at /. Needs the serve extra."""
    import importlib.util

    if any(importlib.util.find_spec(m) is None for m in ("fastapi", "uvicorn", "multipart")):
        raise LeanECGError("leanecg serve", 'needs the serve extra: pip install "leanecg[serve]"')
    _check_option("--port", port, 1, 65535, integer=True)
    _check_option("--max-upload-mb", max_upload_mb, 0, 10_000, low_open=True, unit=" MB")
    _check_option("--threads", threads, 1, MAX_THREADS, integer=True)
    _check_option("--workers", workers, 1, 1024, integer=True)
    if precision not in ("fp32", "int8"):
        raise LeanECGError("--precision", f"must be fp32 or int8, got {precision!r}")
    from leanecg.deploy.serve import ServeConfig, check_bind, create_app

    check_bind(host, token)
    names = [m.strip() for m in models.split(",") if m.strip()] if models else None
    config = ServeConfig(
        models=names,
        token=token or None,
        max_upload_bytes=round(max_upload_mb * 1024 * 1024),
        precision=precision,
        threads=threads,
        workers=workers,
    )
    application = create_app(config)
    import uvicorn

    loaded = ", ".join(f"{k} ({p.backend.runtime})" for k, p in application.state.models.items())
    shown = f"[{host}]" if ":" in host else host
    _log(f"leanecg serve: http://{shown}:{port}/ (models: {loaded}); Ctrl-C stops it")
    server = uvicorn.Server(
        uvicorn.Config(application, host=host, port=port, log_level="warning", access_log=False)
    )
    server.run()


# ---- anchor: compress (leanecg.compress) ----


@app.command("compress")
def compress_cmd(
    model: Annotated[
        str, typer.Argument(help="A shipped model name (see `leanecg models`) or a model package folder.")
    ],
    distill_from: Annotated[
        str | None,
        typer.Option("--distill-from", help="Teacher model package (same task) to distil from first."),
    ] = None,
    prune: Annotated[
        float | None,
        typer.Option("--prune", help="Fraction of MACs to remove by structured channel pruning, e.g. 0.5."),
    ] = None,
    quantize: Annotated[
        str | None,
        typer.Option("--quantize", help="int8: quantization-aware fine-tuning + ONNX Runtime static int8."),
    ] = None,
    data_dir: DataDirOpt = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder (package, card, int8 ONNX).")] = Path(
        "compressed"
    ),
    results: Annotated[
        Path | None,
        typer.Option("--results", help="Results root for the Pareto report (default: OUT/results)."),
    ] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Epochs of each fine-tune (10).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of fine-tuning and the bootstrap.")] = 0,
    max_train_seconds: Annotated[
        float | None, typer.Option("--max-train-seconds", help="Time budget of each fine-tune (seconds).")
    ] = None,
    threads: Annotated[int, typer.Option("--threads", help="torch threads for training.")] = 1,
    n_boot: Annotated[int, typer.Option("--n-boot", help="Bootstrap resamples for the 95 % CIs.")] = 1000,
    device: DeviceOpt = "cpu",
    amp: AmpOpt = False,
) -> None:
    """Distil (--distill-from), prune (--prune) and quantize (--quantize int8) a model; before/after card."""
    from leanecg.compress.compose import compress_package

    _check_training_options(seed, epochs, max_train_seconds, threads, n_boot)
    card = compress_package(
        model,
        out,
        distill_from=distill_from,
        prune=prune,
        quantize=quantize,
        data_dir=data_dir,
        results_dir=results,
        epochs=epochs,
        seed=seed,
        max_train_seconds=max_train_seconds,
        threads=threads,
        n_boot=n_boot,
        log=_log,
        device=device,
        amp=amp,
    )
    pm = card["primary_metric"]
    table = Table(title=f"{card['model']} -> {card['compression']} ({card['task']})", title_justify="left")
    for col in ("model", "runtime", pm, "params", "MACs", "bytes", "latency ms"):
        table.add_column(col, justify="left" if col in ("model", "runtime", pm) else "right", overflow="fold")
    for r in card["rows"]:
        m = r["metrics"].get(pm, {})
        value = "n/a" if m.get("value") is None else f"{m['value']:.3f}"
        if m.get("ci_low") is not None and m.get("ci_high") is not None:
            value += f" [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"
        table.add_row(
            r["model"],
            r["backend"],
            value,
            *("n/a" if r[k] is None else f"{r[k]:,}" for k in ("params", "macs", "bytes")),
            "n/a" if r["latency_ms_median"] is None else f"{r['latency_ms_median']:.3f}",
        )
    console.print(table)
    err_console.print(f"card: {out / 'COMPRESS_CARD.md'}; package: {card['files']['package']}", markup=False)


# ---- anchor: pretrain (leanecg.ssl) ----


@app.command()
def pretrain(
    method: Annotated[str, typer.Option("--method", help="simclr, cmsc, cmlc or cmsmlc (CLOCS).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for encoder.pt (weights only) + encoder.json.")],
    dataset: Annotated[
        str, typer.Option("--dataset", help="cinc2017 or ptbxl: its training split, labels unused.")
    ] = "cinc2017",
    data_dir: DataDirOpt = None,
    model: Annotated[str, typer.Option("--model", help="Zoo model whose encoder is pretrained.")] = "litenet",
    width: Annotated[float, typer.Option(help="Channel multiplier of the model.")] = 1.0,
    epochs: Annotated[int, typer.Option(help="Passes over the unlabelled records.")] = 20,
    batch_size: Annotated[int, typer.Option(help="Records per step.")] = 64,
    seed: Annotated[int, typer.Option(help="Seed for initialisation, batches, crops and augmentation.")] = 0,
    threads: Annotated[int, typer.Option(help="torch threads.")] = 1,
    max_train_seconds: Annotated[float | None, typer.Option(help="Time budget (seconds).")] = None,
    tiny: Annotated[bool, typer.Option(help="Smoke run on a few records (not a result).")] = False,
    device: DeviceOpt = "cpu",
    amp: AmpOpt = False,
) -> None:
    """Contrastive self-supervised pretraining (SimCLR / CLOCS) of a model's encoder on unlabelled records."""
    from leanecg.ssl.pretrain import pretrain_encoder

    _check_training_options(seed, epochs, max_train_seconds, threads)
    _check_option("--width", width, 0, 16, low_open=True)
    _check_option("--batch-size", batch_size, 2, integer=True, unit=" (contrastive pairs need 2 records)")
    with progress_bar() as bar:
        meta = pretrain_encoder(
            method,
            dataset,
            data_dir,
            out,
            model_name=model,
            width=width,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            num_threads=threads,
            max_train_seconds=max_train_seconds,
            tiny=tiny,
            progress=bar,
            device=device,
            amp=amp,
        )
    res = meta["result"]
    err_console.print(
        f"{method} on {meta['data']['n_records']} {dataset} records: {res['steps']} steps, "
        f"final loss {res['history'][-1]['loss']:.4f}, {res['seconds']:.0f} s; encoder saved to {out}",
        markup=False,
        highlight=False,
    )


def _print_scores(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    for key, value in result.items():
        console.print(f"{key}: {_fmt(value)}")


def _raise_on_signals() -> None:
    """SIGINT (Ctrl-C) and SIGTERM raise :class:`~leanecg.errors.Interrupted` in the main thread, once:
    the stack unwinds (temporary output files are removed) and :func:`main` exits 130 / 143. A repeated
    signal while unwinding is ignored, so the clean-up finishes."""
    import signal

    from leanecg.errors import Interrupted

    state = {"raised": False}

    def handler(signum: int, frame: Any) -> None:
        if not state["raised"]:
            state["raised"] = True
            raise Interrupted(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, handler)
        except (ValueError, OSError):  # not the main thread, or a platform without the signal
            pass


def _interrupted(code: int) -> None:
    err_console.print("interrupted", markup=False, highlight=False)
    sys.exit(code)


def _bare_events_flag(args: list[str]) -> list[str]:
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


#: Commands that run on the training stack (``pip install "leanecg[train]"``), with the modules each needs.
TRAIN_COMMANDS = {
    "bench": ("torch", "sklearn", "lightgbm", "matplotlib"),
    "pretrain": ("torch",),
    "compress": ("torch", "onnx", "matplotlib"),
    "export": ("torch", "onnx", "onnxscript"),
}
#: Top-level modules of the training extra (a missing one met at run time gets the same one-line error).
TRAIN_MODULES = ("torch", "torchinfo", "onnx", "onnxscript", "sklearn", "lightgbm", "matplotlib")


def _train_extra_error(command: str) -> LeanECGError:
    return LeanECGError(f"leanecg {command}", 'needs the training extra: pip install "leanecg[train]"')


def _require_train_extra(args: list[str]) -> None:
    """Refuse a training-stack command up front when its modules are not installed (the runtime-only
    install): one line naming the extra to install, exit 2. ``--help`` still works."""
    import importlib.util

    command = args[0] if args else ""
    if command not in TRAIN_COMMANDS or any(a in ("--help", "-h") for a in args[1:]):
        return
    for module in TRAIN_COMMANDS[command]:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise _train_extra_error(command)


def main() -> None:
    """Console-script entry point: one-line errors and exit code 2 for bad input; Ctrl-C (SIGINT) and
    SIGTERM print ``interrupted`` and exit 130 / 143, leaving no temporary file behind."""
    from leanecg.errors import Interrupted

    debug = os.environ.get("LEANECG_DEBUG", "") not in ("", "0")
    _raise_on_signals()
    try:
        _require_train_extra(sys.argv[1:])
        rv = app(args=_bare_events_flag(sys.argv[1:]), standalone_mode=False)
        if rv == 130:  # typer turns a KeyboardInterrupt it catches into exit code 130 and returns it
            _interrupted(130)
        if isinstance(rv, int) and not isinstance(rv, bool) and rv != 0:  # a typer.Exit(code) raised
            sys.exit(rv)
    except Interrupted as exc:
        if debug:
            raise
        _interrupted(exc.exit_code)
    except LeanECGError as exc:
        if debug:
            raise
        err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _interrupted(130)
    except SystemExit:
        raise
    except (typer.Exit, typer.Abort) as exc:
        sys.exit(getattr(exc, "exit_code", 1))
    except Exception as exc:  # usage errors (click/typer) and anything unexpected
        train_module = (
            isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in TRAIN_MODULES
        )
        if train_module and not debug:  # a module of the training extra, met on a runtime-only install
            command = next((a for a in sys.argv[1:] if not a.startswith("-")), "")
            err = _train_extra_error(command)
            err_console.print(f"error: {err}", markup=False, highlight=False, soft_wrap=True)
            sys.exit(err.exit_code)
        if callable(getattr(exc, "show", None)) and hasattr(exc, "exit_code"):
            exc.show()  # e.g. "Usage: ... Error: Missing option '--out'."
            sys.exit(exc.exit_code)
        if debug:
            raise
        err_console.print(
            f"error: internal error ({type(exc).__name__}: {exc}); rerun with LEANECG_DEBUG=1 and report it",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
