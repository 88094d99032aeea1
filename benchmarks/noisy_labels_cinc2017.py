"""Noisy labels on cinc2017: flip 10/20/40 % of the training labels, correct them (confident learning).

Runs :func:`leanecg.bench.noisy_labels.run_noisy_benchmark` (protocol in its docstring). Seeds can be run as separate
processes; they merge into one results file when the settings match:

    .venv/bin/python benchmarks/noisy_labels_cinc2017.py --data-dir ../shared/data --seeds 0 1 2

Output: ``benchmarks/results/noisy_labels.json`` and ``noisy_labels.md`` (LightGBM, the default model), or
``noisy_labels_<model>[_w<width>_e<epochs>].{json,md}`` for another ``--model`` (e.g. ``--model litenet``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from leanecg.bench.noisy_labels import NoisyConfig, noisy_results_stem, run_noisy_benchmark
from leanecg.bench.study import study_main
from leanecg.train.label_correction import AGREEMENTS, METHODS

HERE = Path(__file__).resolve().parent


def _options(ap: argparse.ArgumentParser) -> None:
    defaults = NoisyConfig()
    ap.add_argument(
        "--model", default=defaults.model, help="classic model (lightgbm, rf, ...) or zoo model (litenet)"
    )
    ap.add_argument("--width", type=float, default=defaults.width, help="zoo model channel multiplier")
    ap.add_argument("--epochs", type=int, default=defaults.epochs, help="zoo model training epochs")
    ap.add_argument("--batch-size", type=int, default=defaults.batch_size, help="zoo model batch size")
    ap.add_argument("--crop-s", type=float, default=defaults.crop_s, help="zoo model crop length (s)")
    ap.add_argument(
        "--rates", type=float, nargs="+", default=list(defaults.rates), help="fractions of labels flipped"
    )
    ap.add_argument("--method", choices=METHODS, default=defaults.method)
    ap.add_argument("--agreement", choices=AGREEMENTS, default=defaults.agreement)
    ap.add_argument("--threshold", type=float, default=defaults.threshold, help="re-label threshold")
    ap.add_argument(
        "--repeats", type=int, default=defaults.n_repeats, help="out-of-fold fold splits averaged"
    )
    ap.add_argument("--rounds", type=int, default=defaults.rounds)
    ap.add_argument(
        "--detector-epochs",
        type=int,
        default=defaults.detector_epochs,
        help="networks: epochs of the out-of-fold models that judge the labels (early learning)",
    )
    ap.add_argument(
        "--eval-split",
        choices=("test", "val"),
        default=defaults.eval_split,
        help="val: choose settings on the validation split (written to <stem>_val.*)",
    )


def _run(data_dir: Path, out_dir: Path, args: argparse.Namespace, log: Callable[[str], None]) -> None:
    config = NoisyConfig(
        model=args.model,
        width=args.width,
        epochs=args.epochs,
        batch_size=args.batch_size,
        crop_s=args.crop_s,
        rates=tuple(args.rates),
        seeds=tuple(args.seeds),
        num_threads=args.threads,
        method=args.method,
        agreement=args.agreement,
        threshold=args.threshold,
        n_repeats=args.repeats,
        rounds=args.rounds,
        detector_epochs=args.detector_epochs,
        eval_split=args.eval_split,
        drop_below=0.1 if args.method == "threshold" else None,
    )
    run_noisy_benchmark(data_dir, out_dir, config=config, tiny=args.tiny, log=log)


def main(argv: list[str] | None = None) -> int:
    pre = argparse.ArgumentParser(add_help=False)
    _options(pre)
    known = pre.parse_known_args(argv)[0]
    stem = noisy_results_stem(
        NoisyConfig(
            model=known.model,
            width=known.width,
            epochs=known.epochs,
            detector_epochs=known.detector_epochs,
            eval_split=known.eval_split,
        )
    )
    return study_main(
        argv,
        description=__doc__.splitlines()[0],
        run=_run,
        out_dir=HERE / "results",
        markdown=f"{stem}.md",
        add_arguments=_options,
    )


if __name__ == "__main__":
    raise SystemExit(main())
