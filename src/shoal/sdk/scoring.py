"""Batch scoring from a fleet: :meth:`Fleet.predict` (the work is in :mod:`shoal.score`)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shoal import config
from shoal.registry import FleetRef, Registry

if TYPE_CHECKING:
    from shoal.score import BatchScores


class FleetScoring:
    """``predict``: every row of a dataset scored by its key's version."""

    ref: FleetRef

    @property
    def _registry(self) -> Registry:
        raise NotImplementedError

    def predict(
        self,
        data: Any,
        *,
        alias: str | None = "production",
        version: int | None = None,
        by: Sequence[str] | str | None = None,
        as_of: Any = None,
        time_column: str | None = None,
        out: str | os.PathLike[str] | None = None,
        overwrite: bool = False,
        log: bool = True,
        logs: str | None = None,
        executor: str = "local",
        workers: int | None = None,
        batch_rows: int = 1_000_000,
        progress: bool = True,
    ) -> BatchScores:
        """Score every row of ``data`` with its key's version at ``alias`` (or ``version``).

        ``data`` is a pandas, polars or Arrow frame, or the path or URL (``s3://...``) of a
        Parquet file or folder; ``by`` names its key columns (default: the fleet's key
        names). Every key is resolved in one query, each version loaded once, each key's
        rows of a part predicted in one call; parts (a folder's files, else slices of
        ``batch_rows``) are scored a few at a time on a thread pool, or as Ray tasks with
        ``executor="ray"``, so memory holds a few parts, never the dataset.

        Returns :class:`~shoal.score.BatchScores`: ``.frame`` holds the scored rows (the
        input's columns plus ``prediction``, ``version``, ``request_id``, ``row``, and
        ``proba.<class>`` for classifiers) in the input's order, unless ``out`` is given:
        then they are written there as Parquet laid out like the input (a folder
        partitioned by store comes out partitioned by store), under ``<out>.partial``
        first and renamed when complete; running the same call again after an interrupt
        scores only the parts not done. Rows not scored (a key without a version, rows the
        signature refuses, a missing or infinite feature, a model that raised) are counted
        per reason in ``.problem_rows`` and listed per key in ``.problems``; the rest is
        scored.

        With ``log`` (default), the predictions go to the prediction logs (``logs``,
        default ``SHOAL_LOGS_URL``) like served ones, with ``event_at`` from ``as_of`` (one
        time for every row: ``"2026-11-25"``, a datetime) or ``time_column`` (each row's),
        so ``fleet.monitor("1d", time="event")`` puts them in the windows they are for, and
        feedback joins them by ``request_id`` and ``row`` or by key and time. A ``score``
        run records what was scored, at which alias, with which versions, and the data's
        fingerprint.
        """
        from shoal.score import ScoreOptions, score_fleet

        keys = tuple(self.ref.keys) if by is None else ((by,) if isinstance(by, str) else tuple(by))
        options = ScoreOptions(
            by=keys, alias=alias, version=version, as_of=_as_of(as_of),
            time_column=time_column, out=None if out is None else os.fspath(out),
            overwrite=overwrite, logs=(logs or config.logs_url()) if log else None,
            executor=executor, workers=workers, batch_rows=batch_rows, progress=progress,
            actor=config.actor(),
        )  # fmt: skip
        return score_fleet(self._registry, self.ref, data, options)


def _as_of(value: Any) -> dt.datetime | None:
    """An event time: a datetime, a date, ISO 8601 text (UTC when it names no zone) or UNIX
    seconds, read as monitoring reads ``since`` and ``until``."""
    from shoal.monitor import as_timestamp

    if value is None:
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    return dt.datetime.fromtimestamp(as_timestamp(value, "as_of"), dt.UTC)
