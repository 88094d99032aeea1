"""Training losses: cross-entropy (optionally class-weighted), focal, BCE and asymmetric loss.

Every loss takes raw logits ``(batch, n_classes)``. Single-label targets are int64 class indices
``(batch,)``; multi-label targets are float multi-hot ``(batch, n_classes)`` (soft values allowed).

Class weights mean the same thing everywhere: the weight of an example *being positive for class c*.
For single-label losses it multiplies the loss of examples of class ``c`` and the mean is taken over the
summed weights (torch's ``cross_entropy`` convention, so scaling all weights leaves the loss unchanged).
For multi-label losses it multiplies the positive term of column ``c`` (BCE's ``pos_weight``).
``"balanced"`` weights come from the training labels: single-label ``n / (k * n_c)`` (scikit-learn's rule,
``k`` = number of classes present), multi-label ``n_neg_c / n_pos_c``; a class without examples gets 1.

Label smoothing ``eps``: single-label targets become ``(1 - eps) * one_hot + eps / n_classes`` (as torch's
``cross_entropy``), multi-label targets ``y * (1 - eps) + eps / 2``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from leanecg.errors import LeanECGError, check_number

LOSSES = ("ce", "weighted_ce", "focal", "bce", "asymmetric")
SINGLE_LABEL_LOSSES = frozenset({"ce", "weighted_ce"})
MULTILABEL_LOSSES = frozenset({"bce", "asymmetric"})
_TINY = 1e-12  # floor under (1 - p) and p before a fractional power, so its gradient stays finite


def balanced_class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """scikit-learn's ``"balanced"`` weights for class indices ``y`` (N,): ``n / (k * count_c)``.

    ``k`` is the number of classes present in ``y``; absent classes get weight 1. float32 ``(n_classes,)``.
    """
    y = np.asarray(y, dtype=np.int64)
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)[:n_classes]
    present = counts > 0
    w = np.ones(n_classes, dtype=np.float64)
    w[present] = len(y) / (present.sum() * counts[present])
    return w.astype(np.float32)


def balanced_pos_weights(y: np.ndarray) -> np.ndarray:
    """Multi-label ``"balanced"`` positive weights ``n_neg_c / n_pos_c`` for multi-hot ``y`` (N, C).

    Soft targets count fractionally. A class with no positives or no negatives gets 1. float32 ``(C,)``.
    """
    y = np.asarray(y, dtype=np.float64)
    pos = y.sum(axis=0)
    neg = len(y) - pos
    w = np.ones(y.shape[1], dtype=np.float64)
    ok = (pos > 0) & (neg > 0)
    w[ok] = neg[ok] / pos[ok]
    return w.astype(np.float32)


def smooth_multilabel(y: torch.Tensor, eps: float) -> torch.Tensor:
    """Multi-label label smoothing: ``y * (1 - eps) + eps / 2``."""
    return y if eps == 0 else y * (1.0 - eps) + 0.5 * eps


def _float32_or_none(value: torch.Tensor | None) -> torch.Tensor | None:
    """A weight vector as a float32 tensor (for a buffer); ``None`` stays ``None``."""
    return None if value is None else torch.as_tensor(value, dtype=torch.float32)


class _MultiLabelLoss(nn.Module):
    """Base of the multi-label losses: a ``pos_weight`` buffer and multi-label label smoothing."""

    def __init__(self, pos_weight: torch.Tensor | None, label_smoothing: float) -> None:
        super().__init__()
        self.label_smoothing = float(label_smoothing)
        self.register_buffer("pos_weight", _float32_or_none(pos_weight))

    def _inputs(self, logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """float32 logits and the smoothed targets (:func:`smooth_multilabel`) in the same dtype."""
        x = logits.float()
        return x, smooth_multilabel(target.to(x.dtype), self.label_smoothing)


class FocalLoss(nn.Module):
    """Multi-class (softmax) focal loss, Lin et al. 2017: ``-w_y (1 - p_y)^gamma log p_y``.

    With label smoothing the loss is ``-sum_c q_c w_c (1 - p_c)^gamma log p_c`` for the smoothed target
    ``q``; the mean divides by the summed weights of the targets. ``gamma=0`` is exactly torch's
    ``cross_entropy(logits, target, weight, label_smoothing)``.

    Args:
        gamma: focusing parameter (>= 0).
        weight: optional per-class weights ``(n_classes,)`` (the ``alpha`` of the paper).
        label_smoothing: in ``[0, 1)``.
    """

    def __init__(
        self, gamma: float = 2.0, weight: torch.Tensor | None = None, label_smoothing: float = 0.0
    ) -> None:
        super().__init__()
        self.gamma = float(gamma)
        self.label_smoothing = float(label_smoothing)
        self.register_buffer("weight", _float32_or_none(weight))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logp = F.log_softmax(logits.float(), dim=1)
        n_classes = logits.shape[1]
        q = F.one_hot(target, n_classes).to(logp.dtype)
        if self.label_smoothing:
            q = q * (1.0 - self.label_smoothing) + self.label_smoothing / n_classes
        if self.gamma:
            q = q * (-torch.expm1(logp)).clamp(min=_TINY).pow(self.gamma)
        if self.weight is not None:
            q = q * self.weight
            denom = self.weight[target].sum()
        else:
            denom = torch.tensor(float(len(target)), dtype=logp.dtype, device=logp.device)
        return -(q * logp).sum() / denom


class BinaryFocalLoss(_MultiLabelLoss):
    """Sigmoid focal loss for binary / multi-label targets (Lin et al. 2017), mean over all elements.

    ``-[alpha w_c y (1 - p)^gamma log p + (1 - alpha) (1 - y) p^gamma log(1 - p)]``; without ``alpha`` both
    ``alpha`` factors are 1. ``gamma=0`` and no ``alpha`` is exactly
    ``binary_cross_entropy_with_logits(logits, y, pos_weight=w)``.

    Args:
        gamma: focusing parameter (>= 0).
        alpha: optional weight of positives in ``(0, 1)`` (negatives get ``1 - alpha``); 0.25 in the paper.
        pos_weight: optional per-class weights of the positive term ``(n_classes,)``.
        label_smoothing: in ``[0, 1)``.
    """

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float | None = None,
        pos_weight: torch.Tensor | None = None,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(pos_weight, label_smoothing)
        self.gamma = float(gamma)
        self.alpha = None if alpha is None else float(alpha)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x, y = self._inputs(logits, target)
        log_p, log_q = F.logsigmoid(x), F.logsigmoid(-x)
        pos, neg = y * log_p, (1.0 - y) * log_q
        if self.gamma:
            pos = pos * torch.exp(log_q).clamp(min=_TINY).pow(self.gamma)
            neg = neg * torch.exp(log_p).clamp(min=_TINY).pow(self.gamma)
        if self.pos_weight is not None:
            pos = pos * self.pos_weight
        if self.alpha is not None:
            pos, neg = self.alpha * pos, (1.0 - self.alpha) * neg
        return -(pos + neg).mean()


class AsymmetricLoss(_MultiLabelLoss):
    """Asymmetric loss for multi-label classification (Ridnik et al., ICCV 2021), mean over all elements.

    With ``p = sigmoid(x)`` and the shifted probability ``p_m = max(p - clip, 0)`` for negatives::

        L = -[ y (1 - p)^gamma_pos log p + (1 - y) p_m^gamma_neg log(1 - p_m) ]

    as in the authors' reference implementation (soft targets use its element-wise form). Differences,
    both deliberate: the mean over ``batch x classes`` replaces the reference's sum (same minimiser, a
    scale independent of batch size; with ``gamma_pos = gamma_neg = clip = 0`` the loss equals BCE), and
    ``log p`` is computed as ``logsigmoid(x)`` instead of ``log(max(p, 1e-8))``, so a confidently wrong
    positive keeps its gradient.

    Args:
        gamma_pos: focusing on positives (paper: 0).
        gamma_neg: focusing on negatives (paper: 4).
        clip: probability margin ``m`` that discards easy negatives (paper: 0.05).
        eps: floor under ``1 - p_m`` before its log (``1 - p_m >= clip``, so it only matters for a tiny clip).
        pos_weight: optional per-class weights of the positive term ``(n_classes,)``.
        label_smoothing: in ``[0, 1)``.
    """

    def __init__(
        self,
        gamma_pos: float = 0.0,
        gamma_neg: float = 4.0,
        clip: float = 0.05,
        eps: float = 1e-8,
        pos_weight: torch.Tensor | None = None,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(pos_weight, label_smoothing)
        self.gamma_pos = float(gamma_pos)
        self.gamma_neg = float(gamma_neg)
        self.clip = float(clip)
        self.eps = float(eps)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x, y = self._inputs(logits, target)
        p = torch.sigmoid(x)
        if self.clip > 0:
            q = (torch.sigmoid(-x) + self.clip).clamp(max=1.0)  # 1 - p_m
            log_q = torch.log(q.clamp(min=self.eps))
        else:
            q, log_q = torch.sigmoid(-x), F.logsigmoid(-x)
        pos, neg = y * F.logsigmoid(x), (1.0 - y) * log_q
        if self.pos_weight is not None:
            pos = pos * self.pos_weight
        loss = pos + neg
        if self.gamma_pos or self.gamma_neg:
            pt = p * y + q * (1.0 - y)
            gamma = self.gamma_pos * y + self.gamma_neg * (1.0 - y)
            loss = loss * (1.0 - pt).clamp(min=_TINY).pow(gamma)
        return -loss.mean()


class SmoothedBCEWithLogitsLoss(_MultiLabelLoss):
    """``binary_cross_entropy_with_logits`` with ``pos_weight`` and multi-label label smoothing."""

    def __init__(self, pos_weight: torch.Tensor | None = None, label_smoothing: float = 0.0) -> None:
        super().__init__(pos_weight, label_smoothing)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x, y = self._inputs(logits, target)
        return F.binary_cross_entropy_with_logits(x, y, pos_weight=self.pos_weight)


def resolve_class_weights(
    class_weights: str | Sequence[float] | None,
    y_train: np.ndarray,
    n_classes: int,
    source: str = "class_weights",
) -> np.ndarray | None:
    """Turn ``"balanced"`` / a list / ``None`` into float32 ``(n_classes,)`` weights (or ``None``).

    ``y_train`` decides the meaning: class indices ``(N,)`` or multi-hot ``(N, C)`` (module docstring).
    """
    if class_weights is None:
        return None
    y_train = np.asarray(y_train)
    if isinstance(class_weights, str):
        if class_weights != "balanced":
            raise LeanECGError(
                source, f"must be 'balanced', a list of numbers or null, got {class_weights!r}"
            )
        if y_train.ndim == 2:
            return balanced_pos_weights(y_train)
        return balanced_class_weights(y_train, n_classes)
    w = np.asarray(class_weights, dtype=np.float32)
    if w.shape != (n_classes,):
        raise LeanECGError(source, f"needs one weight per class ({n_classes}), got {w.size}")
    if not np.isfinite(w).all() or (w < 0).any() or not (w > 0).any():
        raise LeanECGError(source, "weights must be finite, >= 0 and not all zero")
    return w


def make_loss(
    name: str,
    *,
    y_train: np.ndarray,
    n_classes: int,
    class_weights: str | Sequence[float] | None = None,
    label_smoothing: float = 0.0,
    gamma: float = 2.0,
    focal_alpha: float | None = None,
    gamma_pos: float = 0.0,
    gamma_neg: float = 4.0,
    asl_clip: float = 0.05,
) -> nn.Module:
    """Build the loss ``name`` (one of :data:`LOSSES`) for the training labels ``y_train``.

    ``"weighted_ce"`` is ``"ce"`` with ``class_weights`` defaulting to ``"balanced"``. ``"focal"`` is the
    softmax focal loss for class indices and the sigmoid one for multi-hot labels. ``"bce"`` and
    ``"asymmetric"`` need multi-hot labels, ``"ce"`` / ``"weighted_ce"`` class indices.
    """
    if name not in LOSSES:
        raise LeanECGError("loss", f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    multilabel = np.asarray(y_train).ndim == 2
    if multilabel and name in SINGLE_LABEL_LOSSES:
        raise LeanECGError("loss", f"{name!r} needs class indices (N,), but the labels are multi-hot (N, C)")
    if not multilabel and name in MULTILABEL_LOSSES:
        raise LeanECGError(
            "loss", f"{name!r} needs multi-hot labels (N, C), but the labels are class indices"
        )
    check_number("label_smoothing", label_smoothing, low=0, high=1, high_open=True)
    if name == "weighted_ce" and class_weights is None:
        class_weights = "balanced"
    w = resolve_class_weights(class_weights, y_train, n_classes)
    wt = None if w is None else torch.from_numpy(w)
    if name in SINGLE_LABEL_LOSSES:
        return nn.CrossEntropyLoss(weight=wt, label_smoothing=label_smoothing)
    if name == "focal" and not multilabel:
        return FocalLoss(gamma=gamma, weight=wt, label_smoothing=label_smoothing)
    if name == "focal":
        return BinaryFocalLoss(gamma=gamma, alpha=focal_alpha, pos_weight=wt, label_smoothing=label_smoothing)
    if name == "bce":
        return SmoothedBCEWithLogitsLoss(pos_weight=wt, label_smoothing=label_smoothing)
    return AsymmetricLoss(
        gamma_pos=gamma_pos,
        gamma_neg=gamma_neg,
        clip=asl_clip,
        pos_weight=wt,
        label_smoothing=label_smoothing,
    )
