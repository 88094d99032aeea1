"""Model packages: a trained model plus everything needed to use it on raw records, in one folder.

A package folder holds three files::

    model.pt        weights-only state_dict (leanecg.train.checkpoint; never pickled code)
    model.json      the checkpoint sidecar: weights checksum, model config, and the package metadata below
    MODEL_CARD.md   data, split, metrics with 95 % CIs, cost, training-data licence, intended use, limits

The package metadata (top-level keys of ``model.json`` besides the checkpoint's own)::

    "package":     {"format": "leanecg.model/1", "name": "cinc2017/litenet", "kind": "records" | "beats"}
    "task":        {"name", "description", "dataset", "primary_metric"}
    "class_names": ["N", "A", "O", "~"]
    "multilabel":  false
    "pipeline":    the preprocessing Pipeline JSON (leanecg.signal.pipeline), applied to every raw record
    "input":       {"fs": Hz after the pipeline, "leads": [...], "n_leads", "n_samples" (the costed input),
                    "variable_length", "before_s" / "after_s" (beat models: window around each R peak, s),
                    "features": names of the beat features the model takes (beat_model_inputs) or of the
                    record features (leanecg.models.record_inputs), or null;
                    "feature_config" (record models with features): names, scaling, feature version;
                    "orient_polarity" (beat models, optional, default false): each lead oriented so that the
                    record's typical QRS points up before the network sees its windows
                    (:mod:`leanecg.signal.polarity`)}
    "metrics":     {name: {"value", "ci_low", "ci_high", ...}} on the task's test split, "per_class",
                    "confusion"
    "cost":        params, MACs, sizes, batch-1 latency (ms) next to the reference model, as measured
    "data":        dataset, split rule, split sizes, test record ids, whether it was a --tiny smoke run
    "licence":     {"dataset", "licence", "citation"} of the training data
    "train", "provenance": training configuration and run provenance (seed, git commit, versions)
    "temperature": {"value": T, "fitted_on", "n", "nll_before", "nll_after", ...} (optional): the temperature
                    fitted on validation predictions (:func:`leanecg.evaluate.calibration.fit_temperature`);
                    every probability a package returns is ``apply_temperature(p, T)`` (absent: T = 1)
    "rhythm_gate": {"threshold", "window", "from": "S", "to": "N", "chosen_on", ...} (optional, beat models):
                    the AF gate of :mod:`leanecg.signal.rhythm_gate`; a beat whose causal RR irregularity is at
                    least ``threshold`` gets its S probability added to N (after the temperature);
                    ``"exclude_ectopic": true`` (optional, default false) measures the irregularity without
                    the premature-beat pairs

Inference (:class:`ModelPackage`) applies the stored pipeline to each raw :class:`~leanecg.data.record.Record`
(the pipeline resamples to the model's rate and selects its leads), so a package gives the model exactly
the inputs it was evaluated on. Which record leads feed the model's input leads is decided by
:func:`model_lead_choice` (the rule of :func:`leanecg.signal.leads.choose_leads`; ``lead=`` picks them, as
``--lead`` on the CLI), before the pipeline runs. The network itself runs in an :class:`InferenceBackend`:
:class:`TorchBackend` for a package folder (this module), ``OrtBackend`` for an exported ``.onnx`` file
(:mod:`leanecg.package.ort_runtime`, numpy + onnxruntime only, no torch); preprocessing, beat detection and
beat inputs are the same code for both:

* record models: :meth:`ModelPackage.predict_records` -> ``(N, C)`` probabilities via
  :func:`leanecg.train.trainer.predict_proba` on the whole preprocessed record;
* beat models: :meth:`ModelPackage.predict_beats` -> R peaks detected on the preprocessed lead, the
  beat windows and beat features of :func:`leanecg.signal.beats.beat_model_inputs` (the function training
  used), probabilities per beat, peak positions mapped back to the record's own sample indices.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import numpy as np

from leanecg.errors import LeanECGError
from leanecg.signal.beats import (
    RECORD_Z_FEATURE_NAMES,
    RECORD_ZN_FEATURE_NAMES,
    beat_model_inputs,
    select_beat_features,
)
from leanecg.signal.gaps import MIN_SEGMENT_S, valid_segments
from leanecg.signal.pipeline import Pipeline
from leanecg.signal.polarity import beat_polarity, orient_windows, record_polarity
from leanecg.signal.rhythm_gate import gate_sveb, rr_from_peaks, rr_irregularity

if TYPE_CHECKING:
    from torch import nn

    from leanecg.data.record import Record
    from leanecg.signal.leads import LeadChoice
    from leanecg.tasks import BenchTask, TaskData

__all__ = [
    "CARD_FILE",
    "META_FILE",
    "PACKAGE_FORMAT",
    "TRAINING_PART_KEYS",
    "WEIGHTS_FILE",
    "BeatPredictions",
    "InferenceBackend",
    "ModelInputs",
    "ModelPackage",
    "TorchBackend",
    "check_package_meta",
    "class_column",
    "load_model_package",
    "members_training_parts",
    "model_lead_choice",
    "save_model_package",
]

PACKAGE_FORMAT = "leanecg.model/1"
WEIGHTS_FILE = "model.pt"
META_FILE = "model.json"
CARD_FILE = "MODEL_CARD.md"

#: Preprocessed model inputs: channel-first ``(n_leads, n_samples_i)`` arrays, or one ``(N, n_leads, T)`` array.
ModelInputs = Sequence[np.ndarray] | np.ndarray

#: The record lead(s) asked to feed a model (``--lead``): ``"ECG1"``, ``"I,II"``, a list of names or
#: column indices; ``None`` for the rule of :func:`leanecg.signal.leads.choose_leads`.
LeadOption = str | int | Sequence[str | int] | None

#: Relative tolerance between the pipeline's output rate and the rate the model was trained at.
_FS_RTOL = 1e-3


def class_column(name: str) -> str:
    """CSV column of a class's probability: ``prob_<class>`` with ``~`` (CinC 2017 noise) spelled ``noise``."""
    return "prob_" + ("noise" if name == "~" else name)


class BeatPredictions(NamedTuple):
    """Beat classifications of one record.

    Attributes:
        samples: int64 ``(n_beats,)`` R-peak positions at the record's own sampling rate.
        labels: ``n_beats`` class names (argmax of ``probs``).
        probs: float64 ``(n_beats, n_classes)``, rows sum to 1.
        skipped: ``[start, stop)`` sample ranges (the record's rate) not analysed: invalid (NaN) samples
            in the leads the model reads, and valid stretches between them shorter than
            :data:`MIN_SEGMENT_S`; empty for a record without invalid samples.
        upright: the share of the beats whose QRS points up in the first lead the model reads, as recorded
            (:func:`leanecg.signal.polarity.beat_polarity`; before any orientation); ``None`` without beats.
            A model that does not orient its lead (``input.orient_polarity``) and was trained on upright
            leads classifies a record below one half poorly (``benchmarks/polarity_stress.py``).
    """

    samples: np.ndarray
    labels: list[str]
    probs: np.ndarray
    skipped: tuple[tuple[int, int], ...] = ()
    upright: float | None = None


# ------------------------------------------------------------------------------------------------- saving


def _ensemble_note(meta: Mapping[str, Any]) -> str:
    """``"; an ensemble of ..."`` for a package of :func:`leanecg.models.ensemble_of` (else empty)."""
    members = (meta.get("train") or {}).get("members")
    if meta.get("model_config", {}).get("name") != "ensemble" or not members:
        return ""
    seeds = ", ".join(str(m.get("seed")) for m in members)
    names = sorted({str(m.get("model")) for m in members})
    return (
        f" in all: an ensemble of {len(members)} `{'`, `'.join(names)}` models (seeds {seeds}) whose class "
        "probabilities are averaged"
    )


def save_model_package(
    out_dir: str | Path,
    model: nn.Module,
    task: BenchTask,
    data: TaskData,
    result: Mapping[str, Any],
    *,
    name: str | None = None,
) -> Path:
    """Write a model package (``model.pt``, ``model.json``, ``MODEL_CARD.md``) into ``out_dir``.

    Args:
        out_dir: the package folder (created; files in it are replaced atomically one by one).
        model: the trained model, built by :func:`leanecg.models.build_model` (its config is stored).
        task: the benchmark task it was trained on (class names, primary metric, dataset; a task with
            ``before_s`` / ``after_s`` attributes is a beat task whose model classifies beat windows).
        data: the task data it was trained on (pipeline, input rate and size, split information).
        result: the result document of the run (:func:`leanecg.evaluate.results.make_result`): metrics
            with CIs, per-class statistics, confusion matrix, cost, training config and provenance.
        name: package name shown by ``leanecg models`` (default ``<task>/<model>``).

    Returns:
        ``out_dir``.
    """
    from leanecg.data import get_dataset
    from leanecg.models.registry import model_config
    from leanecg.signal import beats
    from leanecg.train.checkpoint import save_checkpoint

    out_dir = Path(out_dir)
    config = model_config(model)
    before_s = getattr(task, "before_s", None)
    after_s = getattr(task, "after_s", None)
    kind = "beats" if before_s is not None and after_s is not None else "records"
    info_input = dict(data.info.get("input", {}))
    n_features = int(config.get("n_features", 0))
    feature_names: list[str] | None = None
    if kind == "beats" and n_features:
        # the columns of beat_model_inputs the task trained on (named by the task; older tasks: by count)
        known = [info_input.get("features") or (), beats.BEAT_FEATURE_NAMES, beats.RR_FEATURE_NAMES]
        feature_names = next((list(k) for k in known if len(k) == n_features), None)
        if feature_names is None or any(n not in beats.ALL_BEAT_FEATURE_NAMES for n in feature_names):
            raise LeanECGError(
                out_dir,
                f"beat model takes {n_features} features, which are not the features of beat_model_inputs",
            )
    spec: dict[str, Any] = {
        "fs": float(data.fs),
        "leads": list(info_input.get("leads") or []),
        "n_leads": int(config["n_leads"]),
        "n_samples": int(data.input_samples),
        "variable_length": kind == "records" and not isinstance(data.train.X, np.ndarray),
        "before_s": float(before_s) if kind == "beats" else None,
        "after_s": float(after_s) if kind == "beats" else None,
        "features": feature_names,
    }
    if kind == "records" and n_features:
        # record features computed from the model input (leanecg.models.record_inputs, numpy only)
        from leanecg.models.record_inputs import check_feature_config

        feature_config = info_input.get("feature_config")
        check_feature_config(feature_config, str(out_dir))
        if len(feature_config["names"]) != n_features:
            raise LeanECGError(
                out_dir,
                f"record model takes {n_features} features; the task's feature config has "
                f"{len(feature_config['names'])}",
            )
        spec["features"] = list(feature_config["names"])
        spec["feature_config"] = dict(feature_config)
    ds = get_dataset(task.dataset)
    data_block = {k: v for k, v in result.get("data", {}).items() if k != "pipeline"}
    cost = {k: v for k, v in result.get("cost", {}).items() if k != "macs_breakdown"}
    meta = {
        "package": {"format": PACKAGE_FORMAT, "name": name or f"{task.name}/{result['model']}", "kind": kind},
        "task": {
            "name": task.name,
            "description": task.description,
            "dataset": task.dataset,
            "primary_metric": task.primary_metric,
        },
        "model_name": result["model"],
        "family": result.get("family"),
        "class_names": list(task.class_names),
        "multilabel": False,
        "pipeline": data.pipeline.to_dict(),
        "input": spec,
        "metrics": result["metrics"],
        "per_class": result.get("per_class", {}),
        "confusion": result.get("confusion", {}),
        "cost": cost,
        "data": data_block,
        "licence": {"dataset": ds.name, "title": ds.title, "licence": ds.licence, "citation": ds.citation},
        "train": {k: v for k, v in result.get("train", {}).items() if k != "history"},
        "provenance": result.get("provenance", {}),
        "notes": list(result.get("notes", [])),
    }
    temperature = temperature_meta(result.get("calibration"))
    if temperature is not None:
        meta["temperature"] = temperature
    save_checkpoint(out_dir / WEIGHTS_FILE, model, config, extra=meta)
    _write_card(out_dir / CARD_FILE, load_model_package(out_dir).meta)
    return out_dir


def temperature_meta(calibration: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The package's ``temperature`` field from a result's ``calibration`` block (``None`` without one)."""
    if not calibration or calibration.get("temperature") is None:
        return None
    return {
        "value": float(calibration["temperature"]),
        "fitted_on": calibration.get("fitted_on", "val"),
        "n": calibration.get("n_val"),
        "nll_before": calibration.get("nll_val_before"),
        "nll_after": calibration.get("nll_val_after"),
        "test_ece_macro_before": calibration.get("ece_macro_before"),
        "test_ece_macro_after": calibration.get("ece_macro_after"),
    }


def package_temperature(meta: Mapping[str, Any]) -> float:
    """The temperature of a package's metadata: ``temperature.value`` (or a bare number), 1.0 when absent."""
    t = meta.get("temperature")
    if isinstance(t, Mapping):
        t = t.get("value")
    if t is None:
        return 1.0
    t = float(t)
    if not (math.isfinite(t) and t > 0):
        raise LeanECGError("temperature", f"model package temperature must be a positive number, got {t!r}")
    return t


def package_rhythm_gate(meta: Mapping[str, Any], source: str | Path = "rhythm_gate") -> dict[str, Any] | None:
    """The ``rhythm_gate`` field of a package's metadata, checked (``None`` when absent); ``source``: the file
    named in errors.

    Raises:
        LeanECGError: not a beat model, a threshold that is not a positive number, a window below 2, an
            ``exclude_ectopic`` that is not a boolean, or classes the model does not have.
    """
    gate = meta.get("rhythm_gate")
    if gate is None:
        return None
    if not isinstance(gate, Mapping) or (meta.get("package") or {}).get("kind") != "beats":
        raise LeanECGError(source, "rhythm_gate must be a mapping, on a beat model")
    t, w = gate.get("threshold"), gate.get("window")
    ok_t = isinstance(t, int | float) and not isinstance(t, bool) and math.isfinite(t) and t > 0
    if not ok_t or not isinstance(w, int) or isinstance(w, bool) or w < 2:
        raise LeanECGError(
            source, f"rhythm_gate needs a positive threshold and a window >= 2, got {t!r}, {w!r}"
        )
    if not isinstance(gate.get("exclude_ectopic", False), bool):
        raise LeanECGError(
            source, f"rhythm_gate exclude_ectopic must be true or false, got {gate['exclude_ectopic']!r}"
        )
    classes = list(meta.get("class_names") or [])
    for key in ("from", "to"):
        if gate.get(key) not in classes:
            raise LeanECGError(
                source, f"rhythm_gate {key!r} must be one of the classes {classes}, got {gate.get(key)!r}"
            )
    return dict(gate)


def _fmt_metric(m: Mapping[str, Any] | None) -> str:
    if not m or m.get("value") is None:
        return "n/a"
    lo, hi = m.get("ci_low"), m.get("ci_high")
    ci = f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else ""
    return f"{m['value']:.3f}{ci}"


def _fmt_num(v: Any, spec: str = ",") -> str:
    if v is None:
        return "n/a"
    return format(v, spec)


def model_card(meta: Mapping[str, Any]) -> str:
    """The ``MODEL_CARD.md`` text of a package's metadata (Markdown)."""
    pkg, task, spec, data = meta["package"], meta["task"], meta["input"], meta.get("data", {})
    cost, lic, prov = meta.get("cost", {}), meta.get("licence", {}), meta.get("provenance", {})
    classes = ", ".join(meta["class_names"])
    lines = [f"# Model card: {pkg['name']}", ""]
    if data.get("tiny"):
        lines += [
            "> **Smoke-run model (`--tiny`)**: trained on a few records for 2 epochs to test the pipeline. "
            "Its numbers are not results and it must not be used for anything else.",
            "",
        ]
    what = "each heartbeat (window around a detected R peak)" if pkg["kind"] == "beats" else "each record"
    lines += [
        "## Model",
        f"- Architecture: `{meta.get('model_name')}` ({meta.get('family') or 'n/a'}), "
        f"{_fmt_num(cost.get('params'))} parameters" + _ensemble_note(meta) + ".",
        f"- Task: {task['description']} (`{task['name']}`). Classifies {what} into: {classes}.",
        f"- Input: leads {', '.join(spec['leads']) or 'n/a'} at {spec['fs']:g} Hz after the stored pipeline"
        + (
            f"; beat window {spec['before_s']:g} s before to {spec['after_s']:g} s after the R peak"
            + (f"; beat features {', '.join(spec['features'])}" if spec.get("features") else "")
            if pkg["kind"] == "beats"
            else ("; whole record (any length)" if spec.get("variable_length") else "")
        )
        + ".",
        "- Preprocessing (applied to raw records by `leanecg predict` / `beats`): "
        + " -> ".join(s["op"] for s in meta["pipeline"]["steps"])
        + ".",
        _temperature_line(meta),
        *_orientation_lines(meta),
        *_gate_lines(meta),
        "",
        "## Training data",
        f"- Dataset: {lic.get('title', task['dataset'])} (`{task['dataset']}`).",
        f"- Split: {data.get('split', 'n/a')}.",
        f"- Examples: train {_fmt_num(data.get('n_train'))}, validation {_fmt_num(data.get('n_val'))}, "
        f"test {_fmt_num(data.get('n_test'))}.",
        *_training_part_lines(data),
        f"- Licence of the training data: {lic.get('licence', 'n/a')}. Cite: {lic.get('citation', 'n/a')}",
        "",
        f"## Test metrics (95 % bootstrap CIs; primary: `{task['primary_metric']}`)",
        "",
        "| metric | value [95 % CI] |",
        "|---|---|",
    ]
    for k, m in meta.get("metrics", {}).items():
        lines.append(f"| {k}{' (primary)' if k == task['primary_metric'] else ''} | {_fmt_metric(m)} |")
    lat = cost.get("latency_ms_median")
    ratio = cost.get("latency_ratio_vs_reference")
    lines += [
        "",
        "## Cost (batch 1, one CPU thread)",
        f"- Parameters {_fmt_num(cost.get('params'))}, MACs {_fmt_num(cost.get('macs'))}, "
        f"fp32 size {_fmt_num(cost.get('bytes_fp32'))} bytes.",
        f"- Latency {lat:.3f} ms median"
        + (f" ({ratio:.2f}x the reference `{cost.get('reference')}` timed in the same run)" if ratio else "")
        + f" for {cost.get('signal_s', 0):g} s of signal; real-time factor "
        f"{_fmt_num(cost.get('real_time_factor'), ',.0f')}."
        if lat is not None
        else "- Latency: not measured.",
        *_runtime_cost_lines(cost),
        f"- Measured on: {prov.get('cpu_model') or prov.get('machine') or 'n/a'}.",
        "",
        "## Intended use",
        "- Research and benchmarking of efficient ECG classifiers; a baseline to compare against.",
        "- Not a medical device. Not validated for diagnosis, triage or any clinical decision.",
        "",
        "## Limits",
        f"- Trained on one dataset ({task['dataset']}); expect lower accuracy on other devices, lead "
        "placements, populations and sampling conditions.",
        "- Records are resampled to the model's rate by the pipeline; leads the model needs must be present.",
    ]
    if pkg["kind"] == "beats":
        lines.append(
            "- Test metrics use the reference beat positions (classification-only evaluation); `leanecg "
            "beats` classifies the beats its own R-peak detector finds, so missed or extra detections add "
            "errors not counted above."
        )
        if any(n in RECORD_Z_FEATURE_NAMES for n in meta["input"].get("features") or ()):
            lines.append(
                "- Some beat features are record-normalised (`*_rz`: each beat against its record's median and "
                "IQR). They assume that most of a record's beats follow its dominant rhythm and morphology: where "
                "ectopic beats are the majority, the record's median is ectopic and ectopy no longer stands out. "
                "`leanecg stream` standardises each beat against the beats so far, so early in a stream its labels "
                "can differ from those of `leanecg beats`."
            )
        if any(n in RECORD_ZN_FEATURE_NAMES for n in meta["input"].get("features") or ()):
            lines.append(
                "- Some beat features are record-normalised against the record's non-premature beats (`*_rzn`: "
                "each beat against the median and IQR of the beats whose RR interval before them is at least 0.9 "
                "times the one after). The yardstick stays the normal rhythm where premature ectopic beats are "
                "frequent; ectopic beats at a steady rate (a run of tachycardia) count as non-premature. "
                "`leanecg stream` standardises each beat against the non-premature beats so far, so early in a "
                "stream its labels can differ from those of `leanecg beats`."
            )
    lines += [f"- {note[:1].upper()}{note[1:]}." for note in meta.get("notes") or []]
    lines += [
        "",
        "## Provenance",
        f"- git commit {prov.get('git_commit', 'n/a')}, seed {prov.get('seed', 'n/a')}, "
        f"created {prov.get('timestamp_utc', 'n/a')}.",
        f"- Weights: `{WEIGHTS_FILE}` (SHA-256 {meta.get('weights_sha256', 'n/a')}).",
        "",
    ]
    return "\n".join(lines)


#: The keys of a package's ``data`` block that describe what joined its training part besides its split's own
#: examples (:class:`leanecg.tasks.base.TaskData`: ``extra_train``, examples from another source; ``thinned_copies``,
#: :mod:`leanecg.tasks.ectopy_mix`). They are part of how a model was made: an ensemble carries each member's as
#: ``members_<key>`` (:func:`members_training_parts`) and the model card prints both (:func:`_training_part_lines`).
TRAINING_PART_KEYS: tuple[str, ...] = ("extra_train", "thinned_copies")


def _runtime_cost_lines(cost: Mapping[str, Any]) -> list[str]:
    """The card's lines for the latencies ``benchmarks/latency_cinc2017.py --write-cost`` adds: the forward pass
    in ONNX Runtime (the runtime of ``predict`` / ``beats`` / ``stream`` / ``serve``) and, for a model with
    record features, the end to end (features + forward) in torch and in ONNX Runtime."""
    ref = cost.get("reference")
    lines = []
    if cost.get("onnx_latency_ms_median") is not None:
        lines.append(
            f"- In ONNX Runtime fp32 (the runtime of `predict`, `beats`, `stream`, `serve`): "
            f"{cost['onnx_latency_ms_median']:.3f} ms median, {cost['onnx_latency_ratio_vs_reference']:.3f}x "
            f"the reference `{ref}` exported and timed in the same run."
        )
    parts = [
        f"{name} {cost[ms]:.3f} ms ({cost[ratio]:.3f}x the reference's forward pass)"
        for name, ms, ratio in (
            ("torch", "end_to_end_ms_median", "end_to_end_ratio_vs_reference"),
            ("ONNX Runtime", "onnx_end_to_end_ms_median", "onnx_end_to_end_ratio_vs_reference"),
        )
        if cost.get(ms) is not None
    ]
    if parts:
        lines.append(f"- End to end with the record features: {'; '.join(parts)}.")
    return lines


def members_training_parts(metas: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """What joined each member's training part, for an ensemble of the packages ``metas``: for every key of
    :data:`TRAINING_PART_KEYS` some member holds, ``{"members_<key>": {member model name: its entry}}``."""
    out: dict[str, dict[str, Any]] = {}
    for key in TRAINING_PART_KEYS:
        held = {str(m.get("model_name")): m["data"][key] for m in metas if (m.get("data") or {}).get(key)}
        if held:
            out[f"members_{key}"] = held
    return out


def _extra_train_text(info: Mapping[str, Any]) -> str:
    counts = ", ".join(f"{_fmt_num(info[k])} {k}" for k in ("records", "beats") if info.get(k) is not None)
    label = f", labelled {info['label']}" if info.get("label") else ""
    rule = f" ({info['rule']})" if info.get("rule") else ""
    return (
        f"{info.get('source', 'examples from another source')}{' (' + counts + ')' if counts else ''}{label}{rule}; "
        "they joined every training part and were never held out, validated on or scored"
    )


def _thinned_text(info: Mapping[str, Any]) -> str:
    return (
        "its training part also held a thinned copy of each ectopy-rich training record (`thinned_copies`): "
        f"{info['rule']}"
    )


#: each training-part key -> (the card's heading word, the text of one entry)
_TRAINING_PART_TEXT = {
    "extra_train": ("Extra training data", _extra_train_text),
    "thinned_copies": ("Augmentation", _thinned_text),
}


def _training_part_lines(data: Mapping[str, Any]) -> list[str]:
    """The card's lines on what joined the training part (:data:`TRAINING_PART_KEYS`): the package's own
    (``data[key]``) and its ensemble members' (``data["members_<key>"]``)."""
    lines: list[str] = []
    for key in TRAINING_PART_KEYS:
        head, text = _TRAINING_PART_TEXT[key]
        if data.get(key):
            lines.append(f"- {head}: {text(data[key])}.")
        lines += [
            f"- {head} of the `{m}` member: {text(e)}." for m, e in (data.get(f"members_{key}") or {}).items()
        ]
    return lines


def _temperature_line(meta: Mapping[str, Any]) -> str:
    t = meta.get("temperature")
    if not t:
        return (
            "- Probabilities: the network's softmax as trained (no temperature fitted); the `prob_` columns of "
            "`leanecg predict` / `beats` are these."
        )
    info = t if isinstance(t, Mapping) else {"value": t}
    fit = f" on {info.get('fitted_on', 'validation')} data" + (
        f" ({info['n']:,} examples)" if info.get("n") else ""
    )
    nll = (
        f"; validation NLL {info['nll_before']:.3f} -> {info['nll_after']:.3f}"
        if info.get("nll_before") is not None and info.get("nll_after") is not None
        else ""
    )
    return (
        f"- Probabilities are calibrated by temperature scaling, T = {float(info['value']):.3f} fitted{fit}{nll}: "
        "the `prob_` columns of `leanecg predict` / `beats` / `stream` are the calibrated probabilities "
        "(labels, the argmax, are unchanged)."
    )


def _orientation_lines(meta: Mapping[str, Any]) -> list[str]:
    if not (meta.get("input") or {}).get("orient_polarity"):
        return []
    return [
        "- Lead orientation (`input.orient_polarity`): each lead is multiplied by the sign that makes the majority "
        "of the record's beats upright before the network sees its windows (`leanecg.signal.polarity`; a stream "
        "uses the beats so far), as in training: the model gives the same answers on a record and on its negation."
    ]


def _gate_lines(meta: Mapping[str, Any]) -> list[str]:
    gate = package_rhythm_gate(meta)
    if gate is None:
        return []

    def ci(g: Any) -> str:
        return f"{100 * g['point']:+.1f} [{100 * g['ci95'][0]:+.1f}, {100 * g['ci95'][1]:+.1f}]"

    parts = []
    own, every = gate.get("cv_gain"), gate.get("cv_gain_all_runs")
    if isinstance(own, Mapping) and own.get("ci95"):
        parts.append(f"this model's recipe ({gate.get('recipe', 'n/a')}, seeds pooled) {ci(own)}")
    if isinstance(every, Mapping) and every.get("ci95"):
        won = f", {every['runs_with_gain']} of them gain" if every.get("runs_with_gain") is not None else ""
        parts.append(f"all {every.get('runs', '?')} runs {ci(every)}{won}")
    gain = (
        "; cross-validated paired gain in the mean of SVEB and VEB F1, points [95 % CI over records]: "
        + "; ".join(parts)
        if parts
        else ""
    )
    ectopic = (
        ", the window's premature-beat pairs (a short RR, then a long one) left out"
        if gate.get("exclude_ectopic")
        else ""
    )
    return [
        f"- AF gate (`rhythm_gate`): a beat whose RR irregularity over the last {gate['window']} beats (median "
        f"|successive RR difference| / median RR{ectopic}) is at least {float(gate['threshold']):g} cannot be "
        f"{gate['from']}: its {gate['from']} probability goes to {gate['to']} (beats in atrial fibrillation carry "
        f"{gate['to']}). Threshold chosen on {gate.get('chosen_on', 'training data')}{gain}. Applied by "
        "`leanecg beats` / `stream` / `serve`; the test metrics below are the network's alone."
    ]


def set_package_field(folder: Path, key: str, value: Any) -> list[str]:
    """Store one top-level metadata field of a package folder (:func:`set_package_fields` with one field).

    Returns:
        the files written.
    """
    return set_package_fields(folder, {key: value})


def set_package_fields(folder: Path, fields: Mapping[str, Any]) -> list[str]:
    """Store top-level metadata fields of a package folder in one write: ``model.json``, ``MODEL_CARD.md``
    rewritten, and the ``.onnx.json`` sidecars of ONNX files exported from the same weights (they carry the
    package metadata). The document is checked (:func:`check_package_meta`) before anything is written.

    Returns:
        the files written.
    """
    import json

    from leanecg.atomic import write_json

    meta_path = Path(folder) / META_FILE
    doc = json.loads(meta_path.read_text(encoding="utf-8"))
    doc.update(fields)
    check_package_meta(doc, meta_path)
    write_json(meta_path, doc)
    write_card(Path(folder) / CARD_FILE, doc)
    written = [str(meta_path)]
    for side in sorted(Path(folder).glob("*.onnx.json")):
        sdoc = json.loads(side.read_text(encoding="utf-8"))
        src = (sdoc.get("onnx") or {}).get("source_package", {}).get("weights_sha256")
        if src == doc.get("weights_sha256"):
            sdoc.update(fields)
            write_json(side, sdoc)
            written.append(str(side))
    return written


def write_card(path: Path, meta: Mapping[str, Any]) -> None:
    """Write ``MODEL_CARD.md`` (:func:`model_card`) of a package's metadata, atomically."""
    _write_card(path, meta)


def _write_card(path: Path, meta: Mapping[str, Any]) -> None:
    from leanecg.atomic import atomic_open

    with atomic_open(path) as fh:
        fh.write(model_card(meta))


# ------------------------------------------------------------------------------------------------ loading


class InferenceBackend(Protocol):
    """What runs the network of a :class:`ModelPackage` (torch or ONNX Runtime).

    Attributes:
        runtime: ``"torch"`` or ``"onnxruntime"``.
    """

    runtime: str

    def proba(
        self, X: ModelInputs, features: np.ndarray | None, batch_size: int, multilabel: bool
    ) -> np.ndarray:
        """Probabilities float64 ``(N, C)`` (softmax, or sigmoid when ``multilabel``) of channel-first
        inputs ``X`` (``(n_leads, n_samples_i)`` each), with the optional float32 ``(N, n_features)``;
        each input is classified whole, ``batch_size`` inputs per call at most."""
        ...


@dataclass
class TorchBackend:
    """The torch runtime: :func:`leanecg.train.trainer.predict_proba` (the function ``leanecg bench``
    evaluated with) on a model in eval mode."""

    model: nn.Module
    runtime: str = "torch"

    def proba(
        self, X: ModelInputs, features: np.ndarray | None, batch_size: int, multilabel: bool
    ) -> np.ndarray:
        from leanecg.train.trainer import predict_proba

        return predict_proba(self.model, X, features=features, batch_size=batch_size, multilabel=multilabel)


@dataclass
class ModelPackage:
    """A loaded model package (see the module docstring).

    Attributes:
        path: the package folder (or the ``.onnx`` file of an exported package).
        backend: what runs the network (:class:`TorchBackend`, or ``OrtBackend`` for ONNX).
        meta: the full package metadata (``model.json``; the ONNX file's metadata for ONNX).
        pipeline: the preprocessing applied to raw records.
    """

    path: Path
    backend: InferenceBackend
    meta: dict[str, Any]
    pipeline: Pipeline

    @property
    def meta_source(self) -> Path:
        """The file holding the metadata: ``model.json`` of a package folder, or the ``.onnx`` file."""
        return self.path if self.path.is_file() else self.path / META_FILE

    @property
    def model(self) -> nn.Module:
        """The torch model (eval mode) of a package folder.

        Raises:
            LeanECGError: the package runs in ONNX Runtime and has no torch model.
        """
        if not isinstance(self.backend, TorchBackend):
            raise LeanECGError(
                self.path,
                f"is a {self.backend.runtime} model; it has no torch model (load the package folder)",
            )
        return self.backend.model

    @property
    def name(self) -> str:
        return str(self.meta["package"]["name"])

    @property
    def kind(self) -> str:
        """``"records"`` (one prediction per record) or ``"beats"`` (one per detected heartbeat)."""
        return str(self.meta["package"]["kind"])

    @property
    def class_names(self) -> list[str]:
        return list(self.meta["class_names"])

    @property
    def multilabel(self) -> bool:
        return bool(self.meta.get("multilabel", False))

    @property
    def temperature(self) -> float:
        """The fitted temperature every returned probability is scaled with (1.0: none fitted)."""
        return package_temperature(self.meta)

    def calibrate(self, probs: np.ndarray) -> np.ndarray:
        """The network's probabilities ``(N, C)`` scaled by the package's :attr:`temperature`
        (:func:`leanecg.evaluate.calibration.apply_temperature`; unchanged when T = 1 or ``N = 0``)."""
        t = self.temperature
        if t == 1.0 or len(probs) == 0:
            return probs
        from leanecg.evaluate.calibration import apply_temperature

        return apply_temperature(probs, t, self.multilabel)

    @property
    def rhythm_gate(self) -> dict[str, Any] | None:
        """The package's AF gate (:func:`package_rhythm_gate`), or ``None``."""
        return package_rhythm_gate(self.meta)

    def without_rhythm_gate(self) -> ModelPackage:
        """The same package without its AF gate: the network's own (calibrated) probabilities."""
        return dataclasses.replace(self, meta={k: v for k, v in self.meta.items() if k != "rhythm_gate"})

    def gate(self, probs: np.ndarray, irregularity: np.ndarray) -> np.ndarray:
        """Beat probabilities ``(N, C)`` after the package's AF gate (unchanged without one), given each
        beat's :func:`leanecg.signal.rhythm_gate.rr_irregularity` ``(N,)`` over the gate's window."""
        gate = self.rhythm_gate
        if gate is None or len(probs) == 0:
            return probs
        classes = self.class_names
        return gate_sveb(
            probs,
            irregularity,
            float(gate["threshold"]),
            classes.index(gate["from"]),
            classes.index(gate["to"]),
        )

    @property
    def input(self) -> dict[str, Any]:
        """The input spec: ``fs``, ``leads``, ``n_leads``, ``before_s`` / ``after_s``, ``features``."""
        return dict(self.meta["input"])

    @property
    def columns(self) -> list[str]:
        """Probability columns of the CSV outputs, one per class (:func:`class_column`)."""
        return [class_column(c) for c in self.class_names]

    # -- preprocessing -----------------------------------------------------------------------------

    def lead_choice(
        self, record_leads: Sequence[str], lead: LeadOption = None, source: str = "record"
    ) -> LeadChoice:
        """Which of a record's leads feed this model (:func:`model_lead_choice`; ``lead`` as ``--lead``)."""
        return model_lead_choice(self.input, self.pipeline, record_leads, lead, source)

    def preprocess(self, record: Record, lead: LeadOption = None) -> np.ndarray:
        """The model input of a raw record: float32 ``(n_samples, n_leads)`` at ``input["fs"]`` Hz.

        Args:
            record: the raw record.
            lead: the record lead(s) that feed the model's input lead(s), in order (``"ECG1"``,
                ``"I,II"``, or a list); ``None``: the rule of :func:`leanecg.signal.leads.choose_leads`.

        Raises:
            LeanECGError naming the record's file: it lacks a lead the model needs (or ``lead`` names one
            it lacks), its rate cannot be brought to the model's, or the pipeline leaves invalid (NaN)
            samples.
        """
        source = _source(record)
        spec = self.meta["input"]
        n_leads = int(spec["n_leads"])
        rec_leads = list(record.leads)
        choice = self.lead_choice(rec_leads, lead, source)
        cols = list(choice.columns)
        x = record.signal if cols == list(range(record.n_leads)) else record.signal[:, cols]
        pipeline = self.pipeline
        fs_out = pipeline.output_fs(record.fs)
        if not math.isclose(fs_out, float(spec["fs"]), rel_tol=_FS_RTOL):
            raise LeanECGError(
                source,
                f"sampling rate {record.fs:g} Hz becomes {fs_out:g} Hz in the model's pipeline, but the model "
                f"takes {float(spec['fs']):g} Hz",
            )
        try:
            out = pipeline.apply(x, record.fs, leads=list(choice.model_leads))
        except LeanECGError as err:
            if err.path in (source, str(record.path)):
                raise
            if err.path in ("leads", "signal") and "lead" in err.problem:
                problem = _lead_problem(rec_leads, list(spec.get("leads") or []), n_leads)
                raise LeanECGError(source, problem) from None
            raise LeanECGError(source, f"cannot preprocess for model {self.name}: {err.problem}") from None
        y = out.signal if out.signal.ndim == 2 else out.signal[:, None]
        if y.shape[1] != n_leads:
            raise LeanECGError(source, _lead_problem(rec_leads, list(spec.get("leads") or []), n_leads))
        if not out.mask.all():
            raise LeanECGError(source, _lead_problem(rec_leads, list(spec.get("leads") or []), n_leads))
        if not np.isfinite(y).all():
            raise LeanECGError(
                source,
                "has invalid (NaN) samples that the model's pipeline does not fill; interpolate the gaps first",
            )
        return y

    # -- record models -----------------------------------------------------------------------------

    def predict_inputs(self, X: Sequence[np.ndarray] | np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Probabilities ``(N, C)`` for preprocessed channel-first inputs ``(n_leads, n_samples_i)``,
        temperature-scaled (:meth:`calibrate`)."""
        if len(X) == 0:
            return np.zeros((0, len(self.class_names)))
        feats = self.record_features(X)
        return self.calibrate(self.backend.proba(X, feats, batch_size, self.multilabel))

    def record_features(self, X: Sequence[np.ndarray] | np.ndarray) -> np.ndarray | None:
        """The ``features=`` input of a record model for preprocessed inputs ``X`` (numpy only), float32
        ``(N, n_features)`` computed as in training (:mod:`leanecg.models.record_inputs`); ``None`` for
        a model without record features."""
        config = self.meta["input"].get("feature_config")
        if self.kind != "records" or not config:
            return None
        from leanecg.models.record_inputs import check_feature_config, model_input_features

        check_feature_config(config, str(self.meta_source))
        return model_input_features(list(X), float(self.meta["input"]["fs"]), config)

    def predict_records(
        self, records: Iterable[Record], batch_size: int = 64, lead: LeadOption = None
    ) -> np.ndarray:
        """Class probabilities of raw records: float64 ``(N, C)``, rows in input order.

        Each record goes through the stored pipeline, then the model sees the whole preprocessed record
        (the backend's :meth:`InferenceBackend.proba`; for torch the function ``leanecg bench`` evaluated with).
        ``lead``: the record lead(s) feeding the model, as in :meth:`preprocess`.
        """
        self._require_kind("records", "predict_records", "predict_beats / leanecg beats")
        X = [np.ascontiguousarray(self.preprocess(r, lead=lead).T) for r in records]
        return self.predict_inputs(X, batch_size=batch_size)

    def labels_of(self, probs: np.ndarray) -> list[str]:
        """Predicted labels: the argmax class, or (multi-label) the classes with probability >= 0.5
        joined by ``;`` (empty when none)."""
        names = self.class_names
        if self.multilabel:
            return [";".join(n for n, p in zip(names, row, strict=True) if p >= 0.5) for row in probs]
        return [names[int(k)] for k in np.argmax(probs, axis=1)] if len(probs) else []

    # -- beat models -------------------------------------------------------------------------------

    def predict_beats(
        self, record: Record, batch_size: int = 256, lead: LeadOption = None
    ) -> BeatPredictions:
        """Detect and classify every heartbeat of a raw record.

        R peaks are detected (:func:`leanecg.signal.detect_rpeaks`) on the first preprocessed lead at the
        model's rate; :func:`leanecg.signal.beats.beat_model_inputs` cuts the windows and beat features
        exactly as in training; positions are mapped back to the record's sample indices. A record with
        fewer than 2 detected beats has no RR intervals and gives no rows. ``lead``: the record lead(s)
        feeding the model, as in :meth:`preprocess` (``lead="ECG1"`` for a Holter's first channel).

        Invalid (NaN) samples in the leads the model reads (a Holter lead that came off): each stretch of
        valid samples of at least :data:`MIN_SEGMENT_S` seconds is analysed on its own (its RR features and
        running template start afresh after the gap), and the rest is returned in
        :attr:`BeatPredictions.skipped`; no sample is invented.
        """
        self._require_kind("beats", "predict_beats", "predict_records / leanecg predict")
        cols = list(self.lead_choice(list(record.leads), lead, _source(record)).columns)
        valid = np.isfinite(record.signal[:, cols]).all(axis=1)
        if valid.all():
            return self._predict_beats(record, batch_size, lead)
        kept, skipped = valid_segments(valid, record.fs, MIN_SEGMENT_S)
        parts = [
            (a, self._predict_beats(dataclasses.replace(record, signal=record.signal[a:b]), batch_size, lead))
            for a, b in kept
        ]
        n_classes = len(self.class_names)
        n_up = sum(p.upright * len(p.samples) for _, p in parts if p.upright is not None)
        n_all = sum(len(p.samples) for _, p in parts if p.upright is not None)
        return BeatPredictions(
            np.concatenate([a + p.samples for a, p in parts] or [np.zeros(0)]).astype(np.int64),
            [label for _, p in parts for label in p.labels],
            np.concatenate([p.probs for _, p in parts] or [np.zeros((0, n_classes))]),
            tuple(skipped),
            n_up / n_all if n_all else None,
        )

    def _predict_beats(self, record: Record, batch_size: int, lead: LeadOption) -> BeatPredictions:
        """:meth:`predict_beats` of a record whose analysed leads are valid throughout."""
        from leanecg.signal.resample import resample_indices
        from leanecg.signal.rpeaks import detect_rpeaks

        fs = float(self.meta["input"]["fs"])
        y = self.preprocess(record, lead=lead)
        peaks = detect_rpeaks(y[:, 0], fs)
        n_classes = len(self.class_names)
        if peaks.size < 2:
            return BeatPredictions(np.zeros(0, dtype=np.int64), [], np.zeros((0, n_classes)))
        windows, feats = self._beat_inputs_as_recorded(y, peaks)
        upright = float(np.mean(beat_polarity(windows, self.r_index)[:, 0]))
        windows = self._oriented(windows)
        probs = self.calibrate(self.backend.proba(windows, feats, batch_size, self.multilabel))
        gate = self.rhythm_gate
        if gate is not None:
            irregularity = rr_irregularity(
                rr_from_peaks(peaks, fs),
                int(gate["window"]),
                exclude_ectopic=bool(gate.get("exclude_ectopic")),
            )
            probs = self.gate(probs, irregularity)
        samples = resample_indices(peaks, fs, float(record.fs), n_out=record.n_samples)
        return BeatPredictions(samples.astype(np.int64), self.labels_of(probs), probs, (), upright)

    def beat_inputs(self, y: np.ndarray, peaks: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """What the beat network reads for each R peak of one preprocessed record: ``(windows, features)``.

        Args:
            y: the record after the package's pipeline, ``(n_samples, n_leads)`` at the model's rate.
            peaks: R peaks (samples at that rate), at least 2.

        Returns:
            float32 windows ``(n_beats, n_leads, n_window)`` (oriented by the record's QRS polarity when the
            package says ``orient_polarity``, :mod:`leanecg.signal.polarity`) and the beat features the
            package names ``(n_beats, n_features)``, or ``None`` for a network without features.
        """
        windows, feats = self._beat_inputs_as_recorded(y, peaks)
        return self._oriented(windows), feats

    def _oriented(self, windows: np.ndarray) -> np.ndarray:
        """``windows`` oriented by the record's QRS polarity when the package says ``orient_polarity``."""
        if not self.meta["input"].get("orient_polarity"):
            return windows
        return orient_windows(windows, record_polarity(windows, self.r_index))

    def _beat_inputs_as_recorded(
        self, y: np.ndarray, peaks: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`beat_inputs` before any orientation."""
        spec = self.meta["input"]
        windows, feats = beat_model_inputs(
            y,
            float(spec["fs"]),
            peaks,
            spec["before_s"],
            spec["after_s"],
            context=True,
            only=spec.get("features") or (),
        )
        names = spec.get("features")
        try:
            return windows, (select_beat_features(feats, names) if names else None)
        except LeanECGError as err:
            raise LeanECGError(
                self.path, f"model {self.name}: {err.problem} (a package from another version)"
            ) from None

    @property
    def r_index(self) -> int:
        """A beat model's R-peak sample inside its windows (``before_s`` at the model's rate)."""
        spec = self.meta["input"]
        return round(float(spec["before_s"]) * float(spec["fs"]))

    def _require_kind(self, kind: str, method: str, instead: str) -> None:
        if self.kind != kind:
            raise LeanECGError(
                self.path, f"model {self.name} classifies {self.kind}, not {kind}; use {instead} instead"
            )


def load_model_package(path: str | Path) -> ModelPackage:
    """Read a package folder written by :func:`save_model_package` (checksums verified).

    Raises:
        LeanECGError: not a folder, not a LeanECG model package, or a corrupted / mismatched checkpoint.
    """
    from leanecg.train.checkpoint import load_model

    path = Path(path)
    if path.is_file():
        raise LeanECGError(path, "is a file; give the model package folder (the one holding model.json)")
    if not path.is_dir():
        raise LeanECGError(
            path, "is not a model package folder (expected a folder with model.pt and model.json)"
        )
    if not (path / META_FILE).is_file():
        raise LeanECGError(path, f"is not a model package: {META_FILE} not found in it")
    model, meta = load_model(path / META_FILE)
    pipeline = check_package_meta(meta, path / META_FILE)
    return ModelPackage(path=path, backend=TorchBackend(model), meta=meta, pipeline=pipeline)


def check_package_meta(meta: Mapping[str, Any], source: str | Path) -> Pipeline:
    """Check package metadata (format, kind, required keys) and return its preprocessing pipeline.

    Args:
        meta: the package metadata (``model.json``, or the metadata of an exported ONNX file).
        source: the file the metadata came from (named in errors).

    Raises:
        LeanECGError: not LeanECG model package metadata, a key is missing, or the pipeline is invalid.
    """
    pkg = meta.get("package")
    if not isinstance(pkg, dict) or pkg.get("format") != PACKAGE_FORMAT:
        found = pkg.get("format") if isinstance(pkg, dict) else None
        raise LeanECGError(
            source, f"is not a LeanECG model package (format {found!r}, expected {PACKAGE_FORMAT!r})"
        )
    for key in ("class_names", "pipeline", "input", "task"):
        if key not in meta:
            raise LeanECGError(source, f"model package lacks {key!r}")
    if pkg.get("kind") not in ("records", "beats"):
        raise LeanECGError(source, f"unknown package kind {pkg.get('kind')!r}")
    package_rhythm_gate(meta, source)
    orient = meta["input"].get("orient_polarity", False) if isinstance(meta["input"], Mapping) else False
    if not isinstance(orient, bool):
        raise LeanECGError(source, f"input orient_polarity must be true or false, got {orient!r}")
    return Pipeline.from_dict(meta["pipeline"], source=str(source))


# ------------------------------------------------------------------------------------------------ helpers


def _source(record: Record) -> str:
    return str(record.path) if record.path is not None else record.name


def model_lead_choice(
    spec: Mapping[str, Any],
    pipeline: Pipeline,
    record_leads: Sequence[str],
    lead: LeadOption = None,
    source: str = "record",
) -> LeadChoice:
    """Which record leads feed a model with input spec ``spec`` and preprocessing ``pipeline``: the rule of
    :func:`leanecg.signal.leads.choose_leads` for the model's leads (``spec["leads"]``, ``spec["n_leads"]``).

    The chosen columns, renamed to the model's leads, are what the pipeline then gets (its own ``leads``
    step finds them by name). A pipeline whose ``leads`` step derives limb leads (``missing="derive"``) or
    picks columns by index gets the record whole, unless ``lead`` is given (rule ``"pipeline"``).

    Raises:
        LeanECGError naming ``source`` (see :func:`~leanecg.signal.leads.choose_leads`).
    """
    from leanecg.signal.leads import LeadChoice, choose_leads

    steps = [s for s in pipeline.steps if s["op"] == "leads"]
    by_pipeline = any(
        s.get("missing") == "derive" or any(not isinstance(w, str) for w in s["leads"]) for s in steps
    )
    wanted = list(spec.get("leads") or [])
    n_leads = int(spec["n_leads"])
    try:
        return choose_leads(record_leads, wanted, n_leads=n_leads, lead=lead, source=source)
    except LeanECGError:
        if not by_pipeline or lead is not None:
            raise
    names = tuple(str(n) for n in record_leads)
    return LeadChoice(tuple(range(len(names))), names, names, "pipeline")


def _lead_problem(record_leads: Sequence[str], wanted: Sequence[str], n_leads: int) -> str:
    need = ", ".join(wanted) if wanted else f"{n_leads} lead(s)"
    how = "one" if n_leads == 1 else str(n_leads)
    have = ", ".join(record_leads) or "none"
    return f"the model needs lead(s) {need}; the record has {have} (choose {how} with `lead`)"
