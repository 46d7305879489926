"""Tenant scopes: every store call says whose data it may touch.

A :class:`Scope` is either one tenant or the operator (all tenants). The SDK and
the REST routes build one and pass it down; store functions apply it in the SQL
they run, never by filtering results afterwards. A :class:`FleetRef` can only be
obtained from a scoped fleet lookup, so holding one proves the scope was checked,
and every query that takes it constrains rows to that fleet (and its tenant).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from shoal.errors import Forbidden, InvalidInput, NotFound

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")

ROLES = ("viewer", "editor", "admin", "operator", "predict")
"""Who may do what: ``viewer`` reads; ``editor`` also registers, trains, moves aliases and
acknowledges alerts; ``admin`` also manages its tenant's tokens and alert rules; ``operator``
is an admin of every tenant (and of store-wide housekeeping). ``predict`` is for services:
it may call predict and feedback and nothing else."""

_RANK = {"viewer": 1, "editor": 2, "admin": 3, "operator": 4}


@dataclass(frozen=True)
class Principal:
    """Who a call acts for: a token, a signed-in person, or the local user.

    ``tenant=None`` only for the operator role. ``address`` and ``request_id`` say where a
    server request came from, for the audit log; the local user has neither.
    """

    name: str
    role: str
    tenant: str | None = None
    via: str = "local"
    address: str | None = None
    request_id: str | None = None
    token_id: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise InvalidInput(f"role {self.role!r} is not one of {', '.join(ROLES)}",
                               field="role")  # fmt: skip
        if (self.tenant is None) != (self.role == "operator"):
            raise InvalidInput(
                "an operator spans every tenant (no tenant); every other role needs one",
                field="tenant",
            )

    def may(self, needed: str) -> bool:
        """Whether this role allows an action that needs role ``needed``."""
        if needed == "predict":
            return self.role == "predict" or _RANK.get(self.role, 0) >= _RANK["editor"]
        return _RANK.get(self.role, 0) >= _RANK.get(needed, 99)

    @property
    def scope(self) -> Scope:
        return Scope(self.tenant)


_ACTING: ContextVar[Principal | None] = ContextVar("shoal_acting", default=None)


def acting() -> Principal | None:
    """The principal the calls in flight act for (a server request's), if any."""
    return _ACTING.get()


@contextmanager
def acting_as(principal: Principal) -> Iterator[Principal]:
    """Make ``principal`` the one every scope and audit row in this context is checked
    against: inside it, a :class:`Scope` beyond the principal's tenant cannot be built,
    and the audit log names the principal, its address and the request id."""
    token = _ACTING.set(principal)
    try:
        yield principal
    finally:
        _ACTING.reset(token)


@dataclass(frozen=True)
class Scope:
    """Which tenant a call acts for; ``tenant=None`` is the operator (every tenant).

    While a principal acts (:func:`acting_as`, a server request), a scope wider than the
    principal's tenant is refused when built: a route or capability that builds its own
    scope cannot reach past the request's tenant.
    """

    tenant: str | None = None

    def __post_init__(self) -> None:
        who = _ACTING.get()
        if who is None or who.tenant is None or self.tenant == who.tenant:
            return
        if self.tenant is None:
            raise Forbidden(f"this needs the operator role; {who.name} acts for one tenant")
        raise NotFound(f"tenant {self.tenant!r} not found")

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
