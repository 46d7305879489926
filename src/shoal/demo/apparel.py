"""The apparel client's fleet: will this order come back? One classifier per category.

Each model is a scikit-learn pipeline (scaling, then logistic regression), trained by
``fleet.train`` (one call for every category) and stored with the sklearn flavor, i.e.
as skops, which loads without running foreign code. ``fleet.evaluate`` scores
regressions, so each category's classifier is scored inside its training function, on
the latest fifth of its orders, and those figures are its metrics. A category whose
split holds a single class cannot be fitted; it is a failed key of the run, with its
error, and the others are registered, as in any fleet run.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import numpy as np
import pandas as pd

from shoal.demo.customers import FEATURES, department
from shoal.demo.progress import Reporter
from shoal.demo.steps import FleetBuild, already_built, built, train
from shoal.demo.world import World
from shoal.errors import InvalidInput
from shoal.sdk.client import Client
from shoal.train import TrainResult

FLEET = "apparel/classifier"
HOLDOUT_SHARE = 0.2
"""The latest fifth of each category's orders is the holdout."""
C = 1.0


def build_apparel(
    client: Client,
    world: World,
    reporter: Reporter,
    *,
    retrain: bool = False,
    workers: int | None = 1,
) -> FleetBuild:
    """Train one return classifier per category with ``fleet.train``; promote the run.

    In this process by default (``workers=1``): a handful of categories at tens of
    milliseconds each, where a process pool would spend longer starting (each worker
    imports scikit-learn, a second or two) than it saves.
    """
    started = time.perf_counter()
    fleet = client.fleet(
        FLEET, keys=["category"], description="Will this order be returned? One model per category"
    )
    orders = world.orders
    first, last = orders["date"].min(), orders["date"].max()
    name = f"apparel/orders-{first:%Y%m%d}-{last:%Y%m%d}"
    dataset = client.datasets.register(orders, name=name)
    if not retrain and already_built(client, dataset):
        return built(FLEET, dataset, reporter, started)
    fn = functools.partial(fit_category, c=C, holdout_share=HOLDOUT_SHARE)
    build = train(client, fleet, orders, fn, name, reporter, "classifiers", workers=workers)
    fleet.promote("production", f"run = {build.run_id}", create=True)
    return build


def fit_category(
    rows: pd.DataFrame, *, c: float = C, holdout_share: float = HOLDOUT_SHARE
) -> TrainResult:
    """Fit on a category's earlier orders, score on its latest ones.

    Module-level (configured with ``functools.partial``) so worker processes can unpickle
    it. scikit-learn is imported here, not at the top, so that ``import shoal.demo`` (for
    :func:`~shoal.demo.make_world` in a benchmark) does not pay its second of imports.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    rows = rows.sort_values("date", kind="stable")
    cut = int(len(rows) * (1.0 - holdout_share))
    fit, test = rows.iloc[:cut], rows.iloc[cut:]
    if fit["returned"].nunique() < 2 or test.empty:
        raise InvalidInput(
            f"{len(fit)} training and {len(test)} holdout orders: a classifier needs both "
            "classes to train on and some orders to score"
        )
    model = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(C=c, max_iter=1000))])
    model.fit(fit[list(FEATURES)], fit["returned"])
    params = {
        "estimator": "logistic_regression", "C": c, "scaler": "standard",
        "features": "+".join(FEATURES), "holdout_share": holdout_share,
    }  # fmt: skip
    category = str(rows["category"].iloc[0])
    return TrainResult(model, metrics=holdout_metrics(model, test), params=params,
                       tags={"department": department(category)})  # fmt: skip


def holdout_metrics(model: Any, test: pd.DataFrame) -> dict[str, float]:
    """Accuracy, F1, log-loss and (when both classes occur) ROC AUC on the holdout."""
    from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

    y = test["returned"].to_numpy()
    proba = model.predict_proba(test[list(FEATURES)])[:, 1]
    predicted = (proba >= 0.5).astype(np.int64)
    metrics = {
        "accuracy": accuracy_score(y, predicted),
        "f1": f1_score(y, predicted, zero_division=0.0),
        "log_loss": log_loss(y, proba, labels=[0, 1]),
        "return_rate": float(y.mean()),
    }
    if len(np.unique(y)) == 2:
        metrics["auc"] = roc_auc_score(y, proba)
    return {name: float(value) for name, value in metrics.items()}
