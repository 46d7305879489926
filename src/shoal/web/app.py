"""The web app: the REST API under ``/api/v1`` and the pages, on the same SDK queries.

``/api/v1/openapi.json`` describes the API. FastAPI's interactive docs are off: they load
their JavaScript from a CDN, and Shoal works offline.
"""

from __future__ import annotations

from typing import cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from shoal.errors import ShoalError
from shoal.http import BodyLimit, install_error_handlers, status_of
from shoal.sdk.client import Client
from shoal.web.api import api_router
from shoal.web.monitoring_api import monitoring_router
from shoal.web.monitoring_pages import alerts_router
from shoal.web.pages import page_router, templates


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
    json_errors = dict(app.exception_handlers)

    async def page_or_json(request: Request, exc: Exception) -> Response:
        """JSON under /api/, an error page everywhere else: people read pages."""
        if request.url.path.startswith("/api/"):
            response: Response = await json_errors[
                type(exc) if type(exc) in json_errors else ShoalError
            ](request, exc)
            return response
        if isinstance(exc, ShoalError):
            status, message = status_of(exc), str(exc)
        else:  # the one other exception this handler is registered for
            errors = cast(RequestValidationError, exc).errors()
            status, message = 422, "; ".join(str(e.get("msg")) for e in errors)
        title = {404: "Not found", 422: "That request cannot be answered"}.get(status, "Error")
        return templates.TemplateResponse(
            request, "error.html", {"status": status, "title": title, "message": message},
            status_code=status,
        )  # fmt: skip

    app.add_exception_handler(ShoalError, page_or_json)
    app.add_exception_handler(RequestValidationError, page_or_json)
    # The monitoring routes first: a model's key may hold '/', so ".../models/{model:path}"
    # would otherwise take ".../models/K/monitoring" for a model named "K/monitoring".
    app.include_router(monitoring_router(client))
    app.include_router(api_router(client))
    app.include_router(page_router(client))
    app.include_router(alerts_router(client, templates))
    return app
