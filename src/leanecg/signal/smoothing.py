"""Running mean and running median of a 1-D signal, as ``scipy.ndimage`` computes them, in NumPy.

The record features smooth with ``scipy.ndimage.uniform_filter1d`` and ``median_filter``; importing
``scipy.ndimage`` costs 0.15-0.25 s, a third of ``leanecg predict``'s start-up on one record. These two functions
give the same values, bit for bit (``tests/test_smoothing.py`` compares them with scipy):

* :func:`running_mean` follows ``NI_UniformFilter1D``: the line extended at both ends by the boundary mode
  (``size // 2`` samples before, the rest after), a running sum started as the sequential sum of the first
  window and updated by ``entering - leaving`` at each step, and each output that sum divided by ``size``.
  ``np.add.accumulate`` adds in sequence, as the C loop does.
* :func:`running_median` takes the median of each window of an odd ``size`` (an element of the window: exact)
  with the ``nearest`` boundary.
"""

from __future__ import annotations

import numpy as np

from leanecg.errors import LeanECGError

__all__ = ["running_mean", "running_median"]

#: ``scipy.ndimage`` boundary modes -> ``np.pad`` modes (``reflect``: ``d c b a | a b c d | d c b a``)
_PAD_MODES = {"reflect": "symmetric", "nearest": "edge"}


def _extended(x: np.ndarray, size: int, mode: str) -> np.ndarray:
    """``x`` as float64, extended by ``mode``: ``size // 2`` samples before, ``size - size // 2 - 1`` after."""
    if mode not in _PAD_MODES:
        raise LeanECGError("mode", f"must be one of {', '.join(_PAD_MODES)}, got {mode!r}")
    if size < 1:
        raise LeanECGError("size", f"must be a positive integer, got {size!r}")
    v = np.asarray(x, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise LeanECGError("x", f"must be a non-empty 1-D array, got shape {v.shape}")
    before = size // 2
    return np.pad(v, (before, size - before - 1), mode=_PAD_MODES[mode])


def running_mean(x: np.ndarray, size: int, mode: str = "reflect") -> np.ndarray:
    """``scipy.ndimage.uniform_filter1d(x, size, mode=mode)`` for a 1-D float signal: the mean of each window of
    ``size`` samples centred on a sample (``size // 2`` before it), float64 ``(n,)``.

    Args:
        x: signal ``(n,)``.
        size: window length in samples (>= 1).
        mode: ``"reflect"`` (scipy's default) or ``"nearest"``.
    """
    size = int(size)
    ext = _extended(x, size, mode)
    sums = np.empty(ext.size - size + 1)
    sums[0] = np.add.accumulate(ext[:size])[-1]
    sums[1:] = ext[size:] - ext[:-size]
    return np.add.accumulate(sums) / size


def running_median(x: np.ndarray, size: int, mode: str = "nearest") -> np.ndarray:
    """``scipy.ndimage.median_filter(x, size=size, mode=mode)`` for a 1-D signal and an odd ``size``: the median
    of each window of ``size`` samples centred on a sample, float64 ``(n,)``."""
    size = int(size)
    if size % 2 != 1:
        raise LeanECGError("size", f"must be odd (the median is then an element of the window), got {size!r}")
    windows = np.lib.stride_tricks.sliding_window_view(_extended(x, size, mode), size)
    return np.partition(windows, size // 2, axis=1)[:, size // 2]
