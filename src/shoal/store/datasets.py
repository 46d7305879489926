"""Datasets: registered snapshots (fingerprint, schema, rows, profile), per tenant."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.errors import NotFound
from shoal.store.schema import datasets, fleets, models, tenants, versions
from shoal.store.tenancy import Scope


def upsert(
    conn: Connection,
    tenant_id: int,
    *,
    name: str,
    fingerprint: str,
    schema: list[dict[str, Any]],
    row_count: int,
    profile: dict[str, Any],
    location: str | None,
    actor: str,
) -> tuple[int, bool]:
    """Register a snapshot; the same name and content again returns the first record."""
    found = conn.execute(
        sa.select(datasets.c.id).where(
            datasets.c.tenant_id == tenant_id,
            datasets.c.name == name,
            datasets.c.fingerprint == fingerprint,
        )
    ).scalar()
    if found is not None:
        return found, False
    new_id = conn.execute(
        datasets.insert()
        .values(
            tenant_id=tenant_id, name=name, fingerprint=fingerprint, schema=schema,
            row_count=row_count, profile=profile, location=location, created_by=actor,
            created_at=time.time(),
        )
        .returning(datasets.c.id)
    ).scalar_one()  # fmt: skip
    return new_id, True


def _select(scope: Scope) -> sa.Select[Any]:
    query = sa.select(datasets, tenants.c.name.label("tenant")).join(
        tenants, tenants.c.id == datasets.c.tenant_id
    )
    if not scope.is_operator:
        query = query.where(tenants.c.name == scope.tenant)
    return query


def get(conn: Connection, scope: Scope, dataset_id: int) -> dict[str, Any]:
    row = conn.execute(_select(scope).where(datasets.c.id == dataset_id)).first()
    if row is None:
        raise NotFound(f"dataset {dataset_id} not found")
    return dict(row._mapping)


def find(conn: Connection, scope: Scope, ref: str) -> list[dict[str, Any]]:
    """Datasets by name or by fingerprint (a prefix of at least 8 hex characters)."""
    clause = datasets.c.name == ref
    if len(ref) >= 8 and all(c in "0123456789abcdef" for c in ref):
        clause = sa.or_(clause, datasets.c.fingerprint.startswith(ref))
    rows = conn.execute(_select(scope).where(clause).order_by(datasets.c.id.desc()))
    return [dict(row._mapping) for row in rows]


def list_datasets(conn: Connection, scope: Scope, limit: int = 100) -> list[dict[str, Any]]:
    rows = conn.execute(_select(scope).order_by(datasets.c.id.desc()).limit(limit))
    return [dict(row._mapping) for row in rows]


def trained_on(
    conn: Connection, scope: Scope, dataset_id: int, limit: int = 1000
) -> list[dict[str, Any]]:
    """Versions trained on a dataset: one indexed query (``ix_versions_dataset``)."""
    get(conn, scope, dataset_id)
    query = (
        sa.select(
            versions.c.id.label("version_id"), versions.c.number, fleets.c.name.label("fleet"),
            tenants.c.name.label("tenant"), models.c.key_text, fleets.c.dims,
        )
        .join(models, models.c.id == versions.c.model_id)
        .join(fleets, fleets.c.id == versions.c.fleet_id)
        .join(tenants, tenants.c.id == versions.c.tenant_id)
        .where(versions.c.dataset_id == dataset_id)
        .order_by(versions.c.id)
        .limit(limit)
    )  # fmt: skip
    if not scope.is_operator:
        query = query.where(tenants.c.name == scope.tenant)
    return [dict(row._mapping) for row in conn.execute(query)]
