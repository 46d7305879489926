"""Many baseline profiles at once: one per row range of a table, as :func:`profile` gives.

Why a batch form: fleet training profiles every key's rows as that key's drift baseline,
and a per-key model's rows are few (50 to a few thousand). Profiling them one slice at a
time pays numpy's and Arrow's fixed per-call costs for every column of every key, about
0.2 ms a key for four columns, which on a fleet of tiny models is as much as the fit.
Here each numeric column of a training task is converted once, the slices of one length
are stacked into a matrix and summarised together (sorted per row, quantiles by fancy
indexing, sums along rows), and categorical columns are read into Python once.

The results are the same as :func:`profile` of each slice, bit for bit: numpy sums a
contiguous row pairwise exactly as it sums a 1-D array, quantiles use the same
interpolation, and edges are deduplicated the way ``np.unique`` does. Anything this path
does not specialise (nulls, NaN or infinities in a column, dictionaries, dates, long
slices) is handed to the per-column code of :func:`profile`, so the two cannot drift
apart on the hard cases (a test compares them on all of these).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import pyarrow as pa

from shoal.data._profile import (
    _SMALL,
    PROFILE_VERSION,
    _column,
    _finite,
    _positions,
    categorical_values,
    checked,
)
from shoal.errors import InvalidInput

_STACKED_CELLS = 1 << 20
"""Stack at most this many values of one column at once (8 MiB of float64; the counting
below holds ``bins + 1`` booleans per value)."""
_MAX_BINS = 64
"""More bins than this are profiled slice by slice (the counting is O(values x bins))."""
_LONG = 4096
"""Slices longer than this are profiled one by one: their fixed costs are already small
beside the work, and the counting below compares every value with every edge."""


def profile_slices(
    frame: Any, bounds: Sequence[tuple[int, int]], *, bins: int = 10, top_k: int = 50
) -> list[dict[str, Any]]:
    """``[profile(frame[start:stop]) for start, stop in bounds]``, computed together.

    ``bounds`` are row ranges of ``frame`` (they may be empty, overlap or come in any
    order). Argument checks and errors are :func:`profile`'s.
    """
    table = checked(frame, bins, top_k)
    spans = [(int(start), int(stop)) for start, stop in bounds]
    if not spans:
        return []
    if any(not 0 <= start <= stop <= table.num_rows for start, stop in spans):
        raise InvalidInput(
            f"bounds must be (start, stop) row ranges within the table's {table.num_rows} rows",
            field="bounds",
        )
    columns: dict[str, list[dict[str, Any]]] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        columns[name] = _summaries(column.combine_chunks(), spans, bins, top_k)
    return [
        {
            "version": PROFILE_VERSION,
            "rows": stop - start,
            "columns": {name: found[i] for name, found in columns.items()},
        }
        for i, (start, stop) in enumerate(spans)
    ]


def value_summaries(
    arrays: Sequence[Any], *, bins: int = 10, top_k: int = 50
) -> list[dict[str, Any]]:
    """The column summary :func:`profile` would write for a column holding each of
    ``arrays`` (one-dimensional: numpy, lists, Arrow), computed together when they share a
    type (training's in-sample predictions: one array per key of a task, summarised at
    the cost of one column of :func:`profile_slices`, not one profile each)."""
    converted = [a if isinstance(a, pa.Array) else pa.array(np.asarray(a)) for a in arrays]
    if not converted:
        return []
    if len({a.type for a in converted}) > 1:
        return [_column(a, bins, top_k) for a in converted]
    lengths = np.cumsum([0, *(len(a) for a in converted)]).tolist()
    table = pa.Table.from_arrays([pa.chunked_array(converted)], names=["v"])
    bounds = list(itertools.pairwise(lengths))
    return [p["columns"]["v"] for p in profile_slices(table, bounds, bins=bins, top_k=top_k)]


def _summaries(
    array: pa.Array[Any], spans: list[tuple[int, int]], bins: int, top_k: int
) -> list[dict[str, Any]]:
    """One column's summary for every span: batched where possible, else one by one."""
    dtype = array.type
    t = pa.types
    numeric = t.is_integer(dtype) or t.is_floating(dtype)
    if numeric and array.null_count == 0 and bins <= _MAX_BINS:
        values = array.to_numpy(zero_copy_only=False)
        if values.dtype.kind != "f" or bool(np.isfinite(values).all()):
            return _numeric_batch(array, values, spans, bins)
    if (t.is_string(dtype) or t.is_large_string(dtype) or t.is_boolean(dtype)) and all(
        stop - start <= _SMALL for start, stop in spans
    ):
        rows = array.to_pylist()
        kind = {"type": str(dtype), "kind": "categorical"}
        return [{**kind, **categorical_values(rows[start:stop], top_k)} for start, stop in spans]
    return [_column(array.slice(start, stop - start), bins, top_k) for start, stop in spans]


def _numeric_batch(
    array: pa.Array[Any], values: np.ndarray, spans: list[tuple[int, int]], bins: int
) -> list[dict[str, Any]]:
    """Numeric summaries of a finite, null-free column (``values`` is ``array`` in numpy)
    for every span (see the module docstring)."""
    type_name = str(array.type)
    out: list[dict[str, Any] | None] = [None] * len(spans)
    by_length: dict[int, list[int]] = {}
    for i, (start, stop) in enumerate(spans):
        by_length.setdefault(stop - start, []).append(i)
    for length, members in by_length.items():
        if length == 0 or length > _LONG:
            for i in members:
                start, stop = spans[i]
                out[i] = _column(array.slice(start, stop - start), bins, 0)
            continue
        step = max(1, _STACKED_CELLS // length)
        for first in range(0, len(members), step):
            chunk = members[first : first + step]
            starts = np.fromiter((spans[i][0] for i in chunk), dtype=np.intp, count=len(chunk))
            for i, summary in zip(chunk, _stacked(values, starts, length, bins), strict=True):
                out[i] = {"type": type_name, "kind": "numeric", **summary}
    return cast("list[dict[str, Any]]", out)  # every span was filled in above


def _stacked(
    values: np.ndarray, starts: np.ndarray, length: int, bins: int
) -> list[dict[str, Any]]:
    """Summaries of ``values[s : s + length]`` for each ``s`` in ``starts``, together."""
    raw = values[starts[:, None] + np.arange(length)]
    ordered = np.sort(raw.astype(np.float64, copy=False), axis=1)
    low, high, t, upper = _positions(length, bins)
    with np.errstate(over="ignore", invalid="ignore"):
        a, b = ordered[:, low], ordered[:, high]
        diff = b - a
        quantiles = a + diff * t
        quantiles[:, upper] = (b - diff * (1 - t))[:, upper]
        overflow = ~np.isfinite(diff)
        if overflow.any():
            quantiles[overflow] = (a * (1 - t) + b * t)[overflow]
        quantiles.sort(axis=1)
        means = ordered.mean(axis=1)
        stds = ordered.std(axis=1, ddof=1) if length > 1 else None
    # Values <= each quantile: where a right-sided search of the sorted row would land.
    below = (ordered[:, :, None] <= quantiles[:, None, :]).sum(axis=1)
    lows, highs = raw.min(axis=1).tolist(), raw.max(axis=1).tolist()
    summaries = []
    for row, (edges_row, below_row) in enumerate(
        zip(quantiles.tolist(), below.tolist(), strict=True)
    ):
        edges, counts = _unique_edges(edges_row, below_row)
        summaries.append({
            "count": length, "nulls": 0, "infinite": 0, "min": lows[row], "max": highs[row],
            "mean": _finite(means[row]),
            "std": None if stds is None else _finite(stds[row]),
            "edges": edges, "counts": counts, "under": 0, "over": 0,
        })  # fmt: skip
    return summaries


def _unique_edges(edges: list[float], below: list[int]) -> tuple[list[float], list[int]]:
    """``np.unique`` of sorted edges (an edge equal to the one before it is dropped), and
    the bin counts of the profile's convention from the values at or below each edge."""
    kept = [edges[0]]
    at_or_below = [below[0]]
    for edge, count in zip(edges[1:], below[1:], strict=True):
        if edge != kept[-1]:
            kept.append(edge)
            at_or_below.append(count)
    if len(kept) == 1:
        return kept, at_or_below
    counts = [at_or_below[1]]  # bin 0 is [e0, e1]: everything at or below e1
    counts.extend(at_or_below[i + 1] - at_or_below[i] for i in range(1, len(kept) - 1))
    return kept, counts
