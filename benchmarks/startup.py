"""Start-up of the inference commands, whole-process (issue 13): what a user waits for, start-up included.

In one run, each command timed ``--repeats`` times (interleaved, median wall time; one thread everywhere):

* **reference**: ``python -c "import numpy, scipy.signal, onnxruntime"`` (the floor of any ONNX inference);
* **beats**: ``leanecg beats`` on a 10-second MIT-BIH record (the first 10 s of ``--record``, written as a
  WFDB record into a temporary folder) with the shipped ``mitdb-aami`` model, and the same with torch made
  unimportable (``tests/noextra`` on ``PYTHONPATH``); target: at most 3x the reference;
* **predict**: ``leanecg predict`` on a 30-second CinC 2017 record shipped with LeanECG (``A00001``) with the
  shipped ``cinc2017`` model (record features + the boosters in ONNX Runtime);
* **stream**: ``leanecg stream`` on the whole 30-minute record (``--threads 1 --events none --json``):
  whole-process real-time factor = record length / wall time of the command (target >= 1,500x) next to the
  in-loop factor it reports (target >= 3,000x);
* **user cache**: a fresh one (``LEANECG_CACHE`` in a temporary folder), filled by one untimed first run
  of each ``leanecg`` command (the first run designs the filters with ``scipy.signal`` and caches them;
  later runs never import it): the stream's first run is reported apart (``stream.first_run_*``);
* **imports**: ``python -X importtime`` of the beats command: the slowest top-level imports, and whether
  torch, onnx, matplotlib or sklearn were imported (they must not be);
* **install size** (``--venvs A B``): the size of each virtual environment's ``site-packages`` (e.g. a
  runtime-only venv, ``pip install -c constraints.txt -e .``, next to the full ``.[dev]`` one).

Usage::

    python benchmarks/startup.py --data-dir ../shared/data [--record 100] [--repeats 5]
        [--venvs /tmp/rtvenv .venv] [--out-dir benchmarks/results]

Writes ``startup.json`` and ``startup.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "onnx", "onnxscript", "matplotlib", "sklearn", "lightgbm")
#: the rhythm model's start-up: a 30 s record shipped with LeanECG (CinC 2017, ODC-By 1.0)
CINC_EXAMPLE = REPO / "src" / "leanecg" / "examples" / "cinc2017" / "A00001"


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LEANECG_DEBUG",)}
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    env.update(extra or {})
    return env


def _wall(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str, float]:
    """Wall seconds, stdout, and CPU seconds (user + system) of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, proc.stdout, cpu


def _excerpt(record: Path, seconds: float, folder: Path) -> Path:
    import wfdb

    from leanecg.data import load_record

    rec = load_record(record, annotations=False)
    n = round(seconds * rec.fs)
    wfdb.wrsamp(
        rec.name,
        fs=rec.fs,
        units=["mV"] * rec.n_leads,
        sig_name=list(rec.leads),
        p_signal=rec.signal[:n].astype("float64"),
        fmt=["212"] * rec.n_leads,
        write_dir=str(folder),
    )
    return folder / rec.name


def _importtime(cmd: list[str], env: dict[str, str], cwd: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *cmd],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    top: list[tuple[str, float]] = []
    names = set()
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cum, name = (p for p in line.split("|"))
        if not cum.strip().isdigit():
            continue
        names.add(name.strip().split(".")[0])
        if not name.startswith("  "):  # a top-level import of the command
            top.append((name.strip(), int(cum) / 1e6))
    top.sort(key=lambda t: -t[1])
    return {
        "slowest_top_level_s": {n: round(s, 3) for n, s in top[:8]},
        "heavy_imported": sorted(m for m in HEAVY if m in names),
    }


def _site_size(venv: Path) -> int:
    total = 0
    for root, _, files in os.walk(venv / "lib"):
        for f in files:
            p = os.path.join(root, f)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--record", default="100", help="MIT-BIH record (whole 30 min for stream)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--venvs", nargs="*", type=Path, default=[])
    ap.add_argument("--out-dir", type=Path, default=REPO / "benchmarks" / "results")
    args = ap.parse_args(argv)
    from leanecg.data import resolve_data_dir

    record = resolve_data_dir(args.data_dir, dataset="mitdb") / "mitdb" / args.record
    leanecg = [sys.executable, "-m", "leanecg.cli"]
    with tempfile.TemporaryDirectory(prefix="leanecg-startup-") as tmp_name:
        tmp = Path(tmp_name)
        short = _excerpt(record, 10.0, tmp)
        cache = str(tmp / "cache")  # a fresh user cache, filled by the untimed first runs below
        env = _env({"LEANECG_CACHE": cache})
        blocked = _env({"PYTHONPATH": str(REPO / "tests" / "noextra"), "LEANECG_CACHE": cache})
        runs = {
            "reference: python -c 'import numpy, scipy.signal, onnxruntime'": (
                [sys.executable, "-c", "import numpy, scipy.signal, onnxruntime"],
                env,
            ),
            "leanecg beats (10 s record)": (
                [*leanecg, "beats", str(short), "--model", "mitdb-aami", "--out", "b.csv", "-q"],
                env,
            ),
            "leanecg beats (10 s record), torch unimportable": (
                [*leanecg, "beats", str(short), "--model", "mitdb-aami", "--out", "c.csv", "-q"],
                blocked,
            ),
            "leanecg predict (one 30 s CinC 2017 record)": (
                [*leanecg, "predict", str(CINC_EXAMPLE), "--model", "cinc2017", "--out", "p.csv", "-q"],
                env,
            ),
            "reference: python -c 'import torch'": ([sys.executable, "-c", "import torch"], env),
        }
        walls: dict[str, list[float]] = {k: [] for k in runs}
        cpus: dict[str, list[float]] = {k: [] for k in runs}
        for cmd, e in runs.values():  # untimed: the first runs fill the user cache and the page cache
            _wall(cmd, e, tmp)
        for _ in range(args.repeats):
            for name, (cmd, e) in runs.items():
                wall, _, cpu = _wall(cmd, e, tmp)
                walls[name].append(wall)
                cpus[name].append(cpu)
        stream_cmd = [
            *leanecg,
            "stream",
            str(record),
            "--model",
            "mitdb-aami",
            "--threads",
            "1",
            "--events",
            "none",
            "--json",
        ]
        first_wall, _, first_cpu = _wall(stream_cmd, _env({"LEANECG_CACHE": str(tmp / "cold")}), tmp)
        _wall(stream_cmd, env, tmp)  # untimed (page cache)
        stream_runs = []
        for _ in range(max(3, args.repeats // 2)):
            wall, out, cpu = _wall(stream_cmd, env, tmp)
            summary = json.loads(out)
            stream_runs.append({"wall_s": wall, "cpu_s": cpu, "summary": summary})
        imports = _importtime(runs["leanecg beats (10 s record)"][0][1:], env, tmp)
    med = {k: statistics.median(v) for k, v in walls.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpus.items()}
    ref_cpu = med_cpu["reference: python -c 'import numpy, scipy.signal, onnxruntime'"]
    beats_cpu = med_cpu["leanecg beats (10 s record)"]
    stream_cpu = statistics.median(r["cpu_s"] for r in stream_runs)
    ref = med["reference: python -c 'import numpy, scipy.signal, onnxruntime'"]
    beats = med["leanecg beats (10 s record)"]
    stream_runs.sort(key=lambda r: r["wall_s"])
    mid = stream_runs[len(stream_runs) // 2]
    duration = float(mid["summary"]["duration_s"])
    result = {
        "record": args.record,
        "repeats": args.repeats,
        "median_wall_s": {k: round(v, 3) for k, v in med.items()},
        "all_wall_s": {k: [round(x, 3) for x in v] for k, v in walls.items()},
        "median_cpu_s": {k: round(v, 3) for k, v in med_cpu.items()},
        "beats_vs_reference": round(beats / ref, 2),
        "beats_vs_reference_cpu": round(beats_cpu / ref_cpu, 2),
        "beats_target_met": beats <= 3 * ref,
        "predict_vs_reference": round(med["leanecg predict (one 30 s CinC 2017 record)"] / ref, 2),
        "stream": {
            # the record as a path relative to the current folder: no machine paths in committed results
            "command": " ".join(["leanecg", "stream", os.path.relpath(record), *stream_cmd[5:]]),
            "duration_s": duration,
            "median_wall_s": round(mid["wall_s"], 3),
            "whole_process_realtime_factor": round(duration / mid["wall_s"], 1),
            "in_loop_realtime_factor": round(float(mid["summary"]["realtime_factor"]), 1),
            "median_cpu_s": round(stream_cpu, 3),
            "whole_process_realtime_factor_cpu": round(duration / stream_cpu, 1),
            "in_loop_realtime_factor_cpu": round(float(mid["summary"]["realtime_factor_cpu"]), 1),
            "backend": mid["summary"]["backend"],
            "walls_s": [round(r["wall_s"], 3) for r in stream_runs],
            "first_run_wall_s": round(first_wall, 3),
            "first_run_cpu_s": round(first_cpu, 3),
        },
        "imports": imports,
        "venv_sizes_bytes": {str(v): _site_size(v) for v in args.venvs},
        "cpu": _cpu(),
    }
    s = result["stream"]
    result["stream"]["targets_met"] = (
        s["whole_process_realtime_factor"] >= 1500 and s["in_loop_realtime_factor"] >= 3000
    )
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "startup.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Start-up of the inference commands (whole process, one thread)",
        "",
        f"`python benchmarks/startup.py --record {args.record} --repeats {args.repeats}`; CPU: {result['cpu']}.",
        "",
        "Wall times depend on what else runs on the machine; CPU times (user + system of the process, all its "
        "threads) much less so.",
        "",
        "| command | median wall s | median CPU s |",
        "|---|---|---|",
        *(f"| {k} | {v:.3f} | {result['median_cpu_s'][k]:.3f} |" for k, v in result["median_wall_s"].items()),
        "",
        f"`leanecg beats` on a 10-s record: **{result['beats_vs_reference']}x** the reference import in wall time, "
        f"{result['beats_vs_reference_cpu']}x in CPU time "
        f"(target <= 3x: {'met' if result['beats_target_met'] else 'missed'}). `leanecg predict` with the shipped "
        f"`cinc2017` model on one 30-s record (record features, R peaks, the boosters in ONNX Runtime): "
        f"**{result['predict_vs_reference']}x** the reference import in wall time.",
        "",
        f"`{s['command']}` ({duration:.0f} s of signal): median wall {s['median_wall_s']:.2f} s -> whole-process "
        f"real-time factor **{s['whole_process_realtime_factor']:,.0f}x** (target >= 1,500x), in the loop "
        f"**{s['in_loop_realtime_factor']:,.0f}x** (target >= 3,000x); in CPU time: whole process "
        f"{s['whole_process_realtime_factor_cpu']:,.0f}x ({s['median_cpu_s']:.2f} s), in the loop "
        f"{s['in_loop_realtime_factor_cpu']:,.0f}x; backend {s['backend']}. The first run with an empty user "
        f"cache (it designs the filters with `scipy.signal` and caches them; not in the medians): "
        f"{s['first_run_wall_s']:.2f} s wall, {s['first_run_cpu_s']:.2f} s CPU.",
        "",
        "Slowest top-level imports of `leanecg beats` (`-X importtime`, cumulative s): "
        + ", ".join(f"{k} {v:.3f}" for k, v in imports["slowest_top_level_s"].items())
        + f"; torch / onnx / matplotlib / sklearn imported: {imports['heavy_imported'] or 'none'}.",
    ]
    if result["venv_sizes_bytes"]:
        lines += ["", "| virtual environment | site-packages MB |", "|---|---|"]
        lines += [f"| {k} | {v / 2**20:,.0f} |" for k, v in result["venv_sizes_bytes"].items()]
    (args.out_dir / "startup.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


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
