"""``/api/v1``: fleets, models, versions, search, facets, counts, aliases, runs, datasets.

Every route is a thin layer over the SDK, so the API, the SDK and the CLI answer from the
same queries: the filter grammar of ``where`` and ``sort``, keyset cursors (``cursor`` in,
``next_cursor`` out, never an offset), and errors that name the field.

A model is addressed by its key, readable and guessable: ``store=s012,sku=A77``. (A key
value holding ``,`` or ``=`` cannot be addressed this way; find it with ``/models?where=``.)
"""

from __future__ import annotations

import itertools
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from shoal.http.errors import ERROR_RESPONSES, WRITE_RESPONSES
from shoal.http.params import (
    AliasName,
    FleetName,
    IdCursor,
    Limit,
    ModelPath,
    RecordId,
    Sort,
    Tenant,
    Where,
)
from shoal.sdk.client import Client
from shoal.sdk.fleet import Fleet
from shoal.sdk.keys import parse_key_pairs, split_path_key
from shoal.sdk.results import Page


def id_page(page: Page[Any]) -> dict[str, Any]:
    """A page whose cursor is an id, with the cursor as a number, as REST takes it back."""
    return {**page.to_dict(), "next_cursor": page.next_cursor and int(page.next_cursor)}


Scope = Annotated[str, Query(pattern="^(latest|all)$", description="latest or all versions.")]


class AliasRequest(BaseModel):
    """Move an alias on every model ``where`` selects (the fleet page's bulk action)."""

    model_config = ConfigDict(extra="forbid")
    where: str | None = Field(None, description="The models to move (the filter grammar)")
    all: bool = Field(False, description="Move every model of the fleet instead of a filter")
    source: str | None = None
    dry_run: bool = False
    create: bool = Field(False, description="Confirm a move that starts a new alias")


def api_router(client: Client) -> APIRouter:
    """The ``/api/v1`` routes over ``client``'s store."""
    api = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)

    def fleet_of(tenant: Tenant, fleet: FleetName) -> Fleet:
        return client.fleet(f"{tenant}/{fleet}")

    @api.get("/tenants")
    def tenants() -> dict[str, Any]:
        """Tenants with how many fleets, models and versions each has."""
        return {"items": [t.to_dict() for t in client.tenants()]}

    @api.get("/fleets")
    def fleets(
        tenant: str | None = None, limit: Limit = 1000,
        cursor: Annotated[str | None, Query(max_length=300)] = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Every fleet (of ``tenant``), by path: its keys, model and version counts; a page
        of ``limit``, the next after ``cursor`` (the last path of the page before)."""
        after = tuple(cursor.split("/", 1)) if cursor else ()
        found = sorted((f for f in client.fleets(tenant) if (f.tenant, f.fleet) > after),
                       key=lambda f: (f.tenant, f.fleet))  # fmt: skip
        page = found[:limit]
        more = len(found) > limit
        return {"items": [f.to_dict() for f in page],
                "next_cursor": page[-1].path if more else None}  # fmt: skip

    @api.get("/fleets/{tenant}/{fleet}")
    def fleet_detail(tenant: Tenant, fleet: FleetName) -> dict[str, Any]:
        """One fleet: keys, counts, and how many models carry each alias."""
        target = fleet_of(tenant, fleet)
        return {
            "tenant": tenant, "fleet": fleet, "path": target.path, "keys": list(target.keys),
            "models": target.count(), "aliases": target.coverage(),
        }  # fmt: skip

    @api.get("/fleets/{tenant}/{fleet}/models")
    def models(
        tenant: Tenant, fleet: FleetName, where: Where = None, sort: Sort = None, limit: Limit = 50,
        cursor: str | None = None, versions: Scope = "latest",
    ) -> dict[str, Any]:  # fmt: skip
        """A page of models (their latest version, or the alias a ``where`` term names)."""
        page = fleet_of(tenant, fleet).search(where, sort=sort, limit=limit, cursor=cursor,
                                              versions=versions)  # fmt: skip
        return {"items": [v.to_dict() for v in page], "next_cursor": page.next_cursor}

    @api.get("/fleets/{tenant}/{fleet}/count")
    def count(
        tenant: Tenant, fleet: FleetName, where: Where = None, versions: Scope = "latest"
    ) -> Any:
        """How many models match ``where``."""
        return {"count": fleet_of(tenant, fleet).count(where, versions=versions)}

    @api.get("/fleets/{tenant}/{fleet}/histogram/{metric}")
    def histogram(
        tenant: Tenant, fleet: FleetName, metric: Annotated[str, Path(max_length=200)],
        where: Where = None, bins: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> dict[str, Any]:  # fmt: skip
        """How ``metric`` spreads over the models' latest versions (those ``where``
        selects): ``bins`` equal bins, their ``edges``, ``counts`` and centres ``x``, and
        ``count``, the models that have the metric. The fleet page's chart reads it after
        the page has painted."""
        found = fleet_of(tenant, fleet).metric_histogram(metric, where, bins=bins)
        edges = found.get("edges") or []
        return {**found, "x": [(a + b) / 2 for a, b in itertools.pairwise(edges)]}

    @api.get("/fleets/{tenant}/{fleet}/facets/{dim}")
    def facets(
        tenant: Tenant, fleet: FleetName, dim: str, where: Where = None, limit: Limit = 100,
        versions: Scope = "latest",
        search: Annotated[str | None, Query(max_length=200,
                                            description="Keep values holding this text")] = None,
        cursor: Annotated[str | None, Query(max_length=2000,
                                            description="next_cursor of the page before")] = None,
        order: Annotated[str, Query(pattern="^(count|value)$",
                                    description="count (largest first) or value")] = "count",
    ) -> dict[str, Any]:  # fmt: skip
        """A page of models per value of key dimension or tag ``dim`` (``store``,
        ``tags.region``), largest first or by value, with ``next_cursor``."""
        counts = fleet_of(tenant, fleet).facets(
            dim, where, limit=limit, versions=versions, search=search, cursor=cursor, order=order
        )
        return {"dim": counts.dim, "items": [{"value": k, "count": v} for k, v in counts.items()],
                "next_cursor": counts.next_cursor}  # fmt: skip

    @api.get("/fleets/{tenant}/{fleet}/models/{model:path}/versions")
    def model_versions(
        tenant: Tenant, fleet: FleetName, model: ModelPath, limit: Limit = 50,
        cursor: Annotated[
            int | None, Query(ge=1, le=2**31 - 1, description="next_cursor of a page")
        ] = None,
    ) -> dict[str, Any]:  # fmt: skip
        """A page of one model's versions, newest first (keyset on the version number)."""
        target = fleet_of(tenant, fleet)
        return id_page(target.versions(parse_model(target, model), limit=limit, before=cursor))

    @api.get("/fleets/{tenant}/{fleet}/models/{model:path}")
    def model(
        tenant: Tenant, fleet: FleetName, model: ModelPath, alias: str | None = None,
        version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    ) -> dict[str, Any]:  # fmt: skip
        """The version a model resolves to (latest, ``alias`` or ``version``), and its lineage."""
        target = fleet_of(tenant, fleet)
        found = target.get(parse_model(target, model), alias=alias, version=version)
        return {**found.to_dict(), "lineage": client.lineage(found).to_dict()}

    @api.get("/versions/{version_id}")
    def version(version_id: RecordId) -> dict[str, Any]:
        """One version by id, with its lineage and baseline profile."""
        found = client.get_version(version_id)
        return {**found.to_dict(), "lineage": client.lineage(found).to_dict(),
                "baseline": client.baseline(found)}  # fmt: skip

    @api.post("/fleets/{tenant}/{fleet}/aliases/{alias}", responses=WRITE_RESPONSES)
    def move_alias(
        tenant: Tenant, fleet: FleetName, alias: AliasName, body: AliasRequest
    ) -> dict[str, Any]:
        """Point ``alias`` at a version of every model ``where`` selects; ``dry_run`` previews.

        The answer names the move; ``POST .../alias-moves/{id}/undo`` puts it back.
        """
        move = fleet_of(tenant, fleet).promote(
            alias, body.where, all=body.all, source=body.source, dry_run=body.dry_run,
            create=body.create,
        )  # fmt: skip
        return move.to_dict()

    @api.get("/fleets/{tenant}/{fleet}/alias-moves")
    def alias_moves(
        tenant: Tenant, fleet: FleetName, limit: Limit = 50, cursor: IdCursor = None
    ) -> dict[str, Any]:
        """A page of the fleet's alias moves, newest first, each undoable."""
        return id_page(fleet_of(tenant, fleet).alias_moves(limit, before=cursor))

    @api.post("/fleets/{tenant}/{fleet}/alias-moves/{move_id}/undo", responses=WRITE_RESPONSES)
    def undo(tenant: Tenant, fleet: FleetName, move_id: RecordId) -> dict[str, Any]:
        """Put back every model a move changed, in one transaction."""
        return fleet_of(tenant, fleet).undo(move_id).to_dict()

    @api.get("/fleets/{tenant}/{fleet}/runs")
    def runs(
        tenant: Tenant, fleet: FleetName, limit: Limit = 50, cursor: IdCursor = None
    ) -> dict[str, Any]:
        """A page of the fleet's runs of every kind, newest first."""
        return id_page(fleet_of(tenant, fleet).runs(limit, before=cursor))

    @api.get("/runs/{run_id}")
    def run(run_id: RecordId) -> dict[str, Any]:
        """One run: status, counts, durations, per-key errors with tracebacks."""
        return client.run(run_id).to_dict()

    @api.get("/datasets")
    def datasets(limit: Limit = 100) -> dict[str, Any]:
        """Registered data snapshots, newest first."""
        return {"items": [d.to_dict() for d in client.datasets.list(limit)]}

    @api.get("/datasets/{dataset_id}")
    def dataset(dataset_id: RecordId, limit: Limit = 100) -> dict[str, Any]:
        """One dataset and the versions trained on it."""
        found = client.datasets.get(dataset_id)
        return {**found.to_dict(), "models": client.datasets.models(found, limit)}

    return api


def parse_model(fleet: Fleet, text: str) -> dict[str, str]:
    """``store=s012,sku=A77`` as the key the SDK takes (the parser ``--key`` uses too)."""
    pairs = split_path_key(text)
    return parse_key_pairs(fleet.path, fleet.keys, pairs, option="model", field="model")
