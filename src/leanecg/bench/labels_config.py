"""Settings of the label-efficiency study ``leanecg bench labels`` (:mod:`leanecg.bench.labels`): the label
fractions and methods, :class:`LabelsConfig` (cinc2017 records) and :class:`MitdbLabelsConfig`
(mitdb-aami beats), and per task the study's output names and texts (:class:`LabelsStudy`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from leanecg.config import in_range, non_negative, positive, validate_config
from leanecg.errors import InvalidOptionError

__all__ = [
    "FRACTIONS",
    "FS_MODEL",
    "LABELS_TASKS",
    "METHODS",
    "PRETRAINED",
    "LabelsConfig",
    "LabelsStudy",
    "MitdbLabelsConfig",
    "labels_results_stem",
    "labels_study",
]

FRACTIONS: tuple[float, ...] = (0.01, 0.05, 0.10, 0.25, 1.0)
FS_MODEL = 150.0  # Hz: the studies' input rate (short, cheap inputs for a 2-core CPU budget)
METHODS: tuple[str, ...] = ("scratch", "simclr", "cmsc")
PRETRAINED = {"simclr": "simclr", "cmsc": "cmsc", "cmlc": "cmlc", "cmsmlc": "cmsmlc"}
#: The tasks ``leanecg bench labels`` runs on (``--labels-task``).
LABELS_TASKS: tuple[str, ...] = ("cinc2017", "mitdb-aami")


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
    width: float = positive(1.0)
    fractions: tuple[float, ...] = in_range(FRACTIONS, 0, 1, low_open=True, each=True)
    methods: tuple[str, ...] = METHODS
    seeds: tuple[int, ...] = non_negative((0, 1, 2), integer=True, each=True)
    crop_s: float | None = positive(10.0, optional=True)
    batch_size: int = positive(32, integer=True)
    lr: float = positive(3e-3)
    min_steps: int = positive(200, integer=True)
    min_epochs: int = positive(15, integer=True)
    max_epochs: int = positive(200, integer=True)
    pretrain_epochs: int = positive(20, integer=True)
    pretrain_batch_size: int = in_range(64, 2, None, integer=True)
    pretrain_lr: float = positive(3e-3)
    segment_s: float = positive(5.0)
    temperature: float = positive(0.1)
    num_threads: int | None = positive(1, integer=True, optional=True)
    n_boot: int = positive(1000, integer=True)
    max_train_seconds: float | None = positive(None, optional=True)

    def __post_init__(self) -> None:
        validate_config(self)

    def validate(self) -> None:
        """Raise :class:`~leanecg.errors.InvalidOptionError` naming ``<class>.<field>`` for a wrong field (the
        ranges are declared on the fields, :mod:`leanecg.config`; the methods depend on the task)."""
        validate_config(self)
        name = type(self).__name__
        bad = [m for m in self.methods if m != "scratch" and m not in self.pretrain_methods]
        if bad or not self.methods:
            raise InvalidOptionError(
                f"{name}.methods",
                f"unknown or unsupported method(s) {bad}; {self.task} supports "
                f"{', '.join(('scratch', *self.pretrain_methods))}",
            )

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
    crop_s: float | None = positive(None, optional=True)
    batch_size: int = positive(256, integer=True)
    min_steps: int = positive(600, integer=True)
    min_epochs: int = positive(8, integer=True)
    max_epochs: int = positive(300, integer=True)
    pretrain_epochs: int = positive(30, integer=True)
    pretrain_batch_size: int = in_range(128, 2, None, integer=True)
    segment_s: float = positive(0.7)
    chunk_s: float = positive(10.0)
    n_view_leads: int = positive(2, integer=True)

    def validate(self) -> None:
        super().validate()
        if not self.chunk_s >= 2 * self.segment_s:
            raise InvalidOptionError(
                "MitdbLabelsConfig.chunk_s",
                f"must hold two adjacent {self.segment_s} s segments, got {self.chunk_s}",
            )

    def pretrain_options(self) -> dict[str, Any]:
        return {"n_view_leads": int(self.n_view_leads)}


@dataclass(frozen=True)
class LabelsStudy:
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


_STUDIES: dict[str, LabelsStudy] = {
    "cinc2017": LabelsStudy(
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
    "mitdb-aami": LabelsStudy(
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


def labels_study(task: str, option: str = "task") -> LabelsStudy:
    """The study of ``task`` (one of :data:`LABELS_TASKS`); an unknown task is reported against ``option``."""
    if task not in _STUDIES:
        raise InvalidOptionError(
            option, f"unknown task {task!r} for the labels study; choose one of {', '.join(LABELS_TASKS)}"
        )
    return _STUDIES[task]


def labels_results_stem(task: str = "cinc2017") -> str:
    """File stem of a labels study's outputs in the results folder: ``labels`` (cinc2017) or
    ``labels_<task>`` (``labels_mitdb-aami.json`` / ``.md`` / ``.png``)."""
    return labels_study(task).stem
