"""Datasets: registered snapshots (fingerprint, schema, rows, profile), per tenant."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.errors import NotFound
from shoal.store.schema import datasets, fleets, models, tenants, versions
from shoal.store.tenancy import Scope

TRAINED_COUNT_CAP = 10_000
"""A dataset listing counts the versions each dataset trained up to this many (and one
more, to tell "exactly 10,000" from "more"); the dataset's own page pages them all."""


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


def list_datasets(
    conn: Connection,
    scope: Scope,
    limit: int = 100,
    before: int | None = None,
    tenant: str | None = None,
    *,
    with_trained: bool = False,
) -> list[dict[str, Any]]:
    """The scope's datasets newest first (of ``tenant`` when named), ``limit`` of those
    with an id below ``before``: one query. ``with_trained`` adds ``trained``, how many
    versions trained on each, counted per row on ``ix_versions_dataset`` inside the same
    statement (no N+1 round trips) and only up to :data:`TRAINED_COUNT_CAP` + 1: a page
    of 50 datasets that each trained a million versions must not count 50 million index
    entries to say "more than ten thousand"."""
    query = _select(scope)
    if with_trained:
        first = (
            sa.select(versions.c.id)
            .where(versions.c.dataset_id == datasets.c.id)
            .limit(TRAINED_COUNT_CAP + 1)
            .correlate(datasets)
            .subquery()
        )
        trained = sa.select(sa.func.count()).select_from(first).scalar_subquery()
        query = query.add_columns(trained.label("trained"))
    if tenant is not None:
        scope.check(tenant)
        query = query.where(tenants.c.name == tenant)
    if before is not None:
        query = query.where(datasets.c.id < before)
    rows = conn.execute(query.order_by(datasets.c.id.desc()).limit(limit))
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


def trained_page(
    conn: Connection, scope: Scope, dataset_id: int, limit: int = 50, before: int | None = None
) -> list[dict[str, Any]]:
    """Versions trained on a dataset newest first, ``limit`` of those with an id below
    ``before``: one keyset query that walks ``ix_versions_dataset`` (dataset_id, id)
    backwards and joins each row's model, fleet and tenant by primary key, so a page
    costs the same at a million versions as at ten. NotFound for a dataset out of scope."""
    get(conn, scope, dataset_id)
    query = (
        sa.select(
            versions.c.id.label("version_id"), versions.c.number, versions.c.created_at,
            versions.c.created_by, versions.c.run_id, fleets.c.name.label("fleet"),
            tenants.c.name.label("tenant"), models.c.key_text, fleets.c.dims,
        )
        .join(models, models.c.id == versions.c.model_id)
        .join(fleets, fleets.c.id == versions.c.fleet_id)
        .join(tenants, tenants.c.id == versions.c.tenant_id)
        .where(versions.c.dataset_id == dataset_id)
    )  # fmt: skip
    if before is not None:
        query = query.where(versions.c.id < before)
    if not scope.is_operator:
        query = query.where(tenants.c.name == scope.tenant)
    query = query.order_by(versions.c.id.desc()).limit(limit)
    return [dict(row._mapping) for row in conn.execute(query)]
