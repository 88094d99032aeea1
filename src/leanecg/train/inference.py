"""Inference of a torch model on records: :func:`predict_proba` (whole records or sliding windows), and
:func:`infer`, which also returns the logits (validation scores a loss on them).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from leanecg.errors import InvalidOptionError, LeanECGError, check_number, check_positive
from leanecg.signal.batching import inference_batches
from leanecg.train.datasets import ArraySplit, gather_windows

__all__ = ["forward", "infer", "predict_proba"]


def predict_proba(
    model: nn.Module,
    X: list[np.ndarray] | np.ndarray | ArraySplit,
    features: np.ndarray | None = None,
    batch_size: int = 64,
    window: int | None = None,
    hop: int | None = None,
    *,
    multilabel: bool | None = None,
    pad_fraction: float = 0.0,
) -> np.ndarray:
    """Class probabilities for records ``X``: float64 ``(N, n_classes)``, rows in the order of ``X``.

    Args:
        model: a trained model (run in eval mode under ``torch.inference_mode``; its mode is restored).
        X: records ``(n_leads, n_samples_i)`` (list or stacked array, as in ``ArraySplit.X``) or an
            :class:`ArraySplit` (its features are used unless ``features`` is given).
        features: optional float32 ``(N, n_features)``.
        batch_size: records (full-length) or windows (sliding) per forward pass.
        window: ``None``: each record is classified whole; records are sorted by length and batched with
            records of the same length (see ``pad_fraction``). An int: the record is cut into windows of
            ``window`` samples every ``hop`` samples (default ``hop = window``; the last window ends at the
            record's end; a shorter record is zero-padded to one window) and the record's probabilities
            are the mean of its windows' probabilities.
        hop: window step in samples.
        multilabel: sigmoid (True) or softmax (False); ``None``: ``model.multilabel`` (set by :func:`fit`),
            else softmax.
        pad_fraction: full-length mode: let a batch mix records whose lengths differ by up to this
            fraction of the longest, zero-padding the shorter ones on the right (faster, but padding can
            change a prediction slightly). The default 0 batches equal lengths only.

    Deterministic: the batching depends only on the record lengths and the arguments.
    """
    if isinstance(X, ArraySplit):
        split = X if features is None else ArraySplit(X.X, None, features, name="X")
    else:
        split = ArraySplit(X, None, features, name="X")
    if multilabel is None:
        multilabel = bool(getattr(model, "multilabel", False))
    proba, _ = infer(model, split, batch_size, window, hop, multilabel, pad_fraction)
    return proba


def forward(model: nn.Module, x: torch.Tensor, feats: torch.Tensor | None) -> torch.Tensor:
    """``model(x)``, or ``model(x, features=feats)`` with features: logits ``(batch, n_classes)``."""
    return model(x) if feats is None else model(x, features=feats)


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def infer(
    model: nn.Module,
    split: ArraySplit,
    batch_size: int,
    window: int | None,
    hop: int | None,
    multilabel: bool,
    pad_fraction: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities float64 ``(N, C)`` and matching logits float32 ``(N, C)``.

    Full-length mode returns the model's logits; window mode returns the logits of the averaged
    probabilities (``log p`` for softmax, ``logit p`` for sigmoid), so a loss can be computed on them.
    """
    check_positive("batch_size", batch_size, integer=True)
    check_number("window", window, low=1, integer=True, optional=True)
    if hop is not None and window is None:
        raise InvalidOptionError("hop", "needs window")
    check_number("hop", hop, low=1, integer=True, optional=True)
    check_number("pad_fraction", pad_fraction, low=0, high=1, high_open=True)
    device = _model_device(model)
    n = len(split)
    logits_out: np.ndarray | None = None
    proba_sum: np.ndarray | None = None
    counts = np.zeros(n, dtype=np.int64)
    was_training = model.training
    if was_training:  # switching modes walks every submodule: skip it for models already in eval mode
        model.eval()
    try:
        with torch.inference_mode():
            for recs, starts, length in inference_batches(
                split.lengths, batch_size, window, hop, pad_fraction
            ):
                x = torch.from_numpy(gather_windows(split.X, recs, starts, length)).to(device)
                feats = None if split.features is None else torch.from_numpy(split.features[recs]).to(device)
                out = forward(model, x, feats)
                if out.ndim != 2 or out.shape[0] != len(recs):
                    raise LeanECGError(
                        "model", f"must return logits (batch, n_classes), returned {tuple(out.shape)}"
                    )
                lg = out.detach().float().cpu().numpy()
                if logits_out is None:
                    logits_out = np.zeros((n, lg.shape[1]), dtype=np.float32)
                    proba_sum = np.zeros((n, lg.shape[1]), dtype=np.float64)
                if window is None:
                    logits_out[recs] = lg
                else:
                    np.add.at(proba_sum, recs, _activate(lg.astype(np.float64), multilabel))
                    np.add.at(counts, recs, 1)
    finally:
        if was_training:
            model.train()
    assert logits_out is not None and proba_sum is not None
    if window is None:
        return _activate(logits_out.astype(np.float64), multilabel), logits_out
    proba = proba_sum / counts[:, None]
    if multilabel:
        p = np.clip(proba, 1e-7, 1 - 1e-7)
        logits = np.log(p) - np.log1p(-p)
    else:
        logits = np.log(np.clip(proba, 1e-12, None))
    return proba, logits.astype(np.float32)


def _activate(logits: np.ndarray, multilabel: bool) -> np.ndarray:
    """Sigmoid (multi-label) or softmax over classes, in float64."""
    if multilabel:
        return 0.5 * (1.0 + np.tanh(0.5 * logits))  # sigmoid without overflow
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
