"""Start ``leanecg serve`` on loopback in a subprocess for a test, and talk to it with the standard library."""

from __future__ import annotations

import http.client
import json
import os
import select
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(args: list[str], cwd: Path, timeout: float = 90) -> Iterator[str]:
    """``leanecg serve --port P ARGS`` on 127.0.0.1; yields its base URL; stops it (by its own pid) after."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("LEANECG_DEBUG", "LEANECG_TOKEN")}
    env["LEANECG_CACHE"] = str(cwd / "cache")
    log = open(cwd / f"serve-{port}.log", "w+")  # closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "leanecg.cli", "serve", "--port", str(port), *args],
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"leanecg serve exited {proc.returncode}: {log.read()}")
            try:
                status, _ = request(base + "/health")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("leanecg serve did not answer /health in time")
            time.sleep(0.2)
        yield base
        assert proc.poll() is None, "the server died during the test"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def request(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> tuple[int, Any]:
    """``(status, JSON body or text)`` of one HTTP request; 4xx / 5xx do not raise.

    The headers go first; a body follows only if the server has not answered from the headers alone within
    0.2 s (what ``Expect: 100-continue`` negotiates): a server refusing an oversized upload by its
    Content-Length answers 413 and closes, and a client still pushing the body would meet a broken pipe
    instead of the answer. If the server closes while the body is being sent, its answer is read all the same.
    """
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.putrequest(method, parts.path + (f"?{parts.query}" if parts.query else ""))
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        if body and not select.select([conn.sock], [], [], 0.2)[0]:
            try:
                conn.send(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered and closed mid-body: read its answer below
        resp = conn.getresponse()
        status, raw, ctype = resp.status, resp.read(), resp.getheader("content-type", "")
    finally:
        conn.close()
    if "json" in ctype:
        return status, json.loads(raw)
    return status, raw.decode("utf-8", "replace")


def multipart(files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body of ``(field, file name, content)`` parts; returns body, content type."""
    boundary = uuid.uuid4().hex
    out = b""
    for field, name, data in files:
        out += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def upload(
    url: str, files: list[tuple[str, bytes]], headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """POST the files as repeatable ``file`` fields."""
    body, ctype = multipart([("file", n, d) for n, d in files])
    return request(url, method="POST", body=body, headers={"Content-Type": ctype, **(headers or {})})
