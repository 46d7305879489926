"""reports and model cards: recorded fleet reports, and the fields of a card people write

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 01:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", Id, nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("fleet_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("params", Json, nullable=False),
        sa.Column("summary", Json, nullable=False),
        sa.ForeignKeyConstraint(
            ["fleet_id"], ["fleets.id"], name=op.f("fk_reports_fleet_id_fleets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
    )
    op.create_index("ix_reports_fleet", "reports", ["fleet_id", "id"])
    op.create_table(
        "model_cards",
        sa.Column("model_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("fleet_id", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("intended_use", sa.Text(), nullable=False),
        sa.Column("limitations", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("approved_by", sa.String(length=100), nullable=True),
        sa.Column("approved_at", sa.Float(), nullable=True),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["fleet_id"], ["fleets.id"], name=op.f("fk_model_cards_fleet_id_fleets")
        ),
        sa.PrimaryKeyConstraint("model_id", name=op.f("pk_model_cards")),
    )
    op.create_index("ix_model_cards_fleet", "model_cards", ["fleet_id", "model_id"])
    # A model card lists the alias moves of one model: a seek, not a scan of every move.
    op.create_index("ix_alias_move_items_model", "alias_move_items", ["model_id", "move_id"])


def downgrade() -> None:
    op.drop_index("ix_alias_move_items_model", table_name="alias_move_items")
    op.drop_index("ix_model_cards_fleet", table_name="model_cards")
    op.drop_table("model_cards")
    op.drop_index("ix_reports_fleet", table_name="reports")
    op.drop_table("reports")
