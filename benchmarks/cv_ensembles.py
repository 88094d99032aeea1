"""Recipes combined by cross-validation: ensembles scored on the out-of-fold probabilities of ``bench --cv``.

``leanecg bench TASK --models M --cv K`` writes, beside each result ``M.json``, the row's out-of-fold
probabilities ``M.cv.npz`` (every training example predicted by a model that never saw it). This script
averages the probabilities of several rows -- a seed ensemble, a network beside LightGBM on the record
features, a network beside its own hybrid -- and scores the average on the same pool, so the choice of what
to ship is made on the training data only; no test split is read or scored here.

For every member and every ensemble it reports the pooled CV score of the task's primary metric with a 95 %
bootstrap CI (examples resampled; whole records for ``mitdb-aami``), and for each ensemble the paired
bootstrap CI of its gain over its best member (same resamples): an interval that excludes 0 is a gain
beyond the noise of the pool. Parameters of an ensemble are the sum of its members' (LightGBM: tree
nodes). Members may come from different CV seeds (different folds): each prediction is still held out.

    .venv/bin/python benchmarks/cv_ensembles.py --task cinc2017 --dir benchmarks/results/cv/cinc2017 \\
        --ensemble wide_deep_lite,lightgbm --ensemble wide_deep_lite,wide_deep_lite+lightgbm

Writes ``OUT/cv_ensembles_<task>.{json,md}`` (default OUT: ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.atomic import atomic_open, write_json
from leanecg.bench.cv import average_oof, check_same_pool, load_oof
from leanecg.errors import LeanECGError
from leanecg.evaluate.bootstrap import bootstrap_ci, bootstrap_diff_ci
from leanecg.provenance import collect_provenance
from leanecg.tasks import BenchTask, get_task


def member(folder: Path, name: str, task: BenchTask) -> dict[str, Any]:
    """A ``bench --cv`` row: its result JSON, its out-of-fold file, checked against each other. ``name`` is a
    row of ``folder`` (``lightgbm``) or, with a ``/``, the path of a result in another folder without its
    ``.json`` (``runs/seed1/cinc2017/lightgbm``: the same recipe run with another ``--seed``)."""
    path = Path(f"{name}.json") if "/" in name else folder / f"{name}.json"
    folder = path.parent
    if not path.is_file():
        raise LeanECGError(path, "no such result (run `leanecg bench TASK --models NAME --cv K --out ...`)")
    result = json.loads(path.read_text(encoding="utf-8"))
    cv = result.get("cv")
    if not cv or "proba_file" not in cv:
        raise LeanECGError(path, "has no out-of-fold probabilities (rerun its bench with --cv K)")
    oof = load_oof(folder / cv["proba_file"])
    pooled = task.scores(oof["y"], np.argmax(oof["proba"], axis=1))
    if not np.isclose(pooled[task.primary_metric], cv["pooled"][task.primary_metric]):
        raise LeanECGError(
            folder / cv["proba_file"], f"does not reproduce the pooled CV score of {path.name}"
        )
    return {"name": name, "result": result, "oof": oof, "file": folder / cv["proba_file"]}


def portable(arg: str) -> str:
    """A command-line argument as recorded: absolute paths inside the working folder made relative, others
    reduced to their name (no machine folders in committed results)."""
    p = Path(arg)
    if not p.is_absolute():
        return arg
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return p.name


def ci_block(ci: Any) -> dict[str, float]:
    return {"value": float(ci.point), "ci_low": float(ci.lo), "ci_high": float(ci.hi)}


def evaluate(
    task: BenchTask,
    members: dict[str, dict[str, Any]],
    ensembles: Sequence[list[str]],
    n_boot: int,
    seed: int,
    reference: Sequence[str] = (),
) -> dict[str, Any]:
    """The members' and ensembles' pooled CV scores with bootstrap CIs (see the module docstring);
    ``reference``: a member, or several averaged (an ensemble), every row is also compared with (paired gain
    and its CI), e.g. the shipped recipe."""

    def metric(y: np.ndarray, pred: np.ndarray) -> float:
        return task.scores(y, pred)[task.primary_metric]

    check_same_pool({str(m["file"]): m["oof"] for m in members.values()})  # every row scored on one pool
    first = next(iter(members.values()))["oof"]
    y, groups = first["y"], first["groups"]
    preds = {n: np.argmax(m["oof"]["proba"], axis=1) for n, m in members.items()}

    def averaged(names: Sequence[str]) -> np.ndarray:
        proba, _ = average_oof({str(members[n]["file"]): members[n]["oof"] for n in names})
        return np.argmax(proba, axis=1)

    ref_pred = averaged(reference) if reference else None  # one row: its own prediction

    def versus(pred: np.ndarray) -> dict[str, float] | None:
        if ref_pred is None:
            return None
        diff = bootstrap_diff_ci(metric, y, pred, ref_pred, groups=groups, n_boot=n_boot, seed=seed)
        return ci_block(diff)

    rows = []
    for n, m in members.items():
        ci = bootstrap_ci(metric, y, preds[n], groups=groups, n_boot=n_boot, seed=seed)
        res = m["result"]
        rows.append(
            {
                "name": n,
                "cv_seed": m["oof"]["seed"],
                "k": m["oof"]["k"],
                "cv": ci_block(ci),
                "cv_scores": task.scores(y, preds[n]),
                "gain_over_reference": None if [n] == list(reference) else versus(preds[n]),
                "params": res["cost"]["params"],
                "test": res["metrics"][task.primary_metric]["value"],
                "commit": res["provenance"].get("git_commit"),
            }
        )
    cv_value = {r["name"]: r["cv"]["value"] for r in rows}
    ens_rows = []
    for names in ensembles:
        pred = averaged(names)
        best = max(names, key=cv_value.__getitem__)
        ci = bootstrap_ci(metric, y, pred, groups=groups, n_boot=n_boot, seed=seed)
        gain = bootstrap_diff_ci(metric, y, pred, preds[best], groups=groups, n_boot=n_boot, seed=seed)
        ens_rows.append(
            {
                "members": list(names),
                "gain_over_reference": None if list(names) == list(reference) else versus(pred),
                "cv": ci_block(ci),
                "cv_scores": task.scores(y, pred),
                "best_member": best,
                "gain_over_best_member": ci_block(gain),
                "params": int(sum(members[n]["result"]["cost"]["params"] for n in names)),
            }
        )
    return {"reference": " + ".join(reference) or None, "members": rows, "ensembles": ens_rows}


def interval(c: dict[str, float], sign: str = "") -> str:
    """``value [low, high]`` of a :func:`ci_block` to 3 decimals (``sign="+"``: signed, for gains)."""
    return f"{c['value']:{sign}.3f} [{c['ci_low']:{sign}.3f}, {c['ci_high']:{sign}.3f}]"


def gain(g: dict[str, float] | None) -> str:
    return "–" if g is None else interval(g, "+")


def markdown(task: BenchTask, doc: dict[str, Any], command: str) -> str:
    pm = task.primary_metric
    vs_head = f"gain over {doc['reference']} [95 % CI]" if doc["reference"] else "gain over a reference"
    out = [
        f"# {task.name}: recipes and their ensembles by cross-validation",
        "",
        f"Pooled out-of-fold `{pm}` of each `leanecg bench {task.name} --cv K` row and of the averages of "
        f"their probabilities, with 95 % bootstrap CIs ({doc['n_boot']} resamples of the pool's "
        f"{doc['unit']}); the gain of an ensemble is paired with its best member on the same resamples. "
        "Training data only: the 'test' column is the row's own single test score from its bench run, "
        "shown for reference and never used here; no ensemble is scored on the test split.",
        "",
        f"| row | CV seed | CV {pm} [95 % CI] | {vs_head} | params | test {pm} (bench run) |",
        "|---|---|---|---|---|---|",
    ]
    for r in doc["members"]:
        out.append(
            f"| {r['name']} | {r['cv_seed']} | {interval(r['cv'])} | {gain(r['gain_over_reference'])} "
            f"| {r['params']:,} | {r['test']:.3f} |"
        )
    if doc["ensembles"]:
        out += [
            "",
            f"| ensemble (probabilities averaged) | CV {pm} [95 % CI] | gain over best member [95 % CI] "
            f"| {vs_head} | params |",
            "|---|---|---|---|---|",
        ]
        for e in doc["ensembles"]:
            out.append(
                f"| {' + '.join(e['members'])} | {interval(e['cv'])} "
                f"| {gain(e['gain_over_best_member'])} vs {e['best_member']} | {gain(e['gain_over_reference'])} "
                f"| {e['params']:,} |"
            )
    out += ["", f"Command: `{command}`; commit {doc['provenance'].get('git_commit')}.", ""]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", required=True, help="benchmark task (mitdb-aami, cinc2017, ...)")
    ap.add_argument(
        "--dir", type=Path, required=True, help="folder of `bench --cv` results and .cv.npz files"
    )
    ap.add_argument(
        "--members", default="", help="comma-separated rows to list (default: every ensemble member)"
    )
    ap.add_argument(
        "--ensemble", action="append", default=[], help="comma-separated rows to average (repeat)"
    )
    ap.add_argument(
        "--reference",
        default="",
        help="row, or comma-separated rows averaged, every row is compared with (e.g. the shipped recipe)",
    )
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)
    try:
        task = get_task(args.task)
        ensembles = [[n.strip() for n in e.split(",") if n.strip()] for e in args.ensemble]
        if any(len(e) < 2 for e in ensembles):
            raise LeanECGError("--ensemble", "an ensemble needs at least two comma-separated rows")
        names = [n.strip() for n in args.members.split(",") if n.strip()]
        reference = [n.strip() for n in args.reference.split(",") if n.strip()]
        names = [n for n in reference if n not in names] + names
        names += [n for e in ensembles for n in e if n not in names]
        if not names:
            raise LeanECGError("--members", "name at least one row (or an --ensemble)")
        members = {n: member(args.dir, n, task) for n in names}
        doc = evaluate(task, members, ensembles, args.n_boot, args.seed, reference=reference)
    except LeanECGError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    doc.update(
        task=task.name,
        metric=task.primary_metric,
        n_boot=args.n_boot,
        unit="records" if next(iter(members.values()))["oof"]["groups"] is not None else "examples",
        test_split_evaluations=0,
    )
    command = "python benchmarks/cv_ensembles.py " + " ".join(
        portable(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    doc["provenance"] = collect_provenance(seed=args.seed, command=command)
    stem = f"cv_ensembles_{task.name}"
    write_json(args.out / f"{stem}.json", doc)
    with atomic_open(args.out / f"{stem}.md", "w") as fh:
        fh.write(markdown(task, doc, command))
    print((args.out / f"{stem}.md").read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
