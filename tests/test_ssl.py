"""Contrastive pretraining: losses, SimCLR / CLOCS views, the pretraining loop, encoder files, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from clihelp import invoke_cli, run_cli
from leanecg.errors import LeanECGError
from leanecg.models import build_model
from leanecg.ssl.clocs import CMLCViews, CMSCViews, CMSMLCViews
from leanecg.ssl.losses import nt_xent, patient_contrastive_loss
from leanecg.ssl.pretrain import FrozenEncoder, PretrainConfig, load_encoder, pretrain, save_encoder
from leanecg.ssl.simclr import SimCLRViews
from leanecg.train.datasets import ArraySplit


def _ramp_split(n: int = 6, length: int = 400, leads: int = 1) -> ArraySplit:
    # record i, lead j, sample t holds 1000 * i + 100 * j + t / 1000: views are traceable to their origin
    X = [
        np.stack([1000.0 * i + 100.0 * j + np.arange(length) / 1000.0 for j in range(leads)]).astype(
            np.float32
        )
        for i in range(n)
    ]
    return ArraySplit(X=X, y=None, name="u")


def test_nt_xent_matches_hand_computation() -> None:
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z2 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    tau = 0.5
    # anchor 0: positive sim 1 (index 2), negatives: z1[1] (0), z2[1] (0)
    expected = -math.log(math.exp(2.0) / (math.exp(2.0) + 2 * math.exp(0.0)))
    assert float(nt_xent(z1, z2, tau)) == pytest.approx(expected, rel=1e-6)
    # aligned views give a lower loss than mismatched ones
    z = torch.randn(8, 16, generator=torch.Generator().manual_seed(0))
    assert float(nt_xent(z, z + 0.01)) < float(nt_xent(z, torch.roll(z, 1, 0)))


def test_patient_loss_without_groups_is_symmetric_cross_view_infonce() -> None:
    g = torch.Generator().manual_seed(1)
    v = torch.randn(5, 2, 8, generator=g)
    a = torch.nn.functional.normalize(v[:, 0], dim=1)
    b = torch.nn.functional.normalize(v[:, 1], dim=1)
    sim = a @ b.T / 0.1
    target = torch.arange(5)
    expected = 0.5 * (
        torch.nn.functional.cross_entropy(sim, target) + torch.nn.functional.cross_entropy(sim.T, target)
    )
    assert float(patient_contrastive_loss(v, None, 0.1)) == pytest.approx(float(expected), rel=1e-5)


def test_patient_loss_treats_same_patient_as_positive() -> None:
    # instances 0 and 1 belong to one patient: with patient ids, embedding them alike lowers the loss;
    # without ids they are negatives of each other and embedding them alike raises it
    aligned = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    apart = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    ids = np.array(["p", "p", "q"])

    def loss(e: torch.Tensor, groups: np.ndarray | None) -> float:
        return float(patient_contrastive_loss(torch.stack([e, e], dim=1), groups, 0.1))

    assert loss(aligned, ids) < loss(apart, ids)
    assert loss(aligned, None) > loss(apart, None)
    with pytest.raises(LeanECGError):
        patient_contrastive_loss(torch.stack([aligned, aligned], 1), np.array(["p", "q"]), 0.1)
    with pytest.raises(LeanECGError):
        patient_contrastive_loss(aligned[:, None, :], None, 0.1)


def test_cmsc_views_are_adjacent_segments_of_one_record() -> None:
    split = _ramp_split()
    views = CMSCViews(100)(split, np.array([2, 4]), np.random.default_rng(0))
    assert views.shape == (2, 2, 1, 100)
    for b, rec in enumerate((2, 4)):
        first, second = views[b, 0, 0], views[b, 1, 0]
        assert np.all(np.floor(first / 1000) == rec) and np.all(np.floor(second / 1000) == rec)
        t_first = np.round((first - 1000 * rec) * 1000)
        t_second = np.round((second - 1000 * rec) * 1000)
        assert t_second[0] == t_first[-1] + 1  # the second segment starts where the first ends


def test_cmlc_views_are_different_leads_of_the_same_window() -> None:
    split = _ramp_split(leads=12)
    views = CMLCViews(50, n_view_leads=4)(split, np.array([0, 3]), np.random.default_rng(0))
    assert views.shape == (2, 4, 1, 50)
    for b, rec in enumerate((0, 3)):
        leads = np.round((views[b, :, 0, 0] - 1000 * rec) // 100)
        assert len(set(leads.tolist())) == 4
        t = np.round(((views[b, :, 0, :] - 1000 * rec) % 100) * 1000)
        assert np.all(t == t[0])  # same time window in every view
    with pytest.raises(LeanECGError, match="lead"):
        CMLCViews(50)(_ramp_split(), np.array([0, 1]), np.random.default_rng(0))
    cmsmlc = CMSMLCViews(50, n_view_leads=4)(split, np.array([1, 2]), np.random.default_rng(0))
    assert cmsmlc.shape == (2, 4, 1, 50)


def test_simclr_views_differ_but_come_from_one_crop() -> None:
    rng = np.random.default_rng(0)
    X = [np.sin(np.linspace(0, 60, 900)).astype(np.float32)[None] for _ in range(3)]
    views = SimCLRViews(300, fs=150.0)(ArraySplit(X=X, y=None), np.array([0, 1]), rng)
    assert views.shape == (2, 2, 1, 300) and views.dtype == np.float32
    assert not np.allclose(views[:, 0], views[:, 1])


def _small_model(leads: int = 1) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("litenet", n_leads=leads, n_classes=3, width=0.25)


def _synthetic_split(n: int = 12, length: int = 600) -> ArraySplit:
    rng = np.random.default_rng(0)
    t = np.arange(length) / 150.0
    X = [
        (np.sin(2 * np.pi * (1 + i % 3) * t) + 0.1 * rng.standard_normal(length)).astype(np.float32)[None]
        for i in range(n)
    ]
    return ArraySplit(X=X, y=None, name="u")


@pytest.mark.parametrize("method", ["simclr", "cmsc"])
def test_pretrain_updates_encoder_and_is_deterministic(method: str) -> None:
    split = _synthetic_split()
    cfg = PretrainConfig(method=method, epochs=2, batch_size=6, segment_s=1.5, seed=3, num_threads=1)
    m1 = _small_model()
    before = {k: v.clone() for k, v in m1.state_dict().items()}
    res = pretrain(m1, split, 150.0, cfg)
    assert res.steps == 4 and len(res.history) == 2 and all(math.isfinite(h["loss"]) for h in res.history)
    changed = [k for k, v in m1.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("backbone.") for k in changed)
    assert not any(k.startswith("head.fc") for k in changed)  # the classifier head is not pretrained
    m2 = _small_model()
    pretrain(m2, split, 150.0, cfg)
    for k, v in m1.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k]), k


def test_pretrain_rejects_bad_input() -> None:
    with pytest.raises(LeanECGError, match="method"):
        PretrainConfig(method="byol")
    with pytest.raises(LeanECGError, match="batch_size"):
        PretrainConfig(batch_size=1)
    with pytest.raises(LeanECGError, match="lead"):
        pretrain(_small_model(), _synthetic_split(), 150.0, PretrainConfig(method="cmlc", epochs=1))


def test_encoder_round_trip_weights_only(tmp_path) -> None:
    split = _synthetic_split()
    cfg = PretrainConfig(method="cmsc", epochs=1, batch_size=6, segment_s=1.5, num_threads=1)
    model = _small_model()
    res = pretrain(model, split, 150.0, cfg)
    save_encoder(tmp_path / "enc", model, cfg, res, data={"dataset": "synthetic"})
    meta = json.loads((tmp_path / "enc" / "encoder.json").read_text())
    assert meta["format"] == "leanecg.encoder/1" and meta["pretrain"]["method"] == "cmsc"
    fresh = build_model("litenet", n_leads=1, n_classes=4, width=0.25)  # another head is fine
    load_encoder(fresh, tmp_path / "enc")
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, fresh.backbone.state_dict()[k])
    with pytest.raises(LeanECGError, match="width"):
        load_encoder(build_model("litenet", n_leads=1, n_classes=4, width=0.5), tmp_path / "enc")
    (tmp_path / "enc" / "encoder.pt").write_bytes(b"not a torch file")
    with pytest.raises(LeanECGError, match="cannot read"):
        load_encoder(fresh, tmp_path / "enc")
    with pytest.raises(LeanECGError, match=r"encoder\.json"):
        load_encoder(fresh, tmp_path)


def test_frozen_encoder_keeps_encoder_fixed() -> None:
    from leanecg.train.trainer import TrainConfig, fit

    model = _small_model()
    frozen = FrozenEncoder(model)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    split = _synthetic_split()
    labelled = ArraySplit(X=split.X, y=np.arange(len(split)) % 3, name="train")
    fit(frozen, labelled, None, TrainConfig(epochs=1, batch_size=4, num_threads=1), progress=False)
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, before[k]), k  # weights and batch-norm statistics unchanged


def test_cli_pretrain_errors(tmp_path) -> None:
    r = invoke_cli(
        ["pretrain", "--method", "cmlc", "--dataset", "cinc2017", "--out", str(tmp_path / "e")], tmp_path
    )
    assert r.returncode == 2 and "error: --method:" in r.stderr
    from leanecg.ssl.pretrain import pretrain_encoder

    with pytest.raises(LeanECGError, match="unknown method"):
        pretrain_encoder("moco", "cinc2017", tmp_path, tmp_path / "e")
    with pytest.raises(LeanECGError, match="unknown pretraining dataset"):
        pretrain_encoder("simclr", "mitdb", tmp_path, tmp_path / "e")


@pytest.mark.slow
def test_cli_pretrain_tiny(shared_data, tmp_path) -> None:
    out = tmp_path / "enc"
    r = run_cli(
        [
            "pretrain",
            "--method",
            "cmsc",
            "--data-dir",
            str(shared_data),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--tiny",
        ],
        tmp_path,
    )
    assert r.returncode == 0, r.stderr
    meta = json.loads((out / "encoder.json").read_text())
    assert meta["data"]["dataset"] == "cinc2017" and meta["provenance"]["seed"] == 0
    state = torch.load(out / "encoder.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
