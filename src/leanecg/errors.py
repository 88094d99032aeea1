"""One error type for every problem a user can cause.

Every function that reads user input raises :class:`LeanECGError` with the offending path and a
one-line description. The CLI turns it into ``error: <file>: <problem>`` on stderr and exit code 2.
"""

from __future__ import annotations

from pathlib import Path


class LeanECGError(Exception):
    """A problem with user input (a file, a folder, an argument).

    Args:
        path: the file, folder or argument that is wrong (``"-"`` for stdin, an option name for flags).
        problem: one line saying what is wrong, in words a user understands.
    """

    exit_code = 2

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = " ".join(str(problem).split())  # always one line
        super().__init__(f"{self.path}: {self.problem}")


def require(condition: bool, path: str | Path, problem: str) -> None:
    """Raise :class:`LeanECGError` unless ``condition`` holds."""
    if not condition:
        raise LeanECGError(path, problem)


class Interrupted(BaseException):
    """The user stopped the command (Ctrl-C / SIGINT, or SIGTERM).

    A :class:`BaseException` (like :class:`KeyboardInterrupt`), so no ``except Exception`` swallows it on the
    way out: every ``with`` block unwinds (:func:`leanecg.atomic.atomic_path` removes its temporary file).
    The CLI prints ``interrupted`` and exits with ``128 + signal number`` (130 for SIGINT, 143 for SIGTERM).
    """

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        self.exit_code = 128 + self.signum
        super().__init__(f"interrupted by signal {self.signum}")
