"""A beat model on an external beat-annotated database, end to end: the AF gate where AF really occurs.

``leanecg beats`` on every record of a WFDB folder whose ``.atr`` holds beat labels and rhythm episodes
(default: ``cpsc2021_sample``, 18 two-lead dynamic ECGs at 200 Hz from 6 patients, 12 of them with
paroxysmal or persistent atrial fibrillation; none of it was used to train or choose anything), scored as
``beats_end_to_end.py`` scores DS2 (EC57, 150 ms, detected beats), once with the network alone and once
with the package's AF gate (``rhythm_gate``). Beside the gross statistics it counts the beats called S
inside and outside the reference AF episodes (``(AFIB`` to the next rhythm change): beats of AF are never
S in the reference, so an S call inside AF is a false one; and the beats the gate moved from S outside AF.

    .venv/bin/python benchmarks/beats_external.py --data-dir ../shared/data --dataset cpsc2021_sample

Writes ``benchmarks/results/beats_external_<dataset>_<model>.{json,md}``; the JSON counts the runs of this
script for the same weights and database (``evaluations``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from beats_end_to_end import GROSS, run_count, score_row
from leanecg.atomic import atomic_open, write_json
from leanecg.data import Record, load_record, resolve_data_dir
from leanecg.package import open_model
from leanecg.provenance import collect_provenance


def af_mask(samples: np.ndarray, ann_samples: np.ndarray, aux: list[str], n: int) -> np.ndarray:
    """Which of ``samples`` lie inside an AF episode of the reference: from an ``(AFIB`` rhythm annotation
    to the next rhythm annotation (any ``(`` aux note) or the end of the record (``n`` samples)."""
    inside = np.zeros(len(samples), dtype=bool)
    changes = [
        (int(s), a.strip("\x00").strip())
        for s, a in zip(ann_samples, aux, strict=True)
        if a and a.startswith("(")
    ]
    for i, (start, note) in enumerate(changes):
        if note == "(AFIB":
            stop = changes[i + 1][0] if i + 1 < len(changes) else n
            inside |= (samples >= start) & (samples < stop)
    return inside


def _items(folder: Path, names: list[str]) -> list[tuple[str, Record, np.ndarray, list[str]]]:
    out = []
    for name in names:
        rec = load_record(folder / name)
        out.append(
            (name, rec, np.asarray(rec.annotation.sample, dtype=np.int64), list(rec.annotation.symbol))
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--dataset", default="cpsc2021_sample", help="folder of the data directory")
    ap.add_argument("--model", default="mitdb-aami")
    ap.add_argument("--lead", default=None, help="record lead(s) for the model, as --lead (default: by name)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    folder = resolve_data_dir(args.data_dir, dataset=args.dataset) / args.dataset
    names = sorted(p.stem for p in folder.glob("*.hea") if p.with_suffix(".atr").exists())
    if not names:
        raise SystemExit(f"error: {folder}: no WFDB record with an .atr annotation file")
    pkg = open_model(args.model, prefer="torch")
    items = _items(folder, names)
    fs = {float(rec.fs) for _, rec, _, _ in items}
    if len(fs) != 1:
        raise SystemExit(f"error: {folder}: records at several rates {sorted(fs)}")
    variants = [("network alone", pkg.without_rhythm_gate())] + (
        [("+ AF gate", pkg)] if pkg.rhythm_gate else []
    )
    rows: dict[str, dict[str, Any]] = {}
    labels: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for row, model in variants:
        rows[row], labels[row] = score_row(model, items, float(items[0][1].fs), args.lead)
        print(row, {k: round(v, 4) for k, v in rows[row]["gross"].items()}, flush=True)
    for row in rows:
        s_in = s_out = beats_in = 0
        for name, rec, _, _ in items:
            samples, lab = labels[row][name]
            inside = af_mask(samples, rec.annotation.sample, list(rec.annotation.aux_note), rec.n_samples)
            s_in += int(((lab == "S") & inside).sum())
            s_out += int(((lab == "S") & ~inside).sum())
            beats_in += int(inside.sum())
        rows[row]["af"] = {"beats_in_af": beats_in, "s_calls_in_af": s_in, "s_calls_outside_af": s_out}
    stem = f"beats_external_{args.dataset}_{args.model.replace('/', '_')}"
    path = args.out / f"{stem}.json"
    weights, count = run_count(path, pkg, "evaluations")
    n_ref = {c: int(sum((np.asarray(sym) == c).sum() for *_, sym in items)) for c in ("N", "A", "a", "V")}
    command = f"python benchmarks/beats_external.py --dataset {args.dataset} --model {args.model}" + (
        f" --lead {args.lead}" if args.lead else ""
    )
    doc = {
        "model": args.model,
        "weights": weights,
        "dataset": args.dataset,
        "records": names,
        "reference_symbols": n_ref,
        "evaluations": count,
        "rhythm_gate": pkg.rhythm_gate,
        "rows": rows,
        "provenance": collect_provenance(seed=0, command=command),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(path, doc)
    lines = [
        f"# `{args.model}` on `{args.dataset}` (external, detected beats, EC57, 150 ms)",
        "",
        f"{len(names)} records at {items[0][1].fs:g} Hz; reference beats {n_ref}; gross statistics in %. Runs of "
        f"this script on these weights and records: {count}. Nothing here was used to train or choose the model.",
        "",
        "| row | QRS Se | QRS +P | SVEB Se | SVEB +P | VEB Se | VEB +P | beats in AF | S calls in AF | S calls outside AF |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row, r in rows.items():
        g, af = r["gross"], r["af"]
        cells = " | ".join("n/a" if g[k] is None or g[k] != g[k] else f"{100 * g[k]:.1f}" for k in GROSS)
        lines.append(
            f"| {row} | {cells} | {af['beats_in_af']} | {af['s_calls_in_af']} | {af['s_calls_outside_af']} |"
        )
    lines += ["", f"Command: `{command}`; commit {doc['provenance'].get('git_commit')}.", ""]
    with atomic_open(args.out / f"{stem}.md", "w") as fh:
        fh.write("\n".join(lines))


if __name__ == "__main__":
    main()
