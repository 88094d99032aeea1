"""Shared fixtures.

Tests that need the real PhysioNet data find it through ``LEANECG_DATA`` (CI sets it to
``../shared/data``) or, failing that, ``../shared/data`` beside the repository, and skip with a clear
reason when neither exists.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

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
