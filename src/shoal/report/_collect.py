"""A report's inputs: the registry's snapshot read into Arrow tables, chunk by chunk.

Rows arrive from the store in bounded chunks and become typed Arrow columns at once, so
a million models cost a few hundred megabytes of columns, not gigabytes of Python
tuples. DuckDB then aggregates the tables where they lie (no copy).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc

from shoal.errors import InvalidInput
from shoal.registry import FleetRef
from shoal.registry.reports import (
    ALERT_COLUMNS,
    WINDOW_COLUMNS,
    Rows,
    Snapshot,
    model_columns,
)

_MODEL_TYPES: dict[str, pa.DataType] = {
    "model_created_at": pa.float64(), "alias_updated_at": pa.float64(),
    "version_created_at": pa.float64(),
}  # fmt: skip
_WINDOW_TYPES: dict[str, pa.DataType] = {"max_psi_feature": pa.string()}
_ALERT_TYPES: dict[str, pa.DataType] = {"rule": pa.string(), "state": pa.string()}
SHOWN_METRICS = 6
"""Metrics a report reads and draws (the most widely carried, the report's metric first)."""
_METRIC_FIELDS: list[pa.Field[Any]] = [pa.field("version_id", pa.int64()),
                                        pa.field("value", pa.float64())]  # fmt: skip
_METRIC_SCHEMA = pa.schema(_METRIC_FIELDS)
_MONITORED_SCHEMA = pa.schema({"model_id": pa.int64()})
_FLOATS = {"mae", "mape", "accuracy", "max_psi", "missing_rate", "opened_at", "resolved_at",
           "value"}  # fmt: skip


def _schema(
    columns: Sequence[str], keys: Sequence[str], special: Mapping[str, pa.DataType]
) -> pa.Schema:
    fields = []
    for name in columns:
        if name in special:
            kind = special[name]
        elif name in keys:
            kind = pa.string()
        elif name in _FLOATS:
            kind = pa.float64()
        else:
            kind = pa.int64()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def _fields(fields: list[pa.Field[Any]]) -> pa.Schema:
    return pa.schema(fields)


def to_table(schema: pa.Schema, chunks: Iterable[Rows]) -> pa.Table:
    """Arrow table of ``schema`` from row chunks, each converted as it arrives.

    A chunk of tuples becomes one struct array in a single C-level pass, then a record
    batch: five times faster than transposing it in Python and converting each column.
    """
    kind = pa.struct(list(schema))
    batches = []
    for rows in chunks:
        if rows:
            structs = cast("pa.StructArray", pa.array(rows, type=kind))
            batches.append(pa.RecordBatch.from_struct_array(structs))
    return pa.Table.from_batches(batches, schema=schema)


@dataclass
class Inputs:
    """Everything a report computes from, read in one snapshot."""

    fleet: FleetRef
    metric: str | None
    metric_names: list[str]
    shown_metrics: list[str]
    now: float
    since: float
    alias: str
    description: str
    model_count: int
    version_count: int
    models: pa.Table
    metrics: dict[str, pa.Table]
    cohort_tag: pa.Table | None
    evaluated: list[str]
    window: tuple[int, float] | None
    window_rows: pa.Table
    trend: list[tuple[Any, ...]]
    monitored: pa.Table
    alerts: pa.Table
    rules: int
    runs: list[dict[str, Any]]
    period_moves: list[tuple[Any, ...]]
    datasets: dict[int, tuple[str, str, int]] = field(default_factory=dict)
    previous: dict[str, Any] | None = None
    changes: dict[str, Any] = field(default_factory=dict)


def collect(
    snap: Snapshot, *, now: float, since: float, alias: str, tag: str | None,
    window_seconds: int | None, metric: str | None, say: Callable[[str], None] = lambda _text: None,
) -> Inputs:  # fmt: skip
    """Read every input of one report from ``snap`` (one transaction); ``say`` hears each
    stage as it starts (a progress line)."""
    fleet = snap.fleet
    model_count, version_count, description = snap.counts()
    say(f"reading {model_count:,} models of {fleet.path}")
    columns = model_columns(fleet)
    models = to_table(_schema(columns, fleet.keys, _MODEL_TYPES), snap.models(alias))
    say("reading the latest metrics")
    counts = dict(snap.metric_counts())
    names = sorted(counts, key=lambda name: (-counts[name], _preference(name), name))
    if metric is not None and metric not in names:
        raise InvalidInput(
            f"metric {metric!r} is not a metric of {fleet.path}'s latest versions; it has "
            f"{names[:20] or 'none'}",
            field="metric",
        )
    metric = metric or (names[0] if names else None)
    shown = names[:SHOWN_METRICS]
    if metric is not None and metric not in shown:
        shown = [metric, *shown[: SHOWN_METRICS - 1]]
    evaluated = snap.evaluated_metrics()
    metrics = {
        name: to_table(_METRIC_SCHEMA, snap.latest_metric(name))
        for name in dict.fromkeys([*shown, *(n for n in evaluated if n in counts)])
    }
    cohort_tag = None
    if tag is not None:
        tag_schema = _fields([pa.field("version_id", pa.int64()), pa.field("value", pa.string())])
        cohort_tag = to_table(tag_schema, snap.tag_values(tag))
    windows = snap.windows()
    if window_seconds is not None:
        windows = [w for w in windows if w[0] == window_seconds]
    window = (int(windows[0][0]), float(windows[0][1])) if windows else None
    window_schema = _schema(WINDOW_COLUMNS, (), _WINDOW_TYPES)
    if window is None:
        window_rows, trend = window_schema.empty_table(), []
        monitored = _MONITORED_SCHEMA.empty_table()
    else:
        say("reading the newest monitoring window")
        window_rows = to_table(window_schema, snap.window_results(*window))
        # Windows are cut by event time, which a backfill or a replay puts in the past:
        # the period's windows are those of the same length ending at the newest one.
        first = window[1] - (now - since) + 1
        trend = snap.window_totals(window[0], first)
        seen = window_rows.column("model_id")
        missed = models.filter(pc.invert(pc.is_in(models.column("model_id"), value_set=seen)))
        found = snap.monitored_among(
            window[0], first, [int(str(i)) for i in missed.column("model_id").to_pylist()]
        )
        ids = cast("list[int]", pc.unique(seen).to_pylist()) + found
        monitored = pa.table({"model_id": pa.array(ids, pa.int64())})
    say("reading alerts, runs and changes")
    alerts = to_table(_schema(ALERT_COLUMNS, (), _ALERT_TYPES), snap.alerts(since))
    dataset_ids = [
        int(str(i)) for i in models.column("dataset_id").drop_null().unique().to_pylist()
    ]
    datasets = {
        int(r[0]): (str(r[1]), str(r[2]), int(r[3])) for r in snap.datasets(dataset_ids[:500])
    }
    inputs = Inputs(
        fleet=fleet, metric=metric, metric_names=names, shown_metrics=shown, now=now,
        since=since, alias=alias, description=description,
        model_count=model_count, version_count=version_count, models=models, metrics=metrics,
        cohort_tag=cohort_tag, evaluated=[n for n in evaluated if n in counts], window=window,
        window_rows=window_rows, trend=trend, monitored=monitored, alerts=alerts,
        rules=snap.rule_count(), runs=snap.runs(since), period_moves=snap.moves(since),
        datasets=datasets, previous=snap.previous(),
    )  # fmt: skip
    if inputs.previous is not None:
        at = float(inputs.previous["created_at"])
        inputs.changes = {
            "versions": snap.versions_since(at),
            "moves": snap.moves(at),
            "retired": snap.retired(at),
            "metric_moves": snap.metric_moves(metric, at) if metric else [],
        }
    return inputs


PREFERRED = ("mape", "smape", "rmse", "mae", "accuracy", "f1", "log_loss")
"""Among metrics carried equally widely, the one a report ranks by: a well-known error or
score first (an evaluation's ``eval_mape`` counts as ``mape``)."""


def _preference(name: str) -> int:
    bare = name.removeprefix("eval_")
    return PREFERRED.index(bare) if bare in PREFERRED else len(PREFERRED)
