"""Write the real example ECGs shipped with LeanECG (``src/leanecg/examples/``) from the data folder.

``leanecg quickstart`` and the snippets of ``docs/python-api.md`` use them on an install with no data folder.
The selection is deterministic (the same files from the same data):

* ``mitdb/<record>``: a 30 s excerpt of MIT-BIH records 100 (clean sinus rhythm), 233 (frequent
  multiform PVCs) and 232 (frequent atrial premature beats), all three from the held-out de Chazal DS2
  set; the excerpt of each record is the first 30 s window (on whole seconds) holding the most AAMI S + V
  beats. WFDB format 212 as in the original, same ADC gain and baseline, both leads; the reference
  annotations ``.atr`` of the window, shifted to start at 0, with the rhythm in force at the start
  repeated as a ``+`` annotation at sample 0. The header comments name the source record and window.
* ``cinc2017/<record>``: for each class N, A, O, ~ (normal, AF, other rhythm, noisy), the first record of
  the CinC 2017 test split (:meth:`leanecg.data.registry.Dataset.split`, the split the shipped ``cinc2017``
  model never trained on) that is at most 30 s long, copied unchanged (``.mat`` + ``.hea``), and
  ``REFERENCE.csv`` with their labels (``REFERENCE-v3.csv``).

Both databases are ODC-By 1.0; ``src/leanecg/examples/README.md`` carries the attribution.

Usage::

    python benchmarks/make_examples.py --data-dir ../shared/data [--out src/leanecg/examples]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from leanecg.errors import LeanECGError

REPO = Path(__file__).resolve().parents[1]
MITDB_RECORDS = ("100", "233", "232")
EXCERPT_S = 30
CINC_CLASSES = ("N", "A", "O", "~")
CINC_MAX_S = 30.0


def default_data_dir() -> Path:
    env = os.environ.get("LEANECG_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def best_window(samples: np.ndarray, classes: list[str | None], fs: float, n_samples: int) -> int:
    """Start (whole seconds) of the first ``EXCERPT_S`` window holding the most S + V beats."""
    special = np.asarray(samples)[[c in ("S", "V") for c in classes]]
    best, best_start = -1, 0
    for start in range(0, int(n_samples / fs) - EXCERPT_S + 1):
        a, b = start * fs, (start + EXCERPT_S) * fs
        count = int(np.count_nonzero((special >= a) & (special < b)))
        if count > best:
            best, best_start = count, start
    return best_start


def write_mitdb_excerpt(src: Path, name: str, out: Path) -> dict[str, object]:
    import wfdb

    from leanecg.data.mitdb import aami_class

    base = str(src / name)
    ann = wfdb.rdann(base, "atr")
    head = wfdb.rdheader(base)
    fs = float(head.fs)
    start = best_window(ann.sample, [aami_class(s) for s in ann.symbol], fs, head.sig_len)
    a, b = int(start * fs), int((start + EXCERPT_S) * fs)
    rec = wfdb.rdrecord(base, physical=False, sampfrom=a, sampto=b)
    out.mkdir(parents=True, exist_ok=True)
    window = f"{start // 60:02d}:{start % 60:02d} to {(start + EXCERPT_S) // 60:02d}:{(start + EXCERPT_S) % 60:02d}"
    comments = [
        f"Excerpt of MIT-BIH Arrhythmia Database record {name}, {window} (mm:ss), {EXCERPT_S} s",
        "MIT-BIH Arrhythmia Database, ODC-By 1.0; see README.md",
        *(head.comments or []),
    ]
    wfdb.wrsamp(
        name,
        fs=fs,
        units=rec.units,
        sig_name=rec.sig_name,
        d_signal=rec.d_signal,
        fmt=rec.fmt,
        adc_gain=rec.adc_gain,
        baseline=rec.baseline,
        comments=comments,
        write_dir=str(out),
    )
    inside = (ann.sample >= a) & (ann.sample < b)
    sample = list(ann.sample[inside] - a)
    symbol = [ann.symbol[i] for i in np.flatnonzero(inside)]
    aux = [ann.aux_note[i] for i in np.flatnonzero(inside)]
    subtype = list(ann.subtype[inside])
    chan = list(ann.chan[inside])
    num = list(ann.num[inside])
    rhythms = [i for i in range(len(ann.sample)) if ann.symbol[i] == "+" and ann.sample[i] < a]
    if rhythms and not (sample and sample[0] == 0 and symbol[0] == "+"):
        i = rhythms[-1]
        sample, symbol, aux = [0, *sample], ["+", *symbol], [ann.aux_note[i], *aux]
        subtype, chan, num = [0, *subtype], [0, *chan], [0, *num]
    wfdb.wrann(
        name,
        "atr",
        np.asarray(sample, dtype=np.int64),
        symbol=symbol,
        subtype=np.asarray(subtype),
        chan=np.asarray(chan),
        num=np.asarray(num),
        aux_note=aux,
        fs=fs,
        write_dir=str(out),
    )
    beats = [aami_class(s) for s in symbol]
    return {
        "record": name,
        "start_s": start,
        "beats": {c: beats.count(c) for c in ("N", "S", "V", "F", "Q") if beats.count(c)},
    }


def write_cinc_examples(root: Path, out: Path) -> list[dict[str, object]]:
    from leanecg.data import get_dataset

    ds = get_dataset("cinc2017")
    labels = ds.labels(root)
    out.mkdir(parents=True, exist_ok=True)
    chosen: dict[str, str] = {}
    for rec in ds.split(root)["test"]:
        label = labels[rec][0]
        if label in chosen.values() or label not in CINC_CLASSES:
            continue
        hea = ds.record_path(root, rec).with_suffix(".hea")
        first = hea.read_text(encoding="utf-8").splitlines()[0].split()
        fs, n = float(first[2]), int(first[3])
        if n / fs <= CINC_MAX_S:
            chosen[rec] = label
        if len(chosen) == len(CINC_CLASSES):
            break
    rows = []
    for rec, label in sorted(chosen.items(), key=lambda kv: CINC_CLASSES.index(kv[1])):
        mat = ds.record_path(root, rec).with_suffix(".mat")
        for f in (mat, mat.with_suffix(".hea")):
            shutil.copyfile(f, out / f.name)
        rows.append({"record": rec, "label": label})
    with open(out / "REFERENCE.csv", "w", encoding="utf-8", newline="\n") as fh:
        fh.writelines(f"{r['record']},{r['label']}\n" for r in rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=None, help="folder holding mitdb/ and cinc2017/")
    ap.add_argument("--out", default=str(REPO / "src" / "leanecg" / "examples"), help="examples folder")
    args = ap.parse_args(argv)
    from leanecg.data import get_dataset

    root = Path(args.data_dir) if args.data_dir else default_data_dir()
    out = Path(args.out)
    try:
        mitdb = get_dataset("mitdb").require(root)
        get_dataset("cinc2017").require(root)
        for sub in ("mitdb", "cinc2017"):  # a rerun replaces the excerpts, keeps README.md
            if (out / sub).is_dir():
                shutil.rmtree(out / sub)
        for name in MITDB_RECORDS:
            print(write_mitdb_excerpt(Path(mitdb), name, out / "mitdb"))
        for row in write_cinc_examples(root, out / "cinc2017"):
            print(row)
    except LeanECGError as err:
        print(f"error: {err.path}: {err.problem}", file=sys.stderr)
        return 2
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote {out} ({total:,} bytes with README.md)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
