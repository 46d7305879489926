"""Tenant scopes: every store call says whose data it may touch.

A :class:`Scope` is either one tenant or the operator (all tenants). The SDK and
the REST routes build one and pass it down; store functions apply it in the SQL
they run, never by filtering results afterwards. A :class:`FleetRef` can only be
obtained from a scoped fleet lookup, so holding one proves the scope was checked,
and every query that takes it constrains rows to that fleet (and its tenant).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shoal.errors import InvalidInput, NotFound

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")


@dataclass(frozen=True)
class Scope:
    """Which tenant a call acts for; ``tenant=None`` is the operator (every tenant)."""

    tenant: str | None = None

    @classmethod
    def operator(cls) -> Scope:
        return cls(None)

    @property
    def is_operator(self) -> bool:
        return self.tenant is None

    def check(self, tenant: str) -> None:
        """Refuse a tenant outside this scope as if it did not exist."""
        if self.tenant is not None and tenant != self.tenant:
            raise NotFound(
                f"tenant {tenant!r} not found (this client is scoped to tenant {self.tenant!r})"
            )


@dataclass(frozen=True)
class FleetRef:
    """A fleet that a scoped lookup found: ids for queries, names for people."""

    id: int
    tenant_id: int
    tenant: str
    name: str
    keys: tuple[str, ...]
    allow_pickle: bool

    @property
    def path(self) -> str:
        return f"{self.tenant}/{self.name}"


def check_name(value: str, field: str) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise InvalidInput(
            f"{field} {value!r} is not a valid name: use 1-100 lowercase letters, digits, "
            "'-' or '_', starting with a letter or digit",
            field=field,
        )
    return value


def split_fleet_path(path: str) -> tuple[str, str]:
    """``"grocer/demand"`` -> ``("grocer", "demand")``, with a clear error otherwise."""
    if not isinstance(path, str) or path.count("/") != 1:
        raise InvalidInput(
            f"fleet {path!r} must be written 'tenant/fleet', e.g. 'grocer/demand'",
            field="fleet",
        )
    tenant, name = path.split("/")
    return check_name(tenant, "tenant"), check_name(name, "fleet")
