"""Errors as JSON: every answer that is not a success has one shape, whatever went wrong.

``{"error": {"type", "message", "field", "request_id"}}``. Statuses: 404 for
:class:`NotFound` and for a route that does not exist, 405 for a method a route does not
take, 409 for :class:`Conflict`, 413 for a request over a size limit (:class:`TooLarge`),
422 for any other :class:`InvalidInput` and for a body or parameter that does not parse
or validate, 503 with ``Retry-After`` when the store is busy or unreachable
(:class:`StoreUnavailable`). A 500 is a bug: it still answers in this shape, and its
``request_id`` is the one the server log prints beside the traceback, so a user can
quote it and an operator can find it.

Every response carries ``X-Request-Id``: the client's own (when it sent a sane one) or a
new one, so a request can be followed from the client's log into the server's.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any, NamedTuple

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.routing import Match

from shoal.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    ShoalError,
    StoreUnavailable,
    Unauthenticated,
)

log = logging.getLogger("shoal.http")

RETRY_AFTER_SECONDS = 1
"""What a 503 asks the client to wait: a busy SQLite writer usually finishes within it."""

_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class ErrorDetail(BaseModel):
    type: str = Field(description="The error's class: InvalidInput, NotFound, Conflict...")
    message: str = Field(description="What was wrong and what to do instead")
    field: str | None = Field(description="The parameter or body field at fault, if one is")
    request_id: str | None = Field(description="This request's id, as in X-Request-Id")


class ErrorBody(BaseModel):
    """The one error shape of every Shoal server."""

    error: ErrorDetail


class TooLarge(InvalidInput):
    """A request over a size limit: too many rows or items (HTTP 413)."""


def status_of(exc: ShoalError) -> int:
    """The HTTP status of a deliberate error."""
    if isinstance(exc, TooLarge):
        return 413
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, InvalidInput):
        return 422
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, StoreUnavailable):
        return 503
    if isinstance(exc, Unauthenticated):
        return 401
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, RateLimited):
        return 429
    return 400


def error_response(
    status: int,
    kind: str,
    message: str,
    field: str | None,
    *,
    request_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"type": kind, "message": message, "field": field, "request_id": request_id}}
    return JSONResponse(body, status_code=status, headers=headers)


def request_id_of(request: Request) -> str | None:
    """The id :class:`RequestIds` gave this request (None outside an app that has it)."""
    return getattr(request.state, "request_id", None)


def headers_of(exc: ShoalError) -> dict[str, str] | None:
    """Extra headers of a deliberate error: ``Retry-After`` on a busy store."""
    if isinstance(exc, StoreUnavailable):
        return {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if isinstance(exc, RateLimited):
        return {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, Unauthenticated):
        return {"WWW-Authenticate": 'Bearer realm="shoal"'}
    return None


class RequestIds:
    """ASGI middleware: give each request an id (the client's ``X-Request-Id`` when sane)
    in ``request.state.request_id`` and answer it in the ``X-Request-Id`` header."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = next((v for k, v in scope.get("headers") or () if k == b"x-request-id"), b"")
        text = sent.decode("latin-1")
        request_id = text if _SANE_ID.fullmatch(text) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def tagged(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"],
                                      (b"x-request-id", request_id.encode())]  # fmt: skip
            await send(message)

        await self.app(scope, receive, tagged)


class Failure(NamedTuple):
    """What an exception answers: status, error type, message, field, extra headers."""

    status: int
    kind: str
    message: str
    field: str | None = None
    headers: dict[str, str] | None = None


def describe(exc: Exception, request: Request) -> Failure:
    """The answer to any exception, for JSON and pages alike."""
    if isinstance(exc, ShoalError):
        return Failure(status_of(exc), type(exc).__name__, str(exc), exc.field, headers_of(exc))
    if isinstance(exc, RequestValidationError):
        first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ())
                         if part not in ("body", "query", "path"))  # fmt: skip
        schema = getattr(request.app, "openapi_url", None) or "the API schema"
        message = f"{where or 'body'}: {first.get('msg', exc)} (what it takes: {schema})"
        return Failure(422, "InvalidInput", message, where or "body")
    if isinstance(exc, HTTPException):
        route = f"{request.method} {request.url.path}"
        if exc.status_code == 404:
            message = f"no such route: {route}; the routes are in /api/v1/openapi.json"
            return Failure(404, "NotFound", message, "path")
        if exc.status_code == 400:  # FastAPI: a body that is not JSON (or not UTF-8)
            message = "the body is not valid JSON: send a UTF-8 JSON object (see the schema)"
            return Failure(422, "InvalidInput", message, "body")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request) or headers.get("Allow", "")
            message = f"{route} is not allowed: use {headers['Allow'] or 'another method'}"
            return Failure(405, "MethodNotAllowed", message, "method", headers)
        return Failure(exc.status_code, "HTTPError", str(exc.detail), None, headers or None)
    message = (
        "the server failed on this request (a bug, not your input): quote request id "
        f"{request_id_of(request)} to the operator; the server log has the traceback under it"
    )
    return Failure(500, "InternalError", message)


def log_failure(request: Request, exc: Exception) -> None:
    """Log an unexpected exception with the request id its 500 answer quotes."""
    log.error("request %s (%s %s) failed", request_id_of(request), request.method,
              request.url.path, exc_info=exc)  # fmt: skip


def allowed_methods(request: Request) -> str:
    """Every method some route written for this path takes (Starlette names only the
    first route's).

    When routes of several templates match, the most literal wins: the model route's
    ``models/{model:path}`` also matches ``models/K/card/approve`` (its parameter swallows
    the slashes), but that URL is the card route's, and the schema documents its methods.
    """
    found: dict[int, set[str]] = {}
    pending = list(request.app.router.routes)
    while pending:
        route = pending.pop()
        included = getattr(route, "original_router", None)  # FastAPI's include_router
        if included is not None:
            pending.extend(included.routes)
            continue
        if getattr(route, "methods", None) and route.matches(request.scope)[0] is Match.PARTIAL:
            literal = len(re.sub(r"{[^}]*}", "", getattr(route, "path", "")))
            found.setdefault(literal, set()).update(route.methods)
    methods = found[max(found)] if found else set()
    return ", ".join(sorted(methods - {"HEAD"}))


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No credentials, or unknown, expired or revoked "
          "ones: send Authorization: Bearer TOKEN"},
    403: {"model": ErrorBody, "description": "The caller's role does not allow this"},
    404: {"model": ErrorBody, "description": "No such tenant, fleet, model, version or route"},
    422: {"model": ErrorBody, "description": "A parameter or body field is invalid (named)"},
    500: {"model": ErrorBody, "description": "A bug: quote the request_id to the operator"},
    503: {"model": ErrorBody, "description": "The store is busy or unreachable: retry after "
          "Retry-After seconds"},
}  # fmt: skip
"""The errors every route can answer, for the OpenAPI schema."""

WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    409: {"model": ErrorBody, "description": "The write clashes with what is stored"},
    429: {
        "model": ErrorBody,
        "description": "Too many writes from this principal: retry after Retry-After seconds",
    },
    413: {"model": ErrorBody, "description": "The body is over the size limit"},
}
"""The errors a route that writes can answer besides: a conflict, a body too large."""


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error in the one JSON shape (module doc), with a request id."""
    app.add_middleware(RequestIds)

    async def as_json(request: Request, exc: Exception) -> JSONResponse:
        failure = describe(exc, request)
        if failure.status >= 500 and not isinstance(exc, ShoalError):
            log_failure(request, exc)
        return error_response(*failure[:4], request_id=request_id_of(request),
                              headers=failure.headers)  # fmt: skip

    app.add_exception_handler(ShoalError, as_json)
    app.add_exception_handler(RequestValidationError, as_json)
    app.add_exception_handler(HTTPException, as_json)
    app.add_exception_handler(Exception, as_json)
