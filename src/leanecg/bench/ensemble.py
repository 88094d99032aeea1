"""Ensemble model packages: several trained packages of one recipe -> one package that averages them.

``leanecg ensemble PKG PKG ... --out DIR`` (and :func:`ensemble_packages`): the members are model
packages written by ``leanecg bench TASK --save-models`` (or ``benchmarks/beat_ablation.py
--save-models``), typically the same recipe trained with different seeds. They must have been trained
on the same task with the same inputs (rate, leads, window, feature columns, preprocessing). The
ensemble (:class:`leanecg.models.ensemble.Ensemble`: the average of the members' class probabilities)
is scored once on the task's test split like any trained model (metrics with bootstrap CIs, calibration,
cost against ResNet-1D; its parameters and MACs count every member) and written as an ordinary model
package: ``leanecg predict / beats / stream / export`` use it unchanged.

How an ensemble recipe is *chosen* is not this module's business: score it by cross-validation on the
training data first (``benchmarks/beat_ablation.py`` reports the seed ensembles' CV).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from leanecg.errors import LeanECGError
from leanecg.package.model import load_model_package, save_model_package
from leanecg.provenance import collect_provenance
from leanecg.tasks import task_for_package

__all__ = ["ensemble_packages", "member_name"]

#: Package metadata that must be equal across the members (what the model takes and predicts).
_SAME = ("task", "class_names", "input", "pipeline", "multilabel")


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
    from leanecg.models.registry import ensemble_of
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
    task = task_for_package(metas[0])
    seeds = [(m.get("provenance") or {}).get("seed") for m in metas]
    seed = int(seeds[0] or 0)
    root = resolve_data_dir(data_dir, dataset=task.dataset)
    tiny = bool((metas[0].get("data") or {}).get("tiny"))  # members from a smoke run: its tiny splits
    data = task.load(root, tiny=tiny, seed=seed)
    if list(data.info.get("input", {}).get("features") or []) != list(
        metas[0]["input"].get("features") or []
    ):
        raise LeanECGError(
            paths[0], f"task {task.name} no longer computes the feature columns this model takes"
        )
    # what the members trained on, together: a validation record one member trained on is not held out
    trained_on = sorted({str(r) for m in metas for r in ((m.get("data") or {}).get("train_records") or [])})
    if trained_on:
        data.info["train_records"] = trained_on
    val_seen = bool(set(trained_on) & {str(r) for r in data.info.get("val_records") or []})
    ens = ensemble_of([pkg.model for pkg in pkgs]).eval()
    model_name = member_name([str(m.get("model_name") or m["model_config"]["name"]) for m in metas])
    uses_features = int(metas[0]["model_config"].get("n_features", 0)) > 0
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
    # the test metrics), unless a member trained on those records (val_seen_by_members)
    val_features = data.val.features if uses_features else None
    p_val = predict_proba(ens, data.val.X, features=val_features)
    result["train"]["val_metric"] = {
        task.primary_metric: float(task.val_metric(np.asarray(data.val.y), p_val))
    }
    result["train"]["val_seen_by_members"] = val_seen
    result["provenance"] = collect_provenance(seed=seed, config={"members": [str(p) for p in paths]})
    return save_model_package(out_dir, ens, task, data, result, name=name or f"{task.name}/{model_name}")
