"""Fleet monitoring through the SDK: drift found where injected, quality as pandas computes
it, false alarms on a stable fleet, alert rules with a real webhook receiver."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests import monitor_world as world

import shoal
from shoal.errors import Conflict, InvalidInput, NotFound
from shoal.monitor import parse as parse_rule

DAY = world.DAY
NEXT = DAY + dt.timedelta(days=1)
DRIFT = frozenset({"s01/k02", "s03/k05", "s04/k07"})


def _span(day: dt.datetime = DAY) -> dict[str, Any]:
    return {"since": day, "until": day + dt.timedelta(days=1)}


@pytest.fixture
def fleet(client: shoal.Client) -> shoal.Fleet:
    return client.fleet("grocer/demand", keys=["store", "sku"])


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local HTTP server that records the JSON bodies POSTed to it (loopback, so the
    operator's allowlist names it: webhooks may not reach internal addresses otherwise)."""
    monkeypatch.setenv("SHOAL_WEBHOOK_ALLOW", "127.0.0.1")
    bodies: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["content-length"])
            bodies.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", bodies
    finally:
        server.shutdown()
        server.server_close()


def _flagged_keys(fleet: shoal.Fleet) -> set[str]:
    rows = fleet.monitoring.results(by="drifted_features")
    return {f"{r['key']['store']}/{r['key']['sku']}" for r in rows if r["drifted_features"] > 0}


def test_drift_injected_into_known_keys_is_found(fleet: shoal.Fleet, tmp_path: Path) -> None:
    keys = world.keys(6, 10)
    versions = world.register(fleet, keys)
    world.write_logs(tmp_path / "logs", versions, keys, drift=DRIFT)
    outcome = fleet.monitor("1d", logs=str(tmp_path / "logs"), **_span())
    assert outcome.versions == 60 and outcome.predictions == 6000
    assert outcome.labelled == 6000, "every actual joins, by request id or by key and time"
    assert outcome.windows == [DAY.timestamp()]
    assert _flagged_keys(fleet) == set(DRIFT)
    worst = fleet.monitoring.worst("max_psi", n=3)
    assert {f"{r['key']['store']}/{r['key']['sku']}" for r in worst} == set(DRIFT)
    assert all(r["max_psi_feature"] == "x1" and r["max_psi"] > 1 for r in worst)
    features = fleet.monitoring.features({"store": "s01", "sku": "k02"})
    assert features[0]["feature"] == "x1" and features[0]["drifted"]
    assert features[0]["q_value"] < 0.05 and features[0]["test"] == "ks"
    assert {f["feature"] for f in features} == {"x1", "x2", "promo", "prediction"}
    assert next(f for f in features if f["feature"] == "promo")["test"] == "chi2"
    rollup = {g["store"]: g for g in fleet.monitoring.rollup("store")}
    assert rollup["s01"]["drifting"] == 1 and rollup["s00"]["drifting"] == 0
    assert rollup["s01"]["share_drifting"] == pytest.approx(0.1)
    assert rollup["s00"]["models"] == 10 and rollup["s00"]["predictions"] == 1000


def test_quality_matches_a_direct_pandas_computation(fleet: shoal.Fleet, tmp_path: Path) -> None:
    keys = world.keys(3, 5)
    versions = world.register(fleet, keys)
    logged = world.write_logs(tmp_path / "logs", versions, keys, bias=frozenset({"s02/k01"}))
    fleet.monitor("1d", logs=str(tmp_path / "logs"), **_span())
    rows = {f"{r['key']['store']}/{r['key']['sku']}": r for r in fleet.monitoring.results()}
    for text in ("s00/k00", "s02/k01", "s01/k04"):
        store, sku = text.split("/")
        part = logged[(logged["key.store"] == store) & (logged["key.sku"] == sku)]
        error = part.prediction - part.actual
        row = rows[text]
        assert row["mae"] == pytest.approx(error.abs().mean(), rel=1e-9)
        assert row["rmse"] == pytest.approx(np.sqrt((error**2).mean()), rel=1e-9)
        assert row["mape"] == pytest.approx((error.abs() / part.actual.abs()).mean(), rel=1e-9)
        smape = (2 * error.abs() / (part.actual.abs() + part.prediction.abs())).mean()
        assert row["smape"] == pytest.approx(smape, rel=1e-9)
        assert row["predictions"] == len(part) == row["labelled"]
    assert rows["s02/k01"]["mape"] > 2 * rows["s00/k00"]["mape"]


def test_actuals_logged_as_text_leave_out_what_is_not_a_number(
    fleet: shoal.Fleet, tmp_path: Path
) -> None:
    """The server logs a feedback column of mixed kinds as text: '7.5' still counts, and
    'n/a' is left out of a regression's figures instead of failing the pass."""
    keys = world.keys(1, 2)
    logged = world.write_logs(tmp_path / "logs", world.register(fleet, keys), keys,
                              by_key_share=0.0)  # fmt: skip
    folder = next((tmp_path / "logs" / "feedback").rglob("day=*"))
    for path in folder.glob("*.parquet"):
        path.unlink()
    text = logged[["request_id", "row"]].assign(
        at=world.DAY + dt.timedelta(days=1), actual=[str(a) for a in logged.actual]
    )
    text.loc[text.index[:10], "actual"] = "n/a"
    world._write(folder, text)
    fleet.monitor("1d", logs=str(tmp_path / "logs"), **_span())
    rows = fleet.monitoring.results()
    assert sum(r["labelled"] for r in rows) == len(logged) - 10
    assert all(r["mape"] is not None and np.isfinite(r["mape"]) for r in rows)


def test_a_stable_fleet_raises_few_false_alarms(fleet: shoal.Fleet, tmp_path: Path) -> None:
    """Nothing drifted: 3 windows of 200 models x 3 features. Without control, a 5 % level
    would flag about 90 tests; Benjamini-Hochberg keeps the expected count of any false
    flag under 5 % per window."""
    keys = world.keys(10, 20)
    versions = world.register(fleet, keys, seed=3)
    for i in range(3):
        world.write_logs(tmp_path / "logs", versions, keys, day=DAY + dt.timedelta(days=i),
                         seed=10 + i, rows=60)  # fmt: skip
    outcome = fleet.monitor("1d", logs=str(tmp_path / "logs"), since=DAY,
                            until=DAY + dt.timedelta(days=3))  # fmt: skip
    assert outcome.tests == 3 * 200 * 3
    raw = 0
    for window in fleet.monitoring.windows():
        rows = fleet.monitoring.results(at=window["start"])
        assert len(rows) == 200
        for row in rows:
            raw += sum(
                1 for f in fleet.monitoring.features(row["key"], at=window["start"])
                if f["feature"] != "prediction" and f["p_value"] is not None
                and f["p_value"] < 0.05
            )  # fmt: skip
    assert outcome.flagged <= 2, f"{outcome.flagged} false flags in {outcome.tests} tests"
    assert raw > 5 * max(outcome.flagged, 1), "uncorrected tests would have flagged many"


def test_alert_rules_open_deduplicate_and_resolve_with_a_webhook(
    fleet: shoal.Fleet, tmp_path: Path, receiver: tuple[str, list[dict[str, Any]]],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    url, bodies = receiver
    keys = world.keys(4, 5)
    versions = world.register(fleet, keys)
    logs = str(tmp_path / "logs")
    fleet.alerts.add_rule("drift", "psi > 0.2 on any feature", webhook=url)
    fleet.alerts.add_rule("worse", "mape > 1.3 * training.mape for 2 windows")
    world.write_logs(tmp_path / "logs", versions, keys, drift=frozenset({"s01/k02"}),
                     bias=frozenset({"s02/k03"}))  # fmt: skip
    with caplog.at_level("WARNING", logger="shoal.alerts"):
        first = fleet.monitor("1d", logs=logs, **_span())
    assert first.alerts_opened == 1  # the drift of x1; "worse" needs 2 windows
    opened = fleet.alerts.list()
    assert [(a["rule"], a["key"]["store"], a["feature"]) for a in opened] == [
        ("drift", "s01", "x1")]  # fmt: skip
    assert len(bodies) == 1 and len(bodies[0]["opened"]) == 1
    assert bodies[0]["rule"] == "drift" and bodies[0]["fleet"] == "grocer/demand"
    assert sum("alert" in r.message and "opened" in r.message for r in caplog.records) == 1

    again = fleet.monitor("1d", logs=logs, **_span())  # the same window: nothing new
    assert again.alerts_opened == 0 and len(fleet.alerts.list()) == 1 and len(bodies) == 1

    world.write_logs(tmp_path / "logs", versions, keys, day=NEXT, seed=2,
                     bias=frozenset({"s02/k03"}))  # fmt: skip
    acked = fleet.alerts.acknowledge(opened[0]["id"])
    assert acked["state"] == "acknowledged"
    second = fleet.monitor("1d", logs=logs, **_span(NEXT))
    # The drift of s01/k02 is gone: resolved; the bias stays, and has now lasted 2 windows.
    states = {(a["rule"], a["key"]["store"]): a["state"] for a in fleet.alerts.list(
        ("open", "acknowledged", "resolved"))}  # fmt: skip
    assert states[("drift", "s01")] == "resolved"
    assert ("drift", "s02") not in states, "biased predictions are a quality alert, not drift"
    assert states[("worse", "s02")] == "open"
    assert second.alerts_opened == 1 and second.alerts_resolved == 1
    assert bodies[-1]["resolved"] and not bodies[-1]["opened"]
    assert fleet.alerts.keys() == [{"store": "s02", "sku": "k03"}]
    with pytest.raises(Conflict):
        fleet.alerts.resolve(next(a["id"] for a in fleet.alerts.list("resolved")))
    trend = fleet.monitoring.trend({"store": "s02", "sku": "k03"})
    assert [t["window"] for t in trend] == ["2026-11-20T00:00Z", "2026-11-21T00:00Z"]

    # Every fleet's rules and newest alerts at once (the /alerts page), as fleet by fleet.
    client = fleet._client
    other = client.fleet("grocer/other", keys=["store"])
    other.alerts.add_rule("quiet", "psi > 0.5 on any feature")
    client.fleet("acme/empty", keys=["store"])  # no rules, no alerts: not listed
    every = ("open", "acknowledged", "resolved")
    groups = client.alert_overview(every)
    assert [g["path"] for g in groups] == ["grocer/demand", "grocer/other"]
    assert groups[0]["alerts"] == fleet.alerts.list(every)
    assert groups[0]["rules"] == fleet.alerts.rules() and groups[0]["keys"] == ["store", "sku"]
    assert groups[1]["alerts"] == [] and [r["name"] for r in groups[1]["rules"]] == ["quiet"]
    newest = client.alert_overview(every, limit=1)[0]["alerts"]
    assert newest == fleet.alerts.list(every, limit=1)
    assert [g["path"] for g in client.alert_overview("open")] == ["grocer/demand", "grocer/other"]
    scoped = shoal.Client(client.store_url, client.artifacts_url, tenant="acme")
    try:
        assert scoped.alert_overview(every) == []
    finally:
        scoped.close()
    with pytest.raises(InvalidInput, match="alert state"):
        client.alert_overview("closed")


def test_rules_and_windows_refuse_bad_input(fleet: shoal.Fleet, tmp_path: Path) -> None:
    for bad, field in [("mape >> 3", "rule"), ("psi > 0.2", "rule"),
                       ("mape > 2 * 3", "rule"), ("mae on any feature > 1", "rule")]:  # fmt: skip
        with pytest.raises(InvalidInput) as info:
            fleet.alerts.add_rule("r", bad)
        assert info.value.field == field
    for bad in (
        "mape > 1 and psi > 2",
        "mape > 1 for 2.5 windows",
        "mape > 'x'",
        "mape = 1",
        "mape > 1 on a feature",
        "mape > 1.3 * mape",
        "mape > 1 #",
    ):
        with pytest.raises(InvalidInput, match="alert rule") as info:
            fleet.alerts.add_rule("r", bad)
        assert info.value.field == "rule"
    with pytest.raises(InvalidInput, match=r"position 5: '=' does not compare") as info:
        parse_rule("mape = 1")  # the position is the operator's, not the token after it
    assert "rule: " not in str(info.value)
    with pytest.raises(InvalidInput, match=r"unexpected '#' at position 9") as info:
        parse_rule("mape > 1 #")
    assert "rule: " not in str(info.value)
    # One tokenizer with the filters: any case, any spacing around operators and '*'.
    parsed = parse_rule("MAPE>1.3*training.mape for 2 Windows")
    assert (parsed.figure, parsed.factor, parsed.metric, parsed.windows) == ("mape", 1.3, "mape", 2)
    feature = parse_rule("PSI >= .2 ON ANY FEATURE")
    assert (feature.figure, feature.op, feature.number, feature.on_feature) == (
        "psi",
        ">=",
        0.2,
        True,
    )
    fleet.alerts.add_rule("r", "drifted_features >= 1")
    with pytest.raises(Conflict):
        fleet.alerts.add_rule("r", "mae > 1")
    with pytest.raises(InvalidInput) as info:
        fleet.monitor("1 fortnight", logs=str(tmp_path))
    assert info.value.field == "window"
    with pytest.raises(NotFound):
        fleet.monitoring.worst()
    empty = fleet.monitor("1d", logs=str(tmp_path / "nothing"), **_span())
    assert empty.versions == 0 and empty.predictions == 0


def test_a_second_pass_over_a_window_replaces_it(fleet: shoal.Fleet, tmp_path: Path) -> None:
    keys = world.keys(2, 3)
    versions = world.register(fleet, keys)
    world.write_logs(tmp_path / "logs", versions, keys, by_key_share=0.0, rows=50)
    fleet.monitor("1d", logs=str(tmp_path / "logs"), **_span())
    world.write_logs(tmp_path / "logs", versions, keys, seed=5, rows=50)
    fleet.monitor("1d", logs=str(tmp_path / "logs"), **_span())
    rows = fleet.monitoring.results()
    assert len(rows) == 6 and {r["predictions"] for r in rows} == {100}
    assert len(fleet.monitoring.windows()) == 1


def test_logs_on_s3_are_read_through_fsspec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Logs under an ``s3://`` URL (a local S3 server): DuckDB reads them via s3fs."""
    fsspec = pytest.importorskip("fsspec")
    pytest.importorskip("s3fs")
    from shoal.testing import LocalS3Server

    client = shoal.connect(f"sqlite:///{tmp_path / 'shoal.db'}", str(tmp_path / "artifacts"))
    fleet = client.fleet("grocer/demand", keys=["store", "sku"])
    keys = world.keys(2, 3)
    versions = world.register(fleet, keys)
    world.write_logs(tmp_path / "logs", versions, keys, drift=frozenset({"s01/k02"}))
    with LocalS3Server() as s3:
        monkeypatch.setitem(fsspec.config.conf, "s3", s3.storage_options)
        fsspec.filesystem("s3").put(str(tmp_path / "logs"), f"{s3.bucket}/logs", recursive=True)
        outcome = fleet.monitor("1d", logs=s3.url("logs"), **_span())
    assert (outcome.versions, outcome.predictions, outcome.labelled) == (6, 600, 600)
    assert _flagged_keys(fleet) == {"s01/k02"}
    client.close()


def test_a_pass_in_parts_equals_a_pass_in_one(fleet: shoal.Fleet, tmp_path: Path) -> None:
    """Parts split the models by key: the same figures, in bounded memory."""
    keys = world.keys(4, 5)
    versions = world.register(fleet, keys)
    world.write_logs(tmp_path / "logs", versions, keys, drift=DRIFT, rows=60)

    def figures() -> list[dict[str, Any]]:
        rows = fleet.monitoring.results()
        return sorted(({k: v for k, v in r.items() if k != "run_id"} for r in rows),
                      key=lambda r: r["version_id"])  # fmt: skip

    whole = fleet.monitor("1d", logs=str(tmp_path / "logs"), **_span())
    one = figures()
    lines: list[str] = []
    split = fleet.monitor("1d", logs=str(tmp_path / "logs"), rows_per_part=1000,
                          progress=lines.append, **_span())  # fmt: skip
    assert "part 2 of 2" in lines
    assert figures() == one and len(one) == 20
    assert (split.predictions, split.labelled, split.tests, split.flagged) == (
        whole.predictions, whole.labelled, whole.tests, whole.flagged)  # fmt: skip


def test_classification_quality_matches_scikit_learn(fleet: shoal.Fleet, tmp_path: Path) -> None:
    """String labels: accuracy, macro F1, and log loss from ``proba.<class>`` columns."""
    from sklearn.metrics import accuracy_score, f1_score, log_loss

    keys = world.keys(2, 2)
    versions = world.register(fleet, keys)
    logged = world.write_logs(tmp_path / "raw", versions, keys, rows=80, by_key_share=0.0)
    rng = np.random.default_rng(9)
    classes = np.array(["high", "low", "mid"])
    logged["actual"] = classes[rng.integers(0, 3, len(logged))]
    proba = rng.dirichlet([1, 1, 1], len(logged))
    logged["prediction"] = classes[proba.argmax(axis=1)]
    for i, name in enumerate(classes):
        logged[f"proba.{name}"] = proba[:, i]
    part = "tenant=grocer/fleet=demand"
    world._write(tmp_path / "logs" / "predictions" / part / "day=2026-11-20",
                 logged.drop(columns=["actual"]))  # fmt: skip
    world._write(tmp_path / "logs" / "feedback" / part / "day=2026-11-21",
                 logged[["at", "actual", "request_id", "row"]])  # fmt: skip
    outcome = fleet.monitor("1d", logs=str(tmp_path / "logs"), **_span())
    assert outcome.labelled == len(logged)
    for row in fleet.monitoring.results():
        mine = logged[(logged["key.store"] == row["key"]["store"])
                      & (logged["key.sku"] == row["key"]["sku"])]  # fmt: skip
        assert row["accuracy"] == pytest.approx(accuracy_score(mine.actual, mine.prediction))
        assert row["f1"] == pytest.approx(f1_score(mine.actual, mine.prediction, average="macro"))
        loss = log_loss(mine.actual, mine[[f"proba.{c}" for c in classes]], labels=classes)
        assert row["log_loss"] == pytest.approx(loss)
        assert row["mae"] is None and row["prediction_psi"] is None


def test_foreign_versions_and_missing_feedback_are_survived(
    fleet: shoal.Fleet, tmp_path: Path
) -> None:
    """Rows naming a version of no model of this fleet are counted and left out; with no
    feedback yet, quality is empty and drift is still measured."""
    keys = world.keys(2, 2)
    versions = world.register(fleet, keys)
    versions_with_a_stranger = {**versions, "s01/k01": 987_654}
    world.write_logs(tmp_path / "logs", versions_with_a_stranger, keys, rows=40,
                     drift=frozenset({"s00/k01"}))  # fmt: skip
    for folder in (tmp_path / "logs" / "feedback").rglob("*.parquet"):
        folder.unlink()
    outcome = fleet.monitor("1d", logs=str(tmp_path / "logs"), **_span())
    assert (outcome.versions, outcome.unknown_versions, outcome.labelled) == (3, 1, 0)
    rows = fleet.monitoring.results()
    assert all(r["mae"] is None and r["labelled"] == 0 for r in rows)
    assert _flagged_keys(fleet) == {"s00/k01"}


def test_actuals_by_key_judge_the_same_predictions_whatever_the_span(
    fleet: shoal.Fleet, tmp_path: Path
) -> None:
    """An actual matched by key and time joins the newest prediction at or before its time,
    never a prediction of an earlier window because the pass did not read the later one."""
    keys = world.keys(1, 3)
    versions = world.register(fleet, keys)
    for day in range(2):
        world.write_logs(tmp_path / "logs", versions, keys, day=DAY + dt.timedelta(days=day),
                         seed=20 + day, rows=30, by_key_share=1.0)  # fmt: skip
    logs = str(tmp_path / "logs")
    fleet.monitor("1d", logs=logs, **_span())
    alone = {r["version_id"]: r["mae"] for r in fleet.monitoring.results(at=DAY)}
    fleet.monitor("1d", logs=logs, since=DAY, until=DAY + dt.timedelta(days=2))
    together = {r["version_id"]: r["mae"] for r in fleet.monitoring.results(at=DAY)}
    assert together == pytest.approx(alone) and len(alone) == 3


def test_a_window_without_actuals_does_not_resolve_a_quality_alert(
    fleet: shoal.Fleet, tmp_path: Path
) -> None:
    keys = world.keys(1, 2)
    versions = world.register(fleet, keys)
    fleet.alerts.add_rule("worse", "mape > 1.3 * training.mape")
    world.write_logs(tmp_path / "logs", versions, keys, bias=frozenset({"s00/k01"}), rows=30)
    fleet.monitor("1d", logs=str(tmp_path / "logs"), **_span())
    assert [a["key"]["sku"] for a in fleet.alerts.list()] == ["k01"]
    world.write_logs(tmp_path / "logs", versions, keys, day=NEXT, seed=3, rows=30)
    for path in (tmp_path / "logs" / "feedback").rglob("day=2026-11-22/*.parquet"):
        path.unlink()  # the next day's actuals have not arrived
    second = fleet.monitor("1d", logs=str(tmp_path / "logs"), **_span(NEXT))
    assert second.alerts_resolved == 0 and len(fleet.alerts.list()) == 1


def test_a_feature_gone_missing_and_a_non_ascii_name(fleet: shoal.Fleet, tmp_path: Path) -> None:
    """missing_rate rules read every feature (not only drift-flagged ones); a feature named
    with accents is tested like any other."""
    keys = world.keys(1, 2)
    rng = np.random.default_rng(5)
    frame = world.training_slice(rng).rename(columns={"x2": "déjà"})
    placed = fleet.register([
        {"key": k, "model": world.LinearModel(3.0, {"x1": 2.0}), "baseline": world.profile(frame)}
        for k in keys
    ])  # fmt: skip
    versions = {f"{p.key['store']}/{p.key['sku']}": p.id for p in placed}
    logged = world.write_logs(tmp_path / "raw", versions, keys, rows=40, by_key_share=0.0)
    logged = logged.rename(columns={"feature.x2": "feature.déjà"})
    logged.loc[logged["key.sku"] == "k01", "feature.x1"] = np.nan
    part = "tenant=grocer/fleet=demand"
    world._write(tmp_path / "logs" / "predictions" / part / "day=2026-11-20",
                 logged.drop(columns=["actual"]))  # fmt: skip
    fleet.alerts.add_rule("gaps", "missing_rate > 0.5 on any feature")
    outcome = fleet.monitor("1d", logs=str(tmp_path / "logs"), **_span())
    assert outcome.alerts_opened == 1
    assert [(a["key"]["sku"], a["feature"]) for a in fleet.alerts.list()] == [("k01", "x1")]
    features = {f["feature"]: f for f in fleet.monitoring.features(keys[0])}
    assert features["déjà"]["test"] == "ks" and features["déjà"]["p_value"] is not None


def test_chi_square_stays_quiet_on_many_rare_values_in_small_windows() -> None:
    """No drift, a Zipf-like categorical of 25 values, 20 values a window: pooling rare
    values keeps the p-values honest (at most about 1 % below 0.01)."""
    from shoal.monitor._drift import categorical

    rng = np.random.default_rng(0)
    weights = 1 / np.arange(1, 26)
    weights /= weights.sum()
    tests = 4000
    base = rng.multinomial(300, weights, size=tests).astype(float)
    seen = rng.multinomial(20, weights, size=tests).astype(float)
    # Slots: "other" (nothing beyond the top 25 here), the 25 values, missing.
    counts = np.column_stack([np.zeros(tests), seen, np.zeros(tests)])
    baseline = np.column_stack([np.zeros(tests), base])
    result = categorical(counts, baseline, 25, np.ones(tests, dtype=bool))
    assert np.mean(result.p_value < 0.01) <= 0.015


def test_a_flag_sent_as_a_number_matches_a_boolean_baseline(
    fleet: shoal.Fleet, tmp_path: Path
) -> None:
    """Requests carry ``promo`` as 0.0/1.0 where training held a bool: no drift."""
    keys = world.keys(2, 3)
    versions = world.register(fleet, keys)
    logged = world.write_logs(tmp_path / "raw", versions, keys, rows=80, by_key_share=0.0)
    logged["feature.promo"] = logged["feature.promo"].astype(float)
    world._write(tmp_path / "logs" / "predictions" / "tenant=grocer/fleet=demand/day=2026-11-20",
                 logged.drop(columns=["actual"]))  # fmt: skip
    fleet.monitor("1d", logs=str(tmp_path / "logs"), **_span())
    promo = [f for key in keys for f in fleet.monitoring.features(key) if f["feature"] == "promo"]
    assert len(promo) == 6 and not any(f["drifted"] for f in promo)
    assert min(f["p_value"] for f in promo) > 0.001
