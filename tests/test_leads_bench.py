"""Reduced leads: the lead-wise model, zero-filling / masking, lead-set dropout, subset search, the
PTB-XL superclass task's metric, and ``leanecg bench leads`` (tiny run and bad input)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from clihelp import invoke_cli, run_cli
from leanecg.bench.leads import (
    LeadSetDropout,
    greedy_path,
    lead_indices,
    predict_on_leads,
    rank_lead_subsets,
    zero_fill,
)
from leanecg.errors import LeanECGError
from leanecg.evaluate.results import validate_result
from leanecg.models.registry import build_from_config, build_model, count_parameters, model_config
from leanecg.signal.leads import LEAD_SETS, STANDARD_12
from leanecg.tasks.ptbxl_superclass import macro_auroc


def _x(n: int = 4, leads: int = 12, t: int = 400, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).standard_normal((n, leads, t)).astype(np.float32))


def test_leadwise_weights_do_not_grow_and_subset_model_equals_masked_full_model() -> None:
    full = build_model("leadwise", 12, 5).eval()
    two = build_model("leadwise", 2, 5, leads=["I", "II"]).eval()
    one = build_model("leadwise", 1, 5, leads=["aVF"]).eval()
    assert count_parameters(full) == count_parameters(two) == count_parameters(one)
    two.load_state_dict(full.state_dict(), strict=True)
    one.load_state_dict(full.state_dict(), strict=True)
    x = _x()
    zeroed = x.clone()
    zeroed[:, 2:] = 0
    with torch.no_grad():
        assert torch.allclose(full(zeroed), two(x[:, :2]), atol=1e-5)
        # an explicit mask ignores whatever the absent leads hold
        mask = torch.zeros(4, 12, dtype=torch.bool)
        mask[:, 5] = True
        assert torch.allclose(full.forward_masked(x, mask), one(x[:, 5:6]), atol=1e-5)
        # the lead identity matters: the same signal as lead I or as lead aVF gives different outputs
        as_i = build_model("leadwise", 1, 5, leads=["I"]).eval()
        as_i.load_state_dict(full.state_dict(), strict=True)
        assert not torch.allclose(as_i(x[:, 5:6]), one(x[:, 5:6]))
        # all leads absent: finite output (the bias), no NaN
        assert torch.isfinite(full(torch.zeros(2, 12, 400))).all()
    # compute grows with leads, weights do not
    cfg = model_config(two)
    assert cfg["options"]["leads"] == ["I", "II"]
    rebuilt = build_from_config(json.loads(json.dumps(cfg)))
    rebuilt.load_state_dict(two.state_dict(), strict=True)


def test_leadwise_bad_leads() -> None:
    with pytest.raises(LeanECGError, match="standard leads"):
        build_model("leadwise", 1, 5, leads=["X"])
    with pytest.raises(LeanECGError, match="n_leads"):
        build_model("leadwise", 3, 5, leads=["I", "II"])
    with pytest.raises(LeanECGError, match="repeat"):
        build_model("leadwise", 2, 5, leads=["I", "I"])


def test_zero_fill_and_predict_on_leads_say_what_they_did() -> None:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((3, 2, 300)).astype(np.float32)
    full, present = zero_fill(X, ["II", "avl"])  # any spelling
    assert full.shape == (3, 12, 300)
    assert present.tolist() == [n in ("II", "aVL") for n in STANDARD_12]
    assert np.array_equal(full[:, 1], X[:, 0]) and np.array_equal(full[:, 4], X[:, 1])
    assert not full[:, ~present].any()
    with pytest.raises(LeanECGError, match="not an input"):
        zero_fill(X, ["I", "X1"], ["I", "II"])
    with pytest.raises(LeanECGError, match="expected"):
        zero_fill(X, ["I"])

    cnn = build_model("litenet", 12, 5)
    proba, info = predict_on_leads(cnn, X, ["II", "aVL"], multilabel=True)
    assert proba.shape == (3, 5) and np.all((proba >= 0) & (proba <= 1))
    assert info["missing"] == "zero-filled" and "zero-filled" in info["note"]
    assert info["present_leads"] == ["II", "aVL"] and len(info["missing_leads"]) == 10
    lw = build_model("leadwise", 12, 5)
    _, info = predict_on_leads(lw, X, ["II", "aVL"], multilabel=True)
    assert info["missing"] == "masked" and "masked" in info["note"]
    _, info = predict_on_leads(cnn, rng.standard_normal((2, 12, 300)), STANDARD_12, multilabel=True)
    assert info["missing"] == "none" and info["missing_leads"] == []
    assert lead_indices(STANDARD_12, ["avf", "V2"]) == [5, 7]
    with pytest.raises(LeanECGError, match="not among"):
        lead_indices(["I", "II"], ["V1"])


def test_lead_set_dropout() -> None:
    aug = LeadSetDropout(STANDARD_12, [LEAD_SETS["2"], LEAD_SETS["6"]], p_full=0.3, p_challenge_set=0.4)
    x = np.ones((2000, 12, 10), dtype=np.float32)
    out = aug(x, np.random.default_rng(0))
    assert out.shape == x.shape and out.dtype == np.float32
    kept = out[:, :, 0] > 0
    assert kept.sum(axis=1).min() >= 1  # never all leads gone
    assert 0.25 < np.mean(kept.all(axis=1)) < 0.36  # p_full (+ the rare all-kept random draw)
    two = np.zeros(12, dtype=bool)
    two[:2] = True
    assert 0.15 < np.mean((kept == two).all(axis=1)) < 0.25  # half of p_challenge_set
    again = aug(x, np.random.default_rng(0))
    assert np.array_equal(out, again)
    assert not np.array_equal(kept[:, 3], kept[:, 7])  # leads dropped independently


def test_rank_lead_subsets_matches_subset_models_and_greedy_path() -> None:
    torch.manual_seed(0)
    leads = ["I", "II", "V1", "V5"]
    model = build_model("leadwise", 4, 3, leads=leads).eval()
    with torch.no_grad():  # spread the untrained outputs so no two records tie by float32 rounding
        model.classifier.weight.mul_(50.0)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4, 300)).astype(np.float32)
    y = (rng.random((40, 3)) < 0.4).astype(np.float32)
    y[0] = 1
    y[1] = 0
    ranking = rank_lead_subsets(model, X, y, leads, macro_auroc)
    assert len(ranking) == 2**4 - 1
    scores = [r["score"] for r in ranking]
    assert scores == sorted(scores, reverse=True)
    assert [r["rank"] for r in ranking] == list(range(1, 16))
    from leanecg.train.trainer import predict_proba

    for r in ranking[:3] + ranking[-2:]:
        sub = build_model("leadwise", r["size"], 3, leads=r["leads"])
        sub.load_state_dict(model.state_dict(), strict=True)
        p = predict_proba(sub, X[:, lead_indices(leads, r["leads"])], multilabel=True)
        full = np.zeros_like(X)
        idx = lead_indices(leads, r["leads"])
        full[:, idx] = X[:, idx]
        assert np.allclose(predict_proba(model, full, multilabel=True), p, atol=1e-6)
        assert macro_auroc(y, p) == pytest.approx(r["score"], abs=1e-9)
    path = greedy_path(ranking, leads)
    assert len(path) == 4 and path[-1]["leads"] and sorted(path[-1]["leads"]) == sorted(leads)
    best_single = max((r for r in ranking if r["size"] == 1), key=lambda r: r["score"])
    assert path[0]["leads"] == best_single["leads"]
    with pytest.raises(LeanECGError, match="lead-wise"):
        rank_lead_subsets(build_model("litenet", 4, 3), X, y, leads, macro_auroc)

    fake = [
        {"leads": ["A"], "score": 0.6, "size": 1},
        {"leads": ["B"], "score": 0.7, "size": 1},
        {"leads": ["A", "B"], "score": 0.8, "size": 2},
    ]
    assert [p["added"] for p in greedy_path(fake, ["A", "B"])] == ["B", "A"]


def test_macro_auroc_needs_every_class() -> None:
    y = np.array([[1, 0], [0, 1], [1, 0], [0, 1]])
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.4], [0.3, 0.6]])
    assert macro_auroc(y, p) == 1.0
    assert np.isnan(macro_auroc(y[[0, 2]], p[[0, 2]]))  # class 1 has no positive


@pytest.mark.slow
def test_cli_leads_tiny(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "res"
    args = ["bench", "leads", "--data-dir", str(shared_data), "--out", str(out), "--tiny", "--n-boot", "20"]
    proc = run_cli(args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "leads.json").read_text(encoding="utf-8"))
    assert doc["benchmark"] == "leads" and doc["tiny"] is True
    entries = doc["results"]
    assert len(entries) == 7 + 6 + 7  # per-set, 12-lead zero-filled (not for 12), lead-wise masked
    for e in entries:
        validate_result(e)
        assert e["variant"]["leads"] == list(LEAD_SETS[e["variant"]["lead_set"]])
        assert set(e["metrics"]) >= {"macro_auroc", "macro_auprc", "macro_f1"}
        assert e["cost"]["params"] > 0 and e["cost"]["macs"] > 0
        assert e["provenance"]["git_commit"]
    zero = [e for e in entries if e["variant"]["approach"] == "12-lead zero-filled"]
    assert all(e["variant"]["missing_leads"] == "zero-filled" for e in zero)
    assert all(any("zero-filled" in n for n in e["notes"]) for e in zero)
    lw = {e["variant"]["lead_set"]: e for e in entries if e["model"] == "leadwise"}
    assert len({e["cost"]["params"] for e in lw.values()}) == 1  # same weights for every set
    assert lw["1-I"]["cost"]["macs"] < lw["2"]["cost"]["macs"] < lw["12"]["cost"]["macs"]
    search = doc["lead_selection"]
    assert search["n_subsets"] == 4095 and len(search["best_per_size_on_test"]) == 12
    assert {c["lead_set"] for c in search["challenge_sets"]} == set(LEAD_SETS)
    md = (out / "leads.md").read_text(encoding="utf-8")
    assert "Tiny smoke run" in md and "| 1-II | II | litenet | per-set |" in md
    assert md.splitlines()[0].endswith("(smoke run — not a benchmark)")
    assert "lead-wise masked" in proc.stdout


def test_cli_leads_bad_input(tmp_path: Path) -> None:
    proc = invoke_cli(["bench", "leads", "--models", "nosuchnet", "--data-dir", str(tmp_path)], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: --models:") and "nosuchnet" in proc.stderr
    proc = invoke_cli(["bench", "leads", "--models", "beatnet", "--data-dir", str(tmp_path)], tmp_path)
    assert proc.returncode == 2 and "feature input" in proc.stderr
    proc = invoke_cli(["bench", "leads", "--epochs", "0", "--data-dir", str(tmp_path)], tmp_path)
    assert proc.returncode == 2 and "error: --epochs:" in proc.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = invoke_cli(["bench", "leads", "--data-dir", str(empty), "--out", str(tmp_path / "o")], tmp_path)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and last.startswith("error: ") and "ptb" in last.lower()
    assert not (tmp_path / "o" / "leads.json").exists()


def test_summary_table_pools_seeds() -> None:
    from leanecg.bench.leads import summary_table

    def entry(seed: int, auroc: float, lead_set: str = "2") -> dict:
        metric = {"value": auroc, "ci_low": auroc - 0.1, "ci_high": auroc + 0.1}
        return {
            "model": "litenet",
            "variant": {
                "lead_set": lead_set,
                "leads": list(LEAD_SETS[lead_set]),
                "approach": "per-set",
                "missing_leads": "none",
                "seed": seed,
            },
            "metrics": {"macro_auroc": metric, "macro_auprc": {"value": 0.5}, "macro_f1": {"value": 0.4}},
            "cost": {"params": 100, "macs": 1000, "latency_ms_median": 1.0 + seed},
        }

    rows = summary_table([entry(0, 0.80), entry(1, 0.84), entry(2, 0.82), entry(0, 0.70, "1-I")])
    two = next(r for r in rows if r["lead_set"] == "2")
    assert two["n_seeds"] == 3 and two["seeds"] == [0, 1, 2]
    assert two["macro_auroc"] == pytest.approx(0.82) and two["macro_auroc_sd"] == pytest.approx(0.02)
    assert two["ci_low"] == pytest.approx(0.72) and two["ci_high"] == pytest.approx(0.92)
    assert two["latency_ms_median"] == pytest.approx(2.0) and two["params"] == 100
    one = next(r for r in rows if r["lead_set"] == "1-I")
    assert one["n_seeds"] == 1 and one["macro_auroc_sd"] is None
