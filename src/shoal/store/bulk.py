"""Fast bulk INSERTs: one statement text, ``executemany`` over plain tuples (COPY on PostgreSQL).

SQLAlchemy Core's ``execute(insert, [dicts])`` spends more time building bound
parameters than SQLite spends inserting (about 25 us against 4 us a row here).
For the few hot tables of a bulk registration Shoal renders the INSERT once per
dialect and hands the driver tuples it built itself; JSON columns are serialised
with the standard library. Everything else in the store stays on Core.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    import psycopg


def dumps(value: Any) -> str | None:
    """JSON text for a JSON column (None stays NULL); NaN and infinity are refused."""
    return None if value is None else json.dumps(value, separators=(",", ":"), allow_nan=False)


def insert_rows(
    conn: Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    ignore_conflicts: bool = False,
) -> None:
    """INSERT ``rows`` (tuples in ``columns`` order) into ``table`` with one executemany.

    JSON columns take text from :func:`dumps`; PostgreSQL casts it to JSONB.
    """
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        _copy_rows(conn, table, columns, rows, ignore_conflicts=ignore_conflicts)
        return
    preparer = conn.dialect.identifier_preparer
    names = ", ".join(preparer.quote(name) for name in columns)
    qmark = conn.dialect.paramstyle == "qmark"
    markers = []
    for name in columns:
        if qmark:
            markers.append("?")
        elif isinstance(table.c[name].type, sa.JSON):
            markers.append("CAST(%s AS JSONB)")
        else:
            markers.append("%s")
    values = ", ".join(markers)
    sql = f"INSERT INTO {preparer.format_table(table)} ({names}) VALUES ({values})"
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    conn.exec_driver_sql(sql, list(rows))


def _copy_rows(
    conn: Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    ignore_conflicts: bool,
) -> None:
    """PostgreSQL's COPY, in the caller's transaction: several times faster than INSERTs.

    COPY cannot skip conflicting rows, so with ``ignore_conflicts`` the rows go into a
    temporary table first and reach ``table`` through one INSERT ... ON CONFLICT DO NOTHING.
    """
    preparer = conn.dialect.identifier_preparer
    names = ", ".join(preparer.quote(name) for name in columns)
    target = preparer.format_table(table)
    # Only called on PostgreSQL, whose driver Shoal ships with is psycopg 3.
    dbapi = cast("psycopg.Connection[Any]", conn.connection.dbapi_connection)
    with dbapi.cursor() as cursor:
        into = target
        if ignore_conflicts:
            into = f"_shoal_in_{table.name}"
            cursor.execute(f"CREATE TEMP TABLE {into} (LIKE {target}) ON COMMIT DROP")
        with cursor.copy(f"COPY {into} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        if ignore_conflicts:
            cursor.execute(
                f"INSERT INTO {target} ({names}) SELECT {names} FROM {into} ON CONFLICT DO NOTHING"
            )
            cursor.execute(f"DROP TABLE {into}")
