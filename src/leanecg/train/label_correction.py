"""Learning with noisy labels: a self-learning label-correction loop, and the label-flipping protocol.

Two rules pick the records to change (``CorrectionConfig.method``); one *round* is (repeat with
``rounds > 1``):

1. **Out-of-fold predictions**: the training records are cut into ``n_folds`` class-stratified folds (on
   the current labels); a model trained on the other folds predicts each fold, so no record is judged by
   a model that memorised its (possibly wrong) label. With ``n_repeats > 1`` the probabilities are
   averaged over that many differently seeded fold splits (steadier, better-ranked probabilities).
2. ``method="threshold"`` (the self-learning loop):

   a. **Prototype agreement** (optional, ``agreement="prototype"``; the self-learning idea of Han et al.
      2019): a model trained on all records embeds them; class prototypes are the mean L2-normalised
      embeddings of the records whose label the out-of-fold prediction confirms; each record's prototype
      label is its nearest prototype (cosine).
   b. **Re-label the confidently wrong**: a record whose out-of-fold prediction is another class with
      probability ``>= threshold`` (and, with prototypes, whose nearest prototype is that class too) gets
      that class as its new label.
   c. **Set aside the unsure** (optional, ``drop_below``): a record that was not re-labelled but whose
      out-of-fold probability of its own label is below ``drop_below`` is left out of the retraining.

   ``method="confident"`` (confident learning, Northcutt et al. 2021, :func:`find_label_issues`): each
   class ``j`` gets its own threshold, the mean out-of-fold probability of ``j`` over the records
   labelled ``j`` (its *self-confidence*), so a rare or hard class is not judged by a common or easy
   class's standard. The *confident joint* counts, for each given label ``i``, the records whose
   probability of some class ``j`` reaches ``j``'s threshold; calibrated to the label counts, its
   off-diagonal entry ``(i, j)`` estimates how many records labelled ``i`` really are ``j`` (so the noise
   rate is estimated from the data, never assumed). That many records labelled ``i`` with the largest
   margin ``p_j - p_i`` are flagged (*prune by noise rate*). A flagged record whose out-of-fold
   probability of its predicted class is ``>= threshold`` is re-labelled to it; the other flagged records
   are left out of the retraining (``CorrectionResult.keep``); a record dropped in one round stays dropped.
3. **Retrain** on the kept records with the corrected labels (the caller's ``train_fn``).

Everything model-specific comes in as callables, so the loop works with any trainer:
``train_fn(split, seed) -> model`` and ``predict_fn(model, split) -> (N, n_classes) probabilities`` (and
``embed_fn(model, split) -> (N, D)`` for prototypes). :func:`flip_labels` makes the noisy labels of the
evaluation protocol: a seeded ``fraction`` of the labels is changed to a uniformly drawn *other* class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from leanecg.config import in_range, one_of, positive, validate_config
from leanecg.errors import LeanECGError, check_number, check_positive
from leanecg.train.datasets import ArraySplit

TrainFn = Callable[[ArraySplit, int], Any]
PredictFn = Callable[[Any, ArraySplit], np.ndarray]
EmbedFn = Callable[[Any, ArraySplit], np.ndarray]
AGREEMENTS = ("none", "prototype")
METHODS = ("threshold", "confident")


def flip_labels(y: np.ndarray, fraction: float, n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric label noise: exactly ``round(fraction * N)`` labels, chosen at random, are changed to a
    uniformly drawn different class.

    Returns:
        ``(y_noisy int64 (N,), flipped bool (N,))``.
    """
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0 or not np.issubdtype(y.dtype, np.integer):
        raise LeanECGError("y", "expected a non-empty (N,) vector of integer class indices")
    check_number("fraction", fraction, low=0, high=1)
    check_number("n_classes", n_classes, low=2, integer=True)
    if y.min() < 0 or y.max() >= n_classes:
        raise LeanECGError("y", f"class indices must lie in [0, {n_classes})")
    rng = np.random.default_rng([int(seed), 4040])
    n_flip = round(float(fraction) * y.size)
    idx = rng.choice(y.size, size=n_flip, replace=False)
    shift = rng.integers(1, n_classes, size=n_flip)  # 1..C-1: never the same class
    out = y.astype(np.int64).copy()
    out[idx] = (out[idx] + shift) % n_classes
    flipped = np.zeros(y.size, dtype=bool)
    flipped[idx] = True
    return out, flipped


def stratified_folds(y: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """int64 ``(N,)`` fold index of each record: seeded, class-stratified round-robin."""
    y = np.asarray(y)
    rng = np.random.default_rng([int(seed), 5150])
    folds = np.empty(y.size, dtype=np.int64)
    offset = 0
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        folds[members] = (np.arange(members.size) + offset) % n_folds
        offset += members.size
    return folds


def out_of_fold_proba(
    split: ArraySplit,
    train_fn: TrainFn,
    predict_fn: PredictFn,
    n_folds: int = 3,
    seed: int = 0,
    n_repeats: int = 1,
) -> np.ndarray:
    """float64 ``(N, n_classes)``: each record predicted by a model trained on the other folds, averaged
    over ``n_repeats`` fold splits (seeds ``seed``, ``seed + 7``, ...)."""
    if split.y is None or split.y.ndim != 1:
        raise LeanECGError(f"{split.name}.y", "label correction needs single-label class indices")
    n_folds = int(check_number("n_folds", n_folds, low=2, integer=True))
    n_repeats = int(check_positive("n_repeats", n_repeats, integer=True))
    out: np.ndarray | None = None
    for rep in range(n_repeats):
        rep_seed = seed + 7 * rep
        folds = stratified_folds(split.y, n_folds, rep_seed)
        for k in range(n_folds):
            held = np.flatnonzero(folds == k)
            model = train_fn(
                split.subset(np.flatnonzero(folds != k), name=f"{split.name}-fold{k}"),
                rep_seed + 101 * (k + 1),
            )
            p = np.asarray(
                predict_fn(model, split.subset(held, name=f"{split.name}-oof{k}")), dtype=np.float64
            )
            if out is None:
                out = np.zeros((len(split), p.shape[1]), dtype=np.float64)
            out[held] += p / n_repeats
    assert out is not None
    return out


def confident_joint(proba: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The calibrated confident joint of confident learning (Northcutt et al. 2021).

    Args:
        proba: float ``(N, C)`` out-of-fold probabilities.
        y: int ``(N,)`` given (possibly noisy) labels.

    Returns:
        ``(joint float64 (C, C), thresholds float64 (C,))``: ``joint[i, j]`` estimates how many records
        labelled ``i`` truly belong to ``j`` (rows sum to the label counts); ``thresholds[j]`` is the mean
        probability of ``j`` over the records labelled ``j`` (1.0 for a class nobody carries).
    """
    p = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if p.ndim != 2 or y.shape != (p.shape[0],):
        raise LeanECGError("proba", f"expected (N, C) probabilities for {y.shape[0]} labels, got {p.shape}")
    n_classes = p.shape[1]
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    thresholds = np.array([p[y == j, j].mean() if counts[j] else 1.0 for j in range(n_classes)])
    above = p >= thresholds[None, :] - 1e-12
    confident = above.any(axis=1)
    guess = np.argmax(np.where(above, p, -np.inf), axis=1)
    joint = np.zeros((n_classes, n_classes))
    np.add.at(joint, (y[confident], guess[confident]), 1.0)
    rows = joint.sum(axis=1, keepdims=True)
    joint = np.where(rows > 0, joint / np.maximum(rows, 1.0), 0.0) * counts[:, None]
    return joint, thresholds


def find_label_issues(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
    """bool ``(N,)``: the records confident learning flags as mislabelled (*prune by noise rate*).

    For every off-diagonal cell ``(i, j)`` of :func:`confident_joint`, the ``round(joint[i, j])`` records
    labelled ``i`` with the largest margin ``proba[:, j] - proba[:, i]`` are flagged.
    """
    p = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    joint, _ = confident_joint(p, y)
    issues = np.zeros(y.size, dtype=bool)
    for i in range(p.shape[1]):
        members = np.flatnonzero(y == i)
        for j in range(p.shape[1]):
            n = round(float(joint[i, j])) if i != j else 0
            if n > 0:
                margin = p[members, j] - p[members, i]
                issues[members[np.argsort(-margin, kind="stable")[:n]]] = True
    return issues


def prototype_labels(emb: np.ndarray, y: np.ndarray, trusted: np.ndarray, n_classes: int) -> np.ndarray:
    """Nearest-prototype class (cosine) of each embedding; prototypes from the ``trusted`` records.

    A class without trusted records gets no prototype (never predicted).
    """
    e = np.asarray(emb, dtype=np.float64)
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    protos = np.full((n_classes, e.shape[1]), np.nan)
    for c in range(n_classes):
        m = trusted & (y == c)
        if m.any():
            p = e[m].mean(axis=0)
            protos[c] = p / max(np.linalg.norm(p), 1e-12)
    sim = e @ np.nan_to_num(protos, nan=0.0).T
    sim[:, np.isnan(protos).any(axis=1)] = -np.inf
    return np.argmax(sim, axis=1).astype(np.int64)


@dataclass
class CorrectionConfig:
    """Settings of :func:`self_learning_correction`.

    Attributes:
        n_folds: folds of the out-of-fold predictions.
        threshold: out-of-fold probability of another class needed to re-label a record (0.5-1); with
            ``method="confident"`` only flagged records are re-labelled, the other flagged ones dropped.
        agreement: ``"prototype"`` also requires the nearest class prototype to agree; ``"none"`` does not.
        rounds: correction rounds (each: out-of-fold predictions, re-labelling).
        drop_below: ``method="threshold"``: leave a record out of the retraining when the out-of-fold
            probability of its (not re-labelled) label is below this (``None``: keep every record).
        seed: seeds folds and the models trained inside the loop.
        method: ``"threshold"`` (one global re-label threshold) or ``"confident"`` (confident learning:
            per-class thresholds, noise rate estimated from the confident joint; module docstring).
        n_repeats: fold splits the out-of-fold probabilities are averaged over.
    """

    n_folds: int = in_range(3, 2, None, integer=True)
    threshold: float = in_range(0.6, 0, 1, low_open=True)
    agreement: str = one_of("prototype", AGREEMENTS)
    rounds: int = positive(1, integer=True)
    drop_below: float | None = in_range(None, 0, 1, low_open=True, high_open=True, optional=True)
    seed: int = 0
    method: str = one_of("threshold", METHODS)
    n_repeats: int = positive(1, integer=True)

    def validate(self) -> None:
        """Raise :class:`~leanecg.errors.InvalidOptionError` naming ``CorrectionConfig.<field>`` for a wrong field (the
        ranges are declared on the fields, :mod:`leanecg.config`)."""
        validate_config(self)


@dataclass
class CorrectionResult:
    """Corrected labels, the records to retrain on (``keep``), and what each round did (``rounds``:
    ``n_candidates``, ``n_relabelled``, ``n_dropped``; with ``method="confident"`` also
    ``noise_rate_estimate``, the off-diagonal share of the confident joint)."""

    y: np.ndarray
    changed: np.ndarray
    keep: np.ndarray
    rounds: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


def self_learning_correction(
    split: ArraySplit,
    train_fn: TrainFn,
    predict_fn: PredictFn,
    config: CorrectionConfig | None = None,
    embed_fn: EmbedFn | None = None,
) -> CorrectionResult:
    """Re-label the confidently wrong records of ``split`` (module docstring); the caller retrains.

    Args:
        split: training records with (noisy) class indices.
        train_fn: ``train_fn(split, seed) -> model``.
        predict_fn: ``predict_fn(model, split) -> (N, n_classes)`` probabilities.
        config: :class:`CorrectionConfig`.
        embed_fn: ``embed_fn(model, split) -> (N, D)`` (needed for ``agreement="prototype"``).

    Returns:
        :class:`CorrectionResult` with the corrected labels (``changed``: records whose label differs from
        the input's).
    """
    config = CorrectionConfig() if config is None else config
    config.validate()
    if split.y is None or split.y.ndim != 1:
        raise LeanECGError(f"{split.name}.y", "label correction needs single-label class indices")
    if config.agreement == "prototype" and embed_fn is None:
        raise LeanECGError("embed_fn", "prototype agreement needs embed_fn(model, split) -> (N, D)")
    y0 = np.asarray(split.y, dtype=np.int64)
    y = y0.copy()
    keep = np.ones(len(y), dtype=bool)
    history = []
    for r in range(config.rounds):
        current = ArraySplit(X=split.X, y=y, features=split.features, groups=split.groups, name=split.name)
        seed = config.seed + 1000 * r
        proba = out_of_fold_proba(current, train_fn, predict_fn, config.n_folds, seed, config.n_repeats)
        n_classes = proba.shape[1]
        pred = np.argmax(proba, axis=1)
        conf = proba[np.arange(len(y)), pred]
        extra: dict[str, Any] = {}
        if config.method == "confident":
            candidate = find_label_issues(proba, y) & keep
            joint, _ = confident_joint(proba, y)
            extra["noise_rate_estimate"] = float((joint.sum() - np.trace(joint)) / max(joint.sum(), 1.0))
        else:
            candidate = (pred != y) & (conf >= config.threshold)
        if config.method == "confident":
            relabel = candidate & (pred != y) & (conf >= config.threshold)
        elif config.agreement == "prototype":
            assert embed_fn is not None
            model = train_fn(current, seed)
            emb = np.asarray(embed_fn(model, current))
            proto = prototype_labels(emb, y, trusted=pred == y, n_classes=n_classes)
            relabel = candidate & (proto == pred)
        else:
            relabel = candidate
        unsure = np.zeros(len(y), dtype=bool)
        if config.method == "confident":
            unsure = candidate & ~relabel
            keep = keep & ~unsure
        else:
            if config.drop_below is not None:
                unsure = ~relabel & (proba[np.arange(len(y)), y] < config.drop_below)
            keep = ~unsure
        y = np.where(relabel, pred, y)
        history.append(
            {
                "round": r + 1,
                "n_candidates": int(candidate.sum()),
                "n_relabelled": int(relabel.sum()),
                "n_dropped": int(unsure.sum()),
                **extra,
            }
        )
        if not relabel.any() and not (config.method == "confident" and unsure.any()):
            break
    return CorrectionResult(y=y, changed=y != y0, keep=keep, rounds=history, config=asdict(config))
