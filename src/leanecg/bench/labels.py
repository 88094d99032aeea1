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

from leanecg.bench.study import comparable_config, sha256_lines, torch_threads
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
    mine = comparable_config(json.loads(json.dumps(asdict(config))))
    if comparable_config(doc.get("config") or {}) != mine:
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
