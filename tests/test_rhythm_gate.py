"""The AF gate of beat models (``leanecg.signal.rhythm_gate``, a package's ``rhythm_gate`` field).

Checked: the irregularity is low in sinus rhythm with isolated ectopic beats and high in an irregularly
irregular rhythm, causal, and the same online for any chunking; with ``exclude_ectopic`` it stays low in
rhythms with frequent premature beats (bigeminy, trigeminy, every 4th beat) that read as AF without it, and
high in AF; the gate moves exactly the S probability of
the beats at or above the threshold to N; a package with the gate (either measure) applies it in ``predict_beats`` and in a
stream, identically, on a real MIT-BIH record that holds atrial fibrillation (201) and leaves every other
beat as the package without it gives; the field is validated on load; the model card states it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leanecg.errors import LeanECGError
from leanecg.signal.rhythm_gate import (
    DEFAULT_WINDOW,
    MIN_KEPT,
    StreamingRRIrregularity,
    gate_sveb,
    rr_from_peaks,
    rr_irregularity,
)

GATE = {"rule": "af", "from": "S", "to": "N", "window": DEFAULT_WINDOW, "threshold": 0.12}
GATE_EX = {**GATE, "threshold": 0.08, "exclude_ectopic": True}


def _sinus_with_ectopy(n: int, rng: np.random.Generator) -> np.ndarray:
    """RR intervals (s) of sinus rhythm (0.8 s, 2 % jitter) with an isolated premature beat and its
    compensatory pause every ~15 beats."""
    rr = 0.8 * (1 + 0.02 * rng.standard_normal(n))
    for i in range(10, n - 1, 15):
        rr[i], rr[i + 1] = 0.5, 1.1
    return rr


def test_irregularity_separates_sinus_with_ectopy_from_af() -> None:
    rng = np.random.default_rng(0)
    sinus = rr_irregularity(np.concatenate(([np.nan], _sinus_with_ectopy(300, rng))))
    af = rr_irregularity(np.concatenate(([np.nan], rng.uniform(0.35, 1.1, 300))))
    assert np.isnan(sinus[: DEFAULT_WINDOW // 2]).all()  # too few differences at the start
    assert np.nanmax(sinus) < 0.06
    assert np.nanmin(af[DEFAULT_WINDOW:]) > 0.15


@pytest.mark.parametrize("every", [2, 3, 4])
def test_ectopic_filter_tells_frequent_premature_beats_from_af(every: int) -> None:
    rng = np.random.default_rng(every)
    rr = 0.8 * (1 + 0.02 * rng.standard_normal(300))  # sinus rhythm, 2 % jitter
    rr[::every] = 0.5 * (1 + 0.02 * rng.standard_normal(rr[::every].size))  # every k-th beat premature ...
    rr[1::every] = 1.05 * (1 + 0.02 * rng.standard_normal(rr[1::every].size))  # ... then its pause
    rr = np.concatenate(([np.nan], rr))
    plain, filtered = rr_irregularity(rr), rr_irregularity(rr, exclude_ectopic=True)
    assert np.nanmin(plain[DEFAULT_WINDOW:]) > 0.15  # read as AF without the filter
    assert np.nanmax(filtered) < 0.06
    np.testing.assert_array_equal(np.isnan(filtered), np.isnan(plain))  # NaN only at the record's start
    af = rr_irregularity(np.concatenate(([np.nan], rng.uniform(0.35, 1.1, 300))), exclude_ectopic=True)
    assert np.mean(af[DEFAULT_WINDOW:] >= 0.1) > 0.95 and np.median(af[DEFAULT_WINDOW:]) > 0.2
    sinus = np.concatenate(([np.nan], _sinus_with_ectopy(300, rng)))  # isolated ectopy: low either way
    assert np.nanmax(rr_irregularity(sinus, exclude_ectopic=True)) < 0.06


def test_ectopic_filter_with_too_few_intervals_left_reads_zero() -> None:
    pairs = np.tile([0.5, 1.1], DEFAULT_WINDOW // 2)  # a window of premature-beat pairs only
    rr = np.concatenate(([np.nan], pairs, [0.8] * (MIN_KEPT - 2)))
    out = rr_irregularity(rr, exclude_ectopic=True)
    assert out[DEFAULT_WINDOW] == 0.0  # nothing left to measure: a patterned rhythm, not AF
    assert rr_irregularity(rr)[DEFAULT_WINDOW] > 0.5


@pytest.mark.parametrize("exclude_ectopic", [False, True])
def test_irregularity_is_causal_and_equal_online_for_any_chunking(exclude_ectopic: bool) -> None:
    rng = np.random.default_rng(1)
    peaks = np.cumsum(np.round(rng.uniform(0.4, 1.2, 200) * 360)).astype(np.int64)
    peaks[60:100] = np.cumsum(np.tile([180, 400], 20)) + peaks[59]  # a run of premature-beat pairs
    peaks[100:] += peaks[99] - peaks[100] + 300
    offline = rr_irregularity(rr_from_peaks(peaks, 360.0), 16, exclude_ectopic=exclude_ectopic)
    if exclude_ectopic:  # the run of pairs is where the filter changes the values
        plain = rr_irregularity(rr_from_peaks(peaks, 360.0), 16)
        assert np.nanmax(np.abs(offline - plain)[60:110]) > 0.1
    changed = peaks.copy()
    changed[150:] += 100  # later beats do not change earlier values
    np.testing.assert_array_equal(
        rr_irregularity(rr_from_peaks(changed, 360.0), 16, exclude_ectopic=exclude_ectopic)[:150],
        offline[:150],
    )
    for sizes in ([1] * 200, [7, 50, 3, 140], [200]):
        online = StreamingRRIrregularity(360.0, 16, exclude_ectopic=exclude_ectopic)
        parts, start = [], 0
        for k in sizes:
            parts.append(online.update(peaks[start : start + k]))
            start += k
        np.testing.assert_array_equal(np.concatenate(parts), offline)


def test_gate_moves_s_to_n_only_at_or_above_the_threshold() -> None:
    p = np.array([[0.2, 0.5, 0.2, 0.1], [0.2, 0.5, 0.2, 0.1], [0.2, 0.5, 0.2, 0.1], [0.2, 0.5, 0.2, 0.1]])
    out = gate_sveb(p, np.array([0.05, 0.12, 0.4, np.nan]), 0.12, s_index=1, n_index=0)
    np.testing.assert_allclose(out[[0, 3]], p[[0, 3]])
    np.testing.assert_allclose(out[1], [0.7, 0.0, 0.2, 0.1])
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    np.testing.assert_allclose(p[1], [0.2, 0.5, 0.2, 0.1])  # not modified in place
    with pytest.raises(ValueError, match="threshold"):
        gate_sveb(p, np.zeros(4), 0.0, 1, 0)
    with pytest.raises(ValueError, match="N = len"):
        gate_sveb(p, np.zeros(3), 0.1, 1, 0)
    with pytest.raises(ValueError, match="window"):
        rr_irregularity(np.ones(5), window=1)


# ------------------------------------------------------------------------------------------ packages


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A BeatNet package for mitdb-aami without the AF gate, with it, and with it on the ectopy-filtered
    irregularity (same weights)."""
    pytest.importorskip("torch")
    from leanecg.package import set_package_field
    from leanecg.signal.beats import BEAT_FEATURE_NAMES
    from pkghelp import beat_package

    root = tmp_path_factory.mktemp("gate_pkgs")
    plain = beat_package(root / "plain", None, True, len(BEAT_FEATURE_NAMES))
    with_gate = root / "gated"
    shutil.copytree(plain, with_gate)
    written = set_package_field(with_gate, "rhythm_gate", GATE)
    assert [Path(p).name for p in written] == ["model.json"]
    filtered = root / "filtered"
    shutil.copytree(plain, filtered)
    set_package_field(filtered, "rhythm_gate", GATE_EX)
    return plain, with_gate, filtered


def _load(path: Path) -> Any:
    from leanecg.package.model import load_model_package

    return load_model_package(path)


def _af_record(mitdb_dir: Path) -> Any:
    """The first 8 minutes of MIT-BIH 201: atrial fibrillation to 6.3 min, nodal and sinus rhythm from 6.4
    to 7.95 min, then atrial fibrillation again."""
    from leanecg.data import load_record
    from leanecg.data.record import Record

    full = load_record(mitdb_dir / "201", annotations=False)
    sig = np.asarray(full.signal[: int(480 * full.fs)], dtype=np.float32)
    return Record(name="201", signal=sig, fs=full.fs, leads=full.leads)


@pytest.mark.parametrize("which", [1, 2])
def test_package_gates_af_beats_and_leaves_the_others(
    gated: tuple[Path, Path, Path], mitdb_dir: Path, which: int
) -> None:
    plain, with_gate = _load(gated[0]), _load(gated[which])
    gate = with_gate.rhythm_gate
    rec = _af_record(mitdb_dir)
    off, on = plain.predict_beats(rec), with_gate.predict_beats(rec)
    np.testing.assert_array_equal(on.samples, off.samples)
    assert rec.fs == 2 * float(with_gate.input["fs"])  # samples = 2 x the model-rate peaks: the same RR
    irr = rr_irregularity(
        rr_from_peaks(on.samples, rec.fs), exclude_ectopic=gate.get("exclude_ectopic", False)
    )
    closed = on.probs[:, 1] == 0.0
    np.testing.assert_array_equal(closed, irr >= gate["threshold"])
    af = on.samples / rec.fs < 6.2 * 60  # atrial fibrillation: nearly all gated; the rest mostly not
    assert closed[af].mean() > 0.8 and closed[~af].mean() < 0.8 and closed[: DEFAULT_WINDOW // 2].sum() == 0
    np.testing.assert_allclose(on.probs[closed, 0], off.probs[closed, 0] + off.probs[closed, 1], atol=1e-6)
    np.testing.assert_allclose(on.probs[~closed], off.probs[~closed], atol=1e-7)
    assert all(label != "S" for label, c in zip(on.labels, closed, strict=True) if c)


@pytest.mark.parametrize(("chunk_s", "which"), [(1.0, 1), (7.3, 1), (7.3, 2)])
def test_stream_gates_exactly_as_offline(
    gated: tuple[Path, Path, Path], mitdb_dir: Path, chunk_s: float, which: int
) -> None:
    from leanecg.deploy.stream import StreamClassifier, record_chunks, run_stream

    pkg = _load(gated[which])
    rec = _af_record(mitdb_dir)
    off = pkg.predict_beats(rec)
    rep = run_stream(StreamClassifier(pkg, rec.fs, rec.leads, name=rec.name), record_chunks(rec, chunk_s))
    assert rep.keys == off.samples.tolist() and rep.labels == off.labels
    np.testing.assert_allclose(rep.probs, off.probs, atol=1e-5)
    assert (np.asarray(rep.probs)[:, 1] == 0.0).sum() == (off.probs[:, 1] == 0.0).sum() > 100


def test_gate_field_is_checked_and_stated(gated: tuple[Path, Path, Path], tmp_path: Path) -> None:
    from leanecg.package import set_package_field

    with_gate = gated[1]
    card = (with_gate / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "AF gate" in card and "at least 0.12" in card and "premature-beat pairs" not in card
    card = (gated[2] / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "at least 0.08" in card and "premature-beat pairs" in card
    bad = tmp_path / "bad"
    shutil.copytree(with_gate, bad)
    for field, match in (
        ({**GATE, "threshold": -1.0}, "positive threshold"),
        ({**GATE, "window": 1}, "window >= 2"),
        ({**GATE, "from": "X"}, "'from' must be one of"),
        ({**GATE, "exclude_ectopic": "yes"}, "exclude_ectopic must be true or false"),
        ([0.1], "mapping"),
    ):
        with pytest.raises(LeanECGError, match=match):
            set_package_field(bad, "rhythm_gate", field)
    assert json.loads((bad / "model.json").read_text())["rhythm_gate"] == GATE  # nothing written
    doc = json.loads((bad / "model.json").read_text())
    doc["rhythm_gate"]["threshold"] = "high"
    (bad / "model.json").write_text(json.dumps(doc))
    with pytest.raises(LeanECGError, match="positive threshold"):
        _load(bad)


def test_several_fields_are_stored_together_or_not_at_all(
    gated: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    from leanecg.package import set_package_fields

    folder = tmp_path / "two"
    shutil.copytree(gated[0], folder)
    before = (folder / "model.json").read_text()
    with pytest.raises(LeanECGError, match="positive threshold"):  # one bad field: neither is written
        set_package_fields(folder, {"notes": ["a note"], "rhythm_gate": {**GATE, "threshold": -1.0}})
    assert (folder / "model.json").read_text() == before
    written = set_package_fields(folder, {"notes": ["a note"], "rhythm_gate": GATE})
    assert [Path(p).name for p in written] == ["model.json"]
    doc = json.loads((folder / "model.json").read_text())
    assert doc["notes"] == ["a note"] and doc["rhythm_gate"] == GATE
    card = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "- A note." in card and "at least 0.12" in card


def test_cli_beats_and_stream_apply_the_gate_unless_told_not_to(
    gated: tuple[Path, Path, Path], mitdb_dir: Path, tmp_path: Path
) -> None:
    import csv

    from clihelp import invoke_cli
    from leanecg.data import load_record
    from leanecg.data.record import Record
    from leanecg.data.tabular import write_csv

    full = _af_record(mitdb_dir)
    write_csv(
        Record(name="af", signal=full.signal[: int(120 * full.fs)], fs=full.fs, leads=full.leads),
        tmp_path / "af.csv",
    )
    rec = load_record(tmp_path / "af.csv", fs=360.0)
    expected = {True: _load(gated[1]).predict_beats(rec), False: _load(gated[0]).predict_beats(rec)}

    def probs(name: str) -> np.ndarray:
        with open(tmp_path / name, newline="") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == ["sample", "label", "prob_N", "prob_S", "prob_V", "prob_F"]
        return np.array([[float(v) for v in r[2:]] for r in rows[1:]])

    model = str(gated[1])
    for flag, gate in (([], True), (["--no-rhythm-gate"], False)):
        for cmd in ("beats", "stream"):
            out = f"{cmd}{int(gate)}.csv"
            extra = ["--backend", "torch", "--chunk-s", "5", "--quiet"] if cmd == "stream" else ["--quiet"]
            proc = invoke_cli(
                [cmd, "af.csv", "--fs", "360", "--model", model, "--out", out, *flag, *extra], tmp_path
            )
            assert proc.returncode == 0, proc.stderr
            np.testing.assert_allclose(probs(out), expected[gate].probs, atol=1e-5)
    assert (probs("beats1.csv")[:, 1] == 0).sum() > 50 and (probs("beats0.csv")[:, 1] == 0).sum() == 0


def test_sveb_gate_cv_writes_the_ectopy_filtered_gate(
    gated: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conftest import REPO, load_benchmark

    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))  # the script imports beat_ablation beside it
    script = load_benchmark("sveb_gate_cv.py")
    gain = {"point": 0.05, "ci95": [0.01, 0.09], "runs": 3, "runs_with_gain": 3}
    af = {
        "rows": [{"row": "r", "threshold_all_ds1": 0.1, "gain_seeds": gain}],
        "threshold_all_runs": 0.08,
        "gain_all_runs": gain,
    }
    for exclude, folder in ((True, tmp_path / "filtered"), (False, tmp_path / "plain")):
        shutil.copytree(gated[0], folder)
        script._write_gate(folder, af, "r", exclude_ectopic=exclude)
        gate = _load(folder).rhythm_gate
        assert gate is not None and gate["threshold"] == 0.08 and gate["recipe"] == "r"
        assert gate.get("exclude_ectopic", False) is exclude
    with pytest.raises(SystemExit, match="no AF gate for ablation row 'x'"):
        script._write_gate(tmp_path / "plain", af, "x")
