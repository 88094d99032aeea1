"""The sharded on-disk cache (leanecg.data.shards): build in worker processes, lazy reads, reuse by
fingerprint, damage detection, and training from it through DataLoader workers."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from leanecg.data.shards import PipelineLoader, build_shards, open_shards
from leanecg.errors import LeanECGError
from leanecg.train.datasets import ArraySplit
from leanecg.train.seed import seed_everything
from leanecg.train.trainer import TrainConfig, fit, predict_proba


def synth_record(i: int) -> tuple[np.ndarray, int]:
    """Record ``i``: 3 leads, 100-160 samples (varies), label ``i % 3``; a pure function of ``i``."""
    rng = np.random.default_rng(i)
    n = 100 + (i * 7) % 61
    t = np.arange(n)
    x = np.sin(2 * np.pi * (0.02, 0.07, 0.17)[i % 3] * t)[None, :] + 0.2 * rng.standard_normal((3, n))
    return x.astype(np.float32), i % 3


def test_build_read_back_and_reuse(tmp_path):
    items = list(range(41))
    store = build_shards(
        items, synth_record, tmp_path / "c", description={"synth": 1}, records_per_shard=8, fs=100.0
    )
    assert len(store) == 41 and store.n_leads == 3 and store.fs == 100.0
    assert len(list((tmp_path / "c").glob("shard-*.npy"))) == 6
    for i in (0, 7, 8, 40):
        x, y = synth_record(i)
        assert np.array_equal(store[i], x) and store.labels[i] == y
    assert np.array_equal(store.lengths, [synth_record(i)[0].shape[1] for i in items])
    assert store.nbytes == store.meta["bytes"] == 4 * 3 * int(store.lengths.sum())
    # shards are plain .npy files: memory-mappable
    shard0 = np.load(tmp_path / "c" / "shard-00000.npy", mmap_mode="r")
    assert np.array_equal(shard0[: 3 * store.lengths[0]].reshape(3, -1), store[0])
    # a subset and a pickled copy read the same records (DataLoader workers get pickled copies)
    sub = pickle.loads(pickle.dumps(store.subset([40, 3])))
    assert np.array_equal(sub[0], store[40]) and np.array_equal(sub.lengths, store.lengths[[40, 3]])
    # same fingerprint: reused as it is; another one: rebuilt
    mtime = (tmp_path / "c" / "index.json").stat().st_mtime_ns
    again = build_shards(items, synth_record, tmp_path / "c", description={"synth": 1}, records_per_shard=8)
    assert (tmp_path / "c" / "index.json").stat().st_mtime_ns == mtime and len(again) == 41
    with pytest.raises(LeanECGError, match="fingerprint differs"):
        open_shards(tmp_path / "c", fingerprint="0" * 64)
    other = build_shards(items[:5], synth_record, tmp_path / "c", description={"synth": 2})
    assert len(other) == 5 and len(list((tmp_path / "c").glob("shard-*.npy"))) == 1


def test_two_workers_write_the_same_cache_as_one(tmp_path):
    a = build_shards(range(30), synth_record, tmp_path / "a", description="s", records_per_shard=7, workers=1)
    b = build_shards(range(30), synth_record, tmp_path / "b", description="s", records_per_shard=7, workers=2)
    assert b.meta["build"]["workers"] == 2
    for f in sorted(p.name for p in (tmp_path / "a").glob("shard-*.npy")):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert np.array_equal(a.labels, b.labels) and a.fingerprint == b.fingerprint


def test_a_damaged_or_unfinished_cache_is_refused(tmp_path):
    build_shards(range(10), synth_record, tmp_path / "c", description="s", records_per_shard=4)
    shard = tmp_path / "c" / "shard-00001.npy"
    shard.write_bytes(shard.read_bytes()[:-40])
    with pytest.raises(LeanECGError, match="shard-00001"):
        open_shards(tmp_path / "c")
    (tmp_path / "c" / "index.json").unlink()
    with pytest.raises(LeanECGError, match="not a LeanECG sharded cache"):
        open_shards(tmp_path / "c")


def test_training_from_the_cache_with_dataloader_workers_matches_in_memory(tmp_path):
    """fit() on the lazily read cache with 2 DataLoader workers = fit() on the same records in memory."""
    store = build_shards(range(48), synth_record, tmp_path / "c", description="s", records_per_shard=10)
    lazy = store.split("train")
    assert lazy.multilabel is False and len(lazy) == 48
    in_memory = ArraySplit([store[i].copy() for i in range(48)], store.labels, name="train")
    cfg = {"epochs": 2, "batch_size": 8, "crop_samples": 96, "num_threads": 1, "seed": 4}

    def run(split, workers):
        seed_everything(0)
        model = torch.nn.Sequential(
            torch.nn.Conv1d(3, 6, 9, padding=4),
            torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool1d(1),
            torch.nn.Flatten(),
            torch.nn.Linear(6, 3),
        )
        fit(model, split, config=TrainConfig(**cfg, num_workers=workers), progress=False)
        return model, predict_proba(model, split)

    m_lazy, p_lazy = run(lazy, 2)
    m_mem, p_mem = run(in_memory, 1)
    for a, b in zip(m_lazy.state_dict().values(), m_mem.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert np.array_equal(p_lazy, p_mem)


def test_pipeline_loader_reads_and_preprocesses_records(tmp_path):
    from leanecg.signal.pipeline import Pipeline

    paths = []
    for i in range(3):
        x, _ = synth_record(i)
        p = tmp_path / f"r{i}.csv"
        np.savetxt(p, x.T, delimiter=",", header="I,II,III", comments="")
        paths.append(p)
    loader = PipelineLoader(Pipeline([{"op": "resample", "fs_out": 50.0}]), fs=100.0)
    items = [(p, i % 3) for i, p in enumerate(paths)]
    store = build_shards(items, loader, tmp_path / "c", description=loader.describe(items), workers=2)
    x0, _ = synth_record(0)
    assert store[0].shape == (3, round(x0.shape[1] / 2)) and list(store.labels) == [0, 1, 2]
