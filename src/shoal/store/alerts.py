"""Alert rules and alerts: declared per fleet, opened and resolved by monitoring passes.

An alert is deduplicated by (rule, model): while one is open or acknowledged, a rule that
matches the model again updates it (its last window and value) instead of opening
another. A person acknowledges or resolves it; a pass in which the model was seen and the
rule no longer matches resolves it. A later match opens a new alert.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.errors import Conflict, InvalidInput, NotFound
from shoal.store import ids
from shoal.store.bulk import insert_rows
from shoal.store.schema import alert_rules, alerts, models, versions
from shoal.store.tenancy import FleetRef, check_name

STATES = ("open", "acknowledged", "resolved")
UNRESOLVED = ("open", "acknowledged")
MOVABLE = {"acknowledged": ("open",), "resolved": UNRESOLVED}
"""The states a person's acknowledge or resolve moves an alert from (others are skipped)."""


def add_rule(
    conn: Connection,
    fleet: FleetRef,
    name: str,
    expression: str,
    *,
    webhook: str | None,
    actor: str,
) -> dict[str, Any]:
    check_name(name, "name")
    found = conn.execute(
        sa.select(alert_rules.c.id).where(
            alert_rules.c.fleet_id == fleet.id, alert_rules.c.name == name
        )
    ).first()
    if found is not None:
        raise Conflict(
            f"fleet {fleet.path} already has an alert rule named {name!r}; remove it first "
            "or choose another name",
            field="name",
        )
    rule_id = conn.execute(
        alert_rules.insert()
        .values(
            tenant_id=fleet.tenant_id,
            fleet_id=fleet.id,
            name=name,
            expression=expression,
            webhook=webhook,
            enabled=True,
            created_by=actor,
            created_at=time.time(),
        )
        .returning(alert_rules.c.id)
    ).scalar_one()
    return get_rule(conn, fleet, rule_id)


def rules(conn: Connection, fleet: FleetRef) -> list[dict[str, Any]]:
    query = sa.select(alert_rules).where(alert_rules.c.fleet_id == fleet.id)
    return [dict(row._mapping) for row in conn.execute(query.order_by(alert_rules.c.id))]


def get_rule(conn: Connection, fleet: FleetRef, rule: int | str) -> dict[str, Any]:
    column = alert_rules.c.id if isinstance(rule, int) else alert_rules.c.name
    row = conn.execute(
        sa.select(alert_rules).where(alert_rules.c.fleet_id == fleet.id, column == rule)
    ).first()
    if row is None:
        raise NotFound(f"fleet {fleet.path} has no alert rule {rule!r}; see `shoal alerts rules`")
    return dict(row._mapping)


def change_rule(
    conn: Connection,
    fleet: FleetRef,
    rule: int | str,
    *,
    expression: str | None = None,
    enabled: bool | None = None,
) -> dict[str, Any]:
    """Set a rule's expression or switch it on or off (the built-in quality rule's
    thresholds live in its expression)."""
    found = get_rule(conn, fleet, rule)
    values: dict[str, Any] = {}
    if expression is not None:
        values["expression"] = expression
    if enabled is not None:
        values["enabled"] = enabled
    if values:
        conn.execute(alert_rules.update().where(alert_rules.c.id == found["id"]).values(**values))
    return get_rule(conn, fleet, found["id"])


def remove_rule(conn: Connection, fleet: FleetRef, rule: int | str) -> dict[str, Any]:
    """Delete a rule and its alerts."""
    found = get_rule(conn, fleet, rule)
    conn.execute(alerts.delete().where(alerts.c.rule_id == found["id"]))
    conn.execute(alert_rules.delete().where(alert_rules.c.id == found["id"]))
    return found


def unresolved(conn: Connection, fleet: FleetRef, rule_id: int) -> dict[int, dict[str, Any]]:
    """A rule's open or acknowledged alerts by model id."""
    query = sa.select(alerts).where(
        alerts.c.fleet_id == fleet.id, alerts.c.rule_id == rule_id, alerts.c.state.in_(UNRESOLVED)
    )
    return {row.model_id: dict(row._mapping) for row in conn.execute(query)}


@dataclass(frozen=True)
class Match:
    """A model a rule matched in the newest window."""

    model_id: int
    version_id: int
    value: float | None
    feature: str | None


def apply(
    conn: Connection,
    fleet: FleetRef,
    rule_id: int,
    window_start: float,
    matches: Sequence[Match],
    seen: Iterable[int],
    *,
    actor: str,
) -> tuple[list[int], list[int]]:
    """Open, refresh and resolve a rule's alerts after a pass; returns (opened, resolved) ids.

    ``seen`` are the models with results in the newest window: only those can resolve.
    """
    now = time.time()
    existing = unresolved(conn, fleet, rule_id)
    matched = {m.model_id for m in matches}
    fresh = [m for m in matches if m.model_id not in existing]
    refreshed = [
        {"_id": existing[m.model_id]["id"], "_value": m.value, "_feature": m.feature,
         "_version": m.version_id}
        for m in matches if m.model_id in existing
    ]  # fmt: skip
    if refreshed:  # one executemany, not a statement per alert
        conn.execute(
            alerts.update()
            .where(alerts.c.id == sa.bindparam("_id"))
            .values(last_window=window_start, value=sa.bindparam("_value"),
                    feature=sa.bindparam("_feature"), version_id=sa.bindparam("_version"),
                    updated_at=now),
            refreshed,
        )  # fmt: skip
    seen_set = set(seen)
    gone = [a["id"] for mid, a in existing.items() if mid not in matched and mid in seen_set]
    for start in range(0, len(gone), 5000):
        conn.execute(
            alerts.update()
            .where(alerts.c.id.in_(gone[start : start + 5000]))
            .values(state="resolved", resolved_at=now, updated_at=now, updated_by=actor)
        )
    opened = ids.allocate(conn, alerts, len(fresh))
    insert_rows(
        conn,
        alerts,
        ("id", "tenant_id", "fleet_id", "rule_id", "model_id", "version_id", "state", "value",
         "feature", "first_window", "last_window", "opened_at", "updated_at", "updated_by"),
        [(aid, fleet.tenant_id, fleet.id, rule_id, m.model_id, m.version_id, "open", m.value,
          m.feature, window_start, window_start, now, now, actor)
         for aid, m in zip(opened, fresh, strict=True)],
    )  # fmt: skip
    return opened, gone


def _select(fleet: FleetRef) -> sa.Select[Any]:
    key_cols = [models.c[f"k{i}"].label(f"key.{dim}") for i, dim in enumerate(fleet.keys)]
    return with_context(key_cols).where(alerts.c.fleet_id == fleet.id)


def with_context(key_cols: Sequence[Any], source: Any = alerts) -> sa.Select[Any]:
    """Alerts with what a person reads beside them: the rule's name and expression, the
    version's number and ``key_cols``; ``source`` is ``alerts`` or a join ending in it."""
    return sa.select(
        alerts, alert_rules.c.name.label("rule"), alert_rules.c.expression,
        versions.c.number.label("version"), *key_cols,
    ).select_from(
        source.join(alert_rules, alert_rules.c.id == alerts.c.rule_id)
        .join(models, models.c.id == alerts.c.model_id)
        .join(versions, versions.c.id == alerts.c.version_id)
    )  # fmt: skip


def check_states(states: Sequence[str]) -> None:
    bad = [s for s in states if s not in STATES]
    if bad:
        raise InvalidInput(f"alert state must be one of {STATES}, got {bad}", field="state")


def list_alerts(
    conn: Connection,
    fleet: FleetRef,
    *,
    states: Sequence[str] = UNRESOLVED,
    rule: str | None = None,
    ids: Sequence[int] | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Alerts newest first, by state (and rule, or ids)."""
    check_states(states)
    query = _select(fleet).where(alerts.c.state.in_(list(states)))
    if rule is not None:
        query = query.where(alert_rules.c.name == rule)
    if ids is not None:
        query = query.where(alerts.c.id.in_(list(ids)))
    return [dict(r._mapping) for r in conn.execute(query.order_by(alerts.c.id.desc()).limit(limit))]


def count(conn: Connection, fleet: FleetRef, states: Sequence[str] = UNRESOLVED) -> int:
    """How many of the fleet's alerts are in ``states`` (the ``(fleet, state)`` index)."""
    query = sa.select(sa.func.count()).where(
        alerts.c.fleet_id == fleet.id, alerts.c.state.in_(list(states))
    )
    return int(conn.execute(query).scalar_one())


def alert_keys(conn: Connection, fleet: FleetRef, rule: str | None = None) -> list[tuple[str, ...]]:
    """The keys of the models with an unresolved alert (of one rule, or any)."""
    key_cols = [models.c[f"k{i}"] for i in range(len(fleet.keys))]
    query = (
        sa.select(*key_cols)
        .distinct()
        .select_from(
            alerts.join(models, models.c.id == alerts.c.model_id).join(
                alert_rules, alert_rules.c.id == alerts.c.rule_id
            )
        )
        .where(alerts.c.fleet_id == fleet.id, alerts.c.state.in_(UNRESOLVED))
    )
    if rule is not None:
        query = query.where(alert_rules.c.name == rule)
    return [tuple(row) for row in conn.execute(query)]


def transition(
    conn: Connection,
    fleet: FleetRef,
    alert_id: int,
    state: str,
    *,
    actor: str,
    note: str | None = None,
) -> dict[str, Any]:
    """Acknowledge an open alert or resolve an unresolved one, recording who, when and
    ``note`` (none given: an earlier note stays); anything else is a :class:`Conflict`."""
    if state not in ("acknowledged", "resolved"):
        raise InvalidInput(
            f"an alert can be set to 'acknowledged' or 'resolved', not {state!r}", field="state"
        )
    found = list_alerts(conn, fleet, states=STATES, ids=[alert_id], limit=1)
    if not found:
        raise NotFound(f"fleet {fleet.path} has no alert {alert_id}")
    if found[0]["state"] not in MOVABLE[state]:
        raise Conflict(f"alert {alert_id} is already {found[0]['state']}", field="state")
    conn.execute(
        alerts.update()
        .where(alerts.c.id == alert_id, alerts.c.state.in_(MOVABLE[state]))
        .values(**moved_values(state, note, actor))
    )
    return list_alerts(conn, fleet, states=STATES, ids=[alert_id], limit=1)[0]


def moved_values(state: str, note: str | None, actor: str) -> dict[str, Any]:
    """What a person's acknowledge or resolve sets: the state, who and when, and the note;
    with no note given, the note an earlier acknowledgement left stays."""
    now = time.time()
    values: dict[str, Any] = {
        "state": state, "updated_at": now, "updated_by": actor, "acted_by": actor,
        "acted_at": now, "note": sa.func.coalesce(sa.literal(note, sa.Text), alerts.c.note),
    }  # fmt: skip
    if state == "resolved":
        values["resolved_at"] = now
    return values
