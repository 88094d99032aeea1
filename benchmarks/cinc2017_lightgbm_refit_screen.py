"""Does cinc2017's LightGBM gain from a refit on all training records or a lower learning rate? A CV screen.

The shipped recipe early-stops each booster on the validation split (1/6 of the training data) and keeps
the booster fitted on the rest, so a sixth of the labelled records never shape a tree. Variants:

* **refit**: the rounds found by early stopping, scaled by the data's growth, refitted on train + val
  together (``Cinc2017Task.lightgbm_refit``, :func:`leanecg.train.hybrid.refit_lightgbm`; in a CV fold the
  inner validation part joins the fold's training part, the held-out fold never does);
* **learning rate 0.02** (instead of 0.05), up to 1,000 rounds, early-stopping patience 75 (30 x 0.05 /
  0.02), fit on the rest as shipped;
* both.

Two stages (:mod:`cv_screen`, rule set before the run): the variants on CV seeds 0 and 1; the best by mean
CV F1 on fresh seeds 2, 3 and 4 against the shipped recipe, adopted only if the paired gain of the
seed-averaged out-of-fold probabilities lies above 0 (95 % bootstrap over records). An adopted recipe ships
as many boosters (seeds 0, 1, ...) as the 100 k parameter budget (tree nodes) holds. Training data only
(train + val): no test record is read or scored (about 8 min on one core).

    .venv/bin/python benchmarks/cinc2017_lightgbm_refit_screen.py --data-dir ../shared/data

Writes ``cinc2017_lightgbm_refit_screen.{json,md}`` into ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cv_screen import run_screen, screen_inputs
from leanecg.tasks.cinc2017 import Cinc2017Task

#: variant -> Cinc2017Task attributes over the shipped recipe's
VARIANTS: dict[str, dict[str, Any]] = {
    "refit on train + val": {"lightgbm_refit": True},
    "learning rate 0.02": {
        "lightgbm_options": {**Cinc2017Task.lightgbm_options, "learning_rate": 0.02},
        "lightgbm_num_boost_round": 1000,
        "lightgbm_early_stopping_rounds": 75,
    },
}
VARIANTS["learning rate 0.02 + refit"] = {**VARIANTS["learning rate 0.02"], "lightgbm_refit": True}


def task_with(attributes: dict[str, Any]) -> Cinc2017Task:
    """A ``cinc2017`` task whose LightGBM recipe has ``attributes`` set."""
    task = Cinc2017Task()
    for name, value in attributes.items():
        if not hasattr(task, name):
            raise ValueError(f"Cinc2017Task has no attribute {name!r}")
        setattr(task, name, value)
    return task


def main(argv: Sequence[str] | None = None) -> int:
    args, task, data = screen_inputs(__doc__.splitlines()[0], argv)
    run_screen(
        (task, data),
        "shipped recipe (learning rate 0.05, early-stopped fit on 5/6)",
        {name: (task_with(attrs), data) for name, attrs in VARIANTS.items()},
        out=args.out,
        stem="cinc2017_lightgbm_refit_screen",
        title="cinc2017: LightGBM refit on all training records, lower learning rate (a CV screen)",
        intro="Pooled out-of-fold F1(N,A,O) of the `lightgbm` row of `leanecg bench cinc2017 --cv 5` (train + "
        "val; the shipped recipe and its variants, described in the script's docstring).",
        command="python benchmarks/cinc2017_lightgbm_refit_screen.py",
        extra={
            "variants": {
                k: {a: dict(v) if a == "lightgbm_options" else v for a, v in attrs.items()}
                for k, attrs in VARIANTS.items()
            }
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
