"""Age/sex side inputs: the encoding with unknowns, the data layer's values, the study's bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from clihelp import invoke_cli
from leanecg.bench.side_inputs import age_sex_rows, record_age_sex
from leanecg.data.record import Record
from leanecg.models.wide_deep import age_sex_vector, encode_age_sex


def test_age_sex_rows_match_the_model_encoding_and_keep_unknowns() -> None:
    ages = [56.0, 300.0, None, float("nan"), 19.0]
    sexes = ["male", "F", None, "unknown", 0]
    rows = age_sex_rows(ages, sexes)
    ref = encode_age_sex(
        torch.from_numpy(np.stack([age_sex_vector(a, s) for a, s in zip(ages, sexes, strict=True)]))
    ).numpy()
    np.testing.assert_allclose(rows, ref)
    np.testing.assert_allclose(rows[0], [0.56, 1, 1, 0])
    np.testing.assert_allclose(rows[1], [1.30, 1, 0, 1])  # PTB-XL's 300 (anonymised elderly) clipped to 130
    np.testing.assert_allclose(rows[2], [0, 0, 0, 0])  # unknown age and sex
    np.testing.assert_allclose(rows[3], [0, 0, 0, 0])


def test_record_age_sex_reads_the_data_layer_meta() -> None:
    rec = Record(
        name="r",
        signal=np.zeros((10, 1), np.float32),
        fs=100.0,
        leads=["I"],
        meta={"age": 74.0, "sex": "female"},
    )
    assert record_age_sex(rec) == (74.0, "female")
    bare = Record(name="r", signal=np.zeros((10, 1), np.float32), fs=100.0, leads=["I"])
    assert record_age_sex(bare) == (None, None)


def test_bench_side_inputs_refuses_a_bad_backbone(tmp_path: Path) -> None:
    proc = invoke_cli(["bench", "side-inputs", "--models", "nosuchnet", "--out", "o"], tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("error: --models: side-inputs takes one backbone")
