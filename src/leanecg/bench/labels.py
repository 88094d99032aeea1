"""``leanecg bench labels``: label-efficiency curves on ``cinc2017`` -- scratch vs SimCLR vs CLOCS (CMSC).

Protocol (every choice is recorded in ``labels.json``):

* Data: the ``cinc2017`` bench task (seeded class-stratified 70/15/15 record split, 150 Hz, z-scored).
  Pretraining uses the records of the *training* split without their labels; fine-tuning uses a
  labelled fraction of them; F1 (mean of N, A, O, the CinC 2017 score) is measured on the test split.
* Label subsets: for each seed, the training records of each class are put in a seeded random order and
  a fraction ``f`` keeps the first ``max(1, round(f * n_class))`` of every class, so the subsets are
  stratified and **nested** (1 % is inside 5 % is inside 10 % ...).
* Pretraining: once per (method, seed), on all training records, with :func:`leanecg.ssl.pretrain`;
  every fraction of that seed fine-tunes a copy of that encoder.
* Fine-tuning: the whole network (encoder + new head), class-balanced cross-entropy, AdamW with a
  one-cycle schedule, random crops, and a fixed step budget that depends only on the number of labelled
  records (no validation split is used: with 1 % of the labels a realistic user has no 450-record
  labelled validation set, so no method gets model selection on one). Scratch and pretrained runs of a
  seed start from the same head initialisation and see the same batches.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.bench.study import sha256_lines, torch_threads
from leanecg.errors import LeanECGError

FRACTIONS: tuple[float, ...] = (0.01, 0.05, 0.10, 0.25, 1.0)
FS_MODEL = 150.0  # Hz: the studies' input rate (short, cheap inputs for a 2-core CPU budget)
METHODS: tuple[str, ...] = ("scratch", "simclr", "cmsc")
PRETRAINED = {"simclr": "simclr", "cmsc": "cmsc", "cmlc": "cmlc", "cmsmlc": "cmsmlc"}


@dataclass
class LabelsConfig:
    """The label-efficiency study's settings (defaults: the committed run).

    Attributes:
        model: zoo model name (a convolutional model with ``backbone`` / ``embed``).
        width: its channel multiplier.
        fractions: labelled fractions of the training split, each in ``(0, 1]``.
        methods: ``scratch`` and any of ``simclr``, ``cmsc`` (single-lead cinc2017 has no CMLC views).
        seeds: one label subset, pretraining and fine-tuning per seed.
        crop_s: fine-tuning crop length in seconds.
        batch_size: fine-tuning batch size.
        lr: fine-tuning peak learning rate (one-cycle).
        min_steps, min_epochs, max_epochs: fine-tuning length: ``clip(ceil(min_steps / steps_per_epoch),
            min_epochs, max_epochs)`` epochs.
        pretrain_epochs, pretrain_batch_size, pretrain_lr, segment_s, temperature: pretraining settings.
        num_threads: torch threads.
        n_boot: bootstrap resamples for the test CIs.
        max_train_seconds: optional budget per fine-tuning run.
    """

    model: str = "litenet"
    width: float = 1.0
    fractions: tuple[float, ...] = FRACTIONS
    methods: tuple[str, ...] = METHODS
    seeds: tuple[int, ...] = (0, 1, 2)
    crop_s: float = 10.0
    batch_size: int = 32
    lr: float = 3e-3
    min_steps: int = 200
    min_epochs: int = 15
    max_epochs: int = 200
    pretrain_epochs: int = 20
    pretrain_batch_size: int = 64
    pretrain_lr: float = 3e-3
    segment_s: float = 5.0
    temperature: float = 0.1
    num_threads: int | None = 1
    n_boot: int = 1000
    max_train_seconds: float | None = None

    def validate(self) -> None:
        if not self.fractions or any(not (0 < float(f) <= 1) for f in self.fractions):
            raise LeanECGError("fractions", f"label fractions must lie in (0, 1], got {list(self.fractions)}")
        bad = [m for m in self.methods if m != "scratch" and m not in ("simclr", "cmsc")]
        if bad or not self.methods:
            raise LeanECGError(
                "methods", f"unknown or unsupported method(s) {bad}; cinc2017 supports scratch, simclr, cmsc"
            )
        if not self.seeds:
            raise LeanECGError("seeds", "give at least one seed")


@dataclass
class Cinc2017Arrays:
    """The cinc2017 splits at :data:`FS_MODEL` for the label studies (signals only, no features)."""

    train: Any
    val: Any
    test: Any
    fs: float
    input_samples: int
    pipeline: Any
    info: dict[str, Any]


def load_cinc2017(root: Path, *, tiny: bool = False, progress: Any = None) -> Cinc2017Arrays:
    """The ``cinc2017`` task's record split (seeded, class-stratified 70/15/15) and labels, preprocessed
    for the label studies: band-pass 0.5-40 Hz, resample to 150 Hz, z-score (cached on disk).

    ``tiny``: the first 12 training and 6 validation / test records of each class (smoke runs).
    """
    from leanecg.bench.tasks import get_task
    from leanecg.bench.tasks.base import load_signals, per_class_head
    from leanecg.data import get_dataset
    from leanecg.signal.pipeline import Pipeline
    from leanecg.train.datasets import ArraySplit

    task = get_task("cinc2017")
    ds = get_dataset("cinc2017")
    splits = ds.split(Path(root))
    labels = ds.labels(Path(root))
    if tiny:
        splits = {k: per_class_head(v, labels, 12 if k == "train" else 6) for k, v in splits.items()}
    pipeline = Pipeline(
        [
            {"op": "bandpass", "low_hz": 0.5, "high_hz": 40.0},
            {"op": "resample", "fs_out": FS_MODEL},
            {"op": "zscore"},
        ]
    )
    out = {}
    for name, records in splits.items():
        X = load_signals(
            [ds.record_path(Path(root), r) for r in records], pipeline, progress, f"cinc2017 {name}"
        )
        y = np.array([task.class_names.index(labels[r][0]) for r in records], dtype=np.int64)
        out[name] = ArraySplit(X=X, y=y, name=name)
    info = {
        "dataset": "cinc2017",
        "split": "class-stratified 70/15/15 record split, seed 2017 (no patient ids in the data)",
        "n_train": len(out["train"]),
        "n_val": len(out["val"]),
        "n_test": len(out["test"]),
        "test_records_sha256": sha256_lines(splits["test"]),
        "input": {"fs": FS_MODEL, "leads": ["I"], "n_samples": int(30 * FS_MODEL), "variable_length": True},
        "pipeline": pipeline.to_dict(),
        "tiny": tiny,
    }
    return Cinc2017Arrays(out["train"], out["val"], out["test"], FS_MODEL, int(30 * FS_MODEL), pipeline, info)


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


def finetune_epochs(n_train: int, batch_size: int, min_steps: int, min_epochs: int, max_epochs: int) -> int:
    """Epochs of a fine-tuning run on ``n_train`` records: enough for ``min_steps`` optimizer steps."""
    steps_per_epoch = max(1, math.ceil(n_train / batch_size))
    return int(min(max_epochs, max(min_epochs, math.ceil(min_steps / steps_per_epoch))))


def summarise(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean, sd (ddof 1) and n of test F1 per (method, fraction), with the mean difference to scratch."""
    groups: dict[tuple[str, float], list[float]] = {}
    for e in entries:
        v = e["variant"]
        groups.setdefault((v["method"], float(v["label_fraction"])), []).append(e["metrics"]["f1"]["value"])
    rows = []
    for (method, frac), vals in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        a = np.asarray([x for x in vals if x is not None], dtype=float)
        rows.append(
            {
                "method": method,
                "label_fraction": frac,
                "f1_mean": float(a.mean()) if a.size else None,
                "f1_sd": float(a.std(ddof=1)) if a.size > 1 else None,
                "n_seeds": int(a.size),
                "f1_values": [float(x) for x in a],
            }
        )
    scratch = {r["label_fraction"]: r["f1_mean"] for r in rows if r["method"] == "scratch"}
    for r in rows:
        base = scratch.get(r["label_fraction"])
        r["delta_vs_scratch"] = (
            None if base is None or r["f1_mean"] is None or r["method"] == "scratch" else r["f1_mean"] - base
        )
    return rows


def run_labels_benchmark(
    data_dir: Path,
    out_dir: Path,
    *,
    config: LabelsConfig | None = None,
    tiny: bool = False,
    progress: Any = None,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Run the study; writes ``out_dir/labels.json``, ``labels.md`` and ``labels.png``; returns the document.

    ``tiny``: a few records per class, 2 pretraining epochs and 3 fine-tuning epochs -- a smoke run of
    the whole pipeline, flagged as such in every file (numbers are not results).
    """

    from leanecg.models.registry import list_models

    config = LabelsConfig() if config is None else config
    config.validate()
    if config.model not in {s.name for s in list_models()}:
        raise LeanECGError("--models", f"unknown model {config.model!r}")
    out_dir = Path(out_dir)
    previous = _previous_entries(out_dir / "labels.json", config, tiny)
    with torch_threads(config.num_threads):  # inference too, not only fit()
        return _run(data_dir, out_dir, config, tiny, progress, log, previous)


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in ("seeds", "num_threads", "extra")}


def _previous_entries(path: Path, config: LabelsConfig, tiny: bool) -> dict[str, Any] | None:
    """The entries of an earlier run in ``path`` made with the same settings (other seeds are kept)."""
    import json

    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("benchmark") != "labels" or bool(doc.get("tiny")) != tiny:
        return None
    mine = _comparable(json.loads(json.dumps(asdict(config))))
    if _comparable(doc.get("config") or {}) != mine:
        return None
    seeds = set(config.seeds)
    return {
        "results": [e for e in doc.get("results", []) if e["variant"]["seed"] not in seeds],
        "pretraining": [p for p in doc.get("pretraining", []) if p["seed"] not in seeds],
        "seeds": [s for s in doc["config"].get("seeds", []) if s not in seeds],
        "seconds_total": float(doc.get("seconds_total") or 0.0),
        "runs": list(doc.get("runs") or []),
    }


def _run(
    data_dir: Path,
    out_dir: Path,
    config: LabelsConfig,
    tiny: bool,
    progress: Any,
    log: Callable[[str], None],
    previous: dict[str, Any] | None,
) -> dict[str, Any]:
    import torch

    from leanecg.atomic import write_json
    from leanecg.bench.tasks import get_task
    from leanecg.evaluate.cost import measure_cost
    from leanecg.evaluate.results import make_result
    from leanecg.models.registry import build_model, model_config
    from leanecg.provenance import collect_provenance
    from leanecg.ssl.pretrain import PretrainConfig, pretrain
    from leanecg.train.datasets import ArraySplit
    from leanecg.train.seed import seed_everything
    from leanecg.train.trainer import TrainConfig, fit, predict_proba

    t_all = time.perf_counter()
    task = get_task("cinc2017")
    log(f"loading cinc2017 from {data_dir}")
    data = load_cinc2017(Path(data_dir), tiny=tiny, progress=progress)
    n_classes = len(task.class_names)
    fs = data.fs
    crop = round(config.crop_s * fs)
    unlabelled = ArraySplit(X=data.train.X, y=None, name="unlabelled")

    probe = build_model(config.model, n_leads=1, n_classes=n_classes, width=config.width)
    if not hasattr(probe, "backbone") or not hasattr(probe, "embed"):
        raise LeanECGError("--models", f"{config.model} has no backbone/embed(); use a convolutional model")
    cost = measure_cost(probe, (1, data.input_samples), fs, budget_s=0.5, measure_memory=False).to_dict()

    entries: list[dict[str, Any]] = []
    pretrain_log: list[dict[str, Any]] = []
    for seed in config.seeds:
        subsets = nested_label_subsets(data.train.y, config.fractions, seed)  # type: ignore[arg-type]
        encoders: dict[str, dict[str, Any] | None] = {"scratch": None}
        for method in config.methods:
            if method == "scratch":
                continue
            seed_everything(seed)
            enc_model = build_model(config.model, n_leads=1, n_classes=n_classes, width=config.width)
            pcfg = PretrainConfig(
                method=method,
                epochs=2 if tiny else config.pretrain_epochs,
                batch_size=min(config.pretrain_batch_size, len(unlabelled)),
                lr=config.pretrain_lr,
                temperature=config.temperature,
                segment_s=config.segment_s,
                seed=seed,
                num_threads=config.num_threads,
            )
            res = pretrain(enc_model, unlabelled, fs, pcfg)
            encoders[method] = copy.deepcopy(enc_model.backbone.state_dict())
            pretrain_log.append(
                {
                    "method": method,
                    "seed": seed,
                    "seconds": res.seconds,
                    "steps": res.steps,
                    "final_loss": res.history[-1]["loss"],
                    "config": pcfg.to_dict(),
                }
            )
            log(
                f"seed {seed}: pretrained {method} in {res.seconds:.0f} s (loss {res.history[-1]['loss']:.3f})"
            )
        for frac in config.fractions:
            idx = subsets[float(frac)]
            train = data.train.subset(idx, name="train")
            epochs = (
                3
                if tiny
                else finetune_epochs(
                    len(train), config.batch_size, config.min_steps, config.min_epochs, config.max_epochs
                )
            )
            for method in config.methods:
                seed_everything(seed)
                model = build_model(config.model, n_leads=1, n_classes=n_classes, width=config.width)
                state = encoders.get(method)
                if state is not None:
                    model.backbone.load_state_dict(state, strict=True)
                tcfg = TrainConfig(
                    epochs=epochs,
                    batch_size=min(config.batch_size, len(train)),
                    lr=config.lr,
                    loss="weighted_ce",
                    class_weights="balanced",
                    crop_samples=crop,
                    num_threads=config.num_threads,
                    max_train_seconds=config.max_train_seconds,
                    seed=seed,
                )
                res = fit(model, train, None, tcfg, progress=False)
                proba = predict_proba(model, data.test.X)
                ev = task.evaluate(data.test, proba, n_boot=config.n_boot, seed=seed)
                notes = (
                    [] if not tiny else ["tiny smoke run: a few records per split; numbers are not results"]
                )
                entry = make_result(
                    task="labels",
                    model=config.model,
                    family="lightweight",
                    variant={"method": method, "label_fraction": float(frac), "seed": int(seed)},
                    primary_metric="f1",
                    metrics=ev["metrics"],
                    per_class=ev["per_class"],
                    confusion=ev["confusion"],
                    cost=cost,
                    data={
                        **data.info,
                        "n_train": len(train),
                        "n_train_full": len(data.train),
                        "n_val": 0,
                        "n_unlabelled": len(unlabelled) if state is not None else 0,
                        "test_records_count": len(data.test),
                    },
                    train={
                        **res.to_dict(),
                        "history": None,
                        "model_config": model_config(model),
                        "pretrained": method != "scratch",
                    },
                    provenance={"seed": int(seed)},
                    notes=notes,
                )
                entries.append(entry)
                log(
                    f"seed {seed} {method:8s} {frac:>5.0%} ({len(train)} labels, {epochs} ep): "
                    f"F1 {entry['metrics']['f1']['value']:.4f} ({res.seconds:.0f} s)"
                )
    prov = collect_provenance(seed=int(config.seeds[0]), config=asdict(config))
    for e in entries:
        e["provenance"] = {**prov, "seed": e["variant"]["seed"]}
    seconds = time.perf_counter() - t_all
    runs = [
        {
            "seeds": list(config.seeds),
            "seconds": seconds,
            "command": prov["command"],
            "git_commit": prov["git_commit"],
        }
    ]
    if previous is not None:
        entries = previous["results"] + entries
        pretrain_log = previous["pretraining"] + pretrain_log
        config = LabelsConfig(
            **{**asdict(config), "seeds": tuple(sorted({*previous["seeds"], *config.seeds}))}
        )
        seconds += previous["seconds_total"]
        runs = previous["runs"] + runs
    entries.sort(key=lambda e: (e["variant"]["seed"], e["variant"]["label_fraction"], e["variant"]["method"]))
    summary = summarise(entries)
    doc = {
        "benchmark": "labels",
        "description": "label-efficiency curves on cinc2017: scratch vs SimCLR vs CLOCS (CMSC) fine-tuning",
        "task": "cinc2017",
        "metric": "f1 (mean of the N, A, O F1 scores, CinC 2017), test split, 0-1 scale",
        "protocol": (__doc__ or "")
        .split("Protocol (every choice is recorded in ``labels.json``):")[-1]
        .strip(),
        "config": asdict(config),
        "tiny": tiny,
        "threads": torch.get_num_threads() if config.num_threads is None else config.num_threads,
        "seconds_total": seconds,
        "runs": runs,
        "pretraining": pretrain_log,
        "summary": summary,
        "provenance": prov,
        "results": entries,
    }
    write_json(out_dir / "labels.json", doc)
    plot = write_labels_plot(summary, out_dir / "labels.png", tiny=tiny)
    write_labels_markdown(doc, out_dir / "labels.md", plot_name=plot.name if plot else None)
    return doc


def write_labels_markdown(doc: dict[str, Any], path: Path, plot_name: str | None = None) -> Path:
    """The Markdown table of a labels study (mean ± sd of test F1 per method and fraction)."""
    from leanecg.atomic import atomic_open

    summary = doc["summary"]
    fracs = sorted({r["label_fraction"] for r in summary})
    methods = [m for m in doc["config"]["methods"] if any(r["method"] == m for r in summary)]
    cell = {(r["method"], r["label_fraction"]): r for r in summary}

    def fmt(r: dict[str, Any] | None, key: str = "f1_mean") -> str:
        if r is None or r.get(key) is None:
            return "-"
        sd = f" ± {r['f1_sd']:.3f}" if r.get("f1_sd") is not None and key == "f1_mean" else ""
        return f"{r[key]:+.3f}" if key == "delta_vs_scratch" else f"{r[key]:.3f}{sd}"

    lines = [
        "# Label efficiency on cinc2017 (test F1, mean ± sd over seeds)",
        "",
    ]
    if doc.get("tiny"):
        lines += ["**Tiny smoke run: a few records per split; the numbers are not results.**", ""]
    cfg = doc["config"]
    lines += [
        f"Model `{cfg['model']}` (width {cfg['width']}), seeds {list(cfg['seeds'])}, "
        f"{cfg['num_threads']} thread(s), {doc['seconds_total'] / 60:.1f} min in total. F1 = mean of the "
        "N, A, O F1 scores (CinC 2017) on the test split, 0-1 scale. Pretraining (SimCLR, CLOCS CMSC) on the "
        f"training records without labels, {cfg['pretrain_epochs']} epochs, once per method and seed.",
        "",
        "| method | " + " | ".join(f"{f:.0%} labels" for f in fracs) + " |",
        "|---|" + "---|" * len(fracs),
    ]
    for m in methods:
        lines.append(f"| {m} | " + " | ".join(fmt(cell.get((m, f))) for f in fracs) + " |")
    for m in methods:
        if m == "scratch":
            continue
        lines.append(
            f"| {m} - scratch | "
            + " | ".join(fmt(cell.get((m, f)), "delta_vs_scratch") for f in fracs)
            + " |"
        )
    n_labels = {}
    for e in doc["results"]:
        n_labels[e["variant"]["label_fraction"]] = e["data"]["n_train"]
    lines += [
        "",
        "Labelled records per fraction: "
        + ", ".join(f"{f:.0%}: {n_labels.get(f, '-')}" for f in fracs)
        + ".",
        "",
        "Protocol: " + " ".join(doc["protocol"].split()).replace("``", "`").replace(":func:", ""),
    ]
    if plot_name:
        lines += ["", f"![label-efficiency curve]({plot_name})"]
    with atomic_open(path) as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def write_labels_plot(summary: Sequence[dict[str, Any]], path: Path, tiny: bool = False) -> Path | None:
    """F1 vs labelled fraction (log x), mean ± sd per method, as a PNG (``None`` without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return None
    from leanecg.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(6, 4))
    for method in dict.fromkeys(r["method"] for r in summary):
        rows = sorted((r for r in summary if r["method"] == method), key=lambda r: r["label_fraction"])
        x = [100 * r["label_fraction"] for r in rows]
        y = [r["f1_mean"] if r["f1_mean"] is not None else np.nan for r in rows]
        e = [r["f1_sd"] or 0.0 for r in rows]
        ax.errorbar(x, y, yerr=e, marker="o", capsize=3, label=method)
    ax.set_xscale("log")
    ax.set_xlabel("labelled training records (%)")
    ax.set_ylabel("test F1 (N, A, O)")
    ax.set_title("cinc2017 label efficiency" + (" (tiny smoke run)" if tiny else ""))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------- seeds merged per file


def _merge_seeds(
    path: Path, benchmark: str, config: dict[str, Any], tiny: bool, seeds: Sequence[int]
) -> list[dict[str, Any]]:
    """Entries (``{"seed": ...}`` dicts) of an earlier run in ``path`` with the same settings and other seeds."""
    import json

    if not path.is_file():
        return []
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return []
    if not isinstance(doc, dict) or doc.get("benchmark") != benchmark or bool(doc.get("tiny")) != tiny:
        return []
    if _comparable(doc.get("config") or {}) != _comparable(json.loads(json.dumps(config))):
        return []
    return [e for e in doc.get("entries", []) if e.get("seed") not in set(seeds)]


def _train_fn(
    model_name: str,
    width: float,
    n_classes: int,
    epochs: int,
    batch_size: int,
    lr: float,
    crop: int,
    threads: int | None,
) -> Callable[[Any, int], Any]:
    """``train_fn(split, seed) -> model`` for the noisy-label loop, memoised on (records, labels, seed)."""
    import hashlib

    from leanecg.models.registry import build_model
    from leanecg.train.seed import seed_everything
    from leanecg.train.trainer import TrainConfig, fit

    memo: dict[str, Any] = {}

    def train(split: Any, seed: int) -> Any:
        key = hashlib.sha256(
            split.lengths.tobytes() + np.asarray(split.y).tobytes() + str(seed).encode()
        ).hexdigest()
        if key not in memo:
            seed_everything(seed)
            model = build_model(model_name, n_leads=1, n_classes=n_classes, width=width)
            cfg = TrainConfig(
                epochs=epochs,
                batch_size=min(batch_size, len(split)),
                lr=lr,
                loss="weighted_ce",
                class_weights="balanced",
                crop_samples=crop,
                num_threads=threads,
                seed=seed,
            )
            fit(model, split, None, cfg, progress=False)
            if len(memo) >= 8:  # the loop reuses the noisy-label model a few trainings later
                memo.pop(next(iter(memo)))
            memo[key] = model
        return memo[key]

    return train


# ------------------------------------------------------------------------------------ noisy labels


@dataclass
class NoisyConfig:
    """Settings of the noisy-label study (:func:`run_noisy_benchmark`).

    ``model``: a classic model (``lightgbm``, ``rf``, ``logreg``, ``svm``) trained on the 79 handcrafted
    record features of :func:`leanecg.features.record.record_feature_matrix` (HRV, spectral, statistics,
    morphology), or a convolutional zoo model (``litenet``) trained on the signals (``epochs``,
    ``batch_size``, ``lr``, ``crop_s`` apply to it). ``method``, ``n_folds``, ``n_repeats``, ``threshold``,
    ``agreement``, ``rounds``, ``drop_below``: the :class:`leanecg.train.label_correction.CorrectionConfig`
    of the correction (defaults fixed before the test run: confident learning, re-label only at an
    out-of-fold probability >= 0.95, drop the other flagged records).
    """

    model: str = "lightgbm"
    width: float = 1.0
    rates: tuple[float, ...] = (0.1, 0.2, 0.4)
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 10
    batch_size: int = 64
    lr: float = 3e-3
    crop_s: float = 6.0
    method: str = "confident"
    n_folds: int = 3
    n_repeats: int = 1
    threshold: float = 0.95
    agreement: str = "none"
    rounds: int = 1
    drop_below: float | None = None
    num_threads: int | None = 1
    n_boot: int = 1000


def run_noisy_benchmark(
    data_dir: Path,
    out_dir: Path,
    *,
    config: NoisyConfig | None = None,
    tiny: bool = False,
    progress: Any = None,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Flip a fraction (``config.rates``, default 10 / 20 / 40 %) of the cinc2017 training labels (seeded,
    symmetric), then compare test F1 of a model trained on clean labels, on noisy labels, and on labels
    corrected by :func:`leanecg.train.label_correction.self_learning_correction` (retrained). Writes
    ``out_dir/<stem>.json`` and ``<stem>.md`` (stem from :func:`noisy_results_stem`: ``noisy_labels`` for
    LightGBM, ``noisy_labels_<model>_w<width>_e<epochs>`` for a zoo model; seeds of earlier runs with the
    same settings are kept)."""

    from leanecg.atomic import write_json
    from leanecg.bench.tasks import get_task
    from leanecg.models.classic import list_classic_models
    from leanecg.provenance import collect_provenance
    from leanecg.train.datasets import ArraySplit
    from leanecg.train.fewshot import embed_records
    from leanecg.train.label_correction import CorrectionConfig, flip_labels, self_learning_correction
    from leanecg.train.trainer import predict_proba

    config = NoisyConfig() if config is None else config
    out_dir = Path(out_dir)
    stem = noisy_results_stem(config)
    previous = _merge_seeds(out_dir / f"{stem}.json", "noisy_labels", asdict(config), tiny, config.seeds)
    t0 = time.perf_counter()
    with torch_threads(config.num_threads):
        task = get_task("cinc2017")
        data = load_cinc2017(Path(data_dir), tiny=tiny, progress=progress)
        n_classes = len(task.class_names)
        classic = config.model in list_classic_models()
        if classic:
            train_fn, predict_fn, embed_fn = _classic_fns(config.model)
            train_split = ArraySplit(
                X=data.train.X, y=data.train.y, features=_features(data.train), name="train"
            )
            test_split = ArraySplit(X=data.test.X, y=data.test.y, features=_features(data.test), name="test")
        else:
            crop = round(config.crop_s * data.fs)
            train_fn = _train_fn(
                config.model, config.width, n_classes, 2 if tiny else config.epochs, config.batch_size,
                config.lr, crop, config.num_threads,
            )  # fmt: skip

            def predict_fn(model: Any, split: Any) -> np.ndarray:
                return predict_proba(model, split.X)

            def embed_fn(model: Any, split: Any) -> np.ndarray:
                return embed_records(model, split)

            train_split, test_split = data.train, data.test

        def test_f1(model: Any, seed: int) -> dict[str, Any]:
            ev = task.evaluate(test_split, predict_fn(model, test_split), n_boot=config.n_boot, seed=seed)
            return ev["metrics"]["f1"]

        entries = []
        for seed in config.seeds:
            y = np.asarray(data.train.y)
            clean = test_f1(train_fn(train_split, seed), seed)
            log(f"seed {seed}: clean F1 {clean['value']:.4f}")
            for rate in config.rates:
                y_noisy, flipped = flip_labels(y, rate, n_classes, seed)
                noisy_split = ArraySplit(
                    X=train_split.X, y=y_noisy, features=train_split.features, name="train"
                )
                noisy = test_f1(train_fn(noisy_split, seed), seed)
                cc = CorrectionConfig(
                    method=config.method,
                    n_repeats=config.n_repeats,
                    n_folds=config.n_folds,
                    threshold=config.threshold,
                    agreement=config.agreement,
                    rounds=config.rounds,
                    drop_below=config.drop_below,
                    seed=seed,
                )
                corr = self_learning_correction(noisy_split, train_fn, predict_fn, cc, embed_fn=embed_fn)
                fixed = ArraySplit(X=train_split.X, y=corr.y, features=train_split.features, name="train")
                corrected = test_f1(train_fn(fixed.subset(np.flatnonzero(corr.keep)), seed), seed)
                lost = clean["value"] - noisy["value"]
                entry = {
                    "seed": int(seed),
                    "flip_rate": float(rate),
                    "f1_clean": clean,
                    "f1_noisy": noisy,
                    "f1_corrected": corrected,
                    "recovered_fraction": (corrected["value"] - noisy["value"]) / lost if lost > 0 else None,
                    "n_train": len(y),
                    "n_flipped": int(flipped.sum()),
                    "n_relabelled": int(corr.changed.sum()),
                    "n_dropped": int((~corr.keep).sum()),
                    "label_error_kept": float((corr.y[corr.keep] != y[corr.keep]).mean()),
                    "relabel_precision": float((corr.y[corr.changed] == y[corr.changed]).mean())
                    if corr.changed.any()
                    else None,
                    "flips_fixed": float((corr.y[flipped] == y[flipped]).mean()) if flipped.any() else None,
                    "flips_dropped": float((~corr.keep[flipped]).mean()) if flipped.any() else None,
                    "clean_dropped": float((~corr.keep[~flipped]).mean()) if (~flipped).any() else None,
                    "label_error_before": float((y_noisy != y).mean()),
                    "label_error_after": float((corr.y != y).mean()),
                    "rounds": corr.rounds,
                }
                entries.append(entry)
                log(
                    f"seed {seed} flips {rate:.0%}: noisy {noisy['value']:.4f} corrected {corrected['value']:.4f} "
                    f"(label error {entry['label_error_before']:.3f} -> {entry['label_error_after']:.3f})"
                )
    entries = sorted(previous + entries, key=lambda e: (e["seed"], e["flip_rate"]))
    seeds = sorted({e["seed"] for e in entries})
    summary = []
    for rate in config.rates:
        rows = [e for e in entries if e["flip_rate"] == float(rate)]
        row: dict[str, Any] = {"flip_rate": float(rate), "n_seeds": len(rows)}
        for key in ("f1_clean", "f1_noisy", "f1_corrected"):
            row[key] = _mean_sd([e[key]["value"] for e in rows])
        for key in (
            "recovered_fraction",
            "label_error_before",
            "label_error_after",
            "relabel_precision",
            "flips_fixed",
            "flips_dropped",
            "clean_dropped",
            "label_error_kept",
        ):
            row[key] = _mean_sd([e[key] for e in rows if e.get(key) is not None])
        row["noise_rate_estimate"] = _mean_sd(
            [e["rounds"][0]["noise_rate_estimate"] for e in rows if "noise_rate_estimate" in e["rounds"][0]]
        )
        row["f1_lost"] = _mean_sd([e["f1_clean"]["value"] - e["f1_noisy"]["value"] for e in rows])
        row["f1_gain"] = _mean_sd([e["f1_corrected"]["value"] - e["f1_noisy"]["value"] for e in rows])
        row.update(
            recovery_of_means(
                [[e[k]["value"] for e in rows] for k in ("f1_clean", "f1_noisy", "f1_corrected")],
                n_boot=config.n_boot,
                seed=0,
            )
        )
        summary.append(row)
    doc = {
        "benchmark": "noisy_labels",
        "description": "self-learning label correction on cinc2017 with symmetric flipped training labels",
        "metric": "test F1 (mean of N, A, O F1, CinC 2017), 0-1 scale; CIs: 95 % bootstrap of the test records",
        "protocol": " ".join((run_noisy_benchmark.__doc__ or "").split()),
        "config": {**asdict(config), "seeds": seeds},
        "tiny": tiny,
        "data": data.info,
        "seconds_last_run": time.perf_counter() - t0,
        "summary": summary,
        "entries": entries,
        "provenance": collect_provenance(seed=int(config.seeds[0]), config=asdict(config)),
    }
    write_json(out_dir / f"{stem}.json", doc)
    _write_noisy_md(doc, out_dir / f"{stem}.md")
    return doc


def noisy_results_stem(config: NoisyConfig) -> str:
    """File stem of the noisy-label study's results: ``noisy_labels`` for the default model (LightGBM),
    ``noisy_labels_<model>`` for another classic model and ``noisy_labels_<model>_w<width>_e<epochs>`` for a
    zoo model, so studies of different models and training lengths never overwrite each other."""
    from leanecg.models.classic import list_classic_models

    if config.model == NoisyConfig.model:
        return "noisy_labels"
    if config.model in list_classic_models():
        return f"noisy_labels_{config.model}"
    return f"noisy_labels_{config.model}_w{config.width:g}_e{config.epochs}"


def recovery_of_means(f1: Sequence[Sequence[float]], *, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Share of the F1 lost to noise that correction recovers, ``(mean(corrected) - mean(noisy)) /
    (mean(clean) - mean(noisy))`` over seeds, with a 95 % percentile bootstrap CI over the seeds.

    Args:
        f1: ``[clean, noisy, corrected]``, each the test F1 of every seed (same seed order, paired).
        n_boot: bootstrap resamples of the seeds (with replacement, pairs kept together).
        seed: bootstrap seed.

    Returns:
        ``recovered_fraction_of_means`` (``None`` when the noisy mean is not below the clean mean),
        ``recovered_ci95_seeds`` (``[low, high]``, ``None`` with fewer than 3 seeds) and
        ``recovered_boot_undefined`` (share of resamples that lost no F1 and were left out).
    """
    clean, noisy, corrected = (np.asarray(v, dtype=float) for v in f1)
    if not clean.size == noisy.size == corrected.size:
        raise LeanECGError("f1", "clean, noisy and corrected need one F1 per seed each")

    def ratio(idx: np.ndarray) -> float | None:
        lost = clean[idx].mean() - noisy[idx].mean()
        return float((corrected[idx].mean() - noisy[idx].mean()) / lost) if lost > 0 else None

    out: dict[str, Any] = {
        "recovered_fraction_of_means": ratio(np.arange(clean.size)) if clean.size else None,
        "recovered_ci95_seeds": None,
        "recovered_boot_undefined": None,
    }
    if clean.size >= 3:
        rng = np.random.default_rng([int(seed), 6060])
        draws = [ratio(rng.integers(0, clean.size, clean.size)) for _ in range(int(n_boot))]
        ok = np.asarray([d for d in draws if d is not None], dtype=float)
        out["recovered_boot_undefined"] = 1.0 - ok.size / len(draws)
        if ok.size:
            out["recovered_ci95_seeds"] = [float(x) for x in np.percentile(ok, [2.5, 97.5])]
    return out


def _features(split: Any) -> np.ndarray:
    """The 79 record features of each (single-lead, 150 Hz) record of ``split`` (cached on disk)."""
    from leanecg.features.record import record_feature_matrix

    F, _ = record_feature_matrix([np.asarray(x)[0] for x in split.X], FS_MODEL)
    return np.nan_to_num(F.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)


def _classic_fns(
    name: str,
) -> tuple[Callable[..., Any], Callable[..., np.ndarray], Callable[..., np.ndarray]]:
    """``train_fn(split, seed)``, ``predict_fn(model, split)`` and ``embed_fn(model, split)`` of a classic
    model on ``split.features`` (the embedding of a record is its robustly standardised feature vector:
    minus the median, divided by the interquartile range, over the split)."""
    from leanecg.models.classic import build_classic

    def train(split: Any, seed: int) -> Any:
        model = build_classic(name, seed=int(seed), class_weight="balanced")
        model.fit(split.features, split.y)
        return model

    def predict(model: Any, split: Any) -> np.ndarray:
        proba = np.zeros((len(split), 4))
        proba[:, np.asarray(model.classes_, dtype=np.int64)] = model.predict_proba(split.features)
        return proba

    def embed(model: Any, split: Any) -> np.ndarray:
        F = np.asarray(split.features, dtype=np.float64)
        q1, med, q3 = np.percentile(F, [25, 50, 75], axis=0)
        return (F - med) / np.where(q3 - q1 > 0, q3 - q1, 1.0)

    return train, predict, embed


def _mean_sd(values: Sequence[float]) -> dict[str, Any]:
    a = np.asarray(list(values), dtype=float)
    return {
        "mean": float(a.mean()) if a.size else None,
        "sd": float(a.std(ddof=1)) if a.size > 1 else None,
        "n": int(a.size),
    }


def _fmt_ms(d: dict[str, Any], pct: bool = False) -> str:
    if d.get("mean") is None:
        return "-"
    k = 100.0 if pct else 1.0
    sd = f" ± {k * d['sd']:.{1 if pct else 3}f}" if d.get("sd") is not None else ""
    return f"{k * d['mean']:.{1 if pct else 3}f}{sd}"


def _write_noisy_md(doc: dict[str, Any], path: Path) -> None:
    from leanecg.atomic import atomic_open
    from leanecg.models.classic import list_classic_models

    cfg = doc["config"]
    lines = ["# Noisy labels on cinc2017: self-learning label correction (test F1, mean ± sd over seeds)", ""]
    if doc.get("tiny"):
        lines += ["**Tiny smoke run: a few records per split; the numbers are not results.**", ""]
    if cfg.get("method", "threshold") == "confident":
        rule = (
            f"confident learning (per-class thresholds, noise rate estimated from the confident joint, prune by "
            f"noise rate); flagged records re-labelled when the out-of-fold probability of the predicted class "
            f"is >= {cfg['threshold']}, the other flagged records left out of the retraining"
        )
    else:
        rule = (
            f"re-label threshold {cfg['threshold']}, agreement `{cfg['agreement']}`, records whose own label has "
            f"out-of-fold probability < {cfg['drop_below']} left out of the retraining"
        )
    defaults = NoisyConfig()
    options = [f"--seeds {' '.join(map(str, cfg['seeds']))}"]
    for key, flag in (
        ("model", "--model"),
        ("width", "--width"),
        ("epochs", "--epochs"),
        ("batch_size", "--batch-size"),
        ("crop_s", "--crop-s"),
    ):
        if cfg.get(key, getattr(defaults, key)) != getattr(defaults, key):
            options.append(f"{flag} {cfg[key]}")
    if tuple(cfg["rates"]) != defaults.rates:
        options.append("--rates " + " ".join(str(r) for r in cfg["rates"]))
    if cfg["model"] in list_classic_models():
        model = f"Model `{cfg['model']}` on the 79 handcrafted record features"
    else:
        model = (
            f"Model `{cfg['model']}` (width {cfg['width']}) on the 150 Hz signals, {cfg['epochs']} epochs, "
            f"batch {cfg['batch_size']}, lr {cfg['lr']}, {cfg['crop_s']} s random crops, "
            f"{cfg['num_threads']} thread(s)"
        )
    lines += [
        "Command: `.venv/bin/python benchmarks/noisy_labels_cinc2017.py --data-dir ../shared/data "
        + " ".join(options)
        + "` (seeds can be run in separate invocations; they merge when the other settings match)",
        "",
        f"{model}, seeds {cfg['seeds']}, "
        f"{cfg['n_folds']}-fold out-of-fold predictions (averaged over {cfg.get('n_repeats', 1)} fold split(s)), "
        f"{rule}, {cfg['rounds']} round(s). All settings were fixed before the test run. "
        "Recovered = (corrected - noisy) / (clean - noisy): per seed (unstable when a seed's noisy model "
        "loses little) and of the seed means, with a 95 % bootstrap CI over the seeds (seeds resampled with "
        "their clean / noisy / corrected F1 kept together; the 450 test records are the same for every seed, "
        "so this CI does not cover test-set sampling).",
        "",
        "| flipped | clean F1 | noisy F1 | corrected F1 | lost (clean - noisy) | gained (corrected - noisy) "
        "| recovered (mean of seeds) | recovered (of means) [95 % CI over seeds] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["summary"]:
        rof = r["recovered_fraction_of_means"]
        ci = r.get("recovered_ci95_seeds")
        rec = "-" if rof is None else f"{rof:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
        lines.append(
            f"| {r['flip_rate']:.0%} | {_fmt_ms(r['f1_clean'])} | {_fmt_ms(r['f1_noisy'])} | "
            f"{_fmt_ms(r['f1_corrected'])} | {_fmt_ms(r.get('f1_lost', {}))} | {_fmt_ms(r.get('f1_gain', {}))} | "
            f"{_fmt_ms(r['recovered_fraction'])} | {rec} |"
        )
    lines += [
        "",
        "Labels before and after the correction (%):",
        "",
        "| flipped | label error before -> after | re-label precision | flips fixed |",
        "|---|---|---|---|",
    ]
    for r in doc["summary"]:
        lines.append(
            f"| {r['flip_rate']:.0%} | {_fmt_ms(r['label_error_before'], True)} -> "
            f"{_fmt_ms(r['label_error_after'], True)} | {_fmt_ms(r['relabel_precision'], True)} | "
            f"{_fmt_ms(r['flips_fixed'], True)} |"
        )
    if any("flips_dropped" in r for r in doc["summary"]):
        lines += [
            "",
            "Records left out of the retraining, and the label error of the records kept (%):",
            "",
            "| flipped | noise rate estimated (%) | flipped records dropped (%) | correct records dropped (%) "
            "| label error of kept records (%) |",
            "|---|---|---|---|---|",
        ]
        for r in doc["summary"]:
            lines.append(
                f"| {r['flip_rate']:.0%} | {_fmt_ms(r.get('noise_rate_estimate', {}), True)} | "
                f"{_fmt_ms(r['flips_dropped'], True)} | {_fmt_ms(r['clean_dropped'], True)} | "
                f"{_fmt_ms(r['label_error_kept'], True)} |"
            )
    lines += ["", "Protocol: " + doc["protocol"]]
    with atomic_open(path) as fh:
        fh.write("\n".join(lines) + "\n")


# ---------------------------------------------------------------------------------------- few-shot


@dataclass
class FewShotConfig:
    """Settings of the few-shot study (:func:`run_fewshot_benchmark`)."""

    model: str = "litenet"
    width: float = 1.0
    held_out: tuple[str, ...] = ("A", "O", "N")
    shots: tuple[int, ...] = (1, 5, 10)
    seeds: tuple[int, ...] = (0,)
    episodes: int = 600
    train_k_shot: int = 5
    train_n_query: int = 10
    crop_s: float = 10.0
    lr: float = 1e-3
    eval_episodes: int = 1000
    eval_n_query: int = 10
    num_threads: int | None = 1


def run_fewshot_benchmark(
    data_dir: Path,
    out_dir: Path,
    *,
    config: FewShotConfig | None = None,
    tiny: bool = False,
    progress: Any = None,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Leave-one-class-out few-shot evaluation of a prototypical network on cinc2017.

    For each held-out class, the embedding is trained episodically on the training records of the three
    other classes only; then 4-way episodes (held-out class + the three base classes) draw k = 1, 5, 10
    support records per class from the training split (the held-out class's records were never used in
    training) and 10 queries per class from the test split, and classify the queries by the nearest
    prototype. Reported: all-class accuracy and the held-out class's recall and F1, mean and 95 % CI over
    the episodes; the same episodes with the untrained (randomly initialised) encoder as a reference.
    Writes ``out_dir/fewshot.json`` and ``fewshot.md``.
    """

    from leanecg.atomic import write_json
    from leanecg.bench.tasks import get_task
    from leanecg.models.registry import build_model
    from leanecg.provenance import collect_provenance
    from leanecg.train.fewshot import EpisodeConfig, embed_records, evaluate_episodes, train_prototypical
    from leanecg.train.seed import seed_everything

    config = FewShotConfig() if config is None else config
    out_dir = Path(out_dir)
    previous = _merge_seeds(out_dir / "fewshot.json", "fewshot", asdict(config), tiny, config.seeds)
    task = get_task("cinc2017")
    names = list(task.class_names)
    for h in config.held_out:
        if h not in names:
            raise LeanECGError("held_out", f"unknown cinc2017 class {h!r}; classes: {', '.join(names)}")
    t0 = time.perf_counter()
    entries = []
    with torch_threads(config.num_threads):
        data = load_cinc2017(Path(data_dir), tiny=tiny, progress=progress)
        crop = round(config.crop_s * data.fs)
        all_classes = list(range(len(names)))
        ytr, yte = np.asarray(data.train.y), np.asarray(data.test.y)
        for seed in config.seeds:
            for h in config.held_out:
                novel = names.index(h)
                base = [c for c in all_classes if c != novel]
                seed_everything(seed)
                model = build_model(config.model, n_leads=1, n_classes=len(names), width=config.width)
                untrained = {
                    "train": embed_records(model, data.train),
                    "test": embed_records(model, data.test),
                }
                ecfg = EpisodeConfig(
                    episodes=20 if tiny else config.episodes,
                    n_way=len(base),
                    k_shot=2 if tiny else config.train_k_shot,
                    n_query=2 if tiny else config.train_n_query,
                    crop_samples=crop,
                    lr=config.lr,
                    seed=seed,
                    num_threads=config.num_threads,
                )
                t1 = time.perf_counter()
                history = train_prototypical(model, data.train, base, ecfg)
                seconds = time.perf_counter() - t1
                trained = {"train": embed_records(model, data.train), "test": embed_records(model, data.test)}
                for encoder, emb in (("prototypical", trained), ("untrained", untrained)):
                    for k in config.shots:
                        if min(int((ytr == c).sum()) for c in all_classes) < k:
                            continue
                        sc = evaluate_episodes(
                            emb["train"],
                            ytr,
                            emb["test"],
                            yte,
                            all_classes,
                            novel,
                            k,
                            n_query=config.eval_n_query,
                            n_episodes=50 if tiny else config.eval_episodes,
                            seed=seed,
                        )
                        entries.append(
                            {
                                "seed": int(seed),
                                "held_out": h,
                                "base_classes": [names[c] for c in base],
                                "encoder": encoder,
                                **sc.to_dict(),
                                "train_seconds": seconds if encoder == "prototypical" else None,
                                "train_history": history
                                if encoder == "prototypical" and k == config.shots[0]
                                else None,
                            }
                        )
                        log(
                            f"seed {seed} held-out {h} {encoder:12s} k={k:2d}: acc {sc.accuracy_mean:.3f} "
                            f"± {sc.accuracy_ci95:.3f}, novel recall {sc.novel_recall_mean:.3f}"
                        )
    entries = sorted(previous + entries, key=lambda e: (e["seed"], e["held_out"], e["encoder"], e["k_shot"]))
    doc = {
        "benchmark": "fewshot",
        "description": "prototypical network, leave-one-class-out k-shot classification on cinc2017",
        "protocol": " ".join((run_fewshot_benchmark.__doc__ or "").split()),
        "config": {**asdict(config), "seeds": sorted({e["seed"] for e in entries})},
        "tiny": tiny,
        "data": data.info,
        "seconds_last_run": time.perf_counter() - t0,
        "entries": entries,
        "provenance": collect_provenance(seed=int(config.seeds[0]), config=asdict(config)),
    }
    write_json(out_dir / "fewshot.json", doc)
    _write_fewshot_md(doc, out_dir / "fewshot.md")
    return doc


def _write_fewshot_md(doc: dict[str, Any], path: Path) -> None:
    from leanecg.atomic import atomic_open

    cfg = doc["config"]
    lines = ["# Few-shot rhythm classes on cinc2017: prototypical network (held-out class)", ""]
    if doc.get("tiny"):
        lines += ["**Tiny smoke run: a few records per split; the numbers are not results.**", ""]
    lines += [
        f"Model `{cfg['model']}` embedding, {cfg['episodes']} training episodes ({cfg['train_k_shot']}-shot, "
        f"{cfg['train_n_query']} queries) on the 3 base classes; {cfg['eval_episodes']} evaluation episodes per "
        f"k (4-way: held-out + base classes, {cfg['eval_n_query']} test queries per class); seeds {cfg['seeds']}. "
        "Values: mean ± 95 % CI over episodes (pooled over seeds: mean of the seeds' means and CIs).",
        "",
        "| held-out class | encoder | k | 4-way accuracy | held-out recall | held-out F1 |",
        "|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for e in doc["entries"]:
        groups.setdefault((e["held_out"], e["encoder"], e["k_shot"]), []).append(e)
    for (h, enc, k), es in sorted(groups.items()):

        def cell(key: str, es: list[dict[str, Any]] = es) -> str:
            m = float(np.mean([e[f"{key}_mean"] for e in es]))
            ci = float(np.mean([e[f"{key}_ci95"] for e in es]))
            return f"{m:.3f} ± {ci:.3f}"

        lines.append(
            f"| {h} | {enc} | {k} | {cell('accuracy')} | {cell('novel_recall')} | {cell('novel_f1')} |"
        )
    lines += ["", "Protocol: " + doc["protocol"]]
    with atomic_open(path) as fh:
        fh.write("\n".join(lines) + "\n")


def run_labels_cli(
    models: str | None,
    data_dir: Path | None,
    out: Path,
    *,
    seed: int = 0,
    epochs: int | None = None,
    max_train_seconds: float | None = None,
    threads: int | None = 1,
    n_boot: int = 1000,
    tiny: bool = False,
    save_models: Path | None = None,
    progress: Any = None,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """``leanecg bench labels``: the bench options mapped onto :class:`LabelsConfig`.

    ``--models`` one convolutional zoo model (default litenet); ``--seed S`` runs seeds S, S+1, S+2;
    ``--epochs`` sets the pretraining epochs; ``--max-train-seconds`` caps each fine-tuning run.
    """
    from leanecg.data import resolve_data_dir

    if save_models is not None:
        raise LeanECGError("--save-models", "is not supported by the labels study (it trains 45 models)")
    names = [m.strip() for m in models.split(",") if m.strip()] if models else ["litenet"]
    if len(names) != 1:
        raise LeanECGError("--models", f"the labels study takes one model, got {', '.join(names)}")
    if epochs is not None and epochs < 1:
        raise LeanECGError("--epochs", f"must be a positive number of pretraining epochs, got {epochs}")
    if threads is not None and threads < 1:
        raise LeanECGError("--threads", f"must be a positive integer, got {threads}")
    if n_boot < 1:
        raise LeanECGError("--n-boot", f"must be a positive integer, got {n_boot}")
    defaults = LabelsConfig()
    config = LabelsConfig(
        model=names[0],
        seeds=(seed, seed + 1, seed + 2),
        pretrain_epochs=epochs or defaults.pretrain_epochs,
        max_train_seconds=max_train_seconds,
        num_threads=threads,
        n_boot=n_boot,
    )
    return run_labels_benchmark(
        resolve_data_dir(data_dir), out, config=config, tiny=tiny, progress=progress, log=log
    )
