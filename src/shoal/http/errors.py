"""Errors as JSON: a :class:`~shoal.errors.ShoalError` and a bad body get a 4xx naming the field.

Statuses: 404 for :class:`NotFound`, 409 for :class:`Conflict`, 413 for a request over a
size limit (:class:`TooLarge`), 422 for any other :class:`InvalidInput` and for a body that
does not parse or validate, 503 when the store is unavailable. A 500 is a bug.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from shoal.errors import Conflict, InvalidInput, NotFound, ShoalError, StoreUnavailable


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
    return 400


def error_response(status: int, kind: str, message: str, field: str | None) -> JSONResponse:
    return JSONResponse(
        {"error": {"type": kind, "message": message, "field": field}}, status_code=status
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer ShoalErrors and invalid bodies or query parameters as JSON naming the field."""

    @app.exception_handler(ShoalError)
    async def shoal_error(request: Request, exc: ShoalError) -> JSONResponse:
        return error_response(status_of(exc), type(exc).__name__, str(exc), exc.field)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
        where = ".".join(
            str(part) for part in first.get("loc", ()) if part not in ("body", "query")
        )
        return error_response(422, "InvalidInput", f"{where or 'body'}: {first.get('msg', exc)}",
                              where or "body")  # fmt: skip
