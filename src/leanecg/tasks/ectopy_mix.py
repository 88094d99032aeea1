"""Records whose beats are mostly ectopic, made from labelled records: a stress view and a training augmentation.

Record-normalised beat features (:mod:`leanecg.signal.record_norm`) measure each beat against its own
record's beats, which is the normal rhythm only while most beats are normal. MIT-BIH DS1 holds no record
where ectopic beats are the majority, so a cross-validation over it never sees the case. This module thins a
labelled record's N beats until ectopic beats (S, V, F) are two thirds of what is left, and computes the
record-normalised columns again over the beats kept:

* :func:`ectopic_majority_subset`: which beats a thinned record keeps (every ectopic beat, ``n_share`` times
  as many N beats drawn at random);
* :func:`renormalise`: the record-normalised columns of some beats of one record, over those beats only;
* :func:`thinned_records`: both, for every ectopy-rich record of some labelled beats (the stress view of
  ``benchmarks/record_reference_screen.py``);
* :func:`with_thinned_copies`: a training part plus a thinned copy of each of its ectopy-rich records (the
  ``thinned_copies`` switch of the ``mitdb-aami`` task, applied to every training part, never to held-out or
  test data).

The RR and template columns are left as the whole record gave them (they are causal running statistics of
the real beat sequence); only the columns that are statistics of the record's beat mix move. Labels are read
to choose which beats to keep, so these are for training and for evaluating on training data only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from leanecg.data.arrays import ArraySplit
from leanecg.errors import LeanECGError
from leanecg.signal.beats import (
    RECORD_Z_BASE_NAMES,
    RECORD_Z_FEATURE_NAMES,
    RECORD_ZN_FEATURE_NAMES,
    record_z_columns,
)

__all__ = [
    "MIN_ECTOPIC",
    "N_SHARE",
    "ectopic_majority_subset",
    "renormalise",
    "thinned_records",
    "with_thinned_copies",
]

#: A record is thinned only with at least this many ectopic (not N) beats.
MIN_ECTOPIC = 20
#: N beats kept per ectopic beat (ectopic beats are then ``1 / (1 + N_SHARE)`` of a thinned record).
N_SHARE = 0.5


def ectopic_majority_subset(
    y: np.ndarray, groups: np.ndarray, rng: np.random.Generator, normal: int = 0
) -> np.ndarray:
    """Sorted indices of the beats thinned records keep: in each record (``groups``) with at least
    :data:`MIN_ECTOPIC` beats whose class (``y``) is not ``normal``, all of those and
    ``round(N_SHARE * n_ectopic)`` of its ``normal`` beats drawn without replacement (all, if it has fewer).
    Records with fewer ectopic beats keep none. Deterministic for a given ``rng`` state.

    >>> y = np.array([0] * 40 + [1] * 20 + [0] * 10)
    >>> keep = ectopic_majority_subset(y, np.array(["a"] * 60 + ["b"] * 10), np.random.default_rng(0))
    >>> int((y[keep] == 1).sum()), int((y[keep] == 0).sum())
    (20, 10)
    """
    y = np.asarray(y)
    groups = np.asarray(groups).astype(str)
    if y.shape != groups.shape or y.ndim != 1:
        raise LeanECGError("y", f"need labels and groups of one shape (n,), got {y.shape} and {groups.shape}")
    keep = []
    for record in np.unique(groups):
        idx = np.flatnonzero(groups == record)
        ectopic = idx[y[idx] != normal]
        if len(ectopic) < MIN_ECTOPIC:
            continue
        normals = idx[y[idx] == normal]
        k = min(len(normals), round(N_SHARE * len(ectopic)))
        keep.append(np.concatenate((ectopic, rng.choice(normals, size=k, replace=False))))
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=np.int64)


def renormalise(features: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """``features`` (beats of one record, columns ``names``) with the record-normalised columns among
    ``names`` (``*_rz``, ``*_rzn``) computed again over these beats from their base columns, which must be
    among ``names`` too; float32 ``(n, F)``, the other columns unchanged."""
    cols = list(names)
    out = np.array(features, dtype=np.float32, copy=True)
    kinds = [
        (group, non_premature, [n for n in group if n in cols])
        for group, non_premature in ((RECORD_Z_FEATURE_NAMES, False), (RECORD_ZN_FEATURE_NAMES, True))
    ]
    if len(out) == 0 or not any(wanted for _, _, wanted in kinds):
        return out
    missing = [n for n in RECORD_Z_BASE_NAMES if n not in cols]
    if missing:
        raise LeanECGError(
            "features", f"record-normalised columns need their base columns; missing {missing}"
        )
    base = out[:, [cols.index(n) for n in RECORD_Z_BASE_NAMES]].astype(np.float64)
    for group, non_premature, wanted in kinds:
        if wanted:
            z = record_z_columns(base, non_premature=non_premature)
            out[:, [cols.index(n) for n in wanted]] = z[:, [group.index(n) for n in wanted]]
    return out


def thinned_records(
    features: np.ndarray, y: np.ndarray, groups: np.ndarray, names: Sequence[str], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The thinned records of some labelled beats: ``(keep, thinned)``, the sorted indices of
    :func:`ectopic_majority_subset` and ``features[keep]`` (columns ``names``) with each record's
    record-normalised columns computed over its beats kept (:func:`renormalise`); ``(k,)`` and ``(k, F)``."""
    groups = np.asarray(groups).astype(str)
    keep = ectopic_majority_subset(y, groups, rng)
    thinned = np.asarray(features)[keep].copy()
    for record in np.unique(groups[keep]):
        mine = groups[keep] == record
        thinned[mine] = renormalise(thinned[mine], names)
    return keep, thinned


def with_thinned_copies(train: ArraySplit, names: Sequence[str], rng: np.random.Generator) -> ArraySplit:
    """``train`` (beats with ``groups`` and the feature columns ``names``) plus a thinned copy of each of its
    records with at least :data:`MIN_ECTOPIC` ectopic beats: the beats of :func:`ectopic_majority_subset`,
    their record-normalised columns computed over the copy (:func:`renormalise`), grouped as
    ``"<record>~thinned"``. A training augmentation: the network sees what a yardstick moved by frequent
    ectopy looks like."""
    if train.groups is None or train.features is None:
        raise LeanECGError(train.name, "thinned copies need the beats' records (groups) and feature columns")
    y, groups = np.asarray(train.y), np.asarray(train.groups).astype(str)
    keep, feats = thinned_records(np.asarray(train.features), y, groups, names, rng)
    X = np.asarray(train.X)
    return ArraySplit(
        X=np.concatenate((X, X[keep])),
        y=np.concatenate((y, y[keep])),
        features=np.concatenate((np.asarray(train.features), feats)),
        groups=np.concatenate((groups, np.char.add(groups[keep], "~thinned"))),
        name=train.name,
    )
