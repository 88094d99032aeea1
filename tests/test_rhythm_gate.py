"""The AF gate of beat models (``leanecg.signal.rhythm_gate``, a package's ``rhythm_gate`` field).

Checked: the irregularity is low in sinus rhythm with isolated ectopic beats and high in an irregularly
irregular rhythm, causal, and the same online for any chunking; the gate moves exactly the S probability of
the beats at or above the threshold to N; a package with the gate applies it in ``predict_beats`` and in a
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
    StreamingRRIrregularity,
    gate_sveb,
    rr_from_peaks,
    rr_irregularity,
)

GATE = {"rule": "af", "from": "S", "to": "N", "window": DEFAULT_WINDOW, "threshold": 0.12}


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


def test_irregularity_is_causal_and_equal_online_for_any_chunking() -> None:
    rng = np.random.default_rng(1)
    peaks = np.cumsum(np.round(rng.uniform(0.4, 1.2, 200) * 360)).astype(np.int64)
    offline = rr_irregularity(rr_from_peaks(peaks, 360.0), 16)
    changed = peaks.copy()
    changed[150:] += 100  # later beats do not change earlier values
    np.testing.assert_array_equal(rr_irregularity(rr_from_peaks(changed, 360.0), 16)[:150], offline[:150])
    for sizes in ([1] * 200, [7, 50, 3, 140], [200]):
        online = StreamingRRIrregularity(360.0, 16)
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
def gated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A BeatNet package for mitdb-aami without and with the AF gate (same weights)."""
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
    return plain, with_gate


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


def test_package_gates_af_beats_and_leaves_the_others(gated: tuple[Path, Path], mitdb_dir: Path) -> None:
    plain, with_gate = (_load(p) for p in gated)
    rec = _af_record(mitdb_dir)
    off, on = plain.predict_beats(rec), with_gate.predict_beats(rec)
    np.testing.assert_array_equal(on.samples, off.samples)
    assert rec.fs == 2 * float(with_gate.input["fs"])  # samples = 2 x the model-rate peaks: the same RR
    irr = rr_irregularity(rr_from_peaks(on.samples, rec.fs))
    closed = on.probs[:, 1] == 0.0
    np.testing.assert_array_equal(closed, irr >= GATE["threshold"])
    af = on.samples / rec.fs < 6.2 * 60  # atrial fibrillation: nearly all gated; the rest mostly not
    assert closed[af].mean() > 0.8 and closed[~af].mean() < 0.8 and closed[: DEFAULT_WINDOW // 2].sum() == 0
    np.testing.assert_allclose(on.probs[closed, 0], off.probs[closed, 0] + off.probs[closed, 1], atol=1e-6)
    np.testing.assert_allclose(on.probs[~closed], off.probs[~closed], atol=1e-7)
    assert all(label != "S" for label, c in zip(on.labels, closed, strict=True) if c)


@pytest.mark.parametrize("chunk_s", [1.0, 7.3])
def test_stream_gates_exactly_as_offline(gated: tuple[Path, Path], mitdb_dir: Path, chunk_s: float) -> None:
    from leanecg.deploy.stream import StreamClassifier, record_chunks, run_stream

    pkg = _load(gated[1])
    rec = _af_record(mitdb_dir)
    off = pkg.predict_beats(rec)
    rep = run_stream(StreamClassifier(pkg, rec.fs, rec.leads, name=rec.name), record_chunks(rec, chunk_s))
    assert rep.keys == off.samples.tolist() and rep.labels == off.labels
    np.testing.assert_allclose(rep.probs, off.probs, atol=1e-5)
    assert (np.asarray(rep.probs)[:, 1] == 0.0).sum() == (off.probs[:, 1] == 0.0).sum() > 100


def test_gate_field_is_checked_and_stated(gated: tuple[Path, Path], tmp_path: Path) -> None:
    from leanecg.package import set_package_field

    with_gate = gated[1]
    card = (with_gate / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "AF gate" in card and "at least 0.12" in card
    bad = tmp_path / "bad"
    shutil.copytree(with_gate, bad)
    for field, match in (
        ({**GATE, "threshold": -1.0}, "positive threshold"),
        ({**GATE, "window": 1}, "window >= 2"),
        ({**GATE, "from": "X"}, "'from' must be one of"),
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


def test_several_fields_are_stored_together_or_not_at_all(gated: tuple[Path, Path], tmp_path: Path) -> None:
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
    gated: tuple[Path, Path], mitdb_dir: Path, tmp_path: Path
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
