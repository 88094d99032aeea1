"""MIT-BIH Arrhythmia Database R-peak detection benchmark: accuracy (ANSI/AAMI EC57 style) and speed.

Runs :func:`leanecg.signal.detect_rpeaks` on one lead (default lead 0, MLII in 45 of 48 records) of every
record, matches the detections to the reference beat annotations within 150 ms (one-to-one, closest first:
:func:`leanecg.evaluate.beat_matching.match_beats`) and reports, per record and in total:

* **EC57 (VF excluded)**: reference beats and unmatched detections inside ventricular flutter/fibrillation
  episodes (between ``[`` and ``]``; record 207) are not scored, as WFDB ``bxb`` does;
* **all**: nothing excluded (detections on the flutter waves of record 207 count as false positives).

Reference beats are the WFDB beat codes ``N L R B A a J S V r F e j n E / f Q ?``; non-beat annotations
(``+ ~ | x [ ] ! "``...) are not beats. The whole record is scored (no 5-minute learning period) unless
``--start-s`` says otherwise. Gross statistics pool the beats of all records; average statistics are the
mean of the per-record values.

Speed: single thread (BLAS/OpenMP pools set to 1 before NumPy is imported), each record timed
``--repeats`` times with ``time.perf_counter`` and the median kept; real-time factor = total signal
seconds / total compute seconds. In the same run, interleaved record by record, it times a plain SciPy
detector (zero-phase 5-15 Hz Butterworth band-pass + ``scipy.signal.find_peaks`` on the rectified signal),
whose accuracy is reported too, and the streaming detector fed 1-second chunks (its output is checked to
be identical to the offline one). Machines are noisy; compare ratios measured in the same run.

Usage::

    python benchmarks/rpeaks_mitdb.py [--data-dir PATH] [--out-dir benchmarks/results] [--repeats 5]

``--data-dir`` is the folder holding ``mitdb/`` (default: ``$LEANECG_DATA``, else ``../shared/data``
beside the repository). Writes ``rpeaks_mitdb.json`` and ``rpeaks_mitdb.md`` to ``--out-dir``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy / SciPy are imported: one thread everywhere

import argparse  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from scipy.signal import butter, find_peaks, sosfiltfilt  # noqa: E402

from leanecg.atomic import atomic_open, write_json  # noqa: E402
from leanecg.errors import LeanECGError  # noqa: E402
from leanecg.evaluate.beat_matching import BeatMatch, match_beats, reference_beats, vf_intervals  # noqa: E402
from leanecg.evaluate.timing import time_callable  # noqa: E402
from leanecg.provenance import collect_provenance  # noqa: E402
from leanecg.signal.rpeaks import RPeakParams, StreamingRPeakDetector, detect_rpeaks  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MITDB_RECORDS = (
    "100 101 102 103 104 105 106 107 108 109 111 112 113 114 115 116 117 118 119 121 122 123 124 "
    "200 201 202 203 205 207 208 209 210 212 213 214 215 217 219 220 221 222 223 228 230 231 232 233 234"
).split()
STREAM_CHUNK_S = 1.0


def default_data_dir() -> Path:
    env = os.environ.get("LEANECG_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def plain_bandpass_find_peaks(x: np.ndarray, fs: float) -> np.ndarray:
    """The baseline: zero-phase 5-15 Hz band-pass, |.|, find_peaks (height 30 % of the 99th pct, 250 ms)."""
    sos = butter(2, [5.0, 15.0], btype="bandpass", fs=fs, output="sos")
    y = np.abs(sosfiltfilt(sos, x))
    peaks, _ = find_peaks(y, height=0.3 * np.percentile(y, 99), distance=max(1, round(0.25 * fs)))
    return peaks.astype(np.int64)


def resample(x: np.ndarray, fs: float, samples: np.ndarray, fs_new: float) -> tuple[np.ndarray, np.ndarray]:
    """Polyphase resampling of the signal to ``fs_new`` (integer Hz ratio) and of the annotation times."""
    from fractions import Fraction

    from scipy.signal import resample_poly

    ratio = Fraction(fs_new / fs).limit_denominator(1000)
    y = resample_poly(x, ratio.numerator, ratio.denominator)
    s = np.minimum(np.round(samples * (fs_new / fs)).astype(np.int64), y.size - 1)
    return y, s


def stream_detect(x: np.ndarray, fs: float) -> np.ndarray:
    """The streaming detector fed consecutive 1-second chunks."""
    det = StreamingRPeakDetector(fs)
    step = max(1, round(STREAM_CHUNK_S * fs))
    out = [det.process(x[i : i + step]) for i in range(0, x.size, step)]
    out.append(det.flush())
    return np.concatenate(out)


def load_mitdb(folder: Path, name: str, lead: int) -> tuple[np.ndarray, float, str, np.ndarray, list[str]]:
    """Signal (mV, float64) of one lead, fs, lead name, annotation samples and symbols."""
    from leanecg.data import load_record

    rec = load_record(folder / name)
    if rec.annotation is None:
        raise LeanECGError(folder / name, "MIT-BIH record has no .atr annotation file")
    x = np.ascontiguousarray(rec.signal[:, lead], dtype=np.float64)
    return x, float(rec.fs), rec.leads[lead], rec.annotation.sample, list(rec.annotation.symbol)


def time_median(
    fn: Callable[[np.ndarray, float], np.ndarray], x: np.ndarray, fs: float, repeats: int
) -> float:
    """Median wall time of ``fn(x, fs)`` in seconds (one warm-up call, ``repeats`` timed calls)."""
    return time_callable(lambda: fn(x, fs), repeats=repeats, warmup=1).median


def _pct(a: int, b: int) -> float | None:
    return round(100.0 * a / b, 3) if b > 0 else None


def record_stats(m: BeatMatch) -> dict[str, Any]:
    return {
        "tp": m.tp,
        "fn": m.fn,
        "fp": m.fp,
        "se": _pct(m.tp, m.tp + m.fn),
        "ppv": _pct(m.tp, m.tp + m.fp),
        "excluded_ref": int(m.excluded_ref_idx.size),
        "excluded_test": int(m.excluded_test_idx.size),
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    tp = sum(r["tp"] for r in rows)
    fn = sum(r["fn"] for r in rows)
    fp = sum(r["fp"] for r in rows)
    se = [r["se"] for r in rows if r["se"] is not None]
    ppv = [r["ppv"] for r in rows if r["ppv"] is not None]
    return {
        "tp": tp,
        "fn": fn,
        "fp": fp,
        "gross_se": _pct(tp, tp + fn),
        "gross_ppv": _pct(tp, tp + fp),
        "gross_f1": _pct(2 * tp, 2 * tp + fn + fp),
        "average_se": round(float(np.mean(se)), 3) if se else None,
        "average_ppv": round(float(np.mean(ppv)), 3) if ppv else None,
        "records": len(rows),
    }


def provenance(argv: list[str]) -> dict[str, Any]:
    """Run metadata (git commit, packages, machine) plus the load average the timings ran under."""
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    return collect_provenance(
        command=" ".join(["python benchmarks/rpeaks_mitdb.py", *argv]), source=REPO, load_average_1m=load
    )


def run(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    folder = Path(args.data_dir) / "mitdb"
    if not folder.is_dir():
        raise LeanECGError(folder, "MIT-BIH folder not found (use --data-dir or set LEANECG_DATA)")
    names = args.records.split(",") if args.records else MITDB_RECORDS
    repeats = max(1, int(args.repeats))
    rows: list[dict[str, Any]] = []
    total_s = 0.0
    t_det = t_plain = t_stream = 0.0
    plain_rows_ec57: list[dict[str, Any]] = []
    load0 = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    for name in names:
        x, fs, lead, samples, symbols = load_mitdb(folder, name, args.lead)
        if args.fs is not None and args.fs != fs:
            x, samples = resample(x, fs, samples, args.fs)
            fs = float(args.fs)
        if args.invert:
            x = -x
        duration = x.size / fs
        tol = int(np.floor(args.tolerance_s * fs + 0.5))  # WFDB strtim rounds half up
        ref = reference_beats(samples, symbols)
        vf = vf_intervals(samples, symbols)
        start = round(args.start_s * fs)
        learn = np.array([[-1, start - 1]], dtype=np.int64) if start > 0 else np.zeros((0, 2), np.int64)
        ec57_excl = np.concatenate([vf, learn]) if vf.size else learn
        all_excl = learn

        peaks = detect_rpeaks(x, fs)
        streamed = stream_detect(x, fs)
        if not np.array_equal(peaks, streamed):
            raise SystemExit(f"record {name}: streaming output differs from offline output")
        plain = plain_bandpass_find_peaks(x, fs)
        # warm-up done above; now time the three, interleaved so they share the machine's state
        td = time_median(detect_rpeaks, x, fs, repeats)
        tp_ = time_median(plain_bandpass_find_peaks, x, fs, repeats)
        ts = time_median(stream_detect, x, fs, max(1, repeats // 2))
        total_s += duration
        t_det += td
        t_plain += tp_
        t_stream += ts

        ec57 = record_stats(match_beats(ref, peaks, tol, exclude=ec57_excl))
        full = record_stats(match_beats(ref, peaks, tol, exclude=all_excl))
        plain_rows_ec57.append(record_stats(match_beats(ref, plain, tol, exclude=ec57_excl)))
        rows.append(
            {
                "record": name,
                "lead": lead,
                "fs": fs,
                "duration_s": round(duration, 3),
                "ref_beats": int(ref.size),
                "detections": int(peaks.size),
                "ec57": ec57,
                "all": full,
                "compute_ms": round(1000 * td, 3),
                "plain_compute_ms": round(1000 * tp_, 3),
            }
        )
        if args.verbose:
            e = ec57
            print(
                f"{name}: TP {e['tp']} FN {e['fn']} FP {e['fp']} Se {e['se']} +P {e['ppv']}  {1000 * td:.1f} ms",
                file=sys.stderr,
            )
    load1 = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None

    return {
        "benchmark": "rpeaks_mitdb",
        "description": "R-peak detection on MIT-BIH Arrhythmia Database, one lead, beat-by-beat (EC57 style)",
        "detector": "leanecg.signal.detect_rpeaks",
        "detector_params": {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(RPeakParams()).items()
        },
        "scoring": {
            "lead": args.lead,
            "tolerance_s": args.tolerance_s,
            "start_s": args.start_s,
            "resampled_to_hz": args.fs,
            "inverted": bool(args.invert),
            "reference_beats": "WFDB beat codes N L R B A a J S V r F e j n E / f Q ?",
            "matching": "one-to-one, closest first, ties to the earlier beat (leanecg.evaluate.beat_matching)",
            "ec57": "reference beats and unmatched detections inside [ ] VF episodes not scored",
            "all": "nothing excluded",
        },
        "summary": {
            "ec57": summarise([r["ec57"] for r in rows]),
            "all": summarise([r["all"] for r in rows]),
            "plain_reference_ec57": summarise(plain_rows_ec57),
        },
        "speed": {
            "signal_seconds": round(total_s, 3),
            "detector_seconds": round(t_det, 4),
            "detector_real_time_factor": round(total_s / t_det),
            "streaming_1s_chunks_seconds": round(t_stream, 4),
            "streaming_real_time_factor": round(total_s / t_stream),
            "plain_reference_seconds": round(t_plain, 4),
            "plain_reference_real_time_factor": round(total_s / t_plain),
            "detector_cost_vs_plain_reference": round(t_det / t_plain, 3),
            "timing": {
                "clock": "time.perf_counter",
                "repeats_per_record": repeats,
                "streaming_repeats_per_record": max(1, repeats // 2),
                "statistic": "median per record, summed over records",
                "threads": 1,
                "thread_env": {
                    v: os.environ.get(v)
                    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
                },
                "load_average_1m_before_after": [load0, load1],
                "plain_reference": "butter(2, [5, 15] Hz) sosfiltfilt, |y|, find_peaks(height=0.3*p99, distance=250 ms)",
                "streaming_chunk_s": STREAM_CHUNK_S,
            },
        },
        "records": rows,
        "provenance": provenance(argv),
    }


def _f(v: Any, nd: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def render_markdown(res: dict[str, Any]) -> str:
    s = res["summary"]
    sp = res["speed"]
    pv = res["provenance"]
    sc = res["scoring"]
    variant = []
    if sc.get("resampled_to_hz"):
        variant.append(f"signal resampled to {sc['resampled_to_hz']:g} Hz")
    if sc.get("inverted"):
        variant.append("signal inverted")
    lines = [
        "# R-peak detection on the MIT-BIH Arrhythmia Database",
        "",
        *([f"**Robustness variant: {', '.join(variant)}.**", ""] if variant else []),
        f"`{res['detector']}` on lead {res['scoring']['lead']} of {s['ec57']['records']} records, "
        f"{res['scoring']['tolerance_s'] * 1000:.0f} ms match window, "
        + (
            "whole records scored (no learning period)."
            if not res["scoring"]["start_s"]
            else f"scoring from {res['scoring']['start_s']} s."
        ),
        f"Reference beats: {res['scoring']['reference_beats']}. Matching: {res['scoring']['matching']}.",
        "",
        "## Summary",
        "",
        "| scoring | TP | FN | FP | gross Se % | gross +P % | average Se % | average +P % |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, label in (
        ("ec57", "EC57 (VF excluded)"),
        ("all", "all (nothing excluded)"),
        ("plain_reference_ec57", "plain band-pass + find_peaks, EC57"),
    ):
        r = s[key]
        lines.append(
            f"| {label} | {r['tp']} | {r['fn']} | {r['fp']} | {_f(r['gross_se'], 3)} | {_f(r['gross_ppv'], 3)} "
            f"| {_f(r['average_se'], 3)} | {_f(r['average_ppv'], 3)} |"
        )
    lines += [
        "",
        "## Speed (one thread)",
        "",
        "| detector | compute s (sum of per-record medians) | real-time factor |",
        "|---|---:|---:|",
        f"| `detect_rpeaks` (offline) | {sp['detector_seconds']:.3f} | {sp['detector_real_time_factor']:,}x |",
        f"| `StreamingRPeakDetector`, {sp['timing']['streaming_chunk_s']:g} s chunks | "
        f"{sp['streaming_1s_chunks_seconds']:.3f} | {sp['streaming_real_time_factor']:,}x |",
        f"| plain band-pass + find_peaks | {sp['plain_reference_seconds']:.3f} | "
        f"{sp['plain_reference_real_time_factor']:,}x |",
        "",
        f"Plain detector: {sp['timing']['plain_reference']}. "
        f"{sp['signal_seconds']:.0f} s of signal. `detect_rpeaks` costs {sp['detector_cost_vs_plain_reference']:.2f}x "
        "the plain detector timed in the same run. Streaming output is identical to offline output on every "
        f"record. Median of {sp['timing']['repeats_per_record']} runs per record "
        f"({sp['timing']['streaming_repeats_per_record']} for streaming); 1-min load average before/after: "
        f"{sp['timing']['load_average_1m_before_after']} on {pv['cpu_count']} CPUs (a shared machine: "
        "compare ratios, not absolute numbers).",
        "",
        "## Per record",
        "",
        "| record | lead | beats | TP | FN | FP | Se % | +P % | all: FN | all: FP | ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in res["records"]:
        e, a = r["ec57"], r["all"]
        lines.append(
            f"| {r['record']} | {r['lead']} | {r['ref_beats']} | {e['tp']} | {e['fn']} | {e['fp']} | "
            f"{_f(e['se'])} | {_f(e['ppv'])} | {a['fn']} | {a['fp']} | {r['compute_ms']:.1f} |"
        )
    lines += [
        "",
        "## Provenance",
        "",
        f"- command: `{pv['command']}`",
        f"- git commit: `{pv['git_commit']}`" + (" (working tree modified)" if pv["git_dirty"] else ""),
        f"- {pv['timestamp_utc']}, Python {pv['python']}, {pv['platform']}, "
        + ", ".join(f"{k} {v}" for k, v in pv["packages"].items()),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=str(default_data_dir()), help="folder holding mitdb/")
    ap.add_argument("--out-dir", default=str(REPO / "benchmarks" / "results"))
    ap.add_argument("--repeats", type=int, default=5, help="timing repeats per record (median kept)")
    ap.add_argument("--lead", type=int, default=0, help="signal column (0 = MLII in 45 of 48 records)")
    ap.add_argument("--tolerance-s", type=float, default=0.150, help="match window, seconds")
    ap.add_argument("--start-s", type=float, default=0.0, help="score from this time on (EC57 learning: 300)")
    ap.add_argument("--records", default="", help="comma-separated subset (default: all 48)")
    ap.add_argument("--fs", type=float, default=None, help="resample to this rate first (robustness check)")
    ap.add_argument("--invert", action="store_true", help="negate the signal first (polarity check)")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per record on stderr")
    args = ap.parse_args(argv)
    try:
        res = run(args, argv)
    except LeanECGError as err:
        print(f"error: {err.path}: {err.problem}", file=sys.stderr)
        return 2
    out = Path(args.out_dir)
    write_json(out / "rpeaks_mitdb.json", res)
    with atomic_open(out / "rpeaks_mitdb.md") as fh:
        fh.write(render_markdown(res))
    s, sp = res["summary"], res["speed"]
    print(
        f"EC57: Se {s['ec57']['gross_se']} % +P {s['ec57']['gross_ppv']} % | all: Se {s['all']['gross_se']} % "
        f"+P {s['all']['gross_ppv']} % | {sp['detector_real_time_factor']:,}x real time "
        f"({sp['detector_cost_vs_plain_reference']:.2f}x the plain detector) -> {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
