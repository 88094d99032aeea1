"""CLOCS views (Kiyasseh, Zhu & Clifton 2021): contrastive learning across space, time and patients.

* CMSC (contrastive multi-segment coding): two temporally **adjacent**, non-overlapping segments of the
  same record are two views (all of the record's leads in each view).
* CMLC (contrastive multi-lead coding): the same time segment seen through ``n_view_leads`` **different
  leads** of the same recording; each view is one lead, so the encoder is single-lead.
* CMSMLC: both at once: two adjacent segments x ``n_view_leads // 2`` leads (one lead per view).

Views of records of the same patient are all positives under the patient-specific contrastive loss
(:func:`leanecg.ssl.losses.patient_contrastive_loss`); the view generators only cut the views.
Records are channel-first ``(n_leads, n_samples)``; every generator returns float32
``(B, n_views, input_leads, segment_samples)``.
"""

from __future__ import annotations

import numpy as np

from leanecg.errors import LeanECGError
from leanecg.ssl.simclr import check_segment
from leanecg.train.datasets import ArraySplit, gather_windows


def adjacent_starts(lengths: np.ndarray, segment: int, rng: np.random.Generator) -> np.ndarray:
    """Start of the first of two adjacent ``segment``-sample windows, uniform over the record (int64).

    The pair spans ``2 * segment`` samples; a record shorter than that starts at 0 (the second window is
    zero-padded on the right).
    """
    high = np.maximum(np.asarray(lengths, dtype=np.int64) - 2 * segment, 0)
    return rng.integers(0, high, endpoint=True, dtype=np.int64)


def _check_view_leads(n_view_leads: int, minimum: int) -> int:
    if isinstance(n_view_leads, bool) or not isinstance(n_view_leads, int | np.integer):
        raise LeanECGError("n_view_leads", f"must be an integer >= {minimum}, got {n_view_leads!r}")
    if n_view_leads < minimum:
        raise LeanECGError("n_view_leads", f"must be at least {minimum}, got {n_view_leads}")
    return int(n_view_leads)


def _pick_leads(n_leads: int, k: int, rng: np.random.Generator, b: int, method: str) -> np.ndarray:
    """``(b, k)`` distinct lead indices per record."""
    if n_leads < k:
        raise LeanECGError(
            "method",
            f"{method} contrasts {k} different leads of one recording but the data has {n_leads} lead(s); "
            "use simclr or cmsc for single-lead data, or pretrain on multi-lead data (ptbxl)",
        )
    return np.argsort(rng.random((b, n_leads)), axis=1)[:, :k]


class CMSCViews:
    """Two adjacent ``segment_samples`` windows of each record (CMSC)."""

    n_views = 2

    def __init__(self, segment_samples: int) -> None:
        self.segment_samples = check_segment(segment_samples)

    def input_leads(self, n_leads: int) -> int:
        return int(n_leads)

    def __call__(self, split: ArraySplit, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        seg = self.segment_samples
        s0 = adjacent_starts(split.lengths[idx], seg, rng)
        first = gather_windows(split.X, idx, s0, seg)
        second = gather_windows(split.X, idx, s0 + seg, seg)
        return np.stack([first, second], axis=1)


class CMLCViews:
    """``n_view_leads`` different leads of one ``segment_samples`` window of each record (CMLC)."""

    def __init__(self, segment_samples: int, n_view_leads: int = 4) -> None:
        self.segment_samples = check_segment(segment_samples)
        self.n_views = _check_view_leads(n_view_leads, 2)

    def input_leads(self, n_leads: int) -> int:
        return 1

    def __call__(self, split: ArraySplit, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        leads = _pick_leads(split.n_leads, self.n_views, rng, len(idx), "cmlc")
        high = np.maximum(split.lengths[idx] - self.segment_samples, 0)
        starts = rng.integers(0, high, endpoint=True, dtype=np.int64)
        crops = gather_windows(split.X, idx, starts, self.segment_samples)  # (B, L, T)
        views = np.take_along_axis(crops, leads[:, :, None], axis=1)  # (B, k, T)
        return views[:, :, None, :]


class CMSMLCViews:
    """Two adjacent windows x ``n_view_leads // 2`` different leads, one lead per view (CMSMLC)."""

    def __init__(self, segment_samples: int, n_view_leads: int = 4) -> None:
        self.segment_samples = check_segment(segment_samples)
        k = _check_view_leads(n_view_leads, 2)
        self.leads_per_segment = max(1, k // 2)
        self.n_views = 2 * self.leads_per_segment

    def input_leads(self, n_leads: int) -> int:
        return 1

    def __call__(self, split: ArraySplit, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        seg = self.segment_samples
        k = self.leads_per_segment
        if split.n_leads < 2:
            _pick_leads(split.n_leads, 2, rng, len(idx), "cmsmlc")  # raises: needs multi-lead data
        leads = _pick_leads(split.n_leads, min(2 * k, split.n_leads), rng, len(idx), "cmsmlc")
        s0 = adjacent_starts(split.lengths[idx], seg, rng)
        parts = []
        for j, start in enumerate((s0, s0 + seg)):
            crops = gather_windows(split.X, idx, start, seg)
            # each segment takes its own leads when there are enough, so no view repeats a (segment, lead)
            cols = leads[:, j * k : (j + 1) * k] if leads.shape[1] >= 2 * k else leads[:, :k]
            parts.append(np.take_along_axis(crops, cols[:, :, None], axis=1))
        return np.concatenate(parts, axis=1)[:, :, None, :]
