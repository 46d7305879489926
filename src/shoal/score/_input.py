"""What batch scoring reads: a frame in memory, or Parquet (a file or a folder, local or any
fsspec URL such as ``s3://``), cut into parts that are read and scored one at a time.

A part is one Parquet file (fragment) of a folder, or a slice of about ``batch_rows`` rows
of a single file or a frame. Memory holds the parts being scored, never the dataset: a
folder partitioned by store is scored store by store. Each part keeps where it came from
(``relative``), so the output mirrors the input's layout: ``store=s001/part-0.parquet`` in,
``store=s001/part-0.parquet`` out, readable with the same hive partitioning.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote

import fsspec
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from shoal.data import to_arrow
from shoal.errors import InvalidInput


@dataclass(frozen=True)
class Part:
    """One unit of work: where its rows are, and where its output goes."""

    index: int
    relative: str
    rows: int
    """Output file path relative to the output folder (mirrors the input's)."""
    path: str | None = None
    """The Parquet file to read (a path in the input's filesystem); None for a frame slice."""
    row_group: tuple[int, int] | None = None
    """For a slice of one large file: the row groups [start, stop) to read."""
    table: pa.Table | None = None
    """A frame's rows (in memory, no copy: a slice of the caller's table)."""
    hive: dict[str, str | None] = field(default_factory=dict)
    """Partition values the path carries (``store=s001``): columns of the input that the
    output's path carries again, so they are not written inside its file."""


@dataclass
class Input:
    """The data to score, opened: its columns, its parts, and how to read them."""

    kind: str
    """``pandas``, ``polars``, ``arrow`` or ``parquet``: what the scored frame comes back as."""
    location: str | None
    schema: pa.Schema
    parts: list[Part]
    url: str | None = None
    """The fsspec URL or path of Parquet input (workers reopen it from this)."""

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.parts)

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)


def open_input(data: Any, batch_rows: int) -> Input:
    """Open ``data`` (a frame, or a path or URL of Parquet) and cut it into parts."""
    if isinstance(data, str | os.PathLike):
        return _open_parquet(os.fspath(data), batch_rows)
    table = to_arrow(data)  # pandas, polars, Arrow, a dict of columns; a clear error otherwise
    kind = _kind(data)
    parts = [
        Part(
            i,
            f"part-{i:05d}.parquet",
            min(batch_rows, table.num_rows - start),
            table=table.slice(start, batch_rows),
        )
        for i, start in enumerate(range(0, max(table.num_rows, 1), batch_rows))
    ]
    return Input(kind, None, table.schema, parts)


def _kind(data: Any) -> str:
    pl = sys.modules.get("polars")
    if pl is not None and isinstance(data, pl.DataFrame):
        return "polars"
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(data, pd.DataFrame):
        return "pandas"
    return "arrow"


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem and path of ``url`` (a plain path is a local file)."""
    fs, path = fsspec.core.url_to_fs(url)
    return fs, path


def _open_parquet(url: str, batch_rows: int) -> Input:
    fs, path = filesystem(url)
    local = is_local(fs)
    if local:
        path = os.path.abspath(path)
    try:
        is_dir = fs.isdir(path)
        is_file = not is_dir and fs.isfile(path)
    except Exception as exc:  # a bucket we may not list, a bad URL
        problem = f"{type(exc).__name__}: {exc}"
        raise InvalidInput(f"cannot read {url!r}: {problem}", field="data") from exc
    if not is_dir and not is_file:
        raise InvalidInput(
            f"no file or folder at {url!r}: give a Parquet file, a folder of them, or a frame",
            field="data",
        )
    shown = path if local else url
    try:
        if is_file:
            meta = pq.ParquetFile(path, filesystem=None if local else fs).metadata
            schema = meta.schema.to_arrow_schema()
            groups = _group_slices(meta, batch_rows)
            parts = [
                Part(i, "part-00000.parquet" if len(groups) == 1 else f"part-{i:05d}.parquet",
                     sum(meta.row_group(g).num_rows for g in range(*span)),
                     path=path, row_group=span)
                for i, span in enumerate(groups)
            ]  # fmt: skip
            return Input("parquet", shown, schema, parts, url=url)
        found = ds.dataset(path, format="parquet", partitioning="hive",
                           filesystem=None if local else fs)  # fmt: skip
        # Partition values are key text: "store=001" is "001", never the number 1.
        names = [f.name for f in found.partitioning.schema] if found.partitioning else []
        text = ds.partitioning(pa.schema([(n, pa.string()) for n in names]), flavor="hive")
        dataset = ds.dataset(path, format="parquet", partitioning=text if names else "hive",
                             filesystem=None if local else fs)  # fmt: skip
    except pa.ArrowException as exc:
        raise InvalidInput(f"cannot read {url!r} as Parquet: {exc}", field="data") from None
    fragments = sorted(dataset.get_fragments(), key=lambda f: f.path)
    if not fragments:
        raise InvalidInput(f"no Parquet files under {url!r}", field="data")
    parts = []
    for i, fragment in enumerate(fragments):
        relative = str(PurePosixPath(fragment.path).relative_to(PurePosixPath(path)))
        try:
            rows = sum(g.num_rows for g in fragment.row_groups)  # the footer, no data read
        except pa.ArrowException as exc:  # a truncated or foreign file: refused up front
            raise InvalidInput(f"cannot read {fragment.path!r} as Parquet: {exc}",
                               field="data") from None  # fmt: skip
        parts.append(Part(i, relative, rows, path=fragment.path, hive=_hive(relative)))
    return Input("parquet", shown, dataset.schema, parts, url=url)


def _group_slices(meta: pq.FileMetaData, batch_rows: int) -> list[tuple[int, int]]:
    """Row groups of one file gathered into slices of about ``batch_rows`` rows."""
    slices: list[tuple[int, int]] = []
    start, rows = 0, 0
    for g in range(meta.num_row_groups):
        rows += meta.row_group(g).num_rows
        if rows >= batch_rows:
            slices.append((start, g + 1))
            start, rows = g + 1, 0
    if start < meta.num_row_groups or not slices:
        slices.append((start, meta.num_row_groups))
    return slices


HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


def _hive(relative: str) -> dict[str, str | None]:
    """``name=value`` folders of a path, values URL-decoded as hive writers encode them."""
    out: dict[str, str | None] = {}
    for segment in PurePosixPath(relative).parts[:-1]:
        name, eq, value = segment.partition("=")
        if eq and name:
            out[unquote(name)] = None if value == HIVE_NULL else unquote(value)
    return out


def is_local(fs: Any) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol in ("file", "local")


def read_part(
    url: str | None, schema: pa.Schema, part: Part, columns: list[str] | None = None
) -> pa.Table:
    """A part's rows (only ``columns`` when given), with the columns its folder path
    carries (``store=s001``) filled in."""
    if part.table is not None:
        return part.table if columns is None else part.table.select(columns)
    assert url is not None and part.path is not None
    fs, _ = filesystem(url)
    local = is_local(fs)
    handle = pq.ParquetFile(part.path, filesystem=None if local else fs)
    stored = None if columns is None else [c for c in columns if c not in part.hive]
    if part.row_group is not None:
        table = handle.read_row_groups(list(range(*part.row_group)), columns=stored)
    else:
        table = handle.read(columns=stored)
    for name, value in part.hive.items():
        wanted = columns is None or name in columns
        if wanted and name not in table.column_names and name in schema.names:
            kind = schema.field(name).type
            column: pa.Array[Any] = pa.array([value] * table.num_rows, pa.string())
            with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
                column = column.cast(kind)  # else text: keys are compared as text anyway
            table = table.append_column(name, column)
    return table
