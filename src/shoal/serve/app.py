"""The HTTP API of ``shoal serve``: FastAPI routes over one :class:`Predictor`.

Routes (JSON in, JSON out):

- ``POST /api/v1/fleets/{tenant}/{fleet}/predict``: ``{"rows": [{key columns...,
  features...}], "alias": "production" | "version": 3}``; rows may span many keys.
- ``POST /api/v1/fleets/{tenant}/{fleet}/models/predict``: ``{"key": {...}, "rows":
  [{features...}]}``, one model.
- ``GET /healthz`` (the process answers), ``GET /readyz`` (the store answers),
  ``GET /metrics`` (Prometheus text).

Every error is ``{"error": {"type", "message", "field"}}`` with a 4xx status: 404 for an
unknown fleet or a key with no version, 413 for a body or row count over the limit, 422
for anything else wrong in the request. Bad input never yields a 500; a 500 is a bug.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from shoal.artifacts import BlobRef
from shoal.errors import InvalidInput, NotFound, ShoalError
from shoal.sdk.client import Client
from shoal.serve.cache import ModelCache
from shoal.serve.limits import BodyLimit
from shoal.serve.metrics import ServerMetrics
from shoal.serve.predictor import Answer, Predictor, TooManyRows
from shoal.store.tenancy import FleetRef


class PredictRequest(BaseModel):
    """Rows that may span many keys; each carries its key values and its features."""

    model_config = ConfigDict(extra="forbid")
    rows: list[dict[str, Any]] = Field(min_length=1)
    alias: str | None = None
    version: int | None = Field(default=None, ge=1)


class ModelPredictRequest(PredictRequest):
    """Rows of one model: ``key`` names it, rows carry only features."""

    key: dict[str, str | int]


def create_app(
    client: Client,
    *,
    cache_models: int = 10_000,
    cache_bytes: int = 512 * 2**20,
    refresh_seconds: float = 1.0,
    max_rows: int = 10_000,
    max_body_bytes: int = 10 * 2**20,
) -> FastAPI:
    """The server for every fleet of ``client``'s store, with one shared model cache."""
    metrics = ServerMetrics()
    registry = client.registry
    cache = ModelCache(
        lambda row: registry.load(row["fleet"], row, location=_location(row)),
        max_models=cache_models, max_bytes=cache_bytes, on_load=metrics.observe_load,
    )  # fmt: skip
    predictor = Predictor(registry, _fleet_lookup(client), cache,
                          refresh_seconds=refresh_seconds, max_rows=max_rows)  # fmt: skip
    metrics.watch(cache)
    app = FastAPI(title="Shoal prediction server", docs_url=None, redoc_url=None)
    app.state.predictor = predictor
    app.state.metrics = metrics
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)

    @app.middleware("http")
    async def timing(request: Request, call_next: Callable[[Request], Any]) -> Any:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        metrics.observe_request(getattr(route, "path", "unmatched"), response.status_code,
                                time.perf_counter() - started)  # fmt: skip
        return response

    @app.exception_handler(ShoalError)
    async def shoal_error(request: Request, exc: ShoalError) -> JSONResponse:
        return _error(_status(exc), type(exc).__name__, str(exc), exc.field)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        return _error(422, "InvalidInput", f"{where or 'body'}: {first.get('msg', exc)}",
                      where or "body")  # fmt: skip

    @app.post("/api/v1/fleets/{tenant}/{fleet}/predict")
    def predict(tenant: str, fleet: str, body: PredictRequest, request: Request) -> Any:
        answers = predictor.predict(tenant, fleet, body.rows, alias=_alias(body),
                                    version=body.version)  # fmt: skip
        return _answer(request, answers, metrics)

    @app.post("/api/v1/fleets/{tenant}/{fleet}/models/predict")
    def predict_one(tenant: str, fleet: str, body: ModelPredictRequest, request: Request) -> Any:
        overlap = sorted(set(body.key) & {k for row in body.rows for k in row})
        if overlap:
            raise InvalidInput(
                f"rows repeat the key column(s) {overlap}; with 'key' given, rows carry "
                "only features", field=f"rows.{overlap[0]}",
            )  # fmt: skip
        rows = [{**body.key, **row} for row in body.rows]
        answers = predictor.predict(tenant, fleet, rows, alias=_alias(body), version=body.version)
        return _answer(request, answers, metrics)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> Any:
        try:
            with registry.store.read() as conn:
                conn.execute(sa.text("SELECT 1"))
        except Exception as exc:  # the store is what readiness is about
            return _error(503, "NotReady", f"the store does not answer: {exc}", None)
        return {"status": "ready", "models_cached": len(cache)}

    @app.get("/metrics")
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type=metrics.content_type)

    return app


def _alias(body: PredictRequest) -> str | None:
    if body.version is not None and body.alias is not None:
        raise InvalidInput("give alias or version, not both", field="version")
    return None if body.version is not None else (body.alias or "production")


def _answer(request: Request, answers: list[Answer], metrics: ServerMetrics) -> dict[str, Any]:
    metrics.rows.inc(len(answers))
    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
    return {
        "request_id": request_id,
        "predictions": [
            {"key": a.key, "version": a.version, "version_id": a.version_id,
             "prediction": a.prediction}
            for a in answers
        ],
    }  # fmt: skip


def _location(row: dict[str, Any]) -> BlobRef | None:
    if row.get("pack") is None and row.get("offset") is None:
        return None
    return BlobRef(row["artifact_sha256"], row["artifact_size"], row["pack"], row["offset"] or 0)


def _fleet_lookup(client: Client) -> Callable[[str, str], FleetRef]:
    """Fleets by (tenant, name), remembered once found (a fleet's identity never changes)."""
    known: dict[tuple[str, str], FleetRef] = {}

    def lookup(tenant: str, name: str) -> FleetRef:
        ref = known.get((tenant, name))
        if ref is None:
            ref = client.fleet(f"{tenant}/{name}").ref
            known[(tenant, name)] = ref
        return ref

    return lookup


def _status(exc: ShoalError) -> int:
    if isinstance(exc, TooManyRows):
        return 413
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, InvalidInput):
        return 422
    return 409


def _error(status: int, kind: str, message: str, field: str | None) -> JSONResponse:
    return JSONResponse(
        {"error": {"type": kind, "message": message, "field": field}}, status_code=status
    )
