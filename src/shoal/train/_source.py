"""Training input: a frame in memory, or Parquet on disk read partition by partition.

A pandas, polars or Arrow frame is one partition. A Parquet *file* is read whole (one
partition). A Parquet *folder* (plain files or Hive ``key=value/`` directories) is read one
file at a time when every key's rows lie in one file (a folder partitioned by the fleet's
keys, or written one group per file): each file is grouped by key and trained before the
next is read, so memory holds one file, not the dataset. That is checked up front,
reading only the key columns.

When keys span files (daily files, each holding every store), no one file holds a key's
rows. Then the folder is shuffled once: each file is read in turn and its rows are split
by a hash of the key into buckets written as temporary Parquet files, sized so one bucket
is about :data:`BUCKET_BYTES` of data; each bucket is then one partition, holding every row
of its keys in file order. Memory stays at one file or one bucket; the disk holds one
extra copy until training ends. A folder small enough for one bucket is simply read whole.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

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

    def files(self) -> Iterator[pa.Table]:
        """The data as stored, one file at a time: what the dataset fingerprint covers."""
        return self.partitions()

    def key_counts(self, by: Sequence[str]) -> int:
        """How many distinct keys there are; fixes how partitions group keys (``by``)."""
        raise NotImplementedError

    def close(self) -> None:
        """Remove anything reading made on disk; the default made nothing."""


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


BUCKET_BYTES = 256 * 2**20
"""About how much (uncompressed) data one shuffled bucket holds, so one partition's worth."""


class FolderSource(Source):
    """A folder of Parquet files, read one file (fragment) at a time, or shuffled by key."""

    def __init__(self, path: str) -> None:
        self.location = path
        self.dataset = ds.dataset(path, format="parquet", partitioning="hive")
        self.fragments = sorted(self.dataset.get_fragments(), key=lambda f: f.path)
        if not self.fragments:
            raise InvalidInput(f"no Parquet files under {path!r}", field="data")
        self._spread_by: list[str] | None = None
        self._scratch: str | None = None

    @property
    def columns(self) -> list[str]:
        return list(self.dataset.schema.names)

    @property
    def schema(self) -> pa.Schema:
        return self.dataset.schema

    def partitions(self) -> Iterator[pa.Table]:
        if self._spread_by is None:
            for fragment in self.fragments:
                yield self._read(fragment)
            return
        buckets = max(1, math.ceil(self._bytes() / BUCKET_BYTES)) if self._spread_by else 1
        if buckets == 1:  # small enough to group in memory at once
            yield pa.concat_tables(self._read(fragment) for fragment in self.fragments)
            return
        yield from self._shuffled(self._spread_by, buckets)

    def files(self) -> Iterator[pa.Table]:
        for fragment in self.fragments:
            yield self._read(fragment)

    def key_counts(self, by: Sequence[str]) -> int:
        if not by:  # one model for the whole folder: every file is its rows
            self._spread_by = [] if len(self.fragments) > 1 else None
            return 1
        seen: set[tuple[Any, ...]] = set()
        spread = False
        for fragment in self.fragments:
            keys = set(_groups(self._read(fragment, list(by)), by))
            spread = spread or not seen.isdisjoint(keys)
            seen |= keys
        self._spread_by = list(by) if spread else None
        return len(seen)

    def close(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def _read(self, fragment: ds.Fragment, columns: list[str] | None = None) -> pa.Table:
        return fragment.to_table(columns=columns, schema=self.dataset.schema)

    def _bytes(self) -> int:
        total = 0
        for fragment in self.fragments:
            meta = fragment.metadata
            total += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        return total

    def _shuffled(self, by: list[str], buckets: int) -> Iterator[pa.Table]:
        """Split every file by key hash into ``buckets`` folders, then read each whole."""
        self.close()
        self._scratch = tempfile.mkdtemp(prefix="shoal-shuffle-")
        for i, fragment in enumerate(self.fragments):
            table = self._read(fragment)
            bucket = _bucket_of(table, by, buckets)
            order = np.argsort(bucket, kind="stable")
            ordered = table.take(order)
            bounds = np.searchsorted(bucket[order], np.arange(buckets + 1))
            for b in range(buckets):
                start, stop = int(bounds[b]), int(bounds[b + 1])
                if stop > start:
                    folder = Path(self._scratch, f"bucket-{b:05d}")
                    folder.mkdir(exist_ok=True)
                    pq.write_table(ordered.slice(start, stop - start),
                                   folder / f"part-{i:06d}.parquet")  # fmt: skip
        for b in range(buckets):
            folder = Path(self._scratch, f"bucket-{b:05d}")
            if folder.exists():
                parts = sorted(folder.iterdir())
                yield pa.concat_tables(pq.read_table(p, schema=self.dataset.schema) for p in parts)
                shutil.rmtree(folder, ignore_errors=True)


def _zero_signed(column: pa.ChunkedArray[Any]) -> pa.ChunkedArray[Any]:
    """-0.0 as 0.0: grouping treats them as one key, so the bucket must too."""
    return pc.add(column, 0.0) if pa.types.is_floating(column.type) else column


def _bucket_of(table: pa.Table, by: list[str], buckets: int) -> np.ndarray:
    """A bucket per row from a stable hash of its key values (pandas' siphash)."""
    null = pa.scalar("\x00", pa.string())
    text = [pc.cast(_zero_signed(table.column(name)), pa.string()).fill_null(null) for name in by]
    # The stubs type the separator (the last argument) like the strings; pyarrow takes text.
    joined = (
        text[0] if len(text) == 1
        else pc.binary_join_element_wise(*text, "\x1f")  # type: ignore[call-overload]
    )  # fmt: skip
    hashes = pd.util.hash_array(np.asarray(joined.to_numpy(zero_copy_only=False), dtype=object))
    return (hashes % np.uint64(buckets)).astype(np.int64)


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
