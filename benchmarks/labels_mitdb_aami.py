"""Label-efficiency curves on mitdb-aami beats (scratch vs SimCLR vs CLOCS CMSC / CMLC), one seed or several per call.

The same study as ``leanecg bench labels --labels-task mitdb-aami`` (:mod:`leanecg.bench.labels`,
:class:`~leanecg.bench.labels.MitdbLabelsConfig`); this script exists so the seeds can be run as separate
processes that merge into one ``labels_mitdb-aami.json``: entries of seeds not run now are kept when the
settings match.

    .venv/bin/python benchmarks/labels_mitdb_aami.py --data-dir ../shared/data --seeds 0
    .venv/bin/python benchmarks/labels_mitdb_aami.py --data-dir ../shared/data --seeds 1
    .venv/bin/python benchmarks/labels_mitdb_aami.py --data-dir ../shared/data --seeds 2

Output: ``benchmarks/results/labels_mitdb-aami.json`` (one result-schema entry per method, fraction and
seed, plus the summary), ``labels_mitdb-aami.md`` and ``labels_mitdb-aami.png``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from leanecg.bench.labels import MitdbLabelsConfig, labels_results_stem, run_labels_benchmark
from leanecg.bench.study import study_main

HERE = Path(__file__).resolve().parent
STEM = labels_results_stem("mitdb-aami")


def _run(data_dir: Path, out_dir: Path, args: argparse.Namespace, log: Callable[[str], None]) -> None:
    config = MitdbLabelsConfig(seeds=tuple(args.seeds), num_threads=args.threads)
    doc = run_labels_benchmark(data_dir, out_dir, config=config, tiny=args.tiny, log=log)
    log(f"{len(doc['results'])} entries in {out_dir / f'{STEM}.json'}")


def main(argv: list[str] | None = None) -> int:
    return study_main(
        argv, description=__doc__.splitlines()[0], run=_run, out_dir=HERE / "results", markdown=f"{STEM}.md"
    )


if __name__ == "__main__":
    raise SystemExit(main())
