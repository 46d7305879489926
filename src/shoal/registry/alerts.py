"""Alert rules and alerts of a fleet: declared, applied after a pass, moved through states.

A person's moves (one alert, or many by ids or by a filter) are one transaction each, with
one audit row whatever the number of alerts moved: the action, how many, the filter or
the ids (up to ``AUDIT_IDS``), and the note.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from shoal.errors import InvalidInput
from shoal.registry._guards import check_id
from shoal.registry._part import Part, actor_of
from shoal.store import alert_views, audit
from shoal.store import alerts as store_alerts
from shoal.store.alert_views import AlertFilter
from shoal.store.alerts import STATES, UNRESOLVED, Match
from shoal.store.tenancy import FleetRef

__all__ = ["STATES", "UNRESOLVED", "AlertFilter", "Alerts", "Match"]

AUDIT_IDS = 1000
NOTE_CHARS = 2000


class Alerts(Part):
    """A fleet's alert rules and alerts."""

    def add_rule(
        self, fleet: FleetRef, name: str, expression: str, *, webhook: str | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        with self._store.write() as conn:
            rule = store_alerts.add_rule(
                conn, fleet, name, expression, webhook=webhook, actor=actor_of(actor)
            )
            audit.record(conn, fleet.tenant_id, actor_of(actor), "alert.rule.add", fleet.path,
                         {"rule": name, "expression": expression})  # fmt: skip
        return rule

    def change_rule(
        self, fleet: FleetRef, rule: int | str, *, expression: str | None = None,
        enabled: bool | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Set a rule's expression, or switch it on or off; audited."""
        with self._store.write() as conn:
            changed = store_alerts.change_rule(
                conn, fleet, rule, expression=expression, enabled=enabled
            )
            audit.record(conn, fleet.tenant_id, actor_of(), "alert.rule.change", fleet.path,
                         {"rule": changed["name"], "expression": changed["expression"],
                          "enabled": changed["enabled"]})  # fmt: skip
        return changed

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
        self, fleet: FleetRef, alert_id: int, state: str, *, actor: str | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        check_id(alert_id, "alert_id")
        note = _note(note)
        with self._store.write() as conn:
            moved = store_alerts.transition(
                conn, fleet, alert_id, state, actor=actor_of(actor), note=note
            )
            audit.record(conn, fleet.tenant_id, actor_of(actor), f"alert.{state}", fleet.path,
                         {"alert": alert_id, **({"note": note} if note else {})})  # fmt: skip
        return moved

    def move(
        self,
        fleet: FleetRef,
        state: str,
        *,
        ids: Sequence[int] | None = None,
        where: AlertFilter | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Acknowledge or resolve many alerts (by ids or by a filter) in one transaction
        and one statement, with one audit row: ``{"moved", "skipped", "state"}``."""
        for alert_id in ids or ():
            check_id(alert_id, "ids")
        note, actor = _note(note), actor_of()
        with self._store.write() as conn:
            moved, skipped = alert_views.move(
                conn, fleet, state, ids=ids, where=where, note=note, actor=actor
            )
            detail: dict[str, Any] = {"count": moved, "note": note}
            if ids is not None:
                detail["alerts"] = sorted(set(ids))[:AUDIT_IDS]
            if where is not None:
                detail["filter"] = where.describe()
            audit.record(conn, fleet.tenant_id, actor, f"alert.{state}", fleet.path, detail)
        return {"moved": moved, "skipped": skipped, "state": state}

    def page(
        self, fleet: FleetRef, where: AlertFilter, *, before: int | None = None, limit: int = 50
    ) -> tuple[builtins.list[dict[str, Any]], int | None]:
        """A keyset page of alerts newest first, and the next page's ``before``."""
        if before is not None:
            check_id(before, "before")
        with self._store.read() as conn:
            return alert_views.page(conn, fleet, where, before=before, limit=limit)

    def count_matching(self, fleet: FleetRef, where: AlertFilter) -> int:
        with self._store.read() as conn:
            return alert_views.count(conn, fleet, where)

    def groups(
        self, fleet: FleetRef, where: AlertFilter, by: str | int
    ) -> builtins.list[tuple[str, int]]:
        """Alerts per rule (``by="rule"``) or per value of key dimension ``by`` (an index)."""
        with self._store.read() as conn:
            return alert_views.groups(conn, fleet, where, by)

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


def _note(note: str | None) -> str | None:
    """A note as stored: stripped, None when empty, refused past ``NOTE_CHARS``."""
    if note is None:
        return None
    if not isinstance(note, str) or len(note) > NOTE_CHARS:
        raise InvalidInput(f"note must be text of at most {NOTE_CHARS} characters", field="note")
    return note.strip() or None
