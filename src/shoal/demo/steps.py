"""The steps every training pass of the demo shares: skip, register, close the run.

Why a fleet counts as built: datasets are content addressed, so registering the same
generated frame again returns the same record, and when that record has already trained
versions there is nothing new to learn from it. One indexed query answers that.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from shoal.demo.progress import Reporter
from shoal.sdk.client import Client
from shoal.sdk.fleet import Fleet
from shoal.sdk.results import Dataset, Registered


@dataclass(frozen=True)
class FleetBuild:
    """What one training pass did: its run, its dataset, how many versions it registered."""

    fleet: str
    dataset: Dataset
    run_id: int | None
    registered: int
    failed: int
    seconds: float
    already_built: bool = False


def already_built(client: Client, dataset: Dataset) -> bool:
    """Whether this exact dataset has trained any version yet (one indexed query)."""
    return bool(client.datasets.models(dataset, limit=1))


def register_all(
    fleet: Fleet, specs: list[dict[str, Any]], reporter: Reporter, what: str, run_id: int
) -> list[Registered]:
    """Register a whole training pass in one bulk call, and say how long it took."""
    started = time.perf_counter()
    placed = fleet.register(specs)
    elapsed = time.perf_counter() - started
    reporter.note(
        f"{fleet.path}: registered {len(placed):,} {what} in one call "
        f"({elapsed:.1f} s, run {run_id})"
    )
    return placed


def built_note(fleet: str, dataset: Dataset) -> str:
    """The line that says a fleet was found built and left alone."""
    return (
        f"{fleet}: already built from dataset {dataset.id} ({dataset.fingerprint[:12]}); "
        "--retrain registers new versions"
    )


def finish(client: Client, run_id: int, registered: int, failed: int, rows: int) -> None:
    """Close a run as succeeded, with the counts the run page shows."""
    counts = {"registered": registered, "failed": failed, "rows": rows}
    client.finish_run(run_id, "succeeded", counts=counts)


def fail(client: Client, run_id: int, exc: BaseException) -> None:
    """Close a run that raised: ``interrupted`` on Ctrl-C, else ``failed`` with the error."""
    status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
    client.finish_run(run_id, status, error=f"{type(exc).__name__}: {exc}")
