"""``leanecg compress``: bad input exits 2 with one error line; a tiny end-to-end run on CinC 2017."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clihelp import run_cli


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["compress", "cinc2017"], "nothing to do"),
        (["compress", "cinc2017", "--prune", "1.5"], "--prune: must be the fraction of MACs"),
        (["compress", "cinc2017", "--prune", "0"], "--prune: must be the fraction of MACs"),
        (["compress", "cinc2017", "--quantize", "int4"], "--quantize: unknown quantization 'int4'"),
        (["compress", "cinc2017", "--prune", "0.5", "--epochs", "0"], "--epochs: must be a positive integer"),
    ],
)
def test_compress_bad_arguments_exit_2(tmp_path: Path, args: list[str], problem: str) -> None:
    res = run_cli(args, tmp_path)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("error: ")
    assert problem in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_compress_missing_model_and_file_out(tmp_path: Path) -> None:
    res = run_cli(["compress", str(tmp_path / "no-such-package"), "--prune", "0.5"], tmp_path)
    assert res.returncode == 2 and res.stderr.startswith("error: "), res.stderr
    (tmp_path / "afile").write_text("x")
    res = run_cli(["compress", "cinc2017", "--prune", "0.5", "--out", str(tmp_path / "afile")], tmp_path)
    assert res.returncode == 2 and "is a file" in res.stderr, res.stderr


def _compress_tiny_litenet(tmp_path: Path, shared_data: Path, out: Path, *flags: str) -> dict[str, Any]:
    """Train a tiny CinC 2017 LiteNet package (``leanecg bench --tiny --save-models``), run ``leanecg compress``
    on it with ``flags`` (1 fine-tune epoch, 20 bootstrap resamples) into ``out``; the compress card."""
    if not (shared_data / "cinc2017").is_dir():
        pytest.skip("cinc2017 not in the shared data")
    zoo = tmp_path / "zoo"
    res = run_cli(
        [
            "bench",
            "cinc2017",
            "--tiny",
            "--models",
            "litenet",
            "--data-dir",
            str(shared_data),
            "--out",
            str(tmp_path / "bench"),
            "--save-models",
            str(zoo),
            "--n-boot",
            "20",
        ],
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    res = run_cli(
        [
            "compress",
            str(zoo / "cinc2017" / "litenet"),
            *flags,
            "--epochs",
            "1",
            "--n-boot",
            "20",
            "--data-dir",
            str(shared_data),
            "--out",
            str(out),
        ],
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    return json.loads((out / "compress_card.json").read_text())


@pytest.mark.slow
@pytest.mark.shared
def test_compress_prune_end_to_end_on_a_tiny_cinc2017_package(tmp_path: Path, shared_data: Path) -> None:
    out = tmp_path / "compressed"
    card = _compress_tiny_litenet(tmp_path, shared_data, out, "--prune", "0.5")
    before, after = card["rows"][0], card["rows"][-1]
    assert card["compression"] == "prune0.5"
    assert after["macs"] <= 0.5 * before["macs"]
    assert after["params"] < before["params"]
    assert (out / "COMPRESS_CARD.md").read_text().startswith("# Compression card")
    meta = json.loads((out / "package" / "model.json").read_text())
    assert meta["model_config"]["pruned_channels"] == card["steps"][0]["channels"]
    results = sorted(p.name for p in (out / "results" / "cinc2017").glob("*.json"))
    assert results == ["litenet.json", "litenet__compression=prune0.5.json"]
    assert (out / "results" / "cinc2017" / "pareto_macs.png").exists()
    # the pruned package predicts raw records like any other package
    rec = next(iter(sorted((shared_data / "cinc2017").rglob("A0*.hea"))))
    res = run_cli(
        [
            "predict",
            str(rec.with_suffix("")),
            "--model",
            str(out / "package"),
            "--out",
            str(tmp_path / "p.csv"),
        ],
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "p.csv").read_text().startswith("record,label,prob_N")


@pytest.mark.slow
@pytest.mark.shared
def test_compress_int8_writes_ptq_and_qat_int8_rows(tmp_path: Path, shared_data: Path) -> None:
    pytest.importorskip("onnxruntime")
    out = tmp_path / "q"
    card = _compress_tiny_litenet(tmp_path, shared_data, out, "--quantize", "int8")
    models = [r["model"] for r in card["rows"]]
    assert models[-2:] == ["PTQ int8 (no QAT)", "QAT int8"]
    assert card["rows"][-1]["bytes"] < 0.7 * card["rows"][0]["bytes"]
    assert (out / "model.int8.onnx").is_file()
    assert [s["step"] for s in card["steps"]] == ["qat"]
