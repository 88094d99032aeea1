"""The layer rule of docs/architecture.md: a module imports only from its own or lower layers.

Every module under ``src/leanecg`` is parsed with :mod:`ast`; every import counts, also those inside
functions and under ``TYPE_CHECKING``. A test on a synthetic tree checks that an upward import fails.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "leanecg"

#: Floors, lowest first (docs/architecture.md). A top-level module counts as the floor of its name.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "atomic", "config", "provenance", "_lazy", "registry", "cache_root"),
    ("signal",),
    ("data",),
    ("features", "evaluate"),
    ("models",),
    ("train",),
    ("tasks",),
    ("package",),
    ("compress", "ssl", "explain", "deploy", "quickstart"),
    ("bench",),
    ("cli",),
)
#: Entry points above every floor: the package's own ``__init__`` / ``__main__``.
TOP = ("__init__", "__main__")
LEVEL = {name: i for i, floor in enumerate(LAYERS) for name in floor} | {n: len(LAYERS) for n in TOP}


def _floor(rel: tuple[str, ...]) -> str:
    """The floor name of a module from its path parts under ``leanecg`` (no suffix)."""
    return rel[0]


def _imported(tree: ast.AST, rel: tuple[str, ...], is_pkg: bool) -> list[tuple[int, str]]:
    """``(line, leanecg.module)`` of every leanecg import in ``tree`` (relative ones resolved)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(rel if is_pkg else rel[:-1])
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(["leanecg", *base, *([node.module] if node.module else [])])
            else:
                mod = node.module or ""
            if mod == "leanecg":  # ``from leanecg import cli``: each name is a floor (``__version__`` is not)
                out += [(node.lineno, f"leanecg.{a.name}") for a in node.names if not a.name.startswith("__")]
            else:
                out.append((node.lineno, mod))
    return [(line, m) for line, m in out if m.split(".")[0] == "leanecg" and "." in m]


def upward_imports(root: Path) -> list[str]:
    """``"path:line: a (L3) imports leanecg.b... (L5)"`` for every import from a higher floor, and for
    imports of floors the layer table does not know; cycles inside a floor are out of scope here."""
    offenders = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        is_pkg = parts[-1] == "__init__"
        rel = parts[:-1] if is_pkg and len(parts) > 1 else parts
        me = _floor(rel)
        if me not in LEVEL:
            offenders.append(f"{path.relative_to(root)}: floor {me!r} is not in the layer table")
            continue
        for line, mod in _imported(ast.parse(path.read_text(encoding="utf-8")), rel, is_pkg):
            other = mod.split(".")[1]
            if other == me:
                continue
            if other not in LEVEL:
                offenders.append(
                    f"{path.relative_to(root)}:{line}: imports {mod}, a floor not in the layer table"
                )
            elif LEVEL[other] > LEVEL[me]:
                offenders.append(
                    f"{path.relative_to(root)}:{line}: {me} (L{LEVEL[me]}) imports {mod} (L{LEVEL[other]})"
                )
    return offenders


def same_floor_cycles(root: Path) -> list[tuple[str, str]]:
    """Pairs of different subpackages of one floor that import each other (allowed only one way)."""
    edges: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        is_pkg = parts[-1] == "__init__"
        rel = parts[:-1] if is_pkg and len(parts) > 1 else parts
        me = _floor(rel)
        for _, mod in _imported(ast.parse(path.read_text(encoding="utf-8")), rel, is_pkg):
            other = mod.split(".")[1]
            if other != me and LEVEL.get(other) == LEVEL.get(me):
                edges.setdefault(me, set()).add(other)
    return sorted((a, b) for a in edges for b in edges[a] if a < b and a in edges.get(b, set()))


def test_no_module_imports_from_a_higher_layer() -> None:
    offenders = upward_imports(SRC)
    assert not offenders, "imports from a higher layer (docs/architecture.md):\n" + "\n".join(offenders)


def test_no_import_cycle_inside_a_floor() -> None:
    assert same_floor_cycles(SRC) == []


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    "text",
    [
        "from leanecg.train.trainer import fit\n",  # top level
        "def f():\n    from leanecg.bench import runner\n",  # deferred, inside a function
        "import leanecg.package.model\n",
        "from ..train import trainer\n",  # relative
        "from leanecg import bench\n",  # a floor imported by name from the package
        "def main():\n    from leanecg import cli\n",
    ],
)
def test_an_upward_import_is_reported(tmp_path: Path, text: str) -> None:
    root = tmp_path / "leanecg"
    _write(root, "__init__.py", "")
    _write(root, "errors.py", "")
    _write(root, "models/__init__.py", "")
    _write(
        root, "models/ok.py", "from leanecg.errors import x\nfrom leanecg.signal import y\nfrom . import ok\n"
    )
    assert upward_imports(root) == []
    _write(root, "models/bad.py", text)
    offenders = upward_imports(root)
    assert len(offenders) == 1 and offenders[0].startswith("models/bad.py:"), offenders
    assert "models (L4) imports leanecg." in offenders[0]


def test_a_main_module_is_checked_like_any_other(tmp_path: Path) -> None:
    """``python -m leanecg.train`` is ``train/__main__.py``: in the train floor, not an entry point above every
    floor (only the package's own ``leanecg/__main__.py`` is)."""
    root = tmp_path / "leanecg"
    _write(root, "__main__.py", "from leanecg import cli\n")
    assert upward_imports(root) == []
    _write(root, "train/__main__.py", "def main():\n    from leanecg import cli\n")
    assert upward_imports(root) == ["train/__main__.py:2: train (L5) imports leanecg.cli (L10)"]


def test_an_unknown_floor_and_a_same_floor_cycle_are_reported(tmp_path: Path) -> None:
    root = tmp_path / "leanecg"
    _write(root, "extras/__init__.py", "")
    assert upward_imports(root) == ["extras/__init__.py: floor 'extras' is not in the layer table"]
    (root / "extras" / "__init__.py").unlink()
    _write(root, "deploy/a.py", "from leanecg.explain import b\n")
    assert same_floor_cycles(root) == []
    _write(root, "explain/b.py", "def f():\n    from leanecg.deploy import a\n")
    assert same_floor_cycles(root) == [("deploy", "explain")]
