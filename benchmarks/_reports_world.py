"""The fleet the report benchmark reports on: the registry fleet, monitored for a week.

``bench/demand`` is the registry benchmark's fleet, seeded by the same code
(``_fleet.bench_register``: keys store x sku, 1,000 SKUs per store, 5 params, 3 metrics
``mape``, ``rmse`` and ``bias``, a ~330-byte artifact and lineage per version), with
``production`` promoted on every model. Then, so that every section of the report has
data:

- **Monitoring results** for ``windows`` daily windows ending yesterday (UTC), each a run
  of kind ``monitor`` and one ``registry.monitoring.store_windows`` call (the registry
  method ``fleet.monitor`` stores its pass with), a model with traffic a row per window in
  ``RESULT_COLUMNS`` order and the roll-ups ``compute_rollups`` makes of them. The figures
  are synthetic (seeded numpy): ~96 predictions a model, 90 % labelled, a per-model MAPE
  with noise, 10 features tested; 0.5 % of the models without traffic all week (no rows)
  and 0.5 % without any in the newest window; drift on 1 % of the models of most stores and on
  10 % to 40 % (growing over the week) of those of every 25th store, 1 to 3 features
  each; 1 % of the models with a MAPE gone bad in the last two windows. Per-feature rows
  are written for the drifted features only (the report reads none: its drift figures
  come from the per-version rows).
- **Alerts**: two rules (``drift``: ``drifted_features >= 1``; ``quality``: ``mape >
  0.5``), applied after every window through ``registry.alerts.apply`` (what
  ``fleet.monitor`` calls after a pass) with the matches computed here, so alerts open,
  refresh and resolve over the week; 20 are then acknowledged.

The store lies in ``<workdir>/shoal-<models>/`` with ``seed.json`` (what it holds and how
long each step took), which a later run with the same sizes reuses. A run never
changes it: it reports on a copy (:func:`working_copy`).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress

import shoal
from _fleet import FLEET, bench_register, make_batch, open_store
from shoal.registry.monitoring import compute_rollups

WINDOW = 86400
FEATURES = [f"f{i}" for i in range(10)]
HOT_EVERY = 25
"""Every 25th store drifts heavily: the heat map's hot rows."""
MARKER = "seed.json"
SEED_VERSION = 2
"""Bumped whenever what is seeded changes, so an old store is seeded again, not reused."""
RULES = {"drift": "drifted_features >= 1", "quality": "mape > 0.5"}
QUIET = 0.005
"""A share of the models with no traffic all week (never monitored), and another with none
in the newest window (monitored earlier in the period): the report's coverage gaps."""


def store_root(workdir: Path, models: int) -> Path:
    """Where ``bench_register`` puts the store for ``models`` models."""
    return workdir / f"shoal-{models}"


def load_or_seed(
    workdir: Path, models: int, windows: int, batch_size: int, progress: Progress, log: Any
) -> dict[str, Any]:
    """The seeding record of the store for these sizes (seeded now unless reusable)."""
    root = store_root(workdir, models)
    marker = root / MARKER
    if marker.exists():
        seed = json.loads(marker.read_text())
        if (seed.get("models"), seed.get("windows"), seed.get("version")) == (
            models, windows, SEED_VERSION,
        ):  # fmt: skip
            seed["reused"] = True
            log(f"reusing the seeded store {root} (seeded {seed['seeded_at']})")
            return seed
        log(f"{root} holds another seed: seeding afresh")
    return _seed(workdir, models, windows, batch_size, progress, log)


def _seed(
    workdir: Path, models: int, windows: int, batch_size: int, progress: Progress, log: Any
) -> dict[str, Any]:
    t_all = time.perf_counter()
    seed: dict[str, Any] = {"models": models, "windows": windows, "version": SEED_VERSION,
                            "batch_size": batch_size,
                            "seeded_at": time.strftime("%Y-%m-%d %H:%M %Z")}  # fmt: skip
    registered, client, fleet = bench_register(models, workdir, batch_size, progress)
    seed["register_s"], seed["generate_s"] = registered.seconds, registered.generate_seconds
    log(f"registered {models:,} models in {registered.seconds:,.1f} s")
    t0 = time.perf_counter()
    fleet.promote("production", all=True, create=True, preview=0)
    seed["promote_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    model_ids, version_ids, keys = _model_table(fleet)
    seed["ids_s"] = time.perf_counter() - t0
    stores = np.array([int(k[0][1:]) for k in keys], dtype=np.int64)
    yesterday = (time.time() // WINDOW) * WINDOW - WINDOW
    starts = [yesterday - WINDOW * (windows - 1 - w) for w in range(windows)]
    rng = np.random.default_rng([models, 15])
    base_mape = rng.uniform(0.05, 0.35, size=models)
    bad = rng.random(models) < 0.01  # MAPE gone bad in the last two windows
    never = rng.random(models) < QUIET  # no traffic all week: never monitored
    quiet = ~never & (rng.random(models) < QUIET)  # no traffic in the newest window
    key_of = dict(zip(model_ids.tolist(), keys, strict=True))
    registry = fleet._registry
    rules = {name: fleet.alerts.add_rule(name, text)["id"] for name, text in RULES.items()}
    store_s = rollup_s = alert_s = make_s = 0.0
    rows = features = 0
    task = progress.add_task(f"monitoring: {windows} windows of {models:,} results", total=windows)
    for w, start in enumerate(starts):
        t0 = time.perf_counter()
        present = ~never & ~(quiet & (w == windows - 1))
        results, feats, drifted, mape = _window(rng, w, windows, model_ids, version_ids, stores,
                                                base_mape, bad, present)  # fmt: skip
        make_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        rollups = compute_rollups(fleet.ref, results, key_of)
        rollup_s += time.perf_counter() - t0
        run_id = fleet.start_run("monitor", params={"window": "1d", "bench": "reports"})
        t0 = time.perf_counter()
        registry.monitoring.store_windows(fleet.ref, WINDOW, run_id,
                                          [(start, results, feats, rollups)])  # fmt: skip
        store_s += time.perf_counter() - t0
        client.finish_run(run_id, counts={"windows": 1, "versions": len(results),
                                          "drifting_models": int(drifted.sum())})  # fmt: skip
        rows += len(results)
        features += len(feats)
        del results, feats, rollups
        t0 = time.perf_counter()
        seen = set(model_ids[present].tolist())  # the models this window could judge
        _apply(registry, fleet, rules["drift"], start, model_ids, version_ids, drifted, seen)
        _apply(registry, fleet, rules["quality"], start, model_ids, version_ids,
               mape > 0.5, seen, values=mape)  # fmt: skip
        alert_s += time.perf_counter() - t0
        progress.update(task, advance=1)
    progress.remove_task(task)
    for alert in fleet.alerts.list(limit=20):
        fleet.alerts.acknowledge(alert["id"])
    seed.update(
        window_starts=starts, result_rows=rows, feature_rows=features, make_s=make_s,
        rollup_s=rollup_s, store_s=store_s, alert_s=alert_s,
        open_alerts=fleet.alerts.count(), rules=RULES,
    )  # fmt: skip
    log(f"stored {rows:,} monitoring results in {store_s:,.1f} s (+{rollup_s:,.1f} s "
        f"roll-ups, {make_s:,.1f} s making them); alerts {alert_s:,.1f} s, "
        f"{seed['open_alerts']:,} open")  # fmt: skip
    client.close()
    root = store_root(workdir, models)
    seed["seconds"] = time.perf_counter() - t_all
    seed["db_bytes"] = sum(p.stat().st_size for p in root.glob("shoal.db*"))
    seed["reused"] = False
    (root / MARKER).write_text(json.dumps(seed, indent=1))
    return seed


def _model_table(fleet: shoal.Fleet) -> tuple[np.ndarray, np.ndarray, list[tuple[str, ...]]]:
    """(model ids, version ids, keys) of every model, read through the registry's report
    snapshot (the model table a report reads), ordered by version id."""
    from shoal.registry.reports import model_columns

    columns = model_columns(fleet.ref)
    at = {name: i for i, name in enumerate(columns)}
    width = len(fleet.keys)
    mids: list[int] = []
    vids: list[int] = []
    keys: list[tuple[str, ...]] = []
    with fleet._registry.reports.snapshot(fleet.ref) as snap:
        for chunk in snap.models("production"):
            for row in chunk:
                mids.append(row[0])
                vids.append(row[at["version_id"]])
                keys.append(tuple(row[1 : 1 + width]))
    order = np.argsort(np.array(vids, dtype=np.int64), kind="stable")
    return (np.array(mids, dtype=np.int64)[order], np.array(vids, dtype=np.int64)[order],
            [keys[i] for i in order])  # fmt: skip


def _window(
    rng: np.random.Generator, w: int, windows: int, model_ids: np.ndarray,
    version_ids: np.ndarray, stores: np.ndarray, base_mape: np.ndarray, bad: np.ndarray,
    present: np.ndarray,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], np.ndarray, np.ndarray]:  # fmt: skip
    """One window's result rows (``RESULT_COLUMNS`` order, by version id) for the models
    ``present`` in it, the feature rows of the drifted features, which models drift, and
    their MAPE (NaN where absent)."""
    n = len(model_ids)
    late = w / max(1, windows - 1)
    hot = stores % HOT_EVERY == 1
    drifted = (rng.random(n) < np.where(hot, 0.1 + 0.3 * late, 0.01)) & present
    predictions = rng.poisson(96, size=n) + 1
    labelled = rng.binomial(predictions, 0.9)
    mape = base_mape * rng.lognormal(0.0, 0.1, size=n) * np.where(bad & (w >= windows - 2), 3, 1)
    mae = mape * rng.uniform(15, 25, size=n)
    rmse = mae * 1.25
    smape = mape * 0.95
    prediction_psi = np.abs(rng.normal(0.0, 0.02, size=n))
    n_drifted = np.where(drifted, rng.integers(1, 4, size=n), 0)
    # The drifting feature: mostly f0 and f3, as a broken upstream feed would.
    worst = rng.choice(10, size=n, p=[0.4, 0.05, 0.05, 0.25] + [0.25 / 6] * 6)
    max_psi = np.where(drifted, rng.uniform(0.15, 0.6, size=n), rng.uniform(0.01, 0.08, size=n))
    missing = rng.uniform(0.0, 0.01, size=n)
    out_of_range = rng.poisson(0.2, size=n)
    names = [FEATURES[i] for i in worst[present].tolist()]
    k = int(present.sum())
    results = list(zip(
        version_ids[present].tolist(), model_ids[present].tolist(),
        predictions[present].tolist(), labelled[present].tolist(), mae[present].tolist(),
        rmse[present].tolist(), mape[present].tolist(), smape[present].tolist(), [None] * k,
        [None] * k, [None] * k, prediction_psi[present].tolist(), max_psi[present].tolist(),
        names, n_drifted[present].tolist(), [len(FEATURES)] * k, missing[present].tolist(),
        out_of_range[present].tolist(), strict=True,
    ))  # fmt: skip
    feats: list[tuple[Any, ...]] = []
    for i in np.flatnonzero(drifted).tolist():
        first = int(worst[i])
        for k in range(int(n_drifted[i])):
            feature = FEATURES[(first + k) % 10]
            psi = float(max_psi[i]) / (1 + k)
            feats.append((int(version_ids[i]), feature, "ks", int(predictions[i]), 0, 0, psi,
                          0.3, 1e-6, 1e-4, True))  # fmt: skip
    feats.sort(key=lambda r: (r[0], r[1]))
    return results, feats, drifted, np.where(present, mape, np.nan)


def _apply(
    registry: Any, fleet: shoal.Fleet, rule_id: int, start: float, model_ids: np.ndarray,
    version_ids: np.ndarray, matched: np.ndarray, seen: set[int],
    values: np.ndarray | None = None,
) -> None:  # fmt: skip
    from shoal.registry.alerts import Match

    picked = np.flatnonzero(matched).tolist()
    matches = [
        Match(int(model_ids[i]), int(version_ids[i]),
              None if values is None else float(values[i]), None)
        for i in picked
    ]  # fmt: skip
    registry.alerts.apply(fleet.ref, rule_id, start, matches, seen, actor="bench")


def working_copy(workdir: Path, models: int) -> Path:
    """A copy of the seeded store to report on (reports record themselves, and the diff
    step registers and promotes): ``<workdir>/run-<models>/``."""
    source = store_root(workdir, models)
    target = workdir / f"run-{models}"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for path in source.glob("shoal.db*"):
        shutil.copy2(path, target / path.name)
    shutil.copytree(source / "artifacts", target / "artifacts")
    return target


def change_some(root: Path, share: float = 0.01) -> dict[str, Any]:
    """What happens between two reports: a new version of ``share`` of the models (every
    100th model, so every store has some), registered in one call, then ``production``
    moved to it in one alias move. Returns the counts and seconds."""
    client = open_store(root)
    try:
        fleet = client.fleet(FLEET)
        step = max(1, round(1 / share))
        keys = []
        with fleet._registry.reports.snapshot(fleet.ref) as snap:
            width = len(fleet.keys)
            index = 0
            for chunk in snap.models("production"):
                for row in chunk:
                    if index % step == 7 % step:
                        keys.append(dict(zip(fleet.keys, row[1 : 1 + width], strict=True)))
                    index += 1
        run_id = fleet.start_run("train", params={"bench": "reports", "retrain": len(keys)})
        dataset = client.datasets.register(_frame(), name="bench/sales-retrain")
        batch = make_batch(0, len(keys), 1, run_id, dataset.id, seed=424242)
        for record, key in zip(batch, keys, strict=True):
            record["key"] = key
            record["metrics"]["mape"] *= 0.8
        t0 = time.perf_counter()
        placed = fleet.register(batch)
        register_s = time.perf_counter() - t0
        client.finish_run(run_id, counts={"done": len(placed), "failed": 0})
        t0 = time.perf_counter()
        targets = [(tuple(p.key[k] for k in fleet.keys), p.version) for p in placed]
        move = fleet.set_alias("production", targets)
        move_s = time.perf_counter() - t0
        return {"versions": len(placed), "moved": move.moved, "register_s": register_s,
                "move_s": move_s}  # fmt: skip
    finally:
        client.close()


def _frame() -> Any:
    from _fleet import small_frame

    frame = small_frame()
    frame["units"] = frame["units"] + 1
    return frame
