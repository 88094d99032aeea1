"""Ensemble model packages: several trained packages of one recipe -> one package that averages them.

``leanecg ensemble PKG PKG ... --out DIR`` (and :func:`ensemble_packages`): the members are model
packages written by ``leanecg bench TASK --save-models`` (or ``benchmarks/beat_ablation.py
--save-models``), typically the same recipe trained with different seeds. They must have been trained
on the same task with the same inputs (rate, leads, window, preprocessing); beat models may read different
feature columns (the ensemble reads their union and hands each member its own, :func:`feature_union`). The
ensemble (:class:`leanecg.models.ensemble.Ensemble`: the average of the members' class probabilities)
is scored once on the task's test split like any trained model (metrics with bootstrap CIs, calibration,
cost against ResNet-1D; its parameters and MACs count every member) and written as an ordinary model
package: ``leanecg predict / beats / stream / export`` use it unchanged.

How an ensemble recipe is *chosen* is not this module's business: score it by cross-validation on the
training data first (``benchmarks/beat_ablation.py`` reports the seed ensembles' CV).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.errors import LeanECGError
from leanecg.package.model import (
    load_model_package,
    members_training_parts,
    save_model_package,
    set_package_field,
)
from leanecg.provenance import collect_provenance
from leanecg.signal.beats import ALL_BEAT_FEATURE_NAMES
from leanecg.tasks import task_for_package
from leanecg.tasks.base import TaskData

__all__ = ["NO_GATE_NOTE", "ensemble_packages", "feature_union", "member_name", "members_split"]

#: Package metadata that must be equal across the members (what the model takes and predicts); their
#: ``input`` too, except that beat models may read different feature columns (:func:`feature_union`).
_SAME = ("task", "class_names", "pipeline", "multilabel")


#: the note of an ensemble built without an AF gate because its members' gates differ; replaced when a gate
#: chosen for the ensemble is written (``benchmarks/sveb_gate_cv.py --write-gate``)
NO_GATE_NOTE = (
    "the members carry different AF gates (rhythm_gate), so the ensemble has none; choose one by "
    "cross-validation (benchmarks/sveb_gate_cv.py --write-gate)"
)


def feature_union(
    paths: Sequence[Path], metas: Sequence[Mapping[str, Any]]
) -> tuple[list[str], list[list[int]] | None]:
    """The ensemble's feature columns and, when its members read different ones, each member's columns as
    indices into them (``None`` when all read the same).

    Members may differ in their beat features only (``input.features``, columns of
    :data:`~leanecg.signal.beats.ALL_BEAT_FEATURE_NAMES`): the ensemble then reads their union, in that
    order, and hands each member its own (:class:`~leanecg.models.ensemble.Ensemble` ``feature_columns``).

    Raises:
        LeanECGError: members whose other inputs differ, or record models (or models without features)
            whose feature columns differ.
    """
    inputs = [dict(m.get("input") or {}) for m in metas]
    names = [list(i.pop("features", None) or []) for i in inputs]
    for p, i in zip(paths[1:], inputs[1:], strict=True):
        if i != inputs[0]:
            raise LeanECGError(
                p, f"its input differs from {paths[0]}'s; an ensemble's members take the same inputs"
            )
    if all(n == names[0] for n in names):
        return names[0], None
    beats = inputs[0].get("before_s") is not None
    if not beats or not all(names) or any(c not in ALL_BEAT_FEATURE_NAMES for n in names for c in n):
        other = next(p for p, n in zip(paths, names, strict=True) if n != names[0])
        raise LeanECGError(
            other,
            f"its feature columns differ from {paths[0]}'s; only beat models that all read beat features may "
            "read different columns",
        )
    union = [c for c in ALL_BEAT_FEATURE_NAMES if any(c in n for n in names)]
    return union, [[union.index(c) for c in n] for n in names]


def member_name(model_names: Sequence[str]) -> str:
    """The ensemble's model name: ``beatnet_x3`` for three ``beatnet`` members, else the names joined by
    ``&`` (``wide_deep_lite&lightgbm``; ``+`` would read as a hybrid, ``<zoo model>+lightgbm``)."""
    names = list(model_names)
    if len(set(names)) == 1:
        return f"{names[0]}_x{len(names)}"
    return "&".join(names)


def ensemble_packages(
    packages: Sequence[str | Path],
    out_dir: str | Path,
    *,
    data_dir: str | Path | None = None,
    name: str | None = None,
    n_boot: int = 1000,
) -> Path:
    """Build, score and save the ensemble of trained model packages.

    Args:
        packages: two or more package folders of the same task and inputs.
        out_dir: the new package folder.
        data_dir: where the task's dataset lies (default: the usual search, as ``leanecg bench``).
        name: package name shown by ``leanecg models`` (default ``<task>/<model>_x<k>``).
        n_boot: bootstrap resamples of the test metrics' CIs.

    Returns:
        ``out_dir``.

    Raises:
        LeanECGError: fewer than two packages, a folder that is not a package, members that differ in
            task, classes, inputs or preprocessing, or data that does not give the members' inputs.
    """
    from leanecg.bench.runner import evaluate_deep
    from leanecg.data import resolve_data_dir
    from leanecg.models.registry import ensemble_of, model_config
    from leanecg.train.hybrid import refitted_on_val
    from leanecg.train.trainer import predict_proba

    paths = [Path(p) for p in packages]
    if len(paths) < 2:
        raise LeanECGError("packages", f"an ensemble needs at least 2 model packages, got {len(paths)}")
    pkgs = [load_model_package(p) for p in paths]
    metas = [pkg.meta for pkg in pkgs]
    for p, meta in zip(paths[1:], metas[1:], strict=True):
        for key in _SAME:
            if meta.get(key) != metas[0].get(key):
                raise LeanECGError(
                    p, f"its {key} differs from {paths[0]}'s; an ensemble's members take the same inputs"
                )
    features, columns = feature_union(paths, metas)
    task = task_for_package(metas[0])
    if columns is not None:
        task.use_features(features)
    seeds = [(m.get("provenance") or {}).get("seed") for m in metas]
    seed = int(seeds[0] or 0)
    root = resolve_data_dir(data_dir, dataset=task.dataset)
    tiny = bool((metas[0].get("data") or {}).get("tiny"))  # members from a smoke run: its tiny splits
    data = task.load(root, tiny=tiny, seed=seed)
    if list(data.info.get("input", {}).get("features") or []) != features:
        raise LeanECGError(
            paths[0], f"task {task.name} no longer computes the feature columns this model takes"
        )
    orient = bool((metas[0].get("input") or {}).get("orient_polarity", False))
    if bool(data.info.get("input", {}).get("orient_polarity", False)) != orient:
        raise LeanECGError(paths[0], f"task {task.name} cannot orient the windows as this model takes them")
    # what the members trained on, together: a validation record one member trained on is not held out
    trained_on = sorted({r for m in metas for r in _train_records(m)})
    data.info["split"] = members_split(str(data.info.get("split", "")), metas)
    if trained_on:
        data.info["train_records"] = trained_on
    # what joined a member's training part (extra examples, thinned copies) is part of how the ensemble was made
    data.info.update(members_training_parts(metas))
    refit = any(refitted_on_val(m.get("train")) for m in metas)  # a member refitted on train + val
    val_seen = refit or bool(set(trained_on) & {str(r) for r in data.info.get("val_records") or []})
    held_out = not refit
    if val_seen and not refit:
        data.info["n_train"] = _n_examples(data, set(trained_on))
        cut = _held_out_val(data, set(trained_on), paths[0])
        held_out = cut is not None
        data = cut if cut is not None else data
    ens = ensemble_of(
        [pkg.model for pkg in pkgs],
        feature_columns=columns,
        n_features=len(features) if columns is not None else None,
    ).eval()
    model_name = member_name([str(m.get("model_name") or m["model_config"]["name"]) for m in metas])
    uses_features = int(model_config(ens).get("n_features") or 0) > 0
    train_info = {
        "members": [
            {"package": str(p), "model": m.get("model_name"), "seed": s, "train": m.get("train")}
            for p, m, s in zip(paths, metas, seeds, strict=True)
        ],
        "recipe": "average of the members' class probabilities (leanecg.models.ensemble)",
    }
    result = evaluate_deep(
        task,
        model_name,
        data,
        ens,
        # small members (lightweight networks, LightGBM, hybrids) make a lightweight ensemble
        family="reference" if any(m.get("family") in (None, "reference") for m in metas) else "lightweight",
        uses_features=uses_features,
        train_info=train_info,
        seed=seed,
        n_boot=n_boot,
    )
    # the ensemble's primary metric on the validation split (training data: a figure to choose on, unlike
    # the test metrics); members trained on different records: only the records none trained on
    val_features = data.val.features if uses_features else None
    p_val = predict_proba(ens, data.val.X, features=val_features)
    result["train"]["val_metric"] = {
        task.primary_metric: float(task.val_metric(np.asarray(data.val.y), p_val))
    }
    result["train"]["val_seen_by_members"] = val_seen
    if val_seen:
        if not held_out:  # the validation figure stays, flagged by val_seen_by_members
            result["calibration"] = {
                "error": "no temperature: every validation record is a member's training record"
            }
            note = "every validation record is a training record of some member: no held-out validation data"
        else:
            missing = _missing_classes(task.class_names, np.asarray(data.val.y))
            if missing:  # a temperature fitted without these classes would only sharpen towards the others
                result["calibration"] = {
                    "error": f"no temperature: the held-out validation records hold no {', '.join(missing)} examples"
                }
            note = (
                "the members were trained on different records: the validation figures and the temperature use"
                f" only the validation records none of them trained on ({', '.join(data.info['val_records'])})"
            )
        result["notes"] = [*result.get("notes", []), note]
    gates = [pkg.rhythm_gate for pkg in pkgs]
    gate = gates[0] if gates[0] is not None and all(g == gates[0] for g in gates) else None
    if any(g is not None for g in gates):
        result["notes"] = [
            *result.get("notes", []),
            "the members' AF gate (rhythm_gate) is kept: its threshold is on the RR irregularity, not on the "
            "probabilities"
            if gate is not None
            else NO_GATE_NOTE,
        ]
    result["provenance"] = collect_provenance(seed=seed, config={"members": [str(p) for p in paths]})
    out = save_model_package(out_dir, ens, task, data, result, name=name or f"{task.name}/{model_name}")
    if gate is not None:
        set_package_field(out, "rhythm_gate", gate)
    return out


def _train_records(meta: Mapping[str, Any]) -> list[str]:
    """The training records a package's metadata names (none when it does not say)."""
    return [str(r) for r in ((meta.get("data") or {}).get("train_records") or [])]


def members_split(split: str, metas: Sequence[Mapping[str, Any]]) -> str:
    """The split description of an ensemble: the members' own when they all state the same one (e.g. every
    member trained on all 22 DS1 records), else ``split`` (the task's default description); plus how many
    training records each member had when they differ (e.g. a network trained on 14 records beside a model
    fitted on 22).

    >>> members_split("DS1 / DS2", [{"model_name": "beatnet", "data": {"train_records": ["1", "2"]}},
    ...                             {"model_name": "linear", "data": {"train_records": ["1", "2", "3"]}}])
    'DS1 / DS2; members trained on beatnet: 2 records, linear: 3 records (3 in all)'
    >>> members_split("DS1 minus validation / DS2", [{"data": {"split": "all of DS1 / DS2"}}] * 2)
    'all of DS1 / DS2'
    """
    stated = {str((m.get("data") or {}).get("split") or "") for m in metas}
    if len(stated) == 1 and "" not in stated:
        split = stated.pop()
    counts = [len(_train_records(m)) for m in metas]
    if len(set(counts)) <= 1:
        return split
    union = {r for m in metas for r in _train_records(m)}
    parts = ", ".join(f"{m.get('model_name')}: {k} records" for m, k in zip(metas, counts, strict=True))
    return f"{split}; members trained on {parts} ({len(union)} in all)"


def _held_out_val(data: TaskData, trained_on: set[str], where: Path) -> TaskData | None:
    """``data`` with its validation split cut to the records no member trained on (members trained with
    different seeded validation records, e.g. ``mitdb-aami``'s: a record one member validated on, another
    trained on), so the ensemble's validation metric and temperature are fitted on held-out data only;
    ``None`` when every validation record was trained on (members trained on all of them).

    Raises:
        LeanECGError: the validation split has no record ids.
    """
    groups = data.val.groups
    if groups is None:
        raise LeanECGError(
            where, "the members trained on different records and the validation split has no record ids"
        )
    groups = np.asarray(groups).astype(str)
    keep = np.flatnonzero(~np.isin(groups, sorted(trained_on)))
    if keep.size == 0:
        return None
    info = {**data.info, "val_records": sorted(set(groups[keep].tolist())), "n_val": int(keep.size)}
    return dataclasses.replace(data, val=data.val.subset(keep, name="val"), info=info)


def _missing_classes(class_names: Sequence[str], y: np.ndarray) -> list[str]:
    """The classes with no example in ``y`` (int indices ``(n,)`` or multi-hot ``(n, C)``)."""
    present = y.sum(axis=0) > 0 if y.ndim == 2 else np.isin(np.arange(len(class_names)), y)
    return [str(c) for c, ok in zip(class_names, present, strict=True) if not ok]


def _n_examples(data: TaskData, records: set[str]) -> int:
    """Examples of ``records`` in the train and validation splits (what the members trained on together)."""
    groups = [
        np.asarray(split.groups).astype(str) for split in (data.train, data.val) if split.groups is not None
    ]
    return int(sum(np.isin(g, sorted(records)).sum() for g in groups))
