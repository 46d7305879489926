"""A window's roll-ups: per value of each key dimension, how many models, how many tested
and drifting, median MAPE, predictions; and which figures a window has values of.

A monitoring pass stores the roll-ups with the window (:func:`compute_rollups`), so the
monitoring page reads a few rows. Windows stored before roll-ups counted ``tested``
(migration 0011) are computed again on the first read, and what was computed is handed
back to be kept (:meth:`Store.write_behind <shoal.store.engine.Store.write_behind>`, run
by the registry after the read): the cost is paid once per old window, not per page view.
No function here opens a transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.store.bulk import insert_rows
from shoal.store.monitoring import FIGURES, RESULT_COLUMNS, ROLLUP_COLUMNS
from shoal.store.schema import (
    models,
    monitor_results,
    monitor_rollups,
    monitor_windows,
    runs,
)
from shoal.store.tenancy import FleetRef

_CHUNK = 5000


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


Keep = Callable[[Connection], None] | None
"""What a read computed that a write may keep (None: nothing), for the registry to run in
a write transaction of its own after the read (:meth:`Store.write_behind`)."""


def rollup(
    conn: Connection, fleet: FleetRef, window: tuple[int, float], dim: str
) -> tuple[list[dict[str, Any]], Keep]:
    """Per value of key dimension ``dim`` in one window (stored by the pass): models, how
    many had a feature tested and how many drift, their share *of the tested*, median
    MAPE, predictions, actuals, the largest PSI; most drifting first, then the values
    with no model tested (``share_drifting`` None: "not tested" is not "0 % drifting").
    A window stored before its roll-ups had ``tested`` (migration 0011) is computed from
    its results, and the roll-ups it computed are returned to be kept, so the next read is
    the stored rows."""
    t = monitor_rollups
    in_window = (
        t.c.fleet_id == fleet.id,
        t.c.window_seconds == window[0],
        t.c.window_start == window[1],
    )
    keep: Keep = None
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
        if every:  # to be stored, so the next read is the stored rows
            keep = lambda w: _keep_rollups(w, fleet, window, run_id, every)  # noqa: E731
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
    return out, keep


def window_figures(
    conn: Connection, fleet: FleetRef, window: tuple[int, float]
) -> tuple[list[str], Keep]:
    """The figures with a value in one window of this fleet (what "worst by" may offer):
    the pass records them in its run's counts, so this is two primary-key reads; a window
    stored before that is counted once (one aggregate over the window's rows) and the
    figures are returned to be recorded in its run's counts for the next read."""
    w = monitor_windows
    counts = conn.execute(
        sa.select(runs.c.counts)
        .join(w, w.c.run_id == runs.c.id)
        .where(w.c.fleet_id == fleet.id, w.c.window_seconds == window[0],
               w.c.window_start == window[1])
    ).scalar()  # fmt: skip
    if isinstance(counts, dict) and isinstance(counts.get("figures"), list):
        return sorted(f for f in counts["figures"] if f in FIGURES), None
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
        return figures, lambda w: _keep_figures(w, fleet, window, run_id, figures)
    return figures, None


def _window_run(conn: Connection, fleet: FleetRef, window: tuple[int, float]) -> int | None:
    """The run that stored ``window`` (its ``monitor_windows`` row; None: no such row)."""
    w = monitor_windows
    return conn.execute(
        sa.select(w.c.run_id).where(w.c.fleet_id == fleet.id, w.c.window_seconds == window[0],
                                    w.c.window_start == window[1])
    ).scalar()  # fmt: skip


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
