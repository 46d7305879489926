"""The pages: rendered on the server (Jinja2) by the same app, on the same SDK queries.

URLs mirror the API and can be shared and guessed: ``/``, ``/fleets/{tenant}/{fleet}`` (the
filter and sort in the query string), ``/fleets/{tenant}/{fleet}/models/{model}``,
``/runs/{run}``, ``/alerts``. Every table holds one page (50 rows at most) and pages with
keyset cursors, so a fleet of a million models renders as fast as one of ten. Charts use
plotly's JavaScript served from the installed Python package: no CDN, fully offline.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from shoal.errors import InvalidInput
from shoal.http.params import FleetName, ModelPath, RecordId, Tenant
from shoal.registry import Where
from shoal.sdk.client import Client
from shoal.sdk.fleet import Fleet
from shoal.sdk.history import Lineage
from shoal.sdk.results import ModelVersion
from shoal.sdk.times import readable
from shoal.web.api import parse_model
from shoal.web.monitoring_pages import model_monitoring

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))


templates.env.filters["when"] = readable


def chart_json(data: Any) -> Markup:
    """Chart data for a ``<script type="application/json">`` block, read by charts.js:
    HTML-safe as ``tojson`` is, with NaN and infinities as null (JSON.parse reads no NaN)."""

    def finite(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: finite(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [finite(v) for v in value]
        return value

    return htmlsafe_json_dumps(finite(data))


templates.env.filters["chart_json"] = chart_json
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

    def render(request: Request, name: str, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context)

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
            request, "fleet.html", fleet=_fleet(target),
            total=matching if where is None and error is None else target.count(),
            matching=matching, coverage=target.coverage(), facets=facets, where=where,
            sort=sort, cursor=cursor, next_cursor=next_cursor, error=error,
            rows=[_row(target, r) for r in rows], metric_names=metric_names,
            histogram=histogram, histogram_x=centers, facets_filtered=facet_where is not None,
            health=client.health().get(target.path),
            alerts=target.alerts.list(limit=FLEET_ALERTS),
        )  # fmt: skip

    @pages.post("/fleets/{tenant}/{fleet}/aliases", response_class=HTMLResponse)
    def move_alias(
        request: Request, tenant: Tenant, fleet: FleetName, alias: str = Form(...),
        where: str = Form(""), source: str = Form(""), action: str = Form("preview"),
        create: bool = Form(False),
    ) -> HTMLResponse:  # fmt: skip
        target = client.fleet(f"{tenant}/{fleet}")
        move = target.promote(alias.strip(), where.strip() or None,
                              source=source.strip() or None, create=create,
                              dry_run=action != "apply")  # fmt: skip
        return render(request, "move.html", fleet=_fleet(target), move=move, where=where,
                      source=source)  # fmt: skip

    @pages.post("/fleets/{tenant}/{fleet}/alias-moves/{move_id}/undo")
    def undo(tenant: Tenant, fleet: FleetName, move_id: RecordId) -> RedirectResponse:
        client.fleet(f"{tenant}/{fleet}").undo(move_id)
        return RedirectResponse(f"/fleets/{tenant}/{fleet}", status_code=303)

    @pages.get("/fleets/{tenant}/{fleet}/models/{model:path}/compare", response_class=HTMLResponse)
    def compare_page(
        request: Request, tenant: Tenant, fleet: FleetName, model: ModelPath,
        a: Annotated[int, Query(ge=1, le=2**31 - 1)], b: Annotated[int, Query(ge=1, le=2**31 - 1)],
    ) -> HTMLResponse:  # fmt: skip
        target = client.fleet(f"{tenant}/{fleet}")
        key = parse_model(target, model)
        first, second = target.get(key, version=a), target.get(key, version=b)
        return render(
            request, "compare.html", fleet=_fleet(target), a=first, b=second,
            key_text=", ".join(f"{k}={v}" for k, v in first.key.items()),
            model_url=f"/fleets/{target.path}/models/{model}",
            rows=compare_rows(first, second, client.lineage(first), client.lineage(second)),
        )  # fmt: skip

    @pages.get("/fleets/{tenant}/{fleet}/models/{model:path}", response_class=HTMLResponse)
    def model_page(
        request: Request, tenant: Tenant, fleet: FleetName, model: ModelPath,
        alias: str | None = None,
        version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
        before: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    ) -> HTMLResponse:  # fmt: skip
        target = client.fleet(f"{tenant}/{fleet}")
        key = parse_model(target, model)
        current = target.get(key, alias=alias, version=version)
        versions = target.versions(key, limit=PAGE_ROWS, before=before)
        metric_names = sorted({n for v in versions for n in v.metrics})[:8]
        return render(
            request, "model.html", fleet=_fleet(target), current=current, shown_alias=alias,
            model_url=f"/fleets/{target.path}/models/{model}",
            key_text=", ".join(f"{k}={v}" for k, v in current.key.items()),
            lineage=client.lineage(current), versions=versions, metric_names=metric_names,
            before=before, next_before=versions.next_cursor,
            monitoring=model_monitoring(target, key),
        )  # fmt: skip

    @pages.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(request: Request, run_id: RecordId) -> HTMLResponse:
        return render(request, "run.html", run=client.run(run_id))

    return pages


def compare_rows(
    a: ModelVersion, b: ModelVersion, lineage_a: Lineage, lineage_b: Lineage
) -> list[dict[str, Any]]:
    """Two versions field by field: what made them (lineage), their params and metrics."""

    def dataset(lineage: Lineage) -> str | None:
        data = lineage.dataset
        return f"{data.name} ({data.fingerprint[:12]})" if data else None

    def run(lineage: Lineage) -> str | None:
        return f"run {lineage.run.id}" if lineage.run else None

    fixed = [
        ("flavor", a.flavor, b.flavor), ("artifact", a.artifact_sha256[:16],
                                          b.artifact_sha256[:16]),
        ("aliases", ", ".join(a.aliases) or None, ", ".join(b.aliases) or None),
        ("created", readable(a.created_at), readable(b.created_at)),
        ("dataset", dataset(lineage_a), dataset(lineage_b)),
        ("key slice", (a.slice_fingerprint or "")[:16] or None,
         (b.slice_fingerprint or "")[:16] or None),
        ("run", run(lineage_a), run(lineage_b)), ("code", a.code_ref, b.code_ref),
    ]  # fmt: skip
    params = [(f"params.{n}", a.params.get(n), b.params.get(n))
              for n in sorted(set(a.params) | set(b.params))]  # fmt: skip
    metrics = [(n, a.metrics.get(n), b.metrics.get(n))
               for n in sorted(set(a.metrics) | set(b.metrics))]  # fmt: skip
    return [{"name": n, "a": x, "b": y, "differs": x != y} for n, x, y in fixed + params + metrics]


def _fleet(fleet: Fleet) -> dict[str, Any]:
    tenant, name = fleet.path.split("/", 1)
    return {"tenant": tenant, "fleet": name, "path": fleet.path, "keys": list(fleet.keys)}


def _row(fleet: Fleet, version: Any) -> dict[str, Any]:
    model = quote(",".join(f"{k}={version.key[k]}" for k in fleet.keys), safe="=,/")
    return {"key": version.key, "version": version.version, "aliases": version.aliases,
            "metrics": version.metrics,
            "url": f"/fleets/{fleet.path}/models/{model}"}  # fmt: skip


def _naming_the_field(exc: InvalidInput) -> str:
    """The error as the page shows it, led by the field it is about (once)."""
    field, message = exc.field or "filter", str(exc)
    return message if message.startswith(f"{field}:") else f"{field}: {message}"


def _facet(fleet: Fleet, dim: str, where: Where) -> list[dict[str, Any]]:
    counts = fleet.facets(dim, where, limit=FACET_VALUES)
    return [{"value": value, "count": count} for value, count in counts.items()]
