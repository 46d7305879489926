"""Prediction and feedback logs: buffered in memory, flushed to Parquet by tenant, fleet, day.

Layout under the logs URL (a folder or any fsspec URL, ``SHOAL_LOGS_URL``)::

    predictions/tenant=grocer/fleet=demand/day=2026-11-24/part-<time>-<uuid>.parquet
    feedback/tenant=grocer/fleet=demand/day=2026-11-24/part-<time>-<uuid>.parquet

A prediction row holds ``request_id``, ``row`` (its index in the request), ``at`` (UTC),
``version_id``, ``version``, ``prediction``, the key as ``key.<dim>`` columns and the
features as ``feature.<name>`` columns (so monitoring reads them as columns, not JSON).
A feedback row holds ``at``, ``actual`` and either ``request_id`` and ``row`` or the key
columns and the time the actual refers to (``for_time``).

When rows are written: when ``flush_rows`` are waiting, when the oldest waiting row is
``flush_seconds`` old (a background thread checks every quarter of that), and when the
server stops (SIGTERM ends uvicorn gracefully, and its shutdown flushes). Each file is
written under a temporary name and then renamed, so a reader never sees half a file.
What a crash (SIGKILL, power loss) can lose is what was waiting: at most ``flush_rows``
rows or ``flush_seconds`` of traffic, whichever comes first; lower either to lose less
at the price of more, smaller files.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq


class ParquetLog:
    """Rows of one kind (``predictions``, ``feedback``), buffered and flushed (module doc)."""

    def __init__(
        self, url: str, kind: str, *, flush_rows: int = 10_000, flush_seconds: float = 5.0
    ) -> None:
        self.fs, root = fsspec.core.url_to_fs(url)
        self.root = f"{root.rstrip('/')}/{kind}"
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self._rows: list[tuple[str, str, dict[str, Any]]] = []
        self._oldest: float | None = None
        self._lock = threading.Lock()
        self._writing = threading.Lock()
        self._stop = threading.Event()
        self.written = 0
        self._thread = threading.Thread(target=self._tick, name=f"shoal-{kind}-log", daemon=True)
        self._thread.start()

    def add(self, tenant: str, fleet: str, rows: Iterable[dict[str, Any]]) -> None:
        """Buffer rows of one fleet; flushes at once when ``flush_rows`` are waiting."""
        with self._lock:
            before = len(self._rows)
            self._rows.extend((tenant, fleet, row) for row in rows)
            if self._oldest is None and len(self._rows) > before:
                self._oldest = time.monotonic()
            due = len(self._rows) >= self.flush_rows
        if due:
            self.flush()

    def flush(self) -> int:
        """Write every waiting row now; returns how many were written."""
        with self._writing:
            with self._lock:
                rows, self._rows, self._oldest = self._rows, [], None
            groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
            for tenant, fleet, row in rows:
                groups[(tenant, fleet, row["at"].strftime("%Y-%m-%d"))].append(row)
            for (tenant, fleet, day), part in groups.items():
                self._write(f"tenant={tenant}/fleet={fleet}/day={day}", part)
            self.written += len(rows)
            return len(rows)

    def close(self) -> None:
        """Stop the timer and write what is waiting (the server's shutdown calls this)."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()

    def _write(self, partition: str, rows: list[dict[str, Any]]) -> None:
        folder = f"{self.root}/{partition}"
        name = f"part-{time.time_ns()}-{uuid.uuid4().hex[:8]}.parquet"
        table = _table(rows)
        self.fs.makedirs(folder, exist_ok=True)
        temporary = f"{folder}/.{name}.tmp"
        with self.fs.open(temporary, "wb") as handle:
            pq.write_table(table, handle)
        self.fs.mv(temporary, f"{folder}/{name}")

    def _tick(self) -> None:
        while not self._stop.wait(max(self.flush_seconds / 4, 0.05)):
            with self._lock:
                due = (
                    self._oldest is not None
                    and time.monotonic() - self._oldest >= self.flush_seconds
                )
            if due:
                self.flush()


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows to Arrow; a column whose values disagree on type is written as text."""
    names = list(dict.fromkeys(name for row in rows for name in row))
    columns = {}
    for name in names:
        values = [row.get(name) for row in rows]
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            columns[name] = pa.array([None if v is None else str(v) for v in values])
    return pa.table(columns)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
