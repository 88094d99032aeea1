"""The tables of the reduced-lead study (:mod:`leanecg.bench.leads`): :func:`summary_table` (one row per
lead set, model and approach over the seeds) and :func:`write_leads_markdown` (``leads.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.bench.leads_config import APPROACHES, REFERENCE_MODEL
from leanecg.bench.study import finite_mean

__all__ = ["fmt_value", "summary_table", "write_leads_markdown"]


def fmt_value(v: float | None, digits: int = 3) -> str:
    """``v`` with ``digits`` decimals, ``"n/a"`` for ``None``."""
    return "n/a" if v is None else f"{v:.{digits}f}"


def summary_table(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (lead set, model, approach) over the seeds' results: macro AUROC mean (``macro_auroc``),
    sd over seeds (ddof 1; ``None`` with one seed), the seeds' values, the mean of their 95 % CI bounds,
    mean AUPRC and F1, and the cost (params, MACs, bytes; latency: median over the seeds' timings)."""

    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for e in entries:
        groups.setdefault((e["variant"]["lead_set"], e["model"], e["variant"]["approach"]), []).append(e)
    rows = []
    for es in groups.values():
        e0 = es[0]
        auroc = [e["metrics"]["macro_auroc"]["value"] for e in es]
        finite = [x for x in auroc if x is not None and np.isfinite(x)]

        def cost(key: str, es: list[dict[str, Any]] = es) -> Any:
            v = [e["cost"].get(key) for e in es if e["cost"].get(key) is not None]
            return float(np.median(v)) if v and key.startswith("latency") else (v[0] if v else None)

        rows.append(
            {
                "lead_set": e0["variant"]["lead_set"],
                "leads": e0["variant"]["leads"],
                "model": e0["model"],
                "approach": e0["variant"]["approach"],
                "missing_leads": e0["variant"]["missing_leads"],
                "seeds": [e["variant"].get("seed") for e in es],
                "n_seeds": len(es),
                "macro_auroc": finite_mean(auroc),
                "macro_auroc_sd": float(np.std(finite, ddof=1)) if len(finite) > 1 else None,
                "macro_auroc_values": auroc,
                "ci_low": finite_mean([e["metrics"]["macro_auroc"]["ci_low"] for e in es]),
                "ci_high": finite_mean([e["metrics"]["macro_auroc"]["ci_high"] for e in es]),
                "macro_auprc": finite_mean([e["metrics"]["macro_auprc"]["value"] for e in es]),
                "macro_f1": finite_mean([e["metrics"]["macro_f1"]["value"] for e in es]),
                "params": cost("params"),
                "macs": cost("macs"),
                "bytes_fp32": cost("bytes_fp32"),
                "latency_ms_median": cost("latency_ms_median"),
                "latency_ratio_vs_reference": cost("latency_ratio_vs_reference"),
            }
        )
    return rows


def write_leads_markdown(doc: dict[str, Any], path: Path) -> Path:
    """The Markdown report of a leads study: the table per lead set and the lead-selection ranking."""
    from leanecg.atomic import atomic_open
    from leanecg.evaluate.report import report_title

    lines = [f"# {report_title('Reduced-lead benchmark (`leanecg bench leads`)', bool(doc.get('tiny')))}", ""]
    if doc.get("tiny"):
        lines += ["**Tiny smoke run: a few records per split, 2 epochs. These numbers are not results.**", ""]
    d = doc["data"]
    lines += [
        f"Task `{doc['task']}`: {d.get('split')}; {d.get('n_train')} train / {d.get('n_val')} val / "
        f"{d.get('n_test')} test records, 12 leads at {d['input']['fs']:g} Hz, 10 s. Metric: {doc['metric']}.",
        f"Cost: one input of the set's leads, batch 1, one thread; latency ratio vs `{REFERENCE_MODEL}` "
        "(width 1, same input) timed in the same run. Total time "
        f"{doc['seconds_total']:.0f} s.",
        "",
        f"Seeds {list(doc['config'].get('seeds', [doc['config'].get('seed', 0)]))}: macro AUROC is the mean ± sd "
        "over seeds, in brackets the mean of the seeds' 95 % CIs; AUPRC and F1 are means over seeds.",
        "",
        "| lead set | leads | model | approach | macro AUROC ± sd [95 % CI] | macro AUPRC | macro F1 | params | "
        "MACs | latency ms | vs resnet1d |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = {s: i for i, s in enumerate(doc["lead_sets"])}
    for r in sorted(
        doc["table"],
        key=lambda r: (order.get(r["lead_set"], 99), APPROACHES.index(r["approach"]), r["model"]),
    ):
        lines.append(
            f"| {r['lead_set']} | {', '.join(r['leads'])} | {r['model']} | {r['approach']} | "
            f"{fmt_value(r['macro_auroc'])}{_sd(r.get('macro_auroc_sd'))} "
            f"[{fmt_value(r['ci_low'])}, {fmt_value(r['ci_high'])}] | "
            f"{fmt_value(r['macro_auprc'])} | "
            f"{fmt_value(r['macro_f1'])} | {r['params']:,} | {_macs(r['macs'])} | "
            f"{fmt_value(r['latency_ms_median'], 2)} | "
            f"{fmt_value(r['latency_ratio_vs_reference'], 2)} |"
        )
    lines += [
        "",
        "*per-set*: trained on that lead set. *12-lead zero-filled*: the 12-lead per-set model run with the "
        "absent leads set to zero (never trained that way; cost is that of the 12-lead model). *lead-wise "
        "masked*: one weight-sharing model trained on 12 leads with lead-set dropout, absent leads masked "
        "(weights identical for every set; compute only for present leads).",
        "",
    ]
    s = doc.get("lead_selection")
    if s:
        lines += [
            f"## Lead-selection search (validation macro AUROC, lead-wise model of seed {s.get('seed', 0)}, masking)",
            "",
            s["method"] + ".",
            "",
        ]
        lines += ["| size | best validation subset | val AUROC | test AUROC [95 % CI] |", "|---|---|---|---|"]
        for b in s["best_per_size_on_test"]:
            t = b["test_macro_auroc"]
            lines.append(
                f"| {b['size']} | {', '.join(b['leads'])} | {fmt_value(b['val_score'])} | "
                f"{fmt_value(t['value'])} [{fmt_value(t['ci_low'])}, {fmt_value(t['ci_high'])}] |"
            )
        lines += [
            "",
            "Greedy forward selection: "
            + " -> ".join(f"{p['added']} ({fmt_value(p['score'])})" for p in s["greedy_forward"])
            + ".",
            "",
        ]
        for g in doc.get("lead_selection_greedy_by_seed") or []:
            if g["seed"] != s.get("seed"):
                lines += [
                    f"Greedy forward selection, seed {g['seed']}: "
                    + " -> ".join(f"{p['added']} ({fmt_value(p['score'])})" for p in g["greedy_forward"])
                    + ".",
                    "",
                ]
        lines += [
            "| CinC 2021 set | val AUROC | rank among subsets of its size | overall rank (of "
            f"{s['n_subsets']}) |",
            "|---|---|---|---|",
        ]
        for c in s["challenge_sets"]:
            lines.append(
                f"| {c['lead_set']} ({', '.join(c['leads'])}) | {fmt_value(c['val_score'])} | "
                f"{c['rank_within_size']} / {c['n_subsets_of_size']} | {c['rank_overall']} |"
            )
        lines += [
            "",
            f"Top {doc['config']['search_top']} subsets per size are in `leads.json` "
            "(`lead_selection.top_per_size`).",
            "",
        ]
    c = doc.get("cinc2021") or {}
    if not c.get("included", True):
        lines += ["## CinC 2021", "", "Not included: " + c["reason"], ""]
    with atomic_open(path, "w") as fh:
        fh.write("\n".join(lines))
    return Path(path)


def _sd(v: float | None) -> str:
    return "" if v is None else f" ± {v:.3f}"


def _macs(v: Any) -> str:
    if v is None:
        return "n/a"
    return f"{v / 1e6:.2f} M"
