"""Runs: one unit of work over a fleet (train, evaluate, monitor), its counts and failures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shoal import config
from shoal.errors import InvalidInput
from shoal.registry._part import Part
from shoal.registry.lineage import code_ref
from shoal.store import run_failures
from shoal.store import runs as store_runs
from shoal.store.run_failures import Failure
from shoal.store.tenancy import FleetRef, Scope


@dataclass(frozen=True)
class Reopened:
    """A train run taken up again: the keys it already trained and the counts to carry on."""

    run_id: int
    trained: set[str]
    counts: dict[str, Any]


class Runs(Part):
    """Runs of the fleets a scope may see."""

    def start(
        self,
        fleet: FleetRef,
        kind: str,
        *,
        params: dict[str, Any] | None = None,
        counts: dict[str, Any] | None = None,
        actor: str | None = None,
        with_code_ref: bool = True,
    ) -> int:
        """Open a ``running`` run of ``fleet``; returns its id."""
        with self._store.write() as conn:
            run_id = store_runs.create(
                conn, fleet, kind, actor=actor or config.actor(), params=params,
                code_ref=code_ref() if with_code_ref else None,
            )  # fmt: skip
            if counts is not None:
                store_runs.update_counts(conn, run_id, counts)
        return run_id

    def reopen_training(self, fleet: FleetRef, run_id: int, counts: dict[str, Any]) -> Reopened:
        """Take train run ``run_id`` of ``fleet`` up again: what it trained, its new counts."""
        with self._store.write() as conn:
            run = store_runs.get(conn, Scope(fleet.tenant), run_id)
            if run["fleet_id"] != fleet.id or run["kind"] != "train":
                raise InvalidInput(
                    f"run {run_id} is a {run['kind']!r} run of fleet "
                    f"'{run['tenant']}/{run['fleet']}'; resume takes a train run of "
                    f"'{fleet.path}'",
                    field="resume",
                )
            trained = run_failures.trained_keys(conn, run_id)
            before = run["counts"] or {}
            counts = {
                **counts, "done": len(trained), "failed": run_failures.count(conn, run_id),
                "resumes": int(before.get("resumes", 0)) + 1,
                "seconds_before": float(before.get("seconds", 0.0)),
            }  # fmt: skip
            store_runs.reopen(conn, run_id, counts)
        return Reopened(run_id, trained, counts)

    def record_progress(
        self,
        run_id: int,
        counts: dict[str, Any],
        *,
        failures: Sequence[Failure] = (),
        trained_again: Sequence[str] = (),
    ) -> int:
        """Record new failures, forget failures of keys that trained now, store ``counts``
        with the run's failure count; one transaction. Returns the failure count."""
        with self._store.write() as conn:
            if trained_again:
                run_failures.forget(conn, run_id, list(trained_again))
            if failures:
                run_failures.record(conn, run_id, failures)
            counts["failed"] = run_failures.count(conn, run_id)
            store_runs.update_counts(conn, run_id, counts)
        return int(counts["failed"])

    def finish(
        self,
        scope: Scope,
        run_id: int,
        status: str = "succeeded",
        *,
        counts: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        with self._store.write() as conn:
            store_runs.finish(conn, scope, run_id, status, counts=counts, error=error)

    def get(self, scope: Scope, run_id: int) -> dict[str, Any]:
        with self._store.read() as conn:
            return store_runs.get(conn, scope, run_id)

    def get_with_failures(
        self, scope: Scope, run_id: int, limit: int = 100
    ) -> tuple[dict[str, Any], list[Failure]]:
        """A run and its first ``limit`` per-key failures, read together."""
        with self._store.read() as conn:
            row = store_runs.get(conn, scope, run_id)
            return row, run_failures.listing(conn, run_id, limit=limit)

    def list(
        self, fleet: FleetRef, limit: int = 50, before: int | None = None
    ) -> list[dict[str, Any]]:
        """The fleet's runs, newest first (``limit`` of them with an id below ``before``)."""
        with self._store.read() as conn:
            return store_runs.list_runs(conn, fleet, limit, before)
