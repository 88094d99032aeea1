"""Ensembles of trained zoo models: one module that averages its members' probabilities.

Independently trained copies of a small model (different seeds, the same recipe) disagree mostly on
the beats and records where each of them is unsure; averaging their class probabilities removes much of
that seed-to-seed variance. :class:`Ensemble` holds ``k`` members with the same inputs and classes and
returns ``log(mean_k softmax(member_k(x)))`` as its logits, so ``softmax`` of its output is exactly the
average probability, temperature scaling and argmax work unchanged, and one ONNX graph serves the whole
ensemble (its parameter count counts every member).

Its config is ``{"format", "name": "ensemble", "n_leads", "n_classes", "n_features", "members": [member
configs]}`` (the three counts copied from the first member, for readers of a config);
:func:`leanecg.models.registry.build_from_config` rebuilds it (members first), so a model package
stores and loads an ensemble like any other model. Build one from trained models with
:func:`leanecg.models.registry.ensemble_of`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from leanecg.errors import LeanECGError
from leanecg.models.config_names import ENSEMBLE_NAME

__all__ = ["ENSEMBLE_NAME", "Ensemble"]


class Ensemble(nn.Module):
    """Average of the members' class probabilities, returned as logits ``(batch, n_classes)``.

    Args:
        members: two or more models taking the same inputs (``x: (batch, n_leads, n_samples)`` and the
            same keyword inputs, ``extra_inputs``) and returning logits over the same classes.

    Raises:
        LeanECGError: fewer than two members, or members with different leads or keyword inputs.
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(members) < 2:
            raise LeanECGError("members", f"an ensemble needs at least 2 members, got {len(members)}")
        first = members[0]
        for i, m in enumerate(members[1:], start=1):
            for attr in ("n_leads", "extra_inputs", "n_features"):
                if getattr(m, attr, None) != getattr(first, attr, None):
                    raise LeanECGError(
                        "members",
                        f"member {i} has {attr} {getattr(m, attr, None)!r}, member 0 has "
                        f"{getattr(first, attr, None)!r}; an ensemble's members take the same inputs",
                    )
        self.members = nn.ModuleList(members)
        self.n_leads = getattr(first, "n_leads", None)
        self.extra_inputs = tuple(getattr(first, "extra_inputs", ()))
        self.n_features = getattr(first, "n_features", 0)
        self.min_samples = max(int(getattr(m, "min_samples", 1)) for m in members)

    def forward(
        self, x: torch.Tensor, features: torch.Tensor | None = None, age_sex: torch.Tensor | None = None
    ) -> torch.Tensor:
        extra = {k: v for k, v in (("features", features), ("age_sex", age_sex)) if v is not None}
        logp = torch.stack([F.log_softmax(m(x, **extra), dim=-1) for m in self.members])
        return torch.logsumexp(logp, dim=0) - math.log(len(self.members))
