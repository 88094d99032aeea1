"""Sharded on-disk cache of preprocessed records, for data sets larger than memory.

:func:`build_shards` preprocesses records in parallel worker processes (``concurrent.futures``, a progress
bar) and writes a cache folder; :func:`open_shards` reads it back lazily as a *record store*
(:class:`ShardedRecords`) that :class:`leanecg.train.datasets.ArraySplit` and the trainer's
``DataLoader`` take like an array, so memory does not grow with the number of records.

Layout of a cache folder::

    index.json             format, fingerprint, counts, leads, fs, dtype, label kind, shards, build info
    index.npz              record_ids, shard (int32), offset (int64, samples), length (int64), labels
    shard-00000.npy ...    float32 1-D .npy: each record's (n_leads, length) block, channel-first, back to back

Each shard is a plain ``.npy`` (``np.load(path, mmap_mode="r")`` memory-maps it); record ``i`` is
``shard[offset * n_leads : (offset + length) * n_leads].reshape(n_leads, length)``. The reader fetches a
record with one positioned read (``os.pread``) instead of a memory map, so pages it has read are not
counted in the process's resident memory (the OS page cache still keeps hot shards in RAM).

Safety: shard files are written under a temporary name and renamed; ``index.json`` is written last and
atomically, so a folder is either a complete cache or not a cache. The ``fingerprint`` (a SHA-256 of the
JSON description of the source and preprocessing the caller passes) is checked when the cache is
reused: a cache built from other data or another pipeline is rebuilt, never silently used.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.atomic import atomic_path, json_default, write_json
from leanecg.data.arrays import ArraySplit
from leanecg.errors import LeanECGError

__all__ = [
    "INDEX_FILE",
    "PipelineLoader",
    "ShardedRecords",
    "build_shards",
    "fingerprint_of",
    "open_shards",
]

FORMAT = "leanecg.shards/1"
INDEX_FILE = "index.json"
ARRAYS_FILE = "index.npz"
DTYPE = np.dtype("<f4")

#: ``load(item) -> (signal (n_leads, n_samples) float32, label)``: one record of the source. Must be
#: picklable (a module-level function or an instance of a module-level class) to run in worker processes.
Loader = Callable[[Any], tuple[np.ndarray, Any]]


def fingerprint_of(description: Any) -> str:
    """SHA-256 of the canonical JSON of ``description`` (source, preprocessing, anything the data depend on)."""
    text = json.dumps({"format": FORMAT, "description": description}, sort_keys=True, default=json_default)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------- building


def _write_shard(folder: str, number: int, items: Sequence[Any], load: Loader) -> dict[str, Any]:
    """Worker: load and preprocess ``items``, write ``shard-<number>.npy``; returns lengths and labels."""
    blocks, lengths, labels = [], [], []
    n_leads = None
    for item in items:
        x, label = load(item)
        x = np.ascontiguousarray(x, dtype=DTYPE)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] < 1:
            raise LeanECGError(str(item), f"loader returned shape {x.shape}; expected (n_leads, n_samples)")
        if n_leads is None:
            n_leads = x.shape[0]
        elif x.shape[0] != n_leads:
            raise LeanECGError(str(item), f"has {x.shape[0]} leads, the shard's first record {n_leads}")
        if not np.isfinite(x).all():
            raise LeanECGError(str(item), "preprocessed signal contains NaN or infinite values")
        blocks.append(x.reshape(-1))
        lengths.append(x.shape[1])
        labels.append(label)
    data = np.concatenate(blocks) if blocks else np.zeros(0, dtype=DTYPE)
    name = f"shard-{number:05d}.npy"
    with atomic_path(Path(folder) / name) as tmp, open(tmp, "wb") as fh:
        np.save(fh, data, allow_pickle=False)
    return {"number": number, "file": name, "lengths": lengths, "labels": labels, "n_leads": n_leads}


def build_shards(
    items: Sequence[Any],
    load: Loader,
    out_dir: str | Path,
    *,
    description: Any,
    record_ids: Sequence[str] | None = None,
    fs: float | None = None,
    records_per_shard: int = 256,
    workers: int = 1,
    progress: Any = None,
    rebuild: bool = False,
) -> ShardedRecords:
    """Preprocess ``items`` with ``load`` in ``workers`` processes into a sharded cache in ``out_dir``.

    Args:
        items: one picklable description per record (a path, ``(path, label)``, a seed...), in order.
        load: ``load(item) -> (signal (n_leads, n_samples), label)`` (see :data:`Loader`); labels are
            class indices (int) or multi-hot vectors.
        out_dir: cache folder (created).
        description: JSON-able description of the source and preprocessing; its SHA-256 is the cache's
            fingerprint. A complete cache with the same fingerprint and record count is reused as it is.
        record_ids: names of the records (default ``"0"``, ``"1"``, ...).
        fs: sampling rate of the cached signals (stored in the index).
        records_per_shard: records per shard file (a worker holds one shard in memory while writing it).
        workers: worker processes (1: no subprocess).
        progress: a ``rich.progress.Progress`` to add a task to, ``True`` for a bar of its own on stderr,
            or ``None`` / ``False`` for none.
        rebuild: rebuild even when a matching cache exists.

    Returns:
        The cache, opened (:func:`open_shards`).
    """
    out = Path(out_dir)
    items = list(items)
    if not items:
        raise LeanECGError(out, "no records to cache")
    if record_ids is not None and len(record_ids) != len(items):
        raise LeanECGError(out, f"{len(record_ids)} record ids for {len(items)} records")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise LeanECGError("workers", f"must be a positive integer, got {workers!r}")
    if isinstance(records_per_shard, bool) or not isinstance(records_per_shard, int) or records_per_shard < 1:
        raise LeanECGError("records_per_shard", f"must be a positive integer, got {records_per_shard!r}")
    fingerprint = fingerprint_of(description)
    if not rebuild and (out / INDEX_FILE).is_file():
        try:
            cached = open_shards(out, fingerprint=fingerprint)
            if len(cached) == len(items):
                return cached
        except LeanECGError:
            pass  # stale or damaged: rebuilt below
    out.mkdir(parents=True, exist_ok=True)
    (out / INDEX_FILE).unlink(missing_ok=True)  # the folder is not a cache until the new index is written
    for old in out.glob("shard-*.npy"):
        old.unlink()
    chunks = [items[i : i + records_per_shard] for i in range(0, len(items), records_per_shard)]
    t0 = time.perf_counter()
    results: list[dict[str, Any] | None] = [None] * len(chunks)
    with _progress(progress) as (bar, task):
        if bar is not None:
            bar.update(task, total=len(items), description="caching records")
        if workers == 1:
            for k, chunk in enumerate(chunks):
                results[k] = _write_shard(str(out), k, chunk, load)
                if bar is not None:
                    bar.update(task, advance=len(chunk))
        else:
            with cf.ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(_write_shard, str(out), k, c, load): k for k, c in enumerate(chunks)}
                for fut in cf.as_completed(futures):
                    res = fut.result()
                    results[res["number"]] = res
                    if bar is not None:
                        bar.update(task, advance=len(res["lengths"]))
    seconds = time.perf_counter() - t0
    done = [r for r in results if r is not None]
    n_leads = {r["n_leads"] for r in done}
    if len(n_leads) != 1:
        raise LeanECGError(out, f"records have different numbers of leads across shards: {sorted(n_leads)}")
    shard = np.concatenate([np.full(len(r["lengths"]), r["number"], dtype=np.int32) for r in done])
    lengths = np.concatenate([np.asarray(r["lengths"], dtype=np.int64) for r in done])
    offsets = np.concatenate([np.cumsum([0, *r["lengths"][:-1]], dtype=np.int64) for r in done])
    labels = _stack_labels([lab for r in done for lab in r["labels"]], out)
    ids = np.asarray(record_ids if record_ids is not None else [str(i) for i in range(len(items))], dtype=str)
    with atomic_path(out / ARRAYS_FILE) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, record_ids=ids, shard=shard, offset=offsets, length=lengths, labels=labels)
    index = {
        "format": FORMAT,
        "fingerprint": fingerprint,
        "description": description,
        "n_records": len(items),
        "n_leads": int(next(iter(n_leads))),
        "fs": fs,
        "dtype": DTYPE.str,
        "labels": "multi-hot" if labels.ndim == 2 else "class indices",
        "total_samples": int(lengths.sum()),
        "bytes": int(lengths.sum()) * int(next(iter(n_leads))) * DTYPE.itemsize,
        "shards": [{"file": r["file"], "records": len(r["lengths"])} for r in done],
        "build": {"workers": workers, "records_per_shard": records_per_shard, "seconds": seconds},
    }
    write_json(out / INDEX_FILE, index)
    return open_shards(out, fingerprint=fingerprint)


def _stack_labels(labels: list[Any], out: Path) -> np.ndarray:
    if not labels or labels[0] is None:
        return np.full(len(labels), -1, dtype=np.int64)
    arr = np.asarray(labels)
    if arr.ndim == 1:
        return arr.astype(np.int64)
    if arr.ndim == 2:
        return arr.astype(np.float32)
    raise LeanECGError(out, f"labels must be class indices or multi-hot vectors, got shape {arr.shape}")


class _progress:
    """``with _progress(p) as (bar, task)``: a task on a given Progress, a bar of its own, or nothing."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress
        self.own = None

    def __enter__(self) -> tuple[Any, Any]:
        p = self.progress
        if p is None or p is False:
            return None, None
        if p is True:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            console = Console(stderr=True)
            self.own = Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
                disable=not console.is_terminal,
            )
            self.own.__enter__()
            p = self.own
        return p, p.add_task("caching records", total=None)

    def __exit__(self, *exc: Any) -> None:
        if self.own is not None:
            self.own.__exit__(*exc)


# ---------------------------------------------------------------------------------------------- reading


@dataclass
class _Index:
    folder: Path
    meta: dict[str, Any]
    record_ids: np.ndarray
    shard: np.ndarray
    offset: np.ndarray
    length: np.ndarray
    labels: np.ndarray
    data_offsets: list[int]  # byte offset of each shard's data (after its .npy header)


def open_shards(folder: str | Path, fingerprint: str | None = None) -> ShardedRecords:
    """Open a cache written by :func:`build_shards` (no signal is read).

    Args:
        folder: the cache folder.
        fingerprint: when given, a cache with another fingerprint is refused.

    Raises:
        LeanECGError: no cache there, another format or fingerprint, or a damaged shard.
    """
    folder = Path(folder)
    index_path = folder / INDEX_FILE
    if not index_path.is_file():
        raise LeanECGError(
            folder, f"no {INDEX_FILE}: not a LeanECG sharded cache (or its build did not finish)"
        )
    try:
        meta = json.loads(index_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LeanECGError(index_path, f"is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise LeanECGError(index_path, f"is not a sharded-cache index (format must be {FORMAT!r})")
    if fingerprint is not None and meta.get("fingerprint") != fingerprint:
        raise LeanECGError(folder, "was built from other data or another preprocessing (fingerprint differs)")
    try:
        with np.load(folder / ARRAYS_FILE, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("record_ids", "shard", "offset", "length", "labels")}
    except (OSError, ValueError, KeyError) as exc:
        raise LeanECGError(folder / ARRAYS_FILE, f"cannot be read ({exc})") from None
    n_leads = int(meta["n_leads"])
    data_offsets = []
    for k, sh in enumerate(meta["shards"]):
        path = folder / sh["file"]
        try:
            with open(path, "rb") as fh:
                version = np.lib.format.read_magic(fh)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = read_header(fh)
                data_offsets.append(fh.tell())
        except (OSError, ValueError) as exc:
            raise LeanECGError(path, f"is not a readable shard ({exc})") from None
        in_shard = arrays["shard"] == k
        need = int(arrays["length"][in_shard].sum()) * n_leads
        if dtype != DTYPE or shape != (need,):
            raise LeanECGError(path, f"holds {shape} {dtype}, the index expects ({need},) {DTYPE}")
        if path.stat().st_size < data_offsets[-1] + need * DTYPE.itemsize:
            raise LeanECGError(path, "is shorter than its header says (truncated)")
    index = _Index(folder, meta, data_offsets=data_offsets, **arrays)
    return ShardedRecords(index, np.arange(len(arrays["length"]), dtype=np.int64))


class ShardedRecords:
    """Records of a sharded cache, read lazily: a *record store* for
    :class:`~leanecg.train.datasets.ArraySplit` (``len``, ``store[i] -> (n_leads, n_samples)`` float32,
    ``lengths``, ``n_leads``, ``subset``).

    Attributes:
        lengths: int64 ``(N,)`` samples per record; labels: ``(N,)`` class indices (``-1``: none) or
            ``(N, C)`` multi-hot; record_ids: ``(N,)`` names; fs, fingerprint, meta: from the index.

    Picklable (``DataLoader`` workers, ``torch.multiprocessing``): file descriptors are opened lazily in
    each process and never pickled.
    """

    def __init__(self, index: _Index, rows: np.ndarray) -> None:
        self._index = index
        self._rows = np.asarray(rows, dtype=np.int64)
        self._fds: dict[int, int] = {}
        self._pid = os.getpid()

    # -- the record-store interface
    def __len__(self) -> int:
        return len(self._rows)

    @property
    def lengths(self) -> np.ndarray:
        return self._index.length[self._rows]

    @property
    def n_leads(self) -> int:
        return int(self._index.meta["n_leads"])

    def __getitem__(self, i: int) -> np.ndarray:
        row = int(self._rows[i])
        ix = self._index
        n_leads, length = self.n_leads, int(ix.length[row])
        shard = int(ix.shard[row])
        nbytes = n_leads * length * DTYPE.itemsize
        start = ix.data_offsets[shard] + int(ix.offset[row]) * n_leads * DTYPE.itemsize
        buf = bytearray(nbytes)
        view = memoryview(buf)
        fd, got = self._fd(shard), 0
        while got < nbytes:  # one positioned read (no memory map: read pages do not stay resident)
            if hasattr(os, "preadv"):
                n = os.preadv(fd, [view[got:]], start + got)
            else:  # pragma: no cover - platforms without preadv
                chunk = os.pread(fd, nbytes - got, start + got)
                n = len(chunk)
                view[got : got + n] = chunk
            if n <= 0:
                path = ix.folder / ix.meta["shards"][shard]["file"]
                raise LeanECGError(path, "is shorter than its index says")
            got += n
        return np.frombuffer(buf, dtype=DTYPE).reshape(n_leads, length)

    def subset(self, indices: Sequence[int] | np.ndarray) -> ShardedRecords:
        return ShardedRecords(self._index, self._rows[np.asarray(indices, dtype=np.int64)])

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self[i]

    # -- metadata
    @property
    def labels(self) -> np.ndarray:
        return self._index.labels[self._rows]

    @property
    def record_ids(self) -> np.ndarray:
        return self._index.record_ids[self._rows]

    @property
    def fs(self) -> float | None:
        return self._index.meta.get("fs")

    @property
    def fingerprint(self) -> str:
        return str(self._index.meta["fingerprint"])

    @property
    def meta(self) -> dict[str, Any]:
        return dict(self._index.meta)

    @property
    def nbytes(self) -> int:
        """Bytes of signal these records hold on disk."""
        return int(self.lengths.sum()) * self.n_leads * DTYPE.itemsize

    def split(self, name: str = "split", indices: Sequence[int] | np.ndarray | None = None) -> ArraySplit:
        """An :class:`~leanecg.data.arrays.ArraySplit` of these records (or ``indices`` of them) with
        their labels (``None`` when the cache has none); nothing is read."""
        recs = self if indices is None else self.subset(indices)
        y = recs.labels
        if y.ndim == 1 and (y < 0).all():
            y = None
        return ArraySplit(X=recs, y=y, name=name)

    # -- file handles, one set per process
    def _fd(self, shard: int) -> int:
        if self._pid != os.getpid():  # a forked worker: the parent's descriptors are not ours to share
            self._fds, self._pid = {}, os.getpid()
        fd = self._fds.get(shard)
        if fd is None:
            path = self._index.folder / self._index.meta["shards"][shard]["file"]
            fd = os.open(path, os.O_RDONLY)
            self._fds[shard] = fd
        return fd

    def close(self) -> None:
        if self._pid == os.getpid():
            for fd in self._fds.values():
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._fds = {}

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    def __getstate__(self) -> dict[str, Any]:
        return {"_index": self._index, "_rows": self._rows}

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        self._index = state["_index"]
        self._rows = state["_rows"]
        self._fds = {}
        self._pid = os.getpid()


# ---------------------------------------------------------------------------------------------- records


class PipelineLoader:
    """A picklable :data:`Loader` for real records: ``item`` is ``path`` or ``(path, label)``; the record is
    read with :func:`leanecg.data.loaders.load_record` and preprocessed with a
    :class:`leanecg.signal.Pipeline` (JSON), returned channel-first.

    Use ``description=loader.describe(paths)`` for :func:`build_shards` so the fingerprint covers the
    pipeline and the source files (size and modification time).
    """

    def __init__(self, pipeline: Any = None, fs: float | None = None) -> None:
        self.pipeline_json = None if pipeline is None else pipeline.to_dict()
        self.fs = fs
        self._pipeline = None

    def __getstate__(self) -> dict[str, Any]:
        return {"pipeline_json": self.pipeline_json, "fs": self.fs}

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        self.pipeline_json, self.fs, self._pipeline = state["pipeline_json"], state["fs"], None

    def __call__(self, item: Any) -> tuple[np.ndarray, Any]:
        from leanecg.data.loaders import load_record

        path, label = item if isinstance(item, tuple) else (item, None)
        record = load_record(path, fs=self.fs, annotations=False)
        x, fs = record.signal, float(record.fs)
        if self.pipeline_json is not None:
            if self._pipeline is None:
                from leanecg.signal.pipeline import Pipeline

                self._pipeline = Pipeline.from_dict(self.pipeline_json)
            x, fs = self._pipeline(x, fs, list(record.leads))
        return np.ascontiguousarray(np.asarray(x, dtype=np.float32).T), label

    def describe(self, items: Sequence[Any]) -> dict[str, Any]:
        from leanecg.data import loaders
        from leanecg.data.cache import source_fingerprint

        paths = [it[0] if isinstance(it, tuple) else it for it in items]
        return {
            "kind": "records",
            "pipeline": self.pipeline_json,
            "fs": self.fs,
            "sources": [source_fingerprint(loaders.record_source_files(p)) for p in paths],
            "labels": [it[1] if isinstance(it, tuple) else None for it in items],
        }
