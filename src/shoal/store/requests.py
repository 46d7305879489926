"""Idempotent registration: a retried ``register`` call returns what the first one did.

A client that timed out cannot know whether its call committed. With a
``request_id`` the registry records the call's version ids (packed as 64-bit
integers, 8 bytes a version) in the same transaction as the versions, so a retry
finds them and returns the same result instead of registering everything again.
A digest of the call's keys and artifact hashes tells a retry from a different call
that reused the id by mistake.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.errors import Conflict, InvalidInput
from shoal.store.schema import models, register_requests, versions
from shoal.store.tenancy import FleetRef
from shoal.store.writes import Inserted, chunks, key_text, split_key_text


def check_request_id(request_id: Any) -> str:
    if not isinstance(request_id, str) or not 0 < len(request_id) <= 200:
        raise InvalidInput(
            f"request_id must be 1-200 characters of text, got {request_id!r}; use e.g. a "
            "UUID made once per logical call and reused on retries",
            field="request_id",
        )
    return request_id


def digest(keys: Sequence[tuple[str, ...]], hashes: Sequence[str]) -> str:
    """What the call registers, in order: its keys and artifact hashes."""
    h = hashlib.sha256()
    for key, sha in zip(keys, hashes, strict=True):
        h.update(key_text(key).encode())
        h.update(b"\x00")
        h.update(sha.encode())
    return h.hexdigest()


def find(
    conn: Connection, fleet: FleetRef, request_id: str, expected_digest: str
) -> list[Inserted] | None:
    """The versions an earlier call with this id registered, or None if there was none."""
    row = conn.execute(
        sa.select(register_requests.c.digest, register_requests.c.version_ids).where(
            register_requests.c.fleet_id == fleet.id,
            register_requests.c.request_id == request_id,
        )
    ).first()
    if row is None:
        return None
    if row.digest != expected_digest:
        raise Conflict(
            f"request_id {request_id!r} was already used in fleet '{fleet.path}' for other "
            "versions: use a new request_id for a new call"
        )
    ids = np.frombuffer(row.version_ids, dtype="<i8").tolist()
    found: dict[int, Inserted] = {}
    for part in chunks(ids):
        rows = conn.execute(
            sa.select(versions.c.id, versions.c.model_id, versions.c.number, models.c.key_text)
            .join(models, models.c.id == versions.c.model_id)
            .where(versions.c.id.in_(part), versions.c.tenant_id == fleet.tenant_id)
        )
        for r in rows:
            found[r.id] = Inserted(r.id, r.model_id, r.number, tuple(split_key_text(r.key_text)))
    return [found[i] for i in ids]


def record(
    conn: Connection, fleet: FleetRef, request_id: str, call_digest: str, placed: list[Inserted]
) -> None:
    """Remember this call's versions, inside the transaction that registers them."""
    packed = np.asarray([p.version_id for p in placed], dtype="<i8").tobytes()
    conn.execute(
        register_requests.insert().values(
            fleet_id=fleet.id,
            request_id=request_id,
            digest=call_digest,
            version_ids=packed,
            created_at=time.time(),
        )
    )
