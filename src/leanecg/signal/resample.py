"""Changing the sampling rate of signals and of the sample indices that annotate them.

:func:`resample` uses polyphase filtering (``scipy.signal.resample_poly``: zero-phase FIR anti-aliasing
filter, Kaiser window with beta 5) with the ratio ``fs_out / fs_in`` written as a reduced fraction
``up / down``. Integer and other exactly representable rates give an exact ratio (360 -> 250 Hz is
25/36, 300 -> 500 is 5/3, 257 -> 500 is 500/257, 100 -> 500 is 5/1). A ratio whose reduced terms exceed
``max_factor`` is approximated by the closest fraction with terms up to ``max_factor`` (the true output
rate is then ``fs_in * up / down``; :func:`resample_ratio` returns ``up, down`` so callers can see it).

Sample ``i`` of the input and sample ``i * up / down`` of the output refer to the same instant (the
first samples are aligned). Before filtering the signal is extended by a straight line fitted at each
end (``padtype="line"``), so DC offsets and slow baselines do not ring at the edges. The output has
``ceil(n_samples * up / down)`` samples (:func:`resampled_length`).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from leanecg.errors import LeanECGError, check_number
from leanecg.signal import _designs, _kernels
from leanecg.signal.filters import check_fs, check_signal, output_dtype, restore_shape

__all__ = ["resample", "resample_indices", "resample_ratio", "resampled_length"]

_RATE_DENOMINATOR = 10**6  # rates are read as fractions with denominators up to this (e.g. 1000/3 Hz)


def resample_ratio(fs_in: float, fs_out: float, max_factor: int = 1000) -> tuple[int, int]:
    """The polyphase factors ``(up, down)`` with ``up / down ~= fs_out / fs_in``, in lowest terms.

    Args:
        fs_in: input sampling rate in Hz.
        fs_out: output sampling rate in Hz.
        max_factor: largest ``up`` or ``down`` allowed before the ratio is approximated.

    Returns:
        ``(up, down)`` positive integers. Exact whenever the reduced ratio fits in ``max_factor``.
    """
    fs_in = check_fs(fs_in, "fs_in")
    fs_out = check_fs(fs_out, "fs_out")
    check_number("max_factor", max_factor, low=1, integer=True)
    ratio = Fraction(fs_out).limit_denominator(_RATE_DENOMINATOR) / Fraction(fs_in).limit_denominator(
        _RATE_DENOMINATOR
    )
    if max(ratio.numerator, ratio.denominator) > max_factor:
        if ratio <= 1:
            approx = ratio.limit_denominator(max_factor)
        else:
            approx = 1 / (1 / ratio).limit_denominator(max_factor)
        if approx.numerator == 0:
            raise LeanECGError("fs_out", f"cannot resample {fs_in:g} Hz to {fs_out:g} Hz: ratio too extreme")
        ratio = approx
    return int(ratio.numerator), int(ratio.denominator)


def resampled_length(n_samples: int, fs_in: float, fs_out: float, max_factor: int = 1000) -> int:
    """Number of samples :func:`resample` returns for ``n_samples`` input samples."""
    up, down = resample_ratio(fs_in, fs_out, max_factor)
    return -(-int(n_samples) * up // down)


def resample(x: np.ndarray, fs_in: float, fs_out: float, *, max_factor: int = 1000) -> np.ndarray:
    """Resample a signal from ``fs_in`` to ``fs_out`` Hz with a polyphase anti-aliasing filter.

    Args:
        x: ``(n_samples, n_leads)`` or ``(n_samples,)`` signal in mV (finite).
        fs_in: its sampling rate in Hz.
        fs_out: the wanted sampling rate in Hz.
        max_factor: largest polyphase factor before the rate ratio is approximated (module docstring).

    Returns:
        ``(ceil(n_samples * up / down), n_leads)`` (or 1-D) signal in mV at ``fs_out``; floating inputs
        keep their dtype. When the rates are equal, a copy of ``x``.
    """
    up, down = resample_ratio(fs_in, fs_out, max_factor)
    dtype = output_dtype(x)
    x2, was_1d = check_signal(x)
    if up == down:
        return restore_shape(np.array(x2, dtype=dtype, copy=True), was_1d, dtype)
    xf = np.asarray(x2, dtype=np.float64)
    if xf.shape[0] < 2:
        # a line cannot be fitted to one sample; a constant is its own resampling
        y = np.repeat(xf, -(-xf.shape[0] * up // down), axis=0)
    else:
        # resample_poly's default FIR, designed once (cached), on scipy's compiled kernel: the same values
        y = _kernels.resample_poly(
            xf, up, down, axis=0, window=_designs.resample_fir(up, down), padtype="line"
        )
    return restore_shape(y, was_1d, dtype)


def resample_indices(
    idx: np.ndarray,
    fs_in: float,
    fs_out: float,
    n_out: int | None = None,
    *,
    max_factor: int = 1000,
) -> np.ndarray:
    """Map sample indices (e.g. annotation positions) from ``fs_in`` to ``fs_out``.

    Index ``i`` becomes ``round(i * up / down)`` (halves rounded up), consistent with :func:`resample`
    (both use :func:`resample_ratio`).

    Args:
        idx: non-negative integer sample indices at ``fs_in``, any shape.
        fs_in: their sampling rate in Hz.
        fs_out: the target sampling rate in Hz.
        n_out: length of the resampled signal; when given, indices are clipped to ``n_out - 1``.
        max_factor: as for :func:`resample`.

    Returns:
        ``int64`` array of the same shape, indices at ``fs_out``.
    """
    up, down = resample_ratio(fs_in, fs_out, max_factor)
    arr = np.asarray(idx)
    if arr.size == 0:
        return np.zeros(arr.shape, dtype=np.int64)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise LeanECGError("idx", "sample indices must be whole numbers")
    elif not np.issubdtype(arr.dtype, np.integer):
        raise LeanECGError("idx", f"sample indices must be integers, got dtype {arr.dtype}")
    ints = arr.astype(np.int64)
    if ints.min() < 0:
        raise LeanECGError("idx", f"sample indices must be non-negative, got {int(ints.min())}")
    if int(ints.max()) > (np.iinfo(np.int64).max // 2 - down) // max(up, 1):
        raise LeanECGError("idx", "sample indices too large to rescale")
    out = (2 * ints * up + down) // (2 * down)
    if n_out is not None:
        check_number("n_out", n_out, low=1, integer=True, unit="samples")
        out = np.minimum(out, int(n_out) - 1)
    return out.astype(np.int64, copy=False)
