"""file_lock: read-modify-write of one results file by several processes loses nothing."""

from __future__ import annotations

import json
from pathlib import Path

from leanecg.atomic import write_json


def _add_one_slowly(path: str, barrier, locked: bool) -> None:
    import contextlib
    import time

    from leanecg.atomic import file_lock

    barrier.wait(30)  # every process starts its read-modify-write at the same moment
    with file_lock(path) if locked else contextlib.nullcontext():
        n = json.loads(Path(path).read_text())["n"]
        time.sleep(0.05)  # another process reads the same n here unless the lock holds it off
        write_json(path, {"n": n + 1})


def test_file_lock_serialises_read_modify_write_across_processes(tmp_path) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")

    def run(locked: bool) -> int:
        path = tmp_path / f"results_{locked}.json"
        write_json(path, {"n": 0})
        barrier = ctx.Barrier(4)
        procs = [ctx.Process(target=_add_one_slowly, args=(str(path), barrier, locked)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert all(p.exitcode == 0 for p in procs)
        return json.loads(path.read_text())["n"]

    assert run(locked=False) < 4  # the race this guards against: updates are lost without the lock
    assert run(locked=True) == 4  # no update lost
    assert (tmp_path / ".results_True.json.lock").exists()
