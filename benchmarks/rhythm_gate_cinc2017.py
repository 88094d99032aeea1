"""Does the AF gate's irregularity tell AF from other rhythms? CinC 2017 training records only.

The AF gate of beat models (:mod:`leanecg.signal.rhythm_gate`) moves the S probability of beats in an
irregular rhythm to N. It should fire in atrial fibrillation and stay shut in other rhythms, including the
frequent premature beats that make a rhythm irregular without being AF (the SVEBs it must not hide). MIT-BIH
DS1 holds few such records; the 6,399 training and validation records of the ``cinc2017`` task (single
lead, 300 Hz, 9-61 s; labelled N, A = AF, O = other rhythm, ~ = noisy) hold thousands, so this script
measures each irregularity on them:

* R peaks by :func:`leanecg.signal.rpeaks.detect_rpeaks` on the task's preprocessed record;
* every beat's :func:`~leanecg.signal.rhythm_gate.rr_irregularity` (window
  :data:`~leanecg.signal.rhythm_gate.DEFAULT_WINDOW`), plain and with ``exclude_ectopic=True``;
* per record, the median over its beats (records with fewer than ``window // 2 + 2`` beats have none and
  are counted apart); ROC AUC of AF against all other records and against the "other rhythm" records, with
  95 % bootstrap CIs over records and the paired difference of the two measures;
* at each gate threshold ``t`` the share of each class's beats that the gate would close (a beat in AF should
  be closed; a beat of an N or O record should not).

Training data only: the task's test split is never read. Writes ``rhythm_gate_cinc2017.{json,md}`` into
``--out`` (default ``benchmarks/results``)::

    .venv/bin/python benchmarks/rhythm_gate_cinc2017.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from leanecg.atomic import atomic_open, write_json
from leanecg.data import resolve_data_dir
from leanecg.data.cinc2017 import Cinc2017Dataset
from leanecg.evaluate.bootstrap import bootstrap_ci, bootstrap_diff_ci
from leanecg.provenance import collect_provenance, repo_relative
from leanecg.signal.rhythm_gate import DEFAULT_WINDOW, ECTOPIC_LONG, ECTOPIC_SHORT, MIN_KEPT, rr_irregularity
from leanecg.signal.rpeaks import detect_rpeaks
from leanecg.tasks.base import load_signals
from leanecg.tasks.cinc2017 import Cinc2017Task

RESULTS = Path(__file__).parent / "results"
#: Gate thresholds at which the share of closed beats is reported (those ``sveb_gate_cv.py`` tries).
THRESHOLDS = (0.06, 0.08, 0.1, 0.12, 0.15)
MEASURES = {"af": False, "af_ectopic": True}  # gate name -> exclude_ectopic
CLASSES = ("N", "A", "O", "~")


def beat_irregularity(x: np.ndarray, fs: float) -> dict[str, np.ndarray]:
    """Each measure's irregularity of every beat of one record ``(n_samples,)`` at ``fs`` Hz: gate name ->
    float64 ``(n_beats,)`` (NaN for the first beats of the record)."""
    peaks = detect_rpeaks(np.asarray(x, dtype=np.float64).reshape(-1), fs)
    rr = np.r_[np.nan, np.diff(peaks) / fs] if peaks.size else np.zeros(0)
    return {name: rr_irregularity(rr, DEFAULT_WINDOW, exclude_ectopic=ex) for name, ex in MEASURES.items()}


def _record_medians(beats: list[np.ndarray]) -> np.ndarray:
    return np.array([np.nanmedian(b) if np.isfinite(b).any() else np.nan for b in beats])


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of ``score`` for the AF records (``y`` 1)."""
    return float(roc_auc_score(y, score))


def _ci(c: Any) -> dict[str, Any]:
    return {"point": float(c.point), "ci95": [float(c.lo), float(c.hi)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--n-boot", type=int, default=1000)
    args = ap.parse_args()
    root = resolve_data_dir(args.data_dir, dataset="cinc2017")
    ds, task = Cinc2017Dataset(), Cinc2017Task()
    splits = ds.split(root)
    records = list(splits["train"]) + list(splits["val"])  # never the test split
    labels = ds.labels(root)
    y = np.array([labels[r][0] for r in records])
    signals = load_signals(list(ds.record_paths(root, records).values()), task.pipeline(), None, "cinc2017")
    fs = float(task.fs_model)
    per_beat = [beat_irregularity(x, fs) for x in signals]
    doc: dict[str, Any] = {
        "records": {c: int((y == c).sum()) for c in CLASSES},
        "window": DEFAULT_WINDOW,
        "ectopic_filter": {"short": ECTOPIC_SHORT, "long": ECTOPIC_LONG, "min_kept": MIN_KEPT},
        "measures": {},
    }
    medians = {name: _record_medians([b[name] for b in per_beat]) for name in MEASURES}
    ok = np.all([np.isfinite(m) for m in medians.values()], axis=0)
    doc["records_without_value"] = {c: int(((y == c) & ~ok).sum()) for c in CLASSES}
    is_af = (y == "A").astype(np.int64)
    versus_o = ok & np.isin(y, ["A", "O"])
    for name in MEASURES:
        m = medians[name]
        # beats with a value (the first window // 2 beats of a record have none)
        by_class = {
            c: np.concatenate([b[name] for b, yy in zip(per_beat, y, strict=True) if yy == c])
            for c in CLASSES
        }
        by_class = {c: v[np.isfinite(v)] for c, v in by_class.items()}
        shares = {f"{t:g}": {c: float(np.mean(v >= t)) for c, v in by_class.items()} for t in THRESHOLDS}
        doc["measures"][name] = {
            "record_median": {
                c: [float(q) for q in np.nanpercentile(m[y == c], [25, 50, 75])] for c in CLASSES
            },
            "auc_af_vs_rest": _ci(
                bootstrap_ci(_auc, is_af[ok], m[ok], n_boot=args.n_boot, require_all_classes=True)
            ),
            "auc_af_vs_other_rhythm": _ci(
                bootstrap_ci(_auc, is_af[versus_o], m[versus_o], n_boot=args.n_boot, require_all_classes=True)
            ),
            "beats_closed": shares,
        }
    doc["auc_gain_af_ectopic"] = {
        "vs_rest": _ci(
            bootstrap_diff_ci(
                _auc, is_af[ok], medians["af_ectopic"][ok], medians["af"][ok], n_boot=args.n_boot
            )
        ),
        "vs_other_rhythm": _ci(
            bootstrap_diff_ci(
                _auc,
                is_af[versus_o],
                medians["af_ectopic"][versus_o],
                medians["af"][versus_o],
                n_boot=args.n_boot,
            )
        ),
    }
    command = "python benchmarks/rhythm_gate_cinc2017.py --data-dir ../shared/data"
    if args.out != RESULTS:
        command += f" --out {shlex.quote(repo_relative(args.out, RESULTS.parent.parent))}"
    doc["test_split_read"] = False
    doc["provenance"] = collect_provenance(
        seed=0, config={"n_boot": args.n_boot, "thresholds": list(THRESHOLDS)}, command=command
    )
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "rhythm_gate_cinc2017.json", doc)
    with atomic_open(args.out / "rhythm_gate_cinc2017.md") as fh:
        fh.write(_markdown(doc))
    print((args.out / "rhythm_gate_cinc2017.md").read_text())


def _c(g: dict[str, Any], pct: bool = False) -> str:
    k = 100 if pct else 1
    fmt = "{:+.1f}" if pct else "{:.3f}"
    lo, hi = g["ci95"]
    return f"{fmt.format(k * g['point'])} [{fmt.format(k * lo)}, {fmt.format(k * hi)}]"


def _markdown(doc: dict[str, Any]) -> str:
    n = doc["records"]
    ef = doc["ectopic_filter"]
    lines = [
        "# The AF gate's irregularity on CinC 2017 training records",
        "",
        f"The `cinc2017` task's training and validation records ({sum(n.values()):,}: "
        + ", ".join(f"{c} {k:,}" for c, k in n.items())
        + "; the test split is not read). R peaks detected on the preprocessed record; each beat's RR "
        f"irregularity over the last {doc['window']} beats (median |successive RR difference| / median RR), "
        f"`af` as shipped, `af_ectopic` after dropping each window's premature-beat pairs (an RR below "
        f"{ef['short']:g} x the window's mean followed by one above {ef['long']:g} x it; 0 when fewer than "
        f"{ef['min_kept']} intervals are left). Records without a value (too few beats): "
        + ", ".join(f"{c} {k}" for c, k in doc["records_without_value"].items())
        + ".",
        "",
        "| measure | record median, N (quartiles) | A | O | ~ | AUC AF vs rest [95 % CI] | AUC AF vs other rhythm |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in doc["measures"].items():
        q = {c: f"{v[1]:.3f} ({v[0]:.3f}-{v[2]:.3f})" for c, v in m["record_median"].items()}
        lines.append(
            f"| `{name}` | {q['N']} | {q['A']} | {q['O']} | {q['~']} | {_c(m['auc_af_vs_rest'])} | "
            f"{_c(m['auc_af_vs_other_rhythm'])} |"
        )
    g = doc["auc_gain_af_ectopic"]
    lines += [
        "",
        f"Paired AUC gain of `af_ectopic` over `af` (bootstrap over records): AF vs rest {_c(g['vs_rest'])}, "
        f"AF vs other rhythm {_c(g['vs_other_rhythm'])}.",
        "",
        "Share of each class's beats (those with a value: from its record's 18th beat on) that the gate closes "
        "(irregularity >= t): in A records it should be high, in N and O records low.",
        "",
        "| measure | t | N | A | O | ~ |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in doc["measures"].items():
        for t, share in m["beats_closed"].items():
            lines.append(
                f"| `{name}` | {t} | " + " | ".join(f"{100 * share[c]:.1f} %" for c in CLASSES) + " |"
            )
    prov = doc["provenance"]
    lines += ["", f"Command: `{prov.get('command')}`; commit {prov.get('git_commit')}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
