"""The default data location: without ``--data-dir`` or ``$LEANECG_DATA``, ``leanecg`` looks in
``../shared/data`` relative to the current folder, then beside the source checkout, then in the user cache;
a dataset found nowhere is an error naming every place looked at and how to fetch it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from clihelp import run_cli
from conftest import REPO
from leanecg.data import locate
from leanecg.errors import LeanECGError

DS1 = {"N": 45866, "S": 944, "V": 3788, "F": 415, "Q": 8}
CHECKOUT_DATA = REPO.parent / "shared" / "data"


def _info_ds1(cwd: Path, tmp_path: Path) -> dict:
    env = {"LEANECG_DATA": "", "XDG_CACHE_HOME": str(tmp_path / "xdg")}  # empty: not set
    proc = run_cli(["info", "mitdb", "--split", "DS1", "--json"], cwd, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_info_mitdb_beside_the_current_folder(tmp_path: Path, mitdb_dir: Path) -> None:
    (tmp_path / "shared" / "data").mkdir(parents=True)
    os.symlink(mitdb_dir, tmp_path / "shared" / "data" / "mitdb")
    (tmp_path / "work").mkdir()
    out = _info_ds1(tmp_path / "work", tmp_path)
    assert Path(out["path"]) == (tmp_path / "shared" / "data").resolve() / "mitdb"
    row = out["aami_beats"][0]
    assert {k: row[k] for k in DS1} == DS1


@pytest.mark.skipif(not (CHECKOUT_DATA / "mitdb").is_dir(), reason=f"no {CHECKOUT_DATA}/mitdb")
def test_info_mitdb_beside_the_checkout(tmp_path: Path) -> None:
    """`leanecg info mitdb --split DS1` exactly as the README shows it, from any folder."""
    assert locate.checkout_dir() == REPO
    out = _info_ds1(tmp_path, tmp_path)
    assert Path(out["path"]) == CHECKOUT_DATA.resolve() / "mitdb"
    assert {k: out["aami_beats"][0][k] for k in DS1} == DS1


def test_missing_dataset_names_every_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from leanecg.data.describe import describe

    (tmp_path / "work").mkdir()
    (tmp_path / "shared" / "data").mkdir(parents=True)  # exists, but without mitdb
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setattr(locate, "checkout_dir", lambda: tmp_path / "checkout")
    monkeypatch.delenv("LEANECG_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    shared, cache = tmp_path / "shared" / "data", tmp_path / "xdg" / "leanecg" / "data"
    assert locate.default_data_dirs() == [shared, cache]  # the checkout's ../shared/data is the same place
    monkeypatch.setattr(locate, "checkout_dir", lambda: tmp_path / "elsewhere" / "checkout")
    with pytest.raises(LeanECGError) as err:
        describe("mitdb", split="DS1")
    msg = str(err.value)
    assert msg.startswith("mitdb: dataset not found; looked in ")
    for place in (shared, tmp_path / "elsewhere" / "shared" / "data", cache):
        assert str(place / "mitdb") in msg, msg
    assert "leanecg data fetch mitdb" in msg and "`data_dir`" in msg and "\n" not in msg
    # without a dataset asked for, an empty shared folder is skipped for the user cache (created)
    assert locate.resolve_data_dir() == cache.resolve()
