"""How much does a beat package depend on the polarity of its lead? Each record as recorded and negated.

A Holter channel, a chest lead or a recording made with the electrodes swapped shows the beats upside down.
For every beat package named in ``--models`` and every MIT-BIH record of ``--records`` (default: the 22 DS1
records), ``ModelPackage.predict_beats`` (what ``leanecg beats`` runs, AF gate included) is run on the record
as recorded and on the same record with every lead negated; both are scored by EC57 against the reference
(:func:`leanecg.evaluate.beat_files.record_matrix`: 150 ms, ventricular flutter excluded), and the labels of
the beats found in both runs are compared. A package that orients its lead (``input.orient_polarity``,
:mod:`leanecg.signal.polarity`) gives the same labels both ways.

DS1 is the shipped models' training data: its figures are in-sample and say how much a package depends on
the lead's sign, not how well it generalises. ``--records`` takes DS1 records only (the test split is
scored by ``beats_end_to_end.py``). Writes ``polarity_stress.{json,md}`` into ``--out``::

    .venv/bin/python benchmarks/polarity_stress.py --data-dir ../shared/data --models mitdb-aami
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path
from typing import Any

from beats_end_to_end import GROSS, score_row
from leanecg.data import load_record, resolve_data_dir
from leanecg.data.mitdb import DS1
from leanecg.package import open_model
from record_z_screen import write_page
from sveb_gate_cv import _pct

RESULTS = Path(__file__).parent / "results"


def stress(model: str, folder: Path, records: list[str]) -> dict[str, Any]:
    """EC57 scores of ``model`` on ``records`` as recorded and negated (``beats_end_to_end.score_row``, as
    ``leanecg score beats`` scores), and the label agreement of the beats found both ways."""
    pkg = open_model(model)
    loaded = [load_record(folder / name) for name in records]
    items = [(rec.name, rec, rec.annotation.sample, list(rec.annotation.symbol)) for rec in loaded]
    negated = [
        (name, dataclasses.replace(rec, signal=-rec.signal), ref, sym) for name, rec, ref, sym in items
    ]
    rows, preds = {}, {}
    for kind, part in (("as recorded", items), ("negated", negated)):
        rows[kind], preds[kind] = score_row(pkg, part, loaded[0].fs, None)  # MIT-BIH: one rate, 360 Hz
    same = both = 0
    for name in records:
        a, b = (dict(zip(*(x.tolist() for x in preds[kind][name]), strict=True)) for kind in rows)
        common = a.keys() & b.keys()
        both += len(common)
        same += sum(a[k] == b[k] for k in common)
    return {
        "model": model,
        "name": pkg.name,
        "orient_polarity": bool(pkg.input.get("orient_polarity", False)),
        "rows": {kind: row["gross"] for kind, row in rows.items()},
        "counts": {kind: row["counts"] for kind, row in rows.items()},
        "beats_in_both": both,
        "same_label": same / both if both else None,
    }


def _markdown(doc: dict[str, Any]) -> str:
    lines = [
        "# Beat packages on records as recorded and with the lead negated",
        "",
        f"{len(doc['records'])} MIT-BIH DS1 records ({', '.join(doc['records'])}); `predict_beats` as `leanecg beats` "
        "runs it (AF gate included), EC57 gross statistics in % (150 ms, ventricular flutter excluded). DS1 is the "
        "shipped models' training data, so the figures are in-sample: they measure the dependence on the lead's "
        "sign, not generalisation. No DS2 record is read.",
        "",
        "| package | orients its lead | input | QRS Se | QRS +P | SVEB Se | SVEB +P | VEB Se | VEB +P "
        "| same label, negated vs as recorded |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in doc["models"]:
        for kind, row in m["rows"].items():
            agree = f"{_pct(m['same_label'])} % of {m['beats_in_both']}" if kind == "negated" else ""
            lines.append(
                f"| `{m['model']}` ({m['name']}) | {'yes' if m['orient_polarity'] else 'no'} | {kind} | "
                + " | ".join(_pct(row[k]) for k in GROSS)
                + f" | {agree} |"
            )
    lines += ["", f"Command: `{doc['command']}`; commit {doc['provenance']['git_commit']}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--models", default="mitdb-aami", help="comma-separated beat packages (names or folders)")
    ap.add_argument(
        "--records", default="", help="comma-separated MIT-BIH records (default: the 22 DS1 records)"
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    folder = resolve_data_dir(args.data_dir, dataset="mitdb") / "mitdb"
    records = [r.strip() for r in args.records.split(",") if r.strip()] or list(DS1)
    outside = [r for r in records if r not in DS1]
    if outside:
        raise SystemExit(
            f"error: --records: {', '.join(outside)}: DS1 records only (DS2 is scored by beats_end_to_end.py)"
        )
    command = "python benchmarks/polarity_stress.py " + shlex.join(sys.argv[1:])
    doc = {
        "records": records,
        "models": [stress(m.strip(), folder, records) for m in args.models.split(",") if m.strip()],
        "command": command,
    }
    write_page(doc, args.out / "polarity_stress", command, _markdown)


if __name__ == "__main__":
    main()
