"""Small builders shared by the tests: fleets of linear models with known metrics."""

from __future__ import annotations

from typing import Any

from shoal.flavors.linear import LinearModel


def records(
    stores: int = 4,
    skus: int = 5,
    *,
    version_bias: float = 0.0,
    tags: dict[str, str] | None = None,
    **extra: Any,
) -> list[dict[str, Any]]:
    """One record per (store, sku) with metrics that depend on the key, so sorts are known."""
    out = []
    for s in range(stores):
        for k in range(skus):
            mape = round(0.05 * s + 0.01 * k + version_bias, 6)
            out.append(
                {
                    "key": {"store": f"s{s:03d}", "sku": f"k{k:03d}"},
                    "model": LinearModel(intercept=float(s), coef={"x": 0.5 * k + version_bias}),
                    "params": {"alpha": 0.1, "depth": 3, "kind": "ridge"},
                    "metrics": {"mape": mape, "rmse": float(s + k)},
                    "tags": dict(tags or {"region": "north" if s % 2 == 0 else "south"}),
                    **extra,
                }
            )
    return out


def csrf_of(page: str) -> str:
    """The CSRF token a rendered page's forms carry, as a browser would send it back."""
    import re

    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)
