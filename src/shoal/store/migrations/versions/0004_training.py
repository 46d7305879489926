"""training: per-version baseline profiles and per-key run failures

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "version_baselines",
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("fleet_id", sa.BigInteger(), nullable=False),
        sa.Column("profile", Json, nullable=False),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_version_baselines")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "run_failures",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("key_text", sa.String(length=1400), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("traceback", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key_text", name=op.f("pk_run_failures")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("run_failures")
    op.drop_table("version_baselines")
