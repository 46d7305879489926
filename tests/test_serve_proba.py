"""Classifiers' probabilities: each flavor's ``predict_proba``, the server's answer and logs.

A fleet of scikit-learn classifiers (string labels) is served for real (uvicorn on a free
port); the answer carries ``proba`` per row, the logs ``proba.<class>`` columns, and a
monitoring pass over those logs, with feedback sent to the server, gives the log loss
scikit-learn computes from the same probabilities. A regression fleet's answers carry
none. Models are real, saved and loaded through their flavors; nothing is mocked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import log_loss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import shoal
from shoal.flavors import get_flavor
from shoal.flavors.linear import LinearModel
from shoal.http.auth import Auth
from shoal.serve import ModelCache, create_app
from shoal.serve.predictor import LocalModels, Predictor
from test_serve import Server

STORES = ["s00", "s01", "s02"]
CLASSES = ["buy", "skip"]
URL = "/api/v1/fleets/shop/churn/predict"


def training(store: str, rows: int = 200) -> pd.DataFrame:
    """Rows of one store: ``buy`` when the discount beats a store's own threshold."""
    rng = np.random.default_rng(int(store[1:]))
    discount = rng.uniform(0, 1, rows)
    visits = rng.poisson(3, rows).astype(np.float64)
    noisy = discount + 0.1 * visits + rng.normal(0, 0.3, rows)
    label = np.where(noisy > 0.6 + 0.1 * int(store[1:]), "buy", "skip")
    return pd.DataFrame({"discount": discount, "visits": visits, "label": label})


def classifier(store: str) -> LogisticRegression:
    frame = training(store)
    return LogisticRegression().fit(frame[["discount", "visits"]], frame["label"])


@pytest.fixture
def client(tmp_path: Path) -> Iterator[shoal.Client]:
    client = shoal.connect(f"sqlite:///{tmp_path / 'shoal.db'}", str(tmp_path / "artifacts"))
    churn = client.fleet("shop/churn", keys=["store"])
    churn.register({"key": {"store": s}, "model": classifier(s)} for s in STORES)
    churn.set_alias("production", {(s,): 1 for s in STORES}, create=True)
    demand = client.fleet("shop/demand", keys=["store"])
    demand.register(
        {"key": {"store": s}, "model": LinearModel(1.0, {"price": -0.5})} for s in STORES
    )
    demand.set_alias("production", {(s,): 1 for s in STORES}, create=True)
    yield client
    client.close()


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({"a": rng.uniform(0, 1, 300), "b": rng.normal(0, 1, 300)})


def test_each_flavor_gives_labelled_probabilities_or_none() -> None:
    X = frame()
    words = np.where(X["a"] > 0.5, "yes", "no")
    sk, lgbm, pickle = get_flavor("sklearn"), get_flavor("lightgbm"), get_flavor("pickle")

    model = LogisticRegression().fit(X, words)
    unpickled = pickle.load(pickle.save(model), allow_pickle=True)
    for flavor, loaded in ((sk, sk.load(sk.save(model))), (pickle, unpickled)):
        labels, matrix = flavor.predict_proba(loaded, X)
        assert labels == ["no", "yes"]
        np.testing.assert_allclose(matrix, model.predict_proba(X))
    # Training's cheaper in-sample path gives predict's answers (and a pipeline its own).
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, words)
    for fitted in (model, pipeline, LinearRegression().fit(X.assign(c=X["a"] > 0.2), X["b"])):
        inputs = X.assign(c=X["a"] > 0.2)[list(fitted.feature_names_in_)]
        assert (sk.predict_in_sample(fitted, inputs) == fitted.predict(inputs)).all()
    flags = LogisticRegression().fit(X, X["a"] > 0.5)  # booleans: as the logs write them
    assert sk.predict_proba(flags, X)[0] == ["false", "true"]
    assert sk.predict_proba(LinearRegression().fit(X, X["b"]), X) is None
    assert get_flavor("linear").predict_proba(LinearModel(1.0, {"a": 2.0}), X) is None

    binary = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, (X["a"] > 0.5).astype(int))
    labels, matrix = lgbm.predict_proba(lgbm.load(lgbm.save(binary)), X)
    assert labels == ["0", "1"]  # a loaded booster knows class indexes only
    np.testing.assert_allclose(matrix, binary.predict_proba(X))
    three = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, np.digitize(X["a"], [0.3, 0.6]))
    labels, matrix = lgbm.predict_proba(lgbm.load(lgbm.save(three)), X)
    assert labels == ["0", "1", "2"] and matrix.shape == (len(X), 3)
    np.testing.assert_allclose(matrix, three.predict_proba(X))
    assert lgbm.predict_proba(lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, words),
                              X)[0] == ["no", "yes"]  # fmt: skip
    regressor = lgb.LGBMRegressor(n_estimators=5, verbose=-1).fit(X, X["b"])
    assert lgbm.predict_proba(lgbm.load(lgbm.save(regressor)), X) is None


def _today() -> dt.datetime:
    now = dt.datetime.now(dt.UTC)
    return dt.datetime(now.year, now.month, now.day, tzinfo=dt.UTC)


def test_served_probabilities_are_answered_logged_and_give_log_loss(
    client: shoal.Client, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    app = create_app(client, auth=Auth.off(), logs_url=str(logs), refresh_seconds=60)
    rng = np.random.default_rng(3)
    rows = [{"store": s, "discount": float(rng.uniform(0, 1)), "visits": float(rng.poisson(3))}
            for s in STORES for _ in range(40)]  # fmt: skip
    actual = [str(rng.choice(CLASSES)) for _ in rows]
    with Server(app) as http:
        answer = http.post(URL, json={"rows": rows})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        predictions = body["predictions"]
        sent = http.post("/api/v1/fleets/shop/churn/feedback", json={"items": [
            {"request_id": body["request_id"], "row": i, "actual": a}
            for i, a in enumerate(actual)
        ]})  # fmt: skip
        assert sent.status_code == 200, sent.text
        regression = http.post("/api/v1/fleets/shop/demand/predict",
                               json={"rows": [{"store": "s01", "price": 2.0}]}).json()  # fmt: skip
    assert "proba" not in regression["predictions"][0]
    # The answer: one probability per class, the same as the model's, its argmax the label.
    models = {s: classifier(s) for s in STORES}
    for row, answered in zip(rows, predictions, strict=True):
        model = models[row["store"]]
        expected = model.predict_proba(pd.DataFrame([row]).drop(columns="store"))[0]
        assert list(answered["proba"]) == CLASSES
        assert [answered["proba"][c] for c in CLASSES] == pytest.approx(expected.tolist())
        assert answered["prediction"] == CLASSES[int(np.argmax(expected))]
    # The logs: proba.<class> float columns beside each prediction.
    churn_logs = logs / "predictions" / "tenant=shop" / "fleet=churn"
    logged = ds.dataset(churn_logs, format="parquet", partitioning="hive").to_table()
    logged_frame = logged.to_pandas().sort_values("row")
    assert {"proba.buy", "proba.skip"} <= set(logged.column_names)
    assert str(logged.schema.field("proba.buy").type) == "double"
    proba = logged_frame[["proba.buy", "proba.skip"]].to_numpy()
    np.testing.assert_allclose(proba, [[p["proba"][c] for c in CLASSES] for p in predictions])
    # Monitoring reads them: the log loss of each model, from Shoal's own logs.
    churn = client.fleet("shop/churn")
    outcome = churn.monitor("1d", logs=str(logs), since=_today(),
                            until=_today() + dt.timedelta(days=1))  # fmt: skip
    assert outcome.labelled == len(rows)
    by_store = {r["key"]["store"]: r for r in churn.monitoring.results()}
    for store in STORES:
        mine = [i for i, row in enumerate(rows) if row["store"] == store]
        expected_loss = log_loss([actual[i] for i in mine], proba[mine], labels=CLASSES)
        assert by_store[store]["log_loss"] == pytest.approx(expected_loss)
        accuracy = np.mean([predictions[i]["prediction"] == actual[i] for i in mine])
        assert by_store[store]["accuracy"] == pytest.approx(accuracy)


def test_a_models_backend_that_returns_bare_lists_still_answers(client: shoal.Client) -> None:
    """A ``Models`` written before probabilities (values only) keeps working, without them."""

    class Bare(LocalModels):
        def predict(self, fleet: Any, parts: Any) -> Any:  # the old interface: lists
            return [found.values for found in super().predict(fleet, parts)]

    models = Bare(ModelCache(lambda row: client.registry.versions.load(row["fleet"], row)))
    predictor = Predictor(client.registry, lambda t, n: client.fleet(f"{t}/{n}").ref, models)
    rows = [{"store": "s01", "discount": 0.9, "visits": 2.0}]
    bare = predictor.predict("shop", "churn", rows)[0]
    assert bare.proba is None and bare.prediction in CLASSES
    full = Predictor(client.registry, lambda t, n: client.fleet(f"{t}/{n}").ref,
                     LocalModels(models.cache)).predict("shop", "churn", rows)[0]  # fmt: skip
    assert full.prediction == bare.prediction and set(full.proba or {}) == set(CLASSES)


@pytest.mark.slow
def test_ray_serve_replicas_answer_probabilities_too(tmp_path: Path) -> None:
    """Ray Serve's model replicas return the same answers as the in-process models."""
    serve = pytest.importorskip("ray.serve", reason="Ray Serve is an optional extra")
    ray = pytest.importorskip("ray")
    import httpx

    from shoal.serve import ray_serve
    from shoal.testing import free_port

    store, artifacts = f"sqlite:///{tmp_path / 'shoal.db'}", str(tmp_path / "artifacts")
    client = shoal.connect(store, artifacts)
    churn = client.fleet("shop/churn", keys=["store"])
    churn.register({"key": {"store": s}, "model": classifier(s)} for s in STORES)
    churn.set_alias("production", {(s,): 1 for s in STORES}, create=True)
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    port = free_port()
    rows = [{"store": s, "discount": 0.2 * i, "visits": float(i)} for s in STORES
            for i in range(4)]  # fmt: skip
    try:
        ray_serve.run(store, artifacts, host="127.0.0.1", port=port, blocking=False,
                      auth=Auth.off(), logs_url=str(tmp_path / "logs"))  # fmt: skip
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            reply = http.post(URL, json={"rows": rows})
        assert reply.status_code == 200, reply.text
        for row, answer in zip(rows, reply.json()["predictions"], strict=True):
            expected = classifier(row["store"]).predict_proba(
                pd.DataFrame([row]).drop(columns="store")
            )[0]
            assert [answer["proba"][c] for c in CLASSES] == pytest.approx(expected.tolist())
    finally:
        serve.shutdown()
        ray.shutdown()
        client.close()
