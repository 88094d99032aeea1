"""Median-beat columns and the refit together, confirmed on fresh seeds (a CV screen).

Two screens of cinc2017's LightGBM recipe each came close to their rule, judged alone: the median beat's
columns (``cinc2017_median_beat_screen.py``: coarse + shape + ectopy, +0.0041 [−0.0013, +0.0099] on seeds
2-4) and the refit on train + val (``cinc2017_lightgbm_refit_screen.py``: +0.0032 [−0.0010, +0.0072]). This
run tests their combination, fixed before it ran (no selection stage), against the shipped recipe on seeds
5, 6 and 7, which no screen has used, with the same rule (:mod:`cv_screen`): adopt only if the paired gain
of the seed-averaged out-of-fold probabilities lies above 0 (95 % bootstrap over records). Training data
only (train + val): no test record is read or scored (about 6 min on two cores).

    .venv/bin/python benchmarks/cinc2017_combined_screen.py --data-dir ../shared/data

Writes ``cinc2017_combined_screen.{json,md}`` into ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

from collections.abc import Sequence

from cinc2017_lightgbm_refit_screen import task_with
from cinc2017_median_beat_screen import VARIANTS as COLUMN_GROUPS
from cinc2017_median_beat_screen import augmented, median_beat_rows
from cv_screen import run_screen, screen_inputs

COLUMNS = "coarse + shape + ectopy"  # the median-beat screen's chosen groups
SEEDS = (5, 6, 7)


def main(argv: Sequence[str] | None = None) -> int:
    args, task, data = screen_inputs(__doc__.splitlines()[0], argv)
    rows = median_beat_rows(data)
    variant = f"median-beat columns ({COLUMNS}) + refit on train + val"
    run_screen(
        (task, data),
        "shipped recipe (features version 2, early-stopped fit on 5/6)",
        {variant: (task_with({"lightgbm_refit": True}), augmented(data, rows, COLUMN_GROUPS[COLUMNS]))},
        out=args.out,
        stem="cinc2017_combined_screen",
        title="cinc2017: median-beat columns and the refit together, on fresh seeds (a CV screen)",
        intro="Pooled out-of-fold F1(N,A,O) of the `lightgbm` row of `leanecg bench cinc2017 --cv 5` (train + "
        "val): the shipped recipe against the combination of the two screens' near-misses, fixed before the "
        "run (no selection stage).",
        command="python benchmarks/cinc2017_combined_screen.py",
        extra={"columns": list(COLUMN_GROUPS[COLUMNS]), "refit": True},
        select_seeds=(),
        confirm_seeds=SEEDS,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
