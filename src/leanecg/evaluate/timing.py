"""A small, honest micro-benchmark timer: warm-up, repeats, robust statistics, interleaved comparisons.

Everything is measured in **seconds** (``time.perf_counter``); reports convert to milliseconds.

- :func:`time_callable` times one callable: ``warmup`` untimed calls, then ``repeats`` timed samples of
  ``number`` calls each; a sample is the mean time of one call within that repeat.
- :func:`compare_timings` times several callables in the same run. With ``interleave=True`` every round
  times each callable once, alternating the order (ABBA...), so slow drifts of the machine (another
  process waking up, frequency scaling) hit all of them alike; the ratio against the reference is the
  median of the per-round ratios, which cancels noise shared by a round.
- :func:`estimate_repeats` turns a time budget into a repeat count.

Statistics (:class:`TimingStats`): ``median``, ``p99`` (99th percentile, linear interpolation: with fewer
than 100 samples it lies between the two largest samples, i.e. it is close to the worst case seen),
``mean``, ``iqr`` (75th minus 25th percentile), ``min`` and ``n`` (number of samples). The garbage
collector is disabled while timing, as :mod:`timeit` does.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leanecg.errors import LeanECGError

__all__ = [
    "ComparedTiming",
    "TimingStats",
    "compare_timings",
    "estimate_repeats",
    "time_callable",
]


@dataclass(frozen=True)
class TimingStats:
    """Statistics of per-call times, all in seconds.

    Attributes:
        median: median time of one call (s).
        p99: 99th percentile (s), linear interpolation between samples.
        mean: mean (s).
        iqr: interquartile range, 75th minus 25th percentile (s).
        n: number of samples (timed repeats).
        min: fastest sample (s).
        samples: the raw per-call times (s), in the order they were taken.
    """

    median: float
    p99: float
    mean: float
    iqr: float
    n: int
    min: float
    samples: tuple[float, ...] = field(repr=False, default=())

    @classmethod
    def from_samples(cls, samples: Sequence[float]) -> TimingStats:
        """Summarise per-call times in seconds (at least one)."""
        if len(samples) == 0:
            raise ValueError("no timing samples")
        a = np.asarray(samples, dtype=np.float64)
        q25, q50, q75, q99 = np.percentile(a, [25.0, 50.0, 75.0, 99.0])
        return cls(
            median=float(q50),
            p99=float(q99),
            mean=float(a.mean()),
            iqr=float(q75 - q25),
            n=int(a.size),
            min=float(a.min()),
            samples=tuple(float(s) for s in a),
        )

    def to_dict(self, unit: str = "ms") -> dict[str, float | int]:
        """JSON-able summary with the unit in the key names (``median_ms``, ...); ``unit`` in s/ms/us."""
        scale = _UNIT_SCALE.get(unit)
        if scale is None:
            raise LeanECGError("unit", f"unknown time unit {unit!r}; use one of {sorted(_UNIT_SCALE)}")
        return {
            f"median_{unit}": self.median * scale,
            f"p99_{unit}": self.p99 * scale,
            f"mean_{unit}": self.mean * scale,
            f"iqr_{unit}": self.iqr * scale,
            f"min_{unit}": self.min * scale,
            "n": self.n,
        }


_UNIT_SCALE = {"s": 1.0, "ms": 1e3, "us": 1e6}


@dataclass(frozen=True)
class ComparedTiming:
    """One entry of :func:`compare_timings`.

    Attributes:
        stats: per-call timing statistics (s).
        ratio: time relative to the reference (``> 1`` means slower than the reference; the reference
            itself has exactly 1.0).
        reference: name of the reference callable.
    """

    stats: TimingStats
    ratio: float
    reference: str


def _check_counts(repeats: int, warmup: int, number: int) -> None:
    if not isinstance(repeats, int | np.integer) or repeats < 1:
        raise LeanECGError("repeats", f"must be an integer >= 1, got {repeats!r}")
    if not isinstance(warmup, int | np.integer) or warmup < 0:
        raise LeanECGError("warmup", f"must be an integer >= 0, got {warmup!r}")
    if not isinstance(number, int | np.integer) or number < 1:
        raise LeanECGError("number", f"must be an integer >= 1, got {number!r}")


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _one_sample(fn: Callable[[], Any], number: int) -> float:
    """Seconds per call, averaged over ``number`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def time_callable(
    fn: Callable[[], Any],
    repeats: int = 30,
    warmup: int = 3,
    number: int = 1,
    *,
    max_seconds: float | None = None,
) -> TimingStats:
    """Time a zero-argument callable.

    Args:
        fn: the work to time, called with no arguments; its result is discarded.
        repeats: number of timed samples.
        warmup: untimed calls made first (lazy initialisation, caches, allocator warm-up).
        number: calls per sample; a sample is their mean time. Keep 1 to measure per-call latency
            (p99 is then a per-call percentile); raise it for sub-microsecond work.
        max_seconds: optional wall-clock cap on the timed phase; when exceeded, timing stops early
            (after at least 3 samples, or ``repeats`` if fewer) and ``n`` says how many were taken.

    Returns:
        :class:`TimingStats` in seconds per call.
    """
    _check_counts(repeats, warmup, number)
    min_samples = min(3, repeats)
    samples: list[float] = []
    with _gc_paused():
        for _ in range(warmup):
            fn()
        start = time.perf_counter()
        for _ in range(repeats):
            samples.append(_one_sample(fn, number))
            if (
                max_seconds is not None
                and len(samples) >= min_samples
                and time.perf_counter() - start > max_seconds
            ):
                break
    return TimingStats.from_samples(samples)


def compare_timings(
    fns: Mapping[str, Callable[[], Any]],
    repeats: int = 30,
    warmup: int = 3,
    interleave: bool = True,
    *,
    reference: str | None = None,
    number: int = 1,
) -> dict[str, ComparedTiming]:
    """Time several callables in one run and express each relative to a reference.

    Args:
        fns: ``{name: zero-argument callable}``; insertion order is kept.
        repeats: timed samples per callable.
        warmup: untimed calls per callable before timing.
        interleave: if True, each round times every callable once, alternating the order between
            rounds (ABBA...), and the ratio is the median of per-round ratios (paired, so noise that hits
            a whole round cancels). If False, callables are timed one after another and the ratio is the
            ratio of medians.
        reference: name of the reference callable (default: the first one).
        number: calls per sample (see :func:`time_callable`).

    Returns:
        ``{name: ComparedTiming(stats, ratio, reference)}`` in the order of ``fns``; times in seconds.
    """
    _check_counts(repeats, warmup, number)
    names = list(fns)
    if not names:
        raise LeanECGError("fns", "nothing to time: give at least one callable")
    ref = names[0] if reference is None else reference
    if ref not in fns:
        raise LeanECGError("reference", f"{ref!r} is not one of the timed names {names}")

    if not interleave:
        stats = {name: time_callable(fns[name], repeats, warmup, number) for name in names}
        ref_median = stats[ref].median
        return {
            name: ComparedTiming(
                stats=stats[name],
                ratio=1.0 if name == ref else _safe_ratio(stats[name].median, ref_median),
                reference=ref,
            )
            for name in names
        }

    samples: dict[str, list[float]] = {name: [] for name in names}
    with _gc_paused():
        for _ in range(warmup):
            for name in names:
                fns[name]()
        for r in range(repeats):
            order = names if r % 2 == 0 else names[::-1]
            for name in order:
                samples[name].append(_one_sample(fns[name], number))
    ref_samples = np.asarray(samples[ref])
    out: dict[str, ComparedTiming] = {}
    for name in names:
        if name == ref:
            ratio = 1.0
        else:
            per_round = np.asarray(samples[name]) / np.maximum(ref_samples, np.finfo(np.float64).tiny)
            ratio = float(np.median(per_round))
        out[name] = ComparedTiming(stats=TimingStats.from_samples(samples[name]), ratio=ratio, reference=ref)
    return out


def _safe_ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.inf


def estimate_repeats(
    seconds_per_call: float, budget_s: float, min_repeats: int = 5, max_repeats: int = 1000
) -> int:
    """How many single-call repeats fit in ``budget_s`` seconds, clamped to ``[min_repeats, max_repeats]``.

    Args:
        seconds_per_call: a rough per-call time (s), e.g. from warm-up calls.
        budget_s: time budget for the timed phase (s).
        min_repeats: floor (statistics need a few samples even for slow work).
        max_repeats: ceiling (fast work does not need thousands of samples).
    """
    if min_repeats < 1 or max_repeats < min_repeats:
        raise LeanECGError(
            "min_repeats", f"need 1 <= min_repeats <= max_repeats, got {min_repeats}, {max_repeats}"
        )
    if not math.isfinite(seconds_per_call) or seconds_per_call <= 0:
        return max_repeats
    fits = math.floor(budget_s / seconds_per_call * (1 + 1e-9))
    return int(min(max_repeats, max(min_repeats, fits)))
