"""``leanecg serve``: the shipped (or any) models as an HTTP / WebSocket service, with a web viewer at ``/``.

FastAPI on uvicorn (the ``serve`` extra: ``pip install "leanecg[serve]"``); the models are loaded once, at
start-up, with :func:`leanecg.package.open_model` (their ONNX files in ONNX Runtime).

Endpoints (JSON; the ``prob_<class>`` keys are the CLI's CSV columns, ``~`` spelled ``noise``):

* ``GET /health`` -- ``{"status": "ok", "models": [...], "version"}``;
* ``GET /models`` -- the ``leanecg models --json`` rows of the loaded models;
* ``POST /predict?model=NAME[&lead=...][&fs=...]`` -- a record uploaded as ``multipart/form-data``, its
  files in repeatable fields named ``file`` (WFDB ``.hea`` + ``.dat``, challenge ``.mat`` + ``.hea``, one
  CSV with ``fs``, or EDF) -> ``{"record", "label", "prob_<class>"...}`` (``leanecg predict``'s row);
* ``POST /beats?model=NAME[&lead=...][&fs=...]`` -- the same upload -> ``{"record", "beats": [{"sample",
  "label", "prob_<class>"...}, ...], "skipped_s": [[start, stop], ...]}`` (``leanecg beats``' rows; the
  spans, in seconds, not analysed because the model's leads hold invalid samples there);
* ``WS /stream?model=NAME&fs=HZ[&leads=II,V1][&lead=...]`` -- samples in (text frames: a JSON list of
  samples, or of rows with one value per lead, in mV; or binary frames of little-endian float32, row-major),
  results out: one message per input frame ``{"beats" | "windows": [...], "events": [{"kind", "label",
  "time_s", "text"}]}``; the text frame ``end`` flushes the stream and is answered with the last results
  and ``{"done": true, "summary": {...}}``. Errors: ``{"error": "<what>: <problem>"}`` and the socket
  closes (code 1003);
* ``POST /analyse?[example=NAME]`` -- what the viewer draws: an upload (or a shipped example record) ->
  its first lead's signal, the beats of the beat model and the rhythm of the record model;
* ``GET /`` -- the viewer (plain HTML + JS from the package: no build step, no CDN, works offline);
  ``GET /examples`` -- the example records the viewer offers.

Bad input never stops the server: a problem with an upload is answered ``{"error": "<file>: <problem>"}``
(one line, the CLI's) with a 4xx status (400 bad record or parameter, 401 missing / wrong token, 404
unknown model or example, 413 too large, 415 not a multipart upload, 422 a request the models cannot
answer). Uploads are read into a private temporary folder (deleted after the request; the file names are
reduced to safe base names), the whole request body is limited to ``max_upload_bytes``, and a service bound
to anything but loopback requires a token (``Authorization: Bearer T``; WebSockets and the viewer may pass
``?token=T``).
"""

# no ``from __future__ import annotations``: FastAPI reads the endpoints' annotations (``Request``, defined
# inside :func:`create_app`) at run time
import asyncio
import ipaddress
import json
import math
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from leanecg.errors import LeanECGError

__all__ = [
    "DEFAULT_MAX_UPLOAD_BYTES",
    "ServeConfig",
    "check_bind",
    "create_app",
    "is_loopback",
]

#: Default limit of a request body (an hour of 12-lead WFDB at 500 Hz is ~65 MB).
DEFAULT_MAX_UPLOAD_BYTES = 64 * 1024 * 1024
#: Most files in one upload (a record is 1 to 3 files; a few more are tolerated, e.g. an annotation file).
MAX_FILES = 8
#: Most samples the viewer gets back for drawing (longer records: the first this many).
MAX_VIEW_SAMPLES = 2_000_000
_WEB = Path(__file__).resolve().parent / "web"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
_UPLOAD_SUFFIXES = (".hea", ".dat", ".mat", ".csv", ".tsv", ".edf", ".bdf", ".atr", ".qrs")


@dataclass
class ServeConfig:
    """What ``leanecg serve`` was started with.

    Attributes:
        models: model names / package folders / ``.onnx`` files to load (default: every shipped model).
        token: the bearer token every API request must carry (``None``: none asked for).
        max_upload_bytes: the largest request body accepted.
        precision: which ONNX file of a package folder (``"fp32"`` or ``"int8"``).
        threads: ONNX Runtime threads per model call.
        workers: model calls that run at once (the rest wait).
    """

    models: Sequence[str] | None = None
    token: str | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    precision: str = "fp32"
    threads: int = 1
    workers: int = 2
    loaded: dict[str, Any] = field(default_factory=dict)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is the loopback interface only."""
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve on anything but loopback without a token.

    Raises:
        LeanECGError: ``host`` is not loopback and ``token`` is empty.
    """
    if not is_loopback(host) and not token:
        raise LeanECGError(
            "token",
            f"binding to {host} (not loopback) requires `token`: every request then needs "
            "'Authorization: Bearer TOKEN'",
        )


class _HTTPProblem(Exception):
    def __init__(self, status: int, problem: str) -> None:
        super().__init__(problem)
        self.status = status
        self.problem = problem


def _load_models(config: ServeConfig) -> dict[str, Any]:
    from leanecg.package import list_shipped, open_model

    names = list(config.models) if config.models else [s["name"] for s in list_shipped()]
    if not names:
        raise LeanECGError("models", "no model to serve: none is shipped and none was given")
    loaded: dict[str, Any] = {}
    for name in names:
        key = Path(name).name.removesuffix(".onnx") if ("/" in name or name.endswith(".onnx")) else name
        if key in loaded:
            raise LeanECGError("models", f"two models are named {key!r}")
        loaded[key] = open_model(name, precision=config.precision, threads=config.threads)
    return loaded


def _model_rows(models: dict[str, Any]) -> list[dict[str, Any]]:
    from leanecg.package.shipped import package_summary

    rows = []
    for key, pkg in models.items():
        row = package_summary(key, Path(pkg.path), pkg.meta)
        row["runtime"] = pkg.backend.runtime
        row["file"] = Path(pkg.path).name
        rows.append(row)
    return rows


def _probs(columns: list[str], row: np.ndarray) -> dict[str, float]:
    return {c: round(float(p), 6) for c, p in zip(columns, row, strict=True)}


def _beats_json(pkg: Any, pred: Any) -> list[dict[str, Any]]:
    cols = pkg.columns
    return [
        {"sample": int(s), "label": label, **_probs(cols, row)}
        for s, label, row in zip(pred.samples, pred.labels, pred.probs, strict=True)
    ]


def create_app(config: ServeConfig | None = None) -> Any:
    """The FastAPI application of ``leanecg serve`` (models loaded now, once).

    Raises:
        LeanECGError: a model cannot be loaded.
    """
    from fastapi import FastAPI, Request, WebSocket
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.websockets import WebSocketDisconnect

    from leanecg import __version__

    config = config or ServeConfig()
    models = config.loaded or _load_models(config)
    gate = asyncio.Semaphore(max(1, int(config.workers)))
    app = FastAPI(title="LeanECG", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.models = models
    app.state.config = config

    def problem_response(status: int, problem: str) -> JSONResponse:
        return JSONResponse({"error": " ".join(str(problem).split())}, status_code=status)

    @app.exception_handler(_HTTPProblem)
    async def _problem(request: Request, exc: _HTTPProblem) -> JSONResponse:
        return problem_response(exc.status, exc.problem)

    @app.exception_handler(LeanECGError)
    async def _leanecg(request: Request, exc: LeanECGError) -> JSONResponse:
        return problem_response(400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return problem_response(400, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(_BodyTooLarge)
    async def _large(request: Request, exc: _BodyTooLarge) -> JSONResponse:
        return problem_response(413, _too_large(config.max_upload_bytes))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(500, f"internal error ({type(exc).__name__}: {exc})")

    @app.middleware("http")
    async def _guard(request: Request, call_next: Any) -> Any:
        # the token on the API; the viewer's page and its files are public (they hold no data)
        path = request.url.path
        if config.token and not (path == "/" or path.startswith("/static/") or path == "/health"):
            if not _token_ok(
                request.headers.get("authorization"), request.query_params.get("token"), config.token
            ):
                return problem_response(401, "missing or wrong token (send 'Authorization: Bearer TOKEN')")
        if request.method == "POST":
            length = request.headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > config.max_upload_bytes):
                return problem_response(413, _too_large(config.max_upload_bytes))
        try:
            return await call_next(request)
        except _BodyTooLarge:
            return problem_response(413, _too_large(config.max_upload_bytes))

    app.add_middleware(_BodyLimit, limit=config.max_upload_bytes)

    def model_of(name: str | None, kind: str) -> tuple[str, Any]:
        if name is None:
            of_kind = [k for k, p in models.items() if p.kind == kind]
            if len(of_kind) != 1:
                raise _HTTPProblem(400, f"model: give ?model=NAME (loaded: {', '.join(models)})")
            name = of_kind[0]
        pkg = models.get(name)
        if pkg is None:
            raise _HTTPProblem(404, f"model: unknown model {name!r} (loaded: {', '.join(models)})")
        if pkg.kind != kind:
            other = "/predict" if pkg.kind == "records" else "/beats"
            raise _HTTPProblem(422, f"model: {name} classifies {pkg.kind}, not {kind}; use {other}")
        return name, pkg

    async def run(fn: Any, *args: Any) -> Any:
        async with gate:
            return await run_in_threadpool(fn, *args)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models": list(models), "version": __version__}

    @app.get("/models")
    async def list_models() -> list[dict[str, Any]]:
        return _model_rows(models)

    @app.post("/predict")
    async def predict(
        request: Request, model: str | None = None, lead: str | None = None, fs: float | None = None
    ) -> dict[str, Any]:
        _, pkg = model_of(model, "records")
        files = await _read_upload(request, config)

        def work() -> dict[str, Any]:
            with _UploadedRecord(files, fs) as record:
                probs = pkg.predict_records([record], lead=lead)
                (label,) = pkg.labels_of(probs)
                return {"record": record.name, "label": label, **_probs(pkg.columns, probs[0])}

        return await run(work)

    @app.post("/beats")
    async def beats(
        request: Request,
        model: str | None = None,
        lead: str | None = None,
        fs: float | None = None,
        rhythm_gate: bool = True,
    ) -> dict[str, Any]:
        _, pkg = model_of(model, "beats")
        if not rhythm_gate:  # the network's own probabilities, as `leanecg beats --no-rhythm-gate`
            pkg = pkg.without_rhythm_gate()
        files = await _read_upload(request, config)

        def work() -> dict[str, Any]:
            with _UploadedRecord(files, fs) as record:
                pred = pkg.predict_beats(record, lead=lead)
                # spans not analysed (invalid samples in the model's leads), in seconds from the start
                skipped = [[a / record.fs, b / record.fs] for a, b in pred.skipped]
                return {"record": record.name, "beats": _beats_json(pkg, pred), "skipped_s": skipped}

        return await run(work)

    @app.post("/analyse")
    async def analyse(
        request: Request,
        example: str | None = None,
        beat_model: str | None = None,
        rhythm_model: str | None = None,
        fs: float | None = None,
    ) -> dict[str, Any]:
        files = None if example else await _read_upload(request, config)
        beat = model_of(beat_model, "beats") if any(p.kind == "beats" for p in models.values()) else None
        rhythm = (
            model_of(rhythm_model, "records") if any(p.kind == "records" for p in models.values()) else None
        )

        def work() -> dict[str, Any]:
            if example:
                return _analysis(_example_record(example), beat, rhythm)
            with _UploadedRecord(files or [], fs) as record:
                return _analysis(record, beat, rhythm)

        return await run(work)

    @app.get("/examples")
    async def examples() -> list[dict[str, Any]]:
        from leanecg.quickstart import shipped_examples

        return [{"name": n} for n in shipped_examples()]

    @app.get("/")
    async def index() -> FileResponse:
        return FileResponse(_WEB / "index.html", media_type="text/html")

    @app.get("/static/{name}")
    async def static(name: str) -> FileResponse:
        file = _WEB / name
        if not _SAFE_NAME.match(name) or not file.is_file():
            raise _HTTPProblem(404, f"{name}: not found")
        media = {".js": "text/javascript", ".css": "text/css"}.get(file.suffix, "application/octet-stream")
        return FileResponse(file, media_type=media)

    @app.websocket("/stream")
    async def stream(ws: WebSocket) -> None:
        params = ws.query_params
        if config.token and not _token_ok(ws.headers.get("authorization"), params.get("token"), config.token):
            await ws.close(code=1008, reason="missing or wrong token")
            return
        await ws.accept()
        try:
            session = _StreamSession.open(models, params)
        except (_HTTPProblem, LeanECGError) as exc:
            await ws.send_json({"error": getattr(exc, "problem", None) or str(exc)})
            await ws.close(code=1003)
            return
        try:
            while True:
                msg = await ws.receive()
                if msg["type"] == "websocket.disconnect":
                    return
                if msg.get("text") is not None and msg["text"].strip().lower() in ("end", '"end"'):
                    out = await run(session.finish)
                    await ws.send_json(out)
                    await ws.close()
                    return
                chunk = session.parse(msg.get("text"), msg.get("bytes"), config.max_upload_bytes)
                await ws.send_json(await run(session.process, chunk))
        except (LeanECGError, _HTTPProblem) as exc:
            await ws.send_json({"error": getattr(exc, "problem", None) or str(exc)})
            await ws.close(code=1003)
        except WebSocketDisconnect:
            return

    return app


# -------------------------------------------------------------------------------------------- uploads


class _BodyTooLarge(Exception):
    pass


def _too_large(limit: int) -> str:
    return f"upload: the request body exceeds the limit of {limit:,} bytes"


class _BodyLimit:
    """ASGI middleware: a request body longer than ``limit`` bytes (chunked or lying about its length) is cut
    off with :class:`_BodyTooLarge` (answered 413)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _BodyTooLarge
            return message

        await self.app(scope, limited, send)


def _token_ok(header: str | None, query: str | None, token: str) -> bool:
    import hmac

    given = None
    if header and header.lower().startswith("bearer "):
        given = header[7:].strip()
    elif query:
        given = query
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def _safe_name(name: str | None) -> str:
    """The uploaded file's base name, if it is a plain, safe one (no folders, no hidden files)."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    if not base or not _SAFE_NAME.match(base) or ".." in base:
        raise _HTTPProblem(400, f"upload: {name!r} is not an acceptable file name (letters, digits, . _ + -)")
    if not base.lower().endswith(_UPLOAD_SUFFIXES):
        raise _HTTPProblem(
            400,
            f"{base}: not an ECG record file (send WFDB .hea + .dat, challenge .mat + .hea, one CSV with fs, "
            "or EDF)",
        )
    return base


async def _read_upload(request: Any, config: ServeConfig) -> list[tuple[str, bytes]]:
    """The ``file`` fields of a multipart upload as ``(safe name, bytes)``."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise _HTTPProblem(
            415, "upload: send the record as multipart/form-data, its files in fields named 'file'"
        )
    try:
        form = await request.form(max_files=MAX_FILES, max_fields=16)
    except _BodyTooLarge:
        raise
    except Exception as exc:  # malformed multipart bodies (starlette's MultiPartException, ...)
        detail = (
            getattr(exc, "detail", None) or getattr(exc, "message", None) or str(exc) or type(exc).__name__
        )
        raise _HTTPProblem(400, f"upload: not a readable multipart body ({detail})") from None
    files: list[tuple[str, bytes]] = []
    try:
        for item in form.getlist("file"):
            if isinstance(item, str) or not hasattr(item, "read"):
                raise _HTTPProblem(400, "upload: the 'file' fields must be files, not text")
            name = _safe_name(item.filename)
            if any(n == name for n, _ in files):
                raise _HTTPProblem(400, f"{name}: uploaded twice")
            files.append((name, await item.read()))
    finally:
        await form.close()
    if not files:
        raise _HTTPProblem(400, "upload: no record: send its files in fields named 'file'")
    return files


class _UploadedRecord:
    """The uploaded files written into a private temporary folder, read as one record; errors name the
    uploaded file (not the folder). The folder is removed on exit."""

    def __init__(self, files: list[tuple[str, bytes]], fs: float | None) -> None:
        self.files = files
        self.fs = fs
        self.tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Any:
        from leanecg.data import list_record_paths, load_record

        self.tmp = tempfile.TemporaryDirectory(prefix="leanecg-serve-")
        root = Path(self.tmp.name)
        try:
            for name, data in self.files:
                (root / name).write_bytes(data)
            if self.fs is not None and (not math.isfinite(self.fs) or self.fs <= 0):
                raise LeanECGError("fs", f"must be a positive sampling rate in Hz, got {self.fs:g}")
            paths = list_record_paths(root)
            if len(paths) != 1:
                names = ", ".join(p.name for p in paths)
                raise LeanECGError(
                    "upload", f"holds {len(paths)} records ({names}); send one record per request"
                )
            return load_record(paths[0], fs=self.fs, annotations=False)
        except BaseException as exc:
            self.__exit__(type(exc), exc, None)
            raise

    def __exit__(self, exc_type: Any = None, exc: Any = None, tb: Any = None) -> None:
        root = None
        if self.tmp is not None:
            root = Path(self.tmp.name)
            self.tmp.cleanup()
            self.tmp = None
        if isinstance(exc, LeanECGError) and root is not None:  # name the uploaded file, not the folder
            raise LeanECGError(_strip(exc.path, root), _strip(exc.problem, root)) from None


def _strip(text: Any, root: Path) -> str:
    s = str(text)
    for prefix in (str(root) + "/", str(root)):
        s = s.replace(prefix, "")
    return s or "upload"


# ------------------------------------------------------------------------------------------- the viewer


def _example_record(name: str) -> Any:
    from leanecg.data import load_record
    from leanecg.quickstart import EXAMPLES_DIR, shipped_examples

    if name not in shipped_examples():
        raise _HTTPProblem(404, f"example: unknown example {name!r} (see GET /examples)")
    return load_record(EXAMPLES_DIR / name, annotations=False)


def _analysis(record: Any, beat: tuple[str, Any] | None, rhythm: tuple[str, Any] | None) -> dict[str, Any]:
    """What the viewer draws: the signal of the lead the beat model used, beats, rhythm probabilities."""
    out: dict[str, Any] = {
        "record": record.name,
        "fs": float(record.fs),
        "leads": list(record.leads),
        "n_samples": int(record.n_samples),
        "beats": [],
        "beat_model": None,
        "rhythm": None,
    }
    col = 0
    if beat is not None:
        name, pkg = beat
        col = int(pkg.lead_choice(record.leads).columns[0])
        pred = pkg.predict_beats(record)
        out["beat_model"] = {"name": name, "classes": pkg.class_names}
        out["beats"] = _beats_json(pkg, pred)
    if rhythm is not None:
        name, pkg = rhythm
        try:
            probs = pkg.predict_records([record])
            how = str(pkg.lead_choice(record.leads))
        except LeanECGError:  # e.g. a lead-I model on a two-lead Holter: the beat model's lead feeds it
            probs = pkg.predict_records([record], lead=record.leads[col])
            how = str(pkg.lead_choice(record.leads, record.leads[col]))
        (label,) = pkg.labels_of(probs)
        out["rhythm"] = {
            "model": name,
            "label": label,
            "classes": pkg.class_names,
            "probs": _probs(pkg.columns, probs[0]),
            "leads": how,
        }
    x = np.asarray(record.signal[:MAX_VIEW_SAMPLES, col], dtype=np.float64)
    out["lead"] = record.leads[col]
    out["signal"] = [None if not math.isfinite(v) else round(v, 4) for v in x.tolist()]
    return out


# ----------------------------------------------------------------------------------------- WebSocket


class _StreamSession:
    """One ``WS /stream`` connection: a :class:`~leanecg.deploy.stream.StreamClassifier` fed frame by frame."""

    def __init__(self, pkg: Any, clf: Any, n_leads: int) -> None:
        self.pkg = pkg
        self.clf = clf
        self.n_leads = n_leads
        self.n_in = 0
        self.rows = 0
        self.counts: dict[str, int] = {}

    @classmethod
    def open(cls, models: dict[str, Any], params: Any) -> "_StreamSession":
        from leanecg.deploy.stream import StreamClassifier

        name = params.get("model")
        if name is None and len(models) == 1:
            name = next(iter(models))
        pkg = models.get(name or "")
        if pkg is None:
            raise _HTTPProblem(404, f"model: unknown model {name!r} (loaded: {', '.join(models)})")
        try:
            fs = float(params.get("fs", ""))
        except ValueError:
            raise _HTTPProblem(400, "fs: give the stream's sampling rate, ?fs=HZ") from None
        if not math.isfinite(fs) or not 1 <= fs <= 100_000:
            raise _HTTPProblem(400, f"fs: must be a number from 1 to 100000 Hz, got {params.get('fs')}")
        leads = [s.strip() for s in params.get("leads", "").split(",") if s.strip()]
        if not leads:
            leads = list(pkg.input.get("leads") or [])[:1] or ["I"]
        gate = str(params.get("rhythm_gate", "true")).lower()
        if gate not in ("true", "false", "1", "0"):
            raise _HTTPProblem(400, f"rhythm_gate: true or false, got {params.get('rhythm_gate')}")
        if gate in ("false", "0"):
            pkg = pkg.without_rhythm_gate()
        clf = StreamClassifier(pkg, fs, leads, name="ws", source="stream", lead=params.get("lead"))
        return cls(pkg, clf, len(leads))

    def parse(self, text: str | None, data: bytes | None, limit: int) -> np.ndarray:
        if data is not None:
            if len(data) > limit:
                raise _HTTPProblem(413, _too_large(limit))
            if len(data) % (4 * self.n_leads):
                raise _HTTPProblem(
                    400, f"frame: {len(data)} bytes are not whole float32 rows of {self.n_leads} lead(s)"
                )
            x = np.frombuffer(data, dtype="<f4").reshape(-1, self.n_leads)
        else:
            if text is not None and len(text) > limit:
                raise _HTTPProblem(413, _too_large(limit))
            try:
                x = np.asarray(json.loads(text or ""), dtype=np.float64)
            except (json.JSONDecodeError, ValueError, TypeError):
                raise _HTTPProblem(400, "frame: not a JSON list of samples (or 'end')") from None
            if x.ndim == 1 and self.n_leads == 1:
                x = x[:, None]
            if x.ndim != 2 or x.shape[1] != self.n_leads:
                raise _HTTPProblem(
                    400, f"frame: samples of shape {x.shape}; expected rows of {self.n_leads} lead value(s)"
                )
        return np.ascontiguousarray(x, dtype=np.float32)

    def _update(self, update: Any) -> dict[str, Any]:
        cols = self.pkg.columns
        rows = []
        probs = update.probs if update.probs is not None else np.zeros((0, len(cols)))
        for key, label, p in zip(update.keys, update.labels, probs, strict=True):
            rows.append(
                {("sample" if self.pkg.kind == "beats" else "window"): key, "label": label, **_probs(cols, p)}
            )
        self.rows += len(rows)
        events = []
        for e in update.events:
            self.counts[e.label] = self.counts.get(e.label, 0) + 1
            events.append({"kind": e.kind, "label": e.label, "time_s": round(e.time_s, 3), "text": e.text})
        key = "beats" if self.pkg.kind == "beats" else "windows"
        return {key: rows, "events": events}

    def process(self, chunk: np.ndarray) -> dict[str, Any]:
        self.n_in += chunk.shape[0]
        return self._update(self.clf.process(chunk))

    def finish(self) -> dict[str, Any]:
        out = self._update(self.clf.flush())
        out["done"] = True
        out["summary"] = {
            "samples": self.n_in,
            "rows": self.rows,
            "events_by_label": self.counts,
            "leads": str(self.clf.lead_choice),
        }
        return out
