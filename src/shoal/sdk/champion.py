"""Champion against challenger: two aliases of a fleet, model by model, on one metric.

``fleet.compare_aliases("production", "candidate", metric="mape")`` answers the question
a fleet owner asks before a promotion: where does the challenger win, by how much, and
in which stores? Everything is computed in the store (one query for the page of rows,
one aggregate pass for the summary, one GROUP BY for the roll-up), so it reads the same
at ten models and at a million; pages follow keyset cursors.

``delta`` is always ``b - a`` (the challenger's value minus the champion's); whether
that is good depends on the metric's direction: errors (``mape``, ``rmse``, ``mae``,
``wape``, ``log_loss``, ...) are lower-is-better, scores (``accuracy``, ``f1``, ``auc``,
``r2``, ...) higher-is-better, read from the name (a prefix such as ``eval_`` is fine)
or given as ``direction="lower"`` / ``"higher"``. A model *wins* for ``b`` when its
``b`` value is better, *loses* when ``a``'s is, *ties* when they are equal.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shoal.registry import check_limit

if TYPE_CHECKING:
    from shoal.sdk.fleet import Fleet

PAGE_ROWS = 50


@dataclass(frozen=True)
class ComparedModel:
    """One model: its versions at both aliases, their metric, the delta and who wins."""

    key: dict[str, str]
    a_version: int | None
    b_version: int | None
    a_value: float | None
    b_value: float | None
    delta: float | None
    """``b_value - a_value``; None unless both versions have the metric."""
    winner: str | None
    """``"b"`` (the challenger is better), ``"a"``, ``"tie"``, or None (not compared)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ComparisonSummary:
    """Counts over every model the filter selects: which carry both aliases or only one,
    and over those compared (both versions have the metric) wins, losses, ties, means."""

    both: int
    only_a: int
    only_b: int
    compared: int
    wins: int
    """Models where ``b`` is better."""
    losses: int
    """Models where ``a`` is better."""
    ties: int
    mean_a: float | None
    mean_b: float | None
    mean_delta: float | None
    median_delta: float | None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RollupRow:
    """One value of the roll-up dimension: its models compared, wins, losses, ties."""

    value: str | None
    models: int
    wins: int
    losses: int
    ties: int
    mean_delta: float | None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Comparison:
    """A page of a champion-against-challenger comparison (``fleet.compare_aliases``)."""

    fleet: str
    a: str
    b: str
    metric: str
    direction: str
    """``lower`` (lower is better) or ``higher``."""
    rows: list[ComparedModel]
    next_cursor: str | None
    summary: ComparisonSummary | None = None
    """None when asked with ``summary=False`` (a next page need not count again)."""
    by: str | None = None
    rollup: list[RollupRow] | None = None
    more_groups: bool = False
    """The roll-up lists the ``groups`` values with the most models; True when more exist."""
    notes: list[str] = field(default_factory=list)
    """Why a count may be 0 (a filter that selects nothing, no model with both aliases)."""

    def __iter__(self) -> Any:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def compare_aliases(
    fleet: Fleet,
    a: str,
    b: str,
    metric: str,
    *,
    direction: str | None = None,
    where: Any = None,
    show: str = "both",
    sort: str | None = None,
    by: str | None = None,
    limit: int = PAGE_ROWS,
    cursor: str | None = None,
    groups: int = 100,
    summary: bool = True,
) -> Comparison:
    """Alias ``a`` (the champion) against ``b`` (the challenger) on ``metric``.

    ``where`` narrows the models (the filter grammar, as in ``search``); ``show`` picks the
    rows listed: ``both`` aliases (default), ``either``, ``only_a`` or ``only_b``; ``sort``
    is ``delta`` or ``-delta`` (rows without both values left out), else model order;
    ``limit`` rows a page, the next from ``cursor=page.next_cursor``. ``by`` rolls wins
    and losses up by a key dimension or a tag (``tags.region`` or ``region``), the
    ``groups`` values with the most models. ``summary=False`` skips the totals (for a
    next page). A side may be ``latest`` (each model's newest version); a side naming an
    alias no model carries is :class:`shoal.InvalidInput` naming ``a`` or ``b`` and the
    closest alias the fleet has.
    """
    check_limit(limit)
    check_limit(groups, "groups", 1000)
    found = fleet._registry.aliases.compare(
        fleet.ref, a, b, metric, direction=direction, where=where, show=show,
        sort=(sort or "").strip(), limit=limit, cursor=cursor, by=by, groups=groups,
        totals=summary,
    )  # fmt: skip
    sides = found["sides"]
    rows = [
        ComparedModel(key=r["key"], a_version=r["a_version"], b_version=r["b_version"],
                      a_value=r["a_value"], b_value=r["b_value"], delta=r["delta"],
                      winner=r["better"])
        for r in found["rows"]
    ]  # fmt: skip
    totals = found["summary"]
    return Comparison(
        fleet=fleet.path, a=sides.a, b=sides.b, metric=sides.metric,
        direction=found["direction"], rows=rows, next_cursor=found["next_cursor"],
        summary=None if totals is None else ComparisonSummary(
            **{f.name: totals[f.name] for f in dataclasses.fields(ComparisonSummary)}),
        by=by.strip() if by else None,
        rollup=None if found["rollup"] is None else [RollupRow(**r) for r in found["rollup"]],
        more_groups=found["more_groups"], notes=list(found["notes"]),
    )  # fmt: skip


def choices(fleet: Fleet) -> dict[str, list[str]]:
    """What a comparison can name on this fleet: its ``aliases`` (most models first),
    ``metrics`` (those with a known direction first) and roll-up dimensions (``by``: the
    key dimensions, then ``tags.NAME``)."""
    from shoal.registry.champion import known_direction

    names = fleet._registry.versions.names(fleet.ref)
    coverage = fleet.coverage()
    metrics = sorted(names["metrics"], key=lambda m: known_direction(m) is None)
    return {
        "aliases": sorted(coverage, key=lambda name: -coverage[name]),
        "metrics": metrics,
        "by": [*fleet.keys, *(f"tags.{t}" for t in names["tags"])],
    }
