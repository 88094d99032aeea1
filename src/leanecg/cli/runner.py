"""The console-script entry point around the typer app: ``error: <file>: <problem>`` and exit 2 for bad input,
``interrupted`` and exit 130 / 143 on Ctrl-C / SIGTERM, and the one-line refusal of training-stack commands
on a runtime-only install."""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from typing import Any

import typer

from leanecg.cli.render import err_console, print_error
from leanecg.errors import Interrupted, LeanECGError

#: Commands that run on the training stack (``pip install "leanecg[train]"``), with the modules each needs.
TRAIN_COMMANDS = {
    "bench": ("torch", "sklearn", "lightgbm", "matplotlib"),
    "pretrain": ("torch",),
    "compress": ("torch", "onnx", "matplotlib"),
    "export": ("torch", "onnx", "onnxscript"),
    "study": ("torch", "sklearn", "lightgbm", "matplotlib"),
}
#: Top-level modules of the training extra (a missing one met at run time gets the same one-line error).
TRAIN_MODULES = ("torch", "torchinfo", "onnx", "onnxscript", "sklearn", "lightgbm", "matplotlib")


def raise_on_signals() -> Callable[[], Interrupted | None]:
    """SIGINT (Ctrl-C) and SIGTERM raise :class:`~leanecg.errors.Interrupted` in the main thread, once:
    the stack unwinds (temporary output files are removed) and :func:`main` exits 130 / 143. A repeated
    signal while unwinding is ignored, so the clean-up finishes.

    Returns a function that gives the :class:`~leanecg.errors.Interrupted` raised so far (``None``: no
    signal): code that catches the exception on its way out can turn it into another one (an extension
    module interrupted while it is imported fails with ``ImportError: initialization failed``), and the
    user still stopped the command. A signal that lands inside a callback Python cannot raise from (the
    exception reaches :data:`sys.unraisablehook` instead) is delivered again, so it is never lost."""
    import signal
    import threading

    state: dict[str, Interrupted | None] = {"raised": None}
    in_hook = threading.Event()

    def again(signum: int) -> None:
        """The signal once more, from another thread, a moment later (its handler runs in the main thread)."""

        def later() -> None:
            time.sleep(0.001)
            signal.raise_signal(signum)

        threading.Thread(target=later, daemon=True).start()

    def handler(signum: int, frame: Any) -> None:
        if state["raised"] is None:
            if in_hook.is_set():  # still inside the hook below, where a raise is dropped too: later
                again(signum)
                return
            stop = Interrupted(signum)
            state["raised"] = stop
            raise stop

    previous_hook = sys.unraisablehook

    def unraisable(info: Any) -> None:
        # the handler ran inside a callback Python cannot raise from (a weakref callback, __del__, the
        # import system's module-lock callback): the exception was dropped. Deliver the signal again, so
        # the handler runs once the main thread is out of the callback.
        stop = state["raised"]
        if stop is None or info.exc_value is not stop:
            previous_hook(info)
            return
        in_hook.set()
        try:
            state["raised"] = None
            again(stop.signum)
        finally:
            in_hook.clear()

    installed = False
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, handler)
            installed = True
        except (ValueError, OSError):  # not the main thread, or a platform without the signal
            pass
    if installed:
        sys.unraisablehook = unraisable
    return lambda: state["raised"]


def interrupted(code: int) -> None:
    """Print ``interrupted`` on stderr and exit with ``code``."""
    err_console.print("interrupted", markup=False, highlight=False)
    sys.exit(code)


def train_extra_error(command: str) -> LeanECGError:
    """The error of a training-stack ``command`` run without the training extra."""
    return LeanECGError(f"leanecg {command}", 'needs the training extra: pip install "leanecg[train]"')


def require_train_extra(args: list[str]) -> None:
    """Refuse a training-stack command up front when its modules are not installed (the runtime-only
    install): one line naming the extra to install, exit 2. ``--help`` still works."""
    import importlib.util

    command = args[0] if args else ""
    if command not in TRAIN_COMMANDS or any(a in ("--help", "-h") for a in args[1:]):
        return
    for module in TRAIN_COMMANDS[command]:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise train_extra_error(command)


#: Library names that are not the flag's own parameter name, per command (the words of ``args`` naming it,
#: ``"data fetch"``): ``fetch_dataset(max_records=)`` is ``leanecg data fetch --records``. Every other name
#: maps to the running command's option of the same parameter name (``batch_size`` -> ``--batch-size``).
RENAMED: dict[str, dict[str, str]] = {
    "bench": {"task": "--labels-task"},  # labels_study(task): the study's task, not the bench's TASK
    "compress": {"model": "--model", "out_dir": "--out"},  # the positional MODEL, as other commands say
    "data fetch": {"max_records": "--records"},
    "explain": {"start_s": "--start"},
    "export": {"model": "--model"},
    "pretrain": {"model_name": "--model"},
    "study noisy-labels": {"n_repeats": "--repeats"},
}
#: A name the library marks as an option in its problem text: `` `data_dir` ``.
_MARKED = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)`")


def _running_command(args: list[str]) -> tuple[str, Any] | None:
    """``(words, click command)`` of the (sub)command ``args`` run (``"data fetch"``, ...); ``None`` for
    the bare group."""
    from leanecg.cli.app import app

    group: Any = typer.main.get_command(app)
    command: Any = group
    words: list[str] = []
    for arg in args:  # the (sub)command being run: data fetch, score cinc2017, ...
        sub = getattr(command, "commands", {}).get(arg)
        if sub is None:
            break
        command = sub
        words.append(arg)
    return None if command is group else (" ".join(words), command)


def option_of(param_name: str, args: list[str]) -> str:
    """The CLI spelling of a library parameter name in an error (``lookahead_s`` -> ``--lookahead-s``) when
    the command being run has that parameter (or :data:`RENAMED` maps it); anything else (a file, a name
    the command has no option for) is returned as is. The library names parameters, the CLI names flags. A
    config field (``NoisyConfig.eval_split``, :mod:`leanecg.config`) maps to the flag of its field name."""
    owner, _, field = param_name.rpartition(".")
    if owner[:1].isupper() and owner.isidentifier() and field.isidentifier():
        flag = option_of(field, args)
        return flag if flag != field else param_name
    if not param_name.isidentifier() or not args:
        return param_name
    running = _running_command(args)
    if running is None:
        return param_name
    words, command = running
    for p in command.params:
        if p.name == param_name and p.param_type_name == "option" and p.opts:
            return max(p.opts, key=len)
    return RENAMED.get(words, {}).get(param_name, param_name)


def flag_names(problem: str, args: list[str]) -> str:
    """``problem`` with each option name the library marked in backticks (`` `lead` ``) written as the
    running command's flag (``--lead``); a marked name the command has no flag for keeps its backticks
    (the Python API user sees `` `lead` ``, the parameter to pass)."""

    def flag(m: re.Match[str]) -> str:
        name = option_of(m[1], args)
        return name if name.startswith("--") else m[0]

    return _MARKED.sub(flag, problem)


def error_line(exc: LeanECGError, args: list[str]) -> str:
    """``<file or flag>: <problem>`` of a library error met running ``leanecg <args>``: the parameter it
    names becomes the command's flag, in its path and in its problem text (:func:`flag_names`)."""
    return f"{option_of(exc.path, args)}: {flag_names(exc.problem, args)}"


def _report(exc: LeanECGError, args: list[str]) -> None:
    print_error(error_line(exc, args))
    sys.exit(exc.exit_code)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: one-line errors and exit code 2 for bad input; Ctrl-C (SIGINT) and
    SIGTERM print ``interrupted`` and exit 130 / 143, leaving no temporary file behind."""
    from leanecg.cli.app import app
    from leanecg.cli.stream import bare_events_flag

    args = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("LEANECG_DEBUG", "") not in ("", "0")
    signalled = raise_on_signals()
    try:
        require_train_extra(args)
        rv = app(args=bare_events_flag(args), standalone_mode=False)
        if rv == 130:  # typer turns a KeyboardInterrupt it catches into exit code 130 and returns it
            interrupted(130)
        if isinstance(rv, int) and not isinstance(rv, bool) and rv != 0:  # a typer.Exit(code) raised
            sys.exit(rv)
    except Interrupted as exc:
        if debug:
            raise
        interrupted(exc.exit_code)
    except LeanECGError as exc:
        if debug:
            raise
        if (stop := signalled()) is not None:  # the interrupt, turned into another error on its way out
            interrupted(stop.exit_code)
        _report(exc, args)
    except KeyboardInterrupt:
        interrupted(130)
    except SystemExit:
        raise
    except (typer.Exit, typer.Abort) as exc:
        sys.exit(getattr(exc, "exit_code", 1))
    except Exception as exc:  # usage errors (click/typer) and anything unexpected
        if (stop := signalled()) is not None and not debug:  # e.g. an import interrupted: ImportError
            interrupted(stop.exit_code)
        train_module = (
            isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in TRAIN_MODULES
        )
        if train_module and not debug:  # a module of the training extra, met on a runtime-only install
            command = next((a for a in args if not a.startswith("-")), "")
            err = train_extra_error(command)
            print_error(str(err))
            sys.exit(err.exit_code)
        if callable(getattr(exc, "show", None)) and hasattr(exc, "exit_code"):
            exc.show()  # e.g. "Usage: ... Error: Missing option '--out'."
            sys.exit(exc.exit_code)
        if debug:
            raise
        print_error(f"internal error ({type(exc).__name__}: {exc}); rerun with LEANECG_DEBUG=1 and report it")
        sys.exit(1)
