"""Timing queries without letting a slow one hold the run hostage.

``Guard`` times one call and stops it after a timeout through SQLite's ``interrupt()``
(Python only sees Ctrl-C between statements, so a minutes-long query would otherwise
block it too); it also records the statements of the call, so that ``explain`` can show
SQLite's plan for a query that misses its target. ``percentile`` keeps a timed-out call
as +inf, so a timeout can never look fast in p50/p95/max.
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default) that keeps +inf (a timeout) as such."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    if math.isinf(ordered[hi]):
        return math.inf
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


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
