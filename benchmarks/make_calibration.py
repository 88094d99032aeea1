"""Write the int8 calibration subset shipped beside a model package (``<package>/calibration.npz``).

``leanecg export MODEL --int8`` calibrates the int8 activation ranges on inputs of the task's training split;
without ``--data-dir`` and with no training data in the default places it falls back to this subset
(:func:`leanecg.deploy.onnx.default_calibration`), so the export works on a fresh install. The subset is a
seeded random draw of the training split, preprocessed exactly as for training
(:func:`leanecg.deploy.onnx.training_calibration`), stored as float16 in a compressed ``.npz``
(:func:`leanecg.deploy.onnx.save_calibration`): beat models ``--n`` beat windows with their beat
features; record models ``--n`` records cut to their middle ``--max-s`` seconds, with the record features
of the whole record (stored unscaled). It depends on the model's preprocessing and input spec only (not on
its weights): rerun this script whenever a package with other inputs is shipped (the export refuses a stale
subset).

Usage (one command per shipped package; defaults give files well under 1 MB)::

    python benchmarks/make_calibration.py --model cinc2017 --data-dir ../shared/data
    python benchmarks/make_calibration.py --model mitdb-aami --data-dir ../shared/data

``--model`` takes a shipped name or a package folder; the file goes into that package folder (``--out``
to write it elsewhere). ``--check`` then compares, on the task's test split, the int8 export calibrated on
the written subset with the one calibrated on the full default draw of the training split (4,096 beats /
256 whole records): the primary metric and the label agreement with the torch fp32 model of each
(``benchmarks/results/calibration_<model>.json`` and ``.md``). The training data (MIT-BIH, CinC 2017) is ODC-By 1.0: keep the attribution in
``src/leanecg/zoo/README.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from leanecg.errors import LeanECGError

REPO = Path(__file__).resolve().parents[1]
#: Default inputs per package kind: beat windows (~0.28 MB) or records (~0.38 MB at 300 Hz, 10 s each).
DEFAULT_N = {"beats": 1024, "records": 64}
#: Default longest stored record (record models), seconds.
DEFAULT_MAX_S = 10.0


def default_data_dir() -> Path:
    env = os.environ.get("LEANECG_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def make_calibration(
    model: str,
    data_dir: str | Path | None = None,
    *,
    n: int | None = None,
    max_s: float | None = DEFAULT_MAX_S,
    seed: int = 0,
    out: str | Path | None = None,
) -> Path:
    """Draw the subset from the training split of ``model``'s task in ``data_dir`` and write it (see the
    module docstring); returns the file written."""
    from leanecg.deploy.onnx import save_calibration, training_calibration
    from leanecg.package import open_model

    pkg = open_model(model, prefer="torch")
    count = DEFAULT_N[pkg.kind] if n is None else n
    calibration = training_calibration(pkg, data_dir, count, seed=seed)
    max_samples = None
    if pkg.kind == "records" and max_s is not None:
        max_samples = round(max_s * float(pkg.meta["input"]["fs"]))
    return save_calibration(pkg, calibration, out, max_samples=max_samples)


def check_calibration(model: str, data_dir: str | Path, subset: Path, seed: int = 0) -> dict[str, Any]:
    """int8 calibrated on ``subset`` vs on the full default draw, on the task's test split."""
    import tempfile

    import numpy as np
    import torch

    from leanecg.deploy.onnx import calibration_set, export_onnx, load_calibration, package_split_seed
    from leanecg.package import open_model
    from leanecg.package.ort_runtime import load_onnx_package
    from leanecg.tasks import task_for_package

    torch.set_num_threads(1)
    pkg = open_model(model, prefer="torch")
    task = task_for_package(pkg.meta)
    data = task.load(
        Path(data_dir), tiny=bool(pkg.meta.get("data", {}).get("tiny")), seed=package_split_seed(pkg)
    )
    test = data.test
    y = np.asarray(test.y, dtype=np.int64)
    if pkg.kind == "records":
        X, feats = list(test.X), pkg.record_features(list(test.X))
    else:
        X, feats = test.X, test.features if pkg.meta["input"].get("features") else None
    ref = np.argmax(pkg.backend.proba(X, feats, 64, False), axis=1)
    primary = task.primary_metric
    rows = {"torch fp32": {primary: task.scores(y, ref)[primary], "agreement_with_torch_fp32": 1.0}}
    calibrations = {
        "int8, full default draw": calibration_set(pkg, data.train, None, seed=seed),
        "int8, shipped subset": load_calibration(pkg, subset),
    }
    with tempfile.TemporaryDirectory(prefix="leanecg-calib-") as tmp:
        for name, calib in calibrations.items():
            path = Path(tmp) / "m.onnx"
            export_onnx(pkg, path, int8=True, calibration=calib)
            pred = np.argmax(load_onnx_package(path, threads=1).backend.proba(X, feats, 64, False), axis=1)
            rows[name] = {
                primary: task.scores(y, pred)[primary],
                "agreement_with_torch_fp32": float(np.mean(pred == ref)),
                "n_calibration_inputs": len(calib),
            }
    return {
        "benchmark": "calibration_subset",
        "model": model,
        "task": task.name,
        "n_test": len(y),
        "subset_bytes": subset.stat().st_size,
        "rows": rows,
        "command": "python benchmarks/make_calibration.py " + " ".join(sys.argv[1:]),
    }


def markdown(res: dict[str, Any]) -> str:
    primary = next(k for k in res["rows"]["torch fp32"] if k != "agreement_with_torch_fp32")
    lines = [
        f"# int8 calibration subset of `{res['model']}` ({res['subset_bytes']:,} bytes)",
        "",
        f"Test split of `{res['task']}`, {res['n_test']} inputs. Command: `{res['command']}`",
        "",
        f"| model | calibration inputs | {primary} | label agreement with torch fp32 |",
        "|---|---|---|---|",
    ]
    for name, r in res["rows"].items():
        n = r.get("n_calibration_inputs", "")
        lines.append(f"| {name} | {n} | {r[primary]:.4f} | {r['agreement_with_torch_fp32']:.4f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="shipped model name or package folder")
    ap.add_argument("--data-dir", default=None, help="folder holding the datasets")
    ap.add_argument("--n", type=int, default=None, help="inputs to store (default: 1024 beats / 64 records)")
    ap.add_argument(
        "--max-s", type=float, default=DEFAULT_MAX_S, help="record models: seconds kept per record"
    )
    ap.add_argument("--seed", type=int, default=0, help="seed of the draw")
    ap.add_argument("--out", default=None, help="file to write (default: PACKAGE/calibration.npz)")
    ap.add_argument("--check", action="store_true", help="compare int8 on the subset with the full draw")
    ap.add_argument("--results", default=str(REPO / "benchmarks" / "results"), help="folder for --check")
    args = ap.parse_args(argv)
    if args.n is not None and args.n < 1:
        print(f"error: --n: must be a positive integer, got {args.n}", file=sys.stderr)
        return 2
    if not args.max_s > 0:
        print(f"error: --max-s: must be more than 0, got {args.max_s}", file=sys.stderr)
        return 2
    data_dir = args.data_dir or default_data_dir()
    try:
        path = make_calibration(
            args.model, data_dir, n=args.n, max_s=args.max_s, seed=args.seed, out=args.out
        )
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
        if args.check:
            from leanecg.atomic import atomic_open, write_json

            res = check_calibration(args.model, data_dir, path, seed=args.seed)
            slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(args.model).name)
            write_json(Path(args.results) / f"calibration_{slug}.json", res)
            with atomic_open(Path(args.results) / f"calibration_{slug}.md") as fh:
                fh.write(markdown(res))
            print(markdown(res))
    except LeanECGError as err:
        print(f"error: {err.path}: {err.problem}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
