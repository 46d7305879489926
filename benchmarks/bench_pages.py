"""Page benchmark: every page and API route of ``shoal ui`` on a million-model store.

    .venv/bin/python benchmarks/bench_pages.py            # 1M models + one of 200,000 versions
    .venv/bin/python benchmarks/bench_pages.py --quick    # 20,000 models, 5,000 versions

Seeds a fresh SQLite store under ``--workdir`` (reused by later runs with the same sizes):
the registry benchmark's fleet ``bench/demand`` of ``--models`` models (store x sku, 3
metrics, ``production`` on all, ``candidate`` on a tenth), and ``bench/history``, one
model with ``--versions`` versions. Then times each page and the API route beside it
through ``TestClient(create_web_app(client))`` in this process (the server's time: no
socket, no browser), ``--repeat`` times after a warm-up: home, the fleet page unfiltered,
with a key filter, a metric filter and sort, an alias filter, ``--depth`` pages deep by
its next link; counts and facets; a model page, the deep model's first and an old
versions page; a run; alerts. Targets: p95 under 300 ms, no table over 50 rows.

A case over target is profiled (cProfile, every SQL statement timed and explained) and
its profile printed. Results go to ``<workdir>/results.json`` (and ``--markdown FILE``).

This file is the entry point; the steps live in ``_pages_seed.py``, ``_pages_cases.py``
and ``_pages_report.py`` beside it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

# No telemetry from anything this process starts. Set before the imports below.
import _offline  # noqa: F401  (telemetry off before Shoal, Ray or MLflow load)
from _machine import loadavg, machine_info, package_versions, shoal_commit
from _pages_cases import build_cases, profile_case, time_case
from _pages_report import print_report, save
from _pages_seed import load_or_seed, picks, store_root
from _report import console

HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--models", type=int, default=1_000_000, help="models in the big fleet (default: 1000000)"
    )
    p.add_argument(
        "--versions",
        type=int,
        default=200_000,
        help="versions of the one deep model (default: 200000)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=20,
        help="timed requests per page after the warm-up (default: 20)",
    )
    p.add_argument("--warmup", type=int, default=2, help="untimed requests first (default: 2)")
    p.add_argument(
        "--depth",
        type=int,
        default=100,
        help="next links (cursors) to follow for the deep page (default: 100)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=100_000,
        help="versions per fleet.register call while seeding (default: 100000)",
    )
    p.add_argument(
        "--case-budget",
        type=float,
        default=60.0,
        help="stop repeating a case once it has taken this many seconds (default: 60)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="20,000 models, 5,000 versions, 5 repetitions: well under a minute",
    )
    p.add_argument("--no-profile", action="store_true", help="do not profile the misses")
    p.add_argument(
        "--workdir",
        type=Path,
        default=HERE / ".work" / "pages",
        help="where the store goes; a store seeded with the same sizes is reused "
        "(default: benchmarks/.work/pages)",
    )
    p.add_argument(
        "--markdown",
        type=Path,
        default=None,
        help="also write the results as Markdown to this file",
    )
    args = p.parse_args(argv)  # fmt: skip
    if args.quick:
        defaults = {"models": 1_000_000, "versions": 200_000, "repeat": 20}
        quick = {"models": 20_000, "versions": 5_000, "repeat": 5}
        for name, value in quick.items():
            if getattr(args, name) == defaults[name]:
                setattr(args, name, value)
    if min(args.models, args.versions, args.repeat, args.batch_size, args.depth) < 1:
        p.error("--models, --versions, --repeat, --batch-size and --depth must be positive")
    if args.warmup < 0:
        p.error("--warmup must be 0 or more")
    if args.models < 50 * (args.depth + 1):
        p.error(f"--depth {args.depth} needs at least {50 * (args.depth + 1):,} models")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ["SHOAL_USER"] = "bench"
    machine = machine_info() | package_versions("fastapi", "starlette", "jinja2", "httpx")
    results: dict = {
        "started": time.strftime("%Y-%m-%d %H:%M %Z"),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": machine,
    }
    t_start = time.perf_counter()
    progress = Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=console,
    )  # fmt: skip
    cases = []
    client = None
    interrupted = False
    try:
        with progress:
            client, seed = load_or_seed(workdir, args.models, args.versions, args.batch_size,
                                        progress, console.print)  # fmt: skip
            results["seed"] = seed
            from fastapi.testclient import TestClient

            from shoal.web.app import create_web_app

            app = create_web_app(client)
            with TestClient(app) as http:
                results["walks"] = walks = {}
                todo = build_cases(http, seed, picks(args.models), args.depth, console.print,
                                   walks)  # fmt: skip
                task = progress.add_task("pages", total=len(todo))
                for case in todo:
                    progress.update(task, description=f"{case.kind} {case.name}")
                    cases.append(time_case(http, case, args.repeat, args.warmup,
                                           args.case_budget))  # fmt: skip
                    progress.advance(task)
                progress.remove_task(task)
            if not args.no_profile:
                db_path = store_root(workdir, args.models) / "shoal.db"
                for c in cases:
                    if not c.error and not c.time_ok:
                        progress.console.print(f"profiling {c.kind} {c.name}")
                        profile_case(app, db_path, c, workdir)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if client is not None:
            client.close()
        results["wall_seconds"] = time.perf_counter() - t_start
        results["interrupted"] = interrupted
        machine["loadavg_end"] = loadavg()
        end = shoal_commit()
        if end != machine["shoal_commit"]:
            machine["shoal_commit_end"] = end
        if "seed" in results:
            path = save(results, cases, workdir, args.markdown)
            print_report(results, cases)
            console.print(f"[dim]results: {path}"
                          + (f", {args.markdown}" if args.markdown else "") + "[/]")  # fmt: skip
    if interrupted:
        return 130
    return 1 if any(c.error for c in cases) else 0


if __name__ == "__main__":
    sys.exit(main())
