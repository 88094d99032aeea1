"""Batch-1, one-thread latency of a shipped model next to the reference ResNet-1D, repeated.

``leanecg bench`` times every model once (about 1.5 s of timing, interleaved with the reference). On a
shared machine one such measurement is noisy, so this script repeats it ``--rounds`` times and reports
the median ratio. For a record model (``cinc2017``) it adds the end-to-end latency of the feature model:
record-feature extraction (numpy, :mod:`leanecg.models.record_inputs`) + forward pass, against the
reference forward pass on the same 30 s input; a beat model (``mitdb-aami``, one beat window and its beat
features per call) gets the forward pass only. ``--onnx`` adds the forward pass in ONNX Runtime, the runtime
``leanecg predict`` / ``beats`` / ``stream`` / ``serve`` run: the model and the reference exported to ONNX fp32
in the same run (``torch.onnx.export``, dynamo) and timed interleaved in one-thread sessions (median of the
per-round ratios, each round's median over ``--onnx-repeats`` calls, call by call). A record model with record
features also gets its end to end in ONNX Runtime, timed as the torch end-to-end row is: in blocks of
consecutive calls of one model (:data:`E2E_BLOCK`), the two models alternated, so the features run after the
previous record's, not after ResNet-1D has taken the caches. Writes ``latency_<task>.json`` and
``latency_<task>.md``::

    .venv/bin/python benchmarks/latency_cinc2017.py [--model package-dir] [--rounds 5]
    .venv/bin/python benchmarks/latency_cinc2017.py --model src/leanecg/zoo/mitdb-aami --onnx
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.provenance import repo_relative

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO / "src" / "leanecg" / "zoo" / "cinc2017"


def _median_call_s(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(model_dir: Path, rounds: int, budget_s: float) -> dict[str, Any]:
    import torch

    from leanecg.evaluate.cost import measure_cost
    from leanecg.evaluate.cost.report import single_thread
    from leanecg.models.registry import build_model
    from leanecg.package import open_model

    pkg = open_model(model_dir, prefer="torch")
    spec = pkg.input
    fs, n = float(spec["fs"]), int(spec["n_samples"])
    n_feat = len(spec.get("features") or [])
    ref = build_model("resnet1d", n_leads=int(spec["n_leads"]), n_classes=len(pkg.class_names))
    extra = {"features": (n_feat,)} if n_feat else None
    forward = []
    for _ in range(rounds):
        c = measure_cost(
            pkg.model,
            (int(spec["n_leads"]), n),
            fs,
            reference=ref,
            reference_name="resnet1d",
            extra_inputs=extra,
            measure_memory=False,
            int8_bytes=False,
            budget_s=budget_s,
        ).to_dict()
        forward.append(c)
    ratios = [c["latency_ratio_vs_reference"] for c in forward]
    out: dict[str, Any] = {
        "model": str(pkg.name),
        "task": str(pkg.meta["task"]["name"]),
        "params": forward[0]["params"],
        "macs": forward[0]["macs"],
        "input": {"fs": fs, "n_samples": n, "n_features": n_feat},
        "rounds": rounds,
        "forward": {
            "latency_ms_median": statistics.median(c["latency_ms_median"] for c in forward),
            "reference_latency_ms_median": statistics.median(
                c["reference_latency_ms_median"] for c in forward
            ),
            "ratio_median": statistics.median(ratios),
            "ratios": ratios,
        },
    }
    if pkg.kind == "beats":  # a beat model: its features come with each beat (leanecg beats), no record step
        return out
    # end to end on a synthetic 30 s record at the model's rate: features + forward vs reference forward
    x = _synthetic_record(fs, n)
    xt = torch.from_numpy(x[None])
    ref.eval()
    pkg.model.eval()

    def ours() -> None:
        feats = pkg.record_features([x])
        kw = {} if feats is None else {"features": torch.from_numpy(feats)}
        pkg.model(xt, **kw)

    e2e, e2e_ref, feat_only = [], [], []
    with single_thread(), torch.inference_mode():
        for f in (ours, lambda: ref(xt)):
            f()
        for _ in range(rounds):
            e2e.append(_median_call_s(ours, 20))
            e2e_ref.append(_median_call_s(lambda: ref(xt), 20))
            feat_only.append(_median_call_s(lambda: pkg.record_features([x]), 20))
    out["end_to_end"] = {
        "feature_ms_median": statistics.median(feat_only) * 1e3,
        "latency_ms_median": statistics.median(e2e) * 1e3,
        "reference_latency_ms_median": statistics.median(e2e_ref) * 1e3,
        "ratio_median": statistics.median(a / b for a, b in zip(e2e, e2e_ref, strict=True)),
    }
    return out


#: the end to end in ONNX Runtime: samples per round and model, and consecutive calls per sample (the torch
#: end-to-end row times blocks of 20 consecutive calls too: a record's features and forward pass run after the
#: previous record's, not after another model that has taken the caches)
E2E_SAMPLES, E2E_BLOCK = 5, 20


def _synthetic_record(fs: float, n: int) -> np.ndarray:
    """The end-to-end input: a synthetic AF record of ``n`` samples at ``fs`` Hz, ``(1, n)`` float32."""
    from leanecg.data.synthetic import synthetic_ecg

    return synthetic_ecg(duration_s=n / fs, fs=fs, rhythm="af", seed=0).signal.T.astype(np.float32)


def measure_onnx(model_dir: Path, rounds: int, repeats: int) -> dict[str, Any]:
    """Forward pass of the package and of ResNet-1D (random weights: time does not depend on them) in ONNX
    Runtime, batch 1, one thread: both exported here, then ``rounds`` interleaved rounds of ``repeats`` calls.
    A record model with record features also gets its end to end in ONNX Runtime (the features of the
    synthetic 30 s record of :func:`measure`, computed in each call, + the forward pass), ``rounds`` rounds of
    :data:`E2E_SAMPLES` samples per model, each the mean of :data:`E2E_BLOCK` consecutive calls."""
    import torch

    from leanecg.deploy.onnx_export import export_fp32, quiet_converters
    from leanecg.evaluate.timing import compare_timings
    from leanecg.models.registry import build_model
    from leanecg.package import open_model
    from leanecg.package.ort_runtime import FEATURES_INPUT, SIGNAL_INPUT, ort_session

    pkg = open_model(model_dir, prefer="torch")
    spec = pkg.input
    n_leads, n = int(spec["n_leads"]), int(spec["n_samples"])
    n_feat = len(spec.get("features") or [])
    ref = build_model("resnet1d", n_leads=n_leads, n_classes=len(pkg.class_names)).eval()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, n_leads, n)).astype(np.float32)
    feed = {SIGNAL_INPUT: x}
    if n_feat:
        feed[FEATURES_INPUT] = rng.standard_normal((1, n_feat)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        ours_path, ref_path = Path(tmp) / "model.onnx", Path(tmp) / "resnet1d.onnx"
        export_fp32(pkg, ours_path)
        with quiet_converters():
            torch.onnx.export(
                ref,
                (torch.from_numpy(x),),
                str(ref_path),
                dynamo=True,
                external_data=False,
                input_names=["x"],
            )
        ours, reference = ort_session(ours_path, threads=1), ort_session(ref_path, threads=1)
        ref_feed = {reference.get_inputs()[0].name: x}
        fns = {
            "resnet1d": lambda: reference.run(None, ref_feed),
            "model": lambda: ours.run(None, feed),
        }
        per_round = [
            compare_timings(fns, repeats=repeats, warmup=5, reference="resnet1d") for _ in range(rounds)
        ]
        e2e = pkg.kind == "records" and n_feat > 0
        if e2e:  # as the torch end-to-end row: blocks of consecutive calls of one model, alternated
            record = _synthetic_record(float(spec["fs"]), n)

            def end_to_end() -> None:
                feats = pkg.record_features([record]).astype(np.float32)
                ours.run(None, {SIGNAL_INPUT: record[None], FEATURES_INPUT: feats})

            blocks = {"resnet1d": fns["resnet1d"], "end_to_end": end_to_end}
            e2e_rounds = [
                compare_timings(blocks, repeats=E2E_SAMPLES, warmup=2, reference="resnet1d", number=E2E_BLOCK)
                for _ in range(rounds)
            ]
    out: dict[str, Any] = {
        "runtime": "onnxruntime fp32, CPU, intra_op_num_threads 1, sequential",
        "repeats_per_round": repeats,
        "latency_ms_median": statistics.median(r["model"].stats.median for r in per_round) * 1e3,
        "reference_latency_ms_median": statistics.median(r["resnet1d"].stats.median for r in per_round) * 1e3,
        "ratio_median": statistics.median(r["model"].ratio for r in per_round),
        "ratios": [r["model"].ratio for r in per_round],
    }
    if e2e:
        out["end_to_end"] = {
            "timing": f"{E2E_SAMPLES} samples per round and model, each the mean of {E2E_BLOCK} consecutive calls, "
            "the two models alternated",
            "latency_ms_median": statistics.median(r["end_to_end"].stats.median for r in e2e_rounds) * 1e3,
            "reference_latency_ms_median": statistics.median(r["resnet1d"].stats.median for r in e2e_rounds)
            * 1e3,
            "ratio_median": statistics.median(r["end_to_end"].ratio for r in e2e_rounds),
            "ratios": [r["end_to_end"].ratio for r in e2e_rounds],
        }
    return out


def main() -> None:
    from leanecg.atomic import atomic_open, write_json
    from leanecg.provenance import collect_provenance

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model package folder")
    parser.add_argument("--rounds", type=int, default=5, help="repeated measurements (median reported)")
    parser.add_argument("--budget-s", type=float, default=3.0, help="timing seconds per leanecg cost round")
    parser.add_argument(
        "--onnx",
        action="store_true",
        help="also time the forward pass in ONNX Runtime (the deployed runtime)",
    )
    parser.add_argument(
        "--onnx-repeats", type=int, default=200, help="ONNX Runtime calls per round and model"
    )
    parser.add_argument("--out-dir", type=Path, default=Path("benchmarks/results"))
    parser.add_argument(
        "--write-cost",
        action="store_true",
        help="store the median latencies and ratios (forward, end to end; torch and, with --onnx, ONNX Runtime) "
        "in the package's cost block (model.json, card)",
    )
    args = parser.parse_args()
    t0 = time.perf_counter()
    r = measure(args.model, args.rounds, args.budget_s)
    if args.onnx:
        r["onnx_runtime"] = measure_onnx(args.model, args.rounds, args.onnx_repeats)
    r["seconds_total"] = time.perf_counter() - t0
    config = {"rounds": args.rounds, "budget_s": args.budget_s, "onnx": args.onnx}
    if args.onnx:
        config["onnx_repeats"] = args.onnx_repeats
    r["provenance"] = collect_provenance(seed=0, config=config)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"latency_{r['task']}"
    write_json(args.out_dir / f"{stem}.json", r)
    f, e, o = r["forward"], r.get("end_to_end"), r.get("onnx_runtime")
    model_arg = "" if args.model == DEFAULT_MODEL else f" --model {repo_relative(args.model, REPO)}"
    lines = [
        f"# Latency of `{r['model']}` vs resnet1d (batch 1, one thread, median of {r['rounds']} rounds)",
        "",
        f"Input: {r['input']['n_samples']} samples at {r['input']['fs']:g} Hz; {r['params']:,} params, "
        f"{r['macs']:,} MACs.",
        "",
        "| measurement | model ms | resnet1d ms | ratio |",
        "|---|---|---|---|",
        f"| forward pass (as `leanecg bench`) | {f['latency_ms_median']:.3f} | "
        f"{f['reference_latency_ms_median']:.3f} | {f['ratio_median']:.3f} |",
    ]
    if e is not None:
        lines.append(
            f"| end to end (record features {e['feature_ms_median']:.2f} ms + forward) | "
            f"{e['latency_ms_median']:.3f} | {e['reference_latency_ms_median']:.3f} | {e['ratio_median']:.3f} |"
        )
    if o is not None:
        lines.append(
            f"| forward pass in ONNX Runtime fp32 (both exported in this run) | {o['latency_ms_median']:.3f} | "
            f"{o['reference_latency_ms_median']:.3f} | {o['ratio_median']:.3f} |"
        )
        if "end_to_end" in o:
            oe = o["end_to_end"]
            lines.append(
                f"| end to end in ONNX Runtime (record features + forward; blocks of {E2E_BLOCK} consecutive calls) | "
                f"{oe['latency_ms_median']:.3f} | {oe['reference_latency_ms_median']:.3f} | {oe['ratio_median']:.3f} |"
            )
    onnx_arg = "" if o is None else f" --onnx --onnx-repeats {o['repeats_per_round']}"
    lines += [
        "",
        f"Per-round forward ratios: {', '.join(f'{x:.3f}' for x in f['ratios'])}"
        + ("" if o is None else f"; in ONNX Runtime: {', '.join(f'{x:.3f}' for x in o['ratios'])}")
        + (
            ""
            if o is None or "end_to_end" not in o
            else f"; end to end in ONNX Runtime: {', '.join(f'{x:.3f}' for x in o['end_to_end']['ratios'])}"
        )
        + f". Runtime {r['seconds_total']:.0f} s. Command: "
        f"`python benchmarks/latency_cinc2017.py --rounds {r['rounds']}{model_arg}{onnx_arg}`.",
        "",
    ]
    with atomic_open(args.out_dir / f"{stem}.md") as fh:
        fh.write("\n".join(lines))
    if args.write_cost:
        _write_cost(args.model, r)


def _write_cost(model_dir: Path, r: dict[str, Any]) -> None:
    """Replace the package's one-off latency figures (timed once when it was built, maybe on a busy machine)
    with this run's medians over its rounds."""
    import json

    from leanecg.package import set_package_field

    cost = json.loads((model_dir / "model.json").read_text(encoding="utf-8"))["cost"]
    f = r["forward"]
    ratio = f["ratio_median"]
    cost.update(
        latency_ms_median=f["latency_ms_median"],
        reference_latency_ms_median=f["reference_latency_ms_median"],
        latency_ratio_vs_reference=ratio,
        real_time_factor=float(cost["signal_s"]) * 1e3 / f["latency_ms_median"],
        latency_rounds=r["rounds"],
        latency_note=f"median of {r['rounds']} rounds of benchmarks/latency_cinc2017.py (ratios "
        + ", ".join(f"{x:.3f}" for x in f["ratios"])
        + ")",
    )
    e, o = r.get("end_to_end"), r.get("onnx_runtime")
    if e is not None:  # torch: record features + forward
        cost.update(
            end_to_end_ms_median=e["latency_ms_median"], end_to_end_ratio_vs_reference=e["ratio_median"]
        )
    if o is not None:  # the deployed runtime: both models exported and timed in the same run
        cost.update(
            onnx_latency_ms_median=o["latency_ms_median"],
            onnx_reference_latency_ms_median=o["reference_latency_ms_median"],
            onnx_latency_ratio_vs_reference=o["ratio_median"],
        )
        if "end_to_end" in o:
            cost.update(
                onnx_end_to_end_ms_median=o["end_to_end"]["latency_ms_median"],
                onnx_end_to_end_ratio_vs_reference=o["end_to_end"]["ratio_median"],
            )
    for path in set_package_field(model_dir, "cost", cost):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
