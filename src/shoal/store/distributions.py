"""A metric's distribution over a fleet's latest versions, for the fleet page's chart.

Two statements on the metrics index ``(fleet_id, name, latest, value, version_id)``: the
range (two index ends), then one grouped pass counting values per equal-width bin. No
row leaves the database: the page gets ``bins`` counts whatever the fleet's size.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.store.schema import metrics
from shoal.store.tenancy import FleetRef


def metric_histogram(
    conn: Connection, fleet: FleetRef, name: str, *, bins: int = 20
) -> dict[str, Any]:
    """``{"name", "edges": [bins + 1], "counts": [bins], "count"}`` of the latest values."""
    scope = sa.and_(metrics.c.fleet_id == fleet.id, metrics.c.name == name,
                    metrics.c.latest.is_(True))  # fmt: skip
    low, high, total = conn.execute(
        sa.select(
            sa.func.min(metrics.c.value), sa.func.max(metrics.c.value), sa.func.count()
        ).where(scope)
    ).one()
    if not total:
        return {"name": name, "edges": [], "counts": [], "count": 0}
    low, high = float(low), float(high)
    if high == low:
        return {"name": name, "edges": [low, high], "counts": [int(total)], "count": int(total)}
    width = (high - low) / bins
    position = (metrics.c.value - low) / width  # >= 0
    # floor: SQLite's CAST truncates (the floor of a non-negative number); PostgreSQL's
    # CAST rounds, so it gets FLOOR, which SQLite may lack.
    whole = (sa.func.floor(position) if conn.dialect.name == "postgresql"
             else sa.cast(position, sa.Integer))  # fmt: skip
    slot = sa.case((whole > bins - 1, bins - 1), else_=whole)
    counts = [0] * bins
    for index, count in conn.execute(
        sa.select(slot.label("slot"), sa.func.count()).where(scope).group_by("slot")
    ):
        counts[int(index)] += int(count)
    edges = [low + i * width for i in range(bins)] + [high]
    return {"name": name, "edges": edges, "counts": counts, "count": int(total)}
