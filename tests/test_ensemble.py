"""Ensembles of model packages (``leanecg ensemble``, :func:`leanecg.models.ensemble_of`): the averaged
probabilities, the config round trip, a package every inference command uses, one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from benchhelp import TinyBench
from clihelp import invoke_cli
from leanecg.bench.ensemble import _held_out_val, _missing_classes, _n_examples
from leanecg.data.arrays import ArraySplit
from leanecg.errors import LeanECGError
from leanecg.models import build_from_config, build_model, count_parameters, ensemble_of, model_config
from leanecg.package.model import model_card
from leanecg.tasks.base import TaskData


def test_ensemble_averages_member_probabilities_and_round_trips() -> None:
    torch.manual_seed(0)
    members = [build_model("beatnet", n_leads=1, n_classes=4, n_features=7).eval() for _ in range(3)]
    ens = ensemble_of(members).eval()
    x, f = torch.randn(5, 1, 126), torch.randn(5, 7)
    with torch.no_grad():
        want = torch.stack([m(x, features=f).softmax(-1) for m in members]).mean(0)
        got = ens(x, features=f).softmax(-1)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
    assert count_parameters(ens) == 3 * count_parameters(members[0])
    config = json.loads(json.dumps(model_config(ens)))
    assert config["name"] == "ensemble" and config["n_features"] == 7 and len(config["members"]) == 3
    again = build_from_config(config).eval()
    again.load_state_dict(ens.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(again(x, features=f), ens(x, features=f))
    # members must take the same inputs; an ensemble needs two
    other = build_model("beatnet", n_leads=2, n_classes=4, n_features=7)
    with pytest.raises(LeanECGError, match="n_leads"):
        ensemble_of([members[0], other])
    with pytest.raises(LeanECGError, match="at least 2"):
        ensemble_of(members[:1])
    with pytest.raises(ValueError, match="members"):
        build_from_config({**config, "extra": 1})


def _member_and_twin(bench: TinyBench, tmp_path: Path) -> tuple[Path, Path]:
    """The tiny run's beatnet package and a copy of it (a second member)."""
    member = bench.package("beatnet")
    twin = tmp_path / "twin"
    shutil.copytree(member, twin)
    return member, twin


def _ensemble_cli(
    bench: TinyBench, members: list[Path], out: Path, data_dir: Path, cwd: Path, n_boot: int
) -> subprocess.CompletedProcess[str]:
    """``leanecg ensemble MEMBERS --out OUT`` on the tiny run's data."""
    return invoke_cli(
        [
            "ensemble",
            *map(str, members),
            "--out",
            str(out),
            "--data-dir",
            str(data_dir),
            "--n-boot",
            str(n_boot),
        ],
        cwd,
        env={"LEANECG_CACHE": str(bench.cache)},
    )


def test_ensemble_cli_writes_a_package_that_predicts_like_its_members(
    tiny_mitdb_bench: TinyBench, shared_data: Path, tmp_path: Path
) -> None:
    from leanecg.data import load_record
    from leanecg.package import open_model

    member, twin = _member_and_twin(tiny_mitdb_bench, tmp_path)
    out = tmp_path / "ens"
    env = {"LEANECG_CACHE": str(tiny_mitdb_bench.cache)}
    proc = _ensemble_cli(tiny_mitdb_bench, [member, twin], out, shared_data, tmp_path, n_boot=50)
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((out / "model.json").read_text())
    assert meta["model_name"] == "beatnet_x2" and meta["model_config"]["name"] == "ensemble"
    assert meta["cost"]["params"] == 2 * json.loads((member / "model.json").read_text())["cost"]["params"]
    assert [m["package"] for m in meta["train"]["members"]] == [str(member), str(twin)]
    assert "an ensemble of 2 `beatnet` models" in (out / "MODEL_CARD.md").read_text()
    assert 0 <= meta["train"]["val_metric"]["sveb_veb_f1"] <= 1
    # two identical members: the ensemble's probabilities are the member's
    record = load_record(shared_data / "mitdb" / "100")
    a = open_model(str(member)).predict_beats(record)
    b = open_model(str(out)).predict_beats(record)
    np.testing.assert_array_equal(a.samples, b.samples)
    np.testing.assert_allclose(b.probs, a.probs, atol=1e-5)
    # the whole CLI uses it like any package
    csv_out = tmp_path / "beats.csv"
    proc = invoke_cli(
        ["beats", str(shared_data / "mitdb" / "100"), "--model", str(out), "--out", str(csv_out)],
        tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert csv_out.read_text().count("\n") == len(a.samples) + 1


def test_ensemble_keeps_the_members_af_gate_when_they_share_it(
    tiny_mitdb_bench: TinyBench, shared_data: Path, tmp_path: Path
) -> None:
    from leanecg.package import open_model, set_package_field

    member, twin = _member_and_twin(tiny_mitdb_bench, tmp_path)
    gated = tmp_path / "gated"
    shutil.copytree(member, gated)
    gate = {"rule": "af", "from": "S", "to": "N", "window": 32, "threshold": 0.12}
    for folder in (gated, twin):
        set_package_field(folder, "rhythm_gate", gate)
    out = tmp_path / "ens"
    assert (
        _ensemble_cli(tiny_mitdb_bench, [gated, twin], out, shared_data, tmp_path, n_boot=20).returncode == 0
    )
    assert open_model(str(out)).rhythm_gate == gate
    assert "AF gate (`rhythm_gate`)" in (out / "MODEL_CARD.md").read_text()
    # one member without it: no gate, and the card says why
    out2 = tmp_path / "ens2"
    assert (
        _ensemble_cli(tiny_mitdb_bench, [gated, member], out2, shared_data, tmp_path, n_boot=20).returncode
        == 0
    )
    assert open_model(str(out2)).rhythm_gate is None
    assert "different AF gates" in (out2 / "MODEL_CARD.md").read_text()


def test_ensemble_cli_refuses_mismatched_or_missing_packages(
    tiny_mitdb_bench: TinyBench, tiny_cinc2017_bench: TinyBench, tmp_path: Path
) -> None:
    beat = tiny_mitdb_bench.package("beatnet")
    record = tiny_cinc2017_bench.package("litenet")
    for args, needle in (
        ([str(beat), str(record)], "differs"),
        ([str(beat)], "at least 2"),
        ([str(beat), str(tmp_path / "nope")], "not a model package"),
        ([str(beat), str(beat / "model.json")], "is a file"),
    ):
        out = tmp_path / "out"
        proc = invoke_cli(["ensemble", *args, "--out", str(out)], tmp_path)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], proc.stderr
        assert not out.exists()


def test_task_for_package_rebuilds_the_packages_feature_columns() -> None:
    from leanecg.signal.beats import (
        RR_CONTEXT_FEATURE_NAMES,
        RR_FEATURE_NAMES,
        RR_MEDIAN_FEATURE_NAMES,
        TEMPLATE_FEATURE_NAMES,
    )
    from leanecg.tasks import get_task, task_for_package

    columns = list(
        RR_FEATURE_NAMES + RR_CONTEXT_FEATURE_NAMES + RR_MEDIAN_FEATURE_NAMES + TEMPLATE_FEATURE_NAMES
    )
    meta = {"task": {"name": "mitdb-aami"}, "input": {"features": columns}}
    task = task_for_package(meta)
    assert list(task.feature_names) == columns
    assert task is not get_task("mitdb-aami")  # a fresh instance: the registered task keeps its defaults
    assert list(get_task("mitdb-aami").feature_names) == list(RR_FEATURE_NAMES + TEMPLATE_FEATURE_NAMES)
    only_rr = task_for_package({**meta, "input": {"features": list(RR_FEATURE_NAMES)}})
    assert list(only_rr.feature_names) == list(RR_FEATURE_NAMES)
    with pytest.raises(ValueError, match="does not compute"):
        task_for_package({**meta, "input": {"features": [*RR_FEATURE_NAMES, "qrs_width_ms"]}})
    # the input leads too: a two-lead package gets the two-lead task, a one-lead one the default
    two = task_for_package({**meta, "input": {"leads": ["II", "V1"], "features": columns}})
    assert two.second_lead and two.input_leads == ["II", "V1"] and list(two.feature_names) == columns
    assert not task_for_package({**meta, "input": {"leads": ["II"], "features": columns}}).second_lead
    with pytest.raises(ValueError, match="does not feed"):
        task_for_package({**meta, "input": {"leads": ["I", "II"], "features": columns}})
    # record tasks keep their fixed features
    assert (
        task_for_package({"task": {"name": "cinc2017"}, "input": {"features": ["hrv_sdnn_ms"]}}).name
        == "cinc2017"
    )


def test_ensemble_of_members_trained_on_each_others_validation_records_validates_on_the_rest(
    tiny_mitdb_bench: TinyBench, shared_data: Path, tmp_path: Path
) -> None:
    """Seeded validation records differ between members: a record one member validated on, another
    trained on. The ensemble's validation metric and temperature use only the records none trained on;
    with none left it is refused."""
    rng = np.random.default_rng(0)

    def split(name: str, groups: list[str]) -> ArraySplit:
        n = len(groups)
        return ArraySplit(
            rng.normal(size=(n, 1, 8)), rng.integers(0, 2, n), groups=np.array(groups), name=name
        )

    data = TaskData(
        train=split("train", ["a", "a"]),
        val=split("val", ["v1", "v1", "v2", "v3", "v3"]),
        test=split("test", ["t", "t"]),
        fs=100.0,
        input_samples=8,
        pipeline=None,  # type: ignore[arg-type]
        info={"val_records": ["v1", "v2", "v3"], "n_val": 5},
    )
    held = _held_out_val(data, {"a", "v1", "v3"}, tmp_path)
    assert held.info["val_records"] == ["v2"] and held.info["n_val"] == 1 and len(held.val) == 1
    np.testing.assert_array_equal(held.val.X, data.val.X[2:3])
    assert held.train is data.train and held.test is data.test and data.info["n_val"] == 5
    assert _held_out_val(data, {"v1", "v2", "v3"}, tmp_path) is None  # nothing held out
    # what the members trained on together, and the classes a held-out part lacks (no temperature then)
    assert _n_examples(data, {"a", "v1"}) == 4
    assert _missing_classes(["N", "S", "V"], np.array([0, 2, 0])) == ["S"]
    assert _missing_classes(["A", "B"], np.array([[1, 0], [1, 0]])) == ["B"]
    # the notes reach the model card
    meta = json.loads((tiny_mitdb_bench.package("beatnet") / "model.json").read_text())
    assert "- The members were trained on different records." in model_card(
        {**meta, "notes": ["the members were trained on different records"]}
    )
    # through the CLI: the tiny run's one validation record trained on by the second member; the
    # ensemble is built and scored, with no temperature and a note saying why
    member, twin = _member_and_twin(tiny_mitdb_bench, tmp_path)
    meta = json.loads((twin / "model.json").read_text())
    meta["data"]["train_records"] = [*meta["data"]["train_records"], *meta["data"]["val_records"]]
    (twin / "model.json").write_text(json.dumps(meta))
    out = tmp_path / "ens"
    proc = _ensemble_cli(tiny_mitdb_bench, [member, twin], out, shared_data, tmp_path, n_boot=20)
    assert proc.returncode == 0, proc.stderr
    got = json.loads((out / "model.json").read_text())
    assert got["train"]["val_seen_by_members"] is True and "temperature" not in got
    assert any("no held-out validation data" in n for n in got["notes"])
    card = (out / "MODEL_CARD.md").read_text()
    assert "no temperature fitted" in card, card
    assert "- Every validation record is a training record of some member" in card, card


def test_ensemble_of_members_reading_different_feature_columns(
    tiny_mitdb_bench: TinyBench, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tiny run's v1 ``beatnet`` (13 beat features) beside a ``linear`` model on the 17 RR-context
    columns: the ensemble reads their union and hands each member its own columns, in torch, through the
    package's config and weights, in ``leanecg beats`` and in ONNX Runtime."""
    from leanecg.bench.ensemble import feature_union
    from leanecg.bench.runner import run_deep
    from leanecg.data import load_record
    from leanecg.deploy.onnx import export_onnx
    from leanecg.models.ensemble import Ensemble
    from leanecg.package.model import load_model_package, save_model_package
    from leanecg.provenance import collect_provenance
    from leanecg.signal.beats import (
        RR_CONTEXT_FEATURE_NAMES,
        RR_FEATURE_NAMES,
        TEMPLATE_FEATURE_NAMES,
    )
    from leanecg.tasks.mitdb_aami import MitdbAamiTask

    monkeypatch.setenv("LEANECG_CACHE", str(tiny_mitdb_bench.cache))
    task = MitdbAamiTask()
    task.rr_context = True
    data = task.load(shared_data, tiny=True, seed=0)
    training = {"seed": 0, "tiny": True, "epochs": None, "max_train_seconds": None, "num_threads": 1}
    result, model = run_deep(task, "linear", data, n_boot=20, **training)
    result["provenance"] = collect_provenance(seed=0, config=result["train"].get("config"))
    linear = save_model_package(tmp_path / "linear", model, task, data, result)
    member = tiny_mitdb_bench.package("beatnet")
    metas = [json.loads((p / "model.json").read_text()) for p in (member, linear)]
    union, columns = feature_union([member, linear], metas)
    assert union == list(RR_FEATURE_NAMES + RR_CONTEXT_FEATURE_NAMES + TEMPLATE_FEATURE_NAMES)
    assert columns == [[*range(7), *range(11, 17)], list(range(17))]

    out = tmp_path / "ens"
    proc = _ensemble_cli(tiny_mitdb_bench, [member, linear], out, shared_data, tmp_path, n_boot=20)
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((out / "model.json").read_text())
    assert meta["input"]["features"] == union and meta["model_name"] == "beatnet&linear"
    assert meta["model_config"]["feature_columns"] == columns and meta["model_config"]["n_features"] == 17
    # the package's model routes each member's columns: the average of the members on their own inputs
    ens = load_model_package(out).model.eval()
    assert isinstance(ens, Ensemble)
    a, b = (load_model_package(p).model.eval() for p in (member, linear))
    x, f = torch.randn(6, 1, 126), torch.randn(6, 17)
    with torch.no_grad():
        want = (a(x, features=f[:, columns[0]]).softmax(-1) + b(x, features=f).softmax(-1)) / 2
        torch.testing.assert_close(ens(x, features=f).softmax(-1), want, atol=1e-6, rtol=1e-5)
    # the CLI computes the union's columns for it
    csv_out = tmp_path / "beats.csv"
    env = {"LEANECG_CACHE": str(tiny_mitdb_bench.cache)}
    args = ["beats", str(shared_data / "mitdb" / "100"), "--model", str(out), "--out", str(csv_out)]
    proc = invoke_cli(args, tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    n_beats = len(
        load_model_package(member).predict_beats(load_record(shared_data / "mitdb" / "100")).samples
    )
    assert csv_out.read_text().count("\n") == n_beats + 1
    # one ONNX graph serves it (the export compares ONNX Runtime with torch on the same inputs)
    report = export_onnx(out, tmp_path / "ens.onnx")
    assert report.path.exists() and report.check["max_abs_prob_diff"] < 1e-4
    assert report.check["label_agreement"] == 1.0
    # record models, and members whose other inputs differ, still must match
    bad = [dict(m) for m in metas]
    bad[1] = {**bad[1], "input": {**bad[1]["input"], "before_s": None}}
    bad[0] = {**bad[0], "input": {**bad[0]["input"], "before_s": None}}
    with pytest.raises(LeanECGError, match="only beat models"):
        feature_union([member, linear], bad)
    other = [metas[0], {**metas[1], "input": {**metas[1]["input"], "fs": 250.0}}]
    with pytest.raises(LeanECGError, match="input differs"):
        feature_union([member, linear], other)
    # a member's column count must be its feature count
    with pytest.raises(LeanECGError, match="reads 13 feature"):
        Ensemble([a, b], feature_columns=[list(range(12)), list(range(17))], n_features=17)
    with pytest.raises(LeanECGError, match="outside"):
        Ensemble([a, b], feature_columns=[list(range(13)), list(range(1, 18))], n_features=17)
