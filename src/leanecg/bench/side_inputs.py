"""``leanecg bench side-inputs``: does a record model gain from age and sex? (issue 14 item 3)

Study on ``ptbxl-superclass`` (PTB-XL 12-lead superclasses, the task's split, preprocessing and training
recipe): the **same backbone and fusion head** (:class:`~leanecg.models.wide_deep.WideDeep`, default backbone
``litenet``) trained twice per seed,

* ``without``: the signal alone (``n_features = 0``);
* ``with``: the signal plus age and sex, read by the data layer (PTB-XL ``ptbxl_database.csv``; CinC 2021
  ``# Age:`` / ``# Sex:`` header lines) and encoded with unknowns as such -- the four columns of
  :func:`leanecg.models.wide_deep.encode_age_sex`: ``[age / 100 (0 when unknown), age known, male, female]``
  (an unknown sex is ``male = female = 0``) -- entering through the model's feature branch.

Per seed (``seeds``, at least 5 for the study): test macro AUROC with its patient-level bootstrap CI for both
arms, and their paired difference ``with - without`` on the same test records (paired bootstrap over
patients). Across seeds: mean ± sd of each arm, and the mean per-seed difference with a 95 % t-interval over
seeds (the seed-to-seed spread, which includes training noise). Cost of both arms (parameters, MACs).

Smoke case: the seed-0 ``with`` model is run on the CinC 2021 sample records (12-lead, resampled by the
pipeline) with their header age/sex and again with age/sex unknown, to show that a record without them is
still classified (and how much the probabilities move). Results: ``<out>/side_inputs.json`` and
``side_inputs.md``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.errors import LeanECGError

__all__ = ["AGE_SEX_COLUMNS", "age_sex_rows", "record_age_sex", "run_side_inputs_benchmark"]

#: The feature columns of the age/sex encoding (:func:`leanecg.models.wide_deep.encode_age_sex`).
AGE_SEX_COLUMNS = ("age_per_100y", "age_known", "male", "female")


def age_sex_rows(ages: Sequence[float | None], sexes: Sequence[Any]) -> np.ndarray:
    """float32 ``(N, 4)`` age/sex encoding (:data:`AGE_SEX_COLUMNS`), unknowns encoded as such: the numpy
    twin of :func:`leanecg.models.wide_deep.encode_age_sex` on :func:`~leanecg.models.wide_deep.age_sex_vector`
    rows (ages clipped to 0-130 years; sex ``male`` / ``female`` / ``M`` / ``F`` / 1 / 0 or unknown)."""
    from leanecg.models.wide_deep import age_sex_vector

    raw = np.array([age_sex_vector(a, s) for a, s in zip(ages, sexes, strict=True)], dtype=np.float32)
    raw = raw.reshape(-1, 2)
    age, sex = raw[:, 0], raw[:, 1]
    known = np.isfinite(age)
    return np.stack([np.where(known, age, 0.0) / 100.0, known, sex == 1.0, sex == 0.0], axis=1).astype(
        np.float32
    )


def record_age_sex(record: Any) -> tuple[float | None, Any]:
    """``(age, sex)`` of a loaded record from what the data layer read (``record.meta``); ``None`` when unknown."""
    meta = getattr(record, "meta", {}) or {}
    age = meta.get("age")
    try:
        age = None if age is None or not math.isfinite(float(age)) else float(age)
    except (TypeError, ValueError):
        age = None
    return age, meta.get("sex")


def _ptbxl_records(root: Path, tiny: bool) -> dict[str, list[str]]:
    """The record ids of the ptbxl-superclass splits, in the task's order (:meth:`PtbxlSuperclassTask.load`)."""
    from leanecg.data import get_dataset
    from leanecg.tasks.ptbxl_superclass import _class_cover

    ds = get_dataset("ptbxl")
    splits = ds.split(root)
    labels = ds.superclasses(root)
    splits = {k: [r for r in v if labels[r]] for k, v in splits.items()}
    if tiny:
        splits = {k: _class_cover(v, labels, 4 if k == "train" else 2) for k, v in splits.items()}
    return splits


def _ptbxl_age_sex(root: Path, records: Sequence[str]) -> tuple[list[float | None], list[Any]]:
    from leanecg.data import get_dataset

    df = get_dataset("ptbxl").database(root)
    ages: list[float | None] = []
    sexes: list[Any] = []
    for r in records:
        row = df.loc[str(r)]
        a = row.get("age")
        ages.append(None if a is None or not np.isfinite(float(a)) else float(a))
        s = row.get("sex")
        sexes.append({0: "male", 1: "female"}.get(None if s is None or s != s else int(s)))  # PTB-XL: 0 male
    return ages, sexes


def _paired_diff(
    task: Any, y: np.ndarray, pa: np.ndarray, pb: np.ndarray, groups: np.ndarray, n_boot: int, seed: int
) -> dict[str, float]:
    """``metric(pb) - metric(pa)`` on the same records, with a paired bootstrap CI over patients."""
    from leanecg.evaluate.bootstrap import resample_indices

    def score(yy: np.ndarray, p: np.ndarray) -> float:
        return task.scores(yy, p)[task.primary_metric]

    point = score(y, pb) - score(y, pa)
    draws = [score(y[i], pb[i]) - score(y[i], pa[i]) for i in resample_indices(len(y), n_boot, seed, groups)]
    d = np.asarray(draws, dtype=float)
    d = d[np.isfinite(d)]
    lo, hi = np.percentile(d, [2.5, 97.5]) if d.size else (float("nan"), float("nan"))
    return {"value": float(point), "ci_low": float(lo), "ci_high": float(hi), "n_valid": int(d.size)}


def _t_interval(values: Sequence[float]) -> dict[str, float]:
    from scipy import stats

    v = np.asarray(values, dtype=float)
    n = v.size
    mean = float(v.mean())
    sd = float(v.std(ddof=1)) if n > 1 else float("nan")
    half = float(stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)) if n > 1 else float("nan")
    return {"mean": mean, "sd": sd, "ci_low": mean - half, "ci_high": mean + half, "n_seeds": int(n)}


def run_side_inputs_benchmark(
    data_dir: Path,
    out_dir: Path,
    *,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    backbone: str = "litenet",
    epochs: int | None = None,
    tiny: bool = False,
    n_boot: int = 1000,
    num_threads: int | None = 1,
    log: Callable[[str], None] = lambda s: None,
    progress: Any = None,
    command: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Run the study (module docstring); returns ``{"json": path, "markdown": path}``."""
    from leanecg.atomic import atomic_open, write_json
    from leanecg.evaluate.cost import measure_cost
    from leanecg.models.registry import build_model
    from leanecg.provenance import collect_provenance
    from leanecg.tasks import get_task
    from leanecg.train.datasets import ArraySplit
    from leanecg.train.seed import seed_everything
    from leanecg.train.trainer import fit, predict_proba

    if len(seeds) < 1:
        raise LeanECGError("seeds", "the study needs at least one seed")
    task = get_task("ptbxl-superclass")
    root = Path(data_dir)
    data = task.load(root, tiny=tiny, seed=0, progress=progress)
    records = _ptbxl_records(root, tiny)
    side: dict[str, np.ndarray] = {}
    unknown: dict[str, dict[str, int]] = {}
    for name in ("train", "val", "test"):
        split = getattr(data, name)
        if len(records[name]) != len(split):
            raise LeanECGError(
                root, f"ptbxl {name} split: {len(records[name])} records vs {len(split)} loaded"
            )
        ages, sexes = _ptbxl_age_sex(root, records[name])
        side[name] = age_sex_rows(ages, sexes)
        unknown[name] = {
            "age": int(sum(a is None for a in ages)),
            "sex": int(sum(s is None for s in sexes)),
            "n": len(ages),
        }

    def arm_split(name: str, with_side: bool) -> ArraySplit:
        s = getattr(data, name)
        return ArraySplit(
            X=s.X, y=s.y, features=side[name] if with_side else None, groups=s.groups, name=name
        )

    arms = {"without": False, "with": True}
    per_seed: list[dict[str, Any]] = []
    models0: dict[str, Any] = {}
    t0 = time.perf_counter()
    for seed in seeds:
        row: dict[str, Any] = {"seed": int(seed)}
        probs: dict[str, np.ndarray] = {}
        for arm, with_side in arms.items():
            seed_everything(int(seed))
            model = build_model(
                "wide_deep",
                n_leads=data.train.n_leads,
                n_classes=len(task.class_names),
                n_features=len(AGE_SEX_COLUMNS) if with_side else 0,
                backbone=backbone,
            )
            config = task.train_config(tiny=tiny, seed=int(seed), epochs=epochs)
            config.num_threads = num_threads
            config.validate()
            res = fit(
                model,
                arm_split("train", with_side),
                arm_split("val", with_side),
                config,
                metric_fn=task.val_metric,
                progress=False,
            )
            test = arm_split("test", with_side)
            p = predict_proba(model, test.X, features=test.features, multilabel=True)
            probs[arm] = p
            ev = task.evaluate(test, p, n_boot=n_boot, seed=int(seed))
            row[arm] = {
                "metrics": ev["metrics"],
                "epochs_run": res.to_dict().get("epochs_run"),
                "best_epoch": res.to_dict().get("best_epoch"),
            }
            if seed == seeds[0]:
                models0[arm] = model
            log(
                f"side-inputs seed {seed} {arm}: test {task.primary_metric} "
                f"{ev['metrics'][task.primary_metric]['value']:.3f} ({time.perf_counter() - t0:.0f} s)"
            )
        y = np.asarray(data.test.y)
        row["difference"] = _paired_diff(
            task, y, probs["without"], probs["with"], np.asarray(data.test.groups), n_boot, int(seed)
        )
        per_seed.append(row)
    pm = task.primary_metric
    summary = {arm: _t_interval([r[arm]["metrics"][pm]["value"] for r in per_seed]) for arm in arms}
    summary["difference"] = _t_interval([r["difference"]["value"] for r in per_seed])
    cost = {}
    for arm, model in models0.items():
        extra = {"features": (len(AGE_SEX_COLUMNS),)} if arms[arm] else None
        c = measure_cost(
            model, (data.train.n_leads, data.input_samples), data.fs, extra_inputs=extra
        ).to_dict()
        cost[arm] = {k: c.get(k) for k in ("params", "macs", "bytes_fp32", "latency_ms_median")}
    smoke = _cinc2021_smoke(models0.get("with"), task, data, root, log)
    d = summary["difference"]
    helps = d["ci_low"] > 0
    hurts = d["ci_high"] < 0
    verdict = (
        "age/sex help here: the per-seed difference's 95 % CI lies above 0"
        if helps
        else "age/sex hurt here: the per-seed difference's 95 % CI lies below 0"
        if hurts
        else "no measurable effect of age/sex here: the per-seed difference's 95 % CI includes 0"
    )
    doc = {
        "study": "side-inputs",
        "task": task.name,
        "primary_metric": pm,
        "backbone": backbone,
        "model": "wide_deep",
        "encoding": {"columns": list(AGE_SEX_COLUMNS), "unknown": "age_known = 0 (age 0); male = female = 0"},
        "data": {k: v for k, v in data.info.items() if k != "test_records"},
        "unknown_side_inputs": unknown,
        "seeds": [int(s) for s in seeds],
        "per_seed": per_seed,
        "summary": summary,
        "verdict": verdict,
        "cost": cost,
        "cinc2021_smoke": smoke,
        "tiny": tiny,
        "seconds": time.perf_counter() - t0,
        "provenance": collect_provenance(
            seed=int(seeds[0]),
            config={
                "seeds": list(seeds),
                "backbone": backbone,
                "epochs": epochs,
                "tiny": tiny,
                "n_boot": n_boot,
            },
            command=list(command) if command else None,
        ),
    }
    out_dir = Path(out_dir)
    write_json(out_dir / "side_inputs.json", doc)
    with atomic_open(out_dir / "side_inputs.md") as fh:
        fh.write(_markdown(doc))
    return {"json": out_dir / "side_inputs.json", "markdown": out_dir / "side_inputs.md"}


def _cinc2021_smoke(
    model: Any, task: Any, data: Any, root: Path, log: Callable[[str], None]
) -> dict[str, Any]:
    """The ``with`` model on the CinC 2021 sample: header age/sex vs unknown (records without them work)."""
    from leanecg.data import get_dataset, list_record_paths, load_record
    from leanecg.train.trainer import predict_proba

    if model is None:
        return {"skipped": "no model"}
    try:
        folder = get_dataset("cinc2021").require(root)
    except LeanECGError as err:
        return {"skipped": err.problem}
    X, ages, sexes, names = [], [], [], []
    for path in list_record_paths(folder)[:64]:
        try:
            rec = load_record(path, annotations=False)
            y = data.pipeline.apply(rec.signal, rec.fs, leads=list(rec.leads)).signal
        except LeanECGError:
            continue
        if y.shape[0] < 1000:
            continue
        X.append(np.ascontiguousarray(y[:1000].T, dtype=np.float32))
        a, s = record_age_sex(rec)
        ages.append(a)
        sexes.append(s)
        names.append(rec.name)
    if not X:
        return {"skipped": "no 12-lead record of at least 10 s in the sample"}
    Xs = np.stack(X)
    p_known = predict_proba(model, Xs, features=age_sex_rows(ages, sexes), multilabel=True)
    p_unknown = predict_proba(
        model, Xs, features=age_sex_rows([None] * len(X), [None] * len(X)), multilabel=True
    )
    diff = np.abs(p_known - p_unknown)
    log(f"side-inputs smoke: {len(X)} CinC 2021 records, mean |dp| {diff.mean():.3f} with vs without age/sex")
    return {
        "records": len(X),
        "with_header_age": int(sum(a is not None for a in ages)),
        "with_header_sex": int(sum(s is not None for s in sexes)),
        "predicted_without_age_sex": bool(np.isfinite(p_unknown).all()),
        "mean_abs_prob_change": float(diff.mean()),
        "max_abs_prob_change": float(diff.max()),
        "note": "first 10 s of each record, the ptbxl-superclass pipeline; the model was trained on PTB-XL",
    }


def _fmt(d: dict[str, float], signed: bool = False) -> str:
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(d['mean'])} ± {d['sd']:.3f} [{f.format(d['ci_low'])}, {f.format(d['ci_high'])}]"


def _markdown(doc: dict[str, Any]) -> str:
    pm = doc["primary_metric"]
    s = doc["summary"]
    un = doc["unknown_side_inputs"]
    lines = [
        f"# Side inputs: age and sex on {doc['task']} ({doc['model']}, backbone `{doc['backbone']}`)"
        + (" — smoke run, not a benchmark" if doc["tiny"] else ""),
        "",
        f"Seeds {', '.join(map(str, doc['seeds']))}; test macro AUROC (patient-level 95 % bootstrap CIs per "
        "seed); the same backbone and fusion head with and without the age/sex columns "
        f"{', '.join(doc['encoding']['columns'])} (unknown: {doc['encoding']['unknown']}). Unknown in the data: "
        + "; ".join(f"{k} age {v['age']}/{v['n']}, sex {v['sex']}/{v['n']}" for k, v in un.items())
        + ".",
        "",
        f"**{doc['verdict']}.**",
        "",
        f"| arm | {pm}: mean ± sd over seeds [95 % t-CI] | params | MACs |",
        "|---|---|---|---|",
    ]
    for arm in ("without", "with"):
        c = doc["cost"].get(arm, {})
        lines.append(f"| {arm} age/sex | {_fmt(s[arm])} | {c.get('params', 0):,} | {c.get('macs', 0):,} |")
    lines += [
        f"| paired difference (with - without) | {_fmt(s['difference'], signed=True)} | | |",
        "",
        "| seed | without | with | with - without [paired bootstrap 95 % CI over patients] |",
        "|---|---|---|---|",
    ]
    for r in doc["per_seed"]:
        d = r["difference"]
        w0, w1 = r["without"]["metrics"][pm], r["with"]["metrics"][pm]
        lines.append(
            f"| {r['seed']} | {w0['value']:.3f} | {w1['value']:.3f} | "
            f"{d['value']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] |"
        )
    sm = doc["cinc2021_smoke"]
    lines += ["", "## CinC 2021 sample (smoke case)", ""]
    if "skipped" in sm:
        lines.append(f"Skipped: {sm['skipped']}.")
    else:
        lines.append(
            f"The seed-{doc['seeds'][0]} model with age/sex on {sm['records']} CinC 2021 sample records "
            f"({sm['with_header_age']} with a header age, {sm['with_header_sex']} with a header sex): classified "
            f"with age/sex unknown as well ({'yes' if sm['predicted_without_age_sex'] else 'no'}); mean |change| "
            f"of the probabilities {sm['mean_abs_prob_change']:.3f} (max {sm['max_abs_prob_change']:.3f}). "
            f"{sm['note']}."
        )
    prov = doc["provenance"]
    cmd = prov.get("command") or ""
    cmd = cmd if isinstance(cmd, str) else " ".join(cmd)
    lines += [
        "",
        f"Commit `{prov.get('git_commit', 'n/a')}`; command `{cmd}`; {doc['seconds'] / 60:.1f} min.",
        "",
    ]
    return "\n".join(lines)


def run_side_inputs_cli(
    models: str | None,
    data_dir: Path | None,
    out: Path,
    *,
    seed: int = 0,
    epochs: int | None = None,
    threads: int | None = 1,
    n_boot: int = 1000,
    tiny: bool = False,
    progress: Any = None,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Path]:
    """``leanecg bench side-inputs``: ``--models`` names the backbone (one zoo model, default ``litenet``);
    ``--seed S`` runs seeds S .. S+4 (``--tiny``: S and S+1); results in ``OUT/side_inputs.{json,md}``."""
    import sys

    from leanecg.data import resolve_data_dir
    from leanecg.models.registry import list_models

    names = [m.strip() for m in models.split(",") if m.strip()] if models else ["litenet"]
    known = {s.name for s in list_models()} - {"wide_deep", "wide_deep_lite"}
    if len(names) != 1 or names[0] not in known:
        raise LeanECGError(
            "models", f"side-inputs takes one backbone, a zoo model (e.g. litenet); got {models!r}"
        )
    seeds = tuple(range(seed, seed + (2 if tiny else 5)))
    return run_side_inputs_benchmark(
        resolve_data_dir(data_dir, dataset="ptbxl"),
        out,
        seeds=seeds,
        backbone=names[0],
        epochs=epochs,
        tiny=tiny,
        n_boot=n_boot,
        num_threads=threads,
        log=log,
        progress=progress,
        command=["leanecg", *sys.argv[1:]],
    )
