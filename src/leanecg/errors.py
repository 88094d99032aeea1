"""One family of error types for every problem a user can cause.

Every function that reads user input raises :class:`LeanECGError` (or one of its subclasses) with the
offending path and a one-line description. The CLI turns it into ``error: <file>: <problem>`` on stderr
and exit code 2.

:class:`LeanECGError` is a :class:`ValueError`, so code written against plain Python conventions
(``except ValueError``) catches a bad argument too. Callers that need to tell cases apart catch a subclass:

- :class:`UnreadableRecordError`: a file exists but cannot be read or parsed as what it should be;
- :class:`MissingDataError`: a dataset, folder or file that should be there is absent;
- :class:`InvalidOptionError`: an argument or config value outside what it may be.

:func:`check_number` / :func:`check_positive` are the shared checks of scalar arguments,
:func:`check_choice` the one of named choices.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real
from pathlib import Path
from typing import Any

__all__ = [
    "Interrupted",
    "InvalidOptionError",
    "LeanECGError",
    "MissingDataError",
    "UnreadableRecordError",
    "check_choice",
    "check_number",
    "check_positive",
    "describe_number",
    "require",
]


class LeanECGError(ValueError):
    """A problem with user input (a file, a folder, an argument).

    Args:
        path: the file, folder or argument that is wrong (``"-"`` for stdin; an argument or config field by
            its parameter name, ``"window_s"``, never a CLI flag: the CLI writes the flag).
        problem: one line saying what is wrong, in words a user understands; an option it mentions is
            marked as `` `lead` `` (the CLI writes ``--lead``).

    Example:
        >>> err = LeanECGError("rec.csv", "line 3 has 2 field(s),\\n the header has 3")
        >>> str(err)
        'rec.csv: line 3 has 2 field(s), the header has 3'
        >>> isinstance(err, ValueError), err.exit_code
        (True, 2)
    """

    exit_code = 2

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = " ".join(str(problem).split())  # always one line
        super().__init__(f"{self.path}: {self.problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        # pickle (multiprocessing) rebuilds the error from (path, problem), not from the joined message
        return (type(self), (self.path, self.problem))


class UnreadableRecordError(LeanECGError):
    """A file exists but cannot be read or parsed (a garbled header, a truncated signal, not UTF-8...)."""


class MissingDataError(LeanECGError):
    """A dataset, folder or file that should be there is absent."""


class InvalidOptionError(LeanECGError):
    """An argument or config value outside what it may be (``path`` names the argument or field)."""


def require(condition: bool, path: str | Path, problem: str) -> None:
    """Raise :class:`LeanECGError` unless ``condition`` holds."""
    if not condition:
        raise LeanECGError(path, problem)


def _bound(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def describe_number(
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    optional: bool = False,
) -> str:
    """What :func:`check_number` accepts, in words: ``"a positive integer"``, ``"a number in [0, 1)"``...

    Example:
        >>> describe_number(low=0, low_open=True, integer=True)
        'a positive integer'
        >>> describe_number(low=0, high=1, high_open=True, optional=True)
        'a number in [0, 1) or null'
    """
    kind = "integer" if integer else "number"
    article = "an" if integer else "a"
    if low == 0 and low_open and high is None:
        text = f"a positive {kind}"
    elif low is not None and high is not None:
        if integer and not low_open and not high_open:
            text = f"an integer from {_bound(low)} to {_bound(high)}"
        else:
            left, right = "(" if low_open else "[", ")" if high_open else "]"
            text = f"{article} {kind} in {left}{_bound(low)}, {_bound(high)}{right}"
    elif low is not None:
        text = f"{article} {kind} {'>' if low_open else '>='} {_bound(low)}"
    elif high is not None:
        text = f"{article} {kind} {'<' if high_open else '<='} {_bound(high)}"
    else:
        text = f"a finite {kind}" if not integer else "an integer"
    return f"{text} or null" if optional else text


def check_number(
    name: str | Path,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    optional: bool = False,
    unit: str = "",
) -> Any:
    """``value`` if it is a finite number (an integer with ``integer``) within the bounds, else
    :class:`InvalidOptionError` naming ``name``.

    Args:
        name: the argument or field, as a user knows it (never a CLI flag: callers add those).
        value: what was given; ``bool`` is never a number.
        low, high: bounds (``None``: unbounded); ``low_open`` / ``high_open`` exclude the bound itself.
        integer: require an integer (Python or NumPy).
        optional: ``None`` is allowed (and returned).
        unit: the unit named in the message, e.g. ``"Hz"`` or ``"seconds"``.

    Returns:
        ``value`` unchanged (``int`` / ``float`` / NumPy scalar, or ``None`` with ``optional``).

    Example:
        >>> check_number("order", 4, low=1, high=10, integer=True)
        4
        >>> check_number("lr", 0.0, low=0, low_open=True)
        Traceback (most recent call last):
        ...
        leanecg.errors.InvalidOptionError: lr: must be a positive number, got 0.0
    """
    if value is None and optional:
        return None
    kind = Integral if integer else Real
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if ok and not integer:
        ok = math.isfinite(float(value))
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        what = describe_number(
            low=low, high=high, low_open=low_open, high_open=high_open, integer=integer, optional=optional
        )
        where = f" ({unit})" if unit else ""
        raise InvalidOptionError(name, f"must be {what}{where}, got {value!r}")
    return value


def check_positive(name: str | Path, value: Any, *, integer: bool = False, unit: str = "") -> Any:
    """``value`` if it is a finite number > 0 (an integer >= 1 with ``integer``), else
    :class:`InvalidOptionError` naming ``name``.

    Example:
        >>> check_positive("window_s", 2.5, unit="seconds")
        2.5
    """
    return check_number(name, value, low=0, low_open=True, integer=integer, unit=unit)


def check_choice(
    name: str | Path, value: Any, choices: Iterable[Any], *, what: str = "", optional: bool = False
) -> Any:
    """``value`` if it is one of ``choices``, else :class:`InvalidOptionError` naming ``name``:
    ``unknown <what> 'x'; choose one of a, b``.

    Args:
        name: the argument or field, as a user knows it.
        value: what was given (``bool`` never matches ``0`` / ``1`` choices).
        choices: the allowed values, in the order the message lists them.
        what: the kind of value in the message (default: ``name``'s last dotted part).
        optional: ``None`` is allowed (and returned).

    Example:
        >>> check_choice("tail", "end", ("drop", "pad", "end"))
        'end'
        >>> check_choice("pad", "reflect", ("zero", "edge"), what="padding")
        Traceback (most recent call last):
        ...
        leanecg.errors.InvalidOptionError: pad: unknown padding 'reflect'; choose one of zero, edge
    """
    if value is None and optional:
        return None
    allowed = tuple(choices)
    if isinstance(value, bool) or value not in allowed:
        listed = ", ".join(map(str, allowed))
        kind = what or str(name).rsplit(".", 1)[-1]
        null = " or null" if optional else ""
        raise InvalidOptionError(name, f"unknown {kind} {value!r}; choose one of {listed}{null}")
    return value


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
