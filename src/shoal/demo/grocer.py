"""The grocer's demand fleet: a baseline per (store, sku), a challenger for a pilot, a promote.

The order of calls is the champion/challenger story a forecasting team runs:

1. ``fleet.train`` the seasonal-naive baseline for every key on the training weeks, and
   point ``production`` at that run;
2. ``fleet.train`` the promo-aware ridge candidate for the keys of a pilot of stores, and
   point ``candidate`` at that run;
3. ``fleet.evaluate`` both aliases on the holdout weeks (``eval_mape``, ...);
4. ``fleet.promote("production", where="candidate.eval_mape < production.eval_mape")``:
   production moves to the candidate exactly where it won on the holdout.

Lineage (dataset, slice fingerprint, run, per-key baseline profile) is recorded by
``fleet.train``; nothing here builds it by hand.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import pandas as pd

from shoal.demo.forecast import DOW, PromoRidge, SeasonalNaive, Tags, holdout_frame
from shoal.demo.progress import Reporter
from shoal.demo.steps import FleetBuild, already_built, built, train
from shoal.demo.world import World
from shoal.sdk.client import Client
from shoal.sdk.fleet import Fleet
from shoal.sdk.results import AliasMove, EvalResult

FLEET = "grocer/demand"
KEYS = ("store", "sku")
PILOT_EVERY = 3
"""Every third store pilots the promo-aware candidate."""
PROMOTE_WHERE = "candidate.eval_mape < production.eval_mape"
"""The promotion the demo applies: candidates that beat production on the holdout."""


@dataclass(frozen=True)
class DemandBuild:
    """What building the demand fleet did: two runs, their evaluations, one alias move."""

    production: FleetBuild
    candidate: FleetBuild | None
    promotion: AliasMove | None


def build_demand(
    client: Client,
    world: World,
    reporter: Reporter,
    *,
    retrain: bool = False,
    workers: int | None = None,
) -> DemandBuild:
    """Train, evaluate and promote the demand fleet (see the module doc for the order)."""
    started = time.perf_counter()
    fleet = client.fleet(
        FLEET, keys=list(KEYS), description="Daily unit sales, one model per store and SKU"
    )
    sales, holdout = split(world)
    dates = world.spec.dates
    name = f"grocer/sales-{dates[0]:%Y%m%d}-{dates[world.spec.train_days - 1]:%Y%m%d}"
    dataset = client.datasets.register(sales, name=name)
    if not retrain and already_built(client, dataset):
        return DemandBuild(built(FLEET, dataset, reporter, started), None, None)
    tags = key_tags(world)
    baseline = train(client, fleet, sales, SeasonalNaive(tags), name, reporter,
                     "seasonal-naive baselines", workers=workers)  # fmt: skip
    fleet.promote("production", f"run = {baseline.run_id}", create=True)
    pilot = pilot_stores(world)
    in_pilot = sales["store"].isin(pilot).to_numpy()
    candidate = train(client, fleet, sales[in_pilot].reset_index(drop=True),
                      PromoRidge(world.spec.start, tags=tags), f"{name}-pilot", reporter,
                      "promo-aware ridge candidates", workers=workers)  # fmt: skip
    fleet.promote("candidate", f"run = {candidate.run_id}", create=True)
    # The baselines read only the weekday dummies; each key's slice of a narrower frame
    # converts faster, and evaluation time is per key.
    scored = _evaluate(fleet, holdout[[*KEYS, "sales", *DOW]], "production", reporter)
    held = holdout[holdout["store"].isin(pilot).to_numpy()].reset_index(drop=True)
    challenged = _evaluate(fleet, held, "candidate", reporter)
    move = fleet.promote("production", PROMOTE_WHERE)
    reporter.note(
        f"{FLEET}: promoted production to the candidate on {move.moved:,} of "
        f"{challenged.evaluated:,} pilot keys where {PROMOTE_WHERE} (move {move.move_id})"
    )
    return DemandBuild(
        replace(baseline, evaluation=scored), replace(candidate, evaluation=challenged), move
    )


def split(world: World) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training weeks' sales (what ``fleet.train`` gets) and the holdout's model inputs."""
    sales = world.sales
    early = (sales["date"] < world.spec.dates[world.spec.train_days]).to_numpy()
    held = sales[~early].reset_index(drop=True)
    return sales[early].reset_index(drop=True), holdout_frame(held, world.spec.start)


def pilot_stores(world: World) -> list[str]:
    """The stores that pilot the candidate: every :data:`PILOT_EVERY`-th one."""
    return list(world.stores["store"].iloc[::PILOT_EVERY])


def key_tags(world: World) -> Tags:
    """Tags by store id (region, format) and by SKU id (category)."""
    stores, skus = world.stores, world.skus
    tags: dict[str, dict[str, str]] = {
        store: {"region": region, "format": shape}
        for store, region, shape in zip(
            stores["store"], stores["region"], stores["format"], strict=True
        )
    }
    tags.update(
        {
            sku: {"category": category}
            for sku, category in zip(skus["sku"], skus["category"], strict=True)
        }
    )
    return tags


def _evaluate(fleet: Fleet, holdout: pd.DataFrame, alias: str, reporter: Reporter) -> EvalResult:
    """Score ``alias`` on the holdout weeks and say how it did."""
    result = fleet.evaluate(holdout, alias=alias, target="sales", progress=reporter.progress)
    mape = result.summary.get("mape")
    shown = f"mean holdout MAPE {mape:.3f}" if mape is not None else "no MAPE"
    failed = f", {result.failed:,} failed" if result.failed else ""
    reporter.note(
        f"{FLEET}: evaluated {alias} on {result.evaluated:,} keys, {shown} "
        f"({result.seconds:.1f} s{failed})"
    )
    return result
