"""Would a better AF detector make a better AF gate? The shipped rhythm model as the gate, screened on DS1.

The shipped beat model's AF gate (:mod:`leanecg.signal.rhythm_gate`) reads AF from the RR intervals alone:
a beat whose RR irregularity over the last 32 beats is at least ``t`` cannot be S. Irregularity is a blunt
AF detector: frequent ectopy with pauses, bigeminy or noise are irregular too, and the gate removes their
true S beats with the false ones. The shipped ``cinc2017`` rhythm model (LightGBM on 116 record features,
trained on 6,399 CinC 2017 records, none of them MIT-BIH or CPSC) separates AF from other rhythms with the
atrial activity as well. This screen uses it as the gate's detector: the record's first lead, 30-s windows
every 5 s, each window's probability of ``A``; a beat gets the mean over the windows that cover it
(``model (centred)``) or that of the last window ending at or before it (``model (causal)``: what a
stream could use). Two parts:

1. **AF detection**, beat by beat, on records with rhythm annotations that no model here trained on for
   this purpose: the 22 DS1 records (``(AFIB`` episodes in 201 and 203) and ``cpsc2021_sample`` (18
   two-lead 200 Hz Holter excerpts, external). ROC AUC of AF against every other beat; and at the threshold
   that closes 80 % / 90 % of the AF beats, the share of non-AF beats and of non-AF S beats it closes too
   (the true SVEBs a gate would lose).
2. **The gate on the shipped recipe's DS1 cross-validation**: the out-of-fold probabilities of the
   ablation row ``+ thinned copies`` (``benchmarks/beat_ablation.py``, seeds 0-2), each gate with ``t``
   chosen for each held-out record on the other records (nested, as ``benchmarks/sveb_gate_cv.py``), and
   the paired gain in the mean of SVEB and VEB F1 over the shipped ``af`` gate, seeds pooled, 95 %
   bootstrap over DS1 records.

Rule (the standing rule for switching a package's gate, ``benchmarks/sveb_gate_cv.py``: the detector must
separate AF better away from DS2, and the gate must be non-inferior on the shipped recipe's CV): switch if
the model detects AF better on both sets and the lower bound of the gain's CI is above -2 points. This
screen was first run by hand (twelfth session), then committed with the rule unchanged. No DS2 beat is
read. Writes ``af_detector_gate_screen.{json,md}`` into ``--out``::

    .venv/bin/python benchmarks/af_detector_gate_screen.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from beat_ablation import canonical, oof_path
from beats_external import af_mask
from leanecg.data import Record, load_record, resolve_data_dir
from leanecg.data.mitdb import DS1 as MITDB_DS1
from leanecg.evaluate.aami import AAMI_CLASSES, aami_classes
from leanecg.package import open_model
from leanecg.signal.rhythm_gate import gate_sveb, rr_irregularity
from leanecg.tasks.mitdb_aami import MitdbAamiTask
from record_z_screen import write_page
from sveb_gate_cv import AF_THRESHOLDS, RESULTS, _nested, _paired_seeds, _pct

WINDOW_S, HOP_S = 30.0, 5.0
ROW = "+ thinned copies"
MODEL_THRESHOLDS = (0.1, 0.2, 0.3, 0.5, 0.7, 0.9, float("inf"))
MEASURES = ("af", "af_ectopic", "model (centred)", "model (causal)")
THRESHOLDS = {
    "af": AF_THRESHOLDS,
    "af_ectopic": AF_THRESHOLDS,
    "model (centred)": MODEL_THRESHOLDS,
    "model (causal)": MODEL_THRESHOLDS,
}
S_CODE = AAMI_CLASSES.index("S")
TASK_CLASSES = AAMI_CLASSES[:4]  # N S V F


def window_af_probability(model: Any, x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, p_af)``: the rhythm model's probability of ``A`` for each 30-s window of the 1-D signal ``x``
    (mV, ``fs`` Hz) every 5 s; ``starts`` in samples."""
    w, h = round(WINDOW_S * fs), round(HOP_S * fs)
    starts = np.arange(0, max(len(x) - w, 0) + 1, h)
    windows = [
        Record(name=f"w{i}", signal=np.asarray(x[s : s + w], dtype=np.float64)[:, None], fs=fs, leads=["I"])
        for i, s in enumerate(starts)
    ]
    return starts, model.predict_records(windows)[:, model.class_names.index("A")]


def beat_measures(
    samples: np.ndarray, fs: float, starts: np.ndarray, p_af: np.ndarray, w: int
) -> dict[str, np.ndarray]:
    """Each measure of :data:`MEASURES` for the beats at ``samples`` (record samples at ``fs``); NaN where a
    measure has no value yet (the gate then stays open)."""
    rr = np.diff(samples.astype(np.float64), prepend=np.nan) / fs
    covering = (starts[None, :] <= samples[:, None]) & (starts[None, :] + w > samples[:, None])
    n_cover = covering.sum(axis=1)
    centred = np.where(n_cover > 0, (covering * p_af[None, :]).sum(axis=1) / np.maximum(n_cover, 1), np.nan)
    last = np.searchsorted(starts + w, samples, side="right") - 1
    causal = np.where(last >= 0, p_af[np.maximum(last, 0)], np.nan)
    return {
        "af": rr_irregularity(rr),
        "af_ectopic": rr_irregularity(rr, exclude_ectopic=True),
        "model (centred)": centred,
        "model (causal)": causal,
    }


def detection(model: Any, folder: Path, names: list[str]) -> dict[str, Any]:
    """Part 1 on the records ``names`` of ``folder``: per-beat measures, AF mask and AAMI class."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in (*MEASURES, "af_beat", "s_beat", "record")}
    for name in names:
        rec = load_record(folder / name)  # with its .atr annotation
        ann = rec.annotation
        classes = aami_classes(ann.symbol)
        beat = np.isin(classes, TASK_CLASSES)  # the task's classes (the out-of-fold pool has no Q beats)
        samples = ann.sample[beat]
        starts, p_af = window_af_probability(model, rec.signal[:, 0], rec.fs)
        for k, v in beat_measures(samples, rec.fs, starts, p_af, round(WINDOW_S * rec.fs)).items():
            parts[k].append(v)
        parts["af_beat"].append(af_mask(samples, ann.sample, ann.aux_note, rec.signal.shape[0]))
        parts["s_beat"].append(classes[beat] == "S")
        parts["record"].append(np.full(len(samples), name))
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    af, s = cat["af_beat"], cat["s_beat"]
    rows = []
    for m in MEASURES:
        v = cat[m]
        ok = np.isfinite(v)
        row: dict[str, Any] = {"measure": m, "beats": int(ok.sum()), "af_beats": int((ok & af).sum())}
        row["auc"] = float(roc_auc_score(af[ok], v[ok])) if (ok & af).any() and (ok & ~af).any() else None
        for q in (0.8, 0.9):
            t = float(np.quantile(v[ok & af], 1 - q)) if (ok & af).any() else float("nan")
            non_af_s = ok & s & ~af
            row[f"close_{round(q * 100)}"] = {
                "t": t,
                "non_af_closed": float(np.mean(v[ok & ~af] >= t)),
                "non_af_s_closed": float(np.mean(v[non_af_s] >= t)) if non_af_s.any() else None,
            }
        rows.append(row)
    summary = {
        "records": len(names),
        "beats": len(af),
        "af_beats": int(af.sum()),
        "s_beats": int(s.sum()),
    }
    return {"summary": summary, "rows": rows}, cat


def cv_gates(ablation: Path, by_record: dict[str, dict[str, np.ndarray]], n_boot: int) -> dict[str, Any]:
    """Part 2: every measure as the gate on the shipped recipe's out-of-fold probabilities."""
    task = MitdbAamiTask()

    def f1(y: np.ndarray, pred: np.ndarray) -> float:
        return task.scores(y, pred)["sveb_veb_f1"]

    nested: dict[str, dict[int, tuple[np.ndarray, ...]]] = {m: {} for m in MEASURES}
    per_seed = []
    for seed in (0, 1, 2):
        path = oof_path(ablation, ROW, seed)
        if not path.exists():
            raise SystemExit(f"error: {path}: missing; run benchmarks/beat_ablation.py --rows '{ROW}' first")
        proba, y, groups = canonical(np.load(path))
        for m in MEASURES:
            feature = np.empty(len(y))
            for record in np.unique(groups):
                mine = groups == record
                values = by_record[record][m]
                if len(values) != mine.sum():
                    raise SystemExit(
                        f"error: {path}: record {record} has {mine.sum()} beats, annotations {len(values)}"
                    )
                feature[mine] = values
            feature = np.nan_to_num(feature, nan=-np.inf)  # no value yet: the gate stays open
            preds = {
                t: (
                    proba
                    if not np.isfinite(t)
                    else gate_sveb(proba.astype(np.float64), feature, t, S_CODE, 0)
                ).argmax(1)
                for t in THRESHOLDS[m]
            }
            gated, _ = _nested(task, THRESHOLDS[m], preds, y, groups)
            nested[m][seed] = (y, gated, groups)
            sc = task.scores(y, gated)
            t_all = max(THRESHOLDS[m], key=lambda t: f1(y, preds[t]))
            per_seed.append(
                {
                    "measure": m,
                    "seed": seed,
                    **{k: float(sc[k]) for k in ("sveb_veb_f1", "sveb_se", "sveb_ppv", "veb_se", "veb_ppv")},
                    "t_all": t_all,
                }
            )
    gains = {m: _paired_seeds(f1, nested[m], nested["af"], [0, 1, 2], n_boot) for m in MEASURES if m != "af"}
    return {
        "row": ROW,
        "seeds": [0, 1, 2],
        "per_seed": per_seed,
        "gain_over_af": gains,
        "s_calls_by_record": _s_calls_by_record(nested),
    }


def _s_calls_by_record(nested: dict[str, dict[int, tuple[np.ndarray, ...]]]) -> list[dict[str, Any]]:
    """Where the gates differ: each DS1 record's true and false S calls under every gate (seeds summed),
    the records whose counts differ between gates only."""
    rows = []
    records = np.unique(nested["af"][0][2])
    for record in records:
        row: dict[str, Any] = {"record": str(record)}
        for m in MEASURES:
            tp = fp = 0
            for y, gated, groups in nested[m].values():
                mine = groups == record
                called = gated[mine] == S_CODE
                tp += int((called & (y[mine] == S_CODE)).sum())
                fp += int((called & (y[mine] != S_CODE)).sum())
            row[m] = {"tp": tp, "fp": fp}
        if len({(row[m]["tp"], row[m]["fp"]) for m in MEASURES}) > 1:
            row["s_beats"] = int(
                sum(((g == record) & (y == S_CODE)).sum() for y, _, g in nested["af"].values())
            )
            rows.append(row)
    return rows


def _markdown(doc: dict[str, Any]) -> str:
    lines = [
        "# A better AF detector as the AF gate? (DS1 and cpsc2021_sample; no DS2 beat read)",
        "",
        " ".join(__doc__.split("\n\n")[1].split()[:-2]) + ".",
        "",
        "## 1. AF detection, beat by beat",
        "",
    ]
    for name, part in doc["detection"].items():
        s = part["summary"]
        lines += [
            f"**{name}**: {s['records']} records, {s['beats']} beats, {s['af_beats']} in AF, {s['s_beats']} S.",
            "",
            "| measure | ROC AUC AF vs rest | closing 80 % of AF: non-AF beats / non-AF S beats closed | closing 90 % |",
            "|---|---|---|---|",
        ]
        for r in part["rows"]:
            c80, c90 = r["close_80"], r["close_90"]
            lines.append(
                f"| {r['measure']} | {r['auc']:.3f} | {_pct(c80['non_af_closed'])} % / {_pct(c80['non_af_s_closed'])} % "
                f"| {_pct(c90['non_af_closed'])} % / {_pct(c90['non_af_s_closed'])} % |"
            )
        lines.append("")
    cv = doc["cv"]
    lines += [
        f"## 2. The gate on DS1 cross-validation (row `{cv['row']}`, out-of-fold, nested t)",
        "",
        "| measure | seed | F1 | SVEB Se | SVEB +P | VEB Se | VEB +P | t on all DS1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in cv["per_seed"]:
        lines.append(
            f"| {r['measure']} | {r['seed']} | {_pct(r['sveb_veb_f1'])} | {_pct(r['sveb_se'])} | {_pct(r['sveb_ppv'])} "
            f"| {_pct(r['veb_se'])} | {_pct(r['veb_ppv'])} | {r['t_all']:g} |"
        )
    lines += [
        "",
        "S calls of each gate, true / false, seeds summed, on the DS1 records where the gates differ:",
        "",
        "| record | S beats (× seeds) | " + " | ".join(f"`{m}`" for m in MEASURES) + " |",
        "|---|---|" + "---|" * len(MEASURES),
    ]
    for r in cv["s_calls_by_record"]:
        cells = " | ".join(f"{r[m]['tp']} / {r[m]['fp']}" for m in MEASURES)
        lines.append(f"| {r['record']} | {r['s_beats']} | {cells} |")
    lines += ["", "Paired gain in F1 over the `af` gate, seeds pooled (95 % bootstrap over DS1 records):", ""]
    for m, g in cv["gain_over_af"].items():
        lines.append(
            f"- `{m}`: {100 * g['point']:+.1f} [{100 * g['ci95'][0]:+.1f}, {100 * g['ci95'][1]:+.1f}]"
        )
    lines += [
        "",
        f"**Verdict**: {doc['verdict']}",
        "",
        f"Command: `{doc['command']}`; commit {doc['provenance']['git_commit']}.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--ablation", type=Path, default=RESULTS, help="folder with beat_ablation_oof/")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--n-boot", type=int, default=2000)
    args = ap.parse_args()
    model = open_model("cinc2017")
    mitdb = resolve_data_dir(args.data_dir, dataset="mitdb") / "mitdb"
    cpsc = resolve_data_dir(args.data_dir, dataset="cpsc2021_sample") / "cpsc2021_sample"
    ds1, cat = detection(model, mitdb, list(MITDB_DS1))
    by_record = {r: {m: cat[m][cat["record"] == r] for m in MEASURES} for r in MITDB_DS1}
    cpsc_names = sorted(p.stem for p in cpsc.glob("*.hea"))
    ext, _ = detection(model, cpsc, cpsc_names)
    cv = cv_gates(args.ablation, by_record, args.n_boot)
    better = all(
        part["rows"][MEASURES.index(m)]["auc"] > part["rows"][0]["auc"]
        for part in (ds1, ext)
        for m in ("model (centred)", "model (causal)")
    )
    lows = {m: cv["gain_over_af"][m]["ci95"][0] for m in ("model (centred)", "model (causal)")}
    switch = [m for m, lo in lows.items() if better and lo > -0.02]
    verdict = (
        f"switch to {switch[0]}"
        if switch
        else "not switched: "
        + ("the model separates AF better on both sets, but " if better else "")
        + "the gain's CI reaches below -2 points ("
        + ", ".join(f"{m} {100 * lo:+.1f}" for m, lo in lows.items())
        + ")"
    )
    command = "python benchmarks/af_detector_gate_screen.py " + shlex.join(sys.argv[1:])
    doc = {
        "detection": {"DS1 (mitdb)": ds1, "cpsc2021_sample": ext},
        "cv": cv,
        "verdict": verdict,
        "window_s": WINDOW_S,
        "hop_s": HOP_S,
        "n_boot": args.n_boot,
        "command": command,
    }
    write_page(doc, args.out / "af_detector_gate_screen", command, _markdown)


if __name__ == "__main__":
    main()
