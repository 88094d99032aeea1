"""The model registry: names, specs, validation, JSON configs that rebuild exactly, size scaling."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from leanecg.atomic import write_json
from leanecg.errors import LeanECGError
from leanecg.models.efficientnet import compound_coefficients
from leanecg.models.registry import (
    CONFIG_FORMAT,
    build_from_config,
    build_model,
    count_parameters,
    list_models,
    model_config,
)

EXPECTED_NAMES = {
    "resnet1d",
    "se_resnet1d",
    "cnn_lstm",
    "bilstm",
    "gru",
    "transformer",
    "wide_deep",
    "wide_deep_lite",
    "mobilenet_v1",
    "mobilenet_v2",
    "mobilenet_v3",
    "shufflenet_v2",
    "efficientnet1d",
    "litenet",
    "beatnet",
    "leadwise",
    "linear",
}
NAMES = sorted(EXPECTED_NAMES)
WITH_FEATURES = {"beatnet", "wide_deep", "wide_deep_lite", "linear"}


def params(name: str, width: float = 1.0, depth: float = 1.0, n_leads: int = 1, **kw) -> int:
    n_features = 4 if name in WITH_FEATURES else 0
    return count_parameters(build_model(name, n_leads, 4, width, depth, n_features=n_features, **kw))


def perturb(model: nn.Module, seed: int = 0) -> None:
    """Move every parameter and batch-norm running statistic away from its initial value."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
        for name, b in model.named_buffers():
            if name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=g))
            elif name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=g))


# ---------------------------------------------------------------------------------------------
# listing


def test_list_models_has_every_name_once_with_a_family_and_config() -> None:
    specs = list_models()
    names = [s.name for s in specs]
    assert set(names) == EXPECTED_NAMES and len(names) == len(set(names))
    families = [s.family for s in specs]
    assert set(families) == {"reference", "lightweight"}
    assert families == sorted(families, key=["reference", "lightweight"].index)  # reference first
    for s in specs:
        assert s.name == s.name.lower()
        assert s.description and "\n" not in s.description
        assert set(s.default_config) == {"width", "depth", "n_features", "options"}
        json.dumps(s.default_config)
        assert s.takes_features == (s.name in WITH_FEATURES)
    assert {s.name for s in specs if s.family == "lightweight"} >= {"litenet", "mobilenet_v3", "beatnet"}


def test_default_config_builds_the_default_model() -> None:
    for spec in list_models():
        if spec.name in ("resnet1d", "se_resnet1d", "wide_deep", "efficientnet1d"):
            continue  # large; covered by the round-trip test at small width
        n_features = 4 if spec.name == "linear" else 0  # reads only features: needs some
        model = build_model(spec.name, 1, 3, n_features=n_features, **spec.default_config["options"])
        default = build_model(spec.name, 1, 3, n_features=n_features)
        assert count_parameters(model) == count_parameters(default)
        assert model_config(model) == model_config(default)


# ---------------------------------------------------------------------------------------------
# validation


def test_unknown_name_lists_the_available_models() -> None:
    with pytest.raises(LeanECGError) as err:
        build_model("x", 1, 2)
    assert err.value.path == "model"
    assert "unknown model 'x'; available:" in err.value.problem
    assert all(n in err.value.problem for n in EXPECTED_NAMES)


def test_names_are_case_and_space_insensitive() -> None:
    model = build_model(" LiteNet ", 1, 2)
    assert model_config(model)["name"] == "litenet"


@pytest.mark.parametrize(
    ("kwargs", "path", "message"),
    [
        ({"n_leads": 0}, "n_leads", "integer >= 1"),
        ({"n_leads": 1.5}, "n_leads", "integer"),
        ({"n_classes": 0}, "n_classes", "integer >= 1"),
        ({"width": 0}, "width", "positive"),
        ({"width": float("nan")}, "width", "positive"),
        ({"depth": -1.0}, "depth", "positive"),
        ({"n_features": -1}, "n_features", "integer >= 0"),
        ({"n_features": 3}, "n_features", "takes no feature input"),
        ({"kernel_size": 8}, "model", "odd"),
        ({"channels": [16, 32]}, "model", "same length"),
        ({"channels": "wide"}, "channels", "expected a value like"),
        ({"dropout": "0.1"}, "dropout", "expected a value like"),
        ({"pool": "median"}, "pool", "unknown pooling"),
        ({"se_reduction": 8}, "model", "unknown option 'se_reduction'"),
        ({"colour": "red"}, "model", "unknown option 'colour' for model 'resnet1d'; options:"),
    ],
)
def test_invalid_arguments_are_user_errors(kwargs: dict, path: str, message: str) -> None:
    args = {"n_leads": 1, "n_classes": 2, "width": 0.25, **kwargs}
    with pytest.raises(LeanECGError) as err:
        build_model("resnet1d", **args)
    assert err.value.path == path
    assert message in err.value.problem
    assert "\n" not in err.value.problem


def test_per_model_option_errors() -> None:
    with pytest.raises(LeanECGError, match="rnn_type"):
        build_model("gru", 1, 2, rnn_type="lstm")  # the name pins the cell type
    with pytest.raises(LeanECGError, match="n_heads"):
        build_model("transformer", 1, 2, n_heads=0)
    odd_heads = build_model("transformer", 1, 2, d_model=30, n_heads=3)  # d_model rounds to 2 * n_heads
    assert odd_heads.backbone.out_channels == 30
    assert odd_heads(torch.randn(1, 1, 100)).shape == (1, 2)
    with pytest.raises(LeanECGError, match="wide_deep"):
        build_model("wide_deep", 1, 2, backbone="wide_deep")
    with pytest.raises(LeanECGError, match="unknown model 'resnet'"):
        build_model("wide_deep", 1, 2, backbone="resnet")
    with pytest.raises(LeanECGError, match="phi"):
        build_model("efficientnet1d", 1, 2, phi=-1.0)
    with pytest.raises(LeanECGError, match="JSON"):
        build_model("wide_deep", 1, 2, backbone="litenet", backbone_options={"dropout": object()})


# ---------------------------------------------------------------------------------------------
# configs


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip_rebuilds_identical_outputs(name: str) -> None:
    n_features = 5 if name in WITH_FEATURES else 0
    overrides = {"use_age_sex": True, "backbone": "mobilenet_v2"} if name == "wide_deep" else {}
    model = build_model(name, 3, 4, width=0.25, depth=0.5, n_features=n_features, **overrides)
    perturb(model)
    model.eval()
    config = json.loads(json.dumps(model_config(model)))
    state = {k: v.clone() for k, v in model.state_dict().items()}

    rebuilt = build_from_config(config)
    rebuilt.load_state_dict(state, strict=True)
    rebuilt.eval()
    assert model_config(rebuilt) == config
    assert type(rebuilt) is type(model)

    x = torch.randn(2, 3, 400)
    kwargs = {}
    if n_features:
        kwargs["features"] = torch.randn(2, n_features)
    if overrides:
        kwargs["age_sex"] = torch.tensor([[40.0, 0.0], [float("nan"), 1.0]])
    with torch.no_grad():
        assert torch.equal(model(x, **kwargs), rebuilt(x, **kwargs))


def test_config_stores_every_resolved_option() -> None:
    config = model_config(build_model("mobilenet_v3", 2, 5, width=0.5, head_hidden=64))
    assert config["format"] == CONFIG_FORMAT
    assert config["name"] == "mobilenet_v3" and config["n_leads"] == 2 and config["n_classes"] == 5
    assert config["width"] == 0.5 and config["depth"] == 1.0 and config["n_features"] == 0
    spec = next(s for s in list_models() if s.name == "mobilenet_v3")
    assert set(config["options"]) == set(spec.default_config["options"])
    assert config["options"]["head_hidden"] == 64
    assert isinstance(config["options"]["blocks"], list)  # tuples become JSON lists

    wide = model_config(
        build_model("wide_deep", 1, 2, 0.25, backbone="litenet", backbone_options={"pool": "max"})
    )
    litenet_options = next(s for s in list_models() if s.name == "litenet").default_config["options"]
    assert wide["options"]["backbone_options"] == {**litenet_options, "pool": "max"}


def test_checkpoint_files_rebuild_the_model(tmp_path) -> None:
    model = build_model("beatnet", 2, 5, n_features=4)
    perturb(model, seed=3)
    model.eval()
    write_json(tmp_path / "model.json", model_config(model))
    torch.save(model.state_dict(), tmp_path / "weights.pt")

    config = json.loads((tmp_path / "model.json").read_text(encoding="utf-8"))
    rebuilt = build_from_config(config)
    rebuilt.load_state_dict(torch.load(tmp_path / "weights.pt", weights_only=True), strict=True)
    rebuilt.eval()
    x, rr = torch.randn(3, 2, 256), torch.rand(3, 4)
    with torch.no_grad():
        assert torch.equal(model(x, features=rr), rebuilt(x, features=rr))


def test_model_config_is_a_copy() -> None:
    model = build_model("litenet", 1, 2)
    config = model_config(model)
    config["options"]["blocks"].append([8, 1])
    config["width"] = 9.0
    assert model_config(model)["width"] == 1.0
    assert [8, 1] not in model_config(model)["options"]["blocks"]


def test_model_config_and_build_from_config_errors() -> None:
    with pytest.raises(LeanECGError, match="not built by"):
        model_config(nn.Linear(2, 2))
    good = model_config(build_model("litenet", 1, 2))
    with pytest.raises(LeanECGError, match="format"):
        build_from_config({**good, "format": "other/1"})
    with pytest.raises(LeanECGError, match="lacks n_classes"):
        build_from_config({k: v for k, v in good.items() if k != "n_classes"})
    with pytest.raises(LeanECGError, match="unknown keys"):
        build_from_config({**good, "extra": 1})
    with pytest.raises(LeanECGError, match="config object"):
        build_from_config(["litenet"])
    with pytest.raises(LeanECGError, match="unknown option"):
        build_from_config({**good, "options": {**good["options"], "nope": 1}})


# ---------------------------------------------------------------------------------------------
# size scaling


@pytest.mark.parametrize("name", [n for n in NAMES if n != "linear"])
def test_parameters_grow_monotonically_with_width_and_depth(name: str) -> None:
    by_width = [params(name, width=w) for w in (0.25, 0.5, 1.0, 1.5)]
    assert by_width == sorted(by_width), by_width
    assert by_width[-1] > 2 * by_width[0], by_width
    by_depth = [params(name, width=0.5, depth=d) for d in (0.5, 1.0, 2.0)]
    assert by_depth == sorted(by_depth), by_depth
    assert by_depth[-1] > by_depth[0], by_depth


def test_linear_model_is_a_logistic_regression_on_the_features() -> None:
    # n_features * n_classes weights + n_classes biases, whatever the width, depth or leads
    sizes = {
        params("linear", width=w, depth=d, n_leads=k)
        for w in (0.25, 4.0)
        for d in (0.5, 2.0)
        for k in (1, 12)
    }
    assert sizes == {4 * 4 + 4}
    with pytest.raises(LeanECGError, match="has none"):
        build_model("linear", 1, 4)  # a task without handcrafted features: the leaderboard row says why
    model = build_model("linear", 2, 3, n_features=5).eval()
    features = torch.randn(4, 5)
    a = model(torch.randn(4, 2, 100), features=features)
    b = model(torch.zeros(4, 2, 7), features=features)
    torch.testing.assert_close(a, b)  # the signal is not read
    weight, bias = model.fc.weight, model.fc.bias
    z = (features - model.norm.running_mean) / torch.sqrt(model.norm.running_var + model.norm.eps)
    torch.testing.assert_close(a, z @ weight.T + bias)


def test_families_span_thousands_to_millions_of_parameters() -> None:
    assert params("mobilenet_v3", width=0.25) < 20_000
    assert params("mobilenet_v3", width=4.0) > 1_000_000
    assert params("litenet", width=0.25) < 5_000
    assert params("resnet1d", width=0.25) < 200_000
    assert params("resnet1d", width=2.0) > 5_000_000


def test_lightweight_defaults_fit_wearable_budgets() -> None:
    # 1 lead (300 Hz, 30 s windows): the input length does not change the parameter count
    assert params("litenet") < 50_000
    assert params("mobilenet_v3") < 100_000
    assert params("shufflenet_v2") < 100_000
    assert params("beatnet", n_leads=2) <= 50_000
    lightweight = [s.name for s in list_models() if s.family == "lightweight"]
    assert all(params(n) < 1_100_000 for n in lightweight)


def test_efficientnet_compound_scaling() -> None:
    assert compound_coefficients(0) == (1.0, 1.0, 1.0)
    w, d, r = compound_coefficients(2)
    assert math.isclose(w, 1.21) and math.isclose(d, 1.44) and math.isclose(r, 1.3225)
    sizes = [params("efficientnet1d", width=0.5, phi=phi) for phi in (0.0, 1.0, 2.0)]
    assert sizes[0] < sizes[1] < sizes[2]
    n_blocks = [
        len(build_model("efficientnet1d", 1, 2, width=0.5, phi=phi).backbone.blocks) for phi in (0.0, 2.0)
    ]
    assert n_blocks[1] > n_blocks[0]


def test_count_parameters() -> None:
    model = build_model("litenet", 1, 2)
    assert count_parameters(model) == sum(p.numel() for p in model.parameters())
    model.head.fc.weight.requires_grad_(False)
    assert (
        count_parameters(model, trainable_only=True) == count_parameters(model) - model.head.fc.weight.numel()
    )
