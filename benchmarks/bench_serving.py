"""Serving benchmark: ``shoal serve`` over 10,000 small models, ``mlflow models serve`` beside it.

    .venv/bin/python benchmarks/bench_serving.py             # full size (~6 min on 2 cores)
    .venv/bin/python benchmarks/bench_serving.py --quick     # everything tiny

A fresh store of ``--models`` LinearRegression models (``_serving_store.py``) served by
``python -m shoal serve`` in its own process: cold passes over every model with the RSS
sampled, then warm 1-row and 100-row series, sequential and concurrent, in turns with the
models' own predict calls (Shoal's overhead is the difference; target under 2 ms for 1
row), the layers in-process (``_serving_profile.py``), and ``mlflow models serve`` on one
equivalent model in MLflow's venv beside it. What each step measures and how:
benchmarks/README.md.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import httpx

import _envs
import _harness as h
import _serving_profile as inproc
from _fleet import open_store
from _serving_client import (
    HEADERS,
    PREDICT,
    TIMEOUT,
    Latency,
    concurrent_posts,
    delta_mean,
    histogram_quantile,
    interleaved,
    latency,
    mlflow_body,
    poster,
    scrape,
    shoal_body,
    timed_gets,
    timed_posts,
)
from _serving_data import feature_rows, key_of
from _serving_procs import (
    RssSampler,
    ServerProcess,
    hwm_kib,
    mlflow_server,
    rss_kib,
    shoal_server,
    tree_memory,
)
from _serving_store import build, resolution_bytes

TARGET_OVERHEAD_MS = 2.0  # Shoal's p50 latency above the model's own predict, 1-row, under
MIB = 1024.0  # KiB per MiB
WARM_KEYS = 100

bench = h.Bench(
    "serving", __doc__,
    sizes={
        "models": (10_000, 60, "models registered and served"),
        "cache_models": (2000, 20, "shoal serve --cache-models"),
        "passes": (2, 2, "cold passes over every model"),
    },
    repeat=(2000, 30, "timed requests per warm 1-row series (a quarter of that for 100-row "
            "ones) and predict calls in-process"),
    packages=("fastapi", "uvicorn", "pydantic", "httpx", "scikit-learn", "skops", "pandas",
              "numpy"),
)  # fmt: skip
p = bench.parser
p.add_argument("--cache-mb", type=int, default=64, help="shoal serve --cache-mb (default: 64)")
p.add_argument("--clients", type=int, default=4, help="concurrent clients (default: 4)")
p.add_argument("--rss-margin-mb", type=int, default=32, help="allowed above base + cache limit "
               "for allocator slack and buffers (default: 32)")  # fmt: skip
p.add_argument("--skip-mlflow", action="store_true", help="skip mlflow models serve")
p.add_argument(
    "--profile",
    action="store_true",
    help="profile the in-process request path even when the overhead target is met",
)


def measure(run: h.Run) -> None:
    args, d = run.args, run.data
    if min(args.models, args.cache_mb, args.cache_models, args.passes, args.clients) < 1:
        raise ValueError("sizes, --passes and --clients must be positive")
    for name in ("shoal", "shoal_server", "memory", "predict", "mlflow", "mlflow_latency"):
        d[name] = {}
    steps = d["step_seconds"] = {}
    root = run.workdir / "store"
    began = time.perf_counter()
    try:
        with h.progress() as progress:
            d["store"] = build(root, args.models, progress)
        steps["store"] = time.perf_counter() - began
        mlflow = None
        if not args.skip_mlflow:
            began = time.perf_counter()
            mlflow = prepare_mlflow(run)
            steps["MLflow venv and model"] = time.perf_counter() - began
        for name, step in (
            ("shoal serve (and mlflow models serve)", served),
            ("in-process", in_process),
        ):
            began = time.perf_counter()
            with run.step(name):
                step(run, root, mlflow)
            steps[name] = time.perf_counter() - began
    finally:
        if root.exists() and not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def _sequential(base: str, bodies: list[dict[str, Any]], rows: int, what: str) -> Latency:
    with h.bar(what, len(bodies)) as advance:
        started = time.perf_counter()
        times = timed_posts(base, PREDICT, bodies, rows, on_done=lambda _: advance(50))
        return latency(times, rows, 1, time.perf_counter() - started)


def _concurrent(base: str, path: str, bodies: list[dict[str, Any]], rows: int,
                clients: int) -> Latency:  # fmt: skip
    with h.console.status(f"{len(bodies):,} requests from {clients} clients"):
        times, wall = concurrent_posts(base, path, bodies, rows, clients)
    return latency(times, rows, clients, wall)


def served(run: h.Run, root: Path, mlflow: tuple[Path, dict[str, Any]] | None) -> None:
    """Cold passes over every model with RSS sampled, then the warm series on the same
    server; MLflow's server (when its model was logged) runs for the warm 1-row series,
    in turns with Shoal's."""
    args, d = run.args, run.data
    n, s, mem = args.models, d["shoal"], d["memory"]
    mem["models"] = n
    rows = feature_rows(n)
    server = shoal_server(root, args.cache_mb, args.cache_models)
    with server:
        with h.console.status("starting shoal serve"):
            d["shoal_server"]["start_seconds"] = server.start(timeout=120)
            time.sleep(0.5)
        base = server.base
        mem["base_kib"] = rss_kib(server.pid)
        with RssSampler(server.pid) as sampler:
            # The process's first prediction imports scikit-learn and skops: timed apart.
            first = timed_posts(base, PREDICT, [shoal_body([key_of(0)], [rows[0]])], 1)
            d["shoal_server"]["first_request_ms"] = first[0]
            mem["first_kib"] = rss_kib(server.pid)
            before = scrape(base)
            bodies = [shoal_body([key_of(i)], [rows[i]]) for i in range(1, n)]
            s["cold_first"] = _sequential(base, bodies, 1, f"pass 1: {n:,} models, 1 row (cold)")
            after = scrape(base)
            d["shoal_server"]["load_seconds"] = {
                "p50_ms": 1000 * histogram_quantile(before, after, "shoal_model_load_seconds", 0.5),
                "mean_ms": 1000 * delta_mean(before, after, "shoal_model_load_seconds"),
            }
            mem["passes"] = [{"rss_kib": rss_kib(server.pid)}]
            if n > args.cache_models:  # every model was evicted before its turn comes again
                for p in range(1, args.passes):
                    bodies = [shoal_body([key_of(i)], [rows[(i + p) % n]]) for i in range(n)]
                    s["cold_again"] = _sequential(
                        base, bodies, 1, f"pass {p + 1}: {n:,} models again (evicted)"
                    )
                    mem["passes"].append({"rss_kib": rss_kib(server.pid)})
            with contextlib.ExitStack() as stack:
                ml_server = start_mlflow(run, mlflow, stack) if mlflow else None
                warm_series(run, base, ml_server)
                if ml_server is not None:
                    ml_server.remember_tree()
                    d["mlflow"]["tree"] = tree_memory(ml_server.pid)
            cache = scrape(base)
        mem.update(sampled_max_kib=sampler.max_kib, rss_samples=sampler.samples,
                   hwm_kib=hwm_kib(server.pid), end_kib=rss_kib(server.pid))  # fmt: skip
        mem["peak_kib"] = max(mem["hwm_kib"] or 0, sampler.max_kib)
        metric = "shoal_model_cache_"
        d["shoal_server"]["cache"] = {
            name: cache.get(metric + name, cache.get(f"{metric}{name}_total"))
            for name in ("models", "bytes", "limit_bytes", "hits", "misses", "evictions")
        }
    d["shoal_server"]["log_tail"] = server.tail()


def warm_keys(args: Any) -> list[dict[str, str]]:
    """The keys of the warm series: the last 100 (at most --cache-models) of a pass, so the
    cache holds them when the passes end."""
    n = args.models
    return [key_of(i) for i in range(max(0, n - min(WARM_KEYS, args.cache_models)), n)]


def warm_series(run: h.Run, base: str, ml_server: ServerProcess | None) -> None:
    """On keys the last pass left in the cache: warm 1-row requests in turns with MLflow's
    (when it runs) and with the model's own predict calls in this process, concurrent
    clients, 100-row requests in turns with their models' predicts, and /healthz."""
    args, d = run.args, run.data
    s, predict = d["shoal"], d["predict"]
    warm = warm_keys(args)
    d["shoal_server"]["warm_keys"] = len(warm)
    count = args.repeat
    many = max(10, count // 4)
    rows = feature_rows(count + many + 100, seed=3)
    one = [shoal_body([warm[i % len(warm)]], [rows[i]]) for i in range(count)]
    spread = [warm[i % len(warm)] for i in range(WARM_KEYS)]  # 100 rows over up to 100 keys
    hundred = [shoal_body(spread, rows[i : i + WARM_KEYS]) for i in range(many)]
    client = open_store(run.workdir / "store")
    local = inproc.LocalPredict(client, warm, count)
    client.close()
    with contextlib.ExitStack() as stack:
        http = stack.enter_context(httpx.Client(base_url=base, timeout=TIMEOUT, headers=HEADERS))
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
        found = _in_turns(sides, "warm: 1 row, sequential, in turns: " + ", ".join(sides))
        after = scrape(base)
        s["warm_1"] = latency(found["shoal"][0], 1, 1, found["shoal"][1])
        predict["one_row"] = h.percentile(found["predict"][0], 50)
        if "mlflow" in found:
            lat = d["mlflow_latency"]["warm_1"] = latency(
                found["mlflow"][0], 1, 1, found["mlflow"][1]
            )
            d["mlflow"]["overhead_ms"] = lat.p50_ms - predict["one_row"]
        hundreds = {"shoal": (poster(http, PREDICT, WARM_KEYS), hundred),
                    "predict": (local.each_key, range(many))}  # fmt: skip
        found = _in_turns(hundreds, "warm: 100 rows over 100 keys, in turns: shoal, predict")
        s["warm_100"] = latency(found["shoal"][0], WARM_KEYS, 1, found["shoal"][1])
        predict["one_row_each_of_keys"] = h.percentile(found["predict"][0], 50)
        predict["keys"] = len(local.models)
    predict["hundred_rows_one_model"] = local.hundred_rows_ms(max(50, count // 4))
    route = "/api/v1/fleets/{tenant}/{fleet}/predict"
    d["shoal_server"]["server_warm_1_ms"] = {
        "mean": 1000 * delta_mean(before, after, "shoal_request_seconds", route=route),
        "p50": 1000 * histogram_quantile(before, after, "shoal_request_seconds", 0.5, route),
    }
    s["warm_1_conc"] = _concurrent(base, PREDICT, one, 1, args.clients)
    if ml_server is not None:
        d["mlflow_latency"]["warm_1_conc"] = _concurrent(
            ml_server.base, "/invocations", sides["mlflow"][1], 1, args.clients
        )
    s["warm_100_conc"] = _concurrent(base, PREDICT, hundred, WARM_KEYS, args.clients)
    started = time.perf_counter()
    times = timed_gets(base, "/healthz", count)
    s["healthz"] = latency(times, 1, 1, time.perf_counter() - started)


def _in_turns(sides: dict[str, Any], what: str, blocks: int = 10) -> dict[str, Any]:
    with h.bar(what, blocks) as advance:
        return interleaved(sides, blocks, on_block=lambda _: advance(1))


def in_process(run: h.Run, root: Path, _mlflow: Any = None) -> None:
    """The layers one by one, the resolutions' memory, and the profile when needed."""
    args, d = run.args, run.data
    keys = warm_keys(args)
    client = open_store(root)
    try:
        with h.console.status("in this process: the layers, the resolutions"):
            d["stages"] = inproc.stages(client, keys, args.repeat, root / "logs-inproc")
            d["resolutions"] = resolution_bytes(root, args.models)
        over = overhead_one(d)
        if args.profile or (over is not None and over >= TARGET_OVERHEAD_MS):
            with h.console.status("cProfile of the in-process request path"):
                d["profile_requests"] = args.repeat
                d["profile"] = inproc.profile(client, keys, args.repeat, 1, root / "logs-profile",
                                              run.workdir / "serve.prof")  # fmt: skip
    finally:
        client.close()


def prepare_mlflow(run: h.Run) -> tuple[Path, dict[str, Any]] | None:
    """MLflow's venv, and the model logged and registered there: (its python, the child's
    result), or None with the reason in ``mlflow_error``."""
    try:
        found = _envs.run(
            "mlflow",
            "mlflow_side.py",
            [
                "serving",
                "--reps",
                str(run.args.repeat),
                "--workdir",
                str(h.fresh(run.workdir / "mlflow")),
            ],
            run.workdir / "mlflow.log",
            "MLflow: log and register the model",
            2,
        )
    except _envs.Unavailable as exc:
        run.data["mlflow_error"] = f"MLflow unavailable: {exc}"
        return None
    except _envs.ScriptFailed as exc:
        run.data["mlflow_error"] = run.error("MLflow side", exc)
        return None
    run.data["mlflow"] = found
    return _envs.python("mlflow"), found


def start_mlflow(
    run: h.Run, mlflow: tuple[Path, dict[str, Any]], stack: contextlib.ExitStack
) -> ServerProcess | None:
    """``mlflow models serve`` for the logged model, stopped (its whole tree) when ``stack``
    closes; None with the reason recorded when it does not start."""
    python, found = mlflow
    server = mlflow_server(python, found["model_uri"], found["tracking_uri"],
                           run.workdir / "mlflow", _envs.child_env())  # fmt: skip

    def check_stopped() -> None:
        if left := server.left_running():
            run.error(f"MLflow processes still running after stop: {[p.pid for p in left]}")
        run.data["mlflow"]["log_tail"] = server.tail()

    stack.callback(check_stopped)
    stack.enter_context(server)
    try:
        with h.console.status("starting mlflow models serve"):
            run.data["mlflow"]["start_seconds"] = server.start(timeout=180)
    except RuntimeError as exc:
        run.data["mlflow_error"] = run.error("mlflow models serve", exc)
        return None
    return server


# -- the report ----------------------------------------------------------------------------------


def overhead_one(d: dict[str, Any]) -> float | None:
    """Shoal's 1-row p50 above the model's 1-row ``predict`` p50 (the issue's figure)."""
    warm = d["shoal"].get("warm_1")
    if warm is None or "one_row" not in d["predict"]:
        return None
    return float(warm.p50_ms - d["predict"]["one_row"])


def _ms(value: float | None) -> str:
    if value is None or value != value:
        return "-"
    return f"{value:,.2f} ms" if value < 100 else f"{value:,.0f} ms"


def _mib(kib: float | None) -> str:
    return "-" if kib is None else f"{kib / MIB:,.0f} MiB"


def _lat(table: h.Table, side: str, what: str, lat: Latency, compared: str = "-") -> None:
    rate, unit = (lat.per_second * lat.rows, "rows") if lat.rows > 1 else (lat.per_second, "req")
    table.add(side, what, f"{lat.requests:,}", _ms(lat.p50_ms), _ms(lat.p99_ms),
              h.num(rate, 0, f" {unit}/s"), compared, None, None)  # fmt: skip


def _value(table: h.Table, side: str, what: str, value: str, compared: str, *target: Any) -> None:
    """A row of one figure (no count, p99 or throughput), with (target, met) or none."""
    table.add(side, what, None, value, None, None, compared, *(target or (None, None)))


def report(run: h.Run) -> None:
    a, d = run.args, run.data
    if "store" not in d:
        return
    s, sv, mem, pr, ml = d["shoal"], d["shoal_server"], d["memory"], d["predict"], d["mlflow"]
    table = run.table("Serving: shoal serve against mlflow models serve",
                      ("side", "measurement", "n", "p50 / value", "p99", "throughput", "compared",
                       "target", "met"), "llrrrrlrc", c0=24, c6=48)  # fmt: skip
    side = (f"Shoal: shoal serve, 1 process, cache {a.cache_mb} MiB / {a.cache_models:,} "
            f"models, {d['store']['models']:,} models")  # fmt: skip
    ml1 = d["mlflow_latency"].get("warm_1")
    spread = f"100 rows over {sv.get('warm_keys', 100)} keys"
    load = sv.get("load_seconds", {})
    rows = [
        ("warm_1", "warm, 1 row, sequential" + (" (in turns with MLflow)" if ml1 else ""),
         f"MLflow p50 {_ms(ml1.p50_ms)}" if ml1 else "-"),
        ("warm_1_conc", f"warm, 1 row, {a.clients} clients", "-"),
        ("warm_100", f"warm, {spread}, sequential", "-"),
        ("warm_100_conc", f"warm, {spread}, {a.clients} clients", "-"),
        ("cold_first", "cold: a key's first request (resolve + load)",
         f"model load p50 {_ms(load.get('p50_ms'))} (from /metrics buckets), mean "
         f"{_ms(load.get('mean_ms'))}"),
        ("cold_again", "cold: model evicted, key resolved (load again)", "-"),
    ]  # fmt: skip
    for name, what, compared in rows:
        if name in s:
            _lat(table, side, what, s[name], compared)
            side = ""
    if (over := overhead_one(d)) is not None:
        compared = (f"p50 {_ms(s['warm_1'].p50_ms)} - model.predict p50 {_ms(pr['one_row'])} "
                    "(timed in turns with the requests)")  # fmt: skip
        if ml.get("overhead_ms") is not None:
            compared += f"; MLflow's: {_ms(ml['overhead_ms'])}"
        _value(table, side, "Shoal's overhead, 1 row (p50 - predict)", _ms(over), compared,
               f"< {TARGET_OVERHEAD_MS:g} ms", over < TARGET_OVERHEAD_MS)  # fmt: skip
    if "warm_100" in s and "one_row_each_of_keys" in pr:
        p50, each = s["warm_100"].p50_ms, pr["one_row_each_of_keys"]
        one = pr["hundred_rows_one_model"]
        _value(table, side, f"Shoal's overhead, {spread}", _ms(p50 - each), f"above its models' "
               f"predicts in turn ({_ms(each)}); {_ms(p50 - one)} above one 100-row predict "
               f"({_ms(one)})")  # fmt: skip
    if "healthz" in s:
        _lat(table, side, "HTTP floor: GET /healthz (no model)", s["healthz"])
    if "base_kib" in mem:
        _value(table, side, "RSS at startup, before traffic (base)", _mib(mem["base_kib"]),
               f"after the first model: {_mib(mem.get('first_kib'))}")  # fmt: skip
    if "peak_kib" in mem:
        passes = mem.get("passes", [])
        seen = ", ".join(f"after pass {i + 1}: {_mib(p['rss_kib'])}" for i, p in enumerate(passes))
        _value(table, side, f"peak RSS, {len(passes)} pass(es) over all {mem['models']:,} models",
               _mib(mem["peak_kib"]), f"VmHWM {_mib(mem['hwm_kib'])}, sampled max "
               f"{_mib(mem['sampled_max_kib'])}; {seen}")  # fmt: skip
        for label, key in (("at startup", "base_kib"), ("after the first model", "first_kib")):
            if mem.get(key) is not None:
                base = mem[key] / MIB
                allowed = base + a.cache_mb + a.rss_margin_mb
                _value(table, side, f"peak <= base {label} + cache limit + margin",
                       _mib(mem["peak_kib"]), f"{base:,.0f} + {a.cache_mb} + {a.rss_margin_mb} "
                       f"= {allowed:,.0f} MiB", f"<= {allowed:,.0f} MiB",
                       mem["peak_kib"] / MIB <= allowed)  # fmt: skip
    rows_before = len(table.rows)
    side = f"MLflow {ml.get('mlflow_version', '')}: mlflow models serve, 1 model"
    if ml1:
        _lat(table, side, "warm, 1 row, sequential (in turns with Shoal)", ml1,
             f"overhead {_ms(ml.get('overhead_ms'))} above the model's predict "
             f"({_ms(pr.get('one_row'))}, same libraries)")  # fmt: skip
        side = ""
    if conc := d["mlflow_latency"].get("warm_1_conc"):
        _lat(table, side, f"warm, 1 row, {conc.clients} clients", conc)
        side = ""
    if tree := ml.get("tree"):
        parts = " + ".join(f"{_program(p['command'])} {_mib(p['rss_kib'])}"
                           for p in tree["processes"])  # fmt: skip
        _value(table, side, f"RSS of one server ({len(tree['processes'])} processes)",
               _mib(tree["rss_kib"]), f"{parts}; PSS {_mib(tree['pss_kib'])}")  # fmt: skip
        models, side = d["store"]["models"], ""
        total = tree["rss_kib"] * models
        ratio = f"{total / mem['peak_kib']:,.0f}x Shoal's peak" if mem.get("peak_kib") else "-"
        _value(table, side, f"one such server per model x {models:,} (extrapolated)",
               f"{total / MIB**2:,.0f} GiB", ratio)  # fmt: skip
    if d.get("mlflow_error"):
        _value(table, side, "not measured", None, d["mlflow_error"][:200])
    table.sections.add(rows_before)
    notes(run)


def _program(command: str) -> str:
    """``mlflow`` for ``python -m mlflow ...``, ``uvicorn`` for ``python .../bin/uvicorn``."""
    words = command.split()
    words = words[1:] if words and words[0].startswith("python") else words
    words = words[1:] if words and words[0] == "-m" else words
    return Path(words[0]).name if words else "?"


def notes(run: h.Run) -> None:
    d, add = run.data, run.notes.append
    steps = ", ".join(f"{k} {v:.0f} s" for k, v in d["step_seconds"].items())
    add(f"Steps: {steps}.")
    st, sv, ml = d["store"], d["shoal_server"], d["mlflow"]
    add(
        f"Store: {st['models']:,} LinearRegression models (3 features, skops), fitted in "
        f"{st['fit_seconds']:.1f} s, registered in {st['register_seconds']:.1f} s "
        f"({st['batches']} fleet.register calls), aliased production in "
        f"{st['promote_seconds']:.2f} s; artifacts {st['artifact_bytes'] / 2**20:,.1f} MiB."
    )
    if cache := sv.get("cache"):
        add(
            f"shoal serve started in {sv['start_seconds']:.1f} s; at the end its cache held "
            f"{cache['models'] or 0:,.0f} models, {(cache['bytes'] or 0) / 2**20:,.1f} MiB "
            f"estimated (limit {(cache['limit_bytes'] or 0) / 2**20:,.0f} MiB), after "
            f"{cache['misses'] or 0:,.0f} loads and {cache['evictions'] or 0:,.0f} evictions; "
            f"the warm 1-row requests inside the server (its timing middleware, "
            f"shoal_request_seconds): mean {_ms(sv.get('server_warm_1_ms', {}).get('mean'))}."
        )
    if one := d.get("stages", {}).get("one_row"):
        many, s = d["stages"]["hundred_rows"], d["shoal"]
        http = [_ms(s[k].p50_ms) if k in s else "-" for k in ("warm_1", "warm_100")]
        add(
            f"Layers, in this process, warm, p50 (1 row | 100 rows over {sv.get('warm_keys', 100)}"
            f" keys): the flavor's predict {_ms(one['flavor_predict'])} | "
            f"{_ms(many['flavor_predict'])}; Predictor.predict {_ms(one['predictor'])} | "
            f"{_ms(many['predictor'])}; the whole app over ASGI (no socket) "
            f"{_ms(one['app_in_process'])} | {_ms(many['app_in_process'])} (with auth on and a "
            f"predict token, 1 row: {_ms(one.get('app_in_process_auth'))}); over HTTP "
            f"(uvicorn, loopback) {http[0]} | {http[1]}."
        )
    if res := d.get("resolutions"):
        add(
            f"The predictor's resolutions (key -> version rows, kept per fleet and alias, not "
            f"bounded by the cache limits): {res['bytes_per_key']:,.0f} bytes a key "
            f"(tracemalloc, {res['keys']:,} keys resolved: {res['bytes'] / 2**20:,.1f} MiB)."
        )
    if "mlflow_version" in ml:
        add(
            f"MLflow {ml['mlflow_version']} (its own venv) served models:/bench-serving/1 (skops; "
            f"at set-up, model.predict on 1 row took {_ms(ml.get('predict_1row_ms_p50'))} p50; "
            f"logged in {ml.get('log_seconds', 0):.1f} s) with --env-manager local, started in "
            f"{ml.get('start_seconds', float('nan')):.1f} s; the per-model fleet memory is one "
            "measured server's RSS times the model count, not measured."
        )
    if profile := d.get("profile"):
        n = d["profile_requests"]
        h.profile_table(run, f"The in-process app under cProfile, {n:,} warm 1-row requests: ms "
                        "per request (profiling slows every call down; compare rows, not "
                        "totals)", profile, n, "request")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    return bench.run(bench.parse(argv), measure, report)


if __name__ == "__main__":
    sys.exit(main())
