"""docs/python-api.md and ``help(leanecg)``: every ``python`` snippet runs as written, on its own, in a fresh
folder, with no data folder (the snippets use the example ECGs and models shipped with LeanECG)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

import leanecg

DOC = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"


def _blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"), flags=re.S | re.M)


def _run(code: str, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "nodata"
    empty.mkdir()
    monkeypatch.setenv("LEANECG_DATA", str(empty))  # as on a fresh install: no data folder
    monkeypatch.setenv("LEANECG_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    exec(compile(code, name, "exec"), {"__name__": "__main__"})


def test_the_page_covers_the_journey() -> None:
    text = DOC.read_text(encoding="utf-8")
    for heading in (
        "## Load a record",
        "## Detect R peaks",
        "## Open a shipped model",
        "## Predict on files",
        "## Predict on arrays",
        "## Stream",
        "## Export to ONNX",
    ):
        assert heading in text
    assert len(_blocks()) >= 8
    readme = (DOC.parents[1] / "README.md").read_text(encoding="utf-8")
    assert "(docs/python-api.md)" in readme


@pytest.mark.parametrize("index", range(len(_blocks())))
def test_python_api_snippet_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _run(_blocks()[index], f"docs/python-api.md block {index + 1}", tmp_path, monkeypatch)


def test_package_docstring_shows_a_shipped_model_predicting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = leanecg.__doc__ or ""
    assert 'open_model("mitdb-aami")' in doc and "predict_records" in doc and "docs/python-api.md" in doc
    code = textwrap.dedent(re.match(r"((?:\n|    .*\n)+)", doc.split("::\n", 1)[1]).group(1))
    _run(code, "leanecg.__doc__", tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert re.search(r"\['[NAO~]'\]", out)
