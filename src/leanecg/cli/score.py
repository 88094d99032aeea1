"""``leanecg score cinc2021|cinc2017``: the official challenge scoring of prediction files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
