"""Timed ``fleet.report`` calls, in a process of their own so the peak memory is theirs.

    .venv/bin/python benchmarks/_reports_pass.py --root STORE [--since 7d] --jobs JSON

``--jobs`` is a list run in order: a report (``{"name", "out", "record", "tables",
"profile"}``) or the change between two reports (``{"name", "change": 0.01}``:
``_reports_world.change_some``). The benchmark runs one job a process at full size, so
every report is a first call with its own peak memory, and all of them in one process in
``--quick`` mode (imports paid once).

This process imports Shoal and the report's modules (timed apart: ``import_seconds``),
opens the store, then times each ``fleet.report(out=..., ...)`` call with
``time.perf_counter``: the read, the DuckDB figures, the page, the record and the files,
what a person calling it waits for. Its peak resident memory is the kernel's ``VmHWM`` at
the end of the process's first report (interpreter, imports and the report together;
not ``ru_maxrss``, which a child inherits from a large parent); a thread samples the
RSS (psutil) every 20 ms during each call, which is the peak given for a later report in
the same process; the RSS before the call is reported beside.

Where the time goes: the report's own functions are wrapped, in this process only (no
file under ``src/`` changes), with timers that nest: ``collect`` (and per table it
reads, ``fetch``: the store's rows arriving, the rest: making Arrow columns of them,
plus each small read of the snapshot), ``frame`` (the per-model table built in
DuckDB), each section, ``model_table``, ``recorded`` and ``record``, ``render`` (and its
inline CSVs, ``table_bytes``) and ``write``. A job with ``"profile": FILE`` runs under
cProfile instead (no timers then) and writes the stats there (its times are inflated).

One JSON object a job, its figures, goes to stdout, a line each.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import psutil  # telemetry is off: this process inherits the benchmark's environment

SELF = psutil.Process()


def rss_mb() -> float:
    return float(SELF.memory_info().rss / 2**20)


def peak_mb() -> float:
    """This process image's peak RSS: ``VmHWM``. Not ``ru_maxrss``, which on Linux keeps
    the RSS of the parent at the fork (the benchmark that seeded a million models in
    process starts this one with ~2 GB of it)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class Sampler(threading.Thread):
    """The highest RSS seen while the report ran."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0.0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.02):
            self.peak = max(self.peak, rss_mb())


class Stages:
    """Seconds per stage, by path (``collect/models/fetch``): nested timers."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.stack: list[str] = []

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self.stack.append(name)
        path = "/".join(self.stack)
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[path] = self.seconds.get(path, 0.0) + time.perf_counter() - started
            self.stack.pop()

    def wrap(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self(name):
                return func(*args, **kwargs)

        return timed


TABLES = {  # the first columns of each table collect reads, and its name
    ("version_id", "name", "value"): "metrics",
    ("model_id", "windows", "newest"): "monitored models",
}
SNAPSHOT_READS = ("counts", "metric_counts", "windows", "window_totals", "monitored_among",
                  "runs", "datasets", "previous", "evaluated_metrics", "rule_count",
                  "metric_moves", "moves", "retired", "versions_since")  # fmt: skip
REPORT_STEPS = ("summary", "quality", "drift", "alerts", "gaps", "runs", "changes",
                "model_table", "recorded", "render", "write", "table_bytes")  # fmt: skip


def instrument(stages: Stages) -> None:
    """Wrap the report's functions with :class:`Stages` timers (this process only)."""
    import pyarrow as pa

    from shoal.registry import reports as registry_reports
    from shoal.report import _collect
    from shoal.report import fleet_report as fr

    fr.collect = stages.wrap("collect", fr.collect)  # type: ignore[assignment]
    plain_to_table = _collect.to_table

    def to_table(schema: Any, chunks: Iterable[Any]) -> Any:
        names = tuple(schema.names)
        label = TABLES.get(names) or TABLES.get(names[:3]) or (
            "models" if names[0] == "model_id" and "latest_version_id" in names
            else "window rows" if "drifted_features" in names
            else "alerts" if "rule" in names
            else "metrics, a read each" if names == ("version_id", "value")
            and pa.types.is_floating(schema.field("value").type)
            else "tag values" if names == ("version_id", "value") else "other"
        )  # fmt: skip

        def fetched() -> Iterator[Any]:
            found = iter(chunks)
            while True:
                with stages("fetch"):
                    rows = next(found, None)
                if rows is None:
                    return
                yield rows

        with stages(label):
            return plain_to_table(schema, fetched())

    _collect.to_table = to_table  # type: ignore[assignment]
    for name in SNAPSHOT_READS:
        if hasattr(registry_reports.Snapshot, name):
            setattr(registry_reports.Snapshot, name,
                    stages.wrap(name, getattr(registry_reports.Snapshot, name)))  # fmt: skip
    registry_reports.Reports.record = stages.wrap(  # type: ignore[method-assign]
        "record", registry_reports.Reports.record
    )
    plain_frame = fr.Frame

    class Frame(plain_frame):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            with stages("frame"):
                super().__init__(*args, **kwargs)

    fr.Frame = Frame  # type: ignore[misc]
    for name in REPORT_STEPS:
        setattr(fr, name, stages.wrap(name, getattr(fr, name)))


def main() -> int:
    p = argparse.ArgumentParser(description="timed fleet.report calls")
    p.add_argument("--root", type=Path, required=True, help="the store's folder")
    p.add_argument("--fleet", default="bench/demand")
    p.add_argument("--since", default="7d")
    p.add_argument("--jobs", required=True, help="a JSON list of jobs, run in order")
    args = p.parse_args()
    jobs: list[dict[str, Any]] = json.loads(args.jobs)

    started = time.perf_counter()
    import shoal
    import shoal.report.fleet_report  # what fleet.report imports on its first call

    import_seconds = time.perf_counter() - started
    stages = Stages()
    if not any(job.get("profile") for job in jobs):
        instrument(stages)
    client = shoal.connect(f"sqlite:///{args.root / 'shoal.db'}", str(args.root / "artifacts"))
    try:
        fleet = client.fleet(args.fleet)
        first = True
        for job in jobs:
            if job.get("change"):
                from _reports_world import change_some

                found = {"changed": change_some(args.root, job["change"])}
            else:
                stages.seconds.clear()
                found = one(fleet, job, args.since, stages, first)
                found["import_seconds"] = import_seconds
                first = False
            print(json.dumps({"job": job["name"], **found}), flush=True)
    finally:
        client.close()
    return 0


def one(fleet: Any, job: dict[str, Any], since: str, stages: Stages, first: bool) -> dict[str, Any]:
    """One timed ``fleet.report`` and its figures. The peak RSS is ``ru_maxrss`` for the
    process's first report, the sampled peak for a later one (``peak_source``)."""
    import duckdb
    import jinja2

    out = Path(job["out"])
    before = rss_mb()
    sampler = Sampler()
    sampler.start()
    profiler = None
    if job.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    cpu = time.process_time()
    report = fleet.report(since=since, out=out, tables=job.get("tables"),
                          record=bool(job.get("record")))  # fmt: skip
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(job["profile"])
    sampler.done.set()
    sampler.join()
    sampled = max(sampler.peak, rss_mb())
    maxrss = peak_mb()
    f = report.figures
    changes = f.changes
    return {
        "seconds": seconds,
        "build_seconds": report.seconds,
        "cpu_seconds": cpu,
        "peak_rss_mb": maxrss if first else sampled,
        "peak_source": "VmHWM" if first else "sampled",
        "sampled_peak_mb": sampled,
        "rss_before_mb": before,
        "stages": dict(stages.seconds),
        "record": bool(job.get("record")),
        "report_id": report.report_id,
        "html_bytes": len(report.html.encode("utf-8")),
        "files": {str(path.relative_to(out.parent)): path.stat().st_size
                  for path in report.files},
        "inline_csv": report.html.count('download="'),
        "summary": {k: v for k, v in f.summary.items() if k != "top_datasets"},
        "drift": {k: f.drift[k] for k in ("in_window", "tested", "drifting", "not_tested")},
        "alerts": {k: f.alerts[k] for k in ("rules", "open", "acknowledged", "opened",
                                            "resolved")},
        "trend_windows": len(f.quality["trend"]),
        "gaps": {g["gap"]: g["models"] for g in f.gaps["gaps"]},
        "changes": None if changes is None else {
            "versions_registered": changes["versions_registered"],
            "promoted": changes["promoted"], "moves": changes["moves"],
            "compared": changes["models"]["compared"], "better": changes["models"]["better"],
            "worse": changes["models"]["worse"], "models_added": changes["models_added"],
            "new_alerts": sum(a["alerts"] for a in changes["new_alerts"]),
        },
        "tables": {name: table.num_rows for name, table in report.tables.items()},
        "versions": {"duckdb": duckdb.__version__, "jinja2": jinja2.__version__},
    }  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
