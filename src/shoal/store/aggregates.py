"""Counts and facets: kept aggregates for a whole fleet, one query under a filter."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.errors import InvalidInput
from shoal.store import filters as F
from shoal.store.aliases import alias_count
from shoal.store.fleets import fleet_counts
from shoal.store.query import NAMESPACES, VERSION_FIELDS, Sql, Where, as_node, build, compile_node
from shoal.store.schema import key_counts, metrics
from shoal.store.tenancy import FleetRef
from shoal.store.vocabulary import check_names


def count(
    conn: Connection, fleet: FleetRef, *, where: Where = None, versions_scope: str = "latest"
) -> int:
    """How many versions match; a whole fleet's count comes from the kept aggregates."""
    node = as_node(where)
    sql = build(fleet, node, versions_scope)
    if node is None:
        models_n, versions_n = fleet_counts(conn, fleet)
        return versions_n if sql.mode == "all" else models_n
    check_names(conn, sql)
    if sql.mode == "alias" and len(sql.where) == 2:
        return alias_count(conn, fleet, sql.alias or "")
    if sql.mode == "latest" and _metrics_only(fleet, node):
        sql = _MetricSql(fleet, "latest")
        sql.where.append(compile_node(sql, node))
    query = sa.select(sa.func.count()).select_from(sql.from_clause()).where(*sql.where)
    return int(conn.execute(query).scalar_one())


def _metrics_only(fleet: FleetRef, node: F.Node | None) -> bool:
    """True for a plain AND of comparisons on metrics of the scoped version.

    Only then does counting the metrics index alone give the right answer: ``is null``,
    ``or`` and ``not`` must also count models that lack a metric, which takes the join.
    """
    for term in F.conjuncts(node):
        if not isinstance(term, F.Compare | F.In) or (isinstance(term, F.In) and term.negated):
            return False
    for fld in F.fields_of(node):
        parts = fld.parts
        if len(parts) == 2 and parts[0] == "metrics":
            continue
        if len(parts) != 1 or parts[0] in fleet.keys or parts[0] in VERSION_FIELDS:
            return False
        if parts[0] in ("alias", *NAMESPACES):
            return False
    return True


class _MetricSql(Sql):
    """FROM clause for counting latest metrics alone: the metrics index answers it.

    ``mape > 0.3`` over a million models is an index range count, with no join to the
    models or versions tables; further metrics join by version id.
    """

    def __post_init__(self) -> None:
        self.base: Any = None

    def metric_table(self, name: str, version_col: Any, owner: str, *, outer: bool) -> Any:
        cache_key = ("metric", owner, name)
        if cache_key in self.cache:
            return self.cache[cache_key]
        mt = metrics.alias(f"m_{len(self.cache)}")
        if self.base is None:
            self.base = mt
            self.where += [mt.c.fleet_id == self.fleet.id, mt.c.name == name,
                           mt.c.latest == sa.true()]  # fmt: skip
        else:
            on = sa.and_(mt.c.version_id == self.base.c.version_id, mt.c.name == name)
            self.joins.append((mt, on, outer))
        self.cache[cache_key] = mt
        return mt

    @property
    def v(self) -> Any:
        return _VersionProxy(self)

    @v.setter
    def v(self, value: Any) -> None:
        pass

    def from_clause(self, *, versions: bool = True) -> Any:
        """The metrics and their joins (no versions table to leave out: ``versions`` is moot)."""
        clause: Any = self.base
        for table, on, outer in self.joins:
            clause = clause.join(table, on, isouter=outer)
        return clause


class _VersionProxy:
    """Stands in for the versions table: a metric's ``version_id`` is the version's id."""

    def __init__(self, sql: _MetricSql) -> None:
        self._sql = sql

    @property
    def c(self) -> Any:
        base = self._sql.base
        return type("_C", (), {"id": base.c.version_id if base is not None else None})()


def facets(
    conn: Connection,
    fleet: FleetRef,
    dim: str,
    *,
    where: Where = None,
    limit: int = 100,
    versions_scope: str = "latest",
) -> dict[str, int]:
    """Counts per value of one key dimension, largest first."""
    if dim not in fleet.keys:
        raise InvalidInput(
            f"facets: {dim!r} is not a key dimension of '{fleet.path}'; its keys are "
            f"{', '.join(fleet.keys) or 'none'}",
            field="dim",
        )
    index = fleet.keys.index(dim)
    node = as_node(where)
    if node is None:
        rows = conn.execute(
            sa.select(key_counts.c.value, key_counts.c.n)
            .where(key_counts.c.fleet_id == fleet.id, key_counts.c.dim == index)
            .order_by(key_counts.c.n.desc(), key_counts.c.value)
            .limit(limit)
        )
        return {row.value: int(row.n) for row in rows}
    sql = build(fleet, node, versions_scope)
    check_names(conn, sql)
    column = sql.mo.c[f"k{index}"]
    n = sa.func.count().label("n")
    query = (
        sa.select(column.label("value"), n)
        .select_from(sql.from_clause(versions=sql.reads_versions))
        .where(*sql.where)
        .group_by(column)
        .order_by(n.desc(), column)
        .limit(limit)
    )
    return {row.value: int(row.n) for row in conn.execute(query)}
