"""leanecg.train.losses against hand-computed values and torch's reference implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from leanecg.errors import LeanECGError
from leanecg.train.losses import (
    AsymmetricLoss,
    BinaryFocalLoss,
    FocalLoss,
    SmoothedBCEWithLogitsLoss,
    balanced_class_weights,
    balanced_pos_weights,
    make_loss,
)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def t(values, dtype=torch.float32) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


def test_balanced_class_weights_follow_sklearn():
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2])
    w = balanced_class_weights(y, 3)
    np.testing.assert_allclose(w, [9 / (3 * 6), 9 / (3 * 2), 9 / (3 * 1)], rtol=1e-6)
    np.testing.assert_allclose(w, compute_class_weight("balanced", classes=np.arange(3), y=y), rtol=1e-6)
    # a class absent from training gets 1; k counts the classes present
    np.testing.assert_allclose(
        balanced_class_weights(np.array([0, 0, 0, 1]), 3), [4 / 6, 4 / 2, 1.0], rtol=1e-6
    )


def test_balanced_pos_weights():
    y = np.array([[1, 0, 1], [0, 0, 1], [0, 1, 1], [0, 0, 1]], dtype=np.float32)
    # class 0: 1 pos 3 neg -> 3; class 1: 1 pos 3 neg -> 3; class 2: no negatives -> 1
    np.testing.assert_allclose(balanced_pos_weights(y), [3.0, 3.0, 1.0])


def test_weighted_cross_entropy_hand_computed():
    logits = t([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]])
    target = t([0, 1], torch.int64)
    z0 = math.exp(2) + 1 + math.exp(-1)
    z1 = math.exp(0.5) + math.exp(1.5) + 1
    l0, l1 = -math.log(math.exp(2) / z0), -math.log(math.exp(1.5) / z1)
    y_train = np.array([0, 0, 0, 1])  # balanced weights 4/(2*3) and 4/(2*1); class 2 absent -> 1
    w0, w1 = 4 / 6, 2.0
    loss = make_loss("weighted_ce", y_train=y_train, n_classes=3)
    assert float(loss(logits, target)) == pytest.approx((w0 * l0 + w1 * l1) / (w0 + w1), rel=1e-6)
    plain = make_loss("ce", y_train=y_train, n_classes=3)
    assert float(plain(logits, target)) == pytest.approx((l0 + l1) / 2, rel=1e-6)
    # the rare class's mistake counts more with balanced weights
    assert l1 > l0 and float(loss(logits, target)) > float(plain(logits, target))
    # an explicit list means the same; scaling all weights changes nothing
    listed = make_loss("ce", y_train=y_train, n_classes=3, class_weights=[10 * w0, 10 * w1, 10.0])
    assert float(listed(logits, target)) == pytest.approx(float(loss(logits, target)), rel=1e-6)


def test_multiclass_focal_hand_computed():
    logits = t([[1.0, 0.0]])
    p = math.exp(1) / (math.exp(1) + 1)
    loss = FocalLoss(gamma=2.0)(logits, t([0], torch.int64))
    assert float(loss) == pytest.approx(-((1 - p) ** 2) * math.log(p), rel=1e-6)
    # focusing down-weights the easy example relative to CE
    assert float(loss) < float(F.cross_entropy(logits, t([0], torch.int64)))
    loss = FocalLoss(gamma=2.0, weight=t([1.0, 3.0]))(t([[1.0, 0.0], [1.0, 0.0]]), t([0, 1], torch.int64))
    hand = (-((1 - p) ** 2) * math.log(p) + 3 * -(p**2) * math.log(1 - p)) / (1 + 3)
    assert float(loss) == pytest.approx(hand, rel=1e-6)


def test_multiclass_focal_with_gamma_0_is_torch_cross_entropy():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 4, generator=g) * 3
    target = torch.randint(0, 4, (16,), generator=g)
    w = t([0.5, 2.0, 1.0, 3.0])
    for ls in (0.0, 0.1):
        ref = F.cross_entropy(logits, target, weight=w, label_smoothing=ls)
        assert float(FocalLoss(0.0, w, ls)(logits, target)) == pytest.approx(float(ref), rel=1e-5)


def test_binary_focal_hand_computed():
    x = t([[0.5, -1.0]])
    y = t([[1.0, 0.0]])
    p0, p1 = sigmoid(0.5), sigmoid(-1.0)
    hand = (-((1 - p0) ** 2) * math.log(p0) - p1**2 * math.log(1 - p1)) / 2
    assert float(BinaryFocalLoss(gamma=2.0)(x, y)) == pytest.approx(hand, rel=1e-6)
    hand_alpha = (-0.25 * (1 - p0) ** 2 * math.log(p0) - 0.75 * p1**2 * math.log(1 - p1)) / 2
    assert float(BinaryFocalLoss(gamma=2.0, alpha=0.25)(x, y)) == pytest.approx(hand_alpha, rel=1e-6)


def test_binary_focal_with_gamma_0_is_bce_with_pos_weight():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 3, generator=g) * 4
    y = (torch.rand(8, 3, generator=g) < 0.4).float()
    pw = t([1.0, 4.0, 0.5])
    ref = F.binary_cross_entropy_with_logits(x, y, pos_weight=pw)
    assert float(BinaryFocalLoss(gamma=0.0, pos_weight=pw)(x, y)) == pytest.approx(float(ref), rel=1e-5)
    assert float(SmoothedBCEWithLogitsLoss(pos_weight=pw)(x, y)) == pytest.approx(float(ref), rel=1e-6)


def test_asymmetric_loss_hand_computed():
    x = t([[2.0, -1.0, 0.1, -4.0]])
    y = t([[1.0, 0.0, 0.0, 0.0]])
    m = 0.05
    pos = -math.log(sigmoid(2.0))  # gamma_pos = 0
    terms = [pos]
    for xi in (-1.0, 0.1, -4.0):
        pm = max(sigmoid(xi) - m, 0.0)  # shifted probability of a negative
        terms.append(-(pm**4) * math.log(1 - pm) if pm > 0 else 0.0)
    assert terms[3] == 0.0  # p < m: an easy negative is discarded entirely
    loss = AsymmetricLoss(gamma_pos=0.0, gamma_neg=4.0, clip=m)(x, y)
    assert float(loss) == pytest.approx(sum(terms) / 4, rel=1e-5)
    # with gamma_pos = 1 the positive term is focused too
    loss = AsymmetricLoss(gamma_pos=1.0, gamma_neg=4.0, clip=m)(x, y)
    terms[0] = -(1 - sigmoid(2.0)) * math.log(sigmoid(2.0))
    assert float(loss) == pytest.approx(sum(terms) / 4, rel=1e-5)


def test_asymmetric_loss_reduces_to_bce():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(8, 5, generator=g) * 3
    y = (torch.rand(8, 5, generator=g) < 0.3).float()
    ref = F.binary_cross_entropy_with_logits(x, y)
    assert float(AsymmetricLoss(0.0, 0.0, 0.0)(x, y)) == pytest.approx(float(ref), rel=1e-5)


def test_multilabel_label_smoothing():
    x = t([[0.3, -2.0]])
    y = t([[1.0, 0.0]])
    ref = F.binary_cross_entropy_with_logits(x, t([[0.95, 0.05]]))
    assert float(SmoothedBCEWithLogitsLoss(label_smoothing=0.1)(x, y)) == pytest.approx(float(ref), rel=1e-6)
    assert float(
        make_loss("bce", y_train=y.numpy(), n_classes=2, label_smoothing=0.1)(x, y)
    ) == pytest.approx(float(ref), rel=1e-6)


def test_balanced_weights_for_multilabel_are_pos_weights():
    y_train = np.array([[1, 0], [0, 0], [0, 0], [0, 1], [0, 1]], dtype=np.float32)
    loss = make_loss("bce", y_train=y_train, n_classes=2, class_weights="balanced")
    x, y = t([[0.2, -0.3]]), t([[1.0, 1.0]])
    ref = F.binary_cross_entropy_with_logits(x, y, pos_weight=t([4.0, 1.5]))
    assert float(loss(x, y)) == pytest.approx(float(ref), rel=1e-6)
    assert float(loss(x, y)) > float(F.binary_cross_entropy_with_logits(x, y))


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_focal_gradients_stay_finite_for_confident_predictions(gamma):
    logits = t([[60.0, -60.0], [-60.0, 60.0]]).requires_grad_()
    FocalLoss(gamma)(logits, t([0, 0], torch.int64)).backward()
    assert torch.isfinite(logits.grad).all()
    x = t([[90.0, -90.0]]).requires_grad_()
    BinaryFocalLoss(gamma)(x, t([[1.0, 0.0]])).backward()
    assert torch.isfinite(x.grad).all()
    x = t([[90.0, -90.0]]).requires_grad_()
    AsymmetricLoss(gamma_pos=gamma, gamma_neg=4.0, clip=0.0)(x, t([[1.0, 0.0]])).backward()
    assert torch.isfinite(x.grad).all()


def test_make_loss_picks_the_right_loss_and_refuses_mismatches():
    yi = np.array([0, 1, 2, 1])
    ym = np.array([[1, 0], [0, 1]], dtype=np.float32)
    assert isinstance(make_loss("focal", y_train=yi, n_classes=3), FocalLoss)
    assert isinstance(make_loss("focal", y_train=ym, n_classes=2), BinaryFocalLoss)
    assert isinstance(make_loss("asymmetric", y_train=ym, n_classes=2), AsymmetricLoss)
    with pytest.raises(LeanECGError, match="multi-hot"):
        make_loss("ce", y_train=ym, n_classes=2)
    with pytest.raises(LeanECGError, match="class indices"):
        make_loss("asymmetric", y_train=yi, n_classes=3)
    with pytest.raises(LeanECGError, match="one weight per class"):
        make_loss("ce", y_train=yi, n_classes=3, class_weights=[1.0, 2.0])
    with pytest.raises(LeanECGError, match="not all zero"):
        make_loss("ce", y_train=yi, n_classes=3, class_weights=[0.0, 0.0, 0.0])
    with pytest.raises(LeanECGError, match="unknown loss"):
        make_loss("hinge", y_train=yi, n_classes=3)
