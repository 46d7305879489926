"""The grocer's demand fleet: one model per (store, sku), then candidates for a pilot.

The order of calls is the lineage story: register the sales frame (its fingerprint),
fingerprint every key's slice of it in one pass, open a run, fit, register every
version in one call naming run, dataset and slice, close the run, promote by query.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shoal.data import slice_fingerprints, to_arrow
from shoal.demo import forecast
from shoal.demo.progress import Reporter
from shoal.demo.steps import FleetBuild, already_built, built_note, fail, finish, register_all
from shoal.demo.world import World, WorldSpec, demand_keys, sales_matrix
from shoal.sdk.client import Client
from shoal.sdk.fleet import Fleet
from shoal.sdk.results import Dataset, Registered

FLEET = "grocer/demand"
KEYS = ("store", "sku")
PILOT_EVERY = 3
"""Every third store pilots the promo-aware candidate model."""


@dataclass(frozen=True)
class _Job:
    """What every training pass of this fleet shares: where, on what data, for which keys."""

    client: Client
    fleet: Fleet
    world: World
    dataset: Dataset
    slices: Mapping[tuple[Any, ...], str]
    keys: list[tuple[str, str]]
    reporter: Reporter


def build_demand(
    client: Client, world: World, reporter: Reporter, *, retrain: bool = False
) -> tuple[FleetBuild, FleetBuild | None]:
    """Train, register and promote the baseline; train and alias the pilot's candidates."""
    started = time.perf_counter()
    fleet = client.fleet(
        FLEET, keys=list(KEYS), description="Daily unit sales, one model per store and SKU"
    )
    table = to_arrow(world.sales)
    dates = world.spec.dates
    dataset = client.datasets.register(
        table, name=f"grocer/sales-{dates[0]:%Y%m%d}-{dates[-1]:%Y%m%d}"
    )
    if not retrain and already_built(client, dataset):
        reporter.note(built_note(FLEET, dataset))
        return FleetBuild(FLEET, dataset, None, 0, 0, time.perf_counter() - started, True), None
    slices = slice_fingerprints(table, list(KEYS))
    job = _Job(client, fleet, world, dataset, slices, demand_keys(world), reporter)
    production, placed = _train(job, forecast.BASELINE, range(len(job.keys)), started=started)
    fleet.promote("production", f"run = {production.run_id}")
    parents = {(r.key["store"], r.key["sku"]): r.id for r in placed}
    pilot = set(world.stores["store"].iloc[::PILOT_EVERY])
    chosen = [i for i, key in enumerate(job.keys) if key[0] in pilot]
    candidate, placed = _train(job, forecast.WITH_PROMO, chosen, parents=parents)
    fleet.set_alias("candidate", [((r.key["store"], r.key["sku"]), r.version) for r in placed])
    return production, candidate


def _train(
    job: _Job,
    names: Sequence[str],
    rows: Sequence[int],
    *,
    parents: Mapping[tuple[str, str], int] | None = None,
    started: float | None = None,
) -> tuple[FleetBuild, list[Registered]]:
    """Fit ``names`` for the chosen key rows in one run and register them in one call."""
    started = started or time.perf_counter()
    rows = list(rows)
    label = "candidate" if "promo" in names else "baseline"
    params = _params(job.world.spec, names)
    run_id = job.fleet.start_run("train", params=params)
    try:
        with job.reporter.task(f"fitting {FLEET} ({label})", len(rows)) as advance:
            coef, metrics = _fit(job.world, rows, "promo" in names, advance)
        ok = np.isfinite(coef).all(axis=1)
        models = iter(forecast.to_models(coef[ok], names))
        base = {"params": params, "run": run_id, "dataset": job.dataset.id}
        tags = _tags(job.world)
        specs = []
        for j in np.flatnonzero(ok).tolist():
            store, sku = key = job.keys[rows[j]]
            specs.append(
                {
                    **base,
                    "key": {"store": store, "sku": sku},
                    "model": next(models),
                    "metrics": {m: float(v[j]) for m, v in metrics.items() if np.isfinite(v[j])},
                    "tags": {**tags[store], **tags[sku]},
                    "slice_fingerprint": job.slices[key],
                    "parent": (parents or {}).get(key),
                }
            )
        placed = register_all(job.fleet, specs, job.reporter, f"{label} versions", run_id)
    except BaseException as exc:
        fail(job.client, run_id, exc)
        raise
    failed = len(rows) - len(specs)
    finish(job.client, run_id, len(specs), failed, len(rows) * job.world.spec.train_days)
    elapsed = time.perf_counter() - started
    return FleetBuild(FLEET, job.dataset, run_id, len(specs), failed, elapsed), placed


def _params(spec: WorldSpec, names: Sequence[str]) -> dict[str, Any]:
    """What a run and its versions record about how they were fitted."""
    params: dict[str, Any] = {
        "estimator": "ridge" if "promo" in names else "ols",
        "features": "+".join(names),
        "train_from": f"{spec.dates[0]:%Y-%m-%d}",
        "train_to": f"{spec.dates[spec.train_days - 1]:%Y-%m-%d}",
        "holdout_days": spec.holdout_days,
        "trend_origin": spec.start,
    }
    if "promo" in names:
        params["ridge"] = forecast.RIDGE
    return params


def _fit(
    world: World, rows: list[int], promo: bool, advance: Any
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Coefficients and holdout metrics for the chosen rows, one store's block at a time."""
    spec = world.spec
    design = forecast.features(spec.dates, spec.start).to_numpy()
    sales = sales_matrix(world).astype("float64")
    flags = sales_matrix(world, "promo").astype("float64") if promo else None
    train = spec.train_days
    solver = forecast.shared_solver(design[:train])
    coefs, parts = [], []
    for block in np.array_split(np.asarray(rows, dtype=np.int64), _blocks(rows, spec.skus)):
        Y = sales[block]
        if flags is None:
            coef = forecast.fit_shared(solver, Y[:, :train].T)
            fitted = forecast.predict(coef, design[train:])
        else:
            X = np.concatenate(
                [np.broadcast_to(design, (len(block), *design.shape)), flags[block, :, None]],
                axis=2,
            )
            coef = forecast.fit_batched(X[:, :train], Y[:, :train])
            fitted = forecast.predict(coef, X[:, train:])
        coefs.append(coef)
        parts.append(forecast.holdout_metrics(Y[:, train:], fitted))
        advance(len(block))
    metrics = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    return np.concatenate(coefs), metrics


def _blocks(rows: list[int], per_store: int) -> int:
    """About one block per store, so the bar moves as stores finish."""
    return max(1, min(len(rows), -(-len(rows) // per_store)))


def _tags(world: World) -> dict[str, dict[str, str]]:
    """Tags by store id and by SKU id (the two never share a name)."""
    tags = {
        r.store: {"region": r.region, "format": r.format}
        for r in world.stores.itertuples(index=False)
    }
    tags.update({r.sku: {"category": r.category} for r in world.skus.itertuples(index=False)})
    return tags
