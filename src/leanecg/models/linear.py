"""A multinomial logistic regression on the handcrafted feature vector, as a zoo model.

The classic inter-patient beat classifiers (de Chazal et al. 2004, a linear discriminant on RR intervals
and morphology) carry SVEB to unseen patients better than much larger networks: with a handful of
weights per class there is little to memorise about the training patients. :class:`FeatureLinear` is
that model in the zoo's form, so that it trains with a task's recipe, exports to ONNX and, above all,
joins a network in :func:`leanecg.models.registry.ensemble_of` (``leanecg ensemble``): the average of
its probabilities and a network's is the mitdb-aami ensemble measured in ``benchmarks/beat_ablation.py``.

The features are standardised inside the model by a batch-norm layer without affine parameters (running
mean / variance learnt in training), then one linear layer gives the logits; trained with cross-entropy
it is exactly a logistic regression on standardised features. The signal input ``x`` is checked and
otherwise ignored: the model takes it so that it has the same inputs as the networks it is ensembled
with.

Shapes: ``forward(x (B, n_leads, L), features (B, n_features))`` -> ``(B, n_classes)``.
"""

from __future__ import annotations

import torch
from torch import nn

from leanecg.errors import LeanECGError, check_number
from leanecg.models.heads import check_features, check_input

__all__ = ["FeatureLinear"]


class FeatureLinear(nn.Module):
    """Logistic regression on standardised features: ``logits = W . standardise(features) + b``.

    Args:
        n_leads: input leads of ``x`` (checked, not used).
        n_classes: output classes.
        width, depth: accepted for the registry's interface; a linear model has neither (any value
            gives the same model).
        n_features: length of the feature vector (``>= 1``).
        l2_c: inverse L2 penalty of the fit (scikit-learn's ``C``; > 0), used by
            :func:`leanecg.train.convex.fit_logistic`.

    Raises:
        LeanECGError: ``n_features < 1`` (the task has no handcrafted features for it to read).

    Attributes:
        reads_signal: ``False``: the logits do not depend on ``x``.
        convex: ``True``: :func:`leanecg.train.trainer.fit` solves it to convergence
            (:func:`leanecg.train.convex.fit_logistic`) instead of running epochs of gradient steps.

    >>> import torch
    >>> model = FeatureLinear(1, 4, n_features=13).eval()
    >>> model(torch.zeros(2, 1, 126), features=torch.randn(2, 13)).shape
    torch.Size([2, 4])
    >>> sum(p.numel() for p in model.parameters())
    56
    """

    extra_inputs: tuple[str, ...] = ("features",)
    reads_signal = False
    convex = True

    def __init__(
        self,
        n_leads: int,
        n_classes: int,
        width: float = 1.0,
        depth: float = 1.0,
        n_features: int = 0,
        *,
        l2_c: float = 1.0,
    ) -> None:
        super().__init__()
        check_number("l2_c", l2_c, low=0, low_open=True)
        self.l2_c = float(l2_c)
        if int(n_features) < 1:
            raise LeanECGError(
                "n_features",
                "a linear model reads only the task's handcrafted features, and this task has none",
            )
        self.n_leads = int(n_leads)
        self.n_features = int(n_features)
        self.min_samples = 1
        self.norm = nn.BatchNorm1d(self.n_features, affine=False)
        self.fc = nn.Linear(self.n_features, int(n_classes))

    @property
    def feature_norm(self) -> nn.BatchNorm1d:
        """The standardisation layer (its running mean is the training mean of each feature), under the name
        fusion heads give theirs."""
        return self.norm

    def forward(self, x: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        check_input(x, self.n_leads)
        check_features(features, self.n_features)
        assert features is not None
        return self.fc(self.norm(features))
