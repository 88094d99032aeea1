"""The stream's filter kernels and cached designs (issue 13): the values of ``scipy.signal``, bit for bit,
without importing it once the designs are cached; the fallback to ``scipy.signal`` when the compiled
kernels cannot be used."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import signal as sps

from leanecg.data.cache import resolve_cache_dir
from leanecg.signal import _designs, _kernels, filters, resample

RNG = np.random.default_rng(13)


@pytest.fixture
def fresh_kernels() -> object:
    """Forget the loaded kernels before and after the test (monkeypatched loaders take effect)."""
    _kernels._compiled.cache_clear()
    _kernels._peak_kernels.cache_clear()
    yield
    _kernels._compiled.cache_clear()
    _kernels._peak_kernels.cache_clear()


@pytest.fixture
def design_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty design cache (disk and memory) under ``tmp_path``."""
    monkeypatch.setenv("LEANECG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(_designs, "_MEMORY", {})
    return tmp_path / "cache" / "designs"


def _same(a: object, b: object) -> bool:
    """Exactly equal arrays (0 ulp; NaN where the other has NaN), same shape and dtype."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


SOS = [
    sps.butter(4, [0.5, 40.0], btype="bandpass", fs=360.0, output="sos"),
    sps.butter(2, 0.5, btype="highpass", fs=250.0, output="sos"),
    sps.butter(3, [8.0, 20.0], btype="bandpass", fs=500.0, output="sos"),
]


def test_compiled_kernels_are_in_use() -> None:
    assert _kernels.backend() == "compiled"


@pytest.mark.parametrize("sos", SOS)
@pytest.mark.parametrize(
    ("shape", "axis"), [((1000,), -1), ((700, 3), 0), ((2, 500), 1), ((3, 400, 2), 1), ((5, 1), 0)]
)
def test_sosfilt_equals_scipy(sos: np.ndarray, shape: tuple[int, ...], axis: int) -> None:
    x = RNG.standard_normal(shape)
    assert _same(_kernels.sosfilt(sos, x, axis=axis), sps.sosfilt(sos, x, axis=axis))
    zi_shape = [len(sos), *shape]
    zi_shape[axis % len(shape) + 1] = 2
    zi = RNG.standard_normal(zi_shape)
    zi_before = zi.copy()
    y, zf = _kernels.sosfilt(sos, x, axis=axis, zi=zi)
    y_ref, zf_ref = sps.sosfilt(sos, x, axis=axis, zi=zi)
    assert _same(y, y_ref) and _same(zf, zf_ref)
    assert _same(zi, zi_before)  # the caller's state is not modified


def test_sosfilt_mixed_dtypes_and_strides_equal_scipy() -> None:
    """float32 input (the R-peak detector's), reversed and read-only views; the design may be read-only
    (scipy's ``sosfilt`` needs a writable one: it is given a copy)."""
    sos = SOS[0].copy()
    sos.setflags(write=False)
    ref = SOS[0].copy()
    x32 = RNG.standard_normal(900).astype(np.float32)
    zi = sps.sosfilt_zi(ref) * float(x32[0])
    (y, zf), (y_ref, zf_ref) = _kernels.sosfilt(sos, x32, zi=zi), sps.sosfilt(ref, x32, zi=zi)
    assert _same(y, y_ref) and _same(zf, zf_ref)
    assert _same(_kernels.sosfilt(sos, x32[::-1]), sps.sosfilt(ref, x32[::-1]))
    x = RNG.standard_normal((600, 2))
    x.setflags(write=False)
    assert _same(_kernels.sosfilt(sos, x[::-1], axis=0), sps.sosfilt(ref, x[::-1], axis=0))


def test_sosfilt_other_dtypes_and_errors_go_to_scipy() -> None:
    x = RNG.standard_normal(50) + 1j * RNG.standard_normal(50)
    assert _same(_kernels.sosfilt(SOS[1], x), sps.sosfilt(SOS[1], x))  # complex: scipy's answer
    with pytest.raises(ValueError, match="zi must have shape"):  # scipy's own message
        _kernels.sosfilt(SOS[1], np.ones(10), zi=np.zeros((1, 3)))


@pytest.mark.parametrize(("up", "down"), [(25, 36), (5, 3), (1, 2), (2, 1), (3, 1), (500, 257)])
@pytest.mark.parametrize("mode", ["constant", "line", "reflect"])
def test_upfirdn_equals_scipy(up: int, down: int, mode: str) -> None:
    h = RNG.standard_normal(41)
    x = RNG.standard_normal((800, 2))
    assert _same(
        _kernels.upfirdn(h, x, up, down, axis=0, mode=mode), sps.upfirdn(h, x, up, down, axis=0, mode=mode)
    )
    x1 = RNG.standard_normal(333).astype(np.float32)
    assert _same(_kernels.upfirdn(h, x1, up, down, mode=mode), sps.upfirdn(h, x1, up, down, mode=mode))


@pytest.mark.parametrize(("up", "down"), [(25, 36), (5, 3), (1, 2), (5, 1), (500, 257), (50, 72)])
@pytest.mark.parametrize("padtype", ["constant", "line"])
@pytest.mark.parametrize("n", [1, 7, 1000])
def test_resample_poly_equals_scipy(up: int, down: int, padtype: str, n: int) -> None:
    """The given FIR (the default design, :func:`_designs.resample_fir`) and scipy's default design give the
    same outputs; so does scipy with the FIR given."""
    g = np.gcd(up, down)
    h = _designs.resample_fir(up // g, down // g)
    x = RNG.standard_normal((n, 2)) + 3.0
    got = _kernels.resample_poly(x, up, down, axis=0, window=h, padtype=padtype)
    assert _same(got, sps.resample_poly(x, up, down, axis=0, window=h, padtype=padtype))
    assert _same(got, sps.resample_poly(x, up, down, axis=0, padtype=padtype))


def test_offline_filters_and_resampler_equal_scipy() -> None:
    """The offline zero-phase filter (scipy's ``sosfiltfilt`` step for step) and ``resample``."""
    x = RNG.standard_normal((3000, 2)).cumsum(axis=0) * 0.01
    sos = np.array(filters.bandpass_sos(360.0))  # a writable copy for scipy
    for padlen in (0, 1, 17, 2999):
        want = sps.sosfiltfilt(sos, x, axis=0, padtype="even", padlen=padlen)
        assert _same(filters._sosfiltfilt_even(sos, x, padlen), want)
    settle = filters._settle_samples(np.array(sos).tobytes())
    want = sps.sosfiltfilt(sos, x, axis=0, padtype="even", padlen=max(filters._min_samples(sos) - 1, settle))
    assert _same(filters.bandpass(x, 360.0), want)
    zi = sps.sosfilt_zi(sos)[:, :, None] * x[0][None, None, :]
    assert _same(filters.bandpass(x, 360.0, zero_phase=False), sps.sosfilt(sos, x, axis=0, zi=zi)[0])
    assert _same(resample.resample(x, 360.0, 250.0), sps.resample_poly(x, 25, 36, axis=0, padtype="line"))


# ----------------------------------------------------------------------------------------------- designs


def test_designs_equal_scipy_and_are_read_back_without_scipy(
    design_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def designs() -> list[np.ndarray]:
        bp = _designs.butter(4, [0.5, 40.0], btype="bandpass", fs=360.0)
        return [
            bp,
            _designs.butter(2, 0.5, btype="highpass", fs=250.0),
            _designs.butter(3, 40, btype="lowpass", fs=500),
            _designs.notch_sos([50.0, 100.0], 30.0, 360.0),
            _designs.sosfilt_zi(bp),
            _designs.resample_fir(25, 36),
        ]

    first = designs()
    bp = sps.butter(4, [0.5, 40.0], btype="bandpass", fs=360.0, output="sos")
    want = [
        bp,
        sps.butter(2, 0.5, btype="highpass", fs=250.0, output="sos"),
        sps.butter(3, 40, btype="lowpass", fs=500, output="sos"),
        np.vstack([sps.tf2sos(*sps.iirnotch(f, 30.0, fs=360.0)) for f in (50.0, 100.0)]),
        sps.sosfilt_zi(bp),
        sps.firwin(721, 1 / 36, window=("kaiser", 5.0)),
    ]
    assert all(_same(a, b) for a, b in zip(first, want, strict=True))
    assert all(not a.flags.writeable for a in first)
    assert len(list(design_cache.glob("*.npz"))) == len(want)

    def no_scipy() -> None:
        raise AssertionError("a cached design imported scipy.signal")

    monkeypatch.setattr(_designs, "_MEMORY", {})  # a new process: memory empty, disk warm
    monkeypatch.setattr(_designs, "_signal", no_scipy)
    assert all(_same(a, b) for a, b in zip(designs(), want, strict=True))


def test_corrupt_or_stale_design_files_are_rewritten(
    design_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    want = sps.butter(4, [0.5, 40.0], btype="bandpass", fs=360.0, output="sos")
    _designs.butter(4, [0.5, 40.0], btype="bandpass", fs=360.0)
    (path,) = design_cache.glob("butter-*.npz")
    for damage in ("truncate", "garbage", "version", "key", "nan"):
        if damage == "truncate":
            path.write_bytes(path.read_bytes()[:40])
        elif damage == "garbage":
            path.write_bytes(b"not a zip file")
        else:
            with np.load(path) as z:
                parts = {k: z[k] for k in z.files}
            if damage == "version":
                parts["version"] = np.array("format 0; scipy 0.0; numpy 0.0")
            elif damage == "key":
                parts["key"] = np.array('{"kind":"butter","order":5}')
            else:
                parts["value"] = np.full_like(parts["value"], np.nan)
            with open(path, "wb") as fh:
                np.savez(fh, **parts)
        monkeypatch.setattr(_designs, "_MEMORY", {})
        assert _same(_designs.butter(4, [0.5, 40.0], btype="bandpass", fs=360.0), want), damage
        with np.load(path) as z:  # rewritten, complete
            assert _same(z["value"], want) and str(z["version"]) == _designs._version()


def test_unwritable_design_cache_still_designs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("LEANECG_CACHE", str(blocker))
    monkeypatch.setattr(_designs, "_MEMORY", {})
    want = sps.butter(2, 0.5, btype="highpass", fs=250.0, output="sos")
    assert _same(_designs.butter(2, 0.5, btype="highpass", fs=250.0), want)


@pytest.mark.parametrize("env", [None, "relative/cache", "~/somewhere"])
def test_design_cache_folder_follows_the_cache_dir(env: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """:func:`_designs.cache_folder` restates :func:`leanecg.data.cache.resolve_cache_dir` (a lower layer)."""
    if env is None:
        monkeypatch.delenv("LEANECG_CACHE", raising=False)
    else:
        monkeypatch.setenv("LEANECG_CACHE", env)
    assert _designs.cache_folder() == resolve_cache_dir() / "designs"


# ----------------------------------------------------------------------------------------------- fallback


def test_fallback_when_the_compiled_kernels_cannot_load(
    fresh_kernels: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(folder: Path, name: str) -> None:
        raise ImportError(f"no {name} here")

    calls: list[str] = []
    real = _kernels._scipy_signal

    def spy() -> object:
        calls.append("scipy.signal")
        return real()

    monkeypatch.setattr(_kernels, "_load_extension", unavailable)
    monkeypatch.setattr(_kernels, "_scipy_signal", spy)
    assert _kernels.backend() == "scipy.signal"
    sos, x = SOS[0], RNG.standard_normal((300, 2))
    zi = np.zeros((len(sos), 2, 2))
    got, want = _kernels.sosfilt(sos, x, axis=0, zi=zi), sps.sosfilt(sos, x, axis=0, zi=zi)
    assert _same(got[0], want[0]) and _same(got[1], want[1])
    h = _designs.resample_fir(25, 36)
    assert _same(
        _kernels.resample_poly(x, 25, 36, window=h, padtype="line"),
        sps.resample_poly(x, 25, 36, window=h, padtype="line"),
    )
    assert _same(_kernels.upfirdn(h, x, 2, 3, axis=0), sps.upfirdn(h, x, 2, 3, axis=0))
    assert len(calls) == 3


def test_fallback_when_the_compiled_kernels_fail_the_self_check(
    fresh_kernels: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kernels that load but compute something else (a changed calling convention) are not used."""
    real = _kernels._reference_sosfilt
    monkeypatch.setattr(_kernels, "_reference_sosfilt", lambda sos, x, zi: (real(sos, x, zi)[0] + 1e-9, zi))
    assert _kernels.backend() == "scipy.signal"


def test_fallback_when_scipy_has_another_layout(
    fresh_kernels: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = _kernels.importlib.util.find_spec

    spec = SimpleNamespace(submodule_search_locations=[str(tmp_path)])  # no signal/_sosfilt*.so there

    monkeypatch.setattr(
        _kernels.importlib.util,
        "find_spec",
        lambda name, *a: spec if name == "scipy" else real_find_spec(name, *a),
    )
    monkeypatch.delitem(sys.modules, "scipy.signal._sosfilt", raising=False)
    assert _kernels.backend() == "scipy.signal"


def test_find_peaks_equals_scipy() -> None:
    """Plateaus, ties, heights and distances (float ones too): the same peak indices as scipy's."""
    assert _kernels._peak_kernels() is not None
    rng = np.random.default_rng(7)
    for _ in range(200):
        x = np.round(rng.normal(size=int(rng.integers(1, 400))), 1)  # repeated values: plateaus and ties
        for height, distance in ((None, None), (0.3, None), (None, 5), (0.1, 7.5), (1.0, 1)):
            got = _kernels.find_peaks(x, height=height, distance=distance)
            want = sps.find_peaks(x, height=height, distance=distance)[0]
            assert np.array_equal(got, want) and got.dtype == want.dtype
    # what the kernels do not cover goes to scipy, which raises as it does
    with pytest.raises(ValueError, match="distance"):
        _kernels.find_peaks(np.ones(5), distance=0.5)


def test_find_peaks_falls_back_to_scipy(fresh_kernels: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """Peak kernels that cannot load, or that fail their check, are not used: scipy.signal answers."""
    x = np.round(RNG.standard_normal(300), 1)
    want = sps.find_peaks(x, height=0.2, distance=4)[0]
    monkeypatch.setattr(_kernels, "_PEAK_EXPECTED", ((0,), (0,), (0,)))  # the loaded kernels fail the check
    assert _kernels._peak_kernels() is None
    assert np.array_equal(_kernels.find_peaks(x, height=0.2, distance=4), want)
    _kernels._peak_kernels.cache_clear()

    def unavailable(folder: Path, name: str) -> None:
        raise ImportError(f"no {name} here")

    monkeypatch.setattr(_kernels, "_load_extension", unavailable)
    assert _kernels._peak_kernels() is None
    assert np.array_equal(_kernels.find_peaks(x, height=0.2, distance=4), want)
