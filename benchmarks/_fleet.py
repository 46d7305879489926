"""The synthetic fleet the benchmark registers, and the timed registration itself.

A fleet ``bench/demand`` keyed by (store, sku), 1,000 SKUs per store, each version with
5 params, 3 metrics, a ~330-byte ``linear`` artifact and lineage (a registered dataset,
a run, a slice fingerprint). Records are made in numpy batches outside the timer: only
the ``fleet.register`` calls are measured. The query suite uses the same naming and
layout to pick stores and SKUs that exist.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress

import shoal
from _harness import dir_bytes, fresh

FLEET = "bench/demand"
SKUS_PER_STORE = 1000
FEATURES = [f"lag_{i}" for i in range(1, 8)] + [f"dow_{i}" for i in range(7)] + ["price", "promo"]


@dataclass
class RegisterResult:
    n: int
    batch_size: int
    stores: int
    skus: int
    seconds: float
    generate_seconds: float
    artifact_bytes_mean: float
    db_bytes: int
    artifact_store_bytes: int

    @property
    def per_version_s(self) -> float:
        return self.seconds / self.n


def store_name(i: int) -> str:
    return f"s{i:04d}"


def sku_name(i: int) -> str:
    return f"k{i:04d}"


def layout(n: int) -> tuple[int, int]:
    """(stores, SKUs per store): 1,000 SKUs per store, e.g. 1,000 x 1,000 at 1M."""
    skus = min(SKUS_PER_STORE, n)
    return -(-n // skus), skus


def make_batch(
    start: int, count: int, skus: int, run_id: int, dataset_id: int, seed: int
) -> list[dict[str, Any]]:
    """Records ``start .. start+count`` of the fleet: params, metrics, artifact, lineage."""
    rng = np.random.default_rng(seed)
    coef = np.round(rng.normal(0.0, 0.5, size=(count, len(FEATURES))), 7).tolist()
    intercept = np.round(rng.uniform(1, 100, size=count), 6).tolist()
    alpha = np.round(rng.uniform(0.001, 1.0, size=count), 6).tolist()
    mape = rng.uniform(0.0, 1.0, size=count).tolist()
    rmse = rng.gamma(2.0, 5.0, size=count).tolist()
    bias = rng.normal(0.0, 0.1, size=count).tolist()
    fingerprints = rng.bytes(16 * count).hex()
    out = []
    dumps = json.dumps
    for j in range(count):
        i = start + j
        artifact = dumps(
            {"coef": dict(zip(FEATURES, coef[j], strict=True)), "intercept": intercept[j],
             "v": 1},
            sort_keys=True, separators=(",", ":"),
        ).encode()  # fmt: skip
        out.append(
            {
                "key": {"store": store_name(i // skus), "sku": sku_name(i % skus)},
                "artifact": artifact,
                "flavor": "linear",
                "params": {"alpha": alpha[j], "l1_ratio": 0.5, "max_iter": 1000,
                           "features": len(FEATURES), "horizon": 28},
                "metrics": {"mape": mape[j], "rmse": rmse[j], "bias": bias[j]},
                "run": run_id,
                "dataset": dataset_id,
                "slice_fingerprint": fingerprints[32 * j : 32 * j + 32],
            }
        )  # fmt: skip
    return out


def small_frame() -> Any:
    import pandas as pd

    rng = np.random.default_rng(7)
    days = pd.date_range("2026-01-01", periods=60, freq="D")
    return pd.DataFrame(
        {
            "store": np.repeat([store_name(i) for i in range(5)], 60),
            "sku": np.tile([sku_name(0)], 300),
            "day": np.tile(days, 5),
            "units": rng.poisson(20, size=300),
            "price": np.round(rng.uniform(1, 9, size=300), 2),
        }
    )


def open_store(root: Path) -> shoal.Client:
    return shoal.connect(f"sqlite:///{root / 'shoal.db'}", str(root / "artifacts"))


def bench_register(
    n: int, workdir: Path, batch_size: int, progress: Progress
) -> tuple[RegisterResult, shoal.Client, shoal.Fleet]:
    root = fresh(workdir / f"shoal-{n}")
    client = open_store(root)
    fleet = client.fleet(FLEET, keys=["store", "sku"])
    dataset = client.datasets.register(small_frame(), name="bench/sales")
    run_id = fleet.start_run("train", params={"bench": "registry", "n": n})
    stores, skus = layout(n)
    task = progress.add_task(f"register {n:,}", total=n)
    seconds = generate = 0.0
    artifact_bytes = 0
    for start in range(0, n, batch_size):
        count = min(batch_size, n - start)
        t0 = time.perf_counter()
        batch = make_batch(start, count, skus, run_id, dataset.id, seed=start)
        generate += time.perf_counter() - t0
        artifact_bytes += sum(len(r["artifact"]) for r in batch)
        t0 = time.perf_counter()
        placed = fleet.register(batch)
        seconds += time.perf_counter() - t0
        assert len(placed) == count, (len(placed), count)
        del batch, placed
        progress.update(
            task, advance=count,
            description=f"register {n:,} ({(start + count) / seconds:,.0f}/s)",
        )  # fmt: skip
    client.finish_run(run_id, counts={"versions": n})
    progress.remove_task(task)
    got = fleet.count()
    if got != n:
        raise SystemExit(f"store for N={n} holds {got} models, expected {n}")
    result = RegisterResult(
        n=n, batch_size=min(batch_size, n), stores=stores, skus=skus, seconds=seconds,
        generate_seconds=generate, artifact_bytes_mean=artifact_bytes / n,
        db_bytes=sum(p.stat().st_size for p in root.glob("shoal.db*")),
        artifact_store_bytes=dir_bytes(root / "artifacts"),
    )  # fmt: skip
    return result, client, fleet
