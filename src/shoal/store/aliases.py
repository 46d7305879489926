"""Aliases: movable names on models, moved in bulk, recorded, and undoable in one call.

Every bulk move is one ``alias_moves`` row plus one ``alias_move_items`` row per model
that changed (old and new version), written in the same transaction as the move. An
undo is itself a move, applied with compare-and-set: a model whose alias moved again
since is left alone and reported, never silently reverted over someone else's change.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.errors import Conflict, NotFound
from shoal.store import ids
from shoal.store.engine import lock_fleet
from shoal.store.retire import live
from shoal.store.schema import alias_counts, alias_move_items, alias_moves, aliases
from shoal.store.tenancy import FleetRef
from shoal.store.writes import add_counts, chunks


@dataclass(frozen=True)
class MoveResult:
    """What a bulk alias move did: its id (for undo), and how many models changed."""

    move_id: int | None
    alias: str
    moved: int
    unchanged: int
    skipped: int = 0


def current(
    conn: Connection, fleet: FleetRef, name: str, model_ids: Sequence[int]
) -> dict[int, int]:
    """Where ``name`` points now, for each of ``model_ids`` that has it."""
    found: dict[int, int] = {}
    for part in chunks(list(model_ids)):
        rows = conn.execute(
            sa.select(aliases.c.model_id, aliases.c.version_id).where(
                aliases.c.fleet_id == fleet.id, aliases.c.name == name,
                aliases.c.model_id.in_(part),
            )
        )  # fmt: skip
        found.update({row.model_id: row.version_id for row in rows})
    return found


def move(
    conn: Connection,
    fleet: FleetRef,
    name: str,
    targets: Sequence[tuple[int, int | None]],
    *,
    actor: str,
    where_text: str | None = None,
    source: str | None = None,
    expected: dict[int, int | None] | None = None,
    undo_of: int | None = None,
    dry_run: bool = False,
) -> tuple[MoveResult, list[tuple[int, int | None, int | None]]]:
    """Point ``name`` at ``version`` for each (model, version); ``None`` removes it.

    ``expected`` makes the move compare-and-set: if any model's alias is not where
    the caller last saw it, nothing moves and Conflict says how many differ. Returns
    the result and the (model, old, new) changes it made (or would make, dry run).
    """
    lock_fleet(conn, fleet.id)
    wanted = dict(targets)
    now_at = current(conn, fleet, name, list(wanted))
    if expected is not None:
        stale = [m for m, old in expected.items() if now_at.get(m) != old]
        if stale:
            raise Conflict(
                f"alias {name!r} moved on {len(stale)} model(s) since you read it "
                f"(e.g. model id {stale[0]}): read again and retry"
            )
    changes = [(m, now_at.get(m), v) for m, v in wanted.items() if now_at.get(m) != v]
    if dry_run or not changes:
        result = MoveResult(None, name, len(changes), len(wanted) - len(changes))
        return result, changes
    at = time.time()
    inserts = [c for c in changes if c[1] is None and c[2] is not None]
    updates = [c for c in changes if c[1] is not None and c[2] is not None]
    deletes = [c for c in changes if c[2] is None]
    if inserts:
        conn.execute(
            aliases.insert(),
            [
                {"model_id": m, "name": name, "fleet_id": fleet.id, "version_id": v,
                 "updated_at": at}
                for m, _, v in inserts
            ],
        )  # fmt: skip
    if updates:
        conn.execute(
            aliases.update()
            .where(aliases.c.model_id == sa.bindparam("b_model"), aliases.c.name == name)
            .values(version_id=sa.bindparam("b_version"), updated_at=at),
            [{"b_model": m, "b_version": v} for m, _, v in updates],
        )
    for part in chunks([m for m, _, _ in deletes]):
        conn.execute(aliases.delete().where(aliases.c.name == name, aliases.c.model_id.in_(part)))
    if inserts or deletes:
        add_counts(
            conn,
            alias_counts,
            [{"fleet_id": fleet.id, "name": name, "n": len(inserts) - len(deletes)}],
            ["fleet_id", "name"],
        )
    (move_id,) = ids.allocate(conn, alias_moves, 1)
    conn.execute(
        alias_moves.insert().values(
            id=move_id, tenant_id=fleet.tenant_id, fleet_id=fleet.id, alias=name,
            where_text=where_text, source=source, moved=len(changes), undo_of=undo_of,
            actor=actor, at=at,
        )
    )  # fmt: skip
    conn.execute(
        alias_move_items.insert(),
        [
            {"move_id": move_id, "model_id": m, "old_version_id": old, "new_version_id": new}
            for m, old, new in changes
        ],
    )
    return MoveResult(move_id, name, len(changes), len(wanted) - len(changes)), changes


def undo(conn: Connection, fleet: FleetRef, move_id: int, *, actor: str) -> MoveResult:
    """Put back what move ``move_id`` changed, where nobody has moved it since and the
    version it pointed at before is still there and not archived."""
    lock_fleet(conn, fleet.id)
    row = conn.execute(
        sa.select(alias_moves).where(
            alias_moves.c.id == move_id, alias_moves.c.fleet_id == fleet.id,
            alias_moves.c.tenant_id == fleet.tenant_id,
        )
    ).first()  # fmt: skip
    if row is None:
        raise NotFound(f"alias move {move_id} not found in fleet '{fleet.path}'")
    if row.undone_by is not None:
        raise Conflict(f"alias move {move_id} was already undone by move {row.undone_by}")
    items = conn.execute(
        sa.select(alias_move_items).where(alias_move_items.c.move_id == move_id)
    ).all()
    now_at = current(conn, fleet, row.alias, [item.model_id for item in items])
    revert = [
        (item.model_id, item.old_version_id)
        for item in items
        if now_at.get(item.model_id) == item.new_version_id
    ]
    # A version archived or deleted since cannot take its alias back: left alone, counted.
    shown = live(conn, fleet, [old for _, old in revert if old is not None])
    revert = [(model, old) for model, old in revert if old is None or old in shown]
    result, _ = move(
        conn, fleet, row.alias, revert, actor=actor, where_text=f"undo of move {move_id}",
        undo_of=move_id,
    )  # fmt: skip
    if result.move_id is not None:
        conn.execute(
            alias_moves.update().where(alias_moves.c.id == move_id).values(undone_by=result.move_id)
        )
    return MoveResult(result.move_id, row.alias, result.moved, 0, len(items) - len(revert))


def alias_count(conn: Connection, fleet: FleetRef, name: str) -> int:
    n = conn.execute(
        sa.select(alias_counts.c.n).where(
            alias_counts.c.fleet_id == fleet.id, alias_counts.c.name == name
        )
    ).scalar()
    return int(n or 0)


def coverage(conn: Connection, fleet: FleetRef) -> dict[str, int]:
    """Models per alias name, from the kept counters."""
    rows = conn.execute(
        sa.select(alias_counts.c.name, alias_counts.c.n)
        .where(alias_counts.c.fleet_id == fleet.id, alias_counts.c.n > 0)
        .order_by(alias_counts.c.name)
    )
    return {row.name: int(row.n) for row in rows}


def list_moves(
    conn: Connection, fleet: FleetRef, limit: int = 50, before: int | None = None
) -> list[dict[str, Any]]:
    """The fleet's alias moves newest first, ``limit`` of those with an id below ``before``
    (a keyset page on ``ix_alias_moves_fleet``)."""
    query = sa.select(alias_moves).where(
        alias_moves.c.fleet_id == fleet.id, alias_moves.c.tenant_id == fleet.tenant_id
    )
    if before is not None:
        query = query.where(alias_moves.c.id < before)
    rows = conn.execute(query.order_by(alias_moves.c.id.desc()).limit(limit))
    return [dict(row._mapping) for row in rows]
