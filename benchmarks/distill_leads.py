"""12-lead -> 1-lead knowledge distillation on PTB-XL: does a 12-lead teacher help a single-lead student?

Protocol (everything in one run, one CPU thread):

* data: PTB-XL records on disk (``ptbxl/``, 100 Hz, 10 s), diagnostic superclasses NORM/MI/STTC/CD/HYP
  (multi-label; records without a superclass are dropped, as in the PTB-XL benchmark code), the recommended
  ``strat_fold`` split (1-8 train, 9 validation, 10 test); preprocessing: 0.5-40 Hz band-pass, per-lead
  z-score (:class:`leanecg.signal.Pipeline`, cached on disk); training crops of ``--crop`` samples, whole
  records at test time;
* teacher: ``--teacher`` (default ``litenet`` at width 2; chosen among litenet x1/x2, resnet1d x0.25 and
  mobilenet_v3 by *validation* macro AUROC) on all 12 leads, trained once (seed 0) with the students'
  recipe (binary cross-entropy, mixup ``Beta(--mixup, --mixup)``, crops);
* for every seed, three students (``--student`` on one lead, ``--lead``), all built from the *same initial
  weights* and trained with the same data order, crops and epochs:
  (a) **plain**: hard labels, no mixup; (b) **control**: hard labels with the same mixup as (c), no teacher
  (:func:`leanecg.compress.distill.mixup_fit`); (c) **distilled**: (b) plus the teacher's soft targets on
  the same mixed records (:func:`leanecg.compress.distill.distill`, temperature ``--temperature``, hard-label
  weight ``--alpha``); the teacher sees the 12 leads of the same records, crops and mixing;
  optional (d) distilled from ``--teacher-folds`` out-of-fold teachers (no mixup);
* model selection: best epoch by validation macro AUROC (early stopping), for teacher and students alike;
* metric: macro AUROC over the superclasses on the test fold (fold 10), per seed; summary mean and sample
  standard deviation over seeds, and the paired differences (distilled - plain, distilled - control).

Usage::

    python benchmarks/distill_leads.py [--data-dir PATH] [--seeds 0 1 2] [--out-dir benchmarks/results]

Writes ``distill_leads.json`` and ``distill_leads.md`` to ``--out-dir``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy / torch are imported: one thread everywhere

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from leanecg.atomic import atomic_open, write_json  # noqa: E402
from leanecg.compress.distill import (  # noqa: E402
    DistillConfig,
    cross_fit_teachers,
    distill,
    mixup_fit,
    select_leads,
)
from leanecg.data import get_dataset  # noqa: E402
from leanecg.data.cache import cached_record_signal  # noqa: E402
from leanecg.errors import LeanECGError  # noqa: E402
from leanecg.evaluate.multilabel import multilabel_metrics  # noqa: E402
from leanecg.models.registry import build_model, count_parameters  # noqa: E402
from leanecg.provenance import collect_provenance  # noqa: E402
from leanecg.signal.pipeline import Pipeline  # noqa: E402
from leanecg.train.datasets import ArraySplit  # noqa: E402
from leanecg.train.seed import seed_everything  # noqa: E402
from leanecg.train.trainer import TrainConfig, TrainResult, fit, predict_proba  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
CLASSES = ("NORM", "MI", "STTC", "CD", "HYP")


def macro_auroc(y: np.ndarray, proba: np.ndarray) -> float:
    """Macro AUROC over the classes that have positives and negatives in ``y``."""
    return float(multilabel_metrics(y, proba)["auroc"])


def load_ptbxl(root: Path) -> tuple[dict[str, ArraySplit], dict[str, Any]]:
    """The three splits (12 leads, channels-first) and a description of the data."""
    ds = get_dataset("ptbxl")
    folder = root / "ptbxl"
    if not folder.is_dir():
        raise LeanECGError(folder, "PTB-XL is not there; pass --data-dir (the folder holding ptbxl/)")
    pipeline = Pipeline(
        [
            {"op": "leads", "leads": list(LEADS)},
            {"op": "bandpass", "low_hz": 0.5, "high_hz": 40.0},
            {"op": "zscore"},
        ]
    )
    splits, info = {}, {"dataset": "ptbxl", "split": "strat_fold 1-8 train / 9 val / 10 test", "dropped": {}}
    for name, records in ds.split(folder).items():
        y = ds.superclass_matrix(folder, records).astype(np.float32)
        keep = y.sum(axis=1) > 0
        info["dropped"][name] = int((~keep).sum())
        recs = [r for r, k in zip(records, keep, strict=True) if k]
        X = []
        for r in recs:
            x, _ = cached_record_signal(ds.record_path(folder, r), transform=pipeline)
            X.append(np.asarray(x, dtype=np.float32).T)
        lengths = {x.shape[1] for x in X}
        stacked: Any = np.stack(X) if len(lengths) == 1 else X
        splits[name] = ArraySplit(stacked, y[keep], name=name)
        info[f"n_{name}"] = len(recs)
        info[f"positives_{name}"] = dict(zip(CLASSES, y[keep].sum(axis=0).astype(int).tolist(), strict=True))
    info["pipeline"] = pipeline.to_dict()
    return splits, info


def train_config(args: argparse.Namespace, seed: int) -> TrainConfig:
    return TrainConfig(
        epochs=args.epochs,
        batch_size=32,
        lr=args.lr,
        loss="bce",
        early_stopping_patience=args.patience,
        crop_samples=args.crop or None,
        num_threads=1,
        seed=seed,
    )


def distil_student(
    args: argparse.Namespace,
    seed: int,
    init: dict[str, torch.Tensor],
    teacher: torch.nn.Module,
    dcfg: DistillConfig,
    splits: tuple[ArraySplit, ArraySplit, ArraySplit],
) -> tuple[TrainResult, float, float]:
    """A ``--student`` built from the seed's initial weights ``init``, distilled from ``teacher`` with ``dcfg``.

    ``splits``: the 12-lead training and validation splits and the one-lead test split. Returns the
    :class:`TrainResult`, the test macro AUROC and the seconds taken (training and test prediction).
    """
    train, val, test1 = splits
    student = build_model(args.student, n_leads=1, n_classes=len(CLASSES), width=args.student_width)
    student.load_state_dict(init)
    t0 = time.perf_counter()
    res = distill(
        student, teacher, train, val, train_config(args, seed), dcfg, metric_fn=macro_auroc, progress=False
    )
    return res, macro_auroc(test1.y, predict_proba(student, test1)), time.perf_counter() - t0


def student_columns(prefix: str, res: TrainResult, test_auroc: float) -> dict[str, Any]:
    """One student's columns of a per-seed row: ``PREFIX_test_macro_auroc``, ``PREFIX_val_macro_auroc``
    (best epoch) and ``PREFIX_best_epoch``."""
    return {
        f"{prefix}_test_macro_auroc": test_auroc,
        f"{prefix}_val_macro_auroc": res.best_val_metric,
        f"{prefix}_best_epoch": res.best_epoch,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="folder holding ptbxl/")
    parser.add_argument("--out-dir", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--teacher", default="litenet")
    parser.add_argument("--teacher-width", type=float, default=2.0)
    parser.add_argument("--student", default="litenet")
    parser.add_argument("--student-width", type=float, default=1.0)
    parser.add_argument("--lead", default="I", choices=LEADS, help="the student's lead")
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--feature-weight", type=float, default=0.0)
    parser.add_argument(
        "--teacher-folds",
        type=int,
        default=0,
        help="also distil from K out-of-fold teachers (each trained without one fold of the training "
        "records, so every record's soft targets come from a teacher that did not see it); 0: off",
    )
    parser.add_argument(
        "--mixup",
        type=float,
        default=0.5,
        help="Beta(a, a) mixup of the training batches for the distilled student and its no-teacher "
        "control (the teacher labels the mixed records); 0: off",
    )
    parser.add_argument(
        "--crop", type=int, default=800, help="random training crop (samples); 0: full records"
    )
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--lr", type=float, default=3e-3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data_dir = args.data_dir or Path(os.environ.get("LEANECG_DATA", REPO.parent / "shared" / "data"))
    t_run = time.perf_counter()
    try:
        splits, info = load_ptbxl(Path(data_dir))
    except LeanECGError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    train, val, test = splits["train"], splits["val"], splits["test"]
    lead = LEADS.index(args.lead)
    train1, val1, test1 = (select_leads(s, [lead]) for s in (train, val, test))
    n_classes = len(CLASSES)

    # teacher: 12 leads, seed 0
    t0 = time.perf_counter()
    seed_everything(0)
    teacher = build_model(args.teacher, n_leads=12, n_classes=n_classes, width=args.teacher_width)
    if args.mixup > 0:  # the teacher is trained with the students' recipe (mixup + crops)
        t_res = mixup_fit(teacher, train, val, train_config(args, 0), args.mixup, macro_auroc, progress=False)
    else:
        t_res = fit(teacher, train, val, train_config(args, 0), metric_fn=macro_auroc, progress=False)
    teacher_auroc = macro_auroc(test.y, predict_proba(teacher, test))
    teacher_block = {
        "model": args.teacher,
        "width": args.teacher_width,
        "leads": list(LEADS),
        "params": count_parameters(teacher),
        "recipe": f"mixup Beta({args.mixup:g}, {args.mixup:g}) + crops" if args.mixup > 0 else "crops",
        "test_macro_auroc": teacher_auroc,
        "best_epoch": t_res.best_epoch,
        "epochs_run": t_res.epochs_run,
        "seconds": time.perf_counter() - t0,
    }
    print(f"teacher {args.teacher}: test macro AUROC {teacher_auroc:.4f} ({teacher_block['seconds']:.0f} s)")
    teacher_block["train_macro_auroc"] = macro_auroc(train.y, predict_proba(teacher, train))
    cross = None
    if args.teacher_folds >= 2:
        t0 = time.perf_counter()
        cross = cross_fit_teachers(
            lambda: build_model(args.teacher, n_leads=12, n_classes=n_classes, width=args.teacher_width),
            train,
            val,
            train_config(args, 0),
            n_folds=args.teacher_folds,
            metric_fn=macro_auroc,
            seed=0,
        )
        oof = np.zeros_like(train.y)
        for k, t in enumerate(cross.teachers):
            rows_k = np.flatnonzero(cross.folds.numpy() == k)
            oof[rows_k] = predict_proba(t, train.subset(rows_k))
        teacher_block["cross_fit"] = {
            "folds": args.teacher_folds,
            "out_of_fold_train_macro_auroc": macro_auroc(train.y, oof),
            "ensemble_test_macro_auroc": macro_auroc(test.y, predict_proba(cross, test, multilabel=True)),
            "seconds": time.perf_counter() - t0,
        }
        print(f"{args.teacher_folds} out-of-fold teachers: {teacher_block['cross_fit']}")

    dcfg = DistillConfig(
        temperature=args.temperature,
        alpha=args.alpha,
        feature_weight=args.feature_weight,
        student_leads=[lead],
        teacher_leads=None,
        mixup=args.mixup,
    )
    control_cfg = DistillConfig(alpha=1.0, student_leads=[lead], mixup=args.mixup)
    rows = []
    for seed in args.seeds:
        seed_everything(seed)
        base = build_model(args.student, n_leads=1, n_classes=n_classes, width=args.student_width)
        init = {k: v.clone() for k, v in base.state_dict().items()}
        t0 = time.perf_counter()
        b_res = fit(base, train1, val1, train_config(args, seed), metric_fn=macro_auroc, progress=False)
        b_auc = macro_auroc(test1.y, predict_proba(base, test1))
        t_base = time.perf_counter() - t0

        d_res, d_auc, t_dist = distil_student(args, seed, init, teacher, dcfg, (train, val, test1))
        row = {
            "seed": seed,
            **student_columns("baseline", b_res, b_auc),
            **student_columns("distilled", d_res, d_auc),
            "difference": d_auc - b_auc,
            "baseline_seconds": t_base,
            "distilled_seconds": t_dist,
        }
        if args.mixup > 0:  # the same recipe (mixup, crops) without the teacher term
            k_res, k_auc, _ = distil_student(args, seed, init, teacher, control_cfg, (train, val, test1))
            row |= student_columns("control", k_res, k_auc) | {"difference_vs_control": d_auc - k_auc}
        if cross is not None:
            no_mixup = dataclasses.replace(dcfg, mixup=0.0)  # out-of-fold targets exist for real records only
            c_res, c_auc, _ = distil_student(args, seed, init, cross, no_mixup, (train, val, test1))
            row |= student_columns("cross_fit", c_res, c_auc) | {"cross_fit_difference": c_auc - b_auc}
        rows.append(row)
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})

    def mean_sd(key: str) -> dict[str, float]:
        v = [r[key] for r in rows]
        return {"mean": statistics.fmean(v), "sd": statistics.stdev(v) if len(v) > 1 else 0.0}

    summary: dict[str, Any] = {
        "baseline": mean_sd("baseline_test_macro_auroc"),
        "distilled": mean_sd("distilled_test_macro_auroc"),
        "difference": mean_sd("difference"),
        "seeds_distilled_better": sum(r["difference"] > 0 for r in rows),
        "n_seeds": len(rows),
        "val": {
            "baseline": mean_sd("baseline_val_macro_auroc"),
            "distilled": mean_sd("distilled_val_macro_auroc"),
        },
    }
    summary["distillation_beats_baseline"] = summary["distilled"]["mean"] > summary["baseline"]["mean"]
    if args.mixup > 0:
        summary["control"] = mean_sd("control_test_macro_auroc")
        summary["difference_vs_control"] = mean_sd("difference_vs_control")
        summary["seeds_distilled_better_than_control"] = sum(r["difference_vs_control"] > 0 for r in rows)
        summary["val"]["control"] = mean_sd("control_val_macro_auroc")
        summary["distillation_beats_control"] = summary["distilled"]["mean"] > summary["control"]["mean"]
    if cross is not None:
        summary["cross_fit"] = mean_sd("cross_fit_test_macro_auroc")
        summary["cross_fit_difference"] = mean_sd("cross_fit_difference")
        summary["seeds_cross_fit_better"] = sum(r["cross_fit_difference"] > 0 for r in rows)
        summary["val"]["cross_fit"] = mean_sd("cross_fit_val_macro_auroc")
        summary["cross_fit_beats_baseline"] = summary["cross_fit"]["mean"] > summary["baseline"]["mean"]
    result = {
        "benchmark": "distill_leads",
        "question": f"12-lead {args.teacher} teacher -> 1-lead ({args.lead}) {args.student} student, PTB-XL",
        "metric": "macro AUROC over diagnostic superclasses (test fold 10)",
        "data": info,
        "student": {
            "model": args.student,
            "width": args.student_width,
            "lead": args.lead,
            "params": count_parameters(build_model(args.student, 1, n_classes, width=args.student_width)),
        },
        "teacher": teacher_block,
        "distill": dcfg.to_dict(),
        "train": train_config(args, 0).to_dict() | {"seed": "per row"},
        "per_seed": rows,
        "summary": summary,
        "seconds_total": time.perf_counter() - t_run,
        "provenance": collect_provenance(seed=None, config=_portable(vars(args))),
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_json(args.out_dir / "distill_leads.json", result)
    with atomic_open(args.out_dir / "distill_leads.md") as fh:
        fh.write(markdown(result))
    print(markdown(result))
    return 0


def _portable(config: dict[str, Any]) -> dict[str, Any]:
    """The arguments with paths made relative to the repository (no absolute paths of this machine)."""
    out = {}
    for k, v in config.items():
        if isinstance(v, Path):
            v = str(v.relative_to(REPO)) if v.is_relative_to(REPO) else f"<{k}>"
        out[k] = v
    return out


def markdown(r: dict[str, Any]) -> str:
    s, t, d = r["summary"], r["teacher"], r["distill"]
    cf = t.get("cross_fit")
    lines = [
        "# 12-lead -> 1-lead knowledge distillation (PTB-XL)",
        "",
        f"- Question: {r['question']}; metric: {r['metric']}.",
        f"- Data: {r['data']['split']}; train {r['data']['n_train']}, val {r['data']['n_val']}, "
        f"test {r['data']['n_test']} records (records without a superclass dropped).",
        f"- Teacher: `{t['model']}` width {t['width']}, 12 leads, {t['params']:,} parameters, trained with "
        f"{t.get('recipe', 'crops')}, seed 0: "
        f"test macro AUROC {t['test_macro_auroc']:.4f}, training-set macro AUROC {t['train_macro_auroc']:.4f}.",
    ]
    if cf:
        lines.append(
            f"- Out-of-fold teachers: {cf['folds']} teachers of the same kind, teacher k trained without fold k "
            f"of the training records; every training record is soft-labelled by the teacher that did not see "
            f"it (out-of-fold training macro AUROC {cf['out_of_fold_train_macro_auroc']:.4f}; their ensemble "
            f"scores {cf['ensemble_test_macro_auroc']:.4f} on the test fold)."
        )
    lines += [
        f"- Student: `{r['student']['model']}` width {r['student']['width']}, lead {r['student']['lead']}, "
        f"{r['student']['params']:,} parameters; every arm of a seed starts from the same initial weights, "
        "with the same data order, crops and epochs; best epoch by validation macro AUROC.",
        f"- Distillation: T = {d['temperature']:g}, alpha (hard-label weight) = {d['alpha']:g}, "
        f"feature matching weight = {d['feature_weight']:g}, mixup Beta({d['mixup']:g}, {d['mixup']:g}), random "
        f"training crops of {r['train']['crop_samples']} samples (test: whole records).",
        "",
    ]
    arms = [("baseline", "student alone (crops, no mixup)")]
    if "control" in s:
        arms.append(("control", "student alone, same recipe (mixup + crops), no teacher"))
    arms.append(("distilled", "distilled (12-lead teacher)"))
    if cf:
        arms.append(("cross_fit", "distilled, out-of-fold teachers, no mixup"))
    diffs = [("difference", "distilled - plain")]
    if "control" in s:
        diffs.append(("difference_vs_control", "distilled - same-recipe control"))
    lines += [
        "| seed | " + " | ".join(t for _, t in arms) + " | " + " | ".join(t for _, t in diffs) + " |",
        "|---:|" + "---:|" * (len(arms) + len(diffs)),
    ]
    for row in r["per_seed"]:
        cells = [f"{row[f'{k}_test_macro_auroc']:.4f}" for k, _ in arms] + [
            f"{row[k]:+.4f}" for k, _ in diffs
        ]
        lines.append(f"| {row['seed']} | " + " | ".join(cells) + " |")

    def ms(x: dict[str, float], sign: str = "") -> str:
        return f"**{x['mean']:{sign}.4f} ± {x['sd']:.4f}**"

    cells = [ms(s[k]) for k, _ in arms] + [ms(s[k], "+") for k, _ in diffs]
    lines += ["| **mean ± sd** | " + " | ".join(cells) + " |", ""]
    val = s["val"]
    lines.append(
        "Validation (fold 9) mean macro AUROC: "
        + ", ".join(f"{t} {val[k]['mean']:.4f}" for k, t in arms if k in val)
        + "."
    )
    lines.append(
        f"Distilled vs plain student: better on {s['seeds_distilled_better']} of {s['n_seeds']} seeds, "
        f"{'beats' if s['distillation_beats_baseline'] else 'does NOT beat'} it on the mean."
    )
    if "control" in s:
        lines.append(
            f"Distilled vs same-recipe control: better on {s['seeds_distilled_better_than_control']} of "
            f"{s['n_seeds']} seeds, {'beats' if s['distillation_beats_control'] else 'does NOT beat'} it on the mean."
        )
    if cf:
        lines.append(
            f"Out-of-fold teachers: better on {s['seeds_cross_fit_better']} of {s['n_seeds']} seeds, "
            f"{'beats' if s['cross_fit_beats_baseline'] else 'does NOT beat'} the student alone on the mean."
        )
    lines += [
        f"Total runtime {r['seconds_total']:.0f} s on one thread. Command: `python benchmarks/distill_leads.py`.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
