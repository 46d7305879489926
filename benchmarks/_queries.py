"""The query suite run on the largest store, the walk of the whole fleet, and the guard.

Each query runs up to ``--repeat`` times, each repetition with fresh parameters (another
store, another threshold) so that a cached page cannot flatter it, and stops repeating
once it has used ``--query-budget`` seconds or a call hit ``--query-timeout``. Every
result is checked (row counts, totals), so a fast wrong answer fails the run instead of
making a good figure. The walk pages through every model with keyset cursors until
``--walk-budget``.

``Guard`` times one call and stops it after a timeout through SQLite's ``interrupt()``
(Python only sees Ctrl-C between statements, so a minutes-long query would otherwise
block it too); it also records the statements of the call, so that ``explain`` can show
SQLite's plan for a query that misses its target (the page benchmark's profiles use both).
A timed-out call counts as +inf, so it can never look fast in p50/p95/max.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import Progress

import shoal
from _fleet import layout, sku_name, store_name
from _harness import percentile

TARGET_QUERY_P95_MS = 50.0


@dataclass
class QueryResult:
    name: str
    call: str
    times_ms: list[float]
    extra: bool = False
    timeouts: int = 0
    skipped: str = ""
    plan: list[dict[str, Any]] = field(default_factory=list)

    def pct(self, q: float) -> float:
        return percentile(self.times_ms + [math.inf] * self.timeouts, q)

    @property
    def reps(self) -> int:
        return len(self.times_ms) + self.timeouts


@dataclass
class WalkResult:
    n: int
    page_size: int
    pages: int
    seen: int
    seconds: float
    page_ms: list[float]
    stopped: str = ""
    plan: list[dict[str, Any]] = field(default_factory=list)

    @property
    def estimated_seconds(self) -> float:
        """The whole walk's time; an extrapolation when the walk stopped at its budget."""
        return self.seconds if self.seen >= self.n else self.seconds * self.n / max(self.seen, 1)


class Guard:
    """Stops a query that runs past ``timeout`` seconds, via ``sqlite3.Connection.interrupt``.

    A query that takes minutes at a million rows would otherwise hold the benchmark (and
    Ctrl-C, which Python only sees between statements) for as long as it runs. The guard
    listens to every statement SQLAlchemy sends and remembers its DBAPI connection; a timer
    interrupts it. Interrupting a connection with no statement running does nothing.
    """

    def __init__(self, timeout: float) -> None:
        import sqlalchemy as sa

        self.timeout = timeout
        self.current: Any = None
        self.statements: list[list[Any]] = []  # [statement, parameters, ms or None]
        self._started = 0.0
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self._before)
        sa.event.listen(sa.engine.Engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        self.current = conn.connection.dbapi_connection
        if not statement.lstrip().upper().startswith(("BEGIN", "PRAGMA", "COMMIT")):
            self.statements.append([statement, parameters, None])
        self._started = time.perf_counter()

    def _after(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if self.statements and self.statements[-1][0] is statement:
            self.statements[-1][2] = (time.perf_counter() - self._started) * 1000.0

    def close(self) -> None:
        """Stop listening to SQLAlchemy's statements."""
        import sqlalchemy as sa

        sa.event.remove(sa.engine.Engine, "before_cursor_execute", self._before)
        sa.event.remove(sa.engine.Engine, "after_cursor_execute", self._after)

    def _interrupt(self) -> None:
        dbapi = self.current
        if dbapi is not None and hasattr(dbapi, "interrupt"):
            dbapi.interrupt()

    def run(self, fn: Callable[[], Any]) -> tuple[float, bool]:
        """Milliseconds the call took, and False when it was stopped at the timeout."""
        import sqlalchemy as sa

        self.statements = []
        timer = threading.Timer(self.timeout, self._interrupt)
        timer.daemon = True
        t0 = time.perf_counter()
        timer.start()
        try:
            fn()
        except sa.exc.OperationalError as exc:
            if "interrupt" not in str(exc).lower():
                raise
            return (time.perf_counter() - t0) * 1000.0, False
        finally:
            timer.cancel()
        return (time.perf_counter() - t0) * 1000.0, True


def explain(db_path: Path, statements: list[list[Any]]) -> list[dict[str, Any]]:
    """Each statement of one call: its time (None: stopped), SQL and SQLite's plan."""
    out = []
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        for statement, parameters, ms in statements:
            try:
                rows = con.execute("EXPLAIN QUERY PLAN " + statement, parameters or ()).fetchall()
                plan = [row[3] for row in rows]
            except sqlite3.Error as exc:
                plan = [f"(EXPLAIN failed: {exc})"]
            sql = re.sub(r"\(\?(, \?)+\)", "(?, ...)", " ".join(statement.split()))
            out.append({"ms": ms, "sql": sql, "plan": plan})
    finally:
        con.close()
    return out


def bench_queries(
    fleet: shoal.Fleet, n: int, db_path: Path, args: argparse.Namespace, guard: Guard,
    progress: Progress, results: dict[str, Any],
) -> None:  # fmt: skip
    """Promote ``production`` on half the fleet, then time every query into ``results``."""
    stores, skus = layout(n)
    rng = random.Random(42)
    half = store_name(stores // 2)

    def pick_store() -> str:  # a store with all its SKUs (the last one may be partial)
        return store_name(rng.randrange(max(1, n // skus)))

    def pick_sku() -> str:
        return sku_name(rng.randrange(skus))

    def pick_threshold() -> float:
        return round(rng.uniform(0.5, 0.95), 3)

    task = progress.add_task(f"promote production where store < '{half}'", total=None)
    t0 = time.perf_counter()
    move = fleet.promote("production", where=f"store < '{half}'", create=True, preview=0)
    results["promote"] = {
        "where": f"store < '{half}'", "moved": move.moved, "seconds": time.perf_counter() - t0,
    }  # fmt: skip
    progress.remove_task(task)
    if move.moved == 0:
        raise SystemExit("promote moved no model: the query benchmark needs the alias")

    # Each case makes, per repetition, a call with fresh parameters (store, threshold).
    cases: list[tuple[str, str, Callable[[], Callable[[], Any]], bool]] = []

    def case(name: str, call: str, extra: bool = False):  # type: ignore[no-untyped-def]
        def wrap(make: Callable[[], Callable[[], Any]]) -> None:
            cases.append((name, call, make, extra))

        return wrap

    @case("filter by one key value", "search(\"store = 's0123'\", limit=50)")
    def _key():  # type: ignore[no-untyped-def]
        s = pick_store()
        return lambda: _expect(fleet.search(f"store = '{s}'", limit=50), 50)

    @case("filter by the second key", "search(\"sku = 'k0042'\", limit=50)", extra=True)
    def _sku():  # type: ignore[no-untyped-def]
        k = pick_sku()
        return lambda: _expect(fleet.search(f"sku = '{k}'", limit=50), min(50, stores))

    page2: dict[str, Any] = {}

    @case("metric threshold, sorted by it", 'search("mape > 0.9", sort="-mape", limit=50)')
    def _metric():  # type: ignore[no-untyped-def]
        t = pick_threshold()

        def call() -> Any:
            page = _expect(fleet.search(f"mape > {t}", sort="-mape", limit=50), 50)
            page2["metric"] = (t, page.next_cursor)
            return page

        return call

    @case("  its second page", 'search("mape > 0.9", sort="-mape", limit=50, cursor=c)')
    def _metric2():  # type: ignore[no-untyped-def]
        t, cursor = page2["metric"]
        return lambda: _expect(
            fleet.search(f"mape > {t}", sort="-mape", limit=50, cursor=cursor), 50
        )

    @case("alias", "search(\"alias = 'production'\", limit=50)")
    def _alias():  # type: ignore[no-untyped-def]
        def call() -> Any:
            page = _expect(fleet.search("alias = 'production'", limit=50), 50)
            page2["alias"] = page.next_cursor
            return page

        return call

    @case("  its second page", "search(\"alias = 'production'\", limit=50, cursor=c)")
    def _alias2():  # type: ignore[no-untyped-def]
        cursor = page2["alias"]
        return lambda: _expect(fleet.search("alias = 'production'", limit=50, cursor=cursor), 50)

    @case(
        "alias and metric, sorted",
        'search("mape > 0.9 and alias = \'production\'", sort="-mape", limit=50)',
        extra=True,
    )
    def _alias_metric():  # type: ignore[no-untyped-def]
        t = pick_threshold()
        return lambda: _expect(
            fleet.search(f"mape > {t} and alias = 'production'", sort="-mape", limit=50), 50
        )

    @case("facets of one dimension", 'facets("store")')
    def _facets():  # type: ignore[no-untyped-def]
        return lambda: _expect_len(fleet.facets("store"), min(100, stores))

    @case("facets with a filter", 'facets("store", where="mape > 0.9")', extra=True)
    def _facets_where():  # type: ignore[no-untyped-def]
        t = pick_threshold()
        return lambda: fleet.facets("store", where=f"mape > {t}")

    @case("count, whole fleet", "count()")
    def _count():  # type: ignore[no-untyped-def]
        return lambda: _expect_eq(fleet.count(), n)

    @case("count, one key value", "count(\"store = 's0123'\")")
    def _count_key():  # type: ignore[no-untyped-def]
        s = pick_store()
        return lambda: _expect_eq(fleet.count(f"store = '{s}'"), skus)

    @case("count, alias", "count(\"alias = 'production'\")", extra=True)
    def _count_alias():  # type: ignore[no-untyped-def]
        return lambda: _expect_eq(fleet.count("alias = 'production'"), move.moved)

    @case("count, metric threshold", 'count("mape > 0.9")', extra=True)
    def _count_metric():  # type: ignore[no-untyped-def]
        t = pick_threshold()
        return lambda: fleet.count(f"mape > {t}")

    queries: list[QueryResult] = results.setdefault("queries", [])
    task = progress.add_task("queries", total=len(cases) * args.repeat)
    for name, call, make, extra in cases:
        result = QueryResult(name, call, [], extra=extra)
        queries.append(result)
        progress.update(task, description=f"query: {name.strip()}")
        spent = 0.0
        for _ in range(args.repeat):
            try:
                fn = make()
            except KeyError:
                result.skipped = "its first page timed out"
                break
            ms, finished = guard.run(fn)
            spent += ms / 1000.0
            progress.advance(task)
            if not finished:
                result.timeouts += 1
                break  # the next repetitions would time out as well
            result.times_ms.append(ms)
            if spent > args.query_budget:
                break
        if guard.statements and not result.skipped and not result.pct(95) < TARGET_QUERY_P95_MS:
            result.plan = explain(db_path, guard.statements)
        progress.update(task, completed=len(queries) * args.repeat)
    progress.remove_task(task)


def bench_walk(
    fleet: shoal.Fleet, n: int, db_path: Path, args: argparse.Namespace, guard: Guard,
    progress: Progress,
) -> WalkResult:  # fmt: skip
    """Every model of the fleet, page by page with keyset cursors (up to ``--walk-budget``)."""
    task = progress.add_task(f"walk the fleet, {args.page_size} per page", total=n)
    cursor = None
    seen = 0
    page_ms: list[float] = []
    stopped = ""
    statements: list[list[Any]] = []
    pages: list[Any] = []
    t_start = time.perf_counter()
    while True:

        def call(c: str | None = cursor) -> None:
            pages.append(fleet.search(limit=args.page_size, cursor=c))

        ms, finished = guard.run(call)
        if not finished:
            stopped = f"a page ran past the {args.query_timeout:g} s timeout"
            break
        page = pages.pop()
        page_ms.append(ms)
        seen += len(page)
        progress.advance(task, len(page))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        statements = guard.statements
        if time.perf_counter() - t_start > args.walk_budget:
            stopped = f"stopped at the {args.walk_budget:g} s budget"
            break
    seconds = time.perf_counter() - t_start
    progress.remove_task(task)
    if not stopped and seen != n:
        raise SystemExit(f"the walk saw {seen} versions, expected {n}")
    plan = explain(db_path, statements) if statements else []
    return WalkResult(n, args.page_size, len(page_ms), seen, seconds, page_ms, stopped, plan)


def _expect(page: Any, at_least: int) -> Any:
    if len(page) < at_least:
        raise SystemExit(f"a query returned {len(page)} rows, expected {at_least}")
    return page


def _expect_len(facets: dict[str, int], size: int) -> dict[str, int]:
    if len(facets) != size:
        raise SystemExit(f"facets returned {len(facets)} values, expected {size}")
    return facets


def _expect_eq(value: int, expected: int) -> int:
    if value != expected:
        raise SystemExit(f"count returned {value}, expected {expected}")
    return value
