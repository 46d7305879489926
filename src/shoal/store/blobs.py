"""Which artifact bytes the metadata still needs: the queries behind gc, verify and delete.

Artifacts are shared by content across every fleet and tenant (``blobs`` has no tenant),
so these reads are store-wide: callers must hold the operator :class:`Scope`, except
:func:`unused` and :func:`drop_rows`, which a version delete calls for the hashes of the
versions it removed.

Removing bytes races with registering them: a registration looks up the blobs it can
reuse in one transaction, uploads, and references them in a later one. The protocol that
makes this safe, on both engines:

- a remover (gc, version delete) holds the *artifact lock* exclusively for the
  transaction that re-checks references, deletes ``blobs`` rows and deletes the files;
- a registration takes the same lock shared in its write transaction and, under it,
  checks that every blob it reuses still has its row (:func:`missing_rows`) and every
  single object it did not upload still exists, or fails with Conflict, writing nothing.

SQLite's ``BEGIN IMMEDIATE`` already serialises every writer, so the lock is PostgreSQL's
transaction-level advisory lock (shared for registrations, which never wait on each other).

``versions.artifact_sha256`` has no index (a hot table, written 100,000 rows a call), so
every query here starts from the versions table and reaches ``blobs`` by primary key, or
scans ``versions`` once per statement; none loops over rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.errors import InvalidInput
from shoal.store.schema import blobs, fleets, models, tenants, versions
from shoal.store.tenancy import Scope
from shoal.store.writes import chunks

ARTIFACT_LOCK = 0x73686F616C6763
"""PostgreSQL advisory lock key of the artifact store ("shoalgc")."""


def require_operator(scope: Scope, what: str) -> None:
    """Refuse a tenant-scoped caller: the artifact store is shared by every tenant."""
    if not scope.is_operator:
        raise InvalidInput(
            f"{what} works on the whole artifact store, which every tenant shares: run it "
            f"as the operator (a client without tenant=), not as tenant {scope.tenant!r}",
            field="tenant",
        )


def lock_artifacts(conn: Connection, *, exclusive: bool) -> None:
    """Take the artifact lock for this transaction (see the module's protocol)."""
    if conn.dialect.name == "postgresql":
        function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        conn.execute(sa.text(f"SELECT {function}(:key)"), {"key": ARTIFACT_LOCK})


def missing_rows(conn: Connection, shas: Iterable[str]) -> set[str]:
    """The hashes in ``shas`` that have no ``blobs`` row (any more)."""
    wanted = list(dict.fromkeys(shas))
    found: set[str] = set()
    for part in chunks(wanted):
        found.update(
            conn.execute(sa.select(blobs.c.sha256).where(blobs.c.sha256.in_(part))).scalars()
        )
    return set(wanted) - found


def used(conn: Connection, shas: Iterable[str]) -> set[str]:
    """The hashes in ``shas`` that some version of any tenant still references."""
    found: set[str] = set()
    for part in chunks(list(dict.fromkeys(shas))):
        found.update(
            conn.execute(
                sa.select(versions.c.artifact_sha256)
                .where(versions.c.artifact_sha256.in_(part))
                .distinct()
            ).scalars()
        )
    return found


def reference_counts(conn: Connection, shas: Iterable[str]) -> dict[str, int]:
    """How many versions of any tenant reference each of ``shas`` (absent: none)."""
    found: dict[str, int] = {}
    column = versions.c.artifact_sha256
    for part in chunks(list(dict.fromkeys(shas))):
        rows = conn.execute(
            sa.select(column, sa.func.count()).where(column.in_(part)).group_by(column)
        )
        found.update((row[0], int(row[1])) for row in rows)
    return found


def unused(conn: Connection, shas: Iterable[str]) -> set[str]:
    """The hashes in ``shas`` that no version references any more."""
    wanted = set(shas)
    return wanted - used(conn, wanted)


def rows_for(conn: Connection, *, shas: Sequence[str] = (), packs: Sequence[str] = ()) -> list[Any]:
    """The ``blobs`` rows of these hashes, and every row that points into these packs."""
    rows: dict[str, Any] = {}
    for part in chunks(list(shas)):
        rows.update(
            (r.sha256, r) for r in conn.execute(sa.select(blobs).where(blobs.c.sha256.in_(part)))
        )
    for part in chunks(list(packs)):
        rows.update(
            (r.sha256, r) for r in conn.execute(sa.select(blobs).where(blobs.c.pack.in_(part)))
        )
    return list(rows.values())


def drop_rows(conn: Connection, shas: Iterable[str]) -> None:
    """Delete the ``blobs`` rows of these hashes (the caller has checked nothing uses them)."""
    for part in chunks(list(shas)):
        conn.execute(blobs.delete().where(blobs.c.sha256.in_(part)))


def referenced_packs(conn: Connection, scope: Scope) -> set[str]:
    """Every pack that holds at least one blob some version references: one versions scan."""
    require_operator(scope, "gc")
    query = (
        sa.select(blobs.c.pack)
        .select_from(versions.join(blobs, blobs.c.sha256 == versions.c.artifact_sha256))
        .where(blobs.c.pack.is_not(None))
        .distinct()
    )
    return {str(pack) for pack in conn.execute(query).scalars()}


def orphan_rows(
    conn: Connection, scope: Scope, created_before: float
) -> list[tuple[str, str | None]]:
    """(sha256, pack) of ``blobs`` rows no version references, recorded before a time."""
    require_operator(scope, "gc")
    query = sa.select(blobs.c.sha256, blobs.c.pack).where(
        blobs.c.created_at < created_before, _unreferenced(conn, blobs.c.sha256)
    )
    return [(row.sha256, row.pack) for row in conn.execute(query)]


def _unreferenced(conn: Connection, sha: Any) -> Any:
    """``sha`` is no version's artifact, as each engine plans it well: SQLite builds the
    subquery's set once for NOT IN; PostgreSQL turns NOT EXISTS into a hash anti-join
    (its NOT IN over a subquery too large for work_mem rescans it for every row)."""
    if conn.dialect.name == "postgresql":
        return ~sa.exists().where(versions.c.artifact_sha256 == sha)
    return sha.not_in(sa.select(versions.c.artifact_sha256))


def stored_totals(conn: Connection, scope: Scope) -> tuple[int, int]:
    """How many blobs the store records, and their bytes (for a progress bar's total)."""
    require_operator(scope, "verify")
    row = conn.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(blobs.c.size), 0))
    ).one()
    return int(row[0]), int(row[1])


def stored_by_pack(conn: Connection, scope: Scope, batch: int = 10_000) -> Iterator[list[Any]]:
    """Every ``blobs`` row, streamed in pack and offset order, a list per pack (or per
    single object), so a verifier reads each pack once, front to back."""
    require_operator(scope, "verify")
    query = sa.select(blobs.c.sha256, blobs.c.size, blobs.c.pack, blobs.c.offset).order_by(
        blobs.c.pack, blobs.c.offset, blobs.c.sha256
    )
    group: list[Any] = []
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(query)
    for row in result:
        if group and (row.pack is None or row.pack != group[-1].pack):
            yield group
            group = []
        group.append(row)
    if group:
        yield group


def unrecorded(conn: Connection, scope: Scope) -> list[str]:
    """Hashes some version references that have no ``blobs`` row (found by pack index)."""
    require_operator(scope, "verify")
    query = (
        sa.select(versions.c.artifact_sha256)
        .where(~sa.exists().where(blobs.c.sha256 == versions.c.artifact_sha256))
        .distinct()
    )
    return list(conn.execute(query).scalars())


def users(
    conn: Connection, scope: Scope, shas: Sequence[str], limit: int = 20
) -> dict[str, list[dict[str, Any]]]:
    """Up to ``limit`` versions per hash that reference it: fleet path, key, number, id."""
    require_operator(scope, "verify")
    out: dict[str, list[dict[str, Any]]] = {sha: [] for sha in shas}
    key_columns = [models.c[f"k{i}"] for i in range(6)]
    for part in chunks(list(shas)):
        query = (
            sa.select(
                versions.c.artifact_sha256, versions.c.id, versions.c.number, versions.c.status,
                tenants.c.name.label("tenant"), fleets.c.name.label("fleet"), fleets.c.dims,
                *key_columns,
            )
            .select_from(
                versions.join(models, models.c.id == versions.c.model_id)
                .join(fleets, fleets.c.id == versions.c.fleet_id)
                .join(tenants, tenants.c.id == fleets.c.tenant_id)
            )
            .where(versions.c.artifact_sha256.in_(part))
            .order_by(versions.c.id)
        )  # fmt: skip
        for row in conn.execute(query):
            found = out[row.artifact_sha256]
            if len(found) < limit:
                dims = list(row.dims)
                found.append({
                    "fleet": f"{row.tenant}/{row.fleet}", "version_id": row.id,
                    "version": row.number, "status": row.status,
                    "key": {dim: row._mapping[f"k{i}"] for i, dim in enumerate(dims)},
                })  # fmt: skip
    return out
