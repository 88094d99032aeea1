"""Explain a model package's prediction on one raw record: relevance on the trace and feature contributions.

:func:`explain_record` runs the package exactly as ``leanecg predict`` / ``beats`` does (the stored
pipeline, the lead choice of ``--lead``, the package's features and temperature), computes the relevance of
every model-input sample for the explained class with one method of :mod:`leanecg.explain.attribution`, and
maps it to the record's own sampling rate (the pipeline resamples without a time shift, so model sample
``i`` is at ``i / fs_model`` s; the relevance is linearly interpolated to ``j / fs_record``).

* record models (``cinc2017``): one prediction for the record; the explained class is ``target`` or the
  predicted one; the R peaks detected on the model input are reported (and drawn);
* beat models (``mitdb-aami``): every detected beat is classified; each beat window's relevance (for
  ``target``, or for that beat's own predicted class) is placed at its samples of the record (overlapping
  windows add up); the beats, their labels and probabilities are reported;
* feature contributions, for models with a feature input (``wide_deep_lite``'s record features,
  ``beatnet``'s RR and template features): integrated gradients over the features (signal held), from each
  feature's training mean (:func:`~leanecg.explain.attribution.feature_baseline`); the value shown is the
  unscaled feature with its unit. For a beat model they are those of the ``focus`` beat (the beat with the
  highest probability of the explained class among the beats predicted as a class other than the first,
  else of all beats). LightGBM models have their own SHAP values
  (:func:`~leanecg.explain.attribution.lightgbm_contributions`).

ONNX packages (``.onnx``) have no gradients: they take ``method="occlusion"`` and get no feature
contributions.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leanecg.errors import LeanECGError
from leanecg.explain.attribution import (
    METHOD_TITLES,
    METHODS,
    feature_integrated_gradients,
    grad_cam,
    integrated_gradients,
    occlusion,
)
from leanecg.models.config_names import contains_trees

__all__ = [
    "BASELINE",
    "Explanation",
    "FeatureContribution",
    "check_method",
    "class_index",
    "explain_record",
    "feature_unit",
    "input_baseline",
    "model_proba_fn",
    "signal_relevance",
]

#: How feature contributions are computed: integrated gradients (networks), or one feature at a time set to
#: its training median (models holding boosted trees, which have no gradients).
FEATURE_IG = "integrated gradients from each feature's training mean"
FEATURE_OCCLUSION = "each feature set to its training median, one at a time"

#: The baselines of integrated gradients, occlusion and deletion, in words (stored with every explanation).
BASELINE = (
    "zeros of the model input (a flat line at the isoelectric level after the pipeline's band-pass; "
    "the record mean for a z-scored input)"
)
BLUR_BASELINE = (
    "the model input blurred by a Gaussian of sigma {sigma:g} s (QRS, P and T shapes removed, slow level "
    "kept): the model normalises each input window itself, so a flat (zero) baseline is degenerate"
)
#: Gaussian sigma (s) of the blurred baseline of models that normalise their input windows (``input_norm``).
BLUR_SIGMA_S = 0.1
#: Occlusion window and step of record models and of beat models (seconds).
OCCLUSION_RECORD_S = (0.4, 0.2)
OCCLUSION_BEAT_S = (0.05, 0.025)
#: Integrated-gradients steps by default.
IG_STEPS = 32

_UNITS = {"ms2": "ms²", "mv2": "mV²", "ms": "ms", "mv": "mV", "hz": "Hz", "bpm": "bpm"}
_RR_SECONDS = {"pre_rr", "post_rr", "local_rr", "average_rr"}


def feature_unit(name: str) -> str:
    """The unit of a LeanECG feature from its name (``hrv_mean_rr_ms`` -> ``ms``,
    ``morph_qrs_area_mv_ms_median`` -> ``mV·ms``, ``pre_rr`` -> ``s``); ``""`` for dimensionless ones."""
    if name in _RR_SECONDS:
        return "s"
    tokens = re.split(r"[_\s]+", name.lower())
    if "mv" in tokens and "ms" in tokens and tokens.index("ms") == tokens.index("mv") + 1:
        return "mV·ms"
    for tok in tokens:
        if tok in _UNITS:
            return _UNITS[tok]
    if "pnn50" in tokens or "pnn20" in tokens:
        return "%"
    if tokens[-1:] == ["beats"]:
        return "beats"
    return ""


@dataclass
class FeatureContribution:
    """One feature's contribution to the explained class's probability (or raw score for LightGBM)."""

    name: str
    unit: str
    value: float
    contribution: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "value": _finite(self.value),
            "contribution": float(self.contribution),
        }


@dataclass
class Explanation:
    """What :func:`explain_record` returns (see the module docstring).

    Attributes:
        record, model, kind: record name, package name, ``"records"`` or ``"beats"``.
        method: ``"ig"``, ``"gradcam"`` or ``"occlusion"``; ``target``: the explained class (``None``: each
            beat's predicted class).
        fs, signal, leads: the record's rate, its chosen leads ``(n_samples, n_leads)`` in mV (as recorded),
            their names (``lead_choice``: the ``--lead`` rule applied).
        relevance: float32 ``(n_samples, n_model_leads)`` at the record's rate.
        fs_model, relevance_model: the same at the model's rate, ``(n_model_samples, n_model_leads)``.
        label, probability, probabilities: the record's prediction (record models) or the focus beat's.
        rpeaks: int64 R peaks at the record's rate; ``beats``: per beat ``sample``, ``label``,
            ``probability`` (of its label), ``target_probability`` (beat models).
        features: feature contributions (ranked by absolute value), ``None`` without a feature input;
            ``features_of``: what they explain (``"record"`` or ``"beat at 12.34 s"``).
    """

    record: str
    model: str
    kind: str
    method: str
    target: str | None
    class_names: list[str]
    fs: float
    signal: np.ndarray
    leads: list[str]
    lead_choice: str
    relevance: np.ndarray
    fs_model: float
    relevance_model: np.ndarray
    label: str
    probability: float
    probabilities: dict[str, float]
    rpeaks: np.ndarray
    temperature: float = 1.0
    beats: list[dict[str, Any]] | None = None
    focus_beat: int | None = None
    features: list[FeatureContribution] | None = None
    features_of: str | None = None
    feature_units: str = "log-odds of the explained class"
    feature_method: str = FEATURE_IG
    baseline: str = BASELINE
    notes: list[str] = field(default_factory=list)

    @property
    def method_title(self) -> str:
        return METHOD_TITLES[self.method]

    @property
    def duration_s(self) -> float:
        return self.signal.shape[0] / self.fs

    def to_dict(self) -> dict[str, Any]:
        """JSON form (relevance rounded to 6 significant digits; the trace itself is not included)."""
        return {
            "format": "leanecg.explanation/1",
            "record": self.record,
            "model": self.model,
            "kind": self.kind,
            "method": self.method,
            "method_title": self.method_title,
            "baseline": self.baseline if self.method != "gradcam" else None,
            "relevance_units": {
                "ig": "log-odds of the explained class (integrated gradients: they add up to its change from "
                "the baseline)",
                "gradcam": "Grad-CAM activation (non-negative, arbitrary units)",
                "occlusion": "drop of the explained class's probability when a window around the sample is "
                "replaced by the baseline",
            }[self.method],
            "target": self.target,
            "class_names": self.class_names,
            "temperature": self.temperature,
            "label": self.label,
            "probability": self.probability,
            "probabilities": self.probabilities,
            "fs": self.fs,
            "n_samples": int(self.signal.shape[0]),
            "leads": self.leads,
            "lead_choice": self.lead_choice,
            "relevance": [_round(col) for col in self.relevance.T],
            "fs_model": self.fs_model,
            "relevance_model": [_round(col) for col in self.relevance_model.T],
            "rpeaks": [int(s) for s in self.rpeaks],
            "beats": self.beats,
            "focus_beat": self.focus_beat,
            "features_of": self.features_of,
            "feature_contribution_units": self.feature_units if self.features is not None else None,
            "feature_contribution_method": self.feature_method if self.features is not None else None,
            "features": None if self.features is None else [f.to_dict() for f in self.features],
            "notes": self.notes,
        }


def _finite(v: float) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def _round(a: np.ndarray) -> list[float]:
    return [float(f"{v:.6g}") for v in np.asarray(a, dtype=np.float64)]


def class_index(pkg: Any, name: str | None) -> int | None:
    """The index of class ``name`` in the package's classes (exact, case-insensitive, ``noise`` for ``~``,
    or the probability column ``prob_<class>``); ``None`` for ``None``.

    Raises:
        LeanECGError(``target``) naming the model's classes.
    """
    if name is None:
        return None
    names = list(pkg.class_names)
    key = str(name).strip()
    key = key[5:] if key.lower().startswith("prob_") else key
    for i, c in enumerate(names):
        if key == c or key.lower() == c.lower() or (c == "~" and key.lower() == "noise"):
            return i
    raise LeanECGError("target", f"unknown class {name!r}; the model's classes are {', '.join(names)}")


def model_proba_fn(pkg: Any, features: np.ndarray | None, *, recompute: bool) -> Any:
    """A probability function of model inputs ``(M, n_leads, L)`` for occlusion / deletion: the package's
    backend at its temperature; a record model's features are recomputed from each (perturbed) input
    (``recompute``: the model as deployed) or held at ``features``: ``(N, n_features)`` rows for a batch of
    ``k`` copies of ``N`` inputs in copy-major order (tiled ``k`` times), or the rows given to
    ``fn(batch, rows)``."""

    def fn(batch: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        b = np.ascontiguousarray(batch, dtype=np.float32)
        if pkg.kind == "records" and recompute:
            feats = pkg.record_features(list(b))
        elif rows is not None:
            feats = np.asarray(rows, dtype=np.float32)
        elif features is None:
            feats = None
        else:
            f = np.asarray(features, dtype=np.float32)
            feats = np.tile(f, (len(b) // len(f), 1)) if len(f) != len(b) else f
        return pkg.calibrate(pkg.backend.proba(b, feats, 256, pkg.multilabel))

    return fn


def normalises_input(pkg: Any) -> bool:
    """Whether the package's network normalises each input window itself (``beatnet``'s ``input_norm``):
    its output does not change when the input is scaled, so a zero baseline carries no information."""
    return _config_normalises(pkg.meta.get("model_config") or {})


def _config_normalises(config: dict[str, Any]) -> bool:
    """:func:`normalises_input` of one model config; an ensemble normalises when a member does (the members
    that read the signal: the linear model reads only features)."""
    if config.get("members"):
        return any(_config_normalises(m) for m in config["members"])
    options = config.get("options") or {}
    if "input_norm" in options:
        return bool(options["input_norm"])
    return config.get("name") == "beatnet"  # the option's default


def input_baseline(pkg: Any, X: np.ndarray) -> tuple[np.ndarray, str]:
    """The baseline of model inputs ``X`` ``(N, n_leads, L)`` for integrated gradients, occlusion and deletion,
    and its description: zeros, or (models that normalise their input windows) ``X`` blurred by a Gaussian
    of :data:`BLUR_SIGMA_S` s."""
    x = np.asarray(X, dtype=np.float32)
    if not normalises_input(pkg):
        return np.zeros_like(x), BASELINE
    from scipy.ndimage import gaussian_filter1d

    sigma = BLUR_SIGMA_S * float(pkg.input["fs"])
    blurred = gaussian_filter1d(x, sigma, axis=-1, mode="nearest").astype(np.float32)
    return blurred, BLUR_BASELINE.format(sigma=BLUR_SIGMA_S)


def default_method(model: str) -> str:
    """The method ``leanecg explain`` uses when none is given for ``model`` (a shipped name, a package folder
    or an ``.onnx`` file): ``"occlusion"`` for an exported ``.onnx`` file, without torch installed
    (gradients need the torch model) or for a package holding boosted trees (no gradients), else
    ``"ig"``."""
    import importlib.util

    from leanecg.package import META_FILE, is_onnx_model, resolve_model

    if is_onnx_model(model) or importlib.util.find_spec("torch") is None:
        return "occlusion"
    try:  # a package holding boosted trees has no gradients
        meta = json.loads((resolve_model(model) / META_FILE).read_text(encoding="utf-8"))
    except (LeanECGError, OSError, ValueError):
        return "ig"  # not a readable package: opening it reports the problem
    return "occlusion" if contains_trees(meta.get("model_config") or {}) else "ig"


def check_method(pkg: Any, method: str) -> str:
    if method not in METHODS:
        raise LeanECGError("method", f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if method != "occlusion" and pkg.backend.runtime != "torch":
        raise LeanECGError(
            pkg.path,
            f"runs in {pkg.backend.runtime}, without gradients: {METHOD_TITLES[method]} needs the torch model "
            "(a package folder); use `method` occlusion",
        )
    if method != "occlusion" and contains_trees(pkg.meta.get("model_config") or {}):
        raise LeanECGError(
            pkg.path,
            f"contains boosted trees, whose output is piecewise constant in the input (no gradients): "
            f"{METHOD_TITLES[method]} would miss them; use `method` occlusion",
        )
    return method


def _to_record_rate(rel: np.ndarray, fs_model: float, fs: float, n: int) -> np.ndarray:
    """``(n_model, leads)`` relevance at the model's rate -> ``(n, leads)`` at the record's rate."""
    t_model = np.arange(rel.shape[0]) / fs_model
    t = np.arange(n) / fs
    return np.stack([np.interp(t, t_model, rel[:, k]) for k in range(rel.shape[1])], axis=1).astype(
        np.float32
    )


def signal_relevance(
    pkg: Any,
    method: str,
    X: np.ndarray,
    target: np.ndarray,
    features: np.ndarray | None,
    *,
    steps: int,
    occlusion_s: tuple[float, float],
    recompute: bool,
) -> np.ndarray:
    """``(N, n_leads, L)`` relevance of model inputs ``X`` for per-input ``target`` classes."""
    fs = float(pkg.input["fs"])
    t, ml = pkg.temperature, pkg.multilabel
    base, _ = input_baseline(pkg, X)
    if method == "ig":
        return integrated_gradients(
            pkg.model, X, target, features, steps=steps, baseline=base, temperature=t, multilabel=ml
        )
    if method == "gradcam":
        cam = grad_cam(pkg.model, X, target, features, temperature=t, multilabel=ml)
        return np.repeat(cam[:, None, :], X.shape[1], axis=1)
    window, stride = (max(1, round(s * fs)) for s in occlusion_s)
    fn = model_proba_fn(pkg, features, recompute=recompute)
    occ = occlusion(fn, X, target, window=window, stride=stride, baseline=base)
    return np.repeat(occ[:, None, :], X.shape[1], axis=1)


def feature_occlusion(pkg: Any, X: np.ndarray, features: np.ndarray, target: int) -> np.ndarray:
    """Feature contributions of one input for any model with a features input, gradients or not (boosted
    trees; torch or ONNX Runtime): the drop of the target class's log-odds (calibrated probabilities) when
    one feature at a time is set to 0 -- for the robust-scaled record features
    (:mod:`leanecg.models.record_inputs`) the training median.

    Args:
        pkg: a model package (any backend).
        X: one model input ``(1, n_leads, L)``.
        features: its features ``(1, n_features)`` (the model's scaled feature space).
        target: the explained class index.

    Returns:
        float64 ``(n_features,)`` in log-odds units (unlike integrated gradients, they need not sum to the
        total change).
    """
    f = np.asarray(features, dtype=np.float32)
    k = f.shape[1]
    rows = np.repeat(f[:1], k + 1, axis=0)
    rows[np.arange(1, k + 1), np.arange(k)] = 0.0  # row j + 1: feature j at the training median
    x = np.repeat(np.asarray(X, dtype=np.float32)[:1], k + 1, axis=0)
    p = np.clip(
        pkg.calibrate(pkg.backend.proba(x, rows, 256, pkg.multilabel))[:, int(target)], 1e-12, 1 - 1e-12
    )
    logodds = np.log(p) - np.log1p(-p)
    return logodds[0] - logodds[1:]


def _feature_contributions(
    pkg: Any,
    X: np.ndarray,
    features: np.ndarray,
    raw: np.ndarray,
    target: int,
    names: list[str],
    steps: int,
    method: str,
) -> list[FeatureContribution]:
    if method == FEATURE_OCCLUSION:  # no gradients through trees: one feature at a time
        contrib = feature_occlusion(pkg, X, features, target)
    else:
        contrib = feature_integrated_gradients(
            pkg.model,
            X,
            features,
            target,
            steps=steps,
            temperature=pkg.temperature,
            multilabel=pkg.multilabel,
        )[0]
    out = [
        FeatureContribution(n, feature_unit(n), float(v), float(c))
        for n, v, c in zip(names, raw, contrib, strict=True)
    ]
    return sorted(out, key=lambda f: -abs(f.contribution))


def explain_record(
    pkg: Any,
    record: Any,
    *,
    method: str = "ig",
    target: str | None = None,
    lead: Any = None,
    steps: int = IG_STEPS,
    recompute_features: bool = True,
) -> Explanation:
    """Explain ``pkg``'s prediction on ``record`` (see the module docstring).

    Args:
        pkg: a :class:`~leanecg.package.model.ModelPackage` (torch; ONNX for occlusion).
        record: a raw :class:`~leanecg.data.record.Record`.
        method: ``"ig"`` (integrated gradients, default), ``"gradcam"`` or ``"occlusion"``.
        target: the class to explain (name; ``None``: the predicted class, per beat for beat models).
        lead: the record lead(s) feeding the model (``--lead``).
        steps: integrated-gradients steps.
        recompute_features: occlusion of a record model recomputes its record features from the occluded
            input (the model as deployed); ``False`` holds them at the record's values (the network alone).

    Raises:
        LeanECGError: unknown method / class, a gradient method on an ONNX model, or the record cannot be
            preprocessed for the model (lead, rate, NaN).
    """
    from leanecg.signal.resample import resample_indices
    from leanecg.signal.rpeaks import detect_rpeaks

    method = check_method(pkg, method)
    tgt = class_index(pkg, target)
    names = list(pkg.class_names)
    spec = pkg.input
    fs_model = float(spec["fs"])
    y = pkg.preprocess(record, lead=lead)  # (n_model, leads) at fs_model
    choice = pkg.lead_choice(record.leads, lead)
    signal = np.asarray(record.signal[:, list(choice.columns)], dtype=np.float32)
    n_rec = record.n_samples
    common = {
        "record": record.name,
        "model": pkg.name,
        "kind": pkg.kind,
        "method": method,
        "target": None if tgt is None else names[tgt],
        "class_names": names,
        "fs": float(record.fs),
        "signal": signal,
        "leads": list(choice.record_leads),
        "lead_choice": str(choice),
        "fs_model": fs_model,
        "temperature": pkg.temperature,
        "baseline": input_baseline(pkg, np.zeros((1, 1, 1), np.float32))[1],
    }
    # feature contributions: integrated gradients (the torch model), or feature occlusion for models holding
    # trees (any backend)
    trees = contains_trees(pkg.meta.get("model_config") or {})
    common["feature_method"] = FEATURE_OCCLUSION if trees else FEATURE_IG
    takes_features = bool(spec.get("features")) and (pkg.backend.runtime == "torch" or trees)
    if pkg.kind == "records":
        X = np.ascontiguousarray(y.T[None], dtype=np.float32)
        feats = pkg.record_features(list(X))
        probs = pkg.predict_inputs(list(X))[0]
        k = int(np.argmax(probs)) if tgt is None else tgt
        rel = signal_relevance(
            pkg,
            method,
            X,
            np.array([k]),
            feats,
            steps=steps,
            occlusion_s=OCCLUSION_RECORD_S,
            recompute=recompute_features,
        )[0].T
        peaks = detect_rpeaks(y[:, 0], fs_model)
        contributions = None
        if takes_features and feats is not None:
            from leanecg.models.record_inputs import raw_input_features

            raw, _ = raw_input_features(list(X), fs_model, names=spec["features"])
            contributions = _feature_contributions(
                pkg, X, feats, raw[0], k, list(spec["features"]), steps, common["feature_method"]
            )
        notes = []
        if contributions is not None and trees:
            notes.append(
                "feature contributions: the drop of the class's log-odds when one feature at a time is set to its "
                "training median (feature occlusion: the model holds boosted trees, which have no gradients)"
            )
        if method in ("ig", "gradcam") and feats is not None:
            notes.append(
                "relevance on the trace is the network's signal branch with the record features held at their "
                "values; the features' share is in the feature contributions"
            )
        if method == "occlusion" and feats is not None:
            notes.append(
                "occlusion recomputes the record features from each occluded input (the model as deployed)"
                if recompute_features
                else "occlusion holds the record features at the record's values (the network alone)"
            )
        label = pkg.labels_of(probs[None])[0]
        return Explanation(
            **common,
            relevance=_to_record_rate(rel, fs_model, float(record.fs), n_rec),
            relevance_model=rel.astype(np.float32),
            label=label,
            probability=float(probs[int(np.argmax(probs))]),
            probabilities={c: float(p) for c, p in zip(names, probs, strict=True)},
            rpeaks=resample_indices(peaks, fs_model, float(record.fs), n_out=n_rec).astype(np.int64),
            features=contributions,
            features_of="record" if contributions is not None else None,
            notes=notes,
        )
    return _explain_beats(pkg, record, y, common, tgt, steps, takes_features)


def _explain_beats(
    pkg: Any,
    record: Any,
    y: np.ndarray,
    common: dict[str, Any],
    tgt: int | None,
    steps: int,
    takes_features: bool,
) -> Explanation:
    from leanecg.signal.resample import resample_indices
    from leanecg.signal.rpeaks import detect_rpeaks

    spec = pkg.input
    fs_model = float(spec["fs"])
    names = list(pkg.class_names)
    n_rec = record.n_samples
    peaks = detect_rpeaks(y[:, 0], fs_model)
    if peaks.size < 2:
        raise LeanECGError(
            common["record"], f"fewer than 2 beats detected: nothing for beat model {pkg.name} to explain"
        )
    windows, feats = pkg.beat_inputs(y, peaks)  # as predict_beats: oriented when the package says so
    probs = pkg.calibrate(pkg.backend.proba(windows, feats, 256, pkg.multilabel))
    pred = np.argmax(probs, axis=1)
    per_beat = pred if tgt is None else np.full(len(pred), tgt)
    rel_w = signal_relevance(
        pkg,
        common["method"],
        windows,
        per_beat,
        feats,
        steps=steps,
        occlusion_s=OCCLUSION_BEAT_S,
        recompute=False,
    )  # (B, leads, W)
    before = round(float(spec["before_s"]) * fs_model)
    n_model, width = y.shape[0], rel_w.shape[2]
    rel = np.zeros((n_model, y.shape[1]), dtype=np.float64)
    for p, r in zip(peaks, rel_w, strict=True):
        lo = int(p) - before
        a, b = max(lo, 0), min(lo + width, n_model)
        if b > a:
            rel[a:b] += r[:, a - lo : b - lo].T
    samples = resample_indices(peaks, fs_model, float(record.fs), n_out=n_rec).astype(np.int64)
    labels = pkg.labels_of(probs)
    # the focus beat: highest probability of the explained class among beats of another class than the first
    k_focus = tgt
    if k_focus is None:
        abnormal = pred[pred != 0]
        k_focus = int(np.bincount(abnormal).argmax()) if abnormal.size else 0
    cand = np.flatnonzero(pred != 0) if tgt is None and (pred != 0).any() else np.arange(len(pred))
    focus = int(cand[np.argmax(probs[cand, k_focus])])
    beats = [
        {
            "sample": int(s),
            "time_s": round(float(s) / float(record.fs), 4),
            "label": lab,
            "probability": round(float(pr[int(np.argmax(pr))]), 6),
            "target": names[int(t)],
            "target_probability": round(float(pr[int(t)]), 6),
        }
        for s, lab, pr, t in zip(samples, labels, probs, per_beat, strict=True)
    ]
    contributions = None
    features_of = None
    if takes_features and feats is not None:
        kf = int(per_beat[focus])
        contributions = _feature_contributions(
            pkg,
            windows[focus : focus + 1],
            feats[focus : focus + 1],
            feats[focus],
            kf,
            list(spec["features"]),
            steps,
            common["feature_method"],
        )
        features_of = (
            f"beat at {samples[focus] / float(record.fs):.2f} s ({labels[focus]}), class {names[kf]}"
        )
    notes = [
        "beat models: each beat window's relevance is for "
        + ("the explained class" if tgt is not None else "that beat's predicted class")
        + "; the beat features (RR intervals, template correlations) are held at their values (their share "
        "is in the feature contributions)"
    ]
    pf = probs[focus]
    return Explanation(
        **common,
        relevance=_to_record_rate(rel.astype(np.float32), fs_model, float(record.fs), n_rec),
        relevance_model=rel.astype(np.float32),
        label=labels[focus],
        probability=float(pf[int(np.argmax(pf))]),
        probabilities={c: float(p) for c, p in zip(names, pf, strict=True)},
        rpeaks=samples,
        beats=beats,
        focus_beat=focus,
        features=contributions,
        features_of=features_of,
        notes=notes,
    )
