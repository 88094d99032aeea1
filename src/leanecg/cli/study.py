"""``leanecg study labels|fewshot|noisy-labels``: the seeded studies, one seed or several per call; seeds run
in separate calls merge into one results file when the other settings match."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leanecg.cli.options import MAX_SEED, MAX_THREADS, AmpOpt, DataDirOpt, DeviceOpt, check_option
from leanecg.cli.render import log, print_markdown_file
from leanecg.errors import LeanECGError

StudyOutOpt = Annotated[
    Path, typer.Option("--out", help="Results folder (the study's JSON, Markdown and plot go here).")
]
ThreadsOpt = Annotated[int, typer.Option("--threads", help="torch threads.")]
#: The tasks of the labels study.
LABELS_TASKS = ("cinc2017", "mitdb-aami")
TinyOpt = Annotated[bool, typer.Option("--tiny", help="Smoke run on a few records (not a result).")]


def seeds_of(value: str) -> tuple[int, ...]:
    """``--seeds 0,1,2`` as a tuple of seeds (each 0 to 2**32 - 1)."""
    try:
        seeds = tuple(int(s) for s in value.split(",") if s.strip())
    except ValueError:
        seeds = ()
    if not seeds or any(not 0 <= s <= MAX_SEED for s in seeds):
        raise LeanECGError("--seeds", f"must be comma-separated integers from 0 to {MAX_SEED}, got {value!r}")
    return seeds


def labels(
    task: Annotated[
        str,
        typer.Option(
            "--task",
            help="cinc2017 (records: scratch vs SimCLR vs CLOCS CMSC, writes labels.*) or mitdb-aami (beats, "
            "DS1 -> DS2, also CLOCS CMLC; writes labels_mitdb-aami.*).",
        ),
    ] = "cinc2017",
    data_dir: DataDirOpt = None,
    out: StudyOutOpt = Path("results"),
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated seeds, e.g. 0 or 0,1,2.")] = "0,1,2",
    threads: ThreadsOpt = 1,
    tiny: TinyOpt = False,
) -> None:
    """Label-efficiency curves on cinc2017 records or mitdb-aami beats, scratch vs contrastive pretraining.

    The study of `leanecg bench labels`, with the seeds given explicitly."""
    check_option("--threads", threads, 1, MAX_THREADS, integer=True)
    from leanecg.bench.labels import (
        LabelsConfig,
        MitdbLabelsConfig,
        labels_results_stem,
        run_labels_benchmark,
    )
    from leanecg.data import resolve_data_dir

    if task not in LABELS_TASKS:
        raise LeanECGError("--task", f"unknown labels task {task!r}; use {' or '.join(LABELS_TASKS)}")
    stem = labels_results_stem(task)
    config_type = MitdbLabelsConfig if task == "mitdb-aami" else LabelsConfig
    config = config_type(seeds=seeds_of(seeds), num_threads=threads)
    doc = run_labels_benchmark(resolve_data_dir(data_dir), out, config=config, tiny=tiny, log=log)
    log(f"{len(doc['results'])} entries in {out / f'{stem}.json'}")
    print_markdown_file(out / f"{stem}.md")


def fewshot(
    data_dir: DataDirOpt = None,
    out: StudyOutOpt = Path("results"),
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated seeds, e.g. 0 or 0,1,2.")] = "0",
    threads: ThreadsOpt = 1,
    tiny: TinyOpt = False,
    device: DeviceOpt = "cpu",
    amp: AmpOpt = False,
) -> None:
    """Few-shot rhythm classes on cinc2017: prototypical network, leave-one-class-out, k = 1, 5, 10."""
    check_option("--threads", threads, 1, MAX_THREADS, integer=True)
    from leanecg.bench.fewshot import FewShotConfig, run_fewshot_benchmark
    from leanecg.data import resolve_data_dir

    config = FewShotConfig(seeds=seeds_of(seeds), num_threads=threads)
    run_fewshot_benchmark(
        resolve_data_dir(data_dir), out, config=config, tiny=tiny, log=log, device=device, amp=amp
    )
    print_markdown_file(out / "fewshot.md")


def noisy_labels(
    data_dir: DataDirOpt = None,
    out: StudyOutOpt = Path("results"),
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated seeds, e.g. 0 or 0,1,2.")] = "0,1,2",
    threads: ThreadsOpt = 1,
    tiny: TinyOpt = False,
    model: Annotated[
        str, typer.Option("--model", help="Classic model (lightgbm, rf, mlp, ...) or zoo model (litenet).")
    ] = "lightgbm",
    width: Annotated[float, typer.Option("--width", help="Zoo model channel multiplier.")] = 1.0,
    epochs: Annotated[int, typer.Option("--epochs", help="Zoo model training epochs.")] = 10,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Zoo model batch size.")] = 64,
    crop_s: Annotated[float, typer.Option("--crop-s", help="Zoo model crop length, s.")] = 6.0,
    rates: Annotated[
        str, typer.Option("--rates", help="Comma-separated fractions of training labels flipped.")
    ] = "0.1,0.2,0.4",
    method: Annotated[
        str, typer.Option("--method", help="Correction: confident or threshold.")
    ] = "confident",
    agreement: Annotated[str, typer.Option("--agreement", help="none or prototype.")] = "none",
    threshold: Annotated[float, typer.Option("--threshold", help="Re-label threshold.")] = 0.95,
    repeats: Annotated[int, typer.Option("--repeats", help="Out-of-fold fold splits averaged.")] = 1,
    rounds: Annotated[int, typer.Option("--rounds", help="Rounds of correction.")] = 1,
    detector_epochs: Annotated[
        int | None,
        typer.Option(
            "--detector-epochs",
            help="Networks: epochs of the out-of-fold models that judge the labels (early learning).",
        ),
    ] = None,
    eval_split: Annotated[
        str,
        typer.Option(
            "--eval-split", help="test, or val: choose settings on the validation split (<stem>_val.*)."
        ),
    ] = "test",
) -> None:
    """Noisy labels on cinc2017: flip 10/20/40 % of the training labels, correct them (confident learning)."""
    check_option("--threads", threads, 1, MAX_THREADS, integer=True)
    from leanecg.bench.noisy_labels import NoisyConfig, noisy_results_stem, run_noisy_benchmark
    from leanecg.data import resolve_data_dir

    try:
        flipped = tuple(float(r) for r in rates.split(",") if r.strip())
    except ValueError:
        raise LeanECGError("--rates", f"must be comma-separated fractions, got {rates!r}") from None
    config = NoisyConfig(  # checks its fields and sets the method's defaults (errors name the flag)
        model=model,
        width=width,
        epochs=epochs,
        batch_size=batch_size,
        crop_s=crop_s,
        rates=flipped,
        seeds=seeds_of(seeds),
        num_threads=threads,
        method=method,
        agreement=agreement,
        threshold=threshold,
        n_repeats=repeats,
        rounds=rounds,
        detector_epochs=detector_epochs,
        eval_split=eval_split,
    )
    run_noisy_benchmark(resolve_data_dir(data_dir), out, config=config, tiny=tiny, log=log)
    print_markdown_file(out / f"{noisy_results_stem(config)}.md")
