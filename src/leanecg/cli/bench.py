"""``leanecg bench``: benchmark tasks, the whole-zoo leaderboard and the bench studies (leads, labels,
side-inputs); ``--nproc N`` relaunches the command under torchrun."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from leanecg.cli.options import (
    AmpOpt,
    CheckpointDirOpt,
    DataDirOpt,
    DeviceOpt,
    ResumeOpt,
    check_option,
    check_training_options,
    split_names,
    train_runtime,
)
from leanecg.cli.render import err_console, log, print_markdown_file, progress_bar
from leanecg.errors import LeanECGError

#: The bench studies: ``leanecg bench STUDY`` trains on the CPU in one process.
STUDIES = ("leads", "labels", "side-inputs")


def forwarded_args(ctx: typer.Context, drop: tuple[str, ...]) -> list[str]:
    """The command's arguments and non-default options, as a command line (``drop``: parameter names to leave
    out): what a launched copy of the command is given."""
    args: list[str] = [ctx.info_name or ""]
    for p in ctx.command.params:
        value = ctx.params.get(p.name or "")
        if p.name in drop:
            continue
        if p.param_type_name == "argument":
            args.append(str(value))
            continue
        if value is None or value == p.default or str(value) == str(p.default) or not p.opts:
            continue
        if getattr(p, "is_flag", False):
            if value:
                args.append(p.opts[0])
            elif getattr(p, "secondary_opts", None):
                args.append(p.secondary_opts[0])
            continue
        args += [p.opts[0], str(value)]
    return args


def launch_torchrun(ctx: typer.Context, nproc: int, max_restarts: int) -> int:
    """Run this command again in ``nproc`` processes under torchrun (``python -m torch.distributed.run ...
    -m leanecg.cli.worker``); returns torchrun's exit code."""
    import subprocess

    from leanecg.train.distributed import format_command, launched_by_torchrun, torchrun_command

    if launched_by_torchrun():
        raise LeanECGError(
            "--nproc", "is for launching torchrun; under torchrun its --nproc_per_node sets the processes"
        )
    cmd = torchrun_command(nproc, forwarded_args(ctx, ("nproc", "max_restarts")), max_restarts=max_restarts)
    log(f"launching {nproc} processes: {format_command(cmd)}")
    return subprocess.run(cmd, check=False).returncode


def bench(
    ctx: typer.Context,
    task: Annotated[
        str,
        typer.Argument(
            help="Benchmark task: mitdb-aami, cinc2017 or ptbxl-superclass; or a study: leads (reduced-lead sets), labels (label efficiency), side-inputs (age/sex on ptbxl-superclass, 5 seeds)."
        ),
    ],
    models: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated model names (default: the task's set), or 'all': the whole-zoo leaderboard "
            "into OUT/leaderboard/ (resumable: finished runs are kept); <zoo model>+lightgbm "
            "(e.g. beatnet+lightgbm) is the hybrid: LightGBM on the trained model's embedding + task features."
        ),
    ] = None,
    data_dir: DataDirOpt = None,
    out: Annotated[Path, typer.Option(help="Results root; files go to OUT/TASK/.")] = Path("results"),
    seed: Annotated[int, typer.Option(help="Seed for splits, training and bootstrap.")] = 0,
    epochs: Annotated[int | None, typer.Option(help="Override the task's number of epochs.")] = None,
    max_train_seconds: Annotated[
        float | None, typer.Option(help="Training time budget per model (seconds).")
    ] = None,
    threads: Annotated[int, typer.Option(help="torch threads for training.")] = 1,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples for the 95 % CIs.")] = 1000,
    tiny: Annotated[
        bool, typer.Option(help="Smoke run: a few records per split, 2 epochs (not a result).")
    ] = False,
    save_models: Annotated[
        Path | None,
        typer.Option(
            "--save-models",
            help="Save each trained deep model as a package in DIR/TASK/MODEL/ (use with --model).",
        ),
    ] = None,
    labels_task: Annotated[
        str,
        typer.Option(
            "--labels-task",
            help="labels study only: cinc2017 (records, writes labels.*) or mitdb-aami (beats, DS1 -> DS2, "
            "writes labels_mitdb-aami.*).",
        ),
    ] = "cinc2017",
    device: DeviceOpt = "cpu",
    amp: AmpOpt = False,
    nproc: Annotated[
        int,
        typer.Option(
            "--nproc",
            help="Train each deep model in N processes with DistributedDataParallel (launches torchrun: gloo on "
            "the CPU, NCCL on GPUs); the global batch stays the task's (N x batch/N); rank 0 writes the results.",
        ),
    ] = 1,
    max_restarts: Annotated[
        int,
        typer.Option(
            "--max-restarts",
            help="With --nproc: torchrun restarts all processes up to this many times after one fails (with "
            "--checkpoint-dir and --resume they continue from the last checkpoint).",
        ),
    ] = 0,
    checkpoint_dir: CheckpointDirOpt = None,
    resume: ResumeOpt = False,
    cv: Annotated[
        int | None,
        typer.Option(
            "--cv",
            help="K-fold cross-validation of each model's recipe inside the training data before the test "
            "score (mitdb-aami: leave-records-out over the 22 DS1 records; cinc2017: stratified over train + "
            "val); per-fold and pooled scores go into the result JSON's 'cv' block and the table.",
        ),
    ] = None,
) -> None:
    """Train, evaluate (with 95 % CIs) and cost-measure models on a task; write JSON, table, plots, HTML."""
    check_training_options(seed, epochs, max_train_seconds, threads, n_boot)
    if cv is not None:
        check_option("--cv", cv, 2, 1000, integer=True)
    check_option("--nproc", nproc, 1, 1024, integer=True)
    check_option("--max-restarts", max_restarts, 0, 1000, integer=True)
    runtime = train_runtime(device, amp, checkpoint_dir, resume)
    if max_restarts and nproc == 1:
        raise LeanECGError(
            "--max-restarts", "applies with --nproc N (N > 1): torchrun restarts the processes"
        )
    if task in STUDIES and (nproc > 1 or device != "cpu" or amp or checkpoint_dir is not None):
        raise LeanECGError(
            "--nproc" if nproc > 1 else "--device",
            f"the {task} study trains on the CPU in one process; --device, --amp, --nproc and --checkpoint-dir "
            "apply to the bench tasks (mitdb-aami, cinc2017, ptbxl-superclass)",
        )
    if nproc > 1:
        rc = launch_torchrun(ctx, nproc, max_restarts)
        if rc:
            raise typer.Exit(rc)
        return
    if task != "labels" and labels_task != "cinc2017":
        raise LeanECGError("--labels-task", f"applies to the labels study only, not {task!r}")
    common: dict[str, Any] = dict(seed=seed, epochs=epochs, threads=threads, n_boot=n_boot, tiny=tiny)
    if task in STUDIES:
        _bench_study(task, models, data_dir, out, common, max_train_seconds, save_models, cv, labels_task)
        return
    _bench_task(task, models, data_dir, out, common, max_train_seconds, save_models, cv, runtime)


def _bench_study(
    task: str,
    models: str | None,
    data_dir: Path | None,
    out: Path,
    common: dict[str, Any],
    max_train_seconds: float | None,
    save_models: Path | None,
    cv: int | None,
    labels_task: str,
) -> None:
    """``leanecg bench leads|labels|side-inputs``: the study's ``run_*_cli`` function, then its Markdown."""
    if task == "side-inputs":  # leanecg.bench.side_inputs: the same backbone with / without age and sex
        from leanecg.bench.side_inputs import run_side_inputs_cli

        if save_models is not None or cv:
            raise LeanECGError(
                "--save-models" if save_models is not None else "--cv",
                "is not supported by the side-inputs study",
            )
        with progress_bar() as bar:
            run_side_inputs_cli(models, data_dir, out, **common, progress=bar, log=log)
        print_markdown_file(out / "side_inputs.md")
        return
    if task == "leads":
        from leanecg.bench.leads import run_leads_cli as run_study

        if save_models is not None:
            raise LeanECGError("--save-models", "is not supported by the leads study")
        options: dict[str, Any] = {}
        stem = "leads"
    else:
        from leanecg.bench.labels import labels_results_stem
        from leanecg.bench.labels import run_labels_cli as run_study

        options = (
            {"task": labels_task}
            if save_models is None
            else {"save_models": save_models, "task": labels_task}
        )
        stem = labels_results_stem(labels_task)
    with progress_bar() as bar:
        run_study(
            models,
            data_dir,
            out,
            **common,
            max_train_seconds=max_train_seconds,
            progress=bar,
            log=log,
            **options,
        )
    print_markdown_file(out / f"{stem}.md")


def _bench_task(
    task: str,
    models: str | None,
    data_dir: Path | None,
    out: Path,
    common: dict[str, Any],
    max_train_seconds: float | None,
    save_models: Path | None,
    cv: int | None,
    runtime: Any,
) -> None:
    """``leanecg bench TASK``: :func:`~leanecg.bench.runner.run_benchmark`, or the leaderboard for ``--models all``."""
    from leanecg.bench.runner import run_benchmark
    from leanecg.data import resolve_data_dir
    from leanecg.tasks import TASKS

    if task not in TASKS:
        have = ", ".join([*TASKS, *STUDIES])
        raise LeanECGError("TASK", f"unknown benchmark task {task!r}; available: {have}")
    names = split_names(models)
    train = dict(
        epochs=common["epochs"],
        max_train_seconds=max_train_seconds,
        num_threads=common["threads"],
        n_boot=common["n_boot"],
        tiny=common["tiny"],
        log=log,
    )
    if names == ["all"]:  # the whole-zoo leaderboard (leanecg.bench.leaderboard), resumable
        from leanecg.bench.leaderboard import run_leaderboard

        if cv or save_models is not None:
            raise LeanECGError("--models", "all (the leaderboard) runs without --cv and --save-models")
        with progress_bar() as bar:
            paths = run_leaderboard(
                task,
                resolve_data_dir(data_dir, dataset=TASKS[task].dataset),
                out / "leaderboard",
                first_seed=common["seed"],
                progress=bar,
                **train,
            )
        print_markdown_file(paths["md"])
        return
    with progress_bar() as bar:
        summary = run_benchmark(
            task,
            names,
            resolve_data_dir(data_dir, dataset=TASKS[task].dataset),
            out,
            seed=common["seed"],
            progress=bar,
            save_models=save_models,
            runtime=runtime,
            cv=cv,
            **train,
        )
    from leanecg.train.distributed import is_main_process

    if not is_main_process():  # under torchrun: rank 0 writes and prints the results
        return
    print_markdown_file(out / task / "results.md")
    err_console.print(f"report: {summary['report']['html']}")
