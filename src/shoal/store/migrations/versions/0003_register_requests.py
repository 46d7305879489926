"""register_requests: idempotent retries of a bulk registration

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 22:35:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "register_requests",
        sa.Column("fleet_id", sa.BigInteger(), nullable=False),
        sa.Column("request_id", sa.String(length=200), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("version_ids", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("fleet_id", "request_id", name=op.f("pk_register_requests")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("register_requests")
