"""Reads a prediction server makes: many keys' versions in one query, and alias generations.

Why a generation: a server caches which version each key resolves to, and must notice an
alias move within a second or two without asking about every key on every request. Every
alias write (set, promote, undo) appends a row to ``alias_moves``, so the fleet's largest
move id changes exactly when some alias of the fleet may have moved: one index lookup
(``ix_alias_moves_fleet``) per fleet tells a server whether its cached resolutions still
hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.store.schema import VERSION_ARCHIVED, alias_moves, aliases, blobs, models, versions
from shoal.store.tenancy import FleetRef
from shoal.store.writes import chunks


def alias_generation(conn: Connection, fleet: FleetRef) -> int:
    """The fleet's latest alias move id (0 before any): changes when any alias moves."""
    found = conn.execute(
        sa.select(sa.func.max(alias_moves.c.id)).where(alias_moves.c.fleet_id == fleet.id)
    ).scalar()
    return int(found or 0)


def versions_for_keys(
    conn: Connection,
    fleet: FleetRef,
    keys: Sequence[tuple[str, ...]],
    *,
    alias: str | None = None,
    numbers: Sequence[int] | None = None,
) -> dict[tuple[str, ...], dict[str, Any]]:
    """Each key's version at ``alias`` (or numbered ``numbers[i]``), with its blob location.

    One query per thousand keys; keys with no model, or no such version, are left out, and
    so are archived versions: a server never answers with one.
    """
    if not keys:
        return {}
    n = len(fleet.keys)
    key_columns = [models.c[f"k{i}"] for i in range(n)]
    out: dict[tuple[str, ...], dict[str, Any]] = {}
    wanted = dict(zip(keys, numbers, strict=True)) if numbers is not None else None
    for part in chunks(list(dict.fromkeys(keys))):
        match = sa.tuple_(*key_columns).in_(part) if n > 1 else key_columns[0].in_(
            [k[0] for k in part]
        )  # fmt: skip
        if alias is not None:
            joined = models.join(aliases, sa.and_(aliases.c.model_id == models.c.id,
                                                  aliases.c.name == alias)).join(
                versions, versions.c.id == aliases.c.version_id)  # fmt: skip
        else:
            joined = models.join(versions, versions.c.model_id == models.c.id)
        query = (
            sa.select(
                *key_columns, versions.c.id, versions.c.number, versions.c.model_id,
                versions.c.flavor, versions.c.artifact_sha256, versions.c.artifact_size,
                versions.c.signature, blobs.c.pack, blobs.c.offset,
            )
            .select_from(joined.join(blobs, blobs.c.sha256 == versions.c.artifact_sha256,
                                     isouter=True))
            .where(models.c.fleet_id == fleet.id, models.c.tenant_id == fleet.tenant_id, match,
                   versions.c.status != VERSION_ARCHIVED)
        )  # fmt: skip
        if wanted is not None:
            query = query.where(versions.c.number.in_(sorted(set(wanted.values()))))
        for row in conn.execute(query):
            key = tuple(row[:n])
            if wanted is not None and wanted.get(key) != row.number:
                continue
            out[key] = {
                "version_id": row.id, "number": row.number, "model_id": row.model_id,
                "flavor": row.flavor, "artifact_sha256": row.artifact_sha256,
                "artifact_size": row.artifact_size, "signature": row.signature,
                "pack": row.pack, "offset": row.offset,
            }  # fmt: skip
    return out
