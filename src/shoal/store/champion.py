"""Champion against challenger: two aliases of a fleet compared on one metric, in SQL.

Every read here is one query over the fleet, built on the filter grammar's FROM clause
(:func:`shoal.store.query.build`) with the aliases table joined twice, once per side,
and each side's version and metric joined by primary key:

- :func:`page`: one page of per-model rows, in model order (a range of the aliases index
  ``(fleet_id, name, model_id)`` that stops after the page) or by delta (a top-N sort of
  the compared models: the delta is computed, no index holds it), with a keyset cursor;
- :func:`summary`: one aggregate pass (models with both aliases, only one, wins, losses,
  ties, means) and one ordered read for the median delta;
- :func:`rollup`: one GROUP BY over a key dimension or a tag.

A side is an alias name or ``latest`` (each model's newest version). ``delta`` is always
``b - a``; ``lower`` says whether a lower value is better, so ``b`` *wins* where its
value is better. No row of any model leaves the store except the page asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.errors import InvalidInput
from shoal.store.aliases import alias_count
from shoal.store.fleets import fleet_counts
from shoal.store.paging import decode_cursor, encode_cursor, read_ahead
from shoal.store.query import Sql, Where, build
from shoal.store.schema import aliases, metrics, version_tags, versions
from shoal.store.tenancy import FleetRef
from shoal.store.vocabulary import check_names

SHOWS = ("both", "either", "only_a", "only_b")
"""Which models a page lists: with both aliases, with either, or with only one of them."""
SORTS = ("", "delta", "-delta")


@dataclass(frozen=True)
class Sides:
    """What is compared: alias ``a`` (the champion) against ``b`` on ``metric``."""

    a: str
    b: str
    metric: str
    lower: bool
    """True when a lower value is better (an error such as mape), False for a score."""


@dataclass
class _Side:
    version: Any  # the version id column of this side
    present: Any  # true where the model has this side
    value: Any = None  # the metric value column
    number: Any = None  # the version number column (pages only)


@dataclass
class _Query:
    sql: Sql
    a: _Side
    b: _Side
    driver: _Side
    """The side whose alias index the query walks (the one with fewer models)."""

    @property
    def delta(self) -> Any:
        return self.b.value - self.a.value


def _alias(sql: Sql, name: str, label: str, *, outer: bool) -> _Side:
    """Join one side's alias by its primary key ``(model_id, name)``; ``latest`` reads the
    model's latest version id instead."""
    if name == "latest":
        latest = sql.mo.c.latest_version_id
        return _Side(latest, latest.is_not(None))
    al = aliases.alias(f"cmp_{label}")
    on = sa.and_(al.c.model_id == sql.mo.c.id, al.c.name == name, al.c.fleet_id == sql.fleet.id)
    sql.joins.append((al, on, outer))
    return _Side(al.c.version_id, al.c.model_id.is_not(None))


def _details(sql: Sql, side: _Side, label: str, metric: str, *, numbers: bool) -> None:
    """Join a side's metric (and version, for its number) by primary key."""
    fleet = sql.fleet
    mt = metrics.alias(f"cmp_m{label}")
    on = sa.and_(mt.c.version_id == side.version, mt.c.name == metric, mt.c.fleet_id == fleet.id)
    sql.joins.append((mt, on, True))
    side.value = mt.c.value
    if numbers:
        vv = versions.alias(f"cmp_v{label}")
        sql.joins.append((vv, sa.and_(vv.c.id == side.version, vv.c.fleet_id == fleet.id), True))
        side.number = vv.c.number


def _smaller(conn: Connection, fleet: FleetRef, sides: Sides) -> str:
    """``a`` or ``b``: the side fewer models carry (from the kept counters)."""
    n = {label: (fleet_counts(conn, fleet)[0] if name == "latest" else
                 alias_count(conn, fleet, name))
         for label, name in (("a", sides.a), ("b", sides.b))}  # fmt: skip
    return "b" if n["b"] < n["a"] else "a"


def _query(
    conn: Connection, fleet: FleetRef, sides: Sides, where: Where, show: str = "both", *,
    numbers: bool = False,
) -> _Query:  # fmt: skip
    """The FROM and WHERE of a comparison: the filter's, the fleet's scope, both sides.

    The alias joins come first, the side with fewer models first of all: the planner
    then walks that side's alias index and probes the other by primary key (SQLite's
    statistics cannot tell ``candidate`` on a tenth of a fleet from ``production``)."""
    if show not in SHOWS:
        raise InvalidInput(f"show must be one of {', '.join(SHOWS)}, got {show!r}", field="show")
    sql = build(fleet, where, "latest")
    sql.named.setdefault(("metric", sides.metric), "metric")
    check_names(conn, sql)
    if not sql.terms and sql.mode == "latest":
        sql.joins = [j for j in sql.joins if j[0] is not sql.v]  # the latest version unread
    first = {"both": _smaller(conn, fleet, sides), "only_a": "a", "only_b": "b"}.get(show, "a")
    outer = {"a": show in ("either", "only_b"), "b": show in ("either", "only_a")}
    made: dict[str, _Side] = {}
    for label in (first, "b" if first == "a" else "a"):
        made[label] = _alias(sql, getattr(sides, label), label, outer=outer[label])
    for label in ("a", "b"):
        _details(sql, made[label], label, sides.metric, numbers=numbers)
    a, b = made["a"], made["b"]
    if show == "either":
        sql.where.append(sa.or_(a.present, b.present))
    elif show == "only_a":
        sql.where.append(sa.not_(b.present))
    elif show == "only_b":
        sql.where.append(sa.not_(a.present))
    return _Query(sql, a, b, made[first])


def _outcome(lower: bool, delta: Any) -> Any:
    """``b`` where b's value is better, ``a`` where a's is, ``tie`` where equal."""
    b_better, a_better = (delta < 0, delta > 0) if lower else (delta > 0, delta < 0)
    return sa.case((b_better, "b"), (a_better, "a"), (delta == 0, "tie"), else_=None)


def page(
    conn: Connection,
    fleet: FleetRef,
    sides: Sides,
    *,
    where: Where = None,
    show: str = "both",
    sort: str = "",
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of per-model rows and the cursor of the next (None after the last)."""
    if sort not in SORTS:
        raise InvalidInput(f"sort must be 'delta', '-delta' or empty, got {sort!r}", field="sort")
    q = _query(conn, fleet, sides, where, show, numbers=True)
    sql, delta = q.sql, q.delta
    # Model order follows the aliases index of the driving side (so a page stops after
    # `limit` index entries); sorting by delta reads every compared model once.
    model_col = sql.mo.c.id
    if show != "either" and q.driver.version is not sql.mo.c.latest_version_id:
        model_col = q.driver.version.table.c.model_id
    digest = f"{sql.digest}:{sides.a}:{sides.b}:{sides.metric}:{show}"
    conditions = list(sql.where)
    descending = sort.startswith("-")
    if sort:
        conditions.append(delta.is_not(None))
    if cursor:
        value, ident = decode_cursor(cursor, sort, digest)
        if not sort:
            conditions.append(model_col > ident)
        else:
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise InvalidInput("cursor is not one this server issued", field="cursor")
            after = (delta < value) if descending else (delta > value)
            tie = (model_col < ident) if descending else (model_col > ident)
            conditions.append(sa.or_(after, sa.and_(delta == value, tie)))
    if not sort:
        ordering = [model_col.asc()]
    else:
        direction = sa.desc if descending else sa.asc
        ordering = [direction(delta), direction(model_col)]
    columns = [
        model_col.label("model_id"),
        *[sql.mo.c[f"k{i}"] for i in range(len(fleet.keys))],
        q.a.number.label("a_version"), q.b.number.label("b_version"),
        q.a.value.label("a_value"), q.b.value.label("b_value"),
        delta.label("delta"), _outcome(sides.lower, delta).label("better"),
    ]  # fmt: skip
    query = sa.select(*columns).select_from(sql.from_clause()).where(*conditions)
    rows, more = read_ahead(conn, query.order_by(*ordering), limit)
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = encode_cursor(sort, last["delta"] if sort else None, last["model_id"],
                                    digest)  # fmt: skip
    for row in rows:
        row["key"] = {dim: row.pop(f"k{i}") for i, dim in enumerate(fleet.keys)}
    return rows, next_cursor


def _tally(lower: bool, delta: Any) -> list[Any]:
    """wins (b better), losses (b worse) and ties, as aggregate columns."""
    outcome = _outcome(lower, delta)
    return [
        sa.func.count(sa.case((outcome == "b", 1))).label("wins"),
        sa.func.count(sa.case((outcome == "a", 1))).label("losses"),
        sa.func.count(sa.case((outcome == "tie", 1))).label("ties"),
    ]


def summary(
    conn: Connection, fleet: FleetRef, sides: Sides, *, where: Where = None,
    changed_only: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Counts and means over every model the filter selects that has either side.

    One pass over the models with both sides (walking the smaller side's index), one
    ordered read for the median; the models with only one side come from the kept alias
    counters without a filter, else from one anti-join count each. ``changed_only`` leaves
    out models whose two sides are the same version (what an alias move would not
    change); ``only_a`` is then not counted (a move never takes an alias away).
    """
    q = _query(conn, fleet, sides, where, "both")
    if changed_only:
        q.sql.where.append(q.a.version != q.b.version)
    query = sa.select(
        sa.func.count().label("both"),
        sa.func.count(q.delta).label("compared"),
        *_tally(sides.lower, q.delta),
        sa.func.avg(q.delta).label("mean_delta"),
        sa.func.avg(sa.case((q.delta.is_not(None), q.a.value))).label("mean_a"),
        sa.func.avg(sa.case((q.delta.is_not(None), q.b.value))).label("mean_b"),
    ).select_from(q.sql.from_clause()).where(*q.sql.where)  # fmt: skip
    found = dict(conn.execute(query).one()._mapping)
    found["median_delta"] = _median(conn, q, int(found["compared"]))
    counted = where is None and not changed_only and "latest" not in (sides.a, sides.b)
    for label, name in (("a", sides.a), ("b", sides.b)):
        if changed_only and label == "a":
            found["only_a"] = 0
        elif counted:
            found[f"only_{label}"] = alias_count(conn, fleet, name) - found["both"]
        else:
            lone = _query(conn, fleet, sides, where, f"only_{label}")
            found[f"only_{label}"] = int(conn.execute(
                sa.select(sa.func.count()).select_from(lone.sql.from_clause())
                .where(*lone.sql.where)).scalar_one())  # fmt: skip
    return found


def _median(conn: Connection, q: _Query, n: int) -> float | None:
    """The middle delta (the mean of the middle two for an even count): one ordered read."""
    if n == 0:
        return None
    query = (
        sa.select(q.delta.label("d"))
        .select_from(q.sql.from_clause())
        .where(*q.sql.where, q.delta.is_not(None))
        .order_by(q.delta)
        .limit(2 - n % 2)
        .offset((n - 1) // 2)
    )
    values = [float(row.d) for row in conn.execute(query)]
    return sum(values) / len(values) if values else None


def rollup(
    conn: Connection, fleet: FleetRef, sides: Sides, by: str, *, where: Where = None,
    limit: int = 100,
) -> tuple[list[dict[str, Any]], bool]:  # fmt: skip
    """Wins, losses and ties of ``b`` per value of ``by`` (a key dimension, or a tag of a
    side's version: ``a``'s, else ``b``'s), over the models compared; the ``limit``
    values with the most models first, and whether more values exist."""
    q = _query(conn, fleet, sides, where, "both")
    sql = q.sql
    if by in fleet.keys:
        column: Any = sql.mo.c[f"k{fleet.keys.index(by)}"]
    else:
        name = by.removeprefix("tags.")
        sql.named[("tag", name)] = "by"
        check_names(conn, sql)
        found = []
        for label, side in (("a", q.a), ("b", q.b)):
            tt = version_tags.alias(f"cmp_t{label}")
            on = sa.and_(tt.c.version_id == side.version, tt.c.key == name,
                         tt.c.fleet_id == fleet.id)  # fmt: skip
            sql.joins.append((tt, on, True))
            found.append(tt.c.value)
        column = sa.func.coalesce(*found)
    models = sa.func.count().label("models")
    query = (
        sa.select(column.label("value"), models, *_tally(sides.lower, q.delta),
                  sa.func.avg(q.delta).label("mean_delta"))
        .select_from(sql.from_clause())
        .where(*sql.where, q.delta.is_not(None))
        .group_by(column)
        .order_by(models.desc(), column)
    )  # fmt: skip
    return read_ahead(conn, query, limit)
