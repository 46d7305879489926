"""Access: API tokens (created, listed, revoked, checked) and the audit log's reads.

A token's secret is shown once, when created, and only its sha256 is stored. Managing a
tenant's tokens needs its ``admin`` (or the operator); while a server request acts
(:func:`shoal.store.tenancy.acting`) that is checked here, below every route, so no
endpoint can hand out more than its caller holds.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Sequence
from typing import Any

from shoal.errors import Forbidden, InvalidInput, Unauthenticated
from shoal.registry._guards import check_id, check_limit
from shoal.registry._part import Part, actor_of
from shoal.store import audit
from shoal.store import tokens as store_tokens
from shoal.store.fleets import ensure_tenant
from shoal.store.tenancy import NAME, ROLES, Principal, Scope, acting, check_name

PREFIX = "shoal_"
"""Every token starts with it: a secret scanner can recognise a leaked one."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _may_manage(role: str) -> None:
    """Refuse unless the acting principal (if any) is an admin who holds ``role`` or more."""
    who = acting()
    if who is None:
        return
    if not who.may("admin"):
        raise Forbidden(f"managing tokens needs the admin role; {who.name} is {who.role}")
    if role == "operator" and who.role != "operator":
        raise Forbidden("only an operator can create an operator token")


class Access(Part):
    """Tokens of the tenants a scope may see, and the audit log."""

    def create_token(
        self, scope: Scope, tenant: str | None, role: str, *, name: str | None = None,
        expires_in: float | None = None,
    ) -> tuple[dict[str, Any], str]:  # fmt: skip
        """A new token: its listed fields and its secret (shown this once)."""
        if role not in ROLES:
            raise InvalidInput(f"role {role!r} is not one of {', '.join(ROLES)}", field="role")
        if (tenant is None) != (role == "operator"):
            raise InvalidInput(
                "a viewer, editor, admin or predict token needs a tenant (--tenant); an "
                "operator token spans every tenant and takes none", field="tenant",
            )  # fmt: skip
        if expires_in is not None and not (0 < expires_in <= 10 * 365 * 86400):
            raise InvalidInput("expires must be between 1 second and 10 years",
                               field="expires")  # fmt: skip
        name = name or f"{tenant or 'operator'}-{role}-{secrets.token_hex(3)}"
        if not NAME.match(name):
            check_name(name, "name")
        _may_manage(role)
        secret = PREFIX + secrets.token_urlsafe(32)
        now = time.time()
        with self._store.write() as conn:
            tenant_id = None if tenant is None else ensure_tenant(conn, scope, tenant)
            if tenant is None and not scope.is_operator:
                raise Forbidden("only an operator can create an operator token")
            token_id = store_tokens.create(
                conn, tenant_id, name=name, role=role, secret_sha256=digest(secret),
                created_by=actor_of(), expires_at=None if expires_in is None else now + expires_in,
            )  # fmt: skip
            audit.record(conn, tenant_id, actor_of(), "token.create", f"token:{name}",
                         {"id": token_id, "role": role})  # fmt: skip
        found = next(t for t in self.tokens(scope, tenant, revoked=True) if t["id"] == token_id)
        return found, secret

    def tokens(
        self, scope: Scope, tenant: str | None = None, *, revoked: bool = False
    ) -> list[dict[str, Any]]:
        """Tokens (never their secrets), newest first; ``revoked`` includes revoked ones."""
        _may_manage("viewer")
        with self._store.read() as conn:
            return store_tokens.listed(conn, scope, tenant, revoked=revoked)

    def revoke_token(self, scope: Scope, token_id: int) -> dict[str, Any]:
        """Revoke a token at once (its next request is refused); revoking twice is a no-op."""
        check_id(token_id, "token_id")
        with self._store.write() as conn:
            found = store_tokens.revoke(conn, scope, token_id)
            _may_manage(found["role"])
            audit.record(conn, found["tenant_id"], actor_of(), "token.revoke",
                         f"token:{found['name']}", {"id": token_id})  # fmt: skip
        found.pop("tenant_id", None)
        return found

    def authenticate(self, secret: str) -> Principal:
        """The principal a token secret stands for; unknown, revoked or expired tokens are
        refused with a message that never repeats the secret."""
        if not secret.startswith(PREFIX):
            raise Unauthenticated(f"that is not a Shoal token (they start with {PREFIX!r})")
        return self.authenticate_digest(digest(secret))

    def authenticate_digest(self, secret_sha256: str) -> Principal:
        """As :meth:`authenticate`, from the sha256 a session cookie keeps."""
        now = time.time()
        with self._store.read() as conn:
            row = store_tokens.by_secret(conn, secret_sha256)
        if row is None:
            raise Unauthenticated("unknown token: create one with 'shoal token create'")
        if row["revoked_at"] is not None:
            raise Unauthenticated(f"token {row['name']!r} was revoked")
        if row["expires_at"] is not None and row["expires_at"] <= now:
            raise Unauthenticated(f"token {row['name']!r} expired: create a new one")
        if row["last_used_at"] is None or row["last_used_at"] < now - store_tokens.LAST_USED_EVERY:
            with self._store.write() as conn:
                store_tokens.mark_used(conn, row["id"], now)
        return Principal(f"token:{row['name']}", row["role"], row["tenant"], via="token",
                         token_id=row["id"])  # fmt: skip

    def audit(
        self, scope: Scope, *, tenant: str | None = None, actor: str | None = None,
        actions: Sequence[str] = (), since: float | None = None, before: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Audit rows newest first (keyset: ``before`` an id), of the scope's tenant only;
        an action ending in '.' matches its family (``alias.`` for every alias write)."""
        check_limit(limit)
        if before is not None:
            check_id(before, "before")
        with self._store.read() as conn:
            return audit.entries(conn, scope, tenant=tenant, actor=actor, actions=actions,
                                 since=since, before=before, limit=limit)  # fmt: skip
