"""Each version's training baseline, laid out as arrays the drift query and statistics share.

A version's baseline profile (:mod:`shoal.data`) holds, per numeric column, quantile bin
edges and the training slice's count per bin, and per categorical column its top values.
Monitoring counts the logged values of every version on that version's own edges in one
DuckDB query: the edges travel as one Arrow table, one row per version and one column per
(feature, edge), padded with +inf so every row has the same width. The bin of a value is
then the number of edges it exceeds, a sum of comparisons with no per-version branching
(see ``_query``).

The logged predictions are compared with the summary of each version's own in-sample
predictions that training recorded (the profile's top-level ``prediction`` entry, see
:data:`shoal.data.PREDICTION`); a version without one (trained before they were recorded)
falls back to its training target's profile, whose comparison is only a figure (see
``_runner``): :attr:`Reference.prediction_own` says which each version has.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shoal.data import PREDICTION

MAX_TOP = 20
"""Categorical values tested per feature: the baseline's most frequent; the rest pool in
"other" on both sides, which keeps the test exact for what it compares."""


@dataclass
class NumericFeature:
    """One numeric column (or the prediction) across versions; row ``i`` is version ``i``."""

    name: str
    column: str
    width: int
    """Most bins any version has (edges per row: ``width + 1``)."""
    edges: np.ndarray
    bins: np.ndarray
    """Bins per version; 0 where the version has no baseline for this column."""
    counts: np.ndarray
    """Baseline count per bin, ``(versions, width)``, zero past a version's bins."""

    @property
    def slots(self) -> int:
        """Codes the query counts: bins (0..width-1), over (a version's ``bins``), under
        (``width + 1``) and missing (``width + 2``)."""
        return self.width + 3


@dataclass
class CategoricalFeature:
    """One categorical column across versions: code 0 is "other", 1..k a top value."""

    name: str
    column: str
    width: int
    tops: list[list[str]]
    counts: np.ndarray
    """Baseline counts ``(versions, width + 1)``: other, then each top value."""
    tested: np.ndarray

    @property
    def slots(self) -> int:
        """Other, the top values, and missing (``width + 1``)."""
        return self.width + 2


@dataclass
class Reference:
    """The baselines of every version a pass saw, in one row order (ascending version id,
    so a version's row is found with ``np.searchsorted``)."""

    version_ids: np.ndarray
    model_ids: np.ndarray
    numeric: list[NumericFeature] = field(default_factory=list)
    categorical: list[CategoricalFeature] = field(default_factory=list)
    prediction_own: np.ndarray | None = None
    """Per version, when the prediction is compared: True where its baseline is the
    version's own in-sample predictions (a drift test that may be flagged), False where it
    is the training target's profile (a figure only) or there is none."""

    def table(self) -> pa.Table:
        """The edges and top values as one Arrow table keyed by ``version_id``."""
        columns: dict[str, Any] = {"version_id": pa.array(self.version_ids, pa.int64())}
        for i, f in enumerate(self.numeric):
            for j in range(f.width + 1):
                # NaN (no baseline) becomes NULL: DuckDB orders NaN above every number.
                columns[f"n{i}_e{j}"] = pa.array(f.edges[:, j], pa.float64(), from_pandas=True)
        for i, cat in enumerate(self.categorical):
            columns[f"c{i}_top"] = pa.array(
                [t if ok else None for t, ok in zip(cat.tops, cat.tested, strict=True)],
                pa.list_(pa.string()),
            )
        return pa.table(columns)


def build(
    con: duckdb.DuckDBPyConnection,
    chunks: Iterable[Sequence[tuple[int, int, str | None, str | None]]],
    features: dict[str, str],
    *,
    prediction: bool,
    target: str | None,
    fallback: bool = True,
) -> Reference:
    """Arrays for the versions in ``chunks`` (rows of id, model id, profile and signature
    as JSON text, ids ascending across chunks) and the logged ``features`` (name → column).

    DuckDB parses each profile once, pulling only the fields needed (``json_extract``
    with a list of paths; one call per field would parse a 5 KB profile 30 times), a
    chunk of versions at a time so the profiles' text never all sits in memory; the
    padding into arrays is numpy. With ``prediction``, the logged predictions are
    compared with each version's recorded in-sample predictions (numeric or
    categorical, as most versions recorded them) and, with ``fallback`` (a regression),
    for versions without them with the training target: ``target`` when given, else the
    one numeric baseline column that is neither a signature input nor a logged feature,
    as the fleet's first profiles show it (a fleet trains one function).
    """
    wanted: dict[str, str] | None = None
    target_name: str | None = None
    parts: list[pa.Table] = []
    version_ids: list[np.ndarray] = []
    model_ids: list[np.ndarray] = []
    for rows in chunks:
        ordered = sorted(rows, key=lambda r: r[0])
        if not ordered:
            continue
        if wanted is None:
            wanted = dict(features)
            fall_back = prediction and fallback
            target_name = (target or _target(ordered, features)) if fall_back else None
            if target_name is not None:
                wanted.setdefault(target_name, "")
        table = pa.table({
            "version_id": pa.array([r[0] for r in ordered], pa.int64()),
            "profile": pa.array([r[2] for r in ordered], pa.string()),
        })  # fmt: skip
        # The version's own in-sample predictions come last (None: the profile's top level).
        parts.append(_extract(con, table, [*wanted, *([None] if prediction else [])]))
        version_ids.append(table["version_id"].to_numpy())
        model_ids.append(np.array([r[1] for r in ordered], dtype=np.int64))
    if wanted is None:
        return Reference(np.zeros(0, np.int64), np.zeros(0, np.int64))
    reference = Reference(np.concatenate(version_ids), np.concatenate(model_ids))
    got = pa.concat_tables(parts)
    for i, (name, column) in enumerate(features.items()):
        kind = _first(got[f"k{i}"])
        if kind == "numeric":
            reference.numeric.append(_numeric(got, i, name, column))
        elif kind == "categorical":
            reference.categorical.append(_categorical(got, i, name, column))
    if prediction:
        _prediction(reference, got, len(wanted), list(wanted).index(target_name)
                    if target_name is not None else None)  # fmt: skip
    return reference


def _prediction(reference: Reference, got: pa.Table, own: int, target: int | None) -> None:
    """Add the prediction's baseline: column ``own`` of ``got`` (the recorded in-sample
    predictions), and where a version has none, column ``target`` (the training target's
    profile, numeric only), so a fleet part-trained before predictions were recorded is
    still compared as before."""
    kind = _first(got[f"k{own}"])
    if kind == "categorical":
        reference.categorical.append(_categorical(got, own, "prediction", "prediction"))
        reference.prediction_own = got[f"t{own}"].is_valid().to_numpy(zero_copy_only=False)
        return
    mine = got[f"e{own}"].is_valid()  # edges are given for numeric summaries only
    if target is not None and _first(got[f"k{target}"]) == "numeric":
        merged = pa.table({
            f"e{own}": pc.if_else(mine, got[f"e{own}"], got[f"e{target}"]),
            f"n{own}": pc.if_else(mine, got[f"n{own}"], got[f"n{target}"]),
        })  # fmt: skip
    elif kind == "numeric":
        merged = got.select([f"e{own}", f"n{own}"])
    else:
        return
    reference.numeric.append(_numeric(merged, own, "prediction", "prediction"))
    reference.prediction_own = mine.to_numpy(zero_copy_only=False)


def _first(column: pa.ChunkedArray[Any]) -> str | None:
    """A feature's kind, as most profiles say it: a slice where the column was all null
    profiles it as "other", and must not decide for the fleet."""
    # As a plain Array: pyarrow-stubs type to_pylist for basic scalars, not StructArray's.
    structs: pa.Array[Any] = pc.value_counts(pc.drop_null(column))
    counted = cast("list[dict[str, Any]]", structs.to_pylist())  # a count row is never null
    kinds = sorted(
        ((c["counts"], c["values"]) for c in counted if c["values"] != "other"), reverse=True
    )
    return kinds[0][1] if kinds else None


def _path(name: str | None, field: str) -> str:
    """A JSON path to ``columns.<name>.<field>`` (the name quoted: it may hold dots), or
    with ``name`` None to the in-sample predictions' ``<field>`` (``prediction.<field>``)."""
    if name is None:
        return f"$.{PREDICTION}.{field}"
    # ensure_ascii=False: DuckDB's JSON paths do not decode \u escapes ("é" must stay "é").
    return "$.columns." + json.dumps(name, ensure_ascii=False) + "." + field


def _extract(con: duckdb.DuckDBPyConnection, table: pa.Table, names: list[str | None]) -> pa.Table:
    """Per column name ``i``: ``k{i}`` kind, ``e{i}``/``n{i}`` numeric edges and counts,
    ``t{i}``/``c{i}``/``total{i}`` categorical top values, their counts and the count
    (None: the summary of the in-sample predictions, see :func:`_path`)."""
    paths: list[str] = []
    select: list[str] = []
    for i, name in enumerate(names):
        paths += [_path(name, field) for field in ("kind", "edges", "counts", "top", "count")]
        kind, edges, counts, top, total = (f"j[{len(paths) - 4 + n}]" for n in range(5))
        select += [
            f"{kind} ->> '$' AS k{i}",
            f"CASE WHEN {kind} ->> '$' = 'numeric' THEN {edges}::DOUBLE[] END AS e{i}",
            f"CASE WHEN {kind} ->> '$' = 'numeric' THEN {counts}::DOUBLE[] END AS n{i}",
            f"CASE WHEN {kind} ->> '$' = 'categorical' THEN "
            f"json_extract_string({top}, '$[*].value') END AS t{i}",
            f"json_extract({top}, '$[*].count')::DOUBLE[] AS c{i}",
            f"{total}::DOUBLE AS total{i}",
        ]
    listed = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
    con.register("profiles", table)
    try:
        extracted: pa.Table = con.sql(
            f"SELECT {', '.join(select)} FROM (SELECT version_id, "
            f"json_extract(profile, [{listed}]) AS j FROM profiles) ORDER BY version_id"
        ).to_arrow_table()
        return extracted
    finally:
        con.unregister("profiles")


def _target(
    rows: Sequence[tuple[int, int, str | None, str | None]], features: dict[str, str]
) -> str | None:
    votes: dict[str | None, int] = {}
    with_profiles = [row for row in rows if row[2]][:50]  # versions without one cannot vote
    for _vid, _mid, profile, signature in with_profiles:
        columns = (json.loads(profile) if profile else {}).get("columns") or {}
        inputs = {
            i.get("name") for i in (json.loads(signature) if signature else {}).get("inputs", [])
        }
        left = [
            name for name, summary in columns.items()
            if summary.get("kind") == "numeric" and name not in inputs and name not in features
        ]  # fmt: skip
        found = left[0] if len(left) == 1 else None
        votes[found] = votes.get(found, 0) + 1
    return max(votes, key=lambda k: votes[k]) if votes else None


def _padded(lists: pa.ChunkedArray[Any], width: int, fill: float) -> tuple[np.ndarray, np.ndarray]:
    """A list column as a ``(rows, width)`` array padded with ``fill``, and each length."""
    array = lists.combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(array), 0).to_numpy().astype(np.int64)
    out = np.full((len(array), width), fill, dtype=np.float64)
    flat = pc.list_flatten(array).to_numpy(zero_copy_only=False).astype(np.float64)
    keep = np.minimum(lengths, width)
    rows = np.repeat(np.arange(len(array)), keep)
    starts = np.repeat(np.cumsum(lengths) - lengths, keep)
    position = np.arange(len(rows)) - np.repeat(np.cumsum(keep) - keep, keep)
    out[rows, position] = flat[starts + position]
    return out, lengths


def _numeric(got: pa.Table, i: int, name: str, column: str) -> NumericFeature:
    lengths = pc.fill_null(pc.list_value_length(got[f"e{i}"]), 0).to_numpy()
    width = max(int(lengths.max(initial=0)) - 1, 1)
    edges, n_edges = _padded(got[f"e{i}"], width + 1, np.inf)
    constant = n_edges == 1  # one bin [e0, e0]; above it is "over"
    edges[constant, 1] = edges[constant, 0]
    edges[n_edges == 0, 0] = np.nan  # no baseline: the query counts nothing for it
    counts, bins = _padded(got[f"n{i}"], width, 0.0)
    bins[n_edges == 0] = 0
    return NumericFeature(name, column, width, edges, bins, counts)


def _categorical(got: pa.Table, i: int, name: str, column: str) -> CategoricalFeature:
    tested = got[f"t{i}"].is_valid().to_numpy(zero_copy_only=False)
    lengths = pc.fill_null(pc.list_value_length(got[f"t{i}"]), 0).to_numpy()
    width = min(int(lengths.max(initial=0)), MAX_TOP)
    top_counts, _ = _padded(got[f"c{i}"], width, 0.0)
    total = np.nan_to_num(got[f"total{i}"].to_numpy(zero_copy_only=False).astype(np.float64))
    counts = np.zeros((got.num_rows, width + 1))
    counts[:, 1:] = top_counts
    counts[:, 0] = total - top_counts.sum(axis=1)
    counts[~tested] = 0
    tops = [t[:width] if t is not None else [] for t in got[f"t{i}"].to_pylist()]
    return CategoricalFeature(name, column, width, tops, counts, tested)
