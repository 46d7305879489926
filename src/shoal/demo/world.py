"""The retail world the demo builds: a grocer's daily sales and an apparel shop's orders.

Everything is generated with numpy from one seed, so the same :class:`WorldSpec` gives
byte-identical frames (and therefore the same dataset fingerprints) on every machine.
That is what lets the demo notice it has already been built, and lets tests and
benchmarks ask for "the demo world" at any size without touching the network.

The grocer's sales are made of parts a forecaster will recognise: store size (by format),
SKU popularity (a long tail, so some models are hard), a weekly shape per category, a
slow trend per store and SKU, week-long promotions with an SKU-specific lift, multiplicative
noise, and Poisson counts. A few stores lose customers to a competitor that opens during
the holdout weeks, so their models' errors rise together: the store facet shows them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from shoal.demo.customers import customer_orders
from shoal.errors import InvalidInput

GROCERY_CATEGORIES = (
    "dairy",
    "bakery",
    "produce",
    "beverages",
    "snacks",
    "frozen",
    "pantry",
    "household",
)
REGIONS = ("north", "south", "east", "west", "central")
FORMATS = ("hyper", "super", "express")
_FORMAT_SIZE = {"hyper": 2.2, "super": 1.0, "express": 0.5}
_FORMAT_SHARE = (0.2, 0.5, 0.3)
_WEEKLY = np.array([0.86, 0.90, 0.94, 1.00, 1.16, 1.38, 0.76])
"""Monday to Sunday: a grocer's week, busiest on Saturday, quiet on Sunday."""


@dataclass(frozen=True)
class WorldSpec:
    """How big a world to make. The defaults build in well under a minute.

    ``days`` of daily sales start on ``start`` (a Monday); the last ``holdout_days`` are
    kept out of training, and ``fleet.evaluate`` scores the demand models on them.
    """

    stores: int = 40
    skus: int = 75
    days: int = 182
    holdout_days: int = 28
    categories: int = 8
    orders_per_category: int = 1500
    seed: int = 7
    start: str = "2025-01-06"

    @classmethod
    def quick(cls) -> WorldSpec:
        """A small world for tests and first looks: 60 demand models, four categories."""
        return cls(
            stores=6, skus=10, days=56, holdout_days=14, categories=4, orders_per_category=300
        )

    def __post_init__(self) -> None:
        for name in ("stores", "skus", "categories"):
            if getattr(self, name) < 1:
                raise InvalidInput(
                    f"{name} must be at least 1, got {getattr(self, name)}", field=name
                )
        if self.holdout_days < 7:
            raise InvalidInput(
                f"holdout_days must be at least 7 (one week), got {self.holdout_days}",
                field="holdout_days",
            )
        if self.days < self.holdout_days + 21:
            raise InvalidInput(
                f"days must leave at least 21 training days after the {self.holdout_days} "
                f"holdout days, got days={self.days}",
                field="days",
            )
        if self.orders_per_category < 50:
            raise InvalidInput(
                f"orders_per_category must be at least 50, got {self.orders_per_category}",
                field="orders_per_category",
            )

    @property
    def train_days(self) -> int:
        return self.days - self.holdout_days

    @property
    def dates(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start, periods=self.days, freq="D")


@dataclass(frozen=True)
class World:
    """The generated frames. ``sales`` and ``orders`` are what the demo registers."""

    spec: WorldSpec
    stores: pd.DataFrame
    """One row per store: ``store``, ``region``, ``format``, ``size``, ``competitor_from``."""
    skus: pd.DataFrame
    """One row per SKU: ``sku``, ``category``, ``popularity``, ``promo_lift``."""
    sales: pd.DataFrame
    """Daily sales, ordered by (store, sku, date): ``date, store, sku, promo, sales``."""
    orders: pd.DataFrame
    """Apparel orders, ordered by (category, date); ``returned`` is the label."""


def make_world(spec: WorldSpec | None = None) -> World:
    """Generate the whole retail world for ``spec`` (default size when None)."""
    spec = spec or WorldSpec()
    stores = store_table(spec)
    skus = sku_table(spec)
    sales = daily_sales(spec, stores, skus)
    orders = customer_orders(
        spec.categories, spec.orders_per_category, spec.days, start=spec.start, seed=spec.seed
    )
    return World(spec, stores, skus, sales, orders)


def store_table(spec: WorldSpec) -> pd.DataFrame:
    """Stores with a region, a format (which sets their size) and maybe a new competitor."""
    rng = np.random.default_rng([spec.seed, 1])
    formats = rng.choice(len(FORMATS), size=spec.stores, p=_FORMAT_SHARE)
    size = np.array([_FORMAT_SIZE[FORMATS[f]] for f in formats])
    size *= rng.lognormal(0.0, 0.15, size=spec.stores)
    hit = max(1, round(0.08 * spec.stores))
    victims = rng.choice(spec.stores, size=hit, replace=False)
    opened = spec.train_days + rng.integers(0, max(1, spec.holdout_days // 4), size=hit)
    competitor = pd.Series(pd.NaT, index=range(spec.stores), dtype="datetime64[ns]")
    competitor.iloc[victims] = spec.dates[opened]
    width = max(3, len(str(spec.stores)))
    return pd.DataFrame(
        {
            "store": [f"s{i + 1:0{width}d}" for i in range(spec.stores)],
            "region": [REGIONS[r] for r in rng.integers(0, len(REGIONS), size=spec.stores)],
            "format": [FORMATS[f] for f in formats],
            "size": size.round(3),
            "competitor_from": competitor.to_numpy(),
        }
    )


def sku_table(spec: WorldSpec) -> pd.DataFrame:
    """SKUs named by category (``dairy-03``), with long-tailed popularity and promo lift."""
    rng = np.random.default_rng([spec.seed, 2])
    n_cat = len(GROCERY_CATEGORIES)
    width = max(2, len(str(-(-spec.skus // n_cat))))
    rank = rng.permutation(spec.skus)
    popularity = 240.0 * (rank + 1.0) ** -0.5
    return pd.DataFrame(
        {
            "sku": [
                f"{GROCERY_CATEGORIES[j % n_cat]}-{j // n_cat + 1:0{width}d}"
                for j in range(spec.skus)
            ],
            "category": [GROCERY_CATEGORIES[j % n_cat] for j in range(spec.skus)],
            "popularity": popularity.round(2),
            "promo_lift": rng.uniform(1.2, 1.9, size=spec.skus).round(2),
        }
    )


def daily_sales(spec: WorldSpec, stores: pd.DataFrame, skus: pd.DataFrame) -> pd.DataFrame:
    """Poisson daily sales for every (store, sku, day), one store at a time.

    Each store draws from its own seeded stream, so a store's sales do not depend on
    how many other stores the world has.
    """
    n_sku, n_day = spec.skus, spec.days
    sku_rng = np.random.default_rng([spec.seed, 3])
    weekly_by_sku = _WEEKLY * sku_rng.lognormal(0.0, 0.05, size=(n_sku, 7))
    dow = spec.dates.day_of_week.to_numpy()
    t = np.arange(n_day) / n_day
    popularity = skus["popularity"].to_numpy()[:, None]
    lift = skus["promo_lift"].to_numpy()[:, None]
    sales = np.empty((spec.stores, n_sku, n_day), dtype=np.int64)
    promo = np.empty((spec.stores, n_sku, n_day), dtype=bool)
    columns = zip(stores["size"], stores["competitor_from"], strict=True)
    for i, (size, competitor_from) in enumerate(columns):
        rng = np.random.default_rng([spec.seed, 4, i])
        weeks = rng.random((n_sku, -(-n_day // 7))) < 0.08
        promo[i] = np.repeat(weeks, 7, axis=1)[:, :n_day]
        slope = rng.normal(0.0, 0.12, size=(n_sku, 1))
        mean = size * popularity * weekly_by_sku[:, dow] * (1.0 + slope * t)
        mean = mean * np.where(promo[i], lift, 1.0) * rng.lognormal(0.0, 0.08, (n_sku, n_day))
        if not pd.isna(competitor_from):
            mean[:, spec.dates >= competitor_from] *= 0.62
        sales[i] = rng.poisson(np.maximum(mean, 0.0))
    keys = spec.stores * n_sku
    return pd.DataFrame(
        {
            "date": np.tile(spec.dates.to_numpy(), keys),
            "store": np.repeat(stores["store"].to_numpy(), n_sku * n_day),
            "sku": np.tile(np.repeat(skus["sku"].to_numpy(), n_day), spec.stores),
            "promo": promo.reshape(-1),
            "sales": sales.reshape(-1),
        }
    )
