"""Every fleet's alert rules and newest alerts at once: what the ``/alerts`` page shows.

Why a module of its own: :mod:`shoal.store.alerts` reads one fleet at a time, and a page
over every fleet built from those calls costs three round trips a fleet (look the fleet
up, its alerts, its rules): a second and more once a team has a few hundred fleets. Here
it is three queries whatever the number of fleets: the fleets the scope sees, their rules,
and their alerts ranked newest first within each fleet (a window function, on SQLite and
PostgreSQL alike), cut at ``limit`` per fleet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.store.alerts import check_states, with_context
from shoal.store.schema import MAX_KEYS, alert_rules, alerts, fleets, models, tenants
from shoal.store.tenancy import Scope


def alert_overview(
    conn: Connection, scope: Scope, states: Sequence[str], limit: int
) -> list[dict[str, Any]]:
    """Per fleet the scope sees that has alert rules or alerts in ``states``, in path order:
    ``{"tenant", "fleet", "keys", "rules", "alerts"}`` with its newest ``limit`` alerts.

    Alerts carry the columns of ``alerts``, ``rule``, ``expression``, ``version`` and
    ``key.<dimension>`` for each of the fleet's keys, as a one-fleet listing does.
    """
    check_states(states)
    visible = sa.select(fleets.c.id).join(tenants, tenants.c.id == fleets.c.tenant_id)
    if not scope.is_operator:
        visible = visible.where(tenants.c.name == scope.tenant)
    rule_rows = conn.execute(
        sa.select(alert_rules)
        .where(alert_rules.c.fleet_id.in_(visible.scalar_subquery()))
        .order_by(alert_rules.c.fleet_id, alert_rules.c.id)
    ).all()
    ranked = (
        sa.select(
            alerts.c.id,
            sa.func.row_number()
            .over(partition_by=alerts.c.fleet_id, order_by=alerts.c.id.desc())
            .label("rank"),
        )
        .where(alerts.c.fleet_id.in_(visible.scalar_subquery()), alerts.c.state.in_(list(states)))
        .subquery()
    )
    key_cols = [models.c[f"k{i}"] for i in range(MAX_KEYS)]
    alert_rows = conn.execute(
        with_context(key_cols, ranked.join(alerts, alerts.c.id == ranked.c.id))
        .where(ranked.c.rank <= limit)
        .order_by(alerts.c.fleet_id, alerts.c.id.desc())
    ).all()
    wanted = {row.fleet_id for row in rule_rows} | {row.fleet_id for row in alert_rows}
    if not wanted:
        return []
    names = conn.execute(
        sa.select(fleets.c.id, tenants.c.name.label("tenant"), fleets.c.name, fleets.c.dims)
        .join(tenants, tenants.c.id == fleets.c.tenant_id)
        .where(fleets.c.id.in_(sorted(wanted)))
    ).all()
    groups = {
        row.id: {"tenant": row.tenant, "fleet": row.name, "keys": list(row.dims),
                 "rules": [], "alerts": []}
        for row in names
    }  # fmt: skip
    for row in rule_rows:
        groups[row.fleet_id]["rules"].append(dict(row._mapping))
    key_names = {f"k{i}" for i in range(MAX_KEYS)}
    for row in alert_rows:
        group = groups[row.fleet_id]
        data = {k: v for k, v in row._mapping.items() if k not in key_names}
        for i, dim in enumerate(group["keys"]):
            data[f"key.{dim}"] = row._mapping[f"k{i}"]
        group["alerts"].append(data)
    return sorted(groups.values(), key=lambda g: (g["tenant"], g["fleet"]))
