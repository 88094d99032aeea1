"""Pruning a CinC 2017 model package: accuracy vs cost, structured channel pruning and unstructured sparsity.

Protocol (one run, one CPU thread; the package's own task data, split and preprocessing):

* the original model is re-evaluated on the test split (F1 = the CinC 2017 score, mean of the N/A/O F1s,
  with a 95 % bootstrap CI) and costed (params, MACs, fp32 bytes, batch-1 latency);
* **structured**: for every ``--reductions`` value r, :func:`leanecg.compress.prune.prune_channels` removes
  whole channels until the MACs fall by at least r (consistent channel groups across depthwise convs,
  residual adds, squeeze-excite and the head), then the smaller model is fine-tuned with the task's recipe
  (``--epochs`` epochs, cosine decay from ``--lr``, best epoch by validation F1) and, by default, with the
  unpruned original as teacher (knowledge distillation, T = 4, hard-label weight ``--kd``); it is evaluated
  before and after fine-tuning;
* **unstructured**: for every ``--sparsities`` value s, global L1 magnitude pruning of s of the conv/linear
  weights, fine-tuned with the masks attached, then made permanent (dense MACs are unchanged; the
  non-zero weights are reported);
* **control**: the unpruned model fine-tuned with the same recipe (self-distillation), so that gains or
  losses from the extra training are not credited to pruning;
* latency: every model is timed interleaved with the original (same run), batch 1, one thread; medians;
* the model with the done-when reduction (0.5) is saved as a model package in a temporary folder, loaded
  back (its config rebuilds the pruned architecture) and checked to give the same predictions.

Usage::

    python benchmarks/prune_cinc2017.py [--model PACKAGE] [--data-dir PATH] [--out-dir DIR] [--name STEM]

Default ``--model``: the package shipped in ``src/leanecg/zoo/cinc2017/``. Writes ``NAME.json`` and ``NAME.md`` (default ``prune_cinc2017``).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy / torch are imported: one thread everywhere

import argparse  # noqa: E402
import copy  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from leanecg.atomic import atomic_open, write_json  # noqa: E402
from leanecg.compress.prune import magnitude_prune, make_permanent, prune_channels, sparsity  # noqa: E402
from leanecg.compress.tasks import (  # noqa: E402
    distill_fine_tune,
    evaluate_model,
    fine_tune,
    fine_tune_config,
    model_cost,
    package_task,
    predict_split,
    primary,
    takes_features,
)
from leanecg.errors import LeanECGError  # noqa: E402
from leanecg.provenance import collect_provenance  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DONE_WHEN_REDUCTION = 0.5
DONE_WHEN_MAX_F1_LOSS = 0.01


def _metric(ev: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: ev["metrics"][name].get(k) for k in ("value", "ci_low", "ci_high")}


def _row(
    kind: str, setting: float | None, model: torch.nn.Module, ev: dict, cost: dict, **extra: Any
) -> dict:
    return {
        "kind": kind,
        "setting": setting,
        "f1": _metric(ev, "f1"),
        "params": cost["params"],
        "nonzero_params": int(sum(int((p != 0).sum()) for p in model.parameters())),
        "macs": cost["macs"],
        "bytes_fp32": cost["bytes_fp32"],
        "latency_ms_median": cost["latency_ms_median"],
        "latency_ratio_vs_original": cost["latency_ratio_vs_reference"],
        **extra,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model",
        default="cinc2017",
        help="model package folder or shipped name of a network (default: the shipped cinc2017 model, which "
        "is boosted trees now: give a network package)",
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="folder holding cinc2017/")
    parser.add_argument("--out-dir", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--name", default="prune_cinc2017", help="output file stem (NAME.json, NAME.md)")
    parser.add_argument("--reductions", type=float, nargs="*", default=[0.3, 0.5, 0.7])
    parser.add_argument("--sparsities", type=float, nargs="*", default=[0.5])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--max-seconds", type=float, default=150.0, help="time budget of each fine-tune")
    parser.add_argument("--no-control", action="store_true", help="skip the fine-tuned unpruned control")
    parser.add_argument(
        "--kd",
        type=float,
        default=0.5,
        metavar="ALPHA",
        help="fine-tune with the unpruned original as teacher (knowledge distillation, T = 4, hard-label "
        "weight ALPHA); 1: hard labels only",
    )
    parser.add_argument(
        "--allocation",
        choices=("uniform", "global"),
        nargs="+",
        default=["uniform"],
        help="channel allocation(s) of structured pruning (leanecg.compress.prune.prune_channels)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-boot", type=int, default=1000)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data_dir = args.data_dir or Path(os.environ.get("LEANECG_DATA", REPO.parent / "shared" / "data"))
    t_run = time.perf_counter()
    try:
        pt = package_task(args.model, data_dir)
    except LeanECGError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    original = pt.package.model.eval()
    if not any(p.requires_grad for p in original.parameters()):
        print(
            f"error: {pt.package.path}: model {pt.package.name} has no trainable channels to prune (boosted "
            "trees); give --model a network package, e.g. one `leanecg bench cinc2017 --models wide_deep_lite "
            "--save-models DIR` writes",
            file=sys.stderr,
        )
        return 2
    shape = (pt.data.train.n_leads, pt.data.input_samples)
    extra = {"features": (pt.data.n_features,)} if takes_features(original) else None

    def cfg() -> Any:
        return fine_tune_config(
            pt, epochs=args.epochs, lr=args.lr, seed=args.seed, max_seconds=args.max_seconds
        )

    def tune(m: torch.nn.Module) -> Any:
        if args.kd >= 1.0:
            return fine_tune(m, pt, cfg())
        return distill_fine_tune(m, original, pt, cfg(), temperature=4.0, alpha=args.kd)

    def evaluate(m: torch.nn.Module) -> dict[str, Any]:
        return evaluate_model(m, pt, n_boot=args.n_boot, seed=args.seed)

    rows = []
    ev0 = evaluate(original)
    cost0 = model_cost(original, pt, original, "original")
    rows.append(_row("original", None, original, ev0, cost0))
    f1_0 = primary(ev0, pt)
    print(f"original: F1 {f1_0:.4f}, MACs {cost0['macs']:,}, params {cost0['params']:,}")

    if not args.no_control:
        m = copy.deepcopy(original)
        res = tune(m)
        rows.append(
            _row(
                "control",
                None,
                m,
                evaluate(m),
                model_cost(m, pt, original, "original"),
                epochs_run=res.epochs_run,
                val_f1=res.best_val_metric,
            )
        )
        print(f"control (fine-tuned, unpruned): F1 {rows[-1]['f1']['value']:.4f}")

    roundtrip: dict[str, Any] | None = None
    for r, allocation in ((r, a) for a in args.allocation for r in args.reductions):
        pruned, info = prune_channels(original, r, shape, extra_inputs=extra, allocation=allocation)
        f1_before_ft = primary(evaluate(pruned), pt)
        res = tune(pruned)
        ev = evaluate(pruned)
        rows.append(
            _row(
                "structured",
                r,
                pruned,
                ev,
                model_cost(pruned, pt, original, "original"),
                f1_before_finetune=f1_before_ft,
                channel_ratio=info["ratio"],
                allocation=info["allocation"],
                val_f1=res.best_val_metric,
                channels=info["channels"],
                epochs_run=res.epochs_run,
            )
        )
        print(
            f"structured {r:.0%} ({allocation}): MACs {info['macs_before']:,} -> {info['macs_after']:,}, "
            f"F1 {f1_before_ft:.4f} (pruned) -> {primary(ev, pt):.4f} (fine-tuned)"
        )
        if abs(r - DONE_WHEN_REDUCTION) < 1e-9 and roundtrip is None:
            roundtrip = _package_roundtrip(pruned, pt, ev, rows[-1])

    for s in args.sparsities:
        m = copy.deepcopy(original)
        magnitude_prune(m, s)
        f1_before_ft = primary(evaluate(m), pt)
        res = tune(m)
        make_permanent(m)
        rows.append(
            _row(
                "unstructured",
                s,
                m,
                evaluate(m),
                model_cost(m, pt, original, "original"),
                f1_before_finetune=f1_before_ft,
                weight_sparsity=sparsity(m),
                epochs_run=res.epochs_run,
                val_f1=res.best_val_metric,
            )
        )
        print(f"unstructured {s:.0%}: F1 {f1_before_ft:.4f} (pruned) -> {rows[-1]['f1']['value']:.4f}")

    targets = [x for x in rows if x["kind"] == "structured" and x["setting"] == DONE_WHEN_REDUCTION]
    done = None
    if targets:
        best = max(targets, key=lambda x: x["val_f1"])  # chosen on the validation split, not the test
        macs_drop = 1 - best["macs"] / rows[0]["macs"]
        f1_loss = f1_0 - best["f1"]["value"]
        done = {
            "allocation": best["allocation"],
            "macs_reduction": macs_drop,
            "f1_loss_points": 100 * f1_loss,
            "met": bool(macs_drop >= DONE_WHEN_REDUCTION and f1_loss <= DONE_WHEN_MAX_F1_LOSS),
            "note": "allocation chosen by validation F1 (all are listed)" if len(targets) > 1 else "",
        }
    meta = pt.package.meta
    result = {
        "benchmark": "prune_cinc2017",
        "model": {"package": str(pt.package.name), "architecture": meta.get("model_name")},
        "task": pt.task.name,
        "metric": "CinC 2017 F1 (mean of N, A, O F1) on the test split, 95 % bootstrap CI",
        "data": {k: pt.data.info.get(k) for k in ("dataset", "split", "n_train", "n_val", "n_test")},
        "fine_tune": cfg().to_dict()
        | {"distill_from_original": None if args.kd >= 1.0 else {"temperature": 4.0, "alpha": args.kd}},
        "rows": rows,
        "done_when": done,
        "package_roundtrip": roundtrip,
        "seconds_total": time.perf_counter() - t_run,
        "arguments": " ".join(argv if argv is not None else sys.argv[1:]),
        "provenance": collect_provenance(seed=args.seed, config=_portable(vars(args))),
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_json(args.out_dir / f"{args.name}.json", result)
    with atomic_open(args.out_dir / f"{args.name}.md") as fh:
        fh.write(markdown(result))
    print(markdown(result))
    return 0


def _package_roundtrip(
    model: torch.nn.Module, pt: Any, ev: dict[str, Any], row: dict[str, Any]
) -> dict[str, Any]:
    """Save the pruned model as a package, load it back, compare its test predictions."""
    from leanecg.evaluate.results import make_result
    from leanecg.models.registry import model_config
    from leanecg.package import open_model
    from leanecg.package.model import save_model_package

    meta = pt.package.meta
    name = str(meta.get("model_name"))
    result = make_result(
        task=pt.task.name,
        model=name,
        primary_metric=pt.task.primary_metric,
        metrics=ev["metrics"],
        cost={k: row[k] for k in ("params", "macs", "bytes_fp32", "latency_ms_median")},
        data=pt.data.info,
        provenance=collect_provenance(seed=0),
        variant={"compression": "prune0.5"},
        train={"model_config": model_config(model)},
    )
    with tempfile.TemporaryDirectory() as tmp:
        save_model_package(
            Path(tmp) / "pkg", model, pt.task, pt.data, result, name=f"{pt.task.name}/{name}-pruned"
        )
        back = open_model(Path(tmp) / "pkg", prefer="torch")
        p0 = predict_split(model, pt.data.test)
        p1 = predict_split(back.model, pt.data.test)
        return {
            "saved_and_loaded": True,
            "pruned_channels_in_config": "pruned_channels" in model_config(back.model),
            "max_abs_prob_diff": float(np.abs(p0 - p1).max()),
        }


def _portable(config: dict[str, Any]) -> dict[str, Any]:
    """The arguments with paths made relative to the repository (no absolute paths of this machine)."""
    out = {}
    for k, v in config.items():
        if isinstance(v, Path):
            v = str(v.relative_to(REPO)) if v.is_relative_to(REPO) else f"<{k}>"
        out[k] = v
    return out


def markdown(r: dict[str, Any]) -> str:
    rows = r["rows"]
    lines = [
        f"# Pruning `{r['model']['package']}` ({r['model']['architecture']}) on {r['task']}",
        "",
        f"Metric: {r['metric']}. Test records: {r['data']['n_test']}. Fine-tune: {r['fine_tune']['epochs']} "
        f"epochs at most, lr {r['fine_tune']['lr']:g} ({r['fine_tune']['schedule']} decay), "
        + (
            "with the unpruned original as teacher (KD), "
            if r["fine_tune"].get("distill_from_original")
            else ""
        )
        + f"budget {r['fine_tune']['max_train_seconds']} s, best "
        "epoch by validation F1. Latency: batch 1, one thread, median, timed interleaved with the original.",
        "",
        "| model | setting | F1 right after pruning | F1 [95 % CI] | val F1 | params (non-zero) | MACs "
        "| latency ms (x orig.) |",
        "|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for x in rows:
        f = x["f1"]
        setting = (
            ""
            if x["setting"] is None
            else (
                f"-{x['setting']:.0%} MACs, {x['allocation']}"
                if x["kind"] == "structured"
                else f"{x['setting']:.0%} sparse"
            )
        )
        before = x.get("f1_before_finetune")
        lines.append(
            f"| {x['kind']} | {setting} | {'' if before is None else f'{before:.4f}'} | "
            f"{f['value']:.4f} [{f['ci_low']:.4f}, {f['ci_high']:.4f}] | "
            f"{'' if x.get('val_f1') is None else format(x['val_f1'], '.4f')} | {x['params']:,} ({x['nonzero_params']:,}) "
            f"| {x['macs']:,} | {x['latency_ms_median']:.3f} ({x['latency_ratio_vs_original']:.2f}) |"
        )
    d = r.get("done_when")
    if d:
        lines += [
            "",
            f"Done-when (>= 50 % fewer MACs, <= 1 pt F1 loss; {d['allocation']} allocation"
            f"{', ' + d['note'] if d.get('note') else ''}): MACs -{d['macs_reduction']:.1%}, "
            f"F1 loss {d['f1_loss_points']:+.2f} pt -> **{'met' if d['met'] else 'NOT met'}**.",
        ]
    rt = r.get("package_roundtrip")
    if rt:
        lines.append(
            f"Pruned model saved as a package and loaded back: max probability difference "
            f"{rt['max_abs_prob_diff']:.2e}."
        )
    lines += [
        "Unstructured rows keep dense MACs (zeros are still multiplied); the control row is the unpruned model "
        "fine-tuned with the same recipe.",
        f"Total runtime {r['seconds_total']:.0f} s. Command: `python benchmarks/prune_cinc2017.py "
        f"{r['arguments']}`.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
