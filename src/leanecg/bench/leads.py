"""``leanecg bench leads``: how much do fewer leads cost? Reduced-lead models on 12-lead PTB-XL.

Protocol (every choice is recorded in ``leads.json``):

* Data: the ``ptbxl-superclass`` bench task (:mod:`leanecg.bench.tasks.ptbxl_superclass`): PTB-XL records
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
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.bench.study import finite_mean, sha256_lines, torch_threads
from leanecg.errors import LeanECGError
from leanecg.signal.leads import LEAD_SETS, STANDARD_12, canonical_lead_name

TASK = "ptbxl-superclass"
REFERENCE_MODEL = "resnet1d"
LEADWISE = "leadwise"
APPROACHES = ("per-set", "12-lead zero-filled", "lead-wise masked")


@dataclass
class LeadsConfig:
    """Settings of the reduced-lead study.

    Attributes:
        models: the per-set CNN(s) (any zoo model without a feature input) and, optionally, ``leadwise``.
        lead_sets: names of :data:`~leanecg.signal.leads.LEAD_SETS` to evaluate.
        epochs: maximum training epochs (``None``: the task's 40; early stopping on validation AUROC).
        seeds: one training (per-set models, lead-wise model, search) per seed.
        seed: the seed of the training being run (set from ``seeds`` by the study; seeds weights, lead
            dropout and the bootstrap).
        num_threads: torch threads (training and inference).
        n_boot: bootstrap resamples for the CIs.
        max_train_seconds: time budget per trained model (``None``: none).
        p_full: lead-wise training: probability that a record keeps all 12 leads.
        p_challenge_set: probability that it keeps one of the CinC 2021 lead sets (uniformly chosen);
            otherwise every lead is kept with probability 0.5 (at least one).
        search_top: subsets listed per size in the lead-selection ranking.
        cost_budget_s: seconds of timing per cost measurement.
    """

    models: tuple[str, ...] = ("litenet", LEADWISE)
    lead_sets: tuple[str, ...] = tuple(LEAD_SETS)
    epochs: int | None = None
    seeds: tuple[int, ...] = (0, 1, 2)
    seed: int = 0
    num_threads: int | None = 1
    n_boot: int = 1000
    max_train_seconds: float | None = None
    p_full: float = 0.3
    p_challenge_set: float = 0.4
    search_top: int = 5
    cost_budget_s: float = 1.0

    def validate(self) -> None:
        from leanecg.models.registry import list_models

        specs = {s.name: s for s in list_models()}
        if not self.models:
            raise LeanECGError("--models", "give at least one model")
        for m in self.models:
            if m not in specs:
                raise LeanECGError("--models", f"unknown model {m!r}; available: {', '.join(sorted(specs))}")
            if m in ("beatnet", "wide_deep", "wide_deep_lite"):
                raise LeanECGError(
                    "--models", f"{m} needs a feature input; the leads study uses signal-only models"
                )
        for s in self.lead_sets:
            if s not in LEAD_SETS:
                raise LeanECGError("lead_sets", f"unknown lead set {s!r}; available: {', '.join(LEAD_SETS)}")
        if not self.seeds or any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in self.seeds):
            raise LeanECGError("--seed", f"seeds must be non-negative integers, got {list(self.seeds)}")
        if self.epochs is not None and self.epochs < 1:
            raise LeanECGError("--epochs", f"must be a positive integer, got {self.epochs}")
        if self.num_threads is not None and self.num_threads < 1:
            raise LeanECGError("--threads", f"must be a positive integer, got {self.num_threads}")
        if self.n_boot < 1:
            raise LeanECGError("--n-boot", f"must be a positive integer, got {self.n_boot}")
        if not (
            0 <= self.p_full <= 1
            and 0 <= self.p_challenge_set <= 1
            and self.p_full + self.p_challenge_set <= 1
        ):
            raise LeanECGError("p_full", "p_full and p_challenge_set must be probabilities summing to <= 1")


# ---------------------------------------------------------------------------------------------------------
# running a model on fewer leads


def lead_indices(available: Sequence[str], wanted: Sequence[str], source: str = "leads") -> list[int]:
    """Positions of ``wanted`` lead names among ``available`` (any spelling); unknown names raise."""
    have = [canonical_lead_name(str(n)) for n in available]
    out = []
    for w in wanted:
        c = canonical_lead_name(str(w))
        if c not in have:
            raise LeanECGError(source, f"lead {w!r} is not among the available leads {', '.join(have)}")
        out.append(have.index(c))
    return out


def zero_fill(
    X: np.ndarray, have_leads: Sequence[str], model_leads: Sequence[str] = STANDARD_12
) -> tuple[np.ndarray, np.ndarray]:
    """Place channels-first records ``X`` ``(N, len(have_leads), T)`` into a ``model_leads`` layout.

    Returns:
        ``(X_full, present)``: float32 ``(N, len(model_leads), T)`` with the absent leads all zero, and a
        bool ``(len(model_leads),)`` mask of the leads that hold signal.
    """
    X = np.asarray(X)
    if X.ndim != 3 or X.shape[1] != len(have_leads):
        raise LeanECGError("X", f"expected (N, {len(have_leads)}, n_samples) records, got shape {X.shape}")
    model = [canonical_lead_name(str(n)) for n in model_leads]
    have = [canonical_lead_name(str(n)) for n in have_leads]
    extra = [h for h in have if h not in model]
    if extra:
        raise LeanECGError(
            "leads", f"lead {extra[0]} is not an input of the model (its leads: {', '.join(model)})"
        )
    out = np.zeros((X.shape[0], len(model), X.shape[2]), dtype=np.float32)
    present = np.zeros(len(model), dtype=bool)
    for i, name in enumerate(have):
        out[:, model.index(name)] = X[:, i]
        present[model.index(name)] = True
    return out, present


def predict_on_leads(
    model: Any,
    X: np.ndarray,
    have_leads: Sequence[str],
    model_leads: Sequence[str] = STANDARD_12,
    *,
    multilabel: bool | None = None,
    batch_size: int = 64,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Run a model trained on ``model_leads`` on records that only have ``have_leads``.

    Absent leads are zero-filled (:func:`zero_fill`); a :class:`~leanecg.models.leadwise.LeadWiseNet`
    masks zero leads out of its pooling, any other model sees the zeros as signal.

    Returns:
        ``(proba, info)``: probabilities ``(N, n_classes)`` and what was done: ``model_leads``,
        ``present_leads``, ``missing_leads``, ``missing`` (``"none"``, ``"zero-filled"`` or ``"masked"``)
        and a one-line ``note`` to show next to the prediction.
    """
    from leanecg.models.leadwise import LeadWiseNet
    from leanecg.train.trainer import predict_proba

    X_full, present = zero_fill(X, have_leads, model_leads)
    model_names = [canonical_lead_name(str(n)) for n in model_leads]
    missing = [n for n, p in zip(model_names, present, strict=True) if not p]
    if not missing:
        how = "none"
        note = "all the model's leads present"
    elif isinstance(model, LeadWiseNet):
        how = "masked"
        note = f"leads {', '.join(missing)} absent: zero-filled and masked out by the lead-wise model"
    else:
        how = "zero-filled"
        note = (
            f"leads {', '.join(missing)} absent: zero-filled; the model was trained on "
            f"{len(model_names)} leads and never saw them missing"
        )
    proba = predict_proba(model, X_full, batch_size=batch_size, multilabel=multilabel)
    info = {
        "model_leads": model_names,
        "present_leads": [n for n, p in zip(model_names, present, strict=True) if p],
        "missing_leads": missing,
        "missing": how,
        "note": note,
    }
    return proba, info


class LeadSetDropout:
    """Batched training augmentation: each record keeps a random lead subset, the others are zeroed.

    With probability ``p_full`` all leads stay; with ``p_challenge_set`` one of ``lead_sets`` (uniformly);
    otherwise each lead is kept with probability 0.5 (at least one). For models that mask zero leads
    (:class:`~leanecg.models.leadwise.LeadWiseNet`), so they learn to work on any subset.

    Args:
        leads: the channel names of the training records.
        lead_sets: lead subsets (names) to favour.
        p_full, p_challenge_set: see above.
    """

    batched = True

    def __init__(
        self,
        leads: Sequence[str],
        lead_sets: Sequence[Sequence[str]],
        p_full: float = 0.3,
        p_challenge_set: float = 0.4,
    ) -> None:
        self.n_leads = len(leads)
        self.masks = []
        for s in lead_sets:
            m = np.zeros(self.n_leads, dtype=bool)
            m[lead_indices(leads, s, "lead_sets")] = True
            self.masks.append(m)
        self.p_full = float(p_full)
        self.p_set = float(p_challenge_set)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        keep = np.ones((x.shape[0], self.n_leads), dtype=bool)
        u = rng.random(x.shape[0])
        for i in range(x.shape[0]):
            if u[i] < self.p_full:
                continue
            if u[i] < self.p_full + self.p_set and self.masks:
                keep[i] = self.masks[int(rng.integers(len(self.masks)))]
            else:
                k = rng.random(self.n_leads) < 0.5
                if not k.any():
                    k[int(rng.integers(self.n_leads))] = True
                keep[i] = k
        return (x * keep[:, :, None]).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------
# lead-selection search


def rank_lead_subsets(
    model: Any,
    X: np.ndarray,
    y: np.ndarray,
    leads: Sequence[str],
    metric_fn: Callable[[np.ndarray, np.ndarray], float],
    max_size: int | None = None,
) -> list[dict[str, Any]]:
    """Score every non-empty lead subset (up to ``max_size`` leads) with a lead-wise model, by masking.

    The per-lead embeddings of ``X`` ``(N, len(leads), T)`` are computed once; each subset then costs one
    masked pooling and the classifier. Returns one dict per subset, ``{"leads", "size", "score"}``, sorted
    by score (best first; NaN last), ties by size then lead order.
    """
    import torch

    from leanecg.models.leadwise import LeadWiseNet

    if not isinstance(model, LeadWiseNet):
        raise LeanECGError("model", "the lead-subset search needs a lead-wise (masking) model")
    names = [canonical_lead_name(str(n)) for n in leads]
    max_size = len(names) if max_size is None else int(max_size)
    was = model.training
    model.eval()
    try:
        with torch.inference_mode():
            z = torch.cat(
                [
                    model.lead_embeddings(torch.from_numpy(np.asarray(X[i : i + 128], dtype=np.float32)))
                    for i in range(0, len(X), 128)
                ]
            )
            rows = []
            for size in range(1, max_size + 1):
                for combo in itertools.combinations(range(len(names)), size):
                    mask = torch.zeros((z.shape[0], len(names)), dtype=torch.bool)
                    mask[:, list(combo)] = True
                    logits = model.head_from_embeddings(z, mask).double().numpy()
                    proba = 0.5 * (1.0 + np.tanh(0.5 * logits))  # as predict_proba
                    rows.append(
                        {
                            "leads": [names[i] for i in combo],
                            "size": size,
                            "score": float(metric_fn(y, proba)),
                            "_key": combo,
                        }
                    )
    finally:
        model.train(was)
    rows.sort(key=lambda r: (-(r["score"] if np.isfinite(r["score"]) else -np.inf), r["size"], r["_key"]))
    for rank, r in enumerate(rows, 1):
        r["rank"] = rank
        del r["_key"]
    return rows


def greedy_path(ranking: Sequence[dict[str, Any]], leads: Sequence[str]) -> list[dict[str, Any]]:
    """Greedy forward selection over a subset ranking: start empty, add the lead that scores best."""
    score = {tuple(sorted(r["leads"], key=list(leads).index)): r["score"] for r in ranking}
    chosen: list[str] = []
    path = []
    while len(chosen) < len(leads):
        best, best_score = None, -np.inf
        for lead in leads:
            if lead in chosen:
                continue
            key = tuple(sorted([*chosen, lead], key=list(leads).index))
            s = score.get(key, np.nan)
            if np.isfinite(s) and s > best_score:
                best, best_score = lead, s
        if best is None:
            break
        chosen.append(best)
        path.append({"added": best, "leads": list(chosen), "score": float(best_score)})
    return path


# ---------------------------------------------------------------------------------------------------------
# the study


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
    from leanecg.bench.tasks import get_task
    from leanecg.provenance import collect_provenance

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
    from leanecg.bench.metrics import metrics_with_ci
    from leanecg.bench.tasks.ptbxl_superclass import macro_auroc
    from leanecg.models.registry import build_model, model_config
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
        f"{_f(m['value'])} [{_f(m['ci_low'])}, {_f(m['ci_high'])}]{took}"
    )


def _f(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def summary_table(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (lead set, model, approach) over the seeds' results: macro AUROC mean (``macro_auroc``),
    sd over seeds (ddof 1; ``None`` with one seed), the seeds' values, the mean of their 95 % CI bounds,
    mean AUPRC and F1, and the cost (params, MACs, bytes; latency: median over the seeds' timings)."""

    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for e in entries:
        groups.setdefault((e["variant"]["lead_set"], e["model"], e["variant"]["approach"]), []).append(e)
    rows = []
    for es in groups.values():
        e0 = es[0]
        auroc = [e["metrics"]["macro_auroc"]["value"] for e in es]
        finite = [x for x in auroc if x is not None and np.isfinite(x)]

        def cost(key: str, es: list[dict[str, Any]] = es) -> Any:
            v = [e["cost"].get(key) for e in es if e["cost"].get(key) is not None]
            return float(np.median(v)) if v and key.startswith("latency") else (v[0] if v else None)

        rows.append(
            {
                "lead_set": e0["variant"]["lead_set"],
                "leads": e0["variant"]["leads"],
                "model": e0["model"],
                "approach": e0["variant"]["approach"],
                "missing_leads": e0["variant"]["missing_leads"],
                "seeds": [e["variant"].get("seed") for e in es],
                "n_seeds": len(es),
                "macro_auroc": finite_mean(auroc),
                "macro_auroc_sd": float(np.std(finite, ddof=1)) if len(finite) > 1 else None,
                "macro_auroc_values": auroc,
                "ci_low": finite_mean([e["metrics"]["macro_auroc"]["ci_low"] for e in es]),
                "ci_high": finite_mean([e["metrics"]["macro_auroc"]["ci_high"] for e in es]),
                "macro_auprc": finite_mean([e["metrics"]["macro_auprc"]["value"] for e in es]),
                "macro_f1": finite_mean([e["metrics"]["macro_f1"]["value"] for e in es]),
                "params": cost("params"),
                "macs": cost("macs"),
                "bytes_fp32": cost("bytes_fp32"),
                "latency_ms_median": cost("latency_ms_median"),
                "latency_ratio_vs_reference": cost("latency_ratio_vs_reference"),
            }
        )
    return rows


def write_leads_markdown(doc: dict[str, Any], path: Path) -> Path:
    """The Markdown report of a leads study: the table per lead set and the lead-selection ranking."""
    from leanecg.atomic import atomic_open
    from leanecg.evaluate.report import report_title

    lines = [f"# {report_title('Reduced-lead benchmark (`leanecg bench leads`)', bool(doc.get('tiny')))}", ""]
    if doc.get("tiny"):
        lines += ["**Tiny smoke run: a few records per split, 2 epochs. These numbers are not results.**", ""]
    d = doc["data"]
    lines += [
        f"Task `{doc['task']}`: {d.get('split')}; {d.get('n_train')} train / {d.get('n_val')} val / "
        f"{d.get('n_test')} test records, 12 leads at {d['input']['fs']:g} Hz, 10 s. Metric: {doc['metric']}.",
        f"Cost: one input of the set's leads, batch 1, one thread; latency ratio vs `{REFERENCE_MODEL}` "
        "(width 1, same input) timed in the same run. Total time "
        f"{doc['seconds_total']:.0f} s.",
        "",
        f"Seeds {list(doc['config'].get('seeds', [doc['config'].get('seed', 0)]))}: macro AUROC is the mean ± sd "
        "over seeds, in brackets the mean of the seeds' 95 % CIs; AUPRC and F1 are means over seeds.",
        "",
        "| lead set | leads | model | approach | macro AUROC ± sd [95 % CI] | macro AUPRC | macro F1 | params | "
        "MACs | latency ms | vs resnet1d |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = {s: i for i, s in enumerate(doc["lead_sets"])}
    for r in sorted(
        doc["table"],
        key=lambda r: (order.get(r["lead_set"], 99), APPROACHES.index(r["approach"]), r["model"]),
    ):
        lines.append(
            f"| {r['lead_set']} | {', '.join(r['leads'])} | {r['model']} | {r['approach']} | "
            f"{_f(r['macro_auroc'])}{_sd(r.get('macro_auroc_sd'))} [{_f(r['ci_low'])}, {_f(r['ci_high'])}] | "
            f"{_f(r['macro_auprc'])} | "
            f"{_f(r['macro_f1'])} | {r['params']:,} | {_macs(r['macs'])} | {_f(r['latency_ms_median'], 2)} | "
            f"{_f(r['latency_ratio_vs_reference'], 2)} |"
        )
    lines += [
        "",
        "*per-set*: trained on that lead set. *12-lead zero-filled*: the 12-lead per-set model run with the "
        "absent leads set to zero (never trained that way; cost is that of the 12-lead model). *lead-wise "
        "masked*: one weight-sharing model trained on 12 leads with lead-set dropout, absent leads masked "
        "(weights identical for every set; compute only for present leads).",
        "",
    ]
    s = doc.get("lead_selection")
    if s:
        lines += [
            f"## Lead-selection search (validation macro AUROC, lead-wise model of seed {s.get('seed', 0)}, masking)",
            "",
            s["method"] + ".",
            "",
        ]
        lines += ["| size | best validation subset | val AUROC | test AUROC [95 % CI] |", "|---|---|---|---|"]
        for b in s["best_per_size_on_test"]:
            t = b["test_macro_auroc"]
            lines.append(
                f"| {b['size']} | {', '.join(b['leads'])} | {_f(b['val_score'])} | "
                f"{_f(t['value'])} [{_f(t['ci_low'])}, {_f(t['ci_high'])}] |"
            )
        lines += [
            "",
            "Greedy forward selection: "
            + " -> ".join(f"{p['added']} ({_f(p['score'])})" for p in s["greedy_forward"])
            + ".",
            "",
        ]
        for g in doc.get("lead_selection_greedy_by_seed") or []:
            if g["seed"] != s.get("seed"):
                lines += [
                    f"Greedy forward selection, seed {g['seed']}: "
                    + " -> ".join(f"{p['added']} ({_f(p['score'])})" for p in g["greedy_forward"])
                    + ".",
                    "",
                ]
        lines += [
            "| CinC 2021 set | val AUROC | rank among subsets of its size | overall rank (of "
            f"{s['n_subsets']}) |",
            "|---|---|---|---|",
        ]
        for c in s["challenge_sets"]:
            lines.append(
                f"| {c['lead_set']} ({', '.join(c['leads'])}) | {_f(c['val_score'])} | "
                f"{c['rank_within_size']} / {c['n_subsets_of_size']} | {c['rank_overall']} |"
            )
        lines += [
            "",
            f"Top {doc['config']['search_top']} subsets per size are in `leads.json` "
            "(`lead_selection.top_per_size`).",
            "",
        ]
    c = doc.get("cinc2021") or {}
    if not c.get("included", True):
        lines += ["## CinC 2021", "", "Not included: " + c["reason"], ""]
    with atomic_open(path, "w") as fh:
        fh.write("\n".join(lines))
    return Path(path)


def _sd(v: float | None) -> str:
    return "" if v is None else f" ± {v:.3f}"


def _macs(v: Any) -> str:
    if v is None:
        return "n/a"
    return f"{v / 1e6:.2f} M"


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
