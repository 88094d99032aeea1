"""Running a model on fewer leads than it was trained on, and the lead-subset search of the reduced-lead
study (:mod:`leanecg.bench.leads`).

:func:`predict_on_leads` runs a model on records that lack some of its leads (zero-filled by
:func:`zero_fill`; a lead-wise model masks them out); :class:`LeadSetDropout` is the training augmentation
that teaches a lead-wise model to work on any subset; :func:`rank_lead_subsets` scores every lead subset
with such a model by masking and :func:`greedy_path` reads the greedy forward selection off the ranking.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from leanecg.errors import LeanECGError
from leanecg.signal.leads import STANDARD_12, canonical_lead_name

__all__ = [
    "LeadSetDropout",
    "greedy_path",
    "lead_indices",
    "predict_on_leads",
    "rank_lead_subsets",
    "zero_fill",
]


def lead_indices(available: Sequence[str], wanted: Sequence[str], source: str = "leads") -> list[int]:
    """Positions of ``wanted`` lead names among ``available`` (any spelling); unknown names raise."""
    have = [canonical_lead_name(str(n)) for n in available]
    out = []
    for w in wanted:
        c = canonical_lead_name(str(w))
        if c not in have:
            raise LeanECGError(source, f"lead {w!r} is not among the available leads {', '.join(have)}")
        out.append(have.index(c))
    return out


def zero_fill(
    X: np.ndarray, have_leads: Sequence[str], model_leads: Sequence[str] = STANDARD_12
) -> tuple[np.ndarray, np.ndarray]:
    """Place channels-first records ``X`` ``(N, len(have_leads), T)`` into a ``model_leads`` layout.

    Returns:
        ``(X_full, present)``: float32 ``(N, len(model_leads), T)`` with the absent leads all zero, and a
        bool ``(len(model_leads),)`` mask of the leads that hold signal.
    """
    X = np.asarray(X)
    if X.ndim != 3 or X.shape[1] != len(have_leads):
        raise LeanECGError("X", f"expected (N, {len(have_leads)}, n_samples) records, got shape {X.shape}")
    model = [canonical_lead_name(str(n)) for n in model_leads]
    have = [canonical_lead_name(str(n)) for n in have_leads]
    extra = [h for h in have if h not in model]
    if extra:
        raise LeanECGError(
            "leads", f"lead {extra[0]} is not an input of the model (its leads: {', '.join(model)})"
        )
    out = np.zeros((X.shape[0], len(model), X.shape[2]), dtype=np.float32)
    present = np.zeros(len(model), dtype=bool)
    for i, name in enumerate(have):
        out[:, model.index(name)] = X[:, i]
        present[model.index(name)] = True
    return out, present


def predict_on_leads(
    model: Any,
    X: np.ndarray,
    have_leads: Sequence[str],
    model_leads: Sequence[str] = STANDARD_12,
    *,
    multilabel: bool | None = None,
    batch_size: int = 64,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Run a model trained on ``model_leads`` on records that only have ``have_leads``.

    Absent leads are zero-filled (:func:`zero_fill`); a :class:`~leanecg.models.leadwise.LeadWiseNet`
    masks zero leads out of its pooling, any other model sees the zeros as signal.

    Returns:
        ``(proba, info)``: probabilities ``(N, n_classes)`` and what was done: ``model_leads``,
        ``present_leads``, ``missing_leads``, ``missing`` (``"none"``, ``"zero-filled"`` or ``"masked"``)
        and a one-line ``note`` to show next to the prediction.
    """
    from leanecg.models.leadwise import LeadWiseNet
    from leanecg.train.trainer import predict_proba

    X_full, present = zero_fill(X, have_leads, model_leads)
    model_names = [canonical_lead_name(str(n)) for n in model_leads]
    missing = [n for n, p in zip(model_names, present, strict=True) if not p]
    if not missing:
        how = "none"
        note = "all the model's leads present"
    elif isinstance(model, LeadWiseNet):
        how = "masked"
        note = f"leads {', '.join(missing)} absent: zero-filled and masked out by the lead-wise model"
    else:
        how = "zero-filled"
        note = (
            f"leads {', '.join(missing)} absent: zero-filled; the model was trained on "
            f"{len(model_names)} leads and never saw them missing"
        )
    proba = predict_proba(model, X_full, batch_size=batch_size, multilabel=multilabel)
    info = {
        "model_leads": model_names,
        "present_leads": [n for n, p in zip(model_names, present, strict=True) if p],
        "missing_leads": missing,
        "missing": how,
        "note": note,
    }
    return proba, info


class LeadSetDropout:
    """Batched training augmentation: each record keeps a random lead subset, the others are zeroed.

    With probability ``p_full`` all leads stay; with ``p_challenge_set`` one of ``lead_sets`` (uniformly);
    otherwise each lead is kept with probability 0.5 (at least one). For models that mask zero leads
    (:class:`~leanecg.models.leadwise.LeadWiseNet`), so they learn to work on any subset.

    Args:
        leads: the channel names of the training records.
        lead_sets: lead subsets (names) to favour.
        p_full, p_challenge_set: see above.
    """

    batched = True

    def __init__(
        self,
        leads: Sequence[str],
        lead_sets: Sequence[Sequence[str]],
        p_full: float = 0.3,
        p_challenge_set: float = 0.4,
    ) -> None:
        self.n_leads = len(leads)
        self.masks = []
        for s in lead_sets:
            m = np.zeros(self.n_leads, dtype=bool)
            m[lead_indices(leads, s, "lead_sets")] = True
            self.masks.append(m)
        self.p_full = float(p_full)
        self.p_set = float(p_challenge_set)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        keep = np.ones((x.shape[0], self.n_leads), dtype=bool)
        u = rng.random(x.shape[0])
        for i in range(x.shape[0]):
            if u[i] < self.p_full:
                continue
            if u[i] < self.p_full + self.p_set and self.masks:
                keep[i] = self.masks[int(rng.integers(len(self.masks)))]
            else:
                k = rng.random(self.n_leads) < 0.5
                if not k.any():
                    k[int(rng.integers(self.n_leads))] = True
                keep[i] = k
        return (x * keep[:, :, None]).astype(np.float32)


def rank_lead_subsets(
    model: Any,
    X: np.ndarray,
    y: np.ndarray,
    leads: Sequence[str],
    metric_fn: Callable[[np.ndarray, np.ndarray], float],
    max_size: int | None = None,
) -> list[dict[str, Any]]:
    """Score every non-empty lead subset (up to ``max_size`` leads) with a lead-wise model, by masking.

    The per-lead embeddings of ``X`` ``(N, len(leads), T)`` are computed once; each subset then costs one
    masked pooling and the classifier. Returns one dict per subset, ``{"leads", "size", "score"}``, sorted
    by score (best first; NaN last), ties by size then lead order.
    """
    import torch

    from leanecg.models.leadwise import LeadWiseNet

    if not isinstance(model, LeadWiseNet):
        raise LeanECGError("model", "the lead-subset search needs a lead-wise (masking) model")
    names = [canonical_lead_name(str(n)) for n in leads]
    max_size = len(names) if max_size is None else int(max_size)
    was = model.training
    model.eval()
    try:
        with torch.inference_mode():
            z = torch.cat(
                [
                    model.lead_embeddings(torch.from_numpy(np.asarray(X[i : i + 128], dtype=np.float32)))
                    for i in range(0, len(X), 128)
                ]
            )
            rows = []
            for size in range(1, max_size + 1):
                for combo in itertools.combinations(range(len(names)), size):
                    mask = torch.zeros((z.shape[0], len(names)), dtype=torch.bool)
                    mask[:, list(combo)] = True
                    logits = model.head_from_embeddings(z, mask).double().numpy()
                    proba = 0.5 * (1.0 + np.tanh(0.5 * logits))  # as predict_proba
                    rows.append(
                        {
                            "leads": [names[i] for i in combo],
                            "size": size,
                            "score": float(metric_fn(y, proba)),
                            "_key": combo,
                        }
                    )
    finally:
        model.train(was)
    rows.sort(key=lambda r: (-(r["score"] if np.isfinite(r["score"]) else -np.inf), r["size"], r["_key"]))
    for rank, r in enumerate(rows, 1):
        r["rank"] = rank
        del r["_key"]
    return rows


def greedy_path(ranking: Sequence[dict[str, Any]], leads: Sequence[str]) -> list[dict[str, Any]]:
    """Greedy forward selection over a subset ranking: start empty, add the lead that scores best."""
    score = {tuple(sorted(r["leads"], key=list(leads).index)): r["score"] for r in ranking}
    chosen: list[str] = []
    path = []
    while len(chosen) < len(leads):
        best, best_score = None, -np.inf
        for lead in leads:
            if lead in chosen:
                continue
            key = tuple(sorted([*chosen, lead], key=list(leads).index))
            s = score.get(key, np.nan)
            if np.isfinite(s) and s > best_score:
                best, best_score = lead, s
        if best is None:
            break
        chosen.append(best)
        path.append({"added": best, "leads": list(chosen), "score": float(best_score)})
    return path
