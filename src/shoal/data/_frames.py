"""Every frame Shoal accepts, turned into one ``pyarrow.Table``.

Why Arrow: it is the one format pandas, polars and DuckDB all convert to without copying
numbers, and its types are precise enough to fingerprint (``int32`` is not ``int64``,
``timestamp[us, tz=UTC]`` is not ``timestamp[ns]``). Everything in :mod:`shoal.data`
works on Arrow, so each input library is handled once, here.

pandas and polars are looked up in ``sys.modules`` rather than imported: an object can only
be a polars DataFrame if polars is already loaded, so this never imports (or requires)
polars, and never pays pandas' import time for an Arrow-only caller.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, cast

import pyarrow as pa

from shoal.errors import InvalidInput

ACCEPTED = (
    "a pandas DataFrame, a polars DataFrame, a pyarrow Table or RecordBatch, or a dict of columns"
)


def to_arrow(frame: Any) -> pa.Table:
    """Return ``frame`` as a ``pyarrow.Table`` (zero-copy where the input library allows).

    - pandas: a default ``RangeIndex`` (0, 1, 2, ... with no name) is dropped, because it
      carries no information; any other index (named, shifted, a MultiIndex) becomes
      column(s), because it does. Float ``NaN`` becomes null, as pandas means it ("missing").
    - polars: ``DataFrame.to_arrow()``; a ``LazyFrame`` is refused (collecting it is the
      caller's decision: it may be expensive).
    - dict: ``{name: values}`` with values anything ``pyarrow.array`` accepts.
    """
    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pa.RecordBatch):
        return pa.Table.from_batches([frame])
    pd = sys.modules.get("pandas")
    if pd is not None:
        if isinstance(frame, pd.DataFrame):
            return _from_pandas(frame)
        if isinstance(frame, pd.Series):
            raise InvalidInput(
                f"got a pandas Series; expected {ACCEPTED}. Use series.to_frame() to pass one "
                "column.",
                field="frame",
            )
    pl = sys.modules.get("polars")
    if pl is not None:
        if isinstance(frame, pl.DataFrame):
            return cast("pa.Table", frame.to_arrow())
        if isinstance(frame, pl.LazyFrame):
            raise InvalidInput(
                f"got a polars LazyFrame; expected {ACCEPTED}. Call .collect() first.",
                field="frame",
            )
    if isinstance(frame, Mapping):
        return _from_dict(frame)
    kind = f"{type(frame).__module__}.{type(frame).__qualname__}"
    raise InvalidInput(f"got {kind}; expected {ACCEPTED}.", field="frame")


def schema_of(frame: Any) -> list[dict[str, Any]]:
    """Column names, Arrow type strings and nullability, JSON-ready, in column order.

    >>> schema_of({"x": [1, 2]})
    [{'name': 'x', 'type': 'int64', 'nullable': True}]
    """
    table = to_arrow(frame)
    return [
        {"name": field.name, "type": str(field.type), "nullable": bool(field.nullable)}
        for field in table.schema
    ]


def _from_pandas(df: Any) -> pa.Table:
    import pandas as pd

    index = df.index
    default_index = (
        isinstance(index, pd.RangeIndex)
        and index.start == 0
        and index.step == 1
        and index.name is None
    )
    try:
        return pa.Table.from_pandas(df, preserve_index=not default_index)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise InvalidInput(
            f"could not convert the pandas DataFrame to Arrow: {exc}. Give each column one "
            "type (e.g. df[col].astype(str)) and unique string column names.",
            field="frame",
        ) from exc


def _from_dict(columns: Mapping[Any, Any]) -> pa.Table:
    bad = [key for key in columns if not isinstance(key, str)]
    if bad:
        raise InvalidInput(
            f"dict column names must be strings, got {bad[0]!r} ({type(bad[0]).__name__}); "
            "use str keys.",
            field="frame",
        )
    try:
        return pa.table(dict(columns))
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise InvalidInput(
            f"could not convert the dict of columns to Arrow: {exc}. Give every column the "
            "same length and one type.",
            field="frame",
        ) from exc
