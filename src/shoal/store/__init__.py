"""The metadata store: SQLAlchemy Core over SQLite (default) or PostgreSQL.

One module per table group (``fleets``, ``writes`` for models and versions,
``aliases``, ``runs``, ``datasets``, ``audit``), the filter grammar (``filters``)
and its compiler (``search``). Every function takes a :class:`Scope` or a
:class:`FleetRef` that a scoped lookup produced; none crosses tenants otherwise.
"""

from shoal.store.engine import Store
from shoal.store.tenancy import FleetRef, Scope

__all__ = ["FleetRef", "Scope", "Store"]
