"""Facets, histograms and the fleet's vocabulary: what a fleet owner browses a fleet by.

:class:`~shoal.sdk.fleet.Fleet` delegates here (``facets``, ``metric_histogram``) so the
fleet module stays about registering and moving aliases. A facet is a page, not a list:
a fleet of a million models may have a thousand stores, and a UI or a script needs the
next ten of them, or the ones whose name holds ``013``, without reading all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shoal.registry import Where, check_limit

if TYPE_CHECKING:
    from shoal.sdk.fleet import Fleet


class FacetCounts(dict[str, int]):
    """Models per value, in the order asked for (largest count first by default): a dict,
    as ``Fleet.facets`` always returned, plus ``next_cursor`` for the next page (None
    after the last) and ``dim``, the dimension counted (``store`` or ``tags.region``)."""

    def __init__(self, items: list[tuple[str, int]], next_cursor: str | None, dim: str) -> None:
        super().__init__(items)
        self.next_cursor = next_cursor
        self.dim = dim


@dataclass(frozen=True)
class FleetNames:
    """The names a fleet's models carry, for pickers and placeholders: ``metrics`` on some
    model's latest version (what a filter over the fleet matches), ``all_metrics`` on any
    version (older versions may carry names the latest no longer do), and ``tags``."""

    metrics: list[str] = field(default_factory=list)
    all_metrics: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def facets(
    fleet: Fleet, dim: str, where: Where = None, *, limit: int = 100, versions: str = "latest",
    search: str | None = None, cursor: str | None = None, order: str = "count",
) -> FacetCounts:  # fmt: skip
    """One page of models per value of ``dim``: a key dimension (``store``) or a tag
    (``tags.region``, or ``region`` when no key has that name), among the models ``where``
    selects. ``search`` keeps values holding that text (any case); ``order`` is ``count``
    (largest first, ties by value) or ``value``; ``cursor`` is ``next_cursor`` of the page
    before. A whole fleet's key facet reads the kept aggregates, however big the fleet."""
    items, next_cursor = fleet._registry.versions.facet_page(
        fleet.ref, dim, where=where, limit=check_limit(limit), search=search, cursor=cursor,
        order=order, versions=versions,
    )  # fmt: skip
    shown = dim if dim in fleet.keys or dim.startswith("tags.") else f"tags.{dim}"
    return FacetCounts(items, next_cursor, shown)


def metric_histogram(
    fleet: Fleet, name: str, where: Where = None, *, bins: int = 20, versions: str = "latest"
) -> dict[str, Any]:
    """How metric ``name`` spreads over the versions ``where`` selects (every model's
    latest by default): ``edges`` and ``counts`` of ``bins`` equal-width bins and
    ``count``, counted in the store (no rows leave it). A whole fleet's reads the metrics
    index alone; a filtered one groups the matches, so keep a filter of a huge fleet
    narrow (the fleet page charts the whole fleet past ``FILTERED_FACETS`` matches)."""
    check_limit(bins, "bins", 200)
    return fleet._registry.versions.histogram(
        fleet.ref, name, bins=bins, where=where, versions=versions
    )


def names(fleet: Fleet) -> FleetNames:
    """The fleet's metric and tag names (index seeks: as cheap at a million models)."""
    found = fleet._registry.versions.names(fleet.ref)
    return FleetNames(metrics=found["latest_metrics"], all_metrics=found["metrics"],
                      tags=found["tags"])  # fmt: skip


def tag_values(fleet: Fleet, tag: str, *, limit: int = 200) -> list[str]:
    """The distinct values of tag ``tag`` (``region`` or ``tags.region``), sorted, without
    counts: what a page lists when counting a million tagged models would be too slow."""
    name = tag.split(".", 1)[1] if tag.startswith("tags.") else tag
    return fleet._registry.versions.tag_values(fleet.ref, name, check_limit(limit))


VERSION_NAMES = frozenset({"alias", "version", "status", "flavor", "created_at", "run",
                           "dataset", "id"})  # fmt: skip
"""Names a filter reads from the version itself, never as a metric."""


def metrics_named(fleet: Fleet, tree: Any) -> list[str]:
    """The metrics of the scoped version a parsed filter names (``mape``,
    ``metrics.mape``), in order, for a page that checks them against the fleet's."""
    found: list[str] = []

    def walk(node: Any) -> None:
        for child in (*getattr(node, "items", ()), getattr(node, "item", None)):
            if child is not None:
                walk(child)
        for side in (getattr(node, "left", None), getattr(node, "right", None),
                     getattr(node, "field", None)):  # fmt: skip
            parts = getattr(side, "parts", None)
            if not parts:
                continue
            if len(parts) == 1 and parts[0] not in fleet.keys and parts[0] not in VERSION_NAMES:
                found.append(parts[0])
            elif len(parts) == 2 and parts[0] == "metrics":
                found.append(parts[1])

    walk(tree)
    return list(dict.fromkeys(found))
