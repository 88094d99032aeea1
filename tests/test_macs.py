"""MAC counts checked against hand counts written out in the comments.

Convention (leanecg.evaluate.cost.macs): 1 MAC = 1 multiply-add; biases, activations, norms, pooling and
softmax are not counted; BatchNorm = 0. Conv: L_out * C_out * (C_in/groups) * k.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from leanecg.errors import LeanECGError
from leanecg.evaluate.cost.macs import count_callable_macs, count_macs, lstm_like_macs, mha_macs

# --------------------------------------------------------------------------------------------------
# Convolutions
# --------------------------------------------------------------------------------------------------

CONV_CASES = [
    # plain: L_out = 10 - 3 + 1 = 8;  8 * C_out 4 * (C_in 2 * k 3) = 192
    ("plain", nn.Conv1d(2, 4, 3), (2, 10), 192),
    # strided: L_out = floor((11 - 3) / 2) + 1 = 5;  5 * 4 * 6 = 120
    ("strided", nn.Conv1d(2, 4, 3, stride=2), (2, 11), 120),
    # padded: L_out = 10 + 2*2 - 5 + 1 = 10;  10 * 4 * (2 * 5) = 400
    ("padded", nn.Conv1d(2, 4, 5, padding=2), (2, 10), 400),
    # dilated: effective kernel 1 + 3*(3-1) = 7, L_out = 20 - 7 + 1 = 14;  14 * 4 * 6 = 336
    ("dilated", nn.Conv1d(2, 4, 3, dilation=3), (2, 20), 336),
    # padding="same" with dilation 2: L_out = 10;  10 * 4 * (2 * 5) = 400
    ("same", nn.Conv1d(2, 4, 5, padding="same", dilation=2), (2, 10), 400),
    # strided + padded + dilated: eff. kernel 1 + 2*(5-1) = 9, L_out = floor((50 + 8 - 9) / 3) + 1 = 17
    #   17 * 6 * (3 * 5) = 1530
    ("strided_padded_dilated", nn.Conv1d(3, 6, 5, stride=3, padding=4, dilation=2), (3, 50), 1530),
    # grouped (groups=2): L_out = 8;  8 * C_out 8 * (C_in/groups 2 * k 3) = 384
    ("grouped", nn.Conv1d(4, 8, 3, groups=2), (4, 10), 384),
    # depthwise (groups = C_in = C_out = 4): L_out = 10 - 5 + 1 = 6;  6 * 4 * (1 * 5) = 120
    ("depthwise", nn.Conv1d(4, 4, 5, groups=4), (4, 10), 120),
    # depthwise with multiplier 2 (C_out = 8, groups 4): L_out = 8;  8 * 8 * (1 * 3) = 192
    ("depthwise_x2", nn.Conv1d(4, 8, 3, groups=4), (4, 10), 192),
    # pointwise (k = 1): 10 * 6 * 4 = 240
    ("pointwise", nn.Conv1d(4, 6, 1), (4, 10), 240),
    # transposed: every input sample meets every kernel tap: L_in 5 * C_in 4 * (C_out 2 * k 3) = 120
    ("transposed", nn.ConvTranspose1d(4, 2, 3, stride=2), (4, 5), 120),
    # 2-D: out 6x6;  36 * 4 * (3 * 3 * 3) = 3888
    ("conv2d", nn.Conv2d(3, 4, 3), (3, 8, 8), 3888),
]


@pytest.mark.parametrize(("name", "module", "shape", "hand"), CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_conv_hand_counts(name: str, module: nn.Module, shape: tuple[int, ...], hand: int) -> None:
    assert count_macs(module, shape).total == hand


def test_batchnorm_folds_to_zero_and_bias_is_not_counted() -> None:
    # conv (bias=True): L_out 28 * 8 * (4 * 3) = 2688; BN and ReLU add nothing
    model = nn.Sequential(nn.Conv1d(4, 8, 3), nn.BatchNorm1d(8), nn.ReLU())
    count = count_macs(model, (4, 30))
    assert count.total == 2688
    assert count.breakdown == {"0": 2688}


# --------------------------------------------------------------------------------------------------
# Linear
# --------------------------------------------------------------------------------------------------


def test_linear_2d_and_batch_scaling() -> None:
    # 16 inputs * 8 outputs = 128 per example; batch 4 -> 512
    assert count_macs(nn.Linear(16, 8), (16,)).total == 128
    assert count_macs(nn.Linear(16, 8), (16,), batch_size=4).total == 512


def test_linear_on_a_sequence_counts_every_position() -> None:
    # (1, L=10, 16) -> (1, 10, 8): 10 positions * 16 * 8 = 1280 (torchinfo reports 128 + bias here)
    assert count_macs(nn.Linear(16, 8), (10, 16)).total == 1280


# --------------------------------------------------------------------------------------------------
# RNNs
# --------------------------------------------------------------------------------------------------


def test_lstm_one_layer() -> None:
    # 4 gates * H 8 * (I 4 + H 8) = 384 per step; 10 steps -> 3840
    assert count_macs(nn.LSTM(4, 8, batch_first=True), (10, 4)).total == 3840


def test_lstm_two_layers_bidirectional() -> None:
    # layer 0, per direction: 4 * 8 * (4 + 8) = 384  -> x2 directions = 768
    # layer 1 input is 2*H = 16, per direction: 4 * 8 * (16 + 8) = 768 -> x2 = 1536
    # per step 2304; 10 steps -> 23040
    model = nn.LSTM(4, 8, num_layers=2, bidirectional=True, batch_first=True)
    assert count_macs(model, (10, 4)).total == 23040
    assert lstm_like_macs("LSTM", 4, 8, 2, True) == 2304


def test_lstm_sequence_first_and_batch() -> None:
    # batch_first=False input (L=10, N=3, I=4): 384 per step and sequence * 10 * 3 = 11520
    model = nn.LSTM(4, 8)
    assert count_macs(model, example_inputs=(torch.zeros(10, 3, 4),)).total == 11520


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")
def test_lstm_with_projection() -> None:
    # H=8, P=3: gates 4 * 8 * (I 4 + P 3) = 224, projection H*P = 24 -> 248 per step; 10 steps -> 2480
    assert count_macs(nn.LSTM(4, 8, proj_size=3), example_inputs=(torch.zeros(10, 1, 4),)).total == 2480


def test_lstm_packed_sequence_counts_real_steps() -> None:
    # lengths 10 + 7 + 5 = 22 real steps * 384 = 8448 (padding is not computed)
    lstm = nn.LSTM(4, 8, batch_first=True)
    packed = nn.utils.rnn.pack_padded_sequence(
        torch.zeros(3, 10, 4), torch.tensor([10, 7, 5]), batch_first=True
    )

    class Wrap(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = lstm

        def forward(self, p: nn.utils.rnn.PackedSequence) -> torch.Tensor:
            return self.rnn(p)[0].data

    assert count_macs(Wrap(), example_inputs=(packed,)).total == 8448


def test_gru_one_layer_and_bidirectional() -> None:
    # 3 gates * 8 * (4 + 8) = 288 per step; 10 steps -> 2880
    assert count_macs(nn.GRU(4, 8, batch_first=True), (10, 4)).total == 2880
    # 2 layers bidirectional: layer 0: 2 * 288 = 576; layer 1: 2 * 3 * 8 * (16 + 8) = 1152 -> 1728/step
    # 10 steps -> 17280
    assert (
        count_macs(nn.GRU(4, 8, num_layers=2, bidirectional=True, batch_first=True), (10, 4)).total == 17280
    )


def test_vanilla_rnn() -> None:
    # 1 gate * 8 * (4 + 8) = 96 per step; 10 steps -> 960
    assert count_macs(nn.RNN(4, 8, batch_first=True), (10, 4)).total == 960


def test_rnn_module_formula_matches_the_fused_kernels() -> None:
    # Independent path: no module formula, only the operators torch actually runs (mkldnn_rnn_layer for
    # LSTM, addmm per step for GRU). Both must give the hand counts above.
    x = torch.zeros(1, 10, 4)
    lstm = nn.LSTM(4, 8, num_layers=2, bidirectional=True, batch_first=True).eval()
    gru = nn.GRU(4, 8, batch_first=True).eval()
    assert count_callable_macs(lstm, x).total == 23040
    assert count_callable_macs(gru, x).total == 2880


# --------------------------------------------------------------------------------------------------
# Attention
# --------------------------------------------------------------------------------------------------


class SelfAttention(nn.Module):
    def __init__(self, **kwargs: object) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 4, batch_first=True, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(x, x, x, need_weights=False)[0]


def test_multihead_attention_batch_first() -> None:
    # E=16, 4 heads, L=S=10:
    #   in-projections 3 * L * E * E = 3 * 10 * 256 = 7680
    #   QK^T: heads 4 * L 10 * S 10 * head_dim 4 = 1600; AV: 1600
    #   out projection L * E * E = 2560
    #   total 13440
    assert count_macs(SelfAttention(), (10, 16)).total == 13440
    assert mha_macs(16, 10, 10) == 13440


def test_attention_scales_with_sequence_length_squared() -> None:
    # L=20: projections 4 * 20 * 256 = 20480, attention 2 * 20 * 20 * 16 = 12800 -> 33280
    assert count_macs(SelfAttention(), (20, 16)).total == 33280


def test_multihead_attention_cross_with_kdim_vdim() -> None:
    # E=16, L=10 queries, S=7 keys with kdim 8, vdim 6:
    #   q 10*16*16 = 2560, k 7*8*16 = 896, v 7*6*16 = 672
    #   QK^T 10*7*16 = 1120, AV 1120, out 2560 -> 8928
    mha = nn.MultiheadAttention(16, 4, kdim=8, vdim=6, batch_first=True)
    inputs = (torch.zeros(1, 10, 16), torch.zeros(1, 7, 8), torch.zeros(1, 7, 6))
    assert count_macs(mha, example_inputs=inputs).total == 8928


def test_multihead_attention_bias_kv_and_zero_attn_sequence_first() -> None:
    # (L, N, E) = (10, 1, 16); add_bias_kv and add_zero_attn append 2 key slots: S' = 12
    #   projections 7680, QK^T 10*12*16 = 1920, AV 1920, out 2560 -> 14080
    mha = nn.MultiheadAttention(16, 4, add_bias_kv=True, add_zero_attn=True)
    x = torch.zeros(10, 1, 16)
    assert count_macs(mha, example_inputs=(x, x, x)).total == 14080
    # the same count from the operators torch runs (bmm on the 12 key slots)
    assert count_callable_macs(lambda: mha.eval()(x, x, x)).total == 14080


def test_attention_fused_kernels_match_module_formula() -> None:
    x = torch.zeros(1, 10, 16)
    mha = nn.MultiheadAttention(16, 4, batch_first=True).eval()
    # eval + no_grad takes the fused _native_multi_head_attention kernel
    assert count_callable_macs(lambda: mha(x, x, x)).by_op == {"aten._native_multi_head_attention": 13440}
    # TransformerEncoderLayer(16, 4, ffn 32): attention 13440 + FFN 2 * L 10 * 16 * 32 = 10240 -> 23680
    layer = nn.TransformerEncoderLayer(16, 4, 32, batch_first=True).eval()
    fused = count_callable_macs(layer, x)
    assert fused.by_op == {"aten._transformer_encoder_layer_fwd": 23680}
    assert count_macs(layer, (10, 16)).total == 23680


def test_functional_attention_and_matmul_are_counted() -> None:
    class Functional(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.ones(8, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            q = x.view(1, 2, 10, 8)  # 2 heads, L=10, head_dim 8
            return F.scaled_dot_product_attention(q, q, q) @ self.w

    # SDPA: heads 2 * L 10 * S 10 * (E 8 + E_v 8) = 3200; matmul: 2 * 10 positions * 8 * 3 = 480
    count = count_macs(Functional(), (10, 16))
    assert count.total == 3680
    assert count.breakdown == {"(root)": 3680}
    assert count.uncounted == ()


# --------------------------------------------------------------------------------------------------
# Composite model, breakdown, bookkeeping
# --------------------------------------------------------------------------------------------------


class TinyECGNet(nn.Module):
    """12-lead 500-sample input: conv stem, depthwise-separable block, LSTM, linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv1d(12, 16, 7, stride=2, padding=3)
        self.bn = nn.BatchNorm1d(16)
        self.dw = nn.Conv1d(16, 16, 5, padding=2, groups=16)
        self.pw = nn.Conv1d(16, 32, 1)
        self.pool = nn.MaxPool1d(2)
        self.rnn = nn.LSTM(32, 24, batch_first=True)
        self.head = nn.Linear(24, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.stem(x)))
        x = self.pool(F.relu(self.pw(self.dw(x))))
        y, _ = self.rnn(x.transpose(1, 2))
        return self.head(y[:, -1])


def test_composite_model_hand_count_and_breakdown() -> None:
    # stem: L_out = floor((500 + 6 - 7) / 2) + 1 = 250;  250 * 16 * (12 * 7) = 336000
    # bn, relu: 0
    # dw:   250 * 16 * (1 * 5)  = 20000
    # pw:   250 * 32 * 16       = 128000
    # pool: 250 -> 125 samples, 0 MACs
    # rnn:  125 steps * 4 * 24 * (32 + 24) = 125 * 5376 = 672000
    # head: 24 * 5 = 120
    # total 1156120
    count = count_macs(TinyECGNet(), (12, 500))
    assert count.breakdown == {"stem": 336000, "dw": 20000, "pw": 128000, "rnn": 672000, "head": 120}
    assert count.total == 1156120
    assert count.by_op == {"aten.convolution": 484000, "nn.LSTM": 672000, "aten.addmm": 120}
    assert count.uncounted == ()


def test_torchinfo_agrees_where_its_convention_matches() -> None:
    torchinfo = pytest.importorskip("torchinfo")
    # torchinfo counts biases, so compare on bias-free layers, where both must equal the hand count.
    cases = [
        (nn.Conv1d(2, 4, 3, stride=2, bias=False), (1, 2, 11), 120),  # strided, see CONV_CASES
        (nn.Conv1d(4, 8, 3, groups=2, bias=False), (1, 4, 10), 384),  # grouped
        (nn.Conv1d(4, 4, 5, groups=4, bias=False), (1, 4, 10), 120),  # depthwise
        (nn.Conv1d(2, 4, 3, dilation=3, bias=False), (1, 2, 20), 336),  # dilated
        (nn.LSTM(4, 8, num_layers=2, bidirectional=True, bias=False, batch_first=True), (1, 10, 4), 23040),
        (nn.GRU(4, 8, bias=False, batch_first=True), (1, 10, 4), 2880),
    ]
    for module, shape, hand in cases:
        ours = count_macs(module, shape[1:]).total
        theirs = torchinfo.summary(module, input_size=shape, verbose=0).total_mult_adds
        assert ours == theirs == hand, type(module).__name__


def test_unknown_heavy_operators_are_reported_not_dropped() -> None:
    class Spectral(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.fft.rfft(x).abs()

    count = count_macs(Spectral(), (1, 64))
    assert count.total == 0
    assert any("fft" in op for op in count.uncounted)


def test_training_flag_is_restored_and_bad_input_raises() -> None:
    model = TinyECGNet().train()
    count_macs(model, (12, 500))
    assert model.training
    with pytest.raises(LeanECGError, match="input_shape"):
        count_macs(model, (3, 500))  # the stem expects 12 leads
    assert model.training
    with pytest.raises(LeanECGError):
        count_macs(model)


class ConvPlusFeatures(nn.Module):
    """A conv branch on the signal and a linear branch on ``features``, fused by a linear layer."""

    def __init__(self, leads: int = 2, n_features: int = 7) -> None:
        super().__init__()
        self.n_features = n_features
        self.conv = nn.Conv1d(leads, 4, 5, bias=False)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.feat = nn.Linear(n_features, 6)
        self.fc = nn.Linear(4 + 6, 3)

    def forward(self, x: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        deep = self.pool(F.relu(self.conv(x))).flatten(1)
        return self.fc(torch.cat([deep, F.relu(self.feat(features))], dim=1))


class DeclaredConvPlusFeatures(ConvPlusFeatures):
    """The same, declaring its keyword input as LeanECG models do."""

    extra_inputs = ("features",)


def test_keyword_inputs_are_counted() -> None:
    # conv on (2, 100): L_out = 100 - 5 + 1 = 96;  96 * 4 * (2 * 5) = 3840
    # feat: Linear(7 -> 6) = 42;  fc: Linear(10 -> 3) = 30;  total 3912 per example
    model = DeclaredConvPlusFeatures()
    count = count_macs(model, (2, 100), extra_inputs={"features": (7,)})
    assert count.breakdown == {"conv": 3840, "feat": 42, "fc": 30}
    assert count.total == 3912 and count.uncounted == ()
    assert count_macs(model, (2, 100), extra_inputs={"features": [7]}, batch_size=3).total == 3 * 3912
    exact = count_macs(
        model, example_inputs=(torch.randn(2, 2, 100),), example_kwargs={"features": torch.randn(2, 7)}
    )
    assert exact.total == 2 * 3912
    # a model without the extra_inputs attribute gets whatever keyword inputs are given
    undeclared = ConvPlusFeatures()
    assert count_macs(undeclared, (2, 100), extra_inputs={"features": (7,)}).total == 3912
    with pytest.raises(LeanECGError, match="features"):
        count_macs(undeclared, (2, 100))  # forward() missing 'features': a clear error, not a TypeError


def test_keyword_input_errors_are_clear() -> None:
    model = DeclaredConvPlusFeatures().train()
    with pytest.raises(
        LeanECGError, match=r"DeclaredConvPlusFeatures needs extra_inputs=\{'features': \(7,\)\}"
    ) as err:
        count_macs(model, (2, 100))
    assert err.value.path == "model"
    with pytest.raises(LeanECGError, match="needs extra_inputs"):
        count_macs(model, example_inputs=(torch.zeros(1, 2, 100),))
    with pytest.raises(LeanECGError, match="needs example_kwargs for 'features'"):
        count_macs(model, example_inputs=(torch.zeros(1, 2, 100),), example_kwargs={})
    with pytest.raises(LeanECGError, match="does not take 'age_sex'"):
        count_macs(model, (2, 100), extra_inputs={"features": (7,), "age_sex": (2,)})
    with pytest.raises(LeanECGError, match="sequence of integers"):
        count_macs(model, (2, 100), extra_inputs={"features": 7})  # type: ignore[dict-item]
    with pytest.raises(LeanECGError, match=">= 1"):
        count_macs(model, (2, 100), extra_inputs={"features": (0,)})
    with pytest.raises(LeanECGError, match="not both"):
        count_macs(
            model, (2, 100), extra_inputs={"features": (7,)}, example_kwargs={"features": torch.zeros(1, 7)}
        )
    with pytest.raises(LeanECGError, match=r"features \(1, 8\)") as err:
        count_macs(model, (2, 100), extra_inputs={"features": (8,)})  # Linear(7 -> 6) gets 8 features
    assert err.value.path == "input_shape"
    assert model.training


def test_leanecg_fusion_models_count_with_features() -> None:
    from leanecg.models.registry import build_model

    # wide_deep (litenet deep branch) + 5 features + age/sex: both keyword inputs are required
    model = build_model(
        "wide_deep", n_leads=1, n_classes=4, n_features=5, backbone="litenet", use_age_sex=True
    )
    assert model.extra_inputs == ("features", "age_sex")
    with pytest.raises(
        LeanECGError, match=r"needs extra_inputs=\{'features': \(5,\), 'age_sex': \(\.\.\.\)\}"
    ):
        count_macs(model, (1, 500), extra_inputs=None)
    with pytest.raises(LeanECGError, match="needs extra_inputs"):
        count_macs(model, (1, 500), extra_inputs={"features": (5,)})
    full = count_macs(model, (1, 500), extra_inputs={"features": (5,), "age_sex": (2,)})
    assert full.uncounted == ()
    # the deep branch's MACs are the backbone's; the rest is the fusion head's Linear layers, each
    # applied once per example: sum(in * out)
    deep = count_macs(model.backbone, (1, 500)).total
    head = sum(m.in_features * m.out_features for m in model.head.modules() if isinstance(m, nn.Linear))
    assert full.total == deep + head
    assert head > 0 and full.breakdown.get("head.feature_branch.0", 0) > 0  # the wide branch is counted


# --------------------------------------------------------------------------------------------------
# ONNX graphs built by hand (fast; exported models are compared with torch in test_cost.py)
# --------------------------------------------------------------------------------------------------


def _onnx_model(nodes: list, inputs: list, outputs: list, inits: dict[str, object]):  # type: ignore[no-untyped-def]
    import numpy as np
    from onnx import helper, numpy_helper

    initializers = [numpy_helper.from_array(np.asarray(v, dtype=np.float32), k) for k, v in inits.items()]
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_onnx_lstm_gru_matmul_gemm_convtranspose_hand_counts() -> None:
    import numpy as np
    from onnx import TensorProto, helper

    from leanecg.evaluate.cost.onnx_graph import count_onnx_macs, onnx_params

    f32 = TensorProto.FLOAT
    # Bidirectional batch-first LSTM (layout=1), H=8, X = [batch 1, seq 10, I 4]:
    #   per step and direction 4*8*(4+8) = 384; 10 steps * 2 directions * 384 = 7680
    #   params W 2*32*4 + R 2*32*8 + B 2*64 = 896 (the zero initial state h0 is not a parameter)
    lstm = _onnx_model(
        [
            helper.make_node(
                "LSTM",
                ["x", "W", "R", "B", "", "h0"],
                ["y"],
                hidden_size=8,
                direction="bidirectional",
                layout=1,
            )
        ],
        [helper.make_tensor_value_info("x", f32, [1, 10, 4])],
        [helper.make_tensor_value_info("y", f32, None)],
        {
            "W": np.zeros((2, 32, 4)),
            "R": np.zeros((2, 32, 8)),
            "B": np.zeros((2, 64)),
            "h0": np.zeros((1, 2, 8)),
        },
    )
    assert count_onnx_macs(lstm, (10, 4)).total == 7680
    assert onnx_params(lstm) == 896
    # Batch-first GRU, H=8, I=4: 3*8*(4+8) = 288 per step; 10 steps -> 2880
    gru = _onnx_model(
        [helper.make_node("GRU", ["x", "W", "R"], ["y"], hidden_size=8, layout=1)],
        [helper.make_tensor_value_info("x", f32, [1, 10, 4])],
        [helper.make_tensor_value_info("y", f32, None)],
        {"W": np.zeros((1, 24, 4)), "R": np.zeros((1, 24, 8))},
    )
    assert count_onnx_macs(gru, (10, 4)).total == 2880
    # Batched MatMul (QK^T of 4 heads, L=10, head_dim 4): Y [1, 4, 10, 10] = 400 outputs * K 4 = 1600
    matmul = _onnx_model(
        [
            helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 1, 3, 2]),
            helper.make_node("MatMul", ["x", "xt"], ["y"]),
        ],
        [helper.make_tensor_value_info("x", f32, [1, 4, 10, 4])],
        [helper.make_tensor_value_info("y", f32, None)],
        {},
    )
    assert count_onnx_macs(matmul, (4, 10, 4)).total == 1600
    # Gemm with transA: A [K 16, M 1] -> Y [1, 8]: 8 outputs * K 16 = 128
    gemm = _onnx_model(
        [
            helper.make_node("Transpose", ["x"], ["xt"]),
            helper.make_node("Gemm", ["xt", "Wg"], ["y"], transA=1),
        ],
        [helper.make_tensor_value_info("x", f32, [1, 16])],
        [helper.make_tensor_value_info("y", f32, None)],
        {"Wg": np.zeros((16, 8))},
    )
    assert count_onnx_macs(gemm, (16,)).total == 128
    # ConvTranspose C_in 4 -> C_out 2, k 3, stride 2 on 5 samples: 5 * 4 * (2 * 3) = 120
    convt = _onnx_model(
        [helper.make_node("ConvTranspose", ["x", "Wt"], ["y"], strides=[2])],
        [helper.make_tensor_value_info("x", f32, [1, 4, 5])],
        [helper.make_tensor_value_info("y", f32, None)],
        {"Wt": np.zeros((4, 2, 3))},
    )
    assert count_onnx_macs(convt, (4, 5)).total == 120


def test_onnx_runtime_shape_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """When shape inference knows nothing, the shapes come from one ONNX Runtime run; same count."""
    import numpy as np
    from onnx import TensorProto, helper

    from leanecg.evaluate.cost import onnx_graph

    f32 = TensorProto.FLOAT
    # Conv 2 -> 4 channels, k 3, on a dynamic time axis of 10 samples: L_out 8 * 4 * (2 * 3) = 192
    model = _onnx_model(
        [helper.make_node("Conv", ["x", "Wc"], ["y"])],
        [helper.make_tensor_value_info("x", f32, ["batch", 2, "time"])],
        [helper.make_tensor_value_info("y", f32, None)],
        {"Wc": np.zeros((4, 2, 3))},
    )
    assert onnx_graph.count_onnx_macs(model, (2, 10)).total == 192
    real = onnx_graph._inferred_shapes
    monkeypatch.setattr(
        onnx_graph, "_inferred_shapes", lambda m: {k: v for k, v in real(m).items() if k in ("x", "Wc")}
    )
    assert onnx_graph.count_onnx_macs(model, (2, 10)).total == 192
    with pytest.raises(LeanECGError, match="rank"):
        onnx_graph.count_onnx_macs(model, (10,))


def test_onnx_uncounted_ops_are_reported() -> None:
    from onnx import TensorProto, helper

    from leanecg.evaluate.cost.onnx_graph import count_onnx_macs

    f32 = TensorProto.FLOAT
    model = _onnx_model(
        [helper.make_node("Einsum", ["x", "x"], ["y"], equation="bij,bkj->bik")],
        [helper.make_tensor_value_info("x", f32, [1, 3, 4])],
        [helper.make_tensor_value_info("y", f32, None)],
        {},
    )
    count = count_onnx_macs(model, (3, 4))
    assert count.total == 0
    assert len(count.uncounted) == 1 and count.uncounted[0].startswith("Einsum")
