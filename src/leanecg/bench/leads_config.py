"""Settings of the reduced-lead study ``leanecg bench leads`` (:mod:`leanecg.bench.leads`): its task, the
reference model of the cost column, the three ways of getting a model for a lead set, and
:class:`LeadsConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass

from leanecg.config import in_range, non_negative, one_of, positive, validate_config
from leanecg.errors import InvalidOptionError
from leanecg.signal.leads import LEAD_SETS

__all__ = ["APPROACHES", "LEADWISE", "REFERENCE_MODEL", "TASK", "LeadsConfig"]

TASK = "ptbxl-superclass"
REFERENCE_MODEL = "resnet1d"
LEADWISE = "leadwise"
APPROACHES = ("per-set", "12-lead zero-filled", "lead-wise masked")


@dataclass
class LeadsConfig:
    """Settings of the reduced-lead study.

    Attributes:
        models: the per-set CNN(s) (any zoo model without a feature input) and, optionally, ``leadwise``.
        lead_sets: names of :data:`~leanecg.signal.leads.LEAD_SETS` to evaluate.
        epochs: maximum training epochs (``None``: the task's 40; early stopping on validation AUROC).
        seeds: one training (per-set models, lead-wise model, search) per seed.
        seed: the seed of the training being run (set from ``seeds`` by the study; seeds weights, lead
            dropout and the bootstrap).
        num_threads: torch threads (training and inference).
        n_boot: bootstrap resamples for the CIs.
        max_train_seconds: time budget per trained model (``None``: none).
        p_full: lead-wise training: probability that a record keeps all 12 leads.
        p_challenge_set: probability that it keeps one of the CinC 2021 lead sets (uniformly chosen);
            otherwise every lead is kept with probability 0.5 (at least one).
        search_top: subsets listed per size in the lead-selection ranking.
        cost_budget_s: seconds of timing per cost measurement.
    """

    models: tuple[str, ...] = ("litenet", LEADWISE)
    lead_sets: tuple[str, ...] = one_of(tuple(LEAD_SETS), LEAD_SETS, each=True)
    epochs: int | None = positive(None, integer=True, optional=True)
    seeds: tuple[int, ...] = non_negative((0, 1, 2), integer=True, each=True)
    seed: int = non_negative(0, integer=True)
    num_threads: int | None = positive(1, integer=True, optional=True)
    n_boot: int = positive(1000, integer=True)
    max_train_seconds: float | None = positive(None, optional=True)
    p_full: float = in_range(0.3, 0, 1)
    p_challenge_set: float = in_range(0.4, 0, 1)
    search_top: int = positive(5, integer=True)
    cost_budget_s: float = positive(1.0)

    def __post_init__(self) -> None:
        validate_config(self)

    def validate(self) -> None:
        """Raise :class:`~leanecg.errors.InvalidOptionError` naming ``LeadsConfig.<field>`` for a wrong field
        (the ranges are declared on the fields, :mod:`leanecg.config`; the models are checked against the
        zoo here)."""
        from leanecg.models.registry import list_models

        validate_config(self)
        specs = {s.name: s for s in list_models()}
        if not self.models:
            raise InvalidOptionError("LeadsConfig.models", "give at least one model")
        for m in self.models:
            if m not in specs:
                raise InvalidOptionError(
                    "LeadsConfig.models", f"unknown model {m!r}; available: {', '.join(sorted(specs))}"
                )
            if m in ("beatnet", "wide_deep", "wide_deep_lite"):
                raise InvalidOptionError(
                    "LeadsConfig.models",
                    f"{m} needs a feature input; the leads study uses signal-only models",
                )
        if self.p_full + self.p_challenge_set > 1:
            raise InvalidOptionError(
                "LeadsConfig.p_full",
                f"p_full + p_challenge_set must be <= 1, got {self.p_full} + {self.p_challenge_set}",
            )
