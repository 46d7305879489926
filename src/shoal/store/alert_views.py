"""A fleet's alerts filtered, grouped, paged and moved in bulk: what the alerts page needs.

Why a module of its own: :mod:`shoal.store.alerts` opens, refreshes and resolves alerts
for monitoring passes; this is the person's side, at the size of a fleet with hundreds of
thousands of alerts:

- a filter (states, a cohort of key values, a rule) is a set of conditions on ``alerts``,
  the cohort a ``model_id IN (models of those key values)`` sub-query (the models' key
  indexes), or ``model_id = (the model)`` when it names a whole key: then a page of one
  model's alerts is a range of the ``(fleet_id, model_id, state, id)`` index;
- a page is keyset-paged newest first (``id < before``): one query per state, each an
  ordered range of the ``(fleet_id, state, id)`` index cut at the page size, merged here,
  so no query sorts every matching alert;
- group counts (by rule, or by a key dimension) and the matching count are one aggregate
  query each;
- a bulk acknowledge or resolve is one ``UPDATE`` statement (after one read that checks
  the ids named), never a statement per alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.errors import InvalidInput, NotFound
from shoal.store.alerts import MOVABLE, UNRESOLVED, check_states, moved_values, with_context
from shoal.store.schema import alert_rules, alerts, models
from shoal.store.tenancy import FleetRef

MAX_IDS = 5000
"""Alert ids one bulk call may name (a filter moves any number)."""
MAX_GROUPS = 200


@dataclass(frozen=True)
class AlertFilter:
    """Which alerts of a fleet: ``states``, a ``cohort`` of (key index, value) pairs, a rule."""

    states: tuple[str, ...] = UNRESOLVED
    cohort: tuple[tuple[int, str], ...] = ()
    rule: str | None = None

    def describe(self) -> dict[str, Any]:
        """The filter as the audit log records it."""
        return {"states": list(self.states), "cohort": [list(c) for c in self.cohort],
                "rule": self.rule}  # fmt: skip


def _conditions(fleet: FleetRef, where: AlertFilter) -> list[Any]:
    """Conditions on ``alerts`` (every one scoped to the fleet) for ``where``, less states."""
    out: list[Any] = [alerts.c.fleet_id == fleet.id]
    if where.rule is not None:
        out.append(
            alerts.c.rule_id.in_(
                sa.select(alert_rules.c.id).where(
                    alert_rules.c.fleet_id == fleet.id, alert_rules.c.name == where.rule
                )
            )
        )
    if where.cohort:
        members = sa.select(models.c.id).where(
            models.c.fleet_id == fleet.id, *[models.c[f"k{i}"] == v for i, v in where.cohort]
        )
        if len(where.cohort) == len(fleet.keys):  # one model: (fleet, model, state, id) range
            out.append(alerts.c.model_id == members.scalar_subquery())
        else:
            out.append(alerts.c.model_id.in_(members))
    return out


def page(
    conn: Connection, fleet: FleetRef, where: AlertFilter, *, before: int | None, limit: int
) -> tuple[list[dict[str, Any]], int | None]:
    """Up to ``limit`` alerts newest first (ids below ``before``), and the ``before`` of the
    next page (None on the last)."""
    check_states(where.states)
    found: list[int] = []
    for state in dict.fromkeys(where.states):  # one index range per state, cut at the page
        query = sa.select(alerts.c.id).where(*_conditions(fleet, where), alerts.c.state == state)
        if before is not None:
            query = query.where(alerts.c.id < before)
        found += conn.execute(query.order_by(alerts.c.id.desc()).limit(limit + 1)).scalars()
    found = sorted(found, reverse=True)[: limit + 1]
    more = len(found) > limit
    if not found:
        return [], None
    key_cols = [models.c[f"k{i}"].label(f"key.{dim}") for i, dim in enumerate(fleet.keys)]
    query = with_context(key_cols).where(
        alerts.c.fleet_id == fleet.id, alerts.c.id.in_(found[:limit])
    )
    rows = [dict(r._mapping) for r in conn.execute(query.order_by(alerts.c.id.desc()))]
    return rows, (found[limit - 1] if more else None)


def count(conn: Connection, fleet: FleetRef, where: AlertFilter) -> int:
    """How many alerts match (one aggregate)."""
    check_states(where.states)
    query = sa.select(sa.func.count()).where(
        *_conditions(fleet, where), alerts.c.state.in_(list(where.states))
    )
    return int(conn.execute(query).scalar_one())


def groups(
    conn: Connection, fleet: FleetRef, where: AlertFilter, by: str | int
) -> list[tuple[str, int]]:
    """(rule name or key value, alerts) of the matching alerts, most first: one GROUP BY,
    by ``"rule"`` or by a key dimension's index."""
    check_states(where.states)
    conditions = [*_conditions(fleet, where), alerts.c.state.in_(list(where.states))]
    if by == "rule":
        column: Any = alert_rules.c.name
        source = alerts.join(alert_rules, alert_rules.c.id == alerts.c.rule_id)
    else:
        column = models.c[f"k{int(by)}"]
        source = alerts.join(models, models.c.id == alerts.c.model_id)
    n = sa.func.count().label("n")
    query = (
        sa.select(column, n).select_from(source).where(*conditions).group_by(column)
        .order_by(n.desc(), column).limit(MAX_GROUPS)
    )  # fmt: skip
    return [(str(value), int(total)) for value, total in conn.execute(query)]


def move(
    conn: Connection,
    fleet: FleetRef,
    state: str,
    *,
    ids: Sequence[int] | None = None,
    where: AlertFilter | None = None,
    note: str | None,
    actor: str,
) -> tuple[int, int]:
    """Acknowledge or resolve the alerts named by ``ids`` or matching ``where`` in one
    ``UPDATE``; returns (moved, skipped). Acknowledging moves only open alerts and
    resolving only unresolved ones: the others are skipped, untouched, so an earlier
    acknowledgement keeps its note and who gave it (see :func:`moved_values`)."""
    if state not in ("acknowledged", "resolved"):
        raise InvalidInput(
            f"alerts can be set to 'acknowledged' or 'resolved', not {state!r}", field="state"
        )
    if (ids is None) == (where is None):
        raise InvalidInput("name the alerts by ids or by a filter, not both", field="ids")
    movable = MOVABLE[state]
    if ids is not None:
        wanted = sorted(set(ids))
        if not wanted or len(wanted) > MAX_IDS:
            raise InvalidInput(
                f"name 1 to {MAX_IDS} alert ids (got {len(wanted)}); move more with a filter",
                field="ids",
            )
        states = dict(
            conn.execute(
                sa.select(alerts.c.id, alerts.c.state).where(
                    alerts.c.fleet_id == fleet.id, alerts.c.id.in_(wanted)
                )
            ).all()
        )
        missing = [i for i in wanted if i not in states]
        if missing:
            raise NotFound(f"fleet {fleet.path} has no alert(s) {missing[:20]}", field="ids")
        condition = [alerts.c.fleet_id == fleet.id, alerts.c.id.in_(wanted)]
        skipped = sum(1 for s in states.values() if s not in movable)
    else:
        assert where is not None
        check_states(where.states)
        condition = _conditions(fleet, where)
        left = [s for s in where.states if s not in movable]
        skipped = (
            count(conn, fleet, AlertFilter(tuple(left), where.cohort, where.rule)) if left else 0
        )
        movable = tuple(s for s in where.states if s in movable)
    if not movable:
        return 0, skipped
    result = conn.execute(
        alerts.update()
        .where(*condition, alerts.c.state.in_(list(movable)))
        .values(**moved_values(state, note, actor))
    )
    return int(result.rowcount), skipped
