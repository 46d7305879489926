"""models in id order per fleet: an index for the default sort and for walking a fleet

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 22:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.create_index("ix_models_fleet_id", ["fleet_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_index("ix_models_fleet_id")
