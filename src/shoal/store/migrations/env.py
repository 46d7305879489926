"""Alembic environment: runs on the connection Shoal hands over, in one transaction."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from shoal.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # Two processes upgrading at once: the second waits, then finds nothing to do.
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(7140331)"))
    context.run_migrations()
