"""Export: a fleet's per-model table, whole, in chunks keyed on the model id.

One row per model: the version the filter's scope resolves it to (its latest, or the one
a top-level ``alias = 'x'`` term names, as in ``search``), with its key values, number,
id, status, flavor, creation time, run and dataset, the version number each of the fleet's
aliases points at on that model (``alias.NAME``) and the version's metrics
(``metric.NAME``). Chunks follow the keyset of an unsorted search (the model id, or the
alias index's model id), never OFFSET, so the millionth row costs what the first does.

A chunk is three statements whatever its size: the models and their versions, then the
metrics of those versions and the aliases of those models by primary key, each given its
ids as one bound array (see :func:`_among`). Columns come back as lists, one per column,
ready for Arrow.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from shoal.errors import InvalidInput
from shoal.store.aliases import coverage
from shoal.store.paging import sort_order
from shoal.store.query import Where, build
from shoal.store.schema import aliases, metrics, versions
from shoal.store.tenancy import FleetRef
from shoal.store.vocabulary import check_names, names

CHUNK = 20_000
"""Models a chunk by default: a few MB of rows, a handful of queries."""
MAX_CHUNK = 100_000
MAX_METRICS = 10_000
"""The most metric columns an export carries (a fleet's distinct metric names)."""

FIXED = ("version", "version_id", "status", "flavor", "created_at", "run_id", "dataset_id")
"""The columns of every export after the key dimensions, in order."""
ALIAS_PREFIX = "alias."
METRIC_PREFIX = "metric."

Columns = dict[str, list[Any]]


@dataclass(frozen=True)
class Layout:
    """The columns of one export, fixed before its first row is read."""

    keys: tuple[str, ...]
    """The key columns: each dimension's name, or ``key.NAME`` where a name is also a
    fixed column's (a dimension named ``run_id``)."""
    aliases: tuple[str, ...]
    """Alias names the fleet's models carry (``alias.NAME`` columns), sorted."""
    metrics: tuple[str, ...]
    """Metric names the fleet's versions carry (``metric.NAME`` columns), sorted."""

    @property
    def columns(self) -> list[str]:
        return [
            *self.keys, *FIXED, *[ALIAS_PREFIX + a for a in self.aliases],
            *[METRIC_PREFIX + m for m in self.metrics],
        ]  # fmt: skip


@dataclass(frozen=True)
class Chunk:
    """Some rows of an export, as one list per column of ``layout.columns``."""

    layout: Layout
    columns: dict[str, list[Any]]
    rows: int


def layout(conn: Connection, fleet: FleetRef) -> Layout:
    """The fleet's export columns: its keys, the aliases and the metrics it has."""
    keys = tuple(f"key.{k}" if k in FIXED else k for k in fleet.keys)
    metric_names = tuple(names(conn, fleet.id, "metric", limit=MAX_METRICS))
    return Layout(keys, tuple(sorted(coverage(conn, fleet))), metric_names)


def export_chunks(
    conn: Connection, fleet: FleetRef, *, where: Where = None, chunk: int = CHUNK
) -> Iterator[Chunk]:
    """Every model ``where`` selects, ``chunk`` at a time in model order.

    The first chunk always comes (empty when nothing matches), so a caller learns the
    columns, and a bad filter fails, before it writes anything.
    """
    if isinstance(chunk, bool) or not isinstance(chunk, int) or not 1 <= chunk <= MAX_CHUNK:
        raise InvalidInput(f"chunk must be an int from 1 to {MAX_CHUNK:,}, got {chunk!r}",
                           field="chunk")  # fmt: skip
    sql = build(fleet, where, "latest")
    keyset = sort_order(sql, None).column  # the model id an unsorted search pages on
    check_names(conn, sql)
    shape = layout(conn, fleet)
    columns = [
        keyset, *[sql.mo.c[f"k{i}"] for i in range(len(fleet.keys))], sql.v.c.number,
        sql.v.c.id, sql.v.c.status, sql.v.c.flavor, sql.v.c.created_at, sql.v.c.run_id,
        sql.v.c.dataset_id,
    ]  # fmt: skip
    query = sa.select(*columns).select_from(sql.from_clause()).order_by(keyset).limit(chunk)
    after: int | None = None
    while True:
        span = sql.where if after is None else [*sql.where, keyset > after]
        rows = conn.execute(query.where(*span)).all()
        if not rows and after is not None:
            return
        yield _chunk(conn, shape, rows)
        if len(rows) < chunk:
            return
        after = rows[-1][0]


def _chunk(conn: Connection, shape: Layout, rows: Sequence[Any]) -> Chunk:
    """Rows of (model id, keys..., FIXED...) as columns, with their aliases and metrics."""
    if not rows:
        return Chunk(shape, {name: [] for name in shape.columns}, 0)
    transposed = list(zip(*rows, strict=True))
    names = [*shape.keys, *FIXED]
    data = {name: list(values) for name, values in zip(names, transposed[1:], strict=True)}
    data.update(_aliases(conn, shape.aliases, transposed[0]))
    data.update(_metrics(conn, shape.metrics, data["version_id"]))
    return Chunk(shape, data, len(rows))


def _aliases(conn: Connection, wanted: tuple[str, ...], model_ids: Sequence[int]) -> Columns:
    """``alias.NAME``: the number of the version NAME points at, per model (None: none).

    The ids come from a query scoped to the fleet; the lookups go by primary key."""
    out: Columns = {name: [None] * len(model_ids) for name in wanted}
    if out:
        at = {model_id: i for i, model_id in enumerate(model_ids)}
        query = (
            sa.select(aliases.c.model_id, aliases.c.name, versions.c.number)
            .join(versions, versions.c.id == aliases.c.version_id)
            .where(_among(conn, aliases.c.model_id, model_ids))
        )
        for model_id, name, number in conn.execute(query):
            column = out.get(name)
            if column is not None:  # else an alias started since the layout was read
                column[at[model_id]] = number
    return {ALIAS_PREFIX + name: values for name, values in out.items()}


def _metrics(conn: Connection, wanted: tuple[str, ...], version_ids: Sequence[int]) -> Columns:
    """``metric.NAME``: each version's value of metric NAME (None: it has none)."""
    out: Columns = {name: [None] * len(version_ids) for name in wanted}
    if out:
        at = {version_id: i for i, version_id in enumerate(version_ids)}
        query = sa.select(metrics.c.version_id, metrics.c.name, metrics.c.value).where(
            _among(conn, metrics.c.version_id, version_ids)
        )
        for version_id, name, value in conn.execute(query):
            column = out.get(name)
            if column is not None:
                column[at[version_id]] = value
    return {METRIC_PREFIX + name: values for name, values in out.items()}


def _among(conn: Connection, column: Any, ids: Sequence[int]) -> Any:
    """``column IN ids`` as one bound value, however many ids: a PostgreSQL array, a JSON
    array on SQLite (``json_each``). A list of binds would be compiled anew per call and
    meet SQLite's limit on variables; this is a primary-key lookup per id on both."""
    if conn.dialect.name == "postgresql":
        array = sa.bindparam("ids", list(ids), type_=postgresql.ARRAY(sa.BigInteger()))
        return column == sa.any_(array)
    values = sa.func.json_each(sa.bindparam("ids", json.dumps(list(ids)))).table_valued("value")
    return column.in_(sa.select(values.c.value))
