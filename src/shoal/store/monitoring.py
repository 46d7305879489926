"""Monitoring results: what the versions of a fleet need to be judged, and what was found.

Reads are bulk (one query for every version a window saw); writes replace a whole window
in one transaction, so re-running monitoring over a window is idempotent and a reader
never sees half of a window's results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal import config
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
_WRITE_BEHIND_WAIT_MS = 200
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


def model_keys(
    conn: Connection, fleet: FleetRef, model_ids: Sequence[int]
) -> dict[int, tuple[str, ...]]:
    """The keys of many models of ``fleet`` (primary-key lookups, in chunks)."""
    columns = [models.c[f"k{i}"] for i in range(len(fleet.keys))]
    out: dict[int, tuple[str, ...]] = {}
    ids = sorted(set(model_ids))
    for start in range(0, len(ids), _CHUNK):
        query = sa.select(models.c.id, *columns).where(
            models.c.fleet_id == fleet.id, models.c.id.in_(ids[start : start + _CHUNK])
        )
        for row in conn.execute(query):
            out[row[0]] = tuple(row[1:])
    return out


def compute_rollups(
    fleet: FleetRef, results: Sequence[tuple[Any, ...]], keys: dict[int, tuple[str, ...]]
) -> list[tuple[Any, ...]]:
    """``ROLLUP_COLUMNS`` rows of one window's results, for every key dimension.

    Per value: distinct models (a model whose alias moved mid-window has a row per
    version), how many had a feature tested (the others are "not tested", never healthy),
    how many of them drift, median MAPE, summed predictions and actuals, the
    largest PSI. pandas, because SQLite has no median.
    """
    import pandas as pd

    if not results or not fleet.keys:
        return []
    at = {name: i for i, name in enumerate(RESULT_COLUMNS)}
    frame = pd.DataFrame({
        "model_id": [r[at["model_id"]] for r in results],
        "drifted": [r[at["drifted_features"]] for r in results],
        "tested": [r[at["tested_features"]] or 0 for r in results],
        "mape": pd.to_numeric(pd.Series([r[at["mape"]] for r in results], dtype=object)),
        "predictions": [r[at["predictions"]] for r in results],
        "labelled": [r[at["labelled"]] for r in results],
        "max_psi": pd.to_numeric(pd.Series([r[at["max_psi"]] for r in results], dtype=object)),
    })  # fmt: skip
    out: list[tuple[Any, ...]] = []
    for dim in range(len(fleet.keys)):
        frame["value"] = [keys.get(m, ("?",) * len(fleet.keys))[dim] for m in frame["model_id"]]
        drifting = frame[frame["drifted"] > 0].groupby("value")["model_id"].nunique()
        groups = frame.groupby("value").agg(
            models=("model_id", "nunique"), median_mape=("mape", "median"),
            predictions=("predictions", "sum"), labelled=("labelled", "sum"),
            max_psi=("max_psi", "max"),
        )  # fmt: skip
        groups["drifting"] = drifting.reindex(groups.index, fill_value=0)
        tested = frame[frame["tested"] > 0].groupby("value")["model_id"].nunique()
        groups["tested"] = tested.reindex(groups.index, fill_value=0)
        for value, row in groups.iterrows():
            out.append((
                dim, str(value), int(row["models"]), int(row["drifting"]),
                None if pd.isna(row["median_mape"]) else float(row["median_mape"]),
                int(row["predictions"]), int(row["labelled"]),
                None if pd.isna(row["max_psi"]) else float(row["max_psi"]),
                int(row["tested"]),
            ))  # fmt: skip
    return out


def rollup(
    conn: Connection, fleet: FleetRef, window: tuple[int, float], dim: str
) -> list[dict[str, Any]]:
    """Per value of key dimension ``dim`` in one window (stored by the pass): models, how
    many had a feature tested and how many drift, their share *of the tested*, median
    MAPE, predictions, actuals, the largest PSI; most drifting first, then the values
    with no model tested (``share_drifting`` None: "not tested" is not "0 % drifting").
    A window stored before its roll-ups had ``tested`` (migration 0011) is computed from
    its results once, and the roll-ups stored then (see :func:`_write_behind`)."""
    t = monitor_rollups
    in_window = (
        t.c.fleet_id == fleet.id,
        t.c.window_seconds == window[0],
        t.c.window_start == window[1],
    )
    stored = conn.execute(
        sa.select(sa.func.count()).where(*in_window, t.c.tested.is_not(None))
    ).scalar_one()
    if not stored:  # a window stored before roll-ups (or their tested count): compute now
        r = monitor_results
        query = sa.select(*[r.c[c] for c in RESULT_COLUMNS]).where(
            r.c.fleet_id == fleet.id, r.c.window_seconds == window[0],
            r.c.window_start == window[1],
        )  # fmt: skip
        run_id = _window_run(conn, fleet, window)
        results = [tuple(row) for row in conn.execute(query)]
        keys = model_keys(conn, fleet, [row[1] for row in results])
        index = fleet.keys.index(dim)
        every = compute_rollups(fleet, results, keys)
        if every:  # and store them, so the next read is the stored rows
            _write_behind(conn, lambda w: _keep_rollups(w, fleet, window, run_id, every))
        rows = [row[1:] for row in every if row[0] == index]
    else:
        query = sa.select(*[t.c[c] for c in ROLLUP_COLUMNS[1:]]).where(
            *in_window, t.c.dim == fleet.keys.index(dim)
        )
        rows = [tuple(row) for row in conn.execute(query)]
    out = []
    for row in rows:
        entry = dict(zip(ROLLUP_COLUMNS[1:], row, strict=True))
        entry[dim] = entry.pop("value")
        tested = entry["tested"]
        entry["not_tested"] = entry["models"] - tested
        entry["share_drifting"] = entry["drifting"] / tested if tested else None
        entry["state"] = "not tested" if not tested else ("drifting" if entry["drifting"]
                                                          else "stable")  # fmt: skip
        out.append(entry)
    out.sort(key=lambda g: (g["share_drifting"] is None, -(g["share_drifting"] or 0.0),
                            -(g["median_mape"] or 0.0), str(g[dim])))  # fmt: skip
    return out


def window_figures(conn: Connection, fleet: FleetRef, window: tuple[int, float]) -> list[str]:
    """The figures with a value in one window of this fleet (what "worst by" may offer):
    the pass records them in its run's counts, so this is two primary-key reads; a window
    stored before that is counted once (one aggregate over the window's rows) and the
    figures are then recorded in its run's counts for the next read."""
    w = monitor_windows
    counts = conn.execute(
        sa.select(runs.c.counts)
        .join(w, w.c.run_id == runs.c.id)
        .where(w.c.fleet_id == fleet.id, w.c.window_seconds == window[0],
               w.c.window_start == window[1])
    ).scalar()  # fmt: skip
    if isinstance(counts, dict) and isinstance(counts.get("figures"), list):
        return sorted(f for f in counts["figures"] if f in FIGURES)
    r = monitor_results
    names = sorted(FIGURES)
    found = conn.execute(
        sa.select(*[sa.func.count(r.c[f]) for f in names]).where(
            r.c.fleet_id == fleet.id, r.c.window_seconds == window[0],
            r.c.window_start == window[1],
        )
    ).one()  # fmt: skip
    figures = [f for f, n in zip(names, found, strict=True) if n]
    run_id = _window_run(conn, fleet, window)
    if isinstance(counts, dict) and run_id is not None:  # kept in the run's counts, as a pass does
        _write_behind(conn, lambda w: _keep_figures(w, fleet, window, run_id, figures))
    return figures


def _window_run(conn: Connection, fleet: FleetRef, window: tuple[int, float]) -> int | None:
    """The run that stored ``window`` (its ``monitor_windows`` row; None: no such row)."""
    w = monitor_windows
    return conn.execute(
        sa.select(w.c.run_id).where(w.c.fleet_id == fleet.id, w.c.window_seconds == window[0],
                                    w.c.window_start == window[1])
    ).scalar()  # fmt: skip


def _write_behind(conn: Connection, write: Callable[[Connection], None]) -> None:
    """Store what a read had to compute for a window stored before migration 0011, so the
    cost is paid once per window, not on every page view: in ``conn`` when it is a write
    transaction, else in a short write transaction of its own (``BEGIN IMMEDIATE`` on
    SQLite, as :meth:`Store.write <shoal.store.engine.Store.write>` opens it). Best effort:
    a store busy for more than a moment (or one that cannot open a second connection, an
    in-memory SQLite) skips it and a later read tries again; the read never waits on it."""
    if conn.get_execution_options().get("shoal_write"):
        write(conn)
        return
    try:
        with conn.engine.connect() as own:
            own = own.execution_options(shoal_write=True)
            sqlite = own.dialect.name == "sqlite"
            driver: Any = own.connection.driver_connection
            if sqlite:
                driver.execute(f"PRAGMA busy_timeout = {_WRITE_BEHIND_WAIT_MS}")
            try:
                with own.begin():
                    if not sqlite:
                        own.exec_driver_sql(f"SET LOCAL lock_timeout = {_WRITE_BEHIND_WAIT_MS}")
                    write(own)
            finally:
                if sqlite:
                    driver.execute(f"PRAGMA busy_timeout = {config.sqlite_busy_timeout_ms()}")
    except sa.exc.OperationalError:
        return


def _keep_rollups(
    conn: Connection, fleet: FleetRef, window: tuple[int, float], run_id: int | None,
    rows: Sequence[tuple[Any, ...]],
) -> None:  # fmt: skip
    """Replace the window's roll-ups by ``rows``, unless a pass stored the window again
    since they were computed (another run, or roll-ups with ``tested``)."""
    t = monitor_rollups
    in_window = (t.c.fleet_id == fleet.id, t.c.window_seconds == window[0],
                 t.c.window_start == window[1])  # fmt: skip
    fresh = conn.execute(sa.select(sa.func.count()).where(*in_window, t.c.tested.is_not(None)))
    if fresh.scalar_one() or _window_run(conn, fleet, window) != run_id:
        return
    conn.execute(t.delete().where(*in_window))
    insert_rows(conn, t, ("fleet_id", "window_seconds", "window_start", *ROLLUP_COLUMNS),
                [(fleet.id, *window, *row) for row in rows])  # fmt: skip


def _keep_figures(
    conn: Connection, fleet: FleetRef, window: tuple[int, float], run_id: int,
    figures: list[str],
) -> None:  # fmt: skip
    """Record ``figures`` in the counts of the run that stored the window (where a pass
    records them), unless the window was stored again or the counts have them by now."""
    counts = conn.execute(sa.select(runs.c.counts).where(runs.c.id == run_id)).scalar()
    if not isinstance(counts, dict) or "figures" in counts:
        return
    if _window_run(conn, fleet, window) == run_id:
        conn.execute(
            runs.update().where(runs.c.id == run_id).values(counts={**counts, "figures": figures})
        )
