"""Run the real ``leanecg`` CLI in a subprocess, as a user would (shared by the CLI tests)."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
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


@contextlib.contextmanager
def _stdin(text: str | None) -> Iterator[None]:
    """``sys.stdin`` reads ``text`` for the duration (unchanged when ``None``)."""
    saved = sys.stdin
    if text is not None:
        sys.stdin = io.StringIO(text)
    try:
        yield
    finally:
        sys.stdin = saved


def invoke_cli(
    args: list[str],
    cwd: Path,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """The console-script entry point (``leanecg.cli.main``) called in this process, as :func:`run_cli`
    runs it in a subprocess: same ``cwd`` and environment; the same exit code, stdout and stderr, without a
    Python start-up (the cheap way to check a command's error paths; keep one :func:`run_cli` smoke test
    per command for the real entry point). The working folder, environment, ``sys.argv``, SIGINT / SIGTERM
    handlers, ``sys.unraisablehook`` and torch's thread count are restored afterwards; never raises on a non-zero exit."""
    from leanecg import cli

    try:
        import torch
    except ImportError:  # the runtime-only install
        torch = None  # type: ignore[assignment]
    saved_env, saved_cwd, saved_argv = dict(os.environ), Path.cwd(), sys.argv
    saved_signals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    saved_hook = sys.unraisablehook
    saved_threads = torch.get_num_threads() if torch is not None else None
    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    try:
        for name in ("LEANECG_DEBUG", "COLUMNS", "LINES"):
            os.environ.pop(name, None)
        os.environ["LEANECG_CACHE"] = str(cwd / "cache")
        os.environ.update(env or {})
        os.chdir(cwd)
        sys.argv = ["leanecg", *args]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _stdin(stdin):
            try:
                cli.main()
            except SystemExit as exc:
                code = exc.code
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv = saved_argv
        for sig, handler in saved_signals.items():
            signal.signal(sig, handler)
        sys.unraisablehook = saved_hook
        if torch is not None and saved_threads is not None:
            torch.set_num_threads(saved_threads)
    if code is None or isinstance(code, int):
        returncode = code or 0
    else:  # sys.exit("message"): the message on stderr, exit code 1
        err.write(f"{code}\n")
        returncode = 1
    return subprocess.CompletedProcess(["leanecg", *args], returncode, out.getvalue(), err.getvalue())
