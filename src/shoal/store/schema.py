"""The metadata schema: SQLAlchemy Core tables shared by SQLite and PostgreSQL.

Shaped for fleets of a million models:

- Key values are real columns (``k0`` .. ``k5``) with one partial index each, so
  "every model of store 12" is an index range scan, never a JSON scan.
- Metrics live in a narrow table with a ``latest`` flag and an index on
  (fleet, name, latest, value, version): thresholds, sorts and counts over the
  fleet's latest metrics are index range scans, and keyset pages follow the index.
- Facet counts per key value (``key_counts``) and per alias (``alias_counts``) and
  the fleet's model and version counts are kept current by the writes, so counts
  and facets of a whole fleet do not aggregate a million rows on every read.
- Timestamps are UNIX seconds (float): cheap to write in bulk, equal on both engines.
- Identifiers are 64-bit integers allocated in blocks by the writer (see ``ids``).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

MAX_KEYS = 6
"""A fleet has at most this many key dimensions (``k0`` .. ``k5``)."""

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# A 64-bit id that is SQLite's rowid alias there (INTEGER PRIMARY KEY) and BIGINT elsewhere.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Time = sa.Float


def _key_columns() -> list[sa.Column[str]]:
    return [sa.Column(f"k{i}", sa.String(200)) for i in range(MAX_KEYS)]


tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("created_at", Time, nullable=False),
)

fleets = sa.Table(
    "fleets",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("tenant_id", sa.BigInteger, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("dims", Json, nullable=False),
    sa.Column("allow_pickle", sa.Boolean, nullable=False, default=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("model_count", sa.BigInteger, nullable=False, default=0),
    sa.Column("version_count", sa.BigInteger, nullable=False, default=0),
    sa.Column("created_at", Time, nullable=False),
    sa.UniqueConstraint("tenant_id", "name"),
)

models = sa.Table(
    "models",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("tenant_id", sa.BigInteger, nullable=False),
    sa.Column("fleet_id", sa.BigInteger, sa.ForeignKey("fleets.id"), nullable=False),
    sa.Column("key_text", sa.String(1400), nullable=False),
    *_key_columns(),
    sa.Column("latest_version_id", sa.BigInteger),
    sa.Column("latest_number", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", Time, nullable=False),
    sa.UniqueConstraint("fleet_id", "key_text"),
    # A fleet's models in id order: the default sort, and the walk page by page.
    sa.Index("ix_models_fleet_id", "fleet_id", "id"),
    *[
        sa.Index(
            f"ix_models_fleet_k{i}",
            "fleet_id",
            f"k{i}",
            "id",
            sqlite_where=sa.text(f"k{i} IS NOT NULL"),
            postgresql_where=sa.text(f"k{i} IS NOT NULL"),
        )
        for i in range(MAX_KEYS)
    ],
)

blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("pack", sa.String(100)),
    sa.Column("offset", sa.BigInteger, nullable=False, default=0),
    sa.Column("created_at", Time, nullable=False),
    sqlite_with_rowid=False,
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("tenant_id", sa.BigInteger, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("fleet_id", sa.BigInteger, sa.ForeignKey("fleets.id")),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("params", Json, nullable=False),
    sa.Column("counts", Json, nullable=False),
    sa.Column("code_ref", sa.String(200)),
    sa.Column("error", sa.Text),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("started_at", Time, nullable=False),
    sa.Column("finished_at", Time),
    sa.Column("lease_holder", sa.String(200)),
    sa.Column("lease_expires_at", Time),
    sa.Index("ix_runs_tenant_fleet", "tenant_id", "fleet_id", "id"),
    sa.Index("ix_runs_tenant", "tenant_id", "id"),  # a tenant's runs, newest first (0011)
)

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("tenant_id", sa.BigInteger, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("schema", Json, nullable=False),
    sa.Column("row_count", sa.BigInteger, nullable=False),
    sa.Column("location", sa.Text),
    sa.Column("profile", Json, nullable=False),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.UniqueConstraint("tenant_id", "name", "fingerprint"),
    sa.Index("ix_datasets_tenant_fingerprint", "tenant_id", "fingerprint"),
    sa.Index("ix_datasets_tenant", "tenant_id", "id"),  # a tenant's datasets by id (0011)
)

VERSION_READY = "ready"
"""A version's status once registered: searched, counted, served."""
VERSION_ARCHIVED = "archived"
"""A version kept but hidden: out of search, counts, facets and serving, and no alias target;
its model's latest is its newest version that is not archived (see ``store.retire``)."""

versions = sa.Table(
    "versions",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("tenant_id", sa.BigInteger, nullable=False),
    sa.Column("fleet_id", sa.BigInteger, sa.ForeignKey("fleets.id"), nullable=False),
    sa.Column("model_id", sa.BigInteger, sa.ForeignKey("models.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("flavor", sa.String(50), nullable=False),
    sa.Column("artifact_sha256", sa.String(64), nullable=False),
    sa.Column("artifact_size", sa.BigInteger, nullable=False),
    sa.Column("signature", Json),
    sa.Column("params", Json, nullable=False),
    sa.Column("run_id", sa.BigInteger, sa.ForeignKey("runs.id")),
    sa.Column("dataset_id", sa.BigInteger, sa.ForeignKey("datasets.id")),
    sa.Column("slice_fingerprint", sa.String(64)),
    sa.Column("code_ref", sa.String(200)),
    sa.Column("parent_version_id", sa.BigInteger),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.UniqueConstraint("model_id", "number"),
    sa.Index(
        "ix_versions_dataset",
        "dataset_id",
        "id",
        sqlite_where=sa.text("dataset_id IS NOT NULL"),
        postgresql_where=sa.text("dataset_id IS NOT NULL"),
    ),
    sa.Index(
        "ix_versions_run",
        "run_id",
        "id",
        sqlite_where=sa.text("run_id IS NOT NULL"),
        postgresql_where=sa.text("run_id IS NOT NULL"),
    ),
)

version_baselines = sa.Table(
    "version_baselines",
    metadata,
    sa.Column("version_id", sa.BigInteger, primary_key=True),
    sa.Column("fleet_id", sa.BigInteger, nullable=False),
    sa.Column("profile", Json, nullable=False),
    sqlite_with_rowid=False,
)
"""Each version's baseline profile of its training slice (see :mod:`shoal.data`).

A table of its own rather than a column of ``versions``: a profile is a few kilobytes of
JSON, read only by monitoring and by one version at a time, while ``versions`` is scanned
and paged by every search. Kept out of that row, it never widens the hot table's pages.
"""

run_failures = sa.Table(
    "run_failures",
    metadata,
    sa.Column("run_id", sa.BigInteger, nullable=False),
    sa.Column("key_text", sa.String(1400), nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("traceback", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("at", Time, nullable=False),
    sa.PrimaryKeyConstraint("run_id", "key_text"),
    sqlite_with_rowid=False,
)
"""One row per key a run could not train: the last error, its traceback and the attempts.

The primary key (run, key) is the index every read uses ("the failures of run 7"), and
lets a resumed run replace a key's row when it fails again.
"""

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("version_id", sa.BigInteger, nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("fleet_id", sa.BigInteger, nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("latest", sa.Boolean, nullable=False),
    sa.PrimaryKeyConstraint("version_id", "name"),
    sa.Index(
        "ix_metrics_fleet_name_latest_value", "fleet_id", "name", "latest", "value", "version_id"
    ),
    sqlite_with_rowid=False,
)

version_tags = sa.Table(
    "version_tags",
    metadata,
    sa.Column("version_id", sa.BigInteger, nullable=False),
    sa.Column("key", sa.String(100), nullable=False),
    sa.Column("fleet_id", sa.BigInteger, nullable=False),
    sa.Column("value", sa.String(500), nullable=False),
    sa.PrimaryKeyConstraint("version_id", "key"),
    sa.Index("ix_version_tags_fleet_key_value", "fleet_id", "key", "value", "version_id"),
    sqlite_with_rowid=False,
)

aliases = sa.Table(
    "aliases",
    metadata,
    sa.Column("model_id", sa.BigInteger, nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("fleet_id", sa.BigInteger, nullable=False),
    sa.Column("version_id", sa.BigInteger, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.PrimaryKeyConstraint("model_id", "name"),
    sa.Index("ix_aliases_fleet_name_model", "fleet_id", "name", "model_id"),
    sqlite_with_rowid=False,
)

alias_moves = sa.Table(
    "alias_moves",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("tenant_id", sa.BigInteger, nullable=False),
    sa.Column("fleet_id", sa.BigInteger, sa.ForeignKey("fleets.id"), nullable=False),
    sa.Column("alias", sa.String(100), nullable=False),
    sa.Column("where_text", sa.Text),
    sa.Column("source", sa.String(100)),
    sa.Column("moved", sa.BigInteger, nullable=False),
    sa.Column("undo_of", sa.BigInteger),
    sa.Column("undone_by", sa.BigInteger),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("at", Time, nullable=False),
    sa.Index("ix_alias_moves_fleet", "fleet_id", "id"),
)

alias_move_items = sa.Table(
    "alias_move_items",
    metadata,
    sa.Column("move_id", sa.BigInteger, nullable=False),
    sa.Column("model_id", sa.BigInteger, nullable=False),
    sa.Column("old_version_id", sa.BigInteger),
    sa.Column("new_version_id", sa.BigInteger),
    sa.PrimaryKeyConstraint("move_id", "model_id"),
    sa.Index("ix_alias_move_items_model", "model_id", "move_id"),
    sqlite_with_rowid=False,
)

register_requests = sa.Table(
    "register_requests",
    metadata,
    sa.Column("fleet_id", sa.BigInteger, nullable=False),
    sa.Column("request_id", sa.String(200), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("version_ids", sa.LargeBinary, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.PrimaryKeyConstraint("fleet_id", "request_id"),
    sqlite_with_rowid=False,
)
"""One row per ``register(..., request_id=...)`` call: a retry returns what it registered."""

key_counts = sa.Table(
    "key_counts",
    metadata,
    sa.Column("fleet_id", sa.BigInteger, nullable=False),
    sa.Column("dim", sa.Integer, nullable=False),
    sa.Column("value", sa.String(200), nullable=False),
    sa.Column("n", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("fleet_id", "dim", "value"),
    sqlite_with_rowid=False,
)

alias_counts = sa.Table(
    "alias_counts",
    metadata,
    sa.Column("fleet_id", sa.BigInteger, nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("n", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("fleet_id", "name"),
    sqlite_with_rowid=False,
)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("tenant_id", sa.BigInteger),
    sa.Column("at", Time, nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("action", sa.String(60), nullable=False),
    sa.Column("target", sa.String(300), nullable=False),
    sa.Column("detail", Json, nullable=False),
    # Who, beyond a name, when the write came through a server (0010): the principal's
    # role and how it signed in, the client's address and the request id.
    sa.Column("role", sa.String(20)),
    sa.Column("via", sa.String(20)),
    sa.Column("address", sa.String(100)),
    sa.Column("request_id", sa.String(100)),
    sa.Index("ix_audit_tenant", "tenant_id", "id"),
)

# API tokens: only a sha256 of each secret is kept (a token has 256 random bits, so a fast
# hash is enough); tenant_id is NULL for an operator token.
tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("tenant_id", sa.BigInteger, sa.ForeignKey("tenants.id")),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("secret_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("expires_at", Time),
    sa.Column("revoked_at", Time),
    sa.Column("last_used_at", Time),
    sa.Index("ix_tokens_tenant", "tenant_id", "id"),
)

# -- monitoring -----------------------------------------------------------------------------

monitor_results = sa.Table(
    "monitor_results",
    metadata,
    sa.Column("fleet_id", sa.BigInteger, nullable=False),
    sa.Column("window_seconds", sa.Integer, nullable=False),
    sa.Column("window_start", Time, nullable=False),
    sa.Column("version_id", sa.BigInteger, nullable=False),
    sa.Column("model_id", sa.BigInteger, nullable=False),
    sa.Column("run_id", sa.BigInteger, nullable=False),
    sa.Column("predictions", sa.BigInteger, nullable=False),
    sa.Column("labelled", sa.BigInteger, nullable=False),
    sa.Column("mae", sa.Float),
    sa.Column("rmse", sa.Float),
    sa.Column("mape", sa.Float),
    sa.Column("smape", sa.Float),
    sa.Column("accuracy", sa.Float),
    sa.Column("f1", sa.Float),
    sa.Column("log_loss", sa.Float),
    sa.Column("prediction_psi", sa.Float),
    sa.Column("max_psi", sa.Float),
    sa.Column("max_psi_feature", sa.String(200)),
    sa.Column("drifted_features", sa.Integer, nullable=False),
    sa.Column("tested_features", sa.Integer, nullable=False),
    sa.Column("missing_rate", sa.Float),
    sa.Column("out_of_range", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("fleet_id", "window_seconds", "window_start", "version_id"),
    sa.Index("ix_monitor_results_model", "fleet_id", "model_id", "window_start"),
    sqlite_with_rowid=False,
)
"""One row per version that answered in a window: its quality and drift figures.

A wide row rather than a narrow (name, value) table: every figure is known in advance,
and "worst 20 by MAPE in this window" reads one window's rows (one per serving version),
not one row per figure. Per-feature detail lives in ``monitor_features``.
"""

monitor_features = sa.Table(
    "monitor_features",
    metadata,
    sa.Column("fleet_id", sa.BigInteger, nullable=False),
    sa.Column("window_seconds", sa.Integer, nullable=False),
    sa.Column("window_start", Time, nullable=False),
    sa.Column("version_id", sa.BigInteger, nullable=False),
    sa.Column("feature", sa.String(200), nullable=False),
    sa.Column("test", sa.String(10), nullable=False),
    sa.Column("n", sa.BigInteger, nullable=False),
    sa.Column("missing", sa.BigInteger, nullable=False),
    sa.Column("out_of_range", sa.BigInteger, nullable=False),
    sa.Column("psi", sa.Float),
    sa.Column("statistic", sa.Float),
    sa.Column("p_value", sa.Float),
    sa.Column("q_value", sa.Float),
    sa.Column("drifted", sa.Boolean, nullable=False),
    sa.PrimaryKeyConstraint("fleet_id", "window_seconds", "window_start", "version_id", "feature"),
    sqlite_with_rowid=False,
)
"""Per version, window and feature (``prediction`` included): the drift test and its figures."""

alert_rules = sa.Table(
    "alert_rules",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("tenant_id", sa.BigInteger, nullable=False),
    sa.Column("fleet_id", sa.BigInteger, sa.ForeignKey("fleets.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("expression", sa.Text, nullable=False),
    sa.Column("webhook", sa.Text),
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.UniqueConstraint("fleet_id", "name"),
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("tenant_id", sa.BigInteger, nullable=False),
    sa.Column("fleet_id", sa.BigInteger, nullable=False),
    sa.Column("rule_id", sa.BigInteger, nullable=False),
    sa.Column("model_id", sa.BigInteger, nullable=False),
    sa.Column("version_id", sa.BigInteger, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("feature", sa.String(200)),
    sa.Column("first_window", Time, nullable=False),
    sa.Column("last_window", Time, nullable=False),
    sa.Column("opened_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("updated_by", sa.String(100), nullable=False),
    sa.Column("resolved_at", Time),
    sa.Column("note", sa.Text),  # who acknowledged or resolved it, when, and why (0011)
    sa.Column("acted_by", sa.String(100)),
    sa.Column("acted_at", Time),
    sa.Index("ix_alerts_fleet_state", "fleet_id", "state", "id"),
    sa.Index("ix_alerts_rule_model", "rule_id", "model_id", "state"),
    sa.Index("ix_alerts_fleet_model_state", "fleet_id", "model_id", "state", "id"),  # cohort
)
"""Alerts: one per rule and model while unresolved (deduplicated), open → acknowledged →
resolved. A rule that stops matching resolves its alerts; a later match opens a new one."""

monitor_rollups = sa.Table(
    "monitor_rollups",
    metadata,
    sa.Column("fleet_id", sa.BigInteger, nullable=False),
    sa.Column("window_seconds", sa.Integer, nullable=False),
    sa.Column("window_start", Time, nullable=False),
    sa.Column("dim", sa.Integer, nullable=False),
    sa.Column("value", sa.String(200), nullable=False),
    sa.Column("models", sa.BigInteger, nullable=False),
    sa.Column("drifting", sa.BigInteger, nullable=False),
    sa.Column("median_mape", sa.Float),
    sa.Column("predictions", sa.BigInteger, nullable=False),
    sa.Column("labelled", sa.BigInteger, nullable=False),
    sa.Column("max_psi", sa.Float),
    sa.Column("tested", sa.BigInteger),  # models with a tested feature; NULL before 0011
    sa.PrimaryKeyConstraint("fleet_id", "window_seconds", "window_start", "dim", "value"),
    sqlite_with_rowid=False,
)
"""Per window, key dimension and value: the roll-up a pass computed, so "drift by store"
reads a few hundred rows instead of aggregating 100,000 (2 s at that size)."""

monitor_windows = sa.Table(
    "monitor_windows",
    metadata,
    sa.Column("fleet_id", sa.BigInteger, nullable=False),
    sa.Column("window_seconds", sa.Integer, nullable=False),
    sa.Column("window_start", Time, nullable=False),
    sa.Column("run_id", sa.BigInteger, nullable=False),
    sa.Column("versions", sa.BigInteger, nullable=False),
    sa.Column("predictions", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("fleet_id", "window_seconds", "window_start"),
    sa.Index("ix_monitor_windows_start", "fleet_id", "window_start"),
    sqlite_with_rowid=False,
)
"""One row per monitored window: listing windows, or finding the one that holds a time,
reads this instead of grouping every model's result of every window (a year of daily
windows of 100,000 models is 36 million rows)."""

# -- reports and model cards ----------------------------------------------------------------

reports = sa.Table(
    "reports",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("tenant_id", sa.BigInteger, nullable=False),
    sa.Column("fleet_id", sa.BigInteger, sa.ForeignKey("fleets.id"), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("params", Json, nullable=False),
    sa.Column("summary", Json, nullable=False),
    sa.Index("ix_reports_fleet", "fleet_id", "id"),
)
"""One row per fleet report written: its options and the bounded figures it showed
(counts, per-metric quantiles, per-cohort medians), so the next report of the fleet
diffs against them. Per-model changes are read from the store by time (models created,
alias moves, versions retired, alerts opened since the previous report's ``created_at``)."""

model_cards = sa.Table(
    "model_cards",
    metadata,
    sa.Column("model_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("tenant_id", sa.BigInteger, nullable=False),
    sa.Column("fleet_id", sa.BigInteger, sa.ForeignKey("fleets.id"), nullable=False),
    sa.Column("owner", sa.String(200), nullable=False, default=""),
    sa.Column("intended_use", sa.Text, nullable=False, default=""),
    sa.Column("limitations", sa.Text, nullable=False, default=""),
    sa.Column("status", sa.String(20), nullable=False, default="draft"),
    sa.Column("approved_by", sa.String(100)),
    sa.Column("approved_at", Time),
    sa.Column("updated_by", sa.String(100), nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Index("ix_model_cards_fleet", "fleet_id", "model_id"),
)
"""The few fields of a model card people write (owner, intended use, limitations) and
its status (draft, approved, archived) with who approved it; everything else on a card
is read from what Shoal tracks. A model with no row has an empty draft card."""
