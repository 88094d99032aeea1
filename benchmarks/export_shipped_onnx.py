"""Write the ONNX files of the shipped models, next to each package in ``src/leanecg/zoo/<name>/``.

Each shipped package folder holds the torch weights (``model.pt`` + ``model.json``, used by the training
stack for fine-tuning, compression and the cost measures) and, written by this script, the two files the
inference runtime runs with ONNX Runtime (numpy + onnxruntime, no torch)::

    model.onnx        + model.onnx.json         fp32 (the default of predict / beats / stream / serve)
    model.int8.onnx   + model.int8.onnx.json    static int8 QDQ, calibrated on the shipped calibration.npz

made by :func:`leanecg.deploy.onnx.export_onnx` (the code of ``leanecg export``), the int8 one calibrated on the
package's own ``calibration.npz`` (:func:`leanecg.deploy.onnx.load_calibration`), so the output does not depend
on which data folder is present. Each sidecar records the SHA-256 of the weights it was exported from
(``onnx.source_package.weights_sha256``); the runtime uses the ONNX files only while they match
``model.json`` (:func:`leanecg.package.shipped_onnx`), so a package whose weights changed without
rerunning this script runs on torch (when installed) or is refused with the command to run.

Regenerate after replacing a shipped model (the one command; needs the training extra)::

    python benchmarks/export_shipped_onnx.py

``--models cinc2017,mitdb-aami`` limits it to some packages, ``--zoo DIR`` exports the packages of another
zoo folder, ``--check`` only verifies that every package's ONNX files are present and in sync (exit 1 if
not).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from leanecg.errors import LeanECGError


def export_package(folder: Path) -> list[str]:
    """Write ``model.onnx`` and ``model.int8.onnx`` (+ sidecars) into the package folder; one line per file."""
    from leanecg.deploy.onnx import export_onnx, load_calibration
    from leanecg.package import ONNX_FILES, open_model

    package = open_model(folder, prefer="torch")
    calibration = load_calibration(package)
    lines = []
    for precision, name in ONNX_FILES.items():
        report = export_onnx(package, folder / name, int8=precision == "int8", calibration=calibration)
        check = report.check
        lines.append(
            f"{folder.name}: wrote {name} ({report.bytes:,} bytes); vs torch on {check['n_inputs']} "
            f"{check['inputs']} inputs: label agreement {check['label_agreement']:.2%}, max probability "
            f"difference {check['max_abs_prob_diff']:.2g}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    from leanecg.package import ONNX_FILES, onnx_status, zoo_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--zoo", type=Path, default=None, help="zoo folder (default: the installed leanecg/zoo)")
    ap.add_argument("--models", default=None, help="comma-separated package names (default: all)")
    ap.add_argument("--check", action="store_true", help="only check that the ONNX files are in sync")
    args = ap.parse_args(argv)
    root = args.zoo or zoo_dir()
    folders = sorted(p for p in root.iterdir() if p.is_dir() and (p / "model.json").is_file())
    if args.models:
        wanted = [m.strip() for m in args.models.split(",") if m.strip()]
        unknown = sorted(set(wanted) - {p.name for p in folders})
        if unknown:
            print(f"error: --models: no package {', '.join(unknown)} in {root}", file=sys.stderr)
            return 2
        folders = [p for p in folders if p.name in wanted]
    if args.check:
        bad = 0
        for folder in folders:
            for precision in ONNX_FILES:
                problem = onnx_status(folder, precision)
                print(f"{folder.name} {precision}: {problem or 'in sync'}")
                bad += problem is not None
        return 1 if bad else 0
    try:
        for folder in folders:
            for line in export_package(folder):
                print(line)
    except LeanECGError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
