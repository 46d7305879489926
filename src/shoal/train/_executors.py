"""Executors: where the per-key work runs. One small seam, backends chosen by name.

The contract (what :class:`Executor` subclasses promise):

- ``map_unordered(work, tasks)`` calls ``work(task)`` once for every task and yields each
  return value as soon as it is ready, in any order. It draws ``tasks`` lazily, with a
  bounded number in flight, so a fleet streamed partition by partition is never held in
  memory whole.
- An exception that escapes ``work`` (``work`` itself turns ordinary errors into
  outcomes, so in practice ``KeyboardInterrupt``) leaves the iterator; tasks not started
  are dropped.
- ``start()`` acquires the workers (a pool, a cluster connection); after it,
  ``parallelism`` (how many tasks run at once) is final, and tasks are sized from it.
- ``check(work)`` refuses, before anything runs, work the backend cannot ship (a ``fn``
  closing over a lock or an open file, for worker processes).
- ``close()`` (or leaving a ``with`` block) releases workers.

:class:`InProcessExecutor` is the reference implementation and the test double: it runs
every task in the calling thread, in order, so lambdas and closures work and tracebacks
are plain. Backends are registered by name (:func:`register_executor`) as dotted paths
imported when first used, the same way an outside package would add one.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.context import BaseContext
from typing import Any

from shoal import config
from shoal.errors import InvalidInput, ShoalError
from shoal.train._functions import Shipper


class Executor:
    """Runs a callable over tasks and yields the results as they complete (see module doc)."""

    name = "executor"
    parallelism = 1
    """How many tasks run at once: sizes tasks so that every worker gets some."""

    def check(self, work: Callable[[Any], Any]) -> None:
        """Refuse work this backend cannot run; the default accepts anything."""

    def start(self) -> None:
        """Acquire workers; the default needs none."""

    def map_unordered(self, work: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        raise NotImplementedError

    def close(self) -> None:
        """Release workers; the default holds none."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InProcessExecutor(Executor):
    """Every task in the calling thread, one after another: the test double, ``workers=1``."""

    name = "in-process"

    def map_unordered(self, work: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        for task in tasks:
            yield work(task)


class ProcessExecutor(Executor):
    """A pool of ``workers`` processes on this machine (``concurrent.futures``).

    At most ``2 * workers`` tasks are in flight, so memory stays bounded by the partition
    being read plus the tasks queued, whatever the fleet's size.

    ``work`` is pickled once by cloudpickle (:func:`~shoal.train._functions.ship`), so a
    lambda, a closure or a function of ``__main__`` trains as well as a module-level one;
    each worker loads it once. Workers start with ``start_method`` (default: the
    ``SHOAL_START_METHOD`` setting, else ``forkserver`` where the platform has it, else
    ``spawn``): never a plain ``fork`` of a driver that holds threads and connections.
    The fork server preloads :data:`PRELOAD`, so each worker starts with them imported.
    """

    name = "local"

    def __init__(self, workers: int, start_method: str | None = None) -> None:
        self.workers = workers
        self.parallelism = workers
        self.start_method = start_method
        self._pool: ProcessPoolExecutor | None = None
        self._ship = Shipper()

    def check(self, work: Callable[[Any], Any]) -> None:
        self._ship(work)
        self._context()

    def start(self) -> None:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=self._context())

    def _context(self) -> BaseContext:
        """The start method's context, refused up front if this platform lacks it."""
        method = self.start_method or config.start_method()
        if method not in multiprocessing.get_all_start_methods():
            raise InvalidInput(
                f"start method {method!r} is not available here; choose one of "
                f"{multiprocessing.get_all_start_methods()} ({config.START_METHOD.env})",
                field="start_method",
            )
        context = multiprocessing.get_context(method)
        if method == "forkserver":  # read when the server starts: once per driver process
            context.set_forkserver_preload(list(PRELOAD))
        return context

    def map_unordered(self, work: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        shipped = self._ship(work)
        self.start()
        assert self._pool is not None
        pending: set[Future[Any]] = set()
        source = iter(tasks)
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < 2 * self.workers:
                    task = next(source, _END)
                    if task is _END:
                        exhausted = True
                    else:
                        pending.add(self._pool.submit(shipped, task))
                if not pending:
                    return
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        except BrokenProcessPool as exc:
            method = self.start_method or config.start_method()
            raise ShoalError(
                f"a worker process exited abruptly ({exc}). "
                + ("" if method == "fork" else
                   f"With start method {method!r} each worker imports the main script, so a "
                   "script must train under 'if __name__ == \"__main__\":'. ")
                + "A worker is also killed when memory runs out: train with fewer workers"
            ) from exc  # fmt: skip
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        self._ship.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


_END = object()

PRELOAD = ("__main__", "shoal.train._work", "skops.io")
"""What the fork server imports once, so forked workers start with it: the main module
(as ``spawn`` would import it), the per-key work with what it uses (pyarrow, pandas,
Shoal's data and flavors) and skops, which the sklearn flavor saves with (about 1.5 s a
worker otherwise, on its first save). Never the module of ``fn``: the fork server lives as
long as the driver process, and a user's module edited (and reloaded) between two runs of
a notebook must train as edited, so each pool's workers import it afresh."""


def local_executor(workers: int | None) -> Executor:
    """``"local"``: in this process with ``workers=1``, else a process pool (default: CPUs)."""
    count = (os.cpu_count() or 1) if workers is None else workers
    return InProcessExecutor() if count == 1 else ProcessExecutor(count)


_BACKENDS: dict[str, str | Callable[[int | None], Executor]] = {
    "local": "shoal.train._executors:local_executor",
    "in-process": "shoal.train._executors:_in_process",
    "ray": "shoal.train._ray:ray_executor",
}


def _in_process(workers: int | None) -> Executor:
    return InProcessExecutor()


def register_executor(name: str, factory: str | Callable[[int | None], Executor]) -> None:
    """Make ``executor=name`` available: a factory ``(workers) -> Executor``, or its dotted path.

    A dotted path (``"package.module:factory"``) is imported on first use, so an optional
    backend costs nothing until chosen.
    """
    _BACKENDS[name] = factory


def get_executor(executor: str | Executor, workers: int | None) -> Executor:
    """The executor named ``executor`` (or the instance given), sized for ``workers``."""
    if isinstance(executor, Executor):
        return executor
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):  # fmt: skip
        raise InvalidInput(f"workers must be an int >= 1, got {workers!r}", field="workers")
    factory = _BACKENDS.get(executor) if isinstance(executor, str) else None
    if factory is None:
        raise InvalidInput(
            f"executor {executor!r} is unknown; choose one of {sorted(_BACKENDS)} or pass an "
            "shoal.train.Executor instance",
            field="executor",
        )
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        factory = getattr(importlib.import_module(module), attr)
    return factory(workers)
