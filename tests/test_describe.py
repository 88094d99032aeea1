"""``describe()`` and ``leanecg info`` on records, folders and registered datasets (real data)."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leanecg.cli import app
from leanecg.data import get_dataset
from leanecg.data.describe import describe
from leanecg.errors import LeanECGError

DS1_COUNTS = {"N": 45866, "S": 944, "V": 3788, "F": 415, "Q": 8}
DS2_COUNTS = {"N": 44259, "S": 1837, "V": 3221, "F": 388, "Q": 7}


def _row(table: list[dict], **match: object) -> dict:
    rows = [r for r in table if all(r.get(k) == v for k, v in match.items())]
    assert len(rows) == 1, (match, table)
    return rows[0]


def test_describe_wfdb_record_with_annotations(mitdb_dir: Path) -> None:
    d = describe(str(mitdb_dir / "100"))
    assert d["kind"] == "record" and d["name"] == "100" and d["format"] == "WFDB"
    assert d["fs"] == 360.0 and d["leads"] == ["II", "V5"] and d["units"] == "mV"
    assert d["n_samples"] == 650000 and d["duration_s"] == pytest.approx(1805.556)
    counts = {r["symbol"]: r["count"] for r in d["annotation_counts"]}
    assert counts == {"N": 2239, "A": 33, "V": 1, "+": 1}
    assert d["rhythm_counts"] == [{"rhythm": "(N", "count": 1}]
    assert d["meta"]["age"] == 69 and d["meta"]["sex"] == "M"
    assert d["quality"]["usable_leads"] == "II, V5"
    assert [r["lead"] for r in d["quality"]["per_lead"]] == ["II", "V5"]
    json.dumps(d)  # plain JSON, no numpy values


def test_describe_challenge_record_labels(shared_data: Path) -> None:
    d = describe(shared_data / "cinc2021_sample" / "E07500.mat")
    assert d["format"] == "challenge (.mat + .hea)" and d["n_leads"] == 12 and d["fs"] == 500.0
    assert d["labels"] == ["67741000119109", "426177001"] and d["meta"]["age"] == 78
    assert "annotation_counts" not in d
    assert len(d["quality"]["per_lead"]) == 12
    json.dumps(d)


def test_describe_folder_reads_headers_only(shared_data: Path, tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "some_records"
    folder.mkdir()
    for rec in ("E07500", "E07501", "HR06000"):
        for ext in ("hea", "mat"):
            shutil.copy(shared_data / "cinc2021_sample" / f"{rec}.{ext}", folder)
    import wfdb

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("the folder view must not decode signals")

    monkeypatch.setattr(wfdb, "rdrecord", no_decoding)
    d = describe(folder)
    assert d["kind"] == "folder" and d["n_records"] == 3
    assert d["formats"] == {"challenge (.mat + .hea)": 3}
    assert d["fs_hz"] == [{"fs": 500, "records": 3}]
    assert d["duration_s"]["median"] == 10.0
    dx = {r["dx"]: r for r in d["dx_label_counts"]}
    assert dx["426177001"]["abbreviation"] == "SB"
    with pytest.raises(LeanECGError, match="`split` only applies"):
        describe(folder, split="train")
    with pytest.raises(LeanECGError, match="no ECG records"):
        describe(_empty(tmp_path))
    json.dumps(d)


def _empty(tmp_path: Path) -> Path:
    empty = tmp_path / "empty"
    empty.mkdir()
    return empty


def test_mitdb_dataset_view_from_annotations_only(mitdb_dir: Path, monkeypatch) -> None:
    import wfdb

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("the dataset view must not decode signals")

    monkeypatch.setattr(wfdb, "rdrecord", no_decoding)
    d = describe(str(mitdb_dir))
    assert d["kind"] == "dataset" and d["dataset"] == "mitdb" and d["n_records"] == 48
    ds1 = _row(d["aami_beats"], split="DS1")
    ds2 = _row(d["aami_beats"], split="DS2")
    assert {k: ds1[k] for k in DS1_COUNTS} == DS1_COUNTS and ds1["records"] == 22
    assert {k: ds2[k] for k in DS2_COUNTS} == DS2_COUNTS and ds2["matches_published"] == "yes"
    one = describe(str(mitdb_dir), split="DS2")
    assert [r["split"] for r in one["aami_beats"]] == ["DS2"] and one["n_records"] == 22
    with pytest.raises(LeanECGError) as err:
        describe(str(mitdb_dir), split="train")
    assert err.value.path == "split" and "DS1, DS2" in err.value.problem


def test_dataset_views(shared_data: Path) -> None:
    c17 = describe(shared_data / "cinc2017", split="test")
    # the expected counts are the dataset's own split, read through the registry (never a hard-coded data size)
    ds = get_dataset("cinc2017")
    labels = ds.labels(shared_data)
    test = ds.split(shared_data, "test")["test"]
    want = Counter(labels[r][0] for r in test)
    assert c17["dataset"] == "cinc2017" and c17["n_records"] == len(test)
    assert _row(c17["class_counts"], split="test") == {
        "split": "test",
        "records": len(test),
        **{c: want[c] for c in ("N", "A", "O", "~")},
    }
    # a 15 % stratified test split: every class within one record of its share
    for c in ("N", "A", "O", "~"):
        assert abs(want[c] - 0.15 * sum(v[0] == c for v in labels.values())) <= 1
    ptb = describe(str(shared_data / "ptbxl"))
    assert ptb["missing_on_disk"] == 0 and ptb["records_on_disk"] == 500
    assert _row(ptb["superclass_counts"], split="test (fold 10)")["records"] == 66
    assert sum(r["NORM"] for r in ptb["superclass_counts"]) == 297
    c21 = describe(shared_data / "cinc2021_sample")
    assert c21["dataset"] == "cinc2021" and len(c21["scored_class_counts"]) == 26
    assert _row(c21["scored_class_counts"], **{"class": "STach"})["total"] == 23
    cpsc = describe(shared_data / "cpsc2021_sample")
    assert sum(r["af_episodes"] for r in cpsc["record_classes"]) == 17
    assert sum(r["AFf"] for r in cpsc["record_classes"]) == 6
    noise = describe(shared_data / "nstdb_noise")
    assert [r["record"] for r in noise["noise_records"]] == ["bw", "ma"]
    for d in (c17, ptb, c21, cpsc, noise):
        json.dumps(d)


def test_dataset_names_use_the_data_dir(shared_data: Path, tmp_path: Path, monkeypatch) -> None:
    d = describe("cinc2017", data_dir=shared_data, split="val")
    val = get_dataset("cinc2017").split(shared_data, "val")["val"]
    assert d["path"] == str(shared_data / "cinc2017") and d["n_records"] == len(val) > 0
    monkeypatch.setenv("LEANECG_DATA", str(shared_data))
    assert describe("nstdb")["dataset"] == "nstdb"
    with pytest.raises(LeanECGError, match="leanecg data fetch mitdb"):
        describe("mitdb", data_dir=tmp_path)
    with pytest.raises(LeanECGError) as err:
        describe("no_such_thing", data_dir=tmp_path)
    assert "mitdb" in err.value.problem and "cpsc2021" in err.value.problem


def test_cli_info_prints_the_aami_counts(mitdb_dir: Path, shared_data: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["info", str(mitdb_dir), "--split", "DS1"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if " DS1 " in line and "45866" in line)
    assert [str(v) for v in DS1_COUNTS.values()] == [c for c in row.replace("│", " ").split() if c.isdigit()][
        1:6
    ]
    result = runner.invoke(
        app, ["info", "mitdb", "--split", "DS2", "--json"], env={"LEANECG_DATA": str(shared_data)}
    )
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert {k: d["aami_beats"][0][k] for k in DS2_COUNTS} == DS2_COUNTS and d["split"] == "DS2"


def test_cli_info_errors_are_one_line(mitdb_dir: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from leanecg.cli import main; main()",
            "info",
            str(mitdb_dir),
            "--split",
            "DS3",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: --split: unknown split 'DS3' of mitdb; choose one of DS1, DS2"


def test_distinctive_dataset_recognised_in_a_folder_of_any_name(mitdb_dir: Path, tmp_path: Path) -> None:
    mirror = tmp_path / "physionet.org" / "files" / "mitdb" / "1.0.0"
    mirror.mkdir(parents=True)
    for rec in ("100", "101"):
        for ext in ("hea", "atr"):  # headers and annotations are all the dataset view reads
            shutil.copy(mitdb_dir / f"{rec}.{ext}", mirror)
    d = describe(mirror)
    assert d["dataset"] == "mitdb" and d["n_records"] == 2
    ds2 = _row(d["aami_beats"], split="DS2")
    assert (ds2["records"], ds2["N"], ds2["S"], ds2["V"], ds2["missing_records"]) == (1, 2239, 33, 1, 21)
    assert _row(d["aami_beats"], split="DS1")["matches_published"] == "no"
