"""What happened, as pages: a run, and undoing an alias move.

GET  /runs/{run}                                     one run: what it did, what failed
POST /fleets/{tenant}/{fleet}/alias-moves/{id}/undo  put the models back
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from shoal.http.params import FleetName, RecordId, Tenant
from shoal.sdk.client import Client
from shoal.web.rendering import render, with_done


def history_router(client: Client) -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    @pages.post("/fleets/{tenant}/{fleet}/alias-moves/{move_id}/undo")
    def undo(tenant: Tenant, fleet: FleetName, move_id: RecordId) -> RedirectResponse:
        undone = client.fleet(f"{tenant}/{fleet}").undo(move_id)
        message = f"Undid move {move_id}: {undone.moved:,} model(s) back where they were."
        return RedirectResponse(with_done(f"/fleets/{tenant}/{fleet}", message), status_code=303)

    @pages.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(request: Request, run_id: RecordId) -> HTMLResponse:
        return render(request, "run.html", run=client.run(run_id))

    return pages
