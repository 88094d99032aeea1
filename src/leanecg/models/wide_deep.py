"""Wide-and-deep classifier: a deep signal branch, a handcrafted-feature branch, optional age/sex.

The design of the PhysioNet/CinC 2020 winner (Natarajan et al., "A wide and deep transformer
neural network for 12-lead ECG classification"): a deep network pools the raw signal into an
embedding, a "wide" branch takes handcrafted features (HRV, morphology, spectral; see
``leanecg.features``), and both are joined before the classifier. Any zoo model can be the deep
branch (``backbone``, default SE-ResNet-1D); the features are standardised inside the model by a
batch-norm layer, so raw units are fine as long as they are finite (impute missing values first).

Age and sex (``use_age_sex=True``) enter as ``age_sex: (batch, 2)`` = ``[age in years, sex]`` with
sex 1 = male, 0 = female and NaN for anything unknown; the model encodes them as
``[age / 100, age known, male, female]`` (see :func:`age_sex_vector` to build the rows).

Shapes: ``forward(x (B, n_leads, L), features (B, n_features) | None, age_sex (B, 2) | None)``
-> ``(B, n_classes)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from leanecg.errors import LeanECGError
from leanecg.models.heads import FusionClassifier, FusionHead, check_features, check_vector

AGE_SEX_ENCODED = 4

#: Options of the registry's ``wide_deep_lite``: a LiteNet-style depthwise-separable deep branch of three
#: strongly strided blocks (total stride 256, receptive field 1,163 samples = 3.9 s at 300 Hz: several
#: beats; three blocks and an early stride of 16 keep batch-1 latency low -- RR irregularity comes in
#: mostly through the features), avg+max pooling, a 32-unit handcrafted-feature branch and a 32-unit
#: fusion layer; ~42 k weights with 79 record features (~43 k with the 116 of version 2). On cinc2017
#: (validation F1, same run length) it matched wider 4-block variants within noise (0.825 vs 0.833) at a
#: third of their latency.
WIDE_DEEP_LITE_DEFAULTS: dict[str, Any] = {
    "backbone": "litenet",
    "backbone_options": {
        "stem_channels": 16,
        "stem_kernel": 15,
        "blocks": [[64, 8], [128, 4], [128, 4]],
        "kernel_size": 15,
    },
    "feature_hidden": 32,
    "hidden": 32,
    "pool": "avgmax",
    "dropout": 0.2,
}
_MALE = {"m", "male", "man", "1"}
_FEMALE = {"f", "female", "woman", "0"}
_UNKNOWN = {"", "nan", "none", "unknown", "u", "?", "na", "n/a"}


def age_sex_vector(age: float | None, sex: str | float | None) -> np.ndarray:
    """``[age in years, sex]`` as float32 ``(2,)`` for the ``age_sex`` input; NaN where unknown.

    ``sex`` accepts ``"M"``/``"Male"``/``1`` (-> 1.0) and ``"F"``/``"Female"``/``0`` (-> 0.0),
    case-insensitive; ``None``, NaN, ``""`` and ``"Unknown"`` give NaN. Ages outside 0-130 years
    (e.g. PTB-XL's 300 for anonymised elderly patients) are clipped to that range.
    """
    a = math.nan if age is None else float(age)
    if not math.isnan(a):
        a = min(max(a, 0.0), 130.0)
    if sex is None or (isinstance(sex, float) and math.isnan(sex)):
        s = math.nan
    else:
        key = str(int(sex) if isinstance(sex, float) and sex.is_integer() else sex).strip().lower()
        if key in _MALE:
            s = 1.0
        elif key in _FEMALE:
            s = 0.0
        elif key in _UNKNOWN:
            s = math.nan
        else:
            raise LeanECGError("sex", f"cannot read sex {sex!r}; expected M/F, male/female, 1/0 or empty")
    return np.array([a, s], dtype=np.float32)


def encode_age_sex(age_sex: torch.Tensor) -> torch.Tensor:
    """Encode ``(B, 2)`` ``[age years, sex]`` (NaN = unknown) as ``(B, 4)``.

    Columns: ``[age / 100 (0 if unknown), age known, male, female]``.
    """
    age, sex = age_sex[:, 0:1], age_sex[:, 1:2]
    known = (~torch.isnan(age)).to(age_sex.dtype)
    age_scaled = torch.nan_to_num(age, nan=0.0) / 100.0
    male = (sex == 1.0).to(age_sex.dtype)
    female = (sex == 0.0).to(age_sex.dtype)
    return torch.cat([age_scaled, known, male, female], dim=1)


class WideDeep(FusionClassifier):
    """Deep branch (any zoo backbone) + standardised feature branch + optional age/sex.

    Args:
        n_leads, n_classes: input leads and output logits.
        width, depth: passed to the deep branch.
        n_features: handcrafted features per record (0: none).
        backbone: registry name of the deep branch (any zoo model except ``wide_deep``).
        backbone_options: overrides for the deep branch (as for ``build_model``).
        use_age_sex: take ``age_sex: (batch, 2)`` as an extra input.
        feature_hidden: hidden units of the wide branch (0: standardised features enter the
            fusion layer directly).
        hidden: hidden units of the fusion layer (0: linear classifier).
        pool: pooling of the deep branch output.
        dropout: dropout in the head.
    """

    def __init__(
        self,
        n_leads: int,
        n_classes: int,
        width: float = 1.0,
        depth: float = 1.0,
        n_features: int = 0,
        *,
        backbone: str = "se_resnet1d",
        backbone_options: dict[str, Any] | None = None,
        use_age_sex: bool = False,
        feature_hidden: int = 32,
        hidden: int = 64,
        pool: str = "avg",
        dropout: float = 0.2,
    ) -> None:
        from leanecg.models.registry import build_model, model_config  # deferred: registry imports us

        if backbone == "wide_deep":
            raise LeanECGError("backbone", "wide_deep cannot be its own deep branch")
        deep = build_model(backbone, n_leads, 1, width, depth, **dict(backbone_options or {}))
        n_wide = n_features + (AGE_SEX_ENCODED if use_age_sex else 0)
        head = FusionHead(
            deep.backbone.out_channels,
            n_wide,
            n_classes,
            pool=pool,
            feature_hidden=feature_hidden,
            hidden=hidden,
            dropout=dropout,
        )
        super().__init__(deep.backbone, head, n_leads, deep.min_samples)
        # the deep branch's fully resolved options, so a saved config rebuilds it exactly
        self.resolved_options = {"backbone_options": model_config(deep)["options"]}
        self.n_features = n_features
        self.use_age_sex = use_age_sex
        self.extra_inputs = (("features",) if n_features > 0 else ()) + (("age_sex",) if use_age_sex else ())

    def forward(
        self,
        x: torch.Tensor,
        features: torch.Tensor | None = None,
        age_sex: torch.Tensor | None = None,
    ) -> torch.Tensor:
        parts: list[torch.Tensor] = []
        if self.n_features > 0:
            check_features(features, self.n_features)
            assert features is not None
            parts.append(features)
        if self.use_age_sex:
            check_vector(age_sex, 2, "age_sex", " [age years, sex]")
            assert age_sex is not None
            parts.append(encode_age_sex(age_sex))
        wide = torch.cat(parts, dim=1) if parts else None
        return self.head(self.forward_features(x), wide)
