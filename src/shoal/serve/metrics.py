"""Prometheus metrics of one server: requests, latencies, rows, and the model cache.

Each server has its own ``CollectorRegistry`` (not the process-wide default), so several
servers in one process (tests, a notebook) never collide. Cache figures are read from the
cache when scraped, so they cost nothing per request.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from shoal.serve.cache import ModelCache

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class ServerMetrics:
    """The metrics one server exports on ``/metrics``."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("shoal_requests", "HTTP requests by route and status",
                                ["route", "status"], registry=self.registry)  # fmt: skip
        self.latency = Histogram("shoal_request_seconds", "Request latency by route", ["route"],
                                 buckets=_LATENCY_BUCKETS, registry=self.registry)  # fmt: skip
        self.rows = Counter("shoal_predicted_rows", "Rows predicted", registry=self.registry)
        self.loads = Histogram("shoal_model_load_seconds", "Time to load one model",
                               buckets=_LATENCY_BUCKETS, registry=self.registry)  # fmt: skip

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def observe_load(self, seconds: float) -> None:
        self.loads.observe(seconds)

    def watch(self, cache: ModelCache) -> None:
        self.registry.register(_CacheCollector(cache))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _CacheCollector:
    """Reads the cache's counters when Prometheus scrapes."""

    def __init__(self, cache: ModelCache) -> None:
        self.cache = cache

    def collect(self) -> Iterator[Any]:
        stats = self.cache.stats
        for name, value, text in (
            ("shoal_model_cache_hits", stats.hits, "Model lookups served from the cache"),
            ("shoal_model_cache_misses", stats.misses, "Model lookups that had to load"),
            ("shoal_model_cache_evictions", stats.evictions, "Models evicted"),
        ):
            yield CounterMetricFamily(name, text, value=value)
        yield GaugeMetricFamily("shoal_model_cache_models", "Models in the cache",
                                value=len(self.cache))  # fmt: skip
        yield GaugeMetricFamily("shoal_model_cache_bytes", "Estimated bytes of cached models",
                                value=self.cache.bytes)  # fmt: skip
        yield GaugeMetricFamily("shoal_model_cache_limit_bytes", "The cache's byte limit",
                                value=self.cache.max_bytes)  # fmt: skip
