"""Monitoring results: what the versions of a fleet need to be judged, and what was found.

Reads are bulk (one query for every version a window saw); writes replace a whole window
in one transaction, so re-running monitoring over a window is idempotent and a reader
never sees half of a window's results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.errors import InvalidInput
from shoal.store.bulk import insert_rows
from shoal.store.schema import (
    alerts,
    fleets,
    metrics,
    models,
    monitor_features,
    monitor_results,
    monitor_rollups,
    monitor_windows,
    runs,
    tenants,
    versions,
)
from shoal.store.tenancy import FleetRef, Scope

RESULT_COLUMNS = (
    "version_id", "model_id", "predictions", "labelled", "mae", "rmse", "mape", "smape",
    "accuracy", "f1", "log_loss", "prediction_psi", "max_psi", "max_psi_feature",
    "drifted_features", "tested_features", "missing_rate", "out_of_range",
)  # fmt: skip
"""The per-version figures of ``monitor_results`` a monitoring pass fills in, in order."""

FEATURE_COLUMNS = (
    "version_id", "feature", "test", "n", "missing", "out_of_range", "psi", "statistic",
    "p_value", "q_value", "drifted",
)  # fmt: skip

FIGURES = frozenset(RESULT_COLUMNS) - {"version_id", "model_id", "max_psi_feature"}
"""Figures a person may sort, filter or roll up by."""

_CHUNK = 5000
"""How long a read waits for the write lock to store what it computed (else it skips it)."""
"""Version ids per IN (...) list: well under SQLite's and PostgreSQL's parameter limits."""


def references(
    conn: Connection, fleet: FleetRef, version_ids: Sequence[int]
) -> list[tuple[int, int, str | None, str | None]]:
    """Per version of ``fleet``: (id, model id, baseline profile, signature) as JSON text.

    Text, not parsed: monitoring parses the few fields it needs from 100,000 profiles in
    DuckDB's vectorised JSON reader, where decoding each whole profile in Python cost
    15 s at that size. Ids of other fleets are left out, so logs that name a foreign
    version cannot reach another tenant's baselines.
    """
    text = "::text" if conn.dialect.name == "postgresql" else ""
    out: list[tuple[int, int, str | None, str | None]] = []
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    for start in range(0, len(version_ids), _CHUNK):
        chunk = [int(v) for v in version_ids[start : start + _CHUNK]]
        sql = (
            f"SELECT v.id, v.model_id, b.profile{text}, v.signature{text} FROM versions v "
            "LEFT JOIN version_baselines b ON b.version_id = v.id "
            f"WHERE v.fleet_id = {mark} AND v.id IN ({', '.join([mark] * len(chunk))})"
        )
        out.extend(tuple(row) for row in conn.exec_driver_sql(sql, (fleet.id, *chunk)))
    return out


def replace_window(
    conn: Connection,
    fleet: FleetRef,
    window_seconds: int,
    window_start: float,
    run_id: int,
    results: Sequence[tuple[Any, ...]],
    features: Sequence[tuple[Any, ...]],
    rollups: Sequence[tuple[Any, ...]] = (),
) -> None:
    """Store one window's results (``RESULT_COLUMNS`` / ``FEATURE_COLUMNS`` tuples), replacing
    what an earlier pass over the same window stored. Call inside a write transaction."""
    for table in (monitor_results, monitor_features, monitor_rollups, monitor_windows):
        conn.execute(
            table.delete().where(
                table.c.fleet_id == fleet.id,
                table.c.window_seconds == window_seconds,
                table.c.window_start == window_start,
            )
        )
    head = (fleet.id, window_seconds, window_start)
    insert_rows(
        conn,
        monitor_results,
        ("fleet_id", "window_seconds", "window_start", "run_id", *RESULT_COLUMNS),
        [(*head, run_id, *row) for row in results],
    )
    insert_rows(
        conn,
        monitor_features,
        ("fleet_id", "window_seconds", "window_start", *FEATURE_COLUMNS),
        [(*head, *row) for row in features],
    )
    at = {name: i for i, name in enumerate(RESULT_COLUMNS)}
    insert_rows(
        conn,
        monitor_windows,
        ("fleet_id", "window_seconds", "window_start", "run_id", "versions", "predictions"),
        [(*head, run_id, len(results), sum(r[at["predictions"]] for r in results))],
    )
    insert_rows(
        conn,
        monitor_rollups,
        ("fleet_id", "window_seconds", "window_start", *ROLLUP_COLUMNS),
        [(*head, *row) for row in rollups],
    )


def windows(
    conn: Connection, fleet: FleetRef, window_seconds: int | None = None, limit: int = 50
) -> list[tuple[int, float]]:
    """The fleet's monitored windows as (seconds, start), newest first."""
    t = monitor_windows
    query = (
        sa.select(t.c.window_seconds, t.c.window_start)
        .where(t.c.fleet_id == fleet.id)
        .order_by(t.c.window_start.desc(), t.c.window_seconds)
        .limit(limit)
    )
    if window_seconds is not None:
        query = query.where(t.c.window_seconds == window_seconds)
    return [(int(s), float(w)) for s, w in conn.execute(query)]


def window_at(
    conn: Connection, fleet: FleetRef, when: float, window_seconds: int | None = None
) -> tuple[int, float] | None:
    """The monitored window holding time ``when`` (the shortest, if lengths differ)."""
    t = monitor_windows
    query = (
        sa.select(t.c.window_seconds, t.c.window_start)
        .where(
            t.c.fleet_id == fleet.id,
            t.c.window_start <= when,
            t.c.window_start + t.c.window_seconds > when,
        )
        .order_by(t.c.window_seconds, t.c.window_start.desc())
        .limit(1)
    )
    if window_seconds is not None:
        query = query.where(t.c.window_seconds == window_seconds)
    found = conn.execute(query).first()
    return None if found is None else (int(found[0]), float(found[1]))


def _check_figure(figure: str, field: str) -> str:
    if figure not in FIGURES:
        raise InvalidInput(
            f"{field} {figure!r} is not a monitoring figure; use one of {sorted(FIGURES)}",
            field=field,
        )
    return figure


def window_rows(
    conn: Connection,
    fleet: FleetRef,
    window: tuple[int, float],
    *,
    order_by: str | None = None,
    descending: bool = True,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """One window's per-version rows with their keys; sorted by a figure (NULLs last)."""
    key_cols = [models.c[f"k{i}"].label(f"key.{dim}") for i, dim in enumerate(fleet.keys)]
    query = (
        sa.select(monitor_results, versions.c.number.label("version"), *key_cols)
        .select_from(
            monitor_results.join(models, models.c.id == monitor_results.c.model_id).join(
                versions, versions.c.id == monitor_results.c.version_id
            )
        )
        .where(
            monitor_results.c.fleet_id == fleet.id,
            monitor_results.c.window_seconds == window[0],
            monitor_results.c.window_start == window[1],
        )
    )
    if order_by is not None:
        column = monitor_results.c[_check_figure(order_by, "by")]
        query = query.where(column.is_not(None)).order_by(
            column.desc() if descending else column.asc(), monitor_results.c.version_id
        )
    if limit is not None:
        query = query.limit(limit)
    return [dict(row._mapping) for row in conn.execute(query)]


def feature_rows(
    conn: Connection,
    fleet: FleetRef,
    window: tuple[int, float],
    *,
    version_id: int | None = None,
    drifted_only: bool = False,
) -> list[dict[str, Any]]:
    """A window's per-feature rows (of one version, or of all; optionally drifted only)."""
    query = sa.select(monitor_features).where(
        monitor_features.c.fleet_id == fleet.id,
        monitor_features.c.window_seconds == window[0],
        monitor_features.c.window_start == window[1],
    )
    if version_id is not None:
        query = query.where(monitor_features.c.version_id == version_id)
    if drifted_only:
        query = query.where(monitor_features.c.drifted.is_(True))
    return [dict(row._mapping) for row in conn.execute(query)]


def trend(
    conn: Connection, fleet: FleetRef, model_id: int, window_seconds: int | None = None
) -> list[dict[str, Any]]:
    """One model's rows across windows, oldest first (the version each window served)."""
    query = (
        sa.select(monitor_results, versions.c.number.label("version"))
        .select_from(monitor_results.join(versions, versions.c.id == monitor_results.c.version_id))
        .where(monitor_results.c.fleet_id == fleet.id, monitor_results.c.model_id == model_id)
        .order_by(monitor_results.c.window_start, monitor_results.c.version_id)
    )
    if window_seconds is not None:
        query = query.where(monitor_results.c.window_seconds == window_seconds)
    return [dict(row._mapping) for row in conn.execute(query)]


def version_metrics(
    conn: Connection, fleet: FleetRef, version_ids: Sequence[int], names: Sequence[str]
) -> dict[tuple[int, str], float]:
    """Registered metrics (``training.<name>`` in alert rules) of many versions at once."""
    out: dict[tuple[int, str], float] = {}
    for start in range(0, len(version_ids), _CHUNK):
        chunk = list(version_ids[start : start + _CHUNK])
        query = sa.select(metrics.c.version_id, metrics.c.name, metrics.c.value).where(
            metrics.c.fleet_id == fleet.id,
            metrics.c.version_id.in_(chunk),
            metrics.c.name.in_(list(names)),
        )
        for vid, name, value in conn.execute(query):
            out[(vid, name)] = value
    return out


def health(conn: Connection, scope: Scope) -> dict[tuple[str, str], dict[str, Any]]:
    """Per fleet the scope sees: unresolved alerts and its newest monitoring pass's figures
    (``monitored``: versions, drifting, ``tested``/``not_tested`` models, predictions).

    Two grouped queries for all fleets (never one per fleet): the alerts' (fleet, state)
    index, and each fleet's newest succeeded ``monitor`` run, whose counts the pass wrote.
    """
    visible = sa.select(fleets.c.id, tenants.c.name.label("tenant"), fleets.c.name).join(
        tenants, tenants.c.id == fleets.c.tenant_id
    )
    if not scope.is_operator:
        visible = visible.where(tenants.c.name == scope.tenant)
    names = {row.id: (row.tenant, row.name) for row in conn.execute(visible)}
    out: dict[tuple[str, str], dict[str, Any]] = {
        path: {"alerts": 0, "monitored": None} for path in names.values()
    }
    if not names:
        return out
    ids = list(names)
    open_alerts = (
        sa.select(alerts.c.fleet_id, sa.func.count())
        .where(alerts.c.fleet_id.in_(ids), alerts.c.state.in_(("open", "acknowledged")))
        .group_by(alerts.c.fleet_id)
    )
    for fleet_id, n in conn.execute(open_alerts):
        out[names[fleet_id]]["alerts"] = int(n)
    newest = (
        sa.select(sa.func.max(runs.c.id))
        .where(runs.c.fleet_id.in_(ids), runs.c.kind == "monitor", runs.c.status == "succeeded")
        .group_by(runs.c.fleet_id)
    )
    query = sa.select(runs.c.fleet_id, runs.c.counts, runs.c.params, runs.c.finished_at).where(
        runs.c.id.in_(newest)
    )
    for fleet_id, counts, params, finished in conn.execute(query):
        counts = counts if isinstance(counts, dict) else {}
        out[names[fleet_id]]["monitored"] = {
            "at": finished, "versions": counts.get("versions", 0),
            "drifting": counts.get("drifting_models", 0),
            # models with a feature tested (None: a pass before this was counted)
            "tested": counts.get("tested_models"),
            "not_tested": None if counts.get("tested_models") is None
            else counts.get("models", counts.get("versions", 0)) - counts["tested_models"],
            "predictions": counts.get("predictions", 0),
            "window": (params or {}).get("window"),
        }  # fmt: skip
    return out


ROLLUP_COLUMNS = (
    "dim", "value", "models", "drifting", "median_mape", "predictions", "labelled", "max_psi",
    "tested",
)  # fmt: skip
