"""How cinc2017's LightGBM recipe and record features were chosen: variants scored by 5-fold CV on train + val.

Each variant is the classic ``lightgbm`` row of ``leanecg bench cinc2017 --cv 5`` (the same folds, the same
early stopping on an inner validation part of each fold's training data, :func:`leanecg.bench.runner.
cross_validate`) with the task's LightGBM recipe and feature columns replaced: record features version 1 (the
79 columns before ``rhy_``) or version 2 (all), LightGBM parameters over
:func:`leanecg.train.hybrid.lightgbm_params`, and the power of the balanced class weights. Every variant runs
with each ``--seeds`` seed (the fold assignment, the inner split and LightGBM's own seed change together).
Training data only: no test split is read or scored.

    .venv/bin/python benchmarks/lightgbm_recipe_cv.py --data-dir ../shared/data --seeds 0,1

Writes ``lightgbm_recipe_cv.{json,md}`` into ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from leanecg.atomic import atomic_open, write_json
from leanecg.bench.runner import cross_validate
from leanecg.data import resolve_data_dir
from leanecg.provenance import collect_provenance
from leanecg.tasks.cinc2017 import Cinc2017Task
from leanecg.train.datasets import ArraySplit

_SUBSAMPLE = {"feature_fraction": 0.6, "bagging_fraction": 0.8, "bagging_freq": 1, "min_child_samples": 30}

#: (variant, feature version, LightGBM parameters over the defaults, class-weight power)
VARIANTS: list[tuple[str, int, dict[str, Any], float]] = [
    ("earlier recipe: version 1 features, defaults, balanced", 1, {}, 1.0),
    ("version 2 features, defaults, balanced", 2, {}, 1.0),
    ("v2, class weights ** 0.5", 2, {}, 0.5),
    ("v2, unweighted", 2, {}, 0.0),
    ("v2, feature_fraction 0.6", 2, {"feature_fraction": 0.6}, 1.0),
    ("v2, 15 leaves", 2, {"num_leaves": 15}, 1.0),
    ("v2, feature_fraction 0.6, weights ** 0.5", 2, {"feature_fraction": 0.6}, 0.5),
    ("v2, column + row subsampling, min 30 per leaf, weights ** 0.5 (chosen)", 2, _SUBSAMPLE, 0.5),
]


def _v1_columns(split: ArraySplit, names: list[str]) -> ArraySplit:
    keep = [j for j, n in enumerate(names) if not n.startswith("rhy_")]
    return ArraySplit(
        X=split.X, y=split.y, features=split.features[:, keep], groups=split.groups, name=split.name
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--seeds", default="0,1", help="comma-separated CV seeds")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    root = resolve_data_dir(args.data_dir, dataset="cinc2017")
    task = Cinc2017Task()
    data = task.load(root)
    names = list(data.info["input"]["features"])
    data_v1 = replace(
        data,
        train=_v1_columns(data.train, names),
        val=_v1_columns(data.val, names),
        test=_v1_columns(data.test, names),
    )
    rows = []
    for label, version, params, power in VARIANTS:
        task.lightgbm_options = MappingProxyType(dict(params))
        task.lightgbm_class_weight_power = power
        per_seed = []
        for seed in seeds:
            block = cross_validate(
                task, "lightgbm", data if version == 2 else data_v1, k=args.k, log=lambda s: None, seed=seed
            )
            per_seed.append(block["pooled"])
        f1 = [p["f1"] for p in per_seed]
        rows.append(
            {
                "variant": label,
                "feature_version": version,
                "params": params,
                "class_weight_power": power,
                "cv_f1": f1,
                "cv_f1_mean": statistics.fmean(f1),
                "cv_pooled": per_seed,
            }
        )
        print(f"{label}: CV F1 {', '.join(f'{v:.4f}' for v in f1)}", flush=True)
    command = f"python benchmarks/lightgbm_recipe_cv.py --seeds {args.seeds} --k {args.k}"
    doc = {
        "task": task.name,
        "k": args.k,
        "seeds": seeds,
        "rows": rows,
        "test_split_evaluations": 0,
        "provenance": collect_provenance(seed=seeds[0], command=command),
    }
    write_json(args.out / "lightgbm_recipe_cv.json", doc)
    lines = [
        "# cinc2017: LightGBM recipe and record features by cross-validation",
        "",
        f"Pooled out-of-fold F1(N,A,O) of the `lightgbm` row of `leanecg bench cinc2017 --cv {args.k}` (train + "
        "val, stratified folds, early stopping on an inner part of each fold's training data) with each variant "
        f"of the recipe, one column per CV seed ({', '.join(map(str, seeds))}). Training data only.",
        "",
        "| variant | " + " | ".join(f"CV F1 seed {s}" for s in seeds) + " | mean |",
        "|---|" + "---|" * (len(seeds) + 1),
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | "
            + " | ".join(f"{v:.4f}" for v in r["cv_f1"])
            + f" | {r['cv_f1_mean']:.4f} |"
        )
    lines += ["", f"Command: `{command}`; commit {doc['provenance'].get('git_commit')}.", ""]
    with atomic_open(args.out / "lightgbm_recipe_cv.md", "w") as fh:
        fh.write("\n".join(lines))


if __name__ == "__main__":
    main()
