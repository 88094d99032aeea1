"""One registry for every deep model: build by name, list, and rebuild from a JSON config.

>>> model = build_model("mobilenet_v3", n_leads=1, n_classes=4, width=0.5)
>>> config = model_config(model)              # JSON-able dict
>>> same = build_from_config(config)          # same architecture; load_state_dict(strict=True) works

Every model maps ``x: (batch, n_leads, n_samples)`` float32 to logits ``(batch, n_classes)``;
``beatnet`` and ``wide_deep`` also take ``features: (batch, n_features)`` (and ``wide_deep``
optionally ``age_sex: (batch, 2)``) by keyword, and ``linear`` (a logistic regression) reads only them; ``model.extra_inputs`` names them and
``model.min_samples`` is the documented minimum input length. ``width`` multiplies channel counts
(and hidden sizes), ``depth`` the number of blocks/layers; ``overrides`` set any architecture
option listed in :attr:`ModelSpec.default_config` ``["options"]``.

A checkpoint is the weights-only ``state_dict`` plus :func:`model_config`; the config stores every
option resolved (defaults included), so it rebuilds the same architecture even if defaults change.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from leanecg.errors import LeanECGError, check_number, check_positive
from leanecg.models.channels import PRUNED_KEY, keep_first_channels
from leanecg.models.config_names import ENSEMBLE_NAME, HYBRID_NAME, TREES_NAME
from leanecg.models.efficientnet import EfficientNet1d
from leanecg.models.ensemble import Ensemble
from leanecg.models.hybrid import EmbeddingNetwork, Hybrid
from leanecg.models.leadwise import LeadWiseNet
from leanecg.models.linear import FeatureLinear
from leanecg.models.litenet import BeatNet, LiteNet
from leanecg.models.mobilenet import MobileNetV1, MobileNetV2, MobileNetV3
from leanecg.models.recurrent import CNNLSTM, BiRNN
from leanecg.models.resnet import ResNet1d
from leanecg.models.shufflenet import ShuffleNetV2
from leanecg.models.transformer import ECGTransformer
from leanecg.models.trees import TreeEnsemble, trees_from_lightgbm
from leanecg.models.wide_deep import WIDE_DEEP_LITE_DEFAULTS, WideDeep
from leanecg.registry import Registry

CONFIG_FORMAT = "leanecg.model/1"
FAMILIES = ("reference", "lightweight")
_CONFIG_ATTR = "_leanecg_config"


@dataclass(frozen=True)
class ModelSpec:
    """What :func:`list_models` reports about one model.

    Attributes:
        name: registry name (stable, lower case).
        family: ``"reference"`` (published-winner style baselines) or ``"lightweight"``.
        description: one line.
        default_config: ``{"width", "depth", "n_features", "options"}`` used when nothing is
            overridden; ``options`` lists every architecture option ``build_model`` accepts.
        takes_features: whether ``n_features > 0`` is allowed (``features=`` input).
    """

    name: str
    family: str
    description: str
    default_config: dict[str, Any]
    takes_features: bool


@dataclass(frozen=True)
class _Entry:
    factory: Callable[..., nn.Module]
    family: str
    description: str
    fixed: dict[str, Any] = field(default_factory=dict)  # options the name pins (not overridable)
    defaults: dict[str, Any] = field(default_factory=dict)  # options whose default the name changes


_REGISTRY: Registry[_Entry] = Registry("model", "model")
for _name, _e in {
    "resnet1d": _Entry(
        ResNet1d,
        "reference",
        "ResNet-1D with 15/9-sample kernels (top CinC 2020/2021 entries, Ribeiro et al. 2020)",
        fixed={"se_reduction": 0},
    ),
    "se_resnet1d": _Entry(
        ResNet1d,
        "reference",
        "SE-ResNet-1D: ResNet-1D with squeeze-excite channel attention",
        defaults={"se_reduction": 16},
    ),
    "cnn_lstm": _Entry(CNNLSTM, "reference", "stride-2 conv feature extractor + LSTM, pooled over time"),
    "bilstm": _Entry(
        BiRNN,
        "reference",
        "strided-conv patch embedding + 2-layer bidirectional LSTM",
        fixed={"rnn_type": "lstm"},
    ),
    "gru": _Entry(
        BiRNN,
        "reference",
        "strided-conv patch embedding + 2-layer bidirectional GRU",
        fixed={"rnn_type": "gru"},
    ),
    "transformer": _Entry(
        ECGTransformer, "reference", "conv stem + sinusoidal positions + 4 pre-norm transformer layers"
    ),
    "wide_deep": _Entry(
        WideDeep,
        "reference",
        "deep branch (any zoo backbone) + handcrafted-feature branch + optional age/sex (CinC 2020 winner)",
    ),
    "mobilenet_v1": _Entry(MobileNetV1, "lightweight", "MobileNetV1-1D: depthwise-separable conv stages"),
    "mobilenet_v2": _Entry(
        MobileNetV2, "lightweight", "MobileNetV2-1D: inverted residuals, linear bottlenecks"
    ),
    "mobilenet_v3": _Entry(
        MobileNetV3, "lightweight", "MobileNetV3-Small-1D: inverted residuals with SE and hard-swish"
    ),
    "shufflenet_v2": _Entry(
        ShuffleNetV2, "lightweight", "ShuffleNetV2-1D: channel split + channel shuffle units"
    ),
    "efficientnet1d": _Entry(
        EfficientNet1d, "lightweight", "EfficientNet-1D: MBConv + SE, compound scaling with phi"
    ),
    "litenet": _Entry(LiteNet, "lightweight", "minimal depthwise-separable CNN for wearables (~15k weights)"),
    "wide_deep_lite": _Entry(
        WideDeep,
        "lightweight",
        "wide-and-deep under 100k weights: LiteNet-style deep branch + handcrafted record-feature branch",
        defaults=WIDE_DEEP_LITE_DEFAULTS,
    ),
    "leadwise": _Entry(
        LeadWiseNet,
        "lightweight",
        "lead-wise weight sharing: one single-lead encoder for every lead + lead embedding, pooled over "
        "present leads (zero / masked leads ignored; weights independent of the lead count)",
    ),
    "beatnet": _Entry(
        BeatNet,
        "lightweight",
        "beat classifier: small CNN on a beat window + RR-feature vector (<50k weights)",
    ),
    "linear": _Entry(
        FeatureLinear,
        "lightweight",
        "logistic regression on the task's handcrafted features (standardised inside; the signal is not read)",
    ),
}.items():
    _REGISTRY.register(_name, _e)
del _name, _e


def _jsonable(value: Any) -> Any:
    """Tuples -> lists recursively (JSON has no tuples); other values unchanged."""
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _takes_features(entry: _Entry) -> bool:
    return "n_features" in inspect.signature(entry.factory).parameters


def _default_options(entry: _Entry) -> dict[str, Any]:
    """Every overridable option of an entry with its default (keyword-only constructor arguments)."""
    options = {
        p.name: _jsonable(p.default)
        for p in inspect.signature(entry.factory).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in entry.fixed
    }
    options.update(_jsonable(entry.defaults))
    return options


def _entry(name: Any) -> tuple[str, _Entry]:
    key = name.strip().lower() if isinstance(name, str) else name
    if not isinstance(key, str) or key not in _REGISTRY:
        raise _REGISTRY.unknown(name)
    return key, _REGISTRY[key]


def _same_kind(value: Any, default: Any) -> bool:
    """Whether an override has the type of its default (an int is fine for a float)."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, int | float) and math.isfinite(value)
    if isinstance(default, int):
        return isinstance(value, int)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, list):
        return isinstance(value, list | tuple)
    if default is None:
        return value is None or isinstance(value, dict)
    return True


def build_model(
    name: str,
    n_leads: int,
    n_classes: int,
    width: float = 1.0,
    depth: float = 1.0,
    n_features: int = 0,
    **overrides: Any,
) -> nn.Module:
    """Build a zoo model by name.

    Args:
        name: registry name (see :func:`list_models`).
        n_leads: input leads (channels) of ``x: (batch, n_leads, n_samples)``.
        n_classes: output logits.
        width: channel multiplier (> 0).
        depth: block/layer-count multiplier (> 0).
        n_features: length of the ``features`` input (only ``beatnet`` and ``wide_deep``).
        **overrides: architecture options (``ModelSpec.default_config["options"]``).

    Returns:
        The model in training mode; ``model_config(model)`` gives its JSON config.

    Raises:
        LeanECGError: unknown name or option, or an invalid value.
    """
    key, entry = _entry(name)
    check_number("n_leads", n_leads, low=1, integer=True)
    check_number("n_classes", n_classes, low=1, integer=True)
    check_positive("width", width)
    check_positive("depth", depth)
    check_number("n_features", n_features, low=0, integer=True)
    takes_features = _takes_features(entry)
    if n_features and not takes_features:
        with_features = ", ".join(n for n, e in _REGISTRY.items() if _takes_features(e))
        raise LeanECGError("n_features", f"model '{key}' takes no feature input; use one of: {with_features}")
    options = _default_options(entry)
    for opt, value in overrides.items():
        if opt not in options:
            raise LeanECGError(
                "model", f"unknown option {opt!r} for model '{key}'; options: {', '.join(options) or 'none'}"
            )
        if not _same_kind(value, options[opt]):
            raise LeanECGError(
                opt, f"expected a value like {options[opt]!r} for model '{key}', got {value!r}"
            )
        options[opt] = _jsonable(value)
    try:
        json.dumps(options)
    except (TypeError, ValueError) as exc:
        raise LeanECGError("model", f"options of '{key}' must be JSON-serialisable: {exc}") from exc
    kwargs: dict[str, Any] = {**copy.deepcopy(options), **entry.fixed}
    if takes_features:
        kwargs["n_features"] = int(n_features)
    try:
        model = entry.factory(int(n_leads), int(n_classes), float(width), float(depth), **kwargs)
    except LeanECGError:  # a ValueError too, but already a user error with its own path
        raise
    except ValueError as exc:
        raise LeanECGError("model", f"invalid options for '{key}': {exc}") from exc
    options.update(_jsonable(getattr(model, "resolved_options", {})))
    config = {
        "format": CONFIG_FORMAT,
        "name": key,
        "n_leads": int(n_leads),
        "n_classes": int(n_classes),
        "width": float(width),
        "depth": float(depth),
        "n_features": int(n_features),
        "options": options,
    }
    set_model_config(model, config)
    return model


def list_models() -> list[ModelSpec]:
    """Every registered model, reference models first."""
    specs = [
        ModelSpec(
            name=name,
            family=entry.family,
            description=entry.description,
            default_config={"width": 1.0, "depth": 1.0, "n_features": 0, "options": _default_options(entry)},
            takes_features=_takes_features(entry),
        )
        for name, entry in _REGISTRY.items()
    ]
    return sorted(specs, key=lambda s: FAMILIES.index(s.family))


def model_config(model: nn.Module) -> dict[str, Any]:
    """The JSON-able config of a model built by :func:`build_model` (a deep copy).

    Raises:
        LeanECGError: the model was not built by :func:`build_model`.
    """
    config = getattr(model, _CONFIG_ATTR, None)
    if not isinstance(config, dict):
        raise LeanECGError(
            "model", f"{type(model).__name__} was not built by leanecg.models.build_model; it has no config"
        )
    return copy.deepcopy(config)


def set_model_config(model: nn.Module, config: Mapping[str, Any]) -> None:
    """Attach ``config`` (a copy) as the config :func:`model_config` returns, e.g. after changing the
    architecture of a built model (:mod:`leanecg.compress.prune` adds ``"pruned_channels"``)."""
    object.__setattr__(model, _CONFIG_ATTR, copy.deepcopy(dict(config)))


def build_from_config(config: Mapping[str, Any]) -> nn.Module:
    """Rebuild a model from :func:`model_config` output (e.g. read back from JSON).

    The result has the same architecture, so ``load_state_dict(state, strict=True)`` restores it.

    Raises:
        LeanECGError: not a model config, or an invalid one.
    """
    if not isinstance(config, Mapping):
        raise LeanECGError("config", f"expected a model config object, got {type(config).__name__}")
    fmt = config.get("format")
    if fmt != CONFIG_FORMAT:
        raise LeanECGError(
            "config", f"not a LeanECG model config (format {fmt!r}, expected {CONFIG_FORMAT!r})"
        )
    if config.get("name") == ENSEMBLE_NAME:
        members = config.get("members")
        unknown = sorted(set(config) - {"format", "name", "members", "feature_columns", *_ENSEMBLE_SUMMARY})
        if unknown or not isinstance(members, list):
            raise LeanECGError(
                "config", "an ensemble config has 'format', 'name', a 'members' list and the members' inputs"
            )
        columns = config.get("feature_columns")
        if columns is not None and not (
            isinstance(columns, list) and all(isinstance(c, list) for c in columns)
        ):
            raise LeanECGError(
                "config", "an ensemble's 'feature_columns' is a list of index lists, one per member"
            )
        return ensemble_of(
            [build_from_config(m) for m in members],
            feature_columns=columns,
            n_features=config.get("n_features") if columns is not None else None,
        )
    if config.get("name") == TREES_NAME:
        return _trees_from_config(config)
    if config.get("name") == HYBRID_NAME:
        return _hybrid_from_config(config)
    required = ("name", "n_leads", "n_classes", "width", "depth", "n_features", "options")
    missing = [k for k in required if k not in config]
    if missing:
        raise LeanECGError("config", f"model config lacks {', '.join(missing)}")
    unknown = sorted(set(config) - {"format", *required, PRUNED_KEY})
    if unknown:
        raise LeanECGError("config", f"unknown keys in model config: {', '.join(unknown)}")
    options = config["options"]
    if not isinstance(options, Mapping):
        raise LeanECGError("config", "'options' must be an object")
    model = build_model(
        config["name"],
        config["n_leads"],
        config["n_classes"],
        config["width"],
        config["depth"],
        config["n_features"],
        **dict(options),
    )
    counts = config.get(PRUNED_KEY)
    if counts:  # a channel-pruned model (leanecg.compress.prune): shrink the layers, record the counts
        keep_first_channels(model, counts, source=f"config.{PRUNED_KEY}")
        set_model_config(
            model, {**model_config(model), PRUNED_KEY: {str(k): int(v) for k, v in counts.items()}}
        )
    return model


#: Keys of a tree model's config: its inputs, outputs and the shape of its trees.
_TREES_KEYS = ("n_leads", "n_classes", "n_features", "n_trees", "n_nodes", "depth")


def _trees_from_config(config: Mapping[str, Any]) -> nn.Module:
    unknown = sorted(set(config) - {"format", "name", "missing", *_TREES_KEYS})
    missing = [k for k in _TREES_KEYS if not isinstance(config.get(k), int)]
    if unknown or missing or not isinstance(config.get("missing", False), bool):
        raise LeanECGError(
            "config",
            f"a {TREES_NAME} config has 'format', 'name', the integers {', '.join(_TREES_KEYS)} and "
            "optionally the boolean 'missing'",
        )
    model = TreeEnsemble(
        **{k: int(config[k]) for k in _TREES_KEYS}, missing=bool(config.get("missing", False))
    )
    set_model_config(model, dict(config))
    return model


def trees_model(booster: Any, *, n_leads: int, num_iteration: int | None = None) -> nn.Module:
    """A fitted LightGBM booster as a :class:`~leanecg.models.trees.TreeEnsemble` (torch / ONNX) with the
    config :func:`build_from_config` rebuilds it from; it takes ``x`` ``(batch, n_leads, n_samples)``
    (ignored) and ``features``, like a zoo model with a features input, so it packages, exports and
    joins :func:`ensemble_of` like one.

    Args:
        booster: a ``lightgbm.Booster`` with numerical splits (:func:`~leanecg.models.trees.trees_from_lightgbm`).
        n_leads: leads of the signal input of the task it was trained on.
        num_iteration: boosting rounds to keep (default: the booster's best iteration).
    """
    shape, arrays = trees_from_lightgbm(booster, num_iteration)
    model = TreeEnsemble(n_leads=int(n_leads), **shape).load_arrays(arrays)
    set_model_config(model, {"format": CONFIG_FORMAT, "name": TREES_NAME, "n_leads": int(n_leads), **shape})
    return model


def _hybrid_from_config(config: Mapping[str, Any]) -> nn.Module:
    keys = {"format", "name", "n_leads", "n_classes", "n_features", "network", "trees"}
    if set(config) != keys or not isinstance(config.get("network"), Mapping):
        raise LeanECGError("config", f"a {HYBRID_NAME} config has exactly {', '.join(sorted(keys))}")
    trees = build_from_config(config["trees"])
    if not isinstance(trees, TreeEnsemble):
        raise LeanECGError("config", f"a {HYBRID_NAME} config's 'trees' is not a {TREES_NAME} config")
    embedding = EmbeddingNetwork(build_from_config(config["network"]))
    model = Hybrid(embedding, trees, int(config["n_features"]))
    set_model_config(model, dict(config))
    return model


def hybrid_model(
    network: nn.Module, booster: Any, *, n_features: int, num_iteration: int | None = None
) -> nn.Module:
    """The hybrid ``<zoo model>+lightgbm`` as one model (:class:`~leanecg.models.hybrid.Hybrid`): the
    trained zoo model's pooled embedding, then ``n_features`` task features, into the booster's trees
    (:func:`trees_model`), with the config :func:`build_from_config` rebuilds it from.

    Args:
        network: the trained zoo model (built by :func:`build_model`; its head is reduced to pooling).
        booster: LightGBM fitted on :func:`leanecg.train.hybrid.hybrid_matrix` columns of that model.
        n_features: task feature columns after the embedding.
        num_iteration: boosting rounds to keep (default: the booster's best iteration).
    """
    net_config = model_config(network)
    trees = trees_model(booster, n_leads=int(net_config["n_leads"]), num_iteration=num_iteration)
    model = Hybrid(EmbeddingNetwork(network), trees, int(n_features))
    config = {
        "format": CONFIG_FORMAT,
        "name": HYBRID_NAME,
        "n_leads": int(net_config["n_leads"]),
        "n_classes": int(trees.n_classes),
        "n_features": int(n_features),
        "network": net_config,
        "trees": model_config(trees),
    }
    set_model_config(model, config)
    return model


#: Keys of an ensemble config copied from its first member (the inputs and outputs every member shares).
_ENSEMBLE_SUMMARY = ("n_leads", "n_classes", "n_features")


def ensemble_of(
    models: list[nn.Module],
    *,
    feature_columns: Sequence[Sequence[int]] | None = None,
    n_features: int | None = None,
) -> nn.Module:
    """One :class:`~leanecg.models.ensemble.Ensemble` of trained zoo models (their weights kept, shared
    with the inputs), with the config :func:`build_from_config` rebuilds it from. ``feature_columns`` /
    ``n_features``: members that read different feature columns (see the class).

    >>> import torch
    >>> a, b = (build_model("beatnet", n_leads=1, n_classes=4, n_features=7).eval() for _ in range(2))
    >>> ens = ensemble_of([a, b]).eval()
    >>> x, f = torch.randn(3, 1, 126), torch.randn(3, 7)
    >>> p = (a(x, features=f).softmax(-1) + b(x, features=f).softmax(-1)) / 2
    >>> bool(torch.allclose(ens(x, features=f).softmax(-1), p, atol=1e-6))
    True
    >>> build_from_config(model_config(ens)).load_state_dict(ens.state_dict())
    <All keys matched successfully>

    Raises:
        LeanECGError: fewer than two models, a model not built by :func:`build_model`, or members that
            take different inputs.
    """
    configs = [model_config(m) for m in models]
    ens = Ensemble(models, feature_columns=feature_columns, n_features=n_features)
    summary = {k: configs[0].get(k) for k in _ENSEMBLE_SUMMARY}  # what readers of a config look up
    if ens.feature_columns is not None:
        summary |= {"n_features": ens.n_features, "feature_columns": ens.feature_columns}
    set_model_config(ens, {"format": CONFIG_FORMAT, "name": ENSEMBLE_NAME, **summary, "members": configs})
    return ens


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (``sum(p.numel())``), optionally only those with ``requires_grad``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
