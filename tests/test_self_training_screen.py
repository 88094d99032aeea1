"""benchmarks/self_training_screen.py: per-record self-training of a beat model's probabilities (no label read)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")


def _script(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from conftest import REPO, load_benchmark

    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    return load_benchmark("self_training_screen.py")


def test_uncertain_beats_move_towards_the_confident_beats_they_resemble(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = _script(monkeypatch)
    rng = np.random.default_rng(0)
    n_n, n_s, n_u = 200, 20, 10
    z = np.concatenate(
        [rng.normal(0, 0.3, (n_n, 3)), rng.normal(-3, 0.3, (n_s, 3)), rng.normal(-3, 0.3, (n_u, 3))]
    )
    p = np.zeros((len(z), 4))
    p[:n_n] = [0.95, 0.03, 0.01, 0.01]  # confident N
    p[n_n : n_n + n_s] = [0.04, 0.94, 0.01, 0.01]  # confident S
    p[n_n + n_s :] = [0.55, 0.40, 0.04, 0.01]  # uncertain beats that look like the S ones
    out = script.self_train(p, z)
    assert np.allclose(out.sum(1), 1.0)
    assert np.all(out[n_n + n_s :, 1] > p[n_n + n_s :, 1] + 0.1)  # towards S
    assert np.all(out[n_n + n_s :].argmax(1) == 1)
    assert np.allclose(out[:, 2:], p[:, 2:])  # classes the record does not model keep their probability


def test_a_record_with_one_modelled_class_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    script = _script(monkeypatch)
    rng = np.random.default_rng(1)
    z = rng.normal(size=(50, 3))
    p = np.tile([0.96, 0.02, 0.01, 0.01], (50, 1))
    p[:4] = [0.05, 0.93, 0.01, 0.01]  # 4 confident S beats: fewer than MIN_BEATS
    assert np.array_equal(script.self_train(p, z), p)
    groups = np.array(["a"] * 25 + ["b"] * 25)
    assert np.array_equal(script.per_record(p, z, groups), p)
