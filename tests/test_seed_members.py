"""Members of a seed ensemble (``benchmarks/beat_ablation.py`` rows): a task's ``model_width`` and
``cross_validate(..., fold_seed=...)``.

Checked on a tiny ``mitdb-aami`` run (a few real MIT-BIH records): ``model_width`` builds the zoo model at that
channel multiplier (fewer parameters, the width in its config); ``fold_seed`` keeps the record folds of
another training seed while the training seed still changes the model, and without it the training seed
draws the folds as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from leanecg.tasks.mitdb_aami import MitdbAamiTask

    if not (shared_data / "mitdb").is_dir():
        pytest.skip("mitdb not in the shared data")
    mp = pytest.MonkeyPatch()
    mp.setenv("LEANECG_CACHE", str(tmp_path_factory.mktemp("cache")))
    try:
        yield MitdbAamiTask().load(shared_data, tiny=True, seed=0)
    finally:
        mp.undo()


def _training(seed: int) -> dict[str, Any]:
    return {"seed": seed, "tiny": True, "epochs": None, "max_train_seconds": None, "num_threads": 1}


def test_model_width_builds_a_narrower_network(tiny: Any) -> None:
    from leanecg.bench.runner import run_deep
    from leanecg.tasks.mitdb_aami import MitdbAamiTask

    full, half = MitdbAamiTask(), MitdbAamiTask()
    half.model_width = 0.5
    r_full, _ = run_deep(full, "beatnet", tiny, n_boot=20, **_training(0))
    r_half, model = run_deep(half, "beatnet", tiny, n_boot=20, **_training(0))
    assert r_half["train"]["model_config"]["width"] == 0.5 and r_full["train"]["model_config"]["width"] == 1.0
    assert r_half["cost"]["params"] < 0.5 * r_full["cost"]["params"]
    assert sum(p.numel() for p in model.parameters()) == r_half["cost"]["params"]


def test_fold_seed_keeps_the_folds_of_another_training_seed(tiny: Any) -> None:
    from leanecg.bench.runner import cross_validate
    from leanecg.tasks.mitdb_aami import MitdbAamiTask

    task = MitdbAamiTask()

    def cv(seed: int, fold_seed: int | None) -> dict[str, Any]:
        return cross_validate(
            task,
            "beatnet",
            tiny,
            k=2,
            log=lambda s: None,
            keep_proba=True,
            fold_seed=fold_seed,
            **_training(seed),
        )

    base, member, other = cv(3, None), cv(1003, 3), cv(1003, None)
    assert member["seed"] == base["seed"] == 3 and other["seed"] == 1003
    assert [f["groups"] for f in member["folds"]] == [f["groups"] for f in base["folds"]]
    assert [f["groups"] for f in other["folds"]] != [f["groups"] for f in base["folds"]]
    assert not np.array_equal(member["proba"], base["proba"])  # another training seed, another model
