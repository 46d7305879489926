"""Pages of monitoring: ``/alerts`` (acknowledge, resolve) and the model page's monitoring part.

The alerts page lists the unresolved alerts of every fleet, newest first, one query per
fleet (never per model), at most ``ALERT_ROWS`` per fleet.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from shoal.errors import InvalidInput
from shoal.http.params import FleetName, RecordId, Tenant
from shoal.registry import FIGURES
from shoal.sdk.client import Client
from shoal.sdk.fleet import Fleet

ALERT_ROWS = 200
WORST_ROWS = 50
ROLLUP_ROWS = 50
WINDOW_LINKS = 30
TREND_WINDOWS = 60
"""Windows a model page shows: two months of daily windows."""


def model_monitoring(fleet: Fleet, key: Any) -> dict[str, Any]:
    """The model page's monitoring context: trend rows, newest window's features, chart data."""
    trend = fleet.monitoring.trend(key)[-TREND_WINDOWS:]
    if not trend:
        return {"trend": [], "features": [], "chart": None}
    features = fleet.monitoring.features(key, at=trend[-1]["window_start"])
    chart = {
        "x": [t["window"] for t in trend],
        "mape": [t["mape"] for t in trend],
        "mae": [t["mae"] for t in trend],
        "max_psi": [t["max_psi"] for t in trend],
    }
    return {"trend": trend, "features": features, "chart": chart}


def alerts_router(client: Client, templates: Jinja2Templates) -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    @pages.get("/alerts", response_class=HTMLResponse)
    def alerts(request: Request, state: str = "unresolved") -> HTMLResponse:
        states = ("open", "acknowledged") if state == "unresolved" else (state,)
        groups = client.alert_overview(states, limit=ALERT_ROWS)
        return templates.TemplateResponse(
            request, "alerts.html", {"groups": groups, "state": state, "limit": ALERT_ROWS}
        )

    @pages.get("/fleets/{tenant}/{fleet}/monitoring", response_class=HTMLResponse)
    def monitoring_page(
        request: Request, tenant: Tenant, fleet: FleetName, by: str = "max_psi",
        dim: str | None = None, at: str | None = None,
    ) -> HTMLResponse:  # fmt: skip
        """Which models went wrong, and where: a window's worst models and a roll-up."""
        target = client.fleet(f"{tenant}/{fleet}")
        windows = target.monitoring.windows(limit=WINDOW_LINKS)
        context: dict[str, Any] = {
            "fleet": {"path": target.path, "keys": list(target.keys)}, "windows": windows,
            "by": by, "dim": dim or (target.keys[0] if target.keys else None), "at": at,
            "figures": sorted(FIGURES), "worst": [], "rollup": [], "window": None,
        }  # fmt: skip
        if windows:
            chosen: Any = windows[0]["start"]
            if at:
                try:
                    chosen = float(at)  # the window selector sends a window's start
                except ValueError:
                    chosen = at  # a time a person typed: 2026-11-20T12:00Z
            context["worst"] = target.monitoring.worst(by, WORST_ROWS, at=chosen)
            context["window"] = next(
                (w["window"] for w in windows if w["start"] == chosen),
                context["worst"][0]["window"] if context["worst"] else None,
            )
            if context["dim"]:
                context["rollup"] = target.monitoring.rollup(context["dim"], at=chosen)[
                    :ROLLUP_ROWS
                ]
        return templates.TemplateResponse(request, "monitoring.html", context)

    @pages.post("/fleets/{tenant}/{fleet}/alerts/{alert_id}")
    def change(
        tenant: Tenant, fleet: FleetName, alert_id: RecordId, action: str = Form(...)
    ) -> RedirectResponse:
        alerts = client.fleet(f"{tenant}/{fleet}").alerts
        if action == "resolve":
            alerts.resolve(alert_id)
        elif action == "acknowledge":
            alerts.acknowledge(alert_id)
        else:
            raise InvalidInput(
                f"action must be 'acknowledge' or 'resolve', got {action!r}", field="action"
            )
        return RedirectResponse("/alerts", status_code=303)

    return pages
