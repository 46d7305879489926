"""``shoal serve``: the prediction server for every fleet of the store, on uvicorn.

It binds loopback only (127.0.0.1, ::1, localhost) until the API has tokens: a server that
answers anyone who can reach the port must not be one flag away.
"""

from __future__ import annotations

from typing import Annotated

import typer

from shoal.cli import _output
from shoal.cli._session import client
from shoal.errors import InvalidInput

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Loopback only, for now.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8000,
    cache_mb: Annotated[
        int, typer.Option("--cache-mb", min=1, help="Memory for loaded models, estimated.")
    ] = 512,
    cache_models: Annotated[
        int, typer.Option("--cache-models", min=1, help="Loaded models kept at most.")
    ] = 10_000,
    refresh_seconds: Annotated[
        float, typer.Option("--refresh-seconds", min=0.0, help="How often alias moves are checked.")
    ] = 1.0,
    max_rows: Annotated[int, typer.Option("--max-rows", min=1, help="Rows per request.")] = 10_000,
    logs_url: Annotated[
        str | None, typer.Option("--logs-url", help="Where logs go (default SHOAL_LOGS_URL).")
    ] = None,
    log_flush_rows: Annotated[
        int, typer.Option("--log-flush-rows", min=1, help="Write the log at this many rows.")
    ] = 10_000,
    log_flush_seconds: Annotated[
        float,
        typer.Option("--log-flush-seconds", min=0.05, help="...or when the oldest is this old."),
    ] = 5.0,
) -> None:
    """Serve predictions for every fleet: POST /api/v1/fleets/TENANT/FLEET/predict.

    Every prediction is logged to Parquet under --logs-url; a crash loses at most
    --log-flush-rows rows or --log-flush-seconds of traffic; SIGTERM writes everything.
    """
    if host not in LOOPBACK:
        raise InvalidInput(
            f"--host {host!r} is not a loopback address; until the API has access tokens "
            "shoal serve binds 127.0.0.1 (or ::1) only: put a proxy that authenticates in front",
            field="host",
        )
    import uvicorn

    from shoal.serve import create_app

    app = create_app(
        client(ctx), cache_models=cache_models, cache_bytes=cache_mb * 2**20,
        refresh_seconds=refresh_seconds, max_rows=max_rows, logs_url=logs_url,
        log_flush_rows=log_flush_rows, log_flush_seconds=log_flush_seconds,
    )  # fmt: skip
    _output.note(f"serving on http://{host}:{port} (POST /api/v1/fleets/TENANT/FLEET/predict)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
