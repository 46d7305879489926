"""Export a fleet's per-model table whole, as CSV or Parquet, streamed chunk by chunk.

``fleet.export("demand.parquet", where="mape > 0.3")`` writes one row per model the
filter selects (its key values, version, status, flavor, created_at, run and dataset, one
``alias.NAME`` column per alias of the fleet holding the version number it points at, and
one ``metric.NAME`` column per metric), read from the registry in keyset chunks of
``chunk`` models and written a chunk at a time, so memory holds one chunk whatever the
fleet's size. A path is written to a temporary file beside it and renamed into place: a
reader never sees half a file, and a failed export leaves none. ``fleet.iter_export()``
yields the same table as ``pyarrow.RecordBatch`` es; :func:`stream` yields a file's bytes as
they are made (the REST download).

Types: key columns, ``status`` and ``flavor`` are text; ``version`` and ``alias.*`` 32-bit
integers; ``version_id``, ``run_id`` and ``dataset_id`` 64-bit; ``metric.*`` doubles;
``created_at`` a UTC timestamp (microseconds) in Arrow and Parquet, ISO 8601 UTC text in
CSV (``2026-11-24T21:30:05+00:00``, as ``--json`` prints it). Empty cells are nulls.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shoal.errors import InvalidInput
from shoal.registry import Where
from shoal.registry.exports import CHUNK, Chunk, Layout

if TYPE_CHECKING:
    from shoal.sdk.fleet import Fleet

__all__ = ["CHUNK", "FORMATS", "ExportProgress", "ExportResult", "batches", "stream", "write"]

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
"""File suffixes and the format each means."""
CHOICES = ("csv", "parquet")

ExportProgress = Callable[[int, int | None], None]
"""``progress(rows_written, total_rows)``, called after each chunk."""

_TYPES: dict[str, pa.DataType] = {
    "version": pa.int32(), "version_id": pa.int64(), "status": pa.string(),
    "flavor": pa.string(), "created_at": pa.timestamp("us", tz="UTC"), "run_id": pa.int64(),
    "dataset_id": pa.int64(),
}  # fmt: skip
_ISO = "%Y-%m-%dT%H:%M:%S+00:00"


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: where, in which format, how many rows, bytes and columns."""

    path: str
    format: str
    rows: int
    bytes: int
    columns: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format, "rows": self.rows,
                "bytes": self.bytes, "columns": list(self.columns)}  # fmt: skip


def check_format(format: str | None, out: Any = None) -> str:
    """``format`` checked, else the one ``out``'s suffix names; InvalidInput otherwise."""
    if format is None and isinstance(out, str | os.PathLike):
        format = FORMATS.get(Path(out).suffix.lower())
        if format is None:
            raise InvalidInput(
                f"format: cannot tell the format of {str(out)!r} from its suffix; name the "
                f"file .csv or .parquet, or pass format= one of {', '.join(CHOICES)}",
                field="format",
            )
    if format is None:
        raise InvalidInput(
            f"format: pass one of {', '.join(CHOICES)} to write to a stream", field="format"
        )
    if not isinstance(format, str) or format.lower() not in CHOICES:
        raise InvalidInput(
            f"format must be one of {', '.join(CHOICES)}, got {format!r}", field="format"
        )
    return format.lower()


def schema(layout: Layout) -> pa.Schema:
    """The Arrow schema of an export with ``layout``'s columns."""
    fields: list[pa.Field[Any]] = [pa.field(k, pa.string()) for k in layout.keys]
    fields += [pa.field(name, kind) for name, kind in _TYPES.items()]
    fields += [pa.field(f"alias.{a}", pa.int32()) for a in layout.aliases]
    fields += [pa.field(f"metric.{m}", pa.float64()) for m in layout.metrics]
    return pa.schema(fields)


def to_batch(chunk: Chunk, shape: pa.Schema) -> pa.RecordBatch:
    """A registry chunk as a record batch of ``shape``."""
    arrays = []
    for item in shape:
        values = chunk.columns[item.name]
        if item.name == "created_at":
            micros = pc.round(pc.multiply(pa.array(values, pa.float64()), 1_000_000))
            arrays.append(pc.cast(micros, pa.int64()).cast(item.type))
        else:
            arrays.append(pa.array(values, item.type))
    return pa.RecordBatch.from_arrays(arrays, schema=shape)


def batches(
    fleet: Fleet, *, where: Where = None, chunk: int = CHUNK
) -> Generator[pa.RecordBatch, None, None]:
    """The per-model table of the models ``where`` selects, ``chunk`` models a batch.

    Lazy like any generator: the filter is checked at the first ``next()``, and the first
    batch always comes (empty when nothing matches), with the whole schema.
    """
    shape: pa.Schema | None = None
    with contextlib.closing(
        fleet._registry.exports.chunks(fleet.ref, where=where, chunk=chunk)
    ) as parts:
        for part in parts:
            shape = shape or schema(part.layout)
            yield to_batch(part, shape)


def stream(
    fleet: Fleet, *, where: Where = None, format: str = "parquet", chunk: int = CHUNK
) -> Iterator[bytes]:
    """The bytes of an export file as they are made: a bad filter or format raises here,
    before the first byte; the stream then yields one piece per chunk (a Parquet row group,
    some CSV lines) and the file's tail."""
    format = check_format(format)
    found = batches(fleet, where=where, chunk=chunk)
    first = next(found)
    return _encoded(first, found, format)


def _encoded(
    first: pa.RecordBatch, rest: Generator[pa.RecordBatch, None, None], format: str
) -> Iterator[bytes]:
    sink = _Sink()
    with contextlib.closing(rest):  # a download cut short ends its read transaction here
        with _writer(sink, first.schema, format) as put:
            for batch in itertools.chain([first], rest):
                put(batch)
                yield sink.take()
        yield sink.take()


def write(
    fleet: Fleet,
    out: str | os.PathLike[str] | BinaryIO,
    *,
    where: Where = None,
    format: str | None = None,
    progress: bool | ExportProgress = False,
    chunk: int = CHUNK,
) -> ExportResult:
    """Write the export to ``out``: a path (atomically: a temporary file beside it, renamed
    into place) or a binary file object (``sys.stdout.buffer``; ``format`` required)."""
    format = check_format(format, out)
    tree = fleet.parse(where) if isinstance(where, str) else where
    with _reporter(progress) as report:
        total = fleet.count(tree) if report is not None else None
        if not isinstance(out, str | os.PathLike):
            sink = _Sink(out)
            rows, columns = _write_all(fleet, sink, tree, format, chunk, report, total)
            return ExportResult("-", format, rows, sink.written, columns)
        target = Path(out)
        if target.is_dir():
            raise InvalidInput(f"out: {str(target)!r} is a folder; name a file", field="out")
        if not target.parent.is_dir():
            raise InvalidInput(f"out: the folder of {str(target)!r} does not exist", field="out")
        temporary = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.part"
        try:
            with open(temporary, "xb") as file:  # umask permissions (mkstemp gives 0600)
                sink = _Sink(file)
                rows, columns = _write_all(fleet, sink, tree, format, chunk, report, total)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        return ExportResult(str(target), format, rows, sink.written, columns)


def _write_all(
    fleet: Fleet, sink: _Sink, where: Where, format: str, chunk: int,
    report: ExportProgress | None, total: int | None,
) -> tuple[int, tuple[str, ...]]:  # fmt: skip
    rows = 0
    with contextlib.closing(batches(fleet, where=where, chunk=chunk)) as found:
        first = next(found)
        with _writer(sink, first.schema, format) as put:
            for batch in itertools.chain([first], found):
                put(batch)
                rows += batch.num_rows
                if report is not None:
                    report(rows, total)
    return rows, tuple(first.schema.names)


class _Sink(io.RawIOBase):
    """Where a writer puts bytes: a file (counted), or a buffer drained as it fills."""

    def __init__(self, file: BinaryIO | None = None) -> None:
        super().__init__()
        self.file = file
        self.parts: list[bytes] = []
        self.written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any, /) -> int:
        size = len(data)
        if self.file is not None:
            self.file.write(data)
        else:
            self.parts.append(bytes(data))
        self.written += size
        return size

    def flush(self) -> None:
        if self.file is not None:
            self.file.flush()

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


@contextlib.contextmanager
def _writer(sink: _Sink, shape: pa.Schema, format: str) -> Iterator[Callable[[Any], None]]:
    """``put(batch)``: a CSV writer's or a Parquet writer's (zstd, one row group a chunk)."""
    if format == "parquet":
        parquet = pq.ParquetWriter(pa.PythonFile(sink, mode="w"), shape, compression="zstd")
        try:
            yield parquet.write_batch
        finally:
            parquet.close()
        return
    index = shape.get_field_index("created_at")
    text = shape.set(index, pa.field("created_at", pa.string()))
    csv = pa_csv.CSVWriter(cast("IO[bytes]", sink), text)

    def put(batch: pa.RecordBatch) -> None:
        moment: Any = batch.column(index).cast(pa.timestamp("s", tz="UTC"), safe=False)
        iso = pc.strftime(moment, format=_ISO)
        csv.write_batch(pa.RecordBatch.from_arrays(
            [*batch.columns[:index], iso, *batch.columns[index + 1 :]], schema=text))  # fmt: skip

    try:
        yield put
    finally:
        csv.close()


@contextlib.contextmanager
def _reporter(progress: bool | ExportProgress) -> Iterator[ExportProgress | None]:
    """The callback ``progress`` asks for: its own, a rich bar on a terminal (stderr) for
    True, or None (no count is made)."""
    if callable(progress):
        yield progress
        return
    console = Console(stderr=True)
    if not progress or not console.is_terminal:
        yield None
        return
    bar = Progress(
        TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), TextColumn("models"),
        TimeElapsedColumn(), console=console, transient=True,
    )  # fmt: skip
    with bar:
        task = bar.add_task("export", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)
