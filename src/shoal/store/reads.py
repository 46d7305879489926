"""Point reads: one version by id, a model's versions, a key resolved to a version."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.errors import InvalidInput, NotFound
from shoal.store.schema import (
    aliases,
    blobs,
    fleets,
    models,
    tenants,
    version_baselines,
    versions,
)
from shoal.store.search import attach_details
from shoal.store.tenancy import FleetRef, Scope
from shoal.store.writes import chunks, find_models, key_text

VERSION_COLUMNS = (
    versions.c.id.label("version_id"), versions.c.model_id, versions.c.number,
    versions.c.status, versions.c.flavor, versions.c.artifact_sha256, versions.c.artifact_size,
    versions.c.signature, versions.c.params, versions.c.run_id, versions.c.dataset_id,
    versions.c.slice_fingerprint, versions.c.code_ref, versions.c.parent_version_id,
    versions.c.created_by, versions.c.created_at,
)  # fmt: skip


def fleet_of_version(conn: Connection, scope: Scope, version_id: int) -> tuple[FleetRef, int]:
    """The fleet a version belongs to, if the scope may see it."""
    query = (
        sa.select(fleets, tenants.c.name.label("tenant"), versions.c.model_id)
        .join(tenants, tenants.c.id == fleets.c.tenant_id)
        .join(versions, versions.c.fleet_id == fleets.c.id)
        .where(versions.c.id == version_id)
    )
    if not scope.is_operator:
        query = query.where(tenants.c.name == scope.tenant)
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"version {version_id} not found")
    ref = FleetRef(row.id, row.tenant_id, row.tenant, row.name, tuple(row.dims),
                   bool(row.allow_pickle))  # fmt: skip
    return ref, row.model_id


def _rows(conn: Connection, fleet: FleetRef, query: sa.Select[Any]) -> list[dict[str, Any]]:
    query = query.add_columns(*[models.c[f"k{i}"] for i in range(len(fleet.keys))]).join(
        models, models.c.id == versions.c.model_id
    )
    rows = []
    for row in conn.execute(query):
        data = dict(row._mapping)
        data["key"] = {dim: data.pop(f"k{i}") for i, dim in enumerate(fleet.keys)}
        rows.append(data)
    attach_details(conn, fleet, rows)
    return rows


def get_version(conn: Connection, scope: Scope, version_id: int) -> tuple[FleetRef, dict[str, Any]]:
    fleet, _ = fleet_of_version(conn, scope, version_id)
    query = sa.select(*VERSION_COLUMNS).where(
        versions.c.id == version_id, versions.c.tenant_id == fleet.tenant_id
    )
    return fleet, _rows(conn, fleet, query)[0]


MAX_KEY_CHARS = 200
"""The longest key value: keys are read on pages and typed in URLs."""


def is_clean_key_value(value: object) -> bool:
    """The fast check: a str key value that needs no normalising and breaks no rule."""
    return (
        type(value) is str
        and 0 < len(value) <= MAX_KEY_CHARS
        and value.isprintable()
        and value[0] != " "
        and value[-1] != " "
        and (value.isascii() or unicodedata.is_normalized("NFC", value))
    )


def key_value_problem(text: str) -> str | None:
    """What is wrong with one key value (already NFC), or None.

    Key values are NFC-normalised first, so ``café`` typed either way is one model; a
    value with spaces at either end is refused rather than stripped, because ``s1`` and
    ``s1 `` would print the same and name two models.
    """
    if not text:
        return "is empty: give every model a key value"
    if len(text) > MAX_KEY_CHARS:
        return f"is over {MAX_KEY_CHARS} characters: shorten it"
    if not text.isprintable():
        return "holds control or unprintable characters (tab, newline...): remove them"
    if text != text.strip(" "):
        return "starts or ends with a space: strip it (it would print like another key)"
    return None


def normalize_key(fleet: FleetRef, key: Any) -> tuple[str, ...]:
    """A key given as a mapping (or a bare value for one-key fleets) as a tuple of strings."""
    if len(fleet.keys) == 1 and not isinstance(key, dict | tuple | list):
        key = {fleet.keys[0]: key}
    if isinstance(key, tuple | list) and len(key) == len(fleet.keys):
        key = dict(zip(fleet.keys, key, strict=True))
    if not isinstance(key, dict):
        raise InvalidInput(
            f"key must be a mapping of {list(fleet.keys)} to values, got {key!r}", field="key"
        )
    missing = [dim for dim in fleet.keys if dim not in key]
    extra = [dim for dim in key if dim not in fleet.keys]
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"missing {missing}")
        if extra:
            problems.append(f"unknown {extra}")
        raise InvalidInput(
            f"key {key!r} for fleet '{fleet.path}': {' and '.join(problems)}; "
            f"its key dimensions are {list(fleet.keys)}",
            field="key",
        )
    values = []
    for dim in fleet.keys:
        value = key[dim]
        if isinstance(value, bool) or not isinstance(value, str | int):
            if hasattr(value, "item"):  # numpy scalars from frames
                value = value.item()
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise InvalidInput(
                    f"key {dim!r} must be a string or an integer, got {value!r}", field=dim
                )
        text = unicodedata.normalize("NFC", str(value))
        problem = key_value_problem(text)
        if problem:
            raise InvalidInput(f"key {dim!r} {problem}, got {text[:60]!r}", field=dim)
        values.append(text)
    return tuple(values)


def model_id(conn: Connection, fleet: FleetRef, key: tuple[str, ...]) -> int:
    found: int | None = conn.execute(
        sa.select(models.c.id).where(
            models.c.fleet_id == fleet.id, models.c.tenant_id == fleet.tenant_id,
            models.c.key_text == key_text(key),
        )
    ).scalar()  # fmt: skip
    if found is None:
        shown = dict(zip(fleet.keys, key, strict=True))
        raise NotFound(f"no model {shown} in fleet '{fleet.path}'")
    return found


def model_versions(
    conn: Connection,
    fleet: FleetRef,
    key: tuple[str, ...],
    *,
    limit: int | None = None,
    before: int | None = None,
) -> list[dict[str, Any]]:
    """Versions of one model, newest first: all, or ``limit`` numbered below ``before``.

    Keyset paging on the version number (the ``(model_id, number)`` index), so the
    thousandth page of a model with 200,000 versions costs what the first does.
    """
    mid = model_id(conn, fleet, key)
    query = (
        sa.select(*VERSION_COLUMNS)
        .where(versions.c.model_id == mid, versions.c.tenant_id == fleet.tenant_id)
        .order_by(versions.c.number.desc())
    )
    # Always a bound on the number: with it the (model_id, number) index gives the newest
    # first directly; without it SQLite sorts every version of the model (300 ms at 200,000).
    query = query.where(versions.c.number < (before if before is not None else 2**31 - 1))
    if limit is not None:
        query = query.limit(limit)
    return _rows(conn, fleet, query)


def resolve(
    conn: Connection,
    fleet: FleetRef,
    key: tuple[str, ...],
    *,
    alias: str | None = None,
    version: int | None = None,
) -> dict[str, Any]:
    """The version a (key, alias or number) points at; latest when neither is given."""
    mid = model_id(conn, fleet, key)
    query = sa.select(*VERSION_COLUMNS).where(
        versions.c.model_id == mid, versions.c.tenant_id == fleet.tenant_id
    )
    shown = dict(zip(fleet.keys, key, strict=True))
    if version is not None:
        query = query.where(versions.c.number == version)
        what = f"version {version}"
    elif alias is not None:
        query = query.join(
            aliases, sa.and_(aliases.c.version_id == versions.c.id, aliases.c.name == alias)
        ).where(aliases.c.model_id == mid)
        what = f"alias {alias!r}"
    else:
        latest = sa.select(models.c.latest_version_id).where(models.c.id == mid)
        query = query.where(versions.c.id == latest.scalar_subquery())
        what = "version that is not archived"
    rows = _rows(conn, fleet, query)
    if not rows:
        raise NotFound(f"model {shown} of fleet '{fleet.path}' has no {what}")
    return rows[0]


def versions_by_number(
    conn: Connection, fleet: FleetRef, pairs: Sequence[tuple[tuple[str, ...], int | None]]
) -> dict[tuple[str, ...], tuple[int, int]]:
    """(model id, version id) for each (key, number); number None means latest."""
    found = find_models(conn, fleet, [key for key, _ in pairs])
    out: dict[tuple[str, ...], tuple[int, int]] = {}
    wanted: dict[tuple[int, int], tuple[str, ...]] = {}
    for key, number in pairs:
        row = found.get(key)
        if row is None:
            raise NotFound(f"no model {dict(zip(fleet.keys, key, strict=True))} in '{fleet.path}'")
        if number is None:
            if row.latest_version_id is None:
                raise NotFound(
                    f"model {dict(zip(fleet.keys, key, strict=True))} of '{fleet.path}' has no "
                    "version that is not archived: name a version number, or restore one"
                )
            out[key] = (row.id, row.latest_version_id)
        else:
            wanted[(row.id, number)] = key
    if wanted:
        model_ids = list({m for m, _ in wanted})
        for part in chunks(model_ids):
            for r in conn.execute(
                sa.select(versions.c.model_id, versions.c.number, versions.c.id).where(
                    versions.c.model_id.in_(part), versions.c.tenant_id == fleet.tenant_id
                )
            ):
                numbered = wanted.get((r.model_id, r.number))
                if numbered is not None:
                    out[numbered] = (r.model_id, r.id)
        for (_, number), key in wanted.items():
            if key not in out:
                shown = dict(zip(fleet.keys, key, strict=True))
                raise NotFound(f"model {shown} of '{fleet.path}' has no version {number}")
    return out


def baseline(conn: Connection, scope: Scope, version_id: int) -> dict[str, Any] | None:
    """The baseline profile stored with a version (None when it was registered without one)."""
    fleet, _ = fleet_of_version(conn, scope, version_id)
    return conn.execute(
        sa.select(version_baselines.c.profile).where(
            version_baselines.c.version_id == version_id,
            version_baselines.c.fleet_id == fleet.id,
        )
    ).scalar()


def versions_at_alias(
    conn: Connection, fleet: FleetRef, alias: str
) -> dict[tuple[str, ...], dict[str, Any]]:
    """Every model's version at ``alias``, by key, with its blob's location: one query."""
    key_columns = [models.c[f"k{i}"] for i in range(len(fleet.keys))]
    query = (
        sa.select(
            *key_columns,
            versions.c.id, versions.c.number, versions.c.model_id, versions.c.flavor,
            versions.c.artifact_sha256, versions.c.artifact_size,
            sa.cast(versions.c.signature, sa.Text).label("signature"), blobs.c.pack,
            blobs.c.offset,
        )
        .select_from(
            aliases.join(models, models.c.id == aliases.c.model_id)
            .join(versions, versions.c.id == aliases.c.version_id)
            .join(blobs, blobs.c.sha256 == versions.c.artifact_sha256, isouter=True)
        )
        .where(
            aliases.c.fleet_id == fleet.id, aliases.c.name == alias,
            models.c.tenant_id == fleet.tenant_id,
        )
    )  # fmt: skip
    n = len(fleet.keys)
    # A fleet's versions share a few signatures and packs: each distinct one is parsed and
    # held once (a million keys' own copies of a signature cost gigabytes).
    shared: dict[Any, Any] = {}

    def one(value: Any, parse: bool = False) -> Any:
        found = shared.get(value)
        if found is None and value is not None:
            found = shared[value] = json.loads(value) if parse else value
        return found

    return {
        tuple(row[:n]): {
            "version_id": row.id, "number": row.number, "model_id": row.model_id,
            "flavor": one(row.flavor), "artifact_sha256": row.artifact_sha256,
            "artifact_size": row.artifact_size, "signature": one(row.signature, parse=True),
            "pack": one(row.pack), "offset": row.offset,
        }
        for row in conn.execute(query)
    }  # fmt: skip
