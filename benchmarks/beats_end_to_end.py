"""A beat model end to end on MIT-BIH DS2: detected beats (not reference positions), EC57 scoring.

What ``leanecg beats REC --model M [--lead L]`` gives a user, scored as ANSI/AAMI EC57 does (150 ms match
window, ``bxb``-style; VF episodes of the reference excluded): each DS2 record is read, optionally turned into
a Holter-like record (resampled to ``--fs`` with scipy's polyphase filter and its leads renamed
``ECG1``/``ECG2``, the shape of the kept-back 128 Hz two-lead database), and classified through the model
package with ``lead=`` (``--lead``), exactly as the command does. Rows:

* ``native``: the record as distributed (360 Hz, leads named MLII / V1 ...);
* ``holter``: resampled to ``--fs`` (default 128 Hz), leads ``ECG1``/``ECG2``, ``--lead ECG1``;
* ``... + AF gate``: the same, with the package's AF gate (``rhythm_gate``, :mod:`leanecg.signal.rhythm_gate`)
  as ``leanecg beats`` applies it; the rows without it are the network alone (the package with its gate
  removed), scored in the same run.

    .venv/bin/python benchmarks/beats_end_to_end.py --data-dir ../shared/data --model mitdb-aami

Writes ``benchmarks/results/beats_end_to_end_<model>.{json,md}`` (gross EC57 statistics and per record).
Every run of this script is one more evaluation on DS2; the JSON says how many the model has had here
(``ds2_evaluations``, counted across runs of this script for the same model weights).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import resample_poly

from leanecg.atomic import atomic_open, write_json
from leanecg.data import Record, get_dataset, load_record, resolve_data_dir
from leanecg.data.mitdb import DS2
from leanecg.evaluate.aami import ec57_report
from leanecg.evaluate.beat_files import record_matrix
from leanecg.package import open_model
from leanecg.provenance import collect_provenance

GROSS = ("qrs_se", "qrs_ppv", "sveb_se", "sveb_ppv", "veb_se", "veb_ppv")


def holter(record: Record, fs: float) -> tuple[Record, float]:
    """``record`` resampled to ``fs`` (polyphase, anti-aliased) with leads renamed ECG1, ECG2, ...;
    returns the new record and the factor that maps sample indices (new = old * factor)."""
    ratio = Fraction(fs / record.fs).limit_denominator(1000)
    x = resample_poly(np.asarray(record.signal, dtype=np.float64), ratio.numerator, ratio.denominator, axis=0)
    leads = [f"ECG{i + 1}" for i in range(x.shape[1])]
    return Record(name=record.name, signal=x.astype(np.float32), fs=float(fs), leads=leads), float(ratio)


def _ds2_item(folder: Path, name: str, row: str, fs: float) -> tuple[str, Record, np.ndarray, list[str]]:
    rec = load_record(folder / name)
    ann = rec.annotation  # the Holter-like copy has no annotation: read it first
    ref = np.asarray(ann.sample, dtype=np.int64)
    if row == "holter":
        rec, factor = holter(rec, fs)
        ref = np.round(ref * factor).astype(np.int64)
    return name, rec, ref, list(ann.symbol)


def score_row(
    model: Any, items: Iterable[tuple[str, Record, np.ndarray, list[str]]], fs: float, lead: str | None
) -> tuple[dict[str, Any], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """EC57 scores of ``model.predict_beats`` on each ``(name, record, reference samples, reference
    symbols)`` as ``leanecg score beats`` scores them (:func:`leanecg.evaluate.beat_files.record_matrix`: VF
    episodes excluded, beat codes outside the AAMI map matched but not counted), at the records' rate ``fs``;
    returns the row (``gross``, ``counts``, ``per_record``, ``seconds``) and each record's predicted
    ``(samples, labels)``."""
    t0 = time.perf_counter()
    matrices: dict[str, np.ndarray] = {}
    preds: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, rec, ref, sym in items:
        pred = model.predict_beats(rec, lead=lead)
        preds[name] = (pred.samples, np.asarray(pred.labels))
        matrices[name], _ = record_matrix(ref, sym, *preds[name], fs)  # as `leanecg score beats` scores
    report = ec57_report(matrices)
    row = {
        "fs": fs,
        "gross": {k: report.gross[k] for k in GROSS},
        "counts": report.gross["counts"],
        "per_record": {
            r: {k: s[k] for k in GROSS} for r, s in zip(report.records, report.per_record, strict=True)
        },
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return row, preds


def run_count(path: Path, pkg: Any, key: str) -> tuple[str, int]:
    """``(weights, n)``: the package's weights hash (model.json's, shortened) and the number of this run
    among the runs on the same weights that the results file ``path`` counts under ``key``."""
    weights = str(pkg.meta.get("weights_sha256", "?"))[:16]
    earlier = json.loads(path.read_text()) if path.exists() else {}
    return weights, int(earlier.get(key, 0)) + 1 if earlier.get("weights") == weights else 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--model", default="mitdb-aami")
    ap.add_argument("--fs", type=float, default=128.0, help="sampling rate of the Holter-like row (Hz)")
    ap.add_argument("--records", default="", help="comma-separated DS2 records (default: all 22)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    root = resolve_data_dir(args.data_dir, dataset="mitdb")
    folder = get_dataset("mitdb").require(root)
    pkg = open_model(args.model, prefer="torch")
    records = [r.strip() for r in args.records.split(",") if r.strip()] or list(DS2)
    gate = pkg.rhythm_gate
    # the network alone: the same package without its AF gate
    plain = pkg.without_rhythm_gate()
    variants = [("", plain)] + ([(" + AF gate", pkg)] if gate else [])
    rows: dict[str, dict[str, Any]] = {}
    for row in ("native", "holter"):
        items = [_ds2_item(folder, name, row, args.fs) for name in records]  # read (and resampled) once
        for suffix, model in variants:
            fs_row = args.fs if row == "holter" else 360.0
            rows[row + suffix], _ = score_row(model, items, fs_row, "ECG1" if row == "holter" else None)
            rows[row + suffix].update(
                lead="ECG1 (--lead)" if row == "holter" else "by name", rhythm_gate=bool(suffix)
            )
            print(row + suffix, {k: round(v, 4) for k, v in rows[row + suffix]["gross"].items()}, flush=True)
    stem = f"beats_end_to_end_{args.model.replace('/', '_')}"
    path = args.out / f"{stem}.json"
    weights, count = run_count(path, pkg, "ds2_evaluations")
    doc = {
        "model": args.model,
        "weights": weights,
        "records": records,
        "ds2_evaluations": count,
        "rhythm_gate": gate,
        "rows": rows,
        "provenance": collect_provenance(
            seed=0, config={"model": args.model, "fs": args.fs, "records": records}
        ),  # no folders: they name the machine, not the run
    }
    write_json(path, doc)
    lines = [
        f"# `{args.model}` end to end on MIT-BIH DS2 (detected beats, EC57, 150 ms)",
        "",
        f"{len(records)} DS2 records; R peaks detected by the package's pipeline (not the reference positions); "
        f"gross statistics in %. Evaluations of these weights on DS2 by this script: {count} (runs; a run "
        "scores the network alone and, when the package has one, with its AF gate)."
        + (
            f" AF gate: S -> N where the RR irregularity of the last {gate['window']} beats is at least "
            f"{gate['threshold']:g} (chosen on DS1 cross-validation)."
            if gate
            else ""
        ),
        "",
        "| row | fs (Hz) | lead | QRS Se | QRS +P | SVEB Se | SVEB +P | VEB Se | VEB +P |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row, r in rows.items():
        g = r["gross"]
        lines.append(
            f"| {row} | {r['fs']:g} | {r['lead']} | " + " | ".join(f"{g[k] * 100:.1f}" for k in GROSS) + " |"
        )
    lines += [
        "",
        f"Command: `python benchmarks/beats_end_to_end.py --model {args.model} --fs {args.fs:g}`.",
        "",
    ]
    with atomic_open(args.out / f"{stem}.md", "w") as fh:
        fh.write("\n".join(lines))


if __name__ == "__main__":
    main()
