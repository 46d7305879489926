"""Monitoring parts as Ray tasks: the same query, one part per task, on a cluster.

A pass's parts split the models by a hash of their key (see ``_query.run``), so their rows
are disjoint: each task runs its part's query in a DuckDB of its own and returns its
(version, window) rows as Arrow, and the driver concatenates them. The baselines travel
once, through Ray's object store; the logs are read by the workers themselves (a local
path every node sees, or any fsspec URL such as ``s3://``). Statistics, the false-discovery
control and the store stay on the driver: they need the whole window at once and are a
few seconds at 100,000 models.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from shoal.cluster import import_ray, join_ray
from shoal.monitor import _query
from shoal.monitor._logs import LogFiles
from shoal.monitor._reference import Reference
from shoal.monitor._window import Span

_Job = tuple[LogFiles, _query.Columns, Span, tuple[str, ...], str | None, str]
"""What every part shares: the logs, their columns, the span, the dimensions, the memory
limit, and what windows are cut by (``at`` or ``event``)."""


def run_parts(
    files: LogFiles,
    columns: _query.Columns,
    reference: Reference,
    span: Span,
    dims: Sequence[str],
    *,
    parts: int,
    workers: int | None,
    memory_limit: str | None,
    report: Callable[[str], None],
    time: str = "at",
) -> pa.Table:
    """Run the pass's ``parts`` as Ray tasks (at most ``workers`` at once)."""
    ray = import_ray()
    started = join_ray(workers)
    try:
        remote = ray.remote(num_cpus=1)(_part)
        shared = ray.put(reference)
        job: _Job = (files, columns, span, tuple(dims), memory_limit, time)
        limit = workers or max(int(ray.cluster_resources().get("CPU", 1)), 1)
        waiting = list(range(parts))
        running: list[Any] = []
        tables: list[pa.Table] = []
        while waiting or running:
            while waiting and len(running) < limit:
                running.append(remote.remote(job, shared, waiting.pop(0), parts))
            done, running = ray.wait(running, num_returns=1)
            tables += ray.get(done)
            report(f"part {len(tables)} of {parts} done on Ray")
        return pa.concat_tables(tables, promote_options="permissive")
    finally:
        if started:
            ray.shutdown()


def _part(job: _Job, reference: Reference, index: int, parts: int) -> pa.Table:
    """One part, in a worker: its own DuckDB (one thread, as Ray gave it one CPU)."""
    files, columns, span, dims, memory_limit, time = job
    spill = tempfile.mkdtemp(prefix="shoal-monitor-")
    con = _query.connect(
        threads=1, memory_limit=memory_limit, filesystem=files.filesystem, spill=spill
    )
    try:
        con.register("edges", reference.table())
        sql = _query.build_sql(files, columns, reference, span, dims, (index, parts), time=time)
        part: pa.Table = con.sql(sql).to_arrow_table()
        return part
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
