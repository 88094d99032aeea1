"""Labelled ECG records in memory (or in a lazy record store): the :class:`ArraySplit` container.

Layout: **channel-first**, the layout torch models take: a record is ``(n_leads, n_samples)`` float32 in
mV. Labels are int class indices ``(N,)`` (single-label) or float multi-hot ``(N, n_classes)`` (multi-label;
soft targets in ``[0, 1]`` are allowed). Numpy only: batching for training and inference lives in
:mod:`leanecg.train.datasets` and :mod:`leanecg.signal.batching`.

Record stores: besides a list or a stacked array, ``X`` may be a *record store*, an object that reads
records lazily (e.g. :class:`leanecg.data.shards.ShardedRecords`, the sharded on-disk cache): it has
``len()``, ``store[i] -> (n_leads, n_samples_i)`` float32, ``lengths`` (int64 ``(N,)``), ``n_leads`` and
``subset(indices)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from leanecg.errors import LeanECGError

__all__ = ["ArraySplit", "is_record_store", "record_lengths"]

_MAX_LEADS = 16  # 12 standard leads + Frank XYZ + spare; more "leads" than this means a transposed record


@dataclass(eq=False)
class ArraySplit:
    """ECG records with labels (and optional features and patient ids), ready for training.

    Attributes:
        X: either a list of float32 arrays ``(n_leads, n_samples_i)`` (variable lengths; 1-D arrays are
            single-lead records) or one floating array ``(N, n_leads, T)`` (a ``(N, T)`` array is read as
            single-lead). A stacked array is kept as given (no copy), so a ``np.load(..., mmap_mode="r")``
            cache stays on disk; batches are converted to float32 as they are cut.
        y: int class indices ``(N,)`` (single-label) or float multi-hot ``(N, n_classes)`` in ``[0, 1]``
            (multi-label), or ``None`` for unlabelled data (inference, self-supervision).
        features: optional float32 ``(N, n_features)`` given to the model as ``features=``.
        groups: optional ``(N,)`` patient ids (for patient-level resampling and splits).
        name: what error messages call this split (``"train"``, ``"val"``, ...).
    """

    X: list[np.ndarray] | np.ndarray
    y: np.ndarray | None
    features: np.ndarray | None = None
    groups: np.ndarray | None = None
    name: str = "split"

    def __post_init__(self) -> None:
        self.X = _check_X(self.X, f"{self.name}.X")
        n = len(self.X)
        if n == 0:
            raise LeanECGError(f"{self.name}.X", "holds no records")
        if self.y is not None:
            self.y = _check_y(self.y, n, f"{self.name}.y")
        if self.features is not None:
            f = np.asarray(self.features, dtype=np.float32)
            if f.ndim != 2 or f.shape[0] != n:
                raise LeanECGError(
                    f"{self.name}.features", f"expected shape ({n}, n_features), got {tuple(f.shape)}"
                )
            if not np.isfinite(f).all():
                raise LeanECGError(f"{self.name}.features", "contains NaN or infinite values")
            self.features = f
        if self.groups is not None:
            g = np.asarray(self.groups)
            if g.shape != (n,):
                raise LeanECGError(f"{self.name}.groups", f"expected shape ({n},), got {tuple(g.shape)}")
            self.groups = g

    def __len__(self) -> int:
        return len(self.X)

    @property
    def stacked(self) -> bool:
        """True when ``X`` is one ``(N, n_leads, T)`` array (all records the same length)."""
        return isinstance(self.X, np.ndarray)

    @property
    def n_leads(self) -> int:
        if is_record_store(self.X):
            return int(self.X.n_leads)  # type: ignore[union-attr]
        return int(self.X.shape[1] if isinstance(self.X, np.ndarray) else self.X[0].shape[0])

    @property
    def lengths(self) -> np.ndarray:
        """int64 ``(N,)``: samples per record."""
        return record_lengths(self.X)

    @property
    def multilabel(self) -> bool:
        """True for multi-hot ``(N, n_classes)`` labels."""
        return self.y is not None and self.y.ndim == 2

    @property
    def n_classes(self) -> int:
        """Columns of a multi-hot ``y``; for class indices, the largest index + 1 (a lower bound)."""
        if self.y is None:
            raise LeanECGError(f"{self.name}.y", "this split has no labels")
        return int(self.y.shape[1]) if self.y.ndim == 2 else int(self.y.max()) + 1

    @property
    def n_features(self) -> int:
        return 0 if self.features is None else int(self.features.shape[1])

    def subset(self, indices: Sequence[int] | np.ndarray, name: str | None = None) -> ArraySplit:
        """The records at ``indices`` (int positions or a boolean mask), in that order."""
        sel = np.asarray(indices)
        idx = np.arange(len(self))[sel if sel.dtype == bool else sel.astype(np.int64)]
        if isinstance(self.X, np.ndarray):
            X: list[np.ndarray] | np.ndarray = self.X[idx]
        elif is_record_store(self.X):
            X = self.X.subset(idx)  # type: ignore[union-attr]
        else:
            X = [self.X[i] for i in idx]
        return ArraySplit(
            X=X,
            y=None if self.y is None else self.y[idx],
            features=None if self.features is None else self.features[idx],
            groups=None if self.groups is None else self.groups[idx],
            name=name or self.name,
        )


def is_record_store(X: Any) -> bool:
    """True for a lazily read record collection (module docstring), not a list or an array."""
    return not isinstance(X, np.ndarray | list | tuple) and all(
        hasattr(X, a) for a in ("__len__", "__getitem__", "lengths", "n_leads", "subset")
    )


def _check_X(X: Any, source: str) -> list[np.ndarray] | np.ndarray:
    if is_record_store(X):
        _check_layout(int(X.n_leads), 0, source)
        if len(X) and int(np.min(X.lengths)) < 1:
            raise LeanECGError(source, "a record has no samples")
        return X
    if isinstance(X, np.ndarray):
        if X.ndim == 2:
            X = X[:, None, :]
        if X.ndim != 3:
            raise LeanECGError(
                source, f"expected (N, n_leads, n_samples) or a list of records, got {X.ndim}-D"
            )
        if not np.issubdtype(X.dtype, np.floating):
            raise LeanECGError(source, f"expected a floating-point array, got dtype {X.dtype}")
        _check_layout(X.shape[1], X.shape[2], source)
        if X.shape[2] == 0:
            raise LeanECGError(source, "records have no samples")
        return X
    if not isinstance(X, list | tuple):
        raise LeanECGError(source, f"expected a list of arrays or one 3-D array, got {type(X).__name__}")
    out = []
    n_leads = None
    for i, x in enumerate(X):
        try:
            a = np.asarray(x, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise LeanECGError(source, f"record {i} is not a numeric array ({exc})") from None
        if a.ndim == 1:
            a = a[None, :]
        if a.ndim != 2:
            raise LeanECGError(source, f"record {i} has {a.ndim} dimensions; expected (n_leads, n_samples)")
        _check_layout(a.shape[0], a.shape[1], f"{source}[{i}]")
        if a.shape[1] == 0:
            raise LeanECGError(source, f"record {i} has no samples")
        if n_leads is None:
            n_leads = a.shape[0]
        elif a.shape[0] != n_leads:
            raise LeanECGError(source, f"record {i} has {a.shape[0]} leads, record 0 has {n_leads}")
        out.append(a)
    return out


def _check_layout(n_leads: int, n_samples: int, source: str) -> None:
    if n_leads > _MAX_LEADS:
        raise LeanECGError(
            source,
            f"has {n_leads} leads and {n_samples} samples; records must be (n_leads, n_samples) "
            "-- transpose (n_samples, n_leads) signals first",
        )


def _check_y(y: Any, n: int, source: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2:
        if y.shape[0] != n:
            raise LeanECGError(source, f"has {y.shape[0]} rows for {n} records")
        if not (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
            raise LeanECGError(source, f"multi-hot labels must be numeric, got dtype {y.dtype}")
        y = y.astype(np.float32)
        if not np.isfinite(y).all() or y.min() < 0 or y.max() > 1:
            raise LeanECGError(source, "multi-hot labels must lie in [0, 1]")
        return y
    if y.ndim != 1:
        raise LeanECGError(source, f"expected (N,) class indices or (N, n_classes) multi-hot, got {y.ndim}-D")
    if y.shape[0] != n:
        raise LeanECGError(source, f"has {y.shape[0]} labels for {n} records")
    if np.issubdtype(y.dtype, np.floating):
        if not np.isfinite(y).all() or not np.array_equal(y, np.round(y)):
            raise LeanECGError(source, "single-label targets must be integer class indices")
    elif not np.issubdtype(y.dtype, np.integer):
        raise LeanECGError(source, f"class indices must be integers, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.min() < 0:
        raise LeanECGError(source, "class indices must be >= 0")
    return y


def record_lengths(X: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """int64 ``(N,)``: the number of samples of each record of ``X``."""
    if isinstance(X, np.ndarray):
        return np.full(X.shape[0], X.shape[-1], dtype=np.int64)
    if is_record_store(X):
        return np.asarray(X.lengths, dtype=np.int64)
    return np.fromiter((x.shape[-1] for x in X), dtype=np.int64, count=len(X))
