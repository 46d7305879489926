"""A metric's distribution over a fleet's latest versions, for the fleet page's chart.

Two statements on the metrics index ``(fleet_id, name, latest, value, version_id)``: the
range (two index ends), then one grouped pass counting values per equal-width bin. No
row leaves the database: the page gets ``bins`` counts whatever the fleet's size.

Under a filter (:func:`filtered_histogram`) the range and the bins are read over the
matching models only, in two statements: the range, then one grouped pass that puts each
match in its bin. A caller keeps that to a bounded match (the fleet page does, past
``FILTERED_FACETS`` matches it shows the whole fleet's chart, labelled so).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles

from shoal.store import filters as F
from shoal.store.query import Where, as_node, build, resolve
from shoal.store.schema import metrics
from shoal.store.tenancy import FleetRef
from shoal.store.vocabulary import check_names


def metric_histogram(
    conn: Connection, fleet: FleetRef, name: str, *, bins: int = 20
) -> dict[str, Any]:
    """``{"name", "edges": [bins + 1], "counts": [bins], "count"}`` of the latest values.

    ``min`` and ``max`` run as statements of their own (SQLite then reads the two ends of
    the index instead of scanning it), and each bin is a range count on the same index:
    57 ms for a million models, against 390 ms for one grouped pass.
    """
    scope = sa.and_(metrics.c.fleet_id == fleet.id, metrics.c.name == name,
                    metrics.c.latest.is_(True))  # fmt: skip
    low = conn.execute(sa.select(sa.func.min(metrics.c.value)).where(scope)).scalar()
    if low is None:
        return {"name": name, "edges": [], "counts": [], "count": 0}
    high = conn.execute(sa.select(sa.func.max(metrics.c.value)).where(scope)).scalar_one()
    low, high = float(low), float(high)
    if high == low:
        total = conn.execute(sa.select(sa.func.count()).where(scope)).scalar() or 0
        return {"name": name, "edges": [low, high], "counts": [int(total)], "count": int(total)}
    width = (high - low) / bins
    edges = [low + i * width for i in range(bins)] + [high]
    counts = []
    for i in range(bins):  # bin i is [e_i, e_i+1), the last one closed: [e_n-1, high]
        upper = (metrics.c.value <= high) if i == bins - 1 else (metrics.c.value < edges[i + 1])
        counts.append(int(conn.execute(
            sa.select(sa.func.count()).where(scope, metrics.c.value >= edges[i], upper)
        ).scalar() or 0))  # fmt: skip
    return {"name": name, "edges": edges, "counts": counts, "count": sum(counts)}


def filtered_histogram(
    conn: Connection, fleet: FleetRef, name: str, where: Where, *, bins: int = 20,
    versions_scope: str = "latest",
) -> dict[str, Any]:  # fmt: skip
    """The histogram of metric ``name`` over the versions ``where`` selects (the same
    shape as :func:`metric_histogram`); no filter is the whole fleet's, from the index."""
    node = as_node(where)
    if node is None and versions_scope == "latest":
        return metric_histogram(conn, fleet, name, bins=bins)
    sql = build(fleet, node, versions_scope)
    column = resolve(sql, F.Field((name,)), outer=False).column
    check_names(conn, sql)
    source = sql.from_clause()
    low, high = conn.execute(
        sa.select(sa.func.min(column), sa.func.max(column)).select_from(source).where(*sql.where)
    ).one()
    if low is None:
        return {"name": name, "edges": [], "counts": [], "count": 0}
    low, high = float(low), float(high)
    if high == low:
        total = conn.execute(
            sa.select(sa.func.count()).select_from(source).where(*sql.where, column.is_not(None))
        ).scalar_one()
        return {"name": name, "edges": [low, high], "counts": [int(total)], "count": int(total)}
    width = (high - low) / bins
    edges = [low + i * width for i in range(bins)] + [high]
    slot = _Floor((column - low) / width).label("slot")
    counts = [0] * bins
    grouped = (
        sa.select(slot, sa.func.count())
        .select_from(source)
        .where(*sql.where, column.is_not(None))
        .group_by(slot)
    )
    for index, n in conn.execute(grouped):
        counts[min(max(int(index), 0), bins - 1)] += int(n)  # the maximum lands in the last
    return {"name": name, "edges": edges, "counts": counts, "count": sum(counts)}


class _Floor(sa.sql.functions.FunctionElement[int]):
    """``floor(x)`` as an integer on both engines (SQLite may lack math functions; its
    CAST truncates, which is the floor of the non-negative offsets binned here)."""

    type = sa.Integer()
    name = "shoal_floor"
    inherit_cache = True


@compiles(_Floor, "sqlite")
def _floor_sqlite(element: _Floor, compiler: Any, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS INTEGER)"


@compiles(_Floor, "postgresql")
def _floor_postgresql(element: _Floor, compiler: Any, **kw: Any) -> str:
    return f"CAST(FLOOR({compiler.process(element.clauses, **kw)}) AS INTEGER)"
