"""``/api/v1/fleets/{tenant}/{fleet}/versions/{archive,restore,delete}``: version lifecycle.

A thin layer over :class:`~shoal.sdk.housekeeping.VersionLifecycle`, with the SDK's
guards: a filter or ids is required (422 otherwise), a version an alias points at is
refused (409), and ``dry_run`` is true unless the body says false, so a request that
forgets it changes nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from shoal.http.auth import ADMIN
from shoal.http.errors import ERROR_RESPONSES, WRITE_RESPONSES
from shoal.http.params import FleetName, Tenant
from shoal.sdk.client import Client


class RetireRequest(BaseModel):
    """Which versions to archive, restore or delete, and whether to do it."""

    model_config = ConfigDict(extra="forbid")
    where: str | None = Field(
        None, max_length=10_000, description="The versions (every version, archived too)"
    )
    ids: list[int] = Field(
        default_factory=list, max_length=100_000, description="Version ids (1 to 2**63-1)"
    )
    dry_run: bool = Field(True, description="Say what would change and change nothing")


def lifecycle_router(client: Client) -> APIRouter:
    """The archive, restore and delete routes over ``client``'s store."""
    api = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)

    def retire(tenant: str, fleet: str, action: str, body: RetireRequest) -> dict[str, Any]:
        target = client.fleet(f"{tenant}/{fleet}")
        method = {"archive": target.archive, "restore": target.restore,
                  "delete": target.delete_versions}[action]  # fmt: skip
        return method(body.where, ids=body.ids, apply=not body.dry_run).to_dict()

    @api.post("/fleets/{tenant}/{fleet}/versions/archive", responses=WRITE_RESPONSES)
    def archive(tenant: Tenant, fleet: FleetName, body: RetireRequest) -> dict[str, Any]:
        """Hide versions from search, counts and serving (kept); ``dry_run`` by default."""
        return retire(tenant, fleet, "archive", body)

    @api.post("/fleets/{tenant}/{fleet}/versions/restore", responses=WRITE_RESPONSES)
    def restore(tenant: Tenant, fleet: FleetName, body: RetireRequest) -> dict[str, Any]:
        """Show archived versions again; ``dry_run`` by default."""
        return retire(tenant, fleet, "restore", body)

    @api.post(
        "/fleets/{tenant}/{fleet}/versions/delete", responses=WRITE_RESPONSES, openapi_extra=ADMIN
    )
    def delete(tenant: Tenant, fleet: FleetName, body: RetireRequest) -> dict[str, Any]:
        """Delete versions and, once unused, their artifacts; ``dry_run`` by default."""
        return retire(tenant, fleet, "delete", body)

    return api
