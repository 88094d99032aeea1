"""Bootstrap confidence intervals: determinism, patient-level resampling, degenerate resamples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from leanecg.errors import LeanECGError
from leanecg.evaluate import bootstrap
from leanecg.evaluate.multilabel import auroc_per_class


def mean_error(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(y - p))


def accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(y == p))


def auroc(y: np.ndarray, s: np.ndarray) -> float:
    return float(auroc_per_class(y, s)[0])  # NaN when a resample has only one class


def test_deterministic_and_unpackable() -> None:
    rng = np.random.default_rng(0)
    y, p = rng.standard_normal(300), np.zeros(300)
    a = bootstrap.bootstrap_ci(mean_error, y, p, n_boot=200, seed=7)
    b = bootstrap.bootstrap_ci(mean_error, y, p, n_boot=200, seed=7)
    c = bootstrap.bootstrap_ci(mean_error, y, p, n_boot=200, seed=8)
    assert tuple(a) == tuple(b) and tuple(a) != tuple(c)
    np.testing.assert_array_equal(a.samples, b.samples)
    point, lo, hi = a
    assert point == pytest.approx(y.mean()) and lo < point < hi
    assert a.n_boot == a.n_valid == 200 and a.n_degenerate == 0 and a.unit == "rows"


def test_interval_matches_normal_theory() -> None:
    rng = np.random.default_rng(1)
    y = rng.standard_normal(400)
    r = bootstrap.bootstrap_ci(mean_error, y, np.zeros(400), n_boot=2000, seed=0)
    se = y.std() / math.sqrt(400)
    assert r.lo == pytest.approx(y.mean() - 1.96 * se, abs=0.2 * se)
    assert r.hi == pytest.approx(y.mean() + 1.96 * se, abs=0.2 * se)
    # the percentiles of the stored samples are the interval
    assert np.percentile(r.samples, 2.5) == r.lo and np.percentile(r.samples, 97.5) == r.hi
    r90 = bootstrap.bootstrap_ci(mean_error, y, np.zeros(400), n_boot=2000, alpha=0.1, seed=0)
    assert r.lo < r90.lo < r90.hi < r.hi


def test_grouped_resampling_equals_rows_of_deduplicated_data() -> None:
    """Patients with k identical records: resampling patients = resampling rows of one record each."""
    rng = np.random.default_rng(2)
    per_patient = rng.standard_normal(50)
    k = 6
    y = np.repeat(per_patient, k)
    groups = np.repeat(np.arange(50), k)
    g = bootstrap.bootstrap_ci(mean_error, y, np.zeros(y.size), groups=groups, n_boot=300, seed=4)
    r = bootstrap.bootstrap_ci(mean_error, per_patient, np.zeros(50), n_boot=300, seed=4)
    np.testing.assert_allclose(g.samples, r.samples, rtol=0, atol=1e-12)
    assert g.unit == "groups"
    # resampling rows instead ignores the within-patient correlation: a far too narrow interval
    naive = bootstrap.bootstrap_ci(mean_error, y, np.zeros(y.size), n_boot=300, seed=4)
    assert (naive.hi - naive.lo) < 0.6 * (g.hi - g.lo)


def test_resample_indices_take_whole_groups() -> None:
    groups = np.array(["b", "a", "b", "c", "a", "b"])
    for idx in bootstrap.resample_indices(groups.size, n_boot=50, seed=0, groups=groups):
        drawn = groups[idx]
        # every drawn group appears with all its rows, as many times as drawn
        for name, size in (("a", 2), ("b", 3), ("c", 1)):
            assert np.count_nonzero(drawn == name) % size == 0
        assert len(np.unique(idx)) <= groups.size
        # 3 groups drawn with replacement
        assert sum(np.count_nonzero(drawn == n) // s for n, s in (("a", 2), ("b", 3), ("c", 1))) == 3


def test_degenerate_resamples_are_counted() -> None:
    rng = np.random.default_rng(3)
    y = np.zeros(20, dtype=int)
    y[0] = 1  # one positive in 20 rows: a resample misses it with probability (19/20)^20 ~ 0.36
    s = rng.random(20)
    r = bootstrap.bootstrap_ci(auroc, y, s, n_boot=1000, seed=0)
    assert r.n_valid + r.n_degenerate == 1000
    assert 0.30 < r.n_degenerate / 1000 < 0.42
    assert r.samples.size == r.n_valid and np.all(np.isfinite(r.samples))

    # a metric that raises on such resamples is handled the same way
    def strict(yy: np.ndarray, ss: np.ndarray) -> float:
        if yy.min() == yy.max():
            raise ValueError("only one class")
        return auroc(yy, ss)

    r2 = bootstrap.bootstrap_ci(strict, y, s, n_boot=1000, seed=0, require_all_classes=False)
    assert r2.n_degenerate == r.n_degenerate and r2.lo == r.lo and r2.hi == r.hi
    # accuracy is defined on any resample, but a missing class still counts as degenerate by default
    acc = bootstrap.bootstrap_ci(accuracy, y, np.zeros(20, dtype=int), n_boot=1000, seed=0)
    assert acc.n_degenerate == r.n_degenerate
    acc_all = bootstrap.bootstrap_ci(
        accuracy, y, np.zeros(20, dtype=int), n_boot=1000, seed=0, require_all_classes=False
    )
    assert acc_all.n_degenerate == 0


def test_multilabel_columns_must_keep_positives() -> None:
    y = np.zeros((30, 3), dtype=int)
    y[:, 0] = 1
    y[0, 1] = 1  # a rare class
    # column 2 has no positive in the full data: not required
    r = bootstrap.bootstrap_ci(lambda a, b: float(a.mean()), y, y, n_boot=500, seed=1)
    expected = sum(0 not in idx for idx in bootstrap.resample_indices(30, 500, seed=1))
    assert r.n_degenerate == expected > 0


def test_all_degenerate_gives_nan_interval() -> None:
    r = bootstrap.bootstrap_ci(lambda a, b: float("nan"), np.arange(5.0), np.arange(5.0), n_boot=20)
    assert math.isnan(r.point) and math.isnan(r.lo) and math.isnan(r.hi) and r.n_valid == 0


def test_paired_difference() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 400)
    good = np.where(rng.random(400) < 0.9, y, 1 - y)
    bad = np.where(rng.random(400) < 0.7, y, 1 - y)
    d = bootstrap.bootstrap_diff_ci(accuracy, y, good, bad, n_boot=500, seed=0)
    assert d.point == pytest.approx(accuracy(y, good) - accuracy(y, bad))
    assert 0 < d.lo < d.point < d.hi
    same = bootstrap.bootstrap_diff_ci(accuracy, y, good, good, n_boot=100, seed=0)
    assert (same.point, same.lo, same.hi) == (0.0, 0.0, 0.0)


def test_bad_arguments() -> None:
    with pytest.raises(LeanECGError, match="one row per label row"):
        bootstrap.bootstrap_ci(accuracy, np.zeros(5), np.zeros(4))
    with pytest.raises(LeanECGError, match="n_boot"):
        bootstrap.bootstrap_ci(accuracy, np.zeros(5), np.zeros(5), n_boot=0)
    with pytest.raises(LeanECGError, match="n_boot"):
        bootstrap.bootstrap_ci(accuracy, np.zeros(5), np.zeros(5), n_boot=-3)
    with pytest.raises(LeanECGError, match="alpha"):
        bootstrap.bootstrap_ci(accuracy, np.zeros(5), np.zeros(5), alpha=1.0)
    with pytest.raises(LeanECGError, match="group id per row"):
        bootstrap.bootstrap_ci(accuracy, np.zeros(5), np.zeros(5), groups=[1, 2])
    with pytest.raises(LeanECGError, match="one number"):
        bootstrap.bootstrap_ci(lambda a, b: a, np.zeros(5), np.zeros(5), n_boot=3)
