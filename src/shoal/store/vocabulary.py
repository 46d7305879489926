"""The names a fleet has: metrics, tags and params that at least one of its versions carries.

A filter or sort that names a metric no version has would match nothing and look like
"no versions match"; :func:`check_names` turns that into an error listing the names the
fleet does have. Existence is one index seek per name (``(fleet_id, name, ...)`` for
metrics, ``(fleet_id, key, ...)`` for tags); the listing, only on the error path, walks
the distinct names with a recursive skip scan, so it reads one index entry per name, not
one per version. Params live in a JSON column: their check reads versions until one has
the name (a scan of the fleet's versions only when none does).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.errors import InvalidInput
from shoal.store.query import Sql
from shoal.store.schema import metrics, version_tags, versions

SHOWN = 30
"""How many of a fleet's names an error lists."""

_KINDS = {"metric": "metrics", "tag": "tags", "param": "params"}


def check_names(conn: Connection, sql: Sql) -> None:
    """Raise InvalidInput when a metric, tag or param ``sql`` names exists on no version."""
    for (kind, name), origin in sorted(sql.named.items()):
        if (kind, name) in sql.checked:
            continue
        if not _exists(conn, sql.fleet.id, kind, name):
            have = names(conn, sql.fleet.id, kind)
            listed = ", ".join(have[:SHOWN]) + (", ..." if len(have) > SHOWN else "")
            plural = _KINDS[kind]
            raise InvalidInput(
                f"{origin}: no version of fleet '{sql.fleet.path}' has {kind} {name!r}; its "
                f"{plural} are: {listed or 'none yet'}"
                + ("" if kind == "metric" else f" (write {plural}.NAME)"),
                field=origin,
            )
        sql.checked.add((kind, name))


def _exists(conn: Connection, fleet_id: int, kind: str, name: str) -> bool:
    if kind == "metric":
        query: Any = sa.select(metrics.c.version_id).where(
            metrics.c.fleet_id == fleet_id, metrics.c.name == name
        )
    elif kind == "tag":
        query = sa.select(version_tags.c.version_id).where(
            version_tags.c.fleet_id == fleet_id, version_tags.c.key == name
        )
    else:
        query = sa.select(versions.c.id).where(
            versions.c.fleet_id == fleet_id, versions.c.params[name].as_string().is_not(None)
        )
    return conn.execute(query.limit(1)).first() is not None


def names(conn: Connection, fleet_id: int, kind: str, limit: int = 200) -> list[str]:
    """The distinct metric, tag or param names of a fleet's versions, sorted."""
    if kind == "param":
        rows = conn.execute(
            sa.select(versions.c.params).where(versions.c.fleet_id == fleet_id).limit(10_000)
        )
        found = sorted({k for (params,) in rows for k in (params or {})})
        return found[:limit]
    table, column = (metrics, "name") if kind == "metric" else (version_tags, "key")
    col = table.c[column]
    # A loose index scan: the smallest name, then the smallest name above it, ...
    seed = sa.select(sa.func.min(col).label("n")).where(table.c.fleet_id == fleet_id)
    walk = seed.cte("walk", recursive=True)
    step = sa.select(
        sa.select(sa.func.min(col))
        .where(table.c.fleet_id == fleet_id, col > walk.c.n)
        .scalar_subquery()
    ).where(walk.c.n.is_not(None))
    walk = walk.union_all(step)
    rows = conn.execute(sa.select(walk.c.n).where(walk.c.n.is_not(None)).limit(limit))
    return [row[0] for row in rows]
