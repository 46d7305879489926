"""Runs: one unit of work over a fleet (train, evaluate, backfill, import)."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.errors import InvalidInput, NotFound
from shoal.store.schema import fleets, runs, tenants
from shoal.store.tenancy import FleetRef, Scope

STATUSES = ("running", "succeeded", "failed", "interrupted")


def create(
    conn: Connection,
    fleet: FleetRef,
    kind: str,
    *,
    actor: str,
    params: dict[str, Any] | None = None,
    code_ref: str | None = None,
) -> int:
    run_id: int = conn.execute(
        runs.insert()
        .values(
            tenant_id=fleet.tenant_id,
            fleet_id=fleet.id,
            kind=kind,
            status="running",
            params=params or {},
            counts={},
            code_ref=code_ref,
            created_by=actor,
            started_at=time.time(),
        )
        .returning(runs.c.id)
    ).scalar_one()
    return run_id


def finish(
    conn: Connection,
    scope: Scope,
    run_id: int,
    status: str,
    *,
    counts: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    if status not in STATUSES:
        raise InvalidInput(f"run status must be one of {STATUSES}, got {status!r}", field="status")
    get(conn, scope, run_id)
    conn.execute(
        runs.update()
        .where(runs.c.id == run_id)
        .values(
            status=status,
            error=error,
            finished_at=time.time(),
            **({"counts": counts} if counts is not None else {}),
        )
    )


def _select() -> sa.Select[Any]:
    return (
        sa.select(runs, tenants.c.name.label("tenant"), fleets.c.name.label("fleet"), fleets.c.dims)
        .join(tenants, tenants.c.id == runs.c.tenant_id)
        .join(fleets, fleets.c.id == runs.c.fleet_id, isouter=True)
    )


def get(conn: Connection, scope: Scope, run_id: int) -> dict[str, Any]:
    query = _select().where(runs.c.id == run_id)
    if not scope.is_operator:
        query = query.where(tenants.c.name == scope.tenant)
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"run {run_id} not found")
    return dict(row._mapping)


def list_runs(
    conn: Connection, fleet: FleetRef, limit: int = 50, before: int | None = None
) -> list[dict[str, Any]]:
    """The fleet's runs newest first, ``limit`` of those with an id below ``before``
    (a keyset page on ``ix_runs_tenant_fleet``)."""
    query = _select().where(runs.c.fleet_id == fleet.id, runs.c.tenant_id == fleet.tenant_id)
    if before is not None:
        query = query.where(runs.c.id < before)
    query = query.order_by(runs.c.id.desc()).limit(limit)
    return [dict(row._mapping) for row in conn.execute(query)]


def update_counts(conn: Connection, run_id: int, counts: dict[str, Any]) -> None:
    """Record a running run's progress (the caller has checked the run is in scope)."""
    conn.execute(runs.update().where(runs.c.id == run_id).values(counts=counts))


def reopen(conn: Connection, run_id: int, counts: dict[str, Any]) -> None:
    """Put a finished run back to ``running`` to resume it: same id, same lineage."""
    conn.execute(
        runs.update()
        .where(runs.c.id == run_id)
        .values(status="running", counts=counts, error=None, finished_at=None)
    )
