"""leanecg.signal.smoothing: running mean and median equal to scipy.ndimage's, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from leanecg.errors import LeanECGError
from leanecg.signal.smoothing import running_mean, running_median


@pytest.mark.parametrize("mode", ["reflect", "nearest"])
def test_running_mean_is_ndimage_uniform_filter1d(mode: str) -> None:
    rng = np.random.default_rng(0)
    for trial in range(300):
        n = int(rng.integers(1, 2000))
        x = rng.normal(size=n) * rng.choice([1e-3, 1.0, 100.0])
        if trial % 3 == 0:
            x = np.round(x, 1)
        size = int(rng.integers(1, 60))  # windows longer than the signal too
        assert np.array_equal(running_mean(x, size, mode), ndimage.uniform_filter1d(x, size, mode=mode))


def test_running_median_is_ndimage_median_filter() -> None:
    rng = np.random.default_rng(1)
    for _ in range(300):
        x = np.round(rng.normal(size=int(rng.integers(1, 500))), 2)
        size = 2 * int(rng.integers(0, 6)) + 1
        assert np.array_equal(running_median(x, size), ndimage.median_filter(x, size=size, mode="nearest"))


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(LeanECGError, match="odd"):
        running_median(np.ones(5), 4)
    with pytest.raises(LeanECGError, match="mode"):
        running_mean(np.ones(5), 3, mode="wrap")
    with pytest.raises(LeanECGError, match="1-D"):
        running_mean(np.ones((2, 5)), 3)
    with pytest.raises(LeanECGError, match="positive"):
        running_mean(np.ones(5), 0)
