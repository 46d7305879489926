"""Where a warm request's time goes, measured in this process: stage timings and cProfile.

Three things, all on the benchmark's store, with the server's own app
(``shoal.serve.create_app``) built in this process:

- ``LocalPredict``: the model's own time, as the issue defines it: the model loaded
  with ``client.load_model``, ``model.predict(frame)`` on frames built like the server
  builds them (``pandas.DataFrame.from_records`` of the request's feature values): a
  1-row frame, a 100-row frame for one model, and one 1-row frame for each of 100 models
  (what a 100-row request spanning 100 keys asks of its models). The benchmark times
  these calls in turns with the HTTP requests they are subtracted from.
- ``stages``: p50 of each layer on its own, warm: the flavor's predict (Shoal's call into
  the model), ``Predictor.predict`` (resolve, group, frame, check, predict, answers), and
  the whole app through ``httpx.AsyncClient`` over ``httpx.ASGITransport`` (FastAPI,
  pydantic, the middlewares, logging, JSON) without a socket or uvicorn.
- ``profile``: the in-process app under cProfile for warm requests. FastAPI runs a sync
  endpoint on a worker thread, which cProfile (per thread) would not see, so for this
  run only ``fastapi.routing.run_in_threadpool`` calls inline: the whole request path
  then runs on the profiled thread. Nothing under ``src/`` changes. The client's frames
  (httpx, and the import check httpx's ASGI transport makes per request), the event
  loop's, and whatever only they call are left out of the tables.
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _harness import inline_threadpool, percentile, top_functions
from _serving_client import PREDICT, shoal_body
from _serving_data import feature_rows, frame_of

FLEET = "bench/demand"


def _p50_ms(fn: Callable[[], Any], reps: int, warmup: int = 20) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return percentile(times, 50)


class LocalPredict:
    """The warm keys' models loaded in this process (``client.load_model``) and the predict
    calls a request makes of them, timed beside the HTTP series (``interleaved``), so the
    subtraction compares figures measured under the same load.

    ``one_row(i)``: request i's model on a 1-row frame; ``each_key(i)``: a 100-row request
    spread over the keys, each model on its share (1 row at 100 keys), one after the other.
    """

    def __init__(self, client: Any, keys: list[dict[str, str]], reps: int) -> None:
        self.models = [client.load_model(FLEET, key, alias="production") for key in keys]
        rows = feature_rows(max(reps, 100), seed=11)
        self.one = [frame_of([row]) for row in rows[:reps]]
        self.hundred = frame_of(rows[:100])
        n = len(self.models)
        self.shares = [frame_of(rows[j : j + 1] * (100 // n + (j < 100 % n))) for j in range(n)]
        for i in range(min(20, reps)):  # warm: first calls of a model are slower
            self.one_row(i)

    def one_row(self, i: int) -> None:
        self.models[i % len(self.models)].predict(self.one[i % len(self.one)])

    def each_key(self, _i: int) -> None:
        for model, frame in zip(self.models, self.shares, strict=True):
            model.predict(frame)

    def hundred_rows_ms(self, reps: int) -> float:
        """p50 of one model on a 100-row frame (what a 100-row request of one key asks)."""
        return _p50_ms(lambda: self.models[0].predict(self.hundred), reps)


def _app(client: Any, logs: Path, *, auth: bool = False) -> Any:
    from shoal.http.auth import Auth
    from shoal.serve import create_app

    chosen = Auth(enabled=True) if auth else Auth.off()
    return create_app(client, auth=chosen, logs_url=str(logs))


async def _asgi_times(
    app: Any, bodies: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> list[float]:
    import httpx

    transport = httpx.ASGITransport(app=app)
    times = []
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1",
                                 headers=headers) as http:  # fmt: skip
        for body in bodies:
            started = time.perf_counter()
            reply = await http.post(PREDICT, json=body)
            if reply.status_code != 200:
                raise RuntimeError(f"in-process request failed: {reply.text[:300]}")
            times.append((time.perf_counter() - started) * 1000)
    return times


def stages(
    client: Any, keys: list[dict[str, str]], reps: int, logs: Path
) -> dict[str, dict[str, float]]:
    """p50 ms of each layer, warm, for a 1-row request and a 100-row one over ``keys``."""
    from shoal.flavors import get_flavor

    app = _app(client, logs)
    predictor = app.state.predictor
    flavor = get_flavor("sklearn")
    models = [client.load_model(FLEET, key, alias="production") for key in keys]
    rows = feature_rows(reps + 100, seed=13)
    one = [[{**keys[i % len(keys)], **rows[i]}] for i in range(reps)]
    many = [
        [{**key, **row} for key, row in zip(keys, rows[i : i + 100], strict=False)]
        for i in range(max(5, reps // 10))
    ]
    frames = [frame_of([row]) for row in rows[:reps]]
    turn = iter(range(10**12))
    for body in many[:2]:  # every model of the keys loaded and resolved once
        predictor.predict("bench", "demand", body)

    def flavor_one() -> None:
        i = next(turn)
        flavor.predict(models[i % len(models)], frames[i % len(frames)])

    def predictor_one() -> None:
        predictor.predict("bench", "demand", one[next(turn) % len(one)])

    def predictor_many() -> None:
        predictor.predict("bench", "demand", many[next(turn) % len(many)])

    guarded = _app(client, logs.with_name(logs.name + "-auth"), auth=True)
    _, secret = client.create_token("bench", "predict", name=f"stages-{time.monotonic_ns()}")
    bearer = {"authorization": f"Bearer {secret}"}
    with inline_threadpool():
        asgi_one = asyncio.run(_asgi_times(app, [{"rows": r} for r in one]))
        asgi_many = asyncio.run(_asgi_times(app, [{"rows": r} for r in many]))
        # The same requests with auth on and a predict token: what checking it costs.
        auth_one = asyncio.run(_asgi_times(guarded, [{"rows": r} for r in one], bearer))
    for log in (*app.state.logs, *guarded.state.logs):
        log.close()
    return {
        "one_row": {
            "flavor_predict": _p50_ms(flavor_one, reps),
            "predictor": _p50_ms(predictor_one, reps),
            "app_in_process": percentile(asgi_one, 50),
            "app_in_process_auth": percentile(auth_one, 50),
        },
        "hundred_rows": {
            "flavor_predict": _p50_ms(
                lambda: [flavor.predict(m, f) for m, f in zip(models, frames, strict=False)],
                max(5, reps // 40),
                warmup=3,
            ),
            "predictor": _p50_ms(predictor_many, len(many), warmup=3),
            "app_in_process": percentile(asgi_many, 50),
        },
    }


def profile(
    client: Any,
    keys: list[dict[str, str]],
    requests: int,
    rows_per_request: int,
    logs: Path,
    out: Path,
    top: int = 18,
) -> list[dict[str, Any]]:
    """The in-process app under cProfile for ``requests`` warm requests of ``rows_per_request``
    rows (spanning that many keys): the top functions by own time, and Shoal's own
    functions by cumulative time, per request (the client's frames left out)."""
    app = _app(client, logs)
    rows = feature_rows(requests + rows_per_request, seed=17)
    bodies = []
    for i in range(requests):
        picked = [keys[(i + j) % len(keys)] for j in range(rows_per_request)]
        bodies.append(shoal_body(picked, rows[i : i + rows_per_request]))
    every = [shoal_body([key], rows[:1]) for key in keys]  # each model loaded and resolved
    with inline_threadpool():
        asyncio.run(_asgi_times(app, every + bodies[:20]))
        profiler = cProfile.Profile()
        profiler.enable()
        asyncio.run(_asgi_times(app, bodies))
        profiler.disable()
    for log in app.state.logs:
        log.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(str(out))
    return top_functions(
        pstats.Stats(str(out)),
        requests,
        ours=lambda f, _: "/shoal/" in f,
        skip=_harness_frames(pstats.Stats(str(out))),
        own=top,
        cumulative=top,
    )


def _harness_frames(stats: pstats.Stats) -> Callable[[Any], bool]:
    """The client's and the event loop's frames, and built-ins only the client (and the
    import system it runs: httpx's per-request check for trio) calls."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    harness_files = ("_serving_profile.py", "asyncio/", "selectors.py", "httpx/", "importlib")
    harness = {
        func
        for func in raw
        if any(x in func[0] for x in harness_files) or "_contextvars" in func[2]
    }
    client = {f for f in harness if "_serving_profile.py" in f[0] or "httpx/" in f[0]
              or "importlib" in f[0]}  # fmt: skip
    harness |= {f for f, v in raw.items() if f[0] == "~" and v[4] and set(v[4]) <= client}
    return harness.__contains__
