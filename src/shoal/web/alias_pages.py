"""Moving an alias from a page: preview what moves, then move it (``POST .../aliases``).

The preview is a dry run of the same :meth:`Fleet.promote` the SDK and the CLI call, so a
page, a script and a terminal move the same models.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from shoal.http.params import FleetName, Tenant
from shoal.sdk.client import Client
from shoal.web.rendering import fleet_context, render


def alias_router(client: Client) -> APIRouter:
    pages = APIRouter(include_in_schema=False)

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
        return render(request, "move.html", fleet=fleet_context(target), move=move, where=where,
                      source=source)  # fmt: skip

    return pages
