"""``shoal ui``: the REST API (and, as they land, the pages) on uvicorn, loopback only."""

from __future__ import annotations

from typing import Annotated

import typer

from shoal.cli import _output
from shoal.cli._session import client
from shoal.cli.serve import require_loopback


def ui_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Loopback only, for now.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8080,
) -> None:
    """Serve the REST API under /api/v1 (schema at /api/v1/openapi.json)."""
    require_loopback(host, "shoal ui")
    import uvicorn

    from shoal.web import create_web_app

    _output.note(f"Shoal on http://{host}:{port} (API under /api/v1)")
    uvicorn.run(create_web_app(client(ctx)), host=host, port=port, log_level="warning")
