"""Does the shape of the record's median beat help cinc2017's LightGBM? A screen by cross-validation.

The top CinC 2017 entries fed their classifiers the shape of each record's average beat (e.g. the ENCASE
"centre wave"); record features version 2 hold only summaries of it (QRS width, R/Q/S/T/P amplitudes,
template correlations). This screen appends candidate median-beat columns to the shipped recipe's
features and scores the ``lightgbm`` row of ``leanecg bench cinc2017 --cv 5`` (:func:`leanecg.bench.runner.
cross_validate`: the same folds, inner early stopping and LightGBM recipe) with and without them.

Median beat: R peaks by :func:`leanecg.signal.detect_rpeaks` on the preprocessed record (300 Hz), the
0.5-40 Hz band-passed signal (:func:`leanecg.features.morphology.band_passed`) cut 0.25 s before to 0.55 s
after each R peak, each window minus the median of its first 100 ms, the median over beats, divided by
its largest absolute value within 60 ms of R. Column groups:

* ``coarse``: the median beat every 40 ms (20 values);
* ``shape``: ST level (R+80..120 ms minus R-120..60 ms), signed T extreme and its latency (R+150..450 ms),
  QRS polarity, median and 90th percentile of the beats' RMS distance to the median beat, correlation
  of the median beats of the record's two halves, RMS of the P region (8 values);
* ``fine``: the QRS every 5 ms from 60 ms before to 90 ms after R (30 values);
* ``ect``: ectopy (beats far from the median beat, RMS > 0.35; premature beats, RR < 0.85 x median):
  their shares, and the shape of the ectopic beats' median beat (14 values).

Two stages, set before running: the variants are compared on CV seeds 0 and 1 (the shipped ensemble's
boosters' seeds); the one with the highest mean CV F1 is then rerun on fresh seeds 2, 3 and 4, and would be
adopted only if the paired gain of its seed-averaged out-of-fold probabilities over the shipped recipe's
(bootstrap over records, 95 %) lies above 0 there. Training data only (train + val): no test record is
read or scored.

    .venv/bin/python benchmarks/cinc2017_median_beat_screen.py --data-dir ../shared/data

Writes ``cinc2017_median_beat_screen.{json,md}`` into ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

import numpy as np

from cv_screen import run_screen, screen_inputs
from leanecg.features.morphology import band_passed
from leanecg.signal.rpeaks import detect_rpeaks
from leanecg.tasks.base import TaskData
from leanecg.train.datasets import ArraySplit

BEFORE_S, AFTER_S = 0.25, 0.55
GROUPS = {"coarse": 20, "shape": 8, "fine": 30, "ect": 14}
VARIANTS = {
    "coarse + shape": ("coarse", "shape"),
    "coarse + shape + ectopy": ("coarse", "shape", "ect"),
    "coarse + shape + fine QRS": ("coarse", "shape", "fine"),
    "all four groups": ("coarse", "shape", "fine", "ect"),
}


def _at(fs: float, seconds: float) -> int:
    return int(seconds * fs)


def _grid(fs: float, start_s: float, step_s: float, n: int) -> np.ndarray:
    """``n`` sample offsets from ``start_s`` every ``step_s`` seconds (rounded to samples)."""
    return np.round((start_s + step_s * np.arange(n)) * fs).astype(np.int64)


def median_beat_columns(x: np.ndarray, fs: float) -> dict[str, np.ndarray]:
    """The candidate columns of one preprocessed single-lead record ``(n_samples,)`` or ``(1, n_samples)``
    at ``fs`` Hz: one float64 array per group of :data:`GROUPS` (NaN where undefined: records shorter
    than 5 s or with fewer than 5 complete beats, ectopic shapes with fewer than 2 ectopic beats)."""
    sig = np.asarray(x, dtype=np.float64).reshape(-1)
    out = {g: np.full(n, np.nan) for g, n in GROUPS.items()}
    if sig.size < 5 * fs:
        return out
    peaks = detect_rpeaks(sig, fs)
    bp = band_passed(sig, fs)
    b, a = _at(fs, BEFORE_S), _at(fs, AFTER_S)
    pre_rr = np.r_[np.nan, np.diff(peaks) / fs]
    whole = (peaks - b >= 0) & (peaks + a < bp.size)
    peaks, pre_rr = peaks[whole], pre_rr[whole]
    if peaks.size < 5:
        return out
    beats = np.stack([bp[i - b : i + a] for i in peaks])
    beats -= np.median(beats[:, : _at(fs, 0.1)], axis=1, keepdims=True)
    median = np.median(beats, axis=0)
    scale = np.max(np.abs(median[b - _at(fs, 0.06) : b + _at(fs, 0.06)])) + 1e-9
    tpl = median / scale
    out["coarse"][:] = tpl[b + _grid(fs, -BEFORE_S, 0.04, 20)]
    pr = tpl[b - _at(fs, 0.12) : b - _at(fs, 0.06)].mean()
    st = tpl[b + _at(fs, 0.08) : b + _at(fs, 0.12)].mean()
    t_win = tpl[b + _at(fs, 0.15) : b + _at(fs, 0.45)]
    k = int(np.argmax(np.abs(t_win)))
    rms = np.sqrt(np.mean((beats / scale - tpl) ** 2, axis=1))
    half = len(beats) // 2
    halves = (
        np.corrcoef(np.median(beats[:half], 0), np.median(beats[half:], 0))[0, 1] if half >= 3 else np.nan
    )
    out["shape"][:] = [
        st - pr,
        t_win[k],
        k / fs + 0.15,
        1.0 if median[b] >= 0 else -1.0,
        np.median(rms),
        np.percentile(rms, 90),
        halves,
        np.sqrt(np.mean(tpl[: b - _at(fs, 0.08)] ** 2)),
    ]
    out["fine"][:] = tpl[b + _grid(fs, -0.06, 0.005, 30)]
    ectopic = rms > 0.35
    premature = pre_rr < 0.85 * np.nanmedian(pre_rr)
    ect = out["ect"]
    ect[:4] = [ectopic.mean(), premature.mean(), (ectopic & premature).mean(), (~ectopic & premature).mean()]
    if ectopic.sum() >= 2:
        shape = np.median(beats[ectopic], axis=0) / scale
        ect[4] = np.corrcoef(shape, tpl)[0, 1]
        ect[5] = np.max(np.abs(shape[b - _at(fs, 0.06) : b + _at(fs, 0.06)]))
        ect[6:] = shape[b + _grid(fs, -0.1, 0.05, 8)]
    return out


def _columns(rows: Sequence[dict[str, np.ndarray]], groups: Sequence[str]) -> np.ndarray:
    return np.stack([np.concatenate([r[g] for g in groups]) for r in rows])


def _with_columns(split: ArraySplit, cols: np.ndarray) -> ArraySplit:
    return ArraySplit(
        X=split.X,
        y=split.y,
        features=np.concatenate([split.features, cols], axis=1),
        groups=split.groups,
        name=split.name,
    )


def augmented(
    data: TaskData, rows: dict[str, list[dict[str, np.ndarray]]], groups: Sequence[str]
) -> TaskData:
    """``data`` with the groups' columns appended to train and val (NaN -> the training median, as the
    task's feature configuration imputes; the split checks refuse NaN)."""
    tr, va = _columns(rows["train"], groups), _columns(rows["val"], groups)
    med = np.nan_to_num(np.nanmedian(tr, axis=0))
    tr, va = np.where(np.isnan(tr), med, tr), np.where(np.isnan(va), med, va)
    return replace(data, train=_with_columns(data.train, tr), val=_with_columns(data.val, va))


def median_beat_rows(data: TaskData) -> dict[str, list[dict[str, np.ndarray]]]:
    """:func:`median_beat_columns` of every train and val record (two processes): split -> one dict per
    record."""
    with ProcessPoolExecutor(2) as pool:
        return {
            k: list(pool.map(median_beat_columns, split.X, [data.fs] * len(split), chunksize=64))
            for k, split in (("train", data.train), ("val", data.val))
        }


def main(argv: Sequence[str] | None = None) -> int:
    args, task, data = screen_inputs(__doc__.splitlines()[0], argv)
    rows = median_beat_rows(data)
    variants = {name: (task, augmented(data, rows, groups)) for name, groups in VARIANTS.items()}
    run_screen(
        (task, data),
        "shipped recipe (features version 2)",
        variants,
        out=args.out,
        stem="cinc2017_median_beat_screen",
        title="cinc2017: median-beat shape columns for the LightGBM recipe (a CV screen)",
        intro="Pooled out-of-fold F1(N,A,O) of the `lightgbm` row of `leanecg bench cinc2017 --cv 5` (train + "
        "val; the shipped recipe) with candidate median-beat columns appended (groups in the script's docstring).",
        command="python benchmarks/cinc2017_median_beat_screen.py",
        extra={"groups": GROUPS, "variants": {k: list(v) for k, v in VARIANTS.items()}},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
