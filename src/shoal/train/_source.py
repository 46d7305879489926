"""Training input: a frame in memory, or Parquet on disk read partition by partition.

A pandas, polars or Arrow frame is one partition. A Parquet *file* is read whole (one
partition). A Parquet *folder* (plain files or Hive ``key=value/`` directories) is read one
file at a time: each file is grouped by key and trained before the next is read, so memory
holds one file, not the dataset. The limit that buys: every key's rows must lie in one
file (as they do when the folder is partitioned by the fleet's keys, or written one group
per file). That is checked up front, reading only the key columns, and a key found in two
files is refused before anything trains.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from shoal.data import to_arrow
from shoal.errors import InvalidInput


class Source:
    """Where the rows come from: column names, partitions, and the key columns alone."""

    location: str | None = None

    @property
    def columns(self) -> list[str]:
        raise NotImplementedError

    @property
    def schema(self) -> pa.Schema:
        raise NotImplementedError

    def partitions(self) -> Iterator[pa.Table]:
        raise NotImplementedError

    def key_counts(self, by: Sequence[str]) -> int:
        """How many distinct keys there are (refusing a key that spans partitions)."""
        raise NotImplementedError


class TableSource(Source):
    """A frame in memory (or one Parquet file, read whole)."""

    def __init__(self, table: pa.Table, location: str | None = None) -> None:
        self.table = table
        self.location = location

    @property
    def columns(self) -> list[str]:
        return list(self.table.column_names)

    @property
    def schema(self) -> pa.Schema:
        return self.table.schema

    def partitions(self) -> Iterator[pa.Table]:
        yield self.table

    def key_counts(self, by: Sequence[str]) -> int:
        return _distinct(self.table.select(list(by)), by)


class FolderSource(Source):
    """A folder of Parquet files, read one file (fragment) at a time."""

    def __init__(self, path: str) -> None:
        self.location = path
        self.dataset = ds.dataset(path, format="parquet", partitioning="hive")
        self.fragments = sorted(self.dataset.get_fragments(), key=lambda f: f.path)
        if not self.fragments:
            raise InvalidInput(f"no Parquet files under {path!r}", field="data")

    @property
    def columns(self) -> list[str]:
        return list(self.dataset.schema.names)

    @property
    def schema(self) -> pa.Schema:
        return self.dataset.schema

    def partitions(self) -> Iterator[pa.Table]:
        for fragment in self.fragments:
            yield fragment.to_table(schema=self.dataset.schema)

    def key_counts(self, by: Sequence[str]) -> int:
        seen: dict[tuple[Any, ...], str] = {}
        for fragment in self.fragments:
            keys = fragment.to_table(columns=list(by), schema=self.dataset.schema)
            for key in _groups(keys, by):
                if key in seen:
                    raise InvalidInput(
                        f"key {dict(zip(by, key, strict=True))} has rows in two files "
                        f"({seen[key]} and {fragment.path}); training reads a folder one file "
                        "at a time, so each key's rows must lie in one file: partition the "
                        "folder by the fleet's keys, or pass the frame instead",
                        field="data",
                    )
                seen[key] = fragment.path
        return len(seen)


def open_source(data: Any) -> Source:
    """The source for ``data``: a frame, or a path to a Parquet file or folder."""
    if isinstance(data, str | os.PathLike):
        path = Path(data)
        path = path.resolve()  # recorded on the run: a resume elsewhere finds it
        if path.is_dir():
            return FolderSource(str(path))
        if path.is_file():
            import pyarrow.parquet as pq

            try:
                return TableSource(pq.read_table(path), location=str(path))
            except pa.ArrowException as exc:
                raise InvalidInput(f"cannot read {str(path)!r} as Parquet: {exc}") from None
        raise InvalidInput(f"no file or folder at {str(path)!r}", field="data")
    return TableSource(to_arrow(data))


def _groups(table: pa.Table, by: Sequence[str]) -> list[tuple[Any, ...]]:
    grouped = table.group_by(list(by), use_threads=False).aggregate([])
    columns = [grouped.column(name).to_pylist() for name in by]
    return list(zip(*columns, strict=True))


def _distinct(table: pa.Table, by: Sequence[str]) -> int:
    if not by:
        return 1
    return table.group_by(list(by), use_threads=False).aggregate([]).num_rows
