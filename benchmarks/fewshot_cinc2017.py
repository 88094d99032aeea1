"""Few-shot rhythm classes on cinc2017: prototypical network, leave-one-class-out, k = 1, 5, 10.

Runs :func:`leanecg.bench.fewshot.run_fewshot_benchmark` (protocol in its docstring). Seeds can be run as separate
processes; they merge into one results file when the settings match:

    .venv/bin/python benchmarks/fewshot_cinc2017.py --data-dir ../shared/data --seeds 0

Output: ``benchmarks/results/fewshot.json`` and ``fewshot.md``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from leanecg.bench.fewshot import FewShotConfig, run_fewshot_benchmark
from leanecg.bench.study import study_main

HERE = Path(__file__).resolve().parent


def _run(data_dir: Path, out_dir: Path, args: argparse.Namespace, log: Callable[[str], None]) -> None:
    config = FewShotConfig(seeds=tuple(args.seeds), num_threads=args.threads)
    run_fewshot_benchmark(
        data_dir, out_dir, config=config, tiny=args.tiny, log=log, device=args.device, amp=args.amp
    )


def _add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto (episodic training)")
    ap.add_argument("--amp", action="store_true", help="mixed precision on CUDA")


def main(argv: list[str] | None = None) -> int:
    return study_main(
        argv,
        description=__doc__.splitlines()[0],
        run=_run,
        out_dir=HERE / "results",
        markdown="fewshot.md",
        default_seeds=(0,),
        add_arguments=_add_arguments,
    )


if __name__ == "__main__":
    raise SystemExit(main())
