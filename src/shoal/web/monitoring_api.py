"""``/api/v1`` routes of monitoring and alerts, over ``fleet.monitoring`` and ``fleet.alerts``.

GET  /api/v1/fleets/{t}/{f}/monitoring/windows             monitored windows, newest first
GET  /api/v1/fleets/{t}/{f}/monitoring/results?by=mape&n=20   one window's rows, worst first
GET  /api/v1/fleets/{t}/{f}/monitoring/rollup?by=store     share drifting, median MAPE
GET  /api/v1/fleets/{t}/{f}/models/{model}/monitoring      a model's trend and features
GET  /api/v1/fleets/{t}/{f}/alerts?state=open&cohort=store=s01&before=ID   a keyset page
GET  /api/v1/fleets/{t}/{f}/alerts/groups?by=rule          matching alerts per rule or key value
POST /api/v1/fleets/{t}/{f}/alerts/acknowledge             many: {"ids": [..]} or {"filter": ..}
POST /api/v1/fleets/{t}/{f}/alerts/resolve                 (with a "note"; one transaction)
GET  /api/v1/fleets/{t}/{f}/alert-rules                    the fleet's rules
POST /api/v1/fleets/{t}/{f}/alert-rules                    declare a rule
GET  /api/v1/fleets/{t}/{f}/quality-rule                   the built-in quality rule
PUT  /api/v1/fleets/{t}/{f}/quality-rule                   its thresholds, or off
POST /api/v1/fleets/{t}/{f}/alerts/{id}/acknowledge        and /resolve (optional "note")
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from shoal.errors import InvalidInput
from shoal.http.auth import ADMIN
from shoal.http.errors import ERROR_RESPONSES, WRITE_RESPONSES
from shoal.http.params import FleetName, ModelPath, RecordId, Tenant
from shoal.sdk.client import Client
from shoal.sdk.fleet import Fleet
from shoal.web.api import parse_model

Window = Annotated[str | None, Query(description="Window length (1d, 6h); default: any.")]
At = Annotated[str | None, Query(description="A time inside the window; default: newest.")]
States = Annotated[
    list[str] | None, Query(description="open, acknowledged, resolved (or unresolved, all).")
]
Cohort = Annotated[
    str | None, Query(description="Key values, e.g. store=s013 or store=s013,sku=A77.")
]
Note = Annotated[str | None, Field(max_length=2000, description="Why; shown with the alert.")]


class AlertFilterRequest(BaseModel):
    """Which alerts: states (default unresolved), a rule, a cohort of key values."""

    model_config = ConfigDict(extra="forbid")
    state: list[str] = Field(default_factory=lambda: ["unresolved"])
    rule: str | None = None
    cohort: str | dict[str, str] | None = None


class MoveRequest(BaseModel):
    """Alerts to acknowledge or resolve: ``ids``, or every alert matching ``filter``."""

    model_config = ConfigDict(extra="forbid")
    ids: list[int] | None = Field(default=None, max_length=5000)
    filter: AlertFilterRequest | None = None
    note: Note = None


class NoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Note = None


class QualityRuleRequest(BaseModel):
    """The built-in quality rule's thresholds (see docs/monitoring.md), or ``enabled``."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool | None = None
    factor: float | None = None
    margin: float | None = None
    ceiling: float | None = None
    min_labelled: int | None = None


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
        cohort: Cohort = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        before: Annotated[int | None, Query(ge=1, description="Alerts older than this id.")] = None,
    ) -> dict[str, Any]:  # fmt: skip
        """A page of alerts newest first; ``next_before`` reads the next (null: the last)."""
        found = fleet_of(tenant, fleet).alerts.page(
            state or "unresolved", rule=rule, cohort=cohort, limit=limit, before=before
        )
        return {"items": found.items, "next_before": found.before}

    @api.get("/alerts/groups")
    def alert_groups(
        tenant: Tenant, fleet: FleetName, by: str = "rule", state: States = None,
        rule: str | None = None, cohort: Cohort = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Matching alerts counted per rule or per value of a key dimension ``by``."""
        alerts = fleet_of(tenant, fleet).alerts
        found = alerts.groups(by, state=state or "unresolved", rule=rule, cohort=cohort)
        total = alerts.count(state or "unresolved", rule=rule, cohort=cohort)
        return {"items": found, "total": total}

    def move(tenant: str, fleet: str, to: str, body: MoveRequest) -> dict[str, Any]:
        alerts = fleet_of(tenant, fleet).alerts
        many = alerts.acknowledge_many if to == "acknowledged" else alerts.resolve_many
        if (body.ids is None) == (body.filter is None):
            raise InvalidInput("send either ids or filter (not both)", field="ids")
        if body.ids is not None:
            return many(body.ids, note=body.note)
        where = body.filter or AlertFilterRequest()
        return many(state=where.state, rule=where.rule, cohort=where.cohort, note=body.note)

    @api.post("/alerts/acknowledge", responses=WRITE_RESPONSES)
    def acknowledge_many(tenant: Tenant, fleet: FleetName, body: MoveRequest) -> dict[str, Any]:
        """Acknowledge many alerts in one transaction: ``{"moved", "skipped", "state"}``."""
        return move(tenant, fleet, "acknowledged", body)

    @api.post("/alerts/resolve", responses=WRITE_RESPONSES)
    def resolve_many(tenant: Tenant, fleet: FleetName, body: MoveRequest) -> dict[str, Any]:
        """Resolve many alerts in one transaction (as ``/alerts/acknowledge``)."""
        return move(tenant, fleet, "resolved", body)

    @api.get("/quality-rule")
    def quality_rule(tenant: Tenant, fleet: FleetName) -> dict[str, Any]:
        return fleet_of(tenant, fleet).alerts.quality_rule()

    @api.put("/quality-rule", responses=WRITE_RESPONSES, openapi_extra=ADMIN)
    def set_quality_rule(
        tenant: Tenant, fleet: FleetName, body: QualityRuleRequest
    ) -> dict[str, Any]:
        return fleet_of(tenant, fleet).alerts.quality_rule(**body.model_dump())

    @api.get("/alert-rules")
    def rules(tenant: Tenant, fleet: FleetName) -> dict[str, Any]:
        return {"items": fleet_of(tenant, fleet).alerts.rules()}

    @api.post("/alert-rules", status_code=201, responses=WRITE_RESPONSES, openapi_extra=ADMIN)
    def add_rule(tenant: Tenant, fleet: FleetName, body: RuleRequest) -> dict[str, Any]:
        alerts = fleet_of(tenant, fleet).alerts
        return alerts.add_rule(body.name, body.expression, webhook=body.webhook)

    @api.post("/alerts/{alert_id}/acknowledge", responses=WRITE_RESPONSES)
    def acknowledge(
        tenant: Tenant, fleet: FleetName, alert_id: RecordId, body: NoteRequest | None = None
    ) -> dict[str, Any]:
        note = body.note if body else None
        return fleet_of(tenant, fleet).alerts.acknowledge(alert_id, note=note)

    @api.post("/alerts/{alert_id}/resolve", responses=WRITE_RESPONSES)
    def resolve(
        tenant: Tenant, fleet: FleetName, alert_id: RecordId, body: NoteRequest | None = None
    ) -> dict[str, Any]:
        note = body.note if body else None
        return fleet_of(tenant, fleet).alerts.resolve(alert_id, note=note)

    return api
