"""The run's book-keeping: results registered in bulk batches, failures, counts, status.

Why batches: one ``register`` call per model is a transaction per model (what makes other
trackers slow at a fleet's scale); one call at the end loses everything to a crash at 90%.
A batch is registered when ``batch_size`` results are waiting or ``flush_seconds`` have
passed, each batch one all-or-nothing ``register`` call, so a crash loses at most one
batch and never leaves half of one. Each result is validated on its own first (the same
checks ``register`` makes), so one bad metric name fails its key, not its batch.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

from shoal import faults
from shoal.errors import ShoalError
from shoal.registry import Failure, FleetRef, Lease, LeaseKeeper, Registry, Scope, key_text
from shoal.registry.records import Prepared
from shoal.train._work import Outcome, failed


class RunBook:
    """Collects outcomes of one run and writes them down in batches."""

    def __init__(
        self, registry: Registry, fleet: FleetRef, run_id: int, *, dataset_id: int,
        batch_size: int, flush_seconds: float, counts: dict[str, Any], resuming: bool = False,
        lease: Lease | None = None,
    ) -> None:  # fmt: skip
        self.registry = registry
        self.fleet = fleet
        self.run_id = run_id
        self.dataset_id = dataset_id
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.counts = counts
        self.resuming = resuming
        self.lease = lease
        """The run's lease: every write below checks this process still holds the run."""
        self.keeper: LeaseKeeper | None = None
        """The thread renewing ``lease``; a take-over it found is raised at the next key."""
        self.pending: list[Prepared] = []
        self.failures: list[Failure] = []
        self.key_seconds: list[float] = []
        self.last_flush = time.monotonic()
        self.started = time.perf_counter()
        self.preparer = registry.versions.preparer(fleet)

    def add(self, outcome: Outcome) -> bool:
        """Take one key's outcome; returns whether it failed. Flushes when a batch is due.

        Raises :class:`~shoal.errors.Conflict` once another process took the run over."""
        if self.keeper is not None:
            self.keeper.check()
        self.key_seconds.append(outcome.seconds)
        if outcome.ok:
            try:
                prepared = self.preparer.prepare(self._spec(outcome), 0)
            except ShoalError as exc:
                outcome = failed(outcome.key, f"{type(exc).__name__}: {exc}", "",
                                 outcome.attempts)  # fmt: skip
            else:
                self.pending.append(prepared)
        if not outcome.ok:
            self.failures.append(
                Failure(key_text(_strings(outcome.key)), outcome.error or "",
                        outcome.traceback or "", outcome.attempts)
            )  # fmt: skip
        if len(self.pending) + len(self.failures) >= self.batch_size or (
            time.monotonic() - self.last_flush >= self.flush_seconds
        ):
            self.flush()
        return not outcome.ok

    def _spec(self, outcome: Outcome) -> dict[str, Any]:
        return {
            "key": dict(zip(self.fleet.keys, _strings(outcome.key), strict=True)),
            "artifact": outcome.artifact, "flavor": outcome.flavor,
            "signature": outcome.signature, "metrics": outcome.metrics,
            "params": outcome.params, "tags": outcome.tags, "run": self.run_id,
            "dataset": self.dataset_id, "slice_fingerprint": outcome.slice_fingerprint,
            "baseline": outcome.baseline,
        }  # fmt: skip

    def flush(self) -> None:
        """Register the waiting results in one call, then record failures and counts."""
        self.last_flush = time.monotonic()
        trained: list[str] = []
        if self.pending:
            placed = self.registry.versions.register_prepared(
                self.fleet, self.pending, lease=self.lease
            )
            faults.point("train.batch_registered")
            self.counts["done"] += len(placed)
            trained = [key_text(spot.key) for spot in placed]
            self.pending = []
        self._timings()
        self.registry.runs.record_progress(
            self.run_id, self.counts, failures=self.failures,
            trained_again=trained if self.resuming else (),  # keys that failed before
            lease=self.lease,
        )  # fmt: skip
        self.failures = []

    def finish(self, status: str, error: str | None = None) -> None:
        self._timings()
        self.registry.runs.finish(Scope(self.fleet.tenant), self.run_id, status,
                                  counts=self.counts, error=error, lease=self.lease)  # fmt: skip

    def _timings(self) -> None:
        elapsed = time.perf_counter() - self.started
        self.counts["seconds"] = round(self.counts.get("seconds_before", 0.0) + elapsed, 3)
        if self.key_seconds:
            self.counts["key_seconds_p50"] = round(statistics.median(self.key_seconds), 6)
            self.counts["key_seconds_max"] = round(max(self.key_seconds), 6)


def _strings(key: Sequence[Any]) -> tuple[str, ...]:
    return tuple(str(value) for value in key)


def key_strings(key: Sequence[Any]) -> tuple[str, ...]:
    """A key's values as the registry stores them (text)."""
    return _strings(key)
