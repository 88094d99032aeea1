"""The PhysioNet downloader, against a local HTTP server and file:// URLs laid out like PhysioNet.

The mirrors are built in tmp_path from a few real records of the shared data (never committed).
"""

from __future__ import annotations

import hashlib
import http.server
import json
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from leanecg.data import get_dataset
from leanecg.data.fetch import fetch_dataset, parse_checksums, sha256_file
from leanecg.data.mitdb import aami_counts
from leanecg.errors import LeanECGError

MITDB_RECORDS = ("100", "101", "103")


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Static files with ``Range: bytes=N-`` support, a request log and injectable failures."""

    log: list[tuple[str, str | None]]
    fail: dict[str, int]

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self.log.append((self.path, self.headers.get("Range")))
        code = self.fail.get(self.path.lstrip("/"))
        if code == -1:  # announce the whole file, send half of it, hang up
            data = Path(self.translate_path(self.path)).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        if code:
            self.send_error(code)
            return
        rng = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if rng and rng.startswith("bytes=") and path.is_file():
            start = int(rng[len("bytes=") :].split("-")[0])
            data = path.read_bytes()
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Length", str(len(data) - start))
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            self.wfile.write(data[start:])
            return
        super().do_GET()


def _write_sums(folder: Path) -> None:
    lines = [
        f"{sha256_file(p)}  {p.relative_to(folder).as_posix()}"
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "SHA256SUMS.txt"
    ]
    (folder / "SHA256SUMS.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture
def mitdb_mirror(tmp_path: Path, mitdb_dir: Path) -> Path:
    """``<tmp>/mirror/mitdb/1.0.0/``: 3 real records, RECORDS, ANNOTATORS and SHA256SUMS.txt."""
    release = tmp_path / "mirror" / "mitdb" / "1.0.0"
    release.mkdir(parents=True)
    for rec in MITDB_RECORDS:
        for ext in ("hea", "dat", "atr"):
            shutil.copy(mitdb_dir / f"{rec}.{ext}", release)
    (release / "RECORDS").write_text("".join(f"{r}\n" for r in MITDB_RECORDS))
    (release / "ANNOTATORS").write_text("atr\treference beat, rhythm, and signal quality annotations\n")
    _write_sums(release)
    return release


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, list[tuple[str, str | None]], dict[str, int]]]:
    """An HTTP server on 127.0.0.1 (port 0) serving ``<tmp>/mirror``: ``(base_url, request log, failures)``."""
    log: list[tuple[str, str | None]] = []
    fail: dict[str, int] = {}
    root = tmp_path / "mirror"
    root.mkdir(exist_ok=True)
    handler = type("H", (_Handler,), {"log": log, "fail": fail})

    def make(*args: object, **kwargs: object) -> _Handler:
        return handler(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", log, fail
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _same_files(a: Path, b: Path, names: list[str]) -> None:
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_fetch_over_http(tmp_path: Path, mitdb_mirror: Path, server, mitdb_dir: Path) -> None:
    base, log, _ = server
    data = tmp_path / "data"
    data.mkdir()
    calls: list[tuple[int, int]] = []
    dest = fetch_dataset(
        "mitdb", data, base_url=base + "mitdb/1.0.0/", progress=lambda d, t: calls.append((d, t))
    )
    assert dest == data / "mitdb"
    files = [f"{r}.{e}" for r in MITDB_RECORDS for e in ("hea", "dat", "atr")] + ["RECORDS", "ANNOTATORS"]
    _same_files(mitdb_mirror, dest, files)
    assert not list(dest.rglob("*.part"))
    assert calls[-1] == (5, 5)  # 2 metadata files + 3 records
    manifest = json.loads((dest / ".leanecg-fetch.json").read_text())
    assert manifest["records"] == 3 and manifest["complete"] is True
    assert manifest["files_verified"] == manifest["files_downloaded"] == 11
    # the downloaded dataset is usable as is
    assert get_dataset("mitdb").records(data) == list(MITDB_RECORDS)
    assert aami_counts(dest, ["100", "103"]) == aami_counts(mitdb_dir, ["100", "103"])
    assert all(rng is None for _, rng in log)


def test_fetch_max_records_and_file_url(tmp_path: Path, mitdb_mirror: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    dest = fetch_dataset("mitdb", data, base_url=mitdb_mirror.as_uri(), max_records=1)
    assert sorted(p.name for p in dest.glob("1*")) == ["100.atr", "100.dat", "100.hea"]
    assert json.loads((dest / ".leanecg-fetch.json").read_text())["complete"] is False
    # a plain folder works as a mirror too, and the rest is added on the next call
    fetch_dataset("mitdb", data, base_url=str(mitdb_mirror))
    _same_files(mitdb_mirror, dest, [f"{r}.dat" for r in MITDB_RECORDS])
    with pytest.raises(LeanECGError, match="at least 1") as err:
        fetch_dataset("mitdb", data, base_url=str(mitdb_mirror), max_records=0)
    assert err.value.path == "max_records"


def test_checksum_mismatch_keeps_nothing(tmp_path: Path, mitdb_mirror: Path, server) -> None:
    base, _, _ = server
    with open(mitdb_mirror / "101.dat", "r+b") as fh:  # corrupt one byte on the server
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    data = tmp_path / "data"
    data.mkdir()
    with pytest.raises(LeanECGError) as err:
        fetch_dataset("mitdb", data, base_url=base + "mitdb/1.0.0/")
    assert "checksum mismatch" in err.value.problem and err.value.path.endswith("101.dat")
    dest = data / "mitdb"
    assert (dest / "100.dat").is_file()  # records before the bad file are complete ...
    assert not (dest / "101.dat").exists() and not list(dest.rglob("*.part"))  # ... the bad one is not kept


def test_resume_skips_verified_files_and_repairs_others(tmp_path: Path, mitdb_mirror: Path, server) -> None:
    base, log, _ = server
    url = base + "mitdb/1.0.0/"
    data = tmp_path / "data"
    data.mkdir()
    dest = fetch_dataset("mitdb", data, base_url=url)
    (dest / "100.dat").write_bytes((dest / "100.dat").read_bytes()[:5000])  # truncated
    (dest / "101.atr").unlink()  # missing
    full = (mitdb_mirror / "103.dat").read_bytes()
    (dest / "103.dat").unlink()
    (dest / "103.dat.part").write_bytes(full[:700_000])  # an interrupted download
    log.clear()
    fetch_dataset("mitdb", data, base_url=url)
    fetched = sorted(p.rsplit("/", 1)[-1] for p, _ in log)
    assert fetched == ["100.dat", "101.atr", "103.dat", "SHA256SUMS.txt"]
    assert ("/mitdb/1.0.0/103.dat", "bytes=700000-") in log  # continued, not restarted
    _same_files(mitdb_mirror, dest, [f"{r}.{e}" for r in MITDB_RECORDS for e in ("hea", "dat", "atr")])
    assert not list(dest.rglob("*.part"))
    manifest = json.loads((dest / ".leanecg-fetch.json").read_text())
    assert manifest["files_downloaded"] == 3 and manifest["files_already_present"] == 8


def test_resume_from_a_corrupt_part_restarts_once(tmp_path: Path, mitdb_mirror: Path, server) -> None:
    base, log, _ = server
    data = tmp_path / "data"
    (data / "mitdb").mkdir(parents=True)
    (data / "mitdb" / "100.dat.part").write_bytes(b"\x00" * 1000)  # wrong prefix
    fetch_dataset("mitdb", data, base_url=base + "mitdb/1.0.0/", max_records=1)
    assert [rng for p, rng in log if p.endswith("100.dat")] == ["bytes=1000-", None]
    _same_files(mitdb_mirror, data / "mitdb", ["100.dat"])


def test_interrupted_transfer_is_detected_and_resumed(tmp_path: Path, mitdb_mirror: Path, server) -> None:
    base, log, fail = server
    (mitdb_mirror / "SHA256SUMS.txt").unlink()  # only the announced length can reveal the short transfer
    fail["mitdb/1.0.0/101.dat"] = -1
    data = tmp_path / "data"
    data.mkdir()
    with pytest.raises(LeanECGError, match=r"interrupted \(received 975000 of 1950000 bytes\)"):
        fetch_dataset("mitdb", data, base_url=base + "mitdb/1.0.0/")
    dest = data / "mitdb"
    assert not (dest / "101.dat").exists() and (dest / "101.dat.part").stat().st_size == 975000
    del fail["mitdb/1.0.0/101.dat"]
    fetch_dataset("mitdb", data, base_url=base + "mitdb/1.0.0/")
    assert ("/mitdb/1.0.0/101.dat", "bytes=975000-") in log
    _same_files(mitdb_mirror, dest, ["101.dat"])


def test_release_without_checksums(tmp_path: Path, mitdb_mirror: Path) -> None:
    (mitdb_mirror / "SHA256SUMS.txt").unlink()
    (mitdb_mirror / "101.atr").unlink()  # optional annotation files may be absent
    (mitdb_mirror / "ANNOTATORS").unlink()  # optional metadata too
    data = tmp_path / "data"
    data.mkdir()
    dest = fetch_dataset("mitdb", data, base_url=mitdb_mirror.as_uri())
    assert (dest / "101.dat").is_file() and not (dest / "101.atr").exists()
    assert json.loads((dest / ".leanecg-fetch.json").read_text())["checksums"] == "none published"


def test_http_errors_and_unreachable_host(tmp_path: Path, mitdb_mirror: Path, server) -> None:
    base, _, fail = server
    url = base + "mitdb/1.0.0/"
    data = tmp_path / "data"
    data.mkdir()
    (mitdb_mirror / "103.dat").unlink()
    with pytest.raises(LeanECGError, match=r"103\.dat not found"):
        fetch_dataset("mitdb", data, base_url=url)
    fail["mitdb/1.0.0/SHA256SUMS.txt"] = 503
    with pytest.raises(LeanECGError) as err:
        fetch_dataset("mitdb", data, base_url=url)
    assert "HTTP 503" in err.value.problem and "`data_dir`" in err.value.problem
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(LeanECGError) as err:
        fetch_dataset("mitdb", data, base_url=f"http://127.0.0.1:{port}/mitdb/1.0.0/")
    assert err.value.path == "mitdb"
    assert f"cannot reach http://127.0.0.1:{port}/" in err.value.problem
    assert (
        "download manually from https://physionet.org/content/mitdb/1.0.0/ and pass `data_dir`"
        in err.value.problem
    )
    with pytest.raises(LeanECGError, match="neither") as err:
        fetch_dataset("mitdb", data, base_url="ftp://example.org/")
    assert err.value.path == "base_url"  # the library names the parameter; the CLI says --base-url
    with pytest.raises(LeanECGError, match="unknown dataset"):
        fetch_dataset("mitbih", data)


def test_unsafe_paths_from_the_server_are_refused(tmp_path: Path, mitdb_mirror: Path) -> None:
    (mitdb_mirror / "RECORDS").write_text("100\n../../escape\n")
    _write_sums(mitdb_mirror)
    data = tmp_path / "data"
    data.mkdir()
    with pytest.raises(LeanECGError, match="unsafe path"):
        fetch_dataset("mitdb", data, base_url=mitdb_mirror.as_uri())
    assert not (tmp_path / "escape.hea").exists()


def test_cinc2017_layout_nested_records_are_flattened(tmp_path: Path, shared_data: Path) -> None:
    src = shared_data / "cinc2017" / "training2017"
    release = tmp_path / "mirror"
    (release / "training" / "A00").mkdir(parents=True)
    for rec in ("A00001", "A00002", "A00005"):
        for ext in ("hea", "mat"):
            shutil.copy(src / f"{rec}.{ext}", release / "training" / "A00")
    (release / "training" / "RECORDS").write_text("A00/\n")
    (release / "training" / "A00" / "RECORDS").write_text("A00001\nA00002\nA00005\n")
    shutil.copy(src / "REFERENCE-v3.csv", release / "REFERENCE-v3.csv")
    _write_sums(release)
    data = tmp_path / "data"
    data.mkdir()
    dest = fetch_dataset("cinc2017", data, base_url=release.as_uri(), max_records=2)
    assert (dest / "training2017" / "RECORDS").read_text() == "A00001\nA00002\n"
    ds = get_dataset("cinc2017")
    assert ds.records(data) == ["A00001", "A00002"]
    assert ds.labels(data) == {"A00001": ["N"], "A00002": ["N"]}
    assert ds.load(data, "A00002").signal.shape[1] == 1


def test_ptbxl_index_is_the_database_csv(tmp_path: Path, shared_data: Path) -> None:
    src = shared_data / "ptbxl"
    release = tmp_path / "mirror"
    (release / "records100" / "00000").mkdir(parents=True)
    lines = (src / "ptbxl_database.csv").read_text().splitlines(keepends=True)
    (release / "ptbxl_database.csv").write_text("".join(lines[:4]))  # header + ecg_id 1-3
    shutil.copy(src / "scp_statements.csv", release)
    for i in (1, 2, 3):
        for ext in ("hea", "dat"):
            shutil.copy(src / "records100" / "00000" / f"{i:05d}_lr.{ext}", release / "records100" / "00000")
    _write_sums(release)
    data = tmp_path / "data"
    data.mkdir()
    fetch_dataset("ptbxl", data, base_url=release.as_uri(), max_records=2)
    view = get_dataset("ptbxl").describe(data)
    assert view["records_on_disk"] == 2 and view["missing_on_disk"] == 1


def test_parse_checksums() -> None:
    text = f"{'a' * 64}  RECORDS\n{'B' * 64} *sub/x.dat\n\n# comment\nnot a line\n{'c' * 64}  ./y.hea\n"
    assert parse_checksums(text) == {"RECORDS": "a" * 64, "sub/x.dat": "b" * 64, "y.hea": "c" * 64}
    assert (
        hashlib.sha256(b"").hexdigest() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_cli_data_fetch(tmp_path: Path, mitdb_mirror: Path) -> None:
    from typer.testing import CliRunner

    from leanecg.cli import app

    data = tmp_path / "data"
    data.mkdir()
    args = [
        "data",
        "fetch",
        "mitdb",
        "--data-dir",
        str(data),
        "--base-url",
        mitdb_mirror.as_uri(),
        "--records",
        "1",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (data / "mitdb" / "100.dat").is_file() and not (data / "mitdb" / "101.hea").exists()
