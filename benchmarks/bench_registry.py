"""Registry benchmark: bulk registration and fleet queries on SQLite, with MLflow beside it.

    .venv/bin/python benchmarks/bench_registry.py            # 10k, 100k, 1M + MLflow
    .venv/bin/python benchmarks/bench_registry.py --quick    # 2,000 versions: seconds

For each size N it builds a fresh SQLite store under ``--workdir`` and registers N
versions of a fleet keyed by (store, sku) in batches of ``--batch-size`` per
``fleet.register`` call. Every version has 5 params, 3 metrics, a ~330-byte artifact of
the ``linear`` flavor, and lineage (a registered dataset, a run and a slice fingerprint).
On the largest store it promotes ``production`` on half the models and times the fleet
queries (p50/p95 over ``--repeat`` repetitions with varying parameters) and a walk of the
whole fleet with keyset cursors. MLflow's model registry (SQLite, local artifacts) runs
the same records for ``--mlflow-models`` models in its own venv (``_envs.py``).
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from typing import Any

import _envs
import _harness as h
from _fleet import FLEET, RegisterResult, bench_register
from _queries import TARGET_QUERY_P95_MS, Guard, QueryResult, WalkResult, bench_queries, bench_walk

TARGET_REGISTER_1M_S = 120.0

bench = h.Bench(
    "registry", __doc__,
    sizes={
        "sizes": ("10000,100000,1000000", "2000", "comma-separated version counts"),
        "batch_size": (100_000, 1000, "versions per fleet.register call"),
        "mlflow_models": (2000, 10, "models MLflow registers"),
        "query_budget": (60.0, 10.0, "stop repeating a query once it took this many seconds"),
        "walk_budget": (600.0, 30.0, "stop the fleet walk after this many seconds"),
    },
    repeat=(50, 5, "repetitions of each query, each with new parameters"),
)  # fmt: skip
add = bench.parser.add_argument
add("--page-size", type=int, default=1000, help="page size of the walk (default: 1000)")
add("--query-timeout", type=float, default=10.0, help="stop a query call after this many seconds")
add("--no-queries", action="store_true", help="registration only")
add("--skip-mlflow", "--no-mlflow", action="store_true", help="skip the MLflow side")


def parse(argv: list[str] | None) -> argparse.Namespace:
    args = bench.parse(argv)
    try:
        args.size_list = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s})
    except ValueError:
        bench.parser.error(f"--sizes takes numbers separated by commas, got {args.sizes!r}")
    if not args.size_list or min(args.size_list) < 1 or args.batch_size < 1:
        bench.parser.error("--sizes and --batch-size must be positive")
    if not 1 <= args.page_size <= 1000:
        bench.parser.error("--page-size must be 1..1000")
    return args


def measure(run: h.Run) -> None:
    args, workdir, data = run.args, run.workdir, run.data
    registered: list[RegisterResult] = data.setdefault("register", [])
    previous = None
    with h.progress() as progress:
        for n in args.size_list:
            result, client, fleet = bench_register(n, workdir, args.batch_size, progress)
            registered.append(result)
            h.console.print(f"registered {n:,} versions in {result.seconds:,.1f} s "
                            f"({n / result.seconds:,.0f}/s)")  # fmt: skip
            if previous is not None:
                previous[0].close()
                if not args.keep:
                    shutil.rmtree(workdir / f"shoal-{previous[1]}", ignore_errors=True)
            previous = (client, n)
        try:
            if not args.no_queries and previous is not None:
                client, n = previous
                fleet = client.fleet(FLEET)
                data["query_n"] = n
                guard = Guard(args.query_timeout)
                db_path = workdir / f"shoal-{n}" / "shoal.db"
                bench_queries(fleet, n, db_path, args, guard, progress, data)
                data["walk"] = bench_walk(fleet, n, db_path, args, guard, progress)
        finally:
            if previous is not None:
                previous[0].close()
    if not args.skip_mlflow:
        try:
            data["mlflow"] = _envs.run(
                "mlflow", "mlflow_side.py",
                ["registry", "--models", str(args.mlflow_models), "--workdir",
                 str(h.fresh(workdir / "mlflow"))],
                workdir / "mlflow.log", f"MLflow: register {args.mlflow_models:,} models",
                args.mlflow_models,
            )  # fmt: skip
        except _envs.Unavailable as exc:
            data["mlflow_error"] = f"MLflow unavailable: {exc}"
        except _envs.ScriptFailed as exc:
            data["mlflow_error"] = run.error("MLflow side", exc)


def _ms(value: float, timeout: float) -> str:
    return f"> {timeout * 1000:,.0f}" if math.isinf(value) else f"{value:,.1f}"


def report(run: h.Run) -> None:
    data, args = run.data, run.args
    ml = data.get("mlflow")
    columns = ("versions", "batch", "stores x SKUs", "seconds", "versions/s", "µs/version",
               "target", "met", "MLflow/Shoal per version")  # fmt: skip
    table = run.table("Register: fleet.register on SQLite, a fresh store per N", columns,
                      "rrrrrrrcr")  # fmt: skip
    for r in data.get("register", []):
        is_1m = r.n == 1_000_000
        table.add(f"{r.n:,}", f"{r.batch_size:,}", f"{r.stores:,} x {r.skus:,}",
                  f"{r.seconds:,.1f}", f"{r.n / r.seconds:,.0f}", f"{r.per_version_s * 1e6:,.0f}",
                  f"< {TARGET_REGISTER_1M_S:g} s" if is_1m else None,
                  r.seconds < TARGET_REGISTER_1M_S if is_1m else None,
                  f"{ml['per_version_s'] / r.per_version_s:,.0f}x" if ml else None)  # fmt: skip
    if ml:
        run.notes.append(
            f"MLflow {ml['mlflow_version']} (its own venv; SQLite tracking and registry, local "
            f"artifacts): {ml['models']:,} models in {ml['seconds']:,.1f} s, "
            f"{ml['per_version_s'] * 1000:,.1f} ms per version "
            f"({ml['models'] / ml['seconds']:,.1f} versions/s)."
        )
    elif "mlflow_error" in data:
        run.notes.append(f"MLflow side not measured: {data['mlflow_error']}")
    if p := data.get("promote"):
        run.notes.append(f'promote("production", where="{p["where"]}") at '
                         f"{data['query_n']:,}: {p['moved']:,} models moved in "
                         f"{p['seconds']:.1f} s")  # fmt: skip
    queries: list[QueryResult] = data.get("queries", [])
    walk: WalkResult | None = data.get("walk")
    if not (queries or walk):
        return
    timeout = args.query_timeout
    table = run.table(
        f"Queries at {data['query_n']:,} versions: target p95 < {TARGET_QUERY_P95_MS:.0f} ms; "
        f"up to {args.repeat} repetitions, each call its own read transaction",
        ("query", "call", "reps", "p50 ms", "p95 ms", "max ms", "met"), "llrrrrc",
    )  # fmt: skip
    for q in queries:
        name = q.name.strip() + (" (extra)" if q.extra else "")
        if q.skipped:
            table.add(name, h.Code(q.call), "0", None, None, None, f"skipped: {q.skipped}")
            continue
        table.add(name, h.Code(q.call), f"{q.reps}" + (f" ({q.timeouts} timed out)"
                  if q.timeouts else ""), *(_ms(q.pct(x), timeout) for x in (50, 95, 100)),
                  q.pct(95) < TARGET_QUERY_P95_MS)  # fmt: skip
    if walk:
        what = f"walk the whole fleet: {walk.pages:,} pages in {walk.seconds:,.1f} s"
        if walk.stopped:
            what = (f"walk the fleet: {walk.seen:,} of {walk.n:,} in {walk.pages:,} pages, "
                    f"{walk.seconds:,.1f} s ({walk.stopped}; whole walk "
                    f"~{walk.estimated_seconds:,.0f} s)")  # fmt: skip
        page = h.Code(f"search(limit={walk.page_size}, cursor=c), per page")
        pcts = (_ms(h.percentile(walk.page_ms, x), timeout) for x in (50, 95, 100))
        table.add(what, page, f"{walk.pages:,}", *pcts, None)
    plans = [(f"plan of {q.name.strip()} ({q.call})", q.plan) for q in queries if q.plan]
    if walk and walk.plan:
        plans.append(("plan of a walk page", walk.plan))
    for title, statements in plans:
        run.block(title, [line for st in statements for line in _plan_lines(st)])


def _plan_lines(statement: dict[str, Any]) -> list[str]:
    ms = statement["ms"]
    when = "stopped" if ms is None else f"first row after {ms:,.1f} ms"
    return [f"-- {when}", statement["sql"], *[f"   {step}" for step in statement["plan"]]]


def main(argv: list[str] | None = None) -> int:
    return bench.run(parse(argv), measure, report)


if __name__ == "__main__":
    sys.exit(main())
