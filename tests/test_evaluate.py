"""fleet.evaluate: holdout metrics on the versions at an alias, then champion/challenger."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

import shoal
from shoal.errors import InvalidInput

STORES = [f"s{i:02d}" for i in range(10)]
WINNERS = STORES[:5]  # a better candidate
LOSER = "s05"  # a worse candidate
BROKEN = "s09"  # a candidate needing a column the holdout lacks


def frame(stores: list[str], rows: int = 30, seed: int = 0, bias: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(
        {"store": np.repeat(stores, rows), "price": rng.uniform(1, 5, len(stores) * rows)}
    )
    data["y"] = 10 - 2 * data["price"] + bias + rng.normal(0, 0.1, len(data))
    return data


def fit(data: pd.DataFrame) -> LinearRegression:
    return LinearRegression().fit(data[["price"]], data["y"])


@pytest.fixture
def demand(client: shoal.Client) -> shoal.Fleet:
    fleet = client.fleet("grocer/demand", keys=["store"])
    fleet.train(frame(STORES, bias=1.5), fit, workers=1, progress=False)  # biased: v1
    fleet.set_alias("production", {store: 1 for store in STORES}, create=True)
    fleet.train(frame(WINNERS, seed=1), fit, workers=1, progress=False)  # good: v2
    fleet.train(frame([LOSER], seed=2, bias=4.0), fit, workers=1, progress=False)  # worse: v2
    two = frame([BROKEN], seed=3).assign(promo=1.0)
    model = LinearRegression().fit(two[["price", "promo"]], two["y"])
    fleet.register([{"key": BROKEN, "model": model}])
    fleet.set_alias("candidate", {store: 2 for store in [*WINNERS, LOSER, BROKEN]}, create=True)
    return fleet


def test_evaluate_then_promote_moves_only_the_winners(demand: shoal.Fleet) -> None:
    holdout = frame([*STORES, "zz"], seed=9)  # 'zz' has no model at all
    prod = demand.evaluate(holdout, alias="production", progress=False)
    assert (prod.alias, prod.evaluated, prod.skipped, prod.failed) == ("production", 10, 1, 0)
    assert set(prod.summary) == {"mae", "rmse", "mape", "smape"}
    cand = demand.evaluate(holdout, progress=False)
    assert (cand.evaluated, cand.skipped, cand.failed) == (6, 4, 1)
    assert cand.errors[0][0] == {"store": BROKEN} and "promo" in cand.errors[0][1]
    assert cand.seconds > 0

    spelled = demand.promote(
        "production",
        where="eval_mape < production.eval_mape",
        source="candidate",
        dry_run=True,
        create=True,
    )
    assert spelled.moved == 5
    moved = demand.promote(
        "production", where="candidate.eval_mape < production.eval_mape", create=True
    )
    assert moved.moved == 5 and moved.source == "candidate"
    for store in STORES:
        expected = 2 if store in WINNERS else 1
        assert demand.get(store, alias="production").version == expected, store


def test_metrics_match_numpy_and_reevaluation_overwrites(demand: shoal.Fleet) -> None:
    holdout = frame(STORES, seed=9)
    demand.evaluate(holdout, progress=False)
    version = demand.get("s01", alias="candidate")
    rows = holdout[holdout["store"] == "s01"]
    predicted = demand.load_model("s01", alias="candidate").predict(rows[["price"]])
    actual = rows["y"].to_numpy()
    error = predicted - actual
    assert version.metrics["eval_mae"] == pytest.approx(np.mean(np.abs(error)))
    assert version.metrics["eval_rmse"] == pytest.approx(np.sqrt(np.mean(error**2)))
    assert version.metrics["eval_mape"] == pytest.approx(np.mean(np.abs(error) / np.abs(actual)))
    smape = np.mean(2 * np.abs(error) / (np.abs(actual) + np.abs(predicted)))
    assert version.metrics["eval_smape"] == pytest.approx(smape)
    # the candidate versions are their models' latest, so plain filters see their figures
    assert demand.count("eval_mape >= 0") == 6  # winners and loser; the broken one has none

    shifted = holdout.assign(y=holdout["y"] + 1.0)
    demand.evaluate(shifted, metrics=["mae"], progress=False)
    again = demand.get("s01", alias="candidate")
    assert again.metrics["eval_mae"] > version.metrics["eval_mae"]
    assert again.metrics["eval_mape"] == version.metrics["eval_mape"]  # not re-evaluated


def test_prefix_by_and_bad_input(demand: shoal.Fleet) -> None:
    holdout = frame(STORES, seed=9).rename(columns={"store": "shop", "y": "units"})
    result = demand.evaluate(
        holdout, alias="production", by=["shop"], target="units", prefix="hold_",
        metrics=["mape"], progress=False,
    )  # fmt: skip
    assert result.evaluated == 10 and set(result.summary) == {"mape"}
    assert "hold_mape" in demand.get("s03", alias="production").metrics
    with pytest.raises(InvalidInput, match="metrics"):
        demand.evaluate(holdout, by=["shop"], target="units", metrics=["r2"], progress=False)
    with pytest.raises(InvalidInput, match="target"):
        demand.evaluate(holdout, by=["shop"], progress=False)
    with pytest.raises(InvalidInput, match="prefix"):
        demand.evaluate(holdout, by=["shop"], target="units", prefix="", progress=False)
    with pytest.raises(InvalidInput, match="alias"):
        demand.evaluate(holdout, by=["shop"], target="units", alias="Bad!", progress=False)


SEGMENTS = [f"g{i}" for i in range(6)]


def labelled(segments: list[str], rows: int = 80, seed: int = 0, flip: float = 0.0,
             labels: tuple = ("stay", "leave")) -> pd.DataFrame:  # fmt: skip
    """Churn labels that follow ``x1 + x2`` in every segment, ``flip`` of them swapped."""
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({"segment": np.repeat(segments, rows),
                         "x1": rng.normal(size=len(segments) * rows),
                         "x2": rng.normal(size=len(segments) * rows)})  # fmt: skip
    leave = (data["x1"] + data["x2"] > 0.3) ^ (rng.random(len(data)) < flip)
    data["label"] = np.where(leave, labels[1], labels[0])
    return data


def classify(data: pd.DataFrame) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(data[["x1", "x2"]], data["label"])


def test_classifiers_are_scored_by_accuracy_and_macro_f1(client: shoal.Client) -> None:
    from sklearn.metrics import accuracy_score, f1_score

    churn = client.fleet("shop/churn", keys=["segment"])
    # Production learnt from noisy labels; the candidate from clean ones, except in g5,
    # where its labels are inverted (a broken extract), so it must lose there.
    churn.train(labelled(SEGMENTS, flip=0.45), classify, workers=1, progress=False)
    churn.set_alias("production", dict.fromkeys(SEGMENTS, 1), create=True)
    churn.train(labelled(SEGMENTS[:5], seed=1), classify, workers=1, progress=False)
    inverted = labelled(["g5"], seed=2, labels=("leave", "stay"))
    churn.train(inverted, classify, workers=1, progress=False)
    churn.set_alias("candidate", dict.fromkeys(SEGMENTS, 2), create=True)

    holdout = labelled(SEGMENTS, seed=9)
    holdout.loc[::17, "label"] = None  # rows without an actual label are left out
    result = churn.evaluate(holdout, alias="candidate", target="label", progress=False)
    assert (result.evaluated, result.failed) == (6, 0)
    assert set(result.summary) == {"accuracy", "f1"}  # chosen from the text target
    for segment in ("g1", "g5"):
        rows = holdout[(holdout["segment"] == segment) & holdout["label"].notna()]
        predicted = churn.load_model(segment, alias="candidate").predict(rows[["x1", "x2"]])
        version = churn.get(segment, alias="candidate")
        assert version.metrics["eval_accuracy"] == pytest.approx(
            accuracy_score(rows["label"], predicted)
        )
        assert version.metrics["eval_f1"] == pytest.approx(
            f1_score(rows["label"], predicted, average="macro")
        )
    churn.evaluate(holdout, alias="production", target="label", progress=False)
    moved = churn.promote(
        "production", where="candidate.eval_accuracy > production.eval_accuracy", create=True
    )
    assert moved.moved == 5
    assert churn.get("g5", alias="production").version == 1

    # Integer class labels read as quantities unless the metrics say otherwise.
    numbered = client.fleet("shop/churn_codes", keys=["segment"])
    numbered.train(labelled(SEGMENTS[:2], labels=(0, 1)), classify, workers=1, progress=False)
    numbered.set_alias("candidate", dict.fromkeys(SEGMENTS[:2], 1), create=True)
    codes = labelled(SEGMENTS[:2], seed=9, labels=(0, 1))
    scored = numbered.evaluate(codes, target="label", metrics=["accuracy", "f1"], progress=False)
    assert scored.evaluated == 2 and 0.8 < scored.summary["accuracy"] <= 1.0
    with pytest.raises(InvalidInput, match="mix regression"):
        numbered.evaluate(codes, target="label", metrics=["mae", "accuracy"], progress=False)


def test_missing_predicted_labels_are_an_error_not_a_class() -> None:
    from shoal.train._evaluate import classification_metrics

    actual = np.array([1.0, 2.0, 1.0, 2.0], dtype=object)
    assert classification_metrics(actual, np.array([1, 2, 2, 2]))["f1"] == pytest.approx(
        0.7333333
    )  # sklearn's f1_score(average="macro") of the same labels
    for missing in (np.array([1.0, np.nan, np.nan, 2.0]), np.array([1, None, 2, 2], object)):
        with pytest.raises(InvalidInput, match="missing labels"):
            classification_metrics(actual, missing)
