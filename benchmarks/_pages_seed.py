"""The store the page benchmark reads: a million-model fleet and one very deep model.

``bench/demand`` is the registry benchmark's fleet, seeded by the same code
(``_fleet.bench_register``: keys store x sku, 1,000 SKUs per store, 5 params, 3 metrics,
a ~330-byte artifact and lineage per version). Then ``production`` is promoted on every
model and ``candidate`` on the tenth with ``mape < 0.1`` (spread over every store).

``bench/history`` holds one model with ``versions`` versions, registered in batches of
``--batch-size`` per ``fleet.register`` call: one call may hold many versions of the same
key (each takes the next number, the last becomes the latest). ``production`` points at
its middle version.

``many/f0000`` ... : ``fleets`` small fleets of one tenant (10 models each, ``production``
on all, one training run each), so the pages that list fleets, runs and datasets of a
tenant are timed on a store of a thousand fleets, not one.

A marker file, ``seed.json``, records what the store holds and how long seeding took; a
later run with the same ``--workdir``, ``--models``, ``--versions`` and ``--fleets``
reuses the store.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rich.progress import Progress

import shoal
from _fleet import (
    FLEET,
    bench_register,
    layout,
    make_batch,
    open_store,
    sku_name,
    small_frame,
    store_name,
)

DEEP_FLEET = "bench/history"
MANY_TENANT = "many"
MANY_MODELS = 10
"""Models in each of the many small fleets."""
DEEP_KEY = {"store": "s9999", "sku": "k9999"}
MARKER = "seed.json"


def store_root(workdir: Path, models: int) -> Path:
    """Where ``bench_register`` puts the store for ``models`` models."""
    return workdir / f"shoal-{models}"


def load_or_seed(
    workdir: Path, models: int, versions: int, batch_size: int, fleets: int,
    progress: Progress, log: Any,
) -> tuple[shoal.Client, dict[str, Any]]:  # fmt: skip
    """The seeded store (reused when its marker matches) and the seeding record."""
    root = store_root(workdir, models)
    marker = root / MARKER
    if marker.exists():
        seed = json.loads(marker.read_text())
        if (seed.get("models"), seed.get("versions"), seed.get("fleets")) == (
            models,
            versions,
            fleets,
        ):
            seed["reused"] = True
            log(f"reusing the seeded store {root} (seeded {seed['seeded_at']})")
            return open_store(root), seed
        log(f"{root} holds another seed ({seed.get('models')} models, "
            f"{seed.get('versions')} versions): seeding afresh")  # fmt: skip
    return _seed(workdir, models, versions, batch_size, fleets, progress, log)


def _seed(
    workdir: Path, models: int, versions: int, batch_size: int, fleets: int,
    progress: Progress, log: Any,
) -> tuple[shoal.Client, dict[str, Any]]:  # fmt: skip
    t_all = time.perf_counter()
    seed: dict[str, Any] = {"models": models, "versions": versions, "batch_size": batch_size,
                            "fleets": fleets,
                            "seeded_at": time.strftime("%Y-%m-%d %H:%M %Z")}  # fmt: skip
    # 1. The million: the registry benchmark's fleet, by its own code (removes the folder).
    registered, client, fleet = bench_register(models, workdir, batch_size, progress)
    seed["fleet"] = {
        "path": FLEET, "register_s": registered.seconds, "generate_s": registered.generate_seconds,
        "stores": registered.stores, "skus": registered.skus,
    }  # fmt: skip
    log(f"registered {models:,} models in {registered.seconds:,.1f} s "
        f"(+{registered.generate_seconds:,.1f} s making the records)")  # fmt: skip

    # 2. Aliases: production on all, candidate on a tenth spread over every store.
    for alias, where in (("production", None), ("candidate", "mape < 0.1")):
        task = progress.add_task(f"promote {alias}" + (f" where {where}" if where else ""))
        t0 = time.perf_counter()
        move = fleet.promote(alias, where, all=where is None, create=True, preview=0)
        seconds = time.perf_counter() - t0
        progress.remove_task(task)
        seed.setdefault("aliases", []).append(
            {"alias": alias, "where": where, "moved": move.moved, "seconds": seconds}
        )
        log(f"promote {alias!r} where {where or 'everything'}: {move.moved:,} models in "
            f"{seconds:,.1f} s")  # fmt: skip

    # 3. One model with `versions` versions, many per register call.
    deep = client.fleet(DEEP_FLEET, keys=["store", "sku"],
                        description="one model retrained many times")  # fmt: skip
    run_id = deep.start_run("train", params={"bench": "pages", "versions": versions})
    dataset_id = fleet.get({"store": store_name(0), "sku": sku_name(0)}).dataset_id
    task = progress.add_task(f"register {versions:,} versions of one model", total=versions)
    register_s = generate_s = 0.0
    calls = 0
    for start in range(0, versions, batch_size):
        count = min(batch_size, versions - start)
        t0 = time.perf_counter()
        batch = make_batch(start, count, count, run_id, dataset_id, seed=10_000_000 + start)
        for record in batch:
            record["key"] = DEEP_KEY
        generate_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        placed = deep.register(batch)
        register_s += time.perf_counter() - t0
        calls += 1
        assert [p.version for p in placed] == list(range(start + 1, start + count + 1))
        del batch, placed
        progress.update(task, advance=count)
    progress.remove_task(task)
    client.finish_run(run_id, counts={"versions": versions})
    middle = max(1, versions // 2)
    deep.set_alias("production", [(DEEP_KEY, middle)], create=True)
    latest = deep.get(DEEP_KEY)
    if latest.version != versions:
        raise SystemExit(f"{DEEP_FLEET} latest is version {latest.version}, expected {versions}")
    seed["deep"] = {
        "path": DEEP_FLEET, "key": DEEP_KEY, "register_s": register_s, "generate_s": generate_s,
        "calls": calls, "production": middle, "run_id": run_id,
    }  # fmt: skip
    log(f"registered {versions:,} versions of one model in {register_s:,.1f} s, {calls} "
        f"register call(s) (+{generate_s:,.1f} s making the records)")  # fmt: skip
    seed["many"] = _seed_many(client, fleets, progress)
    log(f"registered {fleets:,} fleets of {MANY_MODELS} models in tenant {MANY_TENANT!r} in "
        f"{seed['many']['seconds']:,.1f} s")  # fmt: skip
    root = store_root(workdir, models)
    seed["seconds"] = time.perf_counter() - t_all
    seed["db_bytes"] = sum(p.stat().st_size for p in root.glob("shoal.db*"))
    seed["reused"] = False
    (root / MARKER).write_text(json.dumps(seed, indent=1))
    return client, seed


def _seed_many(client: shoal.Client, fleets: int, progress: Progress) -> dict[str, Any]:
    """``fleets`` small fleets of one tenant, each with a run, its models and production,
    all trained on one dataset of the tenant."""
    t0 = time.perf_counter()
    dataset_id = client.datasets.register(small_frame(), name=f"{MANY_TENANT}/sales").id
    task = progress.add_task(f"register {fleets:,} small fleets", total=fleets)
    for i in range(fleets):
        fleet = client.fleet(f"{MANY_TENANT}/f{i:04d}", keys=["store", "sku"])
        run_id = fleet.start_run("train", params={"bench": "pages"})
        batch = make_batch(i * MANY_MODELS, MANY_MODELS, MANY_MODELS, run_id, dataset_id,
                           seed=20_000_000 + i)  # fmt: skip
        fleet.register(batch)
        client.finish_run(run_id, counts={"keys": MANY_MODELS, "done": MANY_MODELS})
        fleet.promote("production", None, all=True, create=True, preview=0)
        progress.update(task, advance=1)
    progress.remove_task(task)
    return {"tenant": MANY_TENANT, "fleets": fleets, "models": MANY_MODELS,
            "first": f"{MANY_TENANT}/f0000", "seconds": time.perf_counter() - t0}  # fmt: skip


def picks(models: int) -> dict[str, str]:
    """A store and SKU that exist whatever the size (a store with all its SKUs)."""
    _stores, skus = layout(models)
    full = max(1, models // skus)
    return {"store": store_name(min(123, full - 1)), "sku": sku_name(min(42, skus - 1))}
