"""Fleet reports: every read a report makes, in one snapshot, and the record it leaves.

A report reads a dozen things of one fleet (the model table, latest metrics, the newest
window, alerts, runs, what changed since the previous report). Read in separate
transactions, a promotion landing between two of them would make the coverage disagree
with the model table; so :meth:`Reports.snapshot` opens one read transaction and hands
back a :class:`Snapshot` whose methods read inside it. Long scans come back in bounded
chunks, so the report turns each into Arrow columns before the next is fetched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from shoal.registry._guards import check_limit
from shoal.registry._part import Part, actor_of
from shoal.store import audit, report_reads
from shoal.store.report_reads import (
    ALERT_COLUMNS,
    CHANGE_COLUMNS,
    RUN_COLUMNS,
    TREND_COLUMNS,
    WINDOW_COLUMNS,
    Rows,
    model_columns,
)
from shoal.store.tenancy import FleetRef

__all__ = [
    "ALERT_COLUMNS",
    "CHANGE_COLUMNS",
    "RUN_COLUMNS",
    "TREND_COLUMNS",
    "WINDOW_COLUMNS",
    "Reports",
    "Rows",
    "Snapshot",
    "model_columns",
]


class Snapshot:
    """The reads of one report over one open read transaction (see the module)."""

    def __init__(self, conn: Connection, fleet: FleetRef) -> None:
        self._conn = conn
        self.fleet = fleet

    def counts(self) -> tuple[int, int, str]:
        """(models, versions, description) of the fleet."""
        return report_reads.fleet_counts(self._conn, self.fleet)

    def models(self, alias: str, chunk: int = report_reads.MODEL_CHUNK) -> Iterator[Rows]:
        """The model table (:func:`model_columns`), in keyset chunks by model id."""
        return report_reads.model_chunks(self._conn, self.fleet, alias, chunk)

    def metric_counts(self) -> list[tuple[str, int]]:
        """(name, latest versions carrying it) of the fleet's metrics."""
        return report_reads.metric_counts(self._conn, self.fleet)

    def latest_metric(self, name: str) -> Iterator[Rows]:
        """(version id, value) of metric ``name`` over the latest versions."""
        return report_reads.latest_metric(self._conn, self.fleet, name)

    def tag_values(self, key: str) -> Iterator[Rows]:
        return report_reads.tag_values(self._conn, self.fleet, key)

    def evaluated_metrics(self) -> list[str]:
        return report_reads.evaluated_metrics(self._conn, self.fleet)

    def windows(self) -> Rows:
        """(seconds, start, versions) of every monitored window, newest first."""
        return report_reads.monitored_windows(self._conn, self.fleet)

    def window_results(self, seconds: int, start: float) -> Iterator[Rows]:
        return report_reads.window_results(self._conn, self.fleet, seconds, start)

    def window_totals(self, seconds: int, since: float) -> Rows:
        return report_reads.window_totals(self._conn, self.fleet, seconds, since)

    def monitored_among(self, seconds: int, since: float, model_ids: Sequence[int]) -> list[int]:
        """Which of ``model_ids`` a window of ``seconds`` from ``since`` judged."""
        return report_reads.monitored_among(self._conn, self.fleet, seconds, since, model_ids)

    def alerts(self, since: float) -> Iterator[Rows]:
        return report_reads.alerts_since(self._conn, self.fleet, since)

    def rule_count(self) -> int:
        return report_reads.rule_count(self._conn, self.fleet)

    def runs(self, since: float) -> list[dict[str, Any]]:
        return report_reads.runs_since(self._conn, self.fleet, since)

    def datasets(self, ids: Sequence[int]) -> Rows:
        return report_reads.dataset_names(self._conn, self.fleet, ids)

    def previous(self) -> dict[str, Any] | None:
        """The fleet's newest recorded report, or None."""
        return report_reads.previous_report(self._conn, self.fleet)

    def metric_moves(self, metric: str, since: float) -> Rows:
        return report_reads.metric_moves(self._conn, self.fleet, metric, since)

    def moves(self, since: float) -> Rows:
        return report_reads.moves_since(self._conn, self.fleet, since)

    def retired(self, since: float) -> dict[str, int]:
        return report_reads.retired_since(self._conn, self.fleet, since)

    def versions_since(self, since: float) -> int:
        return report_reads.versions_since(self._conn, self.fleet, since)


class Reports(Part):
    """Reads for fleet reports, and the record of each report written."""

    @contextlib.contextmanager
    def snapshot(self, fleet: FleetRef) -> Iterator[Snapshot]:
        """One read transaction over ``fleet`` for every read of one report (a real
        snapshot on PostgreSQL too: REPEATABLE READ)."""
        with self._store.snapshot() as conn:
            yield Snapshot(conn, fleet)

    def record(
        self, fleet: FleetRef, at: float, params: dict[str, Any], summary: dict[str, Any]
    ) -> int:
        """Record a written report (its options and bounded figures); its id."""
        actor = actor_of()
        with self._store.write() as conn:
            report_id = report_reads.record_report(conn, fleet, actor, at, params, summary)
            audit.record(conn, fleet.tenant_id, actor, "report", fleet.path, {"id": report_id})
        return report_id

    def list(self, fleet: FleetRef, limit: int = 50) -> list[dict[str, Any]]:
        """The fleet's recorded reports, newest first (without their figures)."""
        with self._store.read() as conn:
            return report_reads.list_reports(conn, fleet, check_limit(limit))
