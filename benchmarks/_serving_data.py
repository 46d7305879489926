"""The serving benchmark's models and rows, shared by Shoal's side and MLflow's.

Every key (store, sku) gets a scikit-learn ``LinearRegression`` on three features
(``x1``, ``x2``, ``x3``), fitted on 20 rows of a pandas frame (so it knows its feature
names, and Shoal records a signature for it) with its own seeded coefficients, so no two
artifacts are alike and none is stored once for many keys. Request rows are drawn from a
seeded generator too, so the in-process predict timing and the HTTP requests use the
same values. Imports numpy and pandas only (scikit-learn inside :func:`fit_key`):
``mlflow_serving.py`` imports it in MLflow's own venv, which has no Shoal.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

KEYS = ("store", "sku")
FEATURES = ["x1", "x2", "x3"]
SKUS_PER_STORE = 100
TRAIN_ROWS = 20


def key_of(i: int) -> dict[str, str]:
    """The ``i``-th key: 100 SKUs per store (100 x 100 at 10,000)."""
    return {"store": f"s{i // SKUS_PER_STORE:03d}", "sku": f"k{i % SKUS_PER_STORE:03d}"}


def training_frame(i: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Key ``i``'s 20 training rows (features with names) and its target."""
    rng = np.random.default_rng(i)
    X = rng.normal(size=(TRAIN_ROWS, len(FEATURES)))
    coef = rng.normal(0.0, 2.0, size=len(FEATURES))
    y = X @ coef + rng.uniform(1, 100) + rng.normal(0.0, 0.1, size=TRAIN_ROWS)
    return pd.DataFrame(X, columns=FEATURES), y


def fit_key(i: int) -> Any:
    """Key ``i``'s fitted ``LinearRegression`` (knows ``feature_names_in_``)."""
    from sklearn.linear_model import LinearRegression

    X, y = training_frame(i)
    return LinearRegression().fit(X, y)


def feature_rows(count: int, seed: int = 7) -> list[dict[str, float]]:
    """``count`` rows of features, rounded to 4 decimals (as a client would send them)."""
    rng = np.random.default_rng(seed)
    values = np.round(rng.normal(size=(count, len(FEATURES))), 4).tolist()
    return [dict(zip(FEATURES, row, strict=True)) for row in values]


def frame_of(rows: list[dict[str, float]]) -> pd.DataFrame:
    """Feature rows as the frame a server builds from a request (``from_records``)."""
    return pd.DataFrame.from_records(rows)[FEATURES]
