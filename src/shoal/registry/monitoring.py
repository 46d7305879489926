"""Monitoring results: the windows a pass stored, and reads of them by figure, key and time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shoal import faults
from shoal.registry._part import Part
from shoal.store import monitor_rollups, monitoring
from shoal.store.tenancy import FleetRef

Window = tuple[int, float]
"""(window length in seconds, window start in UNIX seconds)."""

FIGURES = monitoring.FIGURES
RESULT_COLUMNS = monitoring.RESULT_COLUMNS
compute_rollups = monitor_rollups.compute_rollups


class Monitoring(Part):
    """A fleet's stored monitoring results."""

    def references(
        self, fleet: FleetRef, version_ids: Sequence[int], chunk: int
    ) -> list[list[tuple[int, int, str | None, str | None]]]:
        """Each version's (id, model id, baseline, target) in chunks of ``chunk``, read in
        one transaction."""
        with self._store.read() as conn:
            return [
                monitoring.references(conn, fleet, version_ids[start : start + chunk])
                for start in range(0, len(version_ids), chunk)
            ]

    def model_keys(self, fleet: FleetRef, model_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
        with self._store.read() as conn:
            return monitor_rollups.model_keys(conn, fleet, model_ids)

    def store_windows(
        self,
        fleet: FleetRef,
        window_seconds: int,
        run_id: int,
        windows: Sequence[tuple[float, Sequence[Any], Sequence[Any], Sequence[Any]]],
    ) -> None:
        """Replace each (start, results, features, roll-ups) window: one transaction."""
        with self._store.write() as conn:
            for start, results, features, rollups in windows:
                monitoring.replace_window(
                    conn, fleet, window_seconds, start, run_id, results, features, rollups
                )
            faults.point("monitor.before_commit")

    def windows(
        self, fleet: FleetRef, window_seconds: int | None = None, limit: int = 50
    ) -> list[Window]:
        """Monitored windows, newest first."""
        with self._store.read() as conn:
            return monitoring.windows(conn, fleet, window_seconds, limit)

    def window_at(
        self, fleet: FleetRef, when: float, window_seconds: int | None = None
    ) -> Window | None:
        with self._store.read() as conn:
            return monitoring.window_at(conn, fleet, when, window_seconds)

    def window_rows(
        self,
        fleet: FleetRef,
        window: Window,
        *,
        order_by: str | None = None,
        descending: bool = True,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """One window's per-version rows with their keys, sorted by a figure (NULLs last)."""
        with self._store.read() as conn:
            return monitoring.window_rows(
                conn, fleet, window, order_by=order_by, descending=descending, limit=limit
            )

    def feature_rows(
        self,
        fleet: FleetRef,
        window: Window,
        *,
        version_ids: Sequence[int] | None = None,
        drifted_only: bool = False,
    ) -> list[dict[str, Any]]:
        """A window's per-feature rows (of some versions, or all; optionally drifted only)."""
        with self._store.read() as conn:
            if version_ids is None:
                return monitoring.feature_rows(conn, fleet, window, drifted_only=drifted_only)
            return [
                row
                for vid in version_ids
                for row in monitoring.feature_rows(
                    conn, fleet, window, version_id=vid, drifted_only=drifted_only
                )
            ]

    def trend(
        self, fleet: FleetRef, model_id: int, window_seconds: int | None = None
    ) -> list[dict[str, Any]]:
        """One model's figures across windows, oldest first."""
        with self._store.read() as conn:
            return monitoring.trend(conn, fleet, model_id, window_seconds)

    def rollup(self, fleet: FleetRef, window: Window, dim: str) -> list[dict[str, Any]]:
        with self._store.read() as conn:
            rows, keep = monitor_rollups.rollup(conn, fleet, window, dim)
        self._store.write_behind(keep)  # an old window's roll-ups, computed once
        return rows

    def version_metrics(
        self, fleet: FleetRef, version_ids: Sequence[int], names: Sequence[str]
    ) -> dict[tuple[int, str], float]:
        """Training metrics ``names`` of the versions, by (version id, name)."""
        with self._store.read() as conn:
            return monitoring.version_metrics(conn, fleet, version_ids, names)

    def window_figures(self, fleet: FleetRef, window: Window) -> list[str]:
        """The figures with a value in ``window`` of this fleet (sorted)."""
        with self._store.read() as conn:
            figures, keep = monitor_rollups.window_figures(conn, fleet, window)
        self._store.write_behind(keep)
        return figures
