"""The training benchmark's data and per-key functions, shared by every side it compares.

Two workloads, both generated from a seeded numpy generator so every side trains on the
same rows:

- **demand** (the realistic one): two years of daily rows per (store, sku) with a trend,
  a weekly and a yearly season, price and promotions; :func:`fit_demand` builds lag,
  calendar and trend features from one key's rows and fits a 100-tree LightGBM regressor.
- **tiny** (the stress one): 50 rows per key of three features and a linear target;
  :func:`fit_tiny` fits a scikit-learn ``LinearRegression`` and returns it with two
  in-sample metrics and two params, so the tracking sides have something to record.

The functions are module-level so worker processes (a process pool, joblib's loky, Ray)
can import them by name. This module imports only numpy and pandas at the top (LightGBM
and scikit-learn inside the functions): ``mlflow_training.py`` imports it in MLflow's own
venv, which has no Shoal and no LightGBM.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

KEYS = ("store", "sku")
DEMAND_DAYS = 730
TINY_ROWS = 50
TINY_FEATURES = ["x1", "x2", "x3"]
LGBM_TREES = 100


def layout(keys: int, skus_per_store: int = 100) -> tuple[list[str], list[str]]:
    """The store and SKU of each of ``keys`` keys: 100 SKUs per store (20 x 100 at 2,000)."""
    skus = min(skus_per_store, keys)
    index = np.arange(keys)
    stores = [f"s{i:03d}" for i in index // skus]
    return stores, [f"k{i:03d}" for i in index % skus]


def demand_frame(keys: int, days: int = DEMAND_DAYS, seed: int = 0) -> pd.DataFrame:
    """``keys`` x ``days`` daily rows: store, sku, day, price, promo, units (one frame)."""
    rng = np.random.default_rng(seed)
    stores, skus = layout(keys)
    t = np.arange(days)
    level = rng.gamma(4.0, 5.0, size=(keys, 1))
    trend = rng.normal(0.0, 0.0005, size=(keys, 1))
    weekly = 1 + rng.uniform(0.05, 0.3, size=(keys, 1)) * np.sin(2 * np.pi * (t % 7) / 7)
    yearly = 1 + rng.uniform(0.0, 0.3, size=(keys, 1)) * np.sin(2 * np.pi * t / 365.25)
    price = np.round(rng.uniform(2, 9, size=(keys, 1)) * rng.uniform(0.85, 1.1, (keys, days)), 2)
    promo = (rng.random((keys, days)) < 0.08).astype(np.int8)
    mean = level * (1 + trend * t) * weekly * yearly * (5.0 / price) ** 0.8 * (1 + 0.5 * promo)
    units = rng.poisson(np.clip(mean, 0.1, None)).astype(np.float64)
    return pd.DataFrame(
        {
            "store": np.repeat(stores, days),
            "sku": np.repeat(skus, days),
            "day": np.tile(pd.date_range("2024-01-01", periods=days, freq="D").values, keys),
            "price": price.ravel(),
            "promo": promo.ravel(),
            "units": units.ravel(),
        }
    )


def demand_features(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Calendar, trend, price and lag features of one key's rows (rows without lags dropped)."""
    frame = frame.sort_values("day")
    day = pd.to_datetime(frame["day"])
    units = frame["units"].astype("float64")
    x = pd.DataFrame(
        {
            "dow": day.dt.dayofweek.to_numpy(),
            "month": day.dt.month.to_numpy(),
            "t": ((day - day.iloc[0]).dt.days).to_numpy(),
            "price": frame["price"].to_numpy(),
            "promo": frame["promo"].to_numpy(),
            "lag_7": units.shift(7).to_numpy(),
            "lag_14": units.shift(14).to_numpy(),
            "lag_28": units.shift(28).to_numpy(),
            "mean_7": units.shift(7).rolling(7).mean().to_numpy(),
        }
    )
    keep = slice(34, None)  # the first 28 + 6 rows have no full lag window
    return x.iloc[keep].reset_index(drop=True), units.iloc[keep].reset_index(drop=True)


def fit_demand(frame: pd.DataFrame) -> Any:
    """One key's demand model: features, then ``LGBMRegressor(n_estimators=100, n_jobs=1)``."""
    import lightgbm

    x, y = demand_features(frame)
    model = lightgbm.LGBMRegressor(n_estimators=LGBM_TREES, n_jobs=1, verbose=-1)
    return model.fit(x, y)


def tiny_frame(keys: int, rows: int = TINY_ROWS, seed: int = 1) -> pd.DataFrame:
    """``keys`` x ``rows`` rows: store, sku, three features and a noisy linear target."""
    rng = np.random.default_rng(seed)
    stores, skus = layout(keys)
    x = rng.normal(size=(keys, rows, len(TINY_FEATURES)))
    coef = rng.normal(size=(keys, 1, len(TINY_FEATURES)))
    y = (x * coef).sum(axis=2) + rng.normal(0.0, 0.1, size=(keys, rows)) + 10
    out = pd.DataFrame({"store": np.repeat(stores, rows), "sku": np.repeat(skus, rows)})
    for i, name in enumerate(TINY_FEATURES):
        out[name] = x[:, :, i].ravel()
    out["y"] = y.ravel()
    return out


def fit_tiny(frame: pd.DataFrame) -> dict[str, Any]:
    """One key's linear model, with in-sample RMSE and MAE, and two params."""
    from sklearn.linear_model import LinearRegression

    x, y = frame[TINY_FEATURES], frame["y"]
    model = LinearRegression().fit(x, y)
    residual = y.to_numpy() - (x.to_numpy() @ model.coef_ + model.intercept_)
    return {
        "model": model,
        "metrics": {"rmse": float(np.sqrt(np.mean(residual**2))),
                    "mae": float(np.mean(np.abs(residual)))},
        "params": {"rows": len(y), "features": x.shape[1]},
    }  # fmt: skip


def split(frame: pd.DataFrame) -> list[tuple[tuple[str, str], pd.DataFrame]]:
    """Every key's rows as its own frame, the way a hand-written loop splits them."""
    return list(frame.groupby(list(KEYS), sort=False))


def fit_and_dump(fn: Any, frame: pd.DataFrame, path: str) -> str:
    """The bare loop's unit of work: fit one key, save the model with ``joblib.dump``."""
    import joblib

    result = fn(frame)
    joblib.dump(result["model"] if isinstance(result, dict) else result, path)
    return path
