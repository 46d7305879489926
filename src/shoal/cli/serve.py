"""``shoal serve``: the prediction server for every fleet of the store, on uvicorn.

Auth is on by default (a ``predict`` token, or an editor's); ``--no-auth`` is for loopback
only. See :mod:`shoal.cli._serving` for the options it shares with ``shoal ui``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, TypedDict

import typer

from shoal import config
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
from shoal.errors import InvalidInput, MissingDependency
from shoal.http.auth import Auth


class ServeOptions(TypedDict):
    """What ``shoal serve`` passes on to :func:`shoal.serve.create_app`."""

    auth: Auth
    allowed_hosts: tuple[str, ...]
    cache_models: int
    cache_bytes: int
    refresh_seconds: float
    max_rows: int
    logs_url: str | None
    log_flush_rows: int
    log_flush_seconds: float
    log_max_waiting: int | None


def serve_command(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", help="Where to listen; not loopback: auth stays on.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8000,
    no_auth: NoAuthOption = False,
    allow_host: AllowHostOption = None,
    forwarded_allow_ips: ForwardedOption = None,
    ssl_certfile: CertOption = None,
    ssl_keyfile: KeyOption = None,
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
    log_max_waiting: Annotated[
        int | None,
        typer.Option(
            "--log-max-waiting",
            min=1,
            help="Rows a log may hold unwritten before requests get 503 "
            "(default 10 x --log-flush-rows).",
        ),
    ] = None,
    on_ray: Annotated[
        bool, typer.Option("--ray", help="Run as a Ray Serve app, models multiplexed.")
    ] = False,
    replicas: Annotated[
        int, typer.Option("--replicas", min=1, help="With --ray: model replicas.")
    ] = 1,
    models_per_replica: Annotated[
        int, typer.Option("--models-per-replica", min=1, help="With --ray: models each holds.")
    ] = 1000,
) -> None:
    """Serve predictions for every fleet: POST /api/v1/fleets/TENANT/FLEET/predict.

    Every prediction is logged to Parquet under --logs-url; a crash loses about
    --log-flush-rows rows or --log-flush-seconds of traffic; SIGTERM writes everything.
    """
    setup = serving(host, "shoal serve", no_auth=no_auth, allow_hosts=allow_host,
                    forwarded=forwarded_allow_ips, certfile=ssl_certfile,
                    keyfile=ssl_keyfile)  # fmt: skip
    options: ServeOptions = {
        "auth": setup.auth, "allowed_hosts": setup.allowed_hosts,
        "cache_models": cache_models, "cache_bytes": cache_mb * 2**20,
        "refresh_seconds": refresh_seconds, "max_rows": max_rows, "logs_url": logs_url,
        "log_flush_rows": log_flush_rows, "log_flush_seconds": log_flush_seconds,
        "log_max_waiting": log_max_waiting,
    }  # fmt: skip
    if on_ray:
        if setup.uvicorn.get("ssl_certfile") or setup.uvicorn.get("proxy_headers"):
            raise InvalidInput("--ray serves through Ray Serve's HTTP proxy: put TLS and "
                               "forwarded headers on a proxy in front of it",
                               field="ray")  # fmt: skip
        _serve_on_ray(ctx, host, port, replicas, models_per_replica, options)
        return
    import uvicorn

    from shoal.serve import create_app

    app = create_app(client(ctx), **options)
    _output.note(f"serving on {setup.scheme}://{host}:{port} "
                 "(POST /api/v1/fleets/TENANT/FLEET/predict)")  # fmt: skip
    uvicorn.run(app, host=host, port=port, log_level="warning", **setup.uvicorn)


def _serve_on_ray(
    ctx: typer.Context, host: str, port: int, replicas: int, models_per_replica: int,
    options: ServeOptions,
) -> None:  # fmt: skip
    """Deploy on Ray Serve and wait; replicas run elsewhere, so local paths are made absolute."""
    try:
        import ray.serve  # noqa: F401
    except ImportError:
        raise MissingDependency(
            "shoal serve --ray needs Ray Serve: pip install 'shoal[ray]'"
        ) from None
    from shoal.serve import ray_serve

    session = client(ctx)
    store, artifacts = _absolute(session.store_url), _absolute(session.artifacts_url)
    options["logs_url"] = _absolute(options["logs_url"] or config.logs_url())
    _output.note(f"serving on Ray at http://{host}:{port} ({replicas} model replica(s), "
                 f"{models_per_replica} models each); Ctrl-C stops")  # fmt: skip
    ray_serve.run(store, artifacts, host=host, port=port, replicas=replicas,
                  models_per_replica=models_per_replica, **options)  # fmt: skip


def _absolute(url: str) -> str:
    """A SQLite URL or a plain folder with a relative path, made absolute; others as given."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        return f"sqlite:///{Path(url[len('sqlite:///') :]).resolve()}"
    if "://" not in url:
        return str(Path(url).resolve())
    return url
