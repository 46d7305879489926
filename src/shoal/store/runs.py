"""Runs: one unit of work over a fleet (train, evaluate, backfill, import).

A run that a process works on holds a lease: ``lease_holder`` names the process,
``lease_expires_at`` says until when it holds the run unless it renews. Every change
the holder makes checks the holder (a compare-and-set), so a process whose run was
taken over learns it at its next write. Reads show a ``running`` run whose lease
expired (its process died) as ``interrupted``; a run with no lease (opened by hand, or
by a Shoal from before leases) keeps its stored status.
"""

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
    lease_holder: str | None = None,
    lease_expires_at: float | None = None,
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
            lease_holder=lease_holder,
            lease_expires_at=lease_expires_at,
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
    lease_holder: str | None = None,
) -> bool:
    """Close the run and clear its lease. With ``lease_holder``, only while that holder
    still holds it: returns False (and changes nothing) when it was taken over."""
    if status not in STATUSES:
        raise InvalidInput(f"run status must be one of {STATUSES}, got {status!r}", field="status")
    get(conn, scope, run_id)
    where = runs.c.id == run_id
    if lease_holder is not None:
        where = where & (runs.c.lease_holder == lease_holder)
    result = conn.execute(
        runs.update()
        .where(where)
        .values(
            status=status,
            error=error,
            finished_at=time.time(),
            lease_holder=None,
            lease_expires_at=None,
            **({"counts": counts} if counts is not None else {}),
        )
    )
    return bool(result.rowcount)


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
    return _shown(dict(row._mapping), time.time())


def list_runs(
    conn: Connection, fleet: FleetRef, limit: int = 50, before: int | None = None
) -> list[dict[str, Any]]:
    """The fleet's runs newest first, ``limit`` of those with an id below ``before``
    (a keyset page on ``ix_runs_tenant_fleet``)."""
    query = _select().where(runs.c.fleet_id == fleet.id, runs.c.tenant_id == fleet.tenant_id)
    if before is not None:
        query = query.where(runs.c.id < before)
    query = query.order_by(runs.c.id.desc()).limit(limit)
    now = time.time()
    return [_shown(dict(row._mapping), now) for row in conn.execute(query)]


def list_tenant_runs(
    conn: Connection,
    scope: Scope,
    tenant: str | None = None,
    limit: int = 50,
    before: int | None = None,
) -> list[dict[str, Any]]:
    """Runs across fleets newest first: the scope's (the operator's: every tenant's), of
    ``tenant`` when named, ``limit`` of those with an id below ``before``. One query, a
    keyset page on the primary key (a tenant's runs are a share of all, so walking ids
    down and keeping the tenant's stops after a page's worth)."""
    query = _select()
    # On runs' own tenant_id (an index of (tenant_id, id)), not the joined name: walking
    # every tenant's ids down to find a small tenant's page would read them all.
    if not scope.is_operator:
        query = query.where(runs.c.tenant_id == _tenant_id(scope.tenant))
    if tenant is not None:
        scope.check(tenant)
        query = query.where(runs.c.tenant_id == _tenant_id(tenant))
    if before is not None:
        query = query.where(runs.c.id < before)
    query = query.order_by(runs.c.id.desc()).limit(limit)
    now = time.time()
    return [_shown(dict(row._mapping), now) for row in conn.execute(query)]


def _tenant_id(name: str | None) -> Any:
    """The id of tenant ``name``, as a scalar sub-query (no tenant of that name: no row)."""
    return sa.select(tenants.c.id).where(tenants.c.name == name).scalar_subquery()


def _shown(row: dict[str, Any], now: float) -> dict[str, Any]:
    """A run as read: ``interrupted`` when it is ``running`` but its lease has expired
    (the process holding it died; a resume takes it up). A run with no lease keeps its
    stored status."""
    expires = row["lease_expires_at"]
    if row["status"] == "running" and expires is not None and expires < now:
        row["status"] = "interrupted"
    return row


def update_counts(conn: Connection, run_id: int, counts: dict[str, Any]) -> None:
    """Record a running run's progress (the caller has checked the run is in scope)."""
    conn.execute(runs.update().where(runs.c.id == run_id).values(counts=counts))


def take_lease(
    conn: Connection,
    run_id: int,
    holder: str,
    expires_at: float,
    *,
    now: float,
    take_over: bool = False,
) -> bool:
    """Make ``holder`` the run's holder until ``expires_at``, in one conditional UPDATE:
    only when no live process holds it (not ``running``, no lease, or a lease expired
    before ``now``), or unconditionally with ``take_over``. Returns whether it took it.

    One statement, so two processes cannot both take it: SQLite's writer holds the write
    lock, and PostgreSQL re-checks the condition on the row it waited for.
    """
    where = runs.c.id == run_id
    if not take_over:
        where = where & sa.or_(
            runs.c.status != "running",
            runs.c.lease_expires_at.is_(None),
            runs.c.lease_expires_at < now,
        )
    result = conn.execute(
        runs.update().where(where).values(lease_holder=holder, lease_expires_at=expires_at)
    )
    return bool(result.rowcount)


def renew_lease(conn: Connection, run_id: int, holder: str, expires_at: float) -> bool:
    """Extend the lease while ``holder`` still holds the run (compare-and-set on the
    holder; on PostgreSQL the row stays locked to the end of the transaction, so a
    take-over waits for what this transaction writes). False: it was taken over."""
    result = conn.execute(
        runs.update()
        .where(runs.c.id == run_id, runs.c.lease_holder == holder)
        .values(lease_expires_at=expires_at)
    )
    return bool(result.rowcount)


def lease_holder(conn: Connection, run_id: int) -> str | None:
    """Who holds the run now (None: nobody, or no such run)."""
    query = sa.select(runs.c.lease_holder).where(runs.c.id == run_id)
    holder: str | None = conn.execute(query).scalar()
    return holder


def reopen(conn: Connection, run_id: int, counts: dict[str, Any]) -> None:
    """Put a finished run back to ``running`` to resume it: same id, same lineage
    (the caller has taken its lease first, in the same transaction)."""
    conn.execute(
        runs.update()
        .where(runs.c.id == run_id)
        .values(status="running", counts=counts, error=None, finished_at=None)
    )
