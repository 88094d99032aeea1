"""How the ``leanecg`` commands show things: the consoles, progress bars, one-line messages on stderr and
rich tables of description dicts. Nothing here computes a result."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

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


def _console_width(stream: Any) -> int | None:
    """Terminal width, or 140 columns when output goes to a file or pipe (rich's default of 80 truncates
    tables); ``$COLUMNS`` wins when set."""
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    return None if stream.isatty() else 140


console = Console(width=_console_width(sys.stdout))
# messages on stderr are never hard-wrapped: a path or command in them stays one copyable line
err_console = Console(stderr=True, width=_console_width(sys.stderr), soft_wrap=True)


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


def log(msg: str) -> None:
    """A progress message on stderr, printed as is (no rich markup or highlighting)."""
    err_console.print(msg, markup=False, highlight=False)


def say(msg: str, quiet: bool = False) -> None:
    """A closing message on stderr (``wrote ...``), printed as is; nothing with ``--quiet``."""
    if not quiet:
        err_console.print(msg, markup=False, highlight=False)


def inverted_lead_note(pkg: Any, upright: float | None, lead: str) -> str:
    """What ``leanecg beats`` says when most QRS complexes of the lead feeding a beat model point down and the
    model reads the lead as it is (no ``input.orient_polarity``); ``""`` otherwise. ``upright``: the share
    of upright beats (:attr:`leanecg.package.model.BeatPredictions.upright`); ``lead``: the record lead that
    feeds the model's first input lead.

    >>> class Pkg:
    ...     name, input = "mitdb-aami/beatnet", {}
    >>> inverted_lead_note(Pkg(), 0.21, "MLII")
    'the QRS of lead MLII points down in 79 % of the beats, and mitdb-aami/beatnet reads the lead as it is (it does not orient it): its classes may suffer (LeanECG benchmarks/results/polarity_stress.md); choose an upright lead with --lead if the record has one'
    >>> inverted_lead_note(Pkg(), 0.8, "MLII")
    ''
    """
    if upright is None or upright >= 0.5 or pkg.input.get("orient_polarity"):
        return ""
    return (
        f"the QRS of lead {lead} points down in {100 * (1 - upright):.0f} % of the beats, and {pkg.name} reads the "
        "lead as it is (it does not orient it): its classes may suffer (LeanECG benchmarks/results/"
        "polarity_stress.md); choose an upright lead with --lead if the record has one"
    )


def skipped_note(spans: Sequence[tuple[int, int]], fs: float, shown: int = 3) -> str:
    """What ``leanecg beats`` says about the parts of a record it could not analyse (invalid samples)::

        12.5 s not analysed (invalid samples in the model's leads, or too little valid signal between
        them): 200.0-205.0 s, 300.0-307.5 s

    >>> skipped_note([(2000, 2050)], fs=10.0)
    "5.0 s not analysed (invalid samples in the model's leads, or too little valid signal between them): 200.0-205.0 s"
    """
    total = sum(b - a for a, b in spans) / fs
    parts = [f"{a / fs:.1f}-{b / fs:.1f} s" for a, b in spans[:shown]]
    more = f" and {len(spans) - shown} more" if len(spans) > shown else ""
    return (
        f"{total:.1f} s not analysed (invalid samples in the model's leads, or too little valid signal between "
        f"them): {', '.join(parts)}{more}"
    )


def print_error(message: str) -> None:
    """``error: <message>`` as one unwrapped line on stderr."""
    err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)


def print_text(text: str) -> None:
    """Plain text on stdout, printed as is."""
    console.print(text, markup=False, highlight=False)


def fmt(v: Any) -> str:
    """A table cell: floats with 6 significant digits, anything else as ``str``."""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def num(v: Any, spec: str) -> str:
    """``v`` formatted with ``spec``, or ``–`` when it is missing."""
    return "–" if v is None else format(v, spec)


def pct(v: float | None) -> str:
    """A fraction as a percentage with 2 decimals, or ``–`` when it is missing."""
    return "–" if v is None else f"{100 * v:.2f}"


def table(title: str | None, columns: list[str], right: tuple[str, ...] = (), **kwargs: Any) -> Table:
    """A left-titled rich table with folding ``columns`` (those in ``right`` right-justified)."""
    t = Table(title=title, title_justify="left", **kwargs)
    for col in columns:
        t.add_column(col, justify="right" if col in right else "left", overflow="fold")
    return t


def render(obj: dict[str, Any], title: str | None = None) -> None:
    """Render a description dict: scalars as key/value rows, lists of dicts as tables."""
    scalars = {k: v for k, v in obj.items() if not isinstance(v, dict | list)}
    if scalars:
        t = Table(title=title, show_header=False, title_justify="left")
        t.add_column("key", style="bold", overflow="fold")
        t.add_column("value", overflow="fold")
        for k, v in scalars.items():
            t.add_row(str(k), fmt(v))
        console.print(t)
    for k, v in obj.items():
        if isinstance(v, dict):
            render(v, title=str(k))
        elif isinstance(v, list) and v and all(isinstance(r, dict) for r in v):
            cols = list(dict.fromkeys(c for r in v for c in r))
            t = Table(title=str(k), title_justify="left")
            for c in cols:
                t.add_column(str(c), overflow="fold")
            for r in v:
                t.add_row(*(fmt(r.get(c, "")) for c in cols))
            console.print(t)
        elif isinstance(v, list):
            console.print(f"[bold]{k}[/bold]: {', '.join(fmt(x) for x in v)}")


def print_json(obj: Any, indent: int | None = None) -> None:
    """``obj`` as one JSON document on stdout (non-JSON values via ``str``)."""
    sys.stdout.write(json.dumps(obj, indent=indent, default=str) + "\n")


def print_scores(result: dict[str, Any], as_json: bool) -> None:
    """A score dict: one JSON object, or ``key: value`` lines."""
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    for key, value in result.items():
        console.print(f"{key}: {fmt(value)}")


def print_leads(choices: dict[str, int], quiet: bool = False) -> None:
    """One stderr line: the record lead -> model lead choice(s) made (``--lead`` or the default rule);
    nothing with ``--quiet``."""
    if not choices or quiet:
        return
    if len(choices) == 1:
        err_console.print(f"leads: {next(iter(choices))}", markup=False, highlight=False, soft_wrap=True)
        return
    parts = [f"{c} in {n} record(s)" for c, n in choices.items()]
    err_console.print(f"leads: {'; '.join(parts)}", markup=False, highlight=False, soft_wrap=True)


def print_markdown_file(path: Any) -> None:
    """The Markdown table a bench run or study wrote, on stdout as is."""
    sys.stdout.write(path.read_text(encoding="utf-8"))
