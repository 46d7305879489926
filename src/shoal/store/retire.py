"""Archiving, restoring and deleting versions in bulk, with every kept aggregate in step.

What the rest of the store reads stays true after each call, in the same transaction:

- a model's ``latest_version_id`` is its newest version that is not archived (NULL when
  it has none), and only that version's metrics carry ``latest``: search, counts, facets
  and histograms over "each model's latest" never see an archived version;
- ``fleets.model_count`` and ``key_counts`` count models that have a version to show
  (a model whose versions are all archived is hidden, as if it were not there), and
  ``fleets.version_count`` counts versions that are not archived;
- ``models.latest_number`` stays the highest number ever given, so a number is never
  handed out twice, even after its version was deleted.

A model left with no version at all is deleted with its last version. Each function
works on a list of :class:`Target` rows with a fixed number of statements per 5,000.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.errors import Conflict, NotFound
from shoal.store.query import Where, build
from shoal.store.schema import (
    VERSION_ARCHIVED,
    aliases,
    fleets,
    key_counts,
    metrics,
    models,
    version_baselines,
    version_tags,
    versions,
)
from shoal.store.tenancy import FleetRef
from shoal.store.vocabulary import check_names
from shoal.store.writes import add_counts, chunks


@dataclass(frozen=True, slots=True)
class Target:
    """One version an archive, restore or delete selected."""

    version_id: int
    model_id: int
    number: int
    status: str
    sha256: str
    size: int


_TARGET_COLUMNS = ("id", "model_id", "number", "status", "artifact_sha256", "artifact_size")


def select(
    conn: Connection, fleet: FleetRef, *, where: Where = None, ids: Sequence[int] = ()
) -> list[Target]:
    """The versions a filter (over every version, archived ones included) or ids name.

    Ids outside the fleet are NotFound, named; a filter that matches nothing is an empty list.
    """
    found: dict[int, Target] = {}
    if where is not None:
        sql = build(fleet, where, "all", archived=True)
        check_names(conn, sql)
        query = (
            sa.select(*[sql.v.c[name] for name in _TARGET_COLUMNS])
            .select_from(sql.from_clause())
            .where(*sql.where)
        )
        found.update((row[0], Target(*row)) for row in conn.execute(query))
    wanted = list(dict.fromkeys(ids))
    by_id: dict[int, Target] = {}
    for part in chunks(wanted):
        query = sa.select(*[versions.c[name] for name in _TARGET_COLUMNS]).where(
            versions.c.id.in_(part),
            versions.c.fleet_id == fleet.id,
            versions.c.tenant_id == fleet.tenant_id,
        )
        by_id.update((row[0], Target(*row)) for row in conn.execute(query))
    missing = [vid for vid in wanted if vid not in by_id]
    if missing:
        raise NotFound(
            f"version id {missing[0]} is not a version of fleet '{fleet.path}'"
            + (f" ({len(missing)} ids are not)" if len(missing) > 1 else "")
        )
    found.update(by_id)
    return sorted(found.values(), key=lambda t: t.version_id)


def blocking_aliases(
    conn: Connection, fleet: FleetRef, targets: Sequence[Target]
) -> list[tuple[str, int, int]]:
    """(alias, model id, version id) of every alias that points at one of ``targets``."""
    wanted = {t.version_id for t in targets}
    out: list[tuple[str, int, int]] = []
    for part in chunks(sorted({t.model_id for t in targets})):
        rows = conn.execute(
            sa.select(aliases.c.name, aliases.c.model_id, aliases.c.version_id).where(
                aliases.c.model_id.in_(part), aliases.c.fleet_id == fleet.id
            )
        )
        out.extend((r.name, r.model_id, r.version_id) for r in rows if r.version_id in wanted)
    return sorted(out, key=lambda item: (item[2], item[0]))


def set_status(conn: Connection, fleet: FleetRef, targets: Sequence[Target], status: str) -> None:
    """Give ``targets`` a new status, then put each touched model's latest in step."""
    for part in chunks([t.version_id for t in targets]):
        conn.execute(
            versions.update()
            .where(versions.c.id.in_(part), versions.c.fleet_id == fleet.id)
            .values(status=status)
        )
    relatest(conn, fleet, [t.model_id for t in targets])


def delete(conn: Connection, fleet: FleetRef, targets: Sequence[Target]) -> int:
    """Delete ``targets`` and their metrics, tags and baselines; then models left with no
    version. Returns how many models were deleted."""
    ids = [t.version_id for t in targets]
    for part in chunks(ids):
        for table in (metrics, version_tags, version_baselines):
            conn.execute(
                table.delete().where(table.c.version_id.in_(part), table.c.fleet_id == fleet.id)
            )
        conn.execute(
            versions.delete().where(versions.c.id.in_(part), versions.c.fleet_id == fleet.id)
        )
    model_ids = sorted({t.model_id for t in targets})
    relatest(conn, fleet, model_ids)
    empty: list[int] = []
    for part in chunks(model_ids):
        has_versions = sa.exists().where(versions.c.model_id == models.c.id)
        empty += conn.execute(
            sa.select(models.c.id).where(
                models.c.id.in_(part), models.c.fleet_id == fleet.id, ~has_versions
            )
        ).scalars()
    for part in chunks(empty):
        conn.execute(models.delete().where(models.c.id.in_(part), models.c.fleet_id == fleet.id))
    return len(empty)


def relatest(conn: Connection, fleet: FleetRef, model_ids: Sequence[int]) -> None:
    """Point each model at its newest version that is not archived, move the metrics'
    ``latest`` flag with it, and count models that gained or lost their last such version."""
    dims = len(fleet.keys)
    key_columns = [models.c[f"k{i}"] for i in range(dims)]
    shown = 0
    deltas: Counter[tuple[int, str]] = Counter()
    for part in chunks(sorted(set(model_ids))):
        before = {
            row.id: row
            for row in conn.execute(
                sa.select(models.c.id, models.c.latest_version_id, *key_columns).where(
                    models.c.id.in_(part), models.c.fleet_id == fleet.id
                )
            )
        }
        newest = (
            sa.select(versions.c.model_id, sa.func.max(versions.c.number).label("number"))
            .where(versions.c.model_id.in_(part), versions.c.status != VERSION_ARCHIVED)
            .group_by(versions.c.model_id)
            .subquery()
        )
        after: dict[int, int] = {
            row.model_id: row.id
            for row in conn.execute(
                sa.select(versions.c.model_id, versions.c.id).join(
                    newest,
                    sa.and_(
                        versions.c.model_id == newest.c.model_id,
                        versions.c.number == newest.c.number,
                    ),
                )
            )
        }
        moved = [m for m, row in before.items() if row.latest_version_id != after.get(m)]
        if not moved:
            continue
        conn.execute(
            models.update()
            .where(models.c.id == sa.bindparam("b_id"))
            .values(latest_version_id=sa.bindparam("b_version")),
            [{"b_id": m, "b_version": after.get(m)} for m in moved],
        )
        old = [before[m].latest_version_id for m in moved if before[m].latest_version_id]
        new = [after[m] for m in moved if m in after]
        for flagged, value in ((old, False), (new, True)):
            for ids in chunks(flagged):
                conn.execute(
                    metrics.update()
                    .where(metrics.c.version_id.in_(ids), metrics.c.fleet_id == fleet.id)
                    .values(latest=value)
                )
        for m in moved:
            change = (m in after) - (before[m].latest_version_id is not None)
            if change:
                shown += change
                for dim in range(dims):
                    deltas[(dim, before[m][dim + 2])] += change
    if shown:
        conn.execute(
            fleets.update()
            .where(fleets.c.id == fleet.id)
            .values(model_count=fleets.c.model_count + shown)
        )
    changed = [
        {"fleet_id": fleet.id, "dim": dim, "value": value, "n": n}
        for (dim, value), n in deltas.items()
        if n
    ]
    if changed:
        add_counts(conn, key_counts, changed, ["fleet_id", "dim", "value"])
        conn.execute(
            key_counts.delete().where(key_counts.c.fleet_id == fleet.id, key_counts.c.n <= 0)
        )


def add_versions(conn: Connection, fleet: FleetRef, delta: int) -> None:
    """Add ``delta`` (negative to remove) to the fleet's count of versions shown."""
    if delta:
        conn.execute(
            fleets.update()
            .where(fleets.c.id == fleet.id)
            .values(version_count=fleets.c.version_count + delta)
        )


def describe(conn: Connection, fleet: FleetRef, targets: Sequence[Target]) -> list[dict[str, Any]]:
    """Key, number, id and status of each target (a preview: callers pass a few)."""
    if not targets:
        return []
    keys = {
        row.id: {dim: row[i + 1] for i, dim in enumerate(fleet.keys)}
        for row in conn.execute(
            sa.select(models.c.id, *[models.c[f"k{i}"] for i in range(len(fleet.keys))]).where(
                models.c.id.in_(sorted({t.model_id for t in targets})),
                models.c.fleet_id == fleet.id,
            )
        )
    }
    return [
        {"key": keys.get(t.model_id, {}), "version": t.number, "id": t.version_id,
         "status": t.status}
        for t in targets
    ]  # fmt: skip


def refuse_hidden(conn: Connection, fleet: FleetRef, version_ids: Sequence[int]) -> None:
    """An alias may only point at a version that exists and is not archived."""
    wanted = [v for v in dict.fromkeys(version_ids) if v is not None]
    for part in chunks(wanted):
        rows = conn.execute(
            sa.select(versions.c.id, versions.c.number, versions.c.model_id).where(
                versions.c.id.in_(part), versions.c.status == VERSION_ARCHIVED
            )
        ).all()
        if rows:
            row = rows[0]
            [shown] = describe(conn, fleet, [Target(row.id, row.model_id, row.number, "", "", 0)])
            raise Conflict(
                f"version {row.number} of model {shown['key']} in fleet '{fleet.path}' is "
                "archived, and an alias cannot point at an archived version: restore it first "
                f"(shoal version restore {fleet.path} --id {row.id} --apply) or choose another "
                "version"
            )


def live(conn: Connection, fleet: FleetRef, version_ids: Sequence[int]) -> set[int]:
    """The ids among ``version_ids`` of versions of ``fleet`` that exist and are not archived."""
    found: set[int] = set()
    for part in chunks(list(dict.fromkeys(version_ids))):
        found.update(
            conn.execute(
                sa.select(versions.c.id).where(
                    versions.c.id.in_(part),
                    versions.c.fleet_id == fleet.id,
                    versions.c.status != VERSION_ARCHIVED,
                )
            ).scalars()
        )
    return found


def version_counts(
    conn: Connection, fleet: FleetRef, model_ids: Sequence[int]
) -> dict[int, tuple[int, int]]:
    """Per model: how many of its versions are not archived, and how many it has."""
    shown = sa.func.sum(sa.case((versions.c.status != VERSION_ARCHIVED, 1), else_=0))
    out: dict[int, tuple[int, int]] = {}
    for part in chunks(list(model_ids)):
        rows = conn.execute(
            sa.select(versions.c.model_id, shown, sa.func.count())
            .where(versions.c.model_id.in_(part), versions.c.fleet_id == fleet.id)
            .group_by(versions.c.model_id)
        )
        out.update((row[0], (int(row[1] or 0), int(row[2]))) for row in rows)
    return out
