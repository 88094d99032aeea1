"""Argument checks shared by the signal modules and the record readers (numpy only: cheap to import)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from leanecg.errors import LeanECGError

__all__ = ["check_fs", "check_positive"]


def check_positive(value: float, source: str | Path, what: str = "", unit: str = "") -> float:
    """Return ``value`` as a float after checking it is a finite number > 0.

    Args:
        value: a Python or numpy number, not a bool.
        source: what to name in the error (an argument, or the record being read).
        what, unit: wording of the error, ``"<what> must be a positive finite number<unit>, got ..."``
            (e.g. ``"sampling rate"``, ``" of Hz"``).

    Raises:
        LeanECGError: ``value`` is not a number, or not finite and > 0.
    """
    must = f"{what} must" if what else "must"
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise LeanECGError(source, f"{must} be a number{unit}, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise LeanECGError(source, f"{must} be a positive finite number{unit}, got {v:g}")
    return v


def check_fs(fs: float, source: str | Path = "fs") -> float:
    """Return the sampling rate ``fs`` as a float after checking it is a finite positive number of Hz.

    Raises:
        LeanECGError: naming ``source`` (an argument, or the record being read).
    """
    return check_positive(fs, source, "sampling rate", " of Hz")
