"""Serving benchmark: ``shoal serve`` over 10,000 small models, ``mlflow models serve`` beside it.

    .venv/bin/python benchmarks/bench_serving.py             # full size (~6 min on 2 cores)
    .venv/bin/python benchmarks/bench_serving.py --quick     # everything tiny, < 1 min

One run, one table:

- a fresh store with ``--models`` (10,000) scikit-learn LinearRegression models on three
  features, keyed by (store, sku), registered in bulk and aliased production;
- ``python -m shoal serve --cache-mb M --cache-models N`` as its own process on a free
  127.0.0.1 port, measured from an httpx client here: every model once, 1 row each
  (cold: a key's first request), ``--passes`` times over all of them (cold again: the
  cache holds ``--cache-models``, so each was evicted), with the server's RSS sampled
  throughout and its ``VmHWM`` read at the end; then warm 1-row requests (sequential and
  ``--clients`` concurrent), warm 100-row requests spanning 100 keys, and ``/healthz``;
- the model's own predict time for the same rows, in this process (``client.load_model``,
  ``model.predict(frame)``), so Shoal's overhead is the request's p50 minus it (target:
  under 2 ms for 1 row), with the layers timed one by one in-process, and a cProfile of
  the in-process request path when the target is missed (or ``--profile``);
- MLflow (its own venv, ``benchmarks/.envs/mlflow``): one equivalent model logged and
  registered, ``mlflow models serve -m models:/bench-serving/1 --env-manager local`` on
  loopback, 1-row latency on ``/invocations`` with the same client, and the RSS of its
  process tree; one such server per model, times 10,000, is an extrapolation.

Telemetry is off in this process and every child; servers bind 127.0.0.1 only and
nothing reaches the network. This file is the entry point (arguments and the order of
the steps); the steps live in the ``_serving_*.py`` modules beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# No telemetry from anything this process or its children start. Set before the modules
# below import numpy, rich, SQLAlchemy, Shoal and FastAPI.
import _offline  # noqa: F401  (telemetry off before Shoal, Ray or MLflow load)
import _serving_profile as inproc
from _machine import loadavg, machine_info, package_versions, shoal_commit
from _mlflow_side import MLFLOW_VENV, _child_env, mlflow_python, run_in_venv
from _report import console
from _serving_client import (
    PREDICT,
    TIMEOUT,
    concurrent_posts,
    delta_mean,
    histogram_quantile,
    interleaved,
    mlflow_body,
    poster,
    scrape,
    shoal_body,
    timed_gets,
    timed_posts,
)
from _serving_data import feature_rows, key_of
from _serving_procs import MlflowServer, RssSampler, ShoalServer, status_kib, tree_memory
from _serving_report import TARGET_OVERHEAD_MS, Latency, ServingResults, print_report, save
from _serving_store import build, connect, resolution_bytes
from _timing import percentile

HERE = Path(__file__).resolve().parent
PACKAGES = ("fastapi", "uvicorn", "pydantic", "httpx", "scikit-learn", "skops", "pandas", "numpy")
FULL = {"models": 10_000, "requests": 2000, "cache_models": 2000}
QUICK = {"models": 200, "requests": 100, "cache_models": 50}
MLFLOW_SCRIPT = HERE / "mlflow_serving.py"
WARM_KEYS = 100


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=int, help="models registered and served (default: 10000)")
    p.add_argument(
        "--requests",
        type=int,
        help="timed requests per warm 1-row series, a quarter of that for 100-row ones "
        "(default: 2000)",
    )
    p.add_argument("--cache-mb", type=int, default=64, help="shoal serve --cache-mb (default: 64)")
    p.add_argument("--cache-models", type=int, help="shoal serve --cache-models (default: 2000)")
    p.add_argument(
        "--passes", type=int, default=2, help="cold passes over every model (default: 2)"
    )
    p.add_argument("--clients", type=int, default=4, help="concurrent clients (default: 4)")
    p.add_argument(
        "--rss-margin-mb",
        type=int,
        default=32,
        help="allowed above base + cache limit for allocator slack and buffers (default: 32)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="everything tiny: " + ", ".join(f"{k}={v}" for k, v in QUICK.items()),
    )
    p.add_argument("--skip-mlflow", action="store_true", help="skip mlflow models serve")
    p.add_argument(
        "--profile",
        action="store_true",
        help="profile the in-process request path even when the overhead target is met",
    )
    p.add_argument(
        "--mlflow-venv",
        type=Path,
        default=MLFLOW_VENV,
        help=f"MLflow's own venv, created when missing (default: {MLFLOW_VENV})",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        default=HERE / ".work" / "serving",
        help="where the store, logs and results go (default: benchmarks/.work/serving)",
    )
    p.add_argument("--keep", action="store_true", help="keep the store afterwards")
    p.add_argument(
        "--markdown", type=Path, default=None, help="also write the table as Markdown to this file"
    )
    args = p.parse_args(argv)
    preset = QUICK if args.quick else FULL
    for name, value in preset.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if (
        min(args.models, args.requests, args.cache_mb, args.cache_models, args.passes, args.clients)
        < 1
    ):
        p.error("sizes, --passes and --clients must be positive")
    return args


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        refresh_per_second=4,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ["SHOAL_USER"] = "bench"
    machine = machine_info()
    machine["packages"] = package_versions(*PACKAGES)
    results = ServingResults(
        started=time.strftime("%Y-%m-%d %H:%M %Z"),
        args={k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        machine=machine,
    )
    root = workdir / "store"
    t_start = time.perf_counter()
    try:
        with progress_bar() as progress:
            results.store = build(root, args.models, progress)
        results.step_seconds["store"] = time.perf_counter() - t_start
        mlflow = None
        if not args.skip_mlflow:
            began = time.perf_counter()
            mlflow = prepare_mlflow(args, workdir, results)
            results.step_seconds["MLflow venv and model"] = time.perf_counter() - began
        steps = [
            ("shoal serve (and mlflow models serve)", shoal_side, (args, root, results, mlflow)),
            ("in-process", in_process, (args, root, results, workdir)),
        ]
        for name, step, step_args in steps:
            began = time.perf_counter()
            try:
                step(*step_args)
            except Exception as exc:  # recorded; the other steps still run
                results.errors.append(f"{name}: {type(exc).__name__}: {exc}")
                console.print(f"[red]{name} failed: {type(exc).__name__}: {exc}[/]")
            finally:
                results.step_seconds[name] = time.perf_counter() - began
    except KeyboardInterrupt:
        results.interrupted = True
    finally:
        results.wall_seconds = time.perf_counter() - t_start
        results.machine["loadavg_end"] = loadavg()
        end_commit = shoal_commit()
        if end_commit != results.machine["shoal_commit"]:
            results.machine["shoal_commit_end"] = end_commit
        save(results, workdir, args.markdown)
        print_report(results)
        console.print(
            f"[dim]results: {workdir / 'results.json'}"
            + (f", {args.markdown}" if args.markdown else "")
            + "[/]"
        )
        if root.exists() and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if results.interrupted:
        return 130
    return 1 if results.errors else 0


def _latency(times: list[float], rows: int, clients: int, wall: float) -> Latency:
    return Latency(
        len(times),
        rows,
        clients,
        percentile(times, 50),
        percentile(times, 99),
        wall,
        sum(times) / len(times) if times else float("nan"),
    )


def _sequential(
    base: str, path: str, bodies: list[dict[str, Any]], rows: int, progress: Progress, what: str
) -> Latency:
    task = progress.add_task(what, total=len(bodies))
    started = time.perf_counter()
    times = timed_posts(
        base, path, bodies, rows, on_done=lambda done: progress.update(task, completed=done)
    )
    wall = time.perf_counter() - started
    progress.remove_task(task)
    return _latency(times, rows, 1, wall)


def _concurrent(
    base: str,
    path: str,
    bodies: list[dict[str, Any]],
    rows: int,
    clients: int,
    progress: Progress,
    what: str,
) -> Latency:
    task = progress.add_task(what, total=None)
    times, wall = concurrent_posts(base, path, bodies, rows, clients)
    progress.remove_task(task)
    return _latency(times, rows, clients, wall)


def shoal_side(args: argparse.Namespace, root: Path, results: ServingResults, mlflow: Any) -> None:
    """Cold passes over every model with RSS sampled, then the warm series on the same
    server; MLflow's server (``mlflow``: its python and logged model, or None) is started
    for the warm 1-row series, which runs on both in turns."""
    n = args.models
    s = results.shoal
    mem = results.memory
    mem["models"] = n
    rows = feature_rows(n)
    server = ShoalServer(root, args.cache_mb, args.cache_models)
    with server, progress_bar() as progress:
        with console.status("starting shoal serve"):
            results.shoal_server["start_seconds"] = server.start(timeout=120)
            time.sleep(0.5)
        base = server.base
        mem["base_kib"] = status_kib(server.pid, "VmRSS")
        with RssSampler(server.pid) as sampler:
            # The process's first prediction imports scikit-learn and skops: timed apart.
            first = timed_posts(base, PREDICT, [shoal_body([key_of(0)], [rows[0]])], 1)
            results.shoal_server["first_request_ms"] = first[0]
            mem["first_kib"] = status_kib(server.pid, "VmRSS")
            before = scrape(base)
            bodies = [shoal_body([key_of(i)], [rows[i]]) for i in range(1, n)]
            s["cold_first"] = _sequential(
                base, PREDICT, bodies, 1, progress, f"pass 1: {n:,} models, 1 row each (cold)"
            )
            after = scrape(base)
            results.shoal_server["load_seconds"] = {
                "p50_ms": 1000 * histogram_quantile(before, after, "shoal_model_load_seconds", 0.5),
                "mean_ms": 1000 * delta_mean(before, after, "shoal_model_load_seconds"),
            }
            mem["passes"] = [{"rss_kib": status_kib(server.pid, "VmRSS")}]
            if n > args.cache_models:  # every model was evicted before its turn comes again
                for p in range(1, args.passes):
                    bodies = [shoal_body([key_of(i)], [rows[(i + p) % n]]) for i in range(n)]
                    s["cold_again"] = _sequential(
                        base, PREDICT, bodies, 1, progress,
                        f"pass {p + 1}: {n:,} models again (evicted)",
                    )  # fmt: skip
                    mem["passes"].append({"rss_kib": status_kib(server.pid, "VmRSS")})
            with contextlib.ExitStack() as stack:
                ml_server = None
                if mlflow is not None:
                    ml_server = start_mlflow(args, mlflow, results, stack)
                warm_series(args, base, warm_keys(args), results, progress, ml_server)
                if ml_server is not None:
                    ml_server.remember_tree()
                    results.mlflow["tree"] = tree_memory(ml_server.pid)
            cache = scrape(base)
        mem["sampled_max_kib"] = sampler.max_kib
        mem["rss_samples"] = sampler.samples
        mem["hwm_kib"] = status_kib(server.pid, "VmHWM")
        mem["end_kib"] = status_kib(server.pid, "VmRSS")
        mem["peak_kib"] = max(mem["hwm_kib"] or 0, sampler.max_kib)
        results.shoal_server["cache"] = {
            name: cache.get(
                f"shoal_model_cache_{name}", cache.get(f"shoal_model_cache_{name}_total")
            )
            for name in ("models", "bytes", "limit_bytes", "hits", "misses", "evictions")
        }
    results.shoal_server["log_tail"] = server.tail()


def warm_keys(args: argparse.Namespace) -> list[dict[str, str]]:
    """The keys of the warm series: the last 100 (at most --cache-models) of a pass, so the
    cache holds them when the passes end."""
    n = args.models
    return [key_of(i) for i in range(max(0, n - min(WARM_KEYS, args.cache_models)), n)]


def warm_series(
    args: argparse.Namespace, base: str, warm: list[dict[str, str]], results: ServingResults,
    progress: Progress, ml_server: MlflowServer | None,
) -> None:  # fmt: skip
    """On keys the last pass left in the cache: warm 1-row requests in turns with MLflow's
    (when it runs) and with the model's own predict calls in this process, concurrent
    clients, 100-row requests in turns with their models' predicts, and /healthz."""
    s = results.shoal
    results.shoal_server["warm_keys"] = len(warm)
    count = args.requests
    many = max(10, count // 4)
    rows = feature_rows(count + many + 100, seed=3)
    one = [shoal_body([warm[i % len(warm)]], [rows[i]]) for i in range(count)]
    spread = [warm[i % len(warm)] for i in range(WARM_KEYS)]  # 100 rows over up to 100 keys
    hundred = [shoal_body(spread, rows[i : i + WARM_KEYS]) for i in range(many)]
    client = connect(args.workdir.resolve() / "store")
    local = inproc.LocalPredict(client, warm, count)
    client.close()
    with contextlib.ExitStack() as stack:
        http = stack.enter_context(httpx.Client(base_url=base, timeout=TIMEOUT))
        for body in one[:50] + hundred[:3]:  # every warm key answered once more
            http.post(PREDICT, json=body)
        sides = {"shoal": (poster(http, PREDICT, 1), one), "predict": (local.one_row, range(count))}
        if ml_server is not None:
            ml_http = stack.enter_context(httpx.Client(base_url=ml_server.base, timeout=TIMEOUT))
            ml_bodies = [mlflow_body(row) for row in rows[:count]]
            for body in ml_bodies[:50]:
                ml_http.post("/invocations", json=body)
            sides["mlflow"] = (poster(ml_http, "/invocations", 1), ml_bodies)
        before = scrape(base)
        found = _in_turns(sides, progress, "warm: 1 row, sequential, in turns: " + ", ".join(sides))
        after = scrape(base)
        s["warm_1"] = _latency(found["shoal"][0], 1, 1, found["shoal"][1])
        results.predict["one_row"] = percentile(found["predict"][0], 50)
        if "mlflow" in found:
            lat = _latency(found["mlflow"][0], 1, 1, found["mlflow"][1])
            results.mlflow_latency["warm_1"] = lat
            results.mlflow["overhead_ms"] = lat.p50_ms - results.predict["one_row"]
        hundreds = {
            "shoal": (poster(http, PREDICT, WARM_KEYS), hundred),
            "predict": (local.each_key, range(many)),
        }
        found = _in_turns(hundreds, progress, "warm: 100 rows over 100 keys, in turns: shoal, "
                          "predict")  # fmt: skip
        s["warm_100"] = _latency(found["shoal"][0], WARM_KEYS, 1, found["shoal"][1])
        results.predict["one_row_each_of_keys"] = percentile(found["predict"][0], 50)
        results.predict["keys"] = len(local.models)
    results.predict["hundred_rows_one_model"] = local.hundred_rows_ms(max(50, count // 4))
    route = "/api/v1/fleets/{tenant}/{fleet}/predict"
    results.shoal_server["server_warm_1_ms"] = {
        "mean": 1000 * delta_mean(before, after, "shoal_request_seconds", route=route),
        "p50": 1000 * histogram_quantile(before, after, "shoal_request_seconds", 0.5, route),
    }
    s["warm_1_conc"] = _concurrent(
        base, PREDICT, one, 1, args.clients, progress, f"warm: 1 row, {args.clients} clients"
    )
    if ml_server is not None:
        results.mlflow_latency["warm_1_conc"] = _concurrent(
            ml_server.base, "/invocations", sides["mlflow"][1], 1, args.clients, progress,
            f"MLflow: warm, 1 row, {args.clients} clients",
        )  # fmt: skip
    s["warm_100_conc"] = _concurrent(
        base, PREDICT, hundred, WARM_KEYS, args.clients, progress,
        f"warm: 100 rows, {args.clients} clients",
    )  # fmt: skip
    started = time.perf_counter()
    times = timed_gets(base, "/healthz", count)
    s["healthz"] = _latency(times, 1, 1, time.perf_counter() - started)


def _in_turns(
    sides: dict[str, Any], progress: Progress, what: str, blocks: int = 10
) -> dict[str, tuple[list[float], float]]:
    task = progress.add_task(what, total=blocks)
    found = interleaved(sides, blocks, on_block=lambda b: progress.update(task, completed=b))
    progress.remove_task(task)
    return found


def in_process(
    args: argparse.Namespace, root: Path, results: ServingResults, workdir: Path
) -> None:
    """The layers one by one, the resolutions' memory, and the profile when needed."""
    n = args.models
    keys = warm_keys(args)
    client = connect(root)
    try:
        with console.status("in this process: the layers, the resolutions"):
            results.stages = inproc.stages(client, keys, args.requests, root / "logs-inproc")
            results.resolutions = resolution_bytes(root, n)
        over = results.overhead_one()
        if args.profile or (over is not None and over >= TARGET_OVERHEAD_MS):
            with console.status("cProfile of the in-process request path"):
                results.profile_requests = args.requests
                results.profile = inproc.profile(
                    client, keys, args.requests, 1, root / "logs-profile", workdir / "serve.prof"
                )
    finally:
        client.close()


def prepare_mlflow(
    args: argparse.Namespace, workdir: Path, results: ServingResults
) -> tuple[Path, dict[str, Any]] | None:
    """MLflow's venv, and the model logged and registered there: (its python, the child's
    result), or None with the reason in ``results.mlflow_error``."""
    python, error = mlflow_python(args.mlflow_venv.resolve(), workdir / "mlflow-install.log")
    if error or python is None:
        results.mlflow_error = f"MLflow unavailable: {error}"
        console.print(f"[yellow]{results.mlflow_error}[/]")
        return None
    with progress_bar() as progress:
        found, error = run_in_venv(
            python, MLFLOW_SCRIPT, ["--reps", str(args.requests)], workdir / "mlflow", progress,
            "MLflow: log and register the model", 2,
        )  # fmt: skip
    if error or found is None:
        results.mlflow_error = f"failed: {error}"
        console.print(f"[red]{results.mlflow_error}[/]")
        return None
    results.mlflow = found
    return python, found


def start_mlflow(
    args: argparse.Namespace, mlflow: tuple[Path, dict[str, Any]], results: ServingResults,
    stack: contextlib.ExitStack,
) -> MlflowServer | None:  # fmt: skip
    """``mlflow models serve`` for the logged model, stopped (its whole tree) when ``stack``
    closes; None with the reason recorded when it does not start."""
    python, found = mlflow
    root = args.workdir.resolve() / "mlflow"
    server = MlflowServer(python, found["model_uri"], found["tracking_uri"], root, _child_env())
    stack.callback(_check_stopped, server, results)
    stack.enter_context(server)
    try:
        with console.status("starting mlflow models serve"):
            results.mlflow["start_seconds"] = server.start(timeout=180)
    except RuntimeError as exc:
        results.mlflow_error = f"mlflow models serve: {exc}"
        console.print(f"[red]{results.mlflow_error}[/]")
        return None
    return server


def _check_stopped(server: MlflowServer, results: ServingResults) -> None:
    left = server.left_running()
    if left:
        results.errors.append(f"MLflow processes still running after stop: {left}")
    results.mlflow["log_tail"] = server.tail()


if __name__ == "__main__":
    sys.exit(main())
