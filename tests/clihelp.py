"""Run the real ``leanecg`` CLI in a subprocess, as a user would (shared by the CLI tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_cli(
    args: list[str],
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m leanecg.cli ARGS`` in ``cwd`` with a private cache (``stdin``: text fed to it); never
    raises on a non-zero exit."""
    # no LEANECG_DEBUG, and no terminal size of the caller (pytest-xdist workers set COLUMNS=80): the CLI
    # writes to a pipe here, so it uses its documented pipe width whoever runs the tests
    full_env = {k: v for k, v in os.environ.items() if k not in ("LEANECG_DEBUG", "COLUMNS", "LINES")}
    full_env["LEANECG_CACHE"] = str(cwd / "cache")
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "leanecg.cli", *args],
        cwd=cwd,
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
