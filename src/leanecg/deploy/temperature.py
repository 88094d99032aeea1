"""Fit the temperature of a model package on its task's validation split and write it into ``model.json``.

A package's probabilities are temperature-scaled (``model.json``'s ``temperature``; see
:mod:`leanecg.package.model`). ``leanecg bench --save-models`` stores the temperature fitted in the run; a
package made before that (or a shipped model after retraining) gets one with::

    python benchmarks/fit_temperature.py --model src/leanecg/zoo/cinc2017 --data-dir ../shared/data

which calls :func:`fit_package_temperature`: it loads the package's task exactly as training did (same
pipeline, same seeded split: the package's seed), runs the package's network on the **validation** split
(record models: the package's own record-feature code; beat models: the reference beat positions with
the package's beat features, as ``leanecg bench`` scores them), fits one temperature by NLL
(:func:`leanecg.evaluate.calibration.fit_temperature`), reports ECE / NLL before and after on validation
and test, and writes the ``temperature`` field (then the model card, and the sidecars of the ONNX files exported
from the same weights) atomically. Validation data that was
also training data (a package trained on all its task's training records) cannot calibrate the model:
that is refused unless ``allow_seen=True``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from leanecg.errors import LeanECGError

__all__ = ["fit_package_temperature", "split_probabilities"]


def split_probabilities(pkg: Any, split: Any, task_feature_names: list[str] | None = None) -> np.ndarray:
    """The package network's **uncalibrated** probabilities ``(N, C)`` on a loaded task split.

    Record models get their features from the package's own code (:meth:`ModelPackage.record_features`);
    beat models take the split's windows and the columns of its beat features named by the package
    (``task_feature_names``: the names of the split's feature columns, when they differ)."""
    if pkg.kind == "records":
        X = list(split.X)
        return pkg.backend.proba(X, pkg.record_features(X), 64, pkg.multilabel)
    names = pkg.input.get("features") or None
    feats = None
    if names:
        feats = np.asarray(split.features)
        if task_feature_names and list(task_feature_names) != list(names):
            missing = [n for n in names if n not in task_feature_names]
            if missing:
                raise LeanECGError(
                    pkg.meta_source,
                    f"the task's beat features lack {', '.join(missing)} that the model takes",
                )
            feats = feats[:, [list(task_feature_names).index(n) for n in names]]
        if feats.shape[1] != len(names):
            raise LeanECGError(
                pkg.meta_source,
                f"the task gives {feats.shape[1]} beat features; the model takes {len(names)}",
            )
    return pkg.backend.proba(split.X, feats, 256, pkg.multilabel)


def _seen(meta: dict[str, Any], data_info: dict[str, Any]) -> bool:
    """Whether the validation records were training records too: the package's own split when it records
    one (how the model was trained), else the task's."""
    block = meta.get("data") or {}
    if not (block.get("train_records") and block.get("val_records")):
        block = data_info
    train, val = block.get("train_records"), block.get("val_records")
    return bool(train and val and set(map(str, train)) & set(map(str, val)))


def fit_package_temperature(
    package: str | Path,
    data_dir: str | Path,
    *,
    allow_seen: bool = False,
    write: bool = True,
    n_bins: int = 10,
    progress: Any = None,
) -> dict[str, Any]:
    """Fit a package's temperature on its task's validation split; write it into ``model.json`` (``write``).

    Args:
        package: a package folder or a shipped model name.
        data_dir: the data root holding the task's dataset.
        allow_seen: fit even when the validation records were training records (the temperature then
            comes from data the model has fitted; it is marked so).
        write: store the ``temperature`` field in ``model.json`` and rewrite ``MODEL_CARD.md``.

    Returns:
        the stored ``temperature`` field plus ``val`` / ``test`` ECE and NLL before / after and the file
        written (``written``: ``model.json`` and the ONNX sidecars, or ``None``).

    Raises:
        LeanECGError: not a package folder, data missing, the task's split or pipeline no longer matches the
            package, or the validation data was seen in training (without ``allow_seen``).
    """
    from leanecg.data import get_dataset
    from leanecg.deploy.calibration import package_split_seed
    from leanecg.evaluate.calibration import calibration_block
    from leanecg.package import META_FILE, TorchBackend, open_model, set_package_field, temperature_meta
    from leanecg.tasks import task_for_package

    pkg = open_model(package, prefer="torch")
    if not isinstance(pkg.backend, TorchBackend):
        raise LeanECGError(pkg.path, "is an .onnx file; fit the temperature of its package folder")
    folder = pkg.path
    meta = pkg.meta
    task = task_for_package(meta)
    root = Path(data_dir)
    get_dataset(task.dataset).require(root)
    tiny = bool(meta.get("data", {}).get("tiny"))
    data = task.load(root, tiny=tiny, seed=package_split_seed(pkg), progress=progress)
    if data.pipeline.to_dict() != meta["pipeline"]:
        raise LeanECGError(
            folder / META_FILE,
            f"the task {task.name}'s preprocessing differs from the package's; cannot rebuild its validation split",
        )
    n_val = (meta.get("data") or {}).get("n_val")
    if n_val is not None and int(n_val) != len(data.val):
        raise LeanECGError(
            folder / META_FILE,
            f"the package was validated on {n_val} examples; task {task.name} now gives {len(data.val)} "
            "(another split): cannot rebuild its validation split",
        )
    seen = _seen(meta, data.info)
    if seen and not allow_seen:
        raise LeanECGError(
            folder / META_FILE,
            "its validation records were training records too: they cannot calibrate it (fit on held-out "
            "data, or pass `allow_seen` to fit anyway)",
        )
    names = list((data.info.get("input") or {}).get("features") or []) or None
    p_val = split_probabilities(pkg, data.val, names)
    p_test = split_probabilities(pkg, data.test, names)
    block = calibration_block(
        pkg.class_names,
        data.val.y,
        p_val,
        data.test.y,
        p_test,
        multilabel=pkg.multilabel,
        n_bins=n_bins,
        fitted_on="val (also training data)" if seen else "val",
    )
    field = temperature_meta(block)
    assert field is not None
    out = {
        **field,
        "task": task.name,
        "nll_test_before": block["nll_test_before"],
        "nll_test_after": block["nll_test_after"],
        "ece_top_label_test_before": block.get("ece_top_label_before"),
        "ece_top_label_test_after": block.get("ece_top_label_after"),
        "written": None,
    }
    if write:
        out["written"] = set_package_field(folder, "temperature", field)
    return out
