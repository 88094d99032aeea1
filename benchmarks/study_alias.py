"""The per-seed study scripts under their earlier names, forwarded to ``leanecg study ...``.

``benchmarks/labels_cinc2017.py``, ``labels_mitdb_aami.py``, ``fewshot_cinc2017.py`` and
``noisy_labels_cinc2017.py`` are quoted in earlier results and notes with their argparse spelling
(``--seeds 0 1 2``, ``--rates 0.1 0.2``, ``--out-dir DIR``, results in ``benchmarks/results``). The study
itself runs in the one CLI (``leanecg study labels|fewshot|noisy-labels``); these scripts only rewrite that
spelling (space-separated lists become comma-separated, ``--out-dir`` becomes ``--out``, the output folder
defaults to ``benchmarks/results``) and call it, so both spellings give the same run.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
LIST_OPTIONS = ("--seeds", "--rates")


def study_argv(study: Sequence[str], argv: Sequence[str]) -> list[str]:
    """``leanecg`` arguments for ``study`` (e.g. ``["study", "labels", "--task", "cinc2017"]``) from a
    script's argparse-style ``argv``."""
    out: list[str] = [*study]
    has_out = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in LIST_OPTIONS:
            values = []
            while i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                values.append(argv[i + 1])
                i += 1
            out += [arg, ",".join(values)]
        elif arg == "--out-dir" or arg.startswith("--out-dir="):
            has_out = True
            out.append(arg.replace("--out-dir", "--out", 1))
        else:
            has_out = has_out or arg == "--out" or arg.startswith("--out=")
            out.append(arg)
        i += 1
    return out if has_out else [*out, "--out", str(RESULTS)]


def forward(study: Sequence[str]) -> None:
    """Run ``leanecg <study> <rewritten sys.argv>`` and exit with its status."""
    from leanecg.cli import main

    sys.argv = ["leanecg", *study_argv(study, sys.argv[1:])]
    main()
