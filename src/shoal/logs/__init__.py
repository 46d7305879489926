"""Where prediction and feedback logs are written: the one layout every writer shares.

Two writers produce prediction logs: the prediction server (row by row, buffered, see
:mod:`shoal.serve.logbook`) and batch scoring (a partition at a time, see
:mod:`shoal.score`). Both write the same files so that monitoring reads one kind of log::

    <logs>/predictions/tenant=T/fleet=F/day=YYYY-MM-DD/part-<time_ns>-<hex8>.parquet

``day`` is the UTC day the rows are *for*: their ``event_at`` where they have one (a
forecast for tomorrow, a backfilled week), else the time they were made (``at``). The
file name's ``time_ns`` is when it was written, so a reader looking for rows *made* in a
span can skip every older file without opening it. A file is written under a hidden
temporary name and renamed, so a reader never sees half of one.

This module sits at the bottom of the layers (next to the store and the artifacts): it
only knows fsspec and Arrow, so the server and the batch scorer can both use it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

KINDS = ("predictions", "feedback")


def folder(root: str, kind: str, tenant: str, fleet: str, day: str) -> str:
    """The partition folder of one (tenant, fleet, day) under a log root path."""
    return f"{root.rstrip('/')}/{kind}/tenant={tenant}/fleet={fleet}/day={day}"


def part_name(tag: str | None = None) -> str:
    """A new file name: written-at nanoseconds first, so names sort by write time; then
    ``tag`` (a batch part's, so a retry can find what an earlier attempt wrote) or a
    random suffix."""
    return f"part-{time.time_ns()}-{tag or uuid.uuid4().hex[:8]}.parquet"


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem and root path of a logs URL (a plain path is a folder)."""
    fs, root = fsspec.core.url_to_fs(url)
    return fs, root


def written_ns(name: str) -> int | None:
    """When a log file was written, from its name (None for a name not made by us)."""
    stem = name.rsplit("/", 1)[-1]
    parts = stem.split("-")
    if len(parts) < 3 or parts[0] != "part" or not parts[1].isdigit():
        return None
    return int(parts[1])


def write_bytes(
    fs: Any, target_folder: str, data: bytes | pa.Buffer, tag: str | None = None
) -> str:
    """Write one log file under a temporary name, then rename it; returns its final path.

    A failure leaves no file behind (the temporary one is removed) and raises.
    """
    return write_named(fs, target_folder, part_name(tag), data)


def write_named(fs: Any, target_folder: str, name: str, data: bytes | pa.Buffer) -> str:
    """Write ``name`` under a hidden temporary name, then rename it (replacing a file of
    that name); returns its final path."""
    fs.makedirs(target_folder, exist_ok=True)
    temporary, final = f"{target_folder}/.{name}.tmp", f"{target_folder}/{name}"
    try:
        with fs.open(temporary, "wb") as handle:
            handle.write(data)
        fs.mv(temporary, final)
    except Exception:
        if exists(fs, final):  # renamed, then failed (e.g. removing the source)
            remove(fs, temporary)
            return final
        remove(fs, temporary)
        raise
    return final


def parquet_bytes(table: pa.Table) -> pa.Buffer:
    """A table as the bytes of one Parquet file."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue()


def event_days(table: pa.Table) -> pa.Array[Any]:
    """Each row's partition day: of ``event_at`` where set, else of ``at``, as a UTC date.

    A cast to a date, not a text format per row: a batch's rows mostly share one time, and
    formatting a million timestamps one by one cost two seconds.
    """
    at = table.column("at")
    if "event_at" in table.column_names:
        at = pc.coalesce(table.column("event_at"), pc.cast(at, table.schema.field("event_at").type))
    utc = pc.cast(at, pa.timestamp("us", tz="UTC"))
    naive = pc.cast(utc.cast(pa.int64()), pa.timestamp("us"))  # UTC wall clock
    days = pc.cast(naive, pa.date32())
    return days.combine_chunks() if isinstance(days, pa.ChunkedArray) else days


def write_predictions(
    url: str, tenant: str, fleet: str, table: pa.Table, tag: str | None = None
) -> list[str]:
    """Write a table of prediction-log rows, one file per partition day; returns the paths.

    ``table`` has at least ``at`` (timestamp, UTC), ``version_id`` and ``prediction``;
    ``tag`` ends every file's name (see :func:`part_name`).
    """
    if table.num_rows == 0:
        return []
    fs, root = filesystem(url)
    days = event_days(table)
    written = []
    for day in sorted(d for d in pc.unique(days).to_pylist() if d is not None):
        part = table if len(days) == 1 or pc.all(pc.equal(days, day)).as_py() else (
            table.filter(pc.equal(days, day)))  # fmt: skip
        target = folder(root, "predictions", tenant, fleet, day.isoformat())
        written.append(write_bytes(fs, target, parquet_bytes(part), tag))
    return written


def exists(fs: Any, path: str) -> bool:
    """Whether ``path`` exists; unknown (the check failed) counts as no."""
    try:
        return bool(fs.exists(path))
    except Exception:
        return False


def remove(fs: Any, path: str) -> None:
    """Remove ``path`` if it is there; a failure is logged, never raised (readers skip
    hidden temporary files, so a stray one is harmless)."""
    try:
        if fs.exists(path):
            fs.rm(path)
    except Exception:
        log.warning("could not remove %s", path, exc_info=True)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
