"""Benchmark reports: a Markdown table, PNG plots and one self-contained HTML page.

Input is a list of result documents in the schema of :mod:`leanecg.evaluate.results`. Plots:
accuracy-vs-MACs Pareto front, confusion matrices, ROC and precision-recall curves, and (results with a
``calibration`` block) per-class reliability diagrams before / after temperature scaling and decision curves,
whose numbers are also tabled in ``results.md`` and the HTML page. The HTML page
embeds the PNGs (base64) so it can be mailed or archived as one file.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.atomic import atomic_open, atomic_path

COST_COLUMNS = (
    ("params", "params", "{:,.0f}"),
    ("macs", "MACs", "{:,.0f}"),
    ("bytes_fp32", "bytes fp32", "{:,.0f}"),
    ("latency_ms_median", "latency ms (b=1, 1 thr)", "{:.3g}"),
    ("latency_ratio_vs_reference", "× reference latency", "{:.3g}"),
)


def _fmt_metric(entry: dict[str, Any] | None) -> str:
    if not entry or entry.get("value") is None:
        return "–"
    v = entry["value"]
    lo, hi = entry.get("ci_low"), entry.get("ci_high")
    if lo is None or hi is None:
        return f"{v:.3f}"
    return f"{v:.3f} [{lo:.3f}, {hi:.3f}]"


def _fmt_cost(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return fmt.format(value)


def _label(r: dict[str, Any]) -> str:
    variant = r.get("variant") or {}
    if not variant:
        return str(r["model"])
    return f"{r['model']} ({', '.join(f'{k}={_short(v)}' for k, v in sorted(variant.items()))})"


def _short(v: Any) -> str:
    return "+".join(map(str, v)) if isinstance(v, list | tuple) else str(v)


def table_rows(results: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the comparison table (metrics with 95 % CI, then cost)."""
    metric_names = list(dict.fromkeys(m for r in results for m in r["metrics"]))
    primary = results[0]["primary_metric"] if results else ""
    metric_names = (
        [primary, *(m for m in metric_names if m != primary)] if primary in metric_names else metric_names
    )
    header = ["model", "family", *[f"{m} (95% CI)" for m in metric_names], *[c[1] for c in COST_COLUMNS]]
    with_cv = any(r.get("cv") for r in results)  # `leanecg bench --cv K`: the pooled CV score beside the test's
    if with_cv:
        header.insert(3, f"CV {primary} (pooled)")
    rows = []
    for r in results:
        row = [_label(r), str(r.get("family") or "")]
        row += [_fmt_metric(r["metrics"].get(m)) for m in metric_names]
        if with_cv:
            cv = r.get("cv") or {}
            pooled = (cv.get("pooled") or {}).get(primary)
            row.insert(3, f"{pooled:.3f} ({cv['k']}-fold)" if pooled is not None else "–")
        row += [_fmt_cost(r["cost"].get(key), fmt) for key, _, fmt in COST_COLUMNS]
        rows.append(row)
    return header, rows


def markdown_table(results: Sequence[dict[str, Any]]) -> str:
    """The comparison table as GitHub Markdown."""
    header, rows = table_rows(results)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def pareto_front(cost: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Indices of the Pareto-optimal points (lower cost, higher score), sorted by cost."""
    order = np.lexsort((-score, cost))
    front, best = [], -np.inf
    for i in order:
        if score[i] > best:
            front.append(i)
            best = score[i]
    return np.asarray(front, dtype=np.int64)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    _plt().close(fig)
    return path


def plot_pareto(results: Sequence[dict[str, Any]], path: Path, cost_key: str = "macs") -> Path | None:
    """Primary metric vs cost (log scale) with 95 % CI bars and the Pareto front."""
    pts = [
        (r, r["cost"].get(cost_key), r["metrics"][r["primary_metric"]])
        for r in results
        if r["cost"].get(cost_key) and r["metrics"][r["primary_metric"]].get("value") is not None
    ]
    if not pts:
        return None
    plt = _plt()
    cost = np.array([p[1] for p in pts], dtype=float)
    score = np.array([p[2]["value"] for p in pts], dtype=float)
    lo = np.array([p[2].get("ci_low") if p[2].get("ci_low") is not None else p[2]["value"] for p in pts])
    hi = np.array([p[2].get("ci_high") if p[2].get("ci_high") is not None else p[2]["value"] for p in pts])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.errorbar(cost, score, yerr=[score - lo, hi - score], fmt="o", capsize=3, color="tab:blue", alpha=0.8)
    front = pareto_front(cost, score)
    ax.plot(cost[front], score[front], "-", color="tab:red", label="Pareto front")
    for (r, _, _), c, s in zip(pts, cost, score, strict=True):
        ax.annotate(_label(r), (c, s), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel(f"{cost_key} (log scale)")
    ax.set_ylabel(results[0]["primary_metric"])
    ax.set_title(f"{results[0]['task']}: accuracy vs cost")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_confusion(result: dict[str, Any], path: Path) -> Path | None:
    """Confusion matrix (counts, colour = row-normalised recall)."""
    conf = result.get("confusion") or {}
    if not conf.get("matrix"):
        return None
    plt = _plt()
    m = np.asarray(conf["matrix"], dtype=float)
    labels = conf.get("labels") or [str(i) for i in range(len(m))]
    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.1 * len(labels) + 2, 1.0 * len(labels) + 1.5))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(
                j,
                i,
                f"{int(m[i, j])}",
                ha="center",
                va="center",
                color="white" if norm[i, j] > 0.5 else "black",
                fontsize=9,
            )
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("reference")
    ax.set_title(f"{_label(result)}: confusion matrix")
    return _save(fig, path)


def plot_curves(result: dict[str, Any], path: Path) -> Path | None:
    """Per-class ROC and precision-recall curves side by side."""
    curves = result.get("curves") or {}
    roc, pr = curves.get("roc") or {}, curves.get("pr") or {}
    if not roc and not pr:
        return None
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5))
    for cls, c in roc.items():
        a1.plot(c["fpr"], c["tpr"], label=f"{cls} (AUC {c.get('auc', float('nan')):.3f})")
    a1.plot([0, 1], [0, 1], "--", color="grey", lw=0.8)
    a1.set_xlabel("false positive rate")
    a1.set_ylabel("true positive rate")
    a1.set_title("ROC")
    a1.legend(fontsize=8)
    for cls, c in pr.items():
        a2.plot(c["recall"], c["precision"], label=f"{cls} (AP {c.get('ap', float('nan')):.3f})")
    a2.set_xlabel("recall")
    a2.set_ylabel("precision")
    a2.set_title("precision-recall")
    a2.legend(fontsize=8)
    fig.suptitle(_label(result))
    return _save(fig, path)


#: Threshold probabilities at which the Markdown / HTML tables quote the decision curves.
NET_BENEFIT_AT = (0.1, 0.2, 0.5)


def _nb_at(dc: dict[str, Any], pt: float, key: str = "net_benefit") -> float | None:
    ths = dc.get("thresholds") or []
    vals = dc.get(key) or []
    for t, v in zip(ths, vals, strict=False):
        if abs(float(t) - pt) < 1e-9:
            return v
    return None


def _fmt_opt(v: Any, fmt: str = "{:.3f}") -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)


def calibration_rows(results: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the calibration summary: temperature, ECE and NLL before -> after, per model."""
    header = [
        "model",
        "T (fitted on)",
        "macro ECE before → after",
        "top-label ECE before → after",
        "test NLL before → after",
    ]
    rows = []
    for r in results:
        c = r.get("calibration")
        if not c:
            continue
        if "error" in c:
            rows.append([_label(r), f"not computed: {c['error']}", "–", "–", "–"])
            continue
        rows.append(
            [
                _label(r),
                f"{c['temperature']:.3f} ({c.get('fitted_on', 'val')}, n = {c.get('n_val', '?')})",
                f"{_fmt_opt(c.get('ece_macro_before'))} → {_fmt_opt(c.get('ece_macro_after'))}",
                f"{_fmt_opt(c.get('ece_top_label_before'))} → {_fmt_opt(c.get('ece_top_label_after'))}",
                f"{_fmt_opt(c.get('nll_test_before'))} → {_fmt_opt(c.get('nll_test_after'))}",
            ]
        )
    return header, rows


def calibration_class_rows(results: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Per model and class: support, ECE before -> after temperature scaling, and the net benefit of the
    calibrated probabilities at :data:`NET_BENEFIT_AT` (treat-all in brackets; treat-none is 0)."""
    header = ["model", "class", "test positives", "ECE before → after"] + [
        f"net benefit at {pt:g} (treat all)" for pt in NET_BENEFIT_AT
    ]
    rows = []
    for r in results:
        c = r.get("calibration") or {}
        for cls, v in (c.get("per_class") or {}).items():
            dc = v.get("decision_curve") or {}
            nb = [
                f"{_fmt_opt(_nb_at(dc, pt), '{:+.3f}')} ({_fmt_opt(_nb_at(dc, pt, 'treat_all'), '{:+.3f}')})"
                for pt in NET_BENEFIT_AT
            ]
            rows.append(
                [
                    _label(r),
                    str(cls),
                    f"{v.get('support', 0):,}",
                    f"{_fmt_opt(v.get('ece_before'))} → {_fmt_opt(v.get('ece_after'))}",
                    *nb,
                ]
            )
    return header, rows


def _md(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def calibration_markdown(results: Sequence[dict[str, Any]]) -> str:
    """The report's calibration section (empty when no result has a ``calibration`` block)."""
    header, rows = calibration_rows(results)
    if not rows:
        return ""
    ch, crows = calibration_class_rows(results)
    return (
        "\n## Calibration and decision curves\n\n"
        "Temperature scaling: one temperature T per model, fitted by negative log-likelihood on the validation "
        "predictions; ECE with 10 equal-width bins on the test split (per class: one-vs-rest; top label: "
        "confidence of the predicted class vs accuracy). Net benefit (decision-curve analysis, Vickers & Elkin "
        "2006) of treating the test examples whose calibrated probability of the class is at least the "
        "threshold, `TP/n - FP/n * pt/(1 - pt)`, next to treating all (treating none is 0). Reliability "
        "diagrams and full decision curves: `calibration_<model>.png` and the HTML report.\n\n"
        + _md(header, rows)
        + "\n"
        + _md(ch, crows)
    )


def plot_calibration(result: dict[str, Any], path: Path) -> Path | None:
    """Per class: the reliability diagram before / after temperature scaling (top) and the decision curve
    with treat-all and treat-none (bottom), on the test split."""
    c = result.get("calibration") or {}
    per_class = c.get("per_class") or {}
    if not per_class:
        return None
    plt = _plt()
    n = len(per_class)
    fig, axes = plt.subplots(2, n, figsize=(3.3 * n + 0.5, 6.8), squeeze=False)
    for j, (cls, v) in enumerate(per_class.items()):
        ax = axes[0, j]
        ax.plot([0, 1], [0, 1], "--", color="grey", lw=0.8)
        for key, style, lab in (
            ("reliability_before", dict(color="#999999", marker="o", ls=":"), "before"),
            ("reliability_after", dict(color="tab:blue", marker="o", ls="-"), f"T = {c['temperature']:.2f}"),
        ):
            rd = v.get(key) or {}
            mp = np.array([np.nan if m is None else m for m in rd.get("mean_predicted", [])], dtype=float)
            fp = np.array([np.nan if m is None else m for m in rd.get("fraction_positive", [])], dtype=float)
            ok = np.isfinite(mp) & np.isfinite(fp)
            ece = rd.get("ece")
            ax.plot(mp[ok], fp[ok], ms=3.5, lw=1.2, label=f"{lab} (ECE {_fmt_opt(ece)})", **style)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"{cls} (n+ = {v.get('support', 0):,})", fontsize=9)
        ax.set_xlabel("mean predicted probability", fontsize=8)
        if j == 0:
            ax.set_ylabel("fraction positive", fontsize=8)
        ax.legend(fontsize=7, loc="upper left")
        ax.tick_params(labelsize=7)
        ax = axes[1, j]
        dc = v.get("decision_curve") or {}
        pt = np.asarray(dc.get("thresholds") or [], dtype=float)
        if pt.size:
            nb = np.asarray(dc["net_benefit"], dtype=float)
            ax.plot(pt, nb, color="tab:blue", lw=1.4, label="model (calibrated)")
            raw = dc.get("net_benefit_uncalibrated")
            if raw:
                raw_nb = np.asarray(raw, dtype=float)
                ax.plot(pt, raw_nb, color="#999999", ls=":", lw=1.2, label="uncalibrated")
            ax.plot(pt, np.asarray(dc["treat_all"], dtype=float), color="tab:red", lw=1.0, label="treat all")
            ax.axhline(0.0, color="black", lw=0.9, label="treat none")
            prev = max(float(dc.get("prevalence") or 0.0), 0.02)
            low = float(np.nanmin(nb)) if np.isfinite(nb).any() else 0.0
            if raw:
                low = min(low, float(np.nanmin(raw_nb)))
            ax.set_ylim(max(min(-0.25 * prev, 1.15 * low), -1.5 * prev), prev * 1.15)
            ax.set_xlim(0, 1)
        ax.set_xlabel("threshold probability", fontsize=8)
        if j == 0:
            ax.set_ylabel("net benefit", fontsize=8)
        ax.legend(fontsize=7, loc="upper right")
        ax.tick_params(labelsize=7)
    fig.suptitle(
        f"{_label(result)}: reliability (test, before / after temperature scaling) and decision curves",
        fontsize=10,
    )
    fig.tight_layout()
    return _save(fig, path)


def _flatten(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``{"a": {"b": 1}}`` -> ``[("a.b", 1)]`` (config dicts are left out: they are in the JSON)."""
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        if k == "config":
            continue
        if isinstance(v, dict):
            out += _flatten(v, f"{prefix}{k}.")
        else:
            out.append((f"{prefix}{k}", v))
    return out


#: What the title of a smoke-run report (``--tiny``: a few records, 2 epochs) says: its numbers are not results.
SMOKE_RUN = "smoke run — not a benchmark"


def report_title(title: str, tiny: bool) -> str:
    """``title``, marked ``(smoke run — not a benchmark)`` for a smoke run (``tiny``)."""
    return f"{title} ({SMOKE_RUN})" if tiny and SMOKE_RUN not in title else title


def write_report(
    results: Sequence[dict[str, Any]], out_dir: str | Path, title: str | None = None
) -> dict[str, Path]:
    """Write ``results.md``, PNG plots and ``report.html`` into ``out_dir``; returns their paths.

    When every result is of a smoke run (``data.tiny``, ``leanecg bench --tiny``) the title of both reports
    says so (:func:`report_title`)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    task = results[0]["task"] if results else "results"
    tiny = bool(results) and all(bool((r.get("data") or {}).get("tiny")) for r in results)
    title = report_title(title or f"LeanECG benchmark: {task}", tiny)
    files: dict[str, Path] = {}
    md = f"# {title}\n\n" + markdown_table(results) + calibration_markdown(results)
    with atomic_open(out_dir / "results.md") as fh:
        fh.write(md)
    files["markdown"] = out_dir / "results.md"

    images: list[tuple[str, Path]] = []
    for key, caption in (
        ("macs", "Accuracy vs MACs (Pareto front)"),
        ("latency_ms_median", "Accuracy vs latency at batch 1, one thread (Pareto front)"),
    ):
        p = plot_pareto(results, out_dir / f"pareto_{key.split('_')[0]}.png", cost_key=key)
        if p:
            images.append((caption, p))
    for r in results:
        stem = Path(str(r.get("_file", "")) or _label(r)).stem.replace(" ", "_")
        stem = "".join(c if c.isalnum() or c in "-_=+." else "_" for c in stem)
        plots = (("confusion", plot_confusion), ("curves", plot_curves), ("calibration", plot_calibration))
        for kind, fn in plots:
            q = fn(r, out_dir / f"{kind}_{stem}.png")
            if q:
                images.append((f"{_label(r)}: {kind}", q))
    for _, img in images:
        files[img.stem] = img

    header, rows = table_rows(results)
    prov = results[0].get("provenance", {}) if results else {}
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}"
        "table{border-collapse:collapse;font-size:14px}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:right}td:first-child,th:first-child{text-align:left}th{background:#f0f4f8}"
        "img{max-width:100%;border:1px solid #eee;margin:8px 0}code{background:#f4f4f4;padding:1px 4px}"
        "</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<p>Metrics with 95&nbsp;% bootstrap confidence intervals; cost measured in the same run "
        "(latency: median at batch&nbsp;1 on one thread).</p>",
        "<table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead><tbody>",
        *("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows),
        "</tbody></table>",
        *_html_calibration(results),
    ]
    for caption, img in images:
        b64 = base64.b64encode(img.read_bytes()).decode("ascii")
        parts.append(
            f"<h2>{html.escape(caption)}</h2><img alt='{html.escape(caption)}' "
            f"src='data:image/png;base64,{b64}'>"
        )
    if prov:
        parts.append("<h2>Provenance</h2><table>")
        parts += [
            f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in _flatten(prov)
        ]
        parts.append("</table>")
    parts.append("</body></html>")
    with atomic_open(out_dir / "report.html") as fh:
        fh.write("\n".join(parts))
    files["html"] = out_dir / "report.html"
    return files


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    return (
        "<table><thead><tr>"
        + "".join(f"<th>{html.escape(h)}</th>" for h in header)
        + "</tr></thead><tbody>"
        + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
        + "</tbody></table>"
    )


def _html_calibration(results: Sequence[dict[str, Any]]) -> list[str]:
    """The HTML calibration section: the two tables of :func:`calibration_markdown` (figures follow below)."""
    header, rows = calibration_rows(results)
    if not rows:
        return []
    return [
        "<h2>Calibration and decision curves</h2>",
        "<p>Temperature scaling fitted by NLL on the validation predictions; ECE (10 equal-width bins) on the "
        "test split before and after it; net benefit of the calibrated probabilities at a few threshold "
        "probabilities, with treat-all in brackets (treat-none is 0). Reliability diagrams and decision curves "
        "of every class are below.</p>",
        _html_table(header, rows),
        _html_table(*calibration_class_rows(results)),
    ]
