"""``score_fleet``: every row of a dataset scored by its key's version, in parts, with a run.

The order of work:

1. Refuse what cannot work before anything is read or recorded: bad options, key or time
   columns missing from the data, an output folder that already holds results.
2. Resolve every key to its version in one query (the fleet's whole alias, or, for a
   small input, just its keys), before any part is read.
3. Open a ``score`` run (its parameters say what was scored, at which alias, into where).
4. Score the parts on a pool of threads in this process (``executor="local"``: pandas,
   Arrow, numpy and the model libraries release the GIL for most of the work) or as Ray
   tasks (``executor="ray"``), a bounded number at a time, so memory holds a few parts,
   never the dataset. Each part writes its own output file and log files.
5. Output goes to ``<out>.partial`` first, with a manifest of the parts done; the folder
   is renamed to ``out`` when every part is done. An interrupted run leaves the partial
   folder, and running the same scoring again (same fleet, alias, data and out) scores
   only the parts not done: nothing is scored or logged twice.
6. Close the run with its counts: rows, keys, versions used, rows not scored by reason,
   the data's fingerprint (of the parts, in order).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import pyarrow as pa

from shoal import faults
from shoal.errors import InvalidInput
from shoal.registry import FleetRef, Lease, Registry, Scope, check_alias, new_holder
from shoal.registry.champion import unknown_alias
from shoal.score._input import Input, Part, open_input
from shoal.score._part import Job, Models, PartResult, score_part
from shoal.score._result import MAX_PROBLEMS, BatchScores, ScoreOptions
from shoal.score._staging import Staging
from shoal.train._progress import reporter

_ADDED_TYPES = {"prediction": pa.float64(), "version": pa.int64(), "request_id": pa.string(),
                "row": pa.int64()}  # fmt: skip
SMALL_INPUT = 100_000
"""Inputs of at most this many rows resolve only their own keys (else the whole alias)."""


def score_fleet(
    registry: Registry, fleet: FleetRef, data: Any, options: ScoreOptions
) -> BatchScores:
    """Score ``data`` with ``fleet``'s versions (see the module doc)."""
    began = time.perf_counter()
    options.check(fleet.keys, fleet.path)
    if options.alias is not None:
        check_alias(options.alias)
    source = open_input(data, options.batch_rows)
    _check_columns(source, options)
    versions = _resolve(registry, fleet, source, options)
    if not versions and options.alias is not None:
        have = registry.aliases.coverage(fleet)  # kept counters: no scan
        if not have.get(options.alias):
            raise unknown_alias(fleet, options.alias, sorted(have), "alias")
    staging = None
    if options.out is not None:
        resumable = source.location is not None  # a frame in memory cannot be recognised
        staging = Staging(options.out, _identity(source, fleet, options),
                          overwrite=options.overwrite, resumable=resumable)  # fmt: skip
    holder = new_holder()
    run_id = registry.runs.start(
        fleet, "score", params=_params(source, options), actor=options.actor,
        with_code_ref=False, holder=holder,
    )  # fmt: skip
    keeper = registry.runs.keep(Lease(run_id, holder))
    origin = run_id
    if staging is not None:
        origin = staging.begin(run_id)
        staging.forget_logs(options.logs, fleet.tenant, fleet.name)
    done = dict(staging.done) if staging is not None else {}
    result = BatchScores(run_id, rows_in=source.rows, resumed_parts=len(done))
    job = Job(
        run_id=run_id, tenant=fleet.tenant, fleet=fleet.name, dims=fleet.keys, by=options.by,
        allow_pickle=fleet.allow_pickle, url=source.url, schema=source.schema,
        made_at=dt.datetime.now(dt.UTC), as_of=options.as_of, time_column=options.time_column,
        staging=None if staging is None else staging.data, logs=options.logs,
        keep=options.out is None, origin=origin,
    )  # fmt: skip
    parts: dict[int, PartResult] = {i: PartResult.from_summary(i, s) for i, s in done.items()}
    for part in parts.values():
        _add(result, part)
    progress = reporter(options.progress)
    progress.start(f"scoring {fleet.path}", source.rows, unit="rows")
    progress.advance(sum(p.rows_in for p in parts.values()), 0)

    def record(part: PartResult) -> None:
        """A part is done: count it, and (with an output) mark it done for a resume."""
        parts[part.index] = part
        _add(result, part)
        if staging is not None:
            staging.record(part.index, part.summary())
        faults.point("score.part_written")
        progress.advance(part.rows_in, part.rows_in - part.rows_scored)

    todo = [p for p in source.parts if p.index not in done]
    try:
        _run(job, todo, versions, registry, options, record)
        progress.stop()
        if staging is not None:
            result.files = staging.publish(source)
    except BaseException as exc:
        progress.stop()
        keeper.stop()
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        registry.runs.finish(Scope(fleet.tenant), run_id, status, error=repr(exc)[:2000],
                             counts=result.counts())  # fmt: skip
        raise
    keeper.stop()
    used = {v for p in parts.values() for v in p.version_ids}
    result.versions_loaded = len(used)
    result.data_fingerprint = hashlib.sha256(
        "".join(parts[p.index].fingerprint for p in source.parts).encode()
    ).hexdigest()
    tables = [parts[i].table for i in sorted(parts) if parts[i].table is not None]
    if options.out is None:
        result.frame = _frame(tables, source)  # type: ignore[arg-type]
    result.seconds = time.perf_counter() - began
    counts = result.counts()
    counts["versions_used"] = sorted(used)[:1000]
    registry.runs.finish(Scope(fleet.tenant), run_id, "succeeded", counts=counts)
    return result


def _add(result: BatchScores, part: PartResult) -> None:
    result.rows_scored += part.rows_scored
    result.keys_scored += part.keys_scored
    result.log_files += part.log_files
    result.problem_rows.update(part.problem_rows)
    result.problem_keys.update(part.problem_keys)
    room = MAX_PROBLEMS - len(result.problems)
    if room > 0:
        result.problems.extend(part.problems[:room])


def _check_columns(source: Input, options: ScoreOptions) -> None:
    missing = [name for name in options.by if name not in source.columns]
    if missing:
        raise InvalidInput(
            f"key column(s) {missing} not in the data (columns: {source.columns[:20]}); pass "
            "by=[...] naming the data's key columns, in the fleet's key order",
            field="by",
        )
    name = options.time_column
    if name is None:
        return
    if name not in source.columns:
        raise InvalidInput(
            f"time column {name!r} not in the data (columns: {source.columns[:20]}); name the "
            "column holding each row's event time, or give as_of= instead",
            field="time_column",
        )
    kind = source.schema.field(name).type
    if not (pa.types.is_timestamp(kind) or pa.types.is_date(kind) or pa.types.is_string(kind)
            or pa.types.is_large_string(kind)):  # fmt: skip
        raise InvalidInput(
            f"time column {name!r} holds {kind}; it must hold timestamps, dates or ISO dates "
            "as text (2026-11-24)",
            field="time_column",
        )


def _resolve(
    registry: Registry, fleet: FleetRef, source: Input, options: ScoreOptions
) -> dict[tuple[str, ...], dict[str, Any]]:
    """Every key's version: the whole alias in one query, or a small input's own keys."""
    if options.version is None and source.rows > SMALL_INPUT:
        assert options.alias is not None
        return registry.versions.at_alias(fleet, options.alias)
    keys = _keys(source, options)
    if options.version is not None:
        return registry.versions.for_keys(fleet, keys, numbers=[options.version] * len(keys))
    return registry.versions.for_keys(fleet, keys, alias=options.alias)


def _keys(source: Input, options: ScoreOptions) -> list[tuple[str, ...]]:
    """The data's distinct keys as text, reading only the key columns."""
    from shoal.score._input import read_part
    from shoal.train._book import key_strings

    seen: dict[tuple[str, ...], None] = {}
    for part in source.parts:
        table = read_part(source.url, source.schema, part, list(options.by))
        grouped = table.group_by(list(options.by), use_threads=False).aggregate([])
        columns = [grouped.column(name).to_pylist() for name in options.by]
        for key in zip(*columns, strict=True):
            seen[key_strings(key)] = None
    return list(seen)


def _run(
    job: Job, parts: list[Part], versions: dict[tuple[str, ...], dict[str, Any]],
    registry: Registry, options: ScoreOptions, record: Callable[[PartResult], None],
) -> None:  # fmt: skip
    """Score ``parts``, handing each result to ``record`` as it completes.

    On a failure or Ctrl-C, parts not started are dropped, and parts already running are
    waited for and recorded (when they succeeded) before the error goes on: what they
    wrote is then known to be done, and a resume skips it.
    """
    if options.executor == "ray":
        from shoal.score._ray import run_parts

        run_parts(job, parts, versions, registry.versions.artifacts, options.workers, record)
        return
    workers = options.workers or min(4, os.cpu_count() or 1)
    models = Models(registry.versions.artifacts, job.allow_pickle)
    if workers == 1:
        for part in parts:
            record(score_part(job, part, versions, models))
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="shoal-score") as pool:
        pending: set[Future[PartResult]] = set()
        queue = iter(parts)
        try:
            while True:
                while len(pending) < 2 * workers:
                    following = next(queue, None)
                    if following is None:
                        break
                    pending.add(pool.submit(score_part, job, following, versions, models))
                if not pending:
                    return
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    record(future.result())
        except BaseException:
            for future in pending:
                future.cancel()
            for future in pending:
                if not future.cancelled() and future.exception() is None:
                    record(future.result())
            raise


def _params(source: Input, options: ScoreOptions) -> dict[str, Any]:
    return {
        "data": source.location or f"<{source.kind} frame>", "rows": source.rows,
        "parts": len(source.parts), "by": list(options.by), "alias": options.alias,
        "version": options.version,
        "as_of": None if options.as_of is None else options.as_of.isoformat(),
        "time_column": options.time_column, "out": options.out, "logs": options.logs,
        "executor": options.executor, "workers": options.workers,
    }  # fmt: skip


def _identity(source: Input, fleet: FleetRef, options: ScoreOptions) -> dict[str, Any]:
    """What makes a partial output resumable: the same fleet, choice, data and layout."""
    return {
        "fleet": fleet.path, "alias": options.alias, "version": options.version,
        "data": source.location, "by": list(options.by),
        "as_of": None if options.as_of is None else options.as_of.isoformat(),
        "time_column": options.time_column,
        "parts": [[p.relative, p.rows] for p in source.parts],
    }  # fmt: skip


def _frame(tables: list[pa.Table], source: Input) -> Any:
    """The scored rows, as the kind of frame the caller gave (pandas for Parquet input)."""
    if tables:
        table = pa.concat_tables(tables, promote_options="permissive")
    else:  # nothing scored: the columns it would have had, no rows
        table = source.schema.empty_table()
        for name, kind in _ADDED_TYPES.items():
            if name not in table.column_names:
                table = table.append_column(name, pa.array([], kind))
    if source.kind == "arrow":
        return table
    if source.kind == "polars":
        pl = sys.modules["polars"]
        return pl.from_arrow(table)
    return table.to_pandas()
