"""who acted on an alert (note, acted_by, acted_at), and tested models per roll-up value

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 12:00:00

Alerts gain the note a person left when acknowledging or resolving (one at a time or in
bulk), who that was and when: ``updated_by`` also moves when a pass refreshes or resolves
an alert, so it cannot say who acted. Roll-ups gain ``tested``, the models of a value with
at least one tested feature, so a store whose models had no feature tested reads "not
tested" instead of "0 % drifting"; NULL on windows stored before this revision (the first
read of such a window computes and stores it).

Indexes: alerts by (fleet, model, state, id), so one model's or a cohort's alerts are an
index range, not a walk of the fleet's alerts; runs and datasets by (tenant, id), so a
tenant's pages read newest first within the tenant.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_alerts_fleet_model_state", "alerts", ["fleet_id", "model_id", "state", "id"]),
    ("ix_runs_tenant", "runs", ["tenant_id", "id"]),
    ("ix_datasets_tenant", "datasets", ["tenant_id", "id"]),
)


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("acted_by", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("acted_at", sa.Float(), nullable=True))
    with op.batch_alter_table("monitor_rollups") as batch:
        batch.add_column(sa.Column("tested", sa.BigInteger(), nullable=True))
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    _drop_columns("monitor_rollups", ["tested"])
    _drop_columns("alerts", ["acted_at", "acted_by", "note"])


def _drop_columns(table: str, columns: list[str]) -> None:
    """``ALTER TABLE ... DROP COLUMN`` in place where the database has it (SQLite 3.35+):
    a batch rebuild on SQLite would lose ``monitor_rollups``' ``WITHOUT ROWID``."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite" or (bind.dialect.server_version_info or ()) >= (3, 35):
        for column in columns:
            op.drop_column(table, column)
        return
    with op.batch_alter_table(table) as batch:
        for column in columns:
            batch.drop_column(column)
