"""Test shim: with ``tests/noextra`` on ``PYTHONPATH``, the modules named in ``$LEANECG_BLOCK_MODULES``
(comma-separated top-level names, default: the training extra's) cannot be imported, as on a runtime-only
install (``pip install leanecg``): ``import torch`` raises ``ModuleNotFoundError`` and
``importlib.util.find_spec("torch")`` finds nothing. Used by ``tests/test_runtime_layers.py``."""

import os
import sys

_BLOCKED = frozenset(
    m.strip()
    for m in os.environ.get(
        "LEANECG_BLOCK_MODULES", "torch,torchinfo,onnx,onnxscript,sklearn,lightgbm,matplotlib"
    ).split(",")
    if m.strip()
)


class _Blocker:
    """A meta-path finder that refuses the blocked modules and their submodules."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".")[0] in _BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by tests/noextra)", name=name)
        return None


sys.meta_path.insert(0, _Blocker())
