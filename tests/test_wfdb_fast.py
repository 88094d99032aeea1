"""WFDB records in formats 212 and 16 (all signals in one file) are decoded with numpy alone, without
importing wfdb and pandas (start-up of ``leanecg beats`` / ``stream``): the values must be wfdb's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, SHARED_DATA
from leanecg.data.wfdb_io import _decode_simple, _return_res, read_header, validate_signal_files

wfdb = pytest.importorskip("wfdb")


def _same_as_wfdb(hea: Path) -> bool:
    header = read_header(hea)
    fast = _decode_simple(header, validate_signal_files(header))
    ref = np.asarray(wfdb.rdrecord(str(header.base), physical=False, return_res=_return_res(header)).d_signal)
    assert fast is not None, hea
    assert fast.dtype == ref.dtype and fast.shape == ref.shape, hea
    return bool(np.array_equal(fast, ref))


def test_shipped_examples_decode_as_wfdb() -> None:
    heas = sorted((REPO / "src" / "leanecg" / "examples").glob("*/*.hea"))
    assert len(heas) >= 7  # 212 (MIT-BIH) and 16 in .mat (CinC 2017)
    assert all(_same_as_wfdb(h) for h in heas)


@pytest.mark.parametrize("fmt", ["212", "16"])
@pytest.mark.parametrize(("n", "n_sig"), [(1001, 1), (1000, 3), (7, 2)])
def test_written_records_decode_as_wfdb(tmp_path: Path, fmt: str, n: int, n_sig: int) -> None:
    rng = np.random.default_rng(n * n_sig)
    limit = 2047 if fmt == "212" else 32767
    digital = rng.integers(-limit + 1, limit, size=(n, n_sig)).astype(np.int16)
    digital[0, 0], digital[-1, -1] = -limit + 1, limit  # the extremes of the format
    wfdb.wrsamp(
        "r",
        fs=250,
        units=["mV"] * n_sig,
        sig_name=[f"ch{k}" for k in range(n_sig)],
        d_signal=digital,
        fmt=[fmt] * n_sig,
        adc_gain=[200.0] * n_sig,
        baseline=[0] * n_sig,
        write_dir=str(tmp_path),
    )
    assert _same_as_wfdb(tmp_path / "r.hea")


@pytest.mark.shared
def test_mitdb_decodes_as_wfdb() -> None:
    if SHARED_DATA is None or not (SHARED_DATA / "mitdb").is_dir():
        pytest.skip("MIT-BIH not in the data folder")
    heas = sorted((SHARED_DATA / "mitdb").glob("*.hea"))[:12]
    assert heas and all(_same_as_wfdb(h) for h in heas)
