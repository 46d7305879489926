"""Baseline profiles: the per-column summary that drift is measured against later.

Why these figures: drift statistics that monitoring can compute in one pass over new data,
per model and window, and merge across partitions exactly. Counts in fixed bins merge by
addition, so numeric columns store quantile bin edges from the baseline and the baseline's
count per bin: PSI (or any binned divergence) of new data is then the new data counted on
the *same* edges. Categorical columns store their top values' frequencies and an "other"
count, which the same argument applies to.

Bin convention (shared with :func:`bin_counts`, and to be replicated in SQL as is):
edges ``e[0] < e[1] < ... < e[m]`` are the baseline's quantiles at ``0, 1/bins, ..., 1``
with duplicates removed. Bin ``0`` is ``[e[0], e[1]]`` (closed: it holds the minimum);
bin ``i > 0`` is ``(e[i], e[i+1]]`` (right-closed). Values below ``e[0]`` are counted in
``under`` and above ``e[m]`` in ``over``; both are 0 for the baseline by construction.
A constant column has one edge and one bin, ``[e[0], e[0]]``. Nulls and NaN are counted
in ``nulls`` (pandas turns NaN into null, so this keeps pandas and polars input
alike), infinities in ``infinite`` and in ``under``/``over``; min, max, mean, std and the
edges are over the finite values.

The output is plain JSON: Python ints, floats, strings, bools and None (never NaN or inf).

A version's stored baseline may carry one more top-level entry, :data:`PREDICTION`: the
summary of the model's own predictions on its training rows (a column summary like those
of ``columns``), recorded by training so that monitoring tests prediction drift against
what the model predicted, not against the target.
"""

from __future__ import annotations

import functools
import math
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shoal.data._frames import to_arrow
from shoal.errors import InvalidInput

PROFILE_VERSION = 1
PREDICTION = "prediction"
"""The baseline's top-level key for the summary of the version's in-sample predictions.

At the top level, not in ``columns``: it is not a column of the training data, and readers
of ``columns`` (the model page's features, monitoring's guess of the target) must not take
it for one. A baseline without it (older versions) is valid: monitoring falls back."""
_PARALLEL_CELLS = 1_000_000
"""Below this many cells, summarising columns on threads costs more than it saves."""
_CPUS = os.cpu_count() or 1


def profile(frame: Any, *, bins: int = 10, top_k: int = 50) -> dict[str, Any]:
    """A JSON-serialisable baseline of ``frame``: row count and one summary per column.

    Returns ``{"version": 1, "rows": n, "columns": {name: summary}}`` where each summary has
    ``type`` (Arrow type string), ``kind`` and, by kind:

    - ``numeric`` (ints, floats, decimals): ``count`` (finite values), ``nulls``,
      ``infinite``, ``min``, ``max``, ``mean``, ``std`` (sample, ddof=1), ``edges``,
      ``counts``, ``under``, ``over`` (see the module docstring for the bin convention).
    - ``categorical`` (strings, bools, dictionaries): ``count``, ``nulls``, ``distinct``,
      ``top`` (up to ``top_k`` ``{"value", "count"}``, most frequent first, ties by value)
      and ``other`` (the non-null rows outside ``top``).
    - ``temporal`` (dates, times, timestamps): ``count``, ``nulls``, ``min``, ``max`` as
      ISO 8601 strings.
    - ``other`` (binary, nested, durations): ``count``, ``nulls``.
    """
    table = checked(frame, bins, top_k)
    names = table.column_names

    def summarise(column: pa.ChunkedArray[Any]) -> dict[str, Any]:
        return _column(column.combine_chunks(), bins, top_k)

    if table.num_rows * table.num_columns >= _PARALLEL_CELLS and _CPUS > 1:
        workers = min(table.num_columns, _CPUS)
        # numpy's partition/searchsorted and Arrow's kernels release the GIL.
        with ThreadPoolExecutor(max_workers=workers) as pool:
            summaries = list(pool.map(summarise, table.columns))
    else:
        summaries = [summarise(column) for column in table.columns]
    columns = dict(zip(names, summaries, strict=True))
    return {"version": PROFILE_VERSION, "rows": table.num_rows, "columns": columns}


def checked(frame: Any, bins: int, top_k: int) -> pa.Table:
    """``frame`` as Arrow, once the arguments and its column names are fit to profile."""
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise InvalidInput(f"bins must be an int >= 1, got {bins!r}.", field="bins")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
        raise InvalidInput(f"top_k must be an int >= 0, got {top_k!r}.", field="top_k")
    table = to_arrow(frame)
    names = table.column_names
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise InvalidInput(
            f"cannot profile a table with repeated column names {dupes}; rename them.",
            field="frame",
        )
    return table


def bin_counts(values: Any, edges: list[float]) -> dict[str, Any]:
    """Count ``values`` into the bins of ``edges`` (the profile's convention).

    Returns ``{"counts": [...], "under": n, "over": n}``; NaN is skipped, ``-inf``/``inf``
    land in ``under``/``over``. With no edges (a baseline with no finite values) there are
    no bins, and every non-NaN value counts as ``over``: nothing to compare it with.
    """
    x = np.asarray(values, dtype=np.float64)
    nan = np.isnan(x)
    if nan.any():
        x = x[~nan]
    e = np.asarray(edges, dtype=np.float64)
    if len(e) == 0:
        return {"counts": [], "under": 0, "over": len(x)}
    nbins = max(len(e) - 1, 1)
    position = np.searchsorted(e, x, side="left")  # e[j-1] < x <= e[j]
    under = int(np.count_nonzero(x < e[0]))
    over = int(np.count_nonzero(position == len(e)))
    # Out-of-range values land in the first/last bin here and are taken out again below.
    counts = np.bincount(np.clip(position - 1, 0, nbins - 1), minlength=nbins)
    counts[0] -= under
    counts[-1] -= over
    return {"counts": [int(c) for c in counts], "under": under, "over": over}


def _column(array: pa.Array[Any], bins: int, top_k: int) -> dict[str, Any]:
    dtype = array.type
    t = pa.types
    summary: dict[str, Any] = {"type": str(dtype)}
    if t.is_dictionary(dtype):
        array = cast("pa.DictionaryArray[Any, Any]", array).dictionary_decode()
        dtype = array.type
    if t.is_integer(dtype) or t.is_floating(dtype) or t.is_decimal(dtype):
        summary.update(kind="numeric", **_numeric(array, bins))
        return summary  # built from Python scalars, finite or None already
    if (
        t.is_string(dtype)
        or t.is_large_string(dtype)
        or getattr(t, "is_string_view", lambda _: False)(dtype)
        or t.is_boolean(dtype)
    ):
        summary.update(kind="categorical", **_categorical(array, top_k))
    elif t.is_date(dtype) or t.is_time(dtype) or t.is_timestamp(dtype):
        summary.update(kind="temporal", **_temporal(array))
    else:
        summary.update(kind="other", count=len(array) - array.null_count, nulls=array.null_count)
    safe: dict[str, Any] = _json_safe(summary)
    return safe


def _numeric(array: pa.Array[Any], bins: int) -> dict[str, Any]:
    if pa.types.is_decimal(array.type):
        array = array.cast(pa.float64())
    nulls = array.null_count
    values = (pc.drop_null(array) if nulls else array).to_numpy(zero_copy_only=False)
    infinite = 0
    finite = values
    if values.dtype.kind == "f":
        is_finite = np.isfinite(values)
        if not is_finite.all():
            infinite = int(np.count_nonzero(np.isinf(values)))
            nulls += len(values) - int(np.count_nonzero(is_finite)) - infinite
            finite = values[is_finite]
    out: dict[str, Any] = {"count": len(finite), "nulls": nulls, "infinite": infinite}
    if len(finite) == 0:
        out.update(min=None, max=None, mean=None, std=None, edges=[])
        out.update(bin_counts(values, []))
        return out
    # One sort serves the quantile edges, min, max and the bin counts. A per-key baseline
    # is profiled for every model trained, so this path avoids np.quantile's and
    # searchsorted's fixed costs (about 0.1 ms a column on a 50-row slice).
    ordered = np.sort(finite.astype(np.float64, copy=False))
    with np.errstate(over="ignore", invalid="ignore"):  # near float64's limit: None, below
        edges = np.unique(_quantiles(ordered, bins))
        mean = _finite(ordered.mean())
        std = _finite(ordered.std(ddof=1)) if len(ordered) > 1 else None
    out.update(
        min=finite.min().item(), max=finite.max().item(), mean=mean, std=std,
        edges=edges.tolist(),
    )  # fmt: skip
    if infinite:
        out.update(bin_counts(values, out["edges"]))
        return out
    # Every value is finite and inside [e0, em]: bin i holds the values <= e[i+1] and
    # > e[i] (bin 0 also those equal to e[0]), which a right-sided search of the sorted
    # values gives at once.
    below = np.searchsorted(ordered, edges, side="right")
    counts = np.diff(below)
    if len(edges) == 1:
        counts = below
    else:
        counts[0] += below[0]
    out.update(counts=counts.tolist(), under=0, over=0)
    return out


def _quantiles(ordered: np.ndarray, bins: int) -> np.ndarray:
    """``np.quantile(values, linspace(0, 1, bins + 1))`` (method "linear") of sorted values.

    The same interpolation numpy uses, term for term, so the edges are bit-identical.
    """
    low, high, t, upper = _positions(len(ordered), bins)
    a, b = ordered[low], ordered[high]
    diff = b - a
    lerp: np.ndarray = a + diff * t
    lerp[upper] = (b - diff * (1 - t))[upper]
    overflow = ~np.isfinite(diff)
    if overflow.any():  # b - a past float64's range (values of both signs near its limit)
        lerp[overflow] = (a * (1 - t) + b * t)[overflow]
    return lerp


@functools.lru_cache(maxsize=1024)
def _positions(n: int, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where the quantiles fall among ``n`` sorted values; slices of a fleet repeat sizes."""
    virtual = np.linspace(0.0, 1.0, bins + 1) * (n - 1)
    low = np.floor(virtual).astype(np.intp)
    high = np.minimum(low + 1, n - 1)
    t = virtual - low
    return low, high, t, t >= 0.5


_SMALL = 4096
"""Up to this many rows, categories are counted in Python: a dozen Arrow kernel calls cost
more than counting a per-key slice's few hundred values."""


def _categorical(array: pa.Array[Any], top_k: int) -> dict[str, Any]:
    if len(array) <= _SMALL:
        return _categorical_small(array, top_k)
    count = len(array) - array.null_count
    counted = pc.value_counts(array)
    values = counted.field("values")
    counts = counted.field("counts")
    keep = values.is_valid()
    values = values.filter(keep)
    counts = counts.filter(keep)
    order = pc.sort_indices(
        pa.table({"c": counts, "v": values}),
        sort_keys=[("c", "descending"), ("v", "ascending")],
    )[:top_k]
    top: list[dict[str, Any]] = [
        {"value": v, "count": c}
        for v, c in zip(values.take(order).to_pylist(), counts.take(order).to_pylist(), strict=True)
    ]
    return {
        "count": count,
        "nulls": array.null_count,
        "distinct": len(values),
        "top": top,
        "other": count - sum(item["count"] for item in top),
    }


def _categorical_small(array: pa.Array[Any], top_k: int) -> dict[str, Any]:
    """:func:`_categorical` by ``collections.Counter``: the same figures, the same order
    (count descending, then value ascending: Python orders text by code point, which is
    Arrow's UTF-8 byte order)."""
    return categorical_values(array.to_pylist(), top_k)


def categorical_values(values: list[Any], top_k: int) -> dict[str, Any]:
    """:func:`_categorical_small` of values already read into Python (None is null)."""
    counted = Counter(v for v in values if v is not None)
    ranked = sorted(counted.items(), key=lambda item: (-item[1], item[0]))[:top_k]
    count = counted.total()
    top = [{"value": v, "count": c} for v, c in ranked]
    return {
        "count": count,
        "nulls": len(values) - count,
        "distinct": len(counted),
        "top": top,
        "other": count - sum(c for _, c in ranked),
    }


def _temporal(array: pa.Array[Any]) -> dict[str, Any]:
    bounds = pc.min_max(array)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    return {
        "count": len(array) - array.null_count,
        "nulls": array.null_count,
        "min": None if low is None else low.isoformat(),
        "max": None if high is None else high.isoformat(),
    }


def _finite(value: Any) -> float | None:
    """A float for JSON, or None where the mean or std of huge values overflowed."""
    number = float(value)
    return number if math.isfinite(number) else None


def _json_safe(value: Any) -> Any:
    """Plain Python containers and scalars, with NaN and infinities turned into None."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
