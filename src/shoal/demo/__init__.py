"""The retail world that ``shoal demo`` builds, usable from tests and benchmarks.

- :func:`make_world` generates it (deterministic for a :class:`WorldSpec`): a grocer's
  daily sales per store and SKU, an apparel shop's orders with returns.
- :func:`build_demo` trains both tenants' fleets on a client's store with
  ``fleet.train`` (lineage recorded by it), evaluates the grocer's candidates against
  production on a holdout and promotes the winners.
- :func:`features` makes the inputs the grocer's demand models predict from.
- :func:`shoal.demo.traffic.replay_week` replays a week of the grocer's traffic, with
  drift and ground truth, through a running prediction server.

>>> from shoal.demo import WorldSpec, build_demo                     # doctest: +SKIP
>>> result = build_demo(shoal.connect(), WorldSpec.quick())          # doctest: +SKIP
"""

from shoal.demo.build import DemoResult, build_demo
from shoal.demo.forecast import features
from shoal.demo.steps import FleetBuild
from shoal.demo.world import World, WorldSpec, make_world

__all__ = [
    "DemoResult",
    "FleetBuild",
    "World",
    "WorldSpec",
    "build_demo",
    "features",
    "make_world",
]
