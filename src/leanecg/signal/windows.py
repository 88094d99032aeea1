"""Cutting signals to a fixed length and into (overlapping) windows.

:func:`fixed_length` crops or pads one signal to exactly ``n_samples`` (models take fixed-size input;
records vary, e.g. CinC 2017 from 9 to 61 s). :func:`sliding_windows` returns all windows of a signal as a
zero-copy strided view. Window positions (:func:`window_starts`) follow one documented tail policy:

* ``tail="drop"`` (default): windows start at ``0, hop, 2*hop, ...`` and only windows that fit entirely
  are kept; the ``(n_samples - win) % hop`` samples after the last window are not covered. A signal shorter
  than ``win`` gives no window.
* ``tail="pad"``: as ``"drop"``, plus one more window starting at the next hop position when samples would
  otherwise be left uncovered (or, for a signal shorter than ``win``, one window at 0); the part of it beyond
  the signal is zero-filled. This needs a copy.
* ``tail="end"`` (:func:`window_starts` only): plus one window ending exactly at the last sample
  (overlapping the previous window more than ``hop``), so every sample is covered without padding.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from leanecg.errors import LeanECGError, check_choice, check_number
from leanecg.signal.filters import check_signal

__all__ = ["fixed_length", "sliding_windows", "window_starts"]

_PAD_MODES = {"zero": "constant", "edge": "edge", "wrap": "wrap"}


def _positive_int(value: int, name: str) -> int:
    return int(check_number(name, value, low=1, integer=True, unit="samples"))


def _as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise LeanECGError("rng", "mode='random' needs a seeded np.random.Generator (or an int seed)")


def _offset(extra: int, mode: str, rng: np.random.Generator | int | None) -> int:
    """Offset (0..``extra``) of the shorter of signal and window inside the longer one, by ``mode``:
    ``extra // 2`` (``"center"``), 0 (``"start"``) or uniformly random from ``rng`` (``"random"``)."""
    if mode == "center":
        return extra // 2
    if mode == "start":
        return 0
    return int(_as_rng(rng).integers(0, extra + 1))


def fixed_length(
    x: np.ndarray,
    n_samples: int,
    mode: Literal["center", "start", "random"] = "center",
    pad: Literal["zero", "edge", "wrap"] = "zero",
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Crop or pad a signal to exactly ``n_samples`` samples.

    Args:
        x: ``(n, n_leads)`` or ``(n,)`` signal (any unit; NaN passes through).
        n_samples: the output length in samples.
        mode: where the output window sits when cropping (and where the signal sits when padding):
            ``"center"`` (crop both ends equally, pad both ends equally; an odd remainder goes to the end),
            ``"start"`` (keep the start, crop or pad at the end), ``"random"`` (uniformly random offset,
            drawn from ``rng``: data augmentation).
        pad: how to fill when ``x`` is shorter: ``"zero"``, ``"edge"`` (repeat the end samples) or
            ``"wrap"`` (continue periodically from the other end).
        rng: ``np.random.Generator`` or int seed, required for ``mode="random"``.

    Returns:
        ``(n_samples, n_leads)`` (or ``(n_samples,)``) array, a copy, same dtype as ``x``.
    """
    n_out = _positive_int(n_samples, "n_samples")
    check_choice("mode", mode, ("center", "start", "random"))
    check_choice("pad", pad, tuple(_PAD_MODES), what="padding")
    x2, was_1d = check_signal(x, allow_nan=True, min_samples=0)
    n = x2.shape[0]
    if n == n_out:
        y = x2.copy()
    elif n > n_out:
        start = _offset(n - n_out, mode, rng)
        y = x2[start : start + n_out].copy()
    else:
        if n == 0 and pad != "zero":
            raise LeanECGError("signal", f"cannot pad an empty signal with pad={pad!r}")
        extra = n_out - n
        before = _offset(extra, mode, rng)
        y = np.pad(x2, ((before, extra - before), (0, 0)), mode=_PAD_MODES[pad])  # type: ignore[call-overload]
    return y[:, 0] if was_1d else y


def window_starts(
    n_samples: int, win: int, hop: int, tail: Literal["drop", "pad", "end"] = "drop"
) -> np.ndarray:
    """Start indices of the windows of length ``win`` every ``hop`` samples (tail policy: module doc).

    Returns:
        ``int64`` array of start indices (possibly empty for ``tail="drop"``).
    """
    n = int(check_number("n_samples", n_samples, low=0, integer=True, unit="samples"))
    win = _positive_int(win, "win")
    hop = _positive_int(hop, "hop")
    check_choice("tail", tail, ("drop", "pad", "end"), what="tail policy")
    starts = np.arange(0, n - win + 1, hop, dtype=np.int64) if n >= win else np.zeros(0, dtype=np.int64)
    covered = int(starts[-1]) + win if starts.size else 0
    if n == 0 or covered >= n or tail == "drop":
        return starts
    if tail == "pad":
        nxt = int(starts[-1]) + hop if starts.size else 0
        return np.append(starts, np.int64(nxt))
    return np.append(starts, np.int64(max(n - win, 0)))


def sliding_windows(x: np.ndarray, win: int, hop: int, tail: Literal["drop", "pad"] = "drop") -> np.ndarray:
    """All windows of ``win`` samples, every ``hop`` samples.

    Args:
        x: ``(n, n_leads)`` or ``(n,)`` signal.
        win: window length in samples.
        hop: distance between window starts in samples (``hop < win`` overlaps, ``hop > win`` skips).
        tail: ``"drop"`` (default) returns a read-only zero-copy strided view over ``x`` and leaves the
            incomplete tail out; ``"pad"`` zero-pads the signal so the tail gets a window (a copy).

    Returns:
        ``(n_windows, win, n_leads)`` (or ``(n_windows, win)`` for 1-D input); window ``k`` is
        ``x[k * hop : k * hop + win]``. ``n_windows = 1 + (n - win) // hop`` for ``n >= win``, else 0
        (``"drop"``).
    """
    x2, was_1d = check_signal(x, allow_nan=True, min_samples=0)
    starts = window_starts(x2.shape[0], win, hop, tail)
    if tail == "pad" and starts.size and int(starts[-1]) + win > x2.shape[0]:
        need = int(starts[-1]) + win - x2.shape[0]
        x2 = np.pad(x2, ((0, need), (0, 0)))
    if x2.shape[0] < win:
        out = np.zeros((0, win, x2.shape[1]), dtype=x2.dtype)
    else:
        view = np.lib.stride_tricks.sliding_window_view(x2, win, axis=0)  # (n - win + 1, n_leads, win)
        out = view[::hop].transpose(0, 2, 1)[: starts.size]
    return out[:, :, 0] if was_1d else out
