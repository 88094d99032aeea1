"""``leanecg bench labels``: label-efficiency curves -- scratch vs SimCLR vs CLOCS -- on ``cinc2017`` records
and on ``mitdb-aami`` beats.

Protocol, cinc2017 (every choice is recorded in ``labels.json``):

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

Protocol, mitdb-aami (every choice is recorded in ``labels_mitdb-aami.json``):

* Data: the ``mitdb-aami`` bench task's beats and inputs (lead MLII, 0.5-40 Hz band-pass, 180 Hz; a
  126-sample window from 0.25 s before to 0.45 s after each reference R peak, plus the task's 13 causal
  beat features -- RR intervals, RR ratios, similarity to the running template -- which need no labels
  and are model inputs as in the task; Q beats excluded). The labelled pool is every beat of the 22 DS1
  records (51,013 beats; the task's 8 early-stopping records are part of it, since no validation is used
  here). The test set is every beat of the 22 DS2 records (49,705 beats), scored with the task's own
  evaluation: SVEB and VEB sensitivity (Se), positive predictivity (+P) and F1, and the primary score
  ``f1`` = the task's primary metric ``sveb_veb_f1``, the mean of the S and V F1 (0-1 scale; CIs by
  bootstrap over DS2 records).
* Label subsets: nested, stratified subsets of the DS1 beats, drawn as for cinc2017 (every class keeps
  at least one beat; seeded per seed).
* Pretraining: once per (method, seed), on DS1 signal only and without labels or beat positions (no DS2
  sample is ever read): every DS1 record, band-passed and resampled like the task (no normalisation), is
  cut into non-overlapping ``chunk_s`` chunks that carry their record id (= patient id) as ``groups``;
  views are ``segment_s`` windows (0.7 s = 126 samples, the beat-window length), so the encoder is
  exactly the ``beatnet`` backbone (with its per-window normalisation) that is then fine-tuned. SimCLR:
  two augmented copies of one random window (the library's default ECG augmentations); CMSC: two
  adjacent windows of a chunk (neighbouring beats), with every view of the same record a positive; CMLC:
  one window seen in MLII and in the record's second lead (V1, V2, V4 or V5), one lead per view, so the
  encoder stays single-lead.
* Fine-tuning: the whole model (pretrained backbone + a new head that also takes the beat features), the
  task's plain recipe without early stopping: class-balanced cross-entropy, AdamW with a one-cycle
  schedule, batch 256, lr 3e-3, and a fixed step budget that depends only on the number of labelled
  beats (no validation-based model selection). Scratch and pretrained runs of a seed start from the same
  head initialisation and see the same batches. The step budget and pretraining length were set from
  timings on the measuring machine (a run budget) before any DS2 score was seen, and are the same for
  every method.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.bench.labels_config import (
    FRACTIONS,
    FS_MODEL,
    LABELS_TASKS,
    METHODS,
    PRETRAINED,
    LabelsConfig,
    LabelsStudy,
    MitdbLabelsConfig,
    labels_results_stem,
    labels_study,
)
from leanecg.bench.labels_data import (
    MITDB_TINY_RECORDS,
    LabelsData,
    load_mitdb_beats,
    load_study_data,
    nested_label_subsets,
    signal_chunks,
)
from leanecg.bench.labels_report import summarise, write_labels_markdown, write_labels_plot
from leanecg.bench.study import comparable_run, torch_threads
from leanecg.errors import LeanECGError
from leanecg.tasks.cinc2017 import Cinc2017Arrays, load_cinc2017  # noqa: F401  (public here before the move)

__all__ = [
    "FRACTIONS",
    "FS_MODEL",
    "LABELS_TASKS",
    "METHODS",
    "MITDB_TINY_RECORDS",
    "PRETRAINED",
    "LabelsConfig",
    "LabelsData",
    "MitdbLabelsConfig",
    "finetune_epochs",
    "labels_results_stem",
    "load_mitdb_beats",
    "nested_label_subsets",
    "run_labels_benchmark",
    "run_labels_cli",
    "signal_chunks",
    "summarise",
    "write_labels_markdown",
    "write_labels_plot",
]


def finetune_epochs(n_train: int, batch_size: int, min_steps: int, min_epochs: int, max_epochs: int) -> int:
    """Epochs of a fine-tuning run on ``n_train`` records: enough for ``min_steps`` optimizer steps."""
    steps_per_epoch = max(1, math.ceil(n_train / batch_size))
    return int(min(max_epochs, max(min_epochs, math.ceil(min_steps / steps_per_epoch))))


def run_labels_benchmark(
    data_dir: Path,
    out_dir: Path,
    *,
    config: LabelsConfig | None = None,
    tiny: bool = False,
    progress: Any = None,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Run the study; returns the document.

    The task is the config's: :class:`LabelsConfig` (default) runs cinc2017 and writes
    ``out_dir/labels.json``, ``labels.md`` and ``labels.png``; :class:`MitdbLabelsConfig` runs mitdb-aami
    beats and writes ``labels_mitdb-aami.{json,md,png}`` (:func:`labels_results_stem`).

    ``tiny``: a few records, 2 pretraining epochs and 3 fine-tuning epochs -- a smoke run of the whole
    pipeline, flagged as such in every file (numbers are not results).
    """

    from leanecg.models.registry import list_models

    config = LabelsConfig() if config is None else config
    config.validate()
    if config.model not in {s.name for s in list_models()}:
        raise LeanECGError("models", f"unknown model {config.model!r}")
    out_dir = Path(out_dir)
    with torch_threads(config.num_threads):  # inference too, not only fit()
        return _run(data_dir, out_dir, config, tiny, progress, log)


def _previous_entries(path: Path, config: LabelsConfig, tiny: bool) -> dict[str, Any] | None:
    """The entries of an earlier run in ``path`` made with the same settings (other seeds are kept)."""
    doc = comparable_run(path, "labels", asdict(config), tiny)
    if doc is None or doc.get("task", "cinc2017") != config.task:
        return None
    seeds = set(config.seeds)
    return {
        "results": [e for e in doc.get("results", []) if e["variant"]["seed"] not in seeds],
        "pretraining": [p for p in doc.get("pretraining", []) if p["seed"] not in seeds],
        "seeds": [s for s in doc["config"].get("seeds", []) if s not in seeds],
        "seconds_total": float(doc.get("seconds_total") or 0.0),
        "runs": list(doc.get("runs") or []),
    }


def _task_metrics(study: LabelsStudy, ev: dict[str, Any]) -> dict[str, Any]:
    """The task's metrics with the study's score as ``f1`` (mitdb-aami: ``sveb_veb_f1``) first, plus the
    S and V F1 (``sveb_f1``, ``veb_f1``, from the same confusion matrix) for beat tasks."""
    metrics = dict(ev["metrics"])
    if study.metric == "f1":
        return metrics
    out = {"f1": dict(metrics[study.metric]), **metrics}
    for name, cls in (("sveb_f1", "S"), ("veb_f1", "V")):
        if cls in ev["per_class"]:
            out[name] = {"value": ev["per_class"][cls]["f1"]}
    return out


def _run(
    data_dir: Path,
    out_dir: Path,
    config: LabelsConfig,
    tiny: bool,
    progress: Any,
    log: Callable[[str], None],
) -> dict[str, Any]:
    import torch

    from leanecg.atomic import file_lock, write_json
    from leanecg.evaluate.cost import measure_cost
    from leanecg.evaluate.results import make_result
    from leanecg.models.registry import build_model, list_models, model_config
    from leanecg.provenance import collect_provenance
    from leanecg.ssl.pretrain import PretrainConfig, encoder_input_leads, pretrain
    from leanecg.tasks import get_task
    from leanecg.train.datasets import ArraySplit
    from leanecg.train.seed import seed_everything
    from leanecg.train.trainer import TrainConfig, fit, predict_proba

    t_all = time.perf_counter()
    study = labels_study(config.task)
    task = get_task(config.task)
    log(f"loading {config.task} from {data_dir}")
    data = load_study_data(Path(data_dir), config, tiny, progress)
    n_classes = len(task.class_names)
    n_leads = data.train.n_leads
    fs = data.fs
    crop = None if config.crop_s is None else round(config.crop_s * fs)
    spec = next(s for s in list_models() if s.name == config.model)
    n_feat = data.train.n_features if spec.takes_features else 0
    train_pool, test = data.train, data.test
    if not n_feat and train_pool.features is not None:  # a model without a features input
        train_pool, test = (
            ArraySplit(X=s.X, y=s.y, groups=s.groups, name=s.name) for s in (train_pool, test)
        )

    def build(leads: int) -> Any:
        return build_model(
            config.model, n_leads=leads, n_classes=n_classes, width=config.width, n_features=n_feat
        )

    probe = build(n_leads)
    if not hasattr(probe, "backbone") or not hasattr(probe, "embed"):
        raise LeanECGError("models", f"{config.model} has no backbone/embed(); use a convolutional model")
    cost = measure_cost(
        probe,
        (n_leads, data.input_samples),
        fs,
        budget_s=0.5,
        measure_memory=False,
        extra_inputs={"features": (n_feat,)} if n_feat else None,
    ).to_dict()

    entries: list[dict[str, Any]] = []
    pretrain_log: list[dict[str, Any]] = []
    for seed in config.seeds:
        subsets = nested_label_subsets(train_pool.y, config.fractions, seed)  # type: ignore[arg-type]
        encoders: dict[str, dict[str, Any] | None] = {"scratch": None}
        n_unlabelled: dict[str, int] = {"scratch": 0}
        for method in config.methods:
            if method == "scratch":
                continue
            unlabelled = data.pretrain_split(method)
            enc_leads = encoder_input_leads(method, unlabelled.n_leads)
            if enc_leads != n_leads:
                raise LeanECGError(
                    "methods",
                    f"{method} pretrains a {enc_leads}-lead encoder; the task's model has {n_leads}",
                )
            seed_everything(seed)
            enc_model = build(enc_leads)
            pcfg = PretrainConfig(
                method=method,
                epochs=2 if tiny else config.pretrain_epochs,
                batch_size=min(config.pretrain_batch_size, len(unlabelled)),
                lr=config.pretrain_lr,
                temperature=config.temperature,
                segment_s=config.segment_s,
                seed=seed,
                num_threads=config.num_threads,
                **config.pretrain_options(),
            )
            res = pretrain(enc_model, unlabelled, fs, pcfg)
            encoders[method] = copy.deepcopy(enc_model.backbone.state_dict())
            n_unlabelled[method] = len(unlabelled)
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
            train = train_pool.subset(idx, name="train")
            epochs = (
                3
                if tiny
                else finetune_epochs(
                    len(train), config.batch_size, config.min_steps, config.min_epochs, config.max_epochs
                )
            )
            for method in config.methods:
                seed_everything(seed)
                model = build(n_leads)
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
                proba = predict_proba(model, test.X, features=test.features)
                ev = task.evaluate(test, proba, n_boot=config.n_boot, seed=seed)
                notes = (
                    [] if not tiny else ["tiny smoke run: a few records per split; numbers are not results"]
                )
                entry = make_result(
                    task=study.stem,
                    model=config.model,
                    family="lightweight",
                    variant={"method": method, "label_fraction": float(frac), "seed": int(seed)},
                    primary_metric="f1",
                    metrics=_task_metrics(study, ev),
                    per_class=ev["per_class"],
                    confusion=ev["confusion"],
                    cost=cost,
                    data={
                        **data.info,
                        "n_train": len(train),
                        "n_train_full": len(train_pool),
                        "n_val": 0,
                        "n_unlabelled": n_unlabelled[method],
                        "test_records_count": len(test),
                        "train_class_counts": np.bincount(train.y, minlength=n_classes).tolist(),
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
    with file_lock(out_dir / f"{study.stem}.json"):  # other processes (other seeds) merge into the same file
        # seeds already in the file, read now: a process running other seeds meanwhile has written them
        previous = _previous_entries(out_dir / f"{study.stem}.json", config, tiny)
        if previous is not None:
            entries = previous["results"] + entries
            pretrain_log = previous["pretraining"] + pretrain_log
            config = type(config)(
                **{**asdict(config), "seeds": tuple(sorted({*previous["seeds"], *config.seeds}))}
            )
            seconds += previous["seconds_total"]
            runs = previous["runs"] + runs
        entries.sort(
            key=lambda e: (e["variant"]["seed"], e["variant"]["label_fraction"], e["variant"]["method"])
        )
        summary = summarise(entries)
        doc = {
            "benchmark": "labels",
            "description": study.description,
            "task": config.task,
            "metric": study.metric_text,
            "protocol": _protocol(config.task),
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
        write_json(out_dir / f"{study.stem}.json", doc)
        plot = write_labels_plot(
            summary,
            out_dir / f"{study.stem}.png",
            tiny=tiny,
            task=config.task,
            ylabel=study.ylabel,
            unit=study.unit,
        )
        write_labels_markdown(doc, out_dir / f"{study.stem}.md", plot_name=plot.name if plot else None)
        return doc


def _protocol(task: str) -> str:
    """The task's protocol section of this module's docstring (what the JSON records)."""
    text = __doc__ or ""
    head = f"Protocol, {task} (every choice is recorded in ``{labels_study(task).stem}.json``):"
    body = text.split(head)[-1]
    return body.split("\nProtocol, ")[0].strip()


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
    task: str = "cinc2017",
    progress: Any = None,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """``leanecg bench labels``: the bench options mapped onto the task's config.

    ``task`` (``--labels-task``): ``cinc2017`` (:class:`LabelsConfig`, outputs ``labels.*``) or
    ``mitdb-aami`` (:class:`MitdbLabelsConfig`, outputs ``labels_mitdb-aami.*``). ``--models`` one
    convolutional zoo model (default: litenet / beatnet); ``--seed S`` runs seeds S, S+1, S+2;
    ``--epochs`` sets the pretraining epochs; ``--max-train-seconds`` caps each fine-tuning run.
    """
    from leanecg.data import resolve_data_dir

    study = labels_study(task)
    if save_models is not None:
        raise LeanECGError("save_models", "is not supported by the labels study (it trains 45 models)")
    names = [m.strip() for m in models.split(",") if m.strip()] if models else []
    if len(names) > 1:
        raise LeanECGError("models", f"the labels study takes one model, got {', '.join(names)}")
    defaults = study.config()
    config = study.config(  # the config checks the numbers (leanecg.config declarations)
        model=names[0] if names else defaults.model,
        seeds=(seed, seed + 1, seed + 2),
        pretrain_epochs=defaults.pretrain_epochs if epochs is None else epochs,
        max_train_seconds=max_train_seconds,
        num_threads=threads,
        n_boot=n_boot,
    )
    return run_labels_benchmark(
        resolve_data_dir(data_dir), out, config=config, tiny=tiny, progress=progress, log=log
    )
