"""The data of the label-efficiency study (:mod:`leanecg.bench.labels`): per task the labelled pool, the
test split and the unlabelled pretraining records (:class:`LabelsData`; :func:`load_mitdb_beats` for
mitdb-aami beats, with :func:`signal_chunks` cutting the pretraining signal), and the nested, stratified
label subsets (:func:`nested_label_subsets`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.bench.labels_config import LabelsConfig, MitdbLabelsConfig
from leanecg.bench.study import sha256_lines
from leanecg.errors import LeanECGError
from leanecg.tasks.cinc2017 import load_cinc2017

__all__ = [
    "MITDB_TINY_RECORDS",
    "LabelsData",
    "load_mitdb_beats",
    "load_study_data",
    "nested_label_subsets",
    "signal_chunks",
]

#: MIT-BIH records of the mitdb-aami ``tiny`` smoke run: DS1 pool 208 + 209 (N, S, V, F), DS2 test 233.
MITDB_TINY_RECORDS: dict[str, list[str]] = {"train": ["208"], "val": ["209"], "test": ["233"]}


@dataclass
class LabelsData:
    """What the study needs from a task.

    Attributes:
        train: the labelled pool ``X (N, n_leads, n_samples)`` (or variable-length records), ``y (N,)``,
            optional beat ``features (N, F)`` and ``groups`` (record ids).
        test: the test split, same layout.
        fs: model input rate in Hz.
        input_samples: input length of the cost meter.
        info: the entries' ``data`` block (dataset, split, sizes, test ids, pipeline).
        unlabelled: pretraining records (labels dropped) per input kind: ``"signal"`` (the model's
            leads) and, when loaded, ``"multilead"`` (every lead; CMLC / CMSMLC views).
    """

    train: Any
    test: Any
    fs: float
    input_samples: int
    info: dict[str, Any]
    unlabelled: dict[str, Any] = field(default_factory=dict)

    def pretrain_split(self, method: str) -> Any:
        """The unlabelled records ``method`` pretrains on."""
        kind = "multilead" if method in ("cmlc", "cmsmlc") else "signal"
        if kind not in self.unlabelled:
            raise LeanECGError("methods", f"{method} needs multi-lead pretraining records; none were loaded")
        return self.unlabelled[kind]


def _cinc2017_data(root: Path, config: LabelsConfig, tiny: bool, progress: Any) -> LabelsData:
    """:func:`load_cinc2017` as :class:`LabelsData`: the training split is the labelled pool and,
    without its labels, the pretraining records."""
    from leanecg.train.datasets import ArraySplit

    data = load_cinc2017(root, tiny=tiny, progress=progress)
    unlabelled = ArraySplit(X=data.train.X, y=None, name="unlabelled")
    return LabelsData(data.train, data.test, data.fs, data.input_samples, data.info, {"signal": unlabelled})


def signal_chunks(signals: Sequence[np.ndarray], records: Sequence[str], n_samples: int) -> Any:
    """Records cut into non-overlapping chunks: an unlabelled ArraySplit with the record ids as groups.

    Args:
        signals: per record, float32 ``(n_leads, n_samples_i)`` (all with the same leads count).
        records: the record ids (patient ids for the CLOCS losses), one per signal.
        n_samples: chunk length in samples (a record's last partial chunk is dropped).

    Returns:
        ``ArraySplit`` with ``X (n_chunks, n_leads, n_samples)`` float32, ``y=None``, ``groups (n_chunks,)``.
    """
    from leanecg.train.datasets import ArraySplit

    xs, groups = [], []
    for rec, x in zip(records, signals, strict=True):
        n = x.shape[1] // n_samples
        xs.append(x[:, : n * n_samples].reshape(x.shape[0], n, n_samples).transpose(1, 0, 2))
        groups += [str(rec)] * n
    if not groups:
        raise LeanECGError("chunk_s", f"no record holds a whole {n_samples}-sample chunk")
    X = np.ascontiguousarray(np.concatenate(xs), dtype=np.float32)
    return ArraySplit(X=X, y=None, groups=np.asarray(groups), name="unlabelled")


def load_mitdb_beats(
    root: Path,
    *,
    chunk_s: float = 10.0,
    multilead: bool = False,
    tiny: bool = False,
    progress: Any = None,
) -> LabelsData:
    """The ``mitdb-aami`` beats for the label study: the DS1 pool, the DS2 test set and DS1 pretraining chunks.

    Beats and inputs come from the task's own loader (:meth:`MitdbAamiTask.load`): MLII at 180 Hz,
    126-sample windows ``(N, 1, 126)`` and 13 beat features ``(N, 13)``, ``groups`` = record ids. The
    pool is the task's training and early-stopping records together (all 22 DS1 records). Pretraining
    records: the same DS1 records' signals (task pipeline: MLII, 0.5-40 Hz, 180 Hz) cut into
    ``chunk_s``-second chunks (:func:`signal_chunks`); ``multilead`` also loads both leads of them
    (same filter and rate) for CMLC. DS2 signal only enters the test split.

    ``tiny``: pool = records 208 and 209, test = record 233 (:data:`MITDB_TINY_RECORDS`; smoke runs).
    """
    from leanecg.data import get_dataset
    from leanecg.data.mitdb import DS1, DS2
    from leanecg.signal.pipeline import Pipeline
    from leanecg.tasks import get_task
    from leanecg.tasks.base import load_signals
    from leanecg.tasks.mitdb_aami import MitdbAamiTask
    from leanecg.train.datasets import ArraySplit

    task = get_task("mitdb-aami")
    records = MITDB_TINY_RECORDS if tiny else task.split_records(0)

    class _Records(MitdbAamiTask):  # the task's loader on a fixed record split
        def split_records(self, seed: int) -> dict[str, list[str]]:
            return {k: list(v) for k, v in records.items()}

    data = _Records().load(Path(root), progress=progress)
    pool_records = [*records["train"], *records["val"]]
    leak = sorted(set(pool_records) & set(DS2)) + sorted(set(records["test"]) - set(DS2))
    if leak or not set(pool_records) <= set(DS1):
        raise LeanECGError("records", f"the pool must be DS1 and the test set DS2 records, got {leak}")
    parts = (data.train, data.val)
    pool = ArraySplit(
        X=np.concatenate([p.X for p in parts]),
        y=np.concatenate([p.y for p in parts]),
        features=np.concatenate([p.features for p in parts]),
        groups=np.concatenate([p.groups for p in parts]),
        name="train",
    )
    ds = get_dataset("mitdb")
    folder = ds.require(Path(root))
    paths = [ds.record_path(folder, r) for r in pool_records]
    chunk = round(chunk_s * data.fs)
    signal_pipeline = task.pipeline()
    unlabelled = {
        "signal": signal_chunks(
            load_signals(paths, signal_pipeline, progress, "mitdb DS1 signal"), pool_records, chunk
        )
    }
    pretrain_pipelines = {"signal": signal_pipeline.to_dict()}
    if multilead:
        both = Pipeline([s for s in signal_pipeline.to_dict()["steps"] if s["op"] != "leads"])
        signals = load_signals(paths, both, progress, "mitdb DS1 both leads")
        unlabelled["multilead"] = signal_chunks(signals, pool_records, chunk)
        pretrain_pipelines["multilead"] = both.to_dict()
    info = {
        "dataset": "mitdb",
        "split": "de Chazal DS1 (all 22 records: labelled pool and unlabelled pretraining signal) / "
        "DS2 (all 22 records: test), inter-patient; no validation records",
        "train_records": pool_records,
        "test_records": list(records["test"]),
        "n_train": len(pool),
        "n_val": 0,
        "n_test": len(data.test),
        "test_records_sha256": sha256_lines(records["test"]),
        "input": data.info["input"],
        "beats": data.info["beats"],
        "pipeline": data.info["pipeline"],
        "pretraining_input": {
            "records": pool_records,
            "chunk_s": float(chunk_s),
            "n_chunks": {k: len(v) for k, v in unlabelled.items()},
            "groups": "record id (= patient id)",
            "leads": {"signal": "MLII (simclr, cmsc)", "multilead": "both leads (cmlc, one lead per view)"},
            "pipelines": pretrain_pipelines,
            "labels_or_beat_positions_used": False,
        },
        "tiny": tiny,
    }
    return LabelsData(pool, data.test, data.fs, data.input_samples, info, unlabelled)


def load_study_data(root: Path, config: LabelsConfig, tiny: bool, progress: Any) -> LabelsData:
    """The data of the config's task (cinc2017 records or mitdb-aami beats; multi-lead pretraining records
    only when a method needs them)."""
    if config.task == "cinc2017":
        return _cinc2017_data(root, config, tiny, progress)
    assert isinstance(config, MitdbLabelsConfig)
    multilead = any(m in ("cmlc", "cmsmlc") for m in config.methods)
    return load_mitdb_beats(root, chunk_s=config.chunk_s, multilead=multilead, tiny=tiny, progress=progress)


def nested_label_subsets(y: np.ndarray, fractions: Sequence[float], seed: int) -> dict[float, np.ndarray]:
    """Stratified, nested subsets of the labelled records: ``fraction -> sorted int64 indices into y``.

    Within each class the records are put in one seeded random order; fraction ``f`` keeps the first
    ``max(1, round(f * n_class))`` of each class, so a smaller fraction's subset is always inside a larger
    one's and every class is represented.
    """
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise LeanECGError("y", "expected a non-empty (N,) vector of class indices")
    for f in fractions:
        if not (isinstance(f, int | float) and 0 < float(f) <= 1):
            raise LeanECGError("fractions", f"label fractions must lie in (0, 1], got {f!r}")
    rng = np.random.default_rng([int(seed), 20170])
    orders = {c: rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)}
    out = {}
    for f in fractions:
        parts = [o[: max(1, round(float(f) * len(o)))] for o in orders.values()]
        out[float(f)] = np.sort(np.concatenate(parts)).astype(np.int64)
    return out
