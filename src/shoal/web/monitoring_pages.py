"""Pages of monitoring: ``/alerts`` and a fleet's ``/monitoring``, and the model page's part.

The alerts page shows one fleet's alerts at a time (the fleets with unresolved alerts
first in its selector, from the one grouped query of ``client.health()``): filtered by
state, rule and cohort (``store=s013``), counted per rule or key value in one grouped
query, keyset-paged ``ALERT_ROWS`` at a time, and acknowledged or resolved in bulk with a
note (the selected rows, or every alert the filter matches: one statement). Every action
redirects back to the same filtered view with a flash message, never to the top of an
unfiltered page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from shoal.errors import InvalidInput
from shoal.http.params import FleetName, RecordId, Tenant
from shoal.sdk.client import Client
from shoal.sdk.fleet import Fleet
from shoal.web.rendering import with_done

ALERT_ROWS = 50
FILTERS = ("fleet", "state", "rule", "cohort", "group")
"""The query parameters of an alerts view (and of the view an action returns to)."""
STATE_CHOICES = ("unresolved", "open", "acknowledged", "resolved", "all")
PREFERRED = ("max_psi", "mape", "accuracy", "mae")
"""Worst-by's default: the first of these the fleet has values of."""
WORST_ROWS = 50
ROLLUP_ROWS = 50
WINDOW_LINKS = 30
TREND_WINDOWS = 60
"""Windows a model page shows: two months of daily windows."""


def model_monitoring(fleet: Fleet, key: Any) -> dict[str, Any]:
    """The model page's monitoring context: trend rows, newest window's features, chart data."""
    trend = fleet.monitoring.trend(key)[-TREND_WINDOWS:]
    if not trend:
        return {"trend": [], "features": [], "chart": None, "drift_state": None}
    features = fleet.monitoring.features(key, at=trend[-1]["window_start"])
    chart = {
        "x": [t["window"] for t in trend],
        "mape": [t["mape"] for t in trend],
        "mae": [t["mae"] for t in trend],
        "max_psi": [t["max_psi"] for t in trend],
    }
    # Each trend row has ``drift_state`` ("drifting", "stable" or "not tested"); the newest
    # window's is the model's state now: "not tested" is never shown as healthy.
    return {"trend": trend, "features": features, "chart": chart,
            "drift_state": trend[-1].get("drift_state")}  # fmt: skip


def _view(params: Mapping[str, Any]) -> str:
    """``/alerts`` with the filter parameters in ``params`` (the empty ones left out)."""
    kept = {k: params[k] for k in FILTERS if params.get(k)}
    return "/alerts" + (f"?{urlencode(kept)}" if kept else "")


def _alerts_context(
    client: Client, fleet: str | None, state: str, rule: str | None, cohort: str | None,
    group: str | None, before: int | None,
) -> dict[str, Any]:  # fmt: skip
    health = client.health()
    paths = sorted(health, key=lambda p: (-(health[p]["alerts"] or 0), p))
    chosen = fleet or next(iter(paths), None)
    view: dict[str, Any] = {"fleet": chosen, "state": state, "rule": rule, "cohort": cohort,
                            "group": group}  # fmt: skip
    context: dict[str, Any] = {
        "fleets": [{"path": p, "alerts": health[p]["alerts"]} for p in paths], "view": view,
        "states": STATE_CHOICES, "alerts": [], "groups": [], "rules": [], "keys": [],
        "total": 0, "next": None, "first": None, "here": _view(view), "limit": ALERT_ROWS,
    }  # fmt: skip
    if chosen is None:
        return context
    target = client.fleet(chosen)
    alerts = target.alerts
    page = alerts.page(state, rule=rule, cohort=cohort, limit=ALERT_ROWS, before=before)
    context.update(
        keys=list(target.keys), rules=alerts.rules(), alerts=page.items,
        total=alerts.count(state, rule=rule, cohort=cohort),
        groups=alerts.groups(group, state=state, rule=rule, cohort=cohort) if group else [],
        next=f"{_view(view)}{'&' if '?' in _view(view) else '?'}before={page.before}"
        if page.before else None,
        first=_view(view) if before else None,
    )  # fmt: skip
    return context


def alerts_router(client: Client, templates: Jinja2Templates) -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    @pages.get("/alerts", response_class=HTMLResponse)
    def alerts(
        request: Request, fleet: str | None = None, state: str = "unresolved",
        rule: str | None = None, cohort: str | None = None, group: str | None = None,
        before: int | None = None,
    ) -> HTMLResponse:  # fmt: skip
        """One fleet's alerts: filtered, grouped, a page at a time; bulk actions."""
        context = _alerts_context(
            client, fleet or None, state, rule or None, cohort or None, group or None, before
        )
        done = request.query_params.get("done")
        context["done"] = done[:300] if done else None
        return templates.TemplateResponse(request, "alerts.html", context)

    @pages.get("/fleets/{tenant}/{fleet}/monitoring", response_class=HTMLResponse)
    def monitoring_page(
        request: Request, tenant: Tenant, fleet: FleetName, by: str | None = None,
        dim: str | None = None, at: str | None = None,
    ) -> HTMLResponse:  # fmt: skip
        """Which models went wrong, and where: a window's worst models and a roll-up."""
        target = client.fleet(f"{tenant}/{fleet}")
        windows = target.monitoring.windows(limit=WINDOW_LINKS)
        context: dict[str, Any] = {
            "fleet": {"path": target.path, "keys": list(target.keys)}, "windows": windows,
            "by": by, "dim": dim or (target.keys[0] if target.keys else None), "at": at,
            "figures": [], "worst": [], "rollup": [], "window": None, "tested": None,
        }  # fmt: skip
        if windows:
            chosen: Any = windows[0]["start"]
            if at:
                try:
                    chosen = float(at)  # the window selector sends a window's start
                except ValueError:
                    chosen = at  # a time a person typed: 2026-11-20T12:00Z
            figures = target.monitoring.figures(at=chosen)
            if by not in figures:  # offer, and sort by, only what this fleet has values of
                by = next((f for f in PREFERRED if f in figures), figures[0] if figures else None)
            context.update(figures=figures, by=by)
            if by is not None:
                context["worst"] = target.monitoring.worst(by, WORST_ROWS, at=chosen)
            context["window"] = next(
                (w["window"] for w in windows if w["start"] == chosen),
                context["worst"][0]["window"] if context["worst"] else None,
            )
            if context["dim"]:
                rollup = target.monitoring.rollup(context["dim"], at=chosen)
                context["rollup"] = rollup[:ROLLUP_ROWS]
                context["tested"] = {
                    name: sum(g[name] for g in rollup)
                    for name in ("models", "tested", "not_tested", "drifting")
                }
        return templates.TemplateResponse(request, "monitoring.html", context)

    @pages.post("/fleets/{tenant}/{fleet}/alerts/{alert_id}")
    def change(
        tenant: Tenant, fleet: FleetName, alert_id: RecordId, action: str = Form(...),
        note: str | None = Form(None), back: str | None = Form(None),
    ) -> RedirectResponse:  # fmt: skip
        """One alert acknowledged or resolved; back to the view it was acted on from."""
        alerts = client.fleet(f"{tenant}/{fleet}").alerts
        if action not in ("acknowledge", "resolve"):
            raise InvalidInput(
                f"action must be 'acknowledge' or 'resolve', got {action!r}", field="action"
            )
        moved = (alerts.resolve if action == "resolve" else alerts.acknowledge)(alert_id, note=note)
        message = f"Alert {alert_id} {moved['state']}" + (
            f": {moved['note']}" if moved.get("note") else ""
        )
        return RedirectResponse(with_done(_back(back), message), status_code=303)

    @pages.post("/fleets/{tenant}/{fleet}/alerts")
    def bulk(
        tenant: Tenant, fleet: FleetName, action: Annotated[str, Form()],
        ids: Annotated[list[int] | None, Form()] = None,
        note: Annotated[str | None, Form()] = None, state: Annotated[str, Form()] = "unresolved",
        rule: Annotated[str | None, Form()] = None, cohort: Annotated[str | None, Form()] = None,
        back: Annotated[str | None, Form()] = None,
    ) -> RedirectResponse:  # fmt: skip
        """Acknowledge or resolve the selected alerts, or (``acknowledge-all``) every alert
        the filter matches: one statement, one audit entry, then back to the same view."""
        alerts = client.fleet(f"{tenant}/{fleet}").alerts
        every = action == "acknowledge-all"
        action = "acknowledge" if every else action
        if action not in ("acknowledge", "resolve"):
            raise InvalidInput(
                f"action must be 'acknowledge', 'resolve' or 'acknowledge-all', got {action!r}",
                field="action",
            )
        move = alerts.acknowledge_many if action == "acknowledge" else alerts.resolve_many
        if every:
            done = move(state=state, rule=rule or None, cohort=cohort or None, note=note)
        elif ids:
            done = move(ids, note=note)
        else:
            raise InvalidInput("select at least one alert, or act on all matching", field="ids")
        message = (f"{done['moved']:,} alert{'s' if done['moved'] != 1 else ''} of "
                   f"{tenant}/{fleet} {done['state']}"
                   + (f" ({done['skipped']:,} already {_settled(action)}, left as they were)"
                      if done["skipped"] else "")
                   + (f": {note.strip()}" if note and note.strip() else ""))  # fmt: skip
        return RedirectResponse(with_done(_back(back), message), status_code=303)

    return pages


def _settled(action: str) -> str:
    """The states an action leaves alone: acknowledging skips acknowledged and resolved
    alerts, resolving skips resolved ones."""
    return "acknowledged or resolved" if action == "acknowledge" else "resolved"


def _back(back: str | None) -> str:
    """The alerts view an action came from, rebuilt from its known filter parameters only
    (a crafted ``back`` cannot redirect anywhere else)."""
    params = {k: v[0] for k, v in parse_qs((back or "").split("?", 1)[-1]).items() if v}
    return _view(params)
