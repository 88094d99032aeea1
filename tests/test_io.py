"""Record I/O: real PhysioNet records, every WFDB storage format, CSV / EDF round trips, folders, cache.

The WFDB records built here are written byte by byte by :func:`write_wfdb_record` (its own encoders for
all formats, independent of wfdb-python's writer, which only supports a few), so the decoded values and
the file-size rules are checked against known digital samples. ``tests/test_bad_input.py`` reuses it.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from leanecg.data import cache as cache_mod
from leanecg.data import iter_records, load_record
from leanecg.data import loaders as loaders_mod
from leanecg.data.cache import cached_record_signal, cached_signal, clear_cache, resolve_cache_dir
from leanecg.data.loaders import list_record_paths, record_source_files
from leanecg.data.record import Record
from leanecg.data.tabular import looks_like_signal_csv, read_csv, write_csv
from leanecg.data.wfdb_io import expected_signal_bytes, parse_comments, read_header
from leanecg.errors import LeanECGError

# ---------------------------------------------------------------------------------------------------------
# a WFDB writer for tests (all formats)


def encode_wfdb(digital: np.ndarray, fmt: str, init: Sequence[int] | None = None) -> bytes:
    """Bytes of frame-interleaved digital samples ``(n, k)`` in WFDB storage format ``fmt``."""
    d = np.asarray(digital, dtype=np.int64)
    flat = d.reshape(-1)
    if fmt == "16":
        return flat.astype("<i2").tobytes()
    if fmt == "61":
        return flat.astype(">i2").tobytes()
    if fmt == "32":
        return flat.astype("<i4").tobytes()
    if fmt == "24":
        u = (flat & 0xFFFFFF).astype(np.uint32)
        return np.column_stack([u & 0xFF, (u >> 8) & 0xFF, (u >> 16) & 0xFF]).astype(np.uint8).tobytes()
    if fmt == "80":
        return (flat + 128).astype(np.uint8).tobytes()
    if fmt == "160":
        return (flat + 32768).astype("<u2").tobytes()
    if fmt == "8":  # first differences per signal, starting from the header's initial value
        start = np.asarray(init if init is not None else np.zeros(d.shape[1]), dtype=np.int64)
        diffs = np.diff(d, axis=0, prepend=start[None, :])
        assert np.abs(diffs).max() <= 127, "format 8 needs steps within +-127"
        return diffs.reshape(-1).astype(np.int8).tobytes()
    if fmt == "212":
        u = flat & 0xFFF
        pad = len(u) % 2
        v = np.concatenate([u, np.zeros(pad, dtype=np.int64)]).reshape(-1, 2)
        b = np.column_stack(
            [v[:, 0] & 0xFF, ((v[:, 0] >> 8) & 0x0F) | (((v[:, 1] >> 8) & 0x0F) << 4), v[:, 1] & 0xFF]
        )
        out = b.astype(np.uint8).tobytes()
        return out[:-1] if pad else out
    if fmt in ("310", "311"):
        u = flat & 0x3FF
        n = len(u)
        pad = (-n) % 3
        v = np.concatenate([u, np.zeros(pad, dtype=np.int64)]).reshape(-1, 3)
        if fmt == "311":
            w = v[:, 0] | (v[:, 1] << 10) | (v[:, 2] << 20)
            out = w.astype("<u4").tobytes()
        else:
            w0 = (v[:, 0] << 1) | ((v[:, 2] & 0x1F) << 11)
            w1 = (v[:, 1] << 1) | (((v[:, 2] >> 5) & 0x1F) << 11)
            out = np.column_stack([w0, w1]).astype("<u2").tobytes()
        return out[: expected_signal_bytes(fmt, n)]
    raise ValueError(fmt)


def write_wfdb_record(
    folder: Path,
    name: str,
    digital: np.ndarray,
    *,
    fmt: str = "16",
    fs: float | str = 360,
    gain: float = 200.0,
    baseline: int = 0,
    units: str = "mV",
    leads: Sequence[str] | None = None,
    checksum: bool = True,
    comments: Sequence[str] = (),
    n_samples: int | None = None,
    dat_name: str | None = None,
) -> Path:
    """Write ``<folder>/<name>.hea`` + ``.dat`` holding ``digital`` ``(n, k)``; returns the base path."""
    digital = np.asarray(digital, dtype=np.int64)
    if digital.ndim == 1:
        digital = digital[:, None]
    n, k = digital.shape
    leads = list(leads) if leads is not None else [f"ch{j}" for j in range(k)]
    dat = dat_name or f"{name}.dat"
    folder.mkdir(parents=True, exist_ok=True)
    init = digital[0]
    (folder / dat).write_bytes(encode_wfdb(digital, fmt, init=init if fmt == "8" else None))
    lines = [f"{name} {k} {fs} {n if n_samples is None else n_samples}"]
    for j in range(k):
        cs = int(digital[:, j].sum()) & 0xFFFF
        cs = (cs - 65536 if cs > 32767 else cs) if checksum else 0  # all-zero checksums mean "none"
        gain_field = f"{gain:g}({baseline})/{units}"
        fields = [dat, fmt, gain_field, "12", str(baseline), str(int(init[j])), str(cs), "0", leads[j]]
        lines.append(" ".join(fields))
    lines += [f"# {c}" for c in comments]
    (folder / f"{name}.hea").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / name


def ecg_like(n: int, k: int = 2, fs: float = 360.0, amplitude: int = 400, seed: int = 0) -> np.ndarray:
    """Digital ``(n, k)`` int64 samples of a spiky periodic waveform plus noise (non-flat, ECG-ish)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    base = np.sin(2 * np.pi * 1.1 * t) ** 31
    cols = [np.round(amplitude * base * (1 + 0.3 * j) + rng.normal(0, 3, n)) for j in range(k)]
    return np.column_stack(cols).astype(np.int64)


# ---------------------------------------------------------------------------------------------------------
# real records


def _wfdb_physical(base: Path) -> np.ndarray:
    import wfdb

    return wfdb.rdrecord(str(base)).p_signal


def test_mitdb_100_with_annotations(mitdb_dir: Path) -> None:
    from leanecg.signal.leads import canonical_lead_name

    rec = load_record(mitdb_dir / "100")
    assert rec.name == "100"
    assert rec.signal.shape == (650000, 2) and rec.signal.dtype == np.float32
    assert rec.fs == 360.0
    assert rec.leads == [canonical_lead_name("MLII"), "V5"]
    assert rec.units == ["mV", "mV"]
    np.testing.assert_allclose(rec.signal, _wfdb_physical(mitdb_dir / "100"), rtol=0, atol=1e-6)
    ann = rec.annotation
    assert ann is not None and rec.meta["annotator"] == "atr"
    assert len(ann.sample) == 2274 and ann.sample.dtype == np.int64
    assert ann.symbol.count("N") == 2239 and ann.symbol.count("A") == 33 and ann.symbol.count("V") == 1
    assert ann.aux_note[0] == "(N"  # MIT format's trailing NUL removed
    assert rec.meta["age"] == 69 and rec.meta["sex"] == "M"
    assert rec.path == mitdb_dir / "100"


def test_wfdb_path_spellings_agree(mitdb_dir: Path) -> None:
    a = load_record(mitdb_dir / "100", annotations=False)
    for spelling in ("100.hea", "100.dat"):
        b = load_record(mitdb_dir / spelling, annotations=False)
        assert b.name == "100" and np.array_equal(a.signal, b.signal)
    assert a.annotation is None


def test_cinc2017_mat_record(shared_data: Path) -> None:
    folder = shared_data / "cinc2017" / "training2017"
    rec = load_record(folder / "A00001.mat")
    assert rec.signal.shape == (9000, 1) and rec.fs == 300.0 and rec.leads == ["ECG"]
    assert rec.meta["format"] == "wfdb-mat"
    np.testing.assert_allclose(rec.signal, _wfdb_physical(folder / "A00001"), atol=1e-6)
    # all-zero header checksums (a CinC 2017 placeholder) are not a mismatch; other spellings agree
    assert np.array_equal(load_record(folder / "A00001").signal, rec.signal)
    assert np.array_equal(load_record(folder / "A00001.hea").signal, rec.signal)


def test_cinc2021_dx_labels(shared_data: Path) -> None:
    rec = load_record(shared_data / "cinc2021_sample" / "E07500.mat")
    assert rec.signal.shape == (5000, 12) and rec.fs == 500.0
    assert rec.leads == ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    assert rec.labels == ["67741000119109", "426177001"]
    assert rec.meta["age"] == 78 and rec.meta["sex"] == "Male" and rec.meta["rx"] == "Unknown"
    np.testing.assert_allclose(
        rec.signal, _wfdb_physical(shared_data / "cinc2021_sample" / "E07500"), atol=1e-6
    )


def test_ptbxl_12_lead_100hz(shared_data: Path) -> None:
    base = shared_data / "ptbxl" / "records100" / "00000" / "00001_lr"
    rec = load_record(base)
    assert rec.signal.shape == (1000, 12) and rec.fs == 100.0
    assert rec.leads[3:6] == ["aVR", "aVL", "aVF"]  # AVR/AVL/AVF in the header
    np.testing.assert_allclose(rec.signal, _wfdb_physical(base), atol=1e-6)


def test_cpsc2021_aux_notes(shared_data: Path) -> None:
    rec = load_record(shared_data / "cpsc2021_sample" / "data_8_2")
    assert rec.signal.shape == (43092, 2) and rec.fs == 200.0 and rec.leads == ["I", "II"]
    ann = rec.annotation
    assert ann is not None
    assert "(AFIB" in ann.aux_note and "None" not in ann.aux_note
    assert rec.meta["comments"] == ["persistent atrial fibrillation"]
    # an end-of-record annotation exactly at n_samples is accepted (data_101_6)
    rec2 = load_record(shared_data / "cpsc2021_sample" / "data_101_6")
    assert rec2.annotation is not None and rec2.annotation.sample.max() == rec2.n_samples


def test_nstdb_uncalibrated(shared_data: Path) -> None:
    base = shared_data / "nstdb_noise" / "bw"
    rec = load_record(base)
    assert rec.signal.shape == (650000, 2) and rec.leads == ["noise1", "noise2"]
    assert rec.meta["uncalibrated_leads"] == ["noise1", "noise2"]  # gain 0 -> WFDB's 200 adu/mV
    np.testing.assert_allclose(rec.signal, _wfdb_physical(base), atol=1e-6)


def test_fs_argument_checked_against_header(mitdb_dir: Path) -> None:
    assert load_record(mitdb_dir / "100", fs=360, annotations=False).fs == 360.0
    with pytest.raises(LeanECGError, match="fs=500 Hz was given but the header says 360 Hz"):
        load_record(mitdb_dir / "100", fs=500)


def test_folders_of_real_data(shared_data: Path) -> None:
    mitdb = list_record_paths(shared_data / "mitdb")  # RECORDS file, in its order
    assert len(mitdb) == 48 and mitdb[0].name == "100" and mitdb[-1].name == "234"
    c17 = shared_data / "cinc2017" / "training2017"
    staged = (c17 / "RECORDS").read_text().split()  # training2017/RECORDS (the staged subset), in its order
    assert [p.name for p in list_record_paths(shared_data / "cinc2017")] == staged
    ptbxl = list_record_paths(shared_data / "ptbxl")  # no RECORDS: recursive, metadata CSVs skipped
    assert len(ptbxl) == 500 and all(p.parent.parent.name == "records100" for p in ptbxl)
    assert [p.name for p in ptbxl[:2]] == ["00001_lr", "00002_lr"]
    names = [r.name for r in iter_records(shared_data / "cinc2021_sample", annotations=False)]
    assert names == sorted(names) and len(names) == 50
    assert not looks_like_signal_csv(shared_data / "ptbxl" / "ptbxl_database.csv")


def test_load_speed_close_to_wfdb(mitdb_dir: Path) -> None:
    """Validation must cost little next to wfdb.rdrecord's own decoding (best of 5, generous bound)."""
    import wfdb

    base = str(mitdb_dir / "100")
    load_record(base, annotations=False)

    def best(fn) -> float:
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    ours = best(lambda: load_record(base, annotations=False))
    theirs = best(lambda: wfdb.rdrecord(base))
    assert ours <= 1.5 * theirs + 0.005, (ours, theirs)


# ---------------------------------------------------------------------------------------------------------
# every storage format, exact sizes


@pytest.mark.parametrize("fmt", ["8", "16", "24", "32", "61", "80", "160", "212", "310", "311"])
@pytest.mark.parametrize("n", [300, 301, 302])
def test_every_format_decodes_and_sizes_are_exact(tmp_path: Path, fmt: str, n: int) -> None:
    k = 1 if n % 2 else 2  # odd totals exercise the 212/310/311 packing of a trailing partial group
    lim = {"80": 100, "310": 400, "311": 400, "8": 10_000}.get(fmt, 1500)
    digital = np.clip(ecg_like(n, k, amplitude=lim), -lim, lim)
    if fmt == "8":
        digital = np.cumsum(np.clip(np.diff(digital, axis=0, prepend=0), -100, 100), axis=0)
    base = write_wfdb_record(tmp_path, "r", digital, fmt=fmt, gain=100.0, baseline=-5)
    dat = base.with_suffix(".dat")
    assert dat.stat().st_size == expected_signal_bytes(fmt, n * k)
    rec = load_record(base)
    np.testing.assert_allclose(rec.signal, (digital + 5) / 100.0, rtol=0, atol=1e-6)

    raw = dat.read_bytes()
    dat.write_bytes(raw[:-1])
    with pytest.raises(LeanECGError, match="is truncated"):
        load_record(base)
    frame = encode_wfdb(digital[:3], fmt, init=digital[0])  # >= one extra whole frame of bytes
    dat.write_bytes(raw + frame)
    with pytest.raises(LeanECGError, match="the header's record length is wrong"):
        load_record(base)


def test_invalid_samples_become_nan_and_are_counted(tmp_path: Path) -> None:
    digital = ecg_like(500, 2)
    digital[100:103, 0] = -32768  # WFDB's invalid-sample value in format 16
    rec = load_record(write_wfdb_record(tmp_path, "gap", digital))
    assert np.isnan(rec.signal[100:103, 0]).all() and np.isfinite(rec.signal[:, 1]).all()
    assert rec.meta["invalid_samples"] == 3
    all_bad = np.full((50, 1), -32768)
    with pytest.raises(LeanECGError, match="no valid samples"):
        load_record(write_wfdb_record(tmp_path, "void", all_bad))


def test_units_converted_to_mv(tmp_path: Path) -> None:
    digital = ecg_like(400, 1)
    rec = load_record(write_wfdb_record(tmp_path, "uv", digital, gain=1.0, units="uV"))
    assert rec.units == ["mV"]
    np.testing.assert_allclose(rec.signal[:, 0], digital[:, 0] / 1000.0, atol=1e-7)
    rec = load_record(write_wfdb_record(tmp_path, "mmhg", digital, gain=1.0, units="mmHg"))
    assert rec.units == ["mmHg"]  # not a voltage: left as written, never rescaled


def test_header_without_fs_needs_fs(tmp_path: Path) -> None:
    base = write_wfdb_record(tmp_path, "nofs", ecg_like(300, 1))
    hea = base.with_suffix(".hea")
    lines = hea.read_text().splitlines()
    lines[0] = "nofs 1"
    hea.write_text("\n".join(lines) + "\n")
    with pytest.raises(LeanECGError, match="no sampling frequency"):
        load_record(base)
    assert load_record(base, fs=250).fs == 250.0  # length then comes from the file size
    assert load_record(base, fs=250).n_samples == 300


def test_annotation_beyond_signal_is_refused(tmp_path: Path) -> None:
    import wfdb

    base = write_wfdb_record(tmp_path, "ann", ecg_like(1000, 1))
    wfdb.wrann("ann", "atr", np.array([10, 500, 5000]), symbol=["N", "N", "N"], write_dir=str(tmp_path))
    with pytest.raises(LeanECGError, match="beyond the end of the signal"):
        load_record(base)
    assert load_record(base, annotations=False).annotation is None


def test_comment_parsing() -> None:
    meta: dict = {}
    labels = parse_comments(
        ["Age: NaN", "Sex: Female", "Dx: 164889003, 59118001", "Reason for admission: x"], meta
    )
    assert labels == ["164889003", "59118001"]
    assert meta == {"age": None, "sex": "Female", "reason_for_admission": "x"}


# ---------------------------------------------------------------------------------------------------------
# CSV


def _record(n: int = 3600, fs: float = 360.0, leads: Sequence[str] = ("II", "V1")) -> Record:
    x = ecg_like(n, len(leads), fs=fs).astype(np.float32) / 200.0
    return Record(name="r", signal=x, fs=fs, leads=list(leads))


def test_csv_round_trip_is_exact(tmp_path: Path) -> None:
    rec = _record(fs=360.0)
    path = write_csv(rec, tmp_path / "r.csv")
    back = load_record(path)
    assert back.fs == 360.0 and back.leads == ["II", "V1"] and back.units == ["mV", "mV"]
    assert np.array_equal(back.signal, rec.signal)  # float32 bit for bit
    odd = _record(n=1000, fs=128.5)  # non-integer rates are recovered exactly too
    assert load_record(write_csv(odd, tmp_path / "odd.csv")).fs == 128.5
    with pytest.raises(LeanECGError, match="time column says 360 Hz"):
        load_record(path, fs=250)
    no_time = write_csv(rec, tmp_path / "nt.csv", time_column=False)
    assert load_record(no_time, fs=360).fs == 360.0


def test_csv_time_rounded_to_4_decimals_gives_exact_fs(tmp_path: Path) -> None:
    n, fs = 3600, 360.0
    t = np.arange(n) / fs
    x = ecg_like(n, 1)[:, 0] / 200.0
    body = "\n".join(f"{a:.4f},{b:.3f}" for a, b in zip(t, x, strict=True))
    (tmp_path / "a.csv").write_text("time,MLII\n" + body + "\n")
    rec = load_record(tmp_path / "a.csv")
    assert rec.fs == 360.0 and rec.leads == ["II"]


def test_csv_units_index_column_and_delimiters(tmp_path: Path) -> None:
    x = ecg_like(500, 2) / 200.0
    rows = "\n".join(f"{i};{a * 1000:.1f};{b:.4f}" for i, (a, b) in enumerate(x))
    (tmp_path / "s.csv").write_text("sample #;II [uV];AVR\n" + rows + "\n")
    with pytest.raises(LeanECGError, match="no time column"):
        load_record(tmp_path / "s.csv")
    rec = load_record(tmp_path / "s.csv", fs=500)
    assert rec.leads == ["II", "aVR"] and rec.units == ["mV", "mV"]
    np.testing.assert_allclose(rec.signal[:, 0], x[:, 0], atol=1e-4)
    # PhysioNet-style export: quoted names, a units row, elapsed time in ms
    rows = "\n".join(f"{i * 4},{a:.4f},{b:.4f}" for i, (a, b) in enumerate(x))
    (tmp_path / "p.csv").write_text("'Elapsed time','MLII','V5'\n'ms','mV','mV'\n" + rows + "\n")
    rec = load_record(tmp_path / "p.csv")
    assert rec.fs == 250.0 and rec.leads == ["II", "V5"]
    (tmp_path / "gap.csv").write_text("time_s,II\n0.000,1\n0.004,2\n0.012,3\n0.016,4\n")
    with pytest.raises(LeanECGError, match="not evenly spaced"):
        load_record(tmp_path / "gap.csv")


def test_csv_bad_cells_are_located(tmp_path: Path) -> None:
    (tmp_path / "b.csv").write_text("II,V1\n1,2\n3,4\n5,oops\n7,8\n")
    with pytest.raises(LeanECGError, match=r"line 4, column 'V1': non-numeric value 'oops'"):
        read_csv(tmp_path / "b.csv", fs=100)
    (tmp_path / "e.csv").write_text("II,V1\n1,2\n3,\n5,6\n")
    with pytest.raises(LeanECGError, match=r"line 3, column 'V1': empty cell"):
        read_csv(tmp_path / "e.csv", fs=100)
    (tmp_path / "r.csv").write_text("II,V1\n1,2\n3,4,5\n")
    with pytest.raises(LeanECGError, match="line 3 has 3 field"):
        read_csv(tmp_path / "r.csv", fs=100)


# ---------------------------------------------------------------------------------------------------------
# EDF


def _write_edf(path: Path, fs: float = 250.0, seconds: int = 10) -> np.ndarray:
    edfio = pytest.importorskip("edfio")
    n = int(fs * seconds)
    x = ecg_like(n, 2, fs=fs) / 200.0  # mV
    signals = [
        edfio.EdfSignal(
            x[:, 0] * 1000.0, fs, label="ECG II", physical_dimension="uV", physical_range=(-8000, 8000)
        ),
        edfio.EdfSignal(x[:, 1], fs, label="V1", physical_dimension="mV", physical_range=(-8, 8)),
        edfio.EdfSignal(np.sin(np.arange(n // 10) / 10.0), fs / 10, label="Resp", physical_range=(-1, 1)),
    ]
    edfio.Edf(signals, annotations=[edfio.EdfAnnotation(1.5, None, "start")]).write(path)
    return x


def test_edf_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "e.edf"
    x = _write_edf(path)
    rec = load_record(path)
    assert rec.fs == 250.0 and rec.leads == ["II", "V1"]  # Resp (25 Hz) is not ECG: left out
    assert rec.units == ["mV", "mV"]
    step = 16.0 / 65535  # physical range / digital range of the V1 signal, in mV
    np.testing.assert_allclose(rec.signal, x, atol=step)
    assert rec.meta["edf_annotations"] == [(1.5, None, "start")]
    with pytest.raises(LeanECGError, match="fs=360 Hz was given but the file says 250 Hz"):
        load_record(path, fs=360)


def test_edf_truncated_and_overlong(tmp_path: Path) -> None:
    path = tmp_path / "e.edf"
    _write_edf(path)
    raw = path.read_bytes()
    path.write_bytes(raw[:-10])
    with pytest.raises(LeanECGError, match="is truncated"):
        load_record(path)
    head, n_records = int(raw[184:192]), int(raw[236:244])
    record_bytes = (len(raw) - head) // n_records
    assert n_records == 10 and (len(raw) - head) % n_records == 0
    path.write_bytes(raw + raw[head : head + record_bytes])
    with pytest.raises(LeanECGError, match="holds 11 data records but its header declares 10"):
        load_record(path)


# ---------------------------------------------------------------------------------------------------------
# folders


def test_folder_walk_order_records_file_and_skips(tmp_path: Path) -> None:
    write_wfdb_record(tmp_path / "b", "r2", ecg_like(300))
    write_wfdb_record(tmp_path / "a", "r1", ecg_like(300))
    write_csv(_record(300), tmp_path / "a" / "z.csv")
    (tmp_path / "a" / "REFERENCE.csv").write_text("r1,N\nr2,A\n")  # a label table, not a signal
    write_wfdb_record(tmp_path / ".hidden", "r0", ecg_like(300))
    (tmp_path / "README.md").write_text("notes")
    found = [p.relative_to(tmp_path).as_posix() for p in list_record_paths(tmp_path)]
    assert found == ["a/r1", "a/z.csv", "b/r2"]
    assert [r.name for r in iter_records(tmp_path)] == ["r1", "z", "r2"]
    # a RECORDS file decides what the folder holds, in its order
    (tmp_path / "RECORDS").write_text("b/r2\na/\n")
    (tmp_path / "a" / "RECORDS").write_text("r1\n")
    found = [p.relative_to(tmp_path).as_posix() for p in list_record_paths(tmp_path)]
    assert found == ["b/r2", "a/r1"]
    (tmp_path / "RECORDS").write_text("b/r2\nb/r3\n")
    with pytest.raises(LeanECGError, match=re.escape("line 2: record 'b/r3' has no header r3.hea")):
        list_record_paths(tmp_path)


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "REFERENCE.csv").write_text("A00001,N\n")
    with pytest.raises(LeanECGError, match=r"no ECG records found \(looked for .*skipped 1 .csv"):
        list(iter_records(tmp_path))


def test_record_source_files(tmp_path: Path) -> None:
    base = write_wfdb_record(tmp_path, "s", ecg_like(300))
    assert [p.name for p in record_source_files(base)] == ["s.hea", "s.dat"]
    assert record_source_files(write_csv(_record(300), tmp_path / "x.csv")) == [tmp_path / "x.csv"]


# ---------------------------------------------------------------------------------------------------------
# cache


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("LEANECG_CACHE", str(d))
    return d


def _count_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = loaders_mod.load_record

    def counting(path, fs=None, **kw):  # type: ignore[no-untyped-def]
        calls.append(str(path))
        return real(path, fs=fs, **kw)

    monkeypatch.setattr(loaders_mod, "load_record", counting)
    return calls


def test_cache_second_load_does_not_decode(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = write_wfdb_record(tmp_path / "data", "c", ecg_like(2000))
    calls = _count_loads(monkeypatch)
    x1, fs1 = cached_record_signal(base)
    x2, fs2 = cached_record_signal(base)
    assert len(calls) == 1 and fs1 == fs2 == 360.0
    assert isinstance(x2, np.memmap) and not x2.flags.writeable and x2.dtype == np.float32
    assert np.array_equal(x1, x2) and np.array_equal(x2, load_record(base).signal)
    assert resolve_cache_dir() == cache_dir and any(cache_dir.rglob("*.npy"))
    loaded = np.load(next(cache_dir.rglob("*.npy")), mmap_mode="r")  # a plain .npy
    assert np.array_equal(loaded, x1)


def test_cache_key_follows_sources_and_config(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = write_wfdb_record(tmp_path / "data", "k", ecg_like(2000))
    calls = _count_loads(monkeypatch)

    def halve(x: np.ndarray, fs: float, leads: list[str]) -> tuple[np.ndarray, float]:
        assert leads == ["ch0", "ch1"]
        return x[::2] * 2, fs / 2

    y, fs_out = cached_record_signal(base, transform=halve, config={"decimate": 2, "gain": 2})
    assert fs_out == 180.0 and y.shape == (1000, 2)
    cached_record_signal(base, transform=halve, config={"decimate": 2, "gain": 2})
    assert len(calls) == 1
    cached_record_signal(base, transform=halve, config={"decimate": 2, "gain": 3})
    assert len(calls) == 2
    hea = base.with_suffix(".hea")  # same size, new content (a gain edit): the header hash changes
    hea.write_text(hea.read_text().replace("200(0)/mV", "100(0)/mV"))
    z, _ = cached_record_signal(base)
    assert len(calls) == 3
    np.testing.assert_allclose(z, load_record(base).signal)
    st = base.with_suffix(".dat").stat()
    os.utime(base.with_suffix(".dat"), ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    cached_record_signal(base)
    assert len(calls) == 4
    with pytest.raises(ValueError, match="config"):
        cached_record_signal(base, transform=halve)


def test_cache_with_a_real_pipeline(tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from leanecg.signal import Pipeline

    base = write_wfdb_record(tmp_path / "data", "p", ecg_like(3600), leads=["MLII", "V5"])
    pipe = Pipeline([{"op": "bandpass", "low_hz": 0.5, "high_hz": 40}, {"op": "resample", "fs_out": 250}])
    calls = _count_loads(monkeypatch)
    y1, fs1 = cached_record_signal(base, transform=pipe)
    y2, fs2 = cached_record_signal(base, transform=pipe)
    expected, fs_expected = pipe(load_record(base).signal, 360.0, ["II", "V5"])
    assert len(calls) == 1 and fs1 == fs2 == fs_expected == 250.0
    assert np.array_equal(y1, expected) and np.array_equal(y2, expected)


def test_corrupted_entries_are_recomputed(cache_dir: Path) -> None:
    n_calls = []
    value = np.arange(12000, dtype=np.float32).reshape(-1, 3)

    def compute() -> np.ndarray:
        n_calls.append(1)
        return value

    key = {"test": "corrupt"}
    assert np.array_equal(cached_signal(key, compute), value)
    npy = next(cache_dir.rglob("*.npy"))
    meta = npy.with_suffix(".json")
    raw = npy.read_bytes()

    npy.write_bytes(raw[:-7])  # truncated
    assert np.array_equal(cached_signal(key, compute), value) and len(n_calls) == 2
    flipped = bytearray(npy.read_bytes())
    flipped[-5] ^= 0xFF  # same size, one corrupt byte: caught by the CRC
    npy.write_bytes(bytes(flipped))
    assert np.array_equal(cached_signal(key, compute), value) and len(n_calls) == 3
    meta.write_text("{not json")
    assert np.array_equal(cached_signal(key, compute), value) and len(n_calls) == 4
    assert np.array_equal(cached_signal(key, compute), value) and len(n_calls) == 4
    assert not [p for p in cache_dir.rglob("*") if p.name.endswith(".tmp")]


def test_reader_keeps_its_map_when_entry_is_replaced(cache_dir: Path) -> None:
    key = {"test": "replace"}
    first = cached_signal(key, lambda: np.full((1000, 2), 7, dtype=np.float32))
    next(cache_dir.rglob("*.json")).write_text("garbage")  # forces a rewrite of the same entry
    second = cached_signal(key, lambda: np.full((1000, 2), 7, dtype=np.float32))
    assert float(first.sum()) == 14000.0 and np.array_equal(first, second)


def test_clear_cache_and_bad_cache_dir(tmp_path: Path, cache_dir: Path) -> None:
    for i in range(3):
        cached_signal({"i": i}, lambda: np.zeros(10, dtype=np.float32))
    assert clear_cache() == 3
    assert not list(cache_dir.rglob("*.npy")) and clear_cache() == 0
    (tmp_path / "file").write_text("x")
    with pytest.raises(LeanECGError, match="cache location is a file"):
        cached_signal({"i": 0}, lambda: np.zeros(3), cache_dir=tmp_path / "file")


def test_unwritable_cache_still_returns_the_value(tmp_path: Path) -> None:
    (tmp_path / "plain_file").write_text("x")
    blocked = tmp_path / "plain_file" / "cache"  # cannot be created, even by root
    with pytest.warns(RuntimeWarning, match="cache not written"):
        out = cached_signal({"ro": 1}, lambda: np.ones(5, dtype=np.float32), cache_dir=blocked)
    assert np.array_equal(out, np.ones(5, dtype=np.float32))


def test_header_fingerprint_uses_content(tmp_path: Path) -> None:
    base = write_wfdb_record(tmp_path, "h", ecg_like(300))
    fp = cache_mod.source_fingerprint(record_source_files(base))
    assert "sha256" in fp[0] and fp[0]["size"] == base.with_suffix(".hea").stat().st_size
    assert math.isclose(read_header(base.with_suffix(".hea")).fs or 0, 360.0)
