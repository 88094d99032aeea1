"""The tables of the label-efficiency study (:mod:`leanecg.bench.labels`): :func:`summarise` (mean ± sd
of the test score per method and label fraction), :func:`write_labels_markdown` and
:func:`write_labels_plot` (matplotlib, imported when plotting).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.bench.labels_config import labels_study
from leanecg.bench.study import finite_mean

__all__ = ["summarise", "write_labels_markdown", "write_labels_plot"]


def summarise(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean, sd (ddof 1) and n of test F1 per (method, fraction), with the mean difference to scratch,
    and the mean of every other metric of the entries (``metric_means``, name -> mean or ``None``)."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for e in entries:
        v = e["variant"]
        groups.setdefault((v["method"], float(v["label_fraction"])), []).append(e["metrics"])
    rows = []
    for (method, frac), metrics in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        a = np.asarray([m["f1"]["value"] for m in metrics if m["f1"]["value"] is not None], dtype=float)
        rows.append(
            {
                "method": method,
                "label_fraction": frac,
                "f1_mean": float(a.mean()) if a.size else None,
                "f1_sd": float(a.std(ddof=1)) if a.size > 1 else None,
                "n_seeds": int(a.size),
                "f1_values": [float(x) for x in a],
                "metric_means": _metric_means(metrics),
            }
        )
    scratch = {r["label_fraction"]: r["f1_mean"] for r in rows if r["method"] == "scratch"}
    for r in rows:
        base = scratch.get(r["label_fraction"])
        r["delta_vs_scratch"] = (
            None if base is None or r["f1_mean"] is None or r["method"] == "scratch" else r["f1_mean"] - base
        )
    return rows


def _metric_means(metrics: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """Per metric name, the mean of its finite values over ``metrics`` (``None`` when there is none)."""
    names = dict.fromkeys(k for m in metrics for k in m)
    return {name: finite_mean([m[name].get("value") for m in metrics if name in m]) for name in names}


def write_labels_markdown(doc: dict[str, Any], path: Path, plot_name: str | None = None) -> Path:
    """The Markdown table of a labels study (mean ± sd of test F1 per method and fraction; for beat
    tasks also the mean SVEB / VEB Se, +P and F1)."""
    from leanecg.atomic import atomic_open

    study = labels_study(doc.get("task", "cinc2017"))
    summary = doc["summary"]
    fracs = sorted({r["label_fraction"] for r in summary})
    methods = [m for m in doc["config"]["methods"] if any(r["method"] == m for r in summary)]
    cell = {(r["method"], r["label_fraction"]): r for r in summary}

    def fmt(r: dict[str, Any] | None, key: str = "f1_mean") -> str:
        if r is None or r.get(key) is None:
            return "-"
        sd = f" ± {r['f1_sd']:.3f}" if r.get("f1_sd") is not None and key == "f1_mean" else ""
        return f"{r[key]:+.3f}" if key == "delta_vs_scratch" else f"{r[key]:.3f}{sd}"

    from leanecg.evaluate.report import report_title

    lines = [f"# {report_title(study.title, bool(doc.get('tiny')))}", ""]
    if doc.get("tiny"):
        lines += ["**Tiny smoke run: a few records per split; the numbers are not results.**", ""]
    cfg = doc["config"]
    lines += [
        f"Model `{cfg['model']}` (width {cfg['width']}), seeds {list(cfg['seeds'])}, "
        f"{cfg['num_threads']} thread(s), {doc['seconds_total'] / 60:.1f} min in total. {study.md_intro}, "
        f"{cfg['pretrain_epochs']} epochs, once per method and seed.",
        "",
        "| method | " + " | ".join(f"{f:.0%} labels" for f in fracs) + " |",
        "|---|" + "---|" * len(fracs),
    ]
    for m in methods:
        lines.append(f"| {m} | " + " | ".join(fmt(cell.get((m, f))) for f in fracs) + " |")
    for m in methods:
        if m == "scratch":
            continue
        lines.append(
            f"| {m} - scratch | "
            + " | ".join(fmt(cell.get((m, f)), "delta_vs_scratch") for f in fracs)
            + " |"
        )
    n_labels = {}
    for e in doc["results"]:
        n_labels[e["variant"]["label_fraction"]] = e["data"]["n_train"]
    lines += [
        "",
        f"Labelled {study.unit} per fraction: "
        + ", ".join(f"{f:.0%}: {n_labels.get(f, '-')}" for f in fracs)
        + ".",
    ]
    if study.detail_metrics:
        lines += [
            "",
            "Mean over seeds of the task's per-class scores:",
            "",
            "| method | labels | " + " | ".join(name for name, _ in study.detail_metrics) + " |",
            "|---|---|" + "---|" * len(study.detail_metrics),
        ]
        for f in fracs:
            for m in methods:
                means = (cell.get((m, f)) or {}).get("metric_means") or {}
                vals = [means.get(key) for _, key in study.detail_metrics]
                lines.append(
                    f"| {m} | {f:.0%} | " + " | ".join("-" if v is None else f"{v:.3f}" for v in vals) + " |"
                )
    lines += [
        "",
        "Protocol: " + " ".join(doc["protocol"].split()).replace("``", "`").replace(":func:", ""),
    ]
    if plot_name:
        lines += ["", f"![label-efficiency curve]({plot_name})"]
    with atomic_open(path) as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def write_labels_plot(
    summary: Sequence[dict[str, Any]],
    path: Path,
    tiny: bool = False,
    *,
    task: str = "cinc2017",
    ylabel: str = "test F1 (N, A, O)",
    unit: str = "records",
) -> Path | None:
    """F1 vs labelled fraction (log x), mean ± sd per method, as a PNG (``None`` without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return None
    from leanecg.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(6, 4))
    for method in dict.fromkeys(r["method"] for r in summary):
        rows = sorted((r for r in summary if r["method"] == method), key=lambda r: r["label_fraction"])
        x = [100 * r["label_fraction"] for r in rows]
        y = [r["f1_mean"] if r["f1_mean"] is not None else np.nan for r in rows]
        e = [r["f1_sd"] or 0.0 for r in rows]
        ax.errorbar(x, y, yerr=e, marker="o", capsize=3, label=method)
    ax.set_xscale("log")
    ax.set_xlabel(f"labelled training {unit} (%)")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{task} label efficiency" + (" (tiny smoke run)" if tiny else ""))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return path
