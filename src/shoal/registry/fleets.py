"""Fleets and tenants: created, found by path, listed with their counts and health."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from shoal.registry._part import Part, actor_of
from shoal.store import alert_overview, audit, monitoring
from shoal.store import fleets as store_fleets
from shoal.store.tenancy import FleetRef, Scope


class Fleets(Part):
    """The fleets a scope may see."""

    def get(self, scope: Scope, tenant: str, name: str) -> FleetRef:
        """The fleet ``tenant/name`` (NotFound when it does not exist or is out of scope)."""
        with self._store.read() as conn:
            return store_fleets.get_fleet(conn, scope, tenant, name)

    def create(
        self,
        scope: Scope,
        tenant: str,
        name: str,
        keys: Sequence[str],
        *,
        allow_pickle: bool = False,
        description: str = "",
    ) -> FleetRef:
        """The fleet ``tenant/name``, created (and audited) when it does not exist yet."""
        with self._store.write() as conn:
            ref, created = store_fleets.create_fleet(
                conn, scope, tenant, name, keys, allow_pickle=allow_pickle,
                description=description,
            )  # fmt: skip
            if created:
                audit.record(conn, ref.tenant_id, actor_of(), "fleet.create", ref.path,
                             {"keys": list(ref.keys), "allow_pickle": allow_pickle})  # fmt: skip
        return ref

    def list(self, scope: Scope, tenant: str | None = None) -> list[dict[str, Any]]:
        """Every fleet of the scope (of ``tenant``) with its counts: one query."""
        with self._store.read() as conn:
            return store_fleets.list_fleets(conn, scope, tenant)

    def health(self, scope: Scope) -> dict[tuple[str, str], dict[str, Any]]:
        """Per (tenant, fleet): unresolved alerts and the newest monitoring pass."""
        with self._store.read() as conn:
            return monitoring.health(conn, scope)

    def alert_overview(
        self, scope: Scope, states: Sequence[str], limit: int
    ) -> builtins.list[dict[str, Any]]:
        """Every fleet's rules and newest alerts in ``states``: three queries in all."""
        with self._store.read() as conn:
            return alert_overview.alert_overview(conn, scope, states, limit)
