"""``/api/v1`` routes of monitoring and alerts, over ``fleet.monitoring`` and ``fleet.alerts``.

GET  /api/v1/fleets/{t}/{f}/monitoring/windows             monitored windows, newest first
GET  /api/v1/fleets/{t}/{f}/monitoring/results?by=mape&n=20   one window's rows, worst first
GET  /api/v1/fleets/{t}/{f}/monitoring/rollup?by=store     share drifting, median MAPE
GET  /api/v1/fleets/{t}/{f}/models/{model}/monitoring      a model's trend and features
GET  /api/v1/fleets/{t}/{f}/alerts?state=open              alerts, newest first
GET  /api/v1/fleets/{t}/{f}/alert-rules                    the fleet's rules
POST /api/v1/fleets/{t}/{f}/alert-rules                    declare a rule
POST /api/v1/fleets/{t}/{f}/alerts/{id}/acknowledge        and /resolve
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from shoal.http.auth import ADMIN
from shoal.http.errors import ERROR_RESPONSES, WRITE_RESPONSES
from shoal.http.params import FleetName, ModelPath, RecordId, Tenant
from shoal.sdk.client import Client
from shoal.sdk.fleet import Fleet
from shoal.web.api import parse_model

Window = Annotated[str | None, Query(description="Window length (1d, 6h); default: any.")]
At = Annotated[str | None, Query(description="A time inside the window; default: newest.")]
States = Annotated[list[str] | None, Query(description="open, acknowledged, resolved.")]


class RuleRequest(BaseModel):
    """An alert rule to declare (see docs/monitoring.md for the grammar)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    expression: str = Field(min_length=1, max_length=500)
    webhook: str | None = None


def monitoring_router(client: Client) -> APIRouter:
    api = APIRouter(prefix="/api/v1/fleets/{tenant}/{fleet}", responses=ERROR_RESPONSES)

    def fleet_of(tenant: Tenant, fleet: FleetName) -> Fleet:
        return client.fleet(f"{tenant}/{fleet}")

    @api.get("/monitoring/windows")
    def windows(tenant: Tenant, fleet: FleetName, window: Window = None) -> dict[str, Any]:
        return {"items": fleet_of(tenant, fleet).monitoring.windows(window)}

    @api.get("/monitoring/results")
    def results(
        tenant: Tenant, fleet: FleetName, by: str | None = None,
        n: Annotated[int, Query(ge=1, le=1000)] = 50, ascending: bool = False,
        window: Window = None, at: At = None,
    ) -> dict[str, Any]:  # fmt: skip
        """One window's per-model rows, sorted by figure ``by`` (highest first)."""
        rows = fleet_of(tenant, fleet).monitoring.results(
            by=by, n=n, ascending=ascending, window=window, at=at
        )
        return {"items": rows}

    @api.get("/monitoring/rollup")
    def rollup(
        tenant: Tenant, fleet: FleetName, by: str, window: Window = None, at: At = None
    ) -> Any:
        return {"items": fleet_of(tenant, fleet).monitoring.rollup(by, window=window, at=at)}

    @api.get("/models/{model:path}/monitoring")
    def model_monitoring(
        tenant: Tenant, fleet: FleetName, model: ModelPath, window: Window = None
    ) -> Any:
        """A model's figures across windows and its per-feature drift in the newest one."""
        target = fleet_of(tenant, fleet)
        key = parse_model(target, model)
        trend = target.monitoring.trend(key, window)
        features = (
            target.monitoring.features(key, window=window, at=trend[-1]["window_start"])
            if trend
            else []
        )
        return {"key": key, "trend": trend, "features": features}

    @api.get("/alerts")
    def alerts(
        tenant: Tenant, fleet: FleetName, state: States = None, rule: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:  # fmt: skip
        states = tuple(state) if state else ("open", "acknowledged")
        return {"items": fleet_of(tenant, fleet).alerts.list(states, rule=rule, limit=limit)}

    @api.get("/alert-rules")
    def rules(tenant: Tenant, fleet: FleetName) -> dict[str, Any]:
        return {"items": fleet_of(tenant, fleet).alerts.rules()}

    @api.post("/alert-rules", status_code=201, responses=WRITE_RESPONSES, openapi_extra=ADMIN)
    def add_rule(tenant: Tenant, fleet: FleetName, body: RuleRequest) -> dict[str, Any]:
        alerts = fleet_of(tenant, fleet).alerts
        return alerts.add_rule(body.name, body.expression, webhook=body.webhook)

    @api.post("/alerts/{alert_id}/acknowledge", responses=WRITE_RESPONSES)
    def acknowledge(tenant: Tenant, fleet: FleetName, alert_id: RecordId) -> dict[str, Any]:
        return fleet_of(tenant, fleet).alerts.acknowledge(alert_id)

    @api.post("/alerts/{alert_id}/resolve", responses=WRITE_RESPONSES)
    def resolve(tenant: Tenant, fleet: FleetName, alert_id: RecordId) -> dict[str, Any]:
        return fleet_of(tenant, fleet).alerts.resolve(alert_id)

    return api
