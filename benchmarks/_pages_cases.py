"""The pages and API routes the page benchmark times, and how it times and profiles them.

Every request goes through ``fastapi.testclient.TestClient(create_web_app(client))``: the
whole app in this process (routing, validation, SDK queries, SQLite, Jinja2 rendering,
JSON encoding), without a socket, so a request's time is the server's time. Each case
gets a few untimed warm-up requests, then ``--repeat`` timed ones; a case stops repeating
once it has spent ``--case-budget`` seconds. Every response must be 200, and its rows are
counted: ``<tr>`` outside ``<thead>`` in each ``<table>`` of a page (the largest table is
the one reported), ``items`` of a JSON answer.

Deep keyset pages are reached the way a person or a script reaches them: the fleet page by
following its ``rel="next"`` link ``--depth`` times, the API by following ``next_cursor``.

A case over target is profiled afterwards, untimed: one request with FastAPI's thread
pool inlined (so cProfile sees the endpoint, the SDK and the template in one thread),
with every SQL statement timed and explained (``_queries.Guard`` and ``explain``).
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import json
import math
import pstats
import re
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

from _harness import inline_threadpool, percentile, top_functions
from _queries import Guard, explain

TARGET_P95_MS = 300.0
PAGE_ROWS = 50
"""A screenful: no page table may hold more rows."""


@dataclass
class Case:
    name: str
    kind: str  # "page" or "api"
    url: str
    row_limit: int = PAGE_ROWS
    how: str = ""  # how the URL was reached (deep pages)


@dataclass
class CaseResult:
    name: str
    kind: str
    url: str
    row_limit: int
    how: str = ""
    times_ms: list[float] = field(default_factory=list)
    warmup_ms: list[float] = field(default_factory=list)
    bytes: int = 0
    rows: int = 0
    tables: list[list[Any]] = field(default_factory=list)  # [table, rows] on a page
    error: str = ""
    profile: dict[str, Any] = field(default_factory=dict)

    def pct(self, q: float) -> float:
        return percentile(self.times_ms, q) if self.times_ms else math.nan

    @property
    def time_ok(self) -> bool:
        return not self.error and bool(self.times_ms) and self.pct(95) < TARGET_P95_MS

    @property
    def rows_ok(self) -> bool:
        return not self.error and self.rows <= self.row_limit


class _Tables(HTMLParser):
    """Rows per ``<table>``: ``<tr>`` outside ``<thead>``, named by id or caption."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[Any]] = []
        self._stack: list[int] = []
        self._in_head = False
        self._in_caption = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            name = dict(attrs).get("id") or f"table {len(self.tables) + 1}"
            self.tables.append([name, 0])
            self._stack.append(len(self.tables) - 1)
        elif tag == "thead":
            self._in_head = True
        elif tag == "caption":
            self._in_caption = True
        elif tag == "tr" and self._stack and not self._in_head:
            self.tables[self._stack[-1]][1] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._stack:
            self._stack.pop()
        elif tag == "thead":
            self._in_head = False
        elif tag == "caption":
            self._in_caption = False

    def handle_data(self, data: str) -> None:
        if self._in_caption and self._stack and data.strip():
            entry = self.tables[self._stack[-1]]
            if entry[0].startswith("table "):
                entry[0] = f"caption '{data.strip()[:40]}'"


def count_rows(kind: str, body: bytes) -> tuple[int, list[list[Any]]]:
    """(rows of the largest table or JSON list, [[table, rows], ...] for a page)."""
    if kind == "api":
        data = json.loads(body)
        return (len(data["items"]) if isinstance(data, dict) and "items" in data else 1), []
    parser = _Tables()
    parser.feed(body.decode())
    return max((rows for _, rows in parser.tables), default=0), parser.tables


NEXT_LINK = re.compile(r'<a rel="next" href="([^"]+)"')


def next_link(path: str, body: str) -> str | None:
    """The page's ``rel="next"`` link as a URL (its href is a query string)."""
    found = NEXT_LINK.search(body)
    if not found:
        return None
    href = found.group(1).replace("&amp;", "&")
    return path + href if href.startswith("?") else href


def q(text: str) -> str:
    return quote(text, safe="")


def build_cases(http: Any, seed: dict[str, Any], picks: dict[str, str], depth: int,
                log: Any, walks: dict[str, float]) -> list[Case]:  # fmt: skip
    """Every page and its API route; deep URLs found by following links and cursors.

    ``walks`` gets the seconds each walk to the deep page took (every page on the way)."""
    fleet = "/fleets/" + seed["fleet"]["path"]
    api = "/api/v1/fleets/" + seed["fleet"]["path"]
    deep = seed["deep"]
    store, sku = picks["store"], picks["sku"]
    key_filter = f"store = '{store}'"
    metric_filter, metric_sort = "mape > 0.3", "-mape"
    alias_filter = "alias = 'candidate'"
    model = f"store={store},sku={sku}"
    deep_model = ",".join(f"{k}={v}" for k, v in deep["key"].items())
    deep_page = "/fleets/" + deep["path"] + "/models/" + deep_model
    deep_api = "/api/v1/fleets/" + deep["path"] + "/models/" + deep_model
    run_id = seed["deep"]["run_id"]
    oldest_before = min(1001, seed["versions"])
    middle, latest = deep["production"], seed["versions"]
    latest_id = http.get(deep_api).json()["id"]

    cases = [
        Case("home", "page", "/"),
        Case("tenants", "api", "/api/v1/tenants"),
        Case("fleets", "api", "/api/v1/fleets", row_limit=1000),
        Case("fleet, no filter", "page", fleet),
        Case("fleet detail", "api", api),
        Case("models, no filter", "api", f"{api}/models"),
        Case("fleet, key filter", "page", f"{fleet}?where={q(key_filter)}"),
        Case("models, key filter", "api", f"{api}/models?where={q(key_filter)}"),
        Case("fleet, metric filter and sort", "page",
             f"{fleet}?where={q(metric_filter)}&sort={q(metric_sort)}"),
        Case("models, metric filter and sort", "api",
             f"{api}/models?where={q(metric_filter)}&sort={q(metric_sort)}"),
        Case("fleet, alias filter", "page", f"{fleet}?where={q(alias_filter)}"),
        Case("models, alias filter", "api", f"{api}/models?where={q(alias_filter)}"),
    ]  # fmt: skip

    # Deep keyset pages: follow the page's next link, and the API's next_cursor.
    t0 = time.perf_counter()
    url: str | None = fleet
    for _ in range(depth):
        url = next_link(fleet, http.get(url).text) if url else None
    if url is None:
        raise SystemExit(f"the fleet page has fewer than {depth + 1} pages")
    walks["page_next_links_s"] = time.perf_counter() - t0
    log(f"followed the fleet page's next link {depth} times in {walks['page_next_links_s']:.1f} s")
    cases.append(Case(f"fleet, page {depth + 1} (next link x{depth})", "page", url,
                      how=f"followed rel=next {depth} times from {fleet}"))  # fmt: skip
    t0 = time.perf_counter()
    cursor = None
    for _ in range(depth):
        got = http.get(f"{api}/models" + (f"?cursor={q(cursor)}" if cursor else "")).json()
        cursor = got["next_cursor"]
    walks["api_next_cursors_s"] = time.perf_counter() - t0
    log(f"followed the API's next_cursor {depth} times in {walks['api_next_cursors_s']:.1f} s")
    cases.append(Case(f"models, page {depth + 1} (cursor x{depth})", "api",
                      f"{api}/models?cursor={q(cursor)}",
                      how=f"followed next_cursor {depth} times"))  # fmt: skip

    cases += [
        Case("count, no filter", "api", f"{api}/count"),
        Case("count, key filter", "api", f"{api}/count?where={q(key_filter)}"),
        Case("count, metric filter", "api", f"{api}/count?where={q(metric_filter)}"),
        Case("count, alias filter", "api", f"{api}/count?where={q(alias_filter)}"),
        Case("facets store", "api", f"{api}/facets/store", row_limit=100),
        Case("facets store, limit 10 (the page's)", "api", f"{api}/facets/store?limit=10",
             row_limit=10),
        Case("facets sku, key filter", "api",
             f"{api}/facets/sku?where={q(key_filter)}&limit=10", row_limit=10),
        Case("facets store, metric filter", "api",
             f"{api}/facets/store?where={q(metric_filter)}&limit=10", row_limit=10),
        Case("facets store, alias filter", "api",
             f"{api}/facets/store?where={q(alias_filter)}&limit=10", row_limit=10),
        Case("model", "page", f"{fleet}/models/{model}"),
        Case("model", "api", f"{api}/models/{model}"),
        Case(f"model of {seed['versions']:,} versions", "page", deep_page),
        Case(f"model of {seed['versions']:,} versions", "api", deep_api),
        Case("versions of it, first page", "api", f"{deep_api}/versions"),
        Case(f"model of {seed['versions']:,} versions, older page (before={oldest_before})",
             "page", f"{deep_page}?before={oldest_before}",
             how=f"the page's 'Older versions' link carries before=; {oldest_before} is "
                 f"{seed['versions'] - oldest_before + 1:,} versions deep"),
        Case(f"versions of it, cursor={oldest_before}", "api",
             f"{deep_api}/versions?cursor={oldest_before}"),
        Case(f"compare of it, production and latest (a={middle}, b={latest})", "page",
             f"{deep_page}/compare?a={middle}&b={latest}"),
        Case("its latest version by id", "api", f"/api/v1/versions/{latest_id}"),
        Case("run", "page", f"/runs/{run_id}"),
        Case("run", "api", f"/api/v1/runs/{run_id}"),
        Case("alerts", "page", "/alerts"),
    ]  # fmt: skip
    many = seed["many"]
    dataset_id = http.get(f"{api}/models/{model}").json()["dataset_id"]
    champion = f"{fleet}/champion?a=production&b=candidate&metric=mape"
    cases += [
        Case(f"a fleet of tenant {many['tenant']} ({many['fleets']:,} fleets)", "page",
             f"/fleets/{many['first']}"),
        Case(f"home, tenant {many['tenant']}'s second page of fleets", "page",
             f"/?tenant={many['tenant']}&after=f0049"),
        Case("fleet, store facet searched", "page", f"{fleet}?facet=store&q={q('01')}"),
        Case("fleet, tag facet and tag filter", "page",
             f"{fleet}?where={q(key_filter)}&facet=tags.region"),
        Case("champion: production against candidate", "page", champion),
        Case("champion, one store (summary and roll-up by sku)", "page",
             f"{champion}&where={q(key_filter)}&by=sku"),
        Case("champion rows", "api",
             f"{api}/champion?a=production&b=candidate&metric=mape&summary=false"),
        Case("alias moves", "page", f"{fleet}/alias-moves"),
        Case("runs of the fleet", "page", f"{fleet}/runs"),
        Case("runs of every tenant", "page", "/runs"),
        Case(f"runs of tenant {many['tenant']}", "page", f"/runs?tenant={many['tenant']}"),
        Case("datasets", "page", "/datasets"),
        Case(f"dataset {dataset_id}: the versions trained on it", "page",
             f"/datasets/{dataset_id}"),
        Case("monitoring", "page", f"{fleet}/monitoring"),
        Case("alerts of the fleet", "page", f"/alerts?fleet={q(seed['fleet']['path'])}"),
    ]  # fmt: skip
    _check_versions_link(http, deep_page)
    return cases


def _check_versions_link(http: Any, deep_page: str) -> None:
    """The model page's 'Older versions' link pages down, 50 versions at a time."""
    url: str | None = deep_page
    seen = []
    for _ in range(3):
        body = http.get(url).text
        numbers = [int(n) for n in re.findall(r'<a href="\?version=(\d+)">', body)]
        seen.append(numbers)
        url = next_link(deep_page, body)
        if url is None:
            break
    flat = [n for page in seen for n in page]
    if flat != sorted(flat, reverse=True) or len(set(flat)) != len(flat):
        raise SystemExit(f"the model page's version pages overlap or are out of order: {seen}")


def time_case(http: Any, case: Case, repeat: int, warmup: int, budget_s: float) -> CaseResult:
    result = CaseResult(case.name, case.kind, case.url, case.row_limit, case.how)
    spent = 0.0
    response = None
    for i in range(warmup + repeat):
        t0 = time.perf_counter()
        response = http.get(case.url)
        ms = (time.perf_counter() - t0) * 1000.0
        if response.status_code != 200:
            result.error = f"HTTP {response.status_code}: {response.text[:300]}"
            return result
        (result.warmup_ms if i < warmup else result.times_ms).append(ms)
        spent += ms / 1000.0
        if spent > budget_s and result.times_ms:
            break
    assert response is not None
    result.bytes = len(response.content)
    result.rows, result.tables = count_rows(case.kind, response.content)
    return result


def profile_case(app: Any, db_path: Path, result: CaseResult, out_dir: Path) -> None:
    """One request under cProfile, the endpoint inlined into this thread, SQL explained."""
    import httpx

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            return await c.get(result.url)

    guard = Guard(timeout=600.0)
    profiler = cProfile.Profile()
    try:
        with inline_threadpool("fastapi.routing", "fastapi.dependencies.utils"):
            asyncio.run(get())  # warm, untimed
            t0 = time.perf_counter()
            ms, _ = guard.run(lambda: profiler.runcall(asyncio.run, get()))
            wall_ms = (time.perf_counter() - t0) * 1000.0
    finally:
        guard.close()
    slug = re.sub(r"[^a-z0-9]+", "-", f"{result.kind} {result.name}".lower()).strip("-")
    prof_path = out_dir / f"{slug}.prof"
    profiler.dump_stats(prof_path)
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(r"shoal|jinja2|sqlalchemy/engine", 25)
    statements = [s for s in guard.statements if s[2] is not None]
    statements.sort(key=lambda s: -s[2])
    sql_ms = sum(s[2] for s in statements)
    result.profile = {
        "ms": wall_ms, "request_ms": ms, "sql_ms": sql_ms, "statements": len(statements),
        "slowest": explain(db_path, statements[:4]), "prof": str(prof_path),
        "top": top_functions(stats, 1, ours=_ours, own=0, cumulative=12),
        "pstats": text.getvalue(),
    }  # fmt: skip


def _ours(file: str, _name: str) -> bool:
    """Shoal's web, SDK and store layers and Jinja2 (the SQL's own time is beside them)."""
    return ("shoal" in file or "jinja2" in file) and "shoal/http" not in file
