"""The error family: LeanECGError is a ValueError, its subclasses tell cases apart, messages stay one line."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import numpy as np
import pytest

from leanecg.config import config_from_dict, in_range, one_of, positive, validate_config
from leanecg.data import load_record
from leanecg.errors import (
    InvalidOptionError,
    LeanECGError,
    MissingDataError,
    UnreadableRecordError,
    check_choice,
    check_number,
    check_positive,
)


def test_a_bad_model_argument_is_caught_as_value_error() -> None:
    from leanecg.models import build_model

    with pytest.raises(ValueError, match="n_classes") as info:
        build_model("litenet", n_leads=1, n_classes=0)
    assert isinstance(info.value, LeanECGError)
    with pytest.raises(ValueError, match="unknown option"):
        build_model("litenet", n_leads=1, n_classes=2, no_such_option=3)


@pytest.mark.parametrize("cls", [UnreadableRecordError, MissingDataError, InvalidOptionError])
def test_subclasses_keep_the_lean_ecg_error_contract(cls: type[LeanECGError]) -> None:
    err = cls(Path("a") / "b.csv", "first line\n  second   line")
    assert isinstance(err, LeanECGError) and isinstance(err, ValueError)
    assert (err.path, err.problem, err.exit_code) == (str(Path("a") / "b.csv"), "first line second line", 2)
    assert str(err) == f"{err.path}: first line second line" and "\n" not in str(err)
    back = pickle.loads(pickle.dumps(err))  # worker processes send errors back pickled
    assert type(back) is cls and (back.path, back.problem) == (err.path, err.problem)


def test_readers_raise_the_subclass_that_fits(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="no such file"):
        load_record(tmp_path / "absent.csv", fs=250.0)
    bad = tmp_path / "bad.csv"
    bad.write_text("II,V5\n0.1,x\n0.2,0.3\n", encoding="utf-8")
    with pytest.raises(UnreadableRecordError, match="line 2"):
        load_record(bad, fs=250.0)
    good = tmp_path / "good.csv"
    good.write_text("time_s,II\n0,0.1\n0.004,0.2\n0.008,0.3\n", encoding="utf-8")
    with pytest.raises(InvalidOptionError, match="was given but"):
        load_record(good, fs=500.0)


@pytest.mark.parametrize(
    ("value", "kwargs", "problem"),
    [
        (0, {"low": 0, "low_open": True, "integer": True}, "must be a positive integer, got 0"),
        (2.5, {"low": 1, "integer": True}, "must be an integer >= 1, got 2.5"),
        (True, {"low": 0}, "must be a number >= 0, got True"),
        (float("nan"), {}, "must be a finite number, got nan"),
        (1.0, {"low": 0, "high": 1, "high_open": True}, "must be a number in [0, 1), got 1.0"),
        (11, {"low": 1, "high": 10, "integer": True}, "must be an integer from 1 to 10, got 11"),
        ("3", {"low": 0, "optional": True}, "must be a number >= 0 or null, got '3'"),
        (-1.0, {"low": 0, "unit": "seconds"}, "must be a number >= 0 (seconds), got -1.0"),
    ],
)
def test_check_number_names_the_argument(value: object, kwargs: dict, problem: str) -> None:
    with pytest.raises(InvalidOptionError) as info:
        check_number("arg", value, **kwargs)
    assert (info.value.path, info.value.problem) == ("arg", problem)


def test_check_number_accepts_numpy_scalars_and_none_when_optional() -> None:
    assert check_number("n", np.int64(3), low=1, integer=True) == 3
    assert check_positive("x", np.float32(0.5)) == np.float32(0.5)
    assert check_number("x", None, low=0, optional=True) is None


def test_check_choice_names_the_argument_and_lists_the_choices() -> None:
    assert check_choice("tail", "pad", ("drop", "pad")) == "pad"
    assert check_choice("tail", None, ("drop", "pad"), optional=True) is None
    with pytest.raises(InvalidOptionError) as info:
        check_choice("Cfg.tail", "wrap", ("drop", "pad"))
    assert (info.value.path, info.value.problem) == (
        "Cfg.tail",
        "unknown tail 'wrap'; choose one of drop, pad",
    )
    with pytest.raises(InvalidOptionError, match="unknown flag True"):
        check_choice("flag", True, (1, 2))  # a bool is not the integer 1


@dataclasses.dataclass
class _Demo:
    epochs: int = positive(10, integer=True)
    dropout: float = in_range(0.1, 0, 1, high_open=True)
    mode: str = one_of("fast", ("fast", "slow"))
    note: str = "free text"  # no declared check

    def __post_init__(self) -> None:
        validate_config(self)


def test_declared_field_checks_run_on_init_and_from_dict() -> None:
    with pytest.raises(InvalidOptionError, match=r"^_Demo\.epochs: must be a positive integer, got 0$"):
        _Demo(epochs=0)
    with pytest.raises(
        InvalidOptionError, match=r"_Demo\.mode: unknown mode 'medium'; choose one of fast, slow"
    ):
        _Demo(mode="medium")
    with pytest.raises(InvalidOptionError, match=r"^cfg\.json\.dropout: must be a number in \[0, 1\)"):
        config_from_dict(_Demo, {"dropout": 1.5}, "cfg.json", "demo")
    with pytest.raises(InvalidOptionError, match="unknown demo option"):
        config_from_dict(_Demo, {"epoch": 3}, "cfg.json", "demo")
    assert config_from_dict(_Demo, {"epochs": 3, "note": 5}, "cfg.json", "demo").epochs == 3


def test_training_configs_name_the_field() -> None:
    pytest.importorskip("torch")
    from leanecg.train import TrainConfig

    with pytest.raises(
        InvalidOptionError, match=r"^TrainConfig\.label_smoothing: must be a number in \[0, 1\)"
    ):
        TrainConfig(label_smoothing=1.0)
    with pytest.raises(ValueError, match=r"^run\.json\.grad_clip: must be a positive number or null"):
        TrainConfig.from_dict({"grad_clip": 0}, source="run.json")
