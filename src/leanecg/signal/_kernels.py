"""scipy's compiled kernels without importing ``scipy.signal``: the running filters (``sosfilt``, ``upfirdn``) and
peak finding (``find_peaks`` with a height and a distance, used by the record features).

Importing the ``scipy.signal`` package costs about 0.6-0.9 s of CPU (it pulls ``scipy.stats``,
``interpolate`` and ``optimize``), more than ``leanecg stream`` needs for a 30-minute record. The
computations it runs per chunk live in two small compiled extension modules of scipy,
``scipy.signal._sosfilt`` and ``scipy.signal._upfirdn_apply``; this module loads them from scipy's
installed ``signal`` folder by file (the package ``scipy.signal`` itself is never imported) and prepares
their arguments as scipy's Python wrappers do.

Peak finding runs scipy's ``_peak_finding_utils`` (local maxima with plateaus, selection by distance, highest
first) the same way, with ``scipy.signal.find_peaks``'s own steps for a scalar height and a distance around them;
its check is a small signal with a plateau and close peaks whose scipy answer is known.

Contract: :func:`sosfilt`, :func:`upfirdn`, :func:`resample_poly` and :func:`find_peaks` take the arguments of
``scipy.signal.sosfilt`` / ``upfirdn`` / ``resample_poly`` (the FIR given as ``window``) / ``find_peaks`` and
return the same values, bit for bit: with the compiled kernels when the computation is in float64 (the
fast path), otherwise -- other dtypes, arguments scipy rejects (scipy then raises its error), options
outside the fast path -- by calling ``scipy.signal`` itself. The kernels are loaded once per process and
checked on a small input against a NumPy reference of the same recurrence; if they cannot be loaded (a
different scipy layout, an import error) or fail that check, every call goes through ``scipy.signal``
(:func:`backend` says which). The answer is scipy's either way, never a silently different one.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import math
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

__all__ = ["UPFIRDN_MODES", "backend", "find_peaks", "resample_poly", "sosfilt", "upfirdn"]

#: The padding modes of ``scipy.signal.upfirdn`` (``resample_poly`` accepts them as ``padtype``).
UPFIRDN_MODES = (
    "constant",
    "wrap",
    "edge",
    "smooth",
    "symmetric",
    "reflect",
    "antisymmetric",
    "antireflect",
    "line",
)


def _scipy_signal() -> Any:
    """The fallback: the ``scipy.signal`` package (imported on first need)."""
    import scipy.signal

    return scipy.signal


def _load_extension(folder: Path, name: str) -> Any:
    """The compiled module ``scipy.signal.<name>`` loaded from ``folder`` (or the one already imported)."""
    full = f"scipy.signal.{name}"
    if full in sys.modules:
        return sys.modules[full]
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = folder / f"{name}{suffix}"
        if path.is_file():
            break
    else:
        raise ImportError(f"no compiled {full} in {folder}")
    loader = importlib.machinery.ExtensionFileLoader(full, str(path))
    spec = importlib.util.spec_from_file_location(full, str(path), loader=loader)
    if spec is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _reference_sosfilt(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Direct-form II transposed cascade, sample by sample: 1-D ``x``, ``zi`` ``(n_sections, 2)``."""
    y, z = x.astype(np.float64).copy(), zi.astype(np.float64).copy()
    for i in range(y.size):
        v = y[i]
        for s, (b0, b1, b2, _, a1, a2) in enumerate(sos):
            out = b0 * v + z[s, 0]
            z[s, 0] = b1 * v - a1 * out + z[s, 1]
            z[s, 1] = b2 * v - a2 * out
            v = out
        y[i] = v
    return y, z


def _reference_upfirdn(h: np.ndarray, x: np.ndarray, up: int, down: int) -> np.ndarray:
    """Upsample by zero insertion, convolve fully with ``h``, keep every ``down``-th sample (1-D)."""
    xu = np.zeros((x.size - 1) * up + 1)
    xu[::up] = x
    return np.convolve(xu, h)[::down]


def _self_check(ns: SimpleNamespace) -> bool:
    """Run the loaded kernels on small inputs and compare with the NumPy references (to 1e-12: this
    catches a changed calling convention, not rounding)."""
    sos = np.array([[0.2, 0.4, 0.2, 1.0, -0.5, 0.25], [1.0, -2.0, 1.0, 1.0, -1.6, 0.7]])
    x = np.sin(np.arange(12.0)) + 0.5
    zi = np.array([[0.1, -0.2], [0.3, 0.05]])
    y_ref, z_ref = _reference_sosfilt(sos, x, zi)
    y, z = sosfilt(sos, x, zi=zi, _ns=ns)
    h = np.array([0.5, -1.0, 2.0, 0.25, 1.5])
    u = upfirdn(h, x, 2, 3, _ns=ns)
    u_ref = _reference_upfirdn(h, x, 2, 3)
    return bool(
        y.shape == y_ref.shape
        and np.allclose(y, y_ref, rtol=1e-12, atol=1e-12)
        and np.allclose(z, z_ref, rtol=1e-12, atol=1e-12)
        and u.shape == u_ref.shape
        and np.allclose(u, u_ref, rtol=1e-12, atol=1e-12)
    )


def _signal_folder() -> Path | None:
    """scipy's installed ``signal`` folder (found without importing ``scipy.signal``), or ``None``."""
    spec = importlib.util.find_spec("scipy")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "signal"


@functools.cache
def _compiled() -> SimpleNamespace | None:
    """scipy's compiled kernels, loaded and checked once; ``None`` when unavailable (use ``scipy.signal``)."""
    try:
        folder = _signal_folder()
        if folder is None:
            return None
        sos_mod = _load_extension(folder, "_sosfilt")
        upf_mod = _load_extension(folder, "_upfirdn_apply")
        ns = SimpleNamespace(
            sosfilt=sos_mod._sosfilt,
            apply=upf_mod._apply,
            output_len=upf_mod._output_len,
            mode_enum=upf_mod.mode_enum,
        )
        return ns if _self_check(ns) else None
    except Exception:  # any failure to load or run them (layout, ABI, signature): scipy.signal serves
        return None


#: A small signal with a plateau and peaks closer than the distance, and what ``scipy.signal.find_peaks``
#: gives for it (the check of the loaded peak kernels): all local maxima (a plateau's middle, rounded down),
#: those at least 1.5 high, and those kept at distance 3 (the highest first).
_PEAK_PROBE = np.array([0.0, 2.0, 1.0, 3.0, 3.0, 0.0, 1.0, 0.5, 4.0, 0.0])
_PEAK_EXPECTED = ((1, 3, 6, 8), (1, 3, 8), (3, 8))


@functools.cache
def _peak_kernels() -> SimpleNamespace | None:
    """scipy's compiled peak-finding helpers (``scipy.signal._peak_finding_utils``), loaded and checked once;
    ``None`` when unavailable (then :func:`find_peaks` calls ``scipy.signal.find_peaks``)."""
    try:
        folder = _signal_folder()
        if folder is None:
            return None
        module = _load_extension(folder, "_peak_finding_utils")
        ns = SimpleNamespace(
            local_maxima=module._local_maxima_1d, select_by_distance=module._select_by_peak_distance
        )
        got = tuple(
            tuple(int(i) for i in find_peaks(_PEAK_PROBE, height=h, distance=d, _ns=ns))
            for h, d in ((None, None), (1.5, None), (None, 3))
        )
        return ns if got == _PEAK_EXPECTED else None
    except Exception:  # any failure to load or run them: scipy.signal serves
        return None


def find_peaks(
    x: Any, *, height: float | None = None, distance: float | None = None, _ns: SimpleNamespace | None = None
) -> np.ndarray:
    """``scipy.signal.find_peaks(x, height=height, distance=distance)[0]``: the peak indices, the same (module
    docstring), with a scalar minimal ``height`` and a ``distance`` of at least 1 (other arguments: scipy).

    Args:
        x: 1-D signal.
        height: keep the local maxima at least this high (``None``: all).
        distance: keep peaks at least this many samples apart, the highest first (``None``: all).

    Returns:
        ``(n_peaks,)`` int indices, increasing.
    """
    ns = _ns if _ns is not None else _peak_kernels()
    v = np.asarray(x, order="C", dtype=np.float64)
    if ns is None or v.ndim != 1 or (distance is not None and not distance >= 1) or np.ndim(height) != 0:
        return _scipy_signal().find_peaks(x, height=height, distance=distance)[0]
    peaks = ns.local_maxima(v)[0]
    if height is not None:
        peaks = peaks[height <= v[peaks]]
    if distance is not None:
        peaks = peaks[ns.select_by_distance(peaks, v[peaks], distance)]
    return peaks


def backend() -> str:
    """``"compiled"`` when the fast path is in use, else ``"scipy.signal"``."""
    return "compiled" if _compiled() is not None else "scipy.signal"


def sosfilt(
    sos: Any, x: Any, axis: int = -1, zi: Any = None, *, _ns: SimpleNamespace | None = None
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """``scipy.signal.sosfilt(sos, x, axis, zi)``: the same values (module docstring).

    Args:
        sos: ``(n_sections, 6)`` second-order sections (``sos[:, 3] == 1``).
        x: the signal, any shape; filtered along ``axis``.
        axis: the time axis.
        zi: ``None`` (zero initial state) or the initial state, shape ``(n_sections, ..., 2, ...)`` (``x``'s
            shape with ``axis`` of length 2, after a leading section axis).

    Returns:
        The filtered signal (float64 on the fast path); with ``zi``, ``(y, zf)``: also the final state.
    """
    ns = _ns if _ns is not None else _compiled()
    sos_a, x_a = np.asarray(sos), np.asarray(x)
    zi_a = None if zi is None else np.asarray(zi)
    dtype = np.result_type(sos_a, x_a) if zi_a is None else np.result_type(sos_a, x_a, zi_a)
    if (
        ns is None
        or dtype != np.float64
        or x_a.ndim == 0
        or sos_a.ndim != 2
        or sos_a.shape[1] != 6
        or not np.all(sos_a[:, 3] == 1)
    ):
        return _scipy_signal().sosfilt(sos, x, axis=axis, zi=zi)
    n_sections = sos_a.shape[0]
    zi_shape = list(x_a.shape)
    zi_shape[axis] = 2
    zi_shape = [n_sections, *zi_shape]
    if zi_a is not None and list(zi_a.shape) != zi_shape:
        return _scipy_signal().sosfilt(sos, x, axis=axis, zi=zi)  # scipy names the shape it wants
    # scipy's wrapper, step for step: C-contiguous float64 copies the kernel filters in place (its
    # np.moveaxis calls written as the transposes they are: the same views, less overhead per chunk)
    state = np.array(zi_a, dtype=dtype) if zi_a is not None else np.zeros(zi_shape, dtype=dtype)
    nd = x_a.ndim
    axis = axis % nd
    x_perm = [*range(axis), *range(axis + 1, nd), axis]  # np.moveaxis(x, axis, -1)
    xm = x_a.transpose(x_perm)
    x_shape = xm.shape
    x2 = np.array(np.reshape(xm, (-1, x_shape[-1])), dtype, order="C")
    z_perm = [
        *range(1, axis + 1),
        *range(axis + 2, nd + 1),
        0,
        axis + 1,
    ]  # moveaxis(zi, (0, axis+1), (-2, -1))
    state = state.transpose(z_perm)
    state_shape = state.shape
    z2 = np.ascontiguousarray(np.reshape(state, (-1, n_sections, 2)))
    ns.sosfilt(np.array(sos_a, dtype=dtype, order="C"), x2, z2)
    y = x2.reshape(x_shape).transpose(_inverse(x_perm))
    if zi_a is None:
        return y
    return y, z2.reshape(state_shape).transpose(_inverse(z_perm))


def _inverse(perm: list[int]) -> list[int]:
    """The permutation that undoes the transpose ``perm``."""
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv


def _pad_h(h: np.ndarray, up: int) -> np.ndarray:
    """The filter's polyphase components, each reversed (scipy's ``_upfirdn._pad_h``)."""
    h_padlen = len(h) + (-len(h) % up)
    h_full = np.zeros(h_padlen, h.dtype)
    h_full[: len(h)] = h
    return np.ascontiguousarray(h_full.reshape(-1, up).T[:, ::-1].ravel())


def upfirdn(
    h: Any,
    x: Any,
    up: int = 1,
    down: int = 1,
    axis: int = -1,
    mode: str = "constant",
    cval: float = 0,
    *,
    _ns: SimpleNamespace | None = None,
) -> np.ndarray:
    """``scipy.signal.upfirdn(h, x, up, down, axis, mode, cval)``: upsample by ``up``, filter with the FIR
    ``h`` (1-D), downsample by ``down``, along ``axis``; the same values (module docstring)."""
    ns = _ns if _ns is not None else _compiled()
    h_a, x_a = np.asarray(h), np.asarray(x)
    out_type = np.result_type(h_a.dtype, x_a.dtype, np.float32)
    if (
        ns is None
        or out_type != np.float64
        or h_a.ndim != 1
        or h_a.size == 0
        or x_a.ndim == 0
        or int(up) < 1
        or int(down) < 1
        or str(mode).lower() not in UPFIRDN_MODES
    ):
        return _scipy_signal().upfirdn(h, x, up, down, axis=axis, mode=mode, cval=cval)
    up, down = int(up), int(down)
    h_trans_flip = _pad_h(np.asarray(h_a, out_type), up)
    out_shape = np.asarray(x_a.shape, dtype=np.int64)
    out_shape[axis] = ns.output_len(len(h_a), x_a.shape[axis], up, down)
    out = np.zeros(out_shape, dtype=out_type, order="C")
    ns.apply(
        np.asarray(x_a, out_type),
        h_trans_flip,
        out,
        up,
        down,
        axis % x_a.ndim,
        ns.mode_enum(str(mode).lower()),
        cval,
    )
    return out


def resample_poly(
    x: Any, up: int, down: int, axis: int = 0, *, window: Any, padtype: str = "constant"
) -> np.ndarray:
    """``scipy.signal.resample_poly(x, up, down, axis, window=window, padtype=padtype)`` with the FIR given
    (``window``: 1-D taps, e.g. :func:`leanecg.signal._designs.resample_fir`) and ``cval`` 0; the same
    values (module docstring). ``padtype``: one of :data:`UPFIRDN_MODES` (others go to scipy)."""
    ns = _compiled()
    x_a, h_in = np.asarray(x), np.asarray(window)
    if (
        ns is None
        or padtype not in UPFIRDN_MODES
        or h_in.ndim != 1
        or up != int(up)
        or down != int(down)
        or int(up) < 1
        or int(down) < 1
        or np.result_type(h_in.dtype, x_a.dtype, np.float32) != np.float64
    ):
        return _scipy_signal().resample_poly(x, up, down, axis=axis, window=window, padtype=padtype)
    # scipy's resample_poly, step for step, for a given FIR
    g = math.gcd(int(up), int(down))
    up, down = int(up) // g, int(down) // g
    if up == down == 1:
        return np.array(x_a, copy=True)
    n_in = x_a.shape[axis]
    n_out = n_in * up
    n_out = n_out // down + bool(n_out % down)
    h = np.array(h_in, copy=True)
    half_len = (h.size - 1) // 2
    h *= up
    n_pre_pad = down - half_len % down
    n_post_pad = 0
    n_pre_remove = (half_len + n_pre_pad) // down
    while ns.output_len(h.shape[0] + n_pre_pad + n_post_pad, n_in, up, down) < n_out + n_pre_remove:
        n_post_pad += 1
    h = np.concatenate((np.zeros(n_pre_pad, dtype=h.dtype), h, np.zeros(n_post_pad, dtype=h.dtype)))
    y = upfirdn(h, x_a, up, down, axis=axis, mode=padtype, cval=0)
    keep = [slice(None)] * x_a.ndim
    keep[axis] = slice(n_pre_remove, n_pre_remove + n_out)
    return y[tuple(keep)]
