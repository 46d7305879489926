"""The fleet report as a page and as REST: ``/fleets/{tenant}/{fleet}/report``.

The page is the report's own HTML (what ``shoal report`` writes), with a toolbar under
its header: back to the fleet, record this report, download it, and each table whole as
CSV or Parquet from ``/api/v1/.../report/tables/{name}``. Viewing the page does not
record a report (a refresh must not move "changes since the previous report"); the
"Record" button does, with the options on the page.

    GET  /fleets/{tenant}/{fleet}/report                 the page (since, by, across, ...)
    POST /fleets/{tenant}/{fleet}/report                 record one, then show it
    GET  /api/v1/fleets/{tenant}/{fleet}/report          its figures as JSON
    POST /api/v1/fleets/{tenant}/{fleet}/report          record one; its figures
    GET  /api/v1/fleets/{tenant}/{fleet}/report/tables/{name}?format=csv|parquet
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from markupsafe import Markup, escape

from shoal.errors import NotFound
from shoal.http.errors import ERROR_RESPONSES, WRITE_RESPONSES
from shoal.http.params import FleetName, Tenant
from shoal.report.fleet_report import FleetReport, render, table_bytes
from shoal.sdk.client import Client
from shoal.web.rendering import DONE_CHARS, with_done

Span = Annotated[str, Query(max_length=20, description="A length of time: 7d, 12h, 2w.")]
Name = Annotated[str | None, Query(max_length=200)]
TableFormat = Annotated[Literal["csv", "parquet"], Query(description="csv or parquet")]
MEDIA = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}


class _Options:
    """The report options a page or a request carries, and the query string they make."""

    def __init__(self, since: str, by: str | None, across: str | None, metric: str | None,
                 alias: str, window: str | None, stale_after: str) -> None:  # fmt: skip
        self.values: dict[str, Any] = {
            "since": since, "by": by, "across": across, "metric": metric, "alias": alias,
            "window": window, "stale_after": stale_after,
        }  # fmt: skip

    def query(self) -> str:
        return urlencode({k: v for k, v in self.values.items() if v})

    def build(self, client: Client, path: str, *, record: bool) -> FleetReport:
        return client.fleet(path).report(record=record, **self.values)


def _query_options(
    since: Span = "7d", by: Name = None, across: Name = None, metric: Name = None,
    alias: Annotated[str, Query(max_length=100)] = "production", window: Name = None,
    stale_after: Span = "30d",
) -> _Options:  # fmt: skip
    """The report options of a request's query string (every route takes the same)."""
    return _Options(since, by, across, metric, alias, window, stale_after)


Options = Annotated[_Options, Depends(_query_options)]


def report_router(client: Client) -> APIRouter:
    """The report page and REST routes over ``client``'s store."""
    router = APIRouter()

    @router.get("/fleets/{tenant}/{fleet}/report", response_class=HTMLResponse,
                include_in_schema=False)  # fmt: skip
    def report_page(
        tenant: Tenant, fleet: FleetName, chosen: Options, request: Request,
        done: Annotated[str | None, Query(max_length=DONE_CHARS)] = None,
    ) -> HTMLResponse:  # fmt: skip
        path = f"{tenant}/{fleet}"
        report = chosen.build(client, path, record=False)
        api = f"/api/v1/fleets/{path}/report/tables"
        query = chosen.query()

        def links(name: str) -> Markup:
            if name not in report.tables:
                return Markup("")
            rows = report.tables[name].num_rows
            sep = "&" if query else ""
            return Markup(
                f' <span class="export">{rows:,} rows: '
                f'<a href="{api}/{name}?{query}{sep}format=csv">CSV</a> · '
                f'<a href="{api}/{name}?{query}{sep}format=parquet">Parquet</a></span>'
            )

        toolbar = _toolbar(path, chosen, report, request.state.csrf_token, done)
        html = render(report, by=report.figures.quality["by"], links=links, toolbar=toolbar)
        return HTMLResponse(html)

    @router.post("/fleets/{tenant}/{fleet}/report", include_in_schema=False)
    def record_page(
        tenant: Tenant, fleet: FleetName,
        since: Annotated[str, Form(max_length=20)] = "7d",
        by: Annotated[str, Form(max_length=200)] = "",
        across: Annotated[str, Form(max_length=200)] = "",
        metric: Annotated[str, Form(max_length=200)] = "",
        alias: Annotated[str, Form(max_length=100)] = "production",
        window: Annotated[str, Form(max_length=20)] = "",
        stale_after: Annotated[str, Form(max_length=20)] = "30d",
    ) -> RedirectResponse:  # fmt: skip
        chosen = _Options(since, by or None, across or None, metric or None, alias,
                          window or None, stale_after)  # fmt: skip
        recorded = chosen.build(client, f"{tenant}/{fleet}", record=True)
        url = f"/fleets/{tenant}/{fleet}/report?{chosen.query()}"
        message = f"Recorded report {recorded.report_id}: the next one diffs against it."
        return RedirectResponse(with_done(url, message), status_code=303)

    @router.get("/api/v1/fleets/{tenant}/{fleet}/report", responses=ERROR_RESPONSES)
    def report_json(
        tenant: Tenant, fleet: FleetName, chosen: Options,
        format: Annotated[Literal["json", "html"], Query(description="json or html")] = "json",
    ) -> Response:  # fmt: skip
        """The fleet report's figures (not recorded); ``format=html`` gives the page."""
        report = chosen.build(client, f"{tenant}/{fleet}", record=False)
        if format == "html":
            return HTMLResponse(report.html)
        return _json(report.to_dict())

    @router.post("/api/v1/fleets/{tenant}/{fleet}/report", responses=WRITE_RESPONSES)
    def record_json(tenant: Tenant, fleet: FleetName, chosen: Options) -> Response:
        """Build and record a fleet report (the next one diffs against it); its figures."""
        return _json(chosen.build(client, f"{tenant}/{fleet}", record=True).to_dict())

    @router.get("/api/v1/fleets/{tenant}/{fleet}/report/tables/{name}", responses=ERROR_RESPONSES)
    def report_table(
        tenant: Tenant, fleet: FleetName,
        name: Annotated[str, Path(pattern=r"^[a-z_]{1,40}$", description="The table.")],
        chosen: Options, format: TableFormat = "csv",
    ) -> Response:  # fmt: skip
        """One table of the report, whole: models, cohorts, worst, drift_heat_map,
        alerts_by_rule, alerts_by_cohort."""
        report = chosen.build(client, f"{tenant}/{fleet}", record=False)
        table = report.tables.get(name)
        if table is None:
            raise NotFound(f"report table {name!r} not found: the report has "
                           f"{sorted(report.tables)}")  # fmt: skip
        filename = f"{tenant}-{fleet}-{name}.{format}"
        return Response(
            table_bytes(table, format), media_type=MEDIA[format],
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )  # fmt: skip

    return router


def _json(data: dict[str, Any]) -> Response:
    return JSONResponse(jsonable_encoder(data))


def _toolbar(
    path: str, chosen: _Options, report: FleetReport, csrf: str, done: str | None = None
) -> Markup:
    hidden = f'<input type="hidden" name="csrf_token" value="{escape(csrf)}">' + "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
        for k, v in chosen.values.items() if v
    )  # fmt: skip
    query = chosen.query()
    return Markup(
        f'<a href="/fleets/{path}">← {escape(path)}</a>'
        f'<form method="post" action="/fleets/{path}/report">{hidden}'
        '<button type="submit">Record this report</button></form>'
        f'<a href="/api/v1/fleets/{path}/report?{query}&format=html" '
        f'download="{escape(path.replace("/", "-"))}-report.html">Download HTML</a>'
        f'<a href="/api/v1/fleets/{path}/export?format=parquet">Per-model table (Parquet)</a>'
        f'<a href="/api/v1/fleets/{path}/export?format=csv">(CSV)</a>'
        f'<span class="muted">viewing does not record; the next recorded report diffs against '
        f"the last one recorded. Built in {report.seconds:.2f} s.</span>"
        + (f'<p class="done" role="status">{escape(done)}</p>' if done else "")
    )
