"""The audit log: one row per write call (who, what, when), never one per model."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.engine import Connection

from shoal.store.schema import audit


def record(
    conn: Connection,
    tenant_id: int | None,
    actor: str,
    action: str,
    target: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append an audit row inside the caller's transaction, so it commits with the change."""
    conn.execute(
        audit.insert().values(
            tenant_id=tenant_id,
            at=time.time(),
            actor=actor,
            action=action,
            target=target,
            detail=detail or {},
        )
    )
