"""On-disk cache of decoded (and optionally preprocessed) signals, so training epochs never re-parse WFDB.

Layout: ``<cache dir>/signals/<k[:2]>/<k>.npy`` (the array, a plain ``.npy`` loadable with
``np.load(..., mmap_mode="r")``) plus ``<k>.json`` (shape, dtype, CRC-32 of the data bytes, the key
parts and small extras such as the output sampling rate). The cache dir is ``$LEANECG_CACHE`` or
``~/.cache/leanecg``; only the ``signals/`` folder inside it is ever written or cleared.

Keys (``k``) are SHA-256 digests of a canonical JSON of: a cache format version, the LeanECG version
and the caller's ``key_parts``. For records, :func:`cached_record_signal` puts in the key each source
file's resolved path, size and ``mtime_ns``, the SHA-256 of the content of every small file (headers,
<= 64 KiB) and, with ``full_hash=True``, of every file; plus ``fs`` and the preprocessing config. Any
change to a source file or to the config gives a new key; stale entries stay until
:func:`clear_cache`.

Safety: entries are written through :mod:`leanecg.atomic` (temporary file + ``os.replace``), the data
first and the JSON last, so a reader sees either no entry or a complete one; readers that already
memory-mapped an entry keep their (unlinked) copy when it is replaced. An entry whose JSON is
unreadable, whose array does not load or has the wrong shape / dtype, or (``verify=True``, the default)
whose CRC-32 does not match is recomputed and rewritten, never trusted. If the cache cannot be
written (read-only disk), the computed value is returned uncached with a ``RuntimeWarning``.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.atomic import atomic_open, json_default, write_json
from leanecg.cache_root import CACHE_ENV, default_cache_root
from leanecg.errors import LeanECGError

__all__ = [
    "CACHE_ENV",
    "cache_key",
    "cached_record_signal",
    "cached_signal",
    "clear_cache",
    "file_fingerprint",
    "resolve_cache_dir",
    "source_fingerprint",
]

FORMAT_VERSION = 1
SMALL_FILE_BYTES = 64 * 1024
_SUBDIR = "signals"
_HASH_CHUNK = 1 << 20


def resolve_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """The cache root: ``cache_dir`` if given, else ``$LEANECG_CACHE``, else ``~/.cache/leanecg``.

    Raises:
        LeanECGError: the location exists but is not a folder.
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_root()
    if root.exists() and not root.is_dir():
        raise LeanECGError(root, f"cache location is a file, not a folder (set {CACHE_ENV} to a folder)")
    return root


# ---------------------------------------------------------------------------------------------------------
# keys


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def file_fingerprint(path: str | Path, *, full_hash: bool = False) -> dict[str, Any]:
    """``{"path", "size", "mtime_ns"[, "sha256"]}`` of one file.

    The content hash is always taken for small files (<= 64 KiB: headers, where a one-character edit to
    a gain would not change the size) and for every file when ``full_hash`` is true.

    Raises:
        LeanECGError: the file is missing or not a regular file.
    """
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise LeanECGError(p, "no such file") from None
    if not p.is_file():
        raise LeanECGError(p, "is not a regular file")
    fp: dict[str, Any] = {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if full_hash or st.st_size <= SMALL_FILE_BYTES:
        fp["sha256"] = _sha256_file(p)
    return fp


def source_fingerprint(paths: Sequence[str | Path], *, full_hash: bool = False) -> list[dict[str, Any]]:
    """:func:`file_fingerprint` of each file, in the given order."""
    return [file_fingerprint(p, full_hash=full_hash) for p in paths]


def _json_default(obj: Any) -> Any:
    """:func:`leanecg.atomic.json_default`, plus sets (sorted by ``repr``) for cache keys."""
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=repr)
    try:
        return json_default(obj)
    except TypeError:
        raise TypeError(f"cache key parts must be JSON-able, got {type(obj).__name__}") from None


def cache_key(key_parts: Any) -> str:
    """SHA-256 hex digest of the canonical JSON of ``key_parts`` (+ format and LeanECG versions).

    ``key_parts`` may hold dicts, lists, strings, numbers, ``None``, paths and numpy scalars / arrays.
    Floats are written with ``repr`` precision, dict keys sorted, so equal parts give equal keys.
    """
    from leanecg import __version__

    doc = {"format": FORMAT_VERSION, "leanecg": __version__, "parts": key_parts}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=_json_default, allow_nan=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------------------
# entries


def _entry_paths(root: Path, key: str) -> tuple[Path, Path]:
    folder = root / _SUBDIR / key[:2]
    return folder / f"{key}.npy", folder / f"{key}.json"


def _crc32(arr: np.ndarray) -> int:
    if arr.nbytes == 0:
        return zlib.crc32(b"")
    return zlib.crc32(memoryview(np.ascontiguousarray(arr)).cast("B"))


def _load_entry(
    npy: Path, meta_path: Path, key: str, mmap: bool, verify: bool, required: Sequence[str]
) -> tuple[np.ndarray, dict[str, Any]] | None:
    """The cached array and extras, or ``None`` when absent or not trustworthy."""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION or meta.get("key") != key:
        return None
    extra = meta.get("extra")
    if not isinstance(extra, dict) or any(k not in extra for k in required):
        return None
    try:
        mode = "r" if mmap and int(meta.get("nbytes", 0)) > 0 else None
        arr = np.load(npy, mmap_mode=mode, allow_pickle=False)
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if list(arr.shape) != meta.get("shape") or str(arr.dtype) != meta.get("dtype"):
        return None
    if verify and _crc32(arr) != meta.get("crc32"):
        return None
    return arr, extra


def _store_entry(npy: Path, meta_path: Path, key: str, key_parts: Any, arr: np.ndarray, extra: dict) -> None:
    npy.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(npy, "wb") as fh:
        np.save(fh, arr, allow_pickle=False)
    meta = {
        "format": FORMAT_VERSION,
        "key": key,
        "shape": list(arr.shape),
        "dtype": str(arr.dtype),
        "nbytes": int(arr.nbytes),
        "crc32": _crc32(arr),
        "extra": extra,
        "key_parts": json.loads(json.dumps(key_parts, default=_json_default)),
    }
    write_json(meta_path, meta)


def _get_or_compute(
    key_parts: Any,
    compute: Callable[[], tuple[np.ndarray, dict[str, Any]]],
    *,
    cache_dir: str | Path | None,
    mmap: bool,
    verify: bool,
    required: Sequence[str] = (),
) -> tuple[np.ndarray, dict[str, Any]]:
    root = resolve_cache_dir(cache_dir)
    key = cache_key(key_parts)
    npy, meta_path = _entry_paths(root, key)
    hit = _load_entry(npy, meta_path, key, mmap, verify, required)
    if hit is not None:
        return hit
    value, extra = compute()
    arr = np.ascontiguousarray(value)
    if arr.dtype.hasobject:
        raise TypeError("cached values must be numeric arrays, not object arrays")
    try:
        _store_entry(npy, meta_path, key, key_parts, arr, extra)
    except OSError as exc:
        warnings.warn(f"leanecg cache not written ({npy}): {exc}", RuntimeWarning, stacklevel=3)
        return arr, extra
    stored = _load_entry(npy, meta_path, key, mmap, False, required) if mmap else None
    return stored if stored is not None else (arr, extra)


def cached_signal(
    key_parts: Any,
    compute_fn: Callable[[], np.ndarray],
    *,
    cache_dir: str | Path | None = None,
    mmap: bool = True,
    verify: bool = True,
) -> np.ndarray:
    """Return the array cached under ``key_parts``, computing and storing it with ``compute_fn`` if needed.

    Args:
        key_parts: everything the result depends on, JSON-able (source fingerprints, config dicts...).
        compute_fn: produces the array (any numeric dtype and shape) on a miss.
        cache_dir: cache root (default :func:`resolve_cache_dir`).
        mmap: return a read-only memory map of the ``.npy`` (copy it before writing to it);
            ``False`` loads it into memory.
        verify: check the stored CRC-32 on every load (cheap; reads the whole array once).

    Returns:
        The array, equal to what ``compute_fn`` returned.
    """
    arr, _ = _get_or_compute(
        key_parts, lambda: (np.asarray(compute_fn()), {}), cache_dir=cache_dir, mmap=mmap, verify=verify
    )
    return arr


def cached_record_signal(
    path: str | Path,
    *,
    fs: float | None = None,
    transform: Callable[[np.ndarray, float, list[str]], tuple[np.ndarray, float]] | None = None,
    config: Mapping[str, Any] | str | None = None,
    cache_dir: str | Path | None = None,
    full_hash: bool = False,
    mmap: bool = True,
    verify: bool = True,
) -> tuple[np.ndarray, float]:
    """A record's float32 signal (mV), optionally preprocessed, decoded at most once.

    Args:
        path: anything :func:`leanecg.data.loaders.load_record` accepts.
        fs: passed to ``load_record`` (and part of the key).
        transform: ``transform(x, fs, leads) -> (y, fs_out)`` applied to the loaded signal (mV), e.g. a
            :class:`leanecg.signal.Pipeline` (whose ``leads`` step needs the record's lead names).
        config: JSON-able description of ``transform`` for the key; taken from ``transform.to_dict()``
            (or ``to_json()``) when omitted. A transform without either is a programming error
            (``ValueError``): a callable cannot be fingerprinted reliably.
        cache_dir, mmap, verify: as in :func:`cached_signal`.
        full_hash: hash the full content of every source file, not only size + mtime (slower, for
            files whose modification times are not trustworthy).

    Returns:
        ``(signal, fs_out)``: float32 ``(n_samples, n_leads)`` and its sampling rate in Hz.
    """
    from leanecg.data import loaders

    if transform is not None and config is None:
        describe = getattr(transform, "to_dict", None) or getattr(transform, "to_json", None)
        if not callable(describe):
            raise ValueError(
                "cached_record_signal: pass config= describing the transform (used in the cache key)"
            )
        config = describe()
    sources = loaders.record_source_files(path)
    key_parts = {
        "kind": "record-signal",
        "sources": source_fingerprint(sources, full_hash=full_hash),
        "fs": fs,
        "config": config,
    }

    def compute() -> tuple[np.ndarray, dict[str, Any]]:
        record = loaders.load_record(path, fs=fs, annotations=False)
        x, fs_out = record.signal, float(record.fs)
        if transform is not None:
            x, fs_out = transform(x, fs_out, list(record.leads))
            fs_out = float(fs_out)
            if not math.isfinite(fs_out) or fs_out <= 0:
                raise ValueError(f"transform returned an invalid sampling rate {fs_out!r}")
        return np.asarray(x, dtype=np.float32), {"fs": fs_out}

    arr, extra = _get_or_compute(
        key_parts, compute, cache_dir=cache_dir, mmap=mmap, verify=verify, required=("fs",)
    )
    return arr, float(extra["fs"])


def clear_cache(cache_dir: str | Path | None = None) -> int:
    """Delete every cached signal (and stray temporary files) under ``<cache dir>/signals``.

    Returns:
        The number of cached arrays removed.
    """
    root = resolve_cache_dir(cache_dir) / _SUBDIR
    if not root.is_dir():
        return 0
    removed = 0
    for shard in sorted(root.iterdir()):
        if not shard.is_dir():
            continue
        for f in shard.iterdir():
            if f.is_file() and (f.suffix in (".npy", ".json") or f.name.endswith(".tmp")):
                try:
                    f.unlink()
                except FileNotFoundError:  # a concurrent clear got there first
                    continue
                removed += f.suffix == ".npy"
        try:
            shard.rmdir()
        except OSError:  # not empty (a writer is active) or already gone
            pass
    return removed
