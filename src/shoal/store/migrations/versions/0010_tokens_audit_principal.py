"""tokens, and who made each audited write: role, sign-in, client address, request id

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tokens",
        sa.Column("id", Id, nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.Column("last_used_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_tokens_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokens")),
        sa.UniqueConstraint("secret_sha256", name=op.f("uq_tokens_secret_sha256")),
    )
    op.create_index("ix_tokens_tenant", "tokens", ["tenant_id", "id"])
    with op.batch_alter_table("audit") as batch:
        batch.add_column(sa.Column("role", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("via", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("address", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("request_id", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit") as batch:
        for column in ("request_id", "address", "via", "role"):
            batch.drop_column(column)
    op.drop_index("ix_tokens_tenant", table_name="tokens")
    op.drop_table("tokens")
