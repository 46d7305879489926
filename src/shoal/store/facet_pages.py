"""Facet pages: one dimension's values with their model counts, searched and paged.

A dimension is a key dimension (``store``) or a tag (``tags.region``, or ``region`` when
no key has that name). A fleet of a million models may have a thousand stores, so a
facet is never one list: it is a page of ``limit`` values, largest count first (or in
value order), narrowed by ``search`` (a case-insensitive substring of the value), with a
keyset cursor on (count, value) for the next page, never an OFFSET.

Where the counts come from:

- a key dimension of the whole fleet (no filter): the kept aggregates (``key_counts``, one
  row per value), so paging through 1,000 stores reads 1,000 small rows, whatever the
  fleet's size;
- a key dimension under a filter: one grouped query over the matching models;
- a tag: one grouped query over the scoped versions joined to the tag index
  ``(fleet_id, key, value, version_id)``. Tags have no kept aggregate (there is no
  schema for one), so a caller facing a million matches should count a narrower filter
  (the fleet page does, past ``FILTERED_FACETS``) or list the values alone
  (:func:`tag_values`, one index seek per value).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.errors import InvalidInput
from shoal.store.query import Where, as_node, build
from shoal.store.schema import key_counts, metrics, version_tags
from shoal.store.tenancy import FleetRef
from shoal.store.vocabulary import check_names, names

ORDERS = ("count", "value")
"""How a facet's values are listed: largest count first, or by value (A to Z)."""
SEARCH_CHARS = 200
"""The longest facet search accepted (a value is at most 200 characters as a key)."""

Item = tuple[str, int]


def dimension(conn: Connection, fleet: FleetRef, dim: str) -> tuple[str, str]:
    """``("key", name)`` or ``("tag", name)`` for ``dim``; InvalidInput naming ``dim`` and
    listing the fleet's keys and tags when it is neither."""
    if dim in fleet.keys:
        return "key", dim
    name = dim.split(".", 1)[1] if dim.startswith("tags.") else dim
    tags = names(conn, fleet.id, "tag")
    if name in tags:
        return "tag", name
    raise InvalidInput(
        f"dim: {dim!r} is neither a key dimension nor a tag of '{fleet.path}'; its keys are "
        f"{', '.join(fleet.keys) or 'none'} and its tags are "
        f"{', '.join(f'tags.{t}' for t in tags) or 'none yet'}",
        field="dim",
    )


def facet_page(
    conn: Connection,
    fleet: FleetRef,
    dim: str,
    *,
    where: Where = None,
    limit: int = 10,
    search: str | None = None,
    cursor: str | None = None,
    order: str = "count",
    versions_scope: str = "latest",
) -> tuple[list[Item], str | None]:
    """One page of ``(value, models)`` of ``dim`` among the models ``where`` selects, and
    the cursor of the next page (None after the last)."""
    if order not in ORDERS:
        raise InvalidInput(f"order must be one of {', '.join(ORDERS)}, got {order!r}",
                           field="order")  # fmt: skip
    search = (search or "").strip() or None
    if search is not None and len(search) > SEARCH_CHARS:
        raise InvalidInput(f"search is {len(search)} characters, over {SEARCH_CHARS}",
                           field="search")  # fmt: skip
    kind, name = dimension(conn, fleet, dim)
    node = as_node(where)
    digest = hashlib.sha256(
        repr((kind, name, node, search, order, versions_scope)).encode()
    ).hexdigest()[:16]
    counted = _grouped(conn, fleet, kind, name, node, search, versions_scope).subquery("f")
    value, n = counted.c.value, counted.c.n
    query = sa.select(value, n)
    if cursor:
        after_n, after_value = _decode(cursor, digest)
        if order == "count":
            query = query.where(sa.or_(n < after_n, sa.and_(n == after_n, value > after_value)))
        else:
            query = query.where(value > after_value)
    ordering = [n.desc(), value] if order == "count" else [value]
    rows = [
        (str(r.value), int(r.n)) for r in conn.execute(query.order_by(*ordering).limit(limit + 1))
    ]
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, _encode(rows[-1], digest)


def _grouped(
    conn: Connection, fleet: FleetRef, kind: str, name: str, node: Any, search: str | None,
    versions_scope: str,
) -> Any:  # fmt: skip
    """``SELECT value, n``: the counts per value of the dimension, before paging."""
    if kind == "key" and node is None:
        column: Any = key_counts.c.value
        query = sa.select(column.label("value"), key_counts.c.n.label("n")).where(
            key_counts.c.fleet_id == fleet.id,
            key_counts.c.dim == fleet.keys.index(name),
            key_counts.c.n > 0,
        )
        return query.where(column.icontains(search, autoescape=True)) if search else query
    sql = build(fleet, node, versions_scope)
    check_names(conn, sql)
    if kind == "key":
        column = sql.mo.c[f"k{fleet.keys.index(name)}"]
        source = sql.from_clause(versions=sql.reads_versions)
    else:
        tt = version_tags.alias("facet_tag")
        column = tt.c.value
        source = sql.from_clause().join(
            tt, sa.and_(tt.c.version_id == sql.v.c.id, tt.c.key == name,
                        tt.c.fleet_id == fleet.id),
        )  # fmt: skip
    count = sa.func.count().label("n")
    query = sa.select(column.label("value"), count).select_from(source).where(*sql.where)
    if search:
        query = query.where(column.icontains(search, autoescape=True))
    return query.group_by(column)


def tag_values(conn: Connection, fleet: FleetRef, name: str, limit: int = 200) -> list[str]:
    """The distinct values of tag ``name`` in the fleet, sorted: a loose index scan (one
    seek per value), for a page that cannot afford to count a million tagged models."""
    col = version_tags.c.value
    scope = sa.and_(version_tags.c.fleet_id == fleet.id, version_tags.c.key == name)
    seed = sa.select(sa.func.min(col).label("v")).where(scope)
    walk = seed.cte("tag_walk", recursive=True)
    step = sa.select(
        sa.select(sa.func.min(col)).where(scope, col > walk.c.v).scalar_subquery()
    ).where(walk.c.v.is_not(None))
    walk = walk.union_all(step)
    rows = conn.execute(sa.select(walk.c.v).where(walk.c.v.is_not(None)).limit(limit))
    return [row[0] for row in rows]


def _encode(last: Item, digest: str) -> str:
    raw = json.dumps({"n": last[1], "v": last[0], "w": digest}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, digest: str) -> tuple[int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
        after_n, after_value, issued_for = int(data["n"]), str(data["v"]), data["w"]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise InvalidInput(
            "cursor is not one this server issued for a facet: pass next_cursor from the "
            "previous facet page unchanged",
            field="cursor",
        ) from None
    if issued_for != digest:
        raise InvalidInput(
            "cursor was issued for another facet, filter, search or order: keep them the "
            "same while paging, or start again without a cursor",
            field="cursor",
        )
    return after_n, after_value


def latest_metrics(conn: Connection, fleet: FleetRef) -> list[str]:
    """The metric names some model's latest version carries, sorted: the names a page
    offers to chart and filter by. One statement, one index seek per name (the metrics
    index leads with ``(fleet_id, name, latest)``), never a pass over the values."""
    have = names(conn, fleet.id, "metric")
    if not have:
        return []
    probes = [
        sa.exists().where(metrics.c.fleet_id == fleet.id, metrics.c.name == name,
                          metrics.c.latest == sa.true()).label(f"m{i}")
        for i, name in enumerate(have)
    ]  # fmt: skip
    found = conn.execute(sa.select(*probes)).one()
    return [name for name, present in zip(have, found, strict=True) if present]
