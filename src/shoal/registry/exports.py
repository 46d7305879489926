"""Exports: a fleet's per-model table, whole, streamed in chunks from one read transaction.

The stream holds its transaction until the last chunk is read or the caller closes the
generator (a ``for`` loop that breaks, a response whose client went away): on SQLite a
snapshot that a writer does not wait for, so every chunk agrees with the columns read
first. See :mod:`shoal.store.export` for the columns and the queries.
"""

from __future__ import annotations

from collections.abc import Generator

from shoal.registry._part import Part
from shoal.store.export import CHUNK, MAX_CHUNK, Chunk, Layout, export_chunks
from shoal.store.query import Where
from shoal.store.tenancy import FleetRef

__all__ = ["CHUNK", "MAX_CHUNK", "Chunk", "Exports", "Layout"]


class Exports(Part):
    """A fleet's models as a table, for files and downloads."""

    def chunks(
        self, fleet: FleetRef, *, where: Where = None, chunk: int = CHUNK
    ) -> Generator[Chunk, None, None]:
        """Every model ``where`` selects, ``chunk`` at a time, keyset on the model id.

        The first chunk always comes (empty when nothing matches) and carries the layout;
        a bad filter or chunk size raises on the first ``next()``, before any row. The
        chunks are read in one snapshot (on PostgreSQL too), so a move landing mid-export
        cannot show a model twice or not at all.
        """
        with self._store.snapshot() as conn:
            yield from export_chunks(conn, fleet, where=where, chunk=chunk)
