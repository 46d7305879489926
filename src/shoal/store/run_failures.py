"""Per-key failures of a run, and the keys a run has already trained.

A training run over a million keys keeps going when some keys fail; what it needs later is
"which keys failed, why, after how many attempts" (to read) and "which keys are not done
yet" (to resume). Both are reads of one run by its primary key or the ``ix_versions_run``
index, never a scan of the fleet.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.store.bulk import insert_rows
from shoal.store.schema import models, run_failures, versions
from shoal.store.writes import chunks


@dataclass(frozen=True)
class Failure:
    """One key a run could not train: its last error and traceback, and the attempts made."""

    key_text: str
    error: str
    traceback: str
    attempts: int


def record(conn: Connection, run_id: int, failures: Sequence[Failure]) -> None:
    """Store failures, replacing any earlier row for the same key of the run."""
    if not failures:
        return
    forget(conn, run_id, [f.key_text for f in failures])
    now = time.time()
    insert_rows(
        conn, run_failures, ("run_id", "key_text", "error", "traceback", "attempts", "at"),
        [(run_id, f.key_text, f.error, f.traceback, f.attempts, now) for f in failures],
    )  # fmt: skip


def forget(conn: Connection, run_id: int, key_texts: Sequence[str] | None = None) -> None:
    """Drop the run's failure rows for these keys (all of them with ``None``)."""
    query = run_failures.delete().where(run_failures.c.run_id == run_id)
    if key_texts is None:
        conn.execute(query)
        return
    for part in chunks(list(key_texts)):
        conn.execute(query.where(run_failures.c.key_text.in_(part)))


def listing(conn: Connection, run_id: int, limit: int = 100) -> list[Failure]:
    """The run's failures in key order, at most ``limit``."""
    rows = conn.execute(
        sa.select(run_failures)
        .where(run_failures.c.run_id == run_id)
        .order_by(run_failures.c.key_text)
        .limit(limit)
    )
    return [Failure(r.key_text, r.error, r.traceback, r.attempts) for r in rows]


def count(conn: Connection, run_id: int) -> int:
    query = sa.select(sa.func.count()).select_from(run_failures)
    return int(conn.execute(query.where(run_failures.c.run_id == run_id)).scalar_one())


def failed_keys(conn: Connection, run_id: int) -> set[str]:
    query = sa.select(run_failures.c.key_text).where(run_failures.c.run_id == run_id)
    return set(conn.execute(query).scalars())


def trained_keys(conn: Connection, run_id: int) -> set[str]:
    """``key_text`` of every model that has a version from this run (``ix_versions_run``)."""
    query = (
        sa.select(models.c.key_text)
        .join(versions, versions.c.model_id == models.c.id)
        .where(versions.c.run_id == run_id)
    )
    return set(conn.execute(query).scalars())
