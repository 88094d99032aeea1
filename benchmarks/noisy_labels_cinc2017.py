"""Noisy labels on cinc2017: flip 10/20/40 % of the training labels, correct them (confident learning).

Runs :func:`leanecg.bench.labels.run_noisy_benchmark` (protocol in its docstring). Seeds can be run as separate
processes; they merge into one results file when the settings match:

    .venv/bin/python benchmarks/noisy_labels_cinc2017.py --data-dir ../shared/data --seeds 0 1 2

Output: ``benchmarks/results/noisy_labels.json`` and ``noisy_labels.md``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from leanecg.bench.labels import NoisyConfig, run_noisy_benchmark
from leanecg.bench.study import study_main
from leanecg.train.label_correction import AGREEMENTS, METHODS

HERE = Path(__file__).resolve().parent


def _options(ap: argparse.ArgumentParser) -> None:
    defaults = NoisyConfig()
    ap.add_argument("--method", choices=METHODS, default=defaults.method)
    ap.add_argument("--agreement", choices=AGREEMENTS, default=defaults.agreement)
    ap.add_argument("--threshold", type=float, default=defaults.threshold, help="re-label threshold")
    ap.add_argument(
        "--repeats", type=int, default=defaults.n_repeats, help="out-of-fold fold splits averaged"
    )
    ap.add_argument("--rounds", type=int, default=defaults.rounds)


def _run(data_dir: Path, out_dir: Path, args: argparse.Namespace, log: Callable[[str], None]) -> None:
    config = NoisyConfig(
        seeds=tuple(args.seeds),
        num_threads=args.threads,
        method=args.method,
        agreement=args.agreement,
        threshold=args.threshold,
        n_repeats=args.repeats,
        rounds=args.rounds,
        drop_below=0.1 if args.method == "threshold" else None,
    )
    run_noisy_benchmark(data_dir, out_dir, config=config, tiny=args.tiny, log=log)


def main(argv: list[str] | None = None) -> int:
    return study_main(
        argv,
        description=__doc__.splitlines()[0],
        run=_run,
        out_dir=HERE / "results",
        markdown="noisy_labels.md",
        add_arguments=_options,
    )


if __name__ == "__main__":
    raise SystemExit(main())
