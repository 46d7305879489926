"""The pages: rendered on the server (Jinja2) by the same app, on the same SDK queries.

URLs mirror the API and can be shared and guessed: ``/``, ``/fleets/{tenant}/{fleet}`` (the
filter and sort in the query string), ``/fleets/{tenant}/{fleet}/models/{model}``,
``/runs/{run}``, ``/alerts``. Every table holds one page (50 rows at most) and pages with
keyset cursors, so a fleet of a million models renders as fast as one of ten. Charts use
plotly's JavaScript served from the installed Python package: no CDN, fully offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse

from shoal.errors import InvalidInput
from shoal.http.params import FleetName, Tenant
from shoal.sdk.client import Client
from shoal.sdk.facets import names as facet_names
from shoal.web.fleet_view import (
    FACET_VALUES,
    FILTERED_FACETS,
    chart_source,
    examples,
    facet_filter,
    facet_views,
    more_facets,
    page_url,
    unknown_metrics,
)
from shoal.web.rendering import HERE, fleet_context, model_row, render

__all__ = ["FACET_VALUES", "FILTERED_FACETS", "PAGE_ROWS", "page_router", "plotly_js"]

PAGE_ROWS = 50
"""Rows per table: a screenful."""
TENANT_FLEETS = 50
"""Fleets the home page lists per tenant (the rest a page at a time)."""
FLEET_ALERTS = 5
"""The newest unresolved alerts a fleet page lists (the rest are on /alerts)."""
TABLE_METRICS = 8
"""Metric columns of the model table (the charted and sorted metrics first)."""
TAG_COLUMNS = 4
"""Tag columns of the model table; a fleet with more tags shows the rest in one cell."""


def plotly_js() -> Path:
    """plotly.min.js as the plotly package installs it (no CDN)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def page_router(client: Client) -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    @pages.get("/static/plotly.min.js")
    def plotly_script() -> FileResponse:
        return FileResponse(plotly_js(), media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})  # fmt: skip

    @pages.get("/static/shoal.css")
    def stylesheet() -> FileResponse:
        return FileResponse(HERE / "static" / "shoal.css", media_type="text/css")

    @pages.get("/static/charts.js")
    def charts_script() -> FileResponse:
        """The pages' charts: no page holds inline script (the CSP allows none)."""
        return FileResponse(HERE / "static" / "charts.js", media_type="text/javascript")

    @pages.get("/", response_class=HTMLResponse)
    def home(
        request: Request, tenant: str | None = None,
        after: Annotated[str | None, Query(max_length=200)] = None,
    ) -> HTMLResponse:  # fmt: skip
        """Every tenant with its first ``TENANT_FLEETS`` fleets by name; ``tenant`` and
        ``after`` page one tenant's fleets (a tenant of a thousand fleets is 20 pages)."""
        tenants: dict[str, dict[str, Any]] = {}
        health = client.health()
        for info in sorted(client.fleets(tenant), key=lambda f: (f.tenant, f.fleet)):
            entry = tenants.setdefault(info.tenant, {
                "tenant": info.tenant, "fleets": [], "count": 0, "models": 0, "more": None,
            })  # fmt: skip
            entry["count"] += 1
            entry["models"] += info.models
            if after is not None and info.tenant == tenant and info.fleet <= after:
                continue
            if len(entry["fleets"]) < TENANT_FLEETS:
                entry["fleets"].append({**info.to_dict(), "health": health.get(info.path)})
            elif entry["more"] is None:
                entry["more"] = entry["fleets"][-1]["fleet"]
        return render(request, "home.html", tenants=list(tenants.values()), paged=tenant,
                      after=after)  # fmt: skip

    @pages.get("/fleets/{tenant}/{fleet}", response_class=HTMLResponse)
    def fleet_page(
        request: Request, tenant: Tenant, fleet: FleetName, where: str | None = None,
        sort: str | None = None, cursor: str | None = None, metric: str | None = None,
        facet: str | None = None, q: str | None = None, fcursor: str | None = None,
    ) -> HTMLResponse:  # fmt: skip
        target = client.fleet(f"{tenant}/{fleet}")
        where = (where or "").strip() or None
        sort = (sort or "").strip() or None
        error, warning, rows, next_cursor, matching = None, None, [], None, 0
        names = facet_names(target)
        facet_where, tree = None, None
        total = target.count()  # the kept aggregate: no query over the models
        try:
            tree = target.parse(where)  # once: the list, the count and the facets share it
            page = target.search(tree, sort=sort, limit=PAGE_ROWS, cursor=cursor or None)
            rows, next_cursor = list(page), page.next_cursor
            matching = target.count(tree) if tree is not None else total
            # Facets and the chart of a filter that selects most of a big fleet would read
            # every match (seconds at a million): past FILTERED_FACETS matches, show the
            # whole fleet's, labelled so, which the kept aggregates answer at once.
            facet_where = tree if tree is not None and matching <= FILTERED_FACETS else None
            if not rows and tree is not None:
                warning = unknown_metrics(target, names, tree)
        except InvalidInput as exc:  # a typo in the filter: say so on the page, keep it
            error = _naming_the_field(exc)
        filtered = facet_where is not None
        countable = filtered or (tree is None and total <= FILTERED_FACETS)
        state = {"where": where, "sort": sort, "metric": metric}
        facets = facet_views(target, names, facet_where, countable=countable, state=state,
                             facet=facet, q=q, fcursor=fcursor)  # fmt: skip
        if metric and metric not in names.metrics:
            warning = (f"metric: this fleet has no metric {metric!r}; its metrics are: "
                       f"{', '.join(names.metrics) or 'none yet'}")  # fmt: skip
            metric = None
        name = metric or _default_metric(names.metrics)
        chart_url = chart_source(target, name, where, filtered=filtered)
        shown_metrics = _table_metrics(names.metrics, name, sort)
        first_tag = next((f for f in facets if f.dim.startswith("tags.") and f.values), None)
        shown = [r.metrics[name] for r in rows if name in r.metrics] if name else []
        hint = examples(names, name, shown, (first_tag.label, first_tag.values[0]["value"])
                        if first_tag else None)  # fmt: skip
        return render(
            request, "fleet.html", fleet=fleet_context(target), total=total,
            matching=matching, coverage=target.coverage(), facets=facets, where=where,
            sort=sort, cursor=cursor, next_cursor=next_cursor, error=error, warning=warning,
            rows=[model_row(target, r) for r in rows], metric_names=shown_metrics,
            tag_names=names.tags[:TAG_COLUMNS], more_tags=len(names.tags) > TAG_COLUMNS,
            all_metrics=names.metrics, metric=name, chart_url=chart_url,
            facets_filtered=filtered, hint=hint, state=state,
            facet_link=facet_filter, page_url=page_url,
            more_facets=more_facets(names, facet, state),
            health=client.health().get(target.path),
            alerts=target.alerts.list(limit=FLEET_ALERTS),
        )  # fmt: skip

    return pages


def _naming_the_field(exc: InvalidInput) -> str:
    """The error as the page shows it, led by the field it is about (once)."""
    field, message = exc.field or "filter", str(exc)
    return message if message.startswith(f"{field}:") else f"{field}: {message}"


def _default_metric(metrics: list[str]) -> str | None:
    """The metric the chart opens on: an error measure people sort by, else the first."""
    for preferred in ("mape", "eval_mape", "rmse", "eval_rmse", "mae", "accuracy"):
        if preferred in metrics:
            return preferred
    return metrics[0] if metrics else None


def _table_metrics(metrics: list[str], chosen: str | None, sort: str | None) -> list[str]:
    """The metric columns: the charted one and the sorted one first, then the rest (8)."""
    first = [m for m in (chosen, (sort or "").lstrip("-+")) if m in metrics]
    return list(dict.fromkeys([*first, *metrics]))[:TABLE_METRICS]
