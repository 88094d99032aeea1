"""Handcrafted record features as a model input: the "wide" branch of record-level wide-and-deep models.

A record model that takes ``features=`` (e.g. ``wide_deep_lite`` on CinC 2017) needs the same feature
vector at training and at inference time. This module is that single definition, numpy only (no torch),
so any runtime (torch, ONNX Runtime) can compute it:

* the features are :func:`leanecg.features.record.record_features` of the **model input** -- the first
  lead of the record after the model's preprocessing pipeline, ``(n_leads, n_samples)`` channel-first at
  the model's rate -- so they need nothing but what the model itself sees;
* a robust scaling fitted on the training records (:func:`fit_feature_config`): per feature
  ``(value - median) / IQR`` clipped to ``[-clip, clip]``; features missing for a record (NaN: too few
  beats, too short) become 0, the training median.

The configuration (:func:`fit_feature_config`) is a JSON-able dict stored with the model (a model
package's ``input["feature_config"]``)::

    {"format": "leanecg.record-features/1", "source": "record_features(model input lead 0)",
     "feature_version": FEATURE_VERSION, "names": [...], "center": [...], "scale": [...], "clip": 5.0}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from leanecg.errors import LeanECGError

__all__ = [
    "FEATURE_CONFIG_FORMAT",
    "apply_feature_config",
    "fit_feature_config",
    "model_input_features",
    "raw_input_features",
]

FEATURE_CONFIG_FORMAT = "leanecg.record-features/1"
SOURCE = "record_features(model input lead 0)"
DEFAULT_CLIP = 5.0


def _lead0(x: np.ndarray, i: int) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim == 1:
        return a.astype(np.float64)
    if a.ndim != 2 or a.shape[0] < 1:
        raise LeanECGError(f"X[{i}]", f"expected a (n_leads, n_samples) model input, got shape {a.shape}")
    return a[0].astype(np.float64)


def raw_input_features(
    X: Sequence[np.ndarray], fs: float, *, cache: bool = False, names: Sequence[str] | None = None
) -> tuple[np.ndarray, list[str]]:
    """Unscaled record features of model inputs: float64 ``(N, n_features)`` (NaN where undefined), names.

    Args:
        X: model inputs, channel-first ``(n_leads, n_samples_i)`` (or 1-D single-lead) at ``fs`` Hz; the
            features are those of lead 0.
        fs: sampling rate of the inputs (Hz).
        cache: use the on-disk feature cache of :func:`leanecg.features.record.record_feature_matrix`
            (training sets); ``False`` computes in memory (inference).
        names: the columns to return, in this order (a model's ``feature_config["names"]``); default all
            of :func:`leanecg.features.record.record_feature_names`.

    Raises:
        LeanECGError: a name this version does not compute.
    """
    from leanecg.features.record import record_feature_matrix

    leads = [_lead0(x, i) for i, x in enumerate(X)]
    raw, all_names = record_feature_matrix(leads, float(fs), cache=cache)
    if names is None:
        return raw, all_names
    return raw[:, _columns(names, all_names)], list(names)


def _columns(names: Sequence[str], available: Sequence[str]) -> list[int]:
    index = {n: j for j, n in enumerate(available)}
    missing = [n for n in names if n not in index]
    if missing:
        raise LeanECGError(
            "features", f"this LeanECG does not compute the record feature(s) {', '.join(missing)}"
        )
    return [index[n] for n in names]


def fit_feature_config(
    features: np.ndarray, names: Sequence[str], *, clip: float = DEFAULT_CLIP
) -> dict[str, Any]:
    """The scaling configuration of training features ``(N, n_features)`` (NaN = missing).

    ``center`` is each column's median and ``scale`` its interquartile range over the finite training
    values (a column with IQR 0 uses its standard deviation, then 1; an all-NaN column gets center 0).

    Raises:
        LeanECGError: ``features`` is not 2-D with one column per name, or ``clip`` is not positive.
    """
    from leanecg.features.record import FEATURE_VERSION

    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[1] != len(names) or f.shape[0] == 0:
        raise LeanECGError("features", f"expected shape (n_records, {len(names)}), got {f.shape}")
    if not (np.isfinite(clip) and clip > 0):
        raise LeanECGError("clip", f"must be a positive number, got {clip!r}")
    center = np.zeros(f.shape[1])
    scale = np.ones(f.shape[1])
    for j in range(f.shape[1]):
        col = f[:, j][np.isfinite(f[:, j])]
        if col.size == 0:
            continue
        q25, q50, q75 = np.percentile(col, [25, 50, 75])
        center[j] = q50
        iqr = q75 - q25
        sd = float(np.std(col))
        scale[j] = iqr if iqr > 0 else (sd if sd > 0 else 1.0)
    return {
        "format": FEATURE_CONFIG_FORMAT,
        "source": SOURCE,
        "feature_version": int(FEATURE_VERSION),
        "names": list(names),
        "center": [float(v) for v in center],
        "scale": [float(v) for v in scale],
        "clip": float(clip),
    }


def check_feature_config(config: Mapping[str, Any], source: str = "feature_config") -> None:
    """Raise :class:`LeanECGError` unless ``config`` is a feature configuration this version computes: its
    version is at most :data:`~leanecg.features.record.FEATURE_VERSION` and every column it names is one
    of :func:`~leanecg.features.record.record_feature_names` (a version 1 model reads its 79 columns out of
    a version 2 row)."""
    from leanecg.features.record import FEATURE_VERSION, record_feature_names

    if not isinstance(config, Mapping) or config.get("format") != FEATURE_CONFIG_FORMAT:
        found = config.get("format") if isinstance(config, Mapping) else type(config).__name__
        raise LeanECGError(
            source, f"not a record-feature config (format {found!r}, expected {FEATURE_CONFIG_FORMAT!r})"
        )
    names = list(config.get("names") or [])
    version = config.get("feature_version")
    known = set(record_feature_names())
    # versions only append columns (leanecg.features.record): an earlier version's columns are read by name
    if not (isinstance(version, int) and 1 <= version <= FEATURE_VERSION) or not names or set(names) - known:
        raise LeanECGError(
            source,
            f"the model was trained on record features version {version!r} "
            f"({len(names)} features); this LeanECG computes version {FEATURE_VERSION} "
            f"({len(known)} features)",
        )
    for key in ("center", "scale"):
        if len(config.get(key) or []) != len(names):
            raise LeanECGError(source, f"{key!r} must have one value per feature ({len(names)})")


def apply_feature_config(features: np.ndarray, config: Mapping[str, Any]) -> np.ndarray:
    """Scale raw features ``(N, n_features)`` with ``config``: float32, finite, in ``[-clip, clip]``."""
    f = np.asarray(features, dtype=np.float64)
    center = np.asarray(config["center"], dtype=np.float64)
    scale = np.asarray(config["scale"], dtype=np.float64)
    if f.ndim != 2 or f.shape[1] != center.size:
        raise LeanECGError("features", f"expected shape (n_records, {center.size}), got {f.shape}")
    clip = float(config["clip"])
    z = np.clip((f - center) / scale, -clip, clip)
    return np.nan_to_num(z, nan=0.0).astype(np.float32)


def model_input_features(
    X: Sequence[np.ndarray], fs: float, config: Mapping[str, Any], *, cache: bool = False
) -> np.ndarray:
    """The ``features=`` input of a record model: float32 ``(N, n_features)`` for model inputs ``X``.

    Args:
        X: preprocessed model inputs ``(n_leads, n_samples_i)`` at ``fs`` Hz (what the model's ``x`` is).
        fs: their sampling rate (Hz).
        config: the model's :func:`fit_feature_config` output.
        cache: see :func:`raw_input_features`.

    Raises:
        LeanECGError: ``config`` is not a feature configuration this version of LeanECG computes.
    """
    check_feature_config(config)
    if len(X) == 0:
        return np.zeros((0, len(config["names"])), dtype=np.float32)
    raw, _ = raw_input_features(X, fs, cache=cache, names=config["names"])
    return apply_feature_config(raw, config)
