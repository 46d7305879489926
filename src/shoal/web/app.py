"""The web app: the REST API under ``/api/v1`` and the pages, on the same SDK queries.

``/api/v1/openapi.json`` describes the API. FastAPI's interactive docs are off: they load
their JavaScript from a CDN, and Shoal works offline.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from shoal.errors import ShoalError
from shoal.http import BodyLimit, install_error_handlers
from shoal.http.auth import Auth, install_auth
from shoal.http.errors import describe, log_failure, request_id_of
from shoal.http.headers import secure
from shoal.sdk.client import Client
from shoal.web.access_pages import access_router
from shoal.web.alias_pages import alias_router
from shoal.web.api import api_router
from shoal.web.cards_api import cards_router
from shoal.web.champion_pages import champion_router
from shoal.web.export_api import export_router
from shoal.web.history_pages import history_router
from shoal.web.lifecycle_api import lifecycle_router
from shoal.web.model_pages import model_router
from shoal.web.monitoring_api import monitoring_router
from shoal.web.monitoring_pages import alerts_router
from shoal.web.oidc_pages import oidc_router
from shoal.web.pages import page_router
from shoal.web.rendering import templates
from shoal.web.report_pages import report_router


def create_web_app(
    client: Client, *, auth: Auth, max_body_bytes: int = 1 * 2**20,
    allowed_hosts: Sequence[str] = (),
) -> FastAPI:  # fmt: skip
    """The REST API and the pages over ``client``'s store.

    ``auth`` says who may ask (:mod:`shoal.http.auth`): every route answers for the
    request's principal, scoped to its tenant below the routes (``client.serving()``);
    ``Auth.off()`` makes every request the local operator, for loopback only.

    Every answer carries the hardening headers of :mod:`shoal.http.headers`, and only
    requests whose ``Host`` is 127.0.0.1, localhost, ::1, one of ``allowed_hosts`` or of
    ``SHOAL_ALLOWED_HOSTS`` (``*.example.com`` for subdomains) are answered: any other
    Host gets a 400 (DNS rebinding).
    """
    app = FastAPI(
        title="Shoal",
        description="Fleets of models: search, facets, aliases, runs, datasets, lineage.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    install_auth(app, auth, client.registry)
    client = client.serving()
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    secure(app, allowed_hosts)
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
        if status == 401:
            return templates.TemplateResponse(
                request, "signin.html",
                {"next": str(request.url.path) + (f"?{request.url.query}" if request.url.query
                                                  else ""),
                 "error": None if getattr(request.state, "auth_error", None) is None else message,
                 "sso": request.app.state.guard.auth.oidc is not None,
                 "sso_redirect": getattr(request.app.state.guard.auth.oidc, "client_id",
                                         None) is not None},
                status_code=401, headers=headers,
            )  # fmt: skip
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
    app.include_router(alias_router(client))
    app.include_router(champion_router(client))
    app.include_router(history_router(client))
    app.include_router(model_router(client))
    app.include_router(alerts_router(client, templates))
    app.include_router(oidc_router(templates))
    app.include_router(access_router(client, templates))
    return app
