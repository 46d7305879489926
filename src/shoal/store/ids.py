"""Blocks of 64-bit ids, allocated in one round trip for a whole bulk write.

Bulk inserts know their rows' ids up front, so child rows (metrics, tags, alias
moves) can reference them without a RETURNING per row. SQLite allocates from
``max(id) + 1`` under the write lock that ``BEGIN IMMEDIATE`` already holds;
PostgreSQL draws from the table's own sequence, which never hands an id out twice.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def allocate(conn: Connection, table: sa.Table, count: int) -> list[int]:
    """Reserve ``count`` new ids for ``table`` and return them in ascending order."""
    if count <= 0:
        return []
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            sa.text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": table.name, "n": count},
        )
        return sorted(row[0] for row in rows)
    start = conn.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))).scalar_one()
    return list(range(start + 1, start + 1 + count))
