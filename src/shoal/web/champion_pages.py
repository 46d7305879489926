"""Champion against challenger: two aliases side by side, as a page and as JSON.

``/fleets/{tenant}/{fleet}/champion?a=production&b=candidate&metric=mape&by=store`` and
``/api/v1/fleets/{tenant}/{fleet}/champion`` (same parameters) answer from one SDK call,
:func:`shoal.sdk.champion.compare_aliases`: a page of per-model rows (keyset cursor), the
summary and the roll-up, all computed in the store.

The rows of a page follow an index and answer at once at a million models; the summary
and the roll-up read every compared model (seconds on SQLite past a few hundred thousand),
so the page computes them when the comparison is narrowed by a filter, or holds at most
:data:`PAGE_TOTALS` models, or when asked (``totals=1``). The API computes them unless
``summary=false``.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from shoal.errors import InvalidInput
from shoal.http.errors import ERROR_RESPONSES
from shoal.http.params import FleetName, Limit, Tenant, Where
from shoal.sdk.champion import Comparison, choices, compare_aliases
from shoal.sdk.client import Client
from shoal.sdk.fleet import Fleet
from shoal.web.fleet_view import facet_filter
from shoal.web.rendering import fleet_context, model_path, render

PAGE_ROWS = 50
PAGE_TOTALS = 50_000
"""Up to this many models at the smaller alias, the page counts its totals on every view."""

Side = Annotated[str, Query(max_length=100, description="An alias name, or 'latest'.")]
Metric = Annotated[str, Query(max_length=100, description="The metric compared, e.g. mape.")]
Direction = Annotated[
    str | None,
    Query(pattern="^(lower|higher)?$",
          description="lower (errors) or higher (scores) is better; default: from the name."),
]  # fmt: skip
Show = Annotated[
    str, Query(pattern="^(both|either|only_a|only_b)$", description="Which models to list.")
]
Order = Annotated[
    str | None, Query(pattern="^-?(delta)?$", description="delta, -delta, or model order.")
]
By = Annotated[
    str | None, Query(max_length=200, description="Roll up by a key dimension or tags.NAME.")
]
Cursor = Annotated[str | None, Query(max_length=2000, description="next_cursor of a page.")]


def champion_router(client: Client) -> APIRouter:
    """The champion page and its JSON twin under ``/api/v1``."""
    router = APIRouter()

    @router.get("/api/v1/fleets/{tenant}/{fleet}/champion", responses=ERROR_RESPONSES)
    def champion_api(
        tenant: Tenant, fleet: FleetName, a: Side, b: Side, metric: Metric,
        direction: Direction = None, where: Where = None, show: Show = "both",
        sort: Order = None, by: By = None, limit: Limit = PAGE_ROWS, cursor: Cursor = None,
        groups: Annotated[int, Query(ge=1, le=1000, description="Roll-up values")] = 100,
        summary: Annotated[bool, Query(description="Count the totals (false: rows only)")]
        = True,
    ) -> dict[str, Any]:  # fmt: skip
        """Alias ``a`` against ``b`` on ``metric``, model by model: a page of rows
        (``delta`` is b - a; ``winner`` a, b or tie), the summary, and wins and losses
        rolled up ``by`` a key dimension or tag."""
        target = client.fleet(f"{tenant}/{fleet}")
        found = compare_aliases(
            target, a, b, metric, direction=direction or None, where=where, show=show,
            sort=sort, by=by or None, limit=limit, cursor=cursor, groups=groups,
            summary=summary,
        )  # fmt: skip
        return found.to_dict()

    @router.get("/fleets/{tenant}/{fleet}/champion", response_class=HTMLResponse,
                include_in_schema=False)  # fmt: skip
    def champion_page(
        request: Request, tenant: Tenant, fleet: FleetName, a: str = "", b: str = "",
        metric: str = "", direction: str = "", where: str = "", show: str = "both",
        sort: str = "", by: str = "", cursor: str = "", totals: bool = False,
    ) -> HTMLResponse:  # fmt: skip
        target = client.fleet(f"{tenant}/{fleet}")
        have = choices(target)
        a = a.strip() or (have["aliases"][0] if have["aliases"] else "production")
        b = b.strip() or next((x for x in have["aliases"] if x != a), "latest")
        metric = metric.strip() or (have["metrics"][0] if have["metrics"] else "")
        where, by = where.strip(), by.strip()
        state = {"a": a, "b": b, "metric": metric, "direction": direction, "where": where,
                 "show": show, "sort": sort, "by": by, "totals": "1" if totals else ""}  # fmt: skip
        counted = totals or bool(where) or _small(target, a, b)
        found: Comparison | None = None
        error = None
        try:
            found = compare_aliases(
                target, a, b, metric, direction=direction or None, where=where or None,
                show=show, sort=sort, by=(by or None) if counted else None,
                cursor=cursor or None, summary=counted, groups=PAGE_ROWS,
            )  # fmt: skip
        except InvalidInput as exc:
            error = str(exc) if exc.field and str(exc).startswith(f"{exc.field}:") else (
                f"{exc.field or 'input'}: {exc}")  # fmt: skip
        rows = [] if found is None else [
            {**row.to_dict(), "url": model_path(target, row.key)} for row in found.rows
        ]  # fmt: skip
        rollup = None if found is None else _rollup_rows(target, found, state)
        return render(
            request, "champion.html", fleet=fleet_context(target), state=state, found=found,
            rows=rows, error=error, counted=counted, cursor=cursor, choices=have,
            rollup=rollup, delta_sort=counted,
            link=lambda **changes: _link(target, state, changes),
            promote_where=None if found is None else _promote_where(found, where),
        )  # fmt: skip

    return router


def _small(fleet: Fleet, a: str, b: str) -> bool:
    """Whether the smaller side has at most PAGE_TOTALS models (the kept counters)."""
    coverage = fleet.coverage()
    sizes = [coverage.get(side, 0) if side != "latest" else fleet.count() for side in (a, b)]
    return min(sizes) <= PAGE_TOTALS


def _rollup_rows(
    fleet: Fleet, found: Comparison, state: dict[str, str]
) -> list[dict[str, Any]] | None:
    """The roll-up's rows, each with ``url``: this page narrowed to that value (quoted, and
    within the page's filter in parentheses), or None where no filter selects exactly the
    group: a tag roll-up groups by ``a``'s version's tag (else ``b``'s), while a filter's
    ``tags.NAME`` reads the latest version's."""
    if found.rollup is None:
        return None
    by = found.by or ""
    exact = by in fleet.keys
    rows = []
    for group in found.rollup:
        row = group.to_dict()
        value = row["value"]
        row["url"] = (
            _link(fleet, state,
                  {"where": facet_filter(by, str(value), state["where"] or None), "by": ""})
            if exact and value is not None else None
        )  # fmt: skip
        rows.append(row)
    return rows


def _link(fleet: Fleet, state: dict[str, str], changes: dict[str, Any]) -> str:
    """This page's URL with ``changes`` to its state (a cursor never carries over)."""
    query = {k: v for k, v in {**state, **changes}.items() if v not in ("", None)}
    if query.get("show") == "both":
        query.pop("show")
    return f"/fleets/{fleet.path}/champion?{urlencode(query)}"


def _promote_where(found: Comparison, where: str) -> str:
    """The filter that promotes ``b`` where it beats ``a`` (within the page's filter)."""
    op = "<" if found.direction == "lower" else ">"
    better = f"{found.b}.{found.metric} {op} {found.a}.{found.metric}"
    if found.b == "latest" or found.a == "latest":
        return ""
    return f"({where}) and {better}" if where else better
