"""The web app: the REST API under ``/api/v1`` and the pages, on the same SDK queries.

``/api/v1/openapi.json`` describes the API. FastAPI's interactive docs are off: they load
their JavaScript from a CDN, and Shoal works offline.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from shoal.errors import ShoalError
from shoal.http import BodyLimit, install_error_handlers
from shoal.http.errors import describe, log_failure, request_id_of
from shoal.sdk.client import Client
from shoal.web.api import api_router
from shoal.web.cards_api import cards_router
from shoal.web.export_api import export_router
from shoal.web.lifecycle_api import lifecycle_router
from shoal.web.monitoring_api import monitoring_router
from shoal.web.monitoring_pages import alerts_router
from shoal.web.pages import page_router, templates
from shoal.web.report_pages import report_router


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
            response: Response = await json_errors[Exception](request, exc)
            return response
        status, _kind, message, _field, headers = describe(exc, request)
        if status >= 500 and not isinstance(exc, ShoalError):
            log_failure(request, exc)
        if status == 404 and isinstance(exc, HTTPException):
            message = f"there is no page at {request.url.path}: start from the fleets page"
        title = {404: "Not found", 422: "That request cannot be answered",
                 503: "The store is busy"}.get(status, "Error")  # fmt: skip
        return templates.TemplateResponse(
            request, "error.html",
            {"status": status, "title": title, "message": message,
             "request_id": request_id_of(request)},
            status_code=status, headers=headers,
        )  # fmt: skip

    for kind in (ShoalError, RequestValidationError, HTTPException, Exception):
        app.add_exception_handler(kind, page_or_json)
    # The monitoring routes first: a model's key may hold '/', so ".../models/{model:path}"
    # would otherwise take ".../models/K/monitoring" for a model named "K/monitoring".
    app.include_router(monitoring_router(client))
    app.include_router(cards_router(client))
    app.include_router(api_router(client))
    app.include_router(export_router(client))
    app.include_router(lifecycle_router(client))
    app.include_router(report_router(client))
    app.include_router(page_router(client))
    app.include_router(alerts_router(client, templates))
    return app
