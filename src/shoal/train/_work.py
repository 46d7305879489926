"""The unit of work: one key's rows in, one saved model (or one error) out.

This is what an executor runs, in this process, in a worker process or on a Ray node,
so everything here is picklable and touches no store: the parent registers the results.
The model is saved by its flavor here, in the worker, so serialisation runs in parallel
with training and a model its flavor cannot save is that key's error, not a failed batch.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from shoal.data import profile
from shoal.errors import InvalidInput, UnsafeArtifact
from shoal.flavors import get_flavor, infer_flavor
from shoal.train._result import TrainResult, as_result


@dataclass(frozen=True)
class Task:
    """One key's rows, and the fingerprint of exactly those rows."""

    key: tuple[Any, ...]
    table: pa.Table
    slice_fingerprint: str


@dataclass(frozen=True)
class Outcome:
    """What training one key gave: an artifact to register, or an error to record."""

    key: tuple[Any, ...]
    attempts: int
    seconds: float
    artifact: bytes | None = None
    flavor: str | None = None
    signature: dict[str, Any] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] | None = None
    slice_fingerprint: str | None = None
    error: str | None = None
    traceback: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class KeyTimeout(TimeoutError):
    """``fn`` ran past ``timeout_per_key`` on one key."""


@dataclass(frozen=True)
class Work:
    """Train one key: call ``fn`` (with retries and a deadline), save, profile.

    Errors raised by ``fn`` are retried up to ``max_retries`` times; errors in what it
    returned (wrong type, a model its flavor cannot save) are not, because the same code
    on the same rows gives the same answer. ``KeyboardInterrupt`` is never caught.
    """

    fn: Callable[[Any], Any]
    max_retries: int = 1
    timeout: float | None = None
    allow_pickle: bool = False

    def __call__(self, task: Task) -> Outcome:
        started = time.perf_counter()
        if task.table.num_rows == 0:
            return failed(task.key, "InvalidInput: this key has no rows to train on", "", 0)
        attempts = 0
        while True:
            attempts += 1
            try:
                frame = task.table.to_pandas()
                with deadline(self.timeout):
                    value = self.fn(frame)
            except Exception as exc:
                if attempts <= self.max_retries:
                    continue
                return failed(task.key, _text(exc), traceback.format_exc(), attempts, started)
            try:
                return self._saved(task, as_result(value), attempts, started)
            except Exception as exc:
                return failed(task.key, _text(exc), traceback.format_exc(), attempts, started)

    def _saved(self, task: Task, result: TrainResult, attempts: int, started: float) -> Outcome:
        model = result.model
        flavor = get_flavor(result.flavor) if result.flavor else infer_flavor(model)
        if flavor.capabilities.needs_pickle and not self.allow_pickle:
            raise UnsafeArtifact(
                f"the {flavor.name!r} flavor needs pickle, which this fleet does not allow; "
                "return a model a safe flavor saves (sklearn, lightgbm, linear)",
                field="flavor",
            )
        try:
            artifact = flavor.save(model)
            found = flavor.signature(model)
        except Exception as exc:
            raise InvalidInput(
                f"the {flavor.name!r} flavor could not save the {type(model).__name__} model: "
                f"{_text(exc)}",
                field="model",
            ) from exc
        return Outcome(
            key=task.key, attempts=attempts, seconds=time.perf_counter() - started,
            artifact=artifact, flavor=flavor.name,
            signature=found.to_dict() if found is not None else None,
            metrics=dict(result.metrics), params=dict(result.params), tags=dict(result.tags),
            baseline=profile(task.table), slice_fingerprint=task.slice_fingerprint,
        )  # fmt: skip


def failed(
    key: tuple[Any, ...], error: str, trace: str, attempts: int, started: float | None = None
) -> Outcome:
    seconds = 0.0 if started is None else time.perf_counter() - started
    return Outcome(key=key, attempts=attempts, seconds=seconds, error=error, traceback=trace)


def _text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Raise :class:`KeyTimeout` in this thread after ``seconds`` (POSIX, main thread).

    Uses ``SIGALRM``, the one way to interrupt Python code without a thread per key; where
    that is not available (Windows, a non-main thread) the limit is not enforced.
    """
    usable = (
        seconds is not None
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def _expire(signum: int, frame: Any) -> None:
        raise KeyTimeout(f"the key took longer than timeout_per_key={seconds} s")

    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
