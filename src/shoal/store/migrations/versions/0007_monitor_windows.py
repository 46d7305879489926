"""monitor_windows: one row per monitored window, filled from the results already stored

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitor_windows",
        sa.Column("fleet_id", sa.BigInteger(), nullable=False),
        sa.Column("window_seconds", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.Float(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("versions", sa.BigInteger(), nullable=False),
        sa.Column("predictions", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "fleet_id", "window_seconds", "window_start", name=op.f("pk_monitor_windows")
        ),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_monitor_windows_start", "monitor_windows", ["fleet_id", "window_start"])
    op.execute(
        "INSERT INTO monitor_windows (fleet_id, window_seconds, window_start, run_id, versions, "
        "predictions) SELECT fleet_id, window_seconds, window_start, max(run_id), count(*), "
        "sum(predictions) FROM monitor_results GROUP BY fleet_id, window_seconds, window_start"
    )


def downgrade() -> None:
    op.drop_index("ix_monitor_windows_start", table_name="monitor_windows")
    op.drop_table("monitor_windows")
