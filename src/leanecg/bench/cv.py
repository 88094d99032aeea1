"""K-fold cross-validation inside a task's training data (``leanecg bench TASK --cv K``).

Recipes, features and the model to ship are chosen on the training data only; the test split is scored
once per finished recipe. This module gives every benchmark row the cross-validated estimate that such a
choice needs:

* the pool is the task's training data (:meth:`~leanecg.tasks.base.BenchTask.cv_pool`: ``mitdb-aami``
  all 22 DS1 records, ``cinc2017`` its train + validation records);
* folds are whole patients / records when the pool has ``groups`` (leave-records-out: no patient is in a
  fold's training and held-out parts at once), stratified by class otherwise;
* every fold trains the row's model with the row's recipe (``fit_predict``) and predicts its held-out part;
  the held-out predictions of all folds are pooled and scored with the task's metrics, and each fold's own
  scores are kept beside them.

Functions are pure over :class:`~leanecg.train.datasets.ArraySplit`; the runner supplies the training.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.atomic import atomic_path
from leanecg.errors import LeanECGError
from leanecg.train.datasets import ArraySplit

#: ``fit_predict(train, heldout, fold) -> proba (len(heldout), n_classes)``: one fold of one recipe.
FitPredict = Callable[[ArraySplit, ArraySplit, int], np.ndarray]


def cv_folds(pool: ArraySplit, k: int, seed: int) -> list[np.ndarray]:
    """Held-out index arrays of ``k`` folds over ``pool`` (disjoint, covering every example).

    With ``pool.groups`` the groups (records / patients) are ranked by their counts of the rare classes
    (rarest class first) and dealt to the folds in blocks of ``k``, each block in a seeded order, so every
    fold holds a share of the rare classes' patients;
    without groups the examples are dealt per class (stratified). Deterministic for a given ``seed``.

    Args:
        pool: the examples to split (``y`` int class indices).
        k: number of folds, ``2 <= k <=`` number of groups (or examples).
        seed: seeds the dealing order.

    Returns:
        ``k`` sorted int64 index arrays.
    """
    y = np.asarray(pool.y)
    if y.ndim != 1:
        raise LeanECGError("cv", "cross-validation needs single-label (class index) targets")
    rng = np.random.default_rng(int(seed))
    members: list[list[int]] = [[] for _ in range(int(k))]
    if pool.groups is not None:
        groups = np.asarray(pool.groups)
        names = np.unique(groups)
        if not 2 <= k <= len(names):
            raise LeanECGError("cv", f"need 2 <= K <= {len(names)} (the pool's records), got {k}")
        counts = np.bincount(y)
        rare = np.argsort(counts)  # rarest class first
        order = rng.permutation(len(names))
        # sort groups by their counts of the rare classes (rarest first), ties in the seeded order
        keys = [tuple(-int(np.sum((groups == names[i]) & (y == c))) for c in rare) for i in order]
        ranked = [order[j] for j in sorted(range(len(order)), key=lambda j: keys[j])]
        slots: list[int] = []
        while len(slots) < len(ranked):  # each block of k ranked groups goes to the k folds in a seeded order
            slots.extend(rng.permutation(k).tolist())
        for slot, i in zip(slots, ranked, strict=False):
            members[slot].extend(np.flatnonzero(groups == names[i]).tolist())
    else:
        if not 2 <= k <= len(y):
            raise LeanECGError("cv", f"need 2 <= K <= {len(y)} (the pool's examples), got {k}")
        start = 0
        for c in np.unique(y):
            idx = rng.permutation(np.flatnonzero(y == c))
            for j, i in enumerate(idx.tolist()):
                members[(start + j) % k].append(i)
            start += len(idx)
    return [np.asarray(sorted(m), dtype=np.int64) for m in members]


def inner_split(train: ArraySplit, k: int, seed: int) -> tuple[ArraySplit, ArraySplit]:
    """Split a fold's training part into inner-train and inner-validation parts (early stopping).

    Recipes that early-stop (or pick LightGBM rounds) need validation data; in a cross-validation fold it
    must come from the fold's *training* part, never from its held-out part, or the held-out score is
    optimistic. The inner validation part is one of ``k`` :func:`cv_folds` of ``train`` (whole records when
    ``train`` has groups, stratified otherwise), so its share is about ``1/k``. A training part of a single
    record (smoke runs) is split by examples.

    Args:
        train: the fold's training examples.
        k: inner folds; clipped to ``[2, number of groups]``.
        seed: seeds the inner dealing.

    Returns:
        ``(inner_train, inner_val)``, disjoint, together ``train``.
    """
    pool = train
    if train.groups is not None and len(np.unique(np.asarray(train.groups))) < 2:
        # one record only (smoke runs): an example-level stratified split is all that is possible
        pool = ArraySplit(X=train.X, y=train.y, features=train.features, groups=None, name=train.name)
    n_units = len(np.unique(np.asarray(pool.groups))) if pool.groups is not None else len(pool.y)
    folds = cv_folds(pool, max(2, min(int(k), n_units)), seed)
    mask = np.zeros(len(train.y), dtype=bool)
    mask[folds[0]] = True
    return (
        train.subset(np.flatnonzero(~mask), name=f"{train.name}-inner-train"),
        train.subset(folds[0], name=f"{train.name}-inner-val"),
    )


def run_cv(
    pool: ArraySplit,
    k: int,
    seed: int,
    fit_predict: FitPredict,
    scores: Callable[[np.ndarray, np.ndarray], dict[str, float]],
    log: Callable[[str], None] = lambda s: None,
    keep_proba: bool = False,
) -> dict[str, Any]:
    """Cross-validate one recipe: per-fold and pooled scores (the ``cv`` block of a result).

    Args:
        pool: the training data to cross-validate over.
        k: folds (see :func:`cv_folds`).
        seed: fold assignment and training seed.
        fit_predict: trains on a fold's training part and returns class probabilities of its held-out part.
        scores: ``scores(y_true, y_pred)`` -> metrics (the task's :meth:`scores`).
        log: progress messages.
        keep_proba: also return the held-out probabilities of every pool example, float32
            ``(len(pool), n_classes)`` under ``"proba"`` (not JSON: pop it before writing the block), e.g.
            to score an ensemble of several seeds' recipes on the same out-of-fold predictions.

    Returns:
        ``{"k", "seed", "unit", "folds": [{"fold", "n", "groups", "scores"}], "pooled": scores}``; pooled
        scores are computed on all held-out predictions at once (rare classes pooled over folds).
    """
    folds = cv_folds(pool, k, seed)
    y = np.asarray(pool.y)
    pred = np.full(len(y), -1, dtype=np.int64)
    kept: np.ndarray | None = None
    rows = []
    for f, held in enumerate(folds):
        mask = np.zeros(len(y), dtype=bool)
        mask[held] = True
        train = pool.subset(np.flatnonzero(~mask), name=f"cv{f}-train")
        heldout = pool.subset(held, name=f"cv{f}-heldout")
        proba = np.asarray(fit_predict(train, heldout, f))
        pred[held] = np.argmax(proba, axis=1)
        if keep_proba:
            if kept is None:
                kept = np.full((len(y), proba.shape[1]), np.nan, dtype=np.float32)
            kept[held] = proba
        groups = sorted({str(g) for g in np.asarray(pool.groups)[held]}) if pool.groups is not None else None
        fold_scores = scores(y[held], pred[held])
        rows.append({"fold": f, "n": len(held), "groups": groups, "scores": fold_scores})
        log(f"cv fold {f + 1}/{k}: " + ", ".join(f"{m} {v:.3f}" for m, v in list(fold_scores.items())[:5]))
    block: dict[str, Any] = {
        "k": int(k),
        "seed": int(seed),
        "unit": "records (leave-records-out)" if pool.groups is not None else "examples (stratified)",
        "folds": rows,
        "pooled": scores(y, pred),
    }
    if keep_proba:
        block["proba"] = kept
    return block


#: suffix of the out-of-fold probabilities file written beside a result ``<model>.json``
OOF_SUFFIX = ".cv.npz"


def save_oof(path: str | Path, block: Mapping[str, Any], proba: np.ndarray, pool: ArraySplit) -> Path:
    """Write one recipe's out-of-fold probabilities (atomically) so recipes can be combined by CV later.

    Args:
        path: the ``.npz`` file to write.
        block: the recipe's ``cv`` block (:func:`run_cv`): its ``k`` and ``seed`` are stored with the arrays.
        proba: float32 ``(len(pool), n_classes)`` held-out probabilities (``run_cv(..., keep_proba=True)``).
        pool: the cross-validated pool: its labels ``y`` (and ``groups``) are stored to check that files
            being combined cover the same examples in the same order.

    Returns:
        ``path``.
    """
    proba = np.asarray(proba, dtype=np.float32)
    if proba.ndim != 2 or len(proba) != len(pool.y) or not np.isfinite(proba).all():
        raise LeanECGError(path, "out-of-fold probabilities must be finite, one row per pool example")
    groups = np.asarray(pool.groups).astype(str) if pool.groups is not None else np.array([], dtype=str)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                proba=proba,
                y=np.asarray(pool.y),
                groups=groups,
                k=int(block["k"]),
                seed=int(block["seed"]),
            )
    return Path(path)


def load_oof(path: str | Path) -> dict[str, Any]:
    """Read a :func:`save_oof` file: ``{"proba", "y", "groups" (or None), "k", "seed"}``."""
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {name: z[name] for name in ("proba", "y", "groups", "k", "seed")}
    except (OSError, ValueError, KeyError) as exc:
        raise LeanECGError(path, f"not an out-of-fold probabilities file ({exc})") from None
    out["k"], out["seed"] = int(out["k"]), int(out["seed"])
    out["groups"] = out["groups"] if out["groups"].size else None
    return out


def check_same_pool(oofs: Mapping[str, Mapping[str, Any]]) -> None:
    """Check that loaded out-of-fold files (:func:`load_oof`, keyed by the name errors give them) cover the
    same pool: the same examples in the same order (labels, groups) and the same classes.

    Raises:
        LeanECGError: no file, or a file of another pool or class set.
    """
    if not oofs:
        raise LeanECGError("cv", "no out-of-fold files to combine")
    (name0, first), *rest = oofs.items()
    for name, other in rest:
        same_groups = (first["groups"] is None) == (other["groups"] is None) and (
            first["groups"] is None or np.array_equal(first["groups"], other["groups"])
        )
        if other["proba"].shape != first["proba"].shape or not np.array_equal(other["y"], first["y"]):
            raise LeanECGError(name, f"covers another pool or class set than {name0}")
        if not same_groups:
            raise LeanECGError(name, f"groups its examples differently from {name0}")


def average_oof(oofs: Mapping[str, Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """The ensemble of several recipes on the same CV pool: their out-of-fold probabilities averaged.

    Every member's prediction of an example comes from a model that never saw it, so the average is the
    cross-validated prediction of the ensemble (the members may use different folds: each is held-out).

    Args:
        oofs: loaded out-of-fold files (:func:`load_oof`), keyed by the name errors give them.

    Returns:
        ``(proba (N, n_classes), y (N,))``.

    Raises:
        LeanECGError: files of different pools (:func:`check_same_pool`).
    """
    check_same_pool(oofs)
    total = sum(np.asarray(o["proba"], dtype=np.float64) for o in oofs.values())
    first = next(iter(oofs.values()))
    return (total / len(oofs)).astype(np.float32), first["y"]


def mean_oof(paths: Sequence[str | Path]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`average_oof` of the out-of-fold files at ``paths`` (:func:`save_oof`)."""
    return average_oof({str(p): load_oof(p) for p in paths})
