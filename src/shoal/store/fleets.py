"""Tenants and fleets: creating, finding and listing them within a scope."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.errors import Conflict, InvalidInput, NotFound
from shoal.store.schema import MAX_KEYS, fleets, tenants
from shoal.store.tenancy import FleetRef, Scope, check_name

RESERVED = frozenset(
    {
        "alias", "version", "status", "flavor", "created_at", "run", "dataset", "tags",
        "params", "metrics", "id", "model", "key", "and", "or", "not", "in", "is", "null",
        "true", "false", "latest",
    }
)  # fmt: skip


def check_keys(keys: Sequence[str]) -> tuple[str, ...]:
    """Validate a fleet's key dimensions; the message says what is allowed."""
    if isinstance(keys, str) or not isinstance(keys, Sequence):
        raise InvalidInput(
            f"keys must be a list of dimension names such as ['store', 'sku'], got {keys!r}",
            field="keys",
        )
    keys = tuple(keys)
    if len(keys) > MAX_KEYS:
        raise InvalidInput(
            f"keys: a fleet has at most {MAX_KEYS} key dimensions, got {len(keys)}",
            field="keys",
        )
    for key in keys:
        check_name(key, "keys")
        if key in RESERVED or "-" in key:
            raise InvalidInput(
                f"keys: {key!r} cannot be a key dimension (reserved word or '-'); "
                "pick another name such as 'store' or 'sku'",
                field="keys",
            )
    if len(set(keys)) != len(keys):
        raise InvalidInput(f"keys: {list(keys)} names a dimension twice", field="keys")
    return keys


def _ref(row: Any, tenant: str) -> FleetRef:
    return FleetRef(
        id=row.id,
        tenant_id=row.tenant_id,
        tenant=tenant,
        name=row.name,
        keys=tuple(row.dims),
        allow_pickle=bool(row.allow_pickle),
    )


def _select_fleet(tenant: str, name: str) -> sa.Select[Any]:
    return (
        sa.select(fleets)
        .join(tenants, tenants.c.id == fleets.c.tenant_id)
        .where(tenants.c.name == tenant, fleets.c.name == name)
    )


def get_fleet(conn: Connection, scope: Scope, tenant: str, name: str) -> FleetRef:
    scope.check(tenant)
    row = conn.execute(_select_fleet(tenant, name)).first()
    if row is None:
        raise NotFound(
            f"fleet '{tenant}/{name}' not found: create it with "
            f"client.fleet('{tenant}/{name}', keys=[...]) or list fleets with 'shoal fleets'"
        )
    return _ref(row, tenant)


def ensure_tenant(conn: Connection, scope: Scope, tenant: str) -> int:
    scope.check(check_name(tenant, "tenant"))
    found: int | None = conn.execute(
        sa.select(tenants.c.id).where(tenants.c.name == tenant)
    ).scalar()
    if found is not None:
        return found
    new_id: int = conn.execute(
        tenants.insert().values(name=tenant, created_at=time.time()).returning(tenants.c.id)
    ).scalar_one()
    return new_id


def create_fleet(
    conn: Connection,
    scope: Scope,
    tenant: str,
    name: str,
    keys: Sequence[str],
    *,
    allow_pickle: bool = False,
    description: str = "",
) -> tuple[FleetRef, bool]:
    """Create the fleet, or return the existing one if it has the same keys.

    Returns ``(fleet, created)``. Asking for an existing fleet with other keys is a
    Conflict: silently re-keying a fleet would orphan every model in it.
    """
    scope.check(check_name(tenant, "tenant"))
    check_name(name, "fleet")
    keys = check_keys(keys)
    row = conn.execute(_select_fleet(tenant, name)).first()
    if row is not None:
        existing = tuple(row.dims)
        if existing != keys:
            raise Conflict(
                f"fleet '{tenant}/{name}' exists with keys {list(existing)}, not {list(keys)}: "
                f"use keys={list(existing)} or another fleet name"
            )
        return _ref(row, tenant), False
    tenant_id = ensure_tenant(conn, scope, tenant)
    fleet_id = conn.execute(
        fleets.insert()
        .values(
            tenant_id=tenant_id,
            name=name,
            dims=list(keys),
            allow_pickle=allow_pickle,
            description=description,
            model_count=0,
            version_count=0,
            created_at=time.time(),
        )
        .returning(fleets.c.id)
    ).scalar_one()
    ref = FleetRef(fleet_id, tenant_id, tenant, name, keys, allow_pickle)
    return ref, True


def list_fleets(conn: Connection, scope: Scope, tenant: str | None = None) -> list[dict[str, Any]]:
    """Every fleet the scope may see (of ``tenant``), with its counts (kept by the writes)."""
    query = (
        sa.select(
            tenants.c.name.label("tenant"),
            fleets.c.name,
            fleets.c.dims,
            fleets.c.allow_pickle,
            fleets.c.model_count,
            fleets.c.version_count,
            fleets.c.created_at,
            fleets.c.description,
        )
        .join(tenants, tenants.c.id == fleets.c.tenant_id)
        .order_by(tenants.c.name, fleets.c.name)
    )
    if not scope.is_operator:
        query = query.where(tenants.c.name == scope.tenant)
    if tenant is not None:
        query = query.where(tenants.c.name == tenant)
    out = []
    for row in conn.execute(query):
        data = dict(row._mapping)
        data["keys"] = data.pop("dims")
        out.append(data)
    return out


def fleet_counts(conn: Connection, fleet: FleetRef) -> tuple[int, int]:
    row = conn.execute(
        sa.select(fleets.c.model_count, fleets.c.version_count).where(fleets.c.id == fleet.id)
    ).one()
    return int(row.model_count), int(row.version_count)


def tenant_id(conn: Connection, scope: Scope, tenant: str) -> int:
    scope.check(tenant)
    found: int | None = conn.execute(
        sa.select(tenants.c.id).where(tenants.c.name == tenant)
    ).scalar()
    if found is None:
        raise NotFound(f"tenant {tenant!r} not found: it appears when its first fleet is created")
    return found
