"""Knowledge distillation: train a small student to mimic a trained teacher.

Loss of one training batch (Hinton et al. 2015; FitNets-style feature matching, Romero et al. 2015)::

    loss = alpha * hard(student, y) + (1 - alpha) * T**2 * soft(student / T, teacher / T)
           + feature_weight * mse(norm(proj(student_map)), norm(teacher_map))

* ``hard`` is the trainer's loss of ``TrainConfig.loss`` (class weights, label smoothing... included).
* ``soft``: softmax models: ``KL(softmax(t / T) || softmax(s / T))`` (batch mean); multi-label (sigmoid)
  models: the binary cross-entropy of ``sigmoid(s / T)`` against ``sigmoid(t / T)`` per class (mean).
  Multiplying by ``T**2`` keeps the soft term's gradient scale independent of ``T``.
* feature matching (``feature_weight > 0``): the backbone output maps ``(B, C, L)`` of both models; a
  trainable 1x1 convolution projects the student's channels to the teacher's, both maps are average-pooled
  to the shorter length and standardised per example (``layer_norm`` over channels and time, so the term
  does not depend on the two models' activation scales), and their mean squared difference is added. The
  projection is used only for training and is discarded with the wrapper.

Leads: teacher and student may see different leads of the same record (12-lead teacher -> 1-lead student).
The training and validation splits then hold the *union* of the leads both models need (for PTB-XL, the 12
leads), and ``student_leads`` / ``teacher_leads`` are indices into those leads. Both models see exactly the
same random crop and augmentation of each record. ``None`` means all leads (big -> small on the same leads).

The teacher is frozen (eval mode, batch-norm statistics fixed, no gradients) and is not a parameter of the
training wrapper, so neither the optimizer nor the best-epoch snapshot touch it. Model selection and early
stopping use the student's validation metric.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from leanecg.config import config_from_dict, in_range, non_negative, positive, validate_config
from leanecg.errors import InvalidOptionError, LeanECGError
from leanecg.train.datasets import ArraySplit
from leanecg.train.trainer import MetricFn, TrainConfig, TrainResult, fit

__all__ = [
    "CrossFitTeacher",
    "DistillConfig",
    "DistillationModule",
    "cross_fit_teachers",
    "distill",
    "distillation_loss",
    "feature_matching_loss",
    "mixup_fit",
    "select_leads",
]


@dataclass
class DistillConfig:
    """Distillation hyper-parameters (JSON round trip via :meth:`to_dict` / :meth:`from_dict`).

    Attributes:
        temperature: softening temperature ``T`` (> 0) of teacher and student logits.
        alpha: weight of the hard-label loss in ``[0, 1]``; the soft term gets ``1 - alpha``.
        feature_weight: weight (>= 0) of the feature-map matching term; 0 turns it off.
        student_leads: indices of the split's leads fed to the student (``None``: all).
        teacher_leads: indices of the split's leads fed to the teacher (``None``: all).
        mixup: concentration ``a`` of the ``Beta(a, a)`` mixing weight of mixup applied to each training
            batch before both models see it (0: off). The teacher labels the mixed records, which no hard
            label describes ("function matching", Beyer et al. 2022); the hard-label term uses the mixed
            labels. With ``alpha == 1`` this is plain mixup training without a teacher (the control).
    """

    temperature: float = positive(4.0)
    alpha: float = in_range(0.5, 0, 1)
    feature_weight: float = non_negative(0.0)
    student_leads: list[int] | None = None
    teacher_leads: list[int] | None = None
    mixup: float = non_negative(0.0)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, source: str = "DistillConfig") -> None:
        """Check every field; a wrong one raises ``InvalidOptionError("<source>.<field>", problem)``
        (the ranges are declared on the fields, :mod:`leanecg.config`)."""
        validate_config(self, source)
        for name in ("student_leads", "teacher_leads"):
            v = getattr(self, name)
            if v is None:
                continue
            if not isinstance(v, list | tuple) or not v:
                raise InvalidOptionError(
                    f"{source}.{name}", "must be a non-empty list of lead indices or null"
                )
            if not all(isinstance(i, int | np.integer) and not isinstance(i, bool) and i >= 0 for i in v):
                raise InvalidOptionError(
                    f"{source}.{name}", f"lead indices must be integers >= 0, got {list(v)!r}"
                )
            if len(set(int(i) for i in v)) != len(v):
                raise InvalidOptionError(f"{source}.{name}", f"repeats a lead: {list(v)!r}")
            setattr(self, name, [int(i) for i in v])

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-able dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "DistillConfig") -> DistillConfig:
        """Build from a dict; unknown keys and bad values raise :class:`LeanECGError`."""
        cfg = config_from_dict(cls, d, source, "distillation")
        cfg.validate(source)
        return cfg


def distillation_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float, multilabel: bool
) -> torch.Tensor:
    """The soft-target term ``T**2 * soft(s / T, t / T)`` (scalar; see the module docstring).

    Args:
        student_logits, teacher_logits: ``(batch, n_classes)``.
        temperature: ``T > 0``.
        multilabel: sigmoid outputs (per-class binary cross-entropy) instead of softmax (KL divergence).
    """
    if student_logits.shape != teacher_logits.shape:
        raise LeanECGError(
            "teacher",
            f"outputs {tuple(teacher_logits.shape[1:])} logits per record but the student "
            f"outputs {tuple(student_logits.shape[1:])}",
        )
    t = float(temperature)
    s, q = student_logits / t, teacher_logits.detach() / t
    if multilabel:
        soft = F.binary_cross_entropy_with_logits(s, torch.sigmoid(q))
        # subtract the teacher's own entropy so a perfect match scores 0 (the gradient is unchanged)
        soft = soft - F.binary_cross_entropy_with_logits(q, torch.sigmoid(q))
    else:
        soft = F.kl_div(
            F.log_softmax(s, dim=1), F.log_softmax(q, dim=1), reduction="batchmean", log_target=True
        )
    return soft * (t * t)


def feature_matching_loss(student_map: torch.Tensor, teacher_map: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of two standardised feature maps ``(B, C, L)`` with equal ``C``.

    Both maps are average-pooled to the shorter length ``L`` first and standardised per example
    (zero mean, unit variance over channels and time).
    """
    if student_map.shape[1] != teacher_map.shape[1]:
        raise ValueError(
            f"channel mismatch: {student_map.shape[1]} vs {teacher_map.shape[1]} (project first)"
        )
    length = min(student_map.shape[-1], teacher_map.shape[-1])
    s = F.adaptive_avg_pool1d(student_map, length)
    t = F.adaptive_avg_pool1d(teacher_map.detach(), length)
    s = F.layer_norm(s, s.shape[1:])
    t = F.layer_norm(t, t.shape[1:])
    return F.mse_loss(s, t)


def _takes_features(model: nn.Module) -> bool:
    return "features" in tuple(getattr(model, "extra_inputs", ()))


def _call(model: nn.Module, x: torch.Tensor, feats: torch.Tensor | None) -> torch.Tensor:
    return model(x, features=feats) if feats is not None and _takes_features(model) else model(x)


class _Capture:
    """Forward hook that keeps the last output of a module."""

    def __init__(self) -> None:
        self.value: torch.Tensor | None = None

    def __call__(self, module: nn.Module, args: Any, output: torch.Tensor) -> None:
        self.value = output


def _backbone(model: nn.Module, role: str) -> nn.Module:
    backbone = getattr(model, "backbone", None)
    if not isinstance(backbone, nn.Module):
        raise LeanECGError(
            role, f"{type(model).__name__} has no .backbone feature map; feature matching needs zoo models"
        )
    return backbone


def _backbone_channels(model: nn.Module, role: str) -> int:
    channels = getattr(_backbone(model, role), "out_channels", None)
    if not isinstance(channels, int):
        raise LeanECGError(role, f"the backbone of {type(model).__name__} does not state its out_channels")
    return channels


class DistillationModule(nn.Module):
    """Training wrapper: ``forward(x)`` is ``student(x[:, student_leads])``; the teacher rides along.

    Only the student (and the feature projection, when feature matching is on) are parameters; the
    teacher is held outside the module tree, frozen and in eval mode. After training, use
    :attr:`student` (the wrapper and its projection are not needed for inference).

    Args:
        student: the model being trained.
        teacher: the trained teacher (same number of outputs).
        config: distillation settings (leads, feature matching).
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, config: DistillConfig) -> None:
        super().__init__()
        self.student = student
        self._teacher = (teacher,)  # a tuple: not a submodule, so not trained / snapshotted / moved
        self.config = config
        self.extra_inputs = tuple(getattr(student, "extra_inputs", ()))
        s_idx = None if config.student_leads is None else torch.tensor(config.student_leads)
        t_idx = None if config.teacher_leads is None else torch.tensor(config.teacher_leads)
        self.register_buffer("student_idx", s_idx, persistent=False)
        self.register_buffer("teacher_idx", t_idx, persistent=False)
        self.projection: nn.Module | None = None
        self._s_cap = self._t_cap = None
        if config.feature_weight > 0:
            cs, ct = _backbone_channels(student, "student"), _backbone_channels(teacher, "teacher")
            self.projection = nn.Conv1d(cs, ct, 1, bias=False)
            self._s_cap, self._t_cap = _Capture(), _Capture()
            self._hooks = [
                _backbone(student, "student").register_forward_hook(self._s_cap),
                _backbone(teacher, "teacher").register_forward_hook(self._t_cap),
            ]
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)

    @property
    def teacher(self) -> nn.Module:
        return self._teacher[0]

    def student_input(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.student_idx is None else x.index_select(1, self.student_idx)

    def teacher_input(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.teacher_idx is None else x.index_select(1, self.teacher_idx)

    def train(self, mode: bool = True) -> DistillationModule:
        super().train(mode)
        self.teacher.eval()  # the teacher's batch-norm statistics stay fixed
        return self

    def forward(self, x: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        return _call(self.student, self.student_input(x), features)

    def batch_loss(
        self, batch: dict[str, torch.Tensor], criterion: nn.Module, multilabel: bool
    ) -> torch.Tensor:
        """The distillation loss of one training batch (see the module docstring)."""
        x, y, feats = batch["x"], batch["y"], batch.get("features")
        cfg = self.config
        lam, perm = 1.0, None
        if cfg.mixup > 0:
            lam = float(torch.distributions.Beta(cfg.mixup, cfg.mixup).sample())
            perm = torch.randperm(x.shape[0], device=x.device)
            x = lam * x + (1.0 - lam) * x[perm]
            if feats is not None:
                feats = lam * feats + (1.0 - lam) * feats[perm]
        s_logits = self(x, feats)
        if perm is None:
            loss = cfg.alpha * criterion(s_logits, y)
        elif multilabel:  # soft multi-hot targets
            loss = cfg.alpha * criterion(s_logits, lam * y + (1.0 - lam) * y[perm])
        else:
            loss = cfg.alpha * (lam * criterion(s_logits, y) + (1.0 - lam) * criterion(s_logits, y[perm]))
        if cfg.alpha == 1.0 and self.projection is None:
            return loss  # no teacher term: the teacher is not run
        teacher = self.teacher
        if next(teacher.parameters()).device != x.device:
            teacher.to(x.device)
        with torch.no_grad():
            if getattr(teacher, "takes_index", False):  # out-of-fold teachers: which record is which
                if perm is not None:
                    raise LeanECGError(
                        "DistillConfig.mixup", "mixup cannot be used with out-of-fold teachers"
                    )
                t_logits = teacher(self.teacher_input(x), features=feats, index=batch["index"])
            else:
                t_logits = _call(teacher, self.teacher_input(x), feats)
        if cfg.alpha < 1.0:
            loss = loss + (1.0 - cfg.alpha) * distillation_loss(
                s_logits, t_logits, cfg.temperature, multilabel
            )
        if self.projection is not None:
            assert self._s_cap is not None and self._t_cap is not None
            s_map, t_map = self._s_cap.value, self._t_cap.value
            assert s_map is not None and t_map is not None
            loss = loss + cfg.feature_weight * feature_matching_loss(self.projection(s_map), t_map)
        return loss

    def remove_hooks(self) -> None:
        """Detach the feature-capturing hooks from student and teacher."""
        for h in getattr(self, "_hooks", []):
            h.remove()
        self._hooks = []


class CrossFitTeacher(nn.Module):
    """``K`` teachers, each trained without one fold of the training records: out-of-fold soft targets.

    A teacher trained on the very records it then labels has nearly memorised them (on small data its
    training-set outputs are close to the hard labels and carry little extra information); cross-fitting
    gives every training record the logits of the teacher that did not see it, as out-of-fold predictions
    do in stacking. ``forward(x, features=None, index=None)``: with ``index`` (the records' positions in the
    training split, as in the trainer's batches) each row goes to its out-of-fold teacher; without, the
    mean of the ``K`` teachers' logits.

    Args:
        teachers: the ``K`` trained teachers (``teachers[k]`` did not see fold ``k``).
        folds: int ``(N,)`` fold of every training record.
    """

    takes_index = True

    def __init__(self, teachers: Sequence[nn.Module], folds: np.ndarray) -> None:
        super().__init__()
        folds = np.asarray(folds, dtype=np.int64)
        if not teachers or folds.ndim != 1 or folds.min() < 0 or folds.max() >= len(teachers):
            raise LeanECGError("teachers", "need one teacher per fold and a fold in [0, K) for every record")
        self.teachers = nn.ModuleList(teachers)
        self.register_buffer("folds", torch.from_numpy(folds), persistent=False)
        self.extra_inputs = tuple(getattr(teachers[0], "extra_inputs", ()))

    def forward(
        self, x: torch.Tensor, features: torch.Tensor | None = None, index: torch.Tensor | None = None
    ) -> torch.Tensor:
        if index is None:
            return torch.stack([_call(t, x, features) for t in self.teachers]).mean(dim=0)
        fold = self.folds[index.to(self.folds.device)]
        out: torch.Tensor | None = None
        for k, teacher in enumerate(self.teachers):
            rows = (fold == k).nonzero().flatten()
            if len(rows) == 0:
                continue
            f = None if features is None else features[rows]
            logits = _call(teacher, x[rows], f)
            if out is None:
                out = logits.new_zeros((x.shape[0], logits.shape[1]))
            out[rows] = logits
        assert out is not None
        return out


def cross_fit_teachers(
    build: Callable[[], nn.Module],
    train: ArraySplit,
    val: ArraySplit | None,
    config: TrainConfig,
    n_folds: int = 4,
    metric_fn: MetricFn | None = None,
    seed: int = 0,
) -> CrossFitTeacher:
    """Train ``n_folds`` teachers (``build()`` each), teacher ``k`` on the training records outside fold ``k``.

    Folds are a seeded random partition of ``train`` (sizes differ by at most one). Each teacher is trained
    with :func:`leanecg.train.fit` (``config``, ``metric_fn``, validation on ``val``). Returns the
    :class:`CrossFitTeacher` to pass to :func:`distill` with the same ``train`` split.
    """
    if isinstance(n_folds, bool) or not isinstance(n_folds, int) or not 2 <= n_folds <= len(train):
        raise LeanECGError("n_folds", f"must be an integer in [2, {len(train)}], got {n_folds!r}")
    rng = np.random.default_rng(seed)
    folds = rng.permutation(len(train)) % n_folds
    teachers = []
    for k in range(n_folds):
        teacher = build()
        fit(
            teacher,
            train.subset(folds != k, name=train.name),
            val,
            config,
            metric_fn=metric_fn,
            progress=False,
        )
        teachers.append(teacher.eval())
    return CrossFitTeacher(teachers, folds).eval()


class _NoTeacher(nn.Module):
    """Stands in for a teacher when only the hard-label term is trained (never run)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("no teacher")


def mixup_fit(
    model: nn.Module,
    train: ArraySplit,
    val: ArraySplit | None = None,
    config: TrainConfig | None = None,
    mixup: float = 0.5,
    metric_fn: MetricFn | None = None,
    *,
    progress: bool = True,
) -> TrainResult:
    """Train ``model`` on hard labels with mixup (``Beta(mixup, mixup)``), exactly as :func:`distill` trains
    its student but without a teacher term -- the recipe for teachers and no-teacher controls."""
    return distill(
        model,
        _NoTeacher(),
        train,
        val,
        config,
        DistillConfig(alpha=1.0, mixup=mixup),
        metric_fn,
        progress=progress,
    )


def select_leads(split: ArraySplit, leads: Sequence[int] | None, name: str | None = None) -> ArraySplit:
    """The same records keeping only the leads at ``leads`` (indices; ``None``: all, returned as is)."""
    if leads is None:
        return split
    idx = [int(i) for i in leads]
    if max(idx) >= split.n_leads:
        raise LeanECGError(
            f"{split.name}.X", f"has {split.n_leads} leads; lead index {max(idx)} is out of range"
        )
    X = split.X[:, idx] if isinstance(split.X, np.ndarray) else [x[idx] for x in split.X]
    return ArraySplit(X, split.y, split.features, split.groups, name=name or split.name)


def distill(
    student: nn.Module,
    teacher: nn.Module,
    train: ArraySplit,
    val: ArraySplit | None = None,
    config: TrainConfig | None = None,
    distill_config: DistillConfig | None = None,
    metric_fn: MetricFn | None = None,
    *,
    augment: Any = None,
    progress: bool = True,
) -> TrainResult:
    """Train ``student`` with :func:`leanecg.train.fit`, adding the teacher's soft targets to the loss.

    Args:
        student: the model to train (its initial weights are used as they are); trained in place.
        teacher: a trained model with the same outputs; frozen while training (eval mode, ``requires_grad``
            off), then left in the mode and with the ``requires_grad`` flags it had.
        train, val: splits holding every lead either model needs (see ``student_leads``/``teacher_leads``).
        config: training hyper-parameters (as for :func:`fit`).
        distill_config: temperature, alpha, feature matching and lead selection.
        metric_fn: validation metric of the *student* (higher is better), as for :func:`fit`.
        augment, progress: as for :func:`fit`.

    Returns:
        The :class:`TrainResult`; ``result.config`` gains a ``"distill"`` block. ``student`` holds the best
        epoch's weights, is in eval mode and has ``student.multilabel`` set.
    """
    dcfg = DistillConfig() if distill_config is None else distill_config
    if not isinstance(dcfg, DistillConfig):
        raise LeanECGError("distill_config", f"expected a DistillConfig, got {type(dcfg).__name__}")
    dcfg.validate()
    for role, leads in (("student", dcfg.student_leads), ("teacher", dcfg.teacher_leads)):
        if leads is not None and max(leads) >= train.n_leads:
            raise LeanECGError(
                f"DistillConfig.{role}_leads",
                f"lead index {max(leads)} is out of range: the training split has {train.n_leads} leads",
            )
    was_training = teacher.training
    grad_flags = [p.requires_grad for p in teacher.parameters()]
    wrapper = DistillationModule(student, teacher, dcfg)
    multilabel = train.multilabel
    try:
        result = fit(
            wrapper,
            train,
            val,
            config,
            metric_fn=metric_fn,
            augment=augment,
            progress=progress,
            batch_loss=lambda model, batch, criterion: model.batch_loss(batch, criterion, multilabel),
        )
    finally:
        wrapper.remove_hooks()
        teacher.train(was_training)
        for p, flag in zip(teacher.parameters(), grad_flags, strict=True):  # the teacher is left as it was
            p.requires_grad_(flag)
    student.eval()
    try:
        student.multilabel = multilabel
    except AttributeError:
        pass
    result.config = {**result.config, "distill": dcfg.to_dict()}
    return result
