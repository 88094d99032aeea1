"""ECG data augmentation for supervised training and contrastive self-supervised learning (SimCLR).

Every augmentation is a function of a signal ``x`` (``(n_samples, n_leads)`` or ``(n_samples,)``, mV),
an explicitly passed, seeded ``np.random.Generator`` ``rng`` and, where time matters, the sampling rate
``fs`` in Hz. The same seed gives the same output; nothing draws from global random state. Inputs are
never modified; outputs keep floating dtypes (others become ``float64``).

Each function has a class form with the parameters fixed at construction and a probability ``p`` of
being applied, called as ``aug(x, fs, rng)``; :class:`Compose` chains them::

    rng = np.random.default_rng(0)
    view = Compose([
        RandomCrop(duration_s=8.0),
        AmplitudeScale(0.8, 1.25),
        BaselineWander(amplitude_mv=0.2, p=0.5),
        GaussianNoise(snr_db=(15, 30), p=0.5),
        RealNoise(ma_noise, noise_fs=360, snr_db=(6, 18), p=0.3),  # NSTDB 'ma' (leanecg.data.nstdb)
        LeadDropout(p_drop=0.25),
        TimeMask(max_width_s=0.3, p=0.5),
    ])(x, fs, rng)

Signal-to-noise ratio, everywhere in this module, is per lead and variance-based:
``SNR_dB = 10 * log10(var(x) / var(noise))`` (:func:`measure_snr_db`); the noise is scaled so that the
*realised* noise segment has exactly the target SNR against the lead it is added to. Leads with zero
variance (flat or zero-filled) get no noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from leanecg.config import Check, flag, in_range, non_negative, one_of, option, positive, validate_config
from leanecg.errors import LeanECGError, check_choice, check_number
from leanecg.signal.filters import check_fs, check_signal, output_dtype, restore_shape
from leanecg.signal.resample import resample
from leanecg.signal.windows import fixed_length

__all__ = [
    "AmplitudeScale",
    "BaselineWander",
    "Compose",
    "GaussianNoise",
    "LeadDropout",
    "RandomCrop",
    "RealNoise",
    "TimeMask",
    "TimeShift",
    "add_real_noise",
    "amplitude_scale",
    "baseline_wander",
    "gaussian_noise",
    "lead_dropout",
    "measure_snr_db",
    "random_crop",
    "time_mask",
    "time_shift",
]

SnrSpec = float | tuple[float, float]


# ---------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------


def _check_rng(rng: np.random.Generator) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise LeanECGError(
            "rng", f"augmentations need a seeded np.random.Generator, got {type(rng).__name__}"
        )
    return rng


def _number(value: float, name: str, *, low: float | None = None, high: float | None = None) -> float:
    """``value`` as a float after :func:`~leanecg.errors.check_number` (finite, within ``[low, high]``)."""
    return float(check_number(name, value, low=low, high=high))


def _range(
    spec: SnrSpec | Sequence[float], name: str, *, low: float | None = None, low_open: bool = False
) -> tuple[float, float]:
    """A scalar ``v`` as ``(v, v)``, or a ``(low, high)`` pair with ``low <= high``; each number finite and
    ``>= low`` (``> low`` with ``low_open``)."""
    if isinstance(spec, int | float | np.integer | np.floating) and not isinstance(spec, bool):
        v = float(check_number(name, spec, low=low, low_open=low_open))
        return v, v
    try:
        a, b = spec  # type: ignore[misc]
    except (TypeError, ValueError):
        raise LeanECGError(name, f"must be a number or a (low, high) pair, got {spec!r}") from None
    a, b = (float(check_number(name, v, low=low, low_open=low_open)) for v in (a, b))
    if a > b:
        raise LeanECGError(name, f"range must be (low, high) with low <= high, got {spec!r}")
    return a, b


def _draw(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    lo, hi = lo_hi
    return lo if lo == hi else float(rng.uniform(lo, hi))


def _prepare(x: np.ndarray) -> tuple[np.ndarray, bool, np.dtype]:
    dtype = output_dtype(x)
    x2, was_1d = check_signal(x)
    return np.asarray(x2, dtype=np.float64), was_1d, dtype


def measure_snr_db(clean: np.ndarray, noisy: np.ndarray) -> np.ndarray:
    """Per-lead SNR in dB of ``noisy`` against ``clean``: ``10 log10(var(clean) / var(noisy - clean))``.

    Returns:
        float ``(n_leads,)`` (``inf`` where the two are identical, ``-inf`` where ``clean`` is flat).
    """
    c, _ = check_signal(clean, "clean")
    n, _ = check_signal(noisy, "noisy")
    if c.shape != n.shape:
        raise LeanECGError("noisy", f"shape {n.shape} differs from the clean signal's {c.shape}")
    cf = np.asarray(c, dtype=np.float64)
    p_sig = np.var(cf, axis=0)
    p_noise = np.var(np.asarray(n, dtype=np.float64) - cf, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 10.0 * np.log10(p_sig / p_noise)


def _scale_to_snr(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Scale each noise column so that var(x_j) / var(noise_j) == 10^(snr/10); zero where undefined."""
    p_sig = np.var(x, axis=0)
    p_noise = np.var(noise, axis=0)
    ok = (p_sig > 0) & (p_noise > 0)
    gain = np.zeros_like(p_sig)
    gain[ok] = np.sqrt(p_sig[ok] / (p_noise[ok] * 10.0 ** (snr_db / 10.0)))
    return noise * gain


# ---------------------------------------------------------------------------------------------------
# functions
# ---------------------------------------------------------------------------------------------------


def amplitude_scale(
    x: np.ndarray, rng: np.random.Generator, low: float = 0.8, high: float = 1.25, *, per_lead: bool = False
) -> np.ndarray:
    """Multiply by a random gain drawn log-uniformly from ``[low, high]`` (so 0.8 and 1.25 are equally likely).

    Args:
        x: signal in mV.
        rng: random generator.
        low, high: gain range, ``0 < low <= high`` (dimensionless).
        per_lead: one gain per lead (electrode contact differs) instead of one for all leads.
    """
    _check_rng(rng)
    lo, hi = _range((low, high), "low", low=0, low_open=True)
    xf, was_1d, dtype = _prepare(x)
    size = xf.shape[1] if per_lead else 1
    gain = np.exp(rng.uniform(math.log(lo), math.log(hi), size=size)) if lo < hi else np.full(size, lo)
    return restore_shape(xf * gain, was_1d, dtype)


def baseline_wander(
    x: np.ndarray,
    fs: float,
    rng: np.random.Generator,
    amplitude_mv: float = 0.2,
    freq_range_hz: tuple[float, float] = (0.05, 0.5),
    n_components: int = 3,
) -> np.ndarray:
    """Add a smooth baseline: a sum of ``n_components`` sinusoids (respiration, electrode drift).

    Each component has a frequency drawn uniformly from ``freq_range_hz`` (shared by all leads, as
    respiration is), and per lead a random phase and an amplitude drawn uniformly from
    ``[0, amplitude_mv / n_components]``, so the added baseline never exceeds ``amplitude_mv`` mV.

    Args:
        x: signal in mV.
        fs: sampling rate in Hz.
        rng: random generator.
        amplitude_mv: largest peak amplitude of the added baseline, mV.
        freq_range_hz: ``(low, high)`` frequencies in Hz.
        n_components: number of sinusoids (>= 1).
    """
    fs = check_fs(fs)
    _check_rng(rng)
    amp = _number(amplitude_mv, "amplitude_mv", low=0.0)
    f_lo, f_hi = _range(freq_range_hz, "freq_range_hz", low=0.0)
    if f_hi >= fs / 2:
        raise LeanECGError("freq_range_hz", f"must stay below Nyquist ({fs / 2:g} Hz), got {freq_range_hz!r}")
    check_number("n_components", n_components, low=1, integer=True)
    xf, was_1d, dtype = _prepare(x)
    n, n_leads = xf.shape
    t = np.arange(n, dtype=np.float64)[:, None] / fs
    freqs = rng.uniform(f_lo, f_hi, size=n_components) if f_lo < f_hi else np.full(n_components, f_lo)
    phases = rng.uniform(0.0, 2.0 * np.pi, size=(n_components, n_leads))
    amps = rng.uniform(0.0, amp / n_components, size=(n_components, n_leads))
    wander = np.zeros((n, n_leads))
    for k in range(n_components):
        wander += amps[k] * np.sin(2.0 * np.pi * freqs[k] * t + phases[k])
    return restore_shape(xf + wander, was_1d, dtype)


def gaussian_noise(x: np.ndarray, rng: np.random.Generator, snr_db: float = 20.0) -> np.ndarray:
    """Add white Gaussian noise at ``snr_db`` dB per lead (module docstring: SNR definition).

    Args:
        x: signal in mV.
        rng: random generator.
        snr_db: target signal-to-noise ratio in dB.
    """
    _check_rng(rng)
    snr = _number(snr_db, "snr_db")
    xf, was_1d, dtype = _prepare(x)
    noise = rng.standard_normal(xf.shape)
    return restore_shape(xf + _scale_to_snr(xf, noise, snr), was_1d, dtype)


def add_real_noise(
    x: np.ndarray, noise: np.ndarray, rng: np.random.Generator, snr_db: float = 12.0
) -> np.ndarray:
    """Add a random segment of a real noise recording (e.g. NSTDB ``bw``, ``ma``) at ``snr_db`` dB.

    The segment starts at a uniformly random sample of ``noise`` (wrapping around when ``noise`` is
    shorter than ``x`` or the segment runs past its end). Lead ``j`` receives noise channel
    ``(c + j) % n_channels`` for a random ``c``, so leads get different channels when there are several,
    as in the NSTDB protocol. Each lead's noise is scaled to the target SNR (module docstring).

    Args:
        x: signal in mV.
        noise: ``(m,)`` or ``(m, n_channels)`` noise in mV at the sampling rate of ``x``, finite.
        rng: random generator.
        snr_db: target signal-to-noise ratio in dB.
    """
    _check_rng(rng)
    snr = _number(snr_db, "snr_db")
    nz, _ = check_signal(noise, "noise")
    xf, was_1d, dtype = _prepare(x)
    n, n_leads = xf.shape
    m, n_channels = nz.shape
    start = int(rng.integers(0, m))
    first = int(rng.integers(0, n_channels))
    rows = (start + np.arange(n)) % m
    cols = (first + np.arange(n_leads)) % n_channels
    segment = np.asarray(nz, dtype=np.float64)[rows][:, cols]
    return restore_shape(xf + _scale_to_snr(xf, segment, snr), was_1d, dtype)


def time_shift(
    x: np.ndarray,
    fs: float,
    rng: np.random.Generator,
    max_shift_s: float = 0.5,
    mode: Literal["zero", "roll"] = "zero",
) -> np.ndarray:
    """Shift in time by a whole number of samples drawn uniformly from ``[-max_shift_s, max_shift_s]``.

    Args:
        x: signal in mV.
        fs: sampling rate in Hz.
        rng: random generator.
        max_shift_s: largest shift in seconds (positive: later).
        mode: ``"zero"`` fills the vacated samples with zeros, ``"roll"`` wraps them around.
    """
    fs = check_fs(fs)
    _check_rng(rng)
    max_shift = round(_number(max_shift_s, "max_shift_s", low=0.0) * fs)
    check_choice("mode", mode, ("zero", "roll"))
    xf, was_1d, dtype = _prepare(x)
    n = xf.shape[0]
    shift = int(rng.integers(-max_shift, max_shift + 1)) if max_shift > 0 else 0
    if mode == "roll":
        y = np.roll(xf, shift, axis=0)
    else:
        y = np.zeros_like(xf)
        if abs(shift) < n:
            if shift >= 0:
                y[shift:] = xf[: n - shift]
            else:
                y[:shift] = xf[-shift:]
    return restore_shape(y, was_1d, dtype)


def random_crop(x: np.ndarray, fs: float, rng: np.random.Generator, duration_s: float) -> np.ndarray:
    """A window of ``duration_s`` seconds at a uniformly random position (zero-padded if ``x`` is shorter).

    Returns:
        ``(round(duration_s * fs), n_leads)`` (or 1-D) signal.
    """
    fs = check_fs(fs)
    _check_rng(rng)
    n_out = max(1, round(_number(duration_s, "duration_s", low=0.0) * fs))
    dtype = output_dtype(x)
    check_signal(x)
    return np.asarray(fixed_length(x, n_out, mode="random", pad="zero", rng=rng), dtype=dtype)


def lead_dropout(
    x: np.ndarray, rng: np.random.Generator, p_drop: float = 0.5, min_keep: int = 1
) -> np.ndarray:
    """Zero each lead independently with probability ``p_drop``, always keeping at least ``min_keep``.

    When fewer than ``min_keep`` leads survive the draw, randomly chosen dropped leads are restored. A
    single-lead signal is returned unchanged (copied) when ``min_keep >= 1``.

    Args:
        x: signal in mV.
        rng: random generator.
        p_drop: probability that a lead is zeroed.
        min_keep: the fewest leads left untouched (>= 0, at most the number of leads).
    """
    _check_rng(rng)
    p = _number(p_drop, "p_drop", low=0.0, high=1.0)
    check_number("min_keep", min_keep, low=0, integer=True)
    xf, was_1d, dtype = _prepare(x)
    n_leads = xf.shape[1]
    keep = rng.random(n_leads) >= p
    need = min(int(min_keep), n_leads) - int(keep.sum())
    if need > 0:
        restore = rng.choice(np.flatnonzero(~keep), size=need, replace=False)
        keep[restore] = True
    return restore_shape(xf * keep, was_1d, dtype)


def time_mask(
    x: np.ndarray,
    fs: float,
    rng: np.random.Generator,
    n_masks: int = 1,
    max_width_s: float = 0.4,
    value: float = 0.0,
) -> np.ndarray:
    """Set ``n_masks`` random time spans (all leads) to ``value`` mV.

    Each span has a width drawn uniformly from ``[0, max_width_s]`` seconds and a uniformly random start;
    spans may overlap.
    """
    fs = check_fs(fs)
    _check_rng(rng)
    check_number("n_masks", n_masks, low=0, integer=True)
    max_width = round(_number(max_width_s, "max_width_s", low=0.0) * fs)
    fill = _number(value, "value")
    xf, was_1d, dtype = _prepare(x)
    y = xf.copy()
    n = y.shape[0]
    for _ in range(int(n_masks)):
        width = min(int(rng.integers(0, max_width + 1)), n)
        start = int(rng.integers(0, n - width + 1))
        y[start : start + width] = fill
    return restore_shape(y, was_1d, dtype)


# ---------------------------------------------------------------------------------------------------
# class forms
# ---------------------------------------------------------------------------------------------------


@dataclass
class _Augmentation:
    """Base: applies :meth:`_apply` with probability ``p``.

    The fields declare what they accept (:mod:`leanecg.config`); a wrong one raises
    :class:`~leanecg.errors.InvalidOptionError` naming ``<class>.<field>`` at construction.
    """

    def __post_init__(self) -> None:
        validate_config(self)

    p: float = option(1.0, Check(low=0, high=1), kw_only=True)

    def __call__(self, x: np.ndarray, fs: float, rng: np.random.Generator) -> np.ndarray:
        """Augment ``x`` (mV at ``fs`` Hz) with probability ``p``; otherwise return a copy."""
        _check_rng(rng)
        if self.p < 1.0 and not rng.random() < self.p:
            dtype = output_dtype(x)
            return np.array(x, dtype=dtype, copy=True)
        return self._apply(x, fs, rng)

    def _apply(self, x: np.ndarray, fs: float, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


@dataclass
class AmplitudeScale(_Augmentation):
    """:func:`amplitude_scale` with gain in ``[low, high]``."""

    low: float = positive(0.8)
    high: float = positive(1.25)
    per_lead: bool = flag(False)

    def __post_init__(self) -> None:
        super().__post_init__()
        _range((self.low, self.high), "AmplitudeScale.low")

    def _apply(self, x: np.ndarray, fs: float, rng: np.random.Generator) -> np.ndarray:
        return amplitude_scale(x, rng, self.low, self.high, per_lead=self.per_lead)


@dataclass
class BaselineWander(_Augmentation):
    """:func:`baseline_wander` (amplitude in mV, frequencies in Hz)."""

    amplitude_mv: float = non_negative(0.2)
    freq_range_hz: tuple[float, float] = (0.05, 0.5)
    n_components: int = positive(3, integer=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        _range(self.freq_range_hz, "BaselineWander.freq_range_hz", low=0)  # below Nyquist: checked per call

    def _apply(self, x: np.ndarray, fs: float, rng: np.random.Generator) -> np.ndarray:
        return baseline_wander(x, fs, rng, self.amplitude_mv, self.freq_range_hz, self.n_components)


@dataclass
class GaussianNoise(_Augmentation):
    """:func:`gaussian_noise`; ``snr_db`` is a value or a ``(low, high)`` range drawn uniformly per call."""

    snr_db: SnrSpec = (15.0, 30.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        _range(self.snr_db, "GaussianNoise.snr_db")

    def _apply(self, x: np.ndarray, fs: float, rng: np.random.Generator) -> np.ndarray:
        return gaussian_noise(x, rng, _draw(rng, _range(self.snr_db, "snr_db")))


@dataclass
class RealNoise(_Augmentation):
    """:func:`add_real_noise` from a noise recording sampled at ``noise_fs`` Hz.

    The noise is resampled to each signal's rate on first use (and cached per rate). ``snr_db`` is a
    value or a ``(low, high)`` range drawn uniformly per call.
    """

    noise: np.ndarray = field(repr=False, compare=False)
    noise_fs: float
    snr_db: SnrSpec = (6.0, 18.0)
    _by_fs: dict[float, np.ndarray] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_signal(self.noise, "RealNoise.noise", min_samples=2)
        self.noise_fs = check_fs(self.noise_fs, "RealNoise.noise_fs")
        _range(self.snr_db, "RealNoise.snr_db")

    def _noise_at(self, fs: float) -> np.ndarray:
        if fs not in self._by_fs:
            self._by_fs[fs] = resample(np.asarray(self.noise, dtype=np.float64), self.noise_fs, fs)
        return self._by_fs[fs]

    def _apply(self, x: np.ndarray, fs: float, rng: np.random.Generator) -> np.ndarray:
        fs = check_fs(fs)
        return add_real_noise(x, self._noise_at(fs), rng, _draw(rng, _range(self.snr_db, "snr_db")))


@dataclass
class TimeShift(_Augmentation):
    """:func:`time_shift` by up to ``max_shift_s`` seconds."""

    max_shift_s: float = non_negative(0.5)
    mode: Literal["zero", "roll"] = one_of("zero", ("zero", "roll"))

    def _apply(self, x: np.ndarray, fs: float, rng: np.random.Generator) -> np.ndarray:
        return time_shift(x, fs, rng, self.max_shift_s, self.mode)


@dataclass
class RandomCrop(_Augmentation):
    """:func:`random_crop` to ``duration_s`` seconds (changes the length; put it first in a Compose)."""

    duration_s: float = non_negative(10.0)

    def _apply(self, x: np.ndarray, fs: float, rng: np.random.Generator) -> np.ndarray:
        return random_crop(x, fs, rng, self.duration_s)


@dataclass
class LeadDropout(_Augmentation):
    """:func:`lead_dropout` with per-lead drop probability ``p_drop``."""

    p_drop: float = in_range(0.5, 0, 1)
    min_keep: int = non_negative(1, integer=True)

    def _apply(self, x: np.ndarray, fs: float, rng: np.random.Generator) -> np.ndarray:
        return lead_dropout(x, rng, self.p_drop, self.min_keep)


@dataclass
class TimeMask(_Augmentation):
    """:func:`time_mask` with ``n_masks`` spans of up to ``max_width_s`` seconds."""

    n_masks: int = non_negative(1, integer=True)
    max_width_s: float = non_negative(0.4)
    value: float = option(0.0, Check())

    def _apply(self, x: np.ndarray, fs: float, rng: np.random.Generator) -> np.ndarray:
        return time_mask(x, fs, rng, self.n_masks, self.max_width_s, self.value)


class Compose:
    """Apply augmentations in order: ``Compose([a, b])(x, fs, rng) == b(a(x, fs, rng), fs, rng)``.

    Args:
        transforms: callables ``(x, fs, rng) -> x`` (the classes of this module or your own).
    """

    def __init__(self, transforms: Sequence[object]) -> None:
        items = list(transforms)
        for t in items:
            if not callable(t):
                raise LeanECGError("transforms", f"every transform must be callable, got {t!r}")
        self.transforms = items

    def __call__(self, x: np.ndarray, fs: float, rng: np.random.Generator) -> np.ndarray:
        _check_rng(rng)
        y = x
        for t in self.transforms:
            y = t(y, fs, rng)  # type: ignore[operator]
        if y is x:
            y = np.array(x, dtype=output_dtype(x), copy=True)
        return y

    def __len__(self) -> int:
        return len(self.transforms)

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"
