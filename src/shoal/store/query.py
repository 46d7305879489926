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

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles

from shoal.errors import InvalidInput
from shoal.store import filters as F
from shoal.store.schema import VERSION_ARCHIVED, aliases, metrics, models, version_tags, versions
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


@dataclass
class Sql:
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
    terms: bool = False
    """Whether the filter has terms besides its scope (a top-level ``alias = 'x'``)."""
    named: dict[tuple[str, str], str] = field(default_factory=dict)
    """(kind, name) of every metric, tag and param a filter or sort named -> who named it
    (``where`` or ``sort``); :func:`shoal.store.vocabulary.check_names` checks they exist."""
    checked: set[tuple[str, str]] = field(default_factory=set)
    naming: str = "where"
    digest: str = ""
    """A digest of the filter and scope: a cursor carries it, so it pages only this query."""

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

    def from_clause(self, *, versions: bool = True) -> Any:
        """The joins; ``versions=False`` leaves out the version a model resolves to, which
        a count or facet of an alias alone never reads (one primary-key lookup a model)."""
        clause: Any = self.mo
        for table, on, outer in self.joins:
            if table is self.v and not versions:
                continue
            clause = clause.join(table, on, isouter=outer)
        return clause

    @property
    def reads_versions(self) -> bool:
        """Whether the filter reads anything of the resolved version (beyond its alias)."""
        return self.mode != "alias" or bool(self.terms)


@dataclass(frozen=True)
class Resolved:
    """A field resolved to SQL: its column and what kind of value it holds."""

    column: Any
    kind: str  # key | metric | text | int | time | tag | param | alias
    name: str


def resolve(sql: Sql, fld: F.Field, *, outer: bool = True) -> Resolved:
    found = _resolve(sql, fld, outer=outer)
    if found.kind in ("metric", "tag", "param"):
        name = found.name.split(".", 1)[1] if found.kind != "metric" else fld.parts[-1]
        sql.named.setdefault((found.kind, name), sql.naming)
    return found


def _resolve(sql: Sql, fld: F.Field, *, outer: bool = True) -> Resolved:
    fleet = sql.fleet
    parts = fld.parts
    if len(parts) == 1:
        name = parts[0]
        if name in fleet.keys:
            return Resolved(sql.mo.c[f"k{fleet.keys.index(name)}"], "key", name)
        if name == "alias":
            return Resolved(None, "alias", name)
        if name in VERSION_FIELDS:
            column = sql.v.c[VERSION_FIELDS[name]]
            kind = {"created_at": "time", "status": "text", "flavor": "text"}.get(name, "int")
            return Resolved(column, kind, name)
        if name in NAMESPACES:
            raise InvalidInput(
                f"where: write {name}.NAME, e.g. {name}.team, not {name!r} alone", field="where"
            )
        mt = sql.metric_table(name, sql.v.c.id, "", outer=outer)
        return Resolved(mt.c.value, "metric", name)
    owner, name = parts
    if owner == "tags":
        return Resolved(sql.tag_table(name).c.value, "tag", fld.text)
    if owner == "params":
        return Resolved(sql.v.c.params[name], "param", fld.text)
    if owner == "metrics":
        mt = sql.metric_table(name, sql.v.c.id, "", outer=outer)
        return Resolved(mt.c.value, "metric", name)
    if owner in fleet.keys:
        raise InvalidInput(
            f"where: {fld.text!r}: {owner!r} is a key dimension; compare it directly, "
            f"e.g. {owner} = 'x'",
            field="where",
        )
    al = sql.alias_table(owner)
    mt = sql.metric_table(name, al.c.version_id, owner, outer=outer)
    return Resolved(mt.c.value, "metric", fld.text)


def _literal(res: Resolved, value: F.Literal, fleet: FleetRef) -> Any:
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


def _param_column(res: Resolved, value: F.Literal) -> Any:
    if isinstance(value, bool):
        return res.column.as_boolean()
    if isinstance(value, int | float):
        # Only numbers compare with numbers: a text parameter is NULL here, not a cast
        # error (PostgreSQL) or a silent 0.0 (SQLite).
        return JsonNumber(res.column.left, sa.literal(res.name.split(".", 1)[1]))
    return res.column.as_string()


class JsonNumber(sa.sql.functions.FunctionElement[float]):
    """``params[key]`` as a float when it is a JSON number, else NULL, on either engine."""

    type = sa.Float()
    name = "shoal_json_number"
    inherit_cache = True


@compiles(JsonNumber, "sqlite")
def _json_number_sqlite(element: JsonNumber, compiler: Any, **kw: Any) -> str:
    column, key = (compiler.process(c, **kw) for c in element.clauses)
    path = f"'$.\"' || {key} || '\"'"
    return (
        f"CASE WHEN json_type({column}, {path}) IN ('integer', 'real') "
        f"THEN json_extract({column}, {path}) END"
    )


@compiles(JsonNumber, "postgresql")
def _json_number_postgresql(element: JsonNumber, compiler: Any, **kw: Any) -> str:
    column, key = (compiler.process(c, **kw) for c in element.clauses)
    return (
        f"CASE WHEN jsonb_typeof({column} -> {key}) = 'number' "
        f"THEN CAST({column} ->> {key} AS DOUBLE PRECISION) END"
    )


def _alias_predicate(sql: Sql, names: list[F.Literal], negated: bool) -> Any:
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


def compile_node(sql: Sql, node: F.Node) -> Any:
    if isinstance(node, F.And):
        return sa.and_(*[compile_node(sql, item) for item in node.items])
    if isinstance(node, F.Or):
        return sa.or_(*[compile_node(sql, item) for item in node.items])
    if isinstance(node, F.Not):
        return sa.not_(compile_node(sql, node.item))
    if isinstance(node, F.IsNull):
        res = resolve(sql, node.field)
        if res.kind == "alias":
            raise InvalidInput("where: use alias = 'name', not alias is null", field="where")
        return res.column.is_not(None) if node.negated else res.column.is_(None)
    if isinstance(node, F.In):
        res = resolve(sql, node.field)
        if res.kind == "alias":
            return _alias_predicate(sql, list(node.values), node.negated)
        values = [_literal(res, value, sql.fleet) for value in node.values]
        column = _param_column(res, node.values[0]) if res.kind == "param" else res.column
        return column.not_in(values) if node.negated else column.in_(values)
    left, op, right = node.left, node.op, node.right
    if not isinstance(left, F.Field):
        left, right, op = right, left, _FLIP[op]
    assert isinstance(left, F.Field)
    lres = resolve(sql, left)
    if isinstance(right, F.Field):
        rres = resolve(sql, right)
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


def scope_of(node: F.Node | None, versions_scope: str) -> tuple[str, str | None, F.Node | None]:
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


Where = str | F.Node | None
"""A filter as text (parsed here) or as the tree a caller parsed once and passes down."""


def as_node(where: Where) -> F.Node | None:
    """The parsed tree of ``where``; None for no filter (None, or blank text)."""
    if isinstance(where, str):
        return F.parse(where)
    if where is not None and not isinstance(
        where, F.Compare | F.In | F.IsNull | F.And | F.Or | F.Not
    ):
        raise InvalidInput(
            f'where must be filter text such as "mape < 0.2" (or fleet.parse\'s result), '
            f"got {type(where).__name__}",
            field="where",
        )
    return where


def build(
    fleet: FleetRef, where: Where, versions_scope: str = "latest", *, archived: bool = False
) -> Sql:
    """Compile a filter (text or tree) into FROM and WHERE for this fleet.

    Archived versions are hidden: ``latest`` and alias scopes never reach one (a model's
    latest is its newest version not archived, and no alias points at one), and ``all``
    leaves them out unless the filter names ``status`` or ``archived=True`` (archive,
    restore and delete select among every version).
    """
    node = as_node(where)
    mode, alias, rest = scope_of(node, versions_scope)
    sql = Sql(fleet, mode, alias)
    sql.digest = hashlib.sha256(repr((node, versions_scope)).encode()).hexdigest()[:16]
    if rest is not None:
        sql.where.append(compile_node(sql, rest))
        sql.terms = True
    if mode == "all" and not archived and all(f.parts != ("status",) for f in F.fields_of(rest)):
        sql.where.append(sql.v.c.status != VERSION_ARCHIVED)
    return sql
