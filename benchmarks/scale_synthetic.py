"""Data larger than memory: sharded-cache build time, peak RSS and training throughput on a synthetic corpus.

    .venv/bin/python benchmarks/scale_synthetic.py                    # the issue's size: 50,000 records
    .venv/bin/python benchmarks/scale_synthetic.py --records 20000   # a reduced run (say so when quoting it)

Corpus: record ``i`` is ``leanecg.data.synthetic.synthetic_ecg`` (10 s, 500 Hz, 12 leads; rhythm sinus / AF /
PVC = label ``i % 3``; heart rate 50-110 bpm; seed ``seed * 10**7 + i``), generated inside the cache
builder's worker (no raw files), then preprocessed by a ``leanecg.signal.Pipeline`` (band-pass 0.5-40 Hz,
resample to 250 Hz, z-score) and cached by :func:`leanecg.data.shards.build_shards` as float32
``(12, 2500)``: 120 kB per record, 6.0 GB for 50,000 records.

Measured:

1. cache build time with 1 and with 2 worker processes (each a full rebuild; the 2-worker cache is kept);
2. one training epoch over every cached record, read lazily through a ``DataLoader`` with
   ``--loader-workers`` workers (``TrainConfig.num_workers``), of LiteNet (width 0.5) with the global batch
   ``--batch``, in 1 process and in 2 processes (``torchrun --standalone --nproc_per_node N``, gloo, CPU;
   per-process batch = global / N): samples/s (records of the epoch / the epoch's training time) and the
   median of per-step throughput;
3. peak resident memory (RSS) while training: sampled every 0.25 s from ``/proc`` for every process of the
   run (torchrun's agent, the training processes, their DataLoader workers): the largest single process
   and the sum over all of them (an upper bound: forked workers share pages), next to the cache's size on
   disk.

Output: ``benchmarks/results/scale_synthetic.json`` and ``scale_synthetic.md`` (seed, config, git commit,
figures). On a machine shared with other jobs the timings are noisy; the script never claims more than it
measured (``--records`` is recorded, the default is the issue's 50,000).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
RHYTHMS = ("sinus", "af", "pvc")
FS_IN, FS_OUT, SECONDS, LEADS = 500.0, 250.0, 10.0, 12
PIPELINE = [
    {"op": "bandpass", "low_hz": 0.5, "high_hz": 40.0},
    {"op": "resample", "fs_out": FS_OUT},
    {"op": "zscore"},
]
_PIPE: dict[str, Any] = {}


def make_record(item: tuple[int, int]) -> tuple[np.ndarray, int]:
    """Worker: synthesise record ``i`` of the corpus of ``seed`` and preprocess it (channel-first)."""
    from leanecg.data.synthetic import synthetic_ecg
    from leanecg.signal.pipeline import Pipeline

    seed, i = item
    pipe = _PIPE.get("p")
    if pipe is None:
        pipe = _PIPE["p"] = Pipeline(PIPELINE)
    rng = np.random.default_rng([seed, i])
    ecg = synthetic_ecg(
        duration_s=SECONDS,
        fs=FS_IN,
        heart_rate_bpm=float(rng.uniform(50, 110)),
        rhythm=RHYTHMS[i % 3],
        n_leads=LEADS,
        seed=seed * 10**7 + i,
    )
    x, _ = pipe(ecg.signal, FS_IN)
    return np.ascontiguousarray(x.T, dtype=np.float32), i % 3


def corpus_description(seed: int, n: int) -> dict[str, Any]:
    return {
        "corpus": "benchmarks/scale_synthetic.py make_record",
        "seed": seed,
        "records": n,
        "fs_in": FS_IN,
        "seconds": SECONDS,
        "leads": LEADS,
        "pipeline": PIPELINE,
    }


# ------------------------------------------------------------------------------------------- RSS sampler


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (``/proc/<pid>/task/<tid>/children``: no scan of all of /proc)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as fh:
                out += [int(c) for c in fh.read().split()]
        except (OSError, ValueError):
            continue
    return out


def _proc_kib(path: str, key: str) -> int:
    try:
        with open(path, encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _rss_bytes(pid: int) -> int:
    return _proc_kib(f"/proc/{pid}/status", "VmRSS:")


def _pss_bytes(pid: int) -> int:
    """Proportional set size: the process's private pages plus its share of pages shared with others."""
    return _proc_kib(f"/proc/{pid}/smaps_rollup", "Pss:")


class TreeRSS:
    """Samples the RSS (and PSS) of a process and all its descendants every ``interval`` seconds (a thread).

    ``peak_one``: the largest single process's RSS; ``peak_sum``: the largest sum of RSS over the tree (an
    upper bound: pages shared by forked processes are counted in each); ``peak_pss``: the largest sum of
    PSS (shared pages divided among the processes sharing them: the tree's actual memory).
    """

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.pid, self.interval = pid, interval
        self.peak_sum = self.peak_one = self.peak_pss = 0
        self.n_procs_max = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            todo, tree = [self.pid], []
            while todo:
                p = todo.pop()
                tree.append(p)
                todo.extend(_children(p))
            rss = [_rss_bytes(p) for p in tree]
            self.peak_pss = max(self.peak_pss, sum(_pss_bytes(p) for p in tree))
            self.peak_sum = max(self.peak_sum, sum(rss))
            self.peak_one = max(self.peak_one, max(rss, default=0))
            self.n_procs_max = max(self.n_procs_max, len(tree))
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


# ------------------------------------------------------------------------------------------- phases


def build_phase(args: argparse.Namespace, log: Any) -> tuple[Path, list[dict[str, Any]]]:
    from leanecg.data.shards import build_shards

    items = [(args.seed, i) for i in range(args.records)]
    rows = []
    keep = None
    for w in args.build_workers:
        folder = args.cache_dir / f"cache-w{w}"
        if keep is not None and keep != folder:
            shutil.rmtree(keep, ignore_errors=True)  # one cache on disk at a time
        log(f"building the cache of {args.records} records with {w} worker(s) in {folder}")
        t0 = time.perf_counter()  # no memory sampling here: it would compete with the builder for the CPU
        store = build_shards(
            items,
            make_record,
            folder,
            description=corpus_description(args.seed, args.records),
            fs=FS_OUT,
            records_per_shard=args.records_per_shard,
            workers=w,
            progress=True,
            rebuild=True,
        )
        seconds = time.perf_counter() - t0
        rows.append(
            {
                "workers": w,
                "seconds": seconds,
                "records_per_s": args.records / seconds,
                "bytes_on_disk": store.nbytes,
                "shards": len(store.meta["shards"]),
            }
        )
        log(f"  {seconds:.1f} s ({args.records / seconds:.0f} records/s), {store.nbytes / 2**30:.2f} GiB")
        keep = folder
    assert keep is not None
    return keep, rows


def train_phase(args: argparse.Namespace, cache: Path, log: Any) -> list[dict[str, Any]]:
    rows = []
    for nproc in args.nproc:
        out_json = args.cache_dir / f"train-{nproc}.json"
        out_json.unlink(missing_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            str(nproc),
            str(Path(__file__).resolve()),
            "--worker",
            "--cache",
            str(cache),
            "--out-json",
            str(out_json),
            "--batch",
            str(args.batch),
            "--loader-workers",
            str(args.loader_workers),
            "--seed",
            str(args.seed),
            "--threads",
            str(args.threads),
        ]
        log(f"training 1 epoch in {nproc} process(es): {' '.join(cmd[1:6])} ...")
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env)
        with TreeRSS(proc.pid) as rss:
            rc = proc.wait()
        wall = time.perf_counter() - t0
        if rc != 0:
            raise SystemExit(f"training with {nproc} process(es) failed (exit {rc})")
        res = json.loads(out_json.read_text(encoding="utf-8"))
        res.update(
            nproc=nproc,
            wall_seconds=wall,
            peak_rss_largest_process_bytes=rss.peak_one,
            peak_rss_sum_bytes=rss.peak_sum,
            peak_pss_sum_bytes=rss.peak_pss,
            processes_max=rss.n_procs_max,
        )
        rows.append(res)
        log(
            f"  {res['samples_per_s']:.0f} samples/s, epoch {res['epoch_seconds']:.0f} s, peak RSS largest "
            f"process {rss.peak_one / 2**30:.2f} GiB, all processes {rss.peak_pss / 2**30:.2f} GiB (PSS), "
            f"{rss.peak_sum / 2**30:.2f} GiB (RSS sum)"
        )
    return rows


def worker_main(args: argparse.Namespace) -> int:
    """One torchrun worker: train 1 epoch from the cache; rank 0 writes the figures."""
    import resource

    import torch

    from leanecg.data.shards import open_shards
    from leanecg.models.registry import build_model
    from leanecg.train.distributed import (
        all_gather_object,
        destroy_process_group,
        init_process_group,
        rank_and_world,
    )
    from leanecg.train.seed import seed_everything
    from leanecg.train.trainer import TrainConfig, fit

    init_process_group("cpu")
    rank, world = rank_and_world()
    store = open_shards(args.cache)
    train = store.split("train")
    seed_everything(args.seed)
    model = build_model("litenet", n_leads=store.n_leads, n_classes=3, width=0.5)
    step_times: list[float] = []
    last = [time.perf_counter()]

    def batch_loss(m: Any, batch: dict[str, torch.Tensor], criterion: Any) -> torch.Tensor:
        now = time.perf_counter()
        step_times.append(now - last[0])
        last[0] = now
        return criterion(m(batch["x"]), batch["y"])

    cfg = TrainConfig(
        epochs=1,
        batch_size=args.batch,
        lr=1e-3,
        schedule="constant",
        num_threads=args.threads,
        num_workers=args.loader_workers,
        seed=args.seed,
    )
    res = fit(model, train, None, cfg, progress=rank == 0, batch_loss=batch_loss)
    per_step = [args.batch / t for t in step_times[1:] if t > 0]  # the first includes the loader start
    gathered = all_gather_object(
        {
            "ru_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "steps": len(step_times),
        }
    )
    if rank == 0:
        epoch_s = float(res.history[0]["seconds"])
        doc = {
            "world_size": world,
            "records": len(train),
            "global_batch": args.batch,
            "per_process_batch": args.batch // world,
            "loader_workers_per_process": args.loader_workers,
            "threads_per_process": args.threads,
            "steps_per_process": int(res.history[0]["steps"]),
            "epoch_seconds": epoch_s,
            "samples_per_s": len(train) / epoch_s,
            "median_step_samples_per_s": statistics.median(per_step) if per_step else None,
            "train_loss": float(res.history[0]["train_loss"]),
            "ru_maxrss_bytes_per_rank": [g["ru_maxrss_bytes"] for g in gathered],
            "device": res.device,
        }
        Path(args.out_json).write_text(json.dumps(doc), encoding="utf-8")
    destroy_process_group()
    return 0


# ------------------------------------------------------------------------------------------- report


def write_report(doc: dict[str, Any], out_dir: Path) -> None:
    from leanecg.atomic import write_json

    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "scale_synthetic.json", doc)
    gib = 2**30
    cfg = doc["config"]
    lines = [
        "# Scale-out on a synthetic corpus",
        "",
        f"{cfg['records']:,} synthetic 10 s 12-lead records (seed {cfg['seed']}; the script's default is "
        f"{cfg['default_records']:,}), cached as float32 (12, 2500) at 250 Hz: "
        f"**{doc['cache_bytes'] / gib:.2f} GiB on disk**. Machine: {doc['machine']}. Git commit "
        f"`{doc['provenance']['git_commit'][:12]}`{' (dirty)' if doc['provenance'].get('git_dirty') else ''}.",
        "",
        "| cache build | seconds | records/s |",
        "|---|---|---|",
    ]
    for r in doc["build"]:
        lines.append(f"| {r['workers']} worker(s) | {r['seconds']:.1f} | {r['records_per_s']:.0f} |")
    lines += [
        "",
        f"Training: one epoch of LiteNet (width 0.5) over all {cfg['records']:,} records, global batch "
        f"{cfg['batch']}, {cfg['loader_workers']} DataLoader worker(s) and {cfg['threads']} thread(s) per process.",
        "",
        "| processes | epoch s | samples/s | median per-step samples/s | peak RSS, largest process | peak "
        "memory, all processes (PSS) | peak RSS summed over processes |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in doc["train"]:
        med = r["median_step_samples_per_s"]
        lines.append(
            f"| {r['nproc']} | {r['epoch_seconds']:.0f} | {r['samples_per_s']:.0f} | "
            f"{'n/a' if med is None else f'{med:.0f}'} | {r['peak_rss_largest_process_bytes'] / gib:.2f} GiB | "
            f"{r['peak_pss_sum_bytes'] / gib:.2f} GiB | {r['peak_rss_sum_bytes'] / gib:.2f} GiB |"
        )
    lines += [
        "",
        "Memory is sampled every 0.25 s from /proc over the whole run (torchrun's agent, the training "
        "processes and their DataLoader workers). PSS divides pages shared by forked processes among them "
        "(the run's actual memory); the RSS sum counts shared pages once per process (an upper bound). "
        "Records are read with positioned reads, so the OS page cache holding the shards is not part of any "
        "process's memory.",
        "",
        f"Command: `{doc['command']}`",
        "",
    ]
    (out_dir / "scale_synthetic.md").write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--records", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--build-workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--records-per-shard", type=int, default=256)
    ap.add_argument("--nproc", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--loader-workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per training process")
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp/leanecg-scale"))
    ap.add_argument("--out-dir", type=Path, default=HERE / "results")
    ap.add_argument("--keep-cache", action="store_true", help="leave the cache in --cache-dir afterwards")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out-json", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker_main(args)

    from leanecg.provenance import collect_provenance, cpu_model

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    args.cache_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cache, build_rows = build_phase(args, log)
    train_rows = train_phase(args, cache, log)
    from leanecg.data.shards import open_shards

    cache_bytes = open_shards(cache).nbytes
    config = {
        "records": args.records,
        "default_records": 50_000,
        "seed": args.seed,
        "build_workers": args.build_workers,
        "records_per_shard": args.records_per_shard,
        "nproc": args.nproc,
        "batch": args.batch,
        "loader_workers": args.loader_workers,
        "threads": args.threads,
        "corpus": corpus_description(args.seed, args.records),
        "model": "litenet width 0.5, 3 classes, AdamW lr 1e-3 constant, 1 epoch, no validation",
    }
    doc = {
        "benchmark": "scale_synthetic",
        "config": config,
        "cache_bytes": cache_bytes,
        "build": build_rows,
        "train": train_rows,
        "seconds_total": time.perf_counter() - t0,
        "machine": f"{cpu_model() or 'unknown CPU'}, {os.cpu_count()} logical CPUs",
        "command": " ".join(
            ["python", "benchmarks/scale_synthetic.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "provenance": collect_provenance(seed=args.seed, config=config),
    }
    write_report(doc, args.out_dir)
    if not args.keep_cache:
        shutil.rmtree(cache, ignore_errors=True)
    sys.stdout.write((args.out_dir / "scale_synthetic.md").read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
