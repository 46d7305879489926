"""The model cache: one per server process, bounded by count and by estimated bytes.

Why one process with threads rather than several worker processes: every worker process
would load every model it is asked for, so memory would grow with workers x models. One
process holds each model once; request handlers run on a thread pool, and the libraries
that do the work (numpy, scikit-learn, LightGBM) release the GIL inside predict. Scaling
past one process is Ray Serve's job, with requests for a model routed to the replica that
already holds it (model multiplexing).

Eviction is least recently used, by count (``max_models``) and by estimated bytes
(``max_bytes``). A model's size is estimated when it is loaded: the bytes of the arrays
and buffers reachable from it (two levels of attributes deep), and never less than its
artifact's size, plus a fixed per-model overhead. Concurrent requests for one cold model
load it once: the first loads, the others wait for that load.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np

PER_MODEL_BYTES = 4096
"""Fixed overhead counted for every cached model (Python objects, the entry itself)."""


@dataclass
class CacheStats:
    """Counters the server exports on ``/metrics``."""

    hits: int = 0
    misses: int = 0
    evictions: int = 0
    load_seconds: float = 0.0
    loads: int = 0


@dataclass(frozen=True)
class _Entry:
    model: Any
    size: int


class ModelCache:
    """Loaded models by version id, least recently used out first (see module doc)."""

    def __init__(
        self,
        load: Callable[[dict[str, Any]], Any],
        *,
        max_models: int = 1000,
        max_bytes: int = 512 * 2**20,
        on_load: Callable[[float], None] | None = None,
    ) -> None:
        if max_models < 1 or max_bytes < 1:
            raise ValueError("max_models and max_bytes must be positive")
        self._load = load
        self.max_models = max_models
        self.max_bytes = max_bytes
        self._on_load = on_load
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._loading: dict[int, Future[Any]] = {}
        self._lock = threading.Lock()
        self.bytes = 0
        self.stats = CacheStats()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, version: dict[str, Any]) -> Any:
        """The model of ``version`` (a resolved row with ``version_id``), loaded at most once."""
        vid = int(version["version_id"])
        with self._lock:
            entry = self._entries.get(vid)
            if entry is not None:
                self._entries.move_to_end(vid)
                self.stats.hits += 1
                return entry.model
            self.stats.misses += 1
            waiting = self._loading.get(vid)
            if waiting is None:
                mine: Future[Any] = Future()
                self._loading[vid] = mine
        if waiting is not None:
            return waiting.result()
        return self._fill(vid, version, mine)

    def _fill(self, vid: int, version: dict[str, Any], future: Future[Any]) -> Any:
        started = time.perf_counter()
        try:
            model = self._load(version)
        except BaseException as exc:
            with self._lock:
                del self._loading[vid]
            future.set_exception(exc)
            raise
        seconds = time.perf_counter() - started
        size = estimate_bytes(model, int(version.get("artifact_size") or 0))
        with self._lock:
            del self._loading[vid]
            self._entries[vid] = _Entry(model, size)
            self.bytes += size
            self.stats.loads += 1
            self.stats.load_seconds += seconds
            self._evict(keep=vid)
        future.set_result(model)
        if self._on_load is not None:
            self._on_load(seconds)
        return model

    def _evict(self, keep: int) -> None:
        """Drop least recently used entries until both limits hold (never ``keep``)."""
        while len(self._entries) > 1 and (
            len(self._entries) > self.max_models or self.bytes > self.max_bytes
        ):
            vid, entry = next(iter(self._entries.items()))
            if vid == keep:
                self._entries.move_to_end(vid)
                continue
            del self._entries[vid]
            self.bytes -= entry.size
            self.stats.evictions += 1


def estimate_bytes(model: Any, artifact_size: int) -> int:
    """Bytes a loaded model holds: arrays and buffers two attribute levels deep, at least the
    artifact's size, plus :data:`PER_MODEL_BYTES`."""
    return max(_reachable(model, depth=2, seen=set()), artifact_size) + PER_MODEL_BYTES


def _reachable(value: Any, depth: int, seen: set[int]) -> int:
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, bytes | bytearray | str):
        return sys.getsizeof(value)
    if depth < 0:
        return 0
    if isinstance(value, dict):
        items = list(value.values())
    elif isinstance(value, list | tuple | set):
        items = list(value)
    else:
        items = list(getattr(value, "__dict__", {}).values())
    return sum(_reachable(item, depth - 1, seen) for item in items[:10_000])
