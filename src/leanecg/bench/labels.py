"""``leanecg bench labels``: label-efficiency curves -- scratch vs SimCLR vs CLOCS -- on ``cinc2017`` records
and on ``mitdb-aami`` beats.

Protocol, cinc2017 (every choice is recorded in ``labels.json``):

* Data: the ``cinc2017`` bench task (seeded class-stratified 70/15/15 record split, 150 Hz, z-scored).
  Pretraining uses the records of the *training* split without their labels; fine-tuning uses a
  labelled fraction of them; F1 (mean of N, A, O, the CinC 2017 score) is measured on the test split.
* Label subsets: for each seed, the training records of each class are put in a seeded random order and
  a fraction ``f`` keeps the first ``max(1, round(f * n_class))`` of every class, so the subsets are
  stratified and **nested** (1 % is inside 5 % is inside 10 % ...).
* Pretraining: once per (method, seed), on all training records, with :func:`leanecg.ssl.pretrain`;
  every fraction of that seed fine-tunes a copy of that encoder.
* Fine-tuning: the whole network (encoder + new head), class-balanced cross-entropy, AdamW with a
  one-cycle schedule, random crops, and a fixed step budget that depends only on the number of labelled
  records (no validation split is used: with 1 % of the labels a realistic user has no 450-record
  labelled validation set, so no method gets model selection on one). Scratch and pretrained runs of a
  seed start from the same head initialisation and see the same batches.

Protocol, mitdb-aami (every choice is recorded in ``labels_mitdb-aami.json``):

* Data: the ``mitdb-aami`` bench task's beats and inputs (lead MLII, 0.5-40 Hz band-pass, 180 Hz; a
  126-sample window from 0.25 s before to 0.45 s after each reference R peak, plus the task's 13 causal
  beat features -- RR intervals, RR ratios, similarity to the running template -- which need no labels
  and are model inputs as in the task; Q beats excluded). The labelled pool is every beat of the 22 DS1
  records (51,013 beats; the task's 8 early-stopping records are part of it, since no validation is used
  here). The test set is every beat of the 22 DS2 records (49,705 beats), scored with the task's own
  evaluation: SVEB and VEB sensitivity (Se), positive predictivity (+P) and F1, and the primary score
  ``f1`` = the task's primary metric ``sveb_veb_f1``, the mean of the S and V F1 (0-1 scale; CIs by
  bootstrap over DS2 records).
* Label subsets: nested, stratified subsets of the DS1 beats, drawn as for cinc2017 (every class keeps
  at least one beat; seeded per seed).
* Pretraining: once per (method, seed), on DS1 signal only and without labels or beat positions (no DS2
  sample is ever read): every DS1 record, band-passed and resampled like the task (no normalisation), is
  cut into non-overlapping ``chunk_s`` chunks that carry their record id (= patient id) as ``groups``;
  views are ``segment_s`` windows (0.7 s = 126 samples, the beat-window length), so the encoder is
  exactly the ``beatnet`` backbone (with its per-window normalisation) that is then fine-tuned. SimCLR:
  two augmented copies of one random window (the library's default ECG augmentations); CMSC: two
  adjacent windows of a chunk (neighbouring beats), with every view of the same record a positive; CMLC:
  one window seen in MLII and in the record's second lead (V1, V2, V4 or V5), one lead per view, so the
  encoder stays single-lead.
* Fine-tuning: the whole model (pretrained backbone + a new head that also takes the beat features), the
  task's plain recipe without early stopping: class-balanced cross-entropy, AdamW with a one-cycle
  schedule, batch 256, lr 3e-3, and a fixed step budget that depends only on the number of labelled
  beats (no validation-based model selection). Scratch and pretrained runs of a seed start from the same
  head initialisation and see the same batches. The step budget and pretraining length were set from
  timings on the measuring machine (a run budget) before any DS2 score was seen, and are the same for
  every method.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from leanecg.bench.study import comparable_run, finite_mean, sha256_lines, torch_threads
from leanecg.errors import LeanECGError
from leanecg.tasks.cinc2017 import Cinc2017Arrays, load_cinc2017  # noqa: F401  (public here before the move)

FRACTIONS: tuple[float, ...] = (0.01, 0.05, 0.10, 0.25, 1.0)
FS_MODEL = 150.0  # Hz: the studies' input rate (short, cheap inputs for a 2-core CPU budget)
METHODS: tuple[str, ...] = ("scratch", "simclr", "cmsc")
PRETRAINED = {"simclr": "simclr", "cmsc": "cmsc", "cmlc": "cmlc", "cmsmlc": "cmsmlc"}
#: The tasks ``leanecg bench labels`` runs on (``--labels-task``).
LABELS_TASKS: tuple[str, ...] = ("cinc2017", "mitdb-aami")
#: MIT-BIH records of the mitdb-aami ``tiny`` smoke run: DS1 pool 208 + 209 (N, S, V, F), DS2 test 233.
MITDB_TINY_RECORDS: dict[str, list[str]] = {"train": ["208"], "val": ["209"], "test": ["233"]}


@dataclass
class LabelsConfig:
    """The label-efficiency study's settings on ``cinc2017`` (defaults: the committed run).

    Attributes:
        model: zoo model name (a convolutional model with ``backbone`` / ``embed``).
        width: its channel multiplier.
        fractions: labelled fractions of the training split, each in ``(0, 1]``.
        methods: ``scratch`` and any of :attr:`pretrain_methods` (single-lead cinc2017: ``simclr``,
            ``cmsc``; it has no CMLC views).
        seeds: one label subset, pretraining and fine-tuning per seed.
        crop_s: fine-tuning crop length in seconds (``None``: whole inputs, e.g. beat windows).
        batch_size: fine-tuning batch size.
        lr: fine-tuning peak learning rate (one-cycle).
        min_steps, min_epochs, max_epochs: fine-tuning length: ``clip(ceil(min_steps / steps_per_epoch),
            min_epochs, max_epochs)`` epochs.
        pretrain_epochs, pretrain_batch_size, pretrain_lr, segment_s, temperature: pretraining settings.
        num_threads: torch threads.
        n_boot: bootstrap resamples for the test CIs.
        max_train_seconds: optional budget per fine-tuning run.
    """

    task: ClassVar[str] = "cinc2017"
    pretrain_methods: ClassVar[tuple[str, ...]] = ("simclr", "cmsc")

    model: str = "litenet"
    width: float = 1.0
    fractions: tuple[float, ...] = FRACTIONS
    methods: tuple[str, ...] = METHODS
    seeds: tuple[int, ...] = (0, 1, 2)
    crop_s: float | None = 10.0
    batch_size: int = 32
    lr: float = 3e-3
    min_steps: int = 200
    min_epochs: int = 15
    max_epochs: int = 200
    pretrain_epochs: int = 20
    pretrain_batch_size: int = 64
    pretrain_lr: float = 3e-3
    segment_s: float = 5.0
    temperature: float = 0.1
    num_threads: int | None = 1
    n_boot: int = 1000
    max_train_seconds: float | None = None

    def validate(self) -> None:
        if not self.fractions or any(not (0 < float(f) <= 1) for f in self.fractions):
            raise LeanECGError("fractions", f"label fractions must lie in (0, 1], got {list(self.fractions)}")
        bad = [m for m in self.methods if m != "scratch" and m not in self.pretrain_methods]
        if bad or not self.methods:
            raise LeanECGError(
                "methods",
                f"unknown or unsupported method(s) {bad}; {self.task} supports "
                f"{', '.join(('scratch', *self.pretrain_methods))}",
            )
        if not self.seeds:
            raise LeanECGError("seeds", "give at least one seed")

    def pretrain_options(self) -> dict[str, Any]:
        """Extra :class:`~leanecg.ssl.pretrain.PretrainConfig` fields of the task (none for cinc2017)."""
        return {}


@dataclass
class MitdbLabelsConfig(LabelsConfig):
    """The label-efficiency study's settings on ``mitdb-aami`` beats (defaults: the committed run).

    Fields as in :class:`LabelsConfig`; beat windows are never cropped (``crop_s`` is ``None``). Fine-tuning
    length: 8 epochs (1,600 steps) at 100 % of the DS1 beats -- about the 1,512 steps at which the shipped
    ``beatnet`` run stopped early on its DS1 validation records -- and at least 600 steps (at most 300
    epochs) below; pretraining 30 epochs of 128 chunks (about 900 steps). Chosen from that DS1-only run
    and from timings (the whole 3-seed study in about an hour on 1 thread), before any DS2 score was seen.
    Extra:

    Attributes:
        chunk_s: pretraining records are the DS1 signals cut into non-overlapping chunks of this many
            seconds (one view set per chunk and epoch).
        n_view_leads: leads per CMLC instance (MIT-BIH has 2).
    """

    task: ClassVar[str] = "mitdb-aami"
    pretrain_methods: ClassVar[tuple[str, ...]] = ("simclr", "cmsc", "cmlc")

    model: str = "beatnet"
    methods: tuple[str, ...] = ("scratch", "simclr", "cmsc", "cmlc")
    crop_s: float | None = None
    batch_size: int = 256
    min_steps: int = 600
    min_epochs: int = 8
    max_epochs: int = 300
    pretrain_epochs: int = 30
    pretrain_batch_size: int = 128
    segment_s: float = 0.7
    chunk_s: float = 10.0
    n_view_leads: int = 2

    def validate(self) -> None:
        super().validate()
        if not self.chunk_s >= 2 * self.segment_s:
            raise LeanECGError(
                "chunk_s", f"must hold two adjacent {self.segment_s} s segments, got {self.chunk_s}"
            )

    def pretrain_options(self) -> dict[str, Any]:
        return {"n_view_leads": int(self.n_view_leads)}


@dataclass
class LabelsData:
    """What the study needs from a task.

    Attributes:
        train: the labelled pool ``X (N, n_leads, n_samples)`` (or variable-length records), ``y (N,)``,
            optional beat ``features (N, F)`` and ``groups`` (record ids).
        test: the test split, same layout.
        fs: model input rate in Hz.
        input_samples: input length of the cost meter.
        info: the entries' ``data`` block (dataset, split, sizes, test ids, pipeline).
        unlabelled: pretraining records (labels dropped) per input kind: ``"signal"`` (the model's
            leads) and, when loaded, ``"multilead"`` (every lead; CMLC / CMSMLC views).
    """

    train: Any
    test: Any
    fs: float
    input_samples: int
    info: dict[str, Any]
    unlabelled: dict[str, Any] = field(default_factory=dict)

    def pretrain_split(self, method: str) -> Any:
        """The unlabelled records ``method`` pretrains on."""
        kind = "multilead" if method in ("cmlc", "cmsmlc") else "signal"
        if kind not in self.unlabelled:
            raise LeanECGError("methods", f"{method} needs multi-lead pretraining records; none were loaded")
        return self.unlabelled[kind]


def _cinc2017_data(root: Path, config: LabelsConfig, tiny: bool, progress: Any) -> LabelsData:
    """:func:`load_cinc2017` as :class:`LabelsData`: the training split is the labelled pool and,
    without its labels, the pretraining records."""
    from leanecg.train.datasets import ArraySplit

    data = load_cinc2017(root, tiny=tiny, progress=progress)
    unlabelled = ArraySplit(X=data.train.X, y=None, name="unlabelled")
    return LabelsData(data.train, data.test, data.fs, data.input_samples, data.info, {"signal": unlabelled})


def signal_chunks(signals: Sequence[np.ndarray], records: Sequence[str], n_samples: int) -> Any:
    """Records cut into non-overlapping chunks: an unlabelled ArraySplit with the record ids as groups.

    Args:
        signals: per record, float32 ``(n_leads, n_samples_i)`` (all with the same leads count).
        records: the record ids (patient ids for the CLOCS losses), one per signal.
        n_samples: chunk length in samples (a record's last partial chunk is dropped).

    Returns:
        ``ArraySplit`` with ``X (n_chunks, n_leads, n_samples)`` float32, ``y=None``, ``groups (n_chunks,)``.
    """
    from leanecg.train.datasets import ArraySplit

    xs, groups = [], []
    for rec, x in zip(records, signals, strict=True):
        n = x.shape[1] // n_samples
        xs.append(x[:, : n * n_samples].reshape(x.shape[0], n, n_samples).transpose(1, 0, 2))
        groups += [str(rec)] * n
    if not groups:
        raise LeanECGError("chunk_s", f"no record holds a whole {n_samples}-sample chunk")
    X = np.ascontiguousarray(np.concatenate(xs), dtype=np.float32)
    return ArraySplit(X=X, y=None, groups=np.asarray(groups), name="unlabelled")


def load_mitdb_beats(
    root: Path,
    *,
    chunk_s: float = 10.0,
    multilead: bool = False,
    tiny: bool = False,
    progress: Any = None,
) -> LabelsData:
    """The ``mitdb-aami`` beats for the label study: the DS1 pool, the DS2 test set and DS1 pretraining chunks.

    Beats and inputs come from the task's own loader (:meth:`MitdbAamiTask.load`): MLII at 180 Hz,
    126-sample windows ``(N, 1, 126)`` and 13 beat features ``(N, 13)``, ``groups`` = record ids. The
    pool is the task's training and early-stopping records together (all 22 DS1 records). Pretraining
    records: the same DS1 records' signals (task pipeline: MLII, 0.5-40 Hz, 180 Hz) cut into
    ``chunk_s``-second chunks (:func:`signal_chunks`); ``multilead`` also loads both leads of them
    (same filter and rate) for CMLC. DS2 signal only enters the test split.

    ``tiny``: pool = records 208 and 209, test = record 233 (:data:`MITDB_TINY_RECORDS`; smoke runs).
    """
    from leanecg.data import get_dataset
    from leanecg.data.mitdb import DS1, DS2
    from leanecg.signal.pipeline import Pipeline
    from leanecg.tasks import get_task
    from leanecg.tasks.base import load_signals
    from leanecg.tasks.mitdb_aami import MitdbAamiTask
    from leanecg.train.datasets import ArraySplit

    task = get_task("mitdb-aami")
    records = MITDB_TINY_RECORDS if tiny else task.split_records(0)

    class _Records(MitdbAamiTask):  # the task's loader on a fixed record split
        def split_records(self, seed: int) -> dict[str, list[str]]:
            return {k: list(v) for k, v in records.items()}

    data = _Records().load(Path(root), progress=progress)
    pool_records = [*records["train"], *records["val"]]
    leak = sorted(set(pool_records) & set(DS2)) + sorted(set(records["test"]) - set(DS2))
    if leak or not set(pool_records) <= set(DS1):
        raise LeanECGError("records", f"the pool must be DS1 and the test set DS2 records, got {leak}")
    parts = (data.train, data.val)
    pool = ArraySplit(
        X=np.concatenate([p.X for p in parts]),
        y=np.concatenate([p.y for p in parts]),
        features=np.concatenate([p.features for p in parts]),
        groups=np.concatenate([p.groups for p in parts]),
        name="train",
    )
    ds = get_dataset("mitdb")
    folder = ds.require(Path(root))
    paths = [ds.record_path(folder, r) for r in pool_records]
    chunk = round(chunk_s * data.fs)
    signal_pipeline = task.pipeline()
    unlabelled = {
        "signal": signal_chunks(
            load_signals(paths, signal_pipeline, progress, "mitdb DS1 signal"), pool_records, chunk
        )
    }
    pretrain_pipelines = {"signal": signal_pipeline.to_dict()}
    if multilead:
        both = Pipeline([s for s in signal_pipeline.to_dict()["steps"] if s["op"] != "leads"])
        signals = load_signals(paths, both, progress, "mitdb DS1 both leads")
        unlabelled["multilead"] = signal_chunks(signals, pool_records, chunk)
        pretrain_pipelines["multilead"] = both.to_dict()
    info = {
        "dataset": "mitdb",
        "split": "de Chazal DS1 (all 22 records: labelled pool and unlabelled pretraining signal) / "
        "DS2 (all 22 records: test), inter-patient; no validation records",
        "train_records": pool_records,
        "test_records": list(records["test"]),
        "n_train": len(pool),
        "n_val": 0,
        "n_test": len(data.test),
        "test_records_sha256": sha256_lines(records["test"]),
        "input": data.info["input"],
        "beats": data.info["beats"],
        "pipeline": data.info["pipeline"],
        "pretraining_input": {
            "records": pool_records,
            "chunk_s": float(chunk_s),
            "n_chunks": {k: len(v) for k, v in unlabelled.items()},
            "groups": "record id (= patient id)",
            "leads": {"signal": "MLII (simclr, cmsc)", "multilead": "both leads (cmlc, one lead per view)"},
            "pipelines": pretrain_pipelines,
            "labels_or_beat_positions_used": False,
        },
        "tiny": tiny,
    }
    return LabelsData(pool, data.test, data.fs, data.input_samples, info, unlabelled)


@dataclass(frozen=True)
class _Study:
    """A task of the labels study: config class, output file stem, labelled unit (records / beats), the
    task metric reported as ``f1``, the texts of the JSON, Markdown and plot, and the per-class scores
    the Markdown lists (label, metric name)."""

    config: type[LabelsConfig]
    stem: str
    unit: str
    metric: str
    metric_text: str
    description: str
    title: str
    md_intro: str
    ylabel: str
    detail_metrics: tuple[tuple[str, str], ...] = ()


_STUDIES: dict[str, _Study] = {
    "cinc2017": _Study(
        LabelsConfig,
        "labels",
        "records",
        "f1",
        "f1 (mean of the N, A, O F1 scores, CinC 2017), test split, 0-1 scale",
        "label-efficiency curves on cinc2017: scratch vs SimCLR vs CLOCS (CMSC) fine-tuning",
        "Label efficiency on cinc2017 (test F1, mean ± sd over seeds)",
        "F1 = mean of the N, A, O F1 scores (CinC 2017) on the test split, 0-1 scale. Pretraining (SimCLR, "
        "CLOCS CMSC) on the training records without labels",
        "test F1 (N, A, O)",
    ),
    "mitdb-aami": _Study(
        MitdbLabelsConfig,
        "labels_mitdb-aami",
        "beats",
        "sveb_veb_f1",
        "f1 = sveb_veb_f1, the mitdb-aami primary metric: mean of the S (SVEB) and V (VEB) F1 scores on all "
        "DS2 beats, 0-1 scale",
        "label-efficiency curves on mitdb-aami beats (DS1 -> DS2): scratch vs SimCLR vs CLOCS (CMSC, CMLC) "
        "fine-tuning",
        "Label efficiency on mitdb-aami beats (DS2 F1 of S and V, mean ± sd over seeds)",
        "F1 = `sveb_veb_f1`, the task's primary metric: mean of the S (SVEB) and V (VEB) F1 on all 22 DS2 "
        "records, 0-1 scale; labelled pool: all DS1 beats. Pretraining (SimCLR, CLOCS CMSC / CMLC) on DS1 "
        "signal without labels",
        "DS2 F1 (mean of S and V)",
        (
            ("SVEB Se", "sveb_se"),
            ("SVEB +P", "sveb_ppv"),
            ("SVEB F1", "sveb_f1"),
            ("VEB Se", "veb_se"),
            ("VEB +P", "veb_ppv"),
            ("VEB F1", "veb_f1"),
        ),
    ),
}


def _study(task: str, option: str = "--labels-task") -> _Study:
    if task not in _STUDIES:
        raise LeanECGError(
            option, f"unknown task {task!r} for the labels study; choose one of {', '.join(LABELS_TASKS)}"
        )
    return _STUDIES[task]


def labels_results_stem(task: str = "cinc2017") -> str:
    """File stem of a labels study's outputs in the results folder: ``labels`` (cinc2017) or
    ``labels_<task>`` (``labels_mitdb-aami.json`` / ``.md`` / ``.png``)."""
    return _study(task).stem


def _load_study_data(root: Path, config: LabelsConfig, tiny: bool, progress: Any) -> LabelsData:
    if config.task == "cinc2017":
        return _cinc2017_data(root, config, tiny, progress)
    assert isinstance(config, MitdbLabelsConfig)
    multilead = any(m in ("cmlc", "cmsmlc") for m in config.methods)
    return load_mitdb_beats(root, chunk_s=config.chunk_s, multilead=multilead, tiny=tiny, progress=progress)


def nested_label_subsets(y: np.ndarray, fractions: Sequence[float], seed: int) -> dict[float, np.ndarray]:
    """Stratified, nested subsets of the labelled records: ``fraction -> sorted int64 indices into y``.

    Within each class the records are put in one seeded random order; fraction ``f`` keeps the first
    ``max(1, round(f * n_class))`` of each class, so a smaller fraction's subset is always inside a larger
    one's and every class is represented.
    """
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise LeanECGError("y", "expected a non-empty (N,) vector of class indices")
    for f in fractions:
        if not (isinstance(f, int | float) and 0 < float(f) <= 1):
            raise LeanECGError("fractions", f"label fractions must lie in (0, 1], got {f!r}")
    rng = np.random.default_rng([int(seed), 20170])
    orders = {c: rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)}
    out = {}
    for f in fractions:
        parts = [o[: max(1, round(float(f) * len(o)))] for o in orders.values()]
        out[float(f)] = np.sort(np.concatenate(parts)).astype(np.int64)
    return out


def finetune_epochs(n_train: int, batch_size: int, min_steps: int, min_epochs: int, max_epochs: int) -> int:
    """Epochs of a fine-tuning run on ``n_train`` records: enough for ``min_steps`` optimizer steps."""
    steps_per_epoch = max(1, math.ceil(n_train / batch_size))
    return int(min(max_epochs, max(min_epochs, math.ceil(min_steps / steps_per_epoch))))


def summarise(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean, sd (ddof 1) and n of test F1 per (method, fraction), with the mean difference to scratch,
    and the mean of every other metric of the entries (``metric_means``, name -> mean or ``None``)."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for e in entries:
        v = e["variant"]
        groups.setdefault((v["method"], float(v["label_fraction"])), []).append(e["metrics"])
    rows = []
    for (method, frac), metrics in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        a = np.asarray([m["f1"]["value"] for m in metrics if m["f1"]["value"] is not None], dtype=float)
        rows.append(
            {
                "method": method,
                "label_fraction": frac,
                "f1_mean": float(a.mean()) if a.size else None,
                "f1_sd": float(a.std(ddof=1)) if a.size > 1 else None,
                "n_seeds": int(a.size),
                "f1_values": [float(x) for x in a],
                "metric_means": _metric_means(metrics),
            }
        )
    scratch = {r["label_fraction"]: r["f1_mean"] for r in rows if r["method"] == "scratch"}
    for r in rows:
        base = scratch.get(r["label_fraction"])
        r["delta_vs_scratch"] = (
            None if base is None or r["f1_mean"] is None or r["method"] == "scratch" else r["f1_mean"] - base
        )
    return rows


def _metric_means(metrics: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """Per metric name, the mean of its finite values over ``metrics`` (``None`` when there is none)."""
    names = dict.fromkeys(k for m in metrics for k in m)
    return {name: finite_mean([m[name].get("value") for m in metrics if name in m]) for name in names}


def run_labels_benchmark(
    data_dir: Path,
    out_dir: Path,
    *,
    config: LabelsConfig | None = None,
    tiny: bool = False,
    progress: Any = None,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Run the study; returns the document.

    The task is the config's: :class:`LabelsConfig` (default) runs cinc2017 and writes
    ``out_dir/labels.json``, ``labels.md`` and ``labels.png``; :class:`MitdbLabelsConfig` runs mitdb-aami
    beats and writes ``labels_mitdb-aami.{json,md,png}`` (:func:`labels_results_stem`).

    ``tiny``: a few records, 2 pretraining epochs and 3 fine-tuning epochs -- a smoke run of the whole
    pipeline, flagged as such in every file (numbers are not results).
    """

    from leanecg.models.registry import list_models

    config = LabelsConfig() if config is None else config
    config.validate()
    if config.model not in {s.name for s in list_models()}:
        raise LeanECGError("--models", f"unknown model {config.model!r}")
    out_dir = Path(out_dir)
    stem = _study(config.task).stem
    previous = _previous_entries(out_dir / f"{stem}.json", config, tiny)
    with torch_threads(config.num_threads):  # inference too, not only fit()
        return _run(data_dir, out_dir, config, tiny, progress, log, previous)


def _previous_entries(path: Path, config: LabelsConfig, tiny: bool) -> dict[str, Any] | None:
    """The entries of an earlier run in ``path`` made with the same settings (other seeds are kept)."""
    doc = comparable_run(path, "labels", asdict(config), tiny)
    if doc is None or doc.get("task", "cinc2017") != config.task:
        return None
    seeds = set(config.seeds)
    return {
        "results": [e for e in doc.get("results", []) if e["variant"]["seed"] not in seeds],
        "pretraining": [p for p in doc.get("pretraining", []) if p["seed"] not in seeds],
        "seeds": [s for s in doc["config"].get("seeds", []) if s not in seeds],
        "seconds_total": float(doc.get("seconds_total") or 0.0),
        "runs": list(doc.get("runs") or []),
    }


def _task_metrics(study: _Study, ev: dict[str, Any]) -> dict[str, Any]:
    """The task's metrics with the study's score as ``f1`` (mitdb-aami: ``sveb_veb_f1``) first, plus the
    S and V F1 (``sveb_f1``, ``veb_f1``, from the same confusion matrix) for beat tasks."""
    metrics = dict(ev["metrics"])
    if study.metric == "f1":
        return metrics
    out = {"f1": dict(metrics[study.metric]), **metrics}
    for name, cls in (("sveb_f1", "S"), ("veb_f1", "V")):
        if cls in ev["per_class"]:
            out[name] = {"value": ev["per_class"][cls]["f1"]}
    return out


def _run(
    data_dir: Path,
    out_dir: Path,
    config: LabelsConfig,
    tiny: bool,
    progress: Any,
    log: Callable[[str], None],
    previous: dict[str, Any] | None,
) -> dict[str, Any]:
    import torch

    from leanecg.atomic import write_json
    from leanecg.evaluate.cost import measure_cost
    from leanecg.evaluate.results import make_result
    from leanecg.models.registry import build_model, list_models, model_config
    from leanecg.provenance import collect_provenance
    from leanecg.ssl.pretrain import PretrainConfig, encoder_input_leads, pretrain
    from leanecg.tasks import get_task
    from leanecg.train.datasets import ArraySplit
    from leanecg.train.seed import seed_everything
    from leanecg.train.trainer import TrainConfig, fit, predict_proba

    t_all = time.perf_counter()
    study = _study(config.task)
    task = get_task(config.task)
    log(f"loading {config.task} from {data_dir}")
    data = _load_study_data(Path(data_dir), config, tiny, progress)
    n_classes = len(task.class_names)
    n_leads = data.train.n_leads
    fs = data.fs
    crop = None if config.crop_s is None else round(config.crop_s * fs)
    spec = next(s for s in list_models() if s.name == config.model)
    n_feat = data.train.n_features if spec.takes_features else 0
    train_pool, test = data.train, data.test
    if not n_feat and train_pool.features is not None:  # a model without a features input
        train_pool, test = (
            ArraySplit(X=s.X, y=s.y, groups=s.groups, name=s.name) for s in (train_pool, test)
        )

    def build(leads: int) -> Any:
        return build_model(
            config.model, n_leads=leads, n_classes=n_classes, width=config.width, n_features=n_feat
        )

    probe = build(n_leads)
    if not hasattr(probe, "backbone") or not hasattr(probe, "embed"):
        raise LeanECGError("--models", f"{config.model} has no backbone/embed(); use a convolutional model")
    cost = measure_cost(
        probe,
        (n_leads, data.input_samples),
        fs,
        budget_s=0.5,
        measure_memory=False,
        extra_inputs={"features": (n_feat,)} if n_feat else None,
    ).to_dict()

    entries: list[dict[str, Any]] = []
    pretrain_log: list[dict[str, Any]] = []
    for seed in config.seeds:
        subsets = nested_label_subsets(train_pool.y, config.fractions, seed)  # type: ignore[arg-type]
        encoders: dict[str, dict[str, Any] | None] = {"scratch": None}
        n_unlabelled: dict[str, int] = {"scratch": 0}
        for method in config.methods:
            if method == "scratch":
                continue
            unlabelled = data.pretrain_split(method)
            enc_leads = encoder_input_leads(method, unlabelled.n_leads)
            if enc_leads != n_leads:
                raise LeanECGError(
                    "methods",
                    f"{method} pretrains a {enc_leads}-lead encoder; the task's model has {n_leads}",
                )
            seed_everything(seed)
            enc_model = build(enc_leads)
            pcfg = PretrainConfig(
                method=method,
                epochs=2 if tiny else config.pretrain_epochs,
                batch_size=min(config.pretrain_batch_size, len(unlabelled)),
                lr=config.pretrain_lr,
                temperature=config.temperature,
                segment_s=config.segment_s,
                seed=seed,
                num_threads=config.num_threads,
                **config.pretrain_options(),
            )
            res = pretrain(enc_model, unlabelled, fs, pcfg)
            encoders[method] = copy.deepcopy(enc_model.backbone.state_dict())
            n_unlabelled[method] = len(unlabelled)
            pretrain_log.append(
                {
                    "method": method,
                    "seed": seed,
                    "seconds": res.seconds,
                    "steps": res.steps,
                    "final_loss": res.history[-1]["loss"],
                    "config": pcfg.to_dict(),
                }
            )
            log(
                f"seed {seed}: pretrained {method} in {res.seconds:.0f} s (loss {res.history[-1]['loss']:.3f})"
            )
        for frac in config.fractions:
            idx = subsets[float(frac)]
            train = train_pool.subset(idx, name="train")
            epochs = (
                3
                if tiny
                else finetune_epochs(
                    len(train), config.batch_size, config.min_steps, config.min_epochs, config.max_epochs
                )
            )
            for method in config.methods:
                seed_everything(seed)
                model = build(n_leads)
                state = encoders.get(method)
                if state is not None:
                    model.backbone.load_state_dict(state, strict=True)
                tcfg = TrainConfig(
                    epochs=epochs,
                    batch_size=min(config.batch_size, len(train)),
                    lr=config.lr,
                    loss="weighted_ce",
                    class_weights="balanced",
                    crop_samples=crop,
                    num_threads=config.num_threads,
                    max_train_seconds=config.max_train_seconds,
                    seed=seed,
                )
                res = fit(model, train, None, tcfg, progress=False)
                proba = predict_proba(model, test.X, features=test.features)
                ev = task.evaluate(test, proba, n_boot=config.n_boot, seed=seed)
                notes = (
                    [] if not tiny else ["tiny smoke run: a few records per split; numbers are not results"]
                )
                entry = make_result(
                    task=study.stem,
                    model=config.model,
                    family="lightweight",
                    variant={"method": method, "label_fraction": float(frac), "seed": int(seed)},
                    primary_metric="f1",
                    metrics=_task_metrics(study, ev),
                    per_class=ev["per_class"],
                    confusion=ev["confusion"],
                    cost=cost,
                    data={
                        **data.info,
                        "n_train": len(train),
                        "n_train_full": len(train_pool),
                        "n_val": 0,
                        "n_unlabelled": n_unlabelled[method],
                        "test_records_count": len(test),
                        "train_class_counts": np.bincount(train.y, minlength=n_classes).tolist(),
                    },
                    train={
                        **res.to_dict(),
                        "history": None,
                        "model_config": model_config(model),
                        "pretrained": method != "scratch",
                    },
                    provenance={"seed": int(seed)},
                    notes=notes,
                )
                entries.append(entry)
                log(
                    f"seed {seed} {method:8s} {frac:>5.0%} ({len(train)} labels, {epochs} ep): "
                    f"F1 {entry['metrics']['f1']['value']:.4f} ({res.seconds:.0f} s)"
                )
    prov = collect_provenance(seed=int(config.seeds[0]), config=asdict(config))
    for e in entries:
        e["provenance"] = {**prov, "seed": e["variant"]["seed"]}
    seconds = time.perf_counter() - t_all
    runs = [
        {
            "seeds": list(config.seeds),
            "seconds": seconds,
            "command": prov["command"],
            "git_commit": prov["git_commit"],
        }
    ]
    if previous is not None:
        entries = previous["results"] + entries
        pretrain_log = previous["pretraining"] + pretrain_log
        config = type(config)(
            **{**asdict(config), "seeds": tuple(sorted({*previous["seeds"], *config.seeds}))}
        )
        seconds += previous["seconds_total"]
        runs = previous["runs"] + runs
    entries.sort(key=lambda e: (e["variant"]["seed"], e["variant"]["label_fraction"], e["variant"]["method"]))
    summary = summarise(entries)
    doc = {
        "benchmark": "labels",
        "description": study.description,
        "task": config.task,
        "metric": study.metric_text,
        "protocol": _protocol(config.task),
        "config": asdict(config),
        "tiny": tiny,
        "threads": torch.get_num_threads() if config.num_threads is None else config.num_threads,
        "seconds_total": seconds,
        "runs": runs,
        "pretraining": pretrain_log,
        "summary": summary,
        "provenance": prov,
        "results": entries,
    }
    write_json(out_dir / f"{study.stem}.json", doc)
    plot = write_labels_plot(
        summary,
        out_dir / f"{study.stem}.png",
        tiny=tiny,
        task=config.task,
        ylabel=study.ylabel,
        unit=study.unit,
    )
    write_labels_markdown(doc, out_dir / f"{study.stem}.md", plot_name=plot.name if plot else None)
    return doc


def _protocol(task: str) -> str:
    """The task's protocol section of this module's docstring (what the JSON records)."""
    text = __doc__ or ""
    head = f"Protocol, {task} (every choice is recorded in ``{_study(task).stem}.json``):"
    body = text.split(head)[-1]
    return body.split("\nProtocol, ")[0].strip()


def write_labels_markdown(doc: dict[str, Any], path: Path, plot_name: str | None = None) -> Path:
    """The Markdown table of a labels study (mean ± sd of test F1 per method and fraction; for beat
    tasks also the mean SVEB / VEB Se, +P and F1)."""
    from leanecg.atomic import atomic_open

    study = _study(doc.get("task", "cinc2017"))
    summary = doc["summary"]
    fracs = sorted({r["label_fraction"] for r in summary})
    methods = [m for m in doc["config"]["methods"] if any(r["method"] == m for r in summary)]
    cell = {(r["method"], r["label_fraction"]): r for r in summary}

    def fmt(r: dict[str, Any] | None, key: str = "f1_mean") -> str:
        if r is None or r.get(key) is None:
            return "-"
        sd = f" ± {r['f1_sd']:.3f}" if r.get("f1_sd") is not None and key == "f1_mean" else ""
        return f"{r[key]:+.3f}" if key == "delta_vs_scratch" else f"{r[key]:.3f}{sd}"

    from leanecg.evaluate.report import report_title

    lines = [f"# {report_title(study.title, bool(doc.get('tiny')))}", ""]
    if doc.get("tiny"):
        lines += ["**Tiny smoke run: a few records per split; the numbers are not results.**", ""]
    cfg = doc["config"]
    lines += [
        f"Model `{cfg['model']}` (width {cfg['width']}), seeds {list(cfg['seeds'])}, "
        f"{cfg['num_threads']} thread(s), {doc['seconds_total'] / 60:.1f} min in total. {study.md_intro}, "
        f"{cfg['pretrain_epochs']} epochs, once per method and seed.",
        "",
        "| method | " + " | ".join(f"{f:.0%} labels" for f in fracs) + " |",
        "|---|" + "---|" * len(fracs),
    ]
    for m in methods:
        lines.append(f"| {m} | " + " | ".join(fmt(cell.get((m, f))) for f in fracs) + " |")
    for m in methods:
        if m == "scratch":
            continue
        lines.append(
            f"| {m} - scratch | "
            + " | ".join(fmt(cell.get((m, f)), "delta_vs_scratch") for f in fracs)
            + " |"
        )
    n_labels = {}
    for e in doc["results"]:
        n_labels[e["variant"]["label_fraction"]] = e["data"]["n_train"]
    lines += [
        "",
        f"Labelled {study.unit} per fraction: "
        + ", ".join(f"{f:.0%}: {n_labels.get(f, '-')}" for f in fracs)
        + ".",
    ]
    if study.detail_metrics:
        lines += [
            "",
            "Mean over seeds of the task's per-class scores:",
            "",
            "| method | labels | " + " | ".join(name for name, _ in study.detail_metrics) + " |",
            "|---|---|" + "---|" * len(study.detail_metrics),
        ]
        for f in fracs:
            for m in methods:
                means = (cell.get((m, f)) or {}).get("metric_means") or {}
                vals = [means.get(key) for _, key in study.detail_metrics]
                lines.append(
                    f"| {m} | {f:.0%} | " + " | ".join("-" if v is None else f"{v:.3f}" for v in vals) + " |"
                )
    lines += [
        "",
        "Protocol: " + " ".join(doc["protocol"].split()).replace("``", "`").replace(":func:", ""),
    ]
    if plot_name:
        lines += ["", f"![label-efficiency curve]({plot_name})"]
    with atomic_open(path) as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def write_labels_plot(
    summary: Sequence[dict[str, Any]],
    path: Path,
    tiny: bool = False,
    *,
    task: str = "cinc2017",
    ylabel: str = "test F1 (N, A, O)",
    unit: str = "records",
) -> Path | None:
    """F1 vs labelled fraction (log x), mean ± sd per method, as a PNG (``None`` without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return None
    from leanecg.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(6, 4))
    for method in dict.fromkeys(r["method"] for r in summary):
        rows = sorted((r for r in summary if r["method"] == method), key=lambda r: r["label_fraction"])
        x = [100 * r["label_fraction"] for r in rows]
        y = [r["f1_mean"] if r["f1_mean"] is not None else np.nan for r in rows]
        e = [r["f1_sd"] or 0.0 for r in rows]
        ax.errorbar(x, y, yerr=e, marker="o", capsize=3, label=method)
    ax.set_xscale("log")
    ax.set_xlabel(f"labelled training {unit} (%)")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{task} label efficiency" + (" (tiny smoke run)" if tiny else ""))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return path


def run_labels_cli(
    models: str | None,
    data_dir: Path | None,
    out: Path,
    *,
    seed: int = 0,
    epochs: int | None = None,
    max_train_seconds: float | None = None,
    threads: int | None = 1,
    n_boot: int = 1000,
    tiny: bool = False,
    save_models: Path | None = None,
    task: str = "cinc2017",
    progress: Any = None,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """``leanecg bench labels``: the bench options mapped onto the task's config.

    ``task`` (``--labels-task``): ``cinc2017`` (:class:`LabelsConfig`, outputs ``labels.*``) or
    ``mitdb-aami`` (:class:`MitdbLabelsConfig`, outputs ``labels_mitdb-aami.*``). ``--models`` one
    convolutional zoo model (default: litenet / beatnet); ``--seed S`` runs seeds S, S+1, S+2;
    ``--epochs`` sets the pretraining epochs; ``--max-train-seconds`` caps each fine-tuning run.
    """
    from leanecg.data import resolve_data_dir

    study = _study(task)
    if save_models is not None:
        raise LeanECGError("--save-models", "is not supported by the labels study (it trains 45 models)")
    names = [m.strip() for m in models.split(",") if m.strip()] if models else []
    if len(names) > 1:
        raise LeanECGError("--models", f"the labels study takes one model, got {', '.join(names)}")
    if epochs is not None and epochs < 1:
        raise LeanECGError("--epochs", f"must be a positive number of pretraining epochs, got {epochs}")
    if threads is not None and threads < 1:
        raise LeanECGError("--threads", f"must be a positive integer, got {threads}")
    if n_boot < 1:
        raise LeanECGError("--n-boot", f"must be a positive integer, got {n_boot}")
    defaults = study.config()
    config = study.config(
        model=names[0] if names else defaults.model,
        seeds=(seed, seed + 1, seed + 2),
        pretrain_epochs=epochs or defaults.pretrain_epochs,
        max_train_seconds=max_train_seconds,
        num_threads=threads,
        n_boot=n_boot,
    )
    return run_labels_benchmark(
        resolve_data_dir(data_dir), out, config=config, tiny=tiny, progress=progress, log=log
    )
