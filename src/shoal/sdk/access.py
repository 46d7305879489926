"""Tokens and the audit log, as :class:`~shoal.Client` methods.

``client.create_token("acme", "viewer", expires="90d")`` returns the token's record and its
secret, shown this once; ``client.tokens()`` lists them (never the secrets);
``client.revoke_token(id)`` ends one at once; ``client.audit(...)`` reads who changed what.
A tenant-scoped client sees and manages only its tenant's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from shoal.registry import Registry, Scope


def _iso(at: float | None) -> str | None:
    return None if at is None else dt.datetime.fromtimestamp(at, dt.UTC).isoformat()


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: never its secret."""

    id: int
    name: str
    tenant: str | None
    role: str
    created_at: str
    created_by: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> TokenInfo:
        return cls(row["id"], row["name"], row["tenant"], row["role"],
                   _iso(row["created_at"]) or "", row["created_by"], _iso(row["expires_at"]),
                   _iso(row["revoked_at"]), _iso(row["last_used_at"]))  # fmt: skip

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= dt.datetime.now(dt.UTC).isoformat():
            return "expired"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "state": self.state}


@dataclass(frozen=True)
class AuditEntry:
    """One audited write: who (and from where), what, when."""

    id: int
    at: str
    tenant: str | None
    actor: str
    role: str | None
    via: str | None
    address: str | None
    request_id: str | None
    action: str
    target: str
    detail: dict[str, Any]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AuditEntry:
        return cls(row["id"], _iso(row["at"]) or "", row["tenant"], row["actor"], row["role"],
                   row["via"], row["address"], row["request_id"], row["action"],
                   row["target"], dict(row["detail"] or {}))  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ClientAccess:
    """The token and audit methods of :class:`~shoal.Client`."""

    registry: Registry

    @property
    def scope(self) -> Scope:
        raise NotImplementedError

    def create_token(
        self, tenant: str | None, role: str, *, name: str | None = None,
        expires: str | int | None = None,
    ) -> tuple[TokenInfo, str]:  # fmt: skip
        """A new token for ``tenant`` with ``role`` (viewer, editor, admin, predict; or
        operator with no tenant), expiring after ``expires`` ("90d", seconds) or never.
        Returns its record and its secret: keep the secret, it is not shown again."""
        from shoal.report.fleet_report import span_seconds

        seconds = None if expires is None else span_seconds(expires, "expires")
        row, secret = self.registry.access.create_token(self.scope, tenant, role, name=name,
                                                        expires_in=seconds)  # fmt: skip
        return TokenInfo.from_row(row), secret

    def tokens(self, tenant: str | None = None, *, revoked: bool = False) -> list[TokenInfo]:
        """Tokens this client may manage (of ``tenant``), newest first."""
        rows = self.registry.access.tokens(self.scope, tenant, revoked=revoked)
        return [TokenInfo.from_row(r) for r in rows]

    def revoke_token(self, token_id: int) -> TokenInfo:
        """Revoke a token: servers refuse it within seconds (their short cache)."""
        return TokenInfo.from_row(self.registry.access.revoke_token(self.scope, token_id))

    def audit(
        self, *, tenant: str | None = None, actor: str | None = None,
        action: str | Sequence[str] = (), since: str | int | None = None,
        before: int | None = None, limit: int = 100,
    ) -> list[AuditEntry]:  # fmt: skip
        """Audited writes newest first: of ``tenant``, by ``actor``, of ``action`` (a name,
        or a family ending in '.', e.g. ``"alias."``), in the last ``since`` ("7d");
        ``before`` an id pages back."""
        import time

        from shoal.report.fleet_report import span_seconds

        actions = (action,) if isinstance(action, str) else tuple(action)
        start = None if since is None else time.time() - span_seconds(since, "since")
        rows = self.registry.access.audit(self.scope, tenant=tenant, actor=actor,
                                          actions=actions, since=start, before=before,
                                          limit=limit)  # fmt: skip
        return [AuditEntry.from_row(r) for r in rows]
