"""The steps every fleet of the demo shares: notice it is built, train it, say so.

Why a fleet counts as built: datasets are content addressed, so registering the same
generated frame again returns the same record, and when that record has already trained
versions there is nothing new to learn from it. One indexed query answers that.

Training itself is ``fleet.train``: it registers the input as a dataset (the same record
as the one registered here, since the name and content match), opens the run, records
every version's dataset, slice fingerprint and baseline profile, and closes the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shoal.demo.progress import Reporter
from shoal.sdk.client import Client
from shoal.sdk.fleet import Fleet
from shoal.sdk.results import Dataset, EvalResult


@dataclass(frozen=True)
class FleetBuild:
    """What one training run of the demo did: its run, dataset, counts and seconds.

    ``seconds`` is the run's training time (or, when ``already_built``, the time it took
    to find that out); ``evaluation`` is how its versions scored on a holdout, if they were.
    """

    fleet: str
    dataset: Dataset
    run_id: int | None
    registered: int
    failed: int
    seconds: float
    already_built: bool = False
    evaluation: EvalResult | None = None


def already_built(client: Client, dataset: Dataset) -> bool:
    """Whether this exact dataset has trained any version yet (one indexed query)."""
    return bool(client.datasets.models(dataset, limit=1))


def built(fleet: str, dataset: Dataset, reporter: Reporter, started: float) -> FleetBuild:
    """The record of a fleet found built and left alone, and the line that says so."""
    reporter.note(
        f"{fleet}: already built from dataset {dataset.id} ({dataset.fingerprint[:12]}); "
        "--retrain trains new versions"
    )
    return FleetBuild(fleet, dataset, None, 0, 0, time.perf_counter() - started, True)


def train(
    client: Client,
    fleet: Fleet,
    data: Any,
    fn: Callable[[Any], Any],
    dataset_name: str,
    reporter: Reporter,
    what: str,
    *,
    workers: int | None = None,
) -> FleetBuild:
    """``fleet.train`` ``fn`` on ``data`` (recorded as dataset ``dataset_name``); say what it did.

    The build names the dataset the run recorded, read back by id, so the summary shows
    exactly what every version of the run points at.
    """
    run = fleet.train(
        data, fn, workers=workers, dataset_name=dataset_name, progress=reporter.progress
    )
    failed = f", {run.failed:,} failed (shoal run show {run.id})" if run.failed else ""
    seconds = run.seconds or 0.0  # a training run always records its seconds
    reporter.note(
        f"{fleet.path}: run {run.id} trained {run.done:,} {what} in {seconds:.1f} s{failed}"
    )
    dataset = client.datasets.get(run.dataset_id or 0)  # fleet.train always records one
    return FleetBuild(fleet.path, dataset, run.id, run.done or 0, run.failed or 0, seconds)
