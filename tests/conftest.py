"""Shared fixtures.

Tests that need the real PhysioNet data find it through ``LEANECG_DATA`` (CI sets it to
``../shared/data``) or, failing that, ``../shared/data`` beside the repository, and skip with a clear
reason when neither exists.

Tests that need *a* trained model package (not training itself) take one of the tiny bench runs below,
trained once per test session: with pytest-xdist the first worker that needs a run builds it under a file
lock in the session's shared temporary folder, and the others reuse it. Those runs are shared: tests read
them and copy what they change. Tests that use them are marked ``slow`` (training on the real data).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

from benchhelp import TinyBench, tiny_bench

REPO = Path(__file__).resolve().parents[1]


def load_benchmark(script: str) -> ModuleType:
    """Import ``benchmarks/<script>`` (a script, not a package module) as a module named after the file
    (registered in ``sys.modules``, as an import would, so that its dataclasses resolve their module)."""
    path = REPO / "benchmarks" / script
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


# The CLI sizes its tables from $COLUMNS (pytest-xdist workers set COLUMNS=80); tests check its output as
# written to a pipe (140 columns), whoever runs them and however.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)


def _shared_data_dir() -> Path | None:
    env = os.environ.get("LEANECG_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "data")
    for c in candidates:
        if (c / "mitdb").is_dir():
            return c.resolve()
    return None


SHARED_DATA = _shared_data_dir()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the real PhysioNet data (``mitdb/``, ``cinc2017/``, ...); skips when absent."""
    if SHARED_DATA is None:
        pytest.skip("real data not found: set LEANECG_DATA or put shared/data beside the repository")
    return SHARED_DATA


@pytest.fixture(scope="session")
def mitdb_dir(shared_data: Path) -> Path:
    return shared_data / "mitdb"


# ------------------------------------------------------------------- tiny bench runs, once per session


@pytest.fixture(scope="session")
def tiny_mitdb_bench(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> TinyBench:
    """``mitdb-aami`` with ``beatnet`` (packaged) and ``lightgbm``, 2-fold CV of both (``--cv 2``), run in
    this process (:func:`~leanecg.bench.runner.run_benchmark`); shared by the session: read it, copy to
    change it."""
    return tiny_bench(tmp_path_factory, shared_data, "mitdb-aami", ("beatnet", "lightgbm"), True, cv=2)


@pytest.fixture(scope="session")
def tiny_cinc2017_bench(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> TinyBench:
    """``cinc2017`` with ``litenet``, ``wide_deep_lite``, ``lightgbm`` (on the record features) and the
    hybrid ``wide_deep_lite+lightgbm``, all packaged, run by the real ``leanecg bench`` in a subprocess (its
    stdout: the results table); shared by the session: read it, copy to change it."""
    models = ("litenet", "wide_deep_lite", "lightgbm", "wide_deep_lite+lightgbm")
    return tiny_bench(tmp_path_factory, shared_data, "cinc2017", models, False)


TINY_BENCH_FIXTURES = ("tiny_mitdb_bench", "tiny_cinc2017_bench")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that need a tiny bench run (training on the real data, minutes on a busy machine) are ``slow``."""
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in TINY_BENCH_FIXTURES):
            item.add_marker(pytest.mark.slow)
