"""``shoal ui``: the pages and the REST API on uvicorn; auth on unless ``--no-auth`` (loopback)."""

from __future__ import annotations

from typing import Annotated

import typer

from shoal.cli import _output
from shoal.cli._serving import (
    AllowHostOption,
    CertOption,
    ForwardedOption,
    KeyOption,
    NoAuthOption,
    serving,
)
from shoal.cli._session import client


def ui_command(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", help="Where to listen; not loopback: auth stays on.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8080,
    no_auth: NoAuthOption = False,
    allow_host: AllowHostOption = None,
    forwarded_allow_ips: ForwardedOption = None,
    ssl_certfile: CertOption = None,
    ssl_keyfile: KeyOption = None,
) -> None:
    """Serve the pages and the REST API under /api/v1 (schema at /api/v1/openapi.json)."""
    setup = serving(host, "shoal ui", no_auth=no_auth, allow_hosts=allow_host,
                    forwarded=forwarded_allow_ips, certfile=ssl_certfile,
                    keyfile=ssl_keyfile)  # fmt: skip
    import uvicorn

    from shoal.web import create_web_app

    app = create_web_app(client(ctx), auth=setup.auth, allowed_hosts=setup.allowed_hosts)
    _output.note(f"Shoal on {setup.scheme}://{host}:{port} (API under /api/v1)")
    uvicorn.run(app, host=host, port=port, log_level="warning", **setup.uvicorn)
