"""Benchmark reports: a Markdown table, PNG plots and one self-contained HTML page.

Input is a list of result documents in the schema of :mod:`leanecg.evaluate.results`. Plots:
accuracy-vs-MACs Pareto front, confusion matrices, ROC and precision-recall curves, and (results with a
``calibration`` block) per-class reliability diagrams before / after temperature scaling and decision curves,
whose numbers are also tabled in ``results.md`` and the HTML page. The Pareto plots draw the front (a
staircase through its models, marked and labelled in bold), label every model without labels piling up
(:func:`place_point_labels`) and keep the log axis's tick labels apart (:func:`log_axis`). Results with an
examples document (``leanecg bench``: :mod:`leanecg.bench.examples`) get example ECG strips, predictions and
explanation figures (:mod:`leanecg.evaluate.report_examples`); the whole zoo's Pareto plots join when given
(``zoo_pareto``). The HTML page embeds the PNGs (base64) and the strips (SVG) so it can be mailed or archived
as one file.
"""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.atomic import atomic_open, atomic_path
from leanecg.evaluate.report_examples import EXAMPLES_CSS, examples_html, examples_markdown

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
    with_cv = any(
        r.get("cv") for r in results
    )  # `leanecg bench --cv K`: the pooled CV score beside the test's
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


def compact_number(v: float) -> str:
    """A tick label of a log axis: ``1.2M``, ``300k``, ``0.25`` (3 significant digits, SI suffixes from k)."""
    if not math.isfinite(v):
        return ""
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= scale:
            return f"{v / scale:.3g}{suffix}"
    return f"{v:.3g}"


#: Mantissas of the labelled ticks of a log axis, finest first (:func:`log_axis` takes the finest whose labels
#: do not overlap; the others become unlabelled minor ticks).
LOG_TICK_SUBS = (
    (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0),
    (1.0, 2.0, 3.0, 5.0),
    (1.0, 2.0, 5.0),
    (1.0,),
)


def _boxes_overlap(a: Any, b: Any, pad: float = 1.0) -> bool:
    return a.x0 < b.x1 + pad and b.x0 < a.x1 + pad and a.y0 < b.y1 + pad and b.y0 < a.y1 + pad


def visible_tick_labels(ax: Any, axis: str = "x") -> list[Any]:
    """The tick labels of ``ax``'s ``axis`` that are drawn: non-empty text at a tick inside the view."""
    ax.figure.canvas.draw()
    a = ax.xaxis if axis == "x" else ax.yaxis
    lo, hi = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    out = []
    for tick in [*a.get_major_ticks(), *a.get_minor_ticks()]:
        label = tick.label1
        if label.get_visible() and label.get_text() and lo <= tick.get_loc() <= hi:
            out.append(label)
    return out


def labels_overlap(labels: Sequence[Any]) -> bool:
    """Whether any two of the drawn text artists ``labels`` overlap (display coordinates)."""
    if not labels:
        return False
    renderer = labels[0].figure.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in labels]
    return any(_boxes_overlap(a, b, pad=0.0) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def log_axis(ax: Any, axis: str = "x", fontsize: float = 8.5) -> None:
    """Legible ticks on a log-scale axis: labelled major ticks at the finest mantissas of
    :data:`LOG_TICK_SUBS` (decades for a wide range) whose labels do not overlap, with :func:`compact_number`
    labels; the other 1..9 mantissas as unlabelled minor ticks; labels rotated 30 degrees only when even the
    decades would overlap."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    a = ax.xaxis if axis == "x" else ax.yaxis
    lo, hi = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    decades = math.log10(hi / lo) if lo > 0 and hi > lo else 1.0
    fmt = FuncFormatter(lambda v, _pos: compact_number(v))
    ax.tick_params(axis=axis, which="major", labelsize=fontsize)
    for subs in LOG_TICK_SUBS:
        # a mantissa set that puts more than ~12 labels on the axis is not even tried
        if len(subs) * max(decades, 0.3) > 12 and subs != LOG_TICK_SUBS[-1]:
            continue
        a.set_major_locator(LogLocator(base=10.0, subs=subs, numticks=40))
        a.set_major_formatter(fmt)
        a.set_minor_locator(LogLocator(base=10.0, subs=np.arange(1.0, 10.0), numticks=40))
        a.set_minor_formatter(NullFormatter())
        shown = visible_tick_labels(ax, axis)
        if len(shown) >= 2 and not labels_overlap(shown):
            return
    if labels_overlap(visible_tick_labels(ax, axis)):
        for label in a.get_majorticklabels():
            label.set_rotation(30)
            label.set_horizontalalignment("right")


#: Where :func:`place_point_labels` tries a label, as offsets in points from its point (first choice first).
_LABEL_OFFSETS = [
    (r * math.cos(math.radians(t)), r * math.sin(math.radians(t)))
    for r in (6, 14, 24, 36, 50)
    for t in (45, -45, 135, -135, 90, -90, 0, 180, 22, -22, 158, -158, 68, -68, 112, -112)
]


def place_point_labels(
    ax: Any,
    xs: Sequence[float],
    ys: Sequence[float],
    texts: Sequence[str],
    *,
    bold: Sequence[bool] | None = None,
    fontsize: float = 8.0,
) -> list[Any]:
    """Label every point ``(xs[i], ys[i])`` of ``ax`` with ``texts[i]`` without labels piling up: in the
    given order, each label takes the first offset of a fixed list (close first, then further out on rings)
    whose box overlaps no label placed before and no point and stays inside the axes; when none is free, the
    least-overlapping one. Labels away from their point get a thin leader line; ``bold[i]``: label ``i`` in
    bold. Call it after the axes' limits are final. Returns the annotations (in the order of ``texts``)."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    px_per_pt = fig.dpi / 72.0
    frame = ax.get_window_extent(renderer)
    pts = ax.transData.transform(np.column_stack([np.asarray(xs, float), np.asarray(ys, float)]))
    point_boxes = [(x - 4, y - 4, x + 4, y + 4) for x, y in pts]
    placed: list[tuple[float, float, float, float]] = []
    out = []
    for i in range(len(texts)):
        weight = "bold" if bold is not None and bold[i] else "normal"
        probe = ax.text(0, 0, texts[i], fontsize=fontsize, fontweight=weight)
        ext = probe.get_window_extent(renderer)
        probe.remove()
        w, h = ext.width, ext.height
        best, best_cost = None, math.inf
        for dx, dy in _LABEL_OFFSETS:
            ox, oy = pts[i][0] + dx * px_per_pt, pts[i][1] + dy * px_per_pt
            x0 = ox if dx > 0.5 else (ox - w if dx < -0.5 else ox - w / 2)
            y0 = oy if dy > 0.5 else (oy - h if dy < -0.5 else oy - h / 2)
            box = (x0, y0, x0 + w, y0 + h)
            cost = sum(_area(box, b) for b in placed) + sum(
                _area(box, b) for j, b in enumerate(point_boxes) if j != i
            )
            outside = max(0.0, frame.x0 - box[0]) + max(0.0, box[2] - frame.x1)
            outside += max(0.0, frame.y0 - box[1]) + max(0.0, box[3] - frame.y1)
            cost += outside * h * 4
            if cost < best_cost - 1e-9:
                best, best_cost = (dx, dy, box), cost
            if cost == 0:
                break
        dx, dy, box = best  # type: ignore[misc]
        placed.append(box)
        far = math.hypot(dx, dy) > 10
        out.append(
            ax.annotate(
                texts[i],
                (xs[i], ys[i]),
                textcoords="offset points",
                xytext=(dx, dy),
                fontsize=fontsize,
                fontweight=weight,
                ha="left" if dx > 0.5 else ("right" if dx < -0.5 else "center"),
                va="bottom" if dy > 0.5 else ("top" if dy < -0.5 else "center"),
                arrowprops={"arrowstyle": "-", "color": "#888888", "lw": 0.6, "shrinkA": 0, "shrinkB": 3}
                if far
                else None,
            )
        )
    return out


def _area(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


#: Axis titles of the cost keys of :func:`plot_pareto`.
COST_AXIS = {
    "macs": "MACs per example (log scale)",
    "latency_ms_median": "latency, ms per example at batch 1, one thread (log scale)",
    "params": "parameters (log scale)",
    "bytes_fp32": "bytes fp32 (log scale)",
}


def pareto_figure(results: Sequence[dict[str, Any]], cost_key: str = "macs") -> Any:
    """The figure of :func:`plot_pareto` (``None`` when no result has both the cost and the metric)."""
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
    fig, ax = plt.subplots(figsize=(8, 5) if len(pts) <= 12 else (10, 6.5))
    front = pareto_front(cost, score)
    on_front = np.zeros(len(pts), dtype=bool)
    on_front[front] = True
    ax.errorbar(
        cost, score, yerr=[score - lo, hi - score], fmt="none", ecolor="#9bb7d4", elinewidth=1, capsize=2.5
    )
    ax.scatter(cost[~on_front], score[~on_front], s=22, color="tab:blue", zorder=3, label="model")
    ax.scatter(
        cost[on_front],
        score[on_front],
        s=40,
        color="tab:red",
        edgecolor="black",
        lw=0.6,
        zorder=4,
        label="on the Pareto front",
    )
    # the front: the best score reachable at each cost (a staircase through the front's points)
    fx, fy = cost[front], score[front]
    ax.step(
        np.append(fx, cost.max() * 1.5),
        np.append(fy, fy[-1]),
        where="post",
        color="tab:red",
        lw=1.2,
        alpha=0.8,
        zorder=2,
        label="Pareto front",
    )
    ax.set_xscale("log")
    span = math.log10(cost.max() / cost.min()) if cost.min() > 0 else 1.0
    pad = 10 ** (0.08 * max(span, 0.5))
    ax.set_xlim(cost.min() / pad, cost.max() * pad)
    y_lo, y_hi = float(np.nanmin(lo)), float(np.nanmax(hi))
    y_pad = 0.08 * max(y_hi - y_lo, 0.02)
    ax.set_ylim(y_lo - y_pad, y_hi + 2 * y_pad)
    ax.set_xlabel(COST_AXIS.get(cost_key, f"{cost_key} (log scale)"), fontsize=9.5)
    ax.set_ylabel(f"{results[0]['primary_metric']} (test, 95 % CI)", fontsize=9.5)
    ax.tick_params(axis="y", labelsize=8.5)
    ax.set_title(f"{results[0]['task']}: accuracy vs cost", fontsize=11)
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.12)
    # the legend below the axes, where it hides no point and no label
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, fontsize=8, frameon=False)
    log_axis(ax, "x")
    # the front's labels first (they get the closest places), then the others from the top
    order = sorted(range(len(pts)), key=lambda i: (not on_front[i], -score[i], cost[i]))
    place_point_labels(
        ax,
        cost[order],
        score[order],
        [_label(pts[i][0]) for i in order],
        bold=[bool(on_front[i]) for i in order],
    )
    return fig


def plot_pareto(results: Sequence[dict[str, Any]], path: Path, cost_key: str = "macs") -> Path | None:
    """Primary metric vs cost (log scale) with 95 % CI bars: every model labelled (labels placed apart by
    :func:`place_point_labels`), the Pareto front drawn (a staircase through its models, which are red and
    labelled in bold), legible tick labels (:func:`log_axis`). ``None`` when nothing has the cost."""
    fig = pareto_figure(results, cost_key)
    return None if fig is None else _save(fig, path)


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
    results: Sequence[dict[str, Any]],
    out_dir: str | Path,
    title: str | None = None,
    *,
    zoo_pareto: Sequence[tuple[str, Path]] = (),
) -> dict[str, Path]:
    """Write ``results.md``, PNG plots and ``report.html`` into ``out_dir``; returns their paths.

    When every result is of a smoke run (``data.tiny``, ``leanecg bench --tiny``) the title of both reports
    says so (:func:`report_title`). Results with an examples document in ``out_dir/examples/``
    (:mod:`leanecg.evaluate.report_examples`, written by ``leanecg bench``) get their example ECG strips,
    predictions and explanation figures in the HTML page (a table of them in ``results.md``).
    ``zoo_pareto``: ``(caption, PNG)`` of the whole zoo's Pareto plots (the task's leaderboard), embedded in
    the HTML page and linked from ``results.md`` under "Pareto front of the whole zoo"."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    task = results[0]["task"] if results else "results"
    tiny = bool(results) and all(bool((r.get("data") or {}).get("tiny")) for r in results)
    title = report_title(title or f"LeanECG benchmark: {task}", tiny)
    files: dict[str, Path] = {}
    zoo = [(caption, Path(png)) for caption, png in zoo_pareto if Path(png).is_file()]
    md = (
        f"# {title}\n\n"
        + markdown_table(results)
        + calibration_markdown(results)
        + examples_markdown(results, out_dir)
        + _zoo_markdown(zoo, out_dir)
    )
    with atomic_open(out_dir / "results.md") as fh:
        fh.write(md)
    files["markdown"] = out_dir / "results.md"

    images: list[tuple[str, Path]] = []
    for key, caption in (  # the Pareto plots come first, the example ECGs after them
        ("macs", "Accuracy vs MACs (Pareto front)"),
        ("latency_ms_median", "Accuracy vs latency at batch 1, one thread (Pareto front)"),
    ):
        p = plot_pareto(results, out_dir / f"pareto_{key.split('_')[0]}.png", cost_key=key)
        if p:
            images.append((caption, p))
    n_pareto = len(images)
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
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1320px}"
        "table{border-collapse:collapse;font-size:14px}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:right}td:first-child,th:first-child{text-align:left}th{background:#f0f4f8}"
        "img{max-width:100%;border:1px solid #eee;margin:8px 0}code{background:#f4f4f4;padding:1px 4px}"
        + EXAMPLES_CSS
        + "</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<p>Metrics with 95&nbsp;% bootstrap confidence intervals; cost measured in the same run "
        "(latency: median at batch&nbsp;1 on one thread).</p>",
        "<table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead><tbody>",
        *("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows),
        "</tbody></table>",
        *_html_calibration(results),
    ]
    for k, (caption, img) in enumerate(images):
        if k == n_pareto:
            parts += examples_html(results, out_dir)
        parts.append(_html_image(caption, img))
    if n_pareto == len(images):
        parts += examples_html(results, out_dir)
    if zoo:
        parts.append(
            "<h2>Pareto front of the whole zoo</h2><p>From the task's leaderboard (<code>leanecg bench "
            f"{html.escape(task)} --models all</code>): every zoo model on one recipe and budget, mean over "
            "seeds.</p>"
        )
        parts += [_html_image(caption, png, level=3) for caption, png in zoo]
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


def _html_image(caption: str, png: Path, level: int = 2) -> str:
    """A heading and the PNG embedded (base64)."""
    b64 = base64.b64encode(png.read_bytes()).decode("ascii")
    return (
        f"<h{level}>{html.escape(caption)}</h{level}><img alt='{html.escape(caption)}' "
        f"src='data:image/png;base64,{b64}'>"
    )


def _zoo_markdown(zoo: Sequence[tuple[str, Path]], out_dir: Path) -> str:
    """Links to the whole zoo's Pareto plots (relative to ``out_dir``)."""
    if not zoo:
        return ""
    links = "".join(
        f"- [{caption}]({Path(os.path.relpath(png, out_dir)).as_posix()})\n" for caption, png in zoo
    )
    return "\n## Pareto front of the whole zoo\n\nFrom the task's leaderboard:\n\n" + links


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
