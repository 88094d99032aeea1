"""Progress and event output: progress bars / status lines only on a terminal's stderr (never on stdout or
in output files), ``stream`` event lines aggregated by default (``--events N|all|none``), ``--quiet``."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import pytest

from clihelp import invoke_cli, run_cli
from leanecg.data.record import Record
from leanecg.data.synthetic import synthetic_ecg
from leanecg.data.tabular import write_csv
from leanecg.deploy.stream import DEFAULT_EVENTS_EVERY, EventLines, StreamEvent, format_time
from leanecg.quickstart import example_path

DIGEST = re.compile(r"^events? (\d+)(?:-(\d+))? \(\d\d:\d\d:\d\d\.\d to \d\d:\d\d:\d\d\.\d\): .+$")
EVENT = re.compile(r"^[A-Za-z ]+ at \d\d:\d\d:\d\d\.\d$")
#: rich's escape sequences (a terminal's output, captured)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _events(n: int, name: str = "V") -> list[StreamEvent]:
    return [
        StreamEvent("beat", name, t, t + 20, f"{'PVC' if name == 'V' else 'SVEB'} at {format_time(t)}")
        for t in range(n)
    ]


def test_event_lines_aggregate_every_n_events() -> None:
    lines = EventLines(every=10)
    out = lines.add(_events(7)) + lines.add(_events(8, "S")) + lines.close()
    assert out == [
        "events 1-10 (00:00:00.0 to 00:00:06.0): 7 PVC, 3 SVEB",
        "events 11-15 (00:00:03.0 to 00:00:07.0): 5 SVEB",
    ]
    assert lines.counts == {"PVC": 7, "SVEB": 8} and lines.n == 15
    assert lines.close() == []  # nothing pending
    one = EventLines(every=5)
    assert one.add(_events(1)) == [] and one.close() == ["event 1 (00:00:00.0 to 00:00:00.0): 1 PVC"]


def test_event_lines_all_and_the_bound() -> None:
    every = EventLines(every=1)
    assert every.add(_events(3)) == ["PVC at 00:00:00.0", "PVC at 00:00:01.0", "PVC at 00:00:02.0"]
    assert every.close() == []
    for n in (1, 99, 100, 101, 1411):
        lines = EventLines()
        out = [ln for k in range(0, n, 37) for ln in lines.add(_events(min(37, n - k)))] + lines.close()
        assert len(out) == math.ceil(n / DEFAULT_EVENTS_EVERY)
    with pytest.raises(ValueError):
        EventLines(every=0)


def test_cli_default_matches_the_library_default() -> None:
    from leanecg import cli

    assert cli.STREAM_EVENTS_EVERY == DEFAULT_EVENTS_EVERY


def test_bare_events_flag_means_all() -> None:
    from leanecg.cli import _bare_events_flag

    assert _bare_events_flag(["stream", "r", "--events"]) == ["stream", "r", "--events", "all"]
    assert _bare_events_flag(["stream", "--events", "--model", "m", "r"])[:3] == ["stream", "--events", "all"]
    assert _bare_events_flag(["stream", "r", "--events", "50"]) == ["stream", "r", "--events", "50"]
    assert _bare_events_flag(["predict", "--events"]) == ["predict", "--events"]  # other commands untouched
    assert _bare_events_flag(["stream", "--", "--events"]) == ["stream", "--", "--events"]


def _event_lines(stdout: str) -> tuple[list[str], list[str]]:
    lines = stdout.splitlines()
    return [ln for ln in lines if DIGEST.match(ln)], [ln for ln in lines if EVENT.match(ln)]


@pytest.mark.shared
def test_stream_record_208_events_default_all_quiet(tmp_path: Path, mitdb_dir: Path) -> None:
    """Record 208 (frequent PVCs, ~1,400 events): a bounded number of lines by default, every event with
    ``--events all``, none with ``--quiet``; the CSV is the same whatever is printed."""
    base = ["stream", str(mitdb_dir / "208"), "--model", "mitdb-aami", "--backend", "torch"]
    runs = {}
    for name, extra in {"default": [], "all": ["--events", "all"], "quiet": ["--quiet"]}.items():
        run = run_cli if name == "quiet" else invoke_cli  # the real entry point once: nothing on its stderr
        proc = run([*base, *extra, "--out", f"{name}.csv"], tmp_path)
        assert proc.returncode == 0, proc.stderr
        runs[name] = proc

    digests, singles = _event_lines(runs["default"].stdout)
    assert not singles
    total = int(DIGEST.match(digests[-1]).group(2))  # the last line ends at the last event
    assert total > 1000  # record 208 has ~1,000 PVCs and ~370 fusion beats
    assert len(digests) == math.ceil(total / DEFAULT_EVENTS_EVERY) <= 20
    assert [int(DIGEST.match(d).group(1)) for d in digests] == list(range(1, total + 1, DEFAULT_EVENTS_EVERY))
    assert "events_by_type" in runs["default"].stdout and "PVC" in runs["default"].stdout

    digests_all, singles_all = _event_lines(runs["all"].stdout)
    assert not digests_all and len(singles_all) == total

    quiet = runs["quiet"]
    assert _event_lines(quiet.stdout) == ([], [])
    assert quiet.stderr == ""  # no lead-choice or 'wrote' line either
    assert "realtime_factor" in quiet.stdout  # the summary stays
    rows = {n: (tmp_path / f"{n}.csv").read_text() for n in runs}
    assert rows["default"] == rows["all"] == rows["quiet"]


def _synthetic_csv(path: Path, seconds: float = 40.0) -> None:
    syn = synthetic_ecg(duration_s=seconds, fs=360.0, rhythm="pvc", seed=5)
    write_csv(Record(name=path.stem, signal=syn.signal, fs=360.0, leads=["II"]), path)


def test_stream_events_options(tmp_path: Path) -> None:
    _synthetic_csv(tmp_path / "pvc.csv")
    base = ["stream", "pvc.csv", "--fs", "360", "--model", "mitdb-aami", "--backend", "torch"]
    bare = invoke_cli([*base, "--events"], tmp_path)  # the flag of earlier releases: every event
    assert bare.returncode == 0, bare.stderr
    n = len(_event_lines(bare.stdout)[1])
    assert n > 0
    none = invoke_cli([*base, "--no-events"], tmp_path)
    assert none.returncode == 0 and _event_lines(none.stdout) == ([], [])
    some = invoke_cli([*base, "--events", "2"], tmp_path)
    assert len(_event_lines(some.stdout)[0]) == math.ceil(n / 2)
    for bad in ("0", "some", "1.5"):
        proc = invoke_cli([*base, "--events", bad], tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().splitlines() == [
            f"error: --events: must be a positive number of events per line, all or none, got '{bad}'"
        ]


# ------------------------------------------------------------------------------- progress on a terminal


def _as_terminal() -> dict[str, str]:
    """rich treats stdout and stderr as terminals (TTY_COMPATIBLE=1) while the test captures both."""
    return {"TTY_COMPATIBLE": "1"}


def test_predict_progress_on_a_terminal_only_on_stderr(tmp_path: Path) -> None:
    files = [str(example_path(f"cinc2017/{r}")) for r in ("A00001", "A00405", "A00041")]
    args = ["predict", *files, "--model", "cinc2017", "--out", "p.csv"]
    proc = run_cli(args, tmp_path, env=_as_terminal())
    assert proc.returncode == 0, proc.stderr
    assert "predict (" in proc.stderr and "3/3" in ANSI.sub("", proc.stderr)  # the bar: records done / total
    assert proc.stdout == ""
    text = (tmp_path / "p.csv").read_text()
    assert not ANSI.search(text) and len(list(csv.reader(text.splitlines()))) == 4

    quiet = run_cli([*args, "--quiet"], tmp_path, env=_as_terminal())
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == ""
    piped = run_cli(args, tmp_path)  # not a terminal: no bar, the closing lines only
    assert piped.returncode == 0 and "predict (" not in piped.stderr and "wrote predictions" in piped.stderr
    assert (tmp_path / "p.csv").read_text() == text


def test_beats_folder_progress_and_quiet(tmp_path: Path) -> None:
    args = ["beats", str(example_path("mitdb/100").parent), "--model", "mitdb-aami", "--out", "b"]
    proc = run_cli(args, tmp_path, env=_as_terminal())
    assert proc.returncode == 0, proc.stderr
    assert "beats (" in proc.stderr and "3/3" in ANSI.sub("", proc.stderr)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["100.csv", "232.csv", "233.csv"]
    quiet = run_cli([*args, "-q"], tmp_path, env=_as_terminal())
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == ""


def test_stream_status_line_before_the_first_event(tmp_path: Path) -> None:
    """A status line from the start (before any event can be printed), on stderr; events stay on stdout."""
    _synthetic_csv(tmp_path / "pvc.csv", seconds=30.0)
    args = ["stream", "pvc.csv", "--fs", "360", "--model", "mitdb-aami", "--backend", "torch"]
    args += ["--events", "all"]
    proc = run_cli(args, tmp_path, env=_as_terminal())
    assert proc.returncode == 0, proc.stderr
    err = ANSI.sub("", proc.stderr)
    assert "stream pvc: starting" in err and "stream pvc: signal seconds" in err and "/30" in err
    assert "signal seconds" not in proc.stdout and _event_lines(ANSI.sub("", proc.stdout))[1]
    quiet = run_cli([*args, "--quiet"], tmp_path, env=_as_terminal())
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert not _event_lines(ANSI.sub("", quiet.stdout))[1]


def test_export_int8_without_data_uses_the_shipped_subset_with_a_status_line(tmp_path: Path) -> None:
    empty = tmp_path / "nodata"
    empty.mkdir()
    env = {**_as_terminal(), "LEANECG_DATA": str(empty)}
    proc = run_cli(["export", "mitdb-aami", "--int8", "--out", "m.onnx"], tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    err = ANSI.sub("", proc.stderr)
    assert "export mitdb-aami: calibrating int8 on 1024 inputs" in err
    assert "shipped calibration subset mitdb-aami/calibration.npz" in err
    assert (tmp_path / "m.onnx").is_file() and proc.stdout == ""
