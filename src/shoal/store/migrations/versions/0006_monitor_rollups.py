"""monitor_rollups: per window, key dimension and value, computed by each pass

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitor_rollups",
        sa.Column("fleet_id", sa.BigInteger(), nullable=False),
        sa.Column("window_seconds", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.Float(), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("models", sa.BigInteger(), nullable=False),
        sa.Column("drifting", sa.BigInteger(), nullable=False),
        sa.Column("median_mape", sa.Float()),
        sa.Column("predictions", sa.BigInteger(), nullable=False),
        sa.Column("labelled", sa.BigInteger(), nullable=False),
        sa.Column("max_psi", sa.Float()),
        sa.PrimaryKeyConstraint(
            "fleet_id",
            "window_seconds",
            "window_start",
            "dim",
            "value",
            name=op.f("pk_monitor_rollups"),
        ),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("monitor_rollups")
