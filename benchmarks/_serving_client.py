"""The HTTP side of the serving benchmark: request bodies, timed calls, scraped metrics.

One ``httpx.Client`` per thread (keep-alive, so a connection is opened once), the same
for Shoal and for MLflow. A request's latency is from just before ``post`` to just after
the body is read and its status checked: JSON encoding, the loopback round trip, the
server's work and JSON decoding. Any status other than 200 stops the benchmark with the
server's answer; an error can never pass for a fast request.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from _harness import percentile
from _serving_data import FEATURES

PREDICT = "/api/v1/fleets/bench/demand/predict"
TIMEOUT = 60.0
HEADERS: dict[str, str] = {}
"""Sent with every request: ``shoal_server`` puts its predict token here (auth is on, as a
service would run it; the mlflow server ignores the header)."""


def shoal_body(keys: Sequence[dict[str, str]], rows: Sequence[dict[str, float]]) -> dict[str, Any]:
    """One multi-key request: row i carries key i's values and its features."""
    return {"rows": [{**key, **row} for key, row in zip(keys, rows, strict=True)]}


def mlflow_body(row: dict[str, float]) -> dict[str, Any]:
    """One row for MLflow's ``/invocations``, as a pandas split-oriented frame."""
    return {"dataframe_split": {"columns": FEATURES, "data": [[row[f] for f in FEATURES]]}}


class RequestFailed(RuntimeError):
    pass


@dataclass
class Latency:
    """One timed series of requests."""

    requests: int
    rows: int  # per request
    clients: int
    p50_ms: float
    p99_ms: float
    wall_s: float
    mean_ms: float = math.nan

    @property
    def per_second(self) -> float:
        return self.requests / self.wall_s if self.wall_s else math.nan


def latency(times: list[float], rows: int, clients: int, wall: float) -> Latency:
    return Latency(len(times), rows, clients, percentile(times, 50), percentile(times, 99),
                   wall, sum(times) / len(times) if times else math.nan)  # fmt: skip


def _check(reply: httpx.Response, rows: int) -> None:
    if reply.status_code != 200:
        raise RequestFailed(f"{reply.request.url.path}: {reply.status_code} {reply.text[:300]}")
    found = reply.json()
    answers = found.get("predictions")
    if not isinstance(answers, list) or len(answers) != rows:
        raise RequestFailed(f"{reply.request.url.path}: expected {rows} predictions: {found}")


def timed_posts(
    base: str,
    path: str,
    bodies: Sequence[dict[str, Any]],
    rows: int,
    on_done: Callable[[int], None] | None = None,
) -> list[float]:
    """POST each body in turn on one keep-alive connection; each one's milliseconds."""
    times = []
    with httpx.Client(base_url=base, timeout=TIMEOUT, headers=HEADERS) as http:
        for i, body in enumerate(bodies):
            started = time.perf_counter()
            reply = http.post(path, json=body)
            _check(reply, rows)
            times.append((time.perf_counter() - started) * 1000)
            if on_done is not None and (i + 1) % 50 == 0:
                on_done(i + 1)
    return times


def poster(http: httpx.Client, path: str, rows: int) -> Callable[[dict[str, Any]], None]:
    """One checked POST of a body on ``http``'s keep-alive connection."""

    def post(body: dict[str, Any]) -> None:
        _check(http.post(path, json=body), rows)

    return post


def interleaved(
    sides: dict[str, tuple[Callable[[Any], object], Sequence[Any]]],
    blocks: int,
    on_block: Callable[[int], None] | None = None,
) -> dict[str, tuple[list[float], float]]:
    """Several timed series in ``blocks`` turns (a block of one, then of the next...), so
    that on a shared machine every side sees the same load: Shoal's requests, MLflow's,
    and the model's own predict calls they are compared with. ``sides`` maps a name to
    (one timed call, its items); the answer maps it to (ms of each call, seconds spent
    in its blocks)."""
    found: dict[str, tuple[list[float], float]] = {name: ([], 0.0) for name in sides}
    for block in range(blocks):
        for name, (call, items) in sides.items():
            size = -(-len(items) // blocks)
            times, wall = found[name]
            started = time.perf_counter()
            for item in items[block * size : (block + 1) * size]:
                began = time.perf_counter()
                call(item)
                times.append((time.perf_counter() - began) * 1000)
            found[name] = (times, wall + time.perf_counter() - started)
        if on_block is not None:
            on_block(block + 1)
    return found


def timed_gets(base: str, path: str, count: int) -> list[float]:
    """GET ``path`` ``count`` times on one connection (the HTTP floor: no model involved)."""
    times = []
    with httpx.Client(base_url=base, timeout=TIMEOUT, headers=HEADERS) as http:
        for _ in range(count):
            started = time.perf_counter()
            reply = http.get(path)
            reply.read()
            if reply.status_code != 200:
                raise RequestFailed(f"{path}: {reply.status_code}")
            times.append((time.perf_counter() - started) * 1000)
    return times


def concurrent_posts(
    base: str, path: str, bodies: Sequence[dict[str, Any]], rows: int, clients: int
) -> tuple[list[float], float]:
    """``clients`` threads, each its own connection, sharing ``bodies``: (ms each, wall s)."""
    times: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []
    share = [bodies[i::clients] for i in range(clients)]
    gate = threading.Barrier(clients + 1)

    def work(i: int) -> None:
        with httpx.Client(base_url=base, timeout=TIMEOUT, headers=HEADERS) as http:
            http.get("/healthz" if path == PREDICT else "/ping")  # open the connection
            gate.wait()
            try:
                for body in share[i]:
                    started = time.perf_counter()
                    reply = http.post(path, json=body)
                    _check(reply, rows)
                    times[i].append((time.perf_counter() - started) * 1000)
            except BaseException as exc:  # reported by the caller
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    gate.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    if errors:
        raise errors[0]
    return [t for part in times for t in part], wall


def scrape(base: str) -> dict[str, float]:
    """``/metrics`` as ``{"name{label=value,...}": value}`` (samples, with suffixes)."""
    text = httpx.get(base + "/metrics", timeout=TIMEOUT).text
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found


def histogram_quantile(
    before: dict[str, float], after: dict[str, float], name: str, q: float, route: str = ""
) -> float:
    """Prometheus' ``histogram_quantile`` over what was observed between two scrapes:
    linear within the bucket holding the quantile (so only as fine as the buckets)."""
    prefix = f"{name}_bucket{{" + (f"le=%s,route={route}}}" if route else "le=%s}")
    buckets = []
    for key in after:
        if key.startswith(f"{name}_bucket{{"):
            le = key.split("le=", 1)[1].split(",", 1)[0].rstrip("}")
            bound = math.inf if le == "+Inf" else float(le)
            full = prefix % le
            if full in after:
                buckets.append((bound, after[full] - before.get(full, 0.0)))
    buckets.sort()
    if not buckets or buckets[-1][1] <= 0:
        return math.nan
    total = buckets[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            span = count - lower_count
            return lower_bound + (bound - lower_bound) * (
                (rank - lower_count) / span if span else 0
            )
        lower_bound, lower_count = bound, count
    return math.nan


def delta_mean(
    before: dict[str, float], after: dict[str, float], name: str, route: str = ""
) -> float:
    """Mean of a histogram's observations between two scrapes (``_sum`` / ``_count``)."""
    label = f"{{route={route}}}" if route else ""
    count = after.get(f"{name}_count{label}", 0.0) - before.get(f"{name}_count{label}", 0.0)
    total = after.get(f"{name}_sum{label}", 0.0) - before.get(f"{name}_sum{label}", 0.0)
    return total / count if count else math.nan
