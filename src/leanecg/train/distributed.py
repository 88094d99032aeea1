"""``torch.distributed`` for LeanECG: DistributedDataParallel training launched by ``torchrun``.

Launch (one machine, N processes; ``gloo`` on the CPU, ``nccl`` on GPUs)::

    torchrun --standalone --nproc_per_node N -m leanecg.cli.worker bench TASK --models M [bench options]
    leanecg bench TASK --models M --nproc N          # the same command, launched for you

``python -m leanecg.cli.worker`` (:data:`WORKER_MODULE`) initialises the process group from the
environment ``torchrun`` sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``...) and runs the
``leanecg`` command given after it. :func:`leanecg.train.trainer.fit` sees the initialised group and
trains with ``DistributedDataParallel``: a ``DistributedSampler`` over records, the per-process batch is the
global ``batch_size`` divided by the world size, validation predictions are all-gathered and scored once
on rank 0, and only rank 0 writes checkpoints and results (:func:`is_main_process`).
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import shlex
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import torch
import torch.distributed as dist

#: How long a collective waits for the other processes (rank 0 evaluates and measures cost between
#: trainings while the others wait).
TIMEOUT = _dt.timedelta(hours=2)
#: The module ``torchrun`` runs in each process (:func:`torchrun_command`): it joins the process group and
#: runs the ``leanecg`` command; it lives in the CLI floor, so it is named here, never imported.
WORKER_MODULE = "leanecg.cli.worker"


def is_distributed() -> bool:
    """True inside an initialised process group (even of one process)."""
    return bool(dist.is_available() and dist.is_initialized())


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)``: ``(0, 1)`` outside a process group."""
    if not is_distributed():
        return 0, 1
    return int(dist.get_rank()), int(dist.get_world_size())


def is_main_process() -> bool:
    """True on rank 0 (and in every non-distributed run): the process that writes outputs."""
    return rank_and_world()[0] == 0


def launched_by_torchrun() -> bool:
    """True when the environment holds what ``torchrun`` sets for each worker."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"))


def backend_for(device: str) -> str:
    """``nccl`` when ``device`` resolves to CUDA, else ``gloo``."""
    from leanecg.train.device import resolve_device

    return "nccl" if resolve_device(device).type == "cuda" else "gloo"


def init_process_group(device: str = "cpu") -> bool:
    """Join the process group described by ``torchrun``'s environment; returns False when not under torchrun.

    Backend: ``nccl`` for CUDA (each process on GPU ``LOCAL_RANK``), ``gloo`` on the CPU.
    """
    if is_distributed():
        return True
    if not launched_by_torchrun():
        return False
    backend = backend_for(device)
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    # torchrun's store outlives a restart of the workers: without a per-attempt prefix, a restarted group
    # reads the addresses the dead attempt published and cannot connect (seen with gloo)
    store, rank, world = next(dist.rendezvous("env://", timeout=TIMEOUT))
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    store = dist.PrefixStore(f"leanecg/attempt-{attempt}", store)
    dist.init_process_group(backend=backend, store=store, rank=rank, world_size=world, timeout=TIMEOUT)
    return True


def destroy_process_group() -> None:
    """Leave the process group together: a barrier first, so no rank tears down its gloo connections while a
    peer still uses them (rank 0 writing results; seen as a rank aborting with "terminate called without an
    active exception" on a loaded machine)."""
    if is_distributed():
        dist.barrier()
        dist.destroy_process_group()


def leave_and_exit(code: int = 0) -> NoReturn:
    """Leave the process group (:func:`destroy_process_group`) and end this process with ``code`` at once,
    skipping the interpreter's finalisation.

    Why: a ``gloo`` worker thread destroys a finished collective (a barrier and the all-gather it waited for)
    after the Python side has seen it complete; when that destructor releases a tensor made in Python while
    the interpreter is finalising, it cannot take the GIL and the process aborts ("terminate called without
    an active exception", SIGABRT; core dump: ``~AsyncAllgatherWork`` under ``ProcessGroupGloo::runLoop``),
    about 1 run in 12 of a two-process run on a loaded 2-core machine, after all results were written. The
    standard streams and ``logging`` are flushed first; every file this package writes is complete by then
    (atomic writes), so nothing that finalisation would do is lost. Outside a process group it is
    ``sys.exit(code)``.
    """
    if not is_distributed():
        sys.exit(int(code))
    destroy_process_group()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken stream: nothing left to flush
            pass
    os._exit(int(code))


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (``[obj]`` outside a process group)."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def any_rank(flag: bool) -> bool:
    """True on every rank when ``flag`` is true on at least one (a stop decision all ranks must share)."""
    if not is_distributed():
        return bool(flag)
    t = torch.tensor([1 if flag else 0], dtype=torch.int64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def all_reduce_sum(values: Sequence[float]) -> list[float]:
    """Element-wise sums of ``values`` over the ranks (float64)."""
    if not is_distributed():
        return [float(v) for v in values]
    t = torch.tensor(list(values), dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return [float(v) for v in t.cpu().tolist()]


def torchrun_command(
    nproc: int, args: Sequence[str], *, max_restarts: int = 0, python: str | None = None
) -> list[str]:
    """The ``torchrun`` command line (as ``python -m torch.distributed.run``, the same program) that runs
    ``leanecg <args>`` in ``nproc`` processes on this machine, restarting the group up to ``max_restarts``
    times when a process fails."""
    return [
        python or sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        str(int(nproc)),
        "--max-restarts",
        str(int(max_restarts)),
        "-m",
        WORKER_MODULE,
        *args,
    ]


def format_command(cmd: Sequence[str]) -> str:
    return " ".join(shlex.quote(c) for c in cmd)
