"""Two-stage cross-validation screens of ``cinc2017`` LightGBM recipes (shared by the screen scripts).

A screen compares variants of the shipped recipe (other record columns, other LightGBM settings) with the
recipe itself on the ``lightgbm`` row of ``leanecg bench cinc2017 --cv 5`` (:func:`leanecg.bench.runner.
cross_validate`: the same folds and inner early stopping). Two stages, the rule set before the run:

1. **selection**: every variant on the selection seeds; the one with the highest mean pooled CV F1(N,A,O)
   is chosen;
2. **confirmation**: the chosen variant and the shipped recipe on fresh seeds; adopted only if the paired
   gain of its seed-averaged out-of-fold probabilities over the shipped recipe's (1,000 bootstrap resamples
   of the records, 95 %) lies above 0.

Training data only (train + val): no test record is read or scored.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.atomic import atomic_open, write_json
from leanecg.bench.runner import cross_validate
from leanecg.data import resolve_data_dir
from leanecg.evaluate.bootstrap import bootstrap_diff_ci
from leanecg.provenance import collect_provenance
from leanecg.tasks.base import BenchTask, TaskData
from leanecg.tasks.cinc2017 import Cinc2017Task

#: A recipe to cross-validate: the task (its LightGBM attributes) and the data (its feature columns).
Candidate = tuple[BenchTask, TaskData]
SELECT_SEEDS, CONFIRM_SEEDS = (0, 1), (2, 3, 4)
#: How the paired gain is computed (the last sentences of every screen's introduction).
PAIRED = (
    "Paired gain: the seeds' out-of-fold probabilities averaged (as the shipped two-booster ensemble averages), "
    "minus the shipped recipe's averaged alike, 1,000 bootstrap resamples of the records. Training data only."
)


def screen_inputs(
    description: str, argv: Sequence[str] | None
) -> tuple[argparse.Namespace, Cinc2017Task, TaskData]:
    """A screen script's arguments (``--data-dir``, ``--out``), the ``cinc2017`` task and its data."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)
    task = Cinc2017Task()
    return args, task, task.load(resolve_data_dir(args.data_dir, dataset="cinc2017"))


def cv_f1(candidate: Candidate, seed: int) -> tuple[float, np.ndarray]:
    """Pooled CV F1 and the out-of-fold probabilities ``(N, n_classes)`` of one recipe and CV seed."""
    task, data = candidate
    block = cross_validate(task, "lightgbm", data, k=5, log=lambda s: None, seed=seed, keep_proba=True)
    return float(block["pooled"]["f1"]), np.asarray(block["proba"], dtype=np.float64)


def paired_gain(task: BenchTask, y: np.ndarray, base: np.ndarray, new: np.ndarray) -> dict[str, float]:
    """F1 of ``new`` minus F1 of ``base`` (probabilities ``(N, n_classes)``), paired bootstrap over records."""

    def f1(t: np.ndarray, proba: np.ndarray) -> float:
        return task.scores(t, np.argmax(proba, axis=1))["f1"]

    ci = bootstrap_diff_ci(f1, y, new, base, n_boot=1000, seed=0)
    return {"gain": float(ci.point), "lo": float(ci.lo), "hi": float(ci.hi)}


def stage(
    base: Candidate, base_name: str, variants: dict[str, Candidate], seeds: Sequence[int]
) -> list[dict[str, Any]]:
    """Rows of one stage: the shipped recipe, then each variant with its paired gain over it."""
    y = np.asarray(base[0].cv_pool(base[1]).y)
    runs = {s: cv_f1(base, s) for s in seeds}
    base_avg = np.mean([p for _, p in runs.values()], axis=0)
    rows = [{"variant": base_name, "cv_f1": [runs[s][0] for s in seeds]}]
    for name, candidate in variants.items():
        runs = {s: cv_f1(candidate, s) for s in seeds}
        avg = np.mean([p for _, p in runs.values()], axis=0)
        rows.append(
            {
                "variant": name,
                "cv_f1": [runs[s][0] for s in seeds],
                "paired_gain_seed_average": paired_gain(base[0], y, base_avg, avg),
            }
        )
        print(f"{name}: CV F1 {[round(runs[s][0], 4) for s in seeds]}", flush=True)
    for r in rows:
        r["cv_f1_mean"] = statistics.fmean(r["cv_f1"])
    return rows


def table(rows: list[dict[str, Any]], seeds: Sequence[int]) -> list[str]:
    """A stage's rows as markdown table lines."""
    lines = [
        "| variant | " + " | ".join(f"CV F1 seed {s}" for s in seeds) + " | mean | paired gain [95 % CI] |",
        "|---|" + "---|" * (len(seeds) + 2),
    ]
    for r in rows:
        g = r.get("paired_gain_seed_average")
        gain = "–" if g is None else f"{g['gain']:+.4f} [{g['lo']:+.4f}, {g['hi']:+.4f}]"
        lines.append(
            f"| {r['variant']} | "
            + " | ".join(f"{v:.4f}" for v in r["cv_f1"])
            + f" | {r['cv_f1_mean']:.4f} | {gain} |"
        )
    return lines


def run_screen(
    base: Candidate,
    base_name: str,
    variants: dict[str, Candidate],
    *,
    out: Path,
    stem: str,
    title: str,
    intro: str,
    command: str,
    extra: dict[str, Any],
    select_seeds: Sequence[int] = SELECT_SEEDS,
    confirm_seeds: Sequence[int] = CONFIRM_SEEDS,
) -> dict[str, Any]:
    """Both stages, then ``<stem>.{json,md}`` in ``out`` (``intro``: what is scored, before :data:`PAIRED`);
    returns the JSON document (``adopted``: the rule's verdict). Without ``select_seeds`` (one variant, fixed
    before the run) there is no selection stage."""
    if not select_seeds and len(variants) != 1:
        raise ValueError("a screen without a selection stage takes exactly one variant")
    select = stage(base, base_name, variants, select_seeds) if select_seeds else None
    best = max(select[1:], key=lambda r: r["cv_f1_mean"])["variant"] if select else next(iter(variants))
    confirm = stage(base, base_name, {best: variants[best]}, confirm_seeds)
    adopted = confirm[1]["paired_gain_seed_average"]["lo"] > 0
    doc = {
        "task": base[0].name,
        "k": 5,
        **extra,
        "selection": {"seeds": list(select_seeds), "rows": select} if select else None,
        "chosen_variant": best,
        "confirmation": {"seeds": list(confirm_seeds), "rows": confirm},
        "adopted": adopted,
        "test_split_evaluations": 0,
        "provenance": collect_provenance(
            seed=(list(select_seeds) or list(confirm_seeds))[0], command=command
        ),
    }
    write_json(out / f"{stem}.json", doc)
    lines = [
        f"# {title}",
        "",
        f"{intro} {PAIRED}",
        "",
        *(
            [f"Selection, seeds {', '.join(map(str, select_seeds))}:", "", *table(select, select_seeds), ""]
            if select
            else []
        ),
        f"Confirmation of {'the best' if select else 'the variant'} ('{best}') on fresh seeds "
        f"{', '.join(map(str, confirm_seeds))}:",
        "",
        *table(confirm, confirm_seeds),
        "",
        f"Rule (set before the run): adopt if the confirmation's paired gain CI lies above 0. "
        f"**{'Adopted' if adopted else 'Not adopted'}.**",
        "",
        f"Command: `{command}`; commit {doc['provenance'].get('git_commit')}.",
        "",
    ]
    with atomic_open(out / f"{stem}.md", "w") as fh:
        fh.write("\n".join(lines))
    return doc
