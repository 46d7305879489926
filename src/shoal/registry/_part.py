"""The base of every registry noun: it holds the store it opens transactions on.

Each noun (``fleets``, ``versions``, ``aliases``, ``runs``, ``datasets``, ``monitoring``,
``alerts``) is a small class over one :class:`shoal.store.Store`; the composite
:class:`shoal.registry.Registry` builds them once. Only these classes open store
transactions: everything above the registry asks them, by noun, with explicit arguments.
"""

from __future__ import annotations

from shoal import config
from shoal.errors import Forbidden
from shoal.store.engine import Store
from shoal.store.tenancy import acting


class Part:
    """One noun of the registry over ``store``."""

    def __init__(self, store: Store) -> None:
        self._store = store


def actor_of(actor: str | None = None) -> str:
    """Who a write records: the principal acting (a server request's), whatever a caller
    passed; else ``actor``; else the local user (``SHOAL_USER`` or the OS account).

    Every registry write asks it, so it is also where a principal that may not write (a
    viewer, a predict token) is refused below the routes, should a route that reads ever
    reach a write.
    """
    who = acting()
    if who is not None:
        if not who.may("editor"):
            raise Forbidden(f"{who.name} is {who.role}: this writes, and needs the editor role")
        return who.name
    return actor or config.actor()
