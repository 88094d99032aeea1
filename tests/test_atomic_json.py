"""Results JSON is strict: NaN / inf become null, numpy values become numbers, writes are atomic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from leanecg.atomic import write_json


def test_write_json_is_strict_json(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    doc = {
        "ppv": float("nan"),
        "values": [1.5, np.float32("inf"), np.array([2.0, np.nan]), (np.int64(3), -np.inf)],
        "path": tmp_path,
        "ok": True,
    }
    write_json(target, doc)
    text = target.read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    parsed = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict constant {c}"))
    assert parsed == {
        "ppv": None,
        "values": [1.5, None, [2.0, None], [3, None]],
        "path": str(tmp_path),
        "ok": True,
    }
    assert doc["ppv"] != doc["ppv"]  # the caller's object is not modified (NaN still NaN)
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temp file left behind


def test_write_json_unserialisable_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    with pytest.raises(TypeError):
        write_json(target, {"x": object()})
    assert list(tmp_path.iterdir()) == []
