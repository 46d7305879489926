"""The bulk write path for models, versions, metrics, tags and blobs.

One call registers any number of versions inside the caller's write transaction
with a fixed number of statements, whatever the count: look up the models in
chunks (skipped for a fleet that is still empty), allocate ids in one round trip,
then ``executemany`` each table once. Aggregates that reads rely on (the fleet's
counts, ``key_counts``, the ``latest`` metric flag) change in the same transaction,
so they are never out of step with the rows.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from shoal.errors import Conflict, InvalidInput
from shoal.store import ids
from shoal.store.bulk import dumps, insert_rows
from shoal.store.engine import lock_fleet
from shoal.store.schema import (
    blobs,
    fleets,
    key_counts,
    metrics,
    models,
    version_baselines,
    version_tags,
    versions,
)
from shoal.store.tenancy import FleetRef

VERSION_COLUMNS = (
    "id", "tenant_id", "fleet_id", "model_id", "number", "status", "flavor",
    "artifact_sha256", "artifact_size", "signature", "params", "run_id", "dataset_id",
    "slice_fingerprint", "code_ref", "parent_version_id", "created_by", "created_at",
)  # fmt: skip

CHUNK = 5000
"""Rows per ``IN (...)`` lookup: well under SQLite's 32,766 bound variables."""


@dataclass
class NewVersion:
    """One version to insert; the registry has validated every field already."""

    key: tuple[str, ...]
    flavor: str
    sha256: str
    size: int
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    signature: dict[str, Any] | None = None
    run_id: int | None = None
    dataset_id: int | None = None
    slice_fingerprint: str | None = None
    code_ref: str | None = None
    parent_version_id: int | None = None
    number: int | None = None
    status: str = "ready"
    baseline: dict[str, Any] | None = None


@dataclass(frozen=True)
class Inserted:
    """Where one registered version landed."""

    version_id: int
    model_id: int
    number: int
    key: tuple[str, ...] = ()


KEY_SEPARATOR = "\x1f"
"""Joins key values into ``models.key_text``; key values may not contain control characters."""


def key_text(key: tuple[str, ...]) -> str:
    """The canonical text of a key, unique per model within its fleet."""
    return KEY_SEPARATOR.join(key)


def split_key_text(text: str) -> list[str]:
    return text.split(KEY_SEPARATOR)


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def find_models(
    conn: Connection, fleet: FleetRef, keys: Sequence[tuple[str, ...]]
) -> dict[tuple[str, ...], Any]:
    """Existing models of ``fleet`` by key: id, latest number, latest version id."""
    found: dict[tuple[str, ...], Any] = {}
    texts = {key_text(key): key for key in keys}
    for part in chunks(list(texts)):
        rows = conn.execute(
            sa.select(
                models.c.id, models.c.key_text, models.c.latest_number,
                models.c.latest_version_id,
            ).where(
                models.c.fleet_id == fleet.id,
                models.c.tenant_id == fleet.tenant_id,
                models.c.key_text.in_(part),
            )
        )  # fmt: skip
        for row in rows:
            found[texts[row.key_text]] = row
    return found


def insert_blobs(conn: Connection, refs: Iterable[Any]) -> None:
    """Record where new artifact bytes live; a blob already known is left as it was."""
    now = time.time()
    rows = {ref.sha256: (ref.sha256, ref.size, ref.pack, ref.offset, now) for ref in refs}
    insert_rows(
        conn, blobs, ("sha256", "size", "pack", "offset", "created_at"), list(rows.values()),
        ignore_conflicts=True,
    )  # fmt: skip


def blob_locations(conn: Connection, hashes: Sequence[str]) -> dict[str, Any]:
    """Stored location of each known blob, by sha256."""
    found: dict[str, Any] = {}
    for part in chunks(list(dict.fromkeys(hashes))):
        for row in conn.execute(sa.select(blobs).where(blobs.c.sha256.in_(part))):
            found[row.sha256] = row
    return found


def insert_versions(
    conn: Connection, fleet: FleetRef, items: Sequence[NewVersion], *, actor: str
) -> list[Inserted]:
    """Insert every item as a new version of its model, creating models as needed."""
    if not items:
        return []
    lock_fleet(conn, fleet.id)
    model_count = conn.execute(
        sa.select(fleets.c.model_count).where(fleets.c.id == fleet.id)
    ).scalar_one()
    unique_keys = list(dict.fromkeys(item.key for item in items))
    existing = find_models(conn, fleet, unique_keys) if model_count else {}
    new_keys = [key for key in unique_keys if key not in existing]
    new_ids = ids.allocate(conn, models, len(new_keys))
    version_ids = ids.allocate(conn, versions, len(items))

    model_id = {key: row.id for key, row in existing.items()}
    model_id.update(zip(new_keys, new_ids, strict=True))
    number = {key: row.latest_number for key, row in existing.items()}
    number.update(dict.fromkeys(new_keys, 0))
    last_index: dict[tuple[str, ...], int] = {}
    placed: list[Inserted] = []
    for index, item in enumerate(items):
        key = item.key
        if item.number is not None:
            if item.number <= number[key]:
                raise Conflict(
                    f"duplicate version: model {dict(zip(fleet.keys, key, strict=True))} of "
                    f"fleet '{fleet.path}' already has version {number[key]} "
                    f"(asked for version {item.number}); leave version out to take the next "
                    "number"
                )
            number[key] = item.number
        else:
            number[key] += 1
        last_index[key] = index
        placed.append(Inserted(version_ids[index], model_id[key], number[key], key))

    now = time.time()
    latest_of = {key: placed[index] for key, index in last_index.items()}
    _insert_new_models(conn, fleet, new_keys, model_id, latest_of, now)
    _insert_version_rows(conn, fleet, items, placed, last_index, actor, now)
    _move_latest(conn, fleet, existing, latest_of)
    # A model whose versions were all archived is hidden (not counted); a new version shows it.
    shown = [key for key, row in existing.items() if row.latest_version_id is None]
    _bump_counts(conn, fleet, [*new_keys, *shown], len(items))
    return placed


def _insert_new_models(
    conn: Connection,
    fleet: FleetRef,
    new_keys: Sequence[tuple[str, ...]],
    model_id: dict[tuple[str, ...], int],
    latest_of: dict[tuple[str, ...], Inserted],
    now: float,
) -> None:
    if not new_keys:
        return
    dims = len(fleet.keys)
    columns = (
        "id", "tenant_id", "fleet_id", "key_text", "latest_version_id", "latest_number",
        "created_at", *[f"k{i}" for i in range(dims)],
    )  # fmt: skip
    tenant, fleet_id = fleet.tenant_id, fleet.id
    rows = [
        (model_id[key], tenant, fleet_id, key_text(key), latest_of[key].version_id,
         latest_of[key].number, now, *key)
        for key in new_keys
    ]  # fmt: skip
    insert_rows(conn, models, columns, rows)


def _insert_version_rows(
    conn: Connection,
    fleet: FleetRef,
    items: Sequence[NewVersion],
    placed: Sequence[Inserted],
    last_index: dict[tuple[str, ...], int],
    actor: str,
    now: float,
) -> None:
    version_rows = []
    metric_rows = []
    tag_rows = []
    baseline_rows = []
    latest_positions = set(last_index.values())
    tenant, fleet_id = fleet.tenant_id, fleet.id
    for index, (item, spot) in enumerate(zip(items, placed, strict=True)):
        vid = spot.version_id
        try:
            signature, params = dumps(item.signature), dumps(item.params)
            baseline = dumps(item.baseline)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"versions[{index}]: params, signature and baseline must be JSON (text, "
                f"numbers, lists, dicts; no NaN): {exc}",
                field="params",
            ) from None
        version_rows.append(
            (vid, tenant, fleet_id, spot.model_id, spot.number, item.status, item.flavor,
             item.sha256, item.size, signature, params, item.run_id,
             item.dataset_id, item.slice_fingerprint, item.code_ref, item.parent_version_id,
             actor, now)
        )  # fmt: skip
        latest = index in latest_positions
        for name, value in item.metrics.items():
            metric_rows.append((vid, name, fleet_id, value, latest))
        for tag, text in item.tags.items():
            tag_rows.append((vid, tag, fleet_id, text))
        if item.baseline is not None:
            baseline_rows.append((vid, fleet_id, baseline))
    insert_rows(conn, versions, VERSION_COLUMNS, version_rows)
    insert_rows(conn, metrics, ("version_id", "name", "fleet_id", "value", "latest"), metric_rows)
    insert_rows(conn, version_tags, ("version_id", "key", "fleet_id", "value"), tag_rows)
    insert_rows(conn, version_baselines, ("version_id", "fleet_id", "profile"), baseline_rows)


def _move_latest(
    conn: Connection,
    fleet: FleetRef,
    existing: dict[tuple[str, ...], Any],
    latest_of: dict[tuple[str, ...], Inserted],
) -> None:
    """Existing models now point at their new latest version; old metrics lose the flag."""
    moved = [key for key in existing if key in latest_of]
    if not moved:
        return
    old_latest = [existing[key].latest_version_id for key in moved]
    for part in chunks(old_latest):
        conn.execute(
            metrics.update()
            .where(metrics.c.version_id.in_(part), metrics.c.fleet_id == fleet.id)
            .values(latest=False)
        )
    conn.execute(
        models.update()
        .where(models.c.id == sa.bindparam("b_id"))
        .values(
            latest_version_id=sa.bindparam("b_version"), latest_number=sa.bindparam("b_number")
        ),
        [
            {
                "b_id": latest_of[key].model_id,
                "b_version": latest_of[key].version_id,
                "b_number": latest_of[key].number,
            }
            for key in moved
        ],
    )


def _bump_counts(
    conn: Connection, fleet: FleetRef, new_keys: Sequence[tuple[str, ...]], version_count: int
) -> None:
    conn.execute(
        fleets.update()
        .where(fleets.c.id == fleet.id)
        .values(
            model_count=fleets.c.model_count + len(new_keys),
            version_count=fleets.c.version_count + version_count,
        )
    )
    counts: Counter[tuple[int, str]] = Counter()
    for key in new_keys:
        for dim, value in enumerate(key):
            counts[(dim, value)] += 1
    add_counts(
        conn,
        key_counts,
        [
            {"fleet_id": fleet.id, "dim": dim, "value": value, "n": n}
            for (dim, value), n in counts.items()
        ],
        ["fleet_id", "dim", "value"],
    )


def add_counts(
    conn: Connection, table: sa.Table, rows: list[dict[str, Any]], key: list[str]
) -> None:
    """Add ``n`` to the counter rows of ``table``, inserting the ones that are new."""
    if not rows:
        return
    pg = conn.dialect.name == "postgresql"
    stmt: postgresql.Insert | sqlite.Insert = (postgresql if pg else sqlite).insert(table)
    stmt = stmt.on_conflict_do_update(index_elements=key, set_={"n": table.c.n + stmt.excluded.n})
    conn.execute(stmt, rows)


def replace_metrics(
    conn: Connection,
    fleet: FleetRef,
    scored: Sequence[tuple[int, int, dict[str, float]]],
    names: Sequence[str],
) -> None:
    """Replace metrics ``names`` of existing versions: ``(version_id, model_id, values)``.

    Evaluation is the one writer of metrics after registration. The ``latest`` flag is
    read under the fleet lock, so it agrees with a registration that ran just before.
    """
    if not scored:
        return
    lock_fleet(conn, fleet.id)
    latest: set[int] = set()
    for part in chunks(sorted({model for _, model, _ in scored})):
        latest.update(
            row[0]
            for row in conn.execute(
                sa.select(models.c.latest_version_id).where(
                    models.c.id.in_(part), models.c.fleet_id == fleet.id
                )
            )
        )
    for part in chunks([vid for vid, _, _ in scored]):
        conn.execute(
            metrics.delete().where(
                metrics.c.version_id.in_(part),
                metrics.c.name.in_(list(names)),
                metrics.c.fleet_id == fleet.id,
            )
        )
    rows = [
        (vid, name, fleet.id, value, vid in latest)
        for vid, _, values in scored
        for name, value in values.items()
    ]
    insert_rows(conn, metrics, ("version_id", "name", "fleet_id", "value", "latest"), rows)
