"""Load test of ``leanecg serve`` on loopback (a benchmark, not a test; issue 13).

Starts ``leanecg serve --models mitdb-aami`` on 127.0.0.1 (a free port), then ``--clients`` concurrent
clients (threads, one keep-alive connection each) send ``--requests`` ``POST /beats`` uploads in total:
``--seconds``-long MIT-BIH excerpts (WFDB ``.hea`` + ``.dat``, cut from the DS2 records of ``--data-dir``, else
the excerpts shipped in ``leanecg/examples``), round robin. Reported: throughput (requests/s, and seconds
of ECG analysed per second), latency p50 / p95 / p99 / max, failed requests (any status but 200, or a
connection error), and the server's resident memory (``/proc/PID/status`` VmRSS, sampled every 0.25 s):
after the first 10 % of the requests vs at the end (flat = no growth). Bounded: every request times out
after 60 s and the run stops after ``--max-seconds``; only loopback is ever contacted.

Usage::

    python benchmarks/serve_load.py --data-dir ../shared/data [--clients 16] [--requests 2000]
        [--seconds 30] [--workers 2] [--out-dir benchmarks/results]

Writes ``serve_load.json`` and ``serve_load.md``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DS2 = ["100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210", "212", "213", "214"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _excerpts(data_dir: Path | None, seconds: float, folder: Path) -> list[tuple[str, bytes, str]]:
    """``(record name, multipart body, content type)`` of each excerpt."""
    import wfdb

    from leanecg.data import load_record

    sources: list[Path] = []
    if data_dir is not None and (data_dir / "mitdb").is_dir():
        sources = [data_dir / "mitdb" / r for r in DS2 if (data_dir / "mitdb" / f"{r}.hea").is_file()]
    if not sources:
        ex = REPO / "src" / "leanecg" / "examples" / "mitdb"
        sources = sorted(p.with_suffix("") for p in ex.glob("*.hea"))
    out = []
    for k, src in enumerate(sources):
        rec = load_record(src, annotations=False)
        n = round(seconds * rec.fs)
        start = (k * 7919 * round(rec.fs)) % max(1, rec.n_samples - n)  # a different stretch per record
        name = f"x{rec.name}"
        wfdb.wrsamp(
            name,
            fs=rec.fs,
            units=["mV"] * rec.n_leads,
            sig_name=list(rec.leads),
            p_signal=rec.signal[start : start + n].astype("float64"),
            fmt=["212"] * rec.n_leads,
            write_dir=str(folder),
        )
        boundary = uuid.uuid4().hex
        body = b""
        for suffix in (".hea", ".dat"):
            body += (
                (
                    f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}{suffix}"\r\n'
                    "Content-Type: application/octet-stream\r\n\r\n"
                ).encode()
                + (folder / f"{name}{suffix}").read_bytes()
                + b"\r\n"
            )
        body += f"--{boundary}--\r\n".encode()
        out.append((name, body, f"multipart/form-data; boundary={boundary}"))
    return out


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=30.0, help="length of each uploaded excerpt")
    ap.add_argument("--workers", type=int, default=2, help="leanecg serve --workers (model calls at once)")
    ap.add_argument("--max-seconds", type=float, default=900.0, help="stop the run after this long")
    ap.add_argument("--out-dir", type=Path, default=REPO / "benchmarks" / "results")
    args = ap.parse_args(argv)
    data_dir = args.data_dir or (Path(os.environ["LEANECG_DATA"]) if os.environ.get("LEANECG_DATA") else None)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("LEANECG_DEBUG", "LEANECG_TOKEN")}
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    with tempfile.TemporaryDirectory(prefix="leanecg-load-") as tmp_name:
        tmp = Path(tmp_name)
        uploads = _excerpts(data_dir, args.seconds, tmp)
        log = open(tmp / "serve.log", "w+")  # closed below
        cmd = [sys.executable, "-m", "leanecg.cli", "serve", "--port", str(port), "--models", "mitdb-aami"]
        server = subprocess.Popen([*cmd, "--workers", str(args.workers)], env=env, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    conn.request("GET", "/health")
                    if conn.getresponse().status == 200:
                        break
                except OSError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise SystemExit(f"leanecg serve did not start: {log.read()}")
                time.sleep(0.2)
            result = _load(server.pid, port, uploads, args)
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()
    result["excerpts"] = {
        "n": len(uploads),
        "seconds": args.seconds,
        "from": "MIT-BIH DS2" if data_dir else "examples",
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "serve_load.json").write_text(json.dumps(result, indent=2) + "\n")
    lat = result["latency_ms"]
    mem = result["server_rss_mb"]
    lines = [
        "# `leanecg serve` load test (loopback)",
        "",
        f"`python benchmarks/serve_load.py --clients {args.clients} --requests {args.requests} --seconds "
        f"{args.seconds:g} --workers {args.workers}`: {args.clients} concurrent clients, {result['sent']} `POST "
        f"/beats` uploads of {args.seconds:g}-s MIT-BIH excerpts ({len(uploads)} different), model `mitdb-aami` "
        f"(ONNX Runtime, one thread per call, {args.workers} calls at once); CPU: {result['cpu']} "
        f"({os.cpu_count()} cores, shared).",
        "",
        "| throughput req/s | ECG s analysed / s | p50 ms | p95 ms | p99 ms | max ms | failed | RSS MB after 10 % | RSS MB at end | RSS MB max |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {result['throughput_rps']:.1f} | {result['throughput_rps'] * args.seconds:,.0f} | {lat['p50']:.0f} | "
        f"{lat['p95']:.0f} | {lat['p99']:.0f} | {lat['max']:.0f} | {result['failed']} | {mem['after_10pct']:.1f} | "
        f"{mem['end']:.1f} | {mem['max']:.1f} |",
    ]
    (args.out_dir / "serve_load.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if result["failed"] == 0 else 1


def _load(pid: int, port: int, uploads: list[tuple[str, bytes, str]], args: argparse.Namespace) -> dict:
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[str] = []
    counter = {"next": 0, "done": 0}
    rss: list[tuple[int, float]] = []
    stop = threading.Event()
    t_end = time.monotonic() + args.max_seconds

    def sampler() -> None:
        while not stop.is_set():
            value = _rss_mb(pid)
            if value is not None:
                with lock:
                    rss.append((counter["done"], value))
            stop.wait(0.25)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < t_end:
            with lock:
                k = counter["next"]
                if k >= args.requests:
                    break
                counter["next"] += 1
            name, body, ctype = uploads[k % len(uploads)]
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/beats?model=mitdb-aami", body=body, headers={"Content-Type": ctype})
                resp = conn.getresponse()
                payload = resp.read()
                ok = resp.status == 200 and json.loads(payload)["record"] == name
                problem = None if ok else f"{resp.status}: {payload[:200]!r}"
            except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            dt = time.perf_counter() - t0
            with lock:
                counter["done"] += 1
                if problem is None:
                    latencies.append(dt)
                else:
                    failures.append(problem)
        conn.close()

    mon = threading.Thread(target=sampler, daemon=True)
    mon.start()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.clients) as pool:
        for f in [pool.submit(client) for _ in range(args.clients)]:
            f.result()
    wall = time.perf_counter() - t0
    stop.set()
    mon.join()
    lat = sorted(x * 1000 for x in latencies)

    def q(p: float) -> float:
        return lat[min(len(lat) - 1, round(p * (len(lat) - 1)))] if lat else float("nan")

    tenth = max(1, args.requests // 10)
    after = [v for done, v in rss if done >= tenth]
    return {
        "sent": counter["done"],
        "ok": len(latencies),
        "failed": len(failures),
        "failures_sample": failures[:5],
        "wall_s": round(wall, 2),
        "throughput_rps": counter["done"] / wall,
        "latency_ms": {
            "p50": q(0.5),
            "p95": q(0.95),
            "p99": q(0.99),
            "max": lat[-1] if lat else None,
            "mean": statistics.fmean(lat) if lat else None,
        },
        "server_rss_mb": {
            "after_10pct": after[0] if after else None,
            "end": rss[-1][1] if rss else None,
            "max": max(v for _, v in rss) if rss else None,
            "samples": len(rss),
        },
        "clients": args.clients,
        "workers": args.workers,
        "cpu": _cpu(),
    }


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
