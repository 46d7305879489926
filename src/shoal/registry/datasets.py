"""Datasets: registered snapshots (fingerprint, schema, rows, profile) and what they trained."""

from __future__ import annotations

import builtins
from typing import Any

from shoal.registry._guards import check_id
from shoal.registry._part import Part, actor_of
from shoal.store import audit
from shoal.store import datasets as store_datasets
from shoal.store.fleets import ensure_tenant
from shoal.store.tenancy import Scope


class Datasets(Part):
    """Dataset snapshots of the tenants a scope may see."""

    def register(
        self,
        scope: Scope,
        tenant: str,
        name: str,
        *,
        fingerprint: str,
        schema: list[dict[str, Any]],
        row_count: int,
        profile: dict[str, Any],
        location: str | None,
        actor: str | None = None,
    ) -> tuple[int, bool]:
        """Record a snapshot (the same name and content again is the first record);
        returns its id and whether it is new. Creates the tenant when it has none."""
        actor = actor_of(actor)
        with self._store.write() as conn:
            tenant_id = ensure_tenant(conn, scope, tenant)
            dataset_id, created = store_datasets.upsert(
                conn, tenant_id, name=name, fingerprint=fingerprint, schema=schema,
                row_count=row_count, profile=profile, location=location, actor=actor,
            )  # fmt: skip
            if created:
                audit.record(conn, tenant_id, actor, "dataset.register", f"{tenant}/{name}",
                             {"id": dataset_id, "rows": row_count})  # fmt: skip
        return dataset_id, created

    def get(self, scope: Scope, dataset_id: int) -> dict[str, Any]:
        check_id(dataset_id, "dataset_id")
        with self._store.read() as conn:
            return store_datasets.get(conn, scope, dataset_id)

    def find(self, scope: Scope, ref: str) -> list[dict[str, Any]]:
        """Datasets by name or fingerprint prefix (8+ hex characters)."""
        with self._store.read() as conn:
            return store_datasets.find(conn, scope, ref)

    def list(self, scope: Scope, limit: int = 100) -> list[dict[str, Any]]:
        with self._store.read() as conn:
            return store_datasets.list_datasets(conn, scope, limit)

    def page(
        self, scope: Scope, tenant: str | None, limit: int, before: int | None = None
    ) -> builtins.list[dict[str, Any]]:
        """A keyset page of the scope's datasets (of ``tenant``), newest first, each with
        ``trained``: how many versions trained on it, counted up to
        ``TRAINED_COUNT_CAP`` (``trained_exact`` False: more did). One query."""
        with self._store.read() as conn:
            rows = store_datasets.list_datasets(
                conn, scope, limit, before, tenant, with_trained=True
            )
        cap = store_datasets.TRAINED_COUNT_CAP
        for row in rows:
            counted = int(row["trained"])
            row["trained"], row["trained_exact"] = min(counted, cap), counted <= cap
        return rows

    def trained_page(
        self, scope: Scope, dataset_id: int, limit: int, before: int | None = None
    ) -> builtins.list[dict[str, Any]]:
        """A keyset page of the versions trained on a dataset, newest first (reverse
        lineage): one indexed query after the dataset's point read."""
        check_id(dataset_id, "dataset_id")
        with self._store.read() as conn:
            return store_datasets.trained_page(conn, scope, dataset_id, limit, before)

    def trained_on(
        self, scope: Scope, dataset_id: int, limit: int = 1000
    ) -> builtins.list[dict[str, Any]]:
        """Versions trained on the dataset: one indexed query."""
        with self._store.read() as conn:
            return store_datasets.trained_on(conn, scope, dataset_id, limit)
