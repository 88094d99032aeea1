"""``leanecg serve``: the models over HTTP and WebSocket (the serve extra)."""

from __future__ import annotations

from typing import Annotated

import typer

from leanecg.cli.options import MAX_THREADS, check_option, split_names
from leanecg.cli.render import log
from leanecg.errors import LeanECGError


def serve(
    host: Annotated[
        str, typer.Option("--host", help="Interface to bind; anything but loopback requires --token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port, 1 to 65535.")] = 8000,
    models: Annotated[
        str | None,
        typer.Option(
            "--models",
            help="Comma-separated models to serve: shipped names, package folders or .onnx files "
            "(default: every shipped model).",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="LEANECG_TOKEN",
            help="Bearer token every API request must carry ('Authorization: Bearer T'; $LEANECG_TOKEN).",
        ),
    ] = None,
    max_upload_mb: Annotated[
        float, typer.Option("--max-upload-mb", help="Largest request body, MB (more is answered 413).")
    ] = 64.0,
    precision: Annotated[
        str, typer.Option("--precision", help="ONNX file of each package: fp32 or int8.")
    ] = "fp32",
    threads: Annotated[int, typer.Option("--threads", help="ONNX Runtime threads per model call.")] = 1,
    workers: Annotated[int, typer.Option("--workers", help="Model calls run at once (others wait).")] = 2,
) -> None:
    """Serve the models over HTTP and WebSocket (FastAPI + uvicorn): GET /health, /models; POST /predict,
    /beats (multipart uploads); WS /stream; the web viewer at /. Needs the serve extra."""
    import importlib.util

    if any(importlib.util.find_spec(m) is None for m in ("fastapi", "uvicorn", "multipart")):
        raise LeanECGError("leanecg serve", 'needs the serve extra: pip install "leanecg[serve]"')
    check_option("--port", port, 1, 65535, integer=True)
    check_option("--max-upload-mb", max_upload_mb, 0, 10_000, low_open=True, unit=" MB")
    check_option("--threads", threads, 1, MAX_THREADS, integer=True)
    check_option("--workers", workers, 1, 1024, integer=True)
    if precision not in ("fp32", "int8"):
        raise LeanECGError("--precision", f"must be fp32 or int8, got {precision!r}")
    from leanecg.deploy.serve import ServeConfig, check_bind, create_app

    check_bind(host, token)
    config = ServeConfig(
        models=split_names(models),
        token=token or None,
        max_upload_bytes=round(max_upload_mb * 1024 * 1024),
        precision=precision,
        threads=threads,
        workers=workers,
    )
    application = create_app(config)
    import uvicorn

    loaded = ", ".join(f"{k} ({p.backend.runtime})" for k, p in application.state.models.items())
    shown = f"[{host}]" if ":" in host else host
    log(f"leanecg serve: http://{shown}:{port}/ (models: {loaded}); Ctrl-C stops it")
    server = uvicorn.Server(
        uvicorn.Config(application, host=host, port=port, log_level="warning", access_log=False)
    )
    server.run()
