"""Few-shot study on cinc2017: a prototypical network learns a held-out rhythm class from k = 1, 5, 10
examples (``leanecg study fewshot``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.bench.labels import load_cinc2017
from leanecg.bench.study import merge_seeds, torch_threads
from leanecg.errors import LeanECGError


@dataclass
class FewShotConfig:
    """Settings of the few-shot study (:func:`run_fewshot_benchmark`)."""

    model: str = "litenet"
    width: float = 1.0
    held_out: tuple[str, ...] = ("A", "O", "N")
    shots: tuple[int, ...] = (1, 5, 10)
    seeds: tuple[int, ...] = (0,)
    episodes: int = 600
    train_k_shot: int = 5
    train_n_query: int = 10
    crop_s: float = 10.0
    lr: float = 1e-3
    eval_episodes: int = 1000
    eval_n_query: int = 10
    num_threads: int | None = 1


def run_fewshot_benchmark(
    data_dir: Path,
    out_dir: Path,
    *,
    config: FewShotConfig | None = None,
    tiny: bool = False,
    progress: Any = None,
    log: Callable[[str], None] = lambda s: None,
    device: str = "cpu",
    amp: bool = False,
) -> dict[str, Any]:
    """Leave-one-class-out few-shot evaluation of a prototypical network on cinc2017.

    For each held-out class, the embedding is trained episodically on the training records of the three
    other classes only; then 4-way episodes (held-out class + the three base classes) draw k = 1, 5, 10
    support records per class from the training split (the held-out class's records were never used in
    training) and 10 queries per class from the test split, and classify the queries by the nearest
    prototype. Reported: all-class accuracy and the held-out class's recall and F1, mean and 95 % CI over
    the episodes; the same episodes with the untrained (randomly initialised) encoder as a reference.
    Writes ``out_dir/fewshot.json`` and ``fewshot.md``. ``device`` / ``amp``: where the episodic training
    runs (:mod:`leanecg.train.device`; recorded in the provenance); embeddings are computed on the CPU.
    """

    from leanecg.atomic import file_lock, write_json
    from leanecg.models.registry import build_model
    from leanecg.provenance import collect_provenance
    from leanecg.tasks import get_task
    from leanecg.train.device import resolve_device
    from leanecg.train.fewshot import EpisodeConfig, embed_records, evaluate_episodes, train_prototypical
    from leanecg.train.seed import seed_everything

    config = FewShotConfig() if config is None else config
    out_dir = Path(out_dir)
    task = get_task("cinc2017")
    names = list(task.class_names)
    for h in config.held_out:
        if h not in names:
            raise LeanECGError("held_out", f"unknown cinc2017 class {h!r}; classes: {', '.join(names)}")
    t0 = time.perf_counter()
    entries = []
    with torch_threads(config.num_threads):
        data = load_cinc2017(Path(data_dir), tiny=tiny, progress=progress)
        crop = round(config.crop_s * data.fs)
        all_classes = list(range(len(names)))
        ytr, yte = np.asarray(data.train.y), np.asarray(data.test.y)
        for seed in config.seeds:
            for h in config.held_out:
                novel = names.index(h)
                base = [c for c in all_classes if c != novel]
                seed_everything(seed)
                model = build_model(config.model, n_leads=1, n_classes=len(names), width=config.width)
                untrained = {
                    "train": embed_records(model, data.train),
                    "test": embed_records(model, data.test),
                }
                ecfg = EpisodeConfig(
                    episodes=20 if tiny else config.episodes,
                    n_way=len(base),
                    k_shot=2 if tiny else config.train_k_shot,
                    n_query=2 if tiny else config.train_n_query,
                    crop_samples=crop,
                    lr=config.lr,
                    seed=seed,
                    num_threads=config.num_threads,
                    device=device,
                    amp=amp,
                )
                t1 = time.perf_counter()
                history = train_prototypical(model, data.train, base, ecfg)
                seconds = time.perf_counter() - t1
                trained = {"train": embed_records(model, data.train), "test": embed_records(model, data.test)}
                for encoder, emb in (("prototypical", trained), ("untrained", untrained)):
                    for k in config.shots:
                        if min(int((ytr == c).sum()) for c in all_classes) < k:
                            continue
                        sc = evaluate_episodes(
                            emb["train"],
                            ytr,
                            emb["test"],
                            yte,
                            all_classes,
                            novel,
                            k,
                            n_query=config.eval_n_query,
                            n_episodes=50 if tiny else config.eval_episodes,
                            seed=seed,
                        )
                        entries.append(
                            {
                                "seed": int(seed),
                                "held_out": h,
                                "base_classes": [names[c] for c in base],
                                "encoder": encoder,
                                **sc.to_dict(),
                                "train_seconds": seconds if encoder == "prototypical" else None,
                                "train_history": history
                                if encoder == "prototypical" and k == config.shots[0]
                                else None,
                            }
                        )
                        log(
                            f"seed {seed} held-out {h} {encoder:12s} k={k:2d}: acc {sc.accuracy_mean:.3f} "
                            f"± {sc.accuracy_ci95:.3f}, novel recall {sc.novel_recall_mean:.3f}"
                        )
    with file_lock(out_dir / "fewshot.json"):  # other processes (other seeds) merge into the same file
        # seeds already in the file, read now: a process running other seeds meanwhile has written them
        previous = merge_seeds(out_dir / "fewshot.json", "fewshot", asdict(config), tiny, config.seeds)
        entries = sorted(
            previous + entries, key=lambda e: (e["seed"], e["held_out"], e["encoder"], e["k_shot"])
        )
        doc = {
            "benchmark": "fewshot",
            "description": "prototypical network, leave-one-class-out k-shot classification on cinc2017",
            "protocol": " ".join((run_fewshot_benchmark.__doc__ or "").split()),
            "config": {**asdict(config), "seeds": sorted({e["seed"] for e in entries})},
            "tiny": tiny,
            "data": data.info,
            "seconds_last_run": time.perf_counter() - t0,
            "entries": entries,
            "provenance": collect_provenance(
                seed=int(config.seeds[0]),
                config=asdict(config),
                device=str(resolve_device(device)),
                world_size=1,
            ),
        }
        write_json(out_dir / "fewshot.json", doc)
        _write_fewshot_md(doc, out_dir / "fewshot.md")
        return doc


def _write_fewshot_md(doc: dict[str, Any], path: Path) -> None:
    from leanecg.atomic import atomic_open

    cfg = doc["config"]
    lines = ["# Few-shot rhythm classes on cinc2017: prototypical network (held-out class)", ""]
    if doc.get("tiny"):
        lines += ["**Tiny smoke run: a few records per split; the numbers are not results.**", ""]
    lines += [
        f"Model `{cfg['model']}` embedding, {cfg['episodes']} training episodes ({cfg['train_k_shot']}-shot, "
        f"{cfg['train_n_query']} queries) on the 3 base classes; {cfg['eval_episodes']} evaluation episodes per "
        f"k (4-way: held-out + base classes, {cfg['eval_n_query']} test queries per class); seeds {cfg['seeds']}. "
        "Values: mean over seeds ± sd over seeds (ddof 1), and in brackets the 95 % CI half-width over "
        "episodes (mean of the seeds'); with one seed only the bracket.",
        "",
        "| held-out class | encoder | k | 4-way accuracy | held-out recall | held-out F1 |",
        "|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for e in doc["entries"]:
        groups.setdefault((e["held_out"], e["encoder"], e["k_shot"]), []).append(e)
    for (h, enc, k), es in sorted(groups.items()):

        def cell(key: str, es: list[dict[str, Any]] = es) -> str:
            means = [e[f"{key}_mean"] for e in es]
            ci = float(np.mean([e[f"{key}_ci95"] for e in es]))
            sd = f" ± {float(np.std(means, ddof=1)):.3f}" if len(means) > 1 else ""
            return f"{float(np.mean(means)):.3f}{sd} [± {ci:.3f}]"

        lines.append(
            f"| {h} | {enc} | {k} | {cell('accuracy')} | {cell('novel_recall')} | {cell('novel_f1')} |"
        )
    lines += ["", "Protocol: " + doc["protocol"]]
    with atomic_open(path) as fh:
        fh.write("\n".join(lines) + "\n")
