"""Sort orders and keyset cursors: pages that follow an index instead of OFFSET.

A cursor encodes the last row's sort value and a unique id; the next page starts
strictly after that pair, written so the planner keeps a range scan on the index.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from shoal.errors import InvalidInput
from shoal.store import filters as F
from shoal.store.query import Sql, resolve


@dataclass(frozen=True)
class Sort:
    text: str
    column: Any
    tiebreak: Any
    descending: bool
    nullable: bool = False


SORT_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?")
"""A sort names one field as the filter grammar spells it: ``mape``, ``production.mape``."""


def sort_order(sql: Sql, sort: str | None) -> Sort:
    """The order ``sort`` asks for (``-`` first for descending), over ``sql``'s fields."""
    text = (sort or "").strip()
    descending = text.startswith("-")
    name = text.lstrip("-+")
    if sql.mode == "all":
        unique = sql.v.c.id
    elif sql.driver is not None:
        unique = sql.driver  # the alias index's model_id: pages follow that index
    else:
        unique = sql.mo.c.id
    if not name:
        if text:  # a bare "-" or "+": a sign without a field
            raise InvalidInput(
                f"sort {sort!r} names no field: use e.g. 'mape', '-mape' or 'store'",
                field="sort",
            )
        return Sort("", unique, unique, False)
    if not SORT_FIELD.fullmatch(name) or name.lower() in F.KEYWORDS:
        raise InvalidInput(
            f"sort {sort!r} is not a field name: use e.g. 'mape', '-mape', 'store' or "
            "'-created_at'",
            field="sort",
        )
    sql.naming = "sort"
    res = resolve(sql, F.Field(tuple(name.split("."))), outer=False)
    sql.naming = "where"
    if res.kind in ("alias", "param"):
        raise InvalidInput(
            f"sort: cannot sort by {name!r}; sort by a key dimension, a tag (tags.NAME), a "
            "metric, version or created_at",
            field="sort",
        )
    own_metric = res.kind == "metric" and "." not in res.name
    if own_metric:
        # The metric row's own version_id: the index is (..., value, version_id), so the
        # planner reads both sort columns in index order, with no sort of its own.
        tiebreak = res.column.table.c.version_id
    elif res.kind == "tag":
        # Likewise the tag row's version_id (one tag row per listed row, in every scope),
        # on ix_version_tags_fleet_key_value (fleet_id, key, value, version_id): naming
        # the fleet lets the planner walk that index in order instead of sorting every
        # row that shares a value.
        tags = res.column.table
        sql.where.append(tags.c.fleet_id == sql.fleet.id)
        tiebreak = tags.c.version_id
    else:
        # An alias's metric is shared by every version of a model: break ties on a
        # column that is unique per row.
        tiebreak = sql.v.c.id if sql.mode == "all" or res.kind == "metric" else unique
    # Rows without a value (no such metric, no run) are left out of a sorted listing:
    # NULLs order differently on SQLite and PostgreSQL and cannot sit in a cursor.
    nullable = res.kind in ("metric", "tag") or res.name in ("run", "dataset")
    return Sort(text, res.column, tiebreak, descending, nullable=nullable)


def read_ahead(conn: Any, query: Any, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """One page of ``query`` (ordered, unlimited): its first ``limit`` rows as dicts, and
    whether more follow. One row past the page is read, so "is there a next page" costs
    no COUNT; the caller makes the next cursor from the page's last row."""
    rows = [dict(row._mapping) for row in conn.execute(query.limit(limit + 1))]
    return rows[:limit], len(rows) > limit


def encode_cursor(sort: str, value: Any, ident: int, digest: str = "") -> str:
    """The position after (value, ident), bound to its sort and its filter's ``digest``."""
    raw = json.dumps({"s": sort, "v": value, "i": ident, "w": digest}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str, digest: str = "") -> tuple[Any, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        value, ident, cursor_sort = data["v"], int(data["i"]), data["s"]
        cursor_digest = data.get("w", "")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise InvalidInput(
            "cursor is not one this server issued: pass next_cursor from the previous page "
            "unchanged",
            field="cursor",
        ) from None
    if cursor_sort != sort:
        raise InvalidInput(
            f"cursor was issued for sort {cursor_sort!r}, not {sort!r}: keep the same sort "
            "while paging",
            field="cursor",
        )
    if cursor_digest != digest:
        raise InvalidInput(
            "cursor was issued for another filter (or versions scope): keep the same where "
            "while paging, or start again without a cursor",
            field="cursor",
        )
    return value, ident


def keyset_after(order: Sort, value: Any, ident: int) -> Any:
    """Rows strictly after (value, ident) in sort order, in an index-friendly shape."""
    if order.column is order.tiebreak:
        return order.tiebreak < ident if order.descending else order.tiebreak > ident
    if order.descending:
        return sa.and_(
            order.column <= value,
            sa.or_(order.column < value, order.tiebreak < ident),
        )
    return sa.and_(order.column >= value, sa.or_(order.column > value, order.tiebreak > ident))
