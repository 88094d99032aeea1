"""``leanecg compress``: bad input exits 2 with one error line; a tiny end-to-end run on CinC 2017."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchhelp import TinyBench
from clihelp import invoke_cli, run_cli


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
    res = invoke_cli(args, tmp_path)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("error: ")
    assert problem in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_compress_missing_model_and_file_out(tmp_path: Path) -> None:
    # the real entry point once: exit code 2 and one error line naming the path
    res = run_cli(["compress", str(tmp_path / "no-such-package"), "--prune", "0.5"], tmp_path)
    assert res.returncode == 2 and res.stderr.startswith("error: "), res.stderr
    assert str(tmp_path / "no-such-package") in res.stderr and len(res.stderr.splitlines()) == 1, res.stderr
    (tmp_path / "afile").write_text("x")
    res = invoke_cli(["compress", "cinc2017", "--prune", "0.5", "--out", str(tmp_path / "afile")], tmp_path)
    assert res.returncode == 2 and "is a file" in res.stderr, res.stderr


def _compress_tiny_litenet(
    run: Callable[..., subprocess.CompletedProcess[str]],
    bench: TinyBench,
    shared_data: Path,
    out: Path,
    *flags: str,
) -> dict[str, Any]:
    """``leanecg compress`` (by ``run``: :func:`run_cli` or :func:`invoke_cli`) with ``flags`` (1 fine-tune
    epoch, 20 bootstrap resamples) on the session's tiny CinC 2017 LiteNet package, into ``out``; the
    compress card."""
    res = run(
        [
            "compress",
            str(bench.package("litenet")),
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
        out.parent,
    )
    assert res.returncode == 0, res.stderr
    return json.loads((out / "compress_card.json").read_text())


@pytest.mark.slow
@pytest.mark.shared
def test_compress_prune_end_to_end_on_a_tiny_cinc2017_package(
    tmp_path: Path, shared_data: Path, tiny_cinc2017_bench: TinyBench
) -> None:
    out = tmp_path / "compressed"  # the real entry point, in a subprocess
    card = _compress_tiny_litenet(run_cli, tiny_cinc2017_bench, shared_data, out, "--prune", "0.5")
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
    res = invoke_cli(
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
def test_compress_int8_writes_ptq_and_qat_int8_rows(
    tmp_path: Path, shared_data: Path, tiny_cinc2017_bench: TinyBench
) -> None:
    pytest.importorskip("onnxruntime")
    out = tmp_path / "q"
    card = _compress_tiny_litenet(invoke_cli, tiny_cinc2017_bench, shared_data, out, "--quantize", "int8")
    models = [r["model"] for r in card["rows"]]
    assert models[-2:] == ["PTQ int8 (no QAT)", "QAT int8"]
    assert card["rows"][-1]["bytes"] < 0.7 * card["rows"][0]["bytes"]
    assert (out / "model.int8.onnx").is_file()
    assert [s["step"] for s in card["steps"]] == ["qat"]
