"""monitoring: per-window results, per-feature drift, alert rules and alerts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "monitor_results",
        sa.Column("fleet_id", sa.BigInteger(), nullable=False),
        sa.Column("window_seconds", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.Float(), nullable=False),
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("model_id", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("predictions", sa.BigInteger(), nullable=False),
        sa.Column("labelled", sa.BigInteger(), nullable=False),
        *[sa.Column(name, sa.Float()) for name in ("mae", "rmse", "mape", "smape")],
        *[sa.Column(name, sa.Float()) for name in ("accuracy", "f1", "log_loss")],
        sa.Column("prediction_psi", sa.Float()),
        sa.Column("max_psi", sa.Float()),
        sa.Column("max_psi_feature", sa.String(length=200)),
        sa.Column("drifted_features", sa.Integer(), nullable=False),
        sa.Column("tested_features", sa.Integer(), nullable=False),
        sa.Column("missing_rate", sa.Float()),
        sa.Column("out_of_range", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "fleet_id",
            "window_seconds",
            "window_start",
            "version_id",
            name=op.f("pk_monitor_results"),
        ),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_monitor_results_model", "monitor_results", ["fleet_id", "model_id", "window_start"]
    )
    op.create_table(
        "monitor_features",
        sa.Column("fleet_id", sa.BigInteger(), nullable=False),
        sa.Column("window_seconds", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.Float(), nullable=False),
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("feature", sa.String(length=200), nullable=False),
        sa.Column("test", sa.String(length=10), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("missing", sa.BigInteger(), nullable=False),
        sa.Column("out_of_range", sa.BigInteger(), nullable=False),
        *[sa.Column(name, sa.Float()) for name in ("psi", "statistic", "p_value", "q_value")],
        sa.Column("drifted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint(
            "fleet_id",
            "window_seconds",
            "window_start",
            "version_id",
            "feature",
            name=op.f("pk_monitor_features"),
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "alert_rules",
        sa.Column("id", Id, nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("fleet_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("expression", sa.Text(), nullable=False),
        sa.Column("webhook", sa.Text()),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["fleet_id"], ["fleets.id"], name=op.f("fk_alert_rules_fleet_id_fleets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rules")),
        sa.UniqueConstraint("fleet_id", "name", name=op.f("uq_alert_rules_fleet_id_name")),
    )
    op.create_table(
        "alerts",
        sa.Column("id", Id, nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("fleet_id", sa.BigInteger(), nullable=False),
        sa.Column("rule_id", sa.BigInteger(), nullable=False),
        sa.Column("model_id", sa.BigInteger(), nullable=False),
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("value", sa.Float()),
        sa.Column("feature", sa.String(length=200)),
        sa.Column("first_window", sa.Float(), nullable=False),
        sa.Column("last_window", sa.Float(), nullable=False),
        sa.Column("opened_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("resolved_at", sa.Float()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index("ix_alerts_fleet_state", "alerts", ["fleet_id", "state", "id"])
    op.create_index("ix_alerts_rule_model", "alerts", ["rule_id", "model_id", "state"])


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_table("alert_rules")
    op.drop_table("monitor_features")
    op.drop_index("ix_monitor_results_model", table_name="monitor_results")
    op.drop_table("monitor_results")
