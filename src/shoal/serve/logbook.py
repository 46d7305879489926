"""Prediction and feedback logs: buffered in memory, flushed to Parquet by tenant, fleet, day.

Layout under the logs URL (a folder or any fsspec URL, ``SHOAL_LOGS_URL``)::

    predictions/tenant=grocer/fleet=demand/day=2026-11-24/part-<time>-<uuid>.parquet
    feedback/tenant=grocer/fleet=demand/day=2026-11-24/part-<time>-<uuid>.parquet

A prediction row holds ``request_id``, ``row`` (its index in the request), ``at`` (UTC:
when the prediction was made), ``version_id``, ``version``, ``prediction``, the key as
``key.<dim>`` columns and the features as ``feature.<name>`` columns (so monitoring reads
them as columns, not JSON). Optional columns, which older files lack: ``event_at`` (UTC:
the time the prediction is *for*, the forecast's date; a predict request's ``as_of``, or
batch scoring's) and ``proba.<class>`` (a classifier's probability of each class). A
feedback row holds ``at``, ``actual`` and either ``request_id`` and ``row`` or the key
columns and the time the actual refers to (``for_time``).

Which ``day=`` a row goes to: the UTC day of its ``event_at`` when it has one, else of its
``at``; so a backfilled week lands in its own days, and monitoring by event time reads
only the days it covers. Files are named by when they were written (``part-<time_ns>``),
which is how monitoring by ``at`` finds rows made in its span but filed under other days
(:mod:`shoal.monitor._logs`).

What a row may hold: the server checks every request's values with
:func:`refuse_unloggable` before it answers, so a value the logs cannot keep is that
request's 422, never a failed flush: strings (at most :data:`MAX_TEXT` characters), whole
numbers within 64 bits, finite floats, booleans and null; no nested objects or lists.
Column types, per file: a column whose values are all of one kind keeps it (whole numbers
and floats together are floats); any other mix is written as text (numbers as their
decimal text, booleans as ``true``/``false``), so no mix of values can fail a write.
Readers reconcile files with DuckDB's ``union_by_name`` (integer and float give DOUBLE,
anything with text gives VARCHAR), as monitoring does.

When rows are written: when ``flush_rows`` are waiting, when the oldest waiting row is
``flush_seconds`` old (a background thread checks every quarter of that), and when the
server stops (SIGTERM ends uvicorn gracefully, and its shutdown flushes). Each file is
written under a temporary name and then renamed, so a reader never sees half a file.

A write that fails loses nothing: each (tenant, fleet, day) group is written as its own
file, the groups that were written are dropped, and the others are put back, in order,
ahead of newer rows, to be tried again (after ``flush_seconds``, doubling up to 30 s while
writes keep failing). Each failure is logged with its exception and counted
(:attr:`ParquetLog.failed_flushes`, ``/metrics``). Waiting rows are bounded: at
``max_waiting`` (10 x ``flush_rows`` by default) :meth:`ParquetLog.add` refuses new rows
with :class:`~shoal.errors.StoreUnavailable` (a 503 with ``Retry-After``) rather than
acknowledge rows it could not keep. What a crash (SIGKILL, power loss) can lose is what
was waiting or being written: about ``flush_rows`` rows or ``flush_seconds`` of traffic
while writes succeed, whichever comes first, plus what arrived during the write in flight;
lower either to lose less at the price of more, smaller files.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import fsspec
import pyarrow as pa

from shoal import logs as log_files
from shoal.errors import InvalidInput, StoreUnavailable

log = logging.getLogger(__name__)

MAX_TEXT = 65_536
"""Characters one logged string may hold (a feature, a key value, an actual)."""

_INT64 = (-(2**63), 2**63 - 1)
_MAX_BACKOFF = 30.0
"""Seconds between tries, at most, while writes keep failing (unless flush_seconds is more)."""

_Entry = tuple[str, str, dict[str, Any]]
_Group = tuple[str, str, str]


class ParquetLog:
    """Rows of one kind (``predictions``, ``feedback``), buffered and flushed (module doc)."""

    def __init__(
        self,
        url: str,
        kind: str,
        *,
        flush_rows: int = 10_000,
        flush_seconds: float = 5.0,
        max_waiting: int | None = None,
    ) -> None:
        self.fs, root = fsspec.core.url_to_fs(url)
        self.kind = kind
        self.root = f"{root.rstrip('/')}/{kind}"
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.max_waiting = max_waiting if max_waiting is not None else 10 * flush_rows
        self._rows: list[_Entry] = []
        self._in_flight = 0
        self._oldest: float | None = None
        self._retry_at = 0.0
        self._streak = 0
        self._lock = threading.Lock()
        self._writing = threading.Lock()
        self._stop = threading.Event()
        self.written = 0
        """Rows written since the log was opened."""
        self.failed_flushes = 0
        """Flushes that left rows unwritten (each logged with its exception)."""
        self.refused = 0
        """Rows refused because ``max_waiting`` rows were waiting."""
        self.last_error: str | None = None
        """The last failed write's exception, as text (None once a flush succeeds)."""
        self._thread = threading.Thread(target=self._tick, name=f"shoal-{kind}-log", daemon=True)
        self._thread.start()

    @property
    def waiting(self) -> int:
        """Rows accepted and not yet written (those being written included)."""
        with self._lock:
            return len(self._rows) + self._in_flight

    def add(self, tenant: str, fleet: str, rows: Iterable[dict[str, Any]]) -> None:
        """Buffer rows of one fleet; flushes at once when ``flush_rows`` are waiting.

        Raises :class:`StoreUnavailable` when ``max_waiting`` rows already wait: rows the
        log could not keep are never acknowledged.
        """
        entries = [(tenant, fleet, row) for row in rows]
        with self._lock:
            waiting = len(self._rows) + self._in_flight
            if waiting >= self.max_waiting:
                self.refused += len(entries)
                raise StoreUnavailable(self._full(waiting))
            self._rows.extend(entries)
            if self._oldest is None and entries:
                self._oldest = time.monotonic()
            due = len(self._rows) >= self.flush_rows and time.monotonic() >= self._retry_at
        if due:
            self.flush()

    def flush(self) -> int:
        """Write every waiting row now; returns how many were written.

        Never raises for a failed write: the rows it could not write wait for the next
        flush, and the failure is logged and counted (module doc).
        """
        with self._writing:
            with self._lock:
                batch, self._rows = self._rows, []
                self._in_flight = len(batch)
                oldest, self._oldest = self._oldest, None
            done: set[_Group] = set()
            written = 0
            groups: list[_Group] = []
            failure: Exception | None = None
            try:
                groups = [(tenant, fleet, _day(row)) for tenant, fleet, row in batch]
                parts: dict[_Group, list[dict[str, Any]]] = defaultdict(list)
                for group, (_, _, row) in zip(groups, batch, strict=True):
                    parts[group].append(row)
                for group, part in parts.items():
                    try:
                        self._write(group, part)
                    except Exception as exc:  # kept, logged and counted by _settle
                        failure = failure or exc
                    else:
                        done.add(group)
                        written += len(part)
            except Exception as exc:  # even a bug here must not drop what was accepted
                failure = failure or exc
            finally:  # also on KeyboardInterrupt: the rows go back
                self._settle(batch, groups, done, oldest, written, failure)
            return written

    def close(self) -> None:
        """Stop the timer and write what is waiting (the server's shutdown calls this)."""
        self._stop.set()
        self._thread.join(timeout=5)
        for attempt in range(3):
            self.flush()
            if not self.waiting:
                return
            if attempt < 2:
                time.sleep(0.5)
        log.error("%d %s rows could not be written to %s before shutdown and are lost: %s",
                  self.waiting, self.kind, self.root, self.last_error)  # fmt: skip

    def _settle(
        self, batch: list[_Entry], groups: list[_Group], done: set[_Group],
        oldest: float | None, written: int, failure: Exception | None,
    ) -> None:  # fmt: skip
        """Put back, in order and ahead of newer rows, what was not written; count, log."""
        if len(groups) == len(batch):
            kept = [e for e, g in zip(batch, groups, strict=True) if g not in done]
        else:
            kept = batch  # not even grouped: nothing was written
        with self._lock:
            self._in_flight = 0
            self.written += written
            if kept:
                self._rows = kept + self._rows
                self._oldest = oldest if oldest is not None else time.monotonic()
            if failure is None:
                self._streak, self._retry_at, self.last_error = 0, 0.0, None
                return
            self.failed_flushes += 1
            self._streak += 1
            limit = max(_MAX_BACKOFF, self.flush_seconds)
            pause = min(self.flush_seconds * 2 ** min(self._streak - 1, 16), limit)
            self._retry_at = time.monotonic() + pause
            self.last_error = f"{type(failure).__name__}: {failure}"
            waiting = len(self._rows)
        log.error("could not write %d of %d %s rows to %s; %d rows wait for the next try "
                  "in %.1f s", len(kept), len(batch), self.kind, self.root, waiting, pause,
                  exc_info=failure)  # fmt: skip

    def _full(self, waiting: int) -> str:
        why = f"the last write failed: {self.last_error}" if self.last_error else (
            "writes are slower than traffic")  # fmt: skip
        return (
            f"logs cannot be written: {waiting} {self.kind} rows are waiting to be written to "
            f"{self.root} (at most {self.max_waiting} are kept); {why}. Retry later"
        )

    def _write(self, group: _Group, rows: list[dict[str, Any]]) -> None:
        """One (tenant, fleet, day) group as one file, written then renamed (shoal.logs)."""
        tenant, fleet, day = group
        folder = f"{self.root}/tenant={tenant}/fleet={fleet}/day={day}"
        log_files.write_bytes(self.fs, folder, _encode(rows))

    def _tick(self) -> None:
        while not self._stop.wait(max(self.flush_seconds / 4, 0.05)):
            try:
                moment = time.monotonic()
                with self._lock:
                    due = (
                        self._oldest is not None
                        and moment - self._oldest >= self.flush_seconds
                        and moment >= self._retry_at
                    )
                if due:
                    self.flush()
            except Exception:  # the thread must outlive anything: log it and go on
                log.exception("the %s log's flush thread failed; it goes on", self.kind)
                time.sleep(max(self.flush_seconds, 0.05))


def refuse_unloggable(values: Mapping[str, Any], where: str, index: int | None = None) -> None:
    """Raise :class:`InvalidInput` naming ``{where}.{name}`` (``{where}[{index}].{name}``
    with an index) for the first value the logs cannot hold as sent (module doc); cheap
    enough to run on every value of a request."""
    for name, value in values.items():
        kind = type(value)
        if kind is float:
            if value - value == 0.0:  # NaN and infinities give NaN
                continue
        elif kind is str:
            if len(value) <= MAX_TEXT:
                continue
        elif kind is int:
            if _INT64[0] <= value <= _INT64[1]:
                continue
        elif value is None or kind is bool:
            continue
        field = f"{where}.{name}" if index is None else f"{where}[{index}].{name}"
        problem = _problem(value, field)
        if problem is not None:
            raise InvalidInput(problem, field=field)


def _problem(value: Any, field: str) -> str | None:
    """What is wrong with a value the fast path did not pass (None: nothing)."""
    if isinstance(value, Mapping | list | tuple | set):
        what = "an object" if isinstance(value, Mapping) else "a list"
        return (
            f"{field} is {what}; logged values are strings, numbers, booleans or null: "
            "send it as separate fields, or as a string"
        )
    if isinstance(value, str):
        return (
            f"{field} is {len(value)} characters long; the limit is {MAX_TEXT}: send a "
            "shorter value"
        )
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or type(value).__name__.startswith(("int", "uint")):
        if _INT64[0] <= int(value) <= _INT64[1]:
            return None
        return (
            f"{field} is a whole number beyond 64 bits ({int(value).bit_length()} bits); "
            "send it as a string (an identifier) or as a float (a measurement)"
        )
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        shown = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        return f"{field} is {shown}: send a finite number, or null for a missing value"
    return None  # anything else (a date, a numpy scalar) is written, as text if need be


def _day(row: Mapping[str, Any]) -> str:
    """The UTC day a row is filed under: its event time's, else its ``at``'s (module doc)."""
    for name in ("event_at", "at"):
        when = row.get(name)
        if isinstance(when, dt.datetime):
            if when.tzinfo is not None:  # a naive time is UTC already
                with contextlib.suppress(OverflowError, ValueError):  # never fail a flush
                    when = when.astimezone(dt.UTC)
            return when.strftime("%Y-%m-%d")
    return now().strftime("%Y-%m-%d")


def _encode(rows: list[dict[str, Any]]) -> pa.Buffer:
    """Rows as the bytes of one Parquet file; never fails on what the values are.

    A column whose values cannot share an Arrow type is written as text; should the file
    still not encode (a nested type Parquet refuses), every non-plain column is text.
    """
    names = list(dict.fromkeys(name for row in rows for name in row))
    columns = {name: _column([row.get(name) for row in rows]) for name in names}
    try:
        return log_files.parquet_bytes(pa.table(columns))
    except Exception:  # the plainest form below always encodes
        plain = {name: c if _plain(c.type) else _as_text(c.to_pylist())
                 for name, c in columns.items()}  # fmt: skip
        return log_files.parquet_bytes(pa.table(plain))


def _column(values: list[Any]) -> pa.Array[Any]:
    try:
        column: pa.Array[Any] = pa.array(values)
    except Exception:  # mixed kinds, or ints beyond 64 bits: text
        return _as_text(values)
    return column


def _plain(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_boolean(kind) or pa.types.is_integer(kind) or pa.types.is_floating(kind)
        or pa.types.is_string(kind) or pa.types.is_timestamp(kind) or pa.types.is_null(kind)
    )  # fmt: skip


def _as_text(values: list[Any]) -> pa.Array[Any]:
    return pa.array([_text(v) for v in values], pa.string())


def _text(value: Any) -> str | None:
    """A value as text the way DuckDB casts it (``true``, ``7``, ``1.5``)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
