"""Small pieces shared by the bench studies (:mod:`leanecg.bench.labels`, :mod:`leanecg.bench.leads`) and
their ``benchmarks/*.py`` scripts: a digest of record lists, torch thread settings that are restored,
the command line of a seeded study script, and the merging of seeds run in separate invocations."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from leanecg.tasks.base import sha256_lines  # noqa: F401  (moved to leanecg.tasks; importable here)


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)`` (inference too, not only training); the previous
    setting is restored afterwards. ``None`` leaves the setting alone."""
    import torch

    prev = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(prev)


def study_main(
    argv: list[str] | None,
    *,
    description: str,
    run: Callable[[Path, Path, argparse.Namespace, Callable[[str], None]], Any],
    out_dir: Path,
    markdown: str,
    default_seeds: Sequence[int] = (0, 1, 2),
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """The command line of a ``benchmarks/*.py`` study script: ``--data-dir``, ``--out-dir``, ``--seeds``,
    ``--threads``, ``--tiny`` (plus ``add_arguments``), then ``run(data_dir, out_dir, args, log)``; prints
    ``out_dir/markdown`` to stdout.

    Args:
        argv: arguments (``None``: ``sys.argv[1:]``).
        description: the ``--help`` description (first line of the script's docstring).
        run: runs the study; ``log`` writes a progress line to stderr.
        out_dir: default of ``--out-dir`` (the script's ``benchmarks/results``).
        markdown: the Markdown file name the study writes into ``out_dir``.
        default_seeds: seeds when ``--seeds`` is not given.
        add_arguments: adds study-specific options to the parser.

    Returns:
        Exit status: 0, or 2 after a :class:`leanecg.errors.LeanECGError` (printed to stderr).
    """
    from leanecg.data import resolve_data_dir
    from leanecg.errors import LeanECGError

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--out-dir", type=Path, default=Path(out_dir))
    ap.add_argument("--seeds", type=int, nargs="+", default=list(default_seeds))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tiny", action="store_true", help="smoke run on a few records (not a result)")
    if add_arguments is not None:
        add_arguments(ap)
    args = ap.parse_args(argv)
    try:
        run(
            resolve_data_dir(args.data_dir),
            args.out_dir,
            args,
            lambda m: print(m, file=sys.stderr, flush=True),
        )
    except LeanECGError as exc:
        print(f"error: {exc.path}: {exc.problem}", file=sys.stderr)
        return 2
    sys.stdout.write((args.out_dir / markdown).read_text(encoding="utf-8"))
    return 0


def finite_mean(values: Sequence[Any]) -> float | None:
    """Mean of the finite numbers among ``values`` (``None``, NaN and inf left out); ``None`` if there are none."""
    import math

    import numpy as np

    v = [float(x) for x in values if isinstance(x, int | float | np.number) and math.isfinite(x)]
    return float(np.mean(v)) if v else None


def comparable_config(config: dict[str, Any]) -> dict[str, Any]:
    """A study's settings without those that do not change its numbers (seeds, threads, extra)."""
    return {k: v for k, v in config.items() if k not in ("seeds", "num_threads", "extra")}


def comparable_run(path: Path, benchmark: str, config: dict[str, Any], tiny: bool) -> dict[str, Any] | None:
    """The results document in ``path`` of an earlier run of ``benchmark`` with the same settings
    (:func:`comparable_config`) and the same ``tiny`` flag, or ``None`` (no file, unreadable, or another
    study / settings): what a seeded study may merge its new seeds into."""
    import json

    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("benchmark") != benchmark or bool(doc.get("tiny")) != tiny:
        return None
    if comparable_config(doc.get("config") or {}) != comparable_config(json.loads(json.dumps(config))):
        return None
    return doc


def merge_seeds(
    path: Path, benchmark: str, config: dict[str, Any], tiny: bool, seeds: Sequence[int]
) -> list[dict[str, Any]]:
    """Entries (``{"seed": ...}`` dicts) of an earlier run in ``path`` with the same settings and other seeds."""
    doc = comparable_run(path, benchmark, config, tiny)
    return [] if doc is None else [e for e in doc.get("entries", []) if e.get("seed") not in set(seeds)]
