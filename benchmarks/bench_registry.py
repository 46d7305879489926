"""Registry benchmark: bulk registration and fleet queries on SQLite, with MLflow beside it.

    .venv/bin/python benchmarks/bench_registry.py                      # 10k, 100k, 1M + MLflow
    .venv/bin/python benchmarks/bench_registry.py --sizes 10000 --mlflow-models 200

For each size N it builds a fresh SQLite store under ``--workdir`` and registers N
versions of a fleet keyed by (store, sku) in batches of ``--batch-size`` per
``fleet.register`` call. Every version has 5 params, 3 metrics, a ~320-byte artifact of
the ``linear`` flavor, and lineage (a registered dataset, a run and a slice fingerprint).
On the largest store it promotes ``production`` on half the models and times the fleet
queries (p50/p95 over ``--reps`` repetitions with varying parameters) and a walk of the
whole fleet with keyset cursors. MLflow's model registry (SQLite, local artifacts) runs
the same records for ``--mlflow-models`` models in its own virtual environment
(``benchmarks/.envs/mlflow``), so its pins never touch Shoal's.

Ctrl-C stops the run and prints what was measured so far.

This file is the entry point (arguments and the order of the steps); the steps live in
the ``_*.py`` modules beside it, imported as siblings (Python puts this folder first on
``sys.path`` when it runs the script).
"""

from __future__ import annotations

import argparse
import os
import shutil
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

# No telemetry from anything this process or its children start. Set before the modules
# below import numpy, rich, SQLAlchemy and Shoal.
import _offline  # noqa: F401  (telemetry off before Shoal, Ray or MLflow load)
import shoal
from _fleet import FLEET, bench_register
from _machine import loadavg, machine_info, shoal_commit
from _mlflow_side import MLFLOW_VENV, bench_mlflow, mlflow_python
from _queries import bench_queries, bench_walk
from _report import console, print_report, save
from _results import Results
from _timing import Guard

HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--sizes",
        default="10000,100000,1000000",
        help="comma-separated version counts (default: 10000,100000,1000000)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=100_000,
        help="versions per fleet.register call (default: 100000)",
    )
    p.add_argument("--reps", type=int, default=50, help="repetitions per query (default: 50)")
    p.add_argument("--page-size", type=int, default=1000, help="page size of the fleet walk")
    p.add_argument(
        "--query-timeout",
        type=float,
        default=10.0,
        help="stop one query call after this many seconds (default: 10)",
    )
    p.add_argument(
        "--query-budget",
        type=float,
        default=60.0,
        help="stop repeating a query once it has taken this many seconds (default: 60)",
    )
    p.add_argument(
        "--walk-budget",
        type=float,
        default=600.0,
        help="stop the fleet walk after this many seconds (default: 600)",
    )
    p.add_argument("--no-queries", action="store_true", help="registration only")
    p.add_argument(
        "--mlflow-models", type=int, default=2000, help="models MLflow registers (default: 2000)"
    )
    p.add_argument("--no-mlflow", action="store_true", help="skip the MLflow comparison")
    p.add_argument(
        "--mlflow-venv",
        type=Path,
        default=MLFLOW_VENV,
        help=f"MLflow's own venv, created when missing (default: {MLFLOW_VENV})",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        default=HERE / ".work",
        help="where the stores go (default: benchmarks/.work)",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep every store (default: keep only the largest, for EXPLAIN)",
    )
    p.add_argument(
        "--markdown",
        type=Path,
        default=None,
        help="also write the result tables as Markdown to this file",
    )
    args = p.parse_args(argv)  # fmt: skip
    try:
        args.size_list = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s})
    except ValueError:
        p.error(f"--sizes takes numbers separated by commas, got {args.sizes!r}")
    if not args.size_list or min(args.size_list) < 1:
        p.error("--sizes needs at least one positive number")
    if args.batch_size < 1 or args.reps < 1 or not 1 <= args.page_size <= 1000:
        p.error("--batch-size and --reps must be positive, --page-size 1..1000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ["SHOAL_USER"] = "bench"
    results = Results(
        started=time.strftime("%Y-%m-%d %H:%M %Z"),
        args={k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        machine=machine_info(),
    )
    t_start = time.perf_counter()
    mlflow_py = None
    clients: list[shoal.Client] = []
    try:
        if not args.no_mlflow:
            mlflow_py, results.mlflow_error = mlflow_python(
                args.mlflow_venv.resolve(), workdir / "mlflow-install.log"
            )
            if results.mlflow_error:
                console.print(f"[yellow]MLflow unavailable, continuing without it:[/] "
                              f"{results.mlflow_error}")  # fmt: skip
        progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
            MofNCompleteColumn(), TimeElapsedColumn(), console=console,
        )  # fmt: skip
        with progress:
            largest = None
            for n in args.size_list:
                result, client, fleet = bench_register(n, workdir, args.batch_size, progress)
                results.register.append(result)
                console.print(
                    f"registered {n:,} versions in {result.seconds:,.1f} s "
                    f"({result.per_second:,.0f}/s)"
                )
                if largest is not None:
                    _drop(largest, workdir, keep=args.keep)
                largest = (client, n)
                clients.append(client)
            if not args.no_queries and largest is not None:
                client, n = largest
                fleet = client.fleet(FLEET)
                results.query_n = n
                guard = Guard(args.query_timeout)
                db_path = workdir / f"shoal-{n}" / "shoal.db"
                bench_queries(fleet, n, db_path, args, guard, progress, results)
                results.walk = bench_walk(fleet, n, db_path, args, guard, progress)
            if mlflow_py is not None:
                results.mlflow, results.mlflow_error = bench_mlflow(
                    mlflow_py, args.mlflow_models, workdir, progress
                )
    except KeyboardInterrupt:
        results.interrupted = True
    finally:
        for client in clients:
            client.close()
        results.wall_seconds = time.perf_counter() - t_start
        results.machine["loadavg_end"] = loadavg()
        end_commit = shoal_commit()
        if end_commit != results.machine["shoal_commit"]:
            results.machine["shoal_commit_end"] = end_commit
            console.print(
                f"[yellow]Shoal's source changed during the run: {results.machine['shoal_commit']}"
                f" at the start, {end_commit} at the end (this process kept the first)[/]"
            )
        save(results, workdir, args.markdown)
        print_report(results)
        console.print(f"[dim]results: {workdir / 'results.json'}"
                      + (f", {args.markdown}" if args.markdown else "") + "[/]")  # fmt: skip
    return 130 if results.interrupted else 0


def _drop(previous: tuple[shoal.Client, int], workdir: Path, *, keep: bool) -> None:
    client, n = previous
    client.close()
    if not keep:
        shutil.rmtree(workdir / f"shoal-{n}", ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
