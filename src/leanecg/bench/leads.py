"""``leanecg bench leads``: how much do fewer leads cost? Reduced-lead models on 12-lead PTB-XL.

Protocol (every choice is recorded in ``leads.json``):

* Data: the ``ptbxl-superclass`` bench task (:mod:`leanecg.tasks.ptbxl_superclass`): PTB-XL records
  on disk, ``strat_fold`` 1-8 train / 9 validation / 10 test, the five diagnostic superclasses
  (multi-label), 12 leads at 100 Hz, 10 s, band-passed and z-scored per lead. 95 % CIs resample patients.
* Lead sets: the PhysioNet/CinC 2021 sets 12, 6 (I, II, III, aVR, aVL, aVF), 4 (I, II, III, V2),
  3 (I, II, V2), 2 (I, II) and single-lead I and II (:data:`leanecg.signal.leads.LEAD_SETS`), taken from
  the same 12-lead records, so every set is scored on the same test records.
* Three ways to get a model for a lead set, each a row of the table:

  1. **per-set**: a CNN (default ``litenet``) trained and validated on that lead set only.
  2. **12-lead, zero-filled**: the per-set model of the 12-lead set, run on the subset with the absent
     leads zero-filled (:func:`predict_on_leads`, which says so in its output); its F1 thresholds are
     chosen on validation data with the same leads absent. It was never trained without those leads.
  3. **lead-wise, masked**: one :class:`~leanecg.models.leadwise.LeadWiseNet` (a single-lead encoder
     shared by all leads, a lead-identity embedding, pooling over the present leads) trained once on 12
     leads with random lead-set dropout (:class:`LeadSetDropout`) and run on each subset natively:
     absent leads are masked out of the pooling and cost no compute. Its weights are the same for
     every lead set.

* Training: binary cross-entropy with balanced positive weights, AdamW one-cycle (lr 3e-3), batch 32,
  early stopping on validation macro AUROC (restoring the best epoch). Per-class F1 thresholds are
  chosen on validation predictions.
* Seeds: everything trained is trained once per seed (default 3: ``--seed S`` runs S, S+1, S+2; a tiny
  smoke run only S). The table gives the mean ± sd over seeds of each row's test macro AUROC, with the
  mean of the seeds' 95 % CIs (each CI covers test-record sampling for one trained model).
* Results: one ``leanecg.result/1`` document per (lead set, model, approach) under ``results`` (ROC / PR
  curves left out to keep the file small; per-class AUROC, AUPRC, F1 and thresholds are kept).
* Cost: :func:`leanecg.evaluate.cost.measure_cost` on one 10 s input of the set's leads (batch 1, one
  thread), with ``resnet1d`` (width 1, same input) timed in the same run as the latency reference.
* Lead-selection search: the trained lead-wise model scores **every** non-empty subset of the 12 leads
  (4095) on the *validation* split by masking (per-lead embeddings are computed once); subsets are ranked
  by validation macro AUROC, the greedy forward-selection path is reported, and the best validation
  subset of each size is then scored once on the test split. The ranking is that of a model trained for
  lead dropout, not of models retrained per subset; it is reported for the first seed, with every seed's
  greedy path beside it.
* CinC 2021: the staged sample has 50 records, 26 scored classes (most with 1-5 positives) and no patient
  ids; a 70/15/15 split leaves ~7 test records, so a trained model's challenge metric there would be noise.
  It is therefore not part of this table (``leads.json`` says so under ``cinc2021``).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.bench.lead_subsets import (
    LeadSetDropout,
    greedy_path,
    lead_indices,
    predict_on_leads,
    rank_lead_subsets,
    zero_fill,
)
from leanecg.bench.leads_config import APPROACHES, LEADWISE, REFERENCE_MODEL, TASK, LeadsConfig
from leanecg.bench.leads_report import fmt_value, summary_table, write_leads_markdown
from leanecg.bench.study import sha256_lines, torch_threads
from leanecg.signal.leads import LEAD_SETS

__all__ = [
    "APPROACHES",
    "LEADWISE",
    "REFERENCE_MODEL",
    "TASK",
    "LeadSetDropout",
    "LeadsConfig",
    "greedy_path",
    "lead_indices",
    "predict_on_leads",
    "rank_lead_subsets",
    "run_leads_benchmark",
    "run_leads_cli",
    "summary_table",
    "write_leads_markdown",
    "zero_fill",
]


def run_leads_benchmark(
    data_dir: Path,
    out_dir: Path,
    *,
    config: LeadsConfig | None = None,
    tiny: bool = False,
    progress: Any = None,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Run the study; writes ``out_dir/leads.json`` and ``out_dir/leads.md``; returns the document.

    ``tiny``: a few records per split and 2 epochs -- a smoke run, flagged as such in both files.
    """
    config = LeadsConfig() if config is None else config
    config.validate()
    with torch_threads(config.num_threads):
        return _run(Path(data_dir), Path(out_dir), config, tiny, progress, log)


def _run(
    data_dir: Path,
    out_dir: Path,
    config: LeadsConfig,
    tiny: bool,
    progress: Any,
    log: Callable[[str], None],
) -> dict[str, Any]:
    from leanecg.atomic import write_json
    from leanecg.provenance import collect_provenance
    from leanecg.tasks import get_task

    t_all = time.perf_counter()
    task = get_task(TASK)
    log(f"loading {task.name} from {data_dir}")
    data = task.load(data_dir, tiny=tiny, seed=config.seed, progress=progress)
    log(f"train {len(data.train)} / val {len(data.val)} / test {len(data.test)} records")
    all_leads = list(data.info["input"]["leads"])
    seeds = tuple(config.seeds[:1] if tiny else config.seeds)
    config = replace(config, seeds=seeds, seed=seeds[0])
    prov = collect_provenance(seed=seeds[0], config=asdict(config))
    entries: list[dict[str, Any]] = []
    searches: list[dict[str, Any]] = []
    for seed in seeds:
        run_config = replace(config, seed=seed)
        log(f"seed {seed}")
        seed_entries: list[dict[str, Any]] = []
        for name in (m for m in config.models if m != LEADWISE):
            seed_entries += _per_set_rows(task, data, name, all_leads, run_config, tiny, log)
        if LEADWISE in config.models:
            lw_entries, search = _leadwise_rows(task, data, all_leads, run_config, tiny, log)
            seed_entries += lw_entries
            searches.append({"seed": seed, **search})
        for e in seed_entries:
            e["variant"]["seed"] = seed
            e["provenance"] = {**prov, "seed": seed}
        entries += seed_entries
    doc = {
        "benchmark": "leads",
        "description": "reduced-lead models on PTB-XL (12-lead, multi-label superclasses): per-set training, "
        "12-lead model with zero-filled leads, lead-wise weight-sharing model with masked leads",
        "task": task.name,
        "metric": "macro_auroc (mean AUROC over NORM, MI, STTC, CD, HYP), test split (fold 10), 0-1 scale, "
        "95 % patient-level percentile bootstrap CI",
        "protocol": (__doc__ or "")
        .split("Protocol (every choice is recorded in ``leads.json``):")[-1]
        .strip(),
        "config": asdict(config),
        "tiny": tiny,
        "seconds_total": time.perf_counter() - t_all,
        "lead_sets": {k: list(LEAD_SETS[k]) for k in config.lead_sets},
        "data": {**data.info, "test_records_sha256": sha256_lines(data.info["test_records"])},
        "table": summary_table(entries),
        "lead_selection": searches[0] if searches else None,
        "lead_selection_greedy_by_seed": [
            {"seed": x["seed"], "greedy_forward": x["greedy_forward"]} for x in searches
        ],
        "cinc2021": {
            "included": False,
            "reason": "the staged CinC 2021 sample has 50 records from 3 sources, 26 scored classes with 1-5 "
            "positives for most, and no patient ids: a 70/15/15 split leaves about 7 test records, too few "
            "to train on or to give the challenge metric any meaning, even with wide CIs. Run the study on the "
            "full challenge data (88,253 records) for a challenge-metric table.",
        },
        "provenance": prov,
        "results": entries,
    }
    write_json(out_dir / "leads.json", doc)
    write_leads_markdown(doc, out_dir / "leads.md")
    return doc


def _train(
    task: Any,
    model: Any,
    train: Any,
    val: Any,
    config: LeadsConfig,
    tiny: bool,
    augment: Any = None,
) -> Any:
    from leanecg.train.seed import seed_everything
    from leanecg.train.trainer import fit

    seed_everything(config.seed)
    tcfg = task.train_config(tiny=tiny, seed=config.seed, epochs=config.epochs)
    tcfg.num_threads = config.num_threads
    tcfg.max_train_seconds = config.max_train_seconds
    tcfg.batch_size = min(tcfg.batch_size, len(train))
    tcfg.validate()
    return fit(model, train, val, tcfg, metric_fn=task.val_metric, augment=augment, progress=False)


def _split_leads(split: Any, idx: Sequence[int], name: str) -> Any:
    from leanecg.train.datasets import ArraySplit

    return ArraySplit(
        X=np.ascontiguousarray(split.X[:, list(idx)]), y=split.y, groups=split.groups, name=name
    )


def _thresholds(y_val: np.ndarray, p_val: np.ndarray) -> np.ndarray:
    from leanecg.evaluate.multilabel import select_thresholds

    t = select_thresholds(y_val, p_val, metric="f1")
    return np.where(np.isfinite(t), t, 0.5)  # a class without validation positives: default cut


def _cost(model: Any, n_leads: int, data: Any, config: LeadsConfig) -> dict[str, Any]:
    from leanecg.evaluate.cost import measure_cost
    from leanecg.models.registry import build_model

    ref = build_model(REFERENCE_MODEL, n_leads=n_leads, n_classes=len(data.train.y[0]))
    return measure_cost(
        model,
        (n_leads, data.input_samples),
        data.fs,
        reference=ref,
        reference_name=REFERENCE_MODEL,
        budget_s=config.cost_budget_s,
        seed=config.seed,
    ).to_dict()


def _entry(
    task: Any,
    data: Any,
    *,
    model_name: str,
    family: str | None,
    lead_set: str,
    approach: str,
    ev: dict[str, Any],
    cost: dict[str, Any],
    train: dict[str, Any],
    missing: dict[str, Any],
    notes: list[str],
    tiny: bool,
) -> dict[str, Any]:
    from leanecg.evaluate.results import make_result

    leads = list(LEAD_SETS[lead_set])
    if tiny:
        notes = [*notes, "tiny smoke run: a few records per split; numbers are not results"]
    if missing["missing"] != "none":
        notes = [*notes, missing["note"]]
    return make_result(
        task="leads",
        model=model_name,
        family=family,
        variant={
            "lead_set": lead_set,
            "leads": leads,
            "approach": approach,
            "missing_leads": missing["missing"],
        },
        primary_metric=task.primary_metric,
        metrics=ev["metrics"],
        per_class=ev["per_class"],
        cost=cost,
        data={
            **{k: v for k, v in data.info.items() if k not in ("input", "test_records")},
            "test_records_sha256": sha256_lines(data.info["test_records"]),
            "bench_task": task.name,
            "input": {
                **data.info["input"],
                "leads": leads,
                "model_leads": missing["model_leads"],
                "missing_leads": missing["missing_leads"],
                "missing": missing["missing"],
            },
        },
        train=train,
        provenance={"seed": 0},  # replaced by the study's provenance and seed
        notes=notes,
    )


def _per_set_rows(
    task: Any,
    data: Any,
    name: str,
    all_leads: list[str],
    config: LeadsConfig,
    tiny: bool,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Per-set training of ``name`` for every lead set, plus its 12-lead model run zero-filled."""
    from leanecg.models.registry import build_model, list_models, model_config
    from leanecg.train.seed import seed_everything
    from leanecg.train.trainer import predict_proba

    family = next(s.family for s in list_models() if s.name == name)
    n_classes = len(task.class_names)
    out = []
    full: dict[str, Any] | None = None
    for set_name in config.lead_sets:
        leads = list(LEAD_SETS[set_name])
        idx = lead_indices(all_leads, leads)
        tr, va, te = (_split_leads(s, idx, s.name) for s in (data.train, data.val, data.test))
        seed_everything(config.seed)  # the initial weights depend only on the seed
        model = build_model(name, n_leads=len(leads), n_classes=n_classes)
        t0 = time.perf_counter()
        res = _train(task, model, tr, va, config, tiny)
        thr = _thresholds(va.y, predict_proba(model, va.X))
        ev = task.evaluate(
            te, predict_proba(model, te.X), n_boot=config.n_boot, seed=config.seed, thresholds=thr
        )
        cost = _cost(model, len(leads), data, config)
        train = {
            **res.to_dict(),
            "history": None,
            "model_config": model_config(model),
            "thresholds": thr.tolist(),
        }
        missing = {"missing": "none", "model_leads": leads, "missing_leads": [], "note": ""}
        out.append(
            _entry(
                task,
                data,
                model_name=name,
                family=family,
                lead_set=set_name,
                approach="per-set",
                ev=ev,
                cost=cost,
                train=train,
                missing=missing,
                notes=[f"trained on leads {', '.join(leads)}"],
                tiny=tiny,
            )
        )
        _log_row(log, out[-1], time.perf_counter() - t0)
        if len(leads) == len(all_leads) and set(leads) == set(all_leads):
            full = {"model": model, "cost": cost, "train": train, "leads": leads}
    if full is None:
        return out
    # the 12-lead model on every smaller set, absent leads zero-filled
    for set_name in config.lead_sets:
        leads = list(LEAD_SETS[set_name])
        if set(leads) == set(full["leads"]):
            continue
        idx = lead_indices(all_leads, leads)
        p_val, info = predict_on_leads(full["model"], data.val.X[:, idx], leads, full["leads"])
        p_test, info = predict_on_leads(full["model"], data.test.X[:, idx], leads, full["leads"])
        thr = _thresholds(data.val.y, p_val)
        ev = task.evaluate(data.test, p_test, n_boot=config.n_boot, seed=config.seed, thresholds=thr)
        cost = {
            **full["cost"],
            "notes": "the 12-lead model: it still computes on all 12 channels (zeros included)",
        }
        out.append(
            _entry(
                task,
                data,
                model_name=name,
                family=family,
                lead_set=set_name,
                approach="12-lead zero-filled",
                ev=ev,
                cost=cost,
                train={
                    **full["train"],
                    "thresholds": thr.tolist(),
                    "thresholds_from": "validation, same leads absent",
                },
                missing=info,
                notes=["trained on 12 leads"],
                tiny=tiny,
            )
        )
        _log_row(log, out[-1], None)
    return out


def _leadwise_rows(
    task: Any,
    data: Any,
    all_leads: list[str],
    config: LeadsConfig,
    tiny: bool,
    log: Callable[[str], None],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Train the lead-wise model once on 12 leads (lead-set dropout), evaluate every set by masking, search."""
    from leanecg.evaluate.metrics import metrics_with_ci
    from leanecg.models.registry import build_model, model_config
    from leanecg.tasks.ptbxl_superclass import macro_auroc
    from leanecg.train.seed import seed_everything
    from leanecg.train.trainer import predict_proba

    n_classes = len(task.class_names)
    seed_everything(config.seed)
    model = build_model(LEADWISE, n_leads=len(all_leads), n_classes=n_classes, leads=all_leads)
    aug = LeadSetDropout(
        all_leads, [LEAD_SETS[s] for s in config.lead_sets], config.p_full, config.p_challenge_set
    )
    t0 = time.perf_counter()
    res = _train(task, model, data.train, data.val, config, tiny, augment=aug)
    log(f"{LEADWISE}: trained on 12 leads with lead-set dropout in {time.perf_counter() - t0:.0f} s")
    base_train = {
        **res.to_dict(),
        "history": None,
        "model_config": model_config(model),
        "augment": {
            "lead_set_dropout": {
                "p_full": config.p_full,
                "p_challenge_set": config.p_challenge_set,
                "otherwise": "each lead kept with p 0.5 (at least one)",
            }
        },
    }
    state = copy.deepcopy(model.state_dict())
    out = []
    for set_name in config.lead_sets:
        leads = list(LEAD_SETS[set_name])
        idx = lead_indices(all_leads, leads)
        sub = build_model(LEADWISE, n_leads=len(leads), n_classes=n_classes, leads=leads)
        sub.load_state_dict(state, strict=True)
        p_val = predict_proba(sub, data.val.X[:, idx], multilabel=True)
        p_test = predict_proba(sub, data.test.X[:, idx], multilabel=True)
        thr = _thresholds(data.val.y, p_val)
        ev = task.evaluate(data.test, p_test, n_boot=config.n_boot, seed=config.seed, thresholds=thr)
        cost = _cost(sub, len(leads), data, config)
        missing_leads = [n for n in all_leads if n not in leads]
        info = {
            "missing": "masked" if missing_leads else "none",
            "model_leads": all_leads,
            "missing_leads": missing_leads,
            "note": f"leads {', '.join(missing_leads)} absent: masked out by the lead-wise model "
            "(same weights as the 12-lead model; no compute spent on them)",
        }
        out.append(
            _entry(
                task,
                data,
                model_name=LEADWISE,
                family="lightweight",
                lead_set=set_name,
                approach="lead-wise masked",
                ev=ev,
                cost=cost,
                train={**base_train, "model_config": model_config(sub), "thresholds": thr.tolist()},
                missing=info,
                notes=["trained once on 12 leads with random lead-set dropout"],
                tiny=tiny,
            )
        )
        _log_row(log, out[-1], None)

    # lead-selection search on the validation split
    t1 = time.perf_counter()
    ranking = rank_lead_subsets(model, data.val.X, data.val.y, all_leads, macro_auroc)
    path = greedy_path(ranking, all_leads)
    by_size: dict[int, list[dict[str, Any]]] = {}
    for r in ranking:
        by_size.setdefault(r["size"], []).append(r)
    best_test = []
    for size, rows in sorted(by_size.items()):
        best = rows[0]
        idx = lead_indices(all_leads, best["leads"])
        sub = build_model(LEADWISE, n_leads=len(idx), n_classes=n_classes, leads=best["leads"])
        sub.load_state_dict(state, strict=True)
        p_test = predict_proba(sub, data.test.X[:, idx], multilabel=True)
        m = metrics_with_ci(
            lambda y, p: {"macro_auroc": macro_auroc(y, p)},
            data.test.y,
            p_test,
            groups=data.test.groups,
            n_boot=config.n_boot,
            seed=config.seed,
        )["macro_auroc"]
        best_test.append(
            {"size": size, "leads": best["leads"], "val_score": best["score"], "test_macro_auroc": m}
        )
    challenge = []
    for set_name in config.lead_sets:
        key = sorted(LEAD_SETS[set_name], key=all_leads.index)
        row = next(r for r in ranking if sorted(r["leads"], key=all_leads.index) == key)
        size_rank = 1 + sum(1 for r in by_size[row["size"]] if r["score"] > row["score"])
        challenge.append(
            {
                "lead_set": set_name,
                "leads": list(LEAD_SETS[set_name]),
                "val_score": row["score"],
                "rank_overall": row["rank"],
                "rank_within_size": size_rank,
                "n_subsets_of_size": len(by_size[row["size"]]),
            }
        )
    search = {
        "method": "exhaustive: every non-empty subset of the 12 leads scored on the validation split by the "
        "lead-wise model (trained once with lead-set dropout), absent leads masked; greedy forward selection "
        "read off the same scores; best validation subset of each size then scored once on test",
        "metric": "validation macro_auroc",
        "n_subsets": len(ranking),
        "seconds": time.perf_counter() - t1,
        "top_per_size": {str(s): rows[: config.search_top] for s, rows in sorted(by_size.items())},
        "greedy_forward": path,
        "best_per_size_on_test": best_test,
        "challenge_sets": challenge,
    }
    log(f"lead-subset search: {len(ranking)} subsets ranked in {search['seconds']:.1f} s")
    return out, search


def _log_row(log: Callable[[str], None], e: dict[str, Any], seconds: float | None) -> None:
    m = e["metrics"]["macro_auroc"]
    took = f" ({seconds:.0f} s)" if seconds is not None else ""
    log(
        f"{e['model']:9s} {e['variant']['lead_set']:>5s} {e['variant']['approach']:20s} macro AUROC "
        f"{fmt_value(m['value'])} [{fmt_value(m['ci_low'])}, {fmt_value(m['ci_high'])}]{took}"
    )


def run_leads_cli(
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
    progress: Any = None,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """``leanecg bench leads``: the bench options mapped onto :class:`LeadsConfig`.

    ``--models``: comma-separated per-set CNNs plus optionally ``leadwise`` (default ``litenet,leadwise``);
    ``--seed S`` runs seeds S, S+1, S+2 (``--tiny``: S only).
    """
    from leanecg.data import resolve_data_dir

    names = tuple(m.strip() for m in models.split(",") if m.strip()) if models else LeadsConfig().models
    config = LeadsConfig(
        models=names,
        epochs=epochs,
        seeds=(seed, seed + 1, seed + 2),
        seed=seed,
        num_threads=threads,
        n_boot=n_boot,
        max_train_seconds=max_train_seconds,
    )
    config.validate()  # bad options are reported before the data is looked for
    return run_leads_benchmark(
        resolve_data_dir(data_dir), out, config=config, tiny=tiny, progress=progress, log=log
    )
