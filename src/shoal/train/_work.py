"""The unit of work: one key's rows in, one saved model (or one error) out.

This is what an executor runs, in this process, in a worker process or on a Ray node,
so everything here is picklable and touches no store: the parent registers the results.
The model is saved by its flavor here, in the worker, so serialisation runs in parallel
with training and a model its flavor cannot save is that key's error, not a failed batch.

Each key's baseline profile also gets the summary of the model's in-sample predictions
(under :data:`shoal.data.PREDICTION`): the ones ``fn`` returned, or the flavor's
predictions on the key's rows when the model names inputs the rows hold. Monitoring tests
logged predictions against it. It is best effort: a model that cannot predict on its own
rows gets no such summary (monitoring then falls back to the target), never an error.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa

from shoal.data import PREDICTION, fingerprint, profile, profile_slices, value_summaries
from shoal.errors import InvalidInput, UnsafeArtifact
from shoal.flavors import Flavor, get_flavor, infer_flavor
from shoal.train._result import TrainResult, as_result


@dataclass(frozen=True)
class KeyRows:
    """One key of a task: its values, its rows ``start:stop`` of the task's rows, their
    fingerprint."""

    key: tuple[Any, ...]
    start: int
    stop: int
    fingerprint: str | None = None
    """Given when the driver hashed it; None: the worker hashes the key's rows itself."""


@dataclass(frozen=True)
class Task:
    """Consecutive keys of one partition sorted by key: rows ``offset:offset+length``.

    A task carries its whole partition plus a row range, not a copy: the Ray executor puts
    each partition in the object store once and sends tasks as offsets into it. Pickled
    (for a process pool), a task ships only its own rows, rebased to offset 0.
    """

    partition: pa.Table
    offset: int
    length: int
    keys: tuple[KeyRows, ...]

    @property
    def rows(self) -> pa.Table:
        return self.partition.slice(self.offset, self.length)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickling an Arrow slice copies its parent's whole buffers; Arrow IPC writes only
        # the rows in range (about 10 us either way for a batch of keys).
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, self.partition.schema) as writer:
            writer.write_table(self.rows)
        return (_task_from_ipc, (sink.getvalue(), self.length, self.keys))


def _task_from_ipc(data: pa.Buffer, length: int, keys: tuple[KeyRows, ...]) -> Task:
    return Task(pa.ipc.open_stream(data).read_all(), 0, length, keys)


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


@dataclass(frozen=True)
class Fitted:
    """What ``fn`` returned for one key, waiting to be saved with the task's other keys."""

    result: TrainResult
    attempts: int
    seconds: float


class Interrupted(KeyboardInterrupt):
    """Ctrl-C in the middle of a task, carrying the keys of it that had finished.

    In this process (``workers=1``) they are registered before the run is marked
    interrupted, so a stop keeps every finished key, not only finished tasks.
    """

    def __init__(self, outcomes: list[Outcome]) -> None:
        super().__init__()
        self.outcomes = outcomes

    def __reduce__(self) -> tuple[Any, ...]:
        return (Interrupted, (self.outcomes,))


class KeyTimeout(TimeoutError):
    """``fn`` ran past ``timeout_per_key`` on one key."""


@dataclass(frozen=True)
class Work:
    """Train a task's keys: call ``fn`` on each (with retries and a deadline), then save
    each model and gather its lineage (the keys' baselines are profiled together).

    Errors raised by ``fn`` are retried up to ``max_retries`` times; errors in what it
    returned (wrong type, a model its flavor cannot save) are not, because the same code
    on the same rows gives the same answer. ``KeyboardInterrupt`` is never caught.
    """

    fn: Callable[[Any], Any]
    max_retries: int = 1
    timeout: float | None = None
    allow_pickle: bool = False
    by: tuple[str, ...] = ()
    """The key columns: constant within a key, so left out of its baseline profile."""

    def __call__(self, task: Task) -> list[Outcome]:
        """Train every key of ``task``; one outcome per key, in order."""
        try:
            # One conversion for the task's keys: a pandas frame per key costs ~0.2 ms. Not
            # when an int or bool column has nulls: pandas would widen it (to float, to
            # object) for every key of the task, so a key's dtypes would depend on which
            # keys it shared a task with. Those tasks convert key by key.
            table = task.rows
            frame = None if widens(table) else table.to_pandas()
        except Exception as exc:
            trace = traceback.format_exc()
            error = f"the rows could not be converted to a pandas frame: {_text(exc)}"
            return [failed(rows.key, f"InvalidInput: {error}", trace, 0) for rows in task.keys]
        baselines = self._baselines(task)
        # Two phases: every key's fit, then every key's save. Interleaved, each library's
        # code evicts the other's from the CPU caches, which cost a tiny model ~0.3 ms.
        fits: list[Fitted | Outcome] = []
        outcomes: list[Outcome] = []
        try:
            for rows in task.keys:
                fits.append(self.fit(task, frame, rows))
        except KeyboardInterrupt as exc:
            # Keep what was fitted before the stop: save it, unless stopped again.
            with contextlib.suppress(KeyboardInterrupt):
                for rows, fit, baseline in zip(task.keys, fits, baselines, strict=False):
                    outcomes.append(self.finish(task, rows, fit, baseline))
            raise Interrupted(outcomes) from exc
        try:
            for rows, fit, baseline in zip(task.keys, fits, baselines, strict=True):
                outcomes.append(self.finish(task, rows, fit, baseline))
        except KeyboardInterrupt as exc:
            raise Interrupted(outcomes) from exc
        return self._with_predictions(task, frame, fits, outcomes)

    def fit(self, task: Task, frame: Any | None, rows: KeyRows) -> Fitted | Outcome:
        """Call ``fn`` on one key's rows of ``frame`` (the task's rows, converted once),
        with retries and the deadline: what it returned, or the key's error."""
        started = time.perf_counter()
        if rows.stop == rows.start:
            return failed(rows.key, "InvalidInput: this key has no rows to train on", "", 0)
        attempts = 0
        while True:
            attempts += 1
            try:
                if frame is None:
                    part = task.rows.slice(rows.start, rows.stop - rows.start).to_pandas()
                else:
                    part = key_frame(frame, rows.start, rows.stop)
                with deadline(self.timeout):
                    value = self.fn(part)
            except Exception as exc:
                if attempts <= self.max_retries:
                    continue
                return failed(rows.key, _text(exc), traceback.format_exc(), attempts, started)
            try:
                result = as_result(value)
                _check_predictions(result, rows.stop - rows.start)
            except Exception as exc:
                return failed(rows.key, _text(exc), traceback.format_exc(), attempts, started)
            return Fitted(result, attempts, time.perf_counter() - started)

    def finish(
        self, task: Task, rows: KeyRows, fit: Fitted | Outcome, baseline: dict[str, Any] | None
    ) -> Outcome:
        """Save a fitted key's model and gather its lineage; an error stays the key's.

        ``baseline`` is its rows' profile when the task's keys were profiled together.
        """
        if isinstance(fit, Outcome):
            return fit
        started = time.perf_counter() - fit.seconds  # the key's time includes its fit
        try:
            return self._saved(task, rows, fit.result, fit.attempts, started, baseline)
        except Exception as exc:
            return failed(rows.key, _text(exc), traceback.format_exc(), fit.attempts, started)

    def _saved(
        self, task: Task, rows: KeyRows, result: TrainResult, attempts: int, started: float,
        baseline: dict[str, Any] | None,
    ) -> Outcome:  # fmt: skip
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
            key=rows.key, attempts=attempts, seconds=time.perf_counter() - started,
            artifact=artifact, flavor=flavor.name,
            signature=found.to_dict() if found is not None else None,
            metrics=dict(result.metrics), params=dict(result.params), tags=dict(result.tags),
            baseline=baseline if baseline is not None else self._baseline(task, rows),
            slice_fingerprint=rows.fingerprint or fingerprint(self._own_rows(task, rows)),
        )  # fmt: skip

    def _baselines(self, task: Task) -> list[dict[str, Any] | None]:
        """Every key's baseline profile, computed together (about 0.2 ms a key less than
        one by one on tiny models). If that fails, each key profiles its own rows, so the
        error is reported against the key, like any other."""
        rows = task.rows
        try:
            table = rows.drop_columns([c for c in self.by if c in rows.column_names])
            return list(profile_slices(table, [(k.start, k.stop) for k in task.keys]))
        except Exception:
            return [None] * len(task.keys)

    def _baseline(self, task: Task, rows: KeyRows) -> dict[str, Any]:
        own = self._own_rows(task, rows)
        return profile(own.drop_columns([c for c in self.by if c in own.column_names]))

    @staticmethod
    def _own_rows(task: Task, rows: KeyRows) -> pa.Table:
        return task.partition.slice(task.offset + rows.start, rows.stop - rows.start)

    def _with_predictions(
        self, task: Task, frame: Any | None, fits: list[Fitted | Outcome], outcomes: list[Outcome]
    ) -> list[Outcome]:
        """``outcomes`` with the summary of each saved model's in-sample predictions added
        to its baseline (see the module doc); the task's keys are summarised together."""
        found: list[tuple[int, Any]] = []
        inputs = _Inputs(task, frame)
        for i, (rows, fit, outcome) in enumerate(zip(task.keys, fits, outcomes, strict=True)):
            if not isinstance(fit, Fitted) or not outcome.ok or outcome.baseline is None:
                continue
            values = fit.result.predictions
            if values is None:
                values = _in_sample(inputs, rows, fit.result.model, outcome)
            if values is not None:
                found.append((i, values))
        if not found:
            return outcomes
        try:
            summaries: list[dict[str, Any] | None] = list(
                value_summaries([values for _, values in found])
            )
        except Exception:  # one key's values Arrow cannot hold (mixed kinds): key by key
            summaries = [_summary(values) for _, values in found]
        out = list(outcomes)
        for (i, _), summary in zip(found, summaries, strict=True):
            if summary is not None:
                baseline = {**(out[i].baseline or {}), PREDICTION: summary}
                out[i] = replace(out[i], baseline=baseline)
        return out


def _summary(values: Any) -> dict[str, Any] | None:
    try:
        return value_summaries([values])[0]
    except Exception:
        return None


def _check_predictions(result: TrainResult, rows: int) -> None:
    """The in-sample predictions ``fn`` returned are one value per row of the key."""
    values = result.predictions
    if values is None:
        return
    shape = getattr(values, "shape", None)
    length = len(values) if hasattr(values, "__len__") else None
    if length != rows or (shape is not None and len(shape) != 1):
        raise InvalidInput(
            f"fn returned predictions of shape {shape or length}; give one prediction per "
            f"row of the key ({rows}), in the rows' order, or leave predictions out",
            field="predictions",
        )


class _Inputs:
    """A task's rows as a model's input frame, per key: ``fn``'s rows cut to the columns
    the model names, in its order.

    Where those columns are all numbers or booleans without nulls (most per-key models),
    they are stacked once per task into one float matrix, and each key's frame is a view
    of its rows: cutting a pandas frame's columns for every key would cost more than
    predicting with a small model.
    """

    def __init__(self, task: Task, frame: Any | None) -> None:
        self.task = task
        self.frame = frame
        self.columns = set(task.rows.column_names)
        self.matrices: dict[tuple[str, ...], tuple[np.ndarray, Any] | None] = {}

    def of(self, rows: KeyRows, names: list[str]) -> Any | None:
        """The key's input frame, or None when its rows lack one of ``names``."""
        if not set(names) <= self.columns:
            return None
        key = tuple(names)
        if key not in self.matrices:
            self.matrices[key] = self._matrix(names)
        stacked = self.matrices[key]
        if stacked is not None:
            import pandas as pd

            matrix, index = stacked  # the column index built once: pandas 3 makes it slowly
            return pd.DataFrame(matrix[rows.start : rows.stop], columns=index, copy=False)
        if self.frame is None:
            part = self.task.rows.slice(rows.start, rows.stop - rows.start).to_pandas()
        else:
            part = key_frame(self.frame, rows.start, rows.stop)
        return part[names]

    def _matrix(self, names: list[str]) -> tuple[np.ndarray, Any] | None:
        import pandas as pd

        table = self.task.rows
        columns = [table[name] for name in names]
        kinds = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean)
        if any(c.null_count or not any(k(c.type) for k in kinds) for c in columns):
            return None
        # Column-major, as pandas holds a frame's float columns: a model then multiplies in
        # the same order as on fn's own frame, so the predictions are equal to the bit.
        matrix = np.empty((table.num_rows, len(names)), dtype=np.float64, order="F")
        for j, column in enumerate(columns):
            matrix[:, j] = column.to_numpy()
        return matrix, pd.Index(names)


def _in_sample(inputs: _Inputs, rows: KeyRows, model: Any, outcome: Outcome) -> Any | None:
    """The flavor's predictions on the key's rows, where the model names its inputs and
    the rows hold them all; None otherwise or if predicting fails (best effort: a model
    whose inputs ``fn`` computed has nothing to predict on here)."""
    described = (outcome.signature or {}).get("inputs") or ()
    names = [str(i.get("name")) for i in described if isinstance(i, dict)]
    if not names or outcome.flavor is None:
        return None
    try:
        part = inputs.of(rows, names)
        if part is None:
            return None
        flavor: Flavor = get_flavor(outcome.flavor)
        values = np.asarray(flavor.predict_in_sample(model, part))
    except Exception:
        return None
    return values if values.ndim == 1 and len(values) == rows.stop - rows.start else None


def key_frame(frame: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of a pandas ``frame`` as a frame of their own, indexed from 0.

    ``fn`` may change its frame without touching its neighbours', and a retry must get the
    rows as they were. Under copy-on-write (always on in pandas 3) a slice with a fresh
    index is that, without copying (about 0.1 ms a key less than ``reset_index``); older
    pandas shares a slice's data, so there the rows are copied.
    """
    part = frame.iloc[start:stop]
    if not _copy_on_write():
        return part.reset_index(drop=True)
    part.index = range(stop - start)
    return part


@functools.cache
def _copy_on_write() -> bool:
    import pandas as pd

    return int(pd.__version__.split(".", 1)[0]) >= 3


def widens(table: pa.Table) -> bool:
    """Whether pandas would change an int or bool column's dtype because of its nulls."""
    return any(
        column.null_count and (pa.types.is_integer(column.type) or pa.types.is_boolean(column.type))
        for column in table.columns
    )


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
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if seconds is None or not usable:
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
