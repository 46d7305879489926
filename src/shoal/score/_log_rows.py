"""A scored part's rows as prediction-log rows, in the layout of :mod:`shoal.logs`.

Cut from ``_part`` because it is its own concern: which columns a log row has (the same
as the server's), and each row's event time, from ``as_of`` or a time column whose text
may or may not carry an offset.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from shoal.errors import InvalidInput

if TYPE_CHECKING:
    from shoal.score._part import Job

ROW = "row"


def log_rows(
    job: Job, body: pa.Table, out: pa.Table, version_ids: pa.Array[Any], logged: set[str],
    classes: list[str], keys: Mapping[str, pa.Array[Any]],
) -> pa.Table:  # fmt: skip
    """The scored rows as prediction-log rows (the layout of :mod:`shoal.logs`)."""
    n = out.num_rows
    columns: dict[str, Any] = {
        "request_id": out.column("request_id"),
        ROW: out.column(ROW),
        "at": pa.array([job.made_at] * n, pa.timestamp("us", tz="UTC")),
        "version_id": version_ids,
        "version": out.column("version"),
        "prediction": out.column("prediction"),
    }
    event = event_times(job, body, n)
    if event is not None:
        columns["event_at"] = event
    for dim, text in keys.items():  # as the registry writes keys, as the server logs them
        columns[f"key.{dim}"] = text
    for name in sorted(logged):
        if name in body.column_names:
            columns[f"feature.{name}"] = body.column(name)
    for name in classes:
        columns[f"proba.{name}"] = out.column(f"proba.{name}")
    return pa.table(columns)


def event_times(job: Job, body: pa.Table, n: int) -> pa.Array[Any] | None:
    kind = pa.timestamp("us", tz="UTC")
    if job.as_of is not None:
        return pa.array([job.as_of] * n, kind)
    if job.time_column is None:
        return None
    column: Any = body.column(job.time_column)
    if pa.types.is_timestamp(column.type):
        if column.type.tz is None:  # naive times are UTC
            column = pc.assume_timezone(column, "UTC")
    elif pa.types.is_date(column.type):
        column = pc.assume_timezone(pc.cast(column, pa.timestamp("us")), "UTC")
    else:
        column = _parsed_times(pc.cast(column, pa.string()), job.time_column)
    found: pa.Array[Any] = pc.cast(column, kind).combine_chunks()
    return found


def _parsed_times(text: Any, name: str) -> Any:
    """ISO 8601 text as UTC times: with an offset (``Z``, ``+01:00``) as it says, without
    one as UTC; anything else is the run's error, naming the column and a bad value."""
    kind = pa.timestamp("us", tz="UTC")
    try:
        return pc.cast(text, kind)  # every value carries an offset
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    try:
        return pc.assume_timezone(pc.cast(text, pa.timestamp("us")), "UTC")  # none does
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    bad = None
    for value in text.to_pylist():
        if value is None:
            continue
        try:
            dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            bad = value
            break
    shown = f"{bad!r} is not" if bad is not None else "mixed offsets and no offset are not"
    raise InvalidInput(
        f"time column {name!r}: {shown} an ISO 8601 time; write 2026-11-24 or "
        "2026-11-24T06:00:00+00:00 (one form for the whole column), or pass as_of=",
        field="time_column",
    )
