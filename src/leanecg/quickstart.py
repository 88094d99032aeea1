"""``leanecg quickstart``: a first look at LeanECG that runs offline in well under a minute.

It reads example ECGs -- real MIT-BIH records when the data folder has them (``--data-dir`` /
``$LEANECG_DATA``), otherwise synthetic ECGs with known beats (:mod:`leanecg.data.synthetic`) --
checks their signal quality, detects every R peak, scores the detections against the reference beats
(150 ms window, as EC57) and measures the detector's speed as a real-time factor.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from leanecg.data.record import Annotation, Record

#: MIT-BIH records shown when the data is present: clean sinus, frequent PVCs, a noisy one, AF/flutter.
MITDB_EXAMPLES = ("100", "119", "105", "203")


@dataclass
class ExampleResult:
    """What the quickstart found in one example record."""

    name: str
    source: str
    fs: float
    duration_s: float
    leads: str
    usable_leads: str
    beats_detected: int
    heart_rate_bpm: float
    sensitivity: float | None
    ppv: float | None
    real_time_factor: float


def example_records(data_dir: Path | None) -> Iterator[tuple[Record, str]]:
    """Real MIT-BIH examples if ``data_dir`` holds ``mitdb``, else three synthetic rhythms."""
    from leanecg.data import get_dataset, load_record
    from leanecg.data.synthetic import synthetic_ecg

    mitdb = get_dataset("mitdb")
    if data_dir is not None and mitdb.is_present(data_dir):
        folder = mitdb.path(data_dir)
        for name in MITDB_EXAMPLES:
            yield load_record(folder / name), "MIT-BIH (real)"
        return
    for i, rhythm in enumerate(("sinus", "pvc", "af")):
        syn = synthetic_ecg(duration_s=60.0, fs=360.0, rhythm=rhythm, seed=i)
        ann = Annotation(sample=syn.r_peaks, symbol=syn.beat_labels)
        yield (
            Record(name=f"synthetic-{rhythm}", signal=syn.signal, fs=syn.fs, leads=["II"], annotation=ann),
            ("synthetic"),
        )


def analyse(record: Record, source: str) -> ExampleResult:
    """Quality, R peaks, detection accuracy against the reference beats, and speed of one record."""
    from leanecg.evaluate.beat_matching import match_beats, reference_beats
    from leanecg.signal import detect_rpeaks, signal_quality

    quality = signal_quality(record.signal, record.fs, leads=record.leads)
    x = np.asarray(record.signal[:, 0], dtype=np.float64)
    t0 = time.perf_counter()
    peaks = detect_rpeaks(x, record.fs)
    seconds = time.perf_counter() - t0
    se = ppv = None
    if record.annotation is not None:
        ref = reference_beats(record.annotation.sample, record.annotation.symbol)
        m = match_beats(ref, peaks, tolerance=round(0.150 * record.fs))
        se, ppv = m.sensitivity, m.ppv
    rr = np.diff(peaks) / record.fs
    return ExampleResult(
        name=record.name,
        source=source,
        fs=record.fs,
        duration_s=record.duration_s,
        leads=", ".join(record.leads),
        usable_leads=", ".join(lead for lead, ok in zip(quality.leads, quality.usable, strict=True) if ok)
        or "none",
        beats_detected=int(peaks.size),
        heart_rate_bpm=float(60.0 / np.median(rr)) if rr.size else float("nan"),
        sensitivity=se,
        ppv=ppv,
        real_time_factor=record.duration_s / max(seconds, 1e-9),
    )
