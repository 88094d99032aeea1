"""The ``leanecg`` command line.

Thin by design: every command parses its arguments, calls library functions and renders the result.
Any :class:`~leanecg.errors.LeanECGError` becomes ``error: <file>: <problem>`` on stderr and exit 2 (a library
error naming a parameter, e.g. ``batch_size``, names the command's flag, ``--batch-size``). Set
``LEANECG_DEBUG=1`` to see full tracebacks instead. Ctrl-C (SIGINT) and SIGTERM print ``interrupted`` and
exit 130 / 143; the output file being written is discarded (its temporary file removed).

Modules: :mod:`~leanecg.cli.app` (the typer app), :mod:`~leanecg.cli.runner` (:func:`main`: errors, exit codes,
signals), :mod:`~leanecg.cli.render` (consoles, progress, tables), :mod:`~leanecg.cli.options` (shared options
and their range checks), and one module per command group.
"""

from __future__ import annotations

from leanecg.cli.app import app
from leanecg.cli.options import STREAM_EVENTS_EVERY
from leanecg.cli.options import check_option as _check_option
from leanecg.cli.runner import TRAIN_COMMANDS, TRAIN_MODULES, main
from leanecg.cli.stream import bare_events_flag as _bare_events_flag

__all__ = [
    "STREAM_EVENTS_EVERY",
    "TRAIN_COMMANDS",
    "TRAIN_MODULES",
    "_bare_events_flag",
    "_check_option",
    "app",
    "main",
]
