"""Faithfulness of ``leanecg explain``'s relevance maps on the shipped models (issue 14 item 1).

For each method (integrated gradients, 1-D Grad-CAM, occlusion) and the shipped models, on a seeded,
class-stratified subset of

* the **cinc2017 test split** (``--records-per-class`` records per class; the package's own preprocessing and
  record features), explaining each record's predicted class, and
* **DS2 beats** (``--beats-per-class`` beats per AAMI class N/S/V/F from the 22 DS2 records at the reference
  beat positions, with the package's beat features), explaining each beat's predicted class,

the script measures (:mod:`leanecg.explain.faithfulness`):

1. **deletion** and **insertion** curves: the predicted-class probability (at the package's temperature) as
   0, 10, ..., 100 % of the input samples are replaced by the method's baseline, most relevant first
   (deletion), or restored from the baseline, most relevant first (insertion); the same curves in a random
   order (``--random-orders`` seeded orders, averaged) are the reference. Per input, the area under the
   curve (AUC, fractions 0..1) minus the random order's: mean with a bootstrap 95 % CI over records (cinc2017)
   or over DS2 records holding the beats (beats). A method **passes** deletion when the CI of
   ``AUC_del(method) - AUC_del(random)`` lies below 0, insertion when the CI of the insertion difference lies
   above 0.
   cinc2017 has two variants: ``deployed`` (the record features are recomputed from each perturbed input, as
   ``leanecg predict`` would) and ``network`` (features held at the record's values: what the gradient
   methods explain); beats hold their beat features (RR intervals, template correlations).
2. **model randomisation**: the maps of the same method for the same architecture with freshly initialised
   random weights (seeded); Spearman rank correlation with the trained model's map per input, mean with CI.
   A map "depends on the weights" when the mean correlation is at most 0.5.

Usage (reduced size stated in the output; about 15-25 min on one loaded CPU core)::

    python benchmarks/explain_faithfulness.py --data-dir ../shared/data [--records-per-class 10]
        [--beats-per-class 100] [--steps 16] [--seed 0] [--out-dir benchmarks/results]

Writes ``explain.json`` (every number, the inputs used, seed, config, provenance) and ``explain.md`` (tables)
and ``explain.png`` (mean deletion / insertion curves) to ``--out-dir``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
METHODS = ("ig", "gradcam", "occlusion")
PASS_RHO = 0.5


def default_data_dir() -> Path:
    env = os.environ.get("LEANECG_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


# ------------------------------------------------------------------------------------------------- inputs


def cinc_inputs(pkg: Any, root: Path, per_class: int, seed: int) -> list[dict[str, Any]]:
    """``per_class`` seeded test records of each class: name, label, model input ``(1, C, L)``."""
    from leanecg.data import get_dataset, load_record
    from leanecg.deploy.onnx import package_split_seed

    ds = get_dataset("cinc2017")
    folder = ds.require(root)
    test = ds.split(root)["test"]
    labels = ds.labels(root)
    rng = np.random.default_rng(seed)
    items = []
    del package_split_seed  # the cinc2017 split is seeded by the dataset (seed 2017), not by the model
    for cls in pkg.class_names:
        recs = [r for r in test if labels[r][0] == cls]
        for r in sorted(rng.choice(recs, size=min(per_class, len(recs)), replace=False)):
            rec = load_record(ds.record_path(folder, r))
            x = np.ascontiguousarray(pkg.preprocess(rec).T[None], dtype=np.float32)
            items.append({"name": str(r), "label": cls, "X": x})
    return items


def ds2_beats(pkg: Any, root: Path, per_class: int, seed: int) -> dict[str, Any]:
    """``per_class`` seeded DS2 beats of each class at the reference positions, with their beat features."""
    from leanecg.data import get_dataset, load_record
    from leanecg.data.mitdb import DS2, mitdb_beats
    from leanecg.signal.beats import beat_model_inputs, select_beat_features
    from leanecg.signal.resample import resample_indices

    ds = get_dataset("mitdb")
    folder = ds.require(root)
    spec = pkg.input
    fs = float(spec["fs"])
    beats = mitdb_beats(folder, list(DS2))
    xs, fs_, ys, gs = [], [], [], []
    for rec_name, samples, labels in zip(DS2, beats.samples, beats.labels, strict=True):
        rec = load_record(ds.record_path(folder, rec_name))
        y = pkg.preprocess(rec)
        peaks = resample_indices(samples, float(rec.fs), fs, n_out=y.shape[0])
        win, feats = beat_model_inputs(
            y,
            fs,
            peaks,
            spec["before_s"],
            spec["after_s"],
            causal=True,
            templates=True,
            history=64,
            context=True,
            only=spec["features"],
        )
        keep = np.isin(labels, list(pkg.class_names))
        xs.append(win[keep])
        fs_.append(select_beat_features(feats, spec["features"])[keep])
        ys.append(np.asarray(labels)[keep])
        gs.append(np.full(int(keep.sum()), str(rec_name)))
    X, F, Y, G = (np.concatenate(a) for a in (xs, fs_, ys, gs))
    rng = np.random.default_rng(seed)
    pick = np.sort(
        np.concatenate(
            [
                rng.choice(np.flatnonzero(Y == c), size=min(per_class, int((Y == c).sum())), replace=False)
                for c in pkg.class_names
            ]
        )
    )
    return {"X": X[pick], "features": F[pick], "labels": Y[pick], "groups": G[pick]}


# ---------------------------------------------------------------------------------------------- measuring


def _curves(
    fn: Any,
    X: np.ndarray,
    rel: np.ndarray,
    target: np.ndarray,
    base: np.ndarray,
    seed: int,
    features: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    from leanecg.explain.faithfulness import perturbation_curves

    return {
        mode: perturbation_curves(fn, X, rel, target, base, mode=mode, seed=seed, features=features)
        for mode in ("deletion", "insertion")
    }


def _relevance(
    pkg: Any, method: str, X: np.ndarray, target: np.ndarray, feats: Any, steps: int, occ: Any
) -> Any:
    from leanecg.explain.core import signal_relevance

    rel = signal_relevance(pkg, method, X, target, feats, steps=steps, occlusion_s=occ, recompute=True)
    return rel.sum(axis=1)  # (N, L): all leads of a sample together


def measure_records(
    pkg: Any, rpkg: Any, items: list[dict[str, Any]], args: argparse.Namespace, log: Any
) -> dict:
    from leanecg.explain.core import OCCLUSION_RECORD_S, input_baseline, model_proba_fn
    from leanecg.explain.faithfulness import random_relevance, rank_correlation

    variants = ("deployed", "network")
    curves: dict[str, dict[str, dict[str, list]]] = {
        v: {m: {"deletion": [], "insertion": []} for m in (*METHODS, "random")} for v in variants
    }
    rho: dict[str, list[float]] = {m: [] for m in METHODS}
    t0 = time.perf_counter()
    for i, it in enumerate(items):
        X = it["X"]
        feats = pkg.record_features(list(X))
        p = pkg.calibrate(pkg.backend.proba(X, feats, 1, pkg.multilabel))[0]
        target = np.array([int(np.argmax(p))])
        it["predicted"] = pkg.class_names[int(target[0])]
        base, _ = input_baseline(pkg, X)
        rels = {m: _relevance(pkg, m, X, target, feats, args.steps, OCCLUSION_RECORD_S) for m in METHODS}
        for m in METHODS:
            rr = _relevance(rpkg, m, X, target, rpkg.record_features(list(X)), args.steps, OCCLUSION_RECORD_S)
            rho[m].append(float(rank_correlation(rels[m], rr)[0]))
        for k in range(args.random_orders):
            rels[f"random{k}"] = random_relevance(rels["ig"].shape, args.seed + 1000 * i + k)
        for v in variants:
            fn = model_proba_fn(pkg, feats, recompute=v == "deployed")
            for name, rel in rels.items():
                c = _curves(fn, X, rel, target, base, args.seed)
                key = "random" if name.startswith("random") else name
                for mode in ("deletion", "insertion"):
                    curves[v][key][mode].append(c[mode][0])
        for v in variants:  # the random orders: one averaged curve per record
            for mode in ("deletion", "insertion"):
                lst = curves[v]["random"][mode]
                avg = np.mean(lst[-args.random_orders :], axis=0)
                del lst[-args.random_orders :]
                lst.append(avg)
        log(
            f"cinc2017 {i + 1}/{len(items)} {it['name']} ({it['label']} -> {it['predicted']}) "
            f"{time.perf_counter() - t0:.0f} s"
        )
    return {"curves": curves, "rho": rho, "groups": None}


def measure_beats(pkg: Any, rpkg: Any, beats: dict[str, Any], args: argparse.Namespace, log: Any) -> dict:
    from leanecg.explain.core import OCCLUSION_BEAT_S, input_baseline, model_proba_fn
    from leanecg.explain.faithfulness import random_relevance, rank_correlation

    X, F = beats["X"], beats["features"]
    p = pkg.calibrate(pkg.backend.proba(X, F, 256, pkg.multilabel))
    target = np.argmax(p, axis=1)
    beats["predicted"] = [pkg.class_names[int(k)] for k in target]
    base, _ = input_baseline(pkg, X)
    fn = model_proba_fn(pkg, F, recompute=False)
    curves: dict[str, dict[str, dict[str, Any]]] = {"network": {}}
    rho = {}
    for m in METHODS:
        t0 = time.perf_counter()
        rel = _relevance(pkg, m, X, target, F, args.steps, OCCLUSION_BEAT_S)
        rr = _relevance(rpkg, m, X, target, F, args.steps, OCCLUSION_BEAT_S)
        rho[m] = rank_correlation(rel, rr).tolist()
        c = _curves(fn, X, rel, target, base, args.seed, features=F)
        curves["network"][m] = {k: list(v) for k, v in c.items()}
        log(f"DS2 beats {m}: {time.perf_counter() - t0:.0f} s")
    rand = {"deletion": 0.0, "insertion": 0.0}
    for k in range(args.random_orders):
        c = _curves(
            fn, X, random_relevance(X[:, 0].shape, args.seed + k), target, base, args.seed, features=F
        )
        for mode in rand:
            rand[mode] = rand[mode] + c[mode] / args.random_orders
    curves["network"]["random"] = {k: list(v) for k, v in rand.items()}
    return {"curves": curves, "rho": rho, "groups": beats["groups"]}


def summarise(measured: dict[str, Any], n_boot: int, seed: int) -> dict[str, Any]:
    from leanecg.explain.faithfulness import FRACTIONS, curve_area, mean_ci

    groups = measured["groups"]
    out: dict[str, Any] = {"variants": {}, "randomisation": {}}
    for v, by_method in measured["curves"].items():
        rand = {mode: np.asarray(by_method["random"][mode]) for mode in ("deletion", "insertion")}
        rand_auc = {mode: curve_area(c) for mode, c in rand.items()}
        rows: dict[str, Any] = {
            "random": {
                f"{mode}_auc": mean_ci(rand_auc[mode], groups, n_boot=n_boot, seed=seed) for mode in rand
            }
        }
        rows["random"]["mean_curves"] = {mode: rand[mode].mean(axis=0).tolist() for mode in rand}
        for m in METHODS:
            c = {mode: np.asarray(by_method[m][mode]) for mode in ("deletion", "insertion")}
            auc = {mode: curve_area(x) for mode, x in c.items()}
            d_del = mean_ci(auc["deletion"] - rand_auc["deletion"], groups, n_boot=n_boot, seed=seed)
            d_ins = mean_ci(auc["insertion"] - rand_auc["insertion"], groups, n_boot=n_boot, seed=seed)
            rows[m] = {
                "deletion_auc": mean_ci(auc["deletion"], groups, n_boot=n_boot, seed=seed),
                "insertion_auc": mean_ci(auc["insertion"], groups, n_boot=n_boot, seed=seed),
                "deletion_minus_random": d_del,
                "insertion_minus_random": d_ins,
                "passes_deletion": bool(d_del["ci_high"] < 0),
                "passes_insertion": bool(d_ins["ci_low"] > 0),
                "mean_curves": {mode: x.mean(axis=0).tolist() for mode, x in c.items()},
            }
        out["variants"][v] = rows
    for m in METHODS:
        r = mean_ci(np.asarray(measured["rho"][m], dtype=float), groups, n_boot=n_boot, seed=seed)
        out["randomisation"][m] = {**r, "depends_on_weights": bool(r["mean"] <= PASS_RHO)}
    out["fractions"] = FRACTIONS.tolist()
    return out


# ---------------------------------------------------------------------------------------------- reporting

TITLES = {"ig": "integrated gradients", "gradcam": "Grad-CAM (1-D)", "occlusion": "occlusion"}


def _ci(d: dict[str, float], fmt: str = "{:+.3f}") -> str:
    return f"{fmt.format(d['mean'])} [{fmt.format(d['ci_low'])}, {fmt.format(d['ci_high'])}]"


def markdown(res: dict[str, Any]) -> str:
    cfg = res["config"]
    lines = [
        "# Faithfulness of `leanecg explain` relevance maps (shipped models)",
        "",
        f"Reduced size: cinc2017 test split, {res['cinc2017']['n']} records ({cfg['records_per_class']} per class, "
        f"seeded); DS2, {res['ds2']['n']} beats ({cfg['beats_per_class']} per class N/S/V/F where DS2 has them, "
        f"from {res['ds2']['n_records']} records, seeded). Integrated gradients: {cfg['steps']} steps; random "
        f"order: mean of {cfg['random_orders']} seeded orders per input; CIs: percentile bootstrap "
        f"({cfg['n_boot']} resamples) over records (beats: over the DS2 records holding them). Seed "
        f"{cfg['seed']}, commit `{res['provenance'].get('git_commit', 'n/a')}`. Model weights (SHA-256): "
        + "; ".join(
            f"{res[k]['model']} `{str(res[k].get('weights_sha256'))[:12]}` (T = {res[k]['temperature']:.3f})"
            for k in ("cinc2017", "ds2")
        )
        + ".",
        "",
        "AUC: area under the predicted-class probability as 0..100 % of the samples are deleted (replaced by the "
        "baseline, most relevant first) or inserted (restored into the baseline). Passes deletion: the CI of "
        "AUC(method) - AUC(random) lies below 0; insertion: above 0. Randomisation: Spearman correlation between "
        f"the maps of the trained model and of the same network with random weights (depends on the weights "
        f"when the mean is at most {PASS_RHO}).",
        "",
    ]
    for ds, title in (
        ("cinc2017", "cinc2017 (`cinc2017`, wide_deep_lite, records)"),
        ("ds2", "DS2 beats (`mitdb-aami`, beatnet)"),
    ):
        block = res[ds]
        lines += [f"## {title}", "", f"Baseline: {block['baseline']}.", ""]
        for v, rows in block["summary"]["variants"].items():
            what = {
                "deployed": "record features recomputed from each perturbed input (the model as `leanecg predict` runs it)",
                "network": "features held at the input's values (the network's signal branch)",
            }[v]
            lines += [
                f"### {v}: {what}",
                "",
                "| method | deletion AUC | - random [95 % CI] | passes | insertion AUC | - random [95 % CI] | passes |",
                "|---|---|---|---|---|---|---|",
            ]
            r = rows["random"]
            lines.append(
                f"| random order | {r['deletion_auc']['mean']:.3f} | | | {r['insertion_auc']['mean']:.3f} | | |"
            )
            for m in METHODS:
                x = rows[m]
                lines.append(
                    f"| {TITLES[m]} | {x['deletion_auc']['mean']:.3f} | {_ci(x['deletion_minus_random'])} | "
                    f"{'yes' if x['passes_deletion'] else '**no**'} | {x['insertion_auc']['mean']:.3f} | "
                    f"{_ci(x['insertion_minus_random'])} | {'yes' if x['passes_insertion'] else '**no**'} |"
                )
            lines.append("")
        lines += [
            "### model randomisation",
            "",
            "| method | Spearman rho, trained vs random weights [95 % CI] | maps depend on the weights |",
            "|---|---|---|",
        ]
        for m in METHODS:
            r = block["summary"]["randomisation"][m]
            lines.append(
                f"| {TITLES[m]} | {_ci(r, '{:.3f}')} | {'yes' if r['depends_on_weights'] else '**no**'} |"
            )
        lines.append("")
    lines += [
        "![mean deletion and insertion curves](explain.png)",
        "",
        f"Command: `{res['provenance'].get('command_line', '')}`",
        "",
    ]
    return "\n".join(lines)


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from leanecg.atomic import atomic_path

    f = np.asarray(res["cinc2017"]["summary"]["fractions"])
    panels = [("cinc2017", "deployed"), ("cinc2017", "network"), ("ds2", "network")]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7), squeeze=False)
    colours = {"ig": "tab:blue", "gradcam": "tab:green", "occlusion": "tab:orange", "random": "grey"}
    for j, (ds, v) in enumerate(panels):
        rows = res[ds]["summary"]["variants"][v]
        for i, mode in enumerate(("deletion", "insertion")):
            ax = axes[i, j]
            for m in (*METHODS, "random"):
                ax.plot(
                    f,
                    rows[m]["mean_curves"][mode],
                    color=colours[m],
                    ls="--" if m == "random" else "-",
                    label=TITLES.get(m, "random order"),
                )
            ax.set_title(f"{ds} ({v}): {mode}", fontsize=9)
            ax.set_xlabel(
                f"fraction of samples {'deleted' if mode == 'deletion' else 'inserted'}", fontsize=8
            )
            ax.set_ylabel("predicted-class probability", fontsize=8)
            ax.set_ylim(0, 1)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument(
        "--cinc2017-model",
        default="cinc2017",
        help="cinc2017 network package (gradient methods need a network: the shipped ensemble holds trees; "
        "its wide_deep_lite member: `leanecg bench cinc2017 --models wide_deep_lite --save-models DIR`)",
    )
    ap.add_argument("--records-per-class", type=int, default=10)
    ap.add_argument("--beats-per-class", type=int, default=100)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--random-orders", type=int, default=2)
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-dir", default=str(REPO / "benchmarks" / "results"))
    args = ap.parse_args(argv)
    import torch

    from leanecg.atomic import atomic_open, write_json
    from leanecg.explain.core import input_baseline
    from leanecg.explain.faithfulness import randomised_package
    from leanecg.package import open_model
    from leanecg.provenance import collect_provenance

    torch.set_num_threads(1)
    root = Path(args.data_dir) if args.data_dir else default_data_dir()

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    res: dict[str, Any] = {"config": {k: v for k, v in vars(args).items() if k != "out_dir"}}
    pkg = open_model(args.cinc2017_model, prefer="torch")
    rpkg = randomised_package(pkg, args.seed + 7)
    items = cinc_inputs(pkg, root, args.records_per_class, args.seed)
    measured = measure_records(pkg, rpkg, items, args, log)
    res["cinc2017"] = {
        "model": pkg.name,
        "weights_sha256": pkg.meta.get("weights_sha256"),
        "temperature": pkg.temperature,
        "n": len(items),
        "records": [{"name": it["name"], "label": it["label"], "predicted": it["predicted"]} for it in items],
        "baseline": input_baseline(pkg, np.zeros((1, 1, 1), np.float32))[1],
        "summary": summarise(measured, args.n_boot, args.seed),
        "rho": measured["rho"],
    }
    pkg = open_model("mitdb-aami", prefer="torch")
    rpkg = randomised_package(pkg, args.seed + 7)
    beats = ds2_beats(pkg, root, args.beats_per_class, args.seed)
    measured = measure_beats(pkg, rpkg, beats, args, log)
    labels, counts = np.unique(beats["labels"], return_counts=True)
    res["ds2"] = {
        "model": pkg.name,
        "weights_sha256": pkg.meta.get("weights_sha256"),
        "temperature": pkg.temperature,
        "n": len(beats["labels"]),
        "n_records": len(set(beats["groups"].tolist())),
        "beats_per_class": dict(zip(labels.tolist(), counts.tolist(), strict=True)),
        "baseline": input_baseline(pkg, np.zeros((1, 1, 1), np.float32))[1],
        "summary": summarise(measured, args.n_boot, args.seed),
    }
    res["seconds"] = time.perf_counter() - t0
    cmd = ["python", "benchmarks/explain_faithfulness.py", *(argv if argv is not None else sys.argv[1:])]
    res["provenance"] = collect_provenance(seed=args.seed, config=res["config"], command=cmd)
    res["provenance"]["command_line"] = " ".join(cmd)
    out = Path(args.out_dir)
    write_json(out / "explain.json", res)
    plot(res, out / "explain.png")
    with atomic_open(out / "explain.md") as fh:
        fh.write(markdown(res))
    print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
