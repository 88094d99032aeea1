"""The web viewer (``leanecg serve``, ``/``) and the quickstart's HTML report, rendered in a real browser
(headless Chromium, Debian's ``chromium``; ``.ci/run`` installs it): screenshots are taken and the rendered
page is checked -- beat markers drawn, their classes and colours -- not only that a file exists.

Set ``LEANECG_SCREENSHOT_DIR=docs`` to keep the screenshots (``docs/viewer.png``, ``docs/quickstart-report.png``
are made so).
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from benchhelp import TinyBench
from clihelp import run_cli
from conftest import REPO

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium on this machine (apt-get install chromium; .ci/run installs it)",
)
MITDB = REPO / "src" / "leanecg" / "examples" / "mitdb"
V_RGB = (0xC6, 0x28, 0x28)  # leanecg.deploy.ecg_svg.CLASS_COLOURS["V"], the viewer's too
N_RGB = (0x2E, 0x7D, 0x32)


def _chromium(args: list[str], url: str, tmp: Path) -> str:
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={tmp / 'chromium-profile'}",
        "--virtual-time-budget=20000",
        *args,
        url,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _screenshot(url: str, out: Path, tmp: Path, size: str = "1400,900") -> np.ndarray:
    mpimg = pytest.importorskip("matplotlib.image")
    _chromium([f"--window-size={size}", f"--screenshot={out}"], url, tmp)
    assert out.is_file() and out.stat().st_size > 10_000
    keep = os.environ.get("LEANECG_SCREENSHOT_DIR")
    if keep:
        shutil.copyfile(out, Path(keep) / out.name)
    img = mpimg.imread(out)
    return np.round(np.asarray(img)[..., :3] * 255).astype(int)


def _keep(img: np.ndarray, name: str) -> None:
    """Save a crop of a screenshot as ``name`` in ``LEANECG_SCREENSHOT_DIR`` (when set)."""
    keep = os.environ.get("LEANECG_SCREENSHOT_DIR")
    if keep:
        mpimg = pytest.importorskip("matplotlib.image")
        mpimg.imsave(Path(keep) / name, img.astype(np.uint8))


def _pixels(img: np.ndarray, rgb: tuple[int, int, int], tol: int = 12) -> int:
    return int(np.all(np.abs(img - np.asarray(rgb)) <= tol, axis=-1).sum())


def _beats_csv(record: Path, tmp: Path) -> list[dict[str, str]]:
    out = tmp / f"{record.name}.csv"
    proc = run_cli(["beats", str(record), "--model", "mitdb-aami", "--out", str(out), "-q"], tmp)
    assert proc.returncode == 0, proc.stderr
    with open(out, newline="") as fh:
        return list(csv.DictReader(fh))


def _beat_markers(dom: str) -> list[tuple[str, int]]:
    return [
        (m.group(1), int(m.group(2)))
        for m in re.finditer(r'<g class="beat" data-label="([^"]*)" data-sample="(\d+)"', dom)
    ]


def test_viewer_in_headless_chromium(tmp_path: Path) -> None:
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    from servehelp import running_server

    rows = _beats_csv(MITDB / "233", tmp_path)
    want = [(r["label"], int(r["sample"])) for r in rows]
    with running_server([], tmp_path) as base:
        # the whole 30 s excerpt: one marker per beat, with the class `leanecg beats` gives it
        dom = _chromium(["--dump-dom"], f"{base}/?example=mitdb/233&window=all", tmp_path)
        assert 'data-state="ready"' in dom, dom[-3000:]
        assert _beat_markers(dom) == want and len(want) > 40
        assert re.search(r'data-beats="(\d+)"', dom).group(1) == str(len(want))
        assert len(re.findall(r'class="prob( top)?" data-class=', dom)) == 4  # the rhythm probabilities
        assert "233: 30 s at 360 Hz, lead II" in dom
        # the default 10 s window (zoomed): only the beats in it
        dom = _chromium(["--dump-dom"], f"{base}/?example=mitdb/233", tmp_path)
        first = [b for b in want if b[1] <= 3600]
        assert _beat_markers(dom) == first
        img = _screenshot(f"{base}/?example=mitdb/233", tmp_path / "viewer.png", tmp_path)
    n_v = sum(label == "V" for label, _ in first)
    assert n_v > 0 and _pixels(img, V_RGB) > 20 * n_v  # red V markers and labels are drawn
    assert _pixels(img, N_RGB) > 20
    dark = np.all(img < 60, axis=-1).sum()
    assert dark > 2000  # the trace and the text


def test_quickstart_report_in_headless_chromium(tmp_path: Path) -> None:
    empty = tmp_path / "nodata"
    empty.mkdir()
    proc = run_cli(["quickstart", "--out", "qs"], tmp_path, env={"LEANECG_DATA": str(empty)}, timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = tmp_path / "qs" / "report.html"
    dom = _chromium(["--dump-dom"], report.as_uri(), tmp_path)
    assert "ECG strips" in dom
    strips = dom.count('class="ecg-strip"')
    assert strips >= 7  # 3 MIT-BIH excerpts with beats + 4 CinC 2017 records with their rhythm
    markers = _beat_markers(dom)
    rows = _beats_csv(MITDB / "233", tmp_path)
    first = [(r["label"], int(r["sample"])) for r in rows if int(r["sample"]) < 3600]
    assert first and all(m in markers for m in first)  # 233's strip: its beats, labelled as `leanecg beats`
    assert "rhythm by cinc2017" in dom
    img = _screenshot(report.as_uri(), tmp_path / "quickstart-report.png", tmp_path, size="1300,2600")
    assert _pixels(img, V_RGB) > 50 and _pixels(img, N_RGB) > 50


def test_bench_report_in_headless_chromium(tiny_mitdb_bench: TinyBench, tmp_path: Path) -> None:
    """The bench report's example ECGs as the browser draws them: one strip per example, every beat the
    packaged model classified on it drawn as a marker with its class, the explanation figures shown."""
    import json

    folder = tiny_mitdb_bench.results
    doc = json.loads((folder / "examples" / "beatnet.json").read_text(encoding="utf-8"))
    examples = doc["examples"]
    assert doc["kind"] == "beats" and [e["class"] for e in examples] == ["N", "S", "V"]  # no F in the test
    report = folder / "report.html"
    dom = _chromium(["--dump-dom"], report.as_uri(), tmp_path)
    assert "Example ECGs, predictions and explanations" in dom
    assert dom.count('class="ecg-strip"') == len(examples)
    want = [(label, p) for e in examples for label, p in zip(e["labels"], e["peaks"], strict=True)]
    assert _beat_markers(dom) == want and len(want) >= 20  # 10 s strips: every beat classified
    assert dom.count('<rect class="focus"') == len(examples)  # the example beat, shaded
    for e in examples:
        assert f"reference {e['class']} beat" in dom
    assert dom.count('class="explanation"') == len(examples)  # leanecg explain's figure of each
    mpimg = pytest.importorskip("matplotlib.image")
    shot = tmp_path / "bench-report-page.png"  # the whole page; the examples' part is kept
    _chromium(["--window-size=1400,7000", f"--screenshot={shot}"], report.as_uri(), tmp_path)
    img = np.round(np.asarray(mpimg.imread(shot))[..., :3] * 255).astype(int)
    rows = np.flatnonzero(np.all(np.abs(img - np.asarray(N_RGB)) <= 12, axis=-1).any(axis=1))
    assert rows.size and _pixels(img, N_RGB) > 50  # green N markers and labels are drawn
    top = max(0, int(rows[0]) - 190)  # the examples: from their heading, a screen high
    _keep(img[top : top + 1250], "bench-report.png")
