"""Where training runs and in which precision: ``--device cpu|cuda|auto`` and ``--amp``.

* :func:`resolve_device` turns a device name into a ``torch.device``: ``"auto"`` is CUDA when torch sees a
  GPU, else the CPU; ``"cuda"`` without a GPU is an error (never a silent fall-back). Under ``torchrun``
  ``"cuda"`` / ``"auto"`` pick the process's own GPU (``LOCAL_RANK``).
* :func:`amp_settings` decides whether automatic mixed precision is used: only on CUDA (``--amp`` on the
  CPU is switched off and says so); bfloat16 where the GPU supports it (no loss scaling needed), else
  float16 with a ``torch.amp.GradScaler``.
* :func:`autocast` is the forward-pass context (a no-op when AMP is off).

The resolved device, whether AMP ran and its dtype are recorded in every training result
(``TrainResult.device``, ``amp``, ``amp_dtype``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from leanecg.errors import LeanECGError

#: Device names the command line accepts (``cuda:N`` is accepted too).
DEVICES = ("cpu", "cuda", "auto")


def check_device_name(name: str, source: str = "device") -> str:
    """``name`` if it is ``cpu``, ``cuda``, ``cuda:N`` or ``auto``; anything else raises :class:`LeanECGError`."""
    if not isinstance(name, str):
        raise LeanECGError(source, f"must be cpu, cuda or auto, got {name!r}")
    if name == "auto":
        return name
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise LeanECGError(source, f"must be cpu, cuda or auto, got {name!r}") from None
    if dev.type not in ("cpu", "cuda"):
        raise LeanECGError(source, f"must be cpu, cuda or auto, got {name!r}")
    return name


def cuda_available() -> bool:
    """True when torch sees at least one CUDA GPU (False on a CPU-only build)."""
    return bool(torch.cuda.is_available())


def resolve_device(name: str = "cpu", source: str = "device") -> torch.device:
    """The ``torch.device`` to train on for ``name`` (``cpu``, ``cuda``, ``cuda:N`` or ``auto``).

    ``auto``: ``cuda`` when a GPU is visible, else ``cpu``. Under ``torchrun`` (``LOCAL_RANK`` set) a bare
    ``cuda`` / ``auto`` means this process's GPU, ``cuda:<LOCAL_RANK>``.

    Raises:
        LeanECGError: an unknown name, or CUDA requested while torch sees no GPU.
    """
    name = check_device_name(name, source)
    if name == "auto":
        name = "cuda" if cuda_available() else "cpu"
    dev = torch.device(name)
    if dev.type == "cuda":
        if not cuda_available():
            raise LeanECGError(
                source,
                "CUDA was requested but torch sees no GPU (a CPU-only torch build, or no driver); set "
                "`device` to cpu or auto",
            )
        if dev.index is None:
            local = os.environ.get("LOCAL_RANK")
            index = int(local) if local is not None and local.isdigit() else torch.cuda.current_device()
            dev = torch.device("cuda", index % max(torch.cuda.device_count(), 1))
        if dev.index >= torch.cuda.device_count():
            raise LeanECGError(source, f"{dev} does not exist: torch sees {torch.cuda.device_count()} GPU(s)")
    return dev


@dataclass(frozen=True)
class AmpSettings:
    """Whether mixed precision runs, in which dtype, and whether gradients need loss scaling."""

    enabled: bool
    dtype: torch.dtype | None = None
    scaled: bool = False
    note: str | None = None

    @property
    def dtype_name(self) -> str | None:
        return None if self.dtype is None else str(self.dtype).removeprefix("torch.")


def amp_settings(device: torch.device, amp: bool) -> AmpSettings:
    """Mixed precision for ``device``: on CUDA bfloat16 (when supported) or float16 with loss scaling; off on
    the CPU (``note`` says why when it was asked for)."""
    if not amp:
        return AmpSettings(False)
    if device.type != "cuda":
        return AmpSettings(
            False, note=f"--amp ignored: mixed precision is used on CUDA only, not on {device.type}"
        )
    if torch.cuda.is_bf16_supported():
        return AmpSettings(True, torch.bfloat16, scaled=False)
    return AmpSettings(True, torch.float16, scaled=True)


def autocast(device: torch.device, settings: AmpSettings) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``device`` with ``settings`` (a no-op context when AMP is off)."""
    if not settings.enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=settings.dtype)


def grad_scaler(device: torch.device, settings: AmpSettings) -> torch.amp.GradScaler:
    """A ``torch.amp.GradScaler``, enabled only for float16 AMP (a pass-through otherwise)."""
    return torch.amp.GradScaler(device.type, enabled=settings.enabled and settings.scaled)


@contextlib.contextmanager
def on_device(device: torch.device) -> Iterator[None]:
    """Make ``device`` the current CUDA device inside the block (nothing to do on the CPU)."""
    if device.type == "cuda" and device.index is not None:
        with torch.cuda.device(device):
            yield
    else:
        yield


@dataclass
class TrainRuntime:
    """Where and how a command's trainings run, apart from the recipe: what ``--device``, ``--amp``,
    ``--checkpoint-dir`` and ``--resume`` set (bench, compress, pretrain).

    Attributes:
        device: ``cpu``, ``cuda`` (``cuda:N``) or ``auto``.
        amp: mixed precision on CUDA (ignored on the CPU).
        num_workers: ``DataLoader`` worker processes cutting training batches (``TrainConfig.num_workers``).
        checkpoint_dir: root of the resumable training states; each training writes into
            ``checkpoint_dir/<parts...>`` (e.g. ``<task>/<model>``); ``None``: no checkpoints.
        resume: continue each training from its last complete state.
    """

    device: str = "cpu"
    amp: bool = False
    num_workers: int = 0
    checkpoint_dir: str | os.PathLike | None = None
    resume: bool = False

    def __post_init__(self) -> None:
        check_device_name(self.device)
        if self.resume and self.checkpoint_dir is None:
            raise LeanECGError("resume", "needs `checkpoint_dir` (the folder the interrupted run wrote)")

    def apply(self, config: object) -> object:
        """Set ``device``, ``amp`` and ``num_workers`` on a ``TrainConfig`` (returned, validated)."""
        config.device = self.device  # type: ignore[attr-defined]
        config.amp = self.amp  # type: ignore[attr-defined]
        config.num_workers = self.num_workers  # type: ignore[attr-defined]
        config.validate()  # type: ignore[attr-defined]
        return config

    def fit_kwargs(self, *parts: str) -> dict[str, object]:
        """``checkpoint_dir`` / ``resume`` keyword arguments of :func:`leanecg.train.trainer.fit` for the
        training named by ``parts``."""
        if self.checkpoint_dir is None:
            return {}
        from pathlib import Path

        return {"checkpoint_dir": Path(self.checkpoint_dir).joinpath(*parts), "resume": self.resume}
