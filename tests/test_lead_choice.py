"""Which record lead feeds which model lead: the alias table, the one rule (``choose_leads``) and ``--lead``
on ``leanecg predict`` / ``beats`` / ``stream``, end to end on a 128 Hz two-lead Holter-style record
(``ECG1``/``ECG2``) made from MIT-BIH and on a CinC 2017 record (lead ``ECG``) with the shipped models."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from clihelp import invoke_cli, run_cli
from leanecg.errors import LeanECGError
from leanecg.signal.leads import LEAD_ALIASES, canonical_lead_name, choose_leads, lead_index, lead_key

BEAT_COLUMNS = ["sample", "label", "prob_N", "prob_S", "prob_V", "prob_F"]
FS_HOLTER = 128
START_S, STOP_S = 120, 300  # minutes 2-5 of MIT-BIH record 119 (normal beats and PVCs)
BEAT_SYMBOLS = set("NLRBAaJSVrFejnE/fQ?")


def _one_line_error(proc, *needles: str) -> str:  # type: ignore[no-untyped-def]
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def _samples(path: Path) -> tuple[list[str], np.ndarray]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], np.array([int(r[0]) for r in rows[1:]], dtype=np.int64)


def _within(ref: np.ndarray, found: np.ndarray, tol: float) -> float:
    """Fraction of ``ref`` positions with a ``found`` position at most ``tol`` samples away."""
    if ref.size == 0 or found.size == 0:
        return 0.0
    return float(np.mean(np.abs(ref[:, None] - found[None, :]).min(axis=1) <= tol))


# ------------------------------------------------------------------------------------- the alias table


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("MLII", "II"),
        ("ml ii", "II"),
        ("ML_II", "II"),
        ("Lead II", "II"),
        ("V 1", "V1"),
        ("v1", "V1"),
        ("V01", "V1"),
        ("Lead I", "I"),
        ("lead1", "I"),
        ("avf", "aVF"),
        ("ECG", "ECG"),  # a single-lead device's name: no standard lead, kept
        ("ECG1", "ECG1"),
    ],
)
def test_alias_table_maps_spellings(raw: str, canonical: str) -> None:
    assert canonical_lead_name(raw) == canonical


def test_every_alias_in_the_table_means_its_lead() -> None:
    for canon, aliases in LEAD_ALIASES.items():
        for alias in aliases:
            assert canonical_lead_name(alias) == canon, alias
            assert canonical_lead_name(alias.lower().replace(" ", "  ")) == canon, alias
    assert lead_key("ecg 1") == lead_key("ECG1") == lead_key("Ecg_1")
    assert lead_index(["ECG1", "ECG2"], "ecg 2") == 1
    assert lead_index(["MLII", "V5"], "ii") == 0


# ------------------------------------------------------------------------------------------- the rule


def test_choose_leads_by_name_alias_single_lead_and_position() -> None:
    c = choose_leads(["MLII", "V5"], ["II"])
    assert (c.columns, c.record_leads, c.model_leads, c.rule) == ((0,), ("MLII",), ("II",), "name")
    assert str(c) == "MLII -> II (by name)"
    assert choose_leads(["V1", "ml ii"], ["ii"]).columns == (1,)
    # a single-lead record feeds a single-lead model whatever its name
    c = choose_leads(["ECG"], ["II"])  # CinC 2017 into the beat model
    assert (c.columns, c.rule, str(c)) == ((0,), "single", "ECG -> II (the record's only lead)")
    assert choose_leads(["II"], ["I"]).rule == "single"  # lead II into the rhythm model (lead I)
    assert choose_leads(["lead1"], ["I"]).rule == "name"
    assert choose_leads(["ECG1"], ["II"]).rule == "single"
    # a model that names no leads takes the record's in order
    c = choose_leads(["a", "b"], [], n_leads=2)
    assert (c.columns, c.model_leads, c.rule) == ((0, 1), ("a", "b"), "position")
    assert c.as_dict() == {"record_leads": ["a", "b"], "model_leads": ["a", "b"], "rule": "position"}


def test_choose_leads_with_lead_and_its_errors() -> None:
    holter = ["ECG1", "ECG2"]
    for lead in ("ECG2", "ecg 2", ["ECG2"], 1, "1"):
        c = choose_leads(holter, ["II"], lead=lead, source="rec.hea")
        assert (c.columns, c.record_leads, c.model_leads, c.rule) == ((1,), ("ECG2",), ("II",), "lead")
    assert str(choose_leads(holter, ["II"], lead="ECG1")) == "ECG1 -> II (chosen with --lead)"
    c = choose_leads(["V2", "I", "II"], ["I", "II"], lead="II, I")  # order of the model's leads
    assert c.columns == (2, 1) and c.model_leads == ("I", "II")
    # --lead overrides a name match
    assert choose_leads(["II", "V5"], ["II"], lead="V5").columns == (1,)
    with pytest.raises(LeanECGError) as err:
        choose_leads(holter, ["II"], source="rec.hea")
    assert str(err.value) == (
        "rec.hea: the model needs lead(s) II; the record has ECG1, ECG2 (choose one with `lead`)"
    )
    with pytest.raises(LeanECGError, match=r"`lead` NOPE: .*ECG1, ECG2") as err:
        choose_leads(holter, ["II"], lead="NOPE", source="rec.hea")
    assert err.value.path == "rec.hea"
    with pytest.raises(LeanECGError, match=r"`lead` names 2 lead\(s\) \(ECG1, ECG2\); the model takes 1"):
        choose_leads(holter, ["II"], lead="ECG1,ECG2", source="rec.hea")
    with pytest.raises(LeanECGError, match="names 0 lead"):
        choose_leads(holter, ["II"], lead=" , ", source="rec.hea")
    with pytest.raises(LeanECGError, match=r"needs lead\(s\) I, II; .* \(choose 2 with `lead`\)"):
        choose_leads(["I", "V1"], ["I", "II"])
    with pytest.raises(LeanECGError, match="needs lead"):
        choose_leads(["ECG1", "ECG2"], ["ECG1", "ECG2", "ECG3"])


# --------------------------------------------------------------------- shipped models, API and CLI


@pytest.fixture(scope="module")
def holter(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> dict[str, object]:
    """``holter.hea/.dat``: 3 min of MIT-BIH 119 resampled to 128 Hz, leads named ECG1/ECG2, plus the
    reference beat positions rescaled to 128 Hz."""
    wfdb = pytest.importorskip("wfdb")
    from scipy.signal import resample_poly

    src = shared_data / "mitdb" / "119"
    if not src.with_suffix(".hea").is_file():
        pytest.skip("mitdb/119 not staged")
    fs = 360
    rec = wfdb.rdrecord(str(src), sampfrom=START_S * fs, sampto=STOP_S * fs)
    x = resample_poly(rec.p_signal, FS_HOLTER, fs, axis=0)
    folder = tmp_path_factory.mktemp("holter")
    wfdb.wrsamp(
        "holter",
        fs=FS_HOLTER,
        units=["mV", "mV"],
        sig_name=["ECG1", "ECG2"],
        p_signal=x,
        fmt=["16", "16"],
        write_dir=str(folder),
    )
    ann = wfdb.rdann(str(src), "atr", sampfrom=START_S * fs, sampto=STOP_S * fs)
    beats = np.array([s for s, sym in zip(ann.sample, ann.symbol, strict=True) if sym in BEAT_SYMBOLS])
    ref = np.round((beats - START_S * fs) * FS_HOLTER / fs).astype(np.int64)
    return {"dir": folder, "path": folder / "holter", "ref": ref, "n": x.shape[0]}


def test_holter_record_is_resampled_inside_the_model_pipeline(holter: dict[str, object]) -> None:
    from leanecg.data import load_record
    from leanecg.package import resolve_model
    from leanecg.package.model import load_model_package

    pkg = load_model_package(resolve_model("mitdb-aami"))
    record = load_record(holter["path"], annotations=False)
    assert record.fs == FS_HOLTER and record.leads == ["ECG1", "ECG2"]
    assert any(s["op"] == "resample" for s in pkg.pipeline.steps)
    y = pkg.preprocess(record, lead="ECG1")
    fs_model = float(pkg.input["fs"])
    assert fs_model != FS_HOLTER
    assert abs(y.shape[0] - record.n_samples * fs_model / FS_HOLTER) <= 1  # 128 Hz -> the model's 180 Hz
    assert y.shape[1] == 1
    assert not np.array_equal(y, pkg.preprocess(record, lead="ECG2"))
    assert str(pkg.lead_choice(record.leads, "ECG1")) == "ECG1 -> II (chosen with --lead)"
    with pytest.raises(LeanECGError, match=r"choose one with `lead`"):
        pkg.preprocess(record)


def test_beats_with_lead_finds_the_reference_beats(holter: dict[str, object]) -> None:
    cwd = holter["dir"]
    proc = run_cli(["beats", "holter", "--model", "mitdb-aami", "--lead", "ECG1", "--out", "beats.csv"], cwd)
    assert proc.returncode == 0, proc.stderr
    assert "leads: ECG1 -> II (chosen with --lead)" in proc.stderr.splitlines()
    header, found = _samples(cwd / "beats.csv")
    assert header == BEAT_COLUMNS  # no extra column
    ref = holter["ref"]
    tol = 0.150 * FS_HOLTER
    assert len(ref) > 150
    assert _within(ref, found, tol) > 0.95  # sensitivity at the record's own 128 Hz sample indices
    assert _within(found, ref, tol) > 0.95  # positive predictivity
    assert found.max() < holter["n"]


def test_beats_without_a_matching_lead_names_lead_option(holter: dict[str, object]) -> None:
    cwd = holter["dir"]
    proc = invoke_cli(["beats", "holter", "--model", "mitdb-aami", "--out", "x.csv"], cwd)
    line = _one_line_error(proc, "holter", "needs lead(s) II", "ECG1, ECG2", "--lead")
    assert (
        line
        == "error: holter: the model needs lead(s) II; the record has ECG1, ECG2 (choose one with --lead)"
    )
    proc = invoke_cli(
        ["beats", "holter.hea", "--model", "mitdb-aami", "--lead", "NOPE", "--out", "x.csv"], cwd
    )
    _one_line_error(proc, "error: holter: --lead NOPE", "ECG1, ECG2")
    proc = invoke_cli(
        ["beats", "holter", "--model", "mitdb-aami", "--lead", "ECG1,ECG2", "--out", "x.csv"], cwd
    )
    _one_line_error(proc, "holter", "--lead names 2 lead(s)")
    assert not (cwd / "x.csv").exists()


def test_stream_with_lead_matches_beats(holter: dict[str, object]) -> None:
    cwd = holter["dir"]
    args = ["stream", "holter", "--model", "mitdb-aami", "--lead", "ECG1", "--out", "s.csv", "--json"]
    proc = invoke_cli([*args, "--no-events", "--backend", "torch"], cwd)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["leads"] == "ECG1 -> II (chosen with --lead)"
    assert "leads: ECG1 -> II (chosen with --lead)" in proc.stderr.splitlines()
    header, online = _samples(cwd / "s.csv")
    assert header == BEAT_COLUMNS
    assert _within(holter["ref"], online, 0.150 * FS_HOLTER) > 0.95
    proc = invoke_cli(["stream", "holter", "--model", "mitdb-aami", "--no-events", "--backend", "torch"], cwd)
    _one_line_error(proc, "holter", "needs lead(s) II", "ECG1, ECG2", "--lead")
    proc = invoke_cli([*args[:4], "--lead", "NOPE", "--backend", "torch"], cwd)
    _one_line_error(proc, "NOPE", "ECG1, ECG2")


def test_predict_with_lead_on_the_rhythm_model(holter: dict[str, object]) -> None:
    cwd = holter["dir"]
    proc = invoke_cli(["predict", "holter", "--model", "cinc2017", "--lead", "ECG2", "--out", "p.csv"], cwd)
    assert proc.returncode == 0, proc.stderr
    assert "leads: ECG2 -> I (chosen with --lead)" in proc.stderr.splitlines()
    with open(cwd / "p.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["record", "label", "prob_N", "prob_A", "prob_O", "prob_noise"] and len(rows) == 2
    proc = invoke_cli(["predict", "holter", "--model", "cinc2017", "--out", "p2.csv"], cwd)
    _one_line_error(proc, "needs lead(s) I", "ECG1, ECG2", "--lead")


def test_single_lead_records_feed_both_shipped_models(shared_data: Path, tmp_path: Path) -> None:
    """CinC 2017's ``ECG`` into the beat model (wants II), and a lead named II into the rhythm model
    (wants I): both accepted, the choice printed."""
    from leanecg.data import load_record
    from leanecg.data.record import Record
    from leanecg.data.tabular import write_csv

    a1 = shared_data / "cinc2017" / "training2017" / "A00001"
    if not a1.with_suffix(".hea").is_file():
        pytest.skip("cinc2017/A00001 not staged")
    proc = invoke_cli(["beats", str(a1), "--model", "mitdb-aami", "--out", "b.csv"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "leads: ECG -> II (the record's only lead)" in proc.stderr.splitlines()
    header, found = _samples(tmp_path / "b.csv")
    assert header == BEAT_COLUMNS and len(found) > 20  # 30 s at ~80 bpm
    rec = load_record(a1, annotations=False)
    write_csv(Record(name="two", signal=rec.signal, fs=rec.fs, leads=["II"]), tmp_path / "two.csv")
    proc = invoke_cli(["predict", str(a1), "two.csv", "--model", "cinc2017", "--out", "p.csv"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "p.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert [r[0] for r in rows[1:]] == ["A00001", "two"]
    assert rows[1][1] == rows[2][1]  # the same signal, whatever its lead is named
    np.testing.assert_allclose(np.array(rows[1][2:], float), np.array(rows[2][2:], float), atol=1e-3)
    line = [x for x in proc.stderr.splitlines() if x.startswith("leads: ")]
    assert line == [
        "leads: ECG -> I (the record's only lead) in 1 record(s); II -> I (the record's only lead) in 1 record(s)"
    ]
