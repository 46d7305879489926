"""Every figure of a fleet report, computed in DuckDB over the collected Arrow tables.

The per-model frame (``fleet``: keys, the version shown, its metrics, the newest
window's figures, open alerts, gap flags) is built once; each section is a GROUP BY over
it. What a section shows is bounded (top cohorts, worst models, the largest values of
the heat map's two dimensions); the whole of each table stays in :attr:`Figures.tables`
for export, and the per-model frame is the report's sidecar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from shoal.report._collect import Inputs

SHOWN_METRICS = 6
"""Metrics whose distribution a report draws (the most widely carried)."""
SHOWN_COHORTS = 30
LISTED_COHORTS = 200
"""Cohorts a report's figures list (the largest); the page shows ``SHOWN_COHORTS`` of them,
the next report diffs their medians, and the whole table is an export."""
SHOWN_WORST = 20
HEAT_VALUES = 20
"""Values per dimension of the drift heat map (those with the most drifting models, then
the largest); the rest roll into ``(other)``."""
SAMPLE_KEYS = 8
HIGHER_IS_BETTER = ("accuracy", "f1", "auc", "r2", "precision", "recall", "score")
"""A metric whose name contains one of these ranks its worst models lowest first."""


def higher_is_better(name: str) -> bool:
    """Whether a larger value of metric ``name`` is better (accuracy) or worse (mape)."""
    return any(word in name.lower() for word in HIGHER_IS_BETTER)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class Figures:
    """A report's numbers, by section; ``tables`` holds each table whole."""

    summary: dict[str, Any]
    quality: dict[str, Any]
    drift: dict[str, Any]
    alerts: dict[str, Any]
    gaps: dict[str, Any]
    changes: dict[str, Any] | None
    runs: dict[str, Any]
    tables: dict[str, pa.Table] = field(default_factory=dict)


class Frame:
    """The per-model frame in DuckDB and the queries over it."""

    def __init__(self, inputs: Inputs, *, by: str | None, across: str | None,
                 tag: bool, stale_after: float) -> None:  # fmt: skip
        self.inputs = inputs
        self.keys = list(inputs.fleet.keys)
        self.by, self.across, self.tag = by, across, tag
        self.stale_after = stale_after
        self.metrics = list(inputs.shown_metrics)
        self.tables: dict[str, pa.Table] = {}
        self.con = duckdb.connect()
        self.con.execute("SET threads TO 2")
        for name in ("models", "window_rows", "monitored", "alerts"):
            self.con.register(name, getattr(inputs, name))
        self.metric_tables = {name: f"metric_{i}" for i, name in enumerate(inputs.metrics)}
        for name, table in self.metric_tables.items():
            self.con.register(table, inputs.metrics[name])
        if inputs.cohort_tag is not None:
            self.con.register("cohort_tag", inputs.cohort_tag)
        self._build()

    def sql(self, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(query, params or []).fetchall()

    def arrow(self, query: str) -> pa.Table:
        relation = self.con.sql(query)
        # DuckDB 2 names it to_arrow_table; 1.x has arrow(), which 2 turned into a reader.
        if hasattr(relation, "to_arrow_table"):
            table: pa.Table = relation.to_arrow_table()
        else:  # pragma: no cover - DuckDB 1.x
            table = relation.arrow()
        return table

    def _build(self) -> None:
        inputs = self.inputs
        evaluated = (
            " UNION ".join(
                f"SELECT version_id FROM {self.metric_tables[n]}" for n in inputs.evaluated
            )
            or "SELECT NULL::BIGINT AS version_id WHERE false"
        )
        cohort = self._dimension(self.by)
        across = self._dimension(self.across) if self.across else "NULL"
        tag_join = (
            "LEFT JOIN cohort_tag t ON t.version_id = m.latest_version_id" if self.tag else ""
        )
        metric_join = "".join(
            f" LEFT JOIN {self.metric_tables[n]} x{i} ON x{i}.version_id = m.latest_version_id"
            for i, n in enumerate(self.metrics)
        )
        metric_cols = "".join(
            f", x{i}.value AS {_q('metric.' + n)}" for i, n in enumerate(self.metrics)
        )
        self.con.execute(
            f"""
            CREATE TABLE fleet AS
            WITH served AS (
                SELECT * FROM window_rows
                QUALIFY row_number() OVER (PARTITION BY model_id ORDER BY predictions DESC,
                                           version_id DESC) = 1
            ), evaluated AS (
                SELECT DISTINCT version_id FROM ({evaluated})
            ), live_alerts AS (
                SELECT model_id, count(*) AS open_alerts FROM alerts
                WHERE state != 'resolved' GROUP BY model_id
            )
            SELECT m.*, CAST({cohort} AS VARCHAR) AS cohort,
                   CAST({across} AS VARCHAR) AS cohort_b,
                   m.alias_version_id IS NOT NULL AS on_alias,
                   {inputs.now} - m.version_created_at AS age_seconds,
                   (m.dataset_id IS NOT NULL OR m.run_id IS NOT NULL) AS has_lineage,
                   ev.version_id IS NOT NULL AS evaluated,
                   mon.model_id IS NOT NULL AS monitored,
                   s.predictions, s.labelled, s.mape AS live_mape,
                   s.accuracy AS live_accuracy, s.max_psi, s.max_psi_feature,
                   s.drifted_features, s.tested_features,
                   coalesce(la.open_alerts, 0) AS open_alerts {metric_cols}
            FROM models m
            {tag_join}
            {metric_join}
            LEFT JOIN served s ON s.model_id = m.model_id
            LEFT JOIN (SELECT DISTINCT model_id FROM monitored) mon ON mon.model_id = m.model_id
            LEFT JOIN evaluated ev ON ev.version_id = m.latest_version_id
            LEFT JOIN live_alerts la ON la.model_id = m.model_id
            """
        )

    def _dimension(self, name: str | None) -> str:
        if name is None:
            return "'all'"
        if self.tag and name == self.by:
            return "coalesce(t.value, '(no tag)')"
        return f"m.{_q(name)}"

    def _key_text(self) -> str:
        if not self.keys:
            return "'(the model)'"
        return " || ', ' || ".join(f"{_lit(k + '=')} || {_q(k)}" for k in self.keys)

    def keys_of(self, where: str, order: str = "model_id", limit: int = SAMPLE_KEYS) -> list[str]:
        """Readable keys (``store=s1, sku=A``) of a few models matching ``where``."""
        rows = self.sql(
            f"SELECT {self._key_text()} FROM fleet WHERE {where} ORDER BY {order} LIMIT {limit}"
        )
        return [str(r[0]) for r in rows]

    def keys_for(self, model_ids: list[int]) -> dict[int, str]:
        """Readable keys of the models ``model_ids`` (a few)."""
        if not model_ids:
            return {}
        ids = ", ".join(str(int(i)) for i in model_ids)
        rows = self.sql(f"SELECT model_id, {self._key_text()} FROM fleet WHERE model_id IN ({ids})")
        return {int(r[0]): str(r[1]) for r in rows}


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def summary(frame: Frame) -> dict[str, Any]:
    """Models, versions, coverage, ages, lineage and datasets of the fleet."""
    inputs = frame.inputs
    (row,) = frame.sql(
        f"""
        SELECT count(*), count(*) FILTER (WHERE on_alias),
               quantile_cont(age_seconds, 0.5) FILTER (WHERE on_alias),
               quantile_cont(age_seconds, 0.9) FILTER (WHERE on_alias),
               max(age_seconds) FILTER (WHERE on_alias),
               count(*) FILTER (WHERE on_alias AND age_seconds > {frame.stale_after}),
               count(DISTINCT dataset_id), count(*) FILTER (WHERE has_lineage)
        FROM fleet
        """
    )
    models, on_alias, age50, age90, age_max, stale, datasets, lineage = row
    found = inputs.datasets
    used = frame.sql(
        "SELECT dataset_id, count(*) FROM fleet WHERE dataset_id IS NOT NULL "
        "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10"
    )
    return {
        "fleet": inputs.fleet.path,
        "description": inputs.description,
        "models": int(models),
        "versions": inputs.version_count,
        "alias": inputs.alias,
        "on_alias": int(on_alias),
        "coverage": (on_alias / models) if models else None,
        "age_p50_days": None if age50 is None else age50 / 86400,
        "age_p90_days": None if age90 is None else age90 / 86400,
        "age_max_days": None if age_max is None else age_max / 86400,
        "stale": int(stale),
        "stale_after_days": frame.stale_after / 86400,
        "with_lineage": int(lineage),
        "datasets": int(datasets),
        "top_datasets": [_dataset(found, int(ds), int(n)) for ds, n in used],
    }


def _dataset(
    found: dict[int, tuple[str, str, int]], dataset_id: int, models: int
) -> dict[str, Any]:
    name, fingerprint, rows = found.get(dataset_id, ("(unknown)", "", 0))
    return {"id": dataset_id, "models": models, "name": name,
            "fingerprint": fingerprint[:12], "rows": rows}  # fmt: skip


def runs(inputs: Inputs) -> dict[str, Any]:
    """Runs started in the period: by kind and status, keys done and failed."""
    by_kind: dict[tuple[str, str], int] = {}
    done = failed = 0
    for run in inputs.runs:
        by_kind[(run["kind"], run["status"])] = by_kind.get((run["kind"], run["status"]), 0) + 1
        counts = run["counts"] or {}
        done += int(counts.get("done", 0) or 0)
        failed += int(counts.get("failed", 0) or 0)
    return {
        "total": len(inputs.runs),
        "by_kind": [{"kind": k, "status": s, "runs": n} for (k, s), n in sorted(by_kind.items())],
        "keys_done": done,
        "keys_failed": failed,
        "failed_runs": sum(1 for r in inputs.runs if r["status"] == "failed"),
        "recent": [_run(r) for r in inputs.runs[:10]],
        "moves": [
            {"alias": alias, "moves": int(n), "models": int(moved or 0), "undone": int(undone or 0)}
            for alias, n, moved, undone in inputs.period_moves
        ],
    }


def _run(run: dict[str, Any]) -> dict[str, Any]:
    counts = run["counts"] or {}
    return {"id": run["run_id"], "kind": run["kind"], "status": run["status"],
            "done": counts.get("done"), "failed": counts.get("failed"),
            "started_at": run["started_at"], "finished_at": run["finished_at"]}  # fmt: skip


def quality(frame: Frame) -> dict[str, Any]:
    """Distribution of each shown metric, cohorts, worst models and the window trend."""
    distributions = []
    for name in frame.metrics:
        col = _q("metric." + name)
        (row,) = frame.sql(
            f"SELECT count({col}), avg({col}), min({col}), quantile_cont({col}, 0.01), "
            f"quantile_cont({col}, 0.1), quantile_cont({col}, 0.25), "
            f"quantile_cont({col}, 0.5), quantile_cont({col}, 0.75), "
            f"quantile_cont({col}, 0.9), quantile_cont({col}, 0.99), max({col}) FROM fleet"
        )
        n, mean, lo, p1, p10, p25, p50, p75, p90, p99, hi = (_clean(v) for v in row)
        distributions.append({
            "metric": name, "models": int(n), "mean": mean, "min": lo, "p10": p10, "p25": p25,
            "p50": p50, "p75": p75, "p90": p90, "max": hi,
            "higher_is_better": higher_is_better(name),
            "histogram": _histogram(frame, col, p1, p99) if n else None,
        })  # fmt: skip
    metric = frame.inputs.metric
    median = f"median({_q('metric.' + metric)})" if metric else "NULL"
    cohort_table = frame.arrow(
        f"""
        SELECT cohort, count(*) AS models, count(*) FILTER (WHERE on_alias) AS on_alias,
               {median} AS median_metric,
               count(*) FILTER (WHERE tested_features > 0) AS tested,
               count(*) FILTER (WHERE drifted_features > 0) AS drifting,
               median(live_mape) AS median_live_mape, sum(open_alerts)::BIGINT AS open_alerts
        FROM fleet GROUP BY cohort ORDER BY drifting DESC, open_alerts DESC, models DESC, cohort
        """
    )
    cohorts = [
        {k: _clean(v) for k, v in row.items()}
        for row in cohort_table.slice(0, LISTED_COHORTS).to_pylist()
    ]
    names = [frame.by or "cohort", "models", f"on_{frame.inputs.alias}", f"median_{metric}",
             "tested", "drifting", "median_live_mape", "open_alerts"]  # fmt: skip
    frame.tables["cohorts"] = cohort_table.rename_columns(names)
    worst, worst_by = _worst(frame)
    trend = [
        {"window_start": r[0], "models": _int(r[1]), "predictions": _int(r[2]),
         "labelled": _int(r[3]), "median_mape": _clean(r[4]), "drifting": _int(r[5])}
        for r in frame.inputs.trend
    ]  # fmt: skip
    return {
        "metric": metric, "distributions": distributions, "by": frame.by,
        "cohorts": cohorts, "cohort_count": cohort_table.num_rows,
        "worst": worst, "worst_by": worst_by, "trend": trend,
        "trend_by": frame.keys[0] if frame.keys else None,
    }  # fmt: skip


def _histogram(frame: Frame, col: str, lo: float | None, hi: float | None) -> dict[str, Any]:
    bins = 24
    if lo is None or hi is None:
        return {"edges": [], "counts": []}
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0) * 1e-6
    width = (hi - lo) / bins
    rows = frame.sql(
        f"SELECT least(greatest(floor(({col} - ?) / ?), 0), {bins - 1})::INT AS b, count(*) "
        f"FROM fleet WHERE {col} IS NOT NULL GROUP BY b",
        [lo, width],
    )
    counts = [0] * bins
    for b, n in rows:
        counts[int(b)] = int(n)
    return {"edges": [lo + i * width for i in range(bins + 1)], "counts": counts}


def _worst(frame: Frame) -> tuple[list[dict[str, Any]], str | None]:
    """The worst models: by the newest window's live figure where monitoring judged them,
    else by the report's metric on the latest versions."""
    (live,) = frame.sql("SELECT count(live_mape), count(live_accuracy) FROM fleet")
    metric = frame.inputs.metric
    if live[0]:
        by, order = "live_mape", "live_mape DESC NULLS LAST"
    elif live[1]:
        by, order = "live_accuracy", "live_accuracy ASC NULLS LAST"
    elif metric:
        by = "metric." + metric
        order = f"{_q(by)} {'ASC' if higher_is_better(metric) else 'DESC'} NULLS LAST"
    else:
        return [], None
    metric_col = f"{_q('metric.' + metric)}" if metric else "NULL"
    key_cols = "".join(f"{_q(k)}, " for k in frame.keys)
    table = frame.arrow(
        f"SELECT {key_cols}number AS version, live_mape, live_accuracy, "
        f"{metric_col} AS metric, drifted_features, tested_features, max_psi_feature, "
        f"open_alerts, on_alias FROM fleet WHERE {_q(by)} IS NOT NULL ORDER BY {order}, "
        f"model_id LIMIT 100"
    )
    frame.tables["worst"] = table
    rows = table.slice(0, SHOWN_WORST).to_pylist()
    for row in rows:
        row["key"] = ", ".join(f"{k}={row.pop(k)}" for k in frame.keys) or "(the model)"
    return [{k: _clean(v) for k, v in row.items()} for row in rows], by


def drift(frame: Frame) -> dict[str, Any]:
    """Tested, drifting and untested models; the heat map; the features that drift most."""
    inputs = frame.inputs
    (row,) = frame.sql(
        "SELECT count(*) FILTER (WHERE tested_features > 0), "
        "count(*) FILTER (WHERE drifted_features > 0), "
        "count(*) FILTER (WHERE predictions IS NOT NULL) FROM fleet"
    )
    tested, drifting, in_window = (int(v) for v in row)
    features = frame.sql(
        "SELECT max_psi_feature, count(*) FROM fleet WHERE drifted_features > 0 "
        "AND max_psi_feature IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10"
    )
    heat = _heat_map(frame) if frame.across and inputs.window else None
    return {
        "window": None if inputs.window is None else
        {"seconds": inputs.window[0], "start": inputs.window[1]},
        "models": frame.inputs.models.num_rows,
        "in_window": in_window, "tested": tested, "drifting": drifting,
        "not_tested": frame.inputs.models.num_rows - tested,
        "features": [{"feature": f, "models": int(n)} for f, n in features],
        "heat": heat, "by": frame.by, "across": frame.across,
    }  # fmt: skip


def _heat_map(frame: Frame) -> dict[str, Any]:
    def top(col: str) -> list[str]:
        rows = frame.sql(
            f"SELECT {col} FROM fleet WHERE {col} IS NOT NULL GROUP BY 1 "
            f"ORDER BY count(*) FILTER (WHERE drifted_features > 0) DESC, count(*) DESC, 1 "
            f"LIMIT {HEAT_VALUES}"
        )
        return [str(r[0]) for r in rows]

    rows_values, cols_values = top("cohort"), top("cohort_b")
    other_rows = frame.sql("SELECT count(DISTINCT cohort) FROM fleet")[0][0] > len(rows_values)
    other_cols = frame.sql("SELECT count(DISTINCT cohort_b) FROM fleet")[0][0] > len(cols_values)
    frame.con.register("heat_rows", pa.table({"v": rows_values}))
    frame.con.register("heat_cols", pa.table({"v": cols_values}))
    cells = frame.sql(
        """
        SELECT CASE WHEN cohort IN (SELECT v FROM heat_rows) THEN cohort ELSE '(other)' END,
               CASE WHEN cohort_b IN (SELECT v FROM heat_cols) THEN cohort_b ELSE '(other)' END,
               count(*), count(*) FILTER (WHERE tested_features > 0),
               count(*) FILTER (WHERE drifted_features > 0)
        FROM fleet GROUP BY 1, 2
        """
    )
    frame.tables["drift_heat_map"] = frame.arrow(
        "SELECT cohort, cohort_b, count(*) AS models, "
        "count(*) FILTER (WHERE tested_features > 0) AS tested, "
        "count(*) FILTER (WHERE drifted_features > 0) AS drifting "
        "FROM fleet GROUP BY 1, 2 ORDER BY 1, 2"
    )
    grid = {(str(a), str(b)): {"models": int(n), "tested": int(t), "drifting": int(d)}
            for a, b, n, t, d in cells}  # fmt: skip
    return {
        "rows": rows_values + (["(other)"] if other_rows else []),
        "cols": cols_values + (["(other)"] if other_cols else []),
        "cells": grid,
    }


def alerts(frame: Frame) -> dict[str, Any]:
    """Alerts by rule and by cohort: open, acknowledged, opened and resolved in the period."""
    since = frame.inputs.since
    counts = (
        "count(*) FILTER (WHERE a.state = 'open') AS open, "
        "count(*) FILTER (WHERE a.state = 'acknowledged') AS acknowledged, "
        f"count(*) FILTER (WHERE a.opened_at >= {since}) AS opened, "
        f"count(*) FILTER (WHERE a.state = 'resolved' AND a.resolved_at >= {since}) AS resolved"
    )
    by_rule = frame.arrow(
        f"SELECT a.rule, {counts} FROM alerts a GROUP BY 1 "
        "ORDER BY open + acknowledged DESC, opened DESC, 1"
    )
    by_cohort = frame.arrow(
        f"SELECT f.cohort, {counts} FROM alerts a JOIN fleet f ON f.model_id = a.model_id "
        "GROUP BY 1 ORDER BY open + acknowledged DESC, opened DESC, 1"
    )
    frame.tables["alerts_by_rule"] = by_rule
    frame.tables["alerts_by_cohort"] = by_cohort
    (totals,) = frame.sql(f"SELECT {counts} FROM alerts a")
    return {
        "rules": frame.inputs.rules,
        "open": int(totals[0]), "acknowledged": int(totals[1]),
        "opened": int(totals[2]), "resolved": int(totals[3]),
        "by_rule": by_rule.to_pylist(),
        "by_cohort": by_cohort.slice(0, SHOWN_COHORTS).to_pylist(),
        "cohort_count": by_cohort.num_rows,
    }  # fmt: skip


GAPS = {
    "no_lineage": ("NOT has_lineage", "no lineage (no dataset and no run recorded)"),
    "no_evaluation": ("NOT evaluated", "no evaluation on the latest version"),
    "no_monitoring": ("NOT monitored", "not monitored in the period"),
    "not_tested": ("coalesce(tested_features, 0) = 0",
                   "not tested for drift in the newest window"),
    "no_alias": ("NOT on_alias", "no {alias} alias"),
    "stale": ("on_alias AND age_seconds > {stale}", "{alias} version older than {days:g} days"),
}  # fmt: skip
"""Coverage gaps: a name, the frame's condition, and what a person reads."""


def gaps(frame: Frame) -> dict[str, Any]:
    """How many models lack each of lineage, evaluation, monitoring, drift tests, an alias
    or a fresh alias version, with a few of their keys."""
    inputs = frame.inputs
    out = []
    fill = {"alias": inputs.alias, "stale": frame.stale_after,
            "days": frame.stale_after / 86400}  # fmt: skip
    conditions = {name: cond.format(**fill) for name, (cond, _) in GAPS.items()}
    counted = ", ".join(f"count(*) FILTER (WHERE {c})" for c in conditions.values())
    (row,) = frame.sql(f"SELECT {counted} FROM fleet")
    for (name, (_, label)), n in zip(GAPS.items(), row, strict=True):
        out.append({
            "gap": name, "label": label.format(**fill), "models": int(n),
            "examples": frame.keys_of(conditions[name]) if n else [],
        })  # fmt: skip
    return {"gaps": out, "models": inputs.models.num_rows}


def model_table(frame: Frame) -> pa.Table:
    """The per-model frame as exported beside the report (keys first)."""
    keys = ", ".join(_q(k) for k in frame.keys)
    metric_cols = "".join(f", {_q('metric.' + n)}" for n in frame.metrics)
    return frame.arrow(
        f"SELECT model_id, {keys + ', ' if keys else ''}number AS version, version_id, "
        "on_alias, age_seconds / 86400 AS age_days, has_lineage, evaluated, dataset_id, "
        f"run_id, monitored, predictions, labelled, live_mape, live_accuracy, "
        f"max_psi, max_psi_feature, drifted_features, tested_features, open_alerts, cohort"
        f"{metric_cols} FROM fleet ORDER BY model_id"
    )
