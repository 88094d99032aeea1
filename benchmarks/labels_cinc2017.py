"""Label-efficiency curves on cinc2017 (scratch vs SimCLR vs CLOCS-CMSC), one seed or several per call.

The same study as ``leanecg bench labels`` (:mod:`leanecg.bench.labels`); this script exists so the
seeds can be run as separate processes (each well under the 12-minute limit of a shared CI machine)
that merge into one ``labels.json``: entries of seeds not run now are kept when the settings match.

    .venv/bin/python benchmarks/labels_cinc2017.py --data-dir ../shared/data --seeds 0
    .venv/bin/python benchmarks/labels_cinc2017.py --data-dir ../shared/data --seeds 1
    .venv/bin/python benchmarks/labels_cinc2017.py --data-dir ../shared/data --seeds 2

Output: ``benchmarks/results/labels.json`` (one result-schema entry per method, fraction and seed, plus the
summary), ``labels.md`` and ``labels.png``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from leanecg.bench.labels import LabelsConfig, run_labels_benchmark
from leanecg.bench.study import study_main

HERE = Path(__file__).resolve().parent


def _run(data_dir: Path, out_dir: Path, args: argparse.Namespace, log: Callable[[str], None]) -> None:
    config = LabelsConfig(seeds=tuple(args.seeds), num_threads=args.threads)
    doc = run_labels_benchmark(data_dir, out_dir, config=config, tiny=args.tiny, log=log)
    log(f"{len(doc['results'])} entries in {out_dir / 'labels.json'}")


def main(argv: list[str] | None = None) -> int:
    return study_main(
        argv, description=__doc__.splitlines()[0], run=_run, out_dir=HERE / "results", markdown="labels.md"
    )


if __name__ == "__main__":
    raise SystemExit(main())
