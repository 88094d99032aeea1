"""The training-stack commands besides bench: ``leanecg export`` (ONNX), ``leanecg compress`` (distil, prune,
quantize) and ``leanecg pretrain`` (contrastive self-supervised pretraining)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leanecg.cli.options import (
    MAX_SEED,
    AmpOpt,
    DataDirOpt,
    DeviceOpt,
    QuietOpt,
    check_option,
    check_training_options,
)
from leanecg.cli.render import console, err_console, log, progress_bar, status_line, table
from leanecg.errors import LeanECGError


def export_model(
    model: Annotated[
        str, typer.Argument(help="A shipped model name (see `leanecg models`) or a model package folder.")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="The .onnx file to write; its metadata goes to FILE.json.")
    ],
    fmt: Annotated[str, typer.Option("--format", help="Export format (onnx).")] = "onnx",
    int8: Annotated[
        bool,
        typer.Option(
            "--int8",
            help="Static int8 quantization, calibrated on the task's training split (without --data-dir and "
            "with no training data found: on the calibration subset shipped with the model).",
        ),
    ] = False,
    data_dir: DataDirOpt = None,
    n_calibration: Annotated[
        int | None,
        typer.Option(
            "--n-calibration", help="Training records / beats to calibrate on (default 256 / 4096)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the calibration draw.")] = 0,
    embed_metadata: Annotated[
        bool,
        typer.Option(
            "--embed-metadata",
            help="Also store the metadata in the .onnx file (self-contained, ~20 kB more).",
        ),
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Export a model to ONNX (fp32 or int8) that runs with numpy + onnxruntime only (`--model FILE.onnx`)."""
    from leanecg.deploy.onnx import export_onnx

    check_option("--n-calibration", n_calibration, 1, integer=True)
    check_option("--seed", seed, 0, MAX_SEED, integer=True)
    if fmt != "onnx":
        raise LeanECGError("--format", f"unknown export format {fmt!r}; supported: onnx")
    with status_line(quiet) as bar:
        task = bar.add_task(f"export {model}", total=None)

        def on_progress(step: str, done: int, total: int | None) -> None:
            bar.update(task, description=f"export {model}: {step}", completed=done, total=total)

        report = export_onnx(
            model,
            out,
            int8=int8,
            data_dir=data_dir,
            n_calibration=n_calibration,
            seed=seed,
            embed_metadata=embed_metadata,
            progress=on_progress,
        )
    check = report.check
    calib = ""
    if report.calibration:
        source = report.calibration.get("source") or "the training split"
        calib = f", calibrated on {report.calibration['n_inputs']} training inputs ({source})"
    if quiet:
        return
    err_console.print(
        f"wrote {report.path} ({report.precision}, {report.bytes:,} bytes{calib}) and {report.sidecar.name}; "
        f"vs the torch model on {check['n_inputs']} {check['inputs']} inputs: label agreement "
        f"{check['label_agreement']:.1%}, max probability difference {check['max_abs_prob_diff']:.2g}",
        markup=False,
    )


def compress_cmd(
    model: Annotated[
        str, typer.Argument(help="A shipped model name (see `leanecg models`) or a model package folder.")
    ],
    distill_from: Annotated[
        str | None,
        typer.Option("--distill-from", help="Teacher model package (same task) to distil from first."),
    ] = None,
    prune: Annotated[
        float | None,
        typer.Option("--prune", help="Fraction of MACs to remove by structured channel pruning, e.g. 0.5."),
    ] = None,
    quantize: Annotated[
        str | None,
        typer.Option("--quantize", help="int8: quantization-aware fine-tuning + ONNX Runtime static int8."),
    ] = None,
    data_dir: DataDirOpt = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder (package, card, int8 ONNX).")] = Path(
        "compressed"
    ),
    results: Annotated[
        Path | None,
        typer.Option("--results", help="Results root for the Pareto report (default: OUT/results)."),
    ] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Epochs of each fine-tune (10).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of fine-tuning and the bootstrap.")] = 0,
    max_train_seconds: Annotated[
        float | None, typer.Option("--max-train-seconds", help="Time budget of each fine-tune (seconds).")
    ] = None,
    threads: Annotated[int, typer.Option("--threads", help="torch threads for training.")] = 1,
    n_boot: Annotated[int, typer.Option("--n-boot", help="Bootstrap resamples for the 95 % CIs.")] = 1000,
    device: DeviceOpt = "cpu",
    amp: AmpOpt = False,
) -> None:
    """Distil (--distill-from), prune (--prune) and quantize (--quantize int8) a model; before/after card."""
    from leanecg.compress.compose import compress_package

    check_training_options(seed, epochs, max_train_seconds, threads, n_boot)
    card = compress_package(
        model,
        out,
        distill_from=distill_from,
        prune=prune,
        quantize=quantize,
        data_dir=data_dir,
        results_dir=results,
        epochs=epochs,
        seed=seed,
        max_train_seconds=max_train_seconds,
        threads=threads,
        n_boot=n_boot,
        log=log,
        device=device,
        amp=amp,
    )
    pm = card["primary_metric"]
    t = table(
        f"{card['model']} -> {card['compression']} ({card['task']})",
        ["model", "runtime", pm, "params", "MACs", "bytes", "latency ms"],
        right=("params", "MACs", "bytes", "latency ms"),
    )
    for r in card["rows"]:
        m = r["metrics"].get(pm, {})
        value = "n/a" if m.get("value") is None else f"{m['value']:.3f}"
        if m.get("ci_low") is not None and m.get("ci_high") is not None:
            value += f" [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"
        t.add_row(
            r["model"],
            r["backend"],
            value,
            *("n/a" if r[k] is None else f"{r[k]:,}" for k in ("params", "macs", "bytes")),
            "n/a" if r["latency_ms_median"] is None else f"{r['latency_ms_median']:.3f}",
        )
    console.print(t)
    err_console.print(f"card: {out / 'COMPRESS_CARD.md'}; package: {card['files']['package']}", markup=False)


def pretrain(
    method: Annotated[str, typer.Option("--method", help="simclr, cmsc, cmlc or cmsmlc (CLOCS).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for encoder.pt (weights only) + encoder.json.")],
    dataset: Annotated[
        str, typer.Option("--dataset", help="cinc2017 or ptbxl: its training split, labels unused.")
    ] = "cinc2017",
    data_dir: DataDirOpt = None,
    model: Annotated[str, typer.Option("--model", help="Zoo model whose encoder is pretrained.")] = "litenet",
    width: Annotated[float, typer.Option(help="Channel multiplier of the model.")] = 1.0,
    epochs: Annotated[int, typer.Option(help="Passes over the unlabelled records.")] = 20,
    batch_size: Annotated[int, typer.Option(help="Records per step.")] = 64,
    seed: Annotated[int, typer.Option(help="Seed for initialisation, batches, crops and augmentation.")] = 0,
    threads: Annotated[int, typer.Option(help="torch threads.")] = 1,
    max_train_seconds: Annotated[float | None, typer.Option(help="Time budget (seconds).")] = None,
    tiny: Annotated[bool, typer.Option(help="Smoke run on a few records (not a result).")] = False,
    device: DeviceOpt = "cpu",
    amp: AmpOpt = False,
) -> None:
    """Contrastive self-supervised pretraining (SimCLR / CLOCS) of a model's encoder on unlabelled records."""
    from leanecg.ssl.pretrain import pretrain_encoder

    check_training_options(seed, epochs, max_train_seconds, threads)
    check_option("--width", width, 0, 16, low_open=True)
    check_option("--batch-size", batch_size, 2, integer=True, unit=" (contrastive pairs need 2 records)")
    with progress_bar() as bar:
        meta = pretrain_encoder(
            method,
            dataset,
            data_dir,
            out,
            model_name=model,
            width=width,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            num_threads=threads,
            max_train_seconds=max_train_seconds,
            tiny=tiny,
            progress=bar,
            device=device,
            amp=amp,
        )
    res = meta["result"]
    log(
        f"{method} on {meta['data']['n_records']} {dataset} records: {res['steps']} steps, "
        f"final loss {res['history'][-1]['loss']:.4f}, {res['seconds']:.0f} s; encoder saved to {out}"
    )


def ensemble(
    packages: Annotated[
        list[Path], typer.Argument(help="Two or more model package folders of the same task and inputs.")
    ],
    out: Annotated[Path, typer.Option("--out", help="The ensemble's package folder to write.")],
    data_dir: DataDirOpt = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Package name shown by `leanecg models` (default TASK/MODEL_xK)."),
    ] = None,
    n_boot: Annotated[int, typer.Option("--n-boot", help="Bootstrap resamples of the test CIs.")] = 1000,
    quiet: QuietOpt = False,
) -> None:
    """Average trained model packages (e.g. one recipe, several seeds) into one package, scored once on the
    task's test split; `leanecg predict / beats / stream / export` use it like any model."""
    from leanecg.bench.ensemble import ensemble_packages

    check_option("--n-boot", n_boot, 1, integer=True)
    path = ensemble_packages(packages, out, data_dir=data_dir, name=name, n_boot=n_boot)
    if not quiet:
        log(f"wrote {path}")
