"""Does a prematurity gate on SVEB carry to unseen patients? Scored on DS1 cross-validation only.

An SVEB (S) beat is premature by definition: it comes earlier than the rhythm it interrupts. The beat
models see the RR features, but the out-of-fold predictions of ``benchmarks/beat_ablation.py`` show
whole unseen records of regular rhythm called S (hundreds of false S in one record). The gate makes
the definition a rule: a beat whose RR interval before it is not shorter than ``t`` times the record's
running mean RR (the ``pre_rr_ratio`` feature the models already take, causal) cannot be S; its S
probability is moved to the other classes in proportion (:func:`gate_probabilities`). Not shipped: see
``benchmarks/README.md`` (the gain is not above the seed and record noise).

For each ablation row and seed, from the row's kept out-of-fold probabilities (``beat_ablation_oof/``,
written by ``beat_ablation.py``: every beat predicted by a model that never saw its record):

* **plain**: the row's CV SVEB / VEB scores;
* **gated, nested**: ``t`` chosen from :data:`THRESHOLDS` for each held-out record on the *other* DS1
  records' out-of-fold predictions (maximising their mean of SVEB and VEB F1), then applied to it;
* the paired gain (gated nested minus plain) in the mean of SVEB and VEB F1, with a 95 % bootstrap CI
  over DS1 records (2,000 resamples);
* ``t`` chosen on all DS1 records of all seeds of the row (what a shipped model of the row would use).

Training data only: no DS2 beat is read. Writes ``sveb_gate_cv.{json,md}`` into ``--out``::

    .venv/bin/python benchmarks/sveb_gate_cv.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from beat_ablation import METRICS, canonical, canonical_order, oof_path
from leanecg.atomic import atomic_open, write_json
from leanecg.data import resolve_data_dir
from leanecg.evaluate.bootstrap import bootstrap_diff_ci
from leanecg.provenance import collect_provenance
from leanecg.tasks.mitdb_aami import MitdbAamiTask

#: Gate thresholds tried (fractions of the running mean RR); ``inf`` = no gate.
THRESHOLDS = (0.75, 0.8, 0.85, 0.9, 0.95, float("inf"))
S = 1  # the gated class (AAMI order N, S, V, F)
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


def _nested(
    task: MitdbAamiTask, preds: dict[float, np.ndarray], y: np.ndarray, groups: np.ndarray
) -> tuple[np.ndarray, list[float]]:
    """Leave-one-record-out choice of ``t``: each record gets the gated predictions of the threshold best
    (mean of SVEB and VEB F1, :meth:`MitdbAamiTask.scores`) on the other records."""
    out = preds[float("inf")].copy()
    chosen = []
    for record in np.unique(groups):
        mine = groups == record
        best = max(THRESHOLDS, key=lambda t: task.scores(y[~mine], preds[t][~mine])["sveb_veb_f1"])
        out[mine] = preds[best][mine]
        chosen.append(best)
    return out, chosen


def _scores(task: MitdbAamiTask, y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    sc = task.scores(y, pred)
    return {m: float(sc[m]) for m in METRICS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--ablation", type=Path, default=RESULTS, help="folder with beat_ablation.json and _oof/")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--n-boot", type=int, default=2000)
    args = ap.parse_args()
    ablation = json.loads((args.ablation / "beat_ablation.json").read_text())
    rows = list(dict.fromkeys(r["row"] for r in ablation["runs"]))
    seeds = sorted({int(r["seed"]) for r in ablation["runs"]})
    root = resolve_data_dir(args.data_dir, dataset="mitdb")
    task = MitdbAamiTask()
    ratio_by_seed: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for seed in seeds:  # the v1 feature columns (pre_rr_ratio is one of every row's columns)
        data = task.load(root, seed=seed)
        pool = task.cv_pool(data)
        names = list(data.info["input"]["features"])
        order = canonical_order(pool.groups)
        ratio = np.asarray(pool.features)[order, names.index("pre_rr_ratio")]
        ratio_by_seed[seed] = (ratio, np.asarray(pool.y)[order], np.asarray(pool.groups).astype(str)[order])

    def f1(y: np.ndarray, pred: np.ndarray) -> float:
        return task.scores(y, pred)["sveb_veb_f1"]

    out_rows: list[dict[str, Any]] = []
    for row in rows:
        runs = []
        pooled: dict[float, list[np.ndarray]] = {t: [] for t in THRESHOLDS}
        pooled_y = []
        for seed in seeds:
            path = oof_path(args.ablation, row, seed)
            if not path.exists():
                continue
            proba, y_oof, _ = canonical(np.load(path))
            ratio, y, groups = ratio_by_seed[seed]
            if not np.array_equal(y_oof, y):
                continue  # another beat set (e.g. a two-lead row's pool): not comparable
            preds = {t: gate_probabilities(proba, ratio, S, t).argmax(1) for t in THRESHOLDS}
            for t in THRESHOLDS:
                pooled[t].append(preds[t])
            pooled_y.append(y)
            plain = preds[float("inf")]
            gated, chosen = _nested(task, preds, y, groups)
            ci = bootstrap_diff_ci(
                f1, y, gated, plain, groups=groups, n_boot=args.n_boot, seed=0, require_all_classes=False
            )
            runs.append(
                {
                    "seed": seed,
                    "plain": _scores(task, y, plain),
                    "gated_nested": _scores(task, y, gated),
                    "gain": float(ci.point),
                    "gain_ci95": [float(ci.lo), float(ci.hi)],
                    "thresholds_chosen": sorted(set(chosen)),
                }
            )
        if not runs:
            continue
        y_all = np.concatenate(pooled_y)  # all DS1 beats of all seeds
        best = max(THRESHOLDS, key=lambda t: f1(y_all, np.concatenate(pooled[t])))
        out_rows.append({"row": row, "runs": runs, "threshold_all_ds1": best})
        print(f"{row}: gains {[round(r['gain'], 3) for r in runs]}, t on all DS1 {best}", flush=True)
    command = "python benchmarks/sveb_gate_cv.py --data-dir ../shared/data"
    doc = {
        "thresholds": [t if np.isfinite(t) else None for t in THRESHOLDS],
        "rows": out_rows,
        "ds2_evaluations": 0,
        "provenance": collect_provenance(seed=0, command=command),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "sveb_gate_cv.json", doc)
    with atomic_open(args.out / "sveb_gate_cv.md") as fh:
        fh.write(_markdown(doc))


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _markdown(doc: dict[str, Any]) -> str:
    lines = [
        "# mitdb-aami: prematurity gate on SVEB, DS1 cross-validation",
        "",
        "Out-of-fold predictions of `benchmarks/beat_ablation.py` (5-fold leave-records-out over the 22 DS1 "
        "records). Gated: a beat whose `pre_rr_ratio` (RR before it / running mean RR) is at least t cannot be "
        "S; t chosen per held-out record on the other records (nested) from "
        + ", ".join("none" if t is None else f"{t:g}" for t in doc["thresholds"])
        + ". F1 = mean of SVEB and VEB F1 (%); gain CI: 95 % bootstrap over DS1 records. No DS2 beat is read. "
        "Rows whose out-of-fold probabilities were not kept are not listed.",
        "",
        "| row | seed | plain F1 | gated F1 | gain [95 % CI] | plain SVEB Se / +P | gated SVEB Se / +P | "
        "VEB Se / +P (plain → gated) | t chosen | t on all DS1 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in doc["rows"]:
        for r in row["runs"]:
            p, g = r["plain"], r["gated_nested"]
            lo, hi = r["gain_ci95"]
            ts = ", ".join("none" if t == float("inf") else f"{t:g}" for t in r["thresholds_chosen"])
            lines.append(
                f"| {row['row']} | {r['seed']} | {_pct(p['sveb_veb_f1'])} | {_pct(g['sveb_veb_f1'])} | "
                f"{100 * r['gain']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}] | {_pct(p['sveb_se'])} / "
                f"{_pct(p['sveb_ppv'])} | {_pct(g['sveb_se'])} / {_pct(g['sveb_ppv'])} | {_pct(p['veb_se'])} / "
                f"{_pct(p['veb_ppv'])} → {_pct(g['veb_se'])} / {_pct(g['veb_ppv'])} | {ts} | "
                f"{row['threshold_all_ds1']:g} |"
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
