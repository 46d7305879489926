"""What a fleet report reads: a few bulk scans of one fleet, never one query per model.

A report of a million models reads, in one snapshot:

- the model table (one row per model: keys, the version shown and its lineage, the
  alias it is judged at), in keyset chunks by model id;
- the latest metrics (one row per version and metric, along the metrics index);
- the newest monitored window's per-version rows and every window's totals in the
  period (aggregated here, where the rows are);
- alerts live or touched in the period, runs started in it, the audit of retirements;
- the previous report of the fleet, and what happened since it.

Rows come back as tuples with their column names: the report turns them into Arrow
columns and aggregates them in DuckDB, so nothing here decodes JSON or builds dicts per
row. Every query is scoped by the fleet id, which a tenant-scoped lookup produced.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.store import vocabulary
from shoal.store.ids import allocate
from shoal.store.schema import VERSION_ARCHIVED, metrics, reports
from shoal.store.tenancy import FleetRef

Rows = list[tuple[Any, ...]]

MODEL_CHUNK = 50_000
"""Models per keyset chunk of the model table: a bounded fetch, a handful for a million."""


def _marks(conn: Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def model_columns(fleet: FleetRef) -> list[str]:
    """The model table's columns, the key dimensions by name."""
    return [
        "model_id", *fleet.keys, "model_created_at", "latest_version_id", "latest_number",
        "alias_version_id", "alias_updated_at", "version_id", "number", "version_created_at",
        "dataset_id", "run_id", "has_slice",
    ]  # fmt: skip


def model_chunks(
    conn: Connection, fleet: FleetRef, alias: str, chunk: int = MODEL_CHUNK
) -> Iterator[Rows]:
    """The fleet's models that have a version to show, ``chunk`` at a time by model id.

    The version shown is the one ``alias`` points at, else the model's latest: a report
    judges what serves. Models whose versions are all archived are left out, as the rest
    of Shoal hides them.
    """
    mark = _marks(conn)
    keys = "".join(f"m.k{i}, " for i in range(len(fleet.keys)))
    sql = (
        f"SELECT m.id, {keys}m.created_at, m.latest_version_id, m.latest_number, "
        "a.version_id, a.updated_at, v.id, v.number, v.created_at, v.dataset_id, v.run_id, "
        "CASE WHEN v.slice_fingerprint IS NULL THEN 0 ELSE 1 END "
        "FROM models m "
        f"LEFT JOIN aliases a ON a.model_id = m.id AND a.name = {mark} "
        "JOIN versions v ON v.id = COALESCE(a.version_id, m.latest_version_id) "
        f"WHERE m.fleet_id = {mark} AND m.latest_version_id IS NOT NULL AND m.id > {mark} "
        f"ORDER BY m.id LIMIT {int(chunk)}"
    )
    after = 0
    while True:
        result = conn.exec_driver_sql(sql, (alias, fleet.id, after))
        rows = list(result.cursor.fetchall())  # plain tuples: Row objects cost half the time
        result.close()
        if not rows:
            return
        yield rows
        if len(rows) < chunk:
            return
        after = rows[-1][0]


PARTITION = 100_000
"""Rows per fetch of a long scan: memory stays bounded while the report converts them."""


def _partitions(conn: Connection, sql: str, params: tuple[Any, ...]) -> Iterator[Rows]:
    """The rows of ``sql`` as plain tuples from the driver's cursor, ``PARTITION`` at a time.

    SQLAlchemy's ``Row`` objects cost about half of a long scan's time; the statement is
    still executed (and its errors translated) by SQLAlchemy, and a driver error while
    fetching is raised as SQLAlchemy's, so :meth:`Store.translated` sees it.
    """
    result = conn.exec_driver_sql(sql, params)
    cursor = result.cursor
    dbapi = conn.dialect.loaded_dbapi
    try:
        while True:
            try:
                rows = cursor.fetchmany(PARTITION)
            except dbapi.Error as exc:
                raise sa.exc.DBAPIError.instance(sql, params, exc, dbapi.Error) from exc
            if not rows:
                return
            yield list(rows)
    finally:
        result.close()


def metric_counts(conn: Connection, fleet: FleetRef) -> list[tuple[str, int]]:
    """(name, latest versions carrying it) of every metric of the fleet's latest versions:
    the names by a skip scan of the metrics index, then one index range count each."""
    names = vocabulary.names(conn, fleet.id, "metric", limit=1000)
    out = []
    for name in names:
        n = conn.execute(
            sa.select(sa.func.count())
            .select_from(metrics)
            .where(metrics.c.fleet_id == fleet.id, metrics.c.name == name, metrics.c.latest)
        ).scalar_one()
        if n:
            out.append((str(name), int(n)))
    return out


def latest_metric(conn: Connection, fleet: FleetRef, name: str) -> Iterator[Rows]:
    """(version id, value) of one metric over the latest versions, in partitions: a range
    of the metrics index (fleet, name, latest, value, version), which covers it."""
    mark = _marks(conn)
    latest = "latest = 1" if conn.dialect.name == "sqlite" else "latest"
    sql = (
        f"SELECT version_id, value FROM metrics WHERE fleet_id = {mark} AND name = {mark} "
        f"AND {latest}"
    )
    return _partitions(conn, sql, (fleet.id, name))


def tag_values(conn: Connection, fleet: FleetRef, key: str) -> Iterator[Rows]:
    """(version id, value) of one tag over the fleet's versions (its index)."""
    mark = _marks(conn)
    sql = f"SELECT version_id, value FROM version_tags WHERE fleet_id = {mark} AND key = {mark}"
    return _partitions(conn, sql, (fleet.id, key))


def evaluated_metrics(conn: Connection, fleet: FleetRef) -> list[str]:
    """Metric names that evaluation runs recorded for the fleet (from the audit log)."""
    rows = conn.execute(
        sa.text(
            "SELECT detail FROM audit WHERE tenant_id = :t AND action = 'evaluate' "
            "AND target = :path"
        ),
        {"t": fleet.tenant_id, "path": fleet.path},
    )
    names: set[str] = set()
    for (detail,) in rows:
        parsed = detail if isinstance(detail, dict) else _json(detail)
        names.update(str(n) for n in parsed.get("metrics", []))
    return sorted(names)


def _json(text: Any) -> dict[str, Any]:
    import json

    try:
        value = json.loads(text) if isinstance(text, str | bytes) else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


WINDOW_COLUMNS = [
    "version_id", "model_id", "predictions", "labelled", "mae", "mape", "accuracy",
    "max_psi", "max_psi_feature", "drifted_features", "tested_features", "missing_rate",
]  # fmt: skip


def window_results(conn: Connection, fleet: FleetRef, seconds: int, start: float) -> Iterator[Rows]:
    """One window's per-version rows (``WINDOW_COLUMNS``): a primary-key range."""
    mark = _marks(conn)
    sql = (
        f"SELECT {', '.join(WINDOW_COLUMNS)} FROM monitor_results WHERE fleet_id = {mark} "
        f"AND window_seconds = {mark} AND window_start = {mark}"
    )
    return _partitions(conn, sql, (fleet.id, seconds, start))


TREND_COLUMNS = [
    "window_start", "models", "predictions", "labelled", "median_mape", "drifting",
]  # fmt: skip


def window_totals(conn: Connection, fleet: FleetRef, seconds: int, since: float) -> Rows:
    """Per window of length ``seconds`` from ``since`` (``TREND_COLUMNS``): the fleet's
    models, predictions, labelled rows and drifting models, summed from the roll-ups a
    monitoring pass stored for the first key dimension (one row per value, so a year of
    a million models' windows reads thousands of rows, not billions), and the median of
    those values' median MAPE. A fleet without keys has no roll-ups: its results are
    aggregated directly (one model a window)."""
    mark = _marks(conn)
    if fleet.keys:
        sql = (
            "SELECT window_start, sum(models), sum(predictions), sum(labelled), "
            "sum(drifting) FROM monitor_rollups WHERE fleet_id = "
            f"{mark} AND window_seconds = {mark} AND window_start >= {mark} AND dim = 0 "
            "GROUP BY window_start ORDER BY window_start"
        )
        medians = (
            "SELECT window_start, median_mape FROM monitor_rollups WHERE fleet_id = "
            f"{mark} AND window_seconds = {mark} AND window_start >= {mark} AND dim = 0 "
            "AND median_mape IS NOT NULL"
        )
        by_window: dict[float, list[float]] = {}
        for start, value in conn.exec_driver_sql(medians, (fleet.id, seconds, since)):
            by_window.setdefault(float(start), []).append(float(value))
        rows = []
        for row in conn.exec_driver_sql(sql, (fleet.id, seconds, since)):
            values = sorted(by_window.get(float(row[0]), []))
            median = _median(values)
            rows.append((row[0], row[1], row[2], row[3], median, row[4]))
        return rows
    sql = (
        "SELECT window_start, count(*), sum(predictions), sum(labelled), avg(mape), "
        "sum(CASE WHEN drifted_features > 0 THEN 1 ELSE 0 END) FROM monitor_results "
        f"WHERE fleet_id = {mark} AND window_seconds = {mark} AND window_start >= {mark} "
        "GROUP BY window_start ORDER BY window_start"
    )
    return [tuple(r) for r in conn.exec_driver_sql(sql, (fleet.id, seconds, since))]


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def monitored_windows(conn: Connection, fleet: FleetRef) -> Rows:
    """(seconds, start, versions) of every monitored window, newest first."""
    mark = _marks(conn)
    sql = (
        "SELECT window_seconds, window_start, versions FROM monitor_windows "
        f"WHERE fleet_id = {mark} ORDER BY window_start DESC, window_seconds"
    )
    return [tuple(r) for r in conn.exec_driver_sql(sql, (fleet.id,))]


def monitored_among(
    conn: Connection, fleet: FleetRef, seconds: int, since: float, model_ids: Sequence[int]
) -> list[int]:
    """Which of ``model_ids`` a window of ``seconds`` from ``since`` judged: seeks on the
    results' (fleet, model, window) index, for the few models the newest window missed."""
    found: list[int] = []
    for start in range(0, len(model_ids), 5000):
        part = [int(i) for i in model_ids[start : start + 5000]]
        rows = conn.execute(
            sa.text(
                "SELECT DISTINCT model_id FROM monitor_results WHERE fleet_id = :f "
                "AND window_seconds = :s AND window_start >= :since AND model_id IN :ids"
            ).bindparams(sa.bindparam("ids", expanding=True)),
            {"f": fleet.id, "s": seconds, "since": since, "ids": part},
        )
        found.extend(int(r[0]) for r in rows)
    return found


ALERT_COLUMNS = ["alert_id", "rule", "model_id", "state", "opened_at", "resolved_at", "value"]


def alerts_since(conn: Connection, fleet: FleetRef, since: float) -> Iterator[Rows]:
    """Alerts live now, or opened or resolved since ``since`` (``ALERT_COLUMNS``)."""
    mark = _marks(conn)
    sql = (
        "SELECT a.id, r.name, a.model_id, a.state, a.opened_at, a.resolved_at, a.value "
        "FROM alerts a JOIN alert_rules r ON r.id = a.rule_id "
        f"WHERE a.fleet_id = {mark} AND (a.state != 'resolved' OR a.opened_at >= {mark} "
        f"OR a.resolved_at >= {mark})"
    )
    return _partitions(conn, sql, (fleet.id, since, since))


def rule_count(conn: Connection, fleet: FleetRef) -> int:
    """How many alert rules the fleet has, enabled or not."""
    mark = _marks(conn)
    sql = f"SELECT count(*) FROM alert_rules WHERE fleet_id = {mark}"
    return int(conn.exec_driver_sql(sql, (fleet.id,)).scalar_one())


RUN_COLUMNS = ["run_id", "kind", "status", "counts", "started_at", "finished_at"]


def runs_since(conn: Connection, fleet: FleetRef, since: float) -> list[dict[str, Any]]:
    """The fleet's runs started since ``since``, newest first (a fleet has few)."""
    rows = conn.execute(
        sa.text(
            "SELECT id, kind, status, counts, started_at, finished_at FROM runs "
            "WHERE fleet_id = :f AND started_at >= :since ORDER BY id DESC"
        ),
        {"f": fleet.id, "since": since},
    )
    out = []
    for row in rows:
        item = dict(zip(RUN_COLUMNS, row, strict=True))
        counts = item["counts"]
        item["counts"] = counts if isinstance(counts, dict) else _json(counts)
        out.append(item)
    return out


def dataset_names(conn: Connection, fleet: FleetRef, ids: Sequence[int]) -> Rows:
    """(id, name, fingerprint, row count) of the datasets ``ids`` of the fleet's tenant."""
    if not ids:
        return []
    rows = conn.execute(
        sa.text(
            "SELECT id, name, fingerprint, row_count FROM datasets "
            "WHERE tenant_id = :t AND id IN :ids"
        ).bindparams(sa.bindparam("ids", expanding=True)),
        {"t": fleet.tenant_id, "ids": [int(i) for i in ids]},
    )
    return [tuple(r) for r in rows]


# -- what changed since the previous report ------------------------------------------------


def previous_report(conn: Connection, fleet: FleetRef) -> dict[str, Any] | None:
    """The fleet's newest recorded report: id, time, who, options and figures."""
    row = conn.execute(
        sa.select(reports.c.id, reports.c.created_at, reports.c.created_by,
                  reports.c.params, reports.c.summary)
        .where(reports.c.fleet_id == fleet.id)
        .order_by(reports.c.id.desc())
        .limit(1)
    ).first()  # fmt: skip
    return None if row is None else dict(row._mapping)


def record_report(
    conn: Connection, fleet: FleetRef, actor: str, at: float,
    params: dict[str, Any], summary: dict[str, Any],
) -> int:  # fmt: skip
    """Append a report's record; its id."""
    (report_id,) = allocate(conn, reports, 1)
    conn.execute(
        reports.insert().values(
            id=report_id, tenant_id=fleet.tenant_id, fleet_id=fleet.id, created_at=at,
            created_by=actor, params=params, summary=summary,
        )
    )  # fmt: skip
    return report_id


def list_reports(conn: Connection, fleet: FleetRef, limit: int) -> list[dict[str, Any]]:
    """The fleet's recorded reports, newest first, without their figures."""
    rows = conn.execute(
        sa.select(reports.c.id, reports.c.created_at, reports.c.created_by, reports.c.params)
        .where(reports.c.fleet_id == fleet.id)
        .order_by(reports.c.id.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


CHANGE_COLUMNS = ["model_id", "metric", "before", "after"]


def metric_moves(conn: Connection, fleet: FleetRef, metric: str, since: float) -> Rows:
    """Per model with a version newer than ``since``: ``metric`` of the version that was
    its latest at ``since`` and of its latest now (both must carry the metric)."""
    sql = (
        "SELECT m.id, :metric, om.value, nm.value FROM models m "
        "JOIN versions nv ON nv.id = m.latest_version_id AND nv.created_at > :since "
        "JOIN versions ov ON ov.model_id = m.id AND ov.number = ("
        "  SELECT max(x.number) FROM versions x WHERE x.model_id = m.id "
        "  AND x.created_at <= :since AND x.status != :archived) "
        "JOIN metrics nm ON nm.version_id = nv.id AND nm.name = :metric "
        "JOIN metrics om ON om.version_id = ov.id AND om.name = :metric "
        "WHERE m.fleet_id = :f"
    )
    rows = conn.execute(
        sa.text(sql),
        {"metric": metric, "since": since, "archived": VERSION_ARCHIVED, "f": fleet.id},
    )
    return [tuple(r) for r in rows]


def moves_since(conn: Connection, fleet: FleetRef, since: float) -> Rows:
    """(alias, moves, models moved, undone) per alias of the moves made since ``since``."""
    rows = conn.execute(
        sa.text(
            "SELECT alias, count(*), sum(moved), "
            "sum(CASE WHEN undone_by IS NULL THEN 0 ELSE 1 END) FROM alias_moves "
            "WHERE fleet_id = :f AND at > :since AND undo_of IS NULL GROUP BY alias"
        ),
        {"f": fleet.id, "since": since},
    )
    return [tuple(r) for r in rows]


def retired_since(conn: Connection, fleet: FleetRef, since: float) -> dict[str, int]:
    """Versions archived, restored and deleted since ``since`` (from the audit log)."""
    rows = conn.execute(
        sa.text(
            "SELECT action, detail FROM audit WHERE tenant_id = :t AND target = :path "
            "AND at > :since AND action IN ('version.archive', 'version.restore', "
            "'version.delete')"
        ),
        {"t": fleet.tenant_id, "path": fleet.path, "since": since},
    )
    out = {"archive": 0, "restore": 0, "delete": 0}
    for action, detail in rows:
        parsed = detail if isinstance(detail, dict) else _json(detail)
        out[action.split(".", 1)[1]] += int(parsed.get("versions", 0))
    return out


def versions_since(conn: Connection, fleet: FleetRef, since: float) -> int:
    """Versions registered since ``since`` (the versions index by fleet and time)."""
    row = conn.execute(
        sa.text("SELECT count(*) FROM versions WHERE fleet_id = :f AND created_at > :since"),
        {"f": fleet.id, "since": since},
    ).scalar_one()
    return int(row)


def fleet_counts(conn: Connection, fleet: FleetRef) -> tuple[int, int, str]:
    """(models, versions, description) as the writes keep them on the fleet row."""
    row = conn.execute(
        sa.text("SELECT model_count, version_count, description FROM fleets WHERE id = :f"),
        {"f": fleet.id},
    ).one()
    return int(row[0]), int(row[1]), str(row[2] or "")
