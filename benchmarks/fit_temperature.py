"""Fit a model package's temperature on its task's validation split and write it into its ``model.json``.

One command per package (after shipping a retrained model, before committing it)::

    python benchmarks/fit_temperature.py --model src/leanecg/zoo/cinc2017 --data-dir ../shared/data
    python benchmarks/fit_temperature.py --model src/leanecg/zoo/mitdb-aami --data-dir ../shared/data

(``--model`` takes a package folder or a shipped name.) The task is loaded as in training (the package's
seed picks the split); the network's uncalibrated probabilities on the validation split fit one
temperature by NLL (:func:`leanecg.deploy.temperature.fit_package_temperature`); the ``temperature`` field
of ``model.json`` and the model card are rewritten; ``leanecg predict`` / ``beats`` / ``stream`` then return
calibrated probabilities. Prints the temperature and the validation / test NLL and ECE before and after
(``--dry-run``: print, write nothing). A package whose validation records were training records too is
refused (``--allow-seen`` fits anyway and marks it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from leanecg.errors import LeanECGError

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="package folder or shipped model name")
    env = os.environ.get("LEANECG_DATA")
    ap.add_argument("--data-dir", default=env or str(REPO.parent / "shared" / "data"))
    ap.add_argument("--allow-seen", action="store_true", help="fit even on validation data seen in training")
    ap.add_argument("--dry-run", action="store_true", help="print the fit, write nothing")
    args = ap.parse_args(argv)
    from leanecg.deploy.temperature import fit_package_temperature

    try:
        out = fit_package_temperature(
            args.model, args.data_dir, allow_seen=args.allow_seen, write=not args.dry_run
        )
    except LeanECGError as err:
        print(f"error: {err.path}: {err.problem}", file=sys.stderr)
        return 2
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
