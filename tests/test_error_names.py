"""The library names parameters, the CLI names flags (issue #16).

A library error names the Python argument or config field (``lead``, ``data_dir``, ``NoisyConfig.threshold``)
in its path, and marks an option it mentions in its problem text as `` `lead` ``; :mod:`leanecg.cli.runner`
turns both into the running command's flags. An ``ast`` scan keeps flag spellings (``--lead``) out of the
errors of every module outside ``src/leanecg/cli/``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from leanecg.cli.runner import error_line, flag_names, option_of
from leanecg.errors import InvalidOptionError, LeanECGError

SRC = Path(__file__).resolve().parents[1] / "src" / "leanecg"

#: Calls that build a user error from their arguments: the error types, the shared checks, the registries.
ERROR_CALLS = re.compile(r"(Error|Problem)$|^(require|check_number|check_positive|check_choice|Registry)$")
#: A CLI flag: ``--lead``, not ``a--b`` nor a ``--`` separator.
FLAG = re.compile(r"(?<![\w-])--[a-z]")
#: A whole command quoted in backticks (`` `leanecg data fetch mitdb` ``): a copyable command may carry flags.
QUOTED = re.compile(r"`[^`]*`")


def _callee(node: ast.Call) -> str:
    f = node.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _strings(node: ast.AST) -> list[ast.Constant]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def flags_in_errors(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, text)`` of each string literal that spells a CLI flag in the arguments of an error call
    (:data:`ERROR_CALLS`) or in a function's default argument (``source="--device"`` ends up in errors)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ERROR_CALLS.search(_callee(node)):
            parts = [*node.args, *(k.value for k in node.keywords)]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            parts = [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
        else:
            continue
        for arg in parts:
            for s in _strings(arg):
                if FLAG.search(QUOTED.sub("", s.value)):
                    found.append((s.lineno, s.value))
    return found


def test_no_library_error_names_a_cli_flag() -> None:
    offenders = [
        f"{path.relative_to(SRC)}:{line}: {text!r}"
        for path in sorted(SRC.rglob("*.py"))
        if "cli" not in path.relative_to(SRC).parts[:1]
        for line, text in flags_in_errors(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert not offenders, "library errors name CLI flags (name the parameter instead):\n" + "\n".join(
        offenders
    )


@pytest.mark.parametrize(
    "code",
    [
        'raise LeanECGError("--lead", "x")',
        'raise InvalidOptionError(p, f"pass --data-dir or {x}")',
        'err = MissingDataError(path=p, problem="(choose one with --lead)")',
        'require(ok, "--fs", "is required")',
        'def f(name, source="--device"):\n    pass',
    ],
)
def test_the_scan_finds_a_flag_in_an_error(code: str) -> None:
    assert len(flags_in_errors(ast.parse(code))) == 1


@pytest.mark.parametrize(
    "code",
    [
        'raise LeanECGError("lead", "choose one with `lead`")',
        'raise LeanECGError(name, "download it with `leanecg data fetch mitdb --data-dir DIR`")',
        'cmd = ["--standalone", "--nproc_per_node"]',
        'log("training with --amp")',
    ],
)
def test_the_scan_leaves_parameters_commands_and_other_strings(code: str) -> None:
    assert flags_in_errors(ast.parse(code)) == []


@pytest.mark.parametrize(
    ("name", "args", "flag"),
    [
        ("batch_size", ["predict", "r.csv"], "--batch-size"),
        ("lookahead_s", ["stream", "-"], "--lookahead-s"),
        ("start_s", ["explain", "r.csv"], "--start"),  # RENAMED: the library's name is not the CLI's
        ("max_records", ["data", "fetch", "mitdb"], "--records"),
        ("NoisyConfig.threshold", ["study", "noisy-labels"], "--threshold"),
        ("NoisyConfig.n_repeats", ["study", "noisy-labels"], "--repeats"),
        ("task", ["bench", "labels"], "--labels-task"),
        ("batch_size", ["stream", "-"], "batch_size"),  # no such option there: the name stays
        ("rec.csv", ["predict", "rec.csv"], "rec.csv"),
        ("lead", [], "lead"),
    ],
)
def test_option_of_maps_a_parameter_to_the_running_commands_flag(
    name: str, args: list[str], flag: str
) -> None:
    assert option_of(name, args) == flag


def test_flag_names_rewrites_marked_options_of_the_running_command() -> None:
    problem = "the record has ECG1, ECG2 (choose one with `lead`); or pass `data_dir`"
    assert flag_names(problem, ["predict", "r.csv"]) == (
        "the record has ECG1, ECG2 (choose one with --lead); or pass `data_dir`"  # predict has no --data-dir
    )
    assert flag_names("see `leanecg data fetch mitdb` or pass `data_dir`", ["data", "fetch", "mitdb"]) == (
        "see `leanecg data fetch mitdb` or pass --data-dir"
    )
    assert flag_names("give `window_s`", []) == "give `window_s`"


def test_error_line_names_flags_in_path_and_problem() -> None:
    err = InvalidOptionError("window_s", "model m states no input length; give `window_s`")
    assert error_line(err, ["stream", "-", "--model", "m"]) == (
        "--window-s: model m states no input length; give --window-s"
    )
    assert (
        error_line(LeanECGError("rec.csv", "no such file"), ["predict", "rec.csv"]) == "rec.csv: no such file"
    )
