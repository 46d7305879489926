"""Search: one page of a fleet's versions, in one query plus three detail lookups.

See ``query`` for the names a filter may use and the scope it reads, and ``paging``
for sort orders and keyset cursors.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.errors import InvalidInput
from shoal.store.paging import decode_cursor, encode_cursor, keyset_after, read_ahead, sort_order
from shoal.store.query import Where, build
from shoal.store.schema import aliases, metrics, version_tags
from shoal.store.tenancy import FleetRef
from shoal.store.vocabulary import check_names

MAX_LIMIT = 1000


def search(
    conn: Connection,
    fleet: FleetRef,
    *,
    where: Where = None,
    sort: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    versions_scope: str = "latest",
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of versions matching ``where``, in ``sort`` order, and the next cursor."""
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be 1..{MAX_LIMIT}, got {limit!r}", field="limit")
    sql = build(fleet, where, versions_scope)
    order = sort_order(sql, sort)
    check_names(conn, sql)
    conditions = list(sql.where)
    if order.nullable:
        conditions.append(order.column.is_not(None))
    if cursor:
        value, ident = decode_cursor(cursor, order.text, sql.digest)
        conditions.append(keyset_after(order, value, ident))
    direction = sa.desc if order.descending else sa.asc
    ordering = [direction(order.column)]
    if order.column is not order.tiebreak:
        ordering.append(direction(order.tiebreak))
    columns = [
        sql.mo.c.id.label("model_id"),
        *[sql.mo.c[f"k{i}"] for i in range(len(fleet.keys))],
        sql.v.c.id.label("version_id"),
        sql.v.c.number, sql.v.c.status, sql.v.c.flavor, sql.v.c.artifact_sha256,
        sql.v.c.artifact_size, sql.v.c.signature, sql.v.c.params, sql.v.c.run_id,
        sql.v.c.dataset_id, sql.v.c.slice_fingerprint, sql.v.c.code_ref,
        sql.v.c.parent_version_id, sql.v.c.created_by, sql.v.c.created_at,
        order.column.label("_sort_value"),
        order.tiebreak.label("_tiebreak"),
    ]  # fmt: skip
    query = sa.select(*columns).select_from(sql.from_clause()).where(*conditions)
    rows, more = read_ahead(conn, query.order_by(*ordering), limit)
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = encode_cursor(order.text, last["_sort_value"], last["_tiebreak"], sql.digest)
    for row in rows:
        row.pop("_sort_value", None)
        row.pop("_tiebreak", None)
        row["key"] = {dim: row.pop(f"k{i}") for i, dim in enumerate(fleet.keys)}
    attach_details(conn, fleet, rows)
    return rows, next_cursor


def attach_details(conn: Connection, fleet: FleetRef, rows: list[dict[str, Any]]) -> None:
    """Add metrics, tags and aliases to a page of rows: three queries, not three per row.

    The ids come from a query already scoped to ``fleet``; the lookups go by primary key.
    """
    version_ids = [row["version_id"] for row in rows]
    by_version: dict[int, dict[str, Any]] = {
        vid: {"metrics": {}, "tags": {}, "aliases": []} for vid in version_ids
    }
    if version_ids:
        for r in conn.execute(
            sa.select(metrics.c.version_id, metrics.c.name, metrics.c.value).where(
                metrics.c.version_id.in_(version_ids)
            )
        ):
            by_version[r.version_id]["metrics"][r.name] = r.value
        for r in conn.execute(
            sa.select(version_tags.c.version_id, version_tags.c.key, version_tags.c.value).where(
                version_tags.c.version_id.in_(version_ids)
            )
        ):
            by_version[r.version_id]["tags"][r.key] = r.value
        model_ids = list({row["model_id"] for row in rows})
        for a in conn.execute(
            sa.select(aliases.c.version_id, aliases.c.name).where(aliases.c.model_id.in_(model_ids))
        ):
            if a.version_id in by_version:
                by_version[a.version_id]["aliases"].append(a.name)
    for row in rows:
        details = by_version[row["version_id"]]
        details["aliases"].sort()
        row.update(details)


def select_versions(
    conn: Connection, fleet: FleetRef, where: Where, versions_scope: str = "latest"
) -> list[tuple[int, int]]:
    """Every (model id, version id) the filter selects, in one query (for bulk moves)."""
    sql = build(fleet, where, versions_scope)
    check_names(conn, sql)
    query = (
        sa.select(sql.mo.c.id, sql.v.c.id)
        .select_from(sql.from_clause())
        .where(*sql.where)
        .order_by(sql.mo.c.id)
    )
    return [(row[0], row[1]) for row in conn.execute(query)]
