"""The dataset registry: label maps, splits and data-dir resolution, on the real PhysioNet data."""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from leanecg.data import get_dataset, list_datasets, resolve_data_dir
from leanecg.data.cinc2017 import read_reference
from leanecg.data.cinc2021 import (
    EQUIVALENT_CODES,
    codes_to_multihot,
    parse_age_sex,
    parse_dx,
    resource_path,
    scored_classes,
    source_of,
    weights_matrix,
)
from leanecg.data.cpsc2021 import af_episodes_from_annotation
from leanecg.data.mitdb import AAMI_MAP, DS1, DS2, PACED_RECORDS, aami_class, aami_counts, mitdb_beats
from leanecg.data.nstdb import load_noise
from leanecg.data.registry import group_split, proportional_split, read_header, stratified_split
from leanecg.errors import LeanECGError

FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}


# ---------------------------------------------------------------------------------------------------------
# registry and data dir


def test_registry_lists_the_six_datasets() -> None:
    names = [ds.name for ds in list_datasets()]
    assert names == ["mitdb", "cinc2017", "ptbxl", "cinc2021", "cpsc2021", "nstdb"]
    for ds in list_datasets():
        assert ds.n_records_full > 0 and ds.slug and ds.version and ds.licence and ds.split_names
        assert ds.url == f"https://physionet.org/content/{ds.slug}/{ds.version}/"


def test_get_dataset_unknown_name_lists_known_names() -> None:
    with pytest.raises(LeanECGError) as err:
        get_dataset("mitbih")
    assert "mitdb" in err.value.problem and "cinc2021" in err.value.problem
    assert get_dataset("CINC2021_sample").name == "cinc2021"  # staged folder names are accepted too


def test_datasets_are_found_in_the_shared_folder(shared_data: Path) -> None:
    for ds in list_datasets():
        assert ds.is_present(shared_data), ds.name
    assert get_dataset("cinc2021").path(shared_data).name == "cinc2021_sample"
    assert not get_dataset("mitdb").is_present(shared_data / "cinc2017")


def test_resolve_data_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli, env, xdg = tmp_path / "cli", tmp_path / "env", tmp_path / "xdg"
    cli.mkdir()
    env.mkdir()
    monkeypatch.setenv("LEANECG_DATA", str(env))
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    # no ../shared/data beside the current folder or the checkout (tests/test_data_location.py tests those)
    monkeypatch.chdir(cli)
    monkeypatch.setattr("leanecg.data.locate.checkout_dir", lambda: None)
    assert resolve_data_dir(cli) == cli.resolve()
    assert resolve_data_dir(None) == env.resolve()
    monkeypatch.delenv("LEANECG_DATA")
    assert resolve_data_dir() == (xdg / "leanecg" / "data").resolve()
    assert (xdg / "leanecg" / "data").is_dir()
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_data_dir() == (tmp_path / "home" / ".cache" / "leanecg" / "data").resolve()


def test_resolve_data_dir_refuses_missing_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(LeanECGError) as err:
        resolve_data_dir(tmp_path / "nope")
    assert "given by `data_dir` does not exist" in err.value.problem
    monkeypatch.setenv("LEANECG_DATA", str(tmp_path / "gone"))
    with pytest.raises(LeanECGError) as err:
        resolve_data_dir()
    assert "LEANECG_DATA" in err.value.problem
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(LeanECGError, match="not a folder"):
        resolve_data_dir(file)


# ---------------------------------------------------------------------------------------------------------
# seeded splits


def test_seeded_split_is_pinned_across_platforms() -> None:
    # SHA-256 ranking: this digest must never change (it would silently change every published split)
    labels = {f"A{i:05d}": "NAO~"[i % 7 % 4] for i in range(1, 201)}
    split = stratified_split(labels, FRACTIONS, 2017)
    assert {k: len(v) for k, v in split.items()} == {"train": 140, "val": 32, "test": 28}
    digest = hashlib.sha256(repr(split).encode()).hexdigest()
    assert digest == "5b0e459830eb36333b5333c477ebc687ea9138575ca71f81a763887221246b3c"


def test_proportional_and_group_splits() -> None:
    keys = [f"r{i}" for i in range(103)]
    parts = proportional_split(keys, FRACTIONS, seed=1)
    assert sum(len(v) for v in parts.values()) == 103
    assert sorted(k for v in parts.values() for k in v) == sorted(keys)
    assert [len(v) for v in parts.values()] == [72, 16, 15]
    assert proportional_split(keys, FRACTIONS, seed=2) != parts
    groups = {f"rec{i}": f"p{i // 3}" for i in range(30)}
    gs = group_split(groups, FRACTIONS, seed=5)
    where = {k: name for name, ks in gs.items() for k in ks}
    for k, g in groups.items():
        assert all(where[o] == where[k] for o, h in groups.items() if h == g)


# ---------------------------------------------------------------------------------------------------------
# MIT-BIH


def test_aami_mapping_follows_de_chazal() -> None:
    assert {s: aami_class(s) for s in "NLRejAaJSVEF/fQ"} == {
        **dict.fromkeys("NLRej", "N"),
        **dict.fromkeys("AaJS", "S"),
        **dict.fromkeys("VE", "V"),
        "F": "F",
        **dict.fromkeys("/fQ", "Q"),
    }
    for not_a_beat in ("B", "r", "n", "?", "!", "+", "~", '"', "x", "|", "[", "]"):
        assert aami_class(not_a_beat) is None
    assert len(AAMI_MAP) == 15


def test_de_chazal_sets() -> None:
    assert len(DS1) == len(DS2) == 22
    assert not set(DS1) & set(DS2)
    assert not (set(DS1) | set(DS2)) & set(PACED_RECORDS)
    assert "201" in DS1 and "202" in DS2  # same subject, kept in their sets (documented)


def test_ds1_ds2_aami_counts_match_the_published_ones_exactly(mitdb_dir: Path) -> None:
    assert aami_counts(mitdb_dir, DS1) == {"N": 45866, "S": 944, "V": 3788, "F": 415, "Q": 8}
    assert aami_counts(mitdb_dir, DS2) == {"N": 44259, "S": 1837, "V": 3221, "F": 388, "Q": 7}


def test_mitdb_beats(mitdb_dir: Path) -> None:
    samples, labels, patients = mitdb_beats(mitdb_dir, ["207", 100])
    assert patients == ["207", "100"]
    assert all(s.dtype == np.int64 and np.all(np.diff(s) > 0) for s in samples)
    assert [len(s) for s in samples] == [len(lab) for lab in labels]
    assert Counter(labels[1].tolist()) == {"N": 2239, "S": 33, "V": 1}  # record 100: N 2239, A 33, V 1
    from leanecg.data.registry import read_annotation

    ann = read_annotation(mitdb_dir / "207", "atr")
    assert ann.symbol.count("!") > 0  # ventricular flutter waves are annotated in 207 ...
    flutter = {int(s) for s, sym in zip(ann.sample, ann.symbol, strict=True) if sym == "!"}
    assert not flutter & set(samples[0].tolist())  # ... and are not beats
    with pytest.raises(LeanECGError):
        mitdb_beats(mitdb_dir, ["999"])


def test_mitdb_split_and_labels(shared_data: Path) -> None:
    ds = get_dataset("mitdb")
    assert len(ds.records(shared_data)) == 48
    split = ds.split(shared_data)
    assert split == {"DS1": sorted(DS1), "DS2": sorted(DS2)}
    assert ds.split(shared_data, "DS2") == {"DS2": sorted(DS2)}
    with pytest.raises(LeanECGError, match="DS1, DS2"):
        ds.split(shared_data, "test")
    assert ds.patients(shared_data)["201"] == "201"


# ---------------------------------------------------------------------------------------------------------
# CinC 2017


def test_cinc2017_split_is_deterministic_stratified_and_disjoint(shared_data: Path) -> None:
    ds = get_dataset("cinc2017")
    labels = {r: v[0] for r, v in ds.labels(shared_data).items()}
    # counts come from the data's own files: one label per staged record (RECORDS), as REFERENCE-v3.csv says
    root = shared_data / "cinc2017" / "training2017"
    staged = (root / "RECORDS").read_text().split()
    v3 = dict(
        line.strip().split(",")
        for line in (root / "REFERENCE-v3.csv").read_text().splitlines()
        if line.strip()
    )
    assert sorted(labels) == sorted(staged)
    assert Counter(labels.values()) == Counter(v3[r] for r in staged)
    assert set(labels.values()) == {"N", "A", "O", "~"}
    split = ds.split(shared_data)
    assert split == ds.split(shared_data)
    parts = [set(v) for v in split.values()]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert set().union(*parts) == set(labels)
    for cls in ("N", "A", "O", "~"):
        n = sum(1 for v in labels.values() if v == cls)
        for name, frac in FRACTIONS.items():
            got = sum(1 for r in split[name] if labels[r] == cls)
            assert abs(got - frac * n) <= 1, (cls, name, got, n)
    assert ds.split(shared_data, seed=7) != split


def test_cinc2017_reference_errors_name_file_and_line(tmp_path: Path) -> None:
    ref = tmp_path / "REFERENCE-v3.csv"
    ref.write_text("A00001,N\nA00002,A\nA00003,X\n")
    with pytest.raises(LeanECGError) as err:
        read_reference(ref)
    assert err.value.path == str(ref) and "line 3" in err.value.problem and "'X'" in err.value.problem
    ref.write_text("A00001,N\nA00002\n")
    with pytest.raises(LeanECGError, match="line 2"):
        read_reference(ref)
    ref.write_text("\ufeffA00001,N\r\nA00002,~\r\n\r\n")
    assert read_reference(ref) == {"A00001": "N", "A00002": "~"}


def test_cinc2017_load_attaches_label(shared_data: Path) -> None:
    rec = get_dataset("cinc2017").load(shared_data, "A00001")
    assert rec.fs == 300 and rec.signal.shape == (9000, 1) and rec.labels == ["N"]


# ---------------------------------------------------------------------------------------------------------
# PTB-XL


def test_ptbxl_folds_and_superclasses(shared_data: Path) -> None:
    ds = get_dataset("ptbxl")
    split = ds.split(shared_data)
    assert {k: len(v) for k, v in split.items()} == {"train": 353, "val": 81, "test": 66}
    db = ds.database(shared_data)
    for name, folds in (("train", set(range(1, 9))), ("val", {9}), ("test", {10})):
        assert set(db.loc[split[name], "strat_fold"]) <= folds
    patients = ds.patients(shared_data)
    by_split = [{patients[r] for r in split[n]} for n in ("train", "val", "test")]
    assert (
        not (by_split[0] & by_split[1])
        and not (by_split[0] & by_split[2])
        and not (by_split[1] & by_split[2])
    )
    sc = ds.superclasses(shared_data)
    counts = Counter(c for v in sc.values() for c in v)
    assert counts == {"NORM": 297, "STTC": 96, "CD": 78, "MI": 73, "HYP": 40}  # README, any likelihood
    assert sum(1 for v in sc.values() if not v) == 12
    strict = Counter(c for v in ds.superclasses(shared_data, min_likelihood=100).values() for c in v)
    assert all(strict[c] <= counts[c] for c in counts) and sum(strict.values()) < sum(counts.values())
    y = ds.superclass_matrix(shared_data, ["1", "2"])
    assert y.tolist() == [[1, 0, 0, 0, 0], [1, 0, 0, 0, 0]]
    rhythm = Counter(c for v in ds.rhythms(shared_data).values() for c in v)
    assert rhythm["SR"] == 407 and rhythm["AFIB"] == 13 and rhythm["AFLT"] == 8


def test_ptbxl_uses_the_records_on_disk(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "ptbxl"
    dst = tmp_path / "ptbxl"
    (dst / "records100" / "00000").mkdir(parents=True)
    for name in ("ptbxl_database.csv", "scp_statements.csv"):
        shutil.copy(src / name, dst / name)
    for i in (1, 2, 9):
        for ext in ("hea", "dat"):
            shutil.copy(src / "records100" / "00000" / f"{i:05d}_lr.{ext}", dst / "records100" / "00000")
    ds = get_dataset("ptbxl")
    assert ds.records(dst) == ["1", "2", "9"]
    view = ds.describe(dst)
    assert view["records_listed"] == 500 and view["records_on_disk"] == 3 and view["missing_on_disk"] == 497
    rec = ds.load(dst, "9")
    assert rec.fs == 100 and rec.signal.shape == (1000, 12) and rec.meta["patient_id"]
    with pytest.raises(LeanECGError, match="500 Hz"):
        ds.load(dst, "9", fs=500)
    with pytest.raises(LeanECGError):
        ds.load(dst, "3")  # listed, not on disk


# ---------------------------------------------------------------------------------------------------------
# CinC 2021


def _write_header(path: Path, dx: str, age: str = "61", sex: str = "Female") -> Path:
    lines = [f"{path.stem} 1 500 5000"]
    lines.append(f"{path.stem}.mat 16+24 1000/mV 16 0 0 0 0 I")
    lines += [f"# Age: {age}", f"# Sex: {sex}", f"# Dx: {dx}", "# Rx: Unknown"]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cinc2021_shipped_tables_are_the_official_ones() -> None:
    expected = {
        "weights.csv": "668cb04555a97e8977488cb4bb6088d0d2bf9e59557945deedf29d5065c14d2b",
        "dx_mapping_scored.csv": "fad13ad9f7ca230e7e6392ac8a264cb7cd157879525129f964c5f708eabb41d0",
        "dx_mapping_unscored.csv": "ce53c9e35406e922f1634a38bb13c31e8cf7603291641a16c201d8e679f4fe94",
    }
    for name, digest in expected.items():
        assert hashlib.sha256(resource_path(name).read_bytes()).hexdigest() == digest
    classes = scored_classes()
    assert len(classes) == 26
    w = weights_matrix()
    assert w.shape == (26, 26) and np.allclose(np.diag(w), 1.0) and np.allclose(w, w.T)
    merged = {c.name for c in classes if len(c.codes) == 2}
    assert merged == {f"{a}|{b}" for a, b in EQUIVALENT_CODES} | {"733534002|164909002"}


def test_cinc2021_equivalent_codes_map_to_one_class(tmp_path: Path) -> None:
    names = [c.name for c in scored_classes()]
    crbbb = names.index("713427006|59118001")
    for dx in ("59118001", "713427006", "713427006,59118001"):
        y = codes_to_multihot(parse_dx(read_header(_write_header(tmp_path / "X1.hea", dx))))
        assert y.sum() == 1 and y[crbbb] == 1, dx
    for a, b in EQUIVALENT_CODES:
        assert np.array_equal(codes_to_multihot([a]), codes_to_multihot([b]))
    y = codes_to_multihot(["164889003", "17338001", "164873001"])  # AF, VPB (= PVC), LVH (unscored)
    assert [names[i] for i in np.flatnonzero(y)] == ["164889003", "427172004|17338001"]


def test_cinc2021_unknown_code_names_file_and_code(tmp_path: Path) -> None:
    hea = _write_header(tmp_path / "X2.hea", "426783006,999999999")
    with pytest.raises(LeanECGError) as err:
        parse_dx(read_header(hea))
    assert err.value.path == str(hea) and "999999999" in err.value.problem
    with pytest.raises(LeanECGError, match="Dx"):
        parse_dx(read_header(_write_header(tmp_path / "X3.hea", "")))


def test_cinc2021_age_sex_and_sources(tmp_path: Path) -> None:
    assert parse_age_sex(read_header(_write_header(tmp_path / "X4.hea", "426783006"))) == (61.0, "female")
    assert parse_age_sex(read_header(_write_header(tmp_path / "X5.hea", "426783006", "NaN", "Unknown"))) == (
        None,
        None,
    )
    assert [source_of(r) for r in ("HR00001", "JS00002", "E00003", "A0001", "Q0001", "I0001", "S0001")] == [
        "PTB-XL",
        "Chapman-Shaoxing/Ningbo",
        "Georgia",
        "CPSC 2018",
        "CPSC-Extra",
        "St Petersburg INCART",
        "PTB",
    ]


def test_cinc2021_label_matrix_on_the_sample(shared_data: Path) -> None:
    ds = get_dataset("cinc2021")
    recs = ds.records(shared_data)
    assert len(recs) == 50
    y = ds.label_matrix(shared_data)
    assert y.shape == (50, 26) and y.dtype == np.uint8
    names = [c.abbreviation for c in scored_classes()]
    counts = dict(zip(names, y.sum(axis=0).tolist(), strict=True))
    # README counts of the sample (PAC 20 + BPAC is unscored; STach 23, NSR 15, SB 7, PVC 5 ...)
    assert counts["STach"] == 23 and counts["PAC|SVPB"] == 20 and counts["NSR"] == 15 and counts["SB"] == 7
    assert counts["PVC|VPB"] == 5 and counts["CRBBB|RBBB"] == 2
    first = recs.index("E07500")
    assert [names[i] for i in np.flatnonzero(y[first])] == ["SB"]  # Dx 67741000119109 (LAE, unscored), SB
    rec = ds.load(shared_data, "E07500")
    assert (
        rec.labels == ["67741000119109", "426177001"]
        and rec.meta["age"] == 78.0
        and rec.meta["sex"] == "male"
    )
    split = ds.split(shared_data)
    assert sorted(r for v in split.values() for r in v) == recs
    assert {k: len(v) for k, v in split.items()} == {"train": 35, "val": 8, "test": 7}


# ---------------------------------------------------------------------------------------------------------
# CPSC 2021


def test_af_episode_rule() -> None:
    sample = np.array([0, 10, 50, 60, 70, 100])
    notes = ["", "(AFIB", "(N", "(N", "(AFL", ""]
    assert af_episodes_from_annotation(sample, notes, 120).tolist() == [[10, 50], [70, 119]]
    assert af_episodes_from_annotation(np.array([0, 200]), ["(AFIB", "(N"], 200).tolist() == [[0, 199]]
    assert af_episodes_from_annotation(np.array([], dtype=np.int64), [], 10).shape == (0, 2)


def test_cpsc2021_classes_and_episodes(shared_data: Path) -> None:
    ds = get_dataset("cpsc2021")
    labels = ds.labels(shared_data)
    assert Counter(v[0] for v in labels.values()) == {"N": 6, "AFp": 6, "AFf": 6}
    ep = ds.af_episodes(shared_data, "data_101_6")
    assert ep.tolist() == [[3132, 5639], [8468, 9100], [11121, 16050], [21303, 22354]]  # last (N at n_samples
    assert ds.af_episodes(shared_data, "data_8_4").tolist() == [[0, 8234]]  # persistent AF: whole record
    assert ds.af_episodes(shared_data, "data_21_7").shape == (0, 2)
    total = sum(len(ds.af_episodes(shared_data, r)) for r in ds.records(shared_data))
    assert total == 17  # README: 17 (AFIB onsets
    split = ds.split(shared_data)
    patients = ds.patients(shared_data)
    sets = [{patients[r] for r in v} for v in split.values()]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    rec = ds.load(shared_data, "data_101_6")
    assert rec.fs == 200 and rec.n_leads == 2 and rec.labels == ["AFp"] and len(rec.meta["af_episodes"]) == 4


# ---------------------------------------------------------------------------------------------------------
# NSTDB


def test_load_noise_uses_default_gain(shared_data: Path) -> None:
    import wfdb

    x, fs = load_noise(shared_data, "bw")
    assert fs == 360.0 and x.shape == (650000, 2) and x.dtype == np.float32
    digital = wfdb.rdrecord(str(shared_data / "nstdb_noise" / "bw"), physical=False).d_signal
    np.testing.assert_allclose(x, digital / 200.0, rtol=0, atol=1e-6)  # gain 0 -> 200 adu/mV, baseline 0
    with pytest.raises(LeanECGError, match="present: bw, ma"):
        load_noise(shared_data, "em")
    with pytest.raises(LeanECGError, match="bw, ma, em"):
        load_noise(shared_data, "white")
