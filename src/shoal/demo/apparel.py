"""The apparel client's fleet: will this order come back? One classifier per category.

Each model is a scikit-learn pipeline (scaling, then logistic regression) stored with
the sklearn flavor, i.e. as skops, which loads without running foreign code. A category
whose training slice holds a single class cannot be fitted; it is counted as a failed
key of the run and the others are registered, as a real fleet run would.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from shoal.data import slice_fingerprints, to_arrow
from shoal.demo.customers import FEATURES, department
from shoal.demo.progress import Reporter
from shoal.demo.steps import FleetBuild, already_built, built_note, fail, finish, register_all
from shoal.demo.world import World
from shoal.sdk.client import Client

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

FLEET = "apparel/classifier"
HOLDOUT_SHARE = 0.2
"""The latest fifth of each category's orders is the holdout."""
C = 1.0


def build_apparel(
    client: Client, world: World, reporter: Reporter, *, retrain: bool = False
) -> FleetBuild:
    """Fit, register and promote one return classifier per category."""
    started = time.perf_counter()
    fleet = client.fleet(
        FLEET, keys=["category"], description="Will this order be returned? One model per category"
    )
    orders = world.orders
    table = to_arrow(orders)
    first, last = orders["date"].min(), orders["date"].max()
    dataset = client.datasets.register(table, name=f"apparel/orders-{first:%Y%m%d}-{last:%Y%m%d}")
    if not retrain and already_built(client, dataset):
        reporter.note(built_note(FLEET, dataset))
        return FleetBuild(FLEET, dataset, None, 0, 0, time.perf_counter() - started, True)
    slices = slice_fingerprints(table, ["category"])
    params = {
        "estimator": "logistic_regression",
        "C": C,
        "scaler": "standard",
        "features": "+".join(FEATURES),
        "holdout_share": HOLDOUT_SHARE,
    }
    run_id = fleet.start_run("train", params=params)
    specs, failed = [], 0
    try:
        groups = list(orders.groupby("category", sort=False))
        with reporter.task(f"fitting {FLEET}", len(groups)) as advance:
            for category, rows in groups:
                fitted = fit_category(rows)
                advance(1)
                if fitted is None:
                    failed += 1
                    continue
                model, metrics = fitted
                specs.append(
                    {
                        "key": {"category": category},
                        "model": model,
                        "params": params,
                        "metrics": metrics,
                        "tags": {"department": department(category)},
                        "run": run_id,
                        "dataset": dataset.id,
                        "slice_fingerprint": slices[(category,)],
                    }
                )
        register_all(fleet, specs, reporter, "classifiers", run_id)
    except BaseException as exc:
        fail(client, run_id, exc)
        raise
    finish(client, run_id, len(specs), failed, len(orders))
    fleet.promote("production", f"run = {run_id}")
    return FleetBuild(FLEET, dataset, run_id, len(specs), failed, time.perf_counter() - started)


def fit_category(rows: pd.DataFrame) -> tuple[Pipeline, dict[str, float]] | None:
    """Fit on the earlier orders, score on the latest; None when a split has one class.

    scikit-learn is imported here, not at the top, so that ``import shoal.demo`` (for
    :func:`~shoal.demo.make_world` in a benchmark) does not pay its second of imports.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    cut = int(len(rows) * (1.0 - HOLDOUT_SHARE))
    train, test = rows.iloc[:cut], rows.iloc[cut:]
    if train["returned"].nunique() < 2 or test.empty:
        return None
    model = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(C=C, max_iter=1000))])
    model.fit(train[list(FEATURES)], train["returned"])
    return model, holdout_metrics(model, test)


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
