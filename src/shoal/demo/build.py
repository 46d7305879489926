"""Build the demo: generate the world, train both tenants' fleets, register, promote.

Running it twice on one store is safe, and cheap. Datasets are content addressed, so
registering the same generated frame again returns the first record; when that dataset
has already trained versions, the fleet is left as it is and reported as already built
(``retrain=True`` trains and registers new versions on top, with a new run). A world of
another size or seed is other data, so it trains and registers new versions, and the
aliases move to them. Nothing is ever deleted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from shoal.demo.apparel import build_apparel
from shoal.demo.grocer import build_demand
from shoal.demo.progress import Reporter, Silent
from shoal.demo.steps import FleetBuild
from shoal.demo.world import World, WorldSpec, make_world
from shoal.sdk.client import Client
from shoal.sdk.results import AliasMove

PROMOTE_WHERE = "candidate.mape < production.mape"
"""The promotion the demo shows as a dry run: candidates that beat production."""


@dataclass(frozen=True)
class DemoResult:
    """Everything the demo did, for the summary and for tests."""

    world: World
    demand: FleetBuild
    candidate: FleetBuild | None
    apparel: FleetBuild
    dry_run: AliasMove
    seconds: float


def build_demo(
    client: Client,
    spec: WorldSpec | None = None,
    *,
    reporter: Reporter | None = None,
    retrain: bool = False,
) -> DemoResult:
    """Build the retail world on ``client``'s store; ``WorldSpec.quick()`` for a small one.

    >>> result = build_demo(shoal.connect(), WorldSpec.quick())     # doctest: +SKIP
    >>> result.demand.registered                                     # doctest: +SKIP
    60
    """
    reporter = reporter or Silent()
    started = time.perf_counter()
    world = make_world(spec)
    size = world.spec
    reporter.note(
        f"generated {len(world.sales):,} daily sales rows ({size.stores} stores x "
        f"{size.skus} SKUs x {size.days} days) and {len(world.orders):,} apparel "
        f"orders in {time.perf_counter() - started:.1f} s"
    )
    demand, candidate = build_demand(client, world, reporter, retrain=retrain)
    apparel = build_apparel(client, world, reporter, retrain=retrain)
    dry_run = client.fleet(demand.fleet).promote("production", PROMOTE_WHERE, dry_run=True)
    return DemoResult(world, demand, candidate, apparel, dry_run, time.perf_counter() - started)
