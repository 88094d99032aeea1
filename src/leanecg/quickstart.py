"""``leanecg quickstart``: a first look at LeanECG that runs offline in well under a minute.

It reads example ECGs -- whole real MIT-BIH (DS2) and CinC 2017 test records when the data folder has them
(``--data-dir`` / ``$LEANECG_DATA``), otherwise the short real excerpts shipped in ``leanecg/examples/``
(:data:`EXAMPLES_DIR`: 30 s of three MIT-BIH records with their beat annotations, four CinC 2017 records
with their rhythm labels; ODC-By 1.0, see its README), and synthetic ECGs with known beats
(:mod:`leanecg.data.synthetic`) only if those are missing -- checks their signal quality, detects every R peak, scores the
detections against the reference beats (150 ms window, as EC57), measures the detector's speed as a
real-time factor, and runs the shipped models (:mod:`leanecg.package.shipped`) on them: every heartbeat
classified N/S/V/F, every record N/A/O/~, next to the models' accuracy x cost card.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.data.record import Annotation, Record

#: MIT-BIH records shown when the data is present, all from the held-out test set DS2 (never trained on):
#: clean sinus, frequent PVCs, a noisy one, frequent atrial premature beats.
MITDB_EXAMPLES = ("100", "233", "105", "232")
#: The real example ECGs shipped with LeanECG (``benchmarks/make_examples.py`` writes them; README.md there).
EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"


def example_path(name: str) -> Path:
    """The path of a shipped example record, e.g. ``example_path("mitdb/233")`` (30 s of MIT-BIH record 233
    with its beat annotations) or ``example_path("cinc2017/A00405")`` (a CinC 2017 AF record); pass it to
    :func:`leanecg.data.load_record` or any command; :func:`shipped_examples` lists them.

    Raises:
        LeanECGError: no shipped example of that name (the message lists those that exist).
    """
    from leanecg.errors import LeanECGError

    path = EXAMPLES_DIR / name
    if path.with_suffix(".hea").is_file():
        return path
    have = ", ".join(shipped_examples()) or "none (this installation ships no examples)"
    raise LeanECGError(name, f"no shipped example of that name; shipped: {have}")


def shipped_examples(examples_dir: Path | None = None) -> list[str]:
    """Names of the shipped example records (``"mitdb/100"``, ``"cinc2017/A00001"``, ...), sorted."""
    root = EXAMPLES_DIR if examples_dir is None else examples_dir
    if not root.is_dir():
        return []
    return sorted(f"{h.parent.name}/{h.stem}" for h in root.glob("*/*.hea"))


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


def example_records(
    data_dir: Path | None, examples_dir: Path | None = EXAMPLES_DIR
) -> Iterator[tuple[Record, str]]:
    """Whole real MIT-BIH records if ``data_dir`` holds ``mitdb``, else the shipped 30 s MIT-BIH excerpts
    (in ``examples_dir``), else three synthetic rhythms."""
    from leanecg.data import get_dataset, load_record
    from leanecg.data.synthetic import synthetic_ecg

    mitdb = get_dataset("mitdb")
    if data_dir is not None and mitdb.is_present(data_dir):
        folder = mitdb.path(data_dir)
        for name in MITDB_EXAMPLES:
            yield load_record(folder / name), "MIT-BIH (real)"
        return
    if examples_dir is not None:
        excerpts = [n for n in shipped_examples(examples_dir) if n.startswith("mitdb/")]
        for name in excerpts:
            yield load_record(examples_dir / name), "MIT-BIH 30 s excerpt (real)"
        if excerpts:
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


# -- shipped models on example ECGs ------------------------------------------------------------------

#: Test-split CinC 2017 records shown per class when the data is present (held out from training).
RHYTHM_EXAMPLES_PER_CLASS = 2


@dataclass
class BeatExample:
    """A beat model's output on one example record.

    Attributes:
        counts: predicted beats per class (every class of the model, in its order).
        reference: reference beats per AAMI class (``None`` without annotations).
        agreement: fraction of reference-matched beats (150 ms) whose predicted class equals the
            reference AAMI class (Q beats excluded); ``None`` without annotations.
    """

    name: str
    source: str
    counts: dict[str, int]
    reference: dict[str, int] | None
    agreement: float | None
    #: the model's beats (``samples``, ``labels``, ``probs``), for the report's ECG strips
    pred: Any = field(default=None, repr=False)


@dataclass
class RhythmExample:
    """A record model's output on one example record."""

    name: str
    source: str
    duration_s: float
    label: str
    probability: float
    reference: str | None
    #: the record classified, for the report's ECG strips
    record: Record | None = field(default=None, repr=False)


def classify_beats(package: Any, record: Record, source: str) -> BeatExample:
    """Run a beat package on ``record``; compare with its reference beats when it has annotations."""
    from leanecg.data.mitdb import aami_class
    from leanecg.evaluate.beat_matching import match_beats

    pred = package.predict_beats(record)
    counts = {c: 0 for c in package.class_names}
    for label in pred.labels:
        counts[label] += 1
    reference = agreement = None
    if record.annotation is not None:
        classes = [aami_class(s) for s in record.annotation.symbol]
        keep = np.array([c is not None and c in counts for c in classes], dtype=bool)
        ref_samples = np.asarray(record.annotation.sample)[keep]
        ref_classes = [c for c, k in zip(classes, keep, strict=True) if k]
        reference = {c: ref_classes.count(c) for c in package.class_names}
        m = match_beats(ref_samples, pred.samples, tolerance=round(0.150 * record.fs))
        if m.tp:
            same = sum(
                ref_classes[i] == pred.labels[j] for i, j in zip(m.tp_ref_idx, m.tp_test_idx, strict=True)
            )
            agreement = same / m.tp
    return BeatExample(record.name, source, counts, reference, agreement, pred)


def rhythm_examples(
    data_dir: Path | None, examples_dir: Path | None = EXAMPLES_DIR
) -> Iterator[tuple[Record, str, str | None]]:
    """``(record, source, reference label)``: held-out CinC 2017 test records (``RHYTHM_EXAMPLES_PER_CLASS``
    per class) when ``data_dir`` holds ``cinc2017``, else the shipped CinC 2017 examples (in
    ``examples_dir``, one per class, labels from their ``REFERENCE.csv``), else 30 s synthetic sinus / AF /
    PVC rhythms at 300 Hz."""
    from leanecg.data import get_dataset, load_record
    from leanecg.data.synthetic import synthetic_ecg

    ds = get_dataset("cinc2017")
    if data_dir is not None and ds.is_present(data_dir):
        labels = ds.labels(data_dir)
        taken: dict[str, int] = {}
        for rec in ds.split(data_dir)["test"]:
            label = labels[rec][0]
            if taken.get(label, 0) < RHYTHM_EXAMPLES_PER_CLASS:
                taken[label] = taken.get(label, 0) + 1
                yield (
                    load_record(ds.record_path(data_dir, rec), annotations=False),
                    "CinC 2017 test (real)",
                    label,
                )
        return
    folder = None if examples_dir is None else examples_dir / "cinc2017"
    if folder is not None and (folder / "REFERENCE.csv").is_file():
        for line in (folder / "REFERENCE.csv").read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec, label = (v.strip() for v in line.split(",")[:2])
                yield load_record(folder / rec, annotations=False), "CinC 2017 example (real)", label
        return
    reference = {"sinus": "N", "af": "A", "pvc": None}
    for i, rhythm in enumerate(("sinus", "af", "pvc")):
        syn = synthetic_ecg(duration_s=30.0, fs=300.0, rhythm=rhythm, seed=10 + i)
        record = Record(name=f"synthetic-{rhythm}", signal=syn.signal, fs=syn.fs, leads=["I"])
        yield record, "synthetic", reference[rhythm]


def classify_rhythms(package: Any, examples: Iterator[tuple[Record, str, str | None]]) -> list[RhythmExample]:
    """Run a record package on the example records (one batch)."""
    items = list(examples)
    if not items:
        return []
    probs = package.predict_records([r for r, _, _ in items])
    labels = package.labels_of(probs)
    return [
        RhythmExample(r.name, source, r.duration_s, label, float(np.max(p)), ref, r)
        for (r, source, ref), label, p in zip(items, labels, probs, strict=True)
    ]


def shipped_results(packages: Any) -> list[dict[str, Any]]:
    """Result documents (``docs/results_schema.md``) of shipped packages, rebuilt from their metadata, so
    :func:`leanecg.evaluate.report.write_report` can draw their table, confusion matrices and Pareto plots."""
    from leanecg.evaluate.results import make_result

    out = []
    for pkg in packages:
        meta = pkg.meta
        out.append(
            make_result(
                task=meta["task"]["name"],
                model=str(meta.get("model_name") or pkg.name),
                primary_metric=meta["task"]["primary_metric"],
                metrics=meta["metrics"],
                cost=meta.get("cost", {}),
                data=meta.get("data", {}),
                provenance=meta.get("provenance", {}),
                family=meta.get("family"),
                per_class=meta.get("per_class"),
                confusion=meta.get("confusion"),
                notes=[f"shipped model package {pkg.name}"],
            )
        )
    return out


# -- ECG strips of the HTML report ----------------------------------------------------------------

#: Seconds of signal in each strip of the quickstart report.
STRIP_SECONDS = 10.0


def report_strips(
    beat_rows: list[tuple[str, BeatExample, Record]], rhythm_rows: list[tuple[str, RhythmExample]]
) -> str:
    """HTML of the report's ECG strips (:func:`leanecg.evaluate.ecg_svg.ecg_strip_svg`): the first
    :data:`STRIP_SECONDS` of each example record with its detected beats labelled by the beat model, and of
    each rhythm example with the rhythm model's prediction."""
    import html

    from leanecg.evaluate.ecg_svg import CLASS_COLOURS, ecg_strip_svg

    parts = ["<h2>ECG strips</h2>"]
    legend = " ".join(
        f"<span style='color:{c};font-weight:bold'>&#9679; {html.escape(k)}</span>"
        for k, c in CLASS_COLOURS.items()
        if k in "NSVFQ"
    )
    if beat_rows:
        parts.append(
            f"<p>First {STRIP_SECONDS:g} s of each example, lead 1, 25 mm/s, 10 mm/mV; detected R peaks "
            f"labelled with the beat model's class: {legend}</p>"
        )
    for model, b, record in beat_rows:
        pred = b.pred
        title = f"{record.name} ({b.source}) - beats by {model}"
        parts.append(
            "<div class='strip'>"
            + ecg_strip_svg(
                record.signal[:, 0],
                record.fs,
                seconds=STRIP_SECONDS,
                peaks=None if pred is None else pred.samples,
                labels=None if pred is None else pred.labels,
                title=title,
                lead=str(record.leads[0]),
            )
            + "</div>"
        )
    if rhythm_rows:
        parts.append(
            f"<p>First {STRIP_SECONDS:g} s of each rhythm example with the record model's prediction.</p>"
        )
    for model, r in rhythm_rows:
        if r.record is None:
            continue
        ref = f", reference {r.reference}" if r.reference else ""
        title = f"{r.name} ({r.source}) - rhythm by {model}: {r.label} (p = {r.probability:.2f}){ref}"
        parts.append(
            "<div class='strip'>"
            + ecg_strip_svg(
                r.record.signal[:, 0],
                r.record.fs,
                seconds=STRIP_SECONDS,
                title=title,
                lead=str(r.record.leads[0]),
            )
            + "</div>"
        )
    return "\n".join(parts)


# -- the whole quickstart run ------------------------------------------------------------------------

#: What to try after the quickstart (printed at its end).
NEXT_STEPS = (
    "Next:\n"
    "  leanecg predict RECORDS... --model cinc2017 --out preds.csv   rhythm of each record (N/A/O/~)\n"
    "  leanecg beats RECORD --model mitdb-aami --out beats.csv       class of every heartbeat (N/S/V/F)\n"
    "  leanecg models                                                the shipped models, accuracy and cost\n"
    "  leanecg info PATH                                             what a record, folder or dataset holds\n"
    "  leanecg bench cinc2017 --data-dir DIR                          benchmark the model zoo on real data\n"
    "  leanecg bench mitdb-aami --models beatnet --save-models DIR    train your own model package\n"
    "  leanecg data fetch mitdb                                      download a PhysioNet dataset (internet)"
)


@dataclass
class QuickstartRun:
    """Everything :func:`run_quickstart` found, for the tables and the HTML report.

    Attributes:
        detections: R-peak detection on each example record, in order.
        sources: the data sources the examples came from (``"MIT-BIH (real)"``, ...).
        beat_rows: ``(model name, beat result)`` per beat model and example record.
        strip_rows: ``(model name, beat result, record)``, the same rows with their records (ECG strips).
        rhythm_rows: ``(model name, rhythm result)`` per record model and rhythm example.
    """

    detections: list[ExampleResult] = field(default_factory=list)
    sources: set[str] = field(default_factory=set)
    beat_rows: list[tuple[str, BeatExample]] = field(default_factory=list)
    strip_rows: list[tuple[str, BeatExample, Record]] = field(default_factory=list)
    rhythm_rows: list[tuple[str, RhythmExample]] = field(default_factory=list)


def quickstart_data_dir(data_dir: Path | None) -> Path | None:
    """The data folder of the quickstart: ``data_dir`` (refused when it does not exist), else
    ``$LEANECG_DATA`` / the user cache when there is one, else ``None`` (the shipped examples only)."""
    from leanecg.data import resolve_data_dir
    from leanecg.errors import LeanECGError

    try:
        return resolve_data_dir(data_dir)
    except LeanECGError:
        if data_dir is not None:
            raise
        return None


def run_quickstart(root: Path | None, packages: list[Any], step: Any = lambda: None) -> QuickstartRun:
    """Run the quickstart: R peaks on each example record (:func:`example_records`, :func:`analyse`), the
    beat packages among ``packages`` on each of them (:func:`classify_beats`) and the record packages on
    the rhythm examples (:func:`classify_rhythms`). ``step()`` is called after each record and each record
    package (progress)."""
    run = QuickstartRun()
    beat_pkgs = [p for p in packages if p.kind == "beats"]
    record_pkgs = [p for p in packages if p.kind == "records"]
    for record, source in example_records(root):
        r = analyse(record, source)
        run.detections.append(r)
        run.sources.add(r.source)
        for pkg in beat_pkgs:
            b = classify_beats(pkg, record, source)
            run.beat_rows.append((pkg.name, b))
            run.strip_rows.append((pkg.name, b, record))
        step()
    for pkg in record_pkgs:
        run.rhythm_rows += [(pkg.name, r) for r in classify_rhythms(pkg, rhythm_examples(root))]
        step()
    return run


def detection_caption(sources: set[str], root: Path | None) -> str:
    """The caption of the R-peak table: the data sources, where whole records come from, the examples'
    licence, and how Se / +P are counted."""
    caption = f"data: {', '.join(sorted(sources))}"
    if root is None or "MIT-BIH (real)" not in sources:
        caption += " (set LEANECG_DATA or --data-dir to a folder holding mitdb/ for whole real records)"
    if any("excerpt" in s or "example" in s for s in sources):
        caption += (
            "\nExamples: MIT-BIH Arrhythmia DB and CinC 2017 (PhysioNet), ODC-By 1.0; "
            "attribution in leanecg/examples/README.md."
        )
    return (
        caption + "\nSe / +P: detected beats matched to the reference beats within 150 ms (ANSI/AAMI EC57)."
    )


def write_model_reports(packages: list[Any], out: Path) -> list[Path]:
    """The HTML report of each package's shipped results (:func:`shipped_results`) in ``out/<task>/``;
    none without matplotlib (the training extra draws the plots). Returns the HTML files."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        return []
    from leanecg.evaluate.report import write_report

    reports = []
    for result in shipped_results(packages):
        files = write_report([result], out / result["task"], title=f"LeanECG shipped model: {result['task']}")
        reports.append(files["html"])
    return reports


def write_quickstart_page(
    page: str, out: Path, run: QuickstartRun, reports: list[Path], has_packages: bool
) -> Path:
    """Write ``out/report.html`` atomically: ``page`` (the tables as HTML) with the ECG strips
    (:func:`report_strips`) and links to the model ``reports`` appended (or, with packages but no reports,
    how to get them). Returns the file."""
    from leanecg.atomic import atomic_open

    links = "".join(
        f"<li><a href='{p.relative_to(out).as_posix()}'>{p.parent.name}</a></li>" for p in reports
    )
    extra = report_strips(run.strip_rows, run.rhythm_rows)
    if links:
        extra += f"<h2>Model reports</h2><ul>{links}</ul>"
    elif has_packages:
        extra += (
            "<p>Model reports with plots (confusion matrices, curves, Pareto plots) need the training extra: "
            '<code>pip install "leanecg[train]"</code>.</p>'
        )
    page = page.replace("</body>", f"<div style='font-family:sans-serif'>{extra}</div></body>")
    out.mkdir(parents=True, exist_ok=True)
    with atomic_open(out / "report.html") as fh:
        fh.write(page)
    return out / "report.html"
