"""Does a record-normalised linear member carry to unseen patients? A DS1 cross-validation screen.

The ``mitdb-aami`` pair shipped when this screen was written (the RR-context pair) averages a ``beatnet`` and a logistic regression (``linear``) that read the same 17
beat features (RR, rhythm context, template). The candidate adds a third member: a logistic regression on the
*record-normalised* twins of those columns (:data:`leanecg.signal.beats.RECORD_Z_FEATURE_NAMES`: each beat's
value against its own record's median and interquartile range, :func:`leanecg.signal.record_norm.record_robust_z`;
unsupervised, no label read), the three members' probabilities averaged, as ``leanecg ensemble`` averages them.

How the candidate was found (2026-12-07, on the selection seeds' out-of-fold files, not committed): variants of the
pair's linear member scored beside the same network with the AF gate. A quadratic or spline logistic regression
(several C), other C, other member weights (1/3, 2/3) and geometric pooling of the pair were worse or flat;
record-normalised columns helped, whole-record statistics more than running ones (all beats so far, the last 300
or 100 beats); of the record-normalised forms (its columns alone as the pair's member, raw + normalised in one
model, a third member; arithmetic or geometric pooling) the third member with arithmetic averaging was fixed as
the candidate before this script ran.

For every seed: 5-fold leave-records-out CV over DS1 (the ablation's folds), out-of-fold probabilities of the
three members (the network: the ``+ RR context`` row's recipe), the AF gate applied with its threshold chosen per
held-out record on the other records (nested, as ``benchmarks/sveb_gate_cv.py``). The paired gain of the
candidate over that pair in the mean of SVEB and VEB F1, the seeds pooled, with a 95 % bootstrap CI over
DS1 records (2,000 resamples; a record's beats in every seed resampled together).

Rule, set before the run: adopt the candidate if, on the confirmation seeds (fresh: they choose nothing), that
gain's CI lies above 0 (the rule every recipe of the beat ablation has faced). The selection seeds' figures are
shown beside them. Training data only: no DS2 beat is read.

    .venv/bin/python benchmarks/record_z_screen.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from beat_ablation import _CONTEXT, _cv_members, _save_oof, _task, canonical, canonical_order, oof_path
from leanecg.atomic import atomic_open, write_json
from leanecg.data import resolve_data_dir
from leanecg.evaluate.bootstrap import bootstrap_diff_ci
from leanecg.provenance import collect_provenance
from sveb_gate_cv import AF_THRESHOLDS, _af, _nested, _pct, _record_irregularity, _scores

RESULTS = Path(__file__).parent / "results"
Members = tuple[tuple[str, dict[str, Any]], ...]
#: the reference: each member ``(zoo model, task attributes over the '+ RR context' row's)``
SHIPPED: tuple[str, Members] = ("RR-context pair", (("beatnet", {}), ("linear", {})))
#: what each candidate is, for the results page
WHAT = {
    "member": "the RR-context pair (`beatnet` + `linear` on the RR, rhythm-context and template columns; shipped when "
    "the screen was fixed) with a third "
    "member, `linear` on the record-normalised twins of those columns (each beat against its record's median and "
    "IQR); the members' probabilities averaged",
    "network": "the RR-context pair with its `beatnet` reading the record-normalised twins of the 17 columns beside "
    "them (34 columns); the `linear` member as shipped; the members' probabilities averaged",
}
#: ``--candidate`` -> (name, members, the stages' default seeds, output file stem)
CANDIDATES: dict[str, tuple[str, Members, tuple[str, str], str]] = {
    "member": (
        "+ record-normalised linear member",
        (("beatnet", {}), ("linear", {}), ("linear", {"record_z_only": True})),
        ("0,1,2", "3,4,5"),
        "record_z_screen",
    ),
    # fixed after the first candidate's confirmation: the network reads the columns beside the raw ones
    "network": (
        "+ record-normalised columns + linear member",
        (("beatnet", {"record_z": True}), ("linear", {})),
        ("0,1,2", "6,7,8"),
        "record_z_screen_network",
    ),
}


def _training(seed: int) -> dict[str, Any]:
    """The beat ablation's training arguments (one thread, the task's epochs)."""
    return {
        "seed": seed,
        "tiny": False,
        "epochs": None,
        "max_train_seconds": None,
        "num_threads": 1,
        "n_boot": 1000,
        "runtime": None,
    }


def member_oof(
    root: Path, cache: Path, model: str, extra: dict[str, Any], seed: int
) -> tuple[np.ndarray, ...]:
    """``(proba, y, groups)`` out of fold, in :func:`canonical_order`, of one member for one seed: read from
    ``cache`` (the ablation's file layout) or cross-validated and kept there."""
    switches = [k for k, v in sorted(extra.items()) if v]
    row = " ".join(["screen", model, *(switches or ["raw"])])
    path = oof_path(cache, row, seed)
    if not path.exists():
        task = _task({**_CONTEXT, **extra})
        data = task.load(root, seed=seed)
        cv = _cv_members([(model, task, data, 0)], 5, _training(seed))
        _save_oof(cache, row, seed, cv.pop("proba"), task.cv_pool(data))
    return canonical(np.load(path))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--candidate", choices=sorted(CANDIDATES), default="member")
    ap.add_argument("--selection-seeds", default=None, help="default: the candidate's")
    ap.add_argument("--confirmation-seeds", default=None, help="default: the candidate's")
    ap.add_argument("--cache", type=Path, default=RESULTS / "record_z_screen_oof", help="out-of-fold files")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--n-boot", type=int, default=2000)
    args = ap.parse_args()
    root = resolve_data_dir(args.data_dir, dataset="mitdb")
    task = _task(_CONTEXT)
    cand_name, cand_members, (sel, conf), stem = CANDIDATES[args.candidate]
    RECIPES = (SHIPPED, (cand_name, cand_members))
    stages = {
        "selection": [int(s) for s in (args.selection_seeds or sel).split(",")],
        "confirmation": [int(s) for s in (args.confirmation_seeds or conf).split(",")],
    }

    doc: dict[str, Any] = {
        "candidate": args.candidate,
        "what": WHAT[args.candidate],
        "recipes": [[n, [list(m) for m in ms]] for n, ms in RECIPES],
        "stages": {},
    }
    for stage, seeds in stages.items():
        if stage == "confirmation" and doc["stages"]["selection"]["gain"]["point"] <= 0:
            doc["skipped"] = "the selection seeds' gain is not above 0: no confirmation run"
            break
        doc["stages"][stage] = _stage(task, root, args.cache, RECIPES, seeds, args.n_boot, stage)
    confirmation = doc["stages"].get("confirmation")
    doc["rule"] = "adopt if the confirmation seeds' pooled gated gain has a 95 % CI above 0" + (
        "" if args.candidate == "member" else " (run only if the selection seeds' gain is above 0)"
    )
    doc["adopted"] = bool(confirmation is not None and confirmation["gain"]["ci95"][0] > 0)
    command = "python benchmarks/record_z_screen.py --data-dir ../shared/data"
    write_page(
        doc,
        args.out / stem,
        command + ("" if args.candidate == "member" else f" --candidate {args.candidate}"),
        _markdown,
    )


def write_page(doc: dict[str, Any], stem: Path, command: str, markdown: Any) -> None:
    """Write a screen's ``<stem>.json`` and ``<stem>.md`` (``markdown(doc)``), with its provenance and no DS2
    evaluation (a screen reads training data only)."""
    doc["ds2_evaluations"] = 0
    doc["provenance"] = collect_provenance(seed=0, command=command)
    stem.parent.mkdir(parents=True, exist_ok=True)
    write_json(stem.with_suffix(".json"), doc)
    with atomic_open(stem.with_suffix(".md")) as fh:
        fh.write(markdown(doc))
    print(f"wrote {stem.with_suffix('.md')}")


def _stage(
    task: Any,
    root: Path,
    cache: Path,
    recipes: tuple[tuple[str, Members], ...],
    seeds: list[int],
    n_boot: int,
    stage: str,
) -> dict[str, Any]:
    """The gated CV scores of the reference and the candidate for each seed, and the candidate's paired gain
    (seeds pooled, 95 % bootstrap CI over DS1 records)."""

    def f1(y: np.ndarray, pred: np.ndarray) -> float:
        return task.scores(y, pred)["sveb_veb_f1"]

    gated: dict[str, list[tuple[np.ndarray, ...]]] = {name: [] for name, _ in recipes}
    runs = []
    for seed in seeds:
        members = {
            (m, tuple(e.items())): member_oof(root, cache, m, e, seed) for _, ms in recipes for m, e in ms
        }
        _, y, groups = next(iter(members.values()))
        if any(not np.array_equal(v[1], y) or not np.array_equal(v[2], groups) for v in members.values()):
            raise SystemExit(f"error: {cache}: the members' out-of-fold files hold other beats")
        data = task.load(root, seed=seed)
        pool = task.cv_pool(data)
        names = list(data.info["input"]["features"])
        pre_rr = np.asarray(pool.features)[canonical_order(pool.groups)][:, names.index("pre_rr")]
        irregularity = _record_irregularity(pre_rr, groups)
        run: dict[str, Any] = {"seed": seed}
        for name, ms in recipes:
            proba = np.mean([members[(m, tuple(e.items()))][0] for m, e in ms], axis=0)
            preds = {t: _af(proba, irregularity, t).argmax(1) for t in AF_THRESHOLDS}
            nested, _ = _nested(task, AF_THRESHOLDS, preds, y, groups)
            gated[name].append((y, nested, groups))
            run[name] = {"plain": _scores(task, y, preds[float("inf")]), "gated": _scores(task, y, nested)}
        runs.append(run)
        print(
            f"{stage} seed {seed}: "
            + ", ".join(f"{n} {run[n]['gated']['sveb_veb_f1']:.4f}" for n, _ in recipes),
            flush=True,
        )
    (ref, _), (cand, _) = recipes
    ci = bootstrap_diff_ci(
        f1,
        np.concatenate([p[0] for p in gated[cand]]),
        np.concatenate([p[1] for p in gated[cand]]),
        np.concatenate([p[1] for p in gated[ref]]),
        groups=np.concatenate([p[2] for p in gated[cand]]),
        n_boot=n_boot,
        seed=0,
        require_all_classes=False,
    )
    print(f"{stage}: gain {ci.point:+.4f} [{ci.lo:+.4f}, {ci.hi:+.4f}]", flush=True)
    return {
        "seeds": seeds,
        "runs": runs,
        "gain": {"point": float(ci.point), "ci95": [float(ci.lo), float(ci.hi)]},
    }


def _markdown(doc: dict[str, Any]) -> str:
    (ref, _), (cand, _) = doc["recipes"]
    lines = [
        f"# mitdb-aami: {cand} (a DS1 CV screen)",
        "",
        f"'{cand}': {doc['what']}. 5-fold leave-records-out CV over the 22 DS1 records, the AF gate on every "
        "recipe (threshold nested per held-out record). F1 = mean of SVEB and VEB F1 (%). Gain: paired, the stage's "
        "seeds pooled, 95 % bootstrap CI over DS1 records. No DS2 beat is read.",
        "",
        "| stage | seed | recipe | F1 plain | F1 gated | SVEB Se | SVEB +P | VEB Se | VEB +P |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for stage, st in doc["stages"].items():
        for run in st["runs"]:
            for name in (ref, cand):
                g = run[name]["gated"]
                lines.append(
                    f"| {stage} | {run['seed']} | {name} | {_pct(run[name]['plain']['sveb_veb_f1'])} | "
                    f"{_pct(g['sveb_veb_f1'])} | {_pct(g['sveb_se'])} | {_pct(g['sveb_ppv'])} | {_pct(g['veb_se'])} | "
                    f"{_pct(g['veb_ppv'])} |"
                )
    lines += ["", "| stage | seeds | gain of the candidate, gated [95 % CI] |", "|---|---|---|"]
    for stage, st in doc["stages"].items():
        g = st["gain"]
        lo, hi = g["ci95"]
        lines.append(
            f"| {stage} | {', '.join(map(str, st['seeds']))} | {100 * g['point']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}] |"
        )
    skipped = f" ({doc['skipped']})" if doc.get("skipped") else ""
    return "\n".join(lines + closing_lines(doc, doc["rule"] + skipped))


def closing_lines(doc: dict[str, Any], rule: str) -> list[str]:
    """A screen page's last lines: its rule and verdict (``doc["adopted"]``), its command and commit."""
    verdict = "**Adopted.**" if doc["adopted"] else "**Not adopted.**"
    return [
        "",
        f"Rule (set before the run): {rule}. {verdict}",
        "",
        f"Command: `{doc['provenance']['command']}`; commit {doc['provenance']['git_commit']}.",
        "",
    ]


if __name__ == "__main__":
    main()
