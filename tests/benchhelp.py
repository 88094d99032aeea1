"""Tiny bench runs trained once per test session and shared by the tests that need *a* trained package
(the ``tiny_mitdb_bench`` / ``tiny_cinc2017_bench`` fixtures of ``conftest.py``)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass(frozen=True)
class TinyBench:
    """A finished ``leanecg bench TASK --tiny --save-models`` run (a smoke run, not a result).

    ``root`` holds ``results/TASK/`` (result JSON per model, ``results.md``, plots, ``report.html``),
    ``models/TASK/MODEL/`` (a package per deep model) and ``cache/`` (the records it decoded: point
    ``LEANECG_CACHE`` there to reuse them); ``stdout`` / ``stderr``: what the run printed (its table; its
    progress log).
    """

    root: Path
    task: str
    models: tuple[str, ...]
    stdout: str
    stderr: str

    @property
    def results(self) -> Path:
        """The results folder ``results/TASK/``."""
        return self.root / "results" / self.task

    @property
    def cache(self) -> Path:
        """The run's ``LEANECG_CACHE``."""
        return self.root / "cache"

    def package(self, model: str) -> Path:
        """The model package folder of ``model`` (a deep model of the run)."""
        return self.root / "models" / self.task / model

    def result(self, model: str) -> dict[str, Any]:
        """The result document of ``model`` (read by :func:`leanecg.evaluate.results.load_results`)."""
        from leanecg.evaluate.results import load_results

        (result,) = [r for r in load_results(self.results) if r["model"] == model]
        return result


def build_once(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """The folder ``name`` in the session's temporary root, filled by ``build(folder)`` once per test session:
    under pytest-xdist the workers share the root (``basetemp``'s parent) and a file lock, so the first
    worker builds and the others wait and reuse; a failed build fails them too, with its message (without
    the ``filelock`` package each worker builds its own copy)."""
    base = factory.getbasetemp()
    try:
        from filelock import FileLock
    except ImportError:
        lock: Any = contextlib.nullcontext()
    else:
        if os.environ.get("PYTEST_XDIST_WORKER"):
            base = base.parent
        lock = FileLock(str(base / f"{name}.lock"))
    folder, failed = base / name, base / f"{name}.failed"
    with lock:
        if failed.is_file():
            pytest.fail(f"building {name} failed (in another worker): {failed.read_text()}", pytrace=False)
        if not (folder / ".built").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            try:
                build(folder)
            except Exception as exc:
                failed.write_text(f"{type(exc).__name__}: {exc}", encoding="utf-8")
                raise
            (folder / ".built").touch()
    return folder


def tiny_bench(
    factory: pytest.TempPathFactory,
    data: Path,
    task: str,
    models: tuple[str, ...],
    in_process: bool,
    cv: int | None = None,
) -> TinyBench:
    """A :class:`TinyBench` of ``models`` on ``task`` (bootstrap: 50 resamples; ``cv``: K-fold CV),
    trained once per session: by :func:`leanecg.bench.runner.run_benchmark` in this process
    (``in_process``) or through the real CLI in a subprocess."""
    if not (data / TASK_DATASETS[task]).is_dir():
        pytest.skip(f"{TASK_DATASETS[task]} not in the shared data")

    def build(root: Path) -> None:
        results, models_dir = root / "results", root / "models"
        if in_process:
            from leanecg.bench.runner import run_benchmark

            log: list[str] = []
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("LEANECG_CACHE", str(root / "cache"))
                mp.delenv("LEANECG_DEBUG", raising=False)
                run_benchmark(
                    task, list(models), data, results, tiny=True, n_boot=50, log=log.append,
                    save_models=models_dir, cv=cv,
                )  # fmt: skip
            stdout = (results / task / "results.md").read_text(encoding="utf-8")
            stderr = "".join(f"{line}\n" for line in log)
        else:
            from clihelp import run_cli

            args = ["bench", task, "--models", ",".join(models), "--tiny", "--n-boot", "50"]
            args += ["--data-dir", str(data), "--out", str(results), "--save-models", str(models_dir)]
            proc = run_cli([*args, "--cv", str(cv)] if cv else args, root, timeout=900)
            assert proc.returncode == 0, proc.stderr
            stdout, stderr = proc.stdout, proc.stderr
        (root / "stdout.txt").write_text(stdout, encoding="utf-8")
        (root / "stderr.txt").write_text(stderr, encoding="utf-8")

    root = build_once(factory, f"tiny-bench-{task}", build)
    return TinyBench(
        root,
        task,
        models,
        (root / "stdout.txt").read_text(encoding="utf-8"),
        (root / "stderr.txt").read_text(encoding="utf-8"),
    )


TASK_DATASETS = {"mitdb-aami": "mitdb", "cinc2017": "cinc2017"}
