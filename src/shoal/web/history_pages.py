"""What happened, as pages: runs, alias moves and datasets, each a keyset-paged table.

GET  /fleets/{tenant}/{fleet}/alias-moves?before=     the fleet's alias moves, undoable
POST /fleets/{tenant}/{fleet}/alias-moves/{id}/undo   put the models back (field ``next``)
GET  /fleets/{tenant}/{fleet}/runs?before=            the fleet's runs of every kind
GET  /runs?tenant=&before=                            runs across fleets (the scope's)
GET  /runs/{run}                                      one run: what it did, what failed
GET  /datasets?tenant=&before=                        data snapshots, and what trained on them
GET  /datasets/{id}?before=                           one snapshot: profile, reverse lineage

Every table is one page of at most :data:`PAGE_ROWS` rows, newest first, and "Older" pages
on with the last row's id as ``before`` (a keyset cursor: the same cost on page 1,000 as on
page 1). Whose records a page shows is decided below the routes, by the registry, from the
request's principal: ``tenant=`` only narrows what that scope may see.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from shoal.http.params import FleetName, IdCursor, RecordId, Tenant
from shoal.registry import NAME_PATTERN
from shoal.sdk.client import Client
from shoal.web.history_rows import (
    column_rows,
    figures,
    local_path,
    model_url,
    parameters,
    run_row,
)
from shoal.web.rendering import fleet_context, render, with_done

PAGE_ROWS = 50
"""Rows per table: a screenful."""
TenantFilter = Annotated[
    str | None, Query(pattern=NAME_PATTERN, description="Only this tenant's records.")
]


def history_router(client: Client) -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    @pages.get("/fleets/{tenant}/{fleet}/alias-moves", response_class=HTMLResponse)
    def alias_moves_page(
        request: Request, tenant: Tenant, fleet: FleetName, before: IdCursor = None
    ) -> HTMLResponse:
        target = client.fleet(f"{tenant}/{fleet}")
        moves = target.alias_moves(PAGE_ROWS, before=before)
        here = f"/fleets/{target.path}/alias-moves" + (f"?before={before}" if before else "")
        return render(request, "alias_moves.html", fleet=fleet_context(target), moves=moves,
                      before=before, next_before=moves.next_cursor, here=here)  # fmt: skip

    @pages.post("/fleets/{tenant}/{fleet}/alias-moves/{move_id}/undo")
    def undo(
        tenant: Tenant, fleet: FleetName, move_id: RecordId,
        next: Annotated[str, Form(max_length=2000)] = "",
    ) -> RedirectResponse:  # fmt: skip
        """Undo, then back to the page the form was on (``next``, a path on this site;
        anything else, or none, is the fleet page)."""
        undone = client.fleet(f"{tenant}/{fleet}").undo(move_id)
        message = f"Undid move {move_id}: {undone.moved:,} model(s) back where they were"
        if undone.skipped:
            message += f"; {undone.skipped:,} left alone (their alias moved again since)"
        back = local_path(next) or f"/fleets/{tenant}/{fleet}"
        return RedirectResponse(with_done(back, message + "."), status_code=303)

    @pages.get("/fleets/{tenant}/{fleet}/runs", response_class=HTMLResponse)
    def fleet_runs_page(
        request: Request, tenant: Tenant, fleet: FleetName, before: IdCursor = None
    ) -> HTMLResponse:
        target = client.fleet(f"{tenant}/{fleet}")
        runs = target.runs(PAGE_ROWS, before=before)
        return render(request, "runs.html", fleet=fleet_context(target), tenant=None,
                      rows=[run_row(r) for r in runs], before=before,
                      next_before=runs.next_cursor)  # fmt: skip

    @pages.get("/runs", response_class=HTMLResponse)
    def runs_page(
        request: Request, tenant: TenantFilter = None, before: IdCursor = None
    ) -> HTMLResponse:
        runs = client.runs(tenant, PAGE_ROWS, before=before)
        return render(request, "runs.html", fleet=None, tenant=tenant,
                      rows=[run_row(r) for r in runs], before=before,
                      next_before=runs.next_cursor)  # fmt: skip

    @pages.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(request: Request, run_id: RecordId) -> HTMLResponse:
        run = client.run(run_id)
        return render(request, "run.html", run=run, row=run_row(run), figures=figures(run),
                      params=parameters(run))  # fmt: skip

    @pages.get("/datasets", response_class=HTMLResponse)
    def datasets_page(
        request: Request, tenant: TenantFilter = None, before: IdCursor = None
    ) -> HTMLResponse:
        found = client.datasets.page(tenant, PAGE_ROWS, before=before)
        return render(request, "datasets.html", rows=found, tenant=tenant, before=before,
                      next_before=found.next_cursor)  # fmt: skip

    @pages.get("/datasets/{dataset_id}", response_class=HTMLResponse)
    def dataset_page(
        request: Request, dataset_id: RecordId, before: IdCursor = None
    ) -> HTMLResponse:
        dataset = client.datasets.get(dataset_id)
        trained = client.datasets.trained(dataset, PAGE_ROWS, before=before)
        rows = [{**v.to_dict(), "created_at": v.created_at, "url": model_url(v.fleet, v.key)}
                for v in trained]  # fmt: skip
        return render(
            request, "dataset.html", dataset=dataset, columns=column_rows(
                dataset.schema, dataset.profile), trained=rows, before=before,
            next_before=trained.next_cursor,
        )  # fmt: skip

    return pages
