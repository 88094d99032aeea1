"""Contrastive losses: SimCLR's NT-Xent and CLOCS's patient-specific contrastive loss.

Both take L2-normalised cosine similarities divided by a temperature ``tau`` (dimensionless, > 0).

* :func:`nt_xent` (Chen et al. 2020, SimCLR): ``2B`` embeddings of ``B`` instances seen twice; each
  embedding's positive is the other view of its instance, its negatives the other ``2B - 2`` embeddings.
* :func:`patient_contrastive_loss` (Kiyasseh et al. 2021, CLOCS): ``V >= 2`` views of ``B`` instances and
  a patient id per instance; for every pair of views ``(a, b)``, every cross-view pair of embeddings from
  the same patient is a positive (the same instance, and other instances of that patient in the batch)
  and the other cross-view pairs are negatives. The loss is the mean of ``-log softmax`` over positives,
  row-wise (view ``a`` against all of view ``b``) and column-wise (symmetric), averaged over view pairs.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
import torch.nn.functional as F

from leanecg.errors import LeanECGError


def _check_tau(temperature: float) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not temperature > 0:
        raise LeanECGError("temperature", f"must be a positive number, got {temperature!r}")
    if not math.isfinite(temperature):
        raise LeanECGError("temperature", f"must be finite, got {temperature!r}")
    return float(temperature)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SimCLR's normalised temperature-scaled cross-entropy of two views ``(B, D)`` each (``B >= 2``).

    Returns:
        Scalar tensor: mean over the ``2B`` anchors of ``-log(exp(s_pos / tau) / sum_{k != i} exp(s_ik / tau))``.
    """
    tau = _check_tau(temperature)
    if z1.ndim != 2 or z1.shape != z2.shape:
        raise LeanECGError(
            "z", f"expected two (batch, dim) tensors of one shape, got {tuple(z1.shape)}, {tuple(z2.shape)}"
        )
    b = z1.shape[0]
    if b < 2:
        raise LeanECGError("z", "NT-Xent needs at least 2 instances per batch")
    z = F.normalize(torch.cat([z1, z2], dim=0), dim=1)
    sim = z @ z.T / tau
    sim = sim.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(z.device)
    return F.cross_entropy(sim, target)


def patient_contrastive_loss(
    views: torch.Tensor, groups: np.ndarray | torch.Tensor | None = None, temperature: float = 0.1
) -> torch.Tensor:
    """CLOCS's patient-specific contrastive loss.

    Args:
        views: ``(B, V, D)`` embeddings: ``V >= 2`` views (segments, leads, or both) of ``B`` instances.
        groups: ``(B,)`` patient ids (any hashable numpy values or an int tensor); instances with the same
            id are positives of one another across views. ``None``: every instance is its own patient
            (then the loss is the cross-view InfoNCE of CMC, symmetric).
        temperature: ``tau``.

    Returns:
        Scalar tensor averaged over view pairs, anchors and positives.
    """
    tau = _check_tau(temperature)
    if views.ndim != 3 or views.shape[1] < 2:
        raise LeanECGError("views", f"expected (batch, n_views >= 2, dim), got {tuple(views.shape)}")
    b = views.shape[0]
    if b < 2:
        raise LeanECGError("views", "the contrastive loss needs at least 2 instances per batch")
    pos = _positive_mask(groups, b, views.device)
    z = F.normalize(views, dim=2)
    losses = []
    for a, c in itertools.combinations(range(views.shape[1]), 2):
        sim = z[:, a] @ z[:, c].T / tau  # (B, B): rows view a, columns view c
        log_row = sim - torch.logsumexp(sim, dim=1, keepdim=True)
        log_col = sim - torch.logsumexp(sim, dim=0, keepdim=True)
        n_pos = pos.sum()
        losses.append(-(log_row[pos].sum() + log_col[pos].sum()) / (2 * n_pos))
    return torch.stack(losses).mean()


def _positive_mask(groups: np.ndarray | torch.Tensor | None, b: int, device: torch.device) -> torch.Tensor:
    if groups is None:
        return torch.eye(b, dtype=torch.bool, device=device)
    g = groups.detach().cpu().numpy() if isinstance(groups, torch.Tensor) else np.asarray(groups)
    if g.shape != (b,):
        raise LeanECGError("groups", f"expected ({b},) patient ids, got shape {tuple(g.shape)}")
    _, codes = np.unique(g, return_inverse=True)
    codes_t = torch.from_numpy(codes.reshape(-1).astype(np.int64)).to(device)
    return codes_t[:, None] == codes_t[None, :]
