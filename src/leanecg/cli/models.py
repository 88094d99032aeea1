"""``leanecg models``: the model packages shipped with LeanECG."""

from __future__ import annotations

from typing import Annotated

import typer

from leanecg.cli.render import console, print_json, print_text, table


def models(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list instead of a table.")] = False,
) -> None:
    """List the models shipped with LeanECG: task, classes, cost and headline metric with 95 % CI; below the
    table, each model's forward latency in ONNX Runtime when measured."""
    from leanecg.package import list_shipped, zoo_dir

    shipped = list_shipped()
    if as_json:
        print_json(shipped, indent=2)
        return
    if not shipped:
        print_text(
            "No models are shipped with this LeanECG release yet.\n"
            "Train and package your own:  leanecg bench TASK --save-models DIR\n"
            "then use it:                 leanecg predict PATH --model DIR/TASK/MODEL --out preds.csv"
        )
        return
    t = table(
        f"shipped models ({zoo_dir()})",
        ["name", "task", "model", "classes", "params", "MACs", "latency ms", "metric [95% CI]"],
        right=("params", "MACs", "latency ms"),
    )
    for m in shipped:
        metric = "n/a" if m["value"] is None else f"{m['metric']} {m['value']:.3f}"
        if m["value"] is not None and m["ci_low"] is not None and m["ci_high"] is not None:
            metric += f" [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"
        t.add_row(
            m["name"] + (" (tiny smoke run)" if m["tiny"] else ""),
            str(m["task"]),
            str(m["model"]),
            ", ".join(m["classes"]),
            "n/a" if m["params"] is None else f"{m['params']:,}",
            "n/a" if m["macs"] is None else f"{m['macs']:,}",
            "n/a" if m["latency_ms"] is None else f"{m['latency_ms']:.3f}",
            metric,
        )
    console.print(t)
    for m in shipped:
        if m.get("onnx_latency_ms") is not None:
            print_text(
                f"{m['name']}: forward pass in ONNX Runtime (the runtime of `predict` / `beats` / `stream` / "
                f"`serve`) {m['onnx_latency_ms']:.3f} ms"
                + (
                    ""
                    if m.get("onnx_latency_ratio") is None
                    else f", {m['onnx_latency_ratio']:.3f}x ResNet-1D timed in the same run"
                )
                + (
                    ""
                    if m.get("latency_ratio") is None
                    else f" (torch, the latency column: {m['latency_ratio']:.3f}x)"
                )
            )
    for m in shipped:
        if m.get("rhythm_gate") is not None:
            print_text(
                f"{m['name']}: `leanecg beats` / `stream` / `serve` apply its AF gate (a beat in an irregularly "
                f"irregular rhythm, RR irregularity >= {m['rhythm_gate']:g}, cannot be S); the metric above is "
                "the network's alone; --no-rhythm-gate leaves the gate out"
            )
