"""QRS orientation (``leanecg.signal.polarity``, a beat package's ``input.orient_polarity``).

Checked: a record's sign is the majority of its beats' polarities, ties upright; orienting makes a negated
record's windows equal the original's; the online majority is causal, independent of how the beats are
batched, and ends at the record's sign; bad windows are refused; a package that orients its lead gives the
same probabilities on a real MIT-BIH record (207, whose MLII points down) and on its negation, offline and in
a stream, where the same package without it does not; the task orients training windows alike; the package
field is validated on load and stated in the model card; ``predict_beats`` reports the share of upright beats
as recorded, and ``leanecg beats`` names a lead whose QRS mostly points down for a model that reads it as it is.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leanecg.data import load_record
from leanecg.data.record import Record
from leanecg.errors import LeanECGError
from leanecg.signal.polarity import RunningPolarity, beat_polarity, orient_windows, record_polarity


def _windows(heights: list[float], n_leads: int = 1, r_index: int = 5, n: int = 12) -> np.ndarray:
    """Beat windows whose R sample has the given heights over a flat, slightly noisy baseline."""
    rng = np.random.default_rng(0)
    w = rng.normal(0.0, 0.01, size=(len(heights), n_leads, n))
    w[:, :, r_index] += np.asarray(heights)[:, None]
    return w


def test_record_sign_is_the_majority_of_beats() -> None:
    assert record_polarity(_windows([1.0, 0.8, -0.6]), 5).tolist() == [1.0]
    assert record_polarity(_windows([-1.0, -0.8, 0.6]), 5).tolist() == [-1.0]
    assert record_polarity(_windows([1.0, -1.0]), 5).tolist() == [1.0]  # a tie stays upright
    assert record_polarity(np.zeros((0, 2, 12)), 5).tolist() == [1.0, 1.0]  # no beats: as recorded
    two = _windows([1.0, 0.9, 1.1], n_leads=2)
    two[:, 1] *= -1  # the second lead is upside down
    assert record_polarity(two, 5).tolist() == [1.0, -1.0]
    assert beat_polarity(two, 5).tolist() == [[True, False]] * 3


def test_orienting_makes_a_negated_record_equal_the_original() -> None:
    w = _windows([1.0, 0.7, -0.5, 1.2], n_leads=2)
    a = orient_windows(w, record_polarity(w, 5))
    b = orient_windows(-w, record_polarity(-w, 5))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, w)  # already upright: unchanged
    assert orient_windows(w.astype(np.float32), np.array([-1.0, 1.0])).dtype == np.float32


def test_running_majority_is_causal_batch_free_and_ends_at_the_record_sign() -> None:
    heights = [-1.0, 1.0, 1.0, -1.0, -1.0, -1.0, 1.0]
    w = _windows(heights)
    whole = RunningPolarity(1, 5).update(w)[:, 0]
    # beat i: majority over beats 0..i (ties upright)
    expected = [
        1.0 if 2 * sum(h > 0 for h in heights[: i + 1]) >= i + 1 else -1.0 for i in range(len(heights))
    ]
    assert whole.tolist() == expected
    rp = RunningPolarity(1, 5)
    parts = [rp.update(w[a:b])[:, 0] for a, b in ((0, 2), (2, 2), (2, 5), (5, 7))]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert whole[-1] == record_polarity(w, 5)[0]


def test_bad_windows_are_refused() -> None:
    with pytest.raises(LeanECGError, match="n_beats, n_leads, n_samples"):
        record_polarity(np.zeros((3, 12)), 5)
    with pytest.raises(LeanECGError, match="inside the window"):
        beat_polarity(np.zeros((3, 1, 12)), 12)
    with pytest.raises(LeanECGError, match="lead"):
        RunningPolarity(2, 5).update(np.zeros((3, 1, 12)))


def _orienting(pkg: Any, on: bool = True) -> Any:
    return dataclasses.replace(pkg, meta={**pkg.meta, "input": {**pkg.meta["input"], "orient_polarity": on}})


@pytest.fixture(scope="module")
def record_207(mitdb_dir: Path) -> Record:
    rec = load_record(mitdb_dir / "207", annotations=False)
    return dataclasses.replace(rec, signal=rec.signal[int(300 * rec.fs) : int(390 * rec.fs)])  # QRS down


def test_an_orienting_package_ignores_the_lead_sign(record_207: Record) -> None:
    from leanecg.package import open_model

    shipped = open_model("mitdb-aami")
    negated = dataclasses.replace(record_207, signal=-record_207.signal)
    oriented = _orienting(shipped)
    a, b = oriented.predict_beats(record_207), oriented.predict_beats(negated)
    np.testing.assert_array_equal(a.samples, b.samples)
    np.testing.assert_allclose(a.probs, b.probs, atol=1e-6)
    # the shipped package (no orientation) sees another morphology in the negated record
    c, d = shipped.predict_beats(record_207), shipped.predict_beats(negated)
    np.testing.assert_array_equal(c.samples, d.samples)
    assert np.abs(c.probs - d.probs).max() > 0.1
    # 207's MLII points down: the orienting package turns it over, so its record reads like the negation
    np.testing.assert_allclose(a.probs, d.probs, atol=1e-6)


def test_an_orienting_stream_ignores_the_lead_sign(record_207: Record) -> None:
    from leanecg.data.stream_sources import record_chunks
    from leanecg.deploy.stream import StreamClassifier, run_stream
    from leanecg.package import open_model

    shipped = open_model("mitdb-aami")
    oriented = _orienting(shipped)
    negated = dataclasses.replace(record_207, signal=-record_207.signal)

    def stream(pkg: Any, rec: Record) -> Any:
        return run_stream(StreamClassifier(pkg, rec.fs, rec.leads, name=rec.name), record_chunks(rec, 2.0))

    a, b = stream(oriented, record_207), stream(oriented, negated)
    assert a.keys == b.keys and len(a.keys) > 50
    assert a.labels == b.labels
    np.testing.assert_allclose(a.probs, b.probs, atol=1e-6)
    # beat by beat the running majority is "down" here from the first beat on: the stream turns the record
    # over, as the package without orientation sees the negated record
    c, d = stream(shipped, record_207), stream(shipped, negated)
    np.testing.assert_allclose(a.probs, d.probs, atol=1e-6)
    assert a.labels != c.labels


def test_the_task_orients_training_windows(mitdb_dir: Path) -> None:
    from leanecg.signal.rpeaks import detect_rpeaks
    from leanecg.tasks.mitdb_aami import MitdbAamiTask

    task = MitdbAamiTask()
    task.use_orientation(True)
    rec = load_record(mitdb_dir / "207", annotations=False)
    x, _ = task.pipeline()(rec.signal[int(300 * rec.fs) : int(360 * rec.fs)], rec.fs, rec.leads)
    peaks = detect_rpeaks(x[:, 0], task.fs_model)
    w, f = task.beat_inputs(x, peaks, task.feature_names)
    wn, fn = task.beat_inputs(-x, peaks, task.feature_names)
    np.testing.assert_allclose(w, wn, atol=1e-9)
    np.testing.assert_allclose(f, fn, atol=1e-6)  # the beat features do not depend on the sign
    assert record_polarity(w, round(task.before_s * task.fs_model)).tolist() == [1.0]
    task.use_orientation(False)
    w0, _ = task.beat_inputs(x, peaks, task.feature_names)
    np.testing.assert_allclose(w0, -w, atol=1e-9)  # 207 as recorded points down


def test_the_package_field_is_validated_and_carded() -> None:
    from leanecg.package import open_model
    from leanecg.package.model import check_package_meta, model_card

    meta = open_model("mitdb-aami").meta
    oriented = {**meta, "input": {**meta["input"], "orient_polarity": True}}
    check_package_meta(oriented, "model.json")
    assert "Lead orientation" in model_card(oriented) and "Lead orientation" not in model_card(meta)
    with pytest.raises(LeanECGError, match="orient_polarity must be true or false"):
        check_package_meta({**meta, "input": {**meta["input"], "orient_polarity": "yes"}}, "model.json")


def test_the_upright_share_and_the_inverted_lead_note(
    record_207: Record, mitdb_dir: Path, tmp_path: Path
) -> None:
    from clihelp import invoke_cli
    from leanecg.package import open_model

    shipped = open_model("mitdb-aami")
    negated = dataclasses.replace(record_207, signal=-record_207.signal)
    down, up = shipped.predict_beats(record_207).upright, shipped.predict_beats(negated).upright
    assert down is not None and up is not None and down < 0.1 and up == pytest.approx(1.0 - down)
    assert _orienting(shipped).predict_beats(record_207).upright == pytest.approx(down)  # as recorded
    note = "points down in"
    res = invoke_cli(["beats", str(mitdb_dir / "207"), "--model", "mitdb-aami", "--out", "207.csv"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "207: the QRS of lead II points down in 79 % of the beats" in res.stderr and "--lead" in res.stderr
    res = invoke_cli(["beats", str(mitdb_dir / "100"), "--model", "mitdb-aami", "--out", "100.csv"], tmp_path)
    assert res.returncode == 0 and note not in res.stderr
    res = invoke_cli(
        ["beats", str(mitdb_dir / "207"), "--model", "mitdb-aami", "--out", "q.csv", "-q"], tmp_path
    )
    assert res.returncode == 0 and res.stderr == ""
