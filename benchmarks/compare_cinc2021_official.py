"""Compare ``leanecg.evaluate.cinc2021`` with the official PhysioNet/CinC 2021 ``evaluate_model.py``.

Random label and output folders are written in the official formats -- with equivalent classes given either
by one member code or joined (``a|b``), both members as separate columns, unscored codes in labels and
outputs, records with no scored label, classes missing from output files, shuffled columns, every official
spelling of true/false, ties in scores, non-finite scores, and degenerate trials (every record sinus rhythm
only, all scores equal) -- and scored by both implementations in the same process. The official code is
imported from the path given (its ``helper_code.py`` must sit beside it); it is never copied into the
repository.

Usage::

    python benchmarks/compare_cinc2021_official.py --official /path/to/evaluation-2021/evaluate_model.py \
        [--weights weights.csv] [--trials 200] [--seed 0] [--out benchmarks/results/...json]

Exit status 0 when every metric agrees to ``--tol`` (default 1e-9), 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from leanecg.atomic import write_json
from leanecg.evaluate import cinc2021

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "cinc2021_official_agreement.json"

#: Codes that are not scored in 2021 (from the challenge's dx_mapping_unscored.csv).
UNSCORED_CODES = ("233892002", "164951009", "251187003", "61277005", "426664006", "57054005", "413444003")

SUMMARY_KEYS = ("challenge_metric", "auroc", "auprc", "accuracy", "f_measure")
CLASS_KEYS = ("auroc_classes", "auprc_classes", "f_measure_classes")
TRUE_SPELLINGS = ("1", "True", "true", "T", "t")
FALSE_SPELLINGS = ("0", "False", "false", "F", "f")


def load_official(path: str | Path) -> ModuleType:
    """Import the official ``evaluate_model.py`` (and its ``helper_code.py``) from ``path``."""
    path = Path(path).resolve()
    if not path.is_file():
        raise SystemExit(f"error: {path}: official evaluate_model.py not found")
    if not (path.parent / "helper_code.py").is_file():
        raise SystemExit(f"error: {path.parent}: helper_code.py must sit beside evaluate_model.py")
    if not hasattr(np, "bool"):  # the official code uses np.bool (removed in NumPy 1.24-1.26, back in 2.0)
        np.bool = np.bool_  # type: ignore[attr-defined]
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location("cinc2021_official_evaluate_model", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def _format_score(x: float, rng: np.random.Generator) -> str:
    r = rng.random()
    if r < 0.02:
        return rng.choice(["nan", "inf", "-inf"])
    if r < 0.35:
        return f"{round(x, 1):.1f}"  # coarse: many ties
    if r < 0.6:
        return f"{round(x, 2)}"
    return repr(float(x))


def write_trial(
    rng: np.random.Generator,
    classes: list[frozenset[str]],
    label_dir: Path,
    output_dir: Path,
    n_records: int,
    mode: str,
) -> None:
    """Write one random set of label (.hea) and output (.csv) files in the official formats."""
    sinus = frozenset({cinc2021.SINUS_RHYTHM})
    n_classes = len(classes)
    for r in range(n_records):
        rec = f"R{r:05d}"
        # ---- labels
        if mode == "all_sinus":
            dx_sets = [sinus]
        elif rng.random() < 0.12:
            dx_sets = []  # no scored label
        else:
            k = int(rng.integers(1, 5))
            idx = rng.choice(n_classes, size=k, replace=False)
            dx_sets = [classes[i] for i in idx]
            if rng.random() < 0.4 and sinus not in dx_sets:
                dx_sets.append(sinus)
        codes = [str(rng.choice(sorted(s))) for s in dx_sets]
        if rng.random() < 0.3:
            codes.append(str(rng.choice(UNSCORED_CODES)))
        if not codes:
            codes = [str(rng.choice(UNSCORED_CODES))]
        rng.shuffle(codes)
        header = [
            f"{rec} 12 500 5000",
            f"{rec}.mat 16+24 1000/mV 16 0 0 0 0 I",
            "#Age: 63",
            "#Sex: Female",
            f"#Dx: {','.join(codes)}",
            "#Rx: Unknown",
        ]
        (label_dir / f"{rec}.hea").write_text("\n".join(header) + "\n", encoding="utf-8")

        # ---- outputs
        truth = np.array([bool(s & set(codes)) for s in classes])
        if mode == "constant":
            probs = np.full(n_classes, 0.5)
        else:
            noise = rng.random(n_classes)
            probs = np.clip(np.where(truth, 0.55 + 0.45 * noise, 0.6 * noise), 0, 1)
        binary = probs >= (0.5 if mode != "constant" else 2.0)
        columns: list[tuple[str, bool, str]] = []
        for j, s in enumerate(classes):
            if rng.random() < 0.05:
                continue  # class missing from the output file -> 0
            members = sorted(s)
            if len(members) > 1 and rng.random() < 0.3:
                names = members  # both equivalent codes as separate columns
            elif len(members) > 1 and rng.random() < 0.5:
                names = ["|".join(rng.permutation(members).tolist())]
            else:
                names = [str(rng.choice(members))]
            for name in names:
                b = bool(binary[j]) if len(names) == 1 else bool(binary[j] and rng.random() < 0.7)
                p = probs[j] if len(names) == 1 else float(np.clip(probs[j] + rng.normal(0, 0.1), 0, 1))
                columns.append((name, b, _format_score(p, rng)))
        for code in rng.choice(UNSCORED_CODES, size=int(rng.integers(0, 3)), replace=False):
            columns.append((str(code), bool(rng.random() < 0.5), _format_score(rng.random(), rng)))
        order = rng.permutation(len(columns))
        columns = [columns[i] for i in order]
        lines = [
            f"#{rec}",
            ",".join(c[0] for c in columns),
            ",".join(str(rng.choice(TRUE_SPELLINGS if c[1] else FALSE_SPELLINGS)) for c in columns),
            ",".join(c[2] for c in columns),
        ]
        (output_dir / f"{rec}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def score_official(official: ModuleType, weights_file: Path, label_dir: Path, output_dir: Path) -> dict:
    """Run the official ``evaluate_model`` end to end (it reads ``weights.csv`` from the working folder)."""
    with tempfile.TemporaryDirectory() as work:
        shutil.copyfile(weights_file, Path(work) / "weights.csv")
        old = os.getcwd()
        os.chdir(work)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                out = official.evaluate_model(str(label_dir), str(output_dir))
        finally:
            os.chdir(old)
    _, auroc, auprc, auroc_c, auprc_c, accuracy, f_measure, f_c, metric = out
    return {
        "challenge_metric": metric,
        "auroc": auroc,
        "auprc": auprc,
        "accuracy": accuracy,
        "f_measure": f_measure,
        "auroc_classes": list(auroc_c),
        "auprc_classes": list(auprc_c),
        "f_measure_classes": list(f_c),
    }


def _diff(a: Any, b: Any) -> tuple[float, bool]:
    """Largest absolute difference and whether NaNs sit in the same places."""
    x = np.atleast_1d(np.asarray(a, dtype=np.float64))
    y = np.atleast_1d(np.asarray(b, dtype=np.float64))
    if x.shape != y.shape:
        return float("inf"), False
    nan_x, nan_y = np.isnan(x), np.isnan(y)
    if not np.array_equal(nan_x, nan_y):
        return float("inf"), False
    ok = ~nan_x
    return (float(np.max(np.abs(x[ok] - y[ok]))) if ok.any() else 0.0), True


def compare(
    official_path: str | Path,
    weights_file: str | Path | None = None,
    n_trials: int = 200,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Score ``n_trials`` random folders with both implementations; return the agreement summary."""
    official = load_official(official_path)
    weights_path = Path(weights_file) if weights_file is not None else cinc2021.default_weights_file()
    classes, _ = cinc2021.load_weights(weights_path)
    rng = np.random.default_rng(seed)
    max_diff = dict.fromkeys(SUMMARY_KEYS + CLASS_KEYS, 0.0)
    nan_mismatch = dict.fromkeys(SUMMARY_KEYS + CLASS_KEYS, 0)
    n_records_total = n_no_label = n_identical = 0
    modes = {"random": 0, "all_sinus": 0, "constant": 0}
    t0 = time.perf_counter()
    for trial in range(n_trials):
        mode = "all_sinus" if trial % 25 == 7 else "constant" if trial % 25 == 13 else "random"
        modes[mode] += 1
        n_records = int(rng.integers(1, 6)) if trial % 10 == 3 else int(rng.integers(20, 200))
        with tempfile.TemporaryDirectory() as tmp:
            label_dir, output_dir = Path(tmp) / "labels", Path(tmp) / "outputs"
            label_dir.mkdir()
            output_dir.mkdir()
            write_trial(rng, classes, label_dir, output_dir, n_records, mode)
            ours = cinc2021.score_directories(label_dir, output_dir, weights_path)
            theirs = score_official(official, weights_path, label_dir, output_dir)
        n_records_total += ours["n_records"]
        n_no_label += ours["n_records_without_scored_label"]
        identical = True
        for key in SUMMARY_KEYS + CLASS_KEYS:
            d, same_nan = _diff(ours[key], theirs[key])
            max_diff[key] = max(max_diff[key], d)
            nan_mismatch[key] += int(not same_nan)
            identical &= same_nan and d == 0.0
        n_identical += int(identical)
        if progress is not None:
            progress(trial + 1, n_trials)
    return {
        "official_code": "physionetchallenges/evaluation-2021 evaluate_model.py + helper_code.py (final 2021)",
        "official_path_name": Path(official_path).name,
        "weights_file": weights_path.name,
        "n_trials": n_trials,
        "trial_modes": modes,
        "seed": seed,
        "n_records_total": n_records_total,
        "n_records_without_scored_label": n_no_label,
        "max_abs_diff": max_diff,
        "nan_position_mismatches": nan_mismatch,
        "trials_bit_identical": n_identical,
        "seconds": round(time.perf_counter() - t0, 2),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--official", required=True, help="path to the official evaluate_model.py")
    ap.add_argument("--weights", default=None, help="weights.csv (default: the one shipped with LeanECG)")
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tol", type=float, default=1e-9)
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    args = ap.parse_args(argv)
    summary = compare(args.official, args.weights, args.trials, args.seed)
    worst = max(summary["max_abs_diff"].values())
    summary["tolerance"] = args.tol
    summary["agree"] = bool(worst <= args.tol and not any(summary["nan_position_mismatches"].values()))
    write_json(args.out, summary)
    print(f"max abs diff {worst:.3g} over {args.trials} trials; agree={summary['agree']}; wrote {args.out}")
    return 0 if summary["agree"] else 1


if __name__ == "__main__":
    sys.exit(main())
