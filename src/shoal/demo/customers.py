"""An apparel retailer's orders: who bought what, and whether it came back.

Returns are the costliest problem in online fashion, and why they happen differs by
category: shoes and jeans come back when the size is off, dresses when bought on
discount, accessories hardly ever. One classifier per category captures that, which is
why the demo's apparel fleet is keyed by category.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

APPAREL_CATEGORIES = (
    "dresses",
    "shoes",
    "jeans",
    "tops",
    "knitwear",
    "outerwear",
    "activewear",
    "accessories",
)
FEATURES = (
    "age",
    "tenure_months",
    "orders_12m",
    "basket_eur",
    "discount_share",
    "size_mismatch",
    "online",
)
"""The model inputs, in the order the classifiers are fitted on."""

# Per category: base log-odds of a return, weight on size mismatch, weight on discount.
_RETURN_DRIVERS = {
    "dresses": (-1.5, 0.9, 1.8),
    "shoes": (-2.2, 1.9, 0.4),
    "jeans": (-2.1, 1.7, 0.5),
    "tops": (-2.0, 0.7, 0.8),
    "knitwear": (-2.1, 0.6, 0.6),
    "outerwear": (-2.2, 1.0, 0.7),
    "activewear": (-2.2, 0.9, 0.3),
    "accessories": (-3.0, 0.1, 0.5),
}
_DEPARTMENT = {"accessories": "unisex", "activewear": "unisex", "shoes": "unisex"}


def categories(n: int) -> tuple[str, ...]:
    """The first ``n`` categories (names repeat with a suffix past the built-in eight)."""
    base = APPAREL_CATEGORIES
    return tuple(
        base[i] if i < len(base) else f"{base[i % len(base)]}-{i // len(base) + 1}"
        for i in range(n)
    )


def department(category: str) -> str:
    return _DEPARTMENT.get(category.split("-")[0], "womenswear")


def customer_orders(
    n_categories: int, per_category: int, days: int, *, start: str, seed: int
) -> pd.DataFrame:
    """``per_category`` orders in each category over ``days`` days, sorted by date.

    Columns: ``order_id, date, category``, the :data:`FEATURES`, and ``returned`` (0/1).
    """
    frames = [
        _orders_of(name, i, per_category, days, start=start, seed=seed)
        for i, name in enumerate(categories(n_categories))
    ]
    orders = pd.concat(frames, ignore_index=True)
    orders.insert(0, "order_id", np.arange(1, len(orders) + 1, dtype=np.int64))
    return orders


def _orders_of(name: str, index: int, n: int, days: int, *, start: str, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng([seed, 5, index])
    base, size_weight, discount_weight = _RETURN_DRIVERS[name.split("-")[0]]
    age = rng.integers(18, 76, size=n)
    tenure = rng.gamma(2.0, 14.0, size=n).round(1)
    orders_12m = rng.poisson(1.0 + tenure / 12.0)
    basket = rng.lognormal(4.1, 0.5, size=n).round(2)
    discount = rng.beta(1.2, 3.5, size=n).round(3)
    size_mismatch = np.abs(rng.normal(0.0, 1.0, size=n)).round(2)
    online = (rng.random(n) < 0.65).astype(np.int64)
    logit = (
        base
        + size_weight * size_mismatch
        + discount_weight * discount
        + 0.7 * online
        - 0.012 * tenure
        + 0.004 * (basket - 60.0)
        - 0.008 * (age - 40)
    )
    returned = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    day = np.sort(rng.integers(0, days, size=n))
    return pd.DataFrame(
        {
            "date": pd.Timestamp(start) + pd.to_timedelta(day, unit="D"),
            "category": name,
            "age": age,
            "tenure_months": tenure,
            "orders_12m": orders_12m,
            "basket_eur": basket,
            "discount_share": discount,
            "size_mismatch": size_mismatch,
            "online": online,
            "returned": returned,
        }
    )
