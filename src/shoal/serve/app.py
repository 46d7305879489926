"""The HTTP API of ``shoal serve``: FastAPI routes over one :class:`Predictor`.

Routes (JSON in, JSON out):

- ``POST /api/v1/fleets/{tenant}/{fleet}/predict``: ``{"rows": [{key columns...,
  features...}], "alias": "production" | "version": 3}``; rows may span many keys; an
  optional ``"as_of"`` (a time or a date, UTC when naive) is the time the predictions are
  for, logged as ``event_at`` (see :mod:`shoal.serve.logbook`).
- ``POST /api/v1/fleets/{tenant}/{fleet}/models/predict``: ``{"key": {...}, "rows":
  [{features...}]}``, one model.
- ``GET /healthz`` (the process answers), ``GET /readyz`` (the store answers),
  ``GET /metrics`` (Prometheus text).

Every error is ``{"error": {"type", "message", "field"}}`` with a 4xx status: 404 for an
unknown fleet or a key with no version, 413 for a body or row count over the limit, 422
for anything else wrong in the request (a value the logs cannot hold included: NaN,
Infinity, an object, see :func:`~shoal.serve.logbook.refuse_unloggable`), and 503 with
``Retry-After`` when the logs cannot be written and too many rows wait: a request is
answered only once its rows are kept. Bad input never yields a 500; a 500 is a bug.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from shoal import config
from shoal.artifacts import BlobRef
from shoal.errors import InvalidInput
from shoal.http import BodyLimit, error_response, install_error_handlers
from shoal.http.auth import PREDICT, PUBLIC, Auth, install_auth
from shoal.http.errors import ERROR_RESPONSES, WRITE_RESPONSES, TooLarge, request_id_of
from shoal.http.headers import secure
from shoal.http.params import FleetName, Tenant
from shoal.registry import NAME_PATTERN, FleetRef, acting
from shoal.sdk.client import Client
from shoal.serve.cache import ModelCache
from shoal.serve.logbook import ParquetLog, now, refuse_unloggable
from shoal.serve.metrics import ServerMetrics
from shoal.serve.predictor import Answer, LocalModels, Models, Predictor

_BOTH_ALIAS_AND_VERSION: dict[str, Any] = {
    "required": ["alias", "version"],
    "properties": {"alias": {"type": "string"}, "version": {"type": "integer"}},
}
"""The schema's way to say 'alias or version, not both' (the server refuses both)."""

_NAMES_ITS_PREDICTION: dict[str, Any] = {
    "anyOf": [
        {"required": ["request_id"], "properties": {"request_id": {"type": "string"}}},
        {"required": ["key", "time"],
         "properties": {"key": {"type": "object"}, "time": {"type": "string"}}},
    ]
}  # fmt: skip
"""The schema's way to say 'request_id, or key and time' (the server refuses neither)."""


class PredictRequest(BaseModel):
    """Rows that may span many keys; each carries its key values and its features."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"not": _BOTH_ALIAS_AND_VERSION})
    rows: list[dict[str, Any]] = Field(min_length=1)
    alias: str | None = Field(default=None, pattern=NAME_PATTERN,
                              description="The alias to serve (default production)")  # fmt: skip
    version: int | None = Field(default=None, ge=1, le=2**31 - 1,
                                description="A version number instead of an alias")  # fmt: skip
    as_of: dt.datetime | None = Field(
        default=None,
        description="The time the predictions are for (a forecast's date; UTC when it has no "
        "zone), logged as event_at: monitoring by event time windows on it",
    )


class ModelPredictRequest(PredictRequest):
    """Rows of one model: ``key`` names it, rows carry only features."""

    key: dict[str, str | int]


class FeedbackItem(BaseModel):
    """Ground truth for one prediction: by ``request_id`` (and ``row``), or by key and time."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_NAMES_ITS_PREDICTION)
    actual: float | int | str | bool
    request_id: str | None = Field(default=None, min_length=1, max_length=200)
    row: int = Field(default=0, ge=0, le=2**31 - 1)
    key: dict[str, str | int] | None = None
    time: dt.datetime | None = None


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[FeedbackItem] = Field(min_length=1)


def create_app(
    client: Client,
    *,
    auth: Auth,
    cache_models: int = 10_000,
    cache_bytes: int = 512 * 2**20,
    refresh_seconds: float = 1.0,
    max_rows: int = 10_000,
    max_body_bytes: int = 10 * 2**20,
    logs_url: str | None = None,
    log_flush_rows: int = 10_000,
    log_flush_seconds: float = 5.0,
    log_max_waiting: int | None = None,
    models: Models | None = None,
    allowed_hosts: Sequence[str] = (),
) -> FastAPI:
    """The server for every fleet of ``client``'s store, with one shared model cache.

    Every prediction and feedback item is logged under ``logs_url`` (default
    ``SHOAL_LOGS_URL``); see :mod:`shoal.serve.logbook` for when rows are written. Past
    ``log_max_waiting`` rows waiting in a log (10 x ``log_flush_rows`` by default: its
    writes fail, or lag), requests that would add rows to it get a 503.
    ``models`` says where versions load and predict: by default a :class:`ModelCache` in
    this process; ``shoal serve --ray`` passes Ray Serve replicas instead.
    Only requests whose ``Host`` is 127.0.0.1, localhost, ::1, one of ``allowed_hosts`` or
    of ``SHOAL_ALLOWED_HOSTS`` (``*.example.com`` for subdomains) are answered: any other
    Host gets a 400 (DNS rebinding); every answer carries the hardening headers of
    :mod:`shoal.http.headers`.
    """
    metrics = ServerMetrics()
    registry = client.registry
    cache = ModelCache(
        lambda row: registry.versions.load(row["fleet"], row, location=location(row)),
        max_models=cache_models, max_bytes=cache_bytes, on_load=metrics.observe_load,
    )  # fmt: skip
    fleets = _fleet_lookup(client)
    predictor = Predictor(registry, fleets, models or LocalModels(cache),
                          refresh_seconds=refresh_seconds, max_rows=max_rows)  # fmt: skip
    metrics.watch(cache)
    url = logs_url or config.logs_url()
    predictions, feedback = (
        ParquetLog(url, kind, flush_rows=log_flush_rows, flush_seconds=log_flush_seconds,
                   max_waiting=log_max_waiting)
        for kind in ("predictions", "feedback")
    )  # fmt: skip
    metrics.watch_logs(predictions, feedback)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        predictions.close()  # SIGTERM stops uvicorn gracefully, and this runs
        feedback.close()

    app = FastAPI(title="Shoal prediction server", docs_url=None, redoc_url=None,
                  lifespan=lifespan, responses=ERROR_RESPONSES)  # fmt: skip
    install_auth(app, auth, registry)
    app.state.logs = (predictions, feedback)
    app.state.predictor = predictor
    app.state.metrics = metrics
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    secure(app, allowed_hosts)
    app.add_middleware(Timing, metrics=metrics)

    install_error_handlers(app)

    @app.post("/api/v1/fleets/{tenant}/{fleet}/predict", responses=WRITE_RESPONSES,
              openapi_extra=PREDICT)  # fmt: skip
    def predict(tenant: Tenant, fleet: FleetName, body: PredictRequest, request: Request) -> Any:
        event_at = _event_at(body)
        answers = predictor.predict(tenant, fleet, body.rows, alias=_alias(body),
                                    version=body.version)  # fmt: skip
        return _answer(request, tenant, fleet, body.rows, answers, metrics, predictions,
                       event_at=event_at)  # fmt: skip

    @app.post("/api/v1/fleets/{tenant}/{fleet}/models/predict", responses=WRITE_RESPONSES,
              openapi_extra=PREDICT)  # fmt: skip
    def predict_one(
        tenant: Tenant, fleet: FleetName, body: ModelPredictRequest, request: Request
    ) -> Any:
        overlap = sorted(set(body.key) & {k for row in body.rows for k in row})
        if overlap:
            raise InvalidInput(
                f"rows repeat the key column(s) {overlap}; with 'key' given, rows carry "
                "only features", field=f"rows.{overlap[0]}",
            )  # fmt: skip
        rows = [{**body.key, **row} for row in body.rows]
        event_at = _event_at(body)
        answers = predictor.predict(tenant, fleet, rows, alias=_alias(body), version=body.version)
        return _answer(request, tenant, fleet, rows, answers, metrics, predictions,
                       event_at=event_at)  # fmt: skip

    @app.post("/api/v1/fleets/{tenant}/{fleet}/feedback", responses=WRITE_RESPONSES,
              openapi_extra=PREDICT)  # fmt: skip
    def give_feedback(tenant: Tenant, fleet: FleetName, body: FeedbackRequest) -> Any:
        if len(body.items) > max_rows:
            raise TooLarge(f"{len(body.items)} items; the limit is {max_rows}",
                              field="items")  # fmt: skip
        ref = fleets(tenant, fleet)
        feedback.add(tenant, fleet, _feedback_rows(ref.keys, body.items))
        return {"accepted": len(body.items)}

    @app.get("/healthz", openapi_extra=PUBLIC)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", openapi_extra=PUBLIC)
    def readyz(request: Request) -> Any:
        try:
            registry.ping()
        except Exception as exc:  # the store is what readiness is about
            return error_response(503, "NotReady", f"the store does not answer: {exc}", None,
                                  request_id=request_id_of(request),
                                  headers={"Retry-After": "1"})  # fmt: skip
        return {"status": "ready", "models_cached": len(cache)}

    @app.get("/metrics", response_class=PlainTextResponse, openapi_extra=PUBLIC)
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type=metrics.content_type)

    return app


class Timing:
    """Counts and times each request by route and status: plain ASGI, so it adds no task
    group per request (Starlette's ``BaseHTTPMiddleware`` costs ~0.3 ms a request)."""

    def __init__(self, app: Any, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def watched(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            route = scope.get("route")
            self.metrics.observe_request(getattr(route, "path", "unmatched"), status[0],
                                         time.perf_counter() - started)  # fmt: skip


def _alias(body: PredictRequest) -> str | None:
    if body.version is not None and body.alias is not None:
        raise InvalidInput("give alias or version, not both", field="version")
    return None if body.version is not None else (body.alias or "production")


def _event_at(body: PredictRequest) -> dt.datetime | None:
    """The time a request's predictions are for (``as_of`` in UTC), or None: checked before
    predicting, so a time UTC cannot show is the request's 422 naming ``as_of``."""
    return None if body.as_of is None else _utc(body.as_of, "as_of")


def _answer(
    request: Request, tenant: str, fleet: str, rows: Sequence[Mapping[str, Any]],
    answers: list[Answer], metrics: ServerMetrics, log: ParquetLog,
    *, event_at: dt.datetime | None = None,
) -> dict[str, Any]:  # fmt: skip
    request_id = request_id_of(request) or uuid.uuid4().hex  # the X-Request-Id answered
    logged = _prediction_rows(request_id, rows, answers)
    if event_at is not None:  # every row of the request is for that time (logbook's day=)
        for record in logged:
            record["event_at"] = event_at
    log.add(tenant, fleet, logged)  # or a 503
    metrics.rows.inc(len(answers))
    return {
        "request_id": request_id,
        "predictions": [_shown(a) for a in answers],
    }  # fmt: skip


def _shown(answer: Answer) -> dict[str, Any]:
    """One row of the JSON answer: a classifier's rows add ``proba`` ({label: p}), so a
    client gets the probabilities the logs keep without a second call."""
    shown: dict[str, Any] = {
        "key": answer.key, "version": answer.version, "version_id": answer.version_id,
        "prediction": answer.prediction,
    }  # fmt: skip
    if answer.proba is not None:
        shown["proba"] = answer.proba
    return shown


def _prediction_rows(
    request_id: str, rows: Sequence[Mapping[str, Any]], answers: list[Answer]
) -> list[dict[str, Any]]:
    at = now()
    out = []
    for i, (row, answer) in enumerate(zip(rows, answers, strict=True)):
        record: dict[str, Any] = {
            "request_id": request_id, "row": i, "at": at, "version_id": answer.version_id,
            "version": answer.version, "prediction": answer.prediction,
        }  # fmt: skip
        for dim, value in answer.key.items():
            record[f"key.{dim}"] = value
        for name, value in row.items():
            if name not in answer.key:
                record[f"feature.{name}"] = value
        if answer.proba is not None:  # a classifier's: monitoring's log loss reads them
            for label, p in answer.proba.items():
                record[f"proba.{label}"] = p
        out.append(record)
    return out


def _feedback_rows(dims: Sequence[str], items: Sequence[FeedbackItem]) -> list[dict[str, Any]]:
    at = now()
    out = []
    for i, item in enumerate(items):
        if item.request_id is None and (item.key is None or item.time is None):
            raise InvalidInput(
                f"items[{i}] names no prediction: give request_id (and row), or key and time",
                field=f"items[{i}]",
            )
        refuse_unloggable({"actual": item.actual}, "items", i)
        record: dict[str, Any] = {"at": at, "actual": item.actual}
        if item.request_id is not None:
            record.update(request_id=item.request_id, row=item.row)
        if item.key is not None:
            if set(item.key) != set(dims):
                raise InvalidInput(
                    f"items[{i}].key has {sorted(item.key)}; this fleet is keyed by "
                    f"{list(dims)}", field=f"items[{i}].key",
                )  # fmt: skip
            key = {dim: str(item.key[dim]) for dim in dims}
            refuse_unloggable(key, f"items[{i}].key")
            record.update({f"key.{dim}": value for dim, value in key.items()})
        if item.time is not None:
            record["for_time"] = _utc(item.time, f"items[{i}].time")
        out.append(record)
    return out


def _utc(when: dt.datetime, field: str) -> dt.datetime:
    """A time in UTC (a time without a zone is taken as UTC); one UTC cannot show is a 422."""
    try:
        return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise InvalidInput(
            f"{field} {when.isoformat()} is out of range in UTC (years 1 to 9999): give a "
            "time between 0001-01-02 and 9999-12-30", field=field,
        ) from None  # fmt: skip


def location(row: dict[str, Any]) -> BlobRef | None:
    """Where a resolved version's artifact lies, when the resolution read it (one ranged read)."""
    if row.get("pack") is None and row.get("offset") is None:
        return None
    return BlobRef(row["artifact_sha256"], row["artifact_size"], row["pack"], row["offset"] or 0)


def _fleet_lookup(client: Client) -> Callable[[str, str], FleetRef]:
    """Fleets by (tenant, name), remembered once found (a fleet's identity never changes)."""
    known: dict[tuple[str, str], FleetRef] = {}

    def lookup(tenant: str, name: str) -> FleetRef:
        who = acting()  # a request's principal (none when the predictor is used in-process)
        if who is not None:
            who.scope.check(tenant)  # before the memo, which every principal shares
        ref = known.get((tenant, name))
        if ref is None:
            ref = client.fleet(f"{tenant}/{name}").ref
            known[(tenant, name)] = ref
        return ref

    return lookup
