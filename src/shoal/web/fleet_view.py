"""What the fleet page shows besides its table: facets, the chart and the filter's hints.

Every piece here is bounded so the page stays under its budget at a million models:

- the page computes the key facets and ``FACET_TAGS`` tag facets (plus one opened by
  ``facet=tags.NAME``); the other tag names are links that open theirs;
- a facet is a page of ``FACET_VALUES`` values (searched and paged by the ``facet``, ``q``
  and ``fcursor`` query parameters, one facet at a time, with plain GET forms and links);
- key facets of the whole fleet read the kept aggregates; tag facets and the chart count
  the matching models only while a filter selects at most ``FILTERED_FACETS`` of them
  (past that, key facets and the chart show the whole fleet, labelled so, and a tag
  facet of a fleet over that size lists its values without counts: counting a million
  tagged models takes seconds, the API's facets route does it on request);
- the placeholders and examples of the filter and sort boxes come from the fleet's own
  metric and tag names, so the example a newcomer copies finds models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from shoal.errors import InvalidInput
from shoal.registry import Where
from shoal.sdk import facets as F
from shoal.sdk.fleet import Fleet
from shoal.web.rendering import number

FACET_VALUES = 10
"""Values per facet page."""
FACET_TAGS = 6
"""Tag facets a fleet page computes (each a grouped count): the first by name, plus the
one its ``facet=`` names; the other tag names are links that open theirs on demand."""
FILTERED_FACETS = 20_000
"""Up to this many matches, facets and the chart count the filtered models; past it, the
whole fleet's (kept aggregates for key facets, the metrics index for the chart)."""


@dataclass
class FacetView:
    """One facet box: its values (``count`` None when not counted), paging and search."""

    dim: str
    label: str
    values: list[dict[str, Any]] = field(default_factory=list)
    search: str = ""
    next_url: str | None = None
    first_url: str | None = None
    counted: bool = True
    error: str | None = None


def page_url(state: dict[str, str | None], **changes: str | None) -> str:
    """``?...`` of this page's state with ``changes`` (None drops a parameter)."""
    merged = {**state, **changes}
    return "?" + urlencode({k: v for k, v in merged.items() if v})


def facet_views(
    fleet: Fleet, names: F.FleetNames, where: Where, *, countable: bool,
    state: dict[str, str | None], facet: str | None, q: str | None, fcursor: str | None,
) -> list[FacetView]:  # fmt: skip
    """The key facets, then the tag facets; the one named ``facet`` searched by ``q`` and
    paged at ``fcursor``. ``where`` is the filter to count under (None: the whole fleet);
    ``countable``: tag facets may count that many models (see the module doc)."""
    dims = [*fleet.keys, *(f"tags.{t}" for t in shown_tags(names, facet))]
    views = []
    for dim in dims:
        mine = facet == dim
        view = FacetView(dim, dim.removeprefix("tags."), search=(q or "") if mine else "")
        is_tag = dim.startswith("tags.")
        try:
            if is_tag and not countable:
                view.counted = False
                values = F.tag_values(fleet, dim, limit=FACET_VALUES * 20)
                if view.search:
                    values = [v for v in values if view.search.lower() in v.lower()]
                view.values = [{"value": v, "count": None} for v in values[:FACET_VALUES]]
            else:
                counts = fleet.facets(
                    dim, where, limit=FACET_VALUES,
                    search=view.search or None, cursor=fcursor if mine else None,
                )  # fmt: skip
                view.values = [{"value": v, "count": n} for v, n in counts.items()]
                if counts.next_cursor:
                    view.next_url = page_url(state, facet=dim, q=view.search or None,
                                             fcursor=counts.next_cursor)  # fmt: skip
        except InvalidInput as exc:  # a forged cursor: say so in that facet, keep the page
            view.error = str(exc)
        if mine and (fcursor or view.search):
            view.first_url = page_url(state, facet=None, q=None, fcursor=None)
        views.append(view)
    return views


def shown_tags(names: F.FleetNames, facet: str | None) -> list[str]:
    """The tags whose facets the page computes: the first :data:`FACET_TAGS` by name, and
    the one ``facet`` names (opened from :func:`more_facets`' links)."""
    shown = list(names.tags[:FACET_TAGS])
    asked = (facet or "").removeprefix("tags.")
    if (facet or "").startswith("tags.") and asked in names.tags and asked not in shown:
        shown.append(asked)
    return shown


def more_facets(
    names: F.FleetNames, facet: str | None, state: dict[str, str | None]
) -> list[dict[str, str]]:
    """The tags without a facet on the page, each a ``label`` and the ``url`` that opens it."""
    shown = set(shown_tags(names, facet))
    return [
        {"label": t, "url": page_url(state, facet=f"tags.{t}", q=None, fcursor=None)}
        for t in names.tags if t not in shown
    ]  # fmt: skip


def facet_filter(dim: str, value: str, where: str | None) -> str:
    """The filter a facet value's link applies: ``dim = 'value'`` and the current filter."""
    quoted = value.replace("'", "''")
    term = f"{dim} = '{quoted}'"
    return f"{term} and ({where})" if where else term


def chart_source(fleet: Fleet, metric: str | None, where: str | None, *,
                 filtered: bool) -> str | None:  # fmt: skip
    """Where the fleet page's chart reads its histogram, after the page has painted: the
    API's histogram route, of the filter's matches when ``filtered`` (the whole fleet's
    past ``FILTERED_FACETS`` matches). Counting the bins costs about 70 ms at a million
    models, time the page no longer spends before its first byte."""
    if not metric:
        return None
    query = urlencode({"where": where}) if filtered and where else ""
    url = f"/api/v1/fleets/{fleet.path}/histogram/{quote(metric, safe='')}"
    return f"{url}?{query}" if query else url


def examples(names: F.FleetNames, metric: str | None, shown: list[float],
             tag_value: tuple[str, str] | None) -> dict[str, str]:  # fmt: skip
    """Placeholders of the filter and sort boxes, from the fleet's own names and values
    (``shown``: the metric's values in the page's table)."""
    parts = []
    if metric:
        middle = sorted(shown)[len(shown) // 2] if shown else 0.3
        parts.append(f"{metric} > {number(middle, 2).replace(',', '')}")
    if tag_value:
        parts.append(f"tags.{tag_value[0]} = '{tag_value[1]}'")
    if not parts:
        parts.append("alias = 'production'")
    sort = f"-{metric}" if metric else (f"tags.{names.tags[0]}" if names.tags else "version")
    return {"where": " and ".join(parts), "sort": sort}


def unknown_metrics(fleet: Fleet, names: F.FleetNames, tree: Any) -> str | None:
    """A warning when the filter names metrics no model's latest version carries (it
    would silently find nothing): the names, and the metrics the fleet does have."""
    missing = [m for m in F.metrics_named(fleet, tree) if m not in names.metrics]
    if not missing:
        return None
    listed = ", ".join(names.metrics) or "none yet"
    older = [m for m in missing if m in names.all_metrics]
    why = f" ({', '.join(older)} only on older versions)" if older else ""
    return (f"where: no model's latest version has metric {', '.join(repr(m) for m in missing)}"
            f"{why}; this fleet's metrics are: {listed}")  # fmt: skip
