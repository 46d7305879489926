"""Each version's training baseline, laid out as arrays the drift query and statistics share.

A version's baseline profile (:mod:`shoal.data`) holds, per numeric column, quantile bin
edges and the training slice's count per bin, and per categorical column its top values.
Monitoring counts the logged values of every version on that version's own edges in one
DuckDB query: the edges travel as one Arrow table, one row per version and one column per
(feature, edge), padded with +inf so every row has the same width. The bin of a value is
then the number of edges it exceeds, a sum of comparisons with no per-version branching
(see ``_query``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

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
    """The baselines of every version a pass saw, in one row order."""

    version_ids: np.ndarray
    model_ids: np.ndarray
    numeric: list[NumericFeature] = field(default_factory=list)
    categorical: list[CategoricalFeature] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.row = {int(v): i for i, v in enumerate(self.version_ids)}

    def table(self) -> pa.Table:
        """The edges and top values as one Arrow table keyed by ``version_id``."""
        columns: dict[str, Any] = {"version_id": pa.array(self.version_ids, pa.int64())}
        for i, f in enumerate(self.numeric):
            for j in range(f.width + 1):
                # NaN (no baseline) becomes NULL: DuckDB orders NaN above every number.
                columns[f"n{i}_e{j}"] = pa.array(f.edges[:, j], pa.float64(), from_pandas=True)
        for i, f in enumerate(self.categorical):
            columns[f"c{i}_top"] = pa.array(
                [t if ok else None for t, ok in zip(f.tops, f.tested, strict=True)],
                pa.list_(pa.string()),
            )
        return pa.table(columns)


def category_text(value: Any) -> str:
    """A categorical value as DuckDB's ``CAST(x AS VARCHAR)`` writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def build(
    refs: dict[int, dict[str, Any]],
    features: dict[str, str],
    *,
    prediction: bool,
    target: str | None,
) -> Reference:
    """Arrays for the versions in ``refs`` and the logged ``features`` (name → log column).

    With ``prediction``, the logged predictions are compared with each version's training
    target: ``target`` when given, else the one numeric baseline column that is neither a
    signature input nor a logged feature (none when that is ambiguous).
    """
    ids = sorted(refs)
    version_ids = np.array(ids, dtype=np.int64)
    model_ids = np.array([refs[v]["model_id"] for v in ids], dtype=np.int64)
    profiles = [((refs[v]["baseline"] or {}).get("columns") or {}) for v in ids]
    kinds: dict[str, str] = {}
    for columns in profiles:
        for name in features:
            summary = columns.get(name)
            if summary is not None and name not in kinds:
                kinds[name] = summary.get("kind", "other")
    reference = Reference(version_ids, model_ids)
    for name, column in features.items():
        if kinds.get(name) == "numeric":
            reference.numeric.append(_numeric(name, column, [c.get(name) for c in profiles]))
        elif kinds.get(name) == "categorical":
            reference.categorical.append(
                _categorical(name, column, [c.get(name) for c in profiles])
            )
    if prediction:
        targets = [
            _target(columns, refs[v]["signature"], features, target)
            for v, columns in zip(ids, profiles, strict=True)
        ]
        summaries = [c.get(t) if t else None for c, t in zip(profiles, targets, strict=True)]
        if any(s is not None for s in summaries):
            reference.numeric.append(_numeric("prediction", "prediction", summaries))
    return reference


def _target(
    columns: dict[str, Any], signature: Any, features: dict[str, str], target: str | None
) -> str | None:
    if target is not None:
        summary = columns.get(target)
        return target if summary is not None and summary.get("kind") == "numeric" else None
    inputs = {i.get("name") for i in (signature or {}).get("inputs", [])}
    left = [
        name
        for name, summary in columns.items()
        if summary.get("kind") == "numeric" and name not in inputs and name not in features
    ]
    return left[0] if len(left) == 1 else None


def _numeric(name: str, column: str, summaries: list[Any]) -> NumericFeature:
    usable = [
        s if s is not None and s.get("kind") == "numeric" and s.get("edges") else None
        for s in summaries
    ]
    width = max((max(len(s["edges"]) - 1, 1) for s in usable if s is not None), default=1)
    rows = len(summaries)
    edges = np.full((rows, width + 1), np.inf)
    edges[:, 0] = np.nan  # no baseline: the query counts nothing for this version
    bins = np.zeros(rows, dtype=np.int64)
    counts = np.zeros((rows, width), dtype=np.float64)
    for i, s in enumerate(usable):
        if s is None:
            continue
        e = s["edges"]
        if len(e) == 1:  # a constant column: one bin [e0, e0]; above it is "over"
            e = [e[0], e[0]]
        edges[i, : len(e)] = e
        n = len(s["counts"])
        bins[i] = n
        counts[i, :n] = s["counts"]
    return NumericFeature(name, column, width, edges, bins, counts)


def _categorical(name: str, column: str, summaries: list[Any]) -> CategoricalFeature:
    usable = [s if s is not None and s.get("kind") == "categorical" else None for s in summaries]
    width = min(max((len(s.get("top", [])) for s in usable if s is not None), default=0), MAX_TOP)
    rows = len(summaries)
    counts = np.zeros((rows, width + 1), dtype=np.float64)
    tops: list[list[str]] = []
    tested = np.zeros(rows, dtype=bool)
    for i, s in enumerate(usable):
        if s is None:
            tops.append([])
            continue
        top = s.get("top", [])[:width]
        tops.append([category_text(t["value"]) for t in top])
        counts[i, 1 : len(top) + 1] = [t["count"] for t in top]
        counts[i, 0] = s.get("count", 0) - sum(t["count"] for t in top)
        tested[i] = True
    return CategoricalFeature(name, column, width, tops, counts, tested)
