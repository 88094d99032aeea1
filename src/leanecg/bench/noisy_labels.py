"""Noisy labels on cinc2017: flip a known fraction of the training labels, correct them with the
self-learning loop of :mod:`leanecg.train.label_correction`, and measure how much of the clean-label F1
is recovered (``leanecg study noisy-labels``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.bench.labels import FS_MODEL, load_cinc2017
from leanecg.bench.study import merge_seeds, torch_threads
from leanecg.config import in_range, non_negative, one_of, positive, validate_config
from leanecg.errors import InvalidOptionError, LeanECGError
from leanecg.train.label_correction import AGREEMENTS, METHODS

#: The threshold method's ``drop_below`` in the study: a record that is not re-labelled and whose own label
#: has an out-of-fold probability below 0.1 is left out of the retraining.
THRESHOLD_DROP_BELOW = 0.1


@dataclass
class NoisyConfig:
    """Settings of the noisy-label study (:func:`run_noisy_benchmark`).

    ``model``: a classic model (``lightgbm``, ``rf``, ``logreg``, ``svm``, ``mlp``) trained on the 79
    handcrafted record features of :func:`leanecg.features.record.record_feature_matrix` (HRV, spectral,
    statistics, morphology), or a convolutional zoo model (``litenet``) trained on the signals
    (``epochs``, ``batch_size``, ``lr``, ``crop_s`` apply to it). ``method``, ``n_folds``, ``n_repeats``,
    ``threshold``, ``agreement``, ``rounds``, ``drop_below``: the
    :class:`leanecg.train.label_correction.CorrectionConfig` of the correction (defaults fixed before the
    test run: confident learning, re-label only at an out-of-fold probability >= 0.95, drop the other
    flagged records). ``drop_below`` applies to ``method="threshold"`` only; left ``None`` it is the
    study's :data:`THRESHOLD_DROP_BELOW` (0.1) for that method.

    ``detector_epochs`` (networks only: ``mlp`` or a zoo model): the out-of-fold models that judge the
    labels are trained for this many epochs instead of the final model's -- *early learning*: a network
    fits the patterns shared by most records of a class in its first epochs and memorises individual
    (wrong) labels only later (Arpit et al. 2017; Liu et al. 2020), so a briefly trained copy of the same
    network separates wrong labels from right ones, which a fully trained one, having memorised its
    training folds' noise, does less well. ``None``: the final model's training length.

    ``eval_split``: ``"test"`` (the results) or ``"val"`` (the validation split, for choosing settings
    without looking at the test split; written to ``<stem>_val.{json,md}``).
    """

    model: str = "lightgbm"
    width: float = positive(1.0)
    rates: tuple[float, ...] = in_range((0.1, 0.2, 0.4), 0, 1, each=True)
    seeds: tuple[int, ...] = non_negative((0, 1, 2), integer=True, each=True)
    epochs: int = positive(10, integer=True)
    batch_size: int = positive(64, integer=True)
    lr: float = positive(3e-3)
    crop_s: float = positive(6.0)
    method: str = one_of("confident", METHODS)
    n_folds: int = in_range(3, 2, None, integer=True)
    n_repeats: int = positive(1, integer=True)
    threshold: float = in_range(0.95, 0, 1, low_open=True)
    agreement: str = one_of("none", AGREEMENTS)
    rounds: int = positive(1, integer=True)
    drop_below: float | None = in_range(None, 0, 1, low_open=True, high_open=True, optional=True)
    num_threads: int | None = positive(1, integer=True, optional=True)
    n_boot: int = positive(1000, integer=True)
    detector_epochs: int | None = positive(None, integer=True, optional=True)
    eval_split: str = one_of("test", ("test", "val"))

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`~leanecg.errors.InvalidOptionError` naming ``NoisyConfig.<field>`` for a wrong field
        (the ranges are declared on the fields, :mod:`leanecg.config`); fill in the threshold method's
        ``drop_below`` (:data:`THRESHOLD_DROP_BELOW`) when none is given."""
        from leanecg.models.classic import list_classic_models

        validate_config(self)
        if self.method == "threshold" and self.drop_below is None:
            self.drop_below = THRESHOLD_DROP_BELOW
        if self.method != "threshold" and self.drop_below is not None:
            raise InvalidOptionError(
                "NoisyConfig.drop_below", f"applies to method threshold, not {self.method}"
            )
        if self.detector_epochs is not None and self.model in list_classic_models() and self.model != "mlp":
            raise InvalidOptionError(
                "NoisyConfig.detector_epochs", f"applies to networks (mlp or a zoo model), not {self.model}"
            )


def run_noisy_benchmark(
    data_dir: Path,
    out_dir: Path,
    *,
    config: NoisyConfig | None = None,
    tiny: bool = False,
    progress: Any = None,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Flip a fraction (``config.rates``, default 10 / 20 / 40 %) of the cinc2017 training labels (seeded,
    symmetric; validation and test labels stay clean), then compare the F1 on the test split (or, with
    ``eval_split="val"``, the validation split) of a model trained on clean labels, on noisy labels, and
    on labels corrected by :func:`leanecg.train.label_correction.self_learning_correction` (out-of-fold
    models of the same kind, trained for ``detector_epochs`` when set; then retrained on the kept records).
    Writes ``out_dir/<stem>.json`` and ``<stem>.md`` (stem from :func:`noisy_results_stem`; seeds of
    earlier runs with the same settings are kept)."""

    from leanecg.atomic import file_lock, write_json
    from leanecg.models.classic import list_classic_models
    from leanecg.provenance import collect_provenance
    from leanecg.tasks import get_task
    from leanecg.train.datasets import ArraySplit
    from leanecg.train.fewshot import embed_records
    from leanecg.train.label_correction import CorrectionConfig, flip_labels, self_learning_correction
    from leanecg.train.trainer import predict_proba

    config = NoisyConfig() if config is None else config
    config.validate()
    out_dir = Path(out_dir)
    stem = noisy_results_stem(config)
    t0 = time.perf_counter()
    with torch_threads(config.num_threads):
        task = get_task("cinc2017")
        data = load_cinc2017(Path(data_dir), tiny=tiny, progress=progress)
        n_classes = len(task.class_names)
        classic = config.model in list_classic_models()
        evaluated = data.test if config.eval_split == "test" else data.val
        if classic:
            train_fn, predict_fn, embed_fn = _classic_fns(config.model)
            detect_fn = train_fn
            if config.detector_epochs is not None:
                detect_fn = _classic_fns(config.model, max_iter=config.detector_epochs)[0]
            train_split = ArraySplit(
                X=data.train.X, y=data.train.y, features=_features(data.train), name="train"
            )
            test_split = ArraySplit(
                X=evaluated.X, y=evaluated.y, features=_features(evaluated), name=config.eval_split
            )
        else:
            crop = round(config.crop_s * data.fs)

            def zoo_train_fn(epochs: int) -> Callable[[Any, int], Any]:
                return _train_fn(
                    config.model, config.width, n_classes, 2 if tiny else epochs, config.batch_size,
                    config.lr, crop, config.num_threads,
                )  # fmt: skip

            train_fn = zoo_train_fn(config.epochs)
            detect_fn = train_fn if config.detector_epochs is None else zoo_train_fn(config.detector_epochs)

            def predict_fn(model: Any, split: Any) -> np.ndarray:
                return predict_proba(model, split.X)

            def embed_fn(model: Any, split: Any) -> np.ndarray:
                return embed_records(model, split)

            train_split, test_split = data.train, evaluated

        def test_f1(model: Any, seed: int) -> dict[str, Any]:
            ev = task.evaluate(test_split, predict_fn(model, test_split), n_boot=config.n_boot, seed=seed)
            return ev["metrics"]["f1"]

        entries = []
        for seed in config.seeds:
            y = np.asarray(data.train.y)
            clean = test_f1(train_fn(train_split, seed), seed)
            log(f"seed {seed}: clean F1 {clean['value']:.4f}")
            for rate in config.rates:
                y_noisy, flipped = flip_labels(y, rate, n_classes, seed)
                noisy_split = ArraySplit(
                    X=train_split.X, y=y_noisy, features=train_split.features, name="train"
                )
                noisy = test_f1(train_fn(noisy_split, seed), seed)
                names = {f.name for f in fields(CorrectionConfig)} - {"seed"}
                cc = CorrectionConfig(**{k: v for k, v in asdict(config).items() if k in names}, seed=seed)
                corr = self_learning_correction(noisy_split, detect_fn, predict_fn, cc, embed_fn=embed_fn)
                fixed = ArraySplit(X=train_split.X, y=corr.y, features=train_split.features, name="train")
                corrected = test_f1(train_fn(fixed.subset(np.flatnonzero(corr.keep)), seed), seed)
                lost = clean["value"] - noisy["value"]
                entry = {
                    "seed": int(seed),
                    "flip_rate": float(rate),
                    "f1_clean": clean,
                    "f1_noisy": noisy,
                    "f1_corrected": corrected,
                    "recovered_fraction": (corrected["value"] - noisy["value"]) / lost if lost > 0 else None,
                    "n_train": len(y),
                    "n_flipped": int(flipped.sum()),
                    "n_relabelled": int(corr.changed.sum()),
                    "n_dropped": int((~corr.keep).sum()),
                    "label_error_kept": float((corr.y[corr.keep] != y[corr.keep]).mean()),
                    "relabel_precision": float((corr.y[corr.changed] == y[corr.changed]).mean())
                    if corr.changed.any()
                    else None,
                    "flips_fixed": float((corr.y[flipped] == y[flipped]).mean()) if flipped.any() else None,
                    "flips_dropped": float((~corr.keep[flipped]).mean()) if flipped.any() else None,
                    "clean_dropped": float((~corr.keep[~flipped]).mean()) if (~flipped).any() else None,
                    "label_error_before": float((y_noisy != y).mean()),
                    "label_error_after": float((corr.y != y).mean()),
                    "rounds": corr.rounds,
                }
                entries.append(entry)
                log(
                    f"seed {seed} flips {rate:.0%}: noisy {noisy['value']:.4f} corrected {corrected['value']:.4f} "
                    f"(label error {entry['label_error_before']:.3f} -> {entry['label_error_after']:.3f})"
                )
    with file_lock(out_dir / f"{stem}.json"):  # other processes (other seeds) merge into the same file
        # seeds already in the file, read now: a process running other seeds meanwhile has written them
        previous = merge_seeds(out_dir / f"{stem}.json", "noisy_labels", asdict(config), tiny, config.seeds)
        entries = sorted(previous + entries, key=lambda e: (e["seed"], e["flip_rate"]))
        seeds = sorted({e["seed"] for e in entries})
        summary = []
        for rate in config.rates:
            rows = [e for e in entries if e["flip_rate"] == float(rate)]
            row: dict[str, Any] = {"flip_rate": float(rate), "n_seeds": len(rows)}
            for key in ("f1_clean", "f1_noisy", "f1_corrected"):
                row[key] = _mean_sd([e[key]["value"] for e in rows])
            for key in (
                "recovered_fraction",
                "label_error_before",
                "label_error_after",
                "relabel_precision",
                "flips_fixed",
                "flips_dropped",
                "clean_dropped",
                "label_error_kept",
            ):
                row[key] = _mean_sd([e[key] for e in rows if e.get(key) is not None])
            row["noise_rate_estimate"] = _mean_sd(
                [
                    e["rounds"][0]["noise_rate_estimate"]
                    for e in rows
                    if "noise_rate_estimate" in e["rounds"][0]
                ]
            )
            row["f1_lost"] = _mean_sd([e["f1_clean"]["value"] - e["f1_noisy"]["value"] for e in rows])
            row["f1_gain"] = _mean_sd([e["f1_corrected"]["value"] - e["f1_noisy"]["value"] for e in rows])
            row.update(
                recovery_of_means(
                    [[e[k]["value"] for e in rows] for k in ("f1_clean", "f1_noisy", "f1_corrected")],
                    n_boot=config.n_boot,
                    seed=0,
                )
            )
            summary.append(row)
        doc = {
            "benchmark": "noisy_labels",
            "description": "self-learning label correction on cinc2017 with symmetric flipped training labels",
            "metric": f"{config.eval_split} F1 (mean of N, A, O F1, CinC 2017), 0-1 scale; CIs: 95 % bootstrap of "
            f"the {config.eval_split} records",
            "eval_split": config.eval_split,
            "protocol": " ".join((run_noisy_benchmark.__doc__ or "").split()),
            "config": {**asdict(config), "seeds": seeds},
            "tiny": tiny,
            "data": data.info,
            "seconds_last_run": time.perf_counter() - t0,
            "summary": summary,
            "entries": entries,
            "provenance": collect_provenance(seed=int(config.seeds[0]), config=asdict(config)),
        }
        write_json(out_dir / f"{stem}.json", doc)
        _write_noisy_md(doc, out_dir / f"{stem}.md")
        return doc


def noisy_results_stem(config: NoisyConfig) -> str:
    """File stem of the noisy-label study's results: ``noisy_labels`` for the default model (LightGBM),
    ``noisy_labels_<model>`` for another classic model and ``noisy_labels_<model>_w<width>_e<epochs>`` for a
    zoo model, then ``_det<detector epochs>`` when set and ``_val`` for a validation-split run, so studies of
    different models, training lengths and splits never overwrite each other."""
    from leanecg.models.classic import list_classic_models

    if config.model == NoisyConfig.model:
        stem = "noisy_labels"
    elif config.model in list_classic_models():
        stem = f"noisy_labels_{config.model}"
    else:
        stem = f"noisy_labels_{config.model}_w{config.width:g}_e{config.epochs}"
    if config.detector_epochs is not None:
        stem += f"_det{config.detector_epochs}"
    return stem + ("_val" if config.eval_split == "val" else "")


def recovery_of_means(f1: Sequence[Sequence[float]], *, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Share of the F1 lost to noise that correction recovers, ``(mean(corrected) - mean(noisy)) /
    (mean(clean) - mean(noisy))`` over seeds, with a 95 % percentile bootstrap CI over the seeds.

    Args:
        f1: ``[clean, noisy, corrected]``, each the test F1 of every seed (same seed order, paired).
        n_boot: bootstrap resamples of the seeds (with replacement, pairs kept together).
        seed: bootstrap seed.

    Returns:
        ``recovered_fraction_of_means`` (``None`` when the noisy mean is not below the clean mean),
        ``recovered_ci95_seeds`` (``[low, high]``, ``None`` with fewer than 3 seeds) and
        ``recovered_boot_undefined`` (share of resamples that lost no F1 and were left out).
    """
    clean, noisy, corrected = (np.asarray(v, dtype=float) for v in f1)
    if not clean.size == noisy.size == corrected.size:
        raise LeanECGError("f1", "clean, noisy and corrected need one F1 per seed each")

    def ratio(idx: np.ndarray) -> float | None:
        lost = clean[idx].mean() - noisy[idx].mean()
        return float((corrected[idx].mean() - noisy[idx].mean()) / lost) if lost > 0 else None

    out: dict[str, Any] = {
        "recovered_fraction_of_means": ratio(np.arange(clean.size)) if clean.size else None,
        "recovered_ci95_seeds": None,
        "recovered_boot_undefined": None,
    }
    if clean.size >= 3:
        rng = np.random.default_rng([int(seed), 6060])
        draws = [ratio(rng.integers(0, clean.size, clean.size)) for _ in range(int(n_boot))]
        ok = np.asarray([d for d in draws if d is not None], dtype=float)
        out["recovered_boot_undefined"] = 1.0 - ok.size / len(draws)
        if ok.size:
            out["recovered_ci95_seeds"] = [float(x) for x in np.percentile(ok, [2.5, 97.5])]
    return out


def _features(split: Any) -> np.ndarray:
    """The record features (:func:`~leanecg.features.record.record_feature_names`) of each (single-lead,
    150 Hz) record of ``split`` (cached on disk)."""
    from leanecg.features.record import record_feature_matrix

    F, _ = record_feature_matrix([np.asarray(x)[0] for x in split.X], FS_MODEL)
    return np.nan_to_num(F.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)


def _classic_fns(
    name: str, **params: Any
) -> tuple[Callable[..., Any], Callable[..., np.ndarray], Callable[..., np.ndarray]]:
    """``train_fn(split, seed)``, ``predict_fn(model, split)`` and ``embed_fn(model, split)`` of a classic
    model (hyperparameter overrides ``params``) on ``split.features`` (the embedding of a record is its robustly standardised feature vector:
    minus the median, divided by the interquartile range, over the split)."""
    from leanecg.models.classic import build_classic

    def train(split: Any, seed: int) -> Any:
        model = build_classic(name, seed=int(seed), class_weight="balanced", **params)
        model.fit(split.features, split.y)
        return model

    def predict(model: Any, split: Any) -> np.ndarray:
        proba = np.zeros((len(split), 4))
        proba[:, np.asarray(model.classes_, dtype=np.int64)] = model.predict_proba(split.features)
        return proba

    def embed(model: Any, split: Any) -> np.ndarray:
        F = np.asarray(split.features, dtype=np.float64)
        q1, med, q3 = np.percentile(F, [25, 50, 75], axis=0)
        return (F - med) / np.where(q3 - q1 > 0, q3 - q1, 1.0)

    return train, predict, embed


def _mean_sd(values: Sequence[float]) -> dict[str, Any]:
    a = np.asarray(list(values), dtype=float)
    return {
        "mean": float(a.mean()) if a.size else None,
        "sd": float(a.std(ddof=1)) if a.size > 1 else None,
        "n": int(a.size),
    }


def _fmt_ms(d: dict[str, Any], pct: bool = False) -> str:
    if d.get("mean") is None:
        return "-"
    k = 100.0 if pct else 1.0
    sd = f" ± {k * d['sd']:.{1 if pct else 3}f}" if d.get("sd") is not None else ""
    return f"{k * d['mean']:.{1 if pct else 3}f}{sd}"


def _write_noisy_md(doc: dict[str, Any], path: Path) -> None:
    from leanecg.atomic import atomic_open
    from leanecg.models.classic import list_classic_models

    cfg = doc["config"]
    split = cfg.get("eval_split", "test")
    lines = [
        f"# Noisy labels on cinc2017: self-learning label correction ({split} F1, mean ± sd over seeds)",
        "",
    ]
    if split == "val":
        lines += ["**Validation-split run: for choosing settings; the test split is not used.**", ""]
    if doc.get("tiny"):
        lines += ["**Tiny smoke run: a few records per split; the numbers are not results.**", ""]
    if cfg.get("method", "threshold") == "confident":
        rule = (
            f"confident learning (per-class thresholds, noise rate estimated from the confident joint, prune by "
            f"noise rate); flagged records re-labelled when the out-of-fold probability of the predicted class "
            f"is >= {cfg['threshold']}, the other flagged records left out of the retraining"
        )
    else:
        rule = (
            f"re-label threshold {cfg['threshold']}, agreement `{cfg['agreement']}`, records whose own label has "
            f"out-of-fold probability < {cfg['drop_below']} left out of the retraining"
        )
    defaults = NoisyConfig()
    options = [f"--seeds {' '.join(map(str, cfg['seeds']))}"]
    for key, flag in (
        ("model", "--model"),
        ("width", "--width"),
        ("epochs", "--epochs"),
        ("batch_size", "--batch-size"),
        ("crop_s", "--crop-s"),
        ("method", "--method"),
        ("agreement", "--agreement"),
        ("threshold", "--threshold"),
        ("n_repeats", "--repeats"),
        ("rounds", "--rounds"),
        ("detector_epochs", "--detector-epochs"),
        ("eval_split", "--eval-split"),
    ):
        if cfg.get(key, getattr(defaults, key)) != getattr(defaults, key):
            options.append(f"{flag} {cfg[key]}")
    if tuple(cfg["rates"]) != defaults.rates:
        options.append("--rates " + ",".join(str(r) for r in cfg["rates"]))
    if cfg["model"] in list_classic_models():
        model = f"Model `{cfg['model']}` on the handcrafted record features"
        if cfg["model"] == "mlp":
            model += " (128-64 ReLU MLP, up to 200 epochs, no early stopping)"
    else:
        model = (
            f"Model `{cfg['model']}` (width {cfg['width']}) on the 150 Hz signals, {cfg['epochs']} epochs, "
            f"batch {cfg['batch_size']}, lr {cfg['lr']}, {cfg['crop_s']} s random crops, "
            f"{cfg['num_threads']} thread(s)"
        )
    lines += [
        "Command: `leanecg study noisy-labels --data-dir ../shared/data --out benchmarks/results "
        + " ".join(options)
        + "` (seeds can be run in separate invocations; they merge when the other settings match)",
        "",
        f"{model}, seeds {cfg['seeds']}, "
        f"{cfg['n_folds']}-fold out-of-fold predictions (averaged over {cfg.get('n_repeats', 1)} fold split(s)), "
        f"{rule}, {cfg['rounds']} round(s)"
        + (
            f", out-of-fold models trained for {cfg['detector_epochs']} epochs (early learning)"
            if cfg.get("detector_epochs")
            else ""
        )
        + (". All settings were fixed before the test run. " if split == "test" else ". ")
        + "Recovered = (corrected - noisy) / (clean - noisy): per seed (unstable when a seed's noisy model "
        "loses little) and of the seed means, with a 95 % bootstrap CI over the seeds (seeds resampled with "
        "their clean / noisy / corrected F1 kept together; the evaluated records are the same for every "
        "seed, so this CI does not cover their sampling).",
        "",
        "| flipped | clean F1 | noisy F1 | corrected F1 | lost (clean - noisy) | gained (corrected - noisy) "
        "| recovered (mean of seeds) | recovered (of means) [95 % CI over seeds] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["summary"]:
        rof = r["recovered_fraction_of_means"]
        ci = r.get("recovered_ci95_seeds")
        rec = "-" if rof is None else f"{rof:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
        lines.append(
            f"| {r['flip_rate']:.0%} | {_fmt_ms(r['f1_clean'])} | {_fmt_ms(r['f1_noisy'])} | "
            f"{_fmt_ms(r['f1_corrected'])} | {_fmt_ms(r.get('f1_lost', {}))} | {_fmt_ms(r.get('f1_gain', {}))} | "
            f"{_fmt_ms(r['recovered_fraction'])} | {rec} |"
        )
    lines += [
        "",
        "Labels before and after the correction (%):",
        "",
        "| flipped | label error before -> after | re-label precision | flips fixed |",
        "|---|---|---|---|",
    ]
    for r in doc["summary"]:
        lines.append(
            f"| {r['flip_rate']:.0%} | {_fmt_ms(r['label_error_before'], True)} -> "
            f"{_fmt_ms(r['label_error_after'], True)} | {_fmt_ms(r['relabel_precision'], True)} | "
            f"{_fmt_ms(r['flips_fixed'], True)} |"
        )
    if any("flips_dropped" in r for r in doc["summary"]):
        lines += [
            "",
            "Records left out of the retraining, and the label error of the records kept (%):",
            "",
            "| flipped | noise rate estimated (%) | flipped records dropped (%) | correct records dropped (%) "
            "| label error of kept records (%) |",
            "|---|---|---|---|---|",
        ]
        for r in doc["summary"]:
            lines.append(
                f"| {r['flip_rate']:.0%} | {_fmt_ms(r.get('noise_rate_estimate', {}), True)} | "
                f"{_fmt_ms(r['flips_dropped'], True)} | {_fmt_ms(r['clean_dropped'], True)} | "
                f"{_fmt_ms(r['label_error_kept'], True)} |"
            )
    lines += ["", "Protocol: " + doc["protocol"]]
    with atomic_open(path) as fh:
        fh.write("\n".join(lines) + "\n")


def _train_fn(
    model_name: str,
    width: float,
    n_classes: int,
    epochs: int,
    batch_size: int,
    lr: float,
    crop: int,
    threads: int | None,
) -> Callable[[Any, int], Any]:
    """``train_fn(split, seed) -> model`` for the noisy-label loop, memoised on (records, labels, seed)."""
    import hashlib

    from leanecg.models.registry import build_model
    from leanecg.train.seed import seed_everything
    from leanecg.train.trainer import TrainConfig, fit

    memo: dict[str, Any] = {}

    def train(split: Any, seed: int) -> Any:
        key = hashlib.sha256(
            split.lengths.tobytes() + np.asarray(split.y).tobytes() + str(seed).encode()
        ).hexdigest()
        if key not in memo:
            seed_everything(seed)
            model = build_model(model_name, n_leads=1, n_classes=n_classes, width=width)
            cfg = TrainConfig(
                epochs=epochs,
                batch_size=min(batch_size, len(split)),
                lr=lr,
                loss="weighted_ce",
                class_weights="balanced",
                crop_samples=crop,
                num_threads=threads,
                seed=seed,
            )
            fit(model, split, None, cfg, progress=False)
            if len(memo) >= 8:  # the loop reuses the noisy-label model a few trainings later
                memo.pop(next(iter(memo)))
            memo[key] = model
        return memo[key]

    return train
