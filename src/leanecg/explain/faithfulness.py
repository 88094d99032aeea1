"""Faithfulness of relevance maps: deletion / insertion curves against random order, and model randomisation.

* :func:`perturbation_curves` -- **deletion**: replace the top ``f`` fraction of an input's samples, most
  relevant first, by the baseline (the one integrated gradients and occlusion use,
  :func:`leanecg.explain.core.input_baseline`) and track the probability of the explained class, for
  ``f`` in :data:`FRACTIONS`; **insertion**: start from the baseline and put the most relevant samples back
  first. A faithful map makes the deletion curve fall faster (lower area, :func:`curve_area`) and the
  insertion curve rise faster (higher area) than the same curves in a random order (Petsiuk et al., BMVC
  2018; Samek et al., IEEE TNNLS 2017). Samples of equal relevance are taken in a seeded random order.
* :func:`randomised_package` / :func:`rank_correlation` -- the model-randomisation sanity check (Adebayo et
  al., NeurIPS 2018): the maps of the same method for a model whose weights are re-initialised at random
  must differ from the trained model's; reported as the Spearman rank correlation per input (near 1: the
  map does not depend on what the model learnt).
* :func:`mean_ci` -- mean with a percentile-bootstrap 95 % CI, resampling inputs or whole groups (records).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "FRACTIONS",
    "curve_area",
    "mean_ci",
    "perturbation_curves",
    "random_relevance",
    "randomised_package",
    "rank_correlation",
]

#: Fractions of the input replaced (deletion) or restored (insertion): 0 %, 10 %, ..., 100 %.
FRACTIONS = np.round(np.linspace(0.0, 1.0, 11), 2)


def _order(relevance: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per row, sample indices from most to least relevant (ties in a random order)."""
    rel = np.asarray(relevance, dtype=np.float64)
    jitter = rng.random(rel.shape)
    return np.lexsort((jitter, -rel), axis=-1)


def perturbation_curves(
    proba_fn: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    relevance: np.ndarray,
    target: np.ndarray | int,
    baseline: np.ndarray,
    *,
    mode: str = "deletion",
    fractions: np.ndarray = FRACTIONS,
    seed: int = 0,
    max_batch: int = 4096,
    features: np.ndarray | None = None,
) -> np.ndarray:
    """Probability of the target class as the most relevant samples are deleted (or inserted).

    Args:
        proba_fn: ``(M, n_leads, L)`` inputs -> ``(M, n_classes)`` probabilities; with ``features``,
            ``proba_fn(inputs, feature_rows)`` gets each perturbed input's feature row.
        X: ``(N, n_leads, L)`` inputs of one length.
        relevance: ``(N, L)`` relevance per sample (all leads of a sample go together).
        target: the class tracked, per input or one for all.
        baseline: ``(N, n_leads, L)`` values that deleted samples take (and insertion starts from).
        mode: ``"deletion"`` or ``"insertion"``.
        fractions: fractions of the samples changed.
        seed: order of samples with equal relevance.
        features: ``(N, n_features)`` held fixed per input (passed to ``proba_fn`` row by row).

    Returns:
        float64 ``(N, len(fractions))``.
    """
    if mode not in ("deletion", "insertion"):
        raise ValueError(f"mode must be 'deletion' or 'insertion', got {mode!r}")
    x = np.asarray(X, dtype=np.float32)
    base = np.broadcast_to(np.asarray(baseline, dtype=np.float32), x.shape)
    n, _, length = x.shape
    tgt = np.broadcast_to(np.asarray(target, dtype=np.int64), (n,))
    order = _order(np.broadcast_to(relevance, (n, length)), np.random.default_rng(seed))
    ks = np.round(np.asarray(fractions) * length).astype(np.int64)
    out = np.zeros((n, len(ks)))
    per = max(1, int(max_batch) // len(ks))
    for lo in range(0, n, per):
        hi = min(n, lo + per)
        m = hi - lo
        start, other = (x[lo:hi], base[lo:hi]) if mode == "deletion" else (base[lo:hi], x[lo:hi])
        batch = np.repeat(start[None], len(ks), axis=0)  # (F, m, C, L)
        rank = np.empty((m, length), dtype=np.int64)
        rank[np.arange(m)[:, None], order[lo:hi]] = np.arange(length)[None]
        for j, k in enumerate(ks):
            sel = rank < k  # (m, L): the k most relevant samples of each input
            batch[j] = np.where(sel[:, None, :], other, start)
        flat = batch.reshape(-1, *x.shape[1:])
        if features is None:
            p = np.asarray(proba_fn(flat))
        else:
            p = np.asarray(proba_fn(flat, np.tile(np.asarray(features)[lo:hi], (len(ks), 1))))
        p = p.reshape(len(ks), m, -1)
        out[lo:hi] = p[:, np.arange(m), tgt[lo:hi]].T
    return out


def curve_area(curves: np.ndarray, fractions: np.ndarray = FRACTIONS) -> np.ndarray:
    """Area under each curve ``(N, F)`` over the fractions (trapezoids; 0 to 1 for curves in [0, 1])."""
    c = np.asarray(curves, dtype=np.float64)
    f = np.asarray(fractions, dtype=np.float64)
    return np.sum((c[:, 1:] + c[:, :-1]) * np.diff(f)[None] / 2, axis=1) / (f[-1] - f[0])


def random_relevance(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """A random order: uniform noise of ``shape``."""
    return np.random.default_rng(seed).random(shape)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of each row of ``a`` with the same row of ``b`` (``(N, L)`` -> ``(N,)``;
    NaN where a row is constant)."""
    from scipy.stats import rankdata

    ra = rankdata(np.asarray(a, dtype=np.float64), axis=1)
    rb = rankdata(np.asarray(b, dtype=np.float64), axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    den = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ra * rb).sum(axis=1) / den, np.nan)


def randomised_package(pkg: Any, seed: int) -> Any:
    """A copy of a torch package whose network has the same architecture and freshly initialised random
    weights (seeded); the pipeline, features, temperature and metadata are the package's."""
    import copy

    import torch

    from leanecg.models.registry import build_from_config
    from leanecg.package.model import ModelPackage, TorchBackend

    torch.manual_seed(int(seed))
    model = build_from_config(copy.deepcopy(pkg.meta["model_config"])).eval()
    return ModelPackage(path=pkg.path, backend=TorchBackend(model), meta=pkg.meta, pipeline=pkg.pipeline)


def mean_ci(
    values: np.ndarray, groups: np.ndarray | None = None, *, n_boot: int = 2000, seed: int = 0
) -> dict[str, float]:
    """Mean of ``values`` (NaN ignored) with a percentile-bootstrap 95 % CI over inputs, or over whole
    ``groups`` (e.g. the record of each beat) when given."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    v = v[ok]
    g = None if groups is None else np.asarray(groups)[ok]
    if v.size == 0:
        return {"mean": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "n": 0}
    rng = np.random.default_rng(seed)
    if g is None:
        idx = rng.integers(0, v.size, size=(n_boot, v.size))
        boots = v[idx].mean(axis=1)
    else:
        units = np.unique(g)
        sums = np.array([v[g == u].sum() for u in units])
        counts = np.array([(g == u).sum() for u in units])
        pick = rng.integers(0, units.size, size=(n_boot, units.size))
        boots = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"mean": float(v.mean()), "ci_low": float(lo), "ci_high": float(hi), "n": int(v.size)}
