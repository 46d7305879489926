"""The pages: rendered on the server (Jinja2) by the same app, on the same SDK queries.

URLs mirror the API and can be shared and guessed: ``/``, ``/fleets/{tenant}/{fleet}`` (the
filter and sort in the query string), ``/fleets/{tenant}/{fleet}/models/{model}``,
``/runs/{run}``, ``/alerts``. Every table holds one page (50 rows at most) and pages with
keyset cursors, so a fleet of a million models renders as fast as one of ten. Charts use
plotly's JavaScript served from the installed Python package: no CDN, fully offline.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from shoal.errors import InvalidInput
from shoal.http.params import FleetName, Tenant
from shoal.registry import Where
from shoal.sdk.client import Client
from shoal.sdk.fleet import Fleet
from shoal.web.rendering import HERE, fleet_context, model_row, render

PAGE_ROWS = 50
"""Rows per table: a screenful."""
FACET_VALUES = 10
FLEET_ALERTS = 5
"""The newest unresolved alerts a fleet page lists (the rest are on /alerts)."""
FILTERED_FACETS = 20_000
"""Up to this many matches, facets count the filtered models; past it, the whole fleet."""


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
    def home(request: Request) -> HTMLResponse:
        tenants: dict[str, dict[str, Any]] = {}
        health = client.health()
        for info in client.fleets():
            entry = tenants.setdefault(info.tenant, {"tenant": info.tenant, "fleets": [],
                                                     "models": 0})  # fmt: skip
            entry["fleets"].append({**info.to_dict(), "health": health.get(info.path)})
            entry["models"] += info.models
        return render(request, "home.html", tenants=list(tenants.values()))

    @pages.get("/fleets/{tenant}/{fleet}", response_class=HTMLResponse)
    def fleet_page(
        request: Request, tenant: Tenant, fleet: FleetName, where: str | None = None,
        sort: str | None = None, cursor: str | None = None, metric: str | None = None,
    ) -> HTMLResponse:  # fmt: skip
        target = client.fleet(f"{tenant}/{fleet}")
        where = (where or "").strip() or None
        sort = (sort or "").strip() or None
        error, rows, next_cursor, matching = None, [], None, 0
        facet_where = None
        try:
            tree = target.parse(where)  # once: the list, the count and the facets share it
            page = target.search(tree, sort=sort, limit=PAGE_ROWS, cursor=cursor or None)
            rows, next_cursor = list(page), page.next_cursor
            matching = target.count(tree)
            # Facets of a filter that selects most of a big fleet would read every match
            # (seconds at a million): past FILTERED_FACETS matches, show the whole fleet's,
            # labelled so, which the kept aggregates answer at once.
            facet_where = tree if tree is not None and matching <= FILTERED_FACETS else None
        except InvalidInput as exc:  # a typo in the filter: say so on the page, keep it
            error = _naming_the_field(exc)
        facets = {dim: _facet(target, dim, facet_where) for dim in target.keys}
        metric_names = sorted({name for row in rows for name in row.metrics})[:8]
        name = metric or (metric_names[0] if metric_names else None)
        histogram = target.metric_histogram(name) if name else {"counts": []}
        edges = histogram.get("edges") or []
        centers = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
        return render(
            request, "fleet.html", fleet=fleet_context(target),
            total=matching if where is None and error is None else target.count(),
            matching=matching, coverage=target.coverage(), facets=facets, where=where,
            sort=sort, cursor=cursor, next_cursor=next_cursor, error=error,
            rows=[model_row(target, r) for r in rows], metric_names=metric_names,
            histogram=histogram, histogram_x=centers, facets_filtered=facet_where is not None,
            health=client.health().get(target.path),
            alerts=target.alerts.list(limit=FLEET_ALERTS),
        )  # fmt: skip

    return pages


def _naming_the_field(exc: InvalidInput) -> str:
    """The error as the page shows it, led by the field it is about (once)."""
    field, message = exc.field or "filter", str(exc)
    return message if message.startswith(f"{field}:") else f"{field}: {message}"


def _facet(fleet: Fleet, dim: str, where: Where) -> list[dict[str, Any]]:
    counts = fleet.facets(dim, where, limit=FACET_VALUES)
    return [{"value": value, "count": count} for value, count in counts.items()]
