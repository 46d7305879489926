"""Moving an alias from a page: preview what moves, then move it (``POST .../aliases``).

The preview is a dry run of the same :meth:`Fleet.promote` the SDK and the CLI call, so a
page, a script and a terminal move the same models; it shows what the move changes of the
metrics (``AliasMove.metric_change`` and each row's ``metrics``). A move the registry
refuses (a source alias no model carries, a typo such as ``candiate``) is shown on the
same page, naming the field and the closest alias, with the form to try again.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from shoal.errors import InvalidInput
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
        try:
            move = target.promote(alias.strip(), where.strip() or None,
                                  source=source.strip() or None, create=create,
                                  dry_run=action != "apply")  # fmt: skip
        except InvalidInput as exc:
            if exc.field not in ("source", "alias", "where", "all"):
                raise
            return render(request, "move.html", fleet=fleet_context(target), move=None,
                          where=where, source=source, alias=alias, error=str(exc),
                          field=exc.field)  # fmt: skip
        shown = [change["metric"] for change in move.metric_change]
        return render(request, "move.html", fleet=fleet_context(target), move=move, where=where,
                      source=source, alias=alias, shown_metrics=shown)  # fmt: skip

    return pages
