"""fp32 vs int8 on the same test records: torch fp32, ONNX Runtime fp32 and ONNX Runtime static int8.

For one model package (a shipped name such as ``cinc2017`` or a package folder) the script, in one run:

1. loads the package's task from ``--data-dir`` exactly as training did (same preprocessing, same split);
2. exports the package to ONNX fp32 and to static int8 (:func:`leanecg.deploy.onnx.export_onnx`: QDQ,
   int8 per-channel weights, uint8 activations calibrated on ``--n-calibration`` inputs drawn from the
   task's **training** split -- never the test split);
3. classifies every **test** input with the three runtimes (record models: whole preprocessed records,
   record features computed by the package's own code; beat models: the beats at the reference
   positions with their beat features, as ``leanecg bench`` scores them) and scores them with the task's metrics; label agreement of int8 with
   fp32; the primary-metric change int8 - fp32 with a paired bootstrap 95 % CI (resampling records, or
   patients' records for beat tasks);
4. times one input at batch 1 on one thread (the package's typical input: ``input.n_samples`` samples of
   a real test record, plus its features), the three runtimes interleaved round by round (ABBA), and
   reports medians and the per-round median ratios to ONNX Runtime fp32 and to torch fp32;
5. sizes: the torch weights file; the two ``.onnx`` files as written (both compacted alike by
   :func:`leanecg.deploy.onnx.compact_onnx`; the LeanECG metadata is in their sidecar ``FILE.json``, not
   in the file), their sidecars, and the weight tensors alone. The bytes target compares the two
   ``.onnx`` files; the ratio with the (identical-size) sidecars added is reported too.

Threads: one everywhere (BLAS/OpenMP pools set before NumPy is imported, ``torch.set_num_threads(1)``,
ONNX Runtime ``intra_op_num_threads=1``, sequential execution).

Usage::

    python benchmarks/int8_onnx.py --model cinc2017 --data-dir ../shared/data [--out-dir benchmarks/results]

Writes ``int8_onnx_<model>.json`` and ``int8_onnx_<model>.md`` to ``--out-dir`` (``<model>``: the shipped
name, or the package folder's task and name for a folder); ``--keep-onnx DIR`` keeps the exported files.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy / SciPy / torch are imported: one thread everywhere

import argparse  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from leanecg.atomic import atomic_open, write_json  # noqa: E402
from leanecg.errors import LeanECGError  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
#: The issue's targets for the shipped cinc2017 model.
TARGETS = {"bytes_ratio_max": 0.3, "speedup_min": 2.0, "agreement_min": 0.98, "metric_loss_max": 0.005}
RUNTIMES = ("torch fp32", "onnx fp32", "onnx int8")


def default_data_dir() -> Path:
    env = os.environ.get("LEANECG_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


# ------------------------------------------------------------------------------------------------ helpers


def graph_bytes(path: Path) -> dict[str, int]:
    """``file``: the ``.onnx`` file's size on disk; ``graph``: the serialised model without any
    metadata_props (equal to ``file`` unless the metadata is embedded); ``weights``: the serialised weight
    tensors (initializers) alone; ``sidecar``: the metadata sidecar ``FILE.json``; ``file_with_sidecar``:
    both files."""
    import onnx

    from leanecg.package.ort_runtime import sidecar_path

    proto = onnx.load(str(path))
    weights = sum(t.ByteSize() for t in proto.graph.initializer)
    del proto.metadata_props[:]
    file, side = path.stat().st_size, sidecar_path(path).stat().st_size
    return {
        "file": file,
        "graph": proto.ByteSize(),
        "weights": weights,
        "sidecar": side,
        "file_with_sidecar": file + side,
    }


def paired_bootstrap(
    score: Callable[[np.ndarray, np.ndarray], float],
    y: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    groups: np.ndarray | None,
    n_boot: int,
    seed: int,
) -> dict[str, float]:
    """``score(y, b) - score(y, a)`` and its 95 % percentile CI, resampling inputs (or groups) with
    replacement, the same resample for both (paired)."""
    rng = np.random.default_rng(seed)
    units = np.arange(len(y)) if groups is None else np.unique(groups)
    members = None if groups is None else {g: np.flatnonzero(groups == g) for g in units}
    deltas = []
    for _ in range(n_boot):
        pick = rng.choice(units, size=len(units), replace=True)
        idx = pick if members is None else np.concatenate([members[g] for g in pick])
        d = score(y[idx], pred_b[idx]) - score(y[idx], pred_a[idx])
        if np.isfinite(d):
            deltas.append(d)
    lo, hi = np.percentile(deltas, [2.5, 97.5]) if deltas else (float("nan"), float("nan"))
    return {"delta": score(y, pred_b) - score(y, pred_a), "ci_low": float(lo), "ci_high": float(hi)}


def _fmt_int(v: int | None) -> str:
    return "n/a" if v is None else f"{v:,}"


def model_slug(model: str, package_name: str) -> str:
    """File-name part of the outputs: the shipped name, or the package name for a folder."""
    raw = package_name if Path(model).is_dir() else model
    return re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-")


# ---------------------------------------------------------------------------------------------------- run


def run(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    import torch

    from leanecg.data import get_dataset
    from leanecg.deploy.onnx import calibration_set, export_onnx, package_split_seed
    from leanecg.evaluate.timing import compare_timings, time_callable
    from leanecg.package import open_model, resolve_model
    from leanecg.package.model import WEIGHTS_FILE
    from leanecg.package.ort_runtime import FEATURES_INPUT, SIGNAL_INPUT, load_onnx_package
    from leanecg.provenance import collect_provenance
    from leanecg.tasks import task_for_package

    torch.set_num_threads(1)
    folder = resolve_model(args.model)
    pkg = open_model(folder, prefer="torch")
    meta = pkg.meta
    task = task_for_package(meta)
    root = Path(args.data_dir) if args.data_dir else default_data_dir()
    get_dataset(task.dataset).require(root)
    tiny = bool(meta.get("data", {}).get("tiny"))
    split_seed = package_split_seed(pkg)
    data = task.load(root, tiny=tiny, seed=split_seed)
    calib = calibration_set(
        pkg,
        data.train,
        args.n_calibration,
        seed=args.seed,
        info={"task": task.name, "split": "train", "split_seed": split_seed, "tiny": tiny},
    )

    keep = Path(args.keep_onnx) if args.keep_onnx else None
    with tempfile.TemporaryDirectory(prefix="leanecg-int8-") as tmp_name:
        out_dir = keep or Path(tmp_name)
        fp32_path, int8_path = out_dir / "model.fp32.onnx", out_dir / "model.int8.onnx"
        fp32_rep = export_onnx(pkg, fp32_path)
        int8_rep = export_onnx(pkg, int8_path, int8=True, calibration=calib)
        quantized_nodes = _quantized_nodes(int8_path)
        runtimes = {
            "torch fp32": pkg,
            "onnx fp32": load_onnx_package(fp32_path, threads=1),
            "onnx int8": load_onnx_package(int8_path, threads=1),
        }
        sizes = {
            "torch fp32": {"file": (folder / WEIGHTS_FILE).stat().st_size},
            "onnx fp32": graph_bytes(fp32_path),
            "onnx int8": graph_bytes(int8_path),
        }

        # -- accuracy on the test split
        test = data.test
        spec = meta["input"]
        y = np.asarray(test.y, dtype=np.int64)
        if pkg.kind == "records":  # the package's own feature code (what `leanecg predict` computes)
            X_test, feats_test = list(test.X), pkg.record_features(list(test.X))
        else:  # beats at the reference positions with their beat features, as `leanecg bench` scores them
            X_test, feats_test = test.X, test.features if spec.get("features") else None
        probs = {name: p.backend.proba(X_test, feats_test, 64, p.multilabel) for name, p in runtimes.items()}
        preds = {k: np.argmax(v, axis=1) for k, v in probs.items()}
        scores = {k: task.scores(y, v) for k, v in preds.items()}
        primary = task.primary_metric

        def score(yt: np.ndarray, yp: np.ndarray) -> float:
            return task.scores(yt, yp)[primary]

        groups = test.groups if test.groups is not None else None
        delta = paired_bootstrap(
            score, y, preds["torch fp32"], preds["onnx int8"], groups, args.n_boot, args.seed
        )
        agreement = {
            "int8_vs_torch_fp32": float(np.mean(preds["onnx int8"] == preds["torch fp32"])),
            "int8_vs_onnx_fp32": float(np.mean(preds["onnx int8"] == preds["onnx fp32"])),
            "onnx_fp32_vs_torch_fp32": float(np.mean(preds["onnx fp32"] == preds["torch fp32"])),
        }
        max_prob_diff = {
            "int8_vs_torch_fp32": float(np.max(np.abs(probs["onnx int8"] - probs["torch fp32"]))),
            "onnx_fp32_vs_torch_fp32": float(np.max(np.abs(probs["onnx fp32"] - probs["torch fp32"]))),
        }

        # -- batch-1 latency on one thread, interleaved
        n_samples = int(spec["n_samples"])
        if test.stacked:
            x1 = np.asarray(test.X[:1], dtype=np.float32)
        else:
            long = next(
                (x for x in test.X if x.shape[-1] >= n_samples), max(test.X, key=lambda a: a.shape[-1])
            )
            x1 = np.ascontiguousarray(long[None, :, :n_samples], dtype=np.float32)
        f1 = None
        if spec.get("features"):
            f1 = pkg.record_features(list(x1)) if pkg.kind == "records" else test.features[:1]
            f1 = np.ascontiguousarray(f1, dtype=np.float32)
        model = pkg.model
        xt = torch.from_numpy(x1)
        ft = None if f1 is None else torch.from_numpy(f1)

        def torch_call() -> Any:
            with torch.inference_mode():
                return model(xt) if ft is None else model(xt, features=ft)

        def ort_call(p: Any) -> Callable[[], Any]:
            feed = {SIGNAL_INPUT: x1} if f1 is None else {SIGNAL_INPUT: x1, FEATURES_INPUT: f1}
            sess, out = p.backend.session, p.backend.output
            return lambda: sess.run([out], feed)

        fns = {
            "torch fp32": torch_call,
            "onnx fp32": ort_call(runtimes["onnx fp32"]),
            "onnx int8": ort_call(runtimes["onnx int8"]),
        }
        timings = compare_timings(fns, repeats=args.repeats, warmup=5, reference="onnx fp32")
        features_ms = None
        if spec.get("features") and pkg.kind == "records":  # numpy, the same for every runtime
            stats = time_callable(
                lambda: pkg.record_features(list(x1)), repeats=min(args.repeats, 20), warmup=1
            )
            features_ms = stats.to_dict("ms")
        torch_samples = np.asarray(timings["torch fp32"].stats.samples)
        latency = {}
        for name, t in timings.items():
            per_round_vs_torch = np.asarray(t.stats.samples) / torch_samples
            latency[name] = {
                **t.stats.to_dict("ms"),
                "ratio_vs_onnx_fp32": t.ratio,
                "ratio_vs_torch_fp32": float(np.median(per_round_vs_torch)),
            }

    bytes_ratio = {
        k: sizes["onnx int8"][k] / sizes["onnx fp32"][k]
        for k in ("file", "graph", "weights", "file_with_sidecar")
    }
    bytes_ratio["file_vs_torch_weights"] = sizes["onnx int8"]["file"] / sizes["torch fp32"]["file"]
    speedup = {
        "vs_onnx_fp32": 1.0 / latency["onnx int8"]["ratio_vs_onnx_fp32"],
        "vs_torch_fp32": 1.0 / latency["onnx int8"]["ratio_vs_torch_fp32"],
    }
    metric_loss = scores["torch fp32"][primary] - scores["onnx int8"][primary]
    checks = {
        "bytes (int8 .onnx <= 0.3x fp32 .onnx)": bytes_ratio["file"] <= TARGETS["bytes_ratio_max"],
        "bytes (int8 .onnx + sidecar <= 0.3x fp32 .onnx + sidecar)": bytes_ratio["file_with_sidecar"]
        <= TARGETS["bytes_ratio_max"],
        "bytes (int8 weights <= 0.3x fp32 weights)": bytes_ratio["weights"] <= TARGETS["bytes_ratio_max"],
        "speed (int8 >= 2x onnx fp32)": speedup["vs_onnx_fp32"] >= TARGETS["speedup_min"],
        "speed (int8 >= 2x torch fp32)": speedup["vs_torch_fp32"] >= TARGETS["speedup_min"],
        "agreement (>= 98 % with fp32)": agreement["int8_vs_torch_fp32"] >= TARGETS["agreement_min"],
        f"{primary} loss (<= 0.5 pt)": metric_loss <= TARGETS["metric_loss_max"],
    }
    return {
        "benchmark": "int8_onnx",
        "model": args.model,
        "package": meta["package"]["name"],
        "model_name": meta.get("model_name"),
        "tiny": tiny,
        "task": task.name,
        "primary_metric": primary,
        "n_test": len(y),
        "test_unit": "records" if pkg.kind == "records" else "beats (reference positions)",
        "calibration": int8_rep.calibration,
        "latency_input": {
            "shape": list(x1.shape),
            "seconds": float(x1.shape[-1] / float(spec["fs"])) if pkg.kind == "records" else None,
            "features": None if f1 is None else list(f1.shape),
        },
        "bytes": sizes,
        "bytes_ratio_int8_vs_fp32": bytes_ratio,
        "latency": latency,
        "record_features_latency": features_ms,
        "speedup_int8": speedup,
        "int8_quantized_nodes": quantized_nodes,
        "scores": scores,
        "int8_minus_fp32": {primary: delta},
        "label_agreement": agreement,
        "max_abs_prob_diff": max_prob_diff,
        "export_check": {"fp32": fp32_rep.check, "int8": int8_rep.check},
        "targets": TARGETS,
        "checks": checks,
        "provenance": collect_provenance(seed=args.seed, config=vars(args), command=["python", *argv]),
    }


def markdown(res: dict[str, Any]) -> str:
    primary = res["primary_metric"]
    lines = [
        f"# fp32 vs int8 ({res['package']}, task `{res['task']}`)",
        "",
        "`python " + res["provenance"]["command"].removeprefix("python ") + "`",
        "",
    ]
    if res["tiny"]:
        lines += ["> **Smoke-run package (`--tiny`)**: these numbers are not results.", ""]
    lines += [
        f"Same {res['n_test']} test {res['test_unit']} for all three runtimes; int8 calibrated on "
        f"{res['calibration']['n_inputs']} training inputs (of {res['calibration']['n_split']}). Latency: "
        f"batch 1, one thread, input {res['latency_input']['shape']}, medians of "
        f"{res['latency']['onnx fp32']['n']} interleaved rounds of the network call alone; ratios are "
        "per-round medians.",
        "",
        f"| runtime | file bytes | sidecar bytes | weight bytes | latency ms (median) | "
        f"× onnx fp32 | × torch fp32 | {primary} | accuracy |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in RUNTIMES:
        b, t, sc = res["bytes"][name], res["latency"][name], res["scores"][name]
        side = _fmt_int(b.get("sidecar"))
        weights = _fmt_int(b.get("weights"))
        lines.append(
            f"| {name} | {b['file']:,} | {side} | {weights} | {t['median_ms']:.3f} | "
            f"{t['ratio_vs_onnx_fp32']:.2f} | {t['ratio_vs_torch_fp32']:.2f} | {sc[primary]:.4f} | "
            f"{sc.get('accuracy', float('nan')):.4f} |"
        )
    feat = res["record_features_latency"]
    if feat is not None:
        lines += [
            "",
            f"The model's record features (numpy, identical for every runtime) take {feat['median_ms']:.1f} ms "
            "more per input (median).",
        ]
    d = res["int8_minus_fp32"][primary]
    a = res["label_agreement"]
    r = res["bytes_ratio_int8_vs_fp32"]
    lines += [
        "",
        f"- int8 / fp32 bytes: .onnx file {r['file']:.3f}, weights {r['weights']:.3f}, .onnx + sidecar "
        f"{r['file_with_sidecar']:.3f}. Both .onnx files are compacted alike (`compact_onnx`: no exporter "
        "metadata, shape annotations, node names or default attributes; short tensor names); the package "
        "metadata (pipeline, classes, provenance, split record ids) is in the sidecar `FILE.onnx.json` of each "
        "(`leanecg export --embed-metadata` would add it to the file instead; torch fp32: `model.pt` alone).",
        f"- int8 speed-up: {res['speedup_int8']['vs_onnx_fp32']:.2f}× vs onnx fp32, "
        f"{res['speedup_int8']['vs_torch_fp32']:.2f}× vs torch fp32."
        + (
            " **The int8 file quantizes no operator** (no `DequantizeLinear` node: the model's trees are one "
            "`TreeEnsemble` node each, which int8 leaves in float): its graph has the fp32 graph's operators "
            "(in another order, from `quant_pre_process`), so the difference between the two ONNX timings "
            "is not quantization but how the measurement falls (order, caches, the machine)."
            if res.get("int8_quantized_nodes") == 0
            else ""
        ),
        f"- Label agreement int8 vs torch fp32 {a['int8_vs_torch_fp32']:.2%}, vs onnx fp32 "
        f"{a['int8_vs_onnx_fp32']:.2%}; onnx fp32 vs torch fp32 {a['onnx_fp32_vs_torch_fp32']:.2%}.",
        f"- {primary} int8 − fp32: {d['delta']:+.4f} (paired bootstrap 95 % CI [{d['ci_low']:+.4f}, "
        f"{d['ci_high']:+.4f}]).",
        "",
        "| target | met |",
        "|---|---|",
    ]
    lines += [f"| {k} | {'yes' if v else 'no'} |" for k, v in res["checks"].items()]
    prov = res["provenance"]
    lines += [
        "",
        f"Machine: {prov.get('cpu_model')}; git {prov.get('git_commit')}"
        f"{' (dirty)' if prov.get('git_dirty') else ''}; {prov.get('timestamp_utc')}.",
        "",
    ]
    return "\n".join(lines)


def _quantized_nodes(path: Path) -> int:
    """``DequantizeLinear`` nodes of an ONNX file: 0 when static quantization found nothing to quantize."""
    import onnx

    return sum(n.op_type == "DequantizeLinear" for n in onnx.load(str(path)).graph.node)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="cinc2017", help="shipped model name or package folder")
    ap.add_argument("--data-dir", default=None, help="folder holding the datasets")
    ap.add_argument("--out-dir", default="benchmarks/results", help="relative paths: to the repository")
    ap.add_argument("--repeats", type=int, default=100, help="interleaved timing rounds")
    ap.add_argument("--n-calibration", type=int, default=None, help="training inputs to calibrate on")
    ap.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples of the metric change")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep-onnx", default=None, help="folder to keep the exported .onnx files in")
    args = ap.parse_args(argv)
    try:
        res = run(args, [str(Path(__file__).relative_to(REPO)), *argv])
    except LeanECGError as err:
        print(f"error: {err.path}: {err.problem}", file=sys.stderr)
        return 2
    out = REPO / args.out_dir  # an absolute --out-dir stays as given
    slug = model_slug(args.model, res["package"])
    write_json(out / f"int8_onnx_{slug}.json", res)
    with atomic_open(out / f"int8_onnx_{slug}.md") as fh:
        fh.write(markdown(res))
    print(markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
