"""Training examples from another source (``TaskData.extra_train``): mitdb-aami's AF beats from cinc2017.

Checked on real records: the AF beats are the task's inputs (windows, the task's feature columns), all N, from
cinc2017's AF records outside its test split, ventricular-looking beats dropped; they join every training part
(the final training, each CV fold's, the classic rows') and are never held out or scored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leanecg.errors import LeanECGError
from leanecg.tasks.base import TaskData
from leanecg.tasks.mitdb_aami import AF_MIN_QRS_CORR, AF_SKIP_BEATS, MitdbAamiTask

pytest.importorskip("torch")


def _task(**attrs: Any) -> MitdbAamiTask:
    task = MitdbAamiTask()
    task.train_uses_val, task.rr_context = False, True
    for k, v in attrs.items():
        setattr(task, k, v)
    return task


@pytest.fixture(scope="module")
def tiny_af(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> TaskData:
    for name in ("mitdb", "cinc2017"):
        if not (shared_data / name).is_dir():
            pytest.skip(f"{name} not in the shared data")
    mp = pytest.MonkeyPatch()
    mp.setenv("LEANECG_CACHE", str(tmp_path_factory.mktemp("cache")))
    try:
        yield _task(extra_af_beats=True).load(shared_data, tiny=True, seed=0)
    finally:
        mp.undo()


def test_af_beats_are_n_beats_of_cinc2017_af_records_outside_its_test_split(
    tiny_af: TaskData, shared_data: Path
) -> None:
    from leanecg.data import get_dataset

    extra = tiny_af.extra_train
    assert extra is not None and len(extra) > 8 * 5
    assert extra.X.shape[1:] == tiny_af.train.X.shape[1:]
    assert extra.features.shape[1] == tiny_af.train.features.shape[1] == len(_task().feature_names)
    assert np.isfinite(extra.features).all() and (extra.y == 0).all()
    ds = get_dataset("cinc2017")
    labels, test = ds.labels(shared_data), set(ds.split(shared_data)["test"])
    records = {g.split("/", 1)[1] for g in np.unique(extra.groups)}
    assert all(g.startswith("cinc2017/") for g in np.unique(extra.groups))
    assert records and all(labels[r] == ["A"] for r in records) and not records & test
    # the ventricular-looking beats are dropped
    qrs = _task(templates=True).feature_names.index("template_qrs_corr")
    assert (extra.features[:, qrs] >= AF_MIN_QRS_CORR).all()
    info = tiny_af.info["extra_train"]
    assert info["beats"] == len(extra) and info["records"] == len(records) and info["label"] == "N"
    assert str(AF_SKIP_BEATS + 1) in info["rule"]
    # what a rhythm-context model learns from them: irregular rhythms of N beats
    irr = list(_task().feature_names).index("rr_irregularity")
    assert np.median(extra.features[:, irr]) > 0.1


def test_extra_examples_join_training_parts_only(tiny_af: TaskData) -> None:
    from leanecg.bench.runner import cross_validate

    part = tiny_af.training_part(tiny_af.train)
    assert len(part) == len(tiny_af.train) + len(tiny_af.extra_train)
    np.testing.assert_array_equal(part.y[: len(tiny_af.train)], tiny_af.train.y)
    without = TaskData(**{**tiny_af.__dict__, "extra_train": None})
    assert without.training_part(tiny_af.train) is tiny_af.train
    task = _task(extra_af_beats=True)
    training = {"seed": 0, "tiny": True, "epochs": None, "max_train_seconds": None, "num_threads": 1}
    cv = cross_validate(task, "linear", tiny_af, k=2, log=lambda s: None, keep_proba=True, **training)
    plain = cross_validate(task, "linear", without, k=2, log=lambda s: None, keep_proba=True, **training)
    # the held-out pool is the task's own beats (no extra beat is held out or scored) ...
    assert cv["proba"].shape == plain["proba"].shape == (len(tiny_af.train), 4)
    assert [f["groups"] for f in cv["folds"]] == [f["groups"] for f in plain["folds"]]
    assert not any(str(g).startswith("cinc2017/") for f in cv["folds"] for g in f["groups"])
    # ... while every fold's model trained on them: it calls fewer beats S than the one without
    s_calls = lambda b: int((np.argmax(b["proba"], axis=1) == 1).sum())  # noqa: E731
    assert not np.allclose(cv["proba"], plain["proba"])
    assert s_calls(cv) <= s_calls(plain)


def test_the_model_card_and_an_ensemble_keep_the_extra_training_data(tiny_af: TaskData) -> None:
    """The package's own AF beats get a line under "Training data" in its card, and an ensemble carries each
    member's (``members_extra_train``, beside ``members_thinned_copies``) so its card names them too."""
    from leanecg.package.model import members_training_parts, model_card

    meta = json.loads((Path(__file__).parents[1] / "src/leanecg/zoo/mitdb-aami/model.json").read_text())
    info = tiny_af.info["extra_train"]
    base = {**meta["data"], "thinned_copies": None, "members_thinned_copies": None}
    assert "Extra training data" not in model_card({**meta, "data": base})
    own = model_card({**meta, "data": {**base, "extra_train": info}})
    line = next(ln for ln in own.splitlines() if ln.startswith("- Extra training data:"))
    assert info["source"] in line and f"{info['beats']:,} beats" in line and info["rule"] in line
    assert "never held out" in line and own.index(line) < own.index("## Test metrics")
    rule = {"rule": "each training record with >= 20 ectopic beats gets a copy"}
    metas = [
        {"model_name": "beatnet", "data": {"extra_train": info}},
        {"model_name": "linear", "data": {"thinned_copies": rule, "extra_train": None}},
        {"model_name": "mlp", "data": {}},
    ]
    parts = members_training_parts(metas)
    assert parts == {"members_extra_train": {"beatnet": info}, "members_thinned_copies": {"linear": rule}}
    assert members_training_parts(metas[2:]) == {}
    card = model_card({**meta, "data": {**base, **parts}})
    assert f"- Extra training data of the `beatnet` member: {info['source']}" in card
    assert "- Augmentation of the `linear` member: its training part" in card


def test_a_two_lead_model_cannot_take_one_lead_af_beats(shared_data: Path) -> None:
    task = _task(extra_af_beats=True, second_lead=True)
    with pytest.raises(LeanECGError, match="one lead"):
        task.af_beats(shared_data, tiny=True)


def test_classic_rows_train_on_the_extra_examples_too(
    tiny_af: TaskData, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LightGBM (the task's classic row) fits on the training part with the AF beats, in the final fit and in
    every CV fold; the scoring is of the task's own beats."""
    from leanecg.bench import runner

    fitted_on: list[int] = []
    fit = runner._fit_task_lightgbm

    def spy(task: Any, train: Any, *args: Any, **kwargs: Any) -> Any:
        fitted_on.append(len(train))
        return fit(task, train, *args, **kwargs)

    monkeypatch.setattr(runner, "_fit_task_lightgbm", spy)
    task = _task(extra_af_beats=True)
    result, _ = runner._run_classic(task, "lightgbm", tiny_af, seed=0, n_boot=20)
    assert fitted_on == [len(tiny_af.train) + len(tiny_af.extra_train)]
    assert int(np.sum(result["confusion"]["matrix"])) == len(tiny_af.test)
    training = {"seed": 0, "tiny": True, "epochs": None, "max_train_seconds": None, "num_threads": 1}
    cv = runner.cross_validate(
        task, "lightgbm", tiny_af, k=2, log=lambda s: None, keep_proba=True, **training
    )
    assert len(fitted_on) == 3 and all(n > len(tiny_af.extra_train) for n in fitted_on[1:])
    assert sum(fitted_on[1:]) < 2 * len(tiny_af.train) + 2 * len(
        tiny_af.extra_train
    )  # inner validation parts
    assert cv["proba"].shape == (len(tiny_af.train), 4)
