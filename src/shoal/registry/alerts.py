"""Alert rules and alerts of a fleet: declared, applied after a pass, moved through states."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from shoal.registry._guards import check_id
from shoal.registry._part import Part, actor_of
from shoal.store import alerts as store_alerts
from shoal.store import audit
from shoal.store.alerts import UNRESOLVED, Match
from shoal.store.tenancy import FleetRef

__all__ = ["UNRESOLVED", "Alerts", "Match"]


class Alerts(Part):
    """A fleet's alert rules and alerts."""

    def add_rule(
        self, fleet: FleetRef, name: str, expression: str, *, webhook: str | None = None
    ) -> dict[str, Any]:
        with self._store.write() as conn:
            rule = store_alerts.add_rule(
                conn, fleet, name, expression, webhook=webhook, actor=actor_of()
            )
            audit.record(conn, fleet.tenant_id, actor_of(), "alert.rule.add", fleet.path,
                         {"rule": name, "expression": expression})  # fmt: skip
        return rule

    def rules(self, fleet: FleetRef) -> list[dict[str, Any]]:
        with self._store.read() as conn:
            return store_alerts.rules(conn, fleet)

    def remove_rule(self, fleet: FleetRef, rule: int | str) -> dict[str, Any]:
        with self._store.write() as conn:
            removed = store_alerts.remove_rule(conn, fleet, rule)
            audit.record(conn, fleet.tenant_id, actor_of(), "alert.rule.remove", fleet.path,
                         {"rule": removed.get("name", rule)})  # fmt: skip
        return removed

    def list(
        self,
        fleet: FleetRef,
        *,
        states: Sequence[str] = UNRESOLVED,
        rule: str | None = None,
        ids: Sequence[int] | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Alerts newest first, by state (and rule, or ids)."""
        with self._store.read() as conn:
            return store_alerts.list_alerts(
                conn, fleet, states=states, rule=rule, ids=ids, limit=limit
            )

    def count(self, fleet: FleetRef, states: Sequence[str] = UNRESOLVED) -> int:
        with self._store.read() as conn:
            return store_alerts.count(conn, fleet, states)

    def transition(
        self, fleet: FleetRef, alert_id: int, state: str, *, actor: str | None = None
    ) -> dict[str, Any]:
        check_id(alert_id, "alert_id")
        with self._store.write() as conn:
            moved = store_alerts.transition(conn, fleet, alert_id, state, actor=actor_of(actor))
            audit.record(conn, fleet.tenant_id, actor_of(actor), f"alert.{state}", fleet.path,
                         {"alert": alert_id})  # fmt: skip
        return moved

    def keys(self, fleet: FleetRef, rule: str | None = None) -> builtins.list[tuple[str, ...]]:
        """Keys of the models with an unresolved alert (of ``rule``, or any)."""
        with self._store.read() as conn:
            return store_alerts.alert_keys(conn, fleet, rule)

    def apply(
        self,
        fleet: FleetRef,
        rule_id: int,
        window_start: float,
        matches: Sequence[Match],
        seen: set[int],
        *,
        actor: str,
    ) -> tuple[builtins.list[int], builtins.list[int], builtins.list[dict[str, Any]]]:
        """Open, refresh and resolve a rule's alerts after a pass, in one transaction;
        returns the opened ids, the resolved ids and the opened alerts as read back."""
        with self._store.write() as conn:
            opened, resolved = store_alerts.apply(
                conn, fleet, rule_id, window_start, matches, seen, actor=actor
            )
            fresh = [
                alert
                for start in range(0, len(opened), 5000)
                for alert in store_alerts.list_alerts(
                    conn, fleet, ids=opened[start : start + 5000], limit=5000
                )
            ]
        return opened, resolved, fresh
