"""``python -m leanecg.cli.worker COMMAND ...``: one ``torchrun`` worker of a distributed ``leanecg`` command.

    torchrun --standalone --nproc_per_node 4 -m leanecg.cli.worker bench ptbxl-superclass --models litenet \\
        --device cuda --amp --checkpoint-dir ckpt --resume

Joins the process group ``torchrun`` describes in the environment (``nccl`` when ``--device`` resolves to
CUDA, else ``gloo``), then runs ``leanecg COMMAND ...`` in it: :func:`leanecg.train.trainer.fit` trains with
``DistributedDataParallel`` and only rank 0 writes results and checkpoints (and prints: the other ranks'
standard output is discarded; their errors still reach standard error). Started without ``torchrun`` it
runs the command in one process, like ``leanecg``. It lives in the CLI floor because it runs the CLI;
:func:`leanecg.train.distributed.torchrun_command` names it (:data:`~leanecg.train.distributed.WORKER_MODULE`).
"""

from __future__ import annotations

import os
import sys


def _option(argv: list[str], name: str) -> str | None:
    for i, a in enumerate(argv):
        if a == name and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def main(argv: list[str] | None = None) -> None:
    """Join the process group torchrun describes, then run ``leanecg <argv>`` in it."""
    from leanecg.cli.runner import error_line
    from leanecg.cli.runner import main as cli_main
    from leanecg.errors import LeanECGError
    from leanecg.train.distributed import destroy_process_group, init_process_group, leave_and_exit

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(__doc__ or "")
        return
    try:
        init_process_group(_option(argv, "--device") or "cpu")
    except LeanECGError as exc:
        sys.stderr.write(f"error: {error_line(exc, argv)}\n")
        sys.exit(exc.exit_code)
    if os.environ.get("RANK", "0") != "0":
        sys.stdout = open(os.devnull, "w", encoding="utf-8")
    sys.argv = ["leanecg", *argv]
    try:
        cli_main()
        code: int | str | None = 0
    except SystemExit as exc:
        code = exc.code
    except BaseException:
        destroy_process_group()
        raise
    if isinstance(code, str):  # sys.exit("message"): Python prints it and exits 1
        sys.stderr.write(code + "\n")
        code = 1
    leave_and_exit(code or 0)


if __name__ == "__main__":
    main()
