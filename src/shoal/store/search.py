"""Search, count and facets over a fleet: the filter grammar compiled to one SQL query.

Which versions a search looks at (its *scope*):

- ``latest`` (default): each model's latest version.
- ``alias``: when the filter has a top-level ``alias = 'x'`` term, the version that
  alias points at for each model (so ``mape > 0.3 and alias = 'production'`` reads
  the production version's MAPE).
- ``all``: every version (``versions="all"``).

Names resolve in this order: the fleet's key dimensions; ``alias``, ``version``,
``status``, ``flavor``, ``created_at``, ``run``, ``dataset``, ``id``; ``tags.X``;
``params.X``; ``ALIAS.metric`` (that alias's version's metric); and any other name
is a metric of the scoped version (``mape`` or ``metrics.mape``). Sorting by a
metric lists only versions that have it. Pages use keyset cursors over the sort
column and a unique id, which follow an index instead of counting past OFFSET rows.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.errors import FilterSyntaxError, InvalidInput
from shoal.store import filters as F
from shoal.store.schema import aliases, metrics, models, version_tags, versions
from shoal.store.tenancy import FleetRef

VERSION_FIELDS = {
    "version": "number",
    "status": "status",
    "flavor": "flavor",
    "created_at": "created_at",
    "run": "run_id",
    "dataset": "dataset_id",
    "id": "id",
}
NAMESPACES = ("tags", "params", "metrics")
MAX_LIMIT = 1000


@dataclass
class _Sql:
    """The FROM clause under construction: the scoped version plus lazy joins."""

    fleet: FleetRef
    mode: str
    alias: str | None = None
    mo: Any = None
    v: Any = None
    joins: list[tuple[Any, Any, bool]] = field(default_factory=list)
    cache: dict[tuple[str, ...], Any] = field(default_factory=dict)
    where: list[Any] = field(default_factory=list)
    driver: Any = None

    def __post_init__(self) -> None:
        self.mo = models.alias("mo")
        self.v = versions.alias("v")
        self.where += [self.mo.c.fleet_id == self.fleet.id,
                       self.mo.c.tenant_id == self.fleet.tenant_id]  # fmt: skip
        # Both directions of each join are spelled out, so the planner can start from
        # whichever index fits (metrics, aliases or a key) and reach the rest by primary key.
        if self.mode == "latest":
            on = sa.and_(
                self.v.c.id == self.mo.c.latest_version_id, self.v.c.model_id == self.mo.c.id
            )
            self.joins.append((self.v, on, False))
        elif self.mode == "all":
            self.joins.append((self.v, self.v.c.model_id == self.mo.c.id, False))
        else:
            al = self.alias_table(self.alias or "", outer=False)
            self.driver = al.c.model_id
            self.joins.append((self.v, self.v.c.id == al.c.version_id, False))

    def alias_table(self, name: str, *, outer: bool = True) -> Any:
        cache_key = ("alias", name)
        if cache_key not in self.cache:
            al = aliases.alias(f"al_{len(self.cache)}")
            on = sa.and_(
                al.c.model_id == self.mo.c.id, al.c.name == name, al.c.fleet_id == self.fleet.id
            )
            self.joins.append((al, on, outer))
            self.cache[cache_key] = al
        return self.cache[cache_key]

    def metric_table(self, name: str, version_col: Any, owner: str, *, outer: bool) -> Any:
        cache_key = ("metric", owner, name)
        if cache_key not in self.cache:
            mt = metrics.alias(f"m_{len(self.cache)}")
            on = sa.and_(
                mt.c.version_id == version_col, mt.c.name == name, mt.c.fleet_id == self.fleet.id
            )
            if owner == "" and self.mode == "latest":
                on = sa.and_(on, mt.c.latest == sa.true())
            self.joins.append((mt, on, outer))
            self.cache[cache_key] = mt
        return self.cache[cache_key]

    def tag_table(self, name: str) -> Any:
        cache_key = ("tag", name)
        if cache_key not in self.cache:
            tt = version_tags.alias(f"t_{len(self.cache)}")
            on = sa.and_(tt.c.version_id == self.v.c.id, tt.c.key == name)
            self.joins.append((tt, on, True))
            self.cache[cache_key] = tt
        return self.cache[cache_key]

    def from_clause(self) -> Any:
        clause: Any = self.mo
        for table, on, outer in self.joins:
            clause = clause.join(table, on, isouter=outer)
        return clause


@dataclass(frozen=True)
class _Resolved:
    """A field resolved to SQL: its column and what kind of value it holds."""

    column: Any
    kind: str  # key | metric | text | int | time | tag | param | alias
    name: str


def _resolve(sql: _Sql, fld: F.Field, *, outer: bool = True) -> _Resolved:
    fleet = sql.fleet
    parts = fld.parts
    if len(parts) == 1:
        name = parts[0]
        if name in fleet.keys:
            return _Resolved(sql.mo.c[f"k{fleet.keys.index(name)}"], "key", name)
        if name == "alias":
            return _Resolved(None, "alias", name)
        if name in VERSION_FIELDS:
            column = sql.v.c[VERSION_FIELDS[name]]
            kind = {"created_at": "time", "status": "text", "flavor": "text"}.get(name, "int")
            return _Resolved(column, kind, name)
        if name in NAMESPACES:
            raise InvalidInput(
                f"where: write {name}.NAME, e.g. {name}.team, not {name!r} alone", field="where"
            )
        mt = sql.metric_table(name, sql.v.c.id, "", outer=outer)
        return _Resolved(mt.c.value, "metric", name)
    owner, name = parts
    if owner == "tags":
        return _Resolved(sql.tag_table(name).c.value, "tag", fld.text)
    if owner == "params":
        return _Resolved(sql.v.c.params[name], "param", fld.text)
    if owner == "metrics":
        mt = sql.metric_table(name, sql.v.c.id, "", outer=outer)
        return _Resolved(mt.c.value, "metric", name)
    if owner in fleet.keys:
        raise InvalidInput(
            f"where: {fld.text!r}: {owner!r} is a key dimension; compare it directly, "
            f"e.g. {owner} = 'x'",
            field="where",
        )
    al = sql.alias_table(owner)
    mt = sql.metric_table(name, al.c.version_id, owner, outer=outer)
    return _Resolved(mt.c.value, "metric", fld.text)


def _literal(res: _Resolved, value: F.Literal, fleet: FleetRef) -> Any:
    """Check and convert a literal for the field it is compared with."""
    if res.kind in ("metric",) or (res.kind == "int" and res.name != "status"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            hint = (
                f" ({res.name!r} is not a key dimension of '{fleet.path}'; its keys are "
                f"{', '.join(fleet.keys) or 'none'})"
                if res.kind == "metric"
                else ""
            )
            raise InvalidInput(
                f"where: {res.name} compares with numbers, got {value!r}{hint}", field="where"
            )
        return value
    if res.kind == "time":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise InvalidInput(
                f"where: created_at compares with an ISO date such as '2026-11-01' or "
                f"'2026-11-01T12:00:00', got {value!r}",
                field="where",
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    if res.kind == "param":
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if not isinstance(value, str) else value


_CMP = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!="}


def _param_column(res: _Resolved, value: F.Literal) -> Any:
    if isinstance(value, bool):
        return res.column.as_boolean()
    if isinstance(value, int | float):
        return res.column.as_float()
    return res.column.as_string()


def _alias_predicate(sql: _Sql, names: list[F.Literal], negated: bool) -> Any:
    al = aliases.alias()
    exists = (
        sa.select(sa.literal(1))
        .where(
            al.c.model_id == sql.mo.c.id,
            al.c.version_id == sql.v.c.id,
            al.c.name.in_([str(n) for n in names]),
        )
        .exists()
    )
    return ~exists if negated else exists


def _compile(sql: _Sql, node: F.Node) -> Any:
    if isinstance(node, F.And):
        return sa.and_(*[_compile(sql, item) for item in node.items])
    if isinstance(node, F.Or):
        return sa.or_(*[_compile(sql, item) for item in node.items])
    if isinstance(node, F.Not):
        return sa.not_(_compile(sql, node.item))
    if isinstance(node, F.IsNull):
        res = _resolve(sql, node.field)
        if res.kind == "alias":
            raise InvalidInput("where: use alias = 'name', not alias is null", field="where")
        return res.column.is_not(None) if node.negated else res.column.is_(None)
    if isinstance(node, F.In):
        res = _resolve(sql, node.field)
        if res.kind == "alias":
            return _alias_predicate(sql, list(node.values), node.negated)
        values = [_literal(res, value, sql.fleet) for value in node.values]
        column = _param_column(res, node.values[0]) if res.kind == "param" else res.column
        return column.not_in(values) if node.negated else column.in_(values)
    left, op, right = node.left, node.op, node.right
    if not isinstance(left, F.Field):
        left, right, op = right, left, _FLIP[op]
    assert isinstance(left, F.Field)
    lres = _resolve(sql, left)
    if isinstance(right, F.Field):
        rres = _resolve(sql, right)
        if "alias" in (lres.kind, rres.kind):
            raise InvalidInput(
                "where: compare alias with a name, e.g. alias = 'production'", field="where"
            )
        return _CMP[op](lres.column, rres.column)
    if lres.kind == "alias":
        if op not in ("=", "!="):
            raise InvalidInput(
                "where: alias takes = or !=, e.g. alias = 'production'", field="where"
            )
        return _alias_predicate(sql, [right], op == "!=")
    value = _literal(lres, right, sql.fleet)
    column = _param_column(lres, right) if lres.kind == "param" else lres.column
    return _CMP[op](column, value)


def _scope_of(node: F.Node | None, versions_scope: str) -> tuple[str, str | None, F.Node | None]:
    """Pick the scope; a top-level ``alias = 'x'`` term becomes the join itself."""
    if versions_scope not in ("latest", "all"):
        raise InvalidInput(
            f"versions must be 'latest' or 'all', got {versions_scope!r}", field="versions"
        )
    terms = F.conjuncts(node)
    for index, term in enumerate(terms):
        if (
            isinstance(term, F.Compare)
            and term.op == "="
            and isinstance(term.left, F.Field)
            and term.left.parts == ("alias",)
            and isinstance(term.right, str)
        ):
            rest = terms[:index] + terms[index + 1 :]
            remaining = None if not rest else rest[0] if len(rest) == 1 else F.And(tuple(rest))
            return "alias", term.right, remaining
    return versions_scope, None, node


def build(fleet: FleetRef, where: str | None, versions_scope: str = "latest") -> _Sql:
    """Parse and compile a filter into FROM and WHERE for this fleet."""
    node = F.parse(where) if where is not None else None
    mode, alias, rest = _scope_of(node, versions_scope)
    sql = _Sql(fleet, mode, alias)
    if rest is not None:
        sql.where.append(_compile(sql, rest))
    return sql


# ---- sorting and keyset cursors ------------------------------------------------------------


@dataclass(frozen=True)
class _Sort:
    text: str
    column: Any
    tiebreak: Any
    descending: bool
    nullable: bool = False


def _sort(sql: _Sql, sort: str | None) -> _Sort:
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
        return _Sort("", unique, unique, False)
    try:
        parsed = F.parse(f"{name} is null")
    except FilterSyntaxError:
        raise InvalidInput(
            f"sort {sort!r} is not a field name: use e.g. 'mape', '-mape', 'store' or "
            "'-created_at'",
            field="sort",
        ) from None
    assert isinstance(parsed, F.IsNull)
    res = _resolve(sql, parsed.field, outer=False)
    if res.kind in ("alias", "tag", "param"):
        raise InvalidInput(
            f"sort: cannot sort by {name!r}; sort by a key dimension, a metric, version or "
            "created_at",
            field="sort",
        )
    if res.kind == "metric":
        # The metric row's own version_id: the index is (..., value, version_id), so the
        # planner reads both sort columns in index order, with no sort of its own.
        tiebreak = res.column.table.c.version_id
    else:
        tiebreak = sql.v.c.id if sql.mode == "all" else unique
    return _Sort(text, res.column, tiebreak, descending, nullable=res.kind == "metric")


def encode_cursor(sort: str, value: Any, ident: int) -> str:
    raw = json.dumps({"s": sort, "v": value, "i": ident}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        value, ident, cursor_sort = data["v"], int(data["i"]), data["s"]
    except (ValueError, KeyError, TypeError):
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
    return value, ident


def _after(order: _Sort, value: Any, ident: int) -> Any:
    """Rows strictly after (value, ident) in sort order, in an index-friendly shape."""
    if order.column is order.tiebreak:
        return order.tiebreak < ident if order.descending else order.tiebreak > ident
    if order.descending:
        return sa.and_(
            order.column <= value,
            sa.or_(order.column < value, order.tiebreak < ident),
        )
    return sa.and_(order.column >= value, sa.or_(order.column > value, order.tiebreak > ident))


# ---- the three public queries ---------------------------------------------------------------


def search(
    conn: Connection,
    fleet: FleetRef,
    *,
    where: str | None = None,
    sort: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    versions_scope: str = "latest",
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of versions matching ``where``, in ``sort`` order, and the next cursor."""
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be 1..{MAX_LIMIT}, got {limit!r}", field="limit")
    sql = build(fleet, where, versions_scope)
    order = _sort(sql, sort)
    conditions = list(sql.where)
    if order.nullable:
        conditions.append(order.column.is_not(None))
    if cursor:
        value, ident = decode_cursor(cursor, order.text)
        conditions.append(_after(order, value, ident))
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
    query = (
        sa.select(*columns)
        .select_from(sql.from_clause())
        .where(*conditions)
        .order_by(*ordering)
        .limit(limit + 1)
    )
    rows = [dict(row._mapping) for row in conn.execute(query)]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(order.text, last["_sort_value"], last["_tiebreak"])
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
        for r in conn.execute(
            sa.select(aliases.c.version_id, aliases.c.name).where(aliases.c.model_id.in_(model_ids))
        ):
            if r.version_id in by_version:
                by_version[r.version_id]["aliases"].append(r.name)
    for row in rows:
        details = by_version[row["version_id"]]
        details["aliases"].sort()
        row.update(details)


def count(
    conn: Connection, fleet: FleetRef, *, where: str | None = None, versions_scope: str = "latest"
) -> int:
    """How many versions match; a whole fleet's count comes from the kept aggregates."""
    sql = build(fleet, where, versions_scope)
    if where is None or not where.strip():
        from shoal.store.fleets import fleet_counts

        models_n, versions_n = fleet_counts(conn, fleet)
        return versions_n if sql.mode == "all" else models_n
    if sql.mode == "alias" and len(sql.where) == 2:
        from shoal.store.aliases import alias_count

        return alias_count(conn, fleet, sql.alias or "")
    node = F.parse(where)
    if sql.mode == "latest" and _metrics_only(fleet, node):
        sql = _MetricSql(fleet, "latest")
        sql.where.append(_compile(sql, node))  # type: ignore[arg-type]
    query = sa.select(sa.func.count()).select_from(sql.from_clause()).where(*sql.where)
    return int(conn.execute(query).scalar_one())


def _metrics_only(fleet: FleetRef, node: F.Node | None) -> bool:
    """True when a filter names only metrics of the scoped version (no keys, tags, ...)."""
    for fld in F.fields_of(node):
        parts = fld.parts
        if len(parts) == 2 and parts[0] == "metrics":
            continue
        if len(parts) != 1 or parts[0] in fleet.keys or parts[0] in VERSION_FIELDS:
            return False
        if parts[0] in ("alias", *NAMESPACES):
            return False
    return True


class _MetricSql(_Sql):
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
    def v(self) -> Any:  # type: ignore[override]
        return _VersionProxy(self)

    @v.setter
    def v(self, value: Any) -> None:
        pass

    def from_clause(self) -> Any:
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
    where: str | None = None,
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
    if where is None or not where.strip():
        from shoal.store.schema import key_counts

        rows = conn.execute(
            sa.select(key_counts.c.value, key_counts.c.n)
            .where(key_counts.c.fleet_id == fleet.id, key_counts.c.dim == index)
            .order_by(key_counts.c.n.desc(), key_counts.c.value)
            .limit(limit)
        )
        return {row.value: int(row.n) for row in rows}
    sql = build(fleet, where, versions_scope)
    column = sql.mo.c[f"k{index}"]
    n = sa.func.count().label("n")
    query = (
        sa.select(column.label("value"), n)
        .select_from(sql.from_clause())
        .where(*sql.where)
        .group_by(column)
        .order_by(n.desc(), column)
        .limit(limit)
    )
    return {row.value: int(row.n) for row in conn.execute(query)}


def select_versions(
    conn: Connection, fleet: FleetRef, where: str | None, versions_scope: str = "latest"
) -> list[tuple[int, int]]:
    """Every (model id, version id) the filter selects, in one query (for bulk moves)."""
    sql = build(fleet, where, versions_scope)
    query = (
        sa.select(sql.mo.c.id, sql.v.c.id)
        .select_from(sql.from_clause())
        .where(*sql.where)
        .order_by(sql.mo.c.id)
    )
    return [(row[0], row[1]) for row in conn.execute(query)]
