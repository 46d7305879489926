"""Build the demo: generate the world, then train, evaluate and promote both tenants' fleets.

Running it twice on one store is safe, and cheap. Datasets are content addressed, so
registering the same generated frame again returns the first record; when that dataset
has already trained versions, the fleet is left as it is and reported as already built
(``retrain=True`` trains new versions on top, with new runs). A world of another size
or seed is other data, so it trains new versions, and the aliases move to them.
Nothing is ever deleted.
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


@dataclass(frozen=True)
class DemoResult:
    """Everything the demo did, for the summary and for tests.

    ``candidate`` and ``promotion`` are None when the demand fleet was found built.
    """

    world: World
    demand: FleetBuild
    candidate: FleetBuild | None
    apparel: FleetBuild
    promotion: AliasMove | None
    seconds: float


def build_demo(
    client: Client,
    spec: WorldSpec | None = None,
    *,
    reporter: Reporter | None = None,
    retrain: bool = False,
    workers: int | None = None,
) -> DemoResult:
    """Build the retail world on ``client``'s store; ``WorldSpec.quick()`` for a small one.

    ``workers`` is how many processes train the demand fleet (``fleet.train``'s
    default: one per CPU); the apparel fleet's few classifiers train in this process.

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
    demand = build_demand(client, world, reporter, retrain=retrain, workers=workers)
    apparel = build_apparel(client, world, reporter, retrain=retrain)
    return DemoResult(
        world, demand.production, demand.candidate, apparel, demand.promotion,
        time.perf_counter() - started,
    )  # fmt: skip
