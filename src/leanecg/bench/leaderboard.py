"""The whole-zoo leaderboard: ``leanecg bench TASK --models all``.

Every registered zoo model (default width) plus the task's classic models and the hybrid of the shipped
architecture, on one task, with **one recipe and one stated training budget for every model** (the task's
recipe; ``--epochs`` / ``--max-train-seconds`` when given apply to all). Seeds: ``seeds`` for the shipping
candidates and every model of at most :data:`SMALL_PARAMS` parameters, one seed for the others (marked).

Each (model, seed) run is an ordinary bench result in ``<out>/<task>/seed<S>/<model>.json``, so the command
is resumable: a finished run is never recomputed. A model that cannot take the task's input keeps its row,
with the reason. The leaderboard itself is ``<out>/<task>.{json,md}`` plus ``<task>_pareto_{macs,latency}.png``
(metric vs cost, every model labelled, the Pareto front drawn).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.atomic import atomic_open, write_json
from leanecg.bench.runner import run_benchmark
from leanecg.errors import LeanECGError
from leanecg.evaluate.report import plot_pareto, report_title
from leanecg.evaluate.results import load_results
from leanecg.tasks import get_task
from leanecg.train.hybrid import hybrid_name

#: Models with at most this many parameters get every seed (the efficient end of the zoo).
SMALL_PARAMS = 50_000

#: The architectures shipped for each task (``leanecg models``): always every seed.
SHIPPING = {"mitdb-aami": ("beatnet",), "cinc2017": ("wide_deep_lite",)}


def leaderboard_models(task_name: str) -> list[str]:
    """Every model of the leaderboard for a task, in the order they are run: the classic models, the zoo
    models from the smallest to the largest (default width, parameters counted for one lead and the task's
    classes), then the shipped model's hybrid. Cheapest first, so a run stopped part-way has covered the
    efficient end of the zoo (the command resumes where it stopped)."""
    from leanecg.models.registry import build_model, list_models

    task = get_task(task_name)

    def size(name: str) -> int:
        try:
            model = build_model(name, n_leads=1, n_classes=len(task.class_names), n_features=0)
        except LeanECGError:  # reads only handcrafted features (the linear model): sized with one
            model = build_model(name, n_leads=1, n_classes=len(task.class_names), n_features=1)
        return sum(int(p.numel()) for p in model.parameters())

    zoo = sorted((s.name for s in list_models()), key=lambda n: (size(n), n))
    hybrids = [hybrid_name(m) for m in SHIPPING.get(task.name, ())]
    return [*task.classic_models, *zoo, *hybrids]


def _seed_dir(out: Path, task: str, seed: int) -> Path:
    return out / task / f"seed{seed}"


def _result_path(out: Path, task: str, seed: int, model: str) -> Path:
    """Where :func:`run_benchmark` writes the result of one (model, seed) run."""
    return _seed_dir(out, task, seed) / task / f"{model}.json"


def _params(out: Path, task: str, seed: int, model: str) -> int | None:
    """Parameters of a finished run (``None``: not run, or it failed)."""
    path = _result_path(out, task, seed, model)
    if not path.is_file():
        return None
    return int(json.loads(path.read_text(encoding="utf-8"))["cost"].get("params") or 0)


def run_leaderboard(
    task_name: str,
    data_dir: Path,
    out: Path,
    *,
    seeds: int = 3,
    first_seed: int = 0,
    epochs: int | None = None,
    max_train_seconds: float | None = None,
    num_threads: int | None = 1,
    n_boot: int = 1000,
    models: Sequence[str] | None = None,
    tiny: bool = False,
    progress: Any = None,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Path]:
    """Run (or resume) the leaderboard of one task and write its table and plots; returns their paths."""
    task = get_task(task_name)
    names = list(models or leaderboard_models(task.name))
    failures: dict[str, str] = {}
    for k in range(seeds):
        seed = first_seed + k
        todo = []
        for m in names:
            if m in failures or _result_path(out, task.name, seed, m).is_file():
                continue
            if k > 0:  # later seeds: shipping candidates and small models only
                p = _params(out, task.name, first_seed, m)
                if m not in SHIPPING.get(task.name, ()) and (p is None or p > SMALL_PARAMS):
                    continue
            todo.append(m)
        if not todo:
            continue
        log(f"leaderboard {task.name} seed {seed}: {len(todo)} model(s) to run")
        data = task.load(data_dir, seed=seed, tiny=tiny, progress=progress)
        for m in todo:
            try:
                run_benchmark(
                    task.name,
                    [m],
                    data_dir,
                    _seed_dir(out, task.name, seed),
                    seed=seed,
                    tiny=tiny,
                    epochs=epochs,
                    max_train_seconds=max_train_seconds,
                    num_threads=num_threads,
                    n_boot=n_boot,
                    progress=progress,
                    log=log,
                    data=data,
                    examples=0,  # per-run reports are resume state; no explanation figures
                )
            except LeanECGError as err:  # the model cannot take this task's input: its row says why
                failures[m] = err.problem
                log(f"{m}: not run ({err.problem})")
            except (RuntimeError, ValueError) as err:
                failures[m] = f"{type(err).__name__}: {err}"
                log(f"{m}: failed ({failures[m]})")
    budget = {"epochs": epochs, "max_train_seconds": max_train_seconds}
    return write_leaderboard(task.name, out, names, failures, budget=budget, tiny=tiny)


def _collect(out: Path, task: str, names: Sequence[str], tiny: bool) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in names}
    for seed_dir in sorted((out / task).glob("seed*")):
        folder = seed_dir / task
        if folder.is_dir():
            for r in load_results(folder):
                if r["model"] in runs and bool(r["data"].get("tiny")) == tiny:
                    runs[r["model"]].append(r)
    return runs


def _row(model: str, results: list[dict[str, Any]], reason: str | None) -> dict[str, Any]:
    if not results:
        return {"model": model, "seeds": 0, "reason": reason or "not run yet"}
    primary = results[0]["primary_metric"]
    vals = np.array([r["metrics"][primary]["value"] for r in results], dtype=float)
    lows = [r["metrics"][primary].get("ci_low") for r in results]
    highs = [r["metrics"][primary].get("ci_high") for r in results]
    cost = results[0]["cost"]
    trained = [_training_done(r) for r in results]
    return {
        "model": model,
        "family": results[0].get("family"),
        "seeds": len(results),
        "seed_list": [r["provenance"].get("seed") for r in results],
        "metric": primary,
        "mean": float(np.nanmean(vals)),
        "sd": float(np.nanstd(vals, ddof=1)) if len(vals) > 1 else None,
        "ci_low": float(np.mean([x for x in lows if x is not None]))
        if any(x is not None for x in lows)
        else None,
        "ci_high": float(np.mean([x for x in highs if x is not None]))
        if any(x is not None for x in highs)
        else None,
        "per_seed": vals.tolist(),
        "params": cost.get("params"),
        "macs": cost.get("macs"),
        "bytes_fp32": cost.get("bytes_fp32"),
        "latency_ms": cost.get("latency_ms_median"),
        "latency_ratio_vs_resnet1d": cost.get("latency_ratio_vs_reference"),
        "epochs_trained": [t[0] for t in trained],
        "stop_reasons": sorted({t[1] for t in trained if t[1]}),
        "other_metrics": {
            m: float(
                np.nanmean(
                    [r["metrics"][m]["value"] for r in results if r["metrics"][m]["value"] is not None]
                )
            )
            for m in results[0]["metrics"]
            if m != primary and any(r["metrics"][m]["value"] is not None for r in results)
        },
    }


def _training_done(result: dict[str, Any]) -> tuple[float | None, str | None]:
    """How much of the budget a run used: (epochs trained, a partial last epoch counted by its share of
    steps; why training stopped). Classic models (no epochs): ``(None, None)``."""
    train = result.get("train") or {}
    history = train.get("history") or []
    if not history:
        return None, None
    full = max((h.get("steps") or 0 for h in history if not h.get("partial")), default=0)
    epochs = sum((h.get("steps") or 0) / full if h.get("partial") and full else 1.0 for h in history)
    return round(float(epochs), 2), train.get("stop_reason")


def _trained_cell(row: dict[str, Any]) -> str:
    epochs = [e for e in row.get("epochs_trained", []) if e is not None]
    if not epochs:
        return "–"
    cell = f"{min(epochs):.1f}" if min(epochs) == max(epochs) else f"{min(epochs):.1f}–{max(epochs):.1f}"
    return f"{cell} ({', '.join(row['stop_reasons'])})" if row.get("stop_reasons") else cell


def _provenance(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Where the runs of a leaderboard came from: commits, commands, machine, first and last run time."""
    prov = [r.get("provenance") or {} for r in results]
    stamps = sorted(p["timestamp_utc"] for p in prov if p.get("timestamp_utc"))
    return {
        "runs": len(results),
        "git_commits": sorted({p["git_commit"] for p in prov if p.get("git_commit")}),
        "git_dirty": any(bool(p.get("git_dirty")) for p in prov),
        "commands": sorted({p["command"] for p in prov if p.get("command")}),
        "machines": sorted(
            {f"{p.get('cpu_model')} x{p.get('cpu_count')}" for p in prov if p.get("cpu_model")}
        ),
        "first_run_utc": stamps[0] if stamps else None,
        "last_run_utc": stamps[-1] if stamps else None,
    }


def _budget_text(budget: dict[str, Any]) -> str:
    """The stated training budget in words."""
    parts = []
    if budget.get("epochs") is not None:
        parts.append(f"at most {budget['epochs']} epochs")
    if budget.get("max_train_seconds") is not None:
        parts.append(
            f"at most {budget['max_train_seconds']:g} s of training per model (wall clock, one thread; "
            "'epochs trained' shows how far each model got, 'time_limit' where the budget stopped it)"
        )
    return " and ".join(parts) or "the task's epochs and early stopping"


def _fmt(v: Any, fmt: str) -> str:
    return "–" if v is None else format(v, fmt)


def write_leaderboard(
    task_name: str,
    out: Path,
    names: Sequence[str],
    failures: dict[str, str],
    budget: dict[str, Any],
    tiny: bool = False,
) -> dict[str, Path]:
    """Aggregate the runs under ``out/<task>/seed*/`` into ``out/<task>.{json,md}`` and Pareto plots."""
    task = get_task(task_name)
    runs = _collect(out, task.name, names, tiny)
    rows = [_row(m, runs[m], failures.get(m)) for m in names]
    rows.sort(key=lambda r: -(r.get("mean") if r.get("mean") is not None else -1))
    doc = {
        "task": task.name,
        "metric": task.primary_metric,
        "recipe": "the task's recipe for every model (leanecg bench defaults), default width",
        "budget": budget,
        "seed_policy": f"shipping candidates and models <= {SMALL_PARAMS:,} parameters: every seed; others 1",
        "tiny": tiny,
        "rows": rows,
        "provenance": _provenance([r for rs in runs.values() for r in rs]),
    }
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / f"{task.name}.json"}
    write_json(paths["json"], doc)
    lines = [
        report_title(f"# Leaderboard: {task.description}", tiny),
        "",
        f"Metric `{task.primary_metric}` on the test split, mean ± sd over seeds (1 seed: no sd) with the mean "
        f"of the per-seed 95 % CIs; cost at batch 1 on one thread, latency ratio to ResNet-1D timed in the same "
        f"run. Recipe: {doc['recipe']}; budget: {_budget_text(budget)}. Seeds: {doc['seed_policy']}.",
        "",
        f"| model | {task.primary_metric} (mean ± sd) | 95 % CI (mean) | seeds | params | MACs | bytes fp32 | "
        "latency ms | × ResNet-1D | epochs trained (stop) | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if not r["seeds"]:
            lines.append(f"| {r['model']} | – | – | 0 | – | – | – | – | – | – | {r['reason']} |")
            continue
        sd = f" ± {r['sd']:.3f}" if r["sd"] is not None else ""
        note = "1 seed" if r["seeds"] == 1 else ""
        lines.append(
            f"| {r['model']} | {r['mean']:.3f}{sd} | [{_fmt(r['ci_low'], '.3f')}, {_fmt(r['ci_high'], '.3f')}] | "
            f"{r['seeds']} | {_fmt(r['params'], ',')} | {_fmt(r['macs'], ',')} | {_fmt(r['bytes_fp32'], ',')} | "
            f"{_fmt(r['latency_ms'], '.3f')} | {_fmt(r['latency_ratio_vs_resnet1d'], '.3f')} | "
            f"{_trained_cell(r)} | {note} |"
        )
    paths["md"] = out / f"{task.name}.md"
    with atomic_open(paths["md"], "w") as fh:
        fh.write("\n".join(lines) + "\n")
    # Pareto plots: one point per model (mean metric, mean CI), all labelled, the front drawn
    points = [
        {
            "task": task.name,
            "model": r["model"],
            "primary_metric": task.primary_metric,
            "variant": {},
            "metrics": {
                task.primary_metric: {"value": r["mean"], "ci_low": r["ci_low"], "ci_high": r["ci_high"]}
            },
            "cost": {"macs": r["macs"], "latency_ms_median": r["latency_ms"]},
        }
        for r in rows
        if r["seeds"]
    ]
    for key, stem in (("macs", "macs"), ("latency_ms_median", "latency")):
        p = plot_pareto(points, out / f"{task.name}_pareto_{stem}.png", cost_key=key)
        if p is not None:
            paths[f"pareto_{stem}"] = p
    return paths
