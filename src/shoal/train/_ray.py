"""The Ray executor: the same ``fn`` on a Ray cluster, data passed by partition.

How data travels: each partition (already sorted by key, see :class:`~shoal.train._work.Task`)
is put in Ray's object store once, and every task of it is sent as an object reference
plus a row range. Workers on the node that holds the partition read it from shared memory
without a copy (Arrow buffers are stored out of band); other nodes fetch it once. What comes
back is small: the saved model bytes, metrics and the key's baseline. The store is only
ever written by the driver, which registers results in batches as they arrive, exactly as
with the local executors.

Where Ray runs: see :mod:`shoal.cluster` (an initialised Ray, else ``RAY_ADDRESS``, else
a local cluster of ``workers`` CPUs, shut down when training ends).
``workers`` caps how many tasks run at once; each task takes one CPU.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pyarrow as pa

from shoal.cluster import import_ray, join_ray
from shoal.train._executors import Executor
from shoal.train._functions import Shipped, Shipper
from shoal.train._work import KeyRows, Task


def ray_executor(workers: int | None) -> Executor:
    """``executor="ray"``: import Ray (an optional extra) and size the executor."""
    import_ray()
    return RayExecutor(workers)


class RayExecutor(Executor):
    """Runs tasks as Ray remote calls, at most ``2 * workers`` in flight."""

    name = "ray"

    def __init__(self, workers: int | None) -> None:
        self.requested = workers
        self.workers = workers  # None: every CPU of the cluster
        self.parallelism = workers or (os.cpu_count() or 1)
        self._started = False
        self._ship = Shipper()

    def check(self, work: Callable[[Any], Any]) -> None:
        """Refuse a ``fn`` that cannot be pickled, as the local process pool does."""
        self._ship(work)

    def start(self) -> None:
        """Join (or start) the Ray cluster; ``parallelism`` is then its CPUs, or ``workers``."""
        ray = import_ray()
        self._started = join_ray(self.requested) or self._started
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = min(self.requested, cpus) if self.requested else cpus
        self.parallelism = max(self.workers, 1)

    def map_unordered(self, work: Callable[[Any], Any], tasks: Iterable[Task]) -> Iterator[Any]:
        import ray

        if not ray.is_initialized():
            self.start()
        remote = ray.remote(num_cpus=1)(_run_task)
        # Shipped as the local pool ships it: pickled once here, loaded once per worker.
        work_ref = ray.put(self._ship(work))
        shared: tuple[pa.Table, Any] | None = None  # the partition in the object store
        pending: list[Any] = []
        source = iter(tasks)
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < self._in_flight():
                    task = next(source, None)
                    if task is None:
                        exhausted = True
                        break
                    if shared is None or shared[0] is not task.partition:
                        shared = (task.partition, ray.put(task.partition))
                    pending.append(
                        remote.remote(work_ref, shared[1], task.offset, task.length, task.keys)
                    )
                if not pending:
                    return
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    yield ray.get(ref)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def _in_flight(self) -> int:
        """Tasks submitted at once. With ``workers`` given, exactly that many, so a cluster
        with more CPUs never runs more (``workers`` is a cap); otherwise twice the cluster's
        CPUs, so each CPU has the next task waiting when it finishes one."""
        return self.parallelism if self.requested else 2 * self.parallelism

    def close(self) -> None:
        self._ship.clear()
        if self._started:
            import ray

            ray.shutdown()
            self._started = False


def _run_task(
    work: Shipped, partition: pa.Table, offset: int, length: int, keys: tuple[KeyRows, ...]
) -> Any:
    """On a Ray worker: rebuild the task around the shared partition and run it."""
    return work(Task(partition, offset, length, keys))
