"""``train_fleet``: one function trained for every key of a fleet, with lineage and a run.

The order of work:

1. Refuse what cannot work before anything runs: a key column missing from the data, a
   ``fn`` the executor cannot ship, a resume of another fleet's run.
2. Register the input as a dataset, open the run (kind ``train``, code reference) or
   reopen the one being resumed.
3. Stream partitions; group each by key in one pass (:func:`shoal.data.key_groups`
   sorts the rows by key once and fingerprints every key's slice); cut the keys into
   tasks of consecutive keys (:class:`ChunkPlan` sizes them from what a key costs); hand
   the tasks to the executor; register results in batches as they arrive
   (:class:`RunBook`).
4. Close the run: ``succeeded`` when every key trained, ``failed`` when some key did not
   (its error and traceback are in the run; resume retrains it), ``interrupted`` on
   Ctrl-C, with every finished batch kept.

Resume continues the *same* run (same id, same lineage, counts carried on), and trains
the keys that have no version from it yet: failed keys, and keys never reached.

The process holds its run by a lease (:class:`shoal.registry.Lease`) from step 2 to
step 4: a thread renews it, and each batch, progress write and the final status checks
it in its own transaction. A second resume while the holder lives is refused (naming the
holder) unless it takes the run over, and then the first process's next write is
refused: every key gets one version from the run, whoever trained it.
"""

from __future__ import annotations

import contextlib
import json
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shoal import config
from shoal.data import key_groups
from shoal.errors import InvalidInput
from shoal.registry import FleetRef, Lease, Registry, key_text, key_value_problem, new_holder
from shoal.train._book import RunBook, key_strings
from shoal.train._executors import Executor
from shoal.train._functions import function_ref
from shoal.train._lineage import register_input
from shoal.train._plan import ChunkPlan
from shoal.train._progress import Reporter, reporter
from shoal.train._source import Source, open_source
from shoal.train._work import Task, Work, failed


@dataclass(frozen=True)
class TrainOptions:
    """How to train: which columns hold the keys, retries, limits, batching, naming."""

    by: tuple[str, ...]
    max_retries: int = 1
    timeout_per_key: float | None = None
    batch_size: int = 500
    flush_seconds: float = 5.0
    dataset_name: str | None = None
    progress: bool = True
    params: Mapping[str, Any] | None = None
    """Recorded on the run beside Shoal's own (hyperparameters every key shares)."""

    def check(self, fleet: FleetRef) -> None:
        if len(self.by) != len(fleet.keys):
            raise InvalidInput(
                f"by={list(self.by)} names {len(self.by)} column(s) but fleet '{fleet.path}' "
                f"is keyed by {list(fleet.keys)}: name one column per key, in that order",
                field="by",
            )
        _check_params(self.params)
        _int_at_least(self.max_retries, 0, "max_retries")
        _int_at_least(self.batch_size, 1, "batch_size")
        if self.timeout_per_key is not None and not (
            isinstance(self.timeout_per_key, int | float) and self.timeout_per_key > 0
        ):
            raise InvalidInput(
                f"timeout_per_key must be seconds > 0 or None, got {self.timeout_per_key!r}",
                field="timeout_per_key",
            )


def train_fleet(
    registry: Registry,
    fleet: FleetRef,
    data: Any,
    fn: Callable[[Any], Any],
    executor: Executor,
    options: TrainOptions,
    *,
    resume: int | None = None,
    take_over: bool = False,
) -> int:
    """Train ``fn`` on every key's rows of ``data``; returns the run id (see module doc).

    ``take_over`` resumes run ``resume`` even while another process holds it."""
    if not callable(fn):
        raise InvalidInput(f"fn must be callable, got {type(fn).__name__}", field="fn")
    if take_over and resume is None:
        raise InvalidInput("take_over applies to a resume: pass resume=RUN too", field="take_over")
    options.check(fleet)
    if resume is not None and options.params is not None:
        raise InvalidInput(
            "params are recorded when a run starts; a resumed run keeps the params it "
            "started with: leave params out, or start a new run",
            field="params",
        )
    source = open_source(data)
    check_columns(source, options.by, fleet)
    work = Work(fn, options.max_retries, options.timeout_per_key, fleet.allow_pickle, options.by)
    executor.check(work)
    total = source.key_counts(options.by)
    dataset_id = register_input(registry, fleet, source, _dataset_name(fleet, options))
    recorded = {"fn": function_ref(fn), "data": source.location,
                "dataset_name": options.dataset_name}  # fmt: skip
    run_id, skip, counts, lease = _open_run(
        registry, fleet, options, executor, resume, total, dataset_id, recorded, take_over
    )
    book = RunBook(registry, fleet, run_id, dataset_id=dataset_id, batch_size=options.batch_size,
                   flush_seconds=options.flush_seconds, counts=counts,
                   resuming=resume is not None, lease=lease)  # fmt: skip
    progress = reporter(options.progress)
    progress.start(f"training {fleet.path} (run {run_id})", total - len(skip))
    keeper = book.keeper = registry.runs.keep(lease)  # renewed while one long key trains
    try:
        executor.start()
        plan = ChunkPlan(executor.parallelism)
        tasks = _tasks(source, options.by, skip, book, progress, plan)
        for outcomes in executor.map_unordered(work, tasks):
            for outcome in outcomes:
                plan.observe(outcome.seconds)
                progress.advance(1, int(book.add(outcome)))
        book.flush()
    except KeyboardInterrupt as exc:
        for outcome in getattr(exc, "outcomes", ()):  # keys of the task that had finished
            book.add(outcome)
        _close(book, "interrupted", "KeyboardInterrupt: stopped by the user")
        raise
    except BaseException as exc:
        _close(book, "failed", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        keeper.stop()
        progress.stop()
        executor.close()
        source.close()
    bad = counts["failed"]
    if bad:
        book.finish("failed", f"{bad} of {total} keys failed: see their errors with "
                              f"'shoal run show {run_id}'; train(..., resume={run_id}) "
                              "retrains them")  # fmt: skip
    else:
        book.finish("succeeded")
    return run_id


def check_columns(source: Source, by: Sequence[str], fleet: FleetRef) -> None:
    """Every key column must be in the data: refused up front, naming what is there."""
    missing = [column for column in by if column not in source.columns]
    if missing:
        shown = source.columns[:20] + (["..."] if len(source.columns) > 20 else [])
        raise InvalidInput(
            f"key column(s) {missing} not in the data: fleet '{fleet.path}' is keyed by "
            f"{list(fleet.keys)} and the data has columns {shown}. Add the column(s), or "
            "pass by=[...] naming the columns that hold the keys, in the fleet's key order",
            field="by",
        )


def _tasks(
    source: Source, by: Sequence[str], skip: set[str], book: RunBook, progress: Reporter,
    plan: ChunkPlan,
) -> Iterator[Task]:  # fmt: skip
    """Every partition grouped by key in one pass, cut into tasks by ``plan``.

    Keys the resumed run already trained are counted as skipped; keys that cannot be
    trained (a null or unprintable key value) are recorded as failed here, never shipped.
    """
    for partition in source.partitions():
        # With several workers, slice fingerprints are hashed by the workers, in parallel,
        # from the rows they train on: the driver only sorts, and the first task leaves at
        # once. In one process, hashing the partition in one pass here is cheaper.
        groups = key_groups(partition, list(by), fingerprints=plan.parallelism == 1)
        train: list[bool] = []
        for key in groups.keys:
            if key_text(key_strings(key)) in skip:
                book.counts["skipped"] += 1
                train.append(False)
                continue
            bad = _bad_key(key, by)
            if bad:
                book.add(failed(key, f"InvalidInput: {bad}", "", 0))
                progress.advance(1, 1)
            train.append(not bad)
        yield from plan.tasks(groups, train)


def _bad_key(key: tuple[Any, ...], by: Sequence[str]) -> str | None:
    for column, value in zip(by, key, strict=True):
        if value is None or str(value) == "":
            return f"key column {column!r} is null or empty in these rows; give every row a key"
        text = unicodedata.normalize("NFC", str(value))
        problem = key_value_problem(text)
        if problem:
            return f"key value {text[:40]!r} of {column!r} {problem}"
    return None


def _open_run(
    registry: Registry, fleet: FleetRef, options: TrainOptions, executor: Executor,
    resume: int | None, total: int, dataset_id: int, recorded: dict[str, Any],
    take_over: bool,
) -> tuple[int, set[str], dict[str, Any], Lease]:  # fmt: skip
    """A new run, or the resumed one reopened; the keys to skip; the counts to carry on;
    the lease this process holds the run by."""
    holder = new_holder()
    counts: dict[str, Any] = {"keys": total, "done": 0, "failed": 0, "skipped": 0}
    if resume is None:
        params = {
            "by": list(options.by), "executor": executor.name,
            "workers": getattr(executor, "workers", 1), "max_retries": options.max_retries,
            "timeout_per_key": options.timeout_per_key, "batch_size": options.batch_size,
            "dataset": dataset_id, **(options.params or {}), **recorded,
        }  # fmt: skip
        run_id = registry.runs.start(
            fleet, "train", params=params, counts=counts, actor=config.actor(), holder=holder
        )
        return run_id, set(), counts, Lease(run_id, holder)
    reopened = registry.runs.reopen_training(
        fleet, resume, counts, holder=holder, take_over=take_over
    )
    return reopened.run_id, reopened.trained, reopened.counts, reopened.lease


def _close(book: RunBook, status: str, error: str) -> None:
    """Keep what finished (flush the waiting batch), then mark the run; never mask the cause."""
    with contextlib.suppress(Exception):  # the store may be why we are here
        book.flush()
    with contextlib.suppress(Exception):
        book.finish(status, error)


def _dataset_name(fleet: FleetRef, options: TrainOptions) -> str:
    name = options.dataset_name or f"{fleet.name}-train"
    return name.split("/", 1)[1] if "/" in name else name


RUN_PARAMS = frozenset({
    "by", "executor", "workers", "max_retries", "timeout_per_key", "batch_size", "dataset",
    "fn", "data", "dataset_name",
})  # fmt: skip
"""What a train run records of itself: a user's params may not take these names."""


def _check_params(params: Any) -> None:
    if params is None:
        return
    if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
        raise InvalidInput(
            f"params must be a dict of name to value, got {type(params).__name__}",
            field="params",
        )
    taken = sorted(RUN_PARAMS.intersection(params))
    if taken:
        raise InvalidInput(
            f"params {taken} are names the run records itself; rename them (e.g. '{taken[0]}_')",
            field="params",
        )
    try:
        json.dumps(dict(params), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"params must be JSON (text, numbers, bools, lists, dicts; no NaN): {exc}",
            field="params",
        ) from None


def _int_at_least(value: Any, low: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidInput(f"{name} must be an int >= {low}, got {value!r}", field=name)
