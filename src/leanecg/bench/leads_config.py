"""Settings of the reduced-lead study ``leanecg bench leads`` (:mod:`leanecg.bench.leads`): its task, the
reference model of the cost column, the three ways of getting a model for a lead set, and
:class:`LeadsConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass

from leanecg.errors import LeanECGError
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
    lead_sets: tuple[str, ...] = tuple(LEAD_SETS)
    epochs: int | None = None
    seeds: tuple[int, ...] = (0, 1, 2)
    seed: int = 0
    num_threads: int | None = 1
    n_boot: int = 1000
    max_train_seconds: float | None = None
    p_full: float = 0.3
    p_challenge_set: float = 0.4
    search_top: int = 5
    cost_budget_s: float = 1.0

    def validate(self) -> None:
        from leanecg.models.registry import list_models

        specs = {s.name: s for s in list_models()}
        if not self.models:
            raise LeanECGError("--models", "give at least one model")
        for m in self.models:
            if m not in specs:
                raise LeanECGError("--models", f"unknown model {m!r}; available: {', '.join(sorted(specs))}")
            if m in ("beatnet", "wide_deep", "wide_deep_lite"):
                raise LeanECGError(
                    "--models", f"{m} needs a feature input; the leads study uses signal-only models"
                )
        for s in self.lead_sets:
            if s not in LEAD_SETS:
                raise LeanECGError("lead_sets", f"unknown lead set {s!r}; available: {', '.join(LEAD_SETS)}")
        if not self.seeds or any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in self.seeds):
            raise LeanECGError("--seed", f"seeds must be non-negative integers, got {list(self.seeds)}")
        if self.epochs is not None and self.epochs < 1:
            raise LeanECGError("--epochs", f"must be a positive integer, got {self.epochs}")
        if self.num_threads is not None and self.num_threads < 1:
            raise LeanECGError("--threads", f"must be a positive integer, got {self.num_threads}")
        if self.n_boot < 1:
            raise LeanECGError("--n-boot", f"must be a positive integer, got {self.n_boot}")
        if not (
            0 <= self.p_full <= 1
            and 0 <= self.p_challenge_set <= 1
            and self.p_full + self.p_challenge_set <= 1
        ):
            raise LeanECGError("p_full", "p_full and p_challenge_set must be probabilities summing to <= 1")
