"""Ensembles of trained zoo models: one module that averages its members' probabilities.

Independently trained copies of a small model (different seeds, the same recipe) disagree mostly on
the beats and records where each of them is unsure; averaging their class probabilities removes much of
that seed-to-seed variance. :class:`Ensemble` holds ``k`` members with the same inputs and classes and
returns ``log(mean_k softmax(member_k(x)))`` as its logits, so ``softmax`` of its output is exactly the
average probability, temperature scaling and argmax work unchanged, and one ONNX graph serves the whole
ensemble (its parameter count counts every member).

Members may read different feature columns (e.g. a network on 37 beat features beside a logistic regression on
17 of them): the ensemble then takes the union of their columns and hands each member its own
(``feature_columns``: per member, the indices of its columns in the ensemble's feature vector).

Its config is ``{"format", "name": "ensemble", "n_leads", "n_classes", "n_features", ["feature_columns"],
"members": [member configs]}`` (the counts copied from the first member, ``n_features`` the union's width when
the members read different columns, for readers of a config);
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
        feature_columns: per member, the indices (into the ensemble's ``features``, ``(batch,
            n_features)``) of the columns it reads, in its own order; ``None``: every member reads the same
            columns.
        n_features: with ``feature_columns``: the width of the ensemble's ``features``.

    Raises:
        LeanECGError: fewer than two members, members with different leads or keyword inputs, or (with
            ``feature_columns``) a member's column count that is not its ``n_features``, or an index outside
            ``0 .. n_features - 1``.

    >>> from leanecg.models.linear import FeatureLinear
    >>> a, b = FeatureLinear(1, 4, n_features=3).eval(), FeatureLinear(1, 4, n_features=2).eval()
    >>> ens = Ensemble([a, b], feature_columns=[[0, 1, 2], [0, 2]], n_features=3).eval()
    >>> x, f = torch.zeros(5, 1, 10), torch.randn(5, 3)
    >>> p = (a(x, features=f).softmax(-1) + b(x, features=f[:, [0, 2]]).softmax(-1)) / 2
    >>> bool(torch.allclose(ens(x, features=f).softmax(-1), p, atol=1e-6))
    True
    """

    def __init__(
        self,
        members: Sequence[nn.Module],
        *,
        feature_columns: Sequence[Sequence[int]] | None = None,
        n_features: int | None = None,
    ) -> None:
        super().__init__()
        if len(members) < 2:
            raise LeanECGError("members", f"an ensemble needs at least 2 members, got {len(members)}")
        first = members[0]
        same = ("n_leads", "extra_inputs") + (("n_features",) if feature_columns is None else ())
        for i, m in enumerate(members[1:], start=1):
            for attr in same:
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
        self.feature_columns: list[list[int]] | None = None
        if feature_columns is not None:
            self.n_features = int(n_features or 0)
            self.feature_columns = _member_columns(members, feature_columns, self.n_features)
            for i, cols in enumerate(self.feature_columns):  # not in the state dict: the config rebuilds them
                self.register_buffer(f"columns_{i}", torch.tensor(cols, dtype=torch.long), persistent=False)
        self.min_samples = max(int(getattr(m, "min_samples", 1)) for m in members)

    def forward(
        self, x: torch.Tensor, features: torch.Tensor | None = None, age_sex: torch.Tensor | None = None
    ) -> torch.Tensor:
        logps = []
        for i, m in enumerate(self.members):
            feats = features
            if features is not None and self.feature_columns is not None:
                feats = features.index_select(1, getattr(self, f"columns_{i}"))
            extra = {k: v for k, v in (("features", feats), ("age_sex", age_sex)) if v is not None}
            logps.append(F.log_softmax(m(x, **extra), dim=-1))
        return torch.logsumexp(torch.stack(logps), dim=0) - math.log(len(self.members))


def _member_columns(
    members: Sequence[nn.Module], feature_columns: Sequence[Sequence[int]], n_features: int
) -> list[list[int]]:
    """``feature_columns`` checked against the members (one list per member, as many columns as the member
    reads, indices inside the ensemble's ``n_features``), as lists of ints."""
    if len(feature_columns) != len(members):
        raise LeanECGError(
            "feature_columns", f"one list per member: {len(members)} members, {len(feature_columns)} lists"
        )
    if n_features < 1:
        raise LeanECGError(
            "n_features", f"members reading their own columns need n_features >= 1, got {n_features}"
        )
    out = []
    for i, (m, cols) in enumerate(zip(members, feature_columns, strict=True)):
        idx = [int(c) for c in cols]
        if len(idx) != int(getattr(m, "n_features", 0) or 0):
            raise LeanECGError(
                "feature_columns",
                f"member {i} reads {getattr(m, 'n_features', 0)} feature(s), given {len(idx)} column(s)",
            )
        if any(not 0 <= c < n_features for c in idx):
            raise LeanECGError("feature_columns", f"member {i}: a column outside 0..{n_features - 1}: {idx}")
        out.append(idx)
    return out
