"""``leanecg score cinc2021|cinc2017``: the official challenge scoring of prediction files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from leanecg.cli.render import print_scores


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

    print_scores(score_directories(label_dir, output_dir, weights_file=weights), as_json)


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

    print_scores(score_files(reference, answers), as_json)


def score_beats(
    reference: Annotated[
        Path,
        typer.Argument(help="A WFDB record with reference beat annotations, or a folder of such records."),
    ],
    answers: Annotated[
        Path,
        typer.Argument(
            help="The CSV of `leanecg beats` (or `leanecg stream`) for that record, or the folder of RECORD.csv "
            "`leanecg beats` writes for a folder "
            "(any CSV with sample and label columns: sample index at the record's rate, label N S V F Q)."
        ),
    ],
    annotator: Annotated[str, typer.Option(help="Extension of the reference annotation files.")] = "atr",
    records: Annotated[
        str | None,
        typer.Option(help="Score only these records of the reference folder, comma-separated, e.g. 100,103."),
    ] = None,
    window_ms: Annotated[float, typer.Option(help="Match window in ms (EC57: 150).")] = 150.0,
    start_s: Annotated[
        float, typer.Option(help="Compare beats from this time on, in s (EC57's learning period: 300).")
    ] = 0.0,
    mapping: Annotated[
        str, typer.Option(help="Reference symbol -> AAMI class map: ec57 (de Chazal) or bxb (WFDB's).")
    ] = "ec57",
    include_vf: Annotated[
        bool, typer.Option("--include-vf", help="Score ventricular flutter/fibrillation episodes too.")
    ] = False,
    per_record: Annotated[bool, typer.Option("--per-record", help="One table row per record.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (per-record statistics and count matrices).")
    ] = False,
) -> None:
    """ANSI/AAMI EC57 beat-by-beat scores (as WFDB bxb): QRS, SVEB and VEB sensitivity and +P, gross and
    average over records."""
    from leanecg.atomic import finite_json
    from leanecg.cli.render import print_json
    from leanecg.evaluate.beat_files import score_beat_files

    names = [r.strip() for r in records.split(",") if r.strip()] if records else None
    result = score_beat_files(
        reference,
        answers,
        annotator=annotator,
        window_ms=window_ms,
        start_s=start_s,
        mapping=mapping,
        exclude_vf=not include_vf,
        records=names,
    )
    if as_json:
        print_json(finite_json(result))
        return
    print_beat_scores(result, per_record)


def print_beat_scores(result: dict[str, Any], per_record: bool) -> None:
    """The EC57 summary of :func:`leanecg.evaluate.beat_files.score_beat_files` as one table (in %)."""
    from leanecg.cli.render import console, pct, table
    from leanecg.evaluate.beat_files import SUMMARY_KEYS

    heads = ["QRS Se", "QRS +P", "SVEB Se", "SVEB +P", "VEB Se", "VEB +P"]
    counts = result["gross"]["counts"]
    t = table(
        f"EC57, {len(result['records'])} record(s), {result['window_ms']:g} ms window, {result['mapping']} map"
        + (", VF excluded" if result["vf_excluded"] else "")
        + (f", from {result['start_s']:g} s" if result["start_s"] else ""),
        ["", *heads, "beats"],
        right=(*heads, "beats"),
    )

    def cells(stats: dict[str, Any]) -> list[str]:
        return [pct(None if stats[k] != stats[k] else stats[k]) for k in SUMMARY_KEYS]

    if per_record:
        for name, stats in result["per_record"].items():
            n = stats["counts"]["qrs_tp"] + stats["counts"]["qrs_fn"]
            t.add_row(name, *cells(stats), str(n))
    t.add_row("gross", *cells(result["gross"]), str(counts["qrs_tp"] + counts["qrs_fn"]))
    t.add_row("average", *cells(result["average"]), "")
    console.print(t)
    console.print(
        f"reference SVEB {counts['sveb_tp'] + counts['sveb_fn']}, VEB {counts['veb_tp'] + counts['veb_fn']}; "
        f"false detections {counts['qrs_fp']}"
        + (
            f"; {result['unscored_reference_beats']} reference beat(s) outside the map, not scored"
            if result["unscored_reference_beats"]
            else ""
        ),
        markup=False,
        highlight=False,
    )
    poor = [n for n, st in result["per_record"].items() if st["qrs_se"] < 0.5]  # NaN (no beats) is not poor
    if poor:
        shown = ", ".join(poor[:5]) + (f" and {len(poor) - 5} more" if len(poor) > 5 else "")
        console.print(
            f"check: {shown} match(es) fewer than half of the reference beats: answers for another record, "
            "or at another rate?",
            markup=False,
            highlight=False,
        )
