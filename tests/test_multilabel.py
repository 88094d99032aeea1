"""Multi-label metrics, threshold selection, calibration (ECE, reliability data, decision curves)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from leanecg.errors import LeanECGError
from leanecg.evaluate import calibration, multilabel

# class 0: positives score .9 and .4, negatives .4 and .1 (a tie); class 1: no positive; class 2: no negative
Y = np.array([[1, 0, 1], [0, 0, 1], [1, 0, 1], [0, 0, 1]])
S = np.array([[0.9, 0.3, 0.2], [0.4, 0.2, 0.6], [0.4, 0.8, 0.7], [0.1, 0.1, 0.9]])


def test_hand_computed_per_class_and_macro() -> None:
    r = multilabel.multilabel_metrics(Y, S, thresholds=0.5, class_names=["AF", "PVC", "SR"])
    pc = r["per_class"]
    # AUROC class 0: pairs (.9>.4) (.9>.1) (.4=.4 -> 1/2) (.4>.1) -> 3.5 / 4
    assert pc["AF"]["auroc"] == pytest.approx(0.875, abs=1e-15)
    # AP class 0: recall .5 at precision 1 (>= .9), recall 1 at precision 2/3 (>= .4) -> .5 + .5 * 2/3
    assert pc["AF"]["auprc"] == pytest.approx(5 / 6, abs=1e-15)
    assert math.isnan(pc["PVC"]["auroc"]) and math.isnan(pc["PVC"]["auprc"])
    assert math.isnan(pc["SR"]["auroc"]) and pc["SR"]["auprc"] == 1.0
    assert r["classes_without_positives"] == ["PVC"] and r["classes_without_negatives"] == ["SR"]
    # macro over defined classes only
    assert r["auroc"] == pytest.approx(0.875) and r["auprc"] == pytest.approx((5 / 6 + 1) / 2)
    # F1 at .5: AF predicted {0} of positives {0, 2} -> 2/3; PVC: one false positive -> 0; SR: .6 .7 .9 of 4 -> 6/7
    assert [pc[c]["f1"] for c in ("AF", "PVC", "SR")] == pytest.approx([2 / 3, 0.0, 6 / 7])
    assert r["f1"] == pytest.approx((2 / 3 + 0 + 6 / 7) / 3)
    assert [pc[c]["n_pos"] for c in ("AF", "PVC", "SR")] == [2, 0, 4]


def test_f1_undefined_class_left_out() -> None:
    f1 = multilabel.f1_per_class([[1, 0], [0, 0]], [[1, 0], [0, 0]])
    assert f1[0] == 1.0 and math.isnan(f1[1])


def test_matches_sklearn_on_random_data_with_ties() -> None:
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    y = rng.random((300, 6)) < [0.02, 0.1, 0.3, 0.5, 0.7, 0.95]
    s = np.round(rng.random((300, 6)) + 0.3 * y, 1)  # coarse scores: many ties
    auroc = multilabel.auroc_per_class(y, s)
    auprc = multilabel.auprc_per_class(y, s)
    for k in range(6):
        assert auroc[k] == pytest.approx(sk.roc_auc_score(y[:, k], s[:, k]), abs=1e-12)
        assert auprc[k] == pytest.approx(sk.average_precision_score(y[:, k], s[:, k]), abs=1e-12)
    pred = multilabel.apply_thresholds(s, 0.6)
    f1 = multilabel.f1_per_class(y, pred)
    np.testing.assert_allclose(f1, sk.f1_score(y, pred, average=None, zero_division=0), atol=1e-12)


def test_select_thresholds_hand_case() -> None:
    y = np.array([[1], [1], [0], [1], [0]])
    p = np.array([[0.9], [0.8], [0.7], [0.6], [0.2]])
    # F1 per cut: >=.9 2/5, >=.8 4/5, >=.7 4/6, >=.6 6/7 (best), >=.2 6/8 -> midpoint of .6 and .2
    t = multilabel.select_thresholds(y, p)
    assert t == pytest.approx([0.4])
    assert multilabel.apply_thresholds(p, t)[:, 0].tolist() == [True, True, True, True, False]
    # Youden: TPR - FPR per cut: .9 1/3, .8 2/3, .7 2/3 - 1/2, .6 1 - 1/2, .2 0 -> cut >= .8 -> (.8 + .7) / 2
    assert multilabel.select_thresholds(y, p, metric="youden") == pytest.approx([0.75])


def test_select_thresholds_edge_classes_and_brute_force() -> None:
    rng = np.random.default_rng(0)
    y = rng.random((200, 3)) < [0.3, 0.0, 1.0]
    p = np.round(rng.random((200, 3)) * 0.7 + 0.3 * y, 2)
    for metric in ("f1", "youden", "mcc"):
        t = multilabel.select_thresholds(y, p, metric=metric)
        assert t[1] == np.inf  # no positive: never predict it
        assert t[2] == -np.inf  # only positives: the best cut is "all positive"
        # brute force over every candidate cut of class 0
        yy, pp = y[:, 0], p[:, 0]
        best = -np.inf
        for c in np.concatenate(([np.inf], np.unique(pp))):
            pred = pp >= c
            tp, fp = np.sum(pred & yy), np.sum(pred & ~yy)
            fn, tn = np.sum(~pred & yy), np.sum(~pred & ~yy)
            if metric == "f1":
                v = 2 * tp / (2 * tp + fp + fn)
            elif metric == "youden":
                v = tp / (tp + fn) - fp / (fp + tn)
            else:
                den = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
                v = (tp * tn - fp * fn) / den if den else 0.0
            best = max(best, v)
        pred = multilabel.apply_thresholds(pp, t[0])
        tp, fp = np.sum(pred & yy), np.sum(pred & ~yy)
        fn, tn = np.sum(~pred & yy), np.sum(~pred & ~yy)
        if metric == "f1":
            got = 2 * tp / (2 * tp + fp + fn)
        elif metric == "youden":
            got = tp / (tp + fn) - fp / (fp + tn)
        else:
            got = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        assert got == pytest.approx(best, abs=1e-12)


def test_thresholds_from_validation_applied_to_test() -> None:
    rng = np.random.default_rng(1)
    y_val = rng.random((400, 4)) < 0.3
    p_val = np.clip(0.25 * rng.standard_normal((400, 4)) + 0.35 + 0.3 * y_val, 0, 1)
    y_test = rng.random((400, 4)) < 0.3
    p_test = np.clip(0.25 * rng.standard_normal((400, 4)) + 0.35 + 0.3 * y_test, 0, 1)
    t = multilabel.select_thresholds(y_val, p_val)
    tuned = multilabel.multilabel_metrics(y_test, p_test, thresholds=t)
    assert tuned["f1"] > multilabel.multilabel_metrics(y_test, p_test, thresholds=0.9)["f1"]


def test_multilabel_bad_inputs() -> None:
    with pytest.raises(LeanECGError, match="0/1"):
        multilabel.multilabel_metrics([[2, 0]], [[0.1, 0.2]])
    with pytest.raises(LeanECGError, match="shape"):
        multilabel.multilabel_metrics([[1, 0]], [[0.1, 0.2, 0.3]])
    with pytest.raises(LeanECGError, match="finite"):
        multilabel.auroc_per_class([1, 0], [np.nan, 0.1])
    with pytest.raises(LeanECGError, match="metric"):
        multilabel.select_thresholds([1, 0], [0.2, 0.1], metric="auc")
    with pytest.raises(LeanECGError, match="thresholds"):
        multilabel.apply_thresholds(np.zeros((3, 2)), [0.5, 0.5, 0.5])


# ---------------------------------------------------------------------------------------------- calibration


def test_ece_hand_computed() -> None:
    y = [0, 1, 1, 1]
    p = [0.1, 0.2, 0.8, 0.9]
    # 2 equal-width bins: [.1 .2] mean .15 frac .5 -> .35; [.8 .9] mean .85 frac 1 -> .15; ECE = (.35 + .15) / 2
    assert calibration.expected_calibration_error(y, p, n_bins=2) == pytest.approx(0.25)
    y2, p2 = [0, 0, 1, 1], [0.1, 0.15, 0.2, 0.9]
    # equal width: [.1 .15 .2] mean .15 frac 1/3; [.9] frac 1 -> 3/4 * (1/3 - .15) + 1/4 * .1
    assert calibration.expected_calibration_error(y2, p2, 2, "uniform") == pytest.approx(
        0.75 / 3 - 0.1125 + 0.025
    )
    # equal mass: [.1 .15] mean .125 frac 0; [.2 .9] mean .55 frac 1 -> (.125 + .45) / 2
    assert calibration.expected_calibration_error(y2, p2, 2, "quantile") == pytest.approx(0.2875)


def test_reliability_data_bins() -> None:
    r = calibration.reliability_data([0, 1, 1, 0, 1], [0.0, 0.5, 1.0, 0.05, 0.55], n_bins=4)
    # bins [0,.25) [.25,.5) [.5,.75) [.75,1]: 0 and .05 in bin 0, .5 and .55 in bin 2, 1.0 in the last bin
    assert r.counts.tolist() == [2, 0, 2, 1]
    assert math.isnan(r.mean_predicted[1]) and r.fraction_positive.tolist()[2] == 1.0
    assert r.bin_lower.tolist() == [0.0, 0.25, 0.5, 0.75]
    q = calibration.reliability_data([0, 1, 1, 0, 1], [0.0, 0.5, 1.0, 0.05, 0.55], 2, "quantile")
    assert q.counts.tolist() == [3, 2] and q.bin_lower.tolist() == [0.0, 0.55] and q.bin_upper[1] == 1.0
    assert r.to_dict()["ece"] == pytest.approx(r.ece)


def test_calibrated_predictions_have_small_ece() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(200_000)
    y = rng.random(p.size) < p
    for strategy in ("uniform", "quantile"):
        assert calibration.expected_calibration_error(y, p, 10, strategy) < 0.01
        assert calibration.expected_calibration_error(y, p**3, 10, strategy) > 0.1  # overconfident low


def test_decision_curve_hand_computed() -> None:
    y = [1, 0, 1, 0]
    p = [0.9, 0.6, 0.4, 0.1]
    dc = calibration.decision_curve(y, p, thresholds=[0.25, 0.5])
    # pt .25 (odds 1/3): treated .9 .6 .4 -> TP 2 FP 1 -> 2/4 - 1/4 * 1/3; treat all .5 - .5/3
    # pt .5 (odds 1): treated .9 .6 -> TP 1 FP 1 -> 0; treat all .5 - .5 = 0
    np.testing.assert_allclose(dc.net_benefit, [0.5 - 1 / 12, 0.0])
    np.testing.assert_allclose(dc.treat_all, [1 / 3, 0.0])
    np.testing.assert_array_equal(dc.treat_none, [0.0, 0.0])
    assert dc.prevalence == 0.5
    full = calibration.decision_curve(y, p)
    assert full.thresholds.size == 99 and full.thresholds[0] == 0.01 and full.thresholds[-1] == 0.99


def test_calibration_bad_inputs() -> None:
    with pytest.raises(LeanECGError, match=r"\[0, 1\]"):
        calibration.expected_calibration_error([0, 1], [0.5, 1.5])
    with pytest.raises(LeanECGError, match="per class"):
        calibration.expected_calibration_error([[0, 1]], [[0.5, 0.5]])
    with pytest.raises(LeanECGError, match="strategy"):
        calibration.expected_calibration_error([0, 1], [0.5, 0.5], strategy="kmeans")
    with pytest.raises(LeanECGError, match="n_bins"):
        calibration.reliability_data([0, 1], [0.5, 0.5], n_bins=0)
    with pytest.raises(LeanECGError, match="inside"):
        calibration.decision_curve([0, 1], [0.5, 0.5], thresholds=[0.0, 0.5])
