"""``leanecg info``, ``leanecg rpeaks`` and ``leanecg data list|fetch``: looking at records and datasets."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer

from leanecg.cli.options import DataDirOpt, FsOpt, QuietOpt, check_fs, check_option
from leanecg.cli.render import console, err_console, print_json, progress_bar, render, say, table


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
    check_fs(fs)
    from leanecg.data.describe import describe

    desc = describe(path, data_dir=data_dir, fs=fs, split=split)
    if as_json:
        print_json(desc, indent=2)
    else:
        render(desc, title=str(desc.get("path", path)))


def rpeaks(
    path: Annotated[Path, typer.Argument(help="A record (WFDB, .mat+.hea, CSV, EDF) or a folder of them.")],
    out: Annotated[Path, typer.Option("--out", help="CSV file to write: record,lead,sample,time_s.")],
    lead: Annotated[str, typer.Option(help="Lead index (0-based) or lead name, e.g. II.")] = "0",
    fs: FsOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Detect R peaks and write them to a CSV file (one row per beat)."""
    check_fs(fs)
    from leanecg.atomic import atomic_open
    from leanecg.data import iter_records, list_record_paths
    from leanecg.signal.rpeaks import record_rpeaks

    n_beats = n_records = 0
    total = len(list_record_paths(path)) if path.is_dir() else 1
    with atomic_open(out) as fh, progress_bar(quiet) as bar:
        writer = csv.writer(fh)
        writer.writerow(["record", "lead", "sample", "time_s"])
        task = bar.add_task("R peaks (records)", total=total)
        for record in iter_records(path, fs=fs):
            name, peaks = record_rpeaks(record, lead, source=record.path or path)
            for p in peaks:
                writer.writerow([record.name, name, int(p), f"{p / record.fs:.4f}"])
            n_beats += len(peaks)
            n_records += 1
            bar.advance(task)
    say(f"wrote {n_beats} R peaks from {n_records} record(s) to {out}", quiet)


def data_list(data_dir: DataDirOpt = None) -> None:
    """List the registered datasets and whether each is present locally."""
    from leanecg.data import list_datasets, resolve_data_dir

    root = resolve_data_dir(data_dir)
    t = table(f"datasets in {root}", ["name", "present", "records in release", "description"])
    for ds in list_datasets():
        t.add_row(ds.name, "yes" if ds.is_present(root) else "no", str(ds.n_records_full), ds.description)
    console.print(t)


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
    check_option("--records", records, 1, integer=True)
    from leanecg.data import resolve_data_dir
    from leanecg.data.fetch import fetch_dataset

    root = resolve_data_dir(data_dir)
    with progress_bar() as bar:
        task = bar.add_task(f"fetch {name}", total=None)

        def on_file(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        dest = fetch_dataset(name, root, base_url=base_url, max_records=records, progress=on_file)
    err_console.print(f"{name} is ready in {dest}")
