"""``shoal serve``: a real uvicorn server on a free loopback port, over a real store.

The fleet: 20 stores, each a linear model ``units = intercept + price_coef * price`` at
version 1 (aliased production) and version 2 (aliased candidate), so every answer can be
checked against arithmetic, and a moved alias shows in the version that answers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pandas as pd
import pyarrow.dataset as ds
import pytest
from typer.testing import CliRunner

import shoal
from shoal.cli import app as cli_app
from shoal.flavors.linear import LinearModel
from shoal.http.auth import Auth
from shoal.serve import ModelCache, create_app
from shoal.testing import ThreadServer

STORES = [f"s{i:02d}" for i in range(20)]
URL = "/api/v1/fleets/grocer/demand/predict"


def coefficients(store: str, version: int) -> tuple[float, float]:
    i = int(store[1:])
    return 10.0 + i + (100 if version == 2 else 0), -0.5 - 0.01 * i


def expected(store: str, price: float, version: int = 1) -> float:
    intercept, slope = coefficients(store, version)
    return intercept + slope * price


@pytest.fixture
def client(tmp_path) -> Iterator[shoal.Client]:
    client = shoal.connect(f"sqlite:///{tmp_path / 'shoal.db'}", str(tmp_path / "artifacts"))
    fleet = client.fleet("grocer/demand", keys=["store"])
    for version in (1, 2):
        fleet.register(
            {"key": {"store": s},
             "model": LinearModel(*[coefficients(s, version)[0]],
                                  {"price": coefficients(s, version)[1]})}
            for s in STORES
        )  # fmt: skip
    fleet.set_alias("production", {(s,): 1 for s in STORES}, create=True)
    fleet.set_alias("candidate", {(s,): 2 for s in STORES}, create=True)
    yield client
    client.close()


class Server:
    """``shoal.testing.ThreadServer`` (uvicorn in a thread, on 127.0.0.1 and a free port)
    with an HTTP client; stopped at the end of the test."""

    def __init__(self, app: Any) -> None:
        self.server = ThreadServer(app)

    def __enter__(self) -> httpx.Client:
        self.server.start()
        self.http = httpx.Client(base_url=self.server.url, timeout=10)
        return self.http

    def __exit__(self, *exc: object) -> None:
        self.http.close()
        self.server.stop()


def test_a_thread_server_refuses_a_taken_port_and_stops_with_the_app_shutdown(client) -> None:
    app = create_app(client, auth=Auth.off(), refresh_seconds=60)
    with ThreadServer(app) as first:
        assert httpx.get(first.url + "/healthz").status_code == 200
        with pytest.raises(shoal.ShoalError, match=f"port {first.port} .* is taken"):
            ThreadServer(app, port=first.port)
    assert not first.running


@pytest.fixture
def http(client: shoal.Client, tmp_path) -> Iterator[httpx.Client]:
    app = create_app(
        client, auth=Auth.off(), refresh_seconds=0.2, max_rows=500, logs_url=str(tmp_path / "logs")
    )
    with Server(app) as http:
        yield http


def logged(root, kind: str) -> pd.DataFrame:
    """Every row of one log, read back as Parquet (hive partitions become columns)."""
    files = sorted((root / kind).rglob("*.parquet"))
    if not files:
        return pd.DataFrame()
    return ds.dataset(root / kind, format="parquet", partitioning="hive").to_table().to_pandas()


def test_rows_spanning_many_keys_are_answered_in_order_naming_their_version(http) -> None:
    rows = [{"store": STORES[i % 7 * 2], "price": 1.0 + i} for i in range(30)]
    reply = http.post(URL, json={"rows": rows})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert len(body["request_id"]) == 32
    answers = body["predictions"]
    assert [a["key"] for a in answers] == [{"store": r["store"]} for r in rows]
    for row, answer in zip(rows, answers, strict=True):
        assert answer["version"] == 1
        assert answer["prediction"] == pytest.approx(expected(row["store"], row["price"]))
    again = http.post(URL, json={"rows": rows[:3], "alias": "candidate"},
                      headers={"X-Request-ID": "req-1"}).json()  # fmt: skip
    assert again["request_id"] == "req-1"
    assert [a["version"] for a in again["predictions"]] == [2, 2, 2]
    pinned = http.post(URL, json={"rows": rows[:2], "version": 2}).json()["predictions"]
    assert pinned[0]["prediction"] == pytest.approx(expected(rows[0]["store"], 1.0, version=2))


def test_one_request_mixing_versions_with_different_features(client, http) -> None:
    fleet = client.fleet("grocer/demand")
    fleet.register([{"key": {"store": "s00"},
                     "model": LinearModel(1.0, {"price": 2.0, "promo": 10.0})}])  # fmt: skip
    fleet.set_alias("mixed", {("s00",): 3, ("s01",): 1, ("s02",): 1}, create=True)
    rows = [
        {"store": "s01", "price": 1.0},
        {"store": "s00", "price": 1.0, "promo": 1},
        {"store": "s02", "price": 3.0},
        {"store": "s00", "price": 2.0, "promo": 0},
        {"store": "s01", "price": 5.0},
    ]
    reply = http.post(URL, json={"rows": rows, "alias": "mixed"})
    assert reply.status_code == 200, reply.text
    got = [(a["version"], a["prediction"]) for a in reply.json()["predictions"]]
    assert got == [
        (1, pytest.approx(expected("s01", 1.0))), (3, pytest.approx(13.0)),
        (1, pytest.approx(expected("s02", 3.0))), (3, pytest.approx(5.0)),
        (1, pytest.approx(expected("s01", 5.0))),
    ]  # fmt: skip
    wrong = http.post(URL, json={"rows": [{"store": "s00", "price": 1.0}], "alias": "mixed"})
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "rows[0].promo"


def test_the_single_model_form(http) -> None:
    reply = http.post(
        "/api/v1/fleets/grocer/demand/models/predict",
        json={"key": {"store": "s03"}, "rows": [{"price": 2.0}, {"price": 4.0}]},
    )
    assert reply.status_code == 200, reply.text
    values = [a["prediction"] for a in reply.json()["predictions"]]
    assert values == pytest.approx([expected("s03", 2.0), expected("s03", 4.0)])


def test_a_moved_alias_is_served_within_two_seconds(client, http) -> None:
    rows = [{"store": "s05", "price": 1.0}]
    assert http.post(URL, json={"rows": rows}).json()["predictions"][0]["version"] == 1
    client.fleet("grocer/demand").set_alias("production", {("s05",): 2}, create=True)
    moved_at = time.monotonic()
    while http.post(URL, json={"rows": rows}).json()["predictions"][0]["version"] != 2:
        assert time.monotonic() - moved_at < 2.0, "the alias move was not served in 2 s"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"rows": [{"store": "s01"}]}, 422, "rows[0].price"),
        ({"rows": [{"store": "s01", "price": 1.0, "promo": 1}]}, 422, "rows[0].promo"),
        ({"rows": [{"store": "s01", "price": 1.0}, {"store": "s02", "price": "cheap"}]}, 422,
         "rows[1].price"),
        ({"rows": [{"price": 1.0}]}, 422, "rows[0].store"),
        ({"rows": [{"store": "s99", "price": 1.0}]}, 404, "rows"),
        ({"rows": [{"store": "s01", "price": 1.0}], "alias": "staging"}, 404, "rows"),
        ({"rows": [{"store": "s01", "price": 1.0}], "version": 7}, 404, "rows"),
        ({"rows": [{"store": "s01", "price": 1.0}], "version": 1, "alias": "x"}, 422, "version"),
        ({"rows": []}, 422, "rows"),
        ({"rows": [{"store": "s01", "price": 1.0}], "colour": "red"}, 422, "colour"),
        ({"rows": [{"store": "s01", "price": 1.0}] * 501}, 413, "rows"),
    ],
)  # fmt: skip
def test_bad_requests_get_a_4xx_naming_the_field(http, body, status, field) -> None:
    reply = http.post(URL, json=body)
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["field"] == field and error["message"]


def test_unknown_fleets_bodies_too_large_and_broken_json(http) -> None:
    reply = http.post("/api/v1/fleets/grocer/nope/predict", json={"rows": [{"store": "s1"}]})
    assert reply.status_code == 404 and "nope" in reply.json()["error"]["message"]
    big = b'{"rows": [' + b",".join([b'{"store": "s01", "price": 1.0}'] * 400_000) + b"]}"
    reply = http.post(URL, content=big, headers={"content-type": "application/json"})
    assert reply.status_code == 413 and reply.json()["error"]["field"] == "body"
    reply = http.post(URL, content=b'{"rows": [', headers={"content-type": "application/json"})
    assert reply.status_code == 422


def test_health_readiness_and_metrics(http) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    for _ in range(3):
        http.post(URL, json={"rows": [{"store": "s01", "price": 1.0}]})
    assert http.get("/readyz").json()["models_cached"] == 1
    text = http.get("/metrics").text
    assert "shoal_model_cache_hits_total 2.0" in text
    assert "shoal_model_cache_misses_total 1.0" in text
    assert 'shoal_requests_total{route="/api/v1/fleets/{tenant}/{fleet}/predict",status="200"}' \
        in text  # fmt: skip
    assert "shoal_model_load_seconds_count 1.0" in text


# ---------------------------------------------------------------- the cache on its own


def test_cache_evicts_least_recently_used_by_count_and_by_bytes() -> None:
    loads: list[int] = []

    def load(row: dict[str, Any]) -> bytes:
        loads.append(row["version_id"])
        return bytes(row["artifact_size"])

    cache = ModelCache(load, max_models=3, max_bytes=10**9)
    for vid in (1, 2, 3, 1, 4):  # 1 was used after 2: 2 goes when 4 arrives
        cache.get({"version_id": vid, "artifact_size": 10})
    assert sorted(cache._entries) == [1, 3, 4] and cache.stats.evictions == 1
    small = ModelCache(load, max_models=100, max_bytes=3 * (100_100 + 4096))  # ~3 models
    for vid in range(10, 15):
        small.get({"version_id": vid, "artifact_size": 100_000})
    assert len(small) == 3 and small.bytes <= small.max_bytes


def test_concurrent_requests_for_a_cold_model_load_it_once() -> None:
    calls: list[int] = []

    def slow(row: dict[str, Any]) -> str:
        calls.append(row["version_id"])
        time.sleep(0.3)
        return f"model {row['version_id']}"

    cache = ModelCache(slow)
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: cache.get({"version_id": 7}), range(8)))
    assert got == ["model 7"] * 8 and calls == [7]


def test_serve_refuses_no_auth_beyond_loopback() -> None:
    result = CliRunner().invoke(cli_app, ["serve", "--host", "0.0.0.0", "--no-auth"])
    assert result.exit_code == 2 and "loopback" in result.stderr


# ---------------------------------------------------------------- logs and feedback


def test_every_prediction_is_logged_on_time_and_at_shutdown(client, tmp_path) -> None:
    logs = tmp_path / "logs"
    app = create_app(client, auth=Auth.off(), logs_url=str(logs), log_flush_seconds=0.3)
    with Server(app) as http:
        rows = [{"store": "s01", "price": 1.5}, {"store": "s02", "price": 2.5}]
        reply = http.post(URL, json={"rows": rows}, headers={"X-Request-ID": "r-1"})
        deadline = time.monotonic() + 3
        while logged(logs, "predictions").empty:  # flushed by time, the server still up
            assert time.monotonic() < deadline, "no log file within 3 s"
            time.sleep(0.05)
    table = logged(logs, "predictions").sort_values("row")
    assert list(table["request_id"]) == ["r-1", "r-1"] and list(table["row"]) == [0, 1]
    assert list(table["key.store"]) == ["s01", "s02"]
    assert list(table["feature.price"]) == [1.5, 2.5]
    assert list(table["prediction"]) == [p["prediction"] for p in reply.json()["predictions"]]
    assert set(table["tenant"]) == {"grocer"} and set(table["fleet"]) == {"demand"}
    assert list(table["version"]) == [1, 1]

    later = create_app(client, auth=Auth.off(), logs_url=str(logs), log_flush_seconds=3600)
    with Server(later) as http:  # nothing due by size or time: the shutdown writes it
        http.post(URL, json={"rows": rows[:1]}, headers={"X-Request-ID": "r-2"})
        assert len(logged(logs, "predictions")) == 2
    assert sorted(set(logged(logs, "predictions")["request_id"])) == ["r-1", "r-2"]
    assert not list(logs.rglob(".*.tmp"))  # written under a temporary name, then renamed


def test_feedback_by_request_id_or_by_key_and_time(client, tmp_path) -> None:
    logs = tmp_path / "logs"
    with Server(create_app(client, auth=Auth.off(), logs_url=str(logs))) as http:
        url = "/api/v1/fleets/grocer/demand/feedback"
        reply = http.post(url, json={"items": [
            {"request_id": "r-1", "row": 1, "actual": 9.5},
            {"key": {"store": "s03"}, "time": "2026-11-20T10:00:00Z", "actual": 7},
        ]})  # fmt: skip
        assert reply.status_code == 200 and reply.json() == {"accepted": 2}
        for body, field in (
            ({"items": [{"actual": 1.0}]}, "items[0]"),
            ({"items": [{"key": {"shop": "s1"}, "time": "2026-11-20T10:00:00Z", "actual": 1}]},
             "items[0].key"),
            ({"items": [{"request_id": "r-1"}]}, "items.0.actual"),
            ({"items": []}, "items"),
        ):  # fmt: skip
            bad = http.post(url, json=body)
            assert bad.status_code == 422 and bad.json()["error"]["field"] == field, bad.text
        assert (
            http.post(
                "/api/v1/fleets/grocer/nope/feedback",
                json={"items": [{"request_id": "x", "actual": 1}]},
            ).status_code
            == 404
        )
    table = logged(logs, "feedback")
    by_id = table[table["request_id"] == "r-1"].iloc[0]
    assert (by_id["row"], by_id["actual"]) == (1, 9.5)
    by_key = table[table["key.store"] == "s03"].iloc[0]
    assert by_key["actual"] == 7 and str(by_key["for_time"]).startswith("2026-11-20 10:00:00")


def test_a_request_in_flight_finishes_on_the_version_it_started_with(client) -> None:
    """The alias moves while a request is predicting: it answers from its own versions."""
    from shoal.serve.predictor import LocalModels, Predictor

    started, release = threading.Event(), threading.Event()

    class Paused(LocalModels):
        def predict(self, fleet, parts):  # type: ignore[no-untyped-def]
            started.set()
            release.wait(5)
            return super().predict(fleet, parts)

    fleet = client.fleet("grocer/demand")
    models = Paused(ModelCache(lambda row: client.registry.versions.load(row["fleet"], row)))
    predictor = Predictor(client.registry, lambda t, n: client.fleet(f"{t}/{n}").ref, models,
                          refresh_seconds=0.0)  # fmt: skip
    rows = [{"store": "s04", "price": 2.0}]
    result: list[Any] = []
    worker = threading.Thread(
        target=lambda: result.extend(predictor.predict("grocer", "demand", rows))
    )
    worker.start()
    assert started.wait(5)
    fleet.set_alias(
        "production", {("s04",): 2}, create=True
    )  # moves while the request is predicting
    release.set()
    worker.join(5)
    assert result[0].version == 1
    assert result[0].prediction == pytest.approx(expected("s04", 2.0, version=1))
    assert predictor.predict("grocer", "demand", rows)[0].version == 2  # the next one moves


def test_rows_a_model_cannot_predict_are_a_422_not_a_500(client, http) -> None:
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame({"price": [1.0, 2.0, 3.0], "units": [3.0, 2.0, 1.0]})
    skl = client.fleet("grocer/skl", keys=["store"])
    skl.register([{"key": {"store": "s1"},
                   "model": LinearRegression().fit(frame[["price"]], frame["units"])}])  # fmt: skip
    skl.set_alias("production", {("s1",): 1}, create=True)
    url = "/api/v1/fleets/grocer/skl/predict"
    good = http.post(url, json={"rows": [{"store": "s1", "price": 2.0}]})
    assert good.status_code == 200 and good.json()["predictions"][0]["prediction"] == 2.0
    reply = http.post(url, json={"rows": [{"store": "s1", "price": None}]})
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["field"] == "rows" and "NaN" in reply.json()["error"]["message"]
