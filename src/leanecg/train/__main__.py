"""``torchrun --nproc_per_node N -m leanecg.train COMMAND ...``: the torchrun worker under its documented name.

The worker is ``python -m leanecg.cli.worker`` (it joins the process group torchrun describes, then runs
``leanecg COMMAND ...`` in it) and lives in the CLI floor, above this one. This alias replaces its own process
with that worker (``os.execv``: same process id, same environment, so torchrun keeps supervising it) instead
of importing the CLI from the training floor.
"""

import os
import sys

from leanecg.train.distributed import WORKER_MODULE

if __name__ == "__main__":
    os.execv(sys.executable, [sys.executable, "-m", WORKER_MODULE, *sys.argv[1:]])
