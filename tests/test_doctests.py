"""The runnable examples (``>>>``) in the docstrings of the main entry points work, offline and fast.

The modules of the inference path run their examples in a fresh interpreter that must not import torch,
so an example cannot quietly pull the training stack into ``load_record`` / ``detect_rpeaks`` / ...
"""

from __future__ import annotations

import doctest
import importlib
import json
import subprocess
import sys

import pytest

#: module -> least number of examples it must hold (a deleted example fails the test too).
TORCH_FREE = {
    "leanecg.errors": 6,
    "leanecg.config": 3,
    "leanecg.data.loaders": 8,
    "leanecg.signal.rpeaks": 6,
    "leanecg.signal.pipeline": 5,
    "leanecg.signal.rhythm_gate": 4,
    "leanecg.signal.polarity": 4,
    "leanecg.cli.render": 4,
    "leanecg.evaluate.cinc2017": 8,
    "leanecg.evaluate.cinc2021": 13,
    "leanecg.evaluate.beat_files": 6,
    "leanecg.package.open": 8,
}
WITH_TORCH = {"leanecg.evaluate.cost.report": 4, "leanecg.models.registry": 8}

_RUNNER = """
import doctest, importlib, json, sys
out = {}
for name in sys.argv[1:]:
    res = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS, verbose=False)
    out[name] = [res.failed, res.attempted]
out["torch imported"] = "torch" in sys.modules
print(json.dumps(out))
"""


def test_torch_free_examples_run_without_torch() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _RUNNER, *TORCH_FREE], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not result.pop("torch imported"), "an example (or its module) imported torch"
    for name, least in TORCH_FREE.items():
        failed, attempted = result[name]
        assert failed == 0, f"{name}: {failed} example(s) failed:\n{proc.stdout}"
        assert attempted >= least, f"{name}: only {attempted} example lines (expected >= {least})"


@pytest.mark.parametrize("name", sorted(WITH_TORCH))
def test_torch_examples_run(name: str) -> None:
    pytest.importorskip("torch")
    res = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS, verbose=False)
    assert res.failed == 0
    assert res.attempted >= WITH_TORCH[name]
