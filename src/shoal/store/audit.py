"""The audit log: one row per write call (who, what, when), never one per model.

Who: inside a server request the principal acting (:func:`shoal.store.tenancy.acting`)
is named, whatever ``actor`` a caller passed, with its role, how it signed in, the
client's address and the request id; outside one, ``actor`` (the local user).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.store.schema import audit, tenants
from shoal.store.tenancy import Scope, acting


def record(
    conn: Connection,
    tenant_id: int | None,
    actor: str,
    action: str,
    target: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append an audit row inside the caller's transaction, so it commits with the change."""
    who = acting()
    values: dict[str, Any] = {"actor": actor[:100]}
    if who is not None:
        values = {"actor": who.name[:100], "role": who.role, "via": who.via,
                  "address": who.address, "request_id": who.request_id}  # fmt: skip
    values.update(tenant_id=tenant_id, at=time.time(), action=action, target=target[:300],
                  detail=detail or {})  # fmt: skip
    conn.execute(audit.insert().values(**values))


def entries(
    conn: Connection,
    scope: Scope,
    *,
    tenant: str | None = None,
    actor: str | None = None,
    actions: Sequence[str] = (),
    since: float | None = None,
    before: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Audit rows newest first (keyset on ``before``, an id), the scope's tenant only;
    rows of no tenant (store-wide housekeeping) only for the operator."""
    query = (
        sa.select(audit, tenants.c.name.label("tenant"))
        .outerjoin(tenants, tenants.c.id == audit.c.tenant_id)
        .order_by(audit.c.id.desc())
        .limit(limit)
    )
    if not scope.is_operator:
        query = query.where(tenants.c.name == scope.tenant)
    if tenant is not None:
        scope.check(tenant)
        query = query.where(tenants.c.name == tenant)
    if actor is not None:
        query = query.where(audit.c.actor == actor)
    if actions:
        prefixes = [audit.c.action.like(f"{a}%") if a.endswith(".") else audit.c.action == a
                    for a in actions]  # fmt: skip
        query = query.where(sa.or_(*prefixes))
    if since is not None:
        query = query.where(audit.c.at >= since)
    if before is not None:
        query = query.where(audit.c.id < before)
    return [dict(row._mapping) for row in conn.execute(query)]
