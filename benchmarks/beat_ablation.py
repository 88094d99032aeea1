"""Ablation of the mitdb-aami beat-model recipe: what each ingredient gives, by DS1 CV and on DS2.

Every row is one finished recipe (the task's attributes, :mod:`leanecg.tasks.mitdb_aami`) trained with
``beatnet`` (or the row's ``models``: another zoo model, or several whose probabilities are averaged, as
``leanecg ensemble`` does); for each seed the row is cross-validated leave-records-out over the 22 DS1 records
(``--cv`` folds, the selection figure) and then trained on all of its training records and scored once on
DS2. The results file counts every DS2 evaluation this script has made (``ds2_evaluations``), including
those of rows run earlier and resumed.

    .venv/bin/python benchmarks/beat_ablation.py --data-dir ../shared/data --seeds 3 --cv 5

Seed ensembles: each run keeps its out-of-fold CV probabilities (``beat_ablation_oof/``, not committed);
once a row has all its seeds, ensembles of k of those seeds' recipes are scored on the averaged out-of-fold
probabilities, each figure the mean over all k-subsets (``ensemble_cv``) - the CV figure of a package
``leanecg ensemble`` builds from k of the row's ``--save-models`` packages. The model to ship is chosen on
these CV figures, never on DS2. ``--report`` also scores class-prior shifts chosen on DS1 by nested CV
(:func:`_bias_cv`: does an operating point tuned on some patients carry to others?).

Resumable: a finished (row, seed) pair in ``benchmarks/results/beat_ablation.json`` is not recomputed.
``--refresh-oof`` recomputes the kept out-of-fold probabilities of recorded runs (e.g. on a fresh clone, for
``benchmarks/sveb_gate_cv.py``): cross-validation only, no DS2 beat read, the results file unchanged; each
run's recomputed CV is printed beside the recorded one (equal on the recording machine; the network's training
is not bit-reproducible across CPUs).
Writes ``beat_ablation.{json,md}``: CV pooled and DS2 SVEB / VEB sensitivity and +P, mean ± sd over seeds,
with the DS2 95 % CIs (bootstrap over records) of each seed averaged.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from leanecg.atomic import atomic_open, file_lock, finite_json, write_json
from leanecg.bench.cv import cv_folds
from leanecg.bench.runner import cross_validate, run_deep
from leanecg.data import resolve_data_dir
from leanecg.models.registry import ensemble_of
from leanecg.package.model import save_model_package
from leanecg.provenance import collect_provenance
from leanecg.tasks.mitdb_aami import MitdbAamiTask
from leanecg.train.trainer import predict_proba

_V1 = {"train_uses_val": True, "rr_context": False, "train_epochs": 20}
_ALL_DS1 = {"train_uses_val": False, "rr_context": False, "train_epochs": 10}
_CONTEXT = {**_ALL_DS1, "rr_context": True}
_AUGMENT = {**_CONTEXT, "flip_p": 0.3, "noise": 0.1}
_MEDIANS = {**_V1, "rr_medians": True}

#: (row name, what it changes, the task attributes of the row; the others keep the task's defaults). The
#: first row is the earlier shipped recipe; each "+" row adds one ingredient to the row above it; "-" rows
#: take one ingredient away from the current task defaults.
ROWS: list[tuple[str, str, dict[str, Any]]] = [
    ("v1 recipe", "14 DS1 records train, 8 validate (early stopping); RR + template features", _V1),
    ("+ all DS1 records", "all 22 DS1 records train, fixed epoch budget (no early stopping)", _ALL_DS1),
    ("+ RR context", "prematurity vs local rhythm, compensatory pause, rhythm irregularity", _CONTEXT),
    ("+ transfer augmentation", "polarity flips (p 0.3), noise (0.1 x window sd)", _AUGMENT),
    ("- templates", "'+ RR context' without the template features", {**_CONTEXT, "templates": False}),
    (
        "+ RR medians",
        "v1 recipe + RR against running medians of the rhythm (32, 300, previous 5 beats)",
        _MEDIANS,
    ),
    (
        "+ RR medians + context",
        "'+ RR medians' + the rhythm-context columns",
        {**_MEDIANS, "rr_context": True},
    ),
    (
        "+ ensemble distillation",
        "v1 recipe trained as the student of a 3-seed ensemble of v1 recipes (T 2, alpha 0.5): one model's cost",
        {**_V1, "distill_teachers": 3},
    ),
    (
        "+ real noise",
        "v1 recipe + real ambulatory noise (NSTDB baseline wander and muscle artefact, SNR 6-24 dB) on half the "
        "training windows",
        {**_V1, "real_noise_p": 0.5},
    ),
    (
        "+ second lead",
        "v1 recipe + the record's second lead (V1 in most records) as a second input channel, zeroed in 30 % "
        "of training windows (one-lead fallback)",
        {**_V1, "second_lead": True, "lead_dropout": 0.3},
    ),
    (
        "linear model",
        "a logistic regression on the RR + template features (zoo model `linear`, 56 weights, solved to "
        "convergence, C 1, balanced class weights) instead of beatnet; the v1 recipe's 14 training records",
        {**_V1, "models": ("linear",)},
    ),
    (
        "+ linear member",
        "v1 recipe's beatnet and the 'linear model' averaged (`leanecg ensemble`; CV and DS2 of the pair)",
        {**_V1, "models": ("beatnet", "linear")},
    ),
    (
        "linear model (all DS1)",
        "'linear model' fitted on all 22 DS1 records (a convex fit needs no validation records)",
        {**_ALL_DS1, "models": ("linear",)},
    ),
    (
        "+ linear member (all DS1)",
        "v1 recipe's beatnet and 'linear model (all DS1)' averaged",
        {**_V1, "models": ("beatnet", ("linear", _ALL_DS1))},
    ),
    (
        "linear model (RR context)",
        "'linear model (all DS1)' on the RR + RR-context + template features (17 columns: it can read the "
        "rhythm irregularity)",
        {**_CONTEXT, "models": ("linear",)},
    ),
    (
        "+ RR context + linear member",
        "'+ RR context' beatnet and 'linear model (RR context)' averaged (both read the 17 columns)",
        {**_CONTEXT, "models": ("beatnet", "linear")},
    ),
    (
        "+ 2 half-width nets + linear member",
        "'+ RR context + linear member' with two half-width beatnets (`model_width` 0.5; training seeds s and "
        "s + 1,000, the same CV folds) in place of the one network: a seed ensemble at about one network's "
        "cost; the three members averaged",
        {
            **_CONTEXT,
            "models": (
                ("beatnet", {"model_width": 0.5}),
                ("beatnet", {"model_width": 0.5, "seed_offset": 1000}),
                "linear",
            ),
        },
    ),
    (
        "+ weight averaging",
        "'+ RR context' keeping the mean of the last 5 of its 10 epochs' weights, batch-norm statistics "
        "recomputed (SWA-style tail averaging, `average_epochs`)",
        {**_CONTEXT, "average_epochs": 5},
    ),
    (
        "+ weight averaging + linear member",
        "'+ weight averaging' beatnet and 'linear model (RR context)' averaged",
        {**_CONTEXT, "average_epochs": 5, "models": ("beatnet", "linear")},
    ),
    (
        "+ balanced sampling",
        "'+ RR context' trained on class-balanced draws (each epoch as many beats as DS1 holds, drawn with "
        "replacement, every class equally likely) with an unweighted loss, instead of the class-weighted loss",
        {**_CONTEXT, "balanced_sampling": True},
    ),
    (
        "+ balanced sampling + linear member",
        "'+ balanced sampling' beatnet and 'linear model (RR context)' averaged",
        {
            **_CONTEXT,
            "balanced_sampling": True,
            # the linear member is the shipped pair's: its convex fit keeps the balanced class weights
            "models": ("beatnet", ("linear", {"balanced_sampling": False})),
        },
    ),
    (
        "+ template diff",
        "'+ RR context' with the template-difference columns: the beat minus its running median beat, averaged "
        "over 20 parts of the window, in units of that template's QRS amplitude (`template_diff`; 37 columns)",
        {**_CONTEXT, "template_diff": True},
    ),
    (
        "+ template diff + linear member",
        "'+ template diff' beatnet and 'linear model (RR context)' (its 17 columns) averaged",
        {**_CONTEXT, "template_diff": True, "models": ("beatnet", ("linear", {"template_diff": False}))},
    ),
    (
        "+ AF beats",
        "'+ RR context' with the beats of cinc2017's AF records (training and validation splits; about 19,000 "
        "beats of 564 patients, all N, ventricular-looking ones dropped) added to every training part, never "
        "held out or scored (`extra_af_beats`)",
        {**_CONTEXT, "extra_af_beats": True},
    ),
    (
        "+ AF beats + linear member",
        "'+ AF beats' beatnet and 'linear model (RR context)' trained with the same AF beats, averaged",
        {**_CONTEXT, "extra_af_beats": True, "models": ("beatnet", "linear")},
    ),
    (
        "linear model (record-normalised)",
        "'linear model (RR context)' on the record-normalised twins of its 17 columns alone: each beat's value "
        "against its record's median and interquartile range (`record_z_only`; unsupervised, per record)",
        {**_CONTEXT, "record_z_only": True, "models": ("linear",)},
    ),
    (
        "+ record-normalised linear member",
        "'+ RR context + linear member' with 'linear model (record-normalised)' as a third member; the three "
        "averaged",
        {**_CONTEXT, "models": ("beatnet", "linear", ("linear", {"record_z_only": True}))},
    ),
    (
        "+ record-normalised columns",
        "'+ RR context' with the record-normalised twins of its 17 columns appended (`record_z`; 34 columns)",
        {**_CONTEXT, "record_z": True},
    ),
    (
        "+ record-normalised columns + linear member",
        "'+ record-normalised columns' beatnet and 'linear model (RR context)' (its 17 columns) averaged",
        {**_CONTEXT, "record_z": True, "models": ("beatnet", ("linear", {"record_z": False}))},
    ),
    (
        "+ non-premature yardstick",
        "'+ record-normalised columns + linear member' with the twins against the record's non-premature beats "
        "only (`record_zn`: RR before >= 0.9 x RR after; benchmarks/record_reference_screen.py)",
        {**_CONTEXT, "record_zn": True, "models": ("beatnet", ("linear", {"record_zn": False}))},
    ),
    (
        "+ thinned copies",
        "'+ record-normalised columns + linear member' with the network trained on every training part plus a "
        "thinned copy of each of its ectopy-rich records (`thinned_copies`: all their ectopic beats, half as many "
        "N beats, the record-normalised columns computed over the copy; leanecg.tasks.ectopy_mix)",
        {
            **_CONTEXT,
            "record_z": True,
            "thinned_copies": True,
            "models": ("beatnet", ("linear", {"record_z": False, "thinned_copies": False})),
        },
    ),
    (
        "+ QRS orientation",
        "'+ thinned copies' with each record's lead oriented so that its typical QRS points up, in training and "
        "at inference (`orient_polarity`, leanecg.signal.polarity: the network no longer depends on the lead's "
        "polarity; in DS1 it turns record 207 over; the linear member reads polarity-free columns)",
        {
            **_CONTEXT,
            "record_z": True,
            "thinned_copies": True,
            "orient_polarity": True,
            "models": ("beatnet", ("linear", {"record_z": False, "thinned_copies": False})),
        },
    ),
]

METRICS = ("sveb_se", "sveb_ppv", "veb_se", "veb_ppv", "sveb_veb_f1")


def _slug(row: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in row).strip("_")


def oof_path(out: Path, row: str, seed: int) -> Path:
    return out / "beat_ablation_oof" / f"{_slug(row)}_seed{seed}.npz"


def _save_oof(out: Path, row: str, seed: int, proba: np.ndarray, pool: Any) -> None:
    """Keep one run's out-of-fold CV probabilities (with the labels and records they belong to) for the
    seed-ensemble rows; not committed (``.gitignore``), recomputed by rerunning the row."""
    path = oof_path(out, row, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as fh:
        np.savez_compressed(fh, proba=proba.astype(np.float16), y=pool.y, groups=np.asarray(pool.groups))


#: largest |pooled CV F1 of a kept out-of-fold file - the recorded run's| (the files hold float16
#: probabilities) for the file to count as that run's
OOF_F1_TOLERANCE = 1e-3


def recorded_oof(
    out: Path, doc: dict[str, Any], row: str, seeds: int
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None:
    """The kept out-of-fold files of the row's recorded seeds (:func:`canonical`), or ``None`` unless every
    seed has one that reproduces its recorded pooled CV F1 (:data:`OOF_F1_TOLERANCE`): files recomputed on
    another machine (``--refresh-oof``; the network's training is not bit-reproducible across CPUs) or of
    another run must not turn into figures that read as the recorded runs'."""
    runs = {r["seed"]: r for r in doc["runs"] if r["row"] == row}
    paths = [oof_path(out, row, s) for s in range(seeds)]
    if any(s not in runs for s in range(seeds)) or not all(p.exists() for p in paths):
        return None
    kept = [canonical(np.load(p)) for p in paths]
    y, groups = kept[0][1], kept[0][2]
    if any(not np.array_equal(k[1], y) or not np.array_equal(k[2], groups) for k in kept):
        return None
    task = MitdbAamiTask()
    for seed, (proba, yk, _) in enumerate(kept):
        f1 = task.scores(yk, np.argmax(proba, axis=1))["sveb_veb_f1"]
        if abs(f1 - runs[seed]["cv"]["sveb_veb_f1"]) > OOF_F1_TOLERANCE:
            return None
    return kept


def _ensemble_cv(out: Path, doc: dict[str, Any], row: str, seeds: int) -> dict[str, Any] | None:
    """CV scores of ensembles of the row's recipes, for each size ``k`` from 2 to ``seeds``: each beat's
    out-of-fold probabilities averaged over ``k`` seeds (every member's prediction of a beat comes from a
    model that never saw its record), each metric averaged over all ``k``-subsets of the seeds (the
    expected figure of a ``k``-member ensemble, not the luckiest subset); ``None`` until every seed's
    recorded probabilities are on disk (:func:`recorded_oof`)."""
    runs = recorded_oof(out, doc, row, seeds) if seeds >= 2 else None
    if runs is None:
        return None
    y = runs[0][1]
    by_k: dict[str, Any] = {}
    for k in range(2, seeds + 1):
        subsets = list(itertools.combinations(range(seeds), k))
        scores = [
            MitdbAamiTask().scores(y, np.argmax(np.mean([runs[i][0] for i in sub], axis=0), axis=1))
            for sub in subsets
        ]
        by_k[str(k)] = {m: float(np.mean([sc[m] for sc in scores])) for m in METRICS} | {
            "subsets": len(subsets)
        }
    return by_k


#: Log-probability shifts tried for the S and V classes (:func:`_bias_cv`).
BIAS_GRID = np.arange(-4.0, 2.01, 0.5)


def _shift(bs: float, bv: float) -> np.ndarray:
    """The log-probability shift of the N, S, V, F classes."""
    return np.array([0.0, bs, bv, 0.0])


def _bias_cv(out: Path, doc: dict[str, Any], row: str, seeds: int) -> dict[str, Any] | None:
    """Does a class-prior shift chosen on DS1 carry to unseen patients? For each seed and CV fold, the
    shifts ``(b_S, b_V)`` (added to the S and V log-probabilities, :data:`BIAS_GRID`) that maximise the
    SVEB/VEB F1 of the *other* folds' out-of-fold predictions are applied to the held-out fold (nested: the
    held-out fold never chooses its own shift); returns the pooled scores (mean over seeds) and the shifts
    chosen on all folds per seed. ``None`` until every seed's recorded probabilities are on disk
    (:func:`recorded_oof`)."""
    kept = recorded_oof(out, doc, row, seeds)
    if kept is None:
        return None
    runs = {r["seed"]: r for r in doc["runs"] if r["row"] == row}
    task = MitdbAamiTask()
    shifts = [(bs, bv) for bs in BIAS_GRID for bv in BIAS_GRID]

    def best(logp: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        f1 = [task.scores(y, np.argmax(logp + _shift(bs, bv), axis=1))["sveb_veb_f1"] for bs, bv in shifts]
        return shifts[int(np.nanargmax(f1))]

    per_seed, chosen = [], []
    for seed, (proba, y, groups) in enumerate(kept):
        logp = np.log(np.clip(proba.astype(np.float64), 1e-7, 1.0))
        pred = np.zeros(len(y), dtype=np.int64)
        for fold in runs[seed]["cv_folds"]:
            held = np.isin(groups, fold["groups"])
            bs, bv = best(logp[~held], y[~held])
            pred[held] = np.argmax(logp[held] + _shift(bs, bv), axis=1)
        per_seed.append(task.scores(y, pred))
        chosen.append([float(b) for b in best(logp, y)])
    return {m: float(np.mean([sc[m] for sc in per_seed])) for m in METRICS} | {
        "sveb_veb_f1_sd": float(np.std([sc["sveb_veb_f1"] for sc in per_seed], ddof=1)),
        "shifts_all_folds": chosen,
    }


def canonical_order(groups: Any) -> np.ndarray:
    """The indices that put a pool's beats in a seed-independent order: by record, then beat order within
    the record (a seed's pool concatenates its own train and validation records)."""
    return np.argsort(np.asarray(groups).astype(str), kind="stable")  # a record's beats are contiguous


def canonical(run: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(proba, y, groups)`` of one run (kept out-of-fold file) in :func:`canonical_order`."""
    order = canonical_order(run["groups"])
    groups = np.asarray(run["groups"]).astype(str)
    return run["proba"].astype(np.float32)[order], np.asarray(run["y"])[order], groups[order]


def _task(overrides: dict[str, Any]) -> MitdbAamiTask:
    task = MitdbAamiTask()
    for k, v in overrides.items():
        if k == "models":
            continue
        if not hasattr(task, k):
            raise ValueError(f"unknown task attribute {k!r}")
        setattr(task, k, v)
    return task


#: A row's member: (zoo model, its task, its data, the offset of its training seed from the row's seed).
Member = tuple[str, MitdbAamiTask, Any, int]


def _member_training(training: dict[str, Any], offset: int) -> dict[str, Any]:
    """The training arguments of a member whose seed is the row's plus ``offset``."""
    return {**training, "seed": int(training["seed"]) + offset}


def _cv_members(members: list[Member], k: int, training: dict[str, Any]) -> dict[str, Any]:
    """CV block (with ``"proba"``) of a row's recipe from its members: one member, or the average of several
    members' probabilities (each trained by its own recipe with the row's seed plus its offset, all on the
    row seed's record folds). The block and its probabilities are in the first member's pool order. Reads no
    DS2 beat."""

    def member_cv(member: Member) -> dict[str, Any]:
        name, member_task, member_data, offset = member
        return cross_validate(
            member_task, name, member_data, k=k, log=print, keep_proba=True, fold_seed=training["seed"],
            **_member_training(training, offset),
        )  # fmt: skip

    task, data = members[0][1], members[0][2]
    if len(members) == 1:
        return member_cv(members[0])
    pool = task.cv_pool(data)
    first = canonical_order(pool.groups)
    blocks, probas = [], []
    for member in members:
        name, member_task, member_data, _ = member
        block = member_cv(member)
        member_pool = member_task.cv_pool(member_data)
        theirs = canonical_order(member_pool.groups)
        proba = np.empty_like(block["proba"])
        proba[first] = block["proba"][theirs]  # into the first pool's order
        if not np.array_equal(np.asarray(pool.y)[first], np.asarray(member_pool.y)[theirs]):
            raise ValueError(f"member {name}'s CV pool holds other beats than the first member's")
        blocks.append(block)
        probas.append(proba)
    proba = np.mean(probas, axis=0)
    y = np.asarray(pool.y)
    pred = np.argmax(proba, axis=1)
    folds = [  # the folds every member was cross-validated on (run_cv's, from the row's seed)
        {**f, "scores": task.scores(y[held], pred[held])}
        for f, held in zip(blocks[0]["folds"], cv_folds(pool, k, training["seed"]), strict=True)
    ]
    return {
        **blocks[0],
        "folds": folds,
        "pooled": task.scores(y, pred),
        "proba": proba,
        "members": [
            {"model": n, "recipe": b["recipe"], "seed_offset": o}
            for (n, _, _, o), b in zip(members, blocks, strict=True)
        ],
    }


def _same_columns(members: list[Member]) -> bool:
    """Whether every member reads the first member's feature columns (one ``Ensemble`` can hold them)."""
    return len({tuple(t.feature_names) for _, t, _, _ in members}) == 1


def _run_members(
    members: list[Member], k: int, training: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], Any, list[tuple[dict[str, Any], Any]]]:
    """CV block (:func:`_cv_members`), DS2 result and trained model of a row's recipe, and each member's own
    ``(result, model)``: each member trained on all of its training records (the model is their
    :class:`~leanecg.models.ensemble.Ensemble`, exactly what ``leanecg ensemble`` builds). Each member's
    training also scores it on DS2 (not kept; the caller counts those scorings).

    Members that read different feature columns (:func:`_same_columns`) are scored by averaging each member's
    probabilities on its own inputs, the ensemble's output by construction, and the model is then ``None``:
    ``leanecg ensemble`` packages such a pair from its saved members (the ensemble reads the union of their
    columns)."""
    task, data = members[0][1], members[0][2]
    cv = _cv_members(members, k, training)
    trained = [run_deep(t, n, d, **_member_training(training, o)) for n, t, d, o in members]
    if len(members) == 1:
        return cv, *trained[0], trained
    model: Any = None
    same = _same_columns(members)
    if task.second_lead and not same:
        raise ValueError(
            "the one-lead fallback needs one model: a two-lead row's members must read one set of columns"
        )
    if same:
        model = ensemble_of([m for _, m in trained])
        proba = predict_proba(model, data.test.X, features=data.test.features)
    else:
        for _, _, member_data, _ in members:
            if not np.array_equal(member_data.test.y, data.test.y):
                raise ValueError("a member's DS2 split holds other beats than the first member's")
        proba = np.mean(
            [
                predict_proba(m, d.test.X, features=d.test.features)
                for (_, _, d, _), (_, m) in zip(members, trained, strict=True)
            ],
            axis=0,
        )
    result = dict(trained[0][0])
    result.update(task.evaluate(data.test, proba))
    result["cost"] = {"params": int(sum(r["cost"]["params"] for r, _ in trained))}
    result["train"] = {**trained[0][0]["train"], "members": [r["train"] for r, _ in trained]}
    return cv, result, model, trained


def _refresh_oof(out: Path, run: dict[str, Any], cv: dict[str, Any], pool: Any) -> None:
    """Keep a recorded run's recomputed out-of-fold probabilities and say how its pooled CV scores compare
    with the recorded ones. On the machine that recorded it a run is deterministic (the same scores); on
    another CPU the network's training is not bit-reproducible (float kernels differ), so the scores move
    by about the spread between seeds: tables built from refreshed files (``sveb_gate_cv.py``) are then this
    machine's figures, every row refreshed alike, not the recorded ones."""
    got, want = finite_json(cv["pooled"]), run["cv"]
    diff = ", ".join(f"{m} {float(got[m]):.4f} (recorded {float(want[m]):.4f})" for m in METRICS)
    same = all(np.isclose(float(got[m]), float(want[m]), rtol=0, atol=1e-9) for m in METRICS)
    print(
        f"{run['row']} seed {run['seed']}: CV "
        + ("as recorded" if same else f"differs from the recorded run (another machine?): {diff}"),
        flush=True,
    )
    _save_oof(out, run["row"], int(run["seed"]), cv.pop("proba"), pool)


def _one_lead_fallback(task: MitdbAamiTask, model: Any, data: Any) -> dict[str, float]:
    """DS2 scores of a two-lead model fed MLII alone (the second input channel zeroed, as ``lead_dropout``
    trains it): the one-lead fallback, one more DS2 evaluation."""
    x = data.test.X.copy()
    x[:, 1:] = 0.0
    proba = predict_proba(model, x, features=data.test.features)
    scores = task.scores(data.test.y, np.argmax(proba, axis=1))
    return {m: scores[m] for m in METRICS}


def _data_key(task: MitdbAamiTask) -> tuple[Any, ...]:
    # real_noise_p: that row's load() also reads the NSTDB noise into its task
    return (
        task.train_uses_val,
        task.rr_context,
        task.rr_medians,
        task.templates,
        task.template_diff,
        task.record_z,
        task.record_z_only,
        task.record_zn,
        task.thinned_copies,
        task.extra_af_beats,
        task.second_lead,
        task.real_noise_p,
        task.orient_polarity,
    )


def _stat(values: list[float]) -> str:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if v.size == 0:
        return "–"
    return f"{v.mean() * 100:.1f} ± {v.std(ddof=1) * 100:.1f}" if v.size > 1 else f"{v[0] * 100:.1f}"


def _markdown(doc: dict[str, Any]) -> str:
    lines = [
        "# mitdb-aami beat-model ablation (beatnet, DS1 CV and DS2)",
        "",
        f"Seeds {doc['config']['seeds']}; CV: {doc['config']['cv']} folds leave-records-out over the 22 DS1 "
        f"records, pooled held-out predictions; DS2: trained on the row's training records, scored once per "
        f"(row, seed). DS2 evaluations made by this script in total: **{doc['ds2_evaluations']}**. "
        "Values in %, mean ± sd over seeds." + (f" {doc['note']}" if doc.get("note") else ""),
        "",
        "| row | what it changes | CV SVEB Se | CV SVEB +P | CV VEB Se | CV VEB +P | CV SVEB/VEB F1 | DS2 SVEB Se | "
        "DS2 SVEB +P | DS2 VEB Se | DS2 VEB +P | seeds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, what, _ in ROWS:
        runs = [r for r in doc["runs"] if r["row"] == name]
        if not runs:
            continue
        cv = [_stat([r["cv"][m] for r in runs]) for m in METRICS]
        ds2 = [_stat([r["ds2"][m]["value"] for r in runs]) for m in METRICS[:4]]
        lines.append(f"| {name} | {what} | " + " | ".join(cv + ds2) + f" | {len(runs)} |")
    if (agree := doc.get("cv_ds2_agreement")) and agree["rows"]["n"] > 2:
        rows, runs = agree["rows"], agree["runs"]
        lines += [
            "",
            "How well the selection figure predicts DS2 (recorded scores only): Spearman correlation of CV and "
            f"DS2 SVEB/VEB F1 over the {rows['n']} rows (seed means) {rows['spearman']:+.2f} "
            f"[{rows['ci_low']:+.2f}, {rows['ci_high']:+.2f}], over the {runs['n']} single runs "
            f"{runs['spearman']:+.2f} [{runs['ci_low']:+.2f}, {runs['ci_high']:+.2f}] (95 % bootstrap CIs). "
            "The rows' means are what a choice of recipe compares; the single runs show how much one seed's CV "
            "says about that seed's own DS2 score (a shipped package is one seed).",
        ]
    fallback = [
        (name, [r for r in doc["runs"] if r["row"] == name and "ds2_one_lead" in r]) for name, _, _ in ROWS
    ]
    if any(runs for _, runs in fallback):
        lines += [
            "",
            "One-lead fallback of the two-lead rows: the same DS2 models fed MLII alone (the second input "
            "channel zeroed, as `lead_dropout` trains it; a saved two-lead package takes both leads); one more "
            "DS2 evaluation each.",
            "",
            "| row | DS2 SVEB Se | DS2 SVEB +P | DS2 VEB Se | DS2 VEB +P | seeds |",
            "|---|---|---|---|---|---|",
        ]
        for name, runs in fallback:
            if runs:
                figures = [_stat([r["ds2_one_lead"][m] for r in runs]) for m in METRICS[:4]]
                lines.append(f"| {name} | " + " | ".join(figures) + f" | {len(runs)} |")
    if doc.get("ensemble_cv"):
        lines += [
            "",
            "Seed ensembles of k members: each DS1 beat's out-of-fold probabilities averaged over k of the row's "
            "seeds (the ensemble of those recipes, as `leanecg ensemble` builds it; every member's prediction of "
            "a beat comes from a model that never saw its record), each figure the mean over all k-subsets of "
            "the seeds (k = 1: the row's mean above). CV only; DS2 of a shipped ensemble is in its model card.",
            "",
            "| row | k | CV SVEB Se | CV SVEB +P | CV VEB Se | CV VEB +P | CV SVEB/VEB F1 | subsets |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, by_k in doc["ensemble_cv"].items():
            for k, ens in by_k.items():
                figures = " | ".join(f"{ens[m] * 100:.1f}" for m in METRICS)
                lines.append(f"| {name} | {k} | {figures} | {ens['subsets']} |")
    if doc.get("bias_cv"):
        lines += [
            "",
            "Class-prior shifts chosen on DS1 (`--report`): shifts of the S and V log-probabilities chosen, "
            "for each held-out fold, to maximise the SVEB/VEB F1 of the other folds' out-of-fold predictions, "
            "then applied to the held-out fold (nested; mean over seeds). 'plain' is the row's CV F1 above; "
            "the last column gives the (S, V) shifts chosen on all folds, per seed.",
            "",
            "| row | plain CV F1 | shifted CV F1 | CV SVEB Se | CV SVEB +P | CV VEB Se | CV VEB +P | shifts per seed |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, b in doc["bias_cv"].items():
            plain = _stat([r["cv"]["sveb_veb_f1"] for r in doc["runs"] if r["row"] == name])
            shifted = f"{b['sveb_veb_f1'] * 100:.1f} ± {b['sveb_veb_f1_sd'] * 100:.1f}"
            figures = " | ".join(f"{b[m] * 100:.1f}" for m in METRICS[:4])
            chosen = ", ".join(f"({bs:+.1f}, {bv:+.1f})" for bs, bv in b["shifts_all_folds"])
            lines.append(f"| {name} | {plain} | {shifted} | {figures} | {chosen} |")
    lines += [
        "",
        f"Command: `{doc['command']}`; commit {doc['provenance'].get('git_commit')}.",
        "",
    ]
    return "\n".join(lines)


def cv_ds2_agreement(runs: list[dict[str, Any]], n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """How well the selection figure predicts the test figure: Spearman rank correlation of CV and DS2
    SVEB/VEB F1 over the rows (each the mean over its seeds) and over the single runs, each with a 95 %
    bootstrap CI (rows, resp. runs, resampled). Reads recorded scores only (no DS2 evaluation)."""
    by_row: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        by_row.setdefault(r["row"], []).append(r)

    def pairs(groups: list[list[dict[str, Any]]]) -> np.ndarray:
        return np.array(
            [
                [
                    np.mean([r["cv"]["sveb_veb_f1"] for r in g]),
                    np.mean([r["ds2"]["sveb_veb_f1"]["value"] for r in g]),
                ]
                for g in groups
            ]
        )

    def block(xy: np.ndarray) -> dict[str, Any]:
        rng = np.random.default_rng(seed)
        boot = [spearmanr(*xy[rng.integers(0, len(xy), len(xy))].T).statistic for _ in range(n_boot)]
        lo, hi = np.nanpercentile(boot, [2.5, 97.5])
        return {
            "n": len(xy),
            "spearman": float(spearmanr(*xy.T).statistic),
            "ci_low": float(lo),
            "ci_high": float(hi),
        }

    return {"rows": block(pairs(list(by_row.values()))), "runs": block(pairs([[r] for r in runs]))}


def _kept_or_computed(
    recorded: dict[str, Any] | None, compute: Callable[[str], dict[str, Any] | None]
) -> dict[str, Any]:
    """Per row of :data:`ROWS`: its recorded figures, else ``compute(row)`` (rows with neither are left out).
    Figures derived from out-of-fold files are kept once written: the files may be gone (a fresh clone keeps
    none) or recomputed later on another machine (``--refresh-oof``)."""
    recorded = recorded or {}
    return {row: f for row, _, _ in ROWS if (f := recorded.get(row) or compute(row))}


def _write(out: Path, doc: dict[str, Any], seeds: int) -> None:
    """Score the seed ensembles of rows that have none yet from the kept probabilities; write the JSON and the
    Markdown table (recorded seed-ensemble figures are kept: :func:`_kept_or_computed`)."""
    doc["ensemble_cv"] = _kept_or_computed(
        doc.get("ensemble_cv"), lambda row: finite_json(_ensemble_cv(out, doc, row, seeds) or {})
    )
    doc["cv_ds2_agreement"] = cv_ds2_agreement(doc["runs"])
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "beat_ablation.json", doc)
    with atomic_open(out / "beat_ablation.md", "w") as fh:
        fh.write(_markdown(doc))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--cv", type=int, default=5)
    ap.add_argument("--rows", default="", help="comma-separated row names (default: all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--only-seed",
        type=int,
        default=None,
        help="run this one seed (parallel processes; tables use --seeds)",
    )
    ap.add_argument(
        "--refresh-oof",
        action="store_true",
        help="recompute the out-of-fold probabilities of recorded runs (CV only: no DS2 beat is read, the "
        "results file is unchanged; the recomputed CV is printed beside the recorded one)",
    )
    ap.add_argument(
        "--save-models",
        type=Path,
        default=None,
        help="save each DS2 model: DIR/<row>/seed<S>/ (a member row also each member: "
        "DIR/<row>/seed<S>_member<I>_<model>/)",
    )
    ap.add_argument(
        "--report",
        action="store_true",
        help="only rewrite the ensemble CV and the table from what is on disk",
    )
    args = ap.parse_args()
    root = resolve_data_dir(args.data_dir, dataset="mitdb")
    path = args.out / "beat_ablation.json"
    doc: dict[str, Any] = (
        json.loads(path.read_text()) if path.exists() else {"runs": [], "ds2_evaluations": 0}
    )
    doc["config"] = {"seeds": args.seeds, "cv": args.cv, "model": "beatnet", "threads": args.threads}
    doc["command"] = f"python benchmarks/beat_ablation.py --seeds {args.seeds} --cv {args.cv}"
    if args.report:  # the nested class-prior shifts take a minute or two, so only here
        doc["bias_cv"] = _kept_or_computed(
            doc.get("bias_cv"), lambda row: _bias_cv(args.out, doc, row, args.seeds)
        )
        _write(args.out, doc, args.seeds)
        return
    wanted = {r.strip() for r in args.rows.split(",") if r.strip()}
    cache: dict[tuple[Any, ...], Any] = {}
    rows = [(name, dict(overrides)) for name, _what, overrides in ROWS if not wanted or name in wanted]
    run_seeds = range(args.seeds) if args.only_seed is None else [args.only_seed]
    for seed in run_seeds:  # seed-major: every row gets its first seed before any gets a second
        for name, acc in rows:
            task = _task(acc)
            recorded = next((r for r in doc["runs"] if r["row"] == name and r["seed"] == seed), None)
            if (recorded is not None) != args.refresh_oof:
                continue  # resumed: recorded runs are kept; --refresh-oof: only recorded runs are redone
            members = []
            for member in acc.get("models", ("beatnet",)):
                model_name, extra = (member, {}) if isinstance(member, str) else member
                offset = int(extra.get("seed_offset", 0))
                member_task = _task({**acc, **{k: v for k, v in extra.items() if k != "seed_offset"}})
                key = (*_data_key(member_task), seed if member_task.train_uses_val else 0)
                if key not in cache:
                    cache[key] = member_task.load(root, seed=seed)
                members.append((model_name, member_task, cache[key], offset))
            data = members[0][2]
            t0 = time.perf_counter()
            training = {
                "seed": seed,
                "tiny": False,
                "epochs": None,
                "max_train_seconds": None,
                "num_threads": args.threads,
                "n_boot": 1000,
                "runtime": None,
            }
            if recorded is not None:
                _refresh_oof(args.out, recorded, _cv_members(members, args.cv, training), task.cv_pool(data))
                continue
            cv, result, model, trained = _run_members(members, args.cv, training)
            _save_oof(args.out, name, seed, cv.pop("proba"), task.cv_pool(data))
            one_lead = _one_lead_fallback(task, model, data) if task.second_lead else None
            result["provenance"] = collect_provenance(seed=seed, config=result["train"].get("config"))
            if args.save_models is not None:
                if model is not None:
                    save_model_package(
                        args.save_models / _slug(name) / f"seed{seed}", model, task, data, result
                    )
                else:
                    print(f"{name}: its members read different feature columns; only the members are saved")
                # a member row: each member as well, for `leanecg ensemble` (what a shipped pair is built by)
                if len(members) > 1:
                    for i, ((model_name, member_task, member_data, _), (m_result, m_model)) in enumerate(
                        zip(members, trained, strict=True)
                    ):
                        m_result["provenance"] = collect_provenance(
                            seed=seed, config=m_result["train"].get("config")
                        )
                        folder = args.save_models / _slug(name) / f"seed{seed}_member{i}_{model_name}"
                        save_model_package(folder, m_model, member_task, member_data, m_result)
            # re-read, add and write under a lock: several processes may run rows / seeds into this file
            with file_lock(path):
                if path.exists():
                    on_disk = json.loads(path.read_text())
                    doc["runs"], doc["ds2_evaluations"] = on_disk["runs"], on_disk["ds2_evaluations"]
                # a member row: each member's run_deep scores DS2 as well (not kept), then the ensemble once
                n_ds2 = 1 if len(members) == 1 else len(members) + 1
                doc["ds2_evaluations"] = int(doc.get("ds2_evaluations", 0)) + n_ds2 + (one_lead is not None)
                doc["runs"].append(
                    {
                        "row": name,
                        "seed": seed,
                        "overrides": acc,
                        "cv": finite_json(cv["pooled"]),
                        "cv_folds": finite_json(cv["folds"]),
                        "ds2": finite_json({m: result["metrics"][m] for m in METRICS}),
                        "ds2_confusion": result["confusion"],
                        **({"ds2_one_lead": finite_json(one_lead)} if one_lead is not None else {}),
                        "params": result["cost"]["params"],
                        "seconds": round(time.perf_counter() - t0, 1),
                    }
                )
                doc["provenance"] = collect_provenance(seed=seed, config={"rows": [r[0] for r in ROWS]})
                _write(args.out, doc, args.seeds)
            print(
                f"{name} seed {seed}: cv {cv['pooled']} ds2 sveb {result['metrics']['sveb_se']['value']:.3f}"
                f"/{result['metrics']['sveb_ppv']['value']:.3f} ({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
