"""``leanecg compress``: distil -> prune -> quantize a model package, with a before/after card.

:func:`compress_package` applies, in this order and each only when asked:

1. **distillation** from a teacher package of the same task (same classes and preprocessing): the model is
   trained further on the task's training split with the teacher's soft targets
   (:func:`leanecg.compress.distill.distill`);
2. **structured pruning**: channels removed until the MACs fall by at least ``prune`` (a fraction), then
   fine-tuned with the unpruned model as teacher (:func:`leanecg.compress.prune.prune_channels`, knowledge
   distillation with T = 4 and hard-label weight 0.5);
3. **int8 quantization**: quantization-aware fine-tuning (:mod:`leanecg.compress.qat`), then the ONNX Runtime
   static int8 export of the QAT-adapted weights (:func:`leanecg.deploy.onnx.export_onnx`). For an honest
   comparison the model before QAT is exported with the same post-training quantization (PTQ) too, and
   both int8 files are evaluated on the same test records.

Every fine-tune uses the task's training recipe (class-weighted loss, batch size, early stopping on the
validation split by the task's primary metric) with ``epochs`` epochs and learning rate ``lr``.

Outputs in ``out_dir``: ``package/`` (the compressed model package: ``model.pt`` + ``model.json`` +
``MODEL_CARD.md``; its config rebuilds a pruned architecture), ``model.int8.onnx`` (+ sidecar) when quantized,
``compress_card.json`` and ``COMPRESS_CARD.md`` (before/after: primary metric with 95 % CI, params, MACs,
bytes, latency, per step), and in ``results_dir/<task>/`` the before/after result documents
(:mod:`leanecg.evaluate.results`, variant ``{"compression": ...}``) plus the regenerated report with the
Pareto plots (:func:`leanecg.evaluate.report.write_report`).
"""

from __future__ import annotations

import copy
import importlib.util
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from leanecg.errors import LeanECGError

__all__ = ["QUANTIZE_CHOICES", "check_int8_available", "compress_package", "compression_name"]

QUANTIZE_CHOICES = ("int8",)
CARD_JSON = "compress_card.json"
CARD_MD = "COMPRESS_CARD.md"


def compression_name(distill_from: str | None, prune: float | None, quantize: str | None) -> str:
    """The ``variant.compression`` label, e.g. ``"distill+prune0.5+int8"``."""
    parts = []
    if distill_from:
        parts.append("distill")
    if prune:
        parts.append(f"prune{prune:g}")
    if quantize:
        parts.append(quantize)
    return "+".join(parts)


def check_int8_available() -> None:
    """Raise :class:`LeanECGError` unless the ONNX static-int8 export path can run here."""
    missing = [m for m in ("onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    if importlib.util.find_spec("leanecg.deploy.onnx") is None:
        missing.insert(0, "leanecg.deploy.onnx")
    if missing:
        raise LeanECGError(
            "quantize",
            "int8 needs the ONNX export path (static int8 in ONNX Runtime), which is not available here "
            f"(missing: {', '.join(missing)}); nothing was compressed",
        )
    from leanecg.deploy import onnx as onnx_mod

    if not callable(getattr(onnx_mod, "export_onnx", None)):
        raise LeanECGError("quantize", "int8 needs leanecg.deploy.onnx.export_onnx, which this version lacks")


def _check_args(
    distill_from: str | None, prune: float | None, quantize: str | None, epochs: int | None, out_dir: Path
) -> None:
    if not distill_from and prune is None and quantize is None:
        raise LeanECGError("compress", "nothing to do: give `distill_from`, `prune` and/or `quantize`")
    if prune is not None and (
        isinstance(prune, bool) or not isinstance(prune, int | float) or not 0 < prune < 1
    ):
        raise LeanECGError("prune", f"must be the fraction of MACs to remove, in (0, 1), got {prune!r}")
    if quantize is not None and quantize not in QUANTIZE_CHOICES:
        raise LeanECGError(
            "quantize", f"unknown quantization {quantize!r}; supported: {', '.join(QUANTIZE_CHOICES)}"
        )
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise LeanECGError("epochs", f"must be a positive integer, got {epochs!r}")
    if out_dir.exists() and not out_dir.is_dir():
        raise LeanECGError(out_dir, "is a file; `out_dir` takes a folder")


def _teacher(distill_from: str, pt: Any) -> Any:
    from leanecg.package import open_model

    teacher = open_model(distill_from, prefer="torch")
    meta, smeta = teacher.meta, pt.package.meta
    if meta["task"]["name"] != smeta["task"]["name"]:
        raise LeanECGError(
            teacher.path,
            f"teacher is a {meta['task']['name']} model; the student is a {smeta['task']['name']} model",
        )
    if list(meta["class_names"]) != list(smeta["class_names"]):
        raise LeanECGError(teacher.path, "teacher and student have different classes")
    if teacher.pipeline.fingerprint() != pt.package.pipeline.fingerprint():
        raise LeanECGError(teacher.path, "teacher was trained with another preprocessing than the student")
    if int(meta["input"]["n_leads"]) != pt.data.train.n_leads:
        raise LeanECGError(
            teacher.path,
            f"teacher takes {meta['input']['n_leads']} leads; the task gives {pt.data.train.n_leads}",
        )
    return teacher


def _metric_block(ev: dict[str, Any]) -> dict[str, Any]:
    return {k: {kk: v.get(kk) for kk in ("value", "ci_low", "ci_high")} for k, v in ev["metrics"].items()}


def _row(
    name: str, backend: str, ev: dict[str, Any], cost: dict[str, Any], primary: str, **extra: Any
) -> dict:
    return {
        "model": name,
        "backend": backend,
        "primary_metric": primary,
        "metrics": _metric_block(ev),
        "params": cost.get("params"),
        "macs": cost.get("macs"),
        "bytes": cost.get("bytes_fp32"),
        "latency_ms_median": cost.get("latency_ms_median"),
        "latency_ratio_vs_original": cost.get("latency_ratio_vs_reference"),
        **extra,
    }


def compress_package(
    model: str | Path,
    out_dir: str | Path,
    *,
    distill_from: str | None = None,
    prune: float | None = None,
    quantize: str | None = None,
    data_dir: str | Path | None = None,
    results_dir: str | Path | None = None,
    epochs: int | None = None,
    lr: float = 1e-3,
    seed: int = 0,
    temperature: float = 4.0,
    alpha: float = 0.5,
    max_train_seconds: float | None = None,
    threads: int | None = 1,
    n_boot: int = 1000,
    log: Callable[[str], None] = lambda s: None,
    device: str = "cpu",
    amp: bool = False,
) -> dict[str, Any]:
    """Compress a model package (see the module docstring); returns the card (also written as JSON + MD).

    Args:
        model: the model package (folder or shipped name).
        out_dir: output folder (created).
        distill_from: teacher package (folder or shipped name) of the same task, or ``None``.
        prune: fraction of MACs to remove by structured channel pruning, or ``None``.
        quantize: ``"int8"`` (QAT + ONNX Runtime static int8) or ``None``.
        data_dir: folder holding the task's dataset (``--data-dir`` > ``$LEANECG_DATA`` > user cache).
        results_dir: results root for the before/after result documents and the Pareto report
            (default ``out_dir/results``); files go to ``results_dir/<task>/``.
        epochs: epochs of each fine-tune (default 10); ``lr``: its learning rate (QAT uses ``lr / 3``).
        seed: seeds fine-tuning, the bootstrap and the calibration draw.
        temperature, alpha: distillation temperature and hard-label weight.
        max_train_seconds: time budget of each fine-tune (``None``: none).
        threads: torch threads for training.
        n_boot: bootstrap resamples for the CIs.
        log: progress messages.
        device, amp: where the fine-tunes train (``cpu``, ``cuda``, ``auto``) and mixed precision on CUDA
            (:mod:`leanecg.train.device`); evaluation, cost and export run on the CPU.

    Raises:
        LeanECGError: bad arguments, an unusable package / teacher / data folder, or ``quantize="int8"``
            when the ONNX int8 path is not available (checked before any work is done).
    """
    from leanecg.compress.prune import prune_channels
    from leanecg.compress.qat import convert_qat, freeze_batchnorm, prepare_qat
    from leanecg.compress.tasks import (
        distill_fine_tune,
        evaluate_model,
        fine_tune,
        fine_tune_config,
        model_cost,
        package_task,
        predict_split,
        primary,
        takes_features,
    )
    from leanecg.train.device import resolve_device

    out_dir = Path(out_dir)
    _check_args(distill_from, prune, quantize, epochs, out_dir)
    train_device = str(resolve_device(device))  # CUDA without a GPU: refused before any work
    if quantize == "int8":
        check_int8_available()
    t_start = time.perf_counter()
    pt = package_task(model, data_dir)
    teacher = _teacher(distill_from, pt) if distill_from else None
    task, data, pkg = pt.task, pt.data, pt.package
    pm = task.primary_metric
    n_epochs = int(epochs or 10)
    name = str(pkg.meta.get("model_name") or pkg.meta["model_config"]["name"])
    label = compression_name(distill_from, prune, quantize)

    def cfg(rate: float) -> Any:
        return fine_tune_config(
            pt,
            epochs=n_epochs,
            lr=rate,
            seed=seed,
            max_seconds=max_train_seconds,
            threads=threads,
            device=device,
            amp=amp,
        )

    original = pkg.model.eval()
    log(f"evaluating the original {pkg.name}")
    ev0 = evaluate_model(original, pt, n_boot=n_boot, seed=seed)
    cost0 = model_cost(original, pt, original, "original")
    rows = [_row(pkg.name, "torch fp32", ev0, cost0, pm, step="original")]
    steps: list[dict[str, Any]] = []
    current = copy.deepcopy(original)
    train_blocks: dict[str, Any] = {}

    if teacher is not None:
        log(f"distilling from {teacher.name}")
        res = distill_fine_tune(current, teacher.model, pt, cfg(lr), temperature=temperature, alpha=alpha)
        ev = evaluate_model(current, pt, n_boot=n_boot, seed=seed)
        train_blocks["distill"] = _train_block(res)
        steps.append(
            {"step": "distill", "teacher": teacher.name, pm: primary(ev, pt), "epochs_run": res.epochs_run}
        )
        rows.append(
            _row(
                "after distillation",
                "torch fp32",
                ev,
                model_cost(current, pt, original, "original"),
                pm,
                step="distill",
            )
        )

    if prune is not None:
        log(f"pruning {prune:.0%} of the MACs")
        shape = (data.train.n_leads, data.input_samples)
        extra = {"features": (data.n_features,)} if takes_features(current) else None
        unpruned = current
        current, info = prune_channels(unpruned, float(prune), shape, extra_inputs=extra)
        f_pruned = float(task.val_metric(data.test.y, predict_split(current, data.test)))
        # recover with the unpruned model as teacher (knowledge distillation) plus the hard labels
        res = distill_fine_tune(current, unpruned, pt, cfg(lr), temperature=4.0, alpha=0.5)
        ev = evaluate_model(current, pt, n_boot=n_boot, seed=seed)
        train_blocks["prune"] = _train_block(res)
        steps.append(
            {
                "step": "prune",
                "macs_reduction": info["macs_reduction"],
                "channel_ratio": info["ratio"],
                "channels": info["channels"],
                f"{pm}_before_finetune": f_pruned,
                pm: primary(ev, pt),
                "epochs_run": res.epochs_run,
            }
        )
        rows.append(
            _row(
                "after pruning",
                "torch fp32",
                ev,
                model_cost(current, pt, original, "original"),
                pm,
                step="prune",
            )
        )

    pre_qat = copy.deepcopy(current)
    if quantize == "int8":
        log("quantization-aware fine-tuning (int8 fake quantization)")
        qat = freeze_batchnorm(prepare_qat(current))
        res = fine_tune(qat, pt, cfg(lr / 3))
        current = convert_qat(qat)
        train_blocks["qat"] = _train_block(res)
        steps.append({"step": "qat", f"val_{pm}": res.best_val_metric, "epochs_run": res.epochs_run})

    ev_final = evaluate_model(current, pt, n_boot=n_boot, seed=seed)
    cost_final = model_cost(current, pt, original, "original")
    final_backend = "torch fp32 (QAT-adapted weights)" if quantize else "torch fp32"
    rows.append(_row("compressed", final_backend, ev_final, cost_final, pm, step="final"))

    from leanecg.evaluate.results import make_result
    from leanecg.models.registry import model_config
    from leanecg.package.model import save_model_package
    from leanecg.provenance import collect_provenance

    provenance = collect_provenance(
        seed=seed,
        config={"compression": label, "epochs": n_epochs, "lr": lr},
        device=train_device,
        world_size=1,
    )

    def result_doc(
        m: Any, ev: dict[str, Any], cost: dict[str, Any], variant: dict[str, Any], notes: list[str]
    ) -> dict:
        return make_result(
            task=task.name,
            model=name,
            family=pkg.meta.get("family"),
            primary_metric=pm,
            metrics=ev["metrics"],
            per_class=ev.get("per_class"),
            confusion=ev.get("confusion"),
            curves=ev.get("curves"),
            cost=cost,
            data=data.info,
            train={"model_config": model_config(m), "compress": train_blocks},
            provenance=provenance,
            variant=variant,
            notes=notes,
        )

    out_dir.mkdir(parents=True, exist_ok=True)
    notes = [f"compressed from {pkg.name}: {label}"]
    after = result_doc(current, ev_final, cost_final, {"compression": label}, notes)
    pkg_dir = save_model_package(out_dir / "package", current, task, data, after, name=f"{pkg.name}-{label}")
    log(f"wrote the compressed package {pkg_dir}")

    int8_files: dict[str, Any] = {}
    if quantize == "int8":
        int8_rows, int8_files, int8_results = _int8_rows(
            pre_qat,
            pkg_dir,
            pt,
            out_dir,
            data_dir,
            seed=seed,
            n_boot=n_boot,
            result_doc=result_doc,
            label=label,
            qat_package_doc=after,
        )
        rows.extend(int8_rows)
    else:
        int8_results = []

    before = result_doc(
        original, ev0, cost0, {}, [f"{pkg.name} as shipped, re-evaluated by leanecg compress"]
    )
    results_root = Path(results_dir) if results_dir is not None else out_dir / "results"
    report = _write_results(results_root, task, [before, after, *int8_results], bool(data.info.get("tiny")))
    card = {
        "model": pkg.name,
        "task": task.name,
        "compression": label,
        "primary_metric": pm,
        "steps": steps,
        "rows": rows,
        "files": _relative_paths({"package": pkg_dir, **int8_files, "report": report}, out_dir),
        "fine_tune": cfg(lr).to_dict(),
        "distill": {"teacher": teacher.name, "temperature": temperature, "alpha": alpha} if teacher else None,
        "seconds": time.perf_counter() - t_start,
        "command": _equivalent_command(
            model, out_dir, distill_from, prune, quantize, data_dir, epochs, seed, max_train_seconds
        ),
        "provenance": provenance,
    }
    from leanecg.atomic import atomic_open, write_json

    write_json(out_dir / CARD_JSON, card)
    with atomic_open(out_dir / CARD_MD) as fh:
        fh.write(card_markdown(card))
    return card


def _train_block(res: Any) -> dict[str, Any]:
    """A fine-tune's :class:`~leanecg.train.trainer.TrainResult` as a dict, without its per-epoch history."""
    return {k: v for k, v in res.to_dict().items() if k != "history"}


def _int8_rows(
    pre_qat: Any,
    qat_pkg: Path,
    pt: Any,
    out_dir: Path,
    data_dir: str | Path | None,
    *,
    seed: int,
    n_boot: int,
    result_doc: Callable[..., dict],
    label: str,
    qat_package_doc: dict[str, Any],
) -> tuple[list[dict[str, Any]], dict[str, Any], list[dict[str, Any]]]:
    """Export PTQ (model before QAT) and QAT int8 ONNX files; evaluate both on the same test records."""
    from leanecg.compress.tasks import evaluate_model
    from leanecg.deploy.onnx import export_onnx, training_calibration
    from leanecg.package import load_onnx_package, open_model, save_model_package

    pm = pt.task.primary_metric
    data = pt.data
    qat_package = open_model(qat_pkg, prefer="torch")
    calibration = training_calibration(qat_package, data_dir, seed=seed)
    rows, results = [], []
    files: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # the same metadata as the QAT package (so the two int8 files differ only in their weights)
        pre_doc = {**qat_package_doc, "model": qat_package_doc["model"]}
        ptq_pkg = save_model_package(Path(tmp) / "ptq", pre_qat, pt.task, data, pre_doc, name="pre-qat")
        targets = (
            ("PTQ int8 (no QAT)", ptq_pkg, Path(tmp) / "ptq.int8.onnx"),
            ("QAT int8", qat_pkg, out_dir / "model.int8.onnx"),
        )
        for title, src, dst in targets:
            rep = export_onnx(src, dst, int8=True, calibration=calibration, seed=seed)
            onnx_pkg = load_onnx_package(dst, threads=1)
            proba = onnx_pkg.predict_inputs(data.test.X)
            ev = evaluate_model(pre_qat, pt, n_boot=n_boot, seed=seed, proba=proba)
            cost = _onnx_cost(dst, pt)
            rows.append(
                _row(
                    title,
                    "onnxruntime int8",
                    ev,
                    cost,
                    pm,
                    step="int8",
                    label_agreement_vs_torch=rep.check.get("label_agreement"),
                )
            )
            if src == qat_pkg:
                files["int8_onnx"] = str(dst)
                results.append(
                    result_doc(
                        pre_qat, ev, cost, {"compression": label, "runtime": "onnxruntime"}, [f"{title}"]
                    )
                )
    return rows, files, results


def _onnx_cost(path: Path, pt: Any) -> dict[str, Any]:
    """Size of an ONNX file and, for single-input models, its batch-1 latency in ONNX Runtime."""
    from leanecg.evaluate.cost import measure_onnx_cost

    cost: dict[str, Any] = {"bytes_fp32": path.stat().st_size}
    if pt.package.meta["input"].get("features"):
        return cost  # a two-input graph: measure_onnx_cost times one-input models only
    rep = measure_onnx_cost(path, (pt.data.train.n_leads, pt.data.input_samples), pt.data.fs, int8_bytes=path)
    d = rep.to_dict()
    d.pop("macs_breakdown", None)
    d["bytes_fp32"] = path.stat().st_size
    return d


def _write_results(results_root: Path, task: Any, docs: list[dict[str, Any]], tiny: bool) -> dict[str, Path]:
    """Save the result documents (the original's only if absent) and regenerate the task's report."""
    from leanecg.evaluate.report import write_report
    from leanecg.evaluate.results import load_results, result_filename, save_result

    folder = results_root / task.name
    for doc in docs:
        path = folder / result_filename(doc["model"], doc.get("variant"))
        if not doc.get("variant") and path.exists():
            continue  # keep the benchmark's own result of the original model
        save_result(doc, results_root)
    everything = [r for r in load_results(folder) if bool(r["data"].get("tiny")) == tiny]
    return write_report(everything, folder, title=f"LeanECG benchmark: {task.description}")


def _fmt(v: Any, spec: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return format(v, spec)


def _relative_paths(files: dict[str, Any], root: Path) -> dict[str, Any]:
    """``files`` (nested dicts of paths) as strings relative to ``root``, so a card names no machine paths."""
    return {
        k: _relative_paths(v, root) if isinstance(v, dict) else os.path.relpath(v, root)
        for k, v in files.items()
    }


def _equivalent_command(
    model: str | Path,
    out_dir: Path,
    distill_from: str | None,
    prune: float | None,
    quantize: str | None,
    data_dir: str | Path | None,
    epochs: int | None,
    seed: int,
    max_train_seconds: float | None,
) -> str:
    """The ``leanecg compress`` command line that reproduces a :func:`compress_package` call (the CLI has
    no ``--lr``: calls with another learning rate are reproduced through the API)."""
    import shlex

    args = ["leanecg", "compress", str(model)]
    options: list[tuple[str, Any]] = [
        ("--distill-from", distill_from),
        ("--prune", prune),
        ("--quantize", quantize),
        ("--epochs", epochs),
        ("--seed", seed or None),
        ("--max-train-seconds", max_train_seconds),
        ("--data-dir", data_dir),
        ("--out", out_dir),
    ]
    for flag, value in options:
        if value is not None:
            args += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    return shlex.join(args)


def card_markdown(card: dict[str, Any]) -> str:
    """``COMPRESS_CARD.md``: the before/after table and the steps."""
    pm = card["primary_metric"]
    lines = [
        f"# Compression card: `{card['model']}` -> {card['compression']}",
        "",
        f"Task `{card['task']}`; metrics on its test split with 95 % bootstrap CIs; latency batch 1, one thread "
        "(torch rows timed interleaved with the original in the same run; ONNX Runtime rows on their own).",
        "",
        f"| model | runtime | {pm} [95 % CI] | params | MACs | bytes | latency ms |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in card["rows"]:
        m = r["metrics"].get(pm, {})
        ci = (
            f" [{m['ci_low']:.4f}, {m['ci_high']:.4f}]"
            if m.get("ci_low") is not None and m.get("ci_high") is not None
            else ""
        )
        lines.append(
            f"| {r['model']} | {r['backend']} | {_fmt(m.get('value'), '.4f')}{ci} | {_fmt(r['params'], ',')} "
            f"| {_fmt(r['macs'], ',')} | {_fmt(r['bytes'], ',')} | {_fmt(r['latency_ms_median'], '.3f')} |"
        )
    if any(r["backend"].startswith("onnxruntime") and r["latency_ms_median"] is None for r in card["rows"]):
        lines += [
            "",
            "ONNX Runtime rows without latency / MACs: the graph takes a second (features) input, which the "
            "ONNX cost meter does not time; params / MACs are those of the fp32 model above.",
        ]
    lines += ["", "## Steps", ""]
    for s in card["steps"]:
        detail = ", ".join(
            f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
            for k, v in s.items()
            if k not in ("step", "channels")
        )
        lines.append(f"- {s['step']}: {detail}")
    if card.get("distill"):
        d = card["distill"]
        lines.append(
            f"- distillation settings: teacher {d['teacher']}, T {d['temperature']:g}, alpha {d['alpha']:g}"
        )
    lines += [
        "",
        f"Fine-tune recipe: {card['fine_tune']['epochs']} epochs max, lr {card['fine_tune']['lr']:g}; total {card['seconds']:.0f} s.",
        "",
    ]
    if card.get("command"):
        lines += [f"Command: `{card['command']}`", ""]
    return "\n".join(lines)
