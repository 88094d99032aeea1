"""QRS polarity: orient each lead so that the record's typical QRS points up.

A lead's polarity depends on where its electrodes sit, not on the heart: a Holter channel, a chest lead or a
handheld recording held the other way round shows the same beats upside down. A beat network trained on
MIT-BIH's MLII sees mostly upright QRS complexes and learns their shapes: the same record negated is, to
it, another morphology (``benchmarks/polarity_stress.py`` measures what that costs a package).

Orientation removes that dependence exactly: every lead of a record is multiplied by the sign that makes the
majority of its beats upright, in training and at inference alike, so a negated record gives the same
inputs as the original. A beat counts as upright (:func:`beat_polarity`) when its window's sample at the R
peak lies above the window's median (the baseline of a window that is mostly not QRS): the R-peak detector
marks the QRS's largest deflection, up or down. A record's sign (:func:`record_polarity`) is the majority
over its beats (ties: upright). The decision is per record, not per beat, so ectopic beats of the other
polarity (a ventricular beat can point the other way) keep their difference from the record's normal beats.
MIT-BIH itself holds a record whose MLII points down (207, bundle-branch blocks): training orients it too.

A stream cannot wait for the record's end: :class:`RunningPolarity` orients each beat by the majority of
the beats so far (two counters per lead: bounded memory), so after the first beats it agrees with the
offline sign.

>>> w = np.zeros((3, 1, 9)); w[:, 0, 4] = [1.0, 1.2, -0.3]  # two upright beats, one inverted
>>> record_polarity(w, r_index=4)
array([1.])
>>> orient_windows(-w, record_polarity(-w, r_index=4))[:, 0, 4]
array([ 1. ,  1.2, -0.3])
"""

from __future__ import annotations

import numpy as np

from leanecg.errors import LeanECGError

__all__ = ["RunningPolarity", "beat_polarity", "orient_windows", "record_polarity"]


def _check_windows(windows: np.ndarray, r_index: int) -> np.ndarray:
    w = np.asarray(windows, dtype=np.float64)
    if w.ndim != 3:
        raise LeanECGError(
            "windows", f"expected beat windows (n_beats, n_leads, n_samples), got shape {w.shape}"
        )
    if not 0 <= int(r_index) < w.shape[2]:
        raise LeanECGError("r_index", f"must lie inside the window (0 .. {w.shape[2] - 1}), got {r_index}")
    return w


def beat_polarity(windows: np.ndarray, r_index: int) -> np.ndarray:
    """Whether each beat points up in each lead.

    Args:
        windows: beat windows ``(n_beats, n_leads, n_samples)`` (any unit; mV in LeanECG).
        r_index: the R peak's sample inside a window.

    Returns:
        bool ``(n_beats, n_leads)``: the sample at the R peak is above the window's median.
    """
    w = _check_windows(windows, r_index)
    return w[:, :, int(r_index)] > np.median(w, axis=2)


def record_polarity(windows: np.ndarray, r_index: int) -> np.ndarray:
    """The sign that orients each lead of a record: ``+1`` where at least half of its beats point up, else
    ``-1`` (:func:`beat_polarity`).

    Args:
        windows: the record's beat windows ``(n_beats, n_leads, n_samples)``.
        r_index: the R peak's sample inside a window.

    Returns:
        float64 ``(n_leads,)`` of ``+1`` / ``-1`` (``+1`` for a record without beats).
    """
    up = beat_polarity(windows, r_index)
    return np.where(2 * up.sum(axis=0) >= up.shape[0], 1.0, -1.0)


def orient_windows(windows: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """``windows`` ``(n_beats, n_leads, n_samples)`` with each lead multiplied by its sign: ``signs``
    ``(n_leads,)`` (one record's, :func:`record_polarity`) or ``(n_beats, n_leads)`` (per beat, as
    :meth:`RunningPolarity.update` gives). Same dtype as ``windows``."""
    w = np.asarray(windows)
    s = np.asarray(signs, dtype=w.dtype if np.issubdtype(w.dtype, np.floating) else np.float64)
    return w * (s[None, :, None] if s.ndim == 1 else s[:, :, None])


class RunningPolarity:
    """:func:`record_polarity` online: each beat oriented by the majority of the beats so far, itself included.

    Args:
        n_leads: leads of the windows.
        r_index: the R peak's sample inside a window.

    >>> rp = RunningPolarity(n_leads=1, r_index=1)
    >>> rp.update(np.array([[[0.0, -1.0, 0.0]], [[0.0, 1.0, 0.0]], [[0.0, 1.0, 0.0]]]))[:, 0]
    array([-1.,  1.,  1.])
    """

    def __init__(self, n_leads: int, r_index: int) -> None:
        self.r_index = int(r_index)
        self.up = np.zeros(int(n_leads), dtype=np.int64)
        self.n = 0

    def update(self, windows: np.ndarray) -> np.ndarray:
        """The signs ``(n_beats, n_leads)`` (``+1`` / ``-1``) of the next beats' windows ``(n_beats, n_leads,
        n_samples)``, in order: beat ``i``'s sign is the majority over every beat up to ``i``."""
        up = beat_polarity(windows, self.r_index)
        if up.shape[1] != self.up.size:
            raise LeanECGError("windows", f"expected {self.up.size} lead(s), got {up.shape[1]}")
        ups = self.up[None, :] + np.cumsum(up, axis=0)
        counts = self.n + np.arange(1, up.shape[0] + 1)[:, None]
        if up.shape[0]:
            self.up, self.n = ups[-1].copy(), int(counts[-1, 0])
        return np.where(2 * ups >= counts, 1.0, -1.0)
