"""The explanation figure: the ECG on ECG paper, coloured by relevance; feature contributions; HTML and JSON.

:func:`plot_explanation` draws the record's chosen lead(s) as ECG paper strips (10 s per strip; 25 mm/s and
10 mm/mV, so one small square is 0.04 s x 0.1 mV and a large one 0.2 s x 0.5 mV), the trace in mV as
recorded (0.5-40 Hz band-passed for display only) coloured by the relevance of each sample (signed methods:
blue against, grey neutral, red for the explained class; Grad-CAM: grey to red) and drawn thicker where the
relevance is larger, R peaks marked (with each beat's predicted label for beat models), and the predicted
class with its probability in the title. Models with a feature input get a ranked bar chart of the feature
contributions (name, value with unit) below. :func:`write_explanation` writes ``.png``, ``.html`` (the
figure embedded, the prediction, beat counts and the contribution table; one self-contained file) or
``.json`` (:meth:`~leanecg.explain.core.Explanation.to_dict`).
"""

from __future__ import annotations

import base64
import html
import io
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.atomic import atomic_open, atomic_path, write_json
from leanecg.errors import LeanECGError

__all__ = ["FORMATS", "STRIP_S", "default_window", "plot_explanation", "write_explanation"]

FORMATS = ("png", "html", "json")
#: Seconds per strip, strips at most, and the default figure span of a long record (seconds).
STRIP_S = 10.0
MAX_STRIPS = 6
LONG_RECORD_SPAN_S = 20.0
#: Feature contributions shown in the bar chart.
TOP_FEATURES = 15


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def default_window(expl: Any) -> tuple[float, float]:
    """The span drawn by default: the whole record up to ``MAX_STRIPS * STRIP_S`` s; a longer record: 20 s
    around the focus beat (beat models) or its first 20 s."""
    dur = expl.duration_s
    if dur <= MAX_STRIPS * STRIP_S:
        return 0.0, dur
    if expl.beats and expl.focus_beat is not None:
        t = expl.beats[expl.focus_beat]["time_s"]
        start = min(max(0.0, t - LONG_RECORD_SPAN_S / 2), dur - LONG_RECORD_SPAN_S)
        return float(np.floor(start)), LONG_RECORD_SPAN_S
    return 0.0, LONG_RECORD_SPAN_S


def _display_trace(x: np.ndarray, fs: float) -> np.ndarray:
    from leanecg.signal.filters import bandpass

    x = np.nan_to_num(np.asarray(x, dtype=np.float64))
    try:
        return np.asarray(bandpass(x, fs, 0.5, min(40.0, 0.45 * fs)), dtype=np.float64)
    except LeanECGError:  # too short to filter: just remove the median
        return x - np.median(x)


def _cmap(signed: bool) -> Any:
    from matplotlib.colors import LinearSegmentedColormap

    if signed:
        return LinearSegmentedColormap.from_list("relevance", ["#1f4fd0", "#5a5a5a", "#d40000"])
    return LinearSegmentedColormap.from_list("relevance", ["#5a5a5a", "#ff7f00", "#d40000"])


def _title(expl: Any) -> str:
    t = f"class {expl.target}" if expl.target else f"the predicted class {expl.label}"
    if expl.kind == "beats":
        counts = Counter(b["label"] for b in expl.beats or [])
        summary = ", ".join(f"{c} {n:,}" for c, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        head = f"{expl.record}: {len(expl.beats or []):,} beats ({summary})"
        focus = expl.beats[expl.focus_beat] if expl.beats and expl.focus_beat is not None else None
        pred = f"beat at {focus['time_s']:.2f} s: {expl.label} (p = {expl.probability:.2f})" if focus else ""
        what = f"{expl.method_title} relevance for " + (t if expl.target else "each beat's predicted class")
        return f"{head} — {pred}\n{expl.model} · {what}"
    return (
        f"{expl.record}: predicted {expl.label} (p = {expl.probability:.2f})\n"
        f"{expl.model} · {expl.method_title} relevance for {t}"
    )


def plot_explanation(
    expl: Any,
    path: str | Path | None = None,
    *,
    start_s: float | None = None,
    duration_s: float | None = None,
) -> Any:
    """Draw the explanation figure (see the module docstring); returns the figure, or writes a PNG to
    ``path`` (atomically) and returns the path.

    Args:
        start_s, duration_s: the span drawn (default :func:`default_window`; at most 6 strips of 10 s).
    """
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize, TwoSlopeNorm
    from matplotlib.ticker import MultipleLocator

    plt = _plt()
    d_start, d_dur = default_window(expl)
    start = d_start if start_s is None else float(start_s)
    dur = (d_dur if start_s is None else expl.duration_s - start) if duration_s is None else float(duration_s)
    dur = min(dur, MAX_STRIPS * STRIP_S, max(expl.duration_s - start, 0.0))
    if not (0 <= start < expl.duration_s) or dur <= 0:
        raise LeanECGError("start_s", f"{start:g} s is outside the record ({expl.duration_s:.1f} s long)")
    fs = expl.fs
    i0, i1 = round(start * fs), min(expl.signal.shape[0], round((start + dur) * fs))
    n_leads = expl.signal.shape[1]
    # 10 s strips; a remainder under 2 s joins the last strip (drawn a little longer)
    n_strips = max(1, int(np.ceil((i1 - i0) / fs / STRIP_S - 0.2 - 1e-9)))
    signed = expl.method != "gradcam"
    rel_all = expl.relevance[i0:i1]
    scale = float(np.percentile(np.abs(rel_all), 99.5)) if rel_all.size else 0.0
    scale = scale if scale > 0 else 1.0
    norm = TwoSlopeNorm(0.0, -scale, scale) if signed else Normalize(0.0, scale)
    cmap = _cmap(signed)
    traces = [_display_trace(expl.signal[:, k], fs) for k in range(n_leads)]
    feats = expl.features[:TOP_FEATURES] if expl.features else None
    strips = []  # (lead, first sample, end sample, strip start s, y low, y high)
    for k in range(n_leads):
        for s in range(n_strips):
            a = i0 + round(s * STRIP_S * fs)
            b = i1 if s == n_strips - 1 else min(i1, i0 + round((s + 1) * STRIP_S * fs))
            x = traces[k][a:b]
            lo = min(-0.5, np.floor(np.percentile(x, 0.5) * 2) / 2 - 0.5) if x.size else -1.0
            hi = max(1.0, np.ceil(np.percentile(x, 99.5) * 2) / 2 + 0.5) if x.size else 1.0
            strips.append((k, a, b, start + s * STRIP_S, max(STRIP_S, (b - a) / fs), lo, hi))
    left, right = (0.2 if feats else 0.06), 0.93
    # axes width of a strip; its height follows from 25 mm/s and 10 mm/mV
    width_in = 14 * (right - left) * 60 / 61 * 0.97
    heights = [(hi - lo) * 0.4 / span * width_in + 0.15 for *_, span, lo, hi in strips]
    if feats:
        heights.append(0.3 * len(feats) + 0.9)
    fig_h = sum(heights) + 0.45 * len(heights) + 1.0
    fig = plt.figure(figsize=(14, fig_h))
    grid = fig.add_gridspec(
        len(heights),
        2,
        height_ratios=heights,
        width_ratios=[60, 1],
        hspace=0.55 / (sum(heights) / len(heights)),  # about 0.55 in between panels
        left=left,
        right=right,
        top=1 - 0.8 / fig_h,
        bottom=0.5 / fig_h,
    )
    rows = len(strips)
    beat_labels = {b["sample"]: b["label"] for b in expl.beats or []}
    peaks = expl.rpeaks
    first_class = expl.class_names[0] if expl.class_names else None
    for row, (k, a, b, t0, span, lo, hi) in enumerate(strips):
        ax = fig.add_subplot(grid[row, 0])
        t = np.arange(a, b) / fs
        x = traces[k][a:b]
        r = expl.relevance[a:b, min(k, expl.relevance.shape[1] - 1)]
        ax.set_xlim(t0, t0 + span)
        ax.set_ylim(lo, hi)
        ax.set_aspect(0.4)  # 25 mm/s, 10 mm/mV
        ax.set_facecolor("#fff8f6")
        ax.xaxis.set_major_locator(MultipleLocator(1.0))
        ax.xaxis.set_minor_locator(MultipleLocator(0.04))
        ax.yaxis.set_major_locator(MultipleLocator(0.5))
        ax.yaxis.set_minor_locator(MultipleLocator(0.1))
        ax.grid(which="minor", color="#f4c7c3", lw=0.35)
        ax.grid(which="major", axis="y", color="#e58b85", lw=0.8)
        for v in np.arange(np.ceil(t0 / 0.2 - 1e-9) * 0.2, t0 + span + 1e-9, 0.2):
            ax.axvline(v, color="#e58b85", lw=0.8, zorder=0.5)
        ax.set_axisbelow(True)
        ax.tick_params(which="both", labelsize=7, length=0)
        if t.size > 1:
            pts = np.column_stack([t, x])
            segs = np.stack([pts[:-1], pts[1:]], axis=1)
            rv = 0.5 * (r[:-1] + r[1:])
            mag = np.clip(np.abs(rv) / scale, 0, 1)
            lc = LineCollection(segs, cmap=cmap, norm=norm, linewidths=0.8 + 2.2 * mag, zorder=3)
            lc.set_array(rv)
            ax.add_collection(lc)
        for p in peaks[(peaks >= a) & (peaks < b)]:
            tp = p / fs
            ax.plot([tp], [hi - 0.16 * (hi - lo)], marker="v", ms=3.5, color="#333333", zorder=4)
            lab = beat_labels.get(int(p))
            if lab is not None:
                abnormal = lab != first_class
                ax.text(
                    tp,
                    hi - 0.03 * (hi - lo),
                    lab,
                    ha="center",
                    va="top",
                    fontsize=7.5,
                    fontweight="bold" if abnormal else "normal",
                    color="#b00000" if abnormal else "#333333",
                    zorder=5,
                )
        ax.set_ylabel(f"{expl.leads[k] if k < len(expl.leads) else ''} (mV)", fontsize=8)
        if row == rows - 1:
            ax.set_xlabel("time (s)", fontsize=8)
    cax = fig.add_subplot(grid[: max(rows, 1), 1])
    sm = _plt().cm.ScalarMappable(norm=norm, cmap=cmap)
    cb = fig.colorbar(sm, cax=cax)
    units = {"ig": "relevance (log-odds)", "occlusion": "relevance (probability drop)"}
    cb.set_label(units.get(expl.method, "Grad-CAM (arbitrary units)"), fontsize=8)
    cb.ax.tick_params(labelsize=7)
    if feats:
        ax = fig.add_subplot(grid[rows, 0])
        vals = [f.contribution for f in feats][::-1]
        labels = [
            f"{f.name} = {_fmt_value(f.value)}{(' ' + f.unit) if f.unit and np.isfinite(f.value) else ''}"
            for f in feats
        ][::-1]
        ax.barh(range(len(vals)), vals, color=["#d40000" if v > 0 else "#1f4fd0" for v in vals])
        ax.set_yticks(range(len(vals)), labels, fontsize=8)
        ax.axvline(0, color="#333333", lw=0.8)
        ax.set_xlabel(f"contribution to the {expl.feature_units}", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_title(
            f"feature contributions ({expl.features_of}; {expl.feature_method})",
            fontsize=9,
        )
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(_title(expl), fontsize=10.5, y=1 - 0.1 / fig_h, va="top", ha="center")
    if path is None:
        return fig
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def _fmt_value(v: float) -> str:
    if not np.isfinite(v):
        return "n/a"
    a = abs(v)
    return f"{v:.3g}" if a < 1000 else f"{v:,.0f}"


def _png_bytes(expl: Any, start_s: float | None, duration_s: float | None) -> bytes:
    fig = plot_explanation(expl, None, start_s=start_s, duration_s=duration_s)
    buf = io.BytesIO()
    fig.savefig(buf, dpi=110, bbox_inches="tight", format="png")
    _plt().close(fig)
    return buf.getvalue()


def explanation_html(expl: Any, *, start_s: float | None = None, duration_s: float | None = None) -> str:
    """One self-contained HTML page: the figure (embedded PNG), the prediction, beats and feature tables."""
    b64 = base64.b64encode(_png_bytes(expl, start_s, duration_s)).decode("ascii")
    esc = html.escape
    title = f"{expl.record}: {expl.method_title} explanation ({expl.model})"
    probs = "".join(f"<tr><td>{esc(c)}</td><td>{p:.3f}</td></tr>" for c, p in expl.probabilities.items())
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1300px}table{border-collapse:"
        "collapse;font-size:14px;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}th{background:#f0f4f8}img{max-width:100%}</style>",
        "</head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p>Predicted <b>{esc(expl.label)}</b> (p&nbsp;=&nbsp;{expl.probability:.3f}"
        + (f", {esc(_focus_text(expl))}" if expl.kind == "beats" else "")
        + f"); explained class: {esc(expl.target or 'the predicted class' + ('' if expl.kind == 'records' else ' of each beat'))}. "
        f"Leads: {esc(expl.lead_choice)}. Probabilities are temperature-scaled (T&nbsp;=&nbsp;{expl.temperature:.3f}).</p>",
        f"<img alt='{esc(title)}' src='data:image/png;base64,{b64}'>",
        "<h2>Class probabilities</h2><table><tr><th>class</th><th>probability</th></tr>" + probs + "</table>",
        "<h2>Method</h2><p>"
        + esc(expl.method_title)
        + (f"; baseline: {esc(expl.baseline)}" if expl.method != "gradcam" else "")
        + ". Relevance is computed at the model's rate "
        + f"({expl.fs_model:g} Hz) and interpolated to the record's ({expl.fs:g} Hz).</p>",
    ]
    if expl.notes:
        parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in expl.notes) + "</ul>")
    if expl.beats:
        counts = Counter(b["label"] for b in expl.beats)
        parts.append(
            "<h2>Beats</h2><table><tr><th>class</th><th>beats</th></tr>"
            + "".join(f"<tr><td>{esc(c)}</td><td>{n:,}</td></tr>" for c, n in counts.most_common())
            + "</table>"
        )
    if expl.features:
        parts.append(
            f"<h2>Feature contributions ({esc(expl.features_of or '')})</h2><table><tr><th>feature</th>"
            f"<th>value</th><th>unit</th><th>contribution ({esc(expl.feature_units)})</th></tr>"
            + "".join(
                f"<tr><td>{esc(f.name)}</td><td>{esc(_fmt_value(f.value))}</td><td>{esc(f.unit)}</td>"
                f"<td>{f.contribution:+.4f}</td></tr>"
                for f in expl.features
            )
            + "</table>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def _focus_text(expl: Any) -> str:
    if not expl.beats or expl.focus_beat is None:
        return ""
    return f"beat at {expl.beats[expl.focus_beat]['time_s']:.2f} s"


def write_explanation(
    expl: Any,
    out: str | Path,
    fmt: str | None = None,
    *,
    start_s: float | None = None,
    duration_s: float | None = None,
) -> Path:
    """Write ``expl`` to ``out`` as ``png``, ``html`` or ``json`` (``fmt``; default: ``out``'s suffix)."""
    out = Path(out)
    kind = (fmt or out.suffix.lstrip(".")).lower()
    if kind not in FORMATS:
        raise LeanECGError(out, f"unknown output format {kind!r}; use a .png, .html or .json file")
    if kind == "png":
        return plot_explanation(expl, out, start_s=start_s, duration_s=duration_s)
    if kind == "json":
        write_json(out, expl.to_dict())
        return out
    text = explanation_html(expl, start_s=start_s, duration_s=duration_s)
    with atomic_open(out) as fh:
        fh.write(text)
    return out
