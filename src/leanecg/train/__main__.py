"""``torchrun --nproc_per_node N -m leanecg.train COMMAND ...``: the torchrun worker under its documented name.

The same worker as ``python -m leanecg.cli.worker`` (:mod:`leanecg.cli.worker`: joins the process group
torchrun describes, then runs ``leanecg COMMAND ...`` in it). Like every ``__main__`` module this is an entry
point, run by ``python -m`` and never imported by the library, so it stands above every floor
(docs/architecture.md) and may call the CLI.
"""

from leanecg.cli.worker import main

if __name__ == "__main__":
    main()
