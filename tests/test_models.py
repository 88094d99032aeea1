"""The deep model zoo: shapes, gradients, determinism, variable lengths, blocks, ONNX export.

Every model is built tiny (``width=0.25, depth=0.5``) so the whole file stays fast on a loaded
2-core machine; the architecture code paths are the same as at full size.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from leanecg.errors import LeanECGError
from leanecg.models.blocks import (
    BasicBlock1d,
    ChannelShuffle,
    ConvBNAct,
    DepthwiseSeparableConv,
    DropPath,
    InvertedResidual,
    MaxPool,
    SqueezeExcite,
    channel_shuffle,
    make_activation,
    make_divisible,
    same_padding,
    scale_depth,
)
from leanecg.models.heads import GlobalPool
from leanecg.models.recurrent import StackedRNN
from leanecg.models.registry import build_model, count_parameters, list_models
from leanecg.models.transformer import SinusoidalPositionalEncoding
from leanecg.models.wide_deep import age_sex_vector, encode_age_sex

NAMES = [s.name for s in list_models()]
TAKES_FEATURES = {s.name for s in list_models() if s.takes_features}
N_FEATURES = 4
N_CLASSES = 3


def tiny(name: str, n_leads: int = 2, **overrides) -> nn.Module:
    """A tiny instance of a zoo model (feature models get ``N_FEATURES`` features)."""
    torch.manual_seed(0)
    n_features = N_FEATURES if name in TAKES_FEATURES else 0
    return build_model(name, n_leads, N_CLASSES, width=0.25, depth=0.5, n_features=n_features, **overrides)


def extra_inputs(model: nn.Module, batch: int, seed: int = 1) -> dict[str, torch.Tensor]:
    """Keyword inputs a model needs besides ``x`` (named by ``model.extra_inputs``)."""
    g = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    if "features" in model.extra_inputs:
        out["features"] = torch.randn(batch, model.n_features, generator=g)
    if "age_sex" in model.extra_inputs:
        ages = torch.tensor([45.0, float("nan"), 71.0, 30.0])[:batch].repeat(math.ceil(batch / 4))[:batch]
        sexes = torch.tensor([1.0, 0.0, float("nan"), 0.0])[:batch].repeat(math.ceil(batch / 4))[:batch]
        out["age_sex"] = torch.stack([ages, sexes], dim=1)
    return out


def signal(batch: int, n_leads: int, n_samples: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, n_leads, n_samples, generator=g)


def calibrate(model: nn.Module, x: torch.Tensor, kwargs: dict | None = None, seed: int = 0) -> nn.Module:
    """Random batch-norm affine parameters, running statistics measured on ``x``, eval mode.

    Realistic eval-mode batch norm (statistics that match the data) for untrained models.
    """
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration pass
            if m.affine:  # the linear model's standardisation has no affine parameters
                with torch.no_grad():
                    m.weight.copy_(1.0 + 0.1 * torch.randn(m.weight.shape, generator=g))
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
    model.train()
    with torch.no_grad():
        model(x, **(kwargs or {}))
    return model.eval()


# ---------------------------------------------------------------------------------------------
# whole models


@pytest.mark.parametrize("name", NAMES)
def test_forward_shapes_for_lead_counts_and_lengths(name: str) -> None:
    for n_leads in (1, 2, 12):
        model = tiny(name, n_leads)
        for n_samples in (250, 1001):
            x = signal(2, n_leads, n_samples)
            y = model(x, **extra_inputs(model, 2))
            assert y.shape == (2, N_CLASSES), (name, n_leads, n_samples)
            assert y.dtype == torch.float32
            assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_every_parameter_and_the_input(name: str) -> None:
    model = tiny(name, 2).train()
    x = signal(3, 2, 300).requires_grad_(True)
    y = model(x, **extra_inputs(model, 3))
    loss = nn.functional.cross_entropy(y, torch.tensor([0, 1, 2]))
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}: no gradient for {pname}"
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient for {pname}"
    first = next(iter(model.parameters()))
    assert first.grad.abs().sum() > 0, f"{name}: no gradient reaches the first layer"
    if getattr(model, "reads_signal", True):
        assert x.grad is not None and x.grad.abs().sum() > 0
    else:  # the linear model: logits of the features alone
        assert x.grad is None or x.grad.abs().sum() == 0


@pytest.mark.parametrize("name", NAMES)
def test_eval_is_deterministic_and_batch_independent(name: str) -> None:
    x = signal(3, 2, 480)
    model = tiny(name, 2)
    kw = extra_inputs(model, 3)
    calibrate(model, x, kw)
    with torch.no_grad():
        y1, y2 = model(x, **kw), model(x, **kw)
        singles = torch.cat(
            [model(x[i : i + 1], **{k: v[i : i + 1] for k, v in kw.items()}) for i in range(3)]
        )
    assert torch.equal(y1, y2)
    torch.testing.assert_close(singles, y1, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(y1[0], y1[1]), "different inputs should give different logits"


@pytest.mark.parametrize("name", NAMES)
def test_batch_one_any_length_down_to_min_samples(name: str) -> None:
    model = tiny(name, 1).eval()
    assert isinstance(model.min_samples, int) and model.min_samples >= 1
    with torch.no_grad():
        for n_samples in (model.min_samples, model.min_samples + 1, 777, 2500):
            y = model(signal(1, 1, n_samples, seed=n_samples), **extra_inputs(model, 1))
            assert y.shape == (1, N_CLASSES), (name, n_samples)
            assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", NAMES)
def test_fx_symbolic_trace_matches_eager(name: str) -> None:
    """No tensor-dependent Python control flow: FX graph-mode (int8) quantization can trace it."""
    x = signal(2, 2, 300)
    model = tiny(name, 2)
    kwargs = extra_inputs(model, 2)
    calibrate(model, x, kwargs)
    traced = torch.fx.symbolic_trace(model)
    with torch.no_grad():
        torch.testing.assert_close(traced(x, **kwargs), model(x, **kwargs))


def test_min_samples_is_the_total_stride() -> None:
    expected = {"resnet1d": 32, "transformer": 16, "cnn_lstm": 16, "bilstm": 16, "litenet": 32, "beatnet": 4}
    for name, stride in expected.items():
        model = build_model(name, 1, 2, n_features=N_FEATURES if name in TAKES_FEATURES else 0)
        assert model.min_samples == stride, name
        x = signal(1, 1, 40 * stride)
        steps = model.forward_features(x).shape[-1]
        assert steps == 40, name


@pytest.mark.parametrize("name", ["resnet1d", "mobilenet_v3", "bilstm", "transformer"])
def test_embed_is_the_pooled_backbone_output(name: str) -> None:
    model = tiny(name, 2).eval()
    x = signal(2, 2, 320)
    with torch.no_grad():
        z = model.embed(x)
        assert z.shape == (2, model.head.pool.out_features)
        torch.testing.assert_close(model.head.fc(model.head.hidden(z)), model(x))


def test_wrong_input_shape_is_a_user_error() -> None:
    model = tiny("mobilenet_v1", 12)
    with pytest.raises(LeanECGError, match="12 leads"):
        model(torch.randn(2, 1, 500))
    with pytest.raises(LeanECGError, match="channels-first"):
        model(torch.randn(500, 12))


def test_feature_models_require_features_of_the_right_width() -> None:
    model = tiny("beatnet", 1)
    assert model.extra_inputs == ("features",)
    x = signal(2, 1, 256)
    with pytest.raises(LeanECGError, match="needs features"):
        model(x)
    with pytest.raises(LeanECGError, match=r"\(batch, 4\)"):
        model(x, features=torch.randn(2, 3))
    plain = build_model("beatnet", 1, 5)
    assert plain.extra_inputs == ()
    assert plain(x).shape == (2, 5)


def test_beatnet_uses_rr_features() -> None:
    model = build_model("beatnet", 2, 5, n_features=4)
    x = signal(4, 2, 256)
    calibrate(model, x, {"features": torch.rand(4, 4) + 0.5})
    rr = torch.tensor([[0.8, 0.8, 0.8, 0.8]] * 4)
    premature = rr.clone()
    premature[:, 0] = 0.4
    with torch.no_grad():
        assert not torch.allclose(model(x, features=rr), model(x, features=premature))


def test_beatnet_budget_is_under_50k_parameters() -> None:
    for n_leads in (1, 2):
        assert count_parameters(build_model("beatnet", n_leads, 5, n_features=4)) <= 50_000


def test_wide_deep_takes_features_and_age_sex() -> None:
    model = build_model(
        "wide_deep", 12, 4, width=0.25, depth=0.5, n_features=6, use_age_sex=True, backbone="litenet"
    )
    assert model.extra_inputs == ("features", "age_sex")
    x, feats = signal(2, 12, 500), torch.randn(2, 6)
    calibrate(model, signal(4, 12, 500), extra_inputs(model, 4))
    age_sex = torch.tensor([[60.0, 1.0], [60.0, 1.0]])
    unknown = torch.tensor([[float("nan"), float("nan")], [60.0, 1.0]])
    with torch.no_grad():
        y = model(x, features=feats, age_sex=age_sex)
        y_unknown = model(x, features=feats, age_sex=unknown)
    assert torch.isfinite(y_unknown).all()
    assert not torch.allclose(y[0], y_unknown[0])
    torch.testing.assert_close(y[1], y_unknown[1])
    with pytest.raises(LeanECGError, match="age_sex"):
        model(x, features=feats)
    with pytest.raises(LeanECGError, match="features"):
        model(x, age_sex=age_sex)


def test_age_sex_encoding() -> None:
    np.testing.assert_array_equal(age_sex_vector(54, "M"), np.array([54, 1], dtype=np.float32))
    np.testing.assert_array_equal(age_sex_vector(300, "female"), np.array([130, 0], dtype=np.float32))
    v = age_sex_vector(None, "Unknown")
    assert np.isnan(v).all() and v.dtype == np.float32
    assert age_sex_vector(40.0, 0.0)[1] == 0.0
    assert np.isnan(age_sex_vector(float("nan"), float("nan"))).all()
    with pytest.raises(LeanECGError, match="sex"):
        age_sex_vector(40, "X")
    enc = encode_age_sex(torch.tensor([[50.0, 1.0], [float("nan"), 0.0], [20.0, float("nan")]]))
    expected = torch.tensor([[0.5, 1, 1, 0], [0.0, 0, 0, 1], [0.2, 1, 0, 0]])
    torch.testing.assert_close(enc, expected)


# ---------------------------------------------------------------------------------------------
# building blocks


def test_make_divisible_and_scale_depth() -> None:
    assert make_divisible(16) == 16
    assert make_divisible(12) == 16
    assert make_divisible(3) == 8
    assert make_divisible(100, 8) == 104
    assert make_divisible(10, 4) == 12
    assert all(make_divisible(v) >= 0.9 * v for v in range(1, 400))
    assert scale_depth(3, 0.1) == 1
    assert scale_depth(3, 1.0) == 3
    assert scale_depth(3, 1.2) == 4


def test_same_padding_needs_odd_kernels() -> None:
    assert same_padding(9) == 4
    assert same_padding(3, dilation=2) == 2
    with pytest.raises(ValueError, match="odd"):
        same_padding(8)


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_conv_blocks_give_ceil_length(stride: int) -> None:
    for n in (1, 7, 64, 101):
        x = torch.randn(2, 8, n)
        out = math.ceil(n / stride)
        assert ConvBNAct(8, 16, 9, stride)(x).shape == (2, 16, out)
        assert DepthwiseSeparableConv(8, 16, 9, stride)(x).shape == (2, 16, out)
        assert InvertedResidual(8, 8, 32, 5, stride, se_channels=8)(x).shape == (2, 8, out)
        assert BasicBlock1d(8, 16, 9, stride, se_reduction=4)(x).shape == (2, 16, out)


def test_maxpool_matches_torch_maxpool1d() -> None:
    pool, ref = MaxPool(3, 2), nn.MaxPool1d(3, 2, 1)
    for n in (1, 2, 5, 64, 99):
        x = torch.randn(2, 4, n)
        torch.testing.assert_close(pool(x), ref(x), rtol=0, atol=0)


def test_channel_shuffle_interleaves_groups() -> None:
    x = torch.arange(6.0).view(1, 6, 1).expand(2, 6, 3)
    y = channel_shuffle(x, 2)
    assert y[0, :, 0].tolist() == [0, 3, 1, 4, 2, 5]
    assert torch.equal(ChannelShuffle(3)(x)[1, :, 2], torch.tensor([0.0, 2, 4, 1, 3, 5]))
    assert torch.equal(channel_shuffle(channel_shuffle(x, 2), 3), x)  # 2x3 shuffle is inverted by 3x2


def test_squeeze_excite_gates_channels_by_their_mean() -> None:
    se = SqueezeExcite(8, 4, gate="hsigmoid").eval()
    x = torch.randn(2, 8, 50)
    y = se(x)
    gate = y / x
    assert torch.allclose(gate, gate[..., :1].expand_as(gate), atol=1e-5)  # one gate per channel
    assert (gate >= 0).all() and (gate <= 1).all()


def test_inverted_residual_adds_shortcut_only_when_shapes_match() -> None:
    assert InvertedResidual(16, 16, 64, 5, 1).use_residual
    assert not InvertedResidual(16, 16, 64, 5, 2).use_residual
    assert not InvertedResidual(16, 24, 64, 5, 1).use_residual
    block = InvertedResidual(16, 16, 64, 5, 1).eval()
    nn.init.zeros_(block.project[1].weight)  # branch output 0 -> identity
    x = torch.randn(1, 16, 20)
    torch.testing.assert_close(block(x), x)


def test_drop_path_is_identity_in_eval_and_drops_whole_samples_in_training() -> None:
    dp = DropPath(0.5)
    x = torch.ones(64, 3, 5)
    assert torch.equal(dp.eval()(x), x)
    torch.manual_seed(0)
    y = dp.train()(x)
    per_sample = y.flatten(1)
    assert set(per_sample.unique().tolist()) <= {0.0, 2.0}
    assert (per_sample == per_sample[:, :1]).all()
    with pytest.raises(ValueError):
        DropPath(1.0)


def test_activations_and_pools() -> None:
    x = torch.linspace(-4, 4, 9)
    torch.testing.assert_close(make_activation("hswish")(x), x * torch.clamp(x + 3, 0, 6) / 6)
    with pytest.raises(ValueError, match="unknown activation"):
        make_activation("swish2")
    feats = torch.randn(3, 5, 11)
    torch.testing.assert_close(GlobalPool(5, "avg")(feats), feats.mean(-1))
    torch.testing.assert_close(GlobalPool(5, "max")(feats), feats.amax(-1))
    assert GlobalPool(5, "avgmax")(feats).shape == (3, 10)
    att = GlobalPool(5, "attention")
    nn.init.zeros_(att.score.weight)
    nn.init.zeros_(att.score.bias)
    torch.testing.assert_close(att(feats), feats.mean(-1))  # uniform attention == mean
    with pytest.raises(LeanECGError, match="pooling"):
        GlobalPool(5, "median")


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_stacked_rnn_equals_torch_bidirectional_multilayer_rnn(rnn_type: str) -> None:
    torch.manual_seed(0)
    ours = StackedRNN(6, 5, layers=2, bidirectional=True, rnn_type=rnn_type).eval()
    cls = nn.LSTM if rnn_type == "lstm" else nn.GRU
    ref = cls(6, 5, num_layers=2, batch_first=True, bidirectional=True).eval()
    with torch.no_grad():
        for layer in range(2):
            for direction, stack in (("", ours.forward_layers), ("_reverse", ours.backward_layers)):
                for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(ref, f"{kind}_l{layer}{direction}").copy_(getattr(stack[layer], f"{kind}_l0"))
    x = torch.randn(3, 17, 6)
    torch.testing.assert_close(ours(x), ref(x)[0], atol=1e-6, rtol=1e-5)


def test_sinusoidal_positions_follow_the_formula_for_any_length() -> None:
    pe = SinusoidalPositionalEncoding(8)
    for t in (1, 5, 4000):
        codes = pe(torch.zeros(1, t, 8))[0]
        pos = torch.arange(t, dtype=torch.float32)[:, None]
        i = torch.arange(4, dtype=torch.float32)[None, :]
        angle = pos / 10000 ** (2 * i / 8)
        torch.testing.assert_close(codes[:, 0::2], torch.sin(angle), atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(codes[:, 1::2], torch.cos(angle), atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="even"):
        SinusoidalPositionalEncoding(7)


# ---------------------------------------------------------------------------------------------
# ONNX export


def _export(model: nn.Module, x: torch.Tensor, kwargs: dict, path, dynamic: bool = False) -> None:
    extra = {}
    if dynamic:
        batch = torch.export.Dim("batch")
        length = torch.export.Dim("length", min=model.min_samples, max=1_000_000)
        shapes = {"x": {0: batch, 2: length}, **{k: {0: batch} for k in kwargs}}
        extra["dynamic_shapes"] = shapes
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), kwargs=kwargs, dynamo=True, external_data=False, **extra)


def _run_onnx(session, x: torch.Tensor, kwargs: dict) -> np.ndarray:
    names = [i.name for i in session.get_inputs()]
    feed = {"x": x.numpy(), **{k: v.numpy() for k, v in kwargs.items()}}
    assert set(names) == set(feed), names
    return session.run(None, feed)[0]


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_onnx_export_runs_in_onnxruntime(name: str, tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")
    overrides = {"use_age_sex": True} if name == "wide_deep" else {}
    model = tiny(name, 2, **overrides)
    x = signal(2, 2, 333)
    kwargs = extra_inputs(model, 2)
    calibrate(model, x, kwargs)
    path = tmp_path / f"{name}.onnx"
    _export(model, x, kwargs, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model(x, **kwargs).numpy()
    got = _run_onnx(session, x, kwargs)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert not np.allclose(got[0], got[1])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet1d", "transformer", "bilstm", "beatnet"])
def test_onnx_export_with_dynamic_batch_and_length(name: str, tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")
    model = tiny(name, 2)
    calibrate(model, signal(2, 2, 333), extra_inputs(model, 2))
    path = tmp_path / f"{name}.onnx"
    _export(model, signal(2, 2, 333), extra_inputs(model, 2), path, dynamic=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch, n_samples in ((1, 999), (3, 2048)):
        x, kwargs = signal(batch, 2, n_samples, seed=batch), extra_inputs(model, batch)
        with torch.no_grad():
            expected = model(x, **kwargs).numpy()
        np.testing.assert_allclose(_run_onnx(session, x, kwargs), expected, rtol=1e-4, atol=1e-5)
