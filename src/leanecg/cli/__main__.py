"""``python -m leanecg.cli``: the ``leanecg`` command."""

from leanecg.cli import main

main()
