"""who acted on an alert (note, acted_by, acted_at), and tested models per roll-up value

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 12:00:00

Alerts gain the note a person left when acknowledging or resolving (one at a time or in
bulk), who that was and when: ``updated_by`` also moves when a pass refreshes or resolves
an alert, so it cannot say who acted. Roll-ups gain ``tested``, the models of a value with
at least one tested feature, so a store whose models had no feature tested reads "not
tested" instead of "0 % drifting"; NULL on windows stored before this revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("acted_by", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("acted_at", sa.Float(), nullable=True))
    with op.batch_alter_table("monitor_rollups") as batch:
        batch.add_column(sa.Column("tested", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("monitor_rollups") as batch:
        batch.drop_column("tested")
    with op.batch_alter_table("alerts") as batch:
        for column in ("acted_at", "acted_by", "note"):
            batch.drop_column(column)
