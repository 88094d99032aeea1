"""leanecg.train.checkpoint: weights-only round trip, JSON sidecar, refusal of bad files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from leanecg.errors import LeanECGError
from leanecg.train.checkpoint import (
    FORMAT,
    load_checkpoint,
    load_model,
    load_weights_into,
    save_checkpoint,
    sidecar_path,
)


class Net(nn.Module):
    def __init__(self, n_leads: int = 2, n_classes: int = 3, width: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv1d(n_leads, width, 5)
        self.bn = nn.BatchNorm1d(width)
        self.head = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.bn(self.conv(x))).mean(-1))


def build(config: dict) -> nn.Module:
    return Net(**config)


CONFIG = {"n_leads": 2, "n_classes": 3, "width": 4}


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = Net()
    model.bn.running_mean += 0.5  # a buffer, not a parameter: must survive too
    extra = {
        "class_names": ["N", "AF", "Other"],
        "pipeline": {"steps": [{"name": "bandpass", "low_hz": 0.5}]},
        "metrics": {"f1": np.float64(0.81), "auroc": float("nan"), "per_class": np.array([0.9, 0.7])},
        "multilabel": False,
        "provenance": {"git_commit": "unknown", "seed": np.int64(3)},
    }
    path = save_checkpoint(tmp_path / "run" / "model.pt", model, CONFIG, extra)
    return model, path


def test_round_trip(saved):
    model, path = saved
    assert path.is_file() and sidecar_path(path).is_file() and sidecar_path(path).name == "model.json"
    state, meta = load_checkpoint(path)
    assert set(state) == set(model.state_dict())
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert meta["format"] == FORMAT and meta["model_config"] == CONFIG
    assert meta["class_names"] == ["N", "AF", "Other"]
    assert meta["metrics"] == {"f1": 0.81, "auroc": None, "per_class": [0.9, 0.7]}  # NaN -> null
    assert meta["provenance"]["seed"] == 3 and meta["weights_file"] == "model.pt"
    assert meta["tensors"]["conv.weight"] == {"shape": [4, 2, 5], "dtype": "float32"}
    # the sidecar path loads the same checkpoint
    state2, meta2 = load_checkpoint(sidecar_path(path))
    assert meta2 == meta and all(torch.equal(state2[k], state[k]) for k in state)
    # no temporary files left behind
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.json", "model.pt"]


def test_loaded_model_predicts_identically(saved):
    model, path = saved
    x = torch.randn(3, 2, 50)
    model.eval()
    fresh = Net()
    meta = load_weights_into(fresh, path)
    fresh.eval()
    assert meta["class_names"][1] == "AF"
    torch.testing.assert_close(fresh(x), model(x), rtol=0, atol=0)
    rebuilt, _ = load_model(path, build=build)
    assert not rebuilt.training and rebuilt.multilabel is False
    torch.testing.assert_close(rebuilt(x), model(x), rtol=0, atol=0)


def test_tampered_weights_are_refused(saved):
    _, path = saved
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(LeanECGError, match="checksum") as exc:
        load_checkpoint(path)
    assert exc.value.path == str(path)


def test_truncated_weights_are_refused(saved):
    _, path = saved
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(LeanECGError, match="checksum"):
        load_checkpoint(path)


def test_pickled_code_is_refused_even_with_a_matching_checksum(saved, tmp_path):
    """A file whose checksum was forged to match still cannot run code: weights_only loading refuses it."""
    model, path = saved
    torch.save({"model": model}, path)  # a whole pickled module, not a state_dict
    meta = json.loads(sidecar_path(path).read_text())
    import hashlib

    meta["weights_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    sidecar_path(path).write_text(json.dumps(meta))
    with pytest.raises(LeanECGError, match="not a weights-only checkpoint") as exc:
        load_checkpoint(path)
    assert exc.value.path == str(path)


def test_bad_sidecars_are_refused(saved):
    _, path = saved
    side = sidecar_path(path)
    good = side.read_text()
    side.write_text(good[:-20])
    with pytest.raises(LeanECGError, match="not valid JSON") as exc:
        load_checkpoint(path)
    assert exc.value.path == str(side)
    side.write_text(json.dumps({**json.loads(good), "format": "something/9"}))
    with pytest.raises(LeanECGError, match="not a LeanECG checkpoint"):
        load_checkpoint(path)
    side.write_text(json.dumps({**json.loads(good), "weights_file": "../../etc/passwd"}))
    with pytest.raises(LeanECGError, match="plain file name"):
        load_checkpoint(side)
    meta = json.loads(good)
    meta["tensors"]["conv.weight"]["shape"] = [4, 2, 7]
    side.write_text(json.dumps(meta))
    with pytest.raises(LeanECGError, match=r"conv\.weight"):
        load_checkpoint(path)
    side.unlink()
    with pytest.raises(LeanECGError, match="sidecar"):
        load_checkpoint(path)


def test_mismatched_files(saved, tmp_path):
    _, path = saved
    with pytest.raises(LeanECGError, match="not found"):
        load_checkpoint(tmp_path / "nothing.pt")
    # weights from another checkpoint next to this sidecar
    other = save_checkpoint(tmp_path / "other.pt", Net(width=6), {**CONFIG, "width": 6}, {})
    path.write_bytes(other.read_bytes())
    with pytest.raises(LeanECGError, match="different checkpoints"):
        load_checkpoint(path)
    # a valid checkpoint for a different architecture
    with pytest.raises(LeanECGError, match="do not fit the model: shape of") as exc:
        load_weights_into(Net(), other)
    assert exc.value.path == str(other)
    with pytest.raises(LeanECGError, match="missing"):
        load_weights_into(nn.Sequential(nn.Linear(2, 2)), other)


def test_save_refuses_bad_metadata_without_touching_the_old_checkpoint(saved):
    _, path = saved
    before = (path.read_bytes(), sidecar_path(path).read_text())
    with pytest.raises(LeanECGError, match="cannot be stored as JSON"):
        save_checkpoint(path, Net(), CONFIG, {"callback": lambda: 1})
    with pytest.raises(LeanECGError, match="reserved"):
        save_checkpoint(path, Net(), CONFIG, {"tensors": 1})
    with pytest.raises(LeanECGError, match="non-string key"):
        save_checkpoint(path, Net(), CONFIG, {"metrics": {1: 0.5}})
    with pytest.raises(LeanECGError, match=r"must not end in \.json"):
        save_checkpoint(path.with_suffix(".json"), Net(), CONFIG, {})
    assert (path.read_bytes(), sidecar_path(path).read_text()) == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.json", "model.pt"]


def test_state_dict_input_and_gpu_free_tensors(tmp_path):
    state = {"w": torch.arange(6.0).reshape(2, 3), "n": torch.tensor(5)}
    path = save_checkpoint(tmp_path / "s.pt", state, {"kind": "raw"})
    loaded, meta = load_checkpoint(path)
    assert torch.equal(loaded["w"], state["w"]) and loaded["n"].item() == 5
    assert meta["tensors"]["n"] == {"shape": [], "dtype": "int64"}
