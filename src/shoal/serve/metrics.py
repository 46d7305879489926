"""Prometheus metrics of one server: requests, latencies, rows, the model cache and the logs.

Each server has its own ``CollectorRegistry`` (not the process-wide default), so several
servers in one process (tests, a notebook) never collide. Cache and log figures are read
from the cache and the logs when scraped, so they cost nothing per request. The logs'
figures, labelled ``log="predictions"`` or ``log="feedback"``: ``shoal_log_rows_waiting``
(accepted, not yet written), ``shoal_log_rows_written_total``,
``shoal_log_flush_failures_total`` (flushes that left rows to retry) and
``shoal_log_rows_refused_total`` (rows of requests answered 503 because too many waited).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from shoal.serve.cache import ModelCache
from shoal.serve.logbook import ParquetLog

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

    def watch_logs(self, *logs: ParquetLog) -> None:
        self.registry.register(_LogCollector(logs))

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


class _LogCollector:
    """Reads the logs' counters when Prometheus scrapes."""

    def __init__(self, logs: tuple[ParquetLog, ...]) -> None:
        self.logs = logs

    def collect(self) -> Iterator[Any]:
        text = "Log rows accepted and not yet written"
        waiting = GaugeMetricFamily("shoal_log_rows_waiting", text, labels=["log"])
        families: list[Any] = [waiting]
        counters = (
            ("shoal_log_rows_written", "Log rows written", "written"),
            ("shoal_log_flush_failures", "Log flushes that left rows to retry", "failed_flushes"),
            ("shoal_log_rows_refused", "Log rows refused (503): too many waiting", "refused"),
        )
        for log in self.logs:
            waiting.add_metric([log.kind], log.waiting)
        for name, text, attribute in counters:
            family = CounterMetricFamily(name, text, labels=["log"])
            for log in self.logs:
                family.add_metric([log.kind], getattr(log, attribute))
            families.append(family)
        yield from families
