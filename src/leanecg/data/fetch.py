"""Download a dataset's official PhysioNet release, file by file: checksummed, resumable, standard library only.

PhysioNet serves each release at ``https://physionet.org/files/<slug>/<version>/`` with the files in their
original layout and, for most releases, a ``SHA256SUMS.txt`` listing the SHA-256 of every file.
:func:`fetch_dataset` follows the dataset's :class:`~leanecg.data.registry.FetchPlan`:

1. ``SHA256SUMS.txt`` (when the release has one; every file that it lists is verified, a mismatch is an
   error and the bad file is not kept);
2. the metadata files (label tables, ``RECORDS``);
3. the record index (a WFDB ``RECORDS`` file, whose ``sub/`` entries point to nested ``RECORDS``, or a
   CSV column), cut to the first ``max_records`` records when asked;
4. for each record its ``.hea`` header, the signal files that header names, and its annotation files.

Resumable: a file already on disk whose checksum matches (or, when the release has no checksums, that
exists: files only get their final name once complete) is skipped; data arrives in ``<file>.part`` and is
renamed when complete and verified; an interrupted ``.part`` is continued with an HTTP range request
where the server supports it. ``base_url`` may point to a mirror laid out like PhysioNet (``http(s)://``,
``file://`` or a local folder). A summary of what was fetched is written to
``<dataset folder>/.leanecg-fetch.json``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import posixpath
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from leanecg.atomic import atomic_open, write_json
from leanecg.data.registry import Dataset, FetchPlan, RemoteFile, get_dataset, read_header
from leanecg.errors import LeanECGError

PHYSIONET_FILES = "https://physionet.org/files/"
CHECKSUM_FILE = "SHA256SUMS.txt"
MANIFEST = ".leanecg-fetch.json"
TIMEOUT_S = 60.0
CHUNK = 1 << 20
USER_AGENT = "leanecg (https://github.com/leanecg; dataset fetch)"

Progress = Callable[[int, int], None]


def release_url(dataset: Dataset) -> str:
    """``https://physionet.org/files/<slug>/<version>/`` of a dataset's release."""
    return f"{PHYSIONET_FILES}{dataset.slug}/{dataset.version}/"


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def parse_checksums(text: str) -> dict[str, str]:
    """``relative path -> sha256`` from a ``sha256sum``-style listing (``<hex>  <path>`` or ``<hex> *<path>``)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) != 2 or len(parts[0]) != 64:
            continue
        digest, name = parts
        name = name.strip().lstrip("*")
        if name.startswith("./"):
            name = name[2:]
        out[name] = digest.lower()
    return out


class _Fetcher:
    """Downloads files of one release into one dataset folder."""

    def __init__(self, dataset: Dataset, base_url: str, dest: Path) -> None:
        self.dataset = dataset
        self.base = base_url
        self.dest = dest
        self.sums: dict[str, str] | None = None
        self.downloaded = 0
        self.skipped = 0
        self.verified = 0

    # ---- URLs and errors -----------------------------------------------------------------------------
    def url(self, remote: str) -> str:
        return self.base + urllib.parse.quote(remote)

    def _unreachable(self, url: str, reason: object) -> LeanECGError:
        return LeanECGError(
            self.dataset.name,
            f"cannot reach {url}: {reason}; download manually from {self.dataset.url} and pass `data_dir`",
        )

    def _open(self, url: str, offset: int = 0) -> tuple[Any, bool] | None:
        """``(response, resumed)``, or ``None`` when the file does not exist (HTTP 404 / missing file)."""
        headers = {"User-Agent": USER_AGENT}
        if offset and url.startswith(("http://", "https://")):
            headers["Range"] = f"bytes={offset}-"
        req = urllib.request.Request(url, headers=headers)
        try:
            resp = urllib.request.urlopen(req, timeout=TIMEOUT_S)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in (404, 410):
                return None
            if exc.code == 416 and offset:  # range past the end: restart from zero
                return self._open(url, 0)
            raise LeanECGError(
                self.dataset.name,
                f"HTTP {exc.code} {exc.reason} for {url}; download manually from {self.dataset.url} "
                "and pass `data_dir`",
            ) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, FileNotFoundError | NotADirectoryError):
                return None
            raise self._unreachable(url, exc.reason) from None
        except (TimeoutError, ConnectionError, OSError) as exc:
            raise self._unreachable(url, exc) from None
        status = getattr(resp, "status", None) or getattr(resp, "code", None)
        return resp, bool(offset) and status == 206

    def get_bytes(self, remote: str, required: bool = True) -> bytes | None:
        """A small file's content (indexes), verified when the release lists its checksum."""
        url = self.url(remote)
        opened = self._open(url)
        if opened is None:
            if required:
                raise LeanECGError(self.dataset.name, f"{url} not found on the server (HTTP 404)")
            return None
        resp, _ = opened
        try:
            with resp:
                data = resp.read()
        except (OSError, ConnectionError) as exc:
            raise self._unreachable(url, exc) from None
        expected = (self.sums or {}).get(remote)
        if expected is not None:
            got = hashlib.sha256(data).hexdigest()
            if got != expected:
                raise LeanECGError(
                    url, f"checksum mismatch (SHA-256 {got[:16]}..., {CHECKSUM_FILE} says {expected[:16]}...)"
                )
            self.verified += 1
        return data

    # ---- files ---------------------------------------------------------------------------------------
    def fetch(self, remote: str, local: str, required: bool = True) -> bool:
        """Download ``remote`` to ``dest/local`` unless a verified copy is there. ``False``: optional and absent."""
        target = self.dest / _safe_relative(local, self.dataset.name)
        expected = (self.sums or {}).get(remote)
        if target.is_file():
            if expected is None:
                self.skipped += 1
                return True
            if sha256_file(target) == expected:
                self.skipped += 1
                self.verified += 1
                return True
            target.unlink()  # corrupt or outdated: fetch again
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        for attempt in (0, 1):
            offset = part.stat().st_size if part.is_file() else 0
            ok = self._download(remote, part, offset)
            if not ok:
                if required:
                    raise LeanECGError(
                        self.dataset.name, f"{self.url(remote)} not found on the server (HTTP 404)"
                    )
                return False
            if expected is not None:
                got = sha256_file(part)
                if got != expected:
                    part.unlink()
                    if attempt == 0 and offset:
                        continue  # the resumed prefix was bad: retry once from scratch
                    raise LeanECGError(
                        self.url(remote),
                        f"checksum mismatch (SHA-256 {got[:16]}..., {CHECKSUM_FILE} says {expected[:16]}...); "
                        "the file was corrupted in transit or the mirror differs from the release; "
                        "nothing was kept, run the command again",
                    )
                self.verified += 1
            os.replace(part, target)
            self.downloaded += 1
            return True
        return True  # pragma: no cover - the loop always returns or raises

    def _download(self, remote: str, part: Path, offset: int) -> bool:
        url = self.url(remote)
        opened = self._open(url, offset)
        if opened is None:
            return False
        resp, resumed = opened
        announced = resp.headers.get("Content-Length") if getattr(resp, "headers", None) else None
        written = 0
        try:
            with resp, open(part, "ab" if resumed else "wb") as fh:
                while block := resp.read(CHUNK):
                    fh.write(block)
                    written += len(block)
        except (OSError, ConnectionError) as exc:
            raise self._interrupted(url, str(exc)) from None
        if announced is not None and announced.strip().isdigit() and int(announced) != written:
            raise self._interrupted(url, f"received {written} of {int(announced)} bytes")
        return True

    def _interrupted(self, url: str, why: str) -> LeanECGError:
        return LeanECGError(
            self.dataset.name,
            f"download of {url} interrupted ({why}); run the command again to resume "
            f"(or download manually from {self.dataset.url} and pass `data_dir`)",
        )


def _safe_relative(path: str, where: str) -> PurePosixPath:
    """``path`` as a relative POSIX path inside the dataset folder (rejects absolute paths and ``..``)."""
    p = PurePosixPath(path.strip())
    if not path.strip() or p.is_absolute() or ".." in p.parts or "\\" in path:
        raise LeanECGError(where, f"refusing unsafe path {path!r} from the server's file list")
    return p


def _normalise_base(base_url: str | None, dataset: Dataset) -> str:
    if base_url is None:
        return release_url(dataset)
    base = str(base_url).strip()
    if not base.startswith(("http://", "https://", "file://")):
        local = Path(base).expanduser()
        if not local.is_dir():
            raise LeanECGError("base_url", f"{base!r} is neither an http(s):// or file:// URL nor a folder")
        base = local.resolve().as_uri()
    return base if base.endswith("/") else base + "/"


def _record_list(fetcher: _Fetcher, plan: FetchPlan, max_records: int | None) -> list[str]:
    """Remote record paths relative to ``plan.remote_prefix`` (no extension), in index order."""
    if plan.static_records:
        records = list(plan.static_records)
        return records[:max_records] if max_records is not None else records
    if plan.index is None:
        raise LeanECGError(fetcher.dataset.name, "the dataset has no record index to download from")
    if plan.index_column is not None:
        local = next((m.local for m in plan.metadata if m.remote == plan.index), None)
        if local is not None:
            text = (fetcher.dest / local).read_text(encoding="utf-8")
        else:
            text = (fetcher.get_bytes(plan.index) or b"").decode("utf-8")
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames is None or plan.index_column not in reader.fieldnames:
            raise LeanECGError(fetcher.url(plan.index), f"no column {plan.index_column!r} in the index")
        out = []
        for row in reader:
            value = (row.get(plan.index_column) or "").strip()
            if value:
                out.append(value)
                if max_records is not None and len(out) >= max_records:
                    break
        return out
    local = next((m.local for m in plan.metadata if m.remote == plan.index), None)
    text = (fetcher.dest / local).read_text(encoding="utf-8", errors="replace") if local is not None else None
    return _expand_records(fetcher, plan.index, "", max_records, text)


def _expand_records(
    fetcher: _Fetcher, index: str, prefix: str, limit: int | None, text: str | None = None
) -> list[str]:
    """Entries of a RECORDS file; entries ending in ``/`` are sub-folders with their own RECORDS."""
    if text is None:
        text = (fetcher.get_bytes(index) or b"").decode("utf-8", errors="replace")
    out: list[str] = []
    for line in text.splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if limit is not None and len(out) >= limit:
            break
        if entry.endswith("/"):
            sub_index = posixpath.join(posixpath.dirname(index), entry, "RECORDS")
            left = None if limit is None else limit - len(out)
            out.extend(_expand_records(fetcher, sub_index, prefix + entry, left))
        else:
            out.append(prefix + entry)
    return out


def fetch_dataset(
    name: str,
    root: str | Path,
    base_url: str | None = None,
    max_records: int | None = None,
    progress: Progress | None = None,
) -> Path:
    """Download dataset ``name`` into ``<root>/<canonical folder>/`` and return that folder.

    Args:
        name: a registered dataset (``mitdb``, ``cinc2017``, ``ptbxl``, ``cinc2021``, ``cpsc2021``, ``nstdb``).
        root: the data dir (see :func:`leanecg.data.locate.resolve_data_dir`).
        base_url: release root to download from instead of PhysioNet (``http(s)://``, ``file://`` or a folder).
        max_records: only the first N records of the index (metadata files are always fetched in full).
        progress: called as ``progress(done, total)`` after each metadata file and each record.

    Raises:
        LeanECGError: unknown dataset, unreachable host, HTTP error, missing file, checksum mismatch.
    """
    dataset = get_dataset(name)
    if max_records is not None and int(max_records) < 1:
        raise LeanECGError("max_records", f"must be at least 1, got {max_records}")
    root = Path(root)
    if not root.is_dir():
        raise LeanECGError(root, "data dir does not exist")
    plan = dataset.fetch_plan()
    dest = root / dataset.folders[0]
    dest.mkdir(parents=True, exist_ok=True)
    fetcher = _Fetcher(dataset, _normalise_base(base_url, dataset), dest)

    sums_data = fetcher.get_bytes(CHECKSUM_FILE, required=False)
    if sums_data is not None:
        fetcher.sums = parse_checksums(sums_data.decode("utf-8", errors="replace"))
        with atomic_open(dest / CHECKSUM_FILE, "wb") as fh:
            fh.write(sums_data)
        _readable(dest / CHECKSUM_FILE)

    done = 0
    total = len(plan.metadata)
    for meta in plan.metadata:
        fetcher.fetch(meta.remote, meta.local, meta.required)
        done += 1
        if progress:
            progress(done, total)

    entries = _record_list(fetcher, plan, max_records)
    total = len(plan.metadata) + len(entries)
    fetched: list[str] = []
    for entry in entries:
        _safe_relative(entry, dataset.name)
        fetched.append(_fetch_record(fetcher, plan, entry))
        done += 1
        if progress:
            progress(done, total)

    if plan.records_file is not None:
        local_records = dest / _safe_relative(plan.records_file, dataset.name)
        with atomic_open(local_records, "w") as fh:
            fh.write("".join(f"{PurePosixPath(r).name}\n" for r in fetched))
        _readable(local_records)
    write_json(
        dest / MANIFEST,
        {
            "dataset": dataset.name,
            "release": f"{dataset.slug} {dataset.version}",
            "base_url": fetcher.base,
            "checksums": CHECKSUM_FILE if fetcher.sums is not None else "none published",
            "records": len(fetched),
            "complete": max_records is None,
            "files_downloaded": fetcher.downloaded,
            "files_already_present": fetcher.skipped,
            "files_verified": fetcher.verified,
            "finished_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )
    return dest


def _readable(path: Path) -> None:
    """Give a file written through leanecg.atomic (mode 0600) the permissions of the downloaded files."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _fetch_record(fetcher: _Fetcher, plan: FetchPlan, entry: str) -> str:
    """Fetch one record's header, signal files and annotations; return its local path (no extension)."""
    remote_rec = plan.remote_prefix + entry
    local_rel = PurePosixPath(entry).name if plan.flatten else entry
    local_rec = plan.local_prefix + local_rel
    remote_dir = posixpath.dirname(remote_rec)
    local_dir = posixpath.dirname(local_rec)
    fetcher.fetch(remote_rec + ".hea", local_rec + ".hea")
    header = read_header(fetcher.dest / (local_rec + ".hea"))
    for file_name in header.files:
        if file_name == "~":
            continue
        if "/" in file_name or "\\" in file_name or file_name in (".", ".."):
            raise LeanECGError(fetcher.dest / (local_rec + ".hea"), f"unsafe signal file name {file_name!r}")
        fetcher.fetch(posixpath.join(remote_dir, file_name), posixpath.join(local_dir, file_name))
    for ext in plan.annotation_exts:
        remote_ann = f"{remote_rec}.{ext}"
        if fetcher.sums is not None and remote_ann not in fetcher.sums:
            continue  # the release has no such annotation file
        fetcher.fetch(remote_ann, f"{local_rec}.{ext}", required=fetcher.sums is not None)
    return local_rec


__all__ = ["RemoteFile", "fetch_dataset", "parse_checksums", "release_url", "sha256_file"]
