"""Scoring parts as Ray tasks: the same ``score_part``, one task per part, on a cluster.

What travels: the resolved versions and the artifact store go to the object store once
(``ray.put``) and are read once per worker process (kept by run id), not once per task;
each task gets its part's location (a file every worker can read: a shared path or any
fsspec URL such as ``s3://``) or, for a frame, its slice. Each task writes its own output
file and log files and returns figures; the scored rows come back only when the caller
keeps them in memory. The store is only written by the driver.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shoal.artifacts import ArtifactStore
from shoal.cluster import import_ray, join_ray
from shoal.score._input import Part
from shoal.score._part import Job, Models, PartResult, score_part

DRAIN_SECONDS = 60.0
"""How long a failing run waits for the parts already running to finish."""
_WORKER: dict[int, tuple[Mapping[tuple[str, ...], Any], Models]] = {}
"""Per worker process: the run's versions and its model cache, by run id."""


def run_parts(
    job: Job, parts: list[Part], versions: Mapping[tuple[str, ...], Any],
    artifacts: ArtifactStore, workers: int | None, record: Callable[[PartResult], None],
) -> None:  # fmt: skip
    """Score ``parts`` as Ray tasks (at most ``workers`` at once; default every CPU),
    handing each result to ``record``. On a failure or Ctrl-C, the tasks submitted are
    given :data:`DRAIN_SECONDS` to finish and be recorded, so a resume skips what they
    wrote; only then are the rest stopped (a resume redoes them, replacing their logs)."""
    ray = import_ray()
    started = join_ray(workers)
    pending: list[Any] = []
    try:
        remote = ray.remote(num_cpus=1)(_score)
        shared = ray.put((dict(versions), artifacts))
        job_ref = ray.put(job)
        limit = workers or max(int(ray.cluster_resources().get("CPU", 1)), 1)
        waiting = list(parts)
        try:
            while waiting or pending:
                while waiting and len(pending) < 2 * limit:
                    pending.append(remote.remote(job_ref, waiting.pop(0), [shared]))
                done, pending = ray.wait(pending, num_returns=1)
                for result in ray.get(done):
                    record(result)
        except BaseException:
            finished, pending = ray.wait(pending, num_returns=len(pending),
                                         timeout=DRAIN_SECONDS)  # fmt: skip
            for ref in finished:
                try:
                    record(ray.get(ref))
                except Exception:
                    continue
            raise
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


def _score(job: Job, part: Part, shared: list[Any]) -> PartResult:
    """On a worker: the run's versions and models (fetched once per process), then the part."""
    found = _WORKER.get(job.run_id)
    if found is None:
        import ray

        versions, artifacts = ray.get(shared[0])
        _WORKER.clear()  # one run at a time per worker: an older run's models are done with
        found = _WORKER[job.run_id] = (versions, Models(artifacts, job.allow_pickle))
    return score_part(job, part, found[0], found[1])
