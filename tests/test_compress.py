"""leanecg.compress: distillation, pruning (unstructured and structured), QAT, and the trainer hook."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from leanecg.compress.distill import (
    DistillationModule,
    DistillConfig,
    distill,
    distillation_loss,
    feature_matching_loss,
    select_leads,
)
from leanecg.compress.prune import (
    apply_channel_counts,
    channel_groups,
    magnitude_prune,
    make_permanent,
    prune_channels,
    prune_channels_ratio,
    sparsity,
)
from leanecg.compress.qat import (
    ActivationFakeQuant,
    convert_qat,
    fake_quantize,
    freeze_batchnorm,
    prepare_qat,
    weight_fake_quant,
)
from leanecg.errors import LeanECGError
from leanecg.evaluate.cost.macs import count_macs
from leanecg.models.channels import slice_group
from leanecg.models.registry import build_from_config, build_model, model_config
from leanecg.train.datasets import ArraySplit
from leanecg.train.trainer import TrainConfig, fit

torch.set_num_threads(1)


def _randomise_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Trained-looking batch-norm statistics so that channel importances differ."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            n = m.num_features
            m.weight.data = 0.2 + torch.rand(n, generator=g)
            m.bias.data = 0.1 * torch.randn(n, generator=g)
            m.running_mean.data = 0.1 * torch.randn(n, generator=g)
            m.running_var.data = 0.5 + torch.rand(n, generator=g)
    return model.eval()


def _call(model: nn.Module, x: torch.Tensor, f: torch.Tensor | None) -> torch.Tensor:
    with torch.no_grad():
        return model(x) if f is None else model(x, features=f)


def _toy_split(
    n: int = 24, leads: int = 2, length: int = 256, multilabel: bool = False, seed: int = 0
) -> ArraySplit:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, leads, length)).astype(np.float32)
    if multilabel:
        y = (rng.random((n, 3)) < 0.4).astype(np.float32)
        X[:, :, :64] += 2.0 * y[:, :1, None]  # a learnable cue
    else:
        y = np.arange(n) % 3
        X[:, leads - 1, :64] += y[:, None].astype(np.float32)  # the cue is on the last lead only
    return ArraySplit(X, y, name="train")


# ------------------------------------------------------------------------------------------- distillation


def test_distillation_loss_is_zero_for_identical_logits_and_positive_otherwise() -> None:
    t = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    for multilabel in (False, True):
        assert float(distillation_loss(t.clone(), t, 4.0, multilabel)) == pytest.approx(0.0, abs=1e-6)
        assert float(distillation_loss(t.flip(1), t, 4.0, multilabel)) > 0.01
    with pytest.raises(LeanECGError, match="logits"):
        distillation_loss(t[:, :2], t, 2.0, False)


def test_distillation_loss_gradient_scale_is_temperature_independent() -> None:
    # with the T**2 factor the soft gradient stays of the same order for T = 1 .. 8 (Hinton et al. 2015)
    t = torch.tensor([[1.0, -1.0, 0.0]])
    norms = []
    for temp in (1.0, 8.0):
        s = torch.zeros(1, 3, requires_grad=True)
        distillation_loss(s, t, temp, False).backward()
        norms.append(float(s.grad.norm()))
    assert 0.2 < norms[1] / norms[0] < 5


def test_feature_matching_loss_is_scale_free_and_length_aligned() -> None:
    a = torch.randn(2, 4, 32)
    assert float(feature_matching_loss(3.0 * a, a)) == pytest.approx(0.0, abs=1e-5)
    assert float(feature_matching_loss(torch.randn(2, 4, 16), a)) > 0.1  # different lengths are pooled
    with pytest.raises(ValueError, match="channel"):
        feature_matching_loss(torch.randn(2, 3, 16), a)


def test_distill_config_validation() -> None:
    with pytest.raises(LeanECGError, match="temperature"):
        DistillConfig(temperature=0)
    with pytest.raises(LeanECGError, match="alpha"):
        DistillConfig(alpha=1.5)
    with pytest.raises(LeanECGError, match="student_leads"):
        DistillConfig(student_leads=[0, 0])
    with pytest.raises(LeanECGError, match="unknown"):
        DistillConfig.from_dict({"temprature": 2})
    cfg = DistillConfig(student_leads=[1], feature_weight=0.5)
    assert DistillConfig.from_dict(cfg.to_dict()) == cfg


def test_distill_many_leads_to_one_lead_trains_only_the_student() -> None:
    train = _toy_split(leads=2)
    val = _toy_split(n=12, leads=2, seed=1)
    val.name = "val"
    torch.manual_seed(0)
    teacher = build_model("litenet", n_leads=2, n_classes=3, width=0.5).eval()
    teacher_state = copy.deepcopy(teacher.state_dict())
    student = build_model("litenet", n_leads=1, n_classes=3, width=0.5)
    before = copy.deepcopy(student.state_dict())
    cfg = TrainConfig(epochs=2, batch_size=8, num_threads=1, seed=0)
    dcfg = DistillConfig(temperature=2.0, alpha=0.5, feature_weight=0.5, student_leads=[1])
    res = distill(student, teacher, train, val, cfg, dcfg, progress=False)
    assert res.config["distill"]["student_leads"] == [1]
    assert res.epochs_run == 2
    # the teacher is untouched (weights and batch-norm statistics) and frozen
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, teacher_state[k]), k
    assert not teacher.training
    assert all(p.requires_grad for p in teacher.parameters())  # flags restored after training
    assert any(not torch.equal(v, before[k]) for k, v in student.state_dict().items())
    assert list(student.state_dict()) == list(before)  # no projection / wrapper keys leak into the student
    out = student(torch.from_numpy(select_leads(val, [1]).X))
    assert out.shape == (12, 3)


def test_distill_same_leads_multilabel_and_wrapper_has_no_teacher_parameters() -> None:
    train = _toy_split(leads=1, multilabel=True)
    teacher = build_model("litenet", n_leads=1, n_classes=3).eval()
    student = build_model("litenet", n_leads=1, n_classes=3, width=0.5)
    wrapper = DistillationModule(student, teacher, DistillConfig())
    assert {id(p) for p in wrapper.parameters()} == {id(p) for p in student.parameters()}
    res = distill(
        student, teacher, train, None, TrainConfig(epochs=1, batch_size=8, loss="bce"), progress=False
    )
    assert res.multilabel and student.multilabel


def test_distill_rejects_bad_leads_and_class_mismatch() -> None:
    train = _toy_split(leads=2)
    teacher = build_model("litenet", n_leads=2, n_classes=3, width=0.5)
    student = build_model("litenet", n_leads=1, n_classes=3, width=0.5)
    with pytest.raises(LeanECGError, match="out of range"):
        distill(student, teacher, train, None, TrainConfig(epochs=1), DistillConfig(student_leads=[2]))
    wrong = build_model("litenet", n_leads=2, n_classes=4, width=0.5)
    with pytest.raises(LeanECGError, match="logits"):
        distill(
            student, wrong, train, None, TrainConfig(epochs=1, batch_size=8), DistillConfig(student_leads=[0])
        )


def test_fit_batch_loss_hook_replaces_the_loss() -> None:
    train = _toy_split(leads=1)
    model = build_model("litenet", n_leads=1, n_classes=3, width=0.5)
    seen = []

    def hook(m: nn.Module, batch: dict[str, torch.Tensor], criterion: nn.Module) -> torch.Tensor:
        seen.append(sorted(batch))
        return criterion(m(batch["x"]), batch["y"]) * 0.0 + 1.5 + 0.0 * sum(p.sum() for p in m.parameters())

    res = fit(model, train, None, TrainConfig(epochs=1, batch_size=8), batch_loss=hook, progress=False)
    assert seen and seen[0] == ["index", "x", "y"]
    assert res.history[0]["train_loss"] == pytest.approx(1.5)


# ------------------------------------------------------------------------------------------------ pruning


def test_magnitude_prune_global_sparsity_and_make_permanent() -> None:
    model = build_model("litenet", n_leads=1, n_classes=4)
    magnitude_prune(model, 0.6)
    assert sparsity(model) == pytest.approx(0.6, abs=0.01)
    assert any(k.endswith("weight_orig") for k in model.state_dict())
    make_permanent(model)
    assert not any(k.endswith(("weight_orig", "weight_mask")) for k in model.state_dict())
    assert sparsity(model) == pytest.approx(0.6, abs=0.01)
    assert set(model.state_dict()) == set(build_model("litenet", 1, 4).state_dict())
    with pytest.raises(LeanECGError, match="fraction"):
        magnitude_prune(model, 1.0)


MODELS = [
    ("litenet", {}),
    ("mobilenet_v2", {"width": 0.5}),
    ("mobilenet_v3", {}),
    ("resnet1d", {"width": 0.25}),
    ("se_resnet1d", {"width": 0.25}),
    ("efficientnet1d", {"width": 0.5}),
    ("wide_deep_lite", {"n_features": 5}),
]


@pytest.mark.parametrize(("name", "kw"), MODELS)
def test_structured_pruning_cuts_macs_and_rebuilds_from_config(name: str, kw: dict) -> None:
    torch.manual_seed(0)
    model = _randomise_bn(build_model(name, n_leads=2, n_classes=4, **kw))
    nf = kw.get("n_features", 0)
    extra = {"features": (nf,)} if nf else None
    x, f = torch.randn(3, 2, 600), (torch.randn(3, nf) if nf else None)
    pruned, info = prune_channels(model, 0.5, (2, 600), extra_inputs=extra)
    assert info["macs_after"] <= 0.5 * info["macs_before"]
    assert info["params_after"] < info["params_before"]
    assert count_macs(pruned, (2, 600), extra_inputs=extra).total == info["macs_after"]
    assert _call(pruned, x, f).shape == (3, 4)
    assert _call(model, x, f).shape == (3, 4)  # the original is untouched
    config = model_config(pruned)
    assert config["pruned_channels"] == info["channels"]
    rebuilt = build_from_config(config)
    rebuilt.load_state_dict(pruned.state_dict(), strict=True)
    assert torch.allclose(_call(rebuilt.eval(), x, f), _call(pruned, x, f), atol=1e-6)


@pytest.mark.parametrize("name", ["litenet", "resnet1d", "mobilenet_v3"])
def test_removing_dead_channels_does_not_change_the_output(name: str) -> None:
    """Channels whose batch norms output exactly 0 everywhere can be cut without changing the logits,
    which checks that every member of a group (depthwise, residual, SE, head) is sliced consistently."""
    torch.manual_seed(0)
    model = _randomise_bn(build_model(name, n_leads=1, n_classes=3, width=0.5))
    x = torch.randn(2, 1, 512)
    groups = channel_groups(model)
    for g in groups:
        dead = torch.arange(0, g.size, 3)
        for kind, m, _ in g.members:
            if kind == "bn":
                m.weight.data[dead] = 0.0
                m.bias.data[dead] = 0.0
    ref = _call(model, x, None)
    for g in channel_groups(model):
        keep = torch.tensor([i for i in range(g.size) if i % 3 != 0])
        slice_group(g, keep)
    out = _call(model, x, None)
    assert torch.allclose(out, ref, atol=1e-5), float((out - ref).abs().max())


def test_pruning_importance_keeps_the_strongest_channels() -> None:
    model = _randomise_bn(build_model("litenet", n_leads=1, n_classes=3))
    stem_bn = model.backbone.stem[1]
    stem_bn.weight.data[:] = 1e-3
    stem_bn.weight.data[[2, 5]] = 10.0
    conv_w = model.backbone.stem[0].weight.detach().clone()
    counts = prune_channels_ratio(model, 0.875)  # 16 stem channels -> 2
    assert counts["backbone.stem.0"] == 2
    assert torch.equal(model.backbone.stem[0].weight[0], conv_w[2])
    assert torch.equal(model.backbone.stem[0].weight[1], conv_w[5])


def test_channel_counts_validation_and_unsupported_models() -> None:
    model = build_model("litenet", n_leads=1, n_classes=3)
    with pytest.raises(LeanECGError, match="unknown channel group"):
        apply_channel_counts(model, {"nope": 3})
    with pytest.raises(LeanECGError, match="channels kept"):
        apply_channel_counts(model, {"backbone.stem.0": 999})
    with pytest.raises(LeanECGError, match="does not support"):
        channel_groups(build_model("shufflenet_v2", n_leads=1, n_classes=3))
    with pytest.raises(LeanECGError, match="backbone"):
        channel_groups(build_model("gru", n_leads=1, n_classes=3))
    with pytest.raises(LeanECGError, match="fraction"):
        prune_channels(model, 0.0, (1, 300))
    config = model_config(build_model("litenet", 1, 3))
    config["pruned_channels"] = {"backbone.stem.0": 0}
    with pytest.raises(LeanECGError, match="pruned_channels"):
        build_from_config(config)


# -------------------------------------------------------------------------------------------- QAT


def test_fake_quantize_straight_through_gradient_and_levels() -> None:
    x = torch.linspace(-1, 1, 101, requires_grad=True)
    y = fake_quantize(x, torch.tensor(0.1), torch.tensor(0.0), -127, 127)
    y.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))
    assert torch.allclose(y, torch.round(x.detach() / 0.1) * 0.1)
    w = torch.randn(6, 3, 9)
    wq = weight_fake_quant(w)
    for c in range(6):
        scale = w[c].abs().max() / 127
        levels = torch.round(wq[c] / scale)
        assert torch.allclose(levels * scale, wq[c], atol=1e-6)
        assert levels.abs().max() == 127  # the channel's largest weight maps to +-127


def test_activation_fake_quant_tracks_a_range_and_quantizes_to_256_levels() -> None:
    q = ActivationFakeQuant(momentum=1.0)
    q.train()
    x = torch.linspace(-0.5, 3.0, 1000)
    q(x)
    q.eval()
    y = q(x)
    assert len(torch.unique(y)) <= 256
    assert float((y - x).abs().max()) <= (3.5 / 255) / 2 + 1e-6


@pytest.mark.parametrize(
    ("name", "kw"), [("litenet", {}), ("mobilenet_v3", {}), ("wide_deep_lite", {"n_features": 4})]
)
def test_prepare_and_convert_qat_round_trip(name: str, kw: dict) -> None:
    torch.manual_seed(0)
    model = _randomise_bn(build_model(name, n_leads=1, n_classes=3, **kw))
    nf = kw.get("n_features", 0)
    x, f = torch.randn(4, 1, 800), (torch.randn(4, nf) if nf else None)
    qat = freeze_batchnorm(prepare_qat(model))
    ref, fq = _call(model, x, f), _call(qat, x, f)
    assert torch.allclose(ref, fq, atol=0.05 * float(ref.abs().max()) + 1e-3)  # int8 weights only: close
    qat.train()
    assert not any(m.training for m in qat.modules() if isinstance(m, nn.BatchNorm1d))
    _call(qat, x, f)
    back = convert_qat(qat)
    assert list(back.state_dict()) == list(model.state_dict())
    assert model_config(back) == model_config(model)
    assert torch.allclose(_call(back, x, f), ref, atol=1e-6)  # no training step: same weights
    with pytest.raises(LeanECGError, match="already"):
        prepare_qat(qat)


def test_qat_fine_tune_changes_weights_but_not_batchnorm_statistics() -> None:
    train = _toy_split(leads=1)
    model = _randomise_bn(build_model("litenet", n_leads=1, n_classes=3, width=0.5))
    qat = freeze_batchnorm(prepare_qat(model))
    fit(qat, train, None, TrainConfig(epochs=1, batch_size=8), progress=False)
    back = convert_qat(qat)
    for (k, v), (k0, v0) in zip(back.state_dict().items(), model.state_dict().items(), strict=True):
        assert k == k0
        if "running_" in k:
            assert torch.equal(v, v0), k
    assert not torch.equal(back.backbone.stem[0].weight, model.backbone.stem[0].weight)


def test_cross_fit_teachers_give_out_of_fold_logits() -> None:
    from leanecg.compress.distill import CrossFitTeacher, cross_fit_teachers

    train = _toy_split(n=16, leads=2)
    cross = cross_fit_teachers(
        lambda: build_model("litenet", n_leads=2, n_classes=3, width=0.5),
        train,
        None,
        TrainConfig(epochs=1, batch_size=4),
        n_folds=2,
    )
    assert isinstance(cross, CrossFitTeacher) and len(cross.teachers) == 2
    assert sorted(np.bincount(cross.folds.numpy()).tolist()) == [8, 8]
    x = torch.from_numpy(np.asarray(train.X))
    index = torch.arange(16)
    with torch.no_grad():
        out = cross(x, index=index)
        for k, teacher in enumerate(cross.teachers):
            rows = cross.folds == k
            assert torch.allclose(out[rows], teacher(x[rows]), atol=1e-6)
        mean = torch.stack([t(x) for t in cross.teachers]).mean(0)
        assert torch.allclose(cross(x), mean, atol=1e-6)
    student = build_model("litenet", n_leads=1, n_classes=3, width=0.5)
    distill(
        student, cross, train, None, TrainConfig(epochs=1, batch_size=4), DistillConfig(student_leads=[1])
    )
    with pytest.raises(LeanECGError, match="n_folds"):
        cross_fit_teachers(lambda: student, train, None, TrainConfig(epochs=1), n_folds=1)


class _Exploding(nn.Module):
    """A 'teacher' that must not be run."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise AssertionError("the teacher was run")


def test_mixup_control_without_teacher_term_never_runs_the_teacher() -> None:
    train = _toy_split(leads=1, multilabel=True)
    student = build_model("litenet", n_leads=1, n_classes=3, width=0.5)
    cfg = DistillConfig(alpha=1.0, mixup=0.5)
    distill(
        student,
        _Exploding(),
        train,
        None,
        TrainConfig(epochs=1, batch_size=8, loss="bce"),
        cfg,
        progress=False,
    )
    with pytest.raises(LeanECGError, match="mixup"):
        DistillConfig(mixup=-1.0)


def test_mixup_distillation_is_deterministic_for_a_seed() -> None:
    train = _toy_split(leads=2)
    teacher = build_model("litenet", n_leads=2, n_classes=3, width=0.5).eval()
    states = []
    for _ in range(2):
        torch.manual_seed(1)
        student = build_model("litenet", n_leads=1, n_classes=3, width=0.5)
        cfg = DistillConfig(student_leads=[1], mixup=0.4)
        distill(
            student, teacher, train, None, TrainConfig(epochs=1, batch_size=8, seed=3), cfg, progress=False
        )
        states.append(student.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_global_allocation_meets_the_target_and_keeps_a_floor_per_group() -> None:
    model = _randomise_bn(build_model("mobilenet_v3", n_leads=1, n_classes=3))
    sizes = {g.name: g.size for g in channel_groups(model)}
    pruned, info = prune_channels(model, 0.5, (1, 800), allocation="global", min_keep=0.25)
    assert info["allocation"] == "global" and info["macs_after"] <= 0.5 * info["macs_before"]
    assert all(k >= 0.25 * sizes[name] for name, k in info["channels"].items())
    rebuilt = build_from_config(model_config(pruned))
    rebuilt.load_state_dict(pruned.state_dict(), strict=True)
    with pytest.raises(LeanECGError, match="allocation"):
        prune_channels(model, 0.5, (1, 800), allocation="greedy")
