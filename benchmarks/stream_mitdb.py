"""Streaming beat classification on MIT-BIH: speed, agreement with offline ``leanecg beats``, memory.

For every record (default: the 22 DS2 records of de Chazal et al. 2004, whole 30-minute records, the
model's lead), in one run:

* **offline**: :meth:`ModelPackage.predict_beats` on the whole record (what ``leanecg beats`` writes);
  timed too, as the reference.
* **online**: :class:`leanecg.deploy.stream.StreamClassifier` fed ``--chunk-s`` chunks of the record by
  :func:`leanecg.deploy.stream.run_stream`, ``--repeats`` times; the real-time factor (signal seconds /
  processing seconds; model loading and record reading excluded) is the median over the repeats, both in
  wall-clock time and in CPU time of the process (``time.process_time``, all threads; with one thread,
  the cost on one core, unaffected by other processes on a shared machine). Per-chunk processing time (median / p95 / max, ms) and the detection
  delay (stream time from a beat to the chunk that emitted its label: median / p95 / max, s) come from
  the median run.
* **agreement**: online beats matched one-to-one to the offline beats within 150 ms
  (:func:`leanecg.deploy.stream.beat_agreement`): detection agreement (matched / max(n_offline, n_online)),
  exact position agreement, and label agreement on the matched beats.
* **whole process**: ``leanecg stream RECORD --model MODEL --threads 1 --events none --json`` run as a
  command (the console script next to this Python, start-up included: imports, model loading, reading the
  record) ``--whole-repeats`` times on each of ``--whole-records`` (default: the first record): median wall
  and CPU time (user + system of the child), the whole-process real-time factor (record length / wall
  time; target >= 1,500x) next to the in-loop factor the command reports (target >= 3,000x). The user
  cache is a fresh temporary folder, warmed by one first run that is reported apart (``first_run_*``) and
  not in the medians: the first run computes the filter designs with ``scipy.signal`` and caches them
  (later runs never import it) and, for a torch model with ``--backend auto``, exports it to ONNX (the
  shipped model is an ONNX file and needs none).
* **memory**: one more online run with ``tracemalloc`` (Python allocations) and the resident set size
  (``/proc/self/statm``, torch's allocations included) sampled after every chunk: peak in the first
  ``--memory-warm-s`` seconds of stream vs peak over the rest; a flat stream has growth ~0.

Threads: one everywhere (BLAS/OpenMP pools set before NumPy is imported, ``torch.set_num_threads(1)``).

Usage::

    python benchmarks/stream_mitdb.py --data-dir ../shared/data [--model mitdb-aami] [--records DS2]
        [--chunk-s 10] [--backend auto] [--repeats 3] [--whole-records 100] [--whole-repeats 5]
        [--out-dir benchmarks/results] [--name stream_mitdb]

``--model`` is a shipped model name, a package folder or an exported ``.onnx`` file (ONNX Runtime, one
thread); ``--backend`` is the stream's network runtime (:func:`leanecg.deploy.stream.stream_backend`:
``auto`` runs a torch model through ONNX Runtime when it is installed, exported once at start-up; the
offline reference always runs the package's own runtime); ``--records`` is ``DS2``, ``DS1``, ``all`` or a
comma-separated list. Writes ``NAME.json`` and ``NAME.md`` to ``--out-dir``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy / SciPy / torch are imported: one thread everywhere

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from leanecg.atomic import atomic_open, write_json  # noqa: E402
from leanecg.errors import LeanECGError  # noqa: E402
from leanecg.provenance import collect_provenance  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MIB = 1024.0 * 1024.0


def default_data_dir() -> Path:
    env = os.environ.get("LEANECG_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def record_list(spec: str) -> list[str]:
    from leanecg.data.mitdb import DS1, DS2

    if spec.upper() == "DS2":
        return list(DS2)
    if spec.upper() == "DS1":
        return list(DS1)
    if spec.lower() == "all":
        return sorted({*DS1, *DS2})
    return [r.strip() for r in spec.split(",") if r.strip()]


def rss_bytes() -> int | None:
    """Current resident set size of this process (Linux), or None."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def uptime() -> str | None:
    """The ``uptime`` line (machine load when the benchmark ran), or None."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def stream_command(record: Path, model: str, chunk_s: float, backend: str) -> list[str]:
    """``leanecg stream`` as a user runs it: the console script beside this Python (else ``-m leanecg.cli``)."""
    script = Path(sys.executable).parent / "leanecg"
    exe = [str(script)] if script.is_file() else [sys.executable, "-m", "leanecg.cli"]
    return [
        *exe,
        *("stream", str(record), "--model", model, "--chunk-s", f"{chunk_s:g}", "--backend", backend),
        *("--threads", "1", "--events", "none", "--json"),
    ]


def whole_process(folder: Path, name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Median wall / CPU seconds of the whole ``leanecg stream`` command over ``--whole-repeats`` runs."""
    cmd = stream_command(folder / name, args.model, args.chunk_s, args.backend)
    with tempfile.TemporaryDirectory(prefix="leanecg-stream-bench-") as cache:
        env = {**os.environ, "LEANECG_CACHE": cache}
        runs = []
        for k in range(args.whole_repeats + 1):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if proc.returncode != 0:
                raise LeanECGError(name, f"leanecg stream failed ({proc.returncode}): {proc.stderr.strip()}")
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            if k:
                runs.append((wall, cpu, json.loads(proc.stdout)))
            else:  # the first run fills the user cache (and the page cache): reported apart
                first = (wall, cpu)
    duration = float(runs[0][2]["duration_s"])
    wall = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[1] for r in runs)
    in_loop = statistics.median(float(r[2]["realtime_factor"]) for r in runs)
    in_loop_cpu = statistics.median(float(r[2]["realtime_factor_cpu"]) for r in runs)
    return {
        "record": name,
        "command": " ".join(["leanecg", *cmd[cmd.index("stream") :]]),
        "duration_s": duration,
        "repeats": len(runs),
        "walls_s": [round(r[0], 3) for r in runs],
        "cpus_s": [round(r[1], 3) for r in runs],
        "median_wall_s": wall,
        "median_cpu_s": cpu,
        "first_run_wall_s": round(first[0], 3),
        "first_run_cpu_s": round(first[1], 3),
        "whole_process_realtime_factor": duration / wall,
        "whole_process_realtime_factor_cpu": duration / cpu,
        "in_loop_realtime_factor": in_loop,
        "in_loop_realtime_factor_cpu": in_loop_cpu,
        "backend": runs[0][2]["backend"],
        "targets_met": duration / wall >= 1500 and in_loop >= 3000,
    }


def online_run(pkg: Any, record: Any, chunk_s: float, backend: Any) -> Any:
    from leanecg.deploy.stream import StreamClassifier, record_chunks, run_stream

    clf = StreamClassifier(pkg, record.fs, record.leads, name=record.name, backend=backend)
    return run_stream(clf, record_chunks(record, chunk_s))


def memory_run(pkg: Any, record: Any, chunk_s: float, warm_s: float, backend: Any) -> dict[str, Any]:
    """Peak traced (Python) memory and RSS per chunk: the first ``warm_s`` seconds vs the rest."""
    from leanecg.deploy.stream import StreamClassifier, record_chunks

    clf = StreamClassifier(pkg, record.fs, record.leads, name=record.name, backend=backend)
    traced: list[tuple[float, int]] = []
    rss: list[tuple[float, int]] = []
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for chunk in record_chunks(record, chunk_s):
            tracemalloc.reset_peak()
            clf.process(chunk)
            t = clf.n_in / clf.fs_in
            traced.append((t, tracemalloc.get_traced_memory()[1] - base))
            r = rss_bytes()
            if r is not None:
                rss.append((t, r))
        tracemalloc.reset_peak()
        clf.flush()
        traced.append((clf.n_in / clf.fs_in, tracemalloc.get_traced_memory()[1] - base))
    finally:
        tracemalloc.stop()

    def split(series: list[tuple[float, int]]) -> tuple[int | None, int | None]:
        first = [v for t, v in series if t <= warm_s]
        rest = [v for t, v in series if t > warm_s]
        return (max(first) if first else None), (max(rest) if rest else None)

    t_first, t_rest = split(traced)
    r_first, r_rest = split(rss)
    return {
        "warm_s": warm_s,
        "traced_peak_first_mib": None if t_first is None else t_first / MIB,
        "traced_peak_rest_mib": None if t_rest is None else t_rest / MIB,
        "traced_growth_mib": None if t_first is None or t_rest is None else (t_rest - t_first) / MIB,
        "rss_peak_first_mib": None if r_first is None else r_first / MIB,
        "rss_peak_rest_mib": None if r_rest is None else r_rest / MIB,
        "rss_growth_mib": None if r_first is None or r_rest is None else (r_rest - r_first) / MIB,
        "classifier_buffered_samples_end": clf.n_buffered,
    }


def run_record(pkg: Any, folder: Path, name: str, args: argparse.Namespace, backend: Any) -> dict[str, Any]:
    from leanecg.data import load_record
    from leanecg.deploy.stream import beat_agreement

    record = load_record(folder / name, annotations=False)
    duration = record.n_samples / record.fs
    t0 = time.perf_counter()
    offline = pkg.predict_beats(record)
    offline_s = time.perf_counter() - t0
    reports = [online_run(pkg, record, args.chunk_s, backend) for _ in range(args.repeats)]
    order = sorted(range(len(reports)), key=lambda k: reports[k].processing_s)
    median = reports[order[len(order) // 2]]
    ag = beat_agreement(offline.samples, offline.labels, median.keys, median.labels, record.fs)
    for rep in reports[1:]:  # every repeat gives the same beats
        if rep.keys != median.keys or rep.labels != median.labels:
            raise AssertionError(f"record {name}: repeated online runs disagree")
    lat = median.latency()
    row: dict[str, Any] = {
        "record": name,
        "duration_s": duration,
        **ag,
        "realtime_factor": statistics.median(r.realtime_factor for r in reports),
        "realtime_factor_cpu": statistics.median(r.realtime_factor_cpu for r in reports),
        "offline_realtime_factor": duration / offline_s,
        "chunk_ms_median": lat["chunk_ms_median"],
        "chunk_ms_p95": lat["chunk_ms_p95"],
        "chunk_ms_max": lat["chunk_ms_max"],
        "delay_s_median": lat["delay_s_median"],
        "delay_s_p95": lat["delay_s_p95"],
        "delay_s_max": lat["delay_s_max"],
        "preprocess_delay_s": lat["preprocess_delay_s"],
        "late_beats": lat["late_beats"],
        "online_non_normal": sum(1 for label in median.labels if label != "N"),
        "offline_non_normal": sum(1 for label in offline.labels if label != "N"),
    }
    row.update(memory_run(pkg, record, args.chunk_s, args.memory_warm_s, backend))
    return row


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    matched = sum(r["matched"] for r in rows)
    denom = sum(max(r["n_offline"], r["n_online"]) for r in rows)
    same = sum(round(r["label_agreement"] * r["matched"]) for r in rows)
    growth = [r["rss_growth_mib"] for r in rows if r["rss_growth_mib"] is not None]
    tgrowth = [r["traced_growth_mib"] for r in rows if r["traced_growth_mib"] is not None]
    return {
        "records": len(rows),
        "beats_offline": sum(r["n_offline"] for r in rows),
        "beats_online": sum(r["n_online"] for r in rows),
        "detection_agreement_pooled": matched / denom if denom else None,
        "detection_agreement_min": min(r["detection_agreement"] for r in rows),
        "exact_position_min": min(r["exact_position"] for r in rows),
        "label_agreement_pooled": same / matched if matched else None,
        "label_agreement_min": min(r["label_agreement"] for r in rows),
        "realtime_factor_median": statistics.median(r["realtime_factor"] for r in rows),
        "realtime_factor_min": min(r["realtime_factor"] for r in rows),
        "realtime_factor_cpu_median": statistics.median(r["realtime_factor_cpu"] for r in rows),
        "realtime_factor_cpu_min": min(r["realtime_factor_cpu"] for r in rows),
        "offline_realtime_factor_median": statistics.median(r["offline_realtime_factor"] for r in rows),
        "chunk_ms_p95_max": max(r["chunk_ms_p95"] for r in rows),
        "delay_s_median": statistics.median(r["delay_s_median"] for r in rows),
        "delay_s_max": max(r["delay_s_max"] for r in rows),
        "traced_growth_mib_max": max(tgrowth) if tgrowth else None,
        "rss_growth_mib_max": max(growth) if growth else None,
    }


def markdown(result: dict[str, Any]) -> str:
    s, a, b = result["summary"], result["args"], result["backend"]
    prov = result["provenance"]
    lines = [
        "# Streaming beat classification on MIT-BIH (`leanecg stream`)",
        "",
        f"Model `{result['model']['name']}` ({result['model']['path']}), records {a['records']}, "
        f"chunks of {a['chunk_s']:g} s, {a['repeats']} timed repeats per record (median), one thread. "
        f"Machine load (1-min average) at the start: {prov.get('load_average_1m')}, at the end: "
        f"{result.get('load_average_1m_end')}.",
        f"Network runtime online: {b['stream_runtime']} (`--backend {b['requested']}`; start-up "
        f"{b['startup_s']:.1f} s, once, excluded from the real-time factor); offline: {b['offline_runtime']}.",
        f"Preprocessing look-ahead: {result['rows'][0]['preprocess_delay_s']:.2f} s "
        "(zero-phase filters emulated to float32 resolution).",
        "",
        "## Summary",
        "",
        f"- Beat detections within 150 ms of the offline ones: {100 * s['detection_agreement_pooled']:.3f} % "
        f"pooled (lowest record {100 * s['detection_agreement_min']:.3f} %); same sample for "
        f"{100 * s['exact_position_min']:.3f} % of matched beats in the worst record.",
        f"- Same label as offline `leanecg beats` for matched beats: {100 * s['label_agreement_pooled']:.2f} % "
        f"pooled (lowest record {100 * s['label_agreement_min']:.2f} %).",
        f"- Real-time factor (wall clock, start-up excluded): median {s['realtime_factor_median']:,.0f}x, "
        f"lowest {s['realtime_factor_min']:,.0f}x; per CPU second of the process: median "
        f"{s['realtime_factor_cpu_median']:,.0f}x, lowest {s['realtime_factor_cpu_min']:,.0f}x. Offline "
        f"`predict_beats` on whole records in the same run: {s['offline_realtime_factor_median']:,.0f}x.",
        f"- Detection delay (beat to label): median {s['delay_s_median']:.2f} s, max {s['delay_s_max']:.2f} s; "
        f"per-chunk processing p95 at most {s['chunk_ms_p95_max']:.1f} ms.",
        f"- Memory growth after the first {a['memory_warm_s']:g} s of stream: traced (Python) at most "
        f"{s['traced_growth_mib_max']:.3f} MiB, resident set at most {s['rss_growth_mib_max']:.2f} MiB.",
        "",
        *whole_lines(result),
        "## Per record",
        "",
        "| record | beats off/on | detection agree | exact pos | label agree | RTF wall | RTF CPU | "
        "chunk ms med/p95/max | delay s med/p95/max | traced peak MiB first/rest | RSS growth MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['record']} | {r['n_offline']}/{r['n_online']} | {100 * r['detection_agreement']:.2f} % | "
            f"{100 * r['exact_position']:.2f} % | {100 * r['label_agreement']:.2f} % | "
            f"{r['realtime_factor']:,.0f} | {r['realtime_factor_cpu']:,.0f} | "
            f"{r['chunk_ms_median']:.1f}/{r['chunk_ms_p95']:.1f}/{r['chunk_ms_max']:.1f} | "
            f"{r['delay_s_median']:.1f}/{r['delay_s_p95']:.1f}/{r['delay_s_max']:.1f} | "
            f"{r['traced_peak_first_mib']:.2f}/{r['traced_peak_rest_mib']:.2f} | "
            f"{r['rss_growth_mib'] if r['rss_growth_mib'] is None else round(r['rss_growth_mib'], 2)} |"
        )
    lines += [
        "",
        "Detections are the same algorithm on the same samples. Labels can differ only through beat inputs "
        "that need the whole record (a record-level z-score in the pipeline: online, the statistics of the "
        "stream so far); causal RR and template features are computed exactly as offline. The traced peak "
        "is the transient peak of one chunk (it scales with the beats in that chunk); the state kept between "
        "chunks is bounded (`classifier_buffered_samples_end` in the JSON).",
        "",
        f"Command: `{prov.get('command')}`; git {prov.get('git_commit')}.",
        "",
    ]
    return "\n".join(lines)


def whole_lines(result: dict[str, Any]) -> list[str]:
    """The markdown section of the whole-process runs (none when they were not run)."""
    whole = result.get("whole_process") or []
    if not whole:
        return []
    lines = [
        "## Whole process (`leanecg stream` as a command, start-up included)",
        "",
        f"Machine at the start: `{result.get('uptime_start')}`; at the end: `{result.get('uptime_end')}`.",
        "",
        "| record | signal s | wall s median (runs) | CPU s median | whole-process RTF wall / CPU | "
        "in-loop RTF wall / CPU | targets (>= 1,500x / >= 3,000x) | first run wall / CPU s (cold cache) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for w in whole:
        lines.append(
            f"| {w['record']} | {w['duration_s']:.0f} | {w['median_wall_s']:.2f} "
            f"({', '.join(f'{x:.2f}' for x in w['walls_s'])}) | {w['median_cpu_s']:.2f} | "
            f"**{w['whole_process_realtime_factor']:,.0f}x** / {w['whole_process_realtime_factor_cpu']:,.0f}x | "
            f"{w['in_loop_realtime_factor']:,.0f}x / {w['in_loop_realtime_factor_cpu']:,.0f}x | "
            f"{'met' if w['targets_met'] else 'missed'} | "
            f"{w.get('first_run_wall_s', float('nan')):.2f} / {w.get('first_run_cpu_s', float('nan')):.2f} |"
        )
    lines += [
        "",
        f"Command: `{whole[0]['command']}` (backend {whole[0]['backend']}, one thread). The user cache is "
        "fresh for each record: its first run (not in the medians) designs the filters with `scipy.signal` "
        "and caches them; the timed runs read the cached designs and never import `scipy.signal`.",
        "",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, default=default_data_dir())
    ap.add_argument(
        "--model", default="mitdb-aami", help="shipped model name, package folder or exported .onnx file"
    )
    ap.add_argument("--records", default="DS2", help="DS2, DS1, all, or a comma-separated list")
    ap.add_argument("--chunk-s", type=float, default=10.0)
    ap.add_argument(
        "--backend",
        default="auto",
        help="stream network runtime: auto, torch or onnx (leanecg stream --backend); offline stays torch",
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--memory-warm-s", type=float, default=300.0)
    ap.add_argument(
        "--whole-records",
        default=None,
        help="records timed as a whole `leanecg stream` command (comma-separated; default: the first record)",
    )
    ap.add_argument("--whole-repeats", type=int, default=5, help="timed runs of the whole command (0: none)")
    ap.add_argument("--out-dir", type=Path, default=REPO / "benchmarks" / "results")
    ap.add_argument("--name", default="stream_mitdb")
    args = ap.parse_args(argv)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    from leanecg.package import resolve_model
    from leanecg.package.model import load_model_package

    folder = Path(args.data_dir) / "mitdb"
    if not folder.is_dir():
        raise LeanECGError(folder, "MIT-BIH folder not found (use --data-dir or set LEANECG_DATA)")
    if args.repeats < 1:
        raise LeanECGError("--repeats", "must be at least 1")
    if args.whole_repeats < 0:
        raise LeanECGError("--whole-repeats", "must be at least 0")
    uptime_start = uptime()
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    prov = collect_provenance(
        command=" ".join(["python benchmarks/stream_mitdb.py", *argv]), source=REPO, load_average_1m=load
    )
    if args.model.lower().endswith(".onnx"):
        from leanecg.package.ort_runtime import load_onnx_package

        pkg = load_onnx_package(args.model, threads=1)  # an exported model, run by ONNX Runtime
    else:
        pkg = load_model_package(resolve_model(args.model))
    if pkg.kind != "beats":
        raise LeanECGError("--model", f"{args.model} classifies records; this benchmark needs a beat model")
    from leanecg.deploy.stream import stream_backend

    t0 = time.perf_counter()
    backend = stream_backend(pkg, args.backend, threads=1)  # start-up: once, excluded from the RTF
    startup_s = time.perf_counter() - t0
    print(f"stream backend {backend.runtime} (start-up {startup_s:.1f} s)", file=sys.stderr)
    rows = []
    for name in record_list(args.records):
        row = run_record(pkg, folder, name, args, backend)
        rows.append(row)
        print(
            f"{name}: detect {100 * row['detection_agreement']:.2f} % label {100 * row['label_agreement']:.2f} % "
            f"RTF {row['realtime_factor']:,.0f} (cpu {row['realtime_factor_cpu']:,.0f}) "
            f"RSS growth {row['rss_growth_mib']} MiB",
            file=sys.stderr,
        )
    whole = []
    if args.whole_repeats:
        names = record_list(args.whole_records) if args.whole_records else record_list(args.records)[:1]
        for name in names:
            w = whole_process(folder, name, args)
            whole.append(w)
            print(
                f"{name}: whole process {w['median_wall_s']:.2f} s -> RTF {w['whole_process_realtime_factor']:,.0f} "
                f"(cpu {w['whole_process_realtime_factor_cpu']:,.0f}), in loop {w['in_loop_realtime_factor']:,.0f}",
                file=sys.stderr,
            )
    result = {
        "benchmark": "stream_mitdb",
        "args": {
            "records": args.records,
            "chunk_s": args.chunk_s,
            "repeats": args.repeats,
            "memory_warm_s": args.memory_warm_s,
            "whole_records": args.whole_records,
            "whole_repeats": args.whole_repeats,
            "seed": None,  # nothing random: the records, the model and the chunking fix every number
        },
        "model": {
            "name": pkg.name,
            "path": str(args.model),
            "tiny": bool(pkg.meta.get("data", {}).get("tiny")),
        },
        "backend": {
            "requested": args.backend,
            "stream_runtime": backend.runtime,
            "offline_runtime": pkg.backend.runtime,
            "startup_s": startup_s,
        },
        "load_average_1m_end": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "uptime_start": uptime_start,
        "uptime_end": uptime(),
        "summary": summarise(rows),
        "whole_process": whole,
        "rows": rows,
        "provenance": prov,
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_json(args.out_dir / f"{args.name}.json", result)
    with atomic_open(args.out_dir / f"{args.name}.md") as fh:
        fh.write(markdown(result))
    print(f"wrote {args.out_dir / args.name}.json and .md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except LeanECGError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
