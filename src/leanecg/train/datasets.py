"""Arrays in, batches out: the :class:`ArraySplit` container and the batching used by training and inference.

Layout: unlike the rest of LeanECG (``(n_samples, n_leads)`` per record), everything here is
**channel-first**, the layout torch models take: a record is ``(n_leads, n_samples)`` float32 in mV and a
batch is ``(batch, n_leads, n_samples)``. Labels are int class indices ``(N,)`` (single-label) or float
multi-hot ``(N, n_classes)`` (multi-label; soft targets in ``[0, 1]`` are allowed).

Training batches (:class:`TrainBatches`): each item of the dataset is a whole batch, so a batch is cut from
the arrays with one vectorised gather (a random ``crop_samples`` window per record, zero-padded on the right
when a record is shorter) instead of one Python call per sample. ``crop_samples=None`` trains on full-length
records, zero-padded on the right to the longest record of the batch (use a crop for variable-length data:
random batches of very different lengths waste compute on padding).

Augmentations are callables ``aug(x, rng) -> x`` with ``rng`` a ``numpy.random.Generator``. By default
``x`` is one record ``(n_leads, n_samples)`` and the callable is applied to each record of the batch; a
callable with an attribute ``batched = True`` is called once with the whole batch
``(batch, n_leads, n_samples)`` (vectorised augmentations should declare it). The result must keep the
shape. :func:`channels_last_augment` adapts an augmentation written for LeanECG's ``(n_samples, n_leads)``
convention, such as ``leanecg.signal.augment.Compose`` (``aug(x, fs, rng)``).

Record stores: besides a list or a stacked array, ``X`` may be a *record store*, an object that reads
records lazily (e.g. :class:`leanecg.data.shards.ShardedRecords`, the sharded on-disk cache): it has
``len()``, ``store[i] -> (n_leads, n_samples_i)`` float32, ``lengths`` (int64 ``(N,)``), ``n_leads`` and
``subset(indices)``. Nothing is read until a batch is cut, so memory does not grow with the data set.

Per-record randomness (:func:`make_indexed_loader`, used with ``DataLoader`` workers and under
``torch.distributed``): the records are shuffled by a ``DistributedSampler`` (the same permutation of the
epoch for every number of processes, each process taking every ``world_size``-th record) and each record's
crop position and augmentation are drawn from ``(seed, epoch, record)``, so a record gets the same window
whichever worker or process cuts it.

Inference batches (:func:`inference_batches`): either full-length records grouped by length (sorted by
length; a batch only mixes records whose lengths differ by at most ``pad_fraction`` of the longest, the
shorter ones zero-padded on the right -- the default ``0.0`` batches only equal lengths, so a record's
prediction never depends on which other records are predicted with it), or sliding windows of ``window``
samples every ``hop`` samples (the last window is aligned with the record's end so the tail is covered;
records shorter than a window are zero-padded on the right to one window).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    DistributedSampler,
    RandomSampler,
    WeightedRandomSampler,
)

from leanecg.data.arrays import (  # noqa: F401  (public here since before the move to leanecg.data)
    ArraySplit,
    is_record_store,
    record_lengths,
)
from leanecg.errors import LeanECGError
from leanecg.signal.batching import inference_batches, window_starts  # noqa: F401  (public here since before the move)
from leanecg.train.seed import numpy_generator, torch_generator

Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def gather_windows(
    X: list[np.ndarray] | np.ndarray, records: np.ndarray, starts: np.ndarray, length: int
) -> np.ndarray:
    """Cut ``X[records[i]][:, starts[i] : starts[i] + length]`` for every ``i``, zero-padded on the right.

    Args:
        X: records, as in :class:`ArraySplit` (after its checks: 3-D array or list of 2-D arrays).
        records: int ``(B,)`` record indices.
        starts: int ``(B,)`` first sample of each window (``>= 0``).
        length: window length in samples.

    Returns:
        float32 ``(B, n_leads, length)``. A stacked ``X`` is gathered with one fancy-indexing operation.
    """
    records = np.asarray(records, dtype=np.int64)
    starts = np.asarray(starts, dtype=np.int64)
    if isinstance(X, np.ndarray):
        n_samples = X.shape[2]
        if n_samples >= length and (starts + length <= n_samples).all():
            view = np.lib.stride_tricks.sliding_window_view(X, length, axis=2)  # (N, L, T-len+1, len)
            return np.ascontiguousarray(view[records, :, starts], dtype=np.float32)
        out = np.zeros((len(records), X.shape[1], length), dtype=np.float32)
        for i, (r, s) in enumerate(zip(records, starts, strict=True)):  # only when padding is needed
            seg = X[r, :, s : s + length]
            out[i, :, : seg.shape[1]] = seg
        return out
    n_leads = int(X.n_leads) if is_record_store(X) else X[0].shape[0]  # type: ignore[union-attr]
    out = np.zeros((len(records), n_leads, length), dtype=np.float32)
    for i, (r, s) in enumerate(zip(records, starts, strict=True)):  # ragged records: one slice each
        seg = X[r][:, s : s + length]
        out[i, :, : seg.shape[1]] = seg
    return out


def random_crop_starts(lengths: np.ndarray, crop: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform random window starts: ``start_i`` in ``[0, max(lengths_i - crop, 0)]`` (int64 ``(B,)``)."""
    high = np.maximum(np.asarray(lengths, dtype=np.int64) - crop, 0)
    return rng.integers(0, high, endpoint=True, dtype=np.int64)


def record_uniforms(seed: int, epoch: int, records: np.ndarray, stream: int = 0) -> np.ndarray:
    """float64 ``(B,)`` uniforms in ``[0, 1)``, a fixed function of ``(seed, epoch, record, stream)``.

    A counter-based draw (SplitMix64 finaliser over the four integers): no generator state, so any worker
    or process that cuts record ``r`` in ``epoch`` gets the same number.
    """
    with np.errstate(over="ignore"):
        z = np.asarray(records, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        for k in (int(seed) & (2**64 - 1), int(epoch) & (2**64 - 1), int(stream) & (2**64 - 1)):
            z = z ^ np.uint64(k)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
            z = z + np.uint64(0x9E3779B97F4A7C15)
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


def apply_augment(augment: Augment, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Apply ``augment`` to a batch ``(batch, n_leads, n_samples)`` (see the module docstring)."""
    if getattr(augment, "batched", False):
        out = np.asarray(augment(x, rng), dtype=np.float32)
        if out.shape != x.shape:
            raise LeanECGError("augment", f"changed the batch shape from {x.shape} to {out.shape}")
        return out
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        xi = np.asarray(augment(x[i], rng), dtype=np.float32)
        if xi.shape != x.shape[1:]:
            raise LeanECGError("augment", f"changed a record's shape from {x.shape[1:]} to {xi.shape}")
        out[i] = xi
    return out


def channels_last_augment(augment: Callable[..., np.ndarray], fs: float | None = None) -> Augment:
    """Adapt an augmentation written for LeanECG's ``(n_samples, n_leads)`` records to the trainer.

    Args:
        augment: ``augment(x, rng)``, or ``augment(x, fs, rng)`` when ``fs`` is given (the signature of
            :mod:`leanecg.signal.augment` and its ``Compose``), with ``x`` ``(n_samples, n_leads)``; a
            batched one (``augment.batched``) gets ``(batch, n_samples, n_leads)``.
        fs: sampling rate in Hz passed to ``augment`` (``None``: call it without one).

    Returns:
        ``wrapped(x, rng)`` on channel-first ``(n_leads, n_samples)`` records (or batches), with the same
        ``batched`` flag.
    """
    batched = bool(getattr(augment, "batched", False))
    axes = (0, 2, 1) if batched else (1, 0)

    def wrapped(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        xt = np.ascontiguousarray(x.transpose(axes))
        out = augment(xt, rng) if fs is None else augment(xt, fs, rng)
        return np.ascontiguousarray(np.asarray(out).transpose(axes))

    wrapped.batched = batched  # type: ignore[attr-defined]
    wrapped.__wrapped__ = augment  # type: ignore[attr-defined]
    return wrapped


class TrainBatches(Dataset):
    """A map-style dataset whose items are whole batches: ``ds[list_of_indices] -> dict of tensors``.

    Keys: ``"x"`` float32 ``(B, n_leads, n_samples)``, ``"index"`` int64 ``(B,)``, and when present
    ``"y"`` (int64 ``(B,)`` or float32 ``(B, C)``) and ``"features"`` float32 ``(B, F)``.

    Args:
        split: the training records.
        crop_samples: window length cut at a random position of each record (zero-padded on the right when
            a record is shorter); ``None`` = full length, padded to the longest record of the batch.
        augment: optional augmentation (module docstring), applied after cropping.
        rng: numpy Generator for crop positions and augmentation (deterministic given its seed).
        record_seed: per-record randomness instead of ``rng``: crop positions and augmentations are a
            function of ``(record_seed, epoch, record)`` (set :attr:`epoch` before each epoch), so batches
            do not depend on which worker or process cuts them (a batched augmentation gets a Generator
            seeded by the batch's records).
    """

    def __init__(
        self,
        split: ArraySplit,
        crop_samples: int | None = None,
        augment: Augment | None = None,
        rng: np.random.Generator | None = None,
        record_seed: int | None = None,
    ) -> None:
        if crop_samples is not None and (not isinstance(crop_samples, int | np.integer) or crop_samples < 1):
            raise LeanECGError("crop_samples", f"must be a positive number of samples, got {crop_samples!r}")
        self.split = split
        self.crop_samples = None if crop_samples is None else int(crop_samples)
        self.augment = augment
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.record_seed = record_seed
        self.epoch = 0
        self._lengths = split.lengths
        self._y = None if split.y is None else torch.from_numpy(split.y)
        self._features = None if split.features is None else torch.from_numpy(split.features)

    def __len__(self) -> int:
        return len(self.split)

    def signals(self, idx: np.ndarray) -> np.ndarray:
        """float32 ``(B, n_leads, n_samples)`` for the records ``idx`` (crop / pad, no augmentation)."""
        lengths = self._lengths[idx]
        if self.crop_samples is not None and self.record_seed is not None:
            high = np.maximum(lengths - self.crop_samples, 0)
            u = record_uniforms(self.record_seed, self.epoch, idx)
            starts = np.minimum((u * (high + 1)).astype(np.int64), high)
            return gather_windows(self.split.X, idx, starts, self.crop_samples)
        if self.crop_samples is not None:
            starts = random_crop_starts(lengths, self.crop_samples, self.rng)
            return gather_windows(self.split.X, idx, starts, self.crop_samples)
        return gather_windows(self.split.X, idx, np.zeros_like(idx), int(lengths.max()))

    def __getitem__(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:  # type: ignore[override]
        idx = np.asarray(indices, dtype=np.int64)
        x = self.signals(idx)
        if self.augment is not None and self.record_seed is not None:
            x = self._augment_per_record(x, idx)
        elif self.augment is not None:
            x = apply_augment(self.augment, x, self.rng)
        t = torch.from_numpy(idx)
        out = {"x": torch.from_numpy(x), "index": t}
        if self._y is not None:
            out["y"] = self._y[t]
        if self._features is not None:
            out["features"] = self._features[t]
        return out

    def _augment_per_record(self, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        assert self.augment is not None and self.record_seed is not None
        if getattr(self.augment, "batched", False):
            rng = numpy_generator(self.record_seed, 2, self.epoch, *np.sort(idx)[:4].tolist())
            return apply_augment(self.augment, x, rng)
        out = np.empty_like(x)
        for i, r in enumerate(idx):
            xi = apply_augment(
                self.augment, x[i : i + 1], numpy_generator(self.record_seed, 2, self.epoch, int(r))
            )
            out[i] = xi[0]
        return out


class _NoSingletonBatchSampler(BatchSampler):
    """``BatchSampler`` that folds a trailing batch of one sample into the previous batch.

    A batch of one breaks BatchNorm in training mode; folding keeps every sample in every epoch.
    """

    def __iter__(self) -> Iterator[list[int]]:
        pending: list[int] | None = None
        for batch in super().__iter__():
            if pending is not None:
                if len(batch) == 1:
                    pending = pending + batch
                    continue
                yield pending
            pending = batch
        if pending is not None:
            yield pending

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        full, rest = divmod(n, self.batch_size)
        return full + (1 if rest > 1 or (rest == 1 and full == 0) else 0)


def class_balanced_weights(y: np.ndarray) -> np.ndarray:
    """Sampling weight of each record ``(n,)`` float64 (summing to 1) that makes every class present equally
    likely: ``1 / (n_classes_present * count of the record's class)``.

    Raises:
        LeanECGError: ``y`` is not one class index per record (multi-hot labels have no single class).

    Example:
        >>> class_balanced_weights(np.array([0, 0, 0, 1])).round(3).tolist()
        [0.167, 0.167, 0.167, 0.5]
    """
    labels = np.asarray(y)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise LeanECGError("y", "class-balanced sampling needs one class index per record")
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return 1.0 / (len(classes) * counts[inverse].astype(np.float64))


def make_train_loader(
    split: ArraySplit,
    batch_size: int,
    *,
    seed: int,
    crop_samples: int | None = None,
    augment: Augment | None = None,
    balanced: bool = False,
) -> DataLoader:
    """A shuffling DataLoader of :class:`TrainBatches` (``num_workers=0``, seeded, deterministic).

    The order comes from a ``torch.Generator`` seeded with ``seed``; crops and augmentation from a numpy
    Generator on an independent stream of the same seed. Iterating it again gives the next epoch.
    ``balanced``: each epoch draws ``len(split)`` records with replacement, every class present equally
    likely (:func:`class_balanced_weights`; class-index labels only) instead of a permutation.
    """
    ds = TrainBatches(split, crop_samples=crop_samples, augment=augment, rng=numpy_generator(seed, 1))
    order: RandomSampler | WeightedRandomSampler = RandomSampler(ds, generator=torch_generator(seed))
    if balanced:
        weights = torch.from_numpy(class_balanced_weights(split.y))
        order = WeightedRandomSampler(weights, len(split), replacement=True, generator=torch_generator(seed))
    sampler = _NoSingletonBatchSampler(order, batch_size=batch_size, drop_last=False)
    return DataLoader(ds, sampler=sampler, batch_size=None, num_workers=0, collate_fn=_identity)


def make_indexed_loader(
    split: ArraySplit,
    batch_size: int,
    *,
    seed: int,
    crop_samples: int | None = None,
    augment: Augment | None = None,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader of :class:`TrainBatches` with per-record randomness, for workers and processes.

    ``DistributedSampler(shuffle=True, seed=seed)`` gives every epoch one permutation of the records,
    independent of ``world_size``; process ``rank`` takes every ``world_size``-th record of it (the sampler
    repeats a few records when ``N`` is not a multiple of ``world_size``) in batches of ``batch_size``
    (the per-process batch; a trailing batch of one is folded into the previous one). The union of the
    processes' ``k``-th batches is the ``k``-th batch of one process with ``batch_size * world_size``.
    Crops and augmentations come from ``(seed, epoch, record)`` (:class:`TrainBatches` ``record_seed``).
    Call :func:`set_loader_epoch` before each epoch. ``num_workers`` processes cut the batches
    (``persistent_workers=False``: each epoch's workers see the epoch number).
    """
    ds = TrainBatches(split, crop_samples=crop_samples, augment=augment, record_seed=seed)
    sampler = DistributedSampler(
        ds, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=False
    )
    batches = _NoSingletonBatchSampler(sampler, batch_size=batch_size, drop_last=False)
    return DataLoader(
        ds,
        sampler=batches,
        batch_size=None,
        num_workers=num_workers,
        collate_fn=_identity,
        pin_memory=pin_memory,
    )


def set_loader_epoch(loader: DataLoader, epoch: int) -> None:
    """Tell a :func:`make_indexed_loader` loader which epoch comes next (no-op for :func:`make_train_loader`)."""
    ds = loader.dataset
    if isinstance(ds, TrainBatches) and ds.record_seed is not None:
        ds.epoch = int(epoch)
        inner = getattr(loader.sampler, "sampler", None)
        if isinstance(inner, DistributedSampler):
            inner.set_epoch(int(epoch))


def _identity(batch: Any) -> Any:
    return batch
