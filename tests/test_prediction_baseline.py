"""Prediction drift against each version's own in-sample predictions, recorded at training.

A small fleet is trained for real (``fleet.train``); each version's baseline carries the
summary of its model's predictions on its own rows. Predictions are then logged in the
server's layout from fresh rows of the training distribution, with a few keys' predictions
shifted while their features are not (a broken pipeline, say): monitoring tests the
prediction against the recorded summary and flags exactly those keys, under its own
false-discovery control, while their features stay quiet. A version registered the old
way (a baseline without predictions) falls back to the training target: a figure, never a
flag. A classifier fleet's predicted labels are tested the same way (chi-square).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

import shoal
from shoal.data import PREDICTION, profile
from shoal.flavors.linear import LinearModel

DAY = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
STORES = [f"s{i:02d}" for i in range(8)]
SHIFTED = {"s01", "s04"}
OLD_STYLE = "s09"


def rows_of(store: str, rng: np.random.Generator, n: int = 200) -> pd.DataFrame:
    price = rng.uniform(1.0, 5.0, n)
    promo = rng.random(n) < 0.3
    units = 10.0 + int(store[1:]) - 2.0 * price + 3.0 * promo + rng.normal(0, 1.0, n)
    return pd.DataFrame({"store": store, "price": price, "promo": promo, "units": units})


def sales(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.concat([rows_of(s, rng) for s in STORES], ignore_index=True)


def fit(frame: pd.DataFrame) -> Any:
    return LinearRegression().fit(frame[["price", "promo"]], frame["units"])


def fit_with_own_inputs(frame: pd.DataFrame) -> Any:
    """A model on an input ``fn`` builds: Shoal cannot predict on the rows, fn says."""
    X = pd.DataFrame({"log_price": np.log(frame["price"])})
    model = LinearRegression().fit(X, frame["units"])
    return shoal.TrainResult(model, predictions=model.predict(X))


def fit_with_wrong_predictions(frame: pd.DataFrame) -> Any:
    return {"model": fit(frame), "predictions": [1.0, 2.0]}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[shoal.Client]:
    client = shoal.connect(f"sqlite:///{tmp_path / 'shoal.db'}", str(tmp_path / "artifacts"))
    yield client
    client.close()


def write(folder: Path, frame: pd.DataFrame) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, folder / f"part-{uuid.uuid4().hex}.parquet")


def logged(store: str, version: Any, prediction: np.ndarray, frame: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(int(store[1:]) + 100)
    n = len(frame)
    return pd.DataFrame({
        "request_id": [uuid.uuid4().hex for _ in range(n)], "row": np.zeros(n, np.int64),
        "at": DAY + pd.to_timedelta(rng.uniform(0, 86000, n), unit="s"),
        "version_id": version.id, "version": version.version, "prediction": prediction,
        "key.store": store, "feature.price": frame["price"].to_numpy(),
        "feature.promo": frame["promo"].to_numpy(),
    })  # fmt: skip


def features_of(fleet: shoal.Fleet, store: str) -> dict[str, dict[str, Any]]:
    return {f["feature"]: f for f in fleet.monitoring.features({"store": store})}


def test_training_records_the_in_sample_predictions_beside_the_baseline(
    client: shoal.Client,
) -> None:
    data = sales()
    fleet = client.fleet("grocer/demand", keys=["store"])
    run = fleet.train(data, fit, workers=1, progress=False)
    assert run.done == len(STORES)
    for store in ("s00", "s05"):
        version = fleet.get(store)
        baseline = client.baseline(version)
        assert baseline is not None
        own = data[data["store"] == store].reset_index(drop=True)
        model = fleet.load_model(store)
        expected = profile(pd.DataFrame({"p": model.predict(own[["price", "promo"]])}))
        assert baseline[PREDICTION] == expected["columns"]["p"]
        assert PREDICTION not in baseline["columns"]  # not a column of the training data
    # Inputs fn built itself: its own predictions are the baseline; wrong ones, the key's error.
    built = client.fleet("grocer/built", keys=["store"])
    built.train(data, fit_with_own_inputs, workers=1, progress=False)
    own = data[data["store"] == "s03"].reset_index(drop=True)
    given = fit_with_own_inputs(own).predictions
    summary = client.baseline(built.get("s03"))[PREDICTION]  # type: ignore[index]
    assert summary == profile(pd.DataFrame({"p": given}))["columns"]["p"]
    wrong = client.fleet("grocer/wrong", keys=["store"])
    failed = wrong.train(data, fit_with_wrong_predictions, workers=1, progress=False)
    assert failed.failed == len(STORES)
    assert "one prediction per row" in failed.errors[0].error


def test_shifted_predictions_are_tested_and_flagged_and_old_versions_fall_back(
    client: shoal.Client, tmp_path: Path
) -> None:
    data = sales()
    fleet = client.fleet("grocer/demand", keys=["store"])
    fleet.train(data, fit, workers=1, progress=False)
    # An older-style version: its baseline profiles the training rows, no predictions.
    old_rows = rows_of("s01", np.random.default_rng(5)).assign(store=OLD_STYLE)
    fleet.register([{"key": {"store": OLD_STYLE},
                     "model": LinearModel(11.0, {"price": -2.0, "promo": 3.0}),
                     "baseline": profile(old_rows.drop(columns="store"))}])  # fmt: skip
    rng = np.random.default_rng(11)
    frames = []
    for store in [*STORES, OLD_STYLE]:
        fresh = rows_of(store, rng, 300)  # the training distribution: features do not move
        if store == OLD_STYLE:
            predicted = 11.0 - 2.0 * fresh["price"] + 3.0 * fresh["promo"]
        else:
            predicted = fleet.load_model(store).predict(fresh[["price", "promo"]])
        if store in SHIFTED or store == OLD_STYLE:
            predicted = np.asarray(predicted) + 4.0  # the output moved, the inputs did not
        frames.append(logged(store, fleet.get(store), np.asarray(predicted, float), fresh))
    logs = tmp_path / "logs"
    write(logs / "predictions/tenant=grocer/fleet=demand/day=2026-11-20", pd.concat(frames))
    outcome = fleet.monitor("1d", logs=str(logs), since=DAY, until=DAY + dt.timedelta(days=1))

    results = {r["key"]["store"]: r for r in fleet.monitoring.results()}
    flagged = {s for s in [*STORES, OLD_STYLE] if features_of(fleet, s)["prediction"]["drifted"]}
    assert flagged == SHIFTED
    for store in SHIFTED:
        prediction = features_of(fleet, store)["prediction"]
        assert prediction["test"] == "ks" and prediction["q_value"] <= 0.05
        assert prediction["psi"] > 1.0 and results[store]["prediction_psi"] > 1.0
        assert results[store]["drifted_features"] == 0  # its features did not move
    steady = features_of(fleet, "s02")["prediction"]
    assert steady["q_value"] is not None and not steady["drifted"]
    # The old-style version: compared with its target, a figure only (no q-value, no flag).
    fallback = features_of(fleet, OLD_STYLE)["prediction"]
    assert fallback["psi"] is not None and fallback["q_value"] is None
    assert results[OLD_STYLE]["prediction_psi"] is not None
    # Prediction tests count among the pass's tests and flags; "drifting models" stays
    # the models with a drifted feature.
    assert outcome.flagged == len(SHIFTED) and outcome.drifting_models == 0
    assert outcome.tests >= len(STORES) * 3


def test_a_classifier_fleets_predicted_labels_are_tested(
    client: shoal.Client, tmp_path: Path
) -> None:
    data = sales()
    data["label"] = np.where(data["units"] > 10.0 + data["store"].str[1:].astype(int) - 4.0,
                             "high", "low")  # fmt: skip
    fleet = client.fleet("grocer/mix", keys=["store"])

    fleet.train(data.drop(columns="units"), fit_label, workers=1, progress=False)
    summary = client.baseline(fleet.get("s02"))[PREDICTION]  # type: ignore[index]
    assert summary["kind"] == "categorical"
    assert {t["value"] for t in summary["top"]} == {"high", "low"}
    rng = np.random.default_rng(3)
    frames = []
    for store in STORES:
        fresh = rows_of(store, rng, 300)
        labels = fleet.load_model(store).predict(fresh[["price", "promo"]])
        if store in SHIFTED:
            labels = np.full(len(fresh), "high")  # stuck on one class
        frames.append(logged(store, fleet.get(store), labels, fresh))
    logs = tmp_path / "logs"
    write(logs / "predictions/tenant=grocer/fleet=mix/day=2026-11-20", pd.concat(frames))
    fleet.monitor("1d", logs=str(logs), since=DAY, until=DAY + dt.timedelta(days=1))
    flagged = {s for s in STORES if features_of(fleet, s)["prediction"]["drifted"]}
    assert flagged == SHIFTED
    assert features_of(fleet, "s01")["prediction"]["test"] == "chi2"


def fit_label(frame: pd.DataFrame) -> Any:
    return LogisticRegression().fit(frame[["price", "promo"]], frame["label"])
