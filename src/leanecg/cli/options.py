"""Options shared by several ``leanecg`` commands (their ``--help`` text) and the range checks of numeric
options, run before any work starts: ``error: <option>: must be ..., got ...`` and exit 2."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from leanecg.errors import LeanECGError

DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Folder holding the datasets (default: $LEANECG_DATA or the user cache)."
    ),
]
FsOpt = Annotated[
    float | None,
    typer.Option(
        "--fs", help="Sampling rate in Hz, 1 to 100000 (required for CSV input, checked otherwise)."
    ),
]
QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="Print nothing on stderr but errors: no progress, lead choice or 'wrote' lines (and for "
        "stream no event lines).",
    ),
]
ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        help="A shipped model name (see `leanecg models`), a model package folder, or an exported .onnx file.",
    ),
]
LeadOpt = Annotated[
    str | None,
    typer.Option(
        "--lead",
        help="Record lead(s) that feed the model's input lead(s), in order, e.g. ECG1 (a Holter's first "
        "channel) or I,II. Default: the model's leads by name (MLII is II), else a single-lead record's one lead.",
    ),
]
RhythmGateOpt = Annotated[
    bool,
    typer.Option(
        "--rhythm-gate/--no-rhythm-gate",
        help="Apply the beat model's AF gate when it has one (its model card: a beat inside an irregularly "
        "irregular rhythm cannot be S; its S probability goes to N). --no-rhythm-gate: the network's own "
        "probabilities.",
    ),
]
DeviceOpt = Annotated[
    str,
    typer.Option(
        "--device",
        help="cpu, cuda (cuda:N) or auto (CUDA when torch sees a GPU, else the CPU); CUDA without a GPU is an error.",
    ),
]
AmpOpt = Annotated[
    bool,
    typer.Option(
        "--amp", help="Mixed precision on CUDA (bfloat16, else float16 with loss scaling); off on the CPU."
    ),
]
CheckpointDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--checkpoint-dir",
        help="Write a resumable training state after every epoch (model, optimiser, scheduler, sampler, RNG) "
        "into DIR/<task>/<model>/.",
    ),
]
ResumeOpt = Annotated[
    bool,
    typer.Option(
        "--resume",
        help="Continue each training from the last complete state in --checkpoint-dir (same final weights as an "
        "uninterrupted run); without a state yet, start afresh.",
    ),
]

#: Bounds of the numeric options (checked by :func:`check_option` before any work starts).
FS_RANGE_HZ = (1.0, 100_000.0)
#: Longest chunk / window / look-ahead of ``leanecg stream``: an hour of signal (the signal of one chunk is
#: held in memory and classified in one model call; an hour of 12 leads at 1 kHz is ~350 MB of float64).
MAX_STREAM_S = 3600.0
MAX_THREADS = 256
MAX_SEED = 2**32 - 1  # numpy's seed range
MAX_N_BOOT = 100_000  # the bootstrap draws an (n_boot, n_records) index array up front
#: ``leanecg stream`` prints one event line per this many events by default (``--events``); the same as
#: :data:`leanecg.deploy.stream.DEFAULT_EVENTS_EVERY` (not imported here: the CLI starts without numpy/scipy).
STREAM_EVENTS_EVERY = 100


def _num(x: float) -> str:
    if isinstance(x, int):
        return str(x)
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e6 else f"{x:g}"


def check_option(
    option: str,
    value: float | None,
    low: float,
    high: float | None = None,
    *,
    low_open: bool = False,
    integer: bool = False,
    unit: str = "",
) -> None:
    """Refuse an out-of-range numeric option with one line ``error: <option>: must be ..., got ...`` (exit
    2); ``None`` (option not given) passes. ``low_open``: ``value`` must be > ``low`` rather than >=."""
    if value is None:
        return
    v = float(value)
    if math.isfinite(v) and (v > low if low_open else v >= low) and (high is None or v <= high):
        return
    if integer:
        want = (
            ("a positive integer" if low == 1 else f"an integer >= {_num(low)}")
            if high is None
            else f"an integer from {_num(low)} to {_num(high)}"
        )
    else:
        want = f"a number {'more than' if low_open else 'at least'} {_num(low)}"
        want += f" and at most {_num(high)}" if high is not None else ""
    raise LeanECGError(option, f"must be {want}{unit}, got {_num(value)}")


def check_fs(fs: float | None) -> None:
    """A positive ``--fs`` outside :data:`FS_RANGE_HZ` names ``--fs``; zero, negative and non-finite values are
    left to the record readers, whose error names the record the rate was given for."""
    if fs is not None and math.isfinite(fs) and fs > 0:
        check_option("--fs", fs, *FS_RANGE_HZ, unit=" Hz")


def check_training_options(
    seed: int | None = None,
    epochs: int | None = None,
    max_train_seconds: float | None = None,
    threads: int | None = None,
    n_boot: int | None = None,
) -> None:
    """The options shared by bench, compress and pretrain."""
    check_option("--seed", seed, 0, MAX_SEED, integer=True)
    check_option("--epochs", epochs, 1, integer=True)
    check_option("--max-train-seconds", max_train_seconds, 0, low_open=True, unit=" seconds")
    check_option("--threads", threads, 1, MAX_THREADS, integer=True)
    check_option("--n-boot", n_boot, 1, MAX_N_BOOT, integer=True)


def train_runtime(device: str, amp: bool, checkpoint_dir: Path | None, resume: bool) -> Any:
    """The :class:`~leanecg.train.device.TrainRuntime` of ``--device``/``--amp``/``--checkpoint-dir``/``--resume``
    (checked before any work)."""
    from leanecg.train.device import TrainRuntime, resolve_device

    runtime = TrainRuntime(device=device, amp=amp, checkpoint_dir=checkpoint_dir, resume=resume)
    resolve_device(device)  # CUDA asked for without a GPU: refused now, not after loading the data
    return runtime


def split_names(value: str | None) -> list[str] | None:
    """A comma-separated option (``--models a,b``) as its non-empty names; ``None`` when not given."""
    return [m.strip() for m in value.split(",") if m.strip()] if value else None
