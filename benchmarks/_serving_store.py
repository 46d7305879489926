"""The store the serving benchmark serves: N small models in a fresh SQLite store.

A fleet ``bench/demand`` keyed by (store, sku), 100 SKUs per store; per key one
scikit-learn ``LinearRegression`` from :mod:`_serving_data`, registered with the sklearn
flavor (skops; Shoal records the feature names as its signature) in bulk
``fleet.register`` calls, then ``promote("production", all=True)`` points the alias at every
model's version 1. Also :func:`resolution_bytes`: what the predictor keeps per resolved
key, traced in this process.
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path
from typing import Any

from rich.progress import Progress

from _fleet import open_store
from _harness import dir_bytes, fresh
from _serving_data import KEYS, fit_key, key_of

FLEET = "bench/demand"
BATCH = 2000


def build(root: Path, models: int, progress: Progress) -> dict[str, Any]:
    """A fresh store under ``root`` with ``models`` fitted models aliased production."""
    client = open_store(fresh(root))
    fleet = client.fleet(FLEET, keys=list(KEYS))
    task = progress.add_task(f"fit {models:,} LinearRegression models", total=models)
    started = time.perf_counter()
    fitted = []
    for i in range(models):
        fitted.append(fit_key(i))
        if (i + 1) % 200 == 0 or i + 1 == models:
            progress.update(task, completed=i + 1)
    fit_seconds = time.perf_counter() - started
    progress.update(task, description=f"register {models:,} models", completed=0)
    register_seconds, batches = 0.0, 0
    for start in range(0, models, BATCH):
        stop = min(models, start + BATCH)
        records = [{"key": key_of(i), "model": fitted[i]} for i in range(start, stop)]
        began = time.perf_counter()
        fleet.register(records)
        register_seconds += time.perf_counter() - began
        batches += 1
        progress.update(task, completed=stop)
    progress.remove_task(task)
    began = time.perf_counter()
    moved = fleet.promote("production", all=True, create=True, preview=0).moved
    promote_seconds = time.perf_counter() - began
    client.close()
    if moved != models:
        raise RuntimeError(f"promote moved {moved} models, expected {models}")
    artifact_bytes = dir_bytes(root / "artifacts")
    return {
        "models": models,
        "fit_seconds": fit_seconds,
        "register_seconds": register_seconds,
        "batches": batches,
        "promote_seconds": promote_seconds,
        "artifact_bytes": artifact_bytes,
        "db_bytes": (root / "shoal.db").stat().st_size,
    }


def resolution_bytes(root: Path, models: int) -> dict[str, float]:
    """Bytes the server's predictor keeps per resolved key: every key resolved at the alias
    through the app's own predictor (no model loaded), traced by ``tracemalloc``."""
    from shoal.http.auth import Auth
    from shoal.serve import create_app

    client = open_store(root)
    app = create_app(client, auth=Auth.off(), logs_url=str(root / "logs-resolve"))
    predictor = app.state.predictor
    fleet = client.fleet(FLEET).ref
    keys = [tuple(key_of(i).values()) for i in range(models)]
    predictor._resolve(fleet, keys[:1], "production", None)  # the fleet's state exists
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for start in range(0, models, 1000):
        predictor._resolve(fleet, keys[start : start + 1000], "production", None)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    for log in app.state.logs:
        log.close()
    client.close()
    return {"keys": models, "bytes": held, "bytes_per_key": held / models}
