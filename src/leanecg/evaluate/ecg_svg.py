"""ECG strips as inline SVG: the trace in mV against seconds on an ECG grid, R peaks and beat labels coloured
by class, the rhythm prediction in the title. numpy only (no matplotlib), so the runtime install draws them
(the quickstart report; the bench report's example strips; ``leanecg serve``'s viewer uses the same colours:
:data:`CLASS_COLOURS`). Also importable as ``leanecg.deploy.ecg_svg``.

The grid is the paper ECG's at 25 mm/s and 10 mm/mV: minor lines every 0.04 s and 0.1 mV, major every
0.2 s and 0.5 mV. Each beat marker is an SVG element of class ``beat`` with ``data-label`` (its class) and
``data-sample`` (its R peak), so a page that shows strips can be checked by counting them; a highlighted
beat (``highlight``) is a band of class ``focus`` behind the trace.
"""

from __future__ import annotations

import html
import math
import zlib
from collections.abc import Sequence

import numpy as np

__all__ = ["CLASS_COLOURS", "class_colour", "ecg_strip_svg"]

#: Colour of each beat class (AAMI) and rhythm class (CinC 2017); others get :data:`OTHER_COLOUR`.
CLASS_COLOURS = {
    "N": "#2e7d32",
    "S": "#1565c0",
    "V": "#c62828",
    "F": "#ef6c00",
    "Q": "#6a1b9a",
    "A": "#c62828",
    "O": "#ef6c00",
    "~": "#6a1b9a",
}
OTHER_COLOUR = "#455a64"

#: Pixels per millimetre of ECG paper (25 mm/s, 10 mm/mV).
PX_PER_MM = 4.0
_MARGIN = {"left": 44, "right": 22, "top": 30, "bottom": 26}


def class_colour(label: str) -> str:
    """The colour of a class label (:data:`CLASS_COLOURS`)."""
    return CLASS_COLOURS.get(label, OTHER_COLOUR)


def ecg_strip_svg(
    signal_mv: np.ndarray,
    fs: float,
    *,
    start_s: float = 0.0,
    seconds: float = 10.0,
    peaks: Sequence[int] | np.ndarray | None = None,
    labels: Sequence[str] | None = None,
    title: str = "",
    lead: str = "",
    time_offset_s: float = 0.0,
    highlight: Sequence[int] | np.ndarray | None = None,
) -> str:
    """One strip of a 1-D signal (mV) as an ``<svg>`` element.

    Args:
        signal_mv: the whole lead, mV (NaNs are drawn as gaps).
        fs: its sampling rate, Hz.
        start_s, seconds: the stretch drawn (cut to the signal's end).
        peaks: R-peak sample indices of the whole signal (those inside the stretch are drawn).
        labels: one class per peak (drawn above it, coloured by :func:`class_colour`); ``None``: markers only.
        title: text above the strip (e.g. the record and its rhythm prediction).
        lead: the lead's name, drawn at the left.
        time_offset_s: time of sample 0 of ``signal_mv`` in the whole recording (s), for the time axis of an
            excerpt (``signal_mv`` cut from a longer record at ``time_offset_s``).
        highlight: sample indices (of ``signal_mv``) of beats to mark with a band 0.2 s wide (the example beat
            of a report).
    """
    x = np.asarray(signal_mv, dtype=np.float64).reshape(-1)
    fs = float(fs)
    i0 = max(0, round(start_s * fs))
    i1 = min(x.size, i0 + max(1, round(seconds * fs)))
    seg = x[i0:i1]
    dur = max(seg.size / fs, 1.0 / fs)
    finite = seg[np.isfinite(seg)]
    lo, hi = (float(np.min(finite)), float(np.max(finite))) if finite.size else (-1.0, 1.0)
    lo, hi = math.floor(min(lo, -0.5) * 2) / 2 - 0.5, math.ceil(max(hi, 0.5) * 2) / 2 + 0.5
    mm_x, mm_y = 25.0 * PX_PER_MM, 10.0 * PX_PER_MM  # px per second, px per mV
    w, h = dur * mm_x, (hi - lo) * mm_y
    ml, mt = _MARGIN["left"], _MARGIN["top"]
    width, height = ml + w + _MARGIN["right"], mt + h + _MARGIN["bottom"]
    uid = f"g{zlib.crc32(f'{i0}:{i1}:{title}:{lead}:{x.size}'.encode()):08x}"  # unique grid ids per page
    out = [
        f'<svg class="ecg-strip" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.1f} {height:.1f}" font-family="sans-serif" font-size="11">',
        "<defs>",
        f'<pattern id="{uid}m" width="{PX_PER_MM}" height="{PX_PER_MM}" patternUnits="userSpaceOnUse" '
        f'x="{ml}" y="{mt}"><path d="M {PX_PER_MM} 0 L 0 0 0 {PX_PER_MM}" fill="none" stroke="#f8c8c8" '
        'stroke-width="0.5"/></pattern>',
        f'<pattern id="{uid}M" width="{5 * PX_PER_MM}" height="{5 * PX_PER_MM}" patternUnits="userSpaceOnUse" '
        f'x="{ml}" y="{mt}"><rect width="{5 * PX_PER_MM}" height="{5 * PX_PER_MM}" fill="url(#{uid}m)"/>'
        f'<path d="M {5 * PX_PER_MM} 0 L 0 0 0 {5 * PX_PER_MM}" fill="none" stroke="#ee9a9a" '
        'stroke-width="1"/></pattern>',
        "</defs>",
        f'<rect x="{ml}" y="{mt}" width="{w:.1f}" height="{h:.1f}" fill="#fff7f7"/>',
        f'<rect x="{ml}" y="{mt}" width="{w:.1f}" height="{h:.1f}" fill="url(#{uid}M)" stroke="#ee9a9a"/>',
    ]
    if title:
        out.append(
            f'<text x="{ml}" y="{mt - 12}" font-size="13" font-weight="bold">{html.escape(title)}</text>'
        )
    for p in np.asarray(highlight if highlight is not None else [], dtype=np.int64).reshape(-1).tolist():
        if i0 <= p < i0 + seg.size:
            px = ml + (p - i0) / fs * mm_x
            out.append(
                f'<rect class="focus" data-sample="{p}" x="{px - 0.1 * mm_x:.1f}" y="{mt}" '
                f'width="{0.2 * mm_x:.1f}" height="{h:.1f}" fill="#ffd54f" fill-opacity="0.45"/>'
            )
    # axes: seconds every 1 s (of the whole recording), mV every 0.5 mV
    t_start = time_offset_s + i0 / fs
    for k in range(math.ceil(t_start - 1e-9), math.floor(t_start + seg.size / fs + 1e-9) + 1):
        px = ml + (k - t_start) * mm_x
        if ml - 0.5 <= px <= ml + w + 0.5:
            out.append(f'<text x="{px:.1f}" y="{mt + h + 15:.1f}" text-anchor="middle">{k} s</text>')
    v = math.ceil(lo * 2) / 2
    while v <= hi + 1e-9:
        py = mt + (hi - v) * mm_y
        out.append(f'<text x="{ml - 4}" y="{py + 4:.1f}" text-anchor="end">{v:g}</text>')
        v += 0.5
    out.append(f'<text x="4" y="{mt + 10}" font-size="10">mV</text>')
    if lead:
        out.append(f'<text x="{ml + 4}" y="{mt + 13}" font-weight="bold">{html.escape(lead)}</text>')
    # the trace (split at NaN gaps), at most ~4 points per horizontal pixel
    step = max(1, int(seg.size / (4 * w))) if w > 0 else 1
    t = np.arange(0, seg.size, step)
    ys = seg[t]
    px_x = ml + t / fs * mm_x
    px_y = mt + (hi - ys) * mm_y
    run: list[str] = []
    for a, b, ok in zip(px_x, px_y, np.isfinite(ys), strict=True):
        if ok:
            run.append(f"{a:.1f},{b:.1f}")
        elif run:
            out.append(_polyline(run))
            run = []
    if run:
        out.append(_polyline(run))
    # beat markers
    if peaks is not None:
        pk = np.asarray(peaks, dtype=np.int64).reshape(-1)
        for j, p in enumerate(pk.tolist()):
            if not i0 <= p < i0 + seg.size:
                continue
            label = labels[j] if labels is not None else ""
            colour = class_colour(label) if label else "#000"
            px = ml + (p - i0) / fs * mm_x
            yv = x[p] if np.isfinite(x[p]) else 0.0
            py = mt + (hi - min(max(yv, lo), hi)) * mm_y
            out.append(
                f'<g class="beat" data-label="{html.escape(label)}" data-sample="{p}">'
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>'
                + (
                    f'<text x="{px:.1f}" y="{(min(mt + h - 2, py + 15) if yv < 0 else max(mt + 10, py - 7)):.1f}" '
                    'text-anchor="middle" '
                    f'font-weight="bold" fill="{colour}">{html.escape(label)}</text>'
                    if label
                    else ""
                )
                + "</g>"
            )
    out.append("</svg>")
    return "".join(out)


def _polyline(points: list[str]) -> str:
    return f'<polyline fill="none" stroke="#111" stroke-width="1.1" points="{" ".join(points)}"/>'
