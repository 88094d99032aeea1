"""Install layers and start-up (issue 13, items 1 and 3): the runtime install (``pip install leanecg``) holds
no training stack; the inference commands run on it and never import torch, onnx, matplotlib or sklearn;
the training-stack commands say in one line which extra they need.

"Runtime-only" is simulated with ``tests/noextra/sitecustomize.py`` on ``PYTHONPATH``: it makes the training
extra's modules unimportable (``import torch`` -> ``ModuleNotFoundError``), as on a fresh runtime install.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clihelp import run_cli
from conftest import REPO

NOEXTRA = REPO / "tests" / "noextra"
EXAMPLE = REPO / "src" / "leanecg" / "examples" / "mitdb" / "233"
HEAVY = ("torch", "onnx", "onnxscript", "matplotlib", "sklearn", "lightgbm", "torchinfo")
TRAIN_EXTRA_ERROR = 'needs the training extra: pip install "leanecg[train]"'


def _noextra_env(tmp_path: Path) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(NOEXTRA), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "LEANECG_CACHE": str(tmp_path / "cache")}


def test_runtime_dependencies_hold_no_training_stack() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    meta = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def names(reqs: list[str]) -> set[str]:
        return {r.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower() for r in reqs}

    runtime = names(meta["dependencies"])
    assert runtime == {"numpy", "scipy", "pandas", "wfdb", "typer", "rich", "onnxruntime"}
    extras = meta["optional-dependencies"]
    assert {"torch", "onnx", "scikit-learn", "lightgbm", "matplotlib"} <= names(extras["train"])
    assert {"fastapi", "uvicorn", "python-multipart"} <= names(extras["serve"])
    assert any("train" in r and "serve" in r for r in extras["dev"])  # the tests need both


def test_shim_blocks_the_training_extra(tmp_path: Path) -> None:
    code = "import importlib.util as u; print(u.find_spec('torch')); import torch"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **_noextra_env(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1 and "ModuleNotFoundError" in proc.stderr, proc.stderr


def _imports_of_cli(
    argv: list[str], watch: list[str], cwd: Path, env: dict[str, str] | None = None
) -> list[str]:
    """Run ``leanecg *argv`` in a fresh interpreter (it must succeed); its output lines, then as the last line
    the JSON list of the ``watch`` modules it imported."""
    code = (
        "import sys, json\n"
        "from leanecg import cli\n"
        f"sys.argv = ['leanecg', *{json.dumps(argv)}]\n"
        "try:\n    cli.main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        f"print()\nprint(json.dumps(sorted(m for m in {list(watch)!r} if m in sys.modules)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()


def test_beats_runs_without_torch_and_imports_nothing_heavy(tmp_path: Path) -> None:
    """``leanecg beats`` with the shipped model: the ONNX file in ONNX Runtime; torch unimportable changes
    nothing in the output, and torch / onnx / matplotlib / sklearn are never imported (even when present)."""
    base = ["beats", str(EXAMPLE), "--model", "mitdb-aami", "-q"]
    plain = run_cli([*base, "--out", str(tmp_path / "a.csv")], tmp_path)
    assert plain.returncode == 0, plain.stderr
    blocked = run_cli([*base, "--out", str(tmp_path / "b.csv")], tmp_path, env=_noextra_env(tmp_path))
    assert blocked.returncode == 0, blocked.stderr
    assert blocked.stderr == ""
    a, b = (tmp_path / "a.csv").read_text(), (tmp_path / "b.csv").read_text()
    assert a == b and a.startswith("sample,label,prob_N,prob_S,prob_V,prob_F\n") and len(a.splitlines()) > 40
    # what the same command imports, with the training stack installed
    lines = _imports_of_cli([*base, "--out", str(tmp_path / "c.csv")], list(HEAVY), tmp_path)
    assert json.loads(lines[-1]) == []
    assert (tmp_path / "c.csv").read_text() == a


def test_stream_imports_nothing_heavy(tmp_path: Path) -> None:
    """``leanecg stream`` on a WFDB record (format 212, read by numpy) with the shipped model: neither the
    training stack (torch, onnx, matplotlib, sklearn) nor wfdb-python and what it pulls (pandas) is
    imported, even though all are installed here (whole-process start-up, issue 13)."""
    heavy = [*HEAVY, "wfdb", "pandas"]
    argv = ["stream", str(EXAMPLE), "--model", "mitdb-aami", "--threads", "1", "--events", "none", "--json"]
    env = {**os.environ, "LEANECG_CACHE": str(tmp_path / "cache")}
    lines = _imports_of_cli(argv, heavy, tmp_path, env)
    summary = json.loads(lines[0])
    assert summary["backend"] == "onnxruntime" and summary["rows"] > 40  # it did stream the record
    assert json.loads(lines[-1]) == []


def test_stream_with_cached_designs_imports_no_scipy_signal(tmp_path: Path) -> None:
    """The first ``leanecg stream`` designs its filters with scipy.signal and caches them; a second run reads
    them and runs scipy's compiled kernels without importing ``scipy.signal`` (nor scipy's stats,
    interpolate, ndimage, special), with the same events and the same rows, bit for bit (issue 13)."""
    scipy_parts = ["scipy.signal", "scipy.stats", "scipy.interpolate", "scipy.ndimage", "scipy.special"]
    env = {**os.environ, "LEANECG_CACHE": str(tmp_path / "cache")}
    runs = []
    for k in range(2):
        argv = ["stream", str(EXAMPLE), "--model", "mitdb-aami", "--threads", "1", "--events", "all"]
        argv += ["--out", str(tmp_path / f"rows{k}.csv")]
        lines = _imports_of_cli(argv, scipy_parts, tmp_path, env)
        runs.append((json.loads(lines[-1]), [ln for ln in lines[:-1] if " at " in ln]))
    (cold, cold_events), (warm, warm_events) = runs
    assert "scipy.signal" in cold  # the designs were computed ...
    assert sorted((tmp_path / "cache" / "designs").glob("*.npz"))  # ... and stored
    assert warm == []
    assert warm_events == cold_events and len(cold_events) > 10
    rows = (tmp_path / "rows0.csv").read_bytes()
    assert rows == (tmp_path / "rows1.csv").read_bytes() and len(rows.splitlines()) > 40


def test_predict_with_cached_designs_imports_no_scipy_signal(tmp_path: Path) -> None:
    """``leanecg predict`` with the shipped rhythm model: once the filter designs are cached, its record features
    import neither ``scipy.signal`` (peaks with scipy's compiled helpers, the Hann window computed as scipy does)
    nor ``scipy.ndimage`` (:mod:`leanecg.signal.smoothing`) nor the training stack; the same CSV both times."""
    record = REPO / "src" / "leanecg" / "examples" / "cinc2017" / "A00405"
    env = {**os.environ, "LEANECG_CACHE": str(tmp_path / "cache")}
    runs = []
    for k in range(2):
        argv = ["predict", str(record), "--model", "cinc2017", "-q", "--out", str(tmp_path / f"p{k}.csv")]
        runs.append(
            json.loads(
                _imports_of_cli(
                    argv, ["scipy.signal", "scipy.ndimage", "scipy.stats", *HEAVY], tmp_path, env
                )[-1]
            )
        )
    assert runs[1] == []
    out = (tmp_path / "p0.csv").read_text()
    assert out == (tmp_path / "p1.csv").read_text() and out.startswith("record,label,prob_N")


@pytest.mark.parametrize(
    "args",
    [
        ["bench", "mitdb-aami"],
        ["pretrain", "--method", "simclr", "--out", "enc"],
        ["compress", "cinc2017", "--prune", "0.5"],
        ["export", "cinc2017", "--out", "m.onnx"],
    ],
)
def test_training_commands_name_the_extra(tmp_path: Path, args: list[str]) -> None:
    proc = run_cli(args, tmp_path, env=_noextra_env(tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"error: leanecg {args[0]}: {TRAIN_EXTRA_ERROR}"
    help_ = run_cli([args[0], "--help"], tmp_path, env=_noextra_env(tmp_path))
    assert help_.returncode == 0 and "Usage" in help_.stdout  # --help still works


def test_runtime_commands_without_torch(tmp_path: Path) -> None:
    """predict and stream run on the runtime alone; asking for the torch model says what to install."""
    env = _noextra_env(tmp_path)
    examples = REPO / "src" / "leanecg" / "examples" / "cinc2017"
    proc = run_cli(
        ["predict", str(examples), "--model", "cinc2017", "--out", "p.csv", "-q"], tmp_path, env=env
    )
    assert proc.returncode == 0, proc.stderr
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert rows[0] == "record,label,prob_N,prob_A,prob_O,prob_noise" and len(rows) == 5
    proc = run_cli(
        ["stream", str(EXAMPLE), "--model", "mitdb-aami", "--json", "--events", "none"], tmp_path, env=env
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["backend"] == "onnxruntime" and summary["rows"] > 40
    proc = run_cli(["stream", str(EXAMPLE), "--model", "mitdb-aami", "--backend", "torch"], tmp_path, env=env)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: ") and "mitdb-aami" in line and TRAIN_EXTRA_ERROR in line
