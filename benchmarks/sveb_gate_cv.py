"""Do SVEB gates carry to unseen patients? Scored on DS1 cross-validation only.

Two rules that move a beat's S probability away when the beat cannot be an SVEB, each scored on the
out-of-fold predictions of ``benchmarks/beat_ablation.py`` (every beat predicted by a model that never saw
its record):

* **prematurity** (not shipped): an SVEB comes earlier than the rhythm it interrupts; a beat whose RR
  interval before it is not shorter than ``t`` times the record's running mean RR (``pre_rr_ratio``, a
  feature every row takes, causal) cannot be S; its S probability is moved to the other classes in
  proportion (:func:`gate_probabilities`);
* **af** (the AF gate, :mod:`leanecg.signal.rhythm_gate`): beats of atrial fibrillation are labelled N,
  never S; a beat whose RR irregularity over the last 32 beats (median |successive RR difference| /
  median RR, causal) is at least ``t`` gets its S probability added to N (:func:`gate_sveb`). Here the
  irregularity runs over the labelled beats' RR intervals (``pre_rr``); a package computes it over the
  beats it detects.

For each gate, ablation row and seed:

* **plain**: the row's CV SVEB / VEB scores;
* **gated, nested**: ``t`` chosen from the gate's thresholds for each held-out record on the *other* DS1
  records' out-of-fold predictions (maximising their mean of SVEB and VEB F1), then applied to it;
* the paired gain (gated nested minus plain) in the mean of SVEB and VEB F1, with a 95 % bootstrap CI
  over DS1 records (2,000 resamples);
* ``t`` chosen on all DS1 records of all seeds of the row (what a shipped model of the row would use).

Then the gain pooled over a row's seeds and over all rows' runs (the beats of all runs scored together; a
resampled record takes its beats in every run). Last, every row against ``--reference`` (the shipped
recipe) with the AF gate on both: CV scores and the paired gain, seeds pooled; and every row with
``af_ectopic`` against the same row with ``af`` (paired, seeds pooled).

The rule for switching a package's AF gate to ``af_ectopic``, set before the comparison was first run
(2026-12-07): DS1 holds few SVEBs in a regular rhythm (the case the filter is for), so the CV can show harm
more than gain; the gain is shown on training records of another database instead
(``benchmarks/rhythm_gate_cinc2017.py``: AF against other rhythms). Switch if that separation is better and,
on the shipped recipe's row (its seeds pooled), the paired gain of ``af_ectopic`` over ``af`` has a 95 % CI
whose lower bound is above -2 points of F1 (non-inferior). ``--write-gate PACKAGE``
stores the AF gate of ``--gate-row`` (its ``t`` on all DS1 records, its pooled gain) in a model package (``rhythm_gate``).

Training data only: no DS2 beat is read. Writes ``sveb_gate_cv.{json,md}`` into ``--out``::

    .venv/bin/python benchmarks/sveb_gate_cv.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from beat_ablation import METRICS, canonical, canonical_order, oof_path
from leanecg.atomic import atomic_open, write_json
from leanecg.bench.ensemble import NO_GATE_NOTE
from leanecg.data import resolve_data_dir
from leanecg.evaluate.bootstrap import bootstrap_diff_ci
from leanecg.package import set_package_fields
from leanecg.provenance import collect_provenance, repo_relative
from leanecg.signal.rhythm_gate import (
    DEFAULT_WINDOW,
    ECTOPIC_LONG,
    ECTOPIC_SHORT,
    gate_sveb,
    rr_irregularity,
)
from leanecg.tasks.mitdb_aami import MitdbAamiTask

#: Prematurity gate thresholds tried (fractions of the running mean RR); ``inf`` = no gate.
THRESHOLDS = (0.75, 0.8, 0.85, 0.9, 0.95, float("inf"))
#: AF gate thresholds tried (RR irregularity, dimensionless); ``inf`` = no gate.
AF_THRESHOLDS = (0.04, 0.06, 0.08, 0.1, 0.12, 0.15, float("inf"))
N, S = 0, 1  # AAMI class order N, S, V, F
RESULTS = Path(__file__).parent / "results"


def gate_probabilities(
    proba: np.ndarray, feature: np.ndarray, class_index: int, threshold: float
) -> np.ndarray:
    """Rows where ``feature >= threshold`` get probability 0 for ``class_index`` and the other classes
    renormalised (their ratios kept); ``threshold = inf`` or a NaN feature: unchanged.
    ``(N, n_classes), (N,) -> (N, n_classes)`` float64.

    >>> gate_probabilities(np.array([[0.5, 0.25, 0.25], [0.5, 0.25, 0.25]]), np.array([0.7, 0.9]), 1, 0.8)
    array([[0.5       , 0.25      , 0.25      ],
           [0.66666667, 0.        , 0.33333333]])
    """
    p = np.array(proba, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        closed = np.asarray(feature, dtype=np.float64) >= threshold
    rest = 1.0 - p[closed, class_index]
    p[closed, class_index] = 0.0
    p[closed] /= np.maximum(rest, np.finfo(np.float64).tiny)[:, None]
    return p


def _af(proba: np.ndarray, irregularity: np.ndarray, t: float) -> np.ndarray:
    return proba if not np.isfinite(t) else gate_sveb(proba, irregularity, t, S, N)


@dataclass(frozen=True)
class Gate:
    """One SVEB gate: what it reads, the thresholds tried, and how it moves the S probability."""

    name: str
    rule: str
    thresholds: tuple[float, ...]
    apply: Callable[[np.ndarray, np.ndarray, float], np.ndarray]


GATES = (
    Gate(
        "prematurity",
        "a beat whose `pre_rr_ratio` (RR before it / running mean RR) is at least t cannot be S (its S "
        "probability moved to the other classes in proportion)",
        THRESHOLDS,
        lambda proba, f, t: gate_probabilities(proba, f, S, t),
    ),
    Gate(
        "af",
        f"a beat whose RR irregularity over the last {DEFAULT_WINDOW} beats (median |successive RR difference| "
        "/ median RR) is at least t cannot be S (its S probability added to N: AF beats are labelled N)",
        AF_THRESHOLDS,
        _af,
    ),
    Gate(
        "af_ectopic",
        f"as `af`, the irregularity taken over the intervals left once each window's premature-beat pairs (an RR "
        f"below {ECTOPIC_SHORT:g} x the window's mean followed by one above {ECTOPIC_LONG:g} x it) are dropped",
        AF_THRESHOLDS,
        _af,
    ),
)


def _nested(
    task: MitdbAamiTask,
    thresholds: tuple[float, ...],
    preds: dict[float, np.ndarray],
    y: np.ndarray,
    groups: np.ndarray,
) -> tuple[np.ndarray, list[float]]:
    """Leave-one-record-out choice of ``t``: each record gets the gated predictions of the threshold best
    (mean of SVEB and VEB F1, :meth:`MitdbAamiTask.scores`) on the other records."""
    out = preds[float("inf")].copy()
    chosen = []
    for record in np.unique(groups):
        mine = groups == record
        best = max(thresholds, key=lambda t: task.scores(y[~mine], preds[t][~mine])["sveb_veb_f1"])
        out[mine] = preds[best][mine]
        chosen.append(best)
    return out, chosen


def _scores(task: MitdbAamiTask, y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    sc = task.scores(y, pred)
    return {m: float(sc[m]) for m in METRICS}


def _record_irregularity(pre_rr: np.ndarray, groups: np.ndarray, exclude_ectopic: bool = False) -> np.ndarray:
    """:func:`rr_irregularity` of each record's beats (``groups`` contiguous, in beat order)."""
    out = np.empty(len(pre_rr))
    for record in np.unique(groups):
        idx = np.flatnonzero(groups == record)
        out[idx] = rr_irregularity(pre_rr[idx], DEFAULT_WINDOW, exclude_ectopic=exclude_ectopic)
    return out


def _gain(
    f1: Callable[[np.ndarray, np.ndarray], float], parts: list[tuple[np.ndarray, ...]], n_boot: int
) -> dict[str, Any]:
    """Paired gain (gated minus plain) of runs scored together, CI over records (a record's beats in every
    run resampled together); ``parts``: ``(y, gated, plain, groups)`` per run."""
    y, gated, plain, groups = (np.concatenate([p[i] for p in parts]) for i in range(4))
    ci = bootstrap_diff_ci(
        f1, y, gated, plain, groups=groups, n_boot=n_boot, seed=0, require_all_classes=False
    )
    return {"point": float(ci.point), "ci95": [float(ci.lo), float(ci.hi)], "runs": len(parts)}


def _versus_reference(
    task: MitdbAamiTask,
    f1: Callable[[np.ndarray, np.ndarray], float],
    nested: dict[str, dict[int, tuple[np.ndarray, ...]]],
    reference: str,
    n_boot: int,
) -> dict[str, Any]:
    """Every row against ``reference``, the AF gate (nested ``t``) on both: each row's CV scores (mean over
    its seeds) and the paired gain in the mean of SVEB and VEB F1 over the reference, the seeds the two rows
    share pooled (a record's beats in every seed resampled together)."""
    ref = nested.get(reference, {})
    rows = []
    for row, by_seed in nested.items():
        per_seed = [_scores(task, y, gated) for y, gated, _ in by_seed.values()]
        entry: dict[str, Any] = {
            "row": row,
            "seeds": sorted(by_seed),
            **{m: float(np.mean([sc[m] for sc in per_seed])) for m in METRICS},
        }
        shared = sorted(set(by_seed) & set(ref))
        if row != reference and shared:
            entry["gain_over_reference"] = {
                **_paired_seeds(f1, by_seed, ref, shared, n_boot),
                "seeds": shared,
            }
        rows.append(entry)
    return {"reference": reference, "rows": rows}


def _gate_versus_gate(
    task: MitdbAamiTask,
    f1: Callable[[np.ndarray, np.ndarray], float],
    new: dict[str, dict[int, tuple[np.ndarray, ...]]],
    old: dict[str, dict[int, tuple[np.ndarray, ...]]],
    n_boot: int,
) -> list[dict[str, Any]]:
    """Each row with gate ``new`` against the same row with gate ``old`` (nested ``t`` each): CV scores of
    ``new`` (mean over seeds) and the paired gain in F1, the row's seeds pooled (95 % bootstrap over
    records)."""
    rows = []
    for row, by_seed in new.items():
        seeds = sorted(set(by_seed) & set(old.get(row, {})))
        if not seeds:
            continue
        per_seed = [_scores(task, by_seed[s][0], by_seed[s][1]) for s in seeds]
        rows.append(
            {
                "row": row,
                "seeds": seeds,
                **{m: float(np.mean([sc[m] for sc in per_seed])) for m in METRICS},
                "gain": _paired_seeds(f1, by_seed, old[row], seeds, n_boot),
            }
        )
    return rows


def _paired_seeds(
    f1: Callable[[np.ndarray, np.ndarray], float],
    mine: dict[int, tuple[np.ndarray, ...]],
    theirs: dict[int, tuple[np.ndarray, ...]],
    seeds: list[int],
    n_boot: int,
) -> dict[str, Any]:
    """Paired gain in F1 of ``mine`` over ``theirs`` (seed -> ``(y, gated predictions, groups)`` of the same
    beats), ``seeds`` pooled: 95 % bootstrap over records (a record's beats in every seed resampled
    together)."""
    ci = bootstrap_diff_ci(
        f1,
        np.concatenate([mine[s][0] for s in seeds]),
        np.concatenate([mine[s][1] for s in seeds]),
        np.concatenate([theirs[s][1] for s in seeds]),
        groups=np.concatenate([mine[s][2] for s in seeds]),
        n_boot=n_boot,
        seed=0,
        require_all_classes=False,
    )
    return {"point": float(ci.point), "ci95": [float(ci.lo), float(ci.hi)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--ablation", type=Path, default=RESULTS, help="folder with beat_ablation.json and _oof/")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument(
        "--write-gate", type=Path, default=None, help="model package folder to store the AF gate in"
    )
    ap.add_argument("--gate-row", default="v1 recipe", help="ablation row whose AF gate --write-gate stores")
    ap.add_argument(
        "--gate",
        choices=("af", "af_ectopic"),
        default="af",
        help="which AF gate --write-gate stores (af_ectopic: the ectopy-filtered irregularity)",
    )
    ap.add_argument(
        "--reference", default="v1 recipe", help="row the other rows are compared with, AF gate on both"
    )
    args = ap.parse_args()
    ablation = json.loads((args.ablation / "beat_ablation.json").read_text())
    rows = list(dict.fromkeys(r["row"] for r in ablation["runs"]))
    seeds = sorted({int(r["seed"]) for r in ablation["runs"]})
    root = resolve_data_dir(args.data_dir, dataset="mitdb")
    task = MitdbAamiTask()
    inputs: dict[int, tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]] = {}
    for seed in seeds:  # the v1 feature columns (pre_rr and pre_rr_ratio are in every row's columns)
        data = task.load(root, seed=seed)
        pool = task.cv_pool(data)
        names = list(data.info["input"]["features"])
        order = canonical_order(pool.groups)
        feats = np.asarray(pool.features)[order]
        groups = np.asarray(pool.groups).astype(str)[order]
        features = {
            "prematurity": feats[:, names.index("pre_rr_ratio")],
            "af": _record_irregularity(feats[:, names.index("pre_rr")], groups),
            "af_ectopic": _record_irregularity(feats[:, names.index("pre_rr")], groups, exclude_ectopic=True),
        }
        inputs[seed] = (features, np.asarray(pool.y)[order], groups)

    def f1(y: np.ndarray, pred: np.ndarray) -> float:
        return task.scores(y, pred)["sveb_veb_f1"]

    doc_gates: dict[str, Any] = {}
    # gate -> row -> seed -> (y, gated nested, groups)
    nested_by_gate: dict[str, dict[str, dict[int, tuple[np.ndarray, ...]]]] = {g.name: {} for g in GATES}
    for gate in GATES:
        out_rows: list[dict[str, Any]] = []
        every_run: list[tuple[np.ndarray, ...]] = []
        every_pred: dict[float, list[np.ndarray]] = {t: [] for t in gate.thresholds}
        for row in rows:
            runs, parts = [], []
            pooled: dict[float, list[np.ndarray]] = {t: [] for t in gate.thresholds}
            pooled_y = []
            for seed in seeds:
                path = oof_path(args.ablation, row, seed)
                if not path.exists():
                    continue
                proba, y_oof, _ = canonical(np.load(path))
                features, y, groups = inputs[seed]
                if not np.array_equal(y_oof, y):
                    continue  # another beat set (e.g. a two-lead row's pool): not comparable
                preds = {t: gate.apply(proba, features[gate.name], t).argmax(1) for t in gate.thresholds}
                for t in gate.thresholds:
                    pooled[t].append(preds[t])
                pooled_y.append(y)
                plain = preds[float("inf")]
                gated, chosen = _nested(task, gate.thresholds, preds, y, groups)
                parts.append((y, gated, plain, groups))
                nested_by_gate[gate.name].setdefault(row, {})[seed] = (y, gated, groups)
                ci = _gain(f1, [parts[-1]], args.n_boot)
                runs.append(
                    {
                        "seed": seed,
                        "plain": _scores(task, y, plain),
                        "gated_nested": _scores(task, y, gated),
                        "gain": ci["point"],
                        "gain_ci95": ci["ci95"],
                        "thresholds_chosen": sorted(set(chosen)),
                    }
                )
            if not runs:
                continue
            every_run += parts
            for t in gate.thresholds:
                every_pred[t] += pooled[t]
            y_all = np.concatenate(pooled_y)  # all DS1 beats of all seeds
            best = max(gate.thresholds, key=lambda t: f1(y_all, np.concatenate(pooled[t])))
            out_rows.append(
                {
                    "row": row,
                    "runs": runs,
                    "threshold_all_ds1": best,
                    "gain_seeds": _gain(f1, parts, args.n_boot),
                }
            )
            print(
                f"{gate.name} {row}: gains {[round(r['gain'], 3) for r in runs]}, t on all DS1 {best}",
                flush=True,
            )
        gain_all = _gain(f1, every_run, args.n_boot)
        y_every = np.concatenate([part[0] for part in every_run])
        t_every = max(gate.thresholds, key=lambda t: f1(y_every, np.concatenate(every_pred[t])))
        positive = sum(r["gain"] > 0 for row in out_rows for r in row["runs"])  # each run's paired gain
        doc_gates[gate.name] = {
            "rule": gate.rule,
            "thresholds": [t if np.isfinite(t) else None for t in gate.thresholds],
            "rows": out_rows,
            "gain_all_runs": {**gain_all, "runs_with_gain": int(positive)},
            "threshold_all_runs": t_every,
        }
        print(
            f"{gate.name}: all runs {gain_all}, {positive} of {len(every_run)} runs gain, t {t_every}",
            flush=True,
        )
    command = "python benchmarks/sveb_gate_cv.py --data-dir ../shared/data"
    for flag, value, default in (
        ("--ablation", args.ablation, RESULTS),
        ("--out", args.out, RESULTS),
        ("--reference", args.reference, "v1 recipe"),
    ):
        if value != default:
            shown = repo_relative(value, RESULTS.parent.parent) if isinstance(value, Path) else value
            command += f" {flag} {shlex.quote(shown)}"
    doc = {
        "gates": doc_gates,
        "af_recipes": _versus_reference(task, f1, nested_by_gate["af"], args.reference, args.n_boot),
        "af_ectopic_vs_af": _gate_versus_gate(
            task, f1, nested_by_gate["af_ectopic"], nested_by_gate["af"], args.n_boot
        ),
        "ds2_evaluations": 0,
        "provenance": collect_provenance(seed=0, command=command),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "sveb_gate_cv.json", doc)
    with atomic_open(args.out / "sveb_gate_cv.md") as fh:
        fh.write(_markdown(doc))
    if args.write_gate is not None:
        _write_gate(
            args.write_gate, doc_gates[args.gate], args.gate_row, exclude_ectopic=args.gate == "af_ectopic"
        )


def _write_gate(package: Path, af: dict[str, Any], row_name: str, *, exclude_ectopic: bool = False) -> None:
    """Store the AF gate of ablation row ``row_name`` (the t best on all runs pooled) in a package folder;
    ``exclude_ectopic``: the gate reads the ectopy-filtered irregularity (``af`` is that gate's results)."""
    row = next((r for r in af["rows"] if r["row"] == row_name), None)
    t = af["threshold_all_runs"]
    if row is None or not np.isfinite(t):
        raise SystemExit(f"error: {package}: no AF gate for ablation row {row_name!r}")
    runs = af["gain_all_runs"]["runs"]
    field = {
        "rule": "af",
        "from": "S",
        "to": "N",
        "window": DEFAULT_WINDOW,
        "threshold": float(t),
        "chosen_on": (
            f"the out-of-fold predictions of 5-fold leave-records-out CV over the 22 MIT-BIH DS1 records, all "
            f"{runs} runs of the beat ablation pooled (benchmarks/sveb_gate_cv.py)"
        ),
        "recipe": row_name,
        "cv_gain": row["gain_seeds"],
        "threshold_row": row["threshold_all_ds1"],
        "cv_gain_all_runs": af["gain_all_runs"],
    }
    if exclude_ectopic:
        field["exclude_ectopic"] = True
    fields: dict[str, Any] = {"rhythm_gate": field}
    notes = json.loads((package / "model.json").read_text()).get("notes")
    if notes and NO_GATE_NOTE in notes:  # an ensemble built without a gate now has one chosen for it
        chosen = f"AF gate chosen for this ensemble by DS1 cross-validation (ablation row {row_name!r})"
        fields["notes"] = [chosen if n == NO_GATE_NOTE else n for n in notes]
    for path in set_package_fields(package, fields):
        print(f"wrote {path}")


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _ci(g: dict[str, Any]) -> str:
    lo, hi = g["ci95"]
    return f"{100 * g['point']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def _t(t: float | None) -> str:
    return "none" if t is None or t == float("inf") else f"{t:g}"


def _markdown(doc: dict[str, Any]) -> str:
    lines = [
        "# mitdb-aami: SVEB gates, DS1 cross-validation",
        "",
        "Out-of-fold predictions of `benchmarks/beat_ablation.py` (5-fold leave-records-out over the 22 DS1 "
        "records). t chosen per held-out record on the other records (nested). F1 = mean of SVEB and VEB F1 "
        "(%); gain CI: 95 % bootstrap over DS1 records (pooled rows: the beats of all the runs scored together, "
        "a record resampled in every run at once). No DS2 beat is read. Rows whose out-of-fold probabilities "
        "were not kept are not listed.",
    ]
    for name, gate in doc["gates"].items():
        every = gate["gain_all_runs"]
        lines += [
            "",
            f"## Gate `{name}`",
            "",
            f"Rule: {gate['rule']}; t from " + ", ".join(_t(t) for t in gate["thresholds"]) + ".",
            "",
            f"All rows and seeds pooled ({every['runs']} runs): gain {_ci(every)}; the gate gains in "
            f"{every['runs_with_gain']} of {every['runs']} runs; t best on all runs pooled: "
            f"{_t(gate['threshold_all_runs'])}.",
            "",
            "| row | seed | plain F1 | gated F1 | gain [95 % CI] | plain SVEB Se / +P | gated SVEB Se / +P | "
            "VEB Se / +P (plain → gated) | t chosen | t on all DS1 |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in gate["rows"]:
            for r in row["runs"]:
                p, g = r["plain"], r["gated_nested"]
                ts = ", ".join(_t(t) for t in r["thresholds_chosen"])
                gain = {"point": r["gain"], "ci95": r["gain_ci95"]}
                lines.append(
                    f"| {row['row']} | {r['seed']} | {_pct(p['sveb_veb_f1'])} | {_pct(g['sveb_veb_f1'])} | "
                    f"{_ci(gain)} | {_pct(p['sveb_se'])} / {_pct(p['sveb_ppv'])} | {_pct(g['sveb_se'])} / "
                    f"{_pct(g['sveb_ppv'])} | {_pct(p['veb_se'])} / {_pct(p['veb_ppv'])} → {_pct(g['veb_se'])} / "
                    f"{_pct(g['veb_ppv'])} | {ts} | {_t(row['threshold_all_ds1'])} |"
                )
            lines.append(f"| {row['row']} | seeds pooled | | | {_ci(row['gain_seeds'])} | | | | | |")
    recipes = doc.get("af_recipes") or {}
    if recipes.get("rows"):
        lines += [
            "",
            f"## Recipes against `{recipes['reference']}`, AF gate on both",
            "",
            "Each row's CV scores with the AF gate (nested t), mean over its seeds, and its paired gain in F1 over "
            "the reference row, the seeds both rows have pooled (95 % bootstrap over DS1 records).",
            "",
            "| row | seeds | F1 | SVEB Se | SVEB +P | VEB Se | VEB +P | gain over reference [95 % CI] |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in recipes["rows"]:
            gain = _ci(r["gain_over_reference"]) if "gain_over_reference" in r else "reference"
            lines.append(
                f"| {r['row']} | {len(r['seeds'])} | {_pct(r['sveb_veb_f1'])} | {_pct(r['sveb_se'])} | "
                f"{_pct(r['sveb_ppv'])} | {_pct(r['veb_se'])} | {_pct(r['veb_ppv'])} | {gain} |"
            )
    versus = doc.get("af_ectopic_vs_af") or []
    if versus:
        lines += [
            "",
            "## `af_ectopic` against `af`, same row",
            "",
            "Each row's CV scores with the `af_ectopic` gate (nested t), mean over its seeds, and its paired gain in "
            "F1 over the same row with the `af` gate (nested t), the row's seeds pooled (95 % bootstrap over DS1 "
            "records).",
            "",
            "| row | seeds | F1 | SVEB Se | SVEB +P | VEB Se | VEB +P | gain over `af` [95 % CI] |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in versus:
            lines.append(
                f"| {r['row']} | {len(r['seeds'])} | {_pct(r['sveb_veb_f1'])} | {_pct(r['sveb_se'])} | "
                f"{_pct(r['sveb_ppv'])} | {_pct(r['veb_se'])} | {_pct(r['veb_ppv'])} | {_ci(r['gain'])} |"
            )
    prov = doc["provenance"]
    lines += [
        "",
        f"Command: `{prov.get('command')}`; commit {prov.get('git_commit')}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
