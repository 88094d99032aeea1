"""``leanecg serve`` (issue 13, item 4), run as a user would: a real uvicorn server on loopback in a
subprocess, a bounded number of requests. The load test is a benchmark (``benchmarks/serve_load.py``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from clihelp import run_cli
from conftest import REPO
from servehelp import free_port, multipart, request, running_server, upload

pytest.importorskip("fastapi", reason="the serve extra (fastapi, uvicorn) is not installed")
pytest.importorskip("uvicorn", reason="the serve extra (fastapi, uvicorn) is not installed")

EXAMPLES = REPO / "src" / "leanecg" / "examples"
MITDB = EXAMPLES / "mitdb"
CINC = EXAMPLES / "cinc2017"


def _files(*paths: Path) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in paths]


def _wfdb(name: str) -> list[tuple[str, bytes]]:
    return _files(MITDB / f"{name}.hea", MITDB / f"{name}.dat")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> str:
    cwd = tmp_path_factory.mktemp("serve")
    with running_server(["--max-upload-mb", "1"], cwd) as base:
        yield base


def test_health_and_models(server: str) -> None:
    status, body = request(server + "/health")
    assert status == 200 and body["status"] == "ok" and set(body["models"]) >= {"cinc2017", "mitdb-aami"}
    status, rows = request(server + "/models")
    assert status == 200
    by_name = {r["name"]: r for r in rows}
    assert by_name["mitdb-aami"]["classes"] == ["N", "S", "V", "F"]
    assert by_name["cinc2017"]["task"] == "cinc2017" and by_name["cinc2017"]["runtime"] == "onnxruntime"
    # the `leanecg models --json` keys, plus the runtime
    proc = run_cli(["models", "--json"], REPO)
    cli_keys = set(json.loads(proc.stdout)[0])
    assert cli_keys <= set(rows[0])


def test_beats_and_predict_answer_as_the_cli(server: str, tmp_path: Path) -> None:
    status, body = upload(server + "/beats?model=mitdb-aami", _wfdb("233"))
    assert status == 200, body
    assert body["record"] == "233" and len(body["beats"]) > 40 and body["skipped_s"] == []
    proc = run_cli(["beats", str(MITDB / "233"), "--model", "mitdb-aami", "--out", "b.csv", "-q"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "b.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["sample"]) for r in rows] == [b["sample"] for b in body["beats"]]
    assert [r["label"] for r in rows] == [b["label"] for b in body["beats"]]
    for r, b in zip(rows, body["beats"], strict=True):
        assert set(b) == {"sample", "label", "prob_N", "prob_S", "prob_V", "prob_F"}
        assert abs(float(r["prob_V"]) - b["prob_V"]) <= 2e-6
    status, body = upload(
        server + "/predict?model=cinc2017", _files(CINC / "A00405.hea", CINC / "A00405.mat")
    )
    assert status == 200, body
    assert set(body) == {"record", "label", "prob_N", "prob_A", "prob_O", "prob_noise"}
    assert body["record"] == "A00405" and body["label"] in ("N", "A", "O", "~")
    # a CSV with fs, and the lead option
    t = np.arange(0, 20, 1 / 250)
    ecg = np.exp(-(((t % 0.8) - 0.4) ** 2) / (2 * 0.01**2))  # an R wave every 0.8 s
    text = "II,V1\n" + "\n".join(f"{v:.4f},{0.5 * v:.4f}" for v in ecg)
    status, body = upload(server + "/beats?model=mitdb-aami&fs=250&lead=V1", [("syn.csv", text.encode())])
    assert status == 200, body
    assert body["record"] == "syn" and len(body["beats"]) >= 20
    # an irregularly irregular rhythm: the AF gate sets P(S) to 0 unless ?rhythm_gate=false
    beats_s = np.cumsum(np.random.default_rng(0).uniform(0.4, 1.1, 100))
    t = np.arange(0, beats_s[-1] + 1, 1 / 250)
    ecg = sum(np.exp(-((t - b) ** 2) / (2 * 0.01**2)) for b in beats_s)
    text = "II\n" + "\n".join(f"{v:.4f}" for v in ecg)
    answers = {}
    for query in ("", "&rhythm_gate=false"):
        status, body = upload(server + f"/beats?model=mitdb-aami&fs=250{query}", [("af.csv", text.encode())])
        assert status == 200, body
        answers[query] = body["beats"]
    gated, plain = answers[""], answers["&rhythm_gate=false"]
    assert [b["sample"] for b in gated] == [b["sample"] for b in plain]
    # the gate moves P(S) to N: every beat it changes has P(S) 0 and P(N) up by the network's P(S) (6 decimals)
    moved = [(g, p) for g, p in zip(gated, plain, strict=True) if g["prob_S"] != p["prob_S"]]
    assert len(moved) > 50 and sum(g["prob_S"] == 0.0 for g in gated) > 50
    for g, p in moved:
        assert g["prob_S"] == 0.0 and g["prob_N"] == pytest.approx(p["prob_N"] + p["prob_S"], abs=2e-6)
        assert (g["prob_V"], g["prob_F"]) == (p["prob_V"], p["prob_F"])


def _bad_uploads() -> list[tuple[str, str, dict]]:
    """(what, path?query, request) for 24 kinds of bad request; each must get a 4xx."""
    hea, dat = (MITDB / "233.hea").read_bytes(), (MITDB / "233.dat").read_bytes()
    lying = hea.replace(b"233 2 360 10800", b"233 2 360 99999")
    assert lying != hea
    csv_ok = "\n".join(f"{np.sin(i / 20):.4f}" for i in range(3000)).encode()
    nan_csv = "\n".join(["ecg"] + ["nan"] * 3000).encode()
    flat_csv = "\n".join(["ecg"] + ["0.5"] * 3000).encode()
    body, ctype = multipart([("file", "233.hea", hea), ("file", "233.dat", dat)])
    broken = body.replace(ctype.split("=")[1].encode(), b"not-the-boundary", 1)
    return [
        ("no file field", "/beats", {"files": [], "field": "other"}),
        ("not multipart", "/beats", {"raw": b'{"x": 1}', "ctype": "application/json"}),
        ("unknown model", "/beats?model=nope", {"files": _wfdb("233")}),
        ("beat model on /predict", "/predict?model=mitdb-aami", {"files": _wfdb("233")}),
        ("record model on /beats", "/beats?model=cinc2017", {"files": _wfdb("233")}),
        ("header without signal file", "/beats", {"files": [("233.hea", hea)]}),
        ("truncated .dat", "/beats", {"files": [("233.hea", hea), ("233.dat", dat[: len(dat) // 3])]}),
        ("header that lies", "/beats", {"files": [("233.hea", lying), ("233.dat", dat)]}),
        ("signal file without header", "/beats", {"files": [("233.dat", dat)]}),
        (".mat without header", "/predict", {"files": [("A00001.mat", (CINC / "A00001.mat").read_bytes())]}),
        ("CSV without fs", "/beats", {"files": [("x.csv", csv_ok)]}),
        ("fs zero", "/beats?fs=0", {"files": [("x.csv", csv_ok)]}),
        ("fs not a number", "/beats?fs=abc", {"files": [("x.csv", csv_ok)]}),
        ("fs out of range", "/beats?fs=1e9", {"files": [("x.csv", csv_ok)]}),
        ("all-NaN CSV", "/beats?fs=360", {"files": [("x.csv", nan_csv)]}),
        ("flat line", "/beats?fs=360", {"files": [("x.csv", flat_csv)]}),
        ("text garbage CSV", "/beats?fs=360", {"files": [("x.csv", b"hello,world\nfoo,bar\n")]}),
        ("empty file", "/beats?fs=360", {"files": [("x.csv", b"")]}),
        ("binary garbage header", "/beats", {"files": [("g.hea", bytes(range(256)) * 8), ("g.dat", dat)]}),
        ("not an ECG file type", "/beats", {"files": [("photo.png", b"\x89PNG\r\n\x1a\n" + b"0" * 100)]}),
        ("two records", "/beats", {"files": _wfdb("233") + _wfdb("100")}),
        ("unknown lead", "/beats?lead=V5", {"files": _wfdb("233")}),
        ("hidden / odd file name", "/beats", {"files": [(".hea", hea)]}),
        ("same file twice", "/beats", {"files": [("233.hea", hea), ("233.hea", hea), ("233.dat", dat)]}),
        ("too large", "/beats?fs=360", {"files": [("big.csv", b"0.1\n" * 400_000)]}),
        ("malformed multipart", "/beats", {"raw": broken, "ctype": ctype}),
        ("traversal file name", "/beats", {"files": [("../../evil.csv", csv_ok)]}),
    ]


def test_bad_uploads_get_a_4xx_and_the_server_keeps_serving(server: str, tmp_path: Path) -> None:
    cases = _bad_uploads()
    assert len(cases) >= 20
    seen = set()
    for what, path, req in cases:
        if "raw" in req:
            status, body = request(
                server + path, method="POST", body=req["raw"], headers={"Content-Type": req["ctype"]}
            )
        elif req.get("field"):
            raw, ctype = multipart([(req["field"], "a.csv", b"1\n2\n")])
            status, body = request(server + path, method="POST", body=raw, headers={"Content-Type": ctype})
        else:
            status, body = upload(server + path, req["files"])
        assert 400 <= status < 500, (what, status, body)
        assert isinstance(body, dict) and set(body) == {"error"}, (what, body)
        assert body["error"] and "\n" not in body["error"] and "Traceback" not in body["error"], (what, body)
        assert "leanecg-serve-" not in body["error"], (
            what,
            body,
        )  # names the uploaded file, not the temp folder
        seen.add(status)
        ok, _ = request(server + "/health")
        assert ok == 200, f"server down after {what}"
    assert {400, 404, 413, 415, 422} <= seen
    assert not (tmp_path.parent / "evil.csv").exists()
    # and it still answers a good request
    status, body = upload(server + "/beats?model=mitdb-aami", _wfdb("100"))
    assert status == 200 and len(body["beats"]) > 30


def test_stream_websocket(server: str, tmp_path: Path) -> None:
    ws_client = pytest.importorskip("websockets.sync.client")
    from leanecg.data import load_record

    record = load_record(MITDB / "233", annotations=False)
    x = record.signal[:, 0]
    url = server.replace("http://", "ws://") + "/stream?model=mitdb-aami&fs=360&leads=II"
    beats: list[dict] = []
    events: list[dict] = []
    with ws_client.connect(url, open_timeout=30, close_timeout=10) as ws:
        for k in range(0, x.size, 3600):  # 10 s frames: JSON, then float32 binary
            chunk = x[k : k + 3600]
            ws.send(
                json.dumps([round(float(v), 4) for v in chunk])
                if k % 7200 == 0
                else chunk.astype("<f4").tobytes()
            )
            msg = json.loads(ws.recv(timeout=30))
            assert "error" not in msg, msg
            beats += msg["beats"]
            events += msg["events"]
        ws.send("end")
        last = json.loads(ws.recv(timeout=30))
    beats += last["beats"]
    assert last["done"] and last["summary"]["samples"] == x.size and last["summary"]["rows"] == len(beats)
    proc = run_cli(
        ["stream", str(MITDB / "233"), "--model", "mitdb-aami", "--out", "s.csv", "--events", "none", "-q"],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "s.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(beats) == len(rows) > 40
    assert [b["label"] for b in beats] == [r["label"] for r in rows]
    assert max(abs(b["sample"] - int(r["sample"])) for b, r in zip(beats, rows, strict=True)) <= 1
    assert events and all(e["label"] != "N" for e in events)
    # a bad stream gets an error message, the server stays up
    with ws_client.connect(url, open_timeout=30) as ws:
        ws.send("not json")
        assert "error" in json.loads(ws.recv(timeout=30))
    with ws_client.connect(server.replace("http://", "ws://") + "/stream?model=nope&fs=360") as ws:
        assert "unknown model" in json.loads(ws.recv(timeout=30))["error"]
    with ws_client.connect(
        server.replace("http://", "ws://") + "/stream?model=mitdb-aami&fs=360&rhythm_gate=maybe"
    ) as ws:
        assert "rhythm_gate" in json.loads(ws.recv(timeout=30))["error"]
    assert request(server + "/health")[0] == 200


def test_token_and_bind(tmp_path: Path) -> None:
    proc = run_cli(["serve", "--host", "0.0.0.0", "--port", str(free_port())], tmp_path, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith(
        "error: --token: binding to 0.0.0.0 (not loopback) requires --token"
    )
    with running_server(["--token", "s3cret", "--models", "mitdb-aami"], tmp_path) as base:
        assert request(base + "/health")[0] == 200
        status, body = request(base + "/models")
        assert status == 401 and "token" in body["error"]
        assert request(base + "/models", headers={"Authorization": "Bearer wrong"})[0] == 401
        status, rows = request(base + "/models", headers={"Authorization": "Bearer s3cret"})
        assert status == 200 and [r["name"] for r in rows] == ["mitdb-aami"]
        assert upload(base + "/beats", _wfdb("233"))[0] == 401
        status, body = upload(base + "/beats", _wfdb("233"), headers={"Authorization": "Bearer s3cret"})
        assert status == 200 and body["beats"]  # the one beat model needs no ?model=
        assert request(base + "/")[0] == 200  # the viewer's page is public; its API calls carry the token
        ws_client = pytest.importorskip("websockets.sync.client")
        ws_url = base.replace("http://", "ws://") + "/stream?fs=360"
        with pytest.raises(Exception):  # noqa: B017 - refused at the handshake (or closed at once)
            with ws_client.connect(ws_url, open_timeout=30) as ws:
                ws.recv(timeout=10)
        with ws_client.connect(ws_url + "&token=s3cret", open_timeout=30) as ws:
            ws.send("end")
            assert json.loads(ws.recv(timeout=30))["done"]
