"""The web app: the REST API now, the server-rendered pages on the same queries next.

``/api/v1/openapi.json`` describes the API. FastAPI's interactive docs are off: they load
their JavaScript from a CDN, and Shoal works offline.
"""

from __future__ import annotations

from fastapi import FastAPI

from shoal.http import BodyLimit, install_error_handlers
from shoal.sdk.client import Client
from shoal.web.api import api_router


def create_web_app(client: Client, *, max_body_bytes: int = 1 * 2**20) -> FastAPI:
    """The REST API (and pages, as they land) over ``client``'s store."""
    app = FastAPI(
        title="Shoal",
        description="Fleets of models: search, facets, aliases, runs, datasets, lineage.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    install_error_handlers(app)
    app.include_router(api_router(client))
    return app
