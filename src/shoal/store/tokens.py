"""API tokens: created, listed, revoked, and found by the sha256 of their secret.

The secret itself is never stored; a lost token is revoked and a new one created. A token
belongs to one tenant (``tenant_id``) unless its role is ``operator`` (``NULL``).
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.errors import Conflict, NotFound
from shoal.store.schema import tenants, tokens
from shoal.store.tenancy import Scope

_SHOWN = (tokens.c.id, tokens.c.name, tokens.c.role, tokens.c.created_at, tokens.c.created_by,
          tokens.c.expires_at, tokens.c.revoked_at, tokens.c.last_used_at)  # fmt: skip

LAST_USED_EVERY = 60.0
"""``last_used_at`` is written at most this often per token: a busy predict token would
otherwise turn every request into a write."""


def create(
    conn: Connection, tenant_id: int | None, *, name: str, role: str, secret_sha256: str,
    created_by: str, expires_at: float | None,
) -> int:  # fmt: skip
    """Insert a token; a live token of the same name in the tenant is a Conflict (revoke
    it first), so a name in the audit log means one token at a time."""
    same = sa.and_(tokens.c.name == name, tokens.c.revoked_at.is_(None),
                   tokens.c.tenant_id.is_(None) if tenant_id is None
                   else tokens.c.tenant_id == tenant_id)  # fmt: skip
    if conn.execute(sa.select(tokens.c.id).where(same)).first() is not None:
        raise Conflict(
            f"a live token named {name!r} exists: revoke it first ('shoal token revoke') "
            "or choose another --name", field="name",
        )  # fmt: skip
    new_id: int = conn.execute(
        tokens.insert().values(
            tenant_id=tenant_id, name=name, role=role, secret_sha256=secret_sha256,
            created_at=time.time(), created_by=created_by, expires_at=expires_at,
        ).returning(tokens.c.id)
    ).scalar_one()  # fmt: skip
    return new_id


def listed(
    conn: Connection, scope: Scope, tenant: str | None, *, revoked: bool = False
) -> list[dict[str, Any]]:
    """Tokens the scope may see (of ``tenant``), newest first; operator tokens only for
    the operator."""
    query = (sa.select(*_SHOWN, tenants.c.name.label("tenant"))
             .outerjoin(tenants, tenants.c.id == tokens.c.tenant_id)
             .order_by(tokens.c.id.desc()))  # fmt: skip
    if not scope.is_operator:
        query = query.where(tenants.c.name == scope.tenant)
    if tenant is not None:
        scope.check(tenant)
        query = query.where(tenants.c.name == tenant)
    if not revoked:
        query = query.where(tokens.c.revoked_at.is_(None))
    return [dict(row._mapping) for row in conn.execute(query)]


def revoke(conn: Connection, scope: Scope, token_id: int) -> dict[str, Any]:
    """Revoke a token the scope may see (again: a no-op); returns it as listed."""
    query = (sa.select(*_SHOWN, tokens.c.tenant_id, tenants.c.name.label("tenant"))
             .outerjoin(tenants, tenants.c.id == tokens.c.tenant_id)
             .where(tokens.c.id == token_id))  # fmt: skip
    if not scope.is_operator:
        query = query.where(tenants.c.name == scope.tenant)
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"token {token_id} not found: list them with 'shoal token list'")
    found = dict(row._mapping)
    if found["revoked_at"] is None:
        found["revoked_at"] = time.time()
        conn.execute(tokens.update().where(tokens.c.id == token_id)
                     .values(revoked_at=found["revoked_at"]))  # fmt: skip
    return found


def by_secret(conn: Connection, secret_sha256: str) -> dict[str, Any] | None:
    """The token with this secret's hash, whatever its state (the caller says why it is
    refused), with its tenant's name."""
    row = conn.execute(
        sa.select(*_SHOWN, tenants.c.name.label("tenant"))
        .outerjoin(tenants, tenants.c.id == tokens.c.tenant_id)
        .where(tokens.c.secret_sha256 == secret_sha256)
    ).first()
    return None if row is None else dict(row._mapping)


def mark_used(conn: Connection, token_id: int, at: float) -> None:
    """Record a use, unless one was recorded in the last :data:`LAST_USED_EVERY` s."""
    conn.execute(
        tokens.update()
        .where(tokens.c.id == token_id,
               sa.or_(tokens.c.last_used_at.is_(None),
                      tokens.c.last_used_at < at - LAST_USED_EVERY))
        .values(last_used_at=at)
    )  # fmt: skip
