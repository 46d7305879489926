"""The prediction and feedback logs never drop a row the server acknowledged.

A write that fails keeps its rows for the next flush (and writes each (tenant, fleet, day)
group once); a value the logs cannot hold is its request's 422, never the buffer's
problem; past the waiting-rows cap new requests get a 503 instead of an acknowledgement.
Failures are real: a *file* where a fleet's log folder must go makes its writes fail (no
chmod: the tests may run as root), and removing it lets them succeed.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pandas as pd
import pyarrow.parquet as pq
import pytest

import shoal
from shoal.flavors.linear import LinearModel
from shoal.http.auth import Auth
from shoal.monitor import _logs, _query
from shoal.serve import create_app
from shoal.serve.logbook import ParquetLog, now
from test_serve import STORES, URL, Server, coefficients

BAKER = "/api/v1/fleets/baker/bread/predict"
FEEDBACK = "/api/v1/fleets/grocer/demand/feedback"
BAKER_FEEDBACK = "/api/v1/fleets/baker/bread/feedback"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[shoal.Client]:
    """Two tenants: grocer/demand (20 stores) and baker/bread (2 stores), version 1 each."""
    client = shoal.connect(f"sqlite:///{tmp_path / 'shoal.db'}", str(tmp_path / "artifacts"))
    for path, stores in (("grocer/demand", STORES), ("baker/bread", STORES[:2])):
        fleet = client.fleet(path, keys=["store"])
        fleet.register(
            {"key": {"store": s},
             "model": LinearModel(coefficients(s, 1)[0], {"price": coefficients(s, 1)[1]})}
            for s in stores
        )  # fmt: skip
        fleet.set_alias("production", {(s,): 1 for s in stores}, create=True)
    yield client
    client.close()


def block(logs: Path, kind: str, tenant: str = "grocer", fleet: str = "demand") -> Path:
    """A file where the fleet's log folder must be created: every write of it fails."""
    blocker = logs / kind / f"tenant={tenant}" / f"fleet={fleet}"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where a folder must go")
    return blocker


def on_disk(logs: Path, kind: str, tenant: str) -> pd.DataFrame:
    """Every row a tenant's log files hold, file by file in the order they were written."""
    files = sorted((logs / kind / f"tenant={tenant}").rglob("*.parquet"),
                   key=lambda p: p.name)  # fmt: skip
    frames = [pq.read_table(f).to_pandas() for f in files]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def pairs(frame: pd.DataFrame) -> list[tuple[str, int]]:
    """(request id, row) of each logged row, in the order the files hold them."""
    return list(frame[["request_id", "row"]].itertuples(index=False, name=None))


def metric(http: httpx.Client, name: str, log: str) -> float:
    text = http.get("/metrics").text
    found = re.search(rf'^{name}\{{log="{log}"\}} (\S+)$', text, re.MULTILINE)
    assert found, f"{name} for {log} is not in /metrics"
    return float(found.group(1))


def wait_until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not true within {seconds} s"
        time.sleep(0.05)


def rows(n: int, price: float = 1.0) -> list[dict[str, Any]]:
    return [{"store": STORES[i], "price": price + i} for i in range(n)]


def predict(http: httpx.Client, request_id: str, n: int, price: float = 1.0, url: str = URL) -> int:
    """Post ``n`` rows under ``request_id``; the status."""
    reply = http.post(url, json={"rows": rows(n, price)}, headers={"X-Request-ID": request_id})
    return reply.status_code


def feed(http: httpx.Client, *items: dict[str, Any], url: str = FEEDBACK) -> httpx.Response:
    return http.post(url, json={"items": list(items)})


def test_a_failed_flush_keeps_its_rows_and_writes_them_once_the_store_recovers(
    client, tmp_path, caplog
) -> None:
    logs = tmp_path / "logs"
    blocker = block(logs, "predictions")
    app = create_app(client, auth=Auth.off(), logs_url=str(logs), log_flush_seconds=0.2)
    with caplog.at_level(logging.ERROR, logger="shoal.serve.logbook"), Server(app) as http:
        assert [predict(http, f"g-{n}", 4, price=n) for n in range(3)] == [200] * 3
        assert predict(http, "b-0", 2, url=BAKER) == 200

        wait_until(lambda: metric(http, "shoal_log_flush_failures_total", "predictions") >= 1)
        baker = on_disk(logs, "predictions", "baker")  # the same flush wrote the other tenant
        assert pairs(baker) == [("b-0", 0), ("b-0", 1)]
        assert on_disk(logs, "predictions", "grocer").empty
        assert metric(http, "shoal_log_rows_waiting", "predictions") == 12
        failed = [r for r in caplog.records if r.name == "shoal.serve.logbook"]
        assert failed and failed[0].exc_info is not None and "12 rows" in failed[0].getMessage()

        # Still failing: more rows are accepted (far below the cap) and wait behind the others.
        assert predict(http, "g-3", 4, price=3) == 200

        blocker.unlink()  # the store recovers; the flush thread, still alive, writes them
        wait_until(lambda: metric(http, "shoal_log_rows_waiting", "predictions") == 0)
        grocer = on_disk(logs, "predictions", "grocer")
        in_order = [(f"g-{n}", i) for n in range(4) for i in range(4)]
        assert pairs(grocer) == in_order  # each row once
        assert list(grocer["feature.price"]) == [n + i for n in range(4) for i in range(4)]
        assert len(on_disk(logs, "predictions", "baker")) == 2  # written once, not again
        assert metric(http, "shoal_log_rows_written_total", "predictions") == 18


def test_past_the_cap_requests_get_a_503_with_retry_after_until_the_logs_are_written(
    client, tmp_path
) -> None:
    logs = tmp_path / "logs"
    blocker = block(logs, "predictions")
    app = create_app(
        client, auth=Auth.off(), logs_url=str(logs), log_flush_seconds=0.2, log_max_waiting=8
    )
    with Server(app) as http:
        assert [predict(http, f"ok-{n}", 4) for n in range(2)] == [200, 200]
        full = http.post(URL, json={"rows": rows(4)}, headers={"X-Request-ID": "refused"})
        assert full.status_code == 503, full.text
        assert int(full.headers["Retry-After"]) >= 1
        error = full.json()["error"]
        assert error["type"] == "StoreUnavailable"
        assert error["message"].startswith("logs cannot be written: 8 predictions rows")
        assert metric(http, "shoal_log_rows_refused_total", "predictions") == 4
        wait_until(lambda: metric(http, "shoal_log_flush_failures_total", "predictions") >= 1)
        again = http.post(URL, json={"rows": rows(1)}).json()["error"]["message"]
        assert "the last write failed" in again
        # The other log is not full: feedback is still taken.
        assert feed(http, {"request_id": "ok-0", "actual": 1.0}).status_code == 200

        blocker.unlink()
        wait_until(lambda: metric(http, "shoal_log_rows_waiting", "predictions") == 0)
        assert predict(http, "ok-2", 4) == 200
    ids = on_disk(logs, "predictions", "grocer")["request_id"]
    assert list(ids) == ["ok-0"] * 4 + ["ok-1"] * 4 + ["ok-2"] * 4  # nothing refused was kept


def test_a_30_digit_actual_is_a_422_and_every_other_tenants_feedback_reaches_disk(
    client, tmp_path
) -> None:
    logs = tmp_path / "logs"
    app = create_app(client, auth=Auth.off(), logs_url=str(logs), log_flush_seconds=0.2)
    with Server(app) as http:
        assert feed(http, {"request_id": "b-1", "actual": 3.5}, url=BAKER_FEEDBACK).is_success
        bad = feed(http, {"request_id": "g-1", "actual": 2.0},
                   {"request_id": "g-1", "row": 1, "actual": 10**29 + 7})  # fmt: skip
        assert bad.status_code == 422, bad.text
        error = bad.json()["error"]
        assert error["type"] == "InvalidInput" and error["field"] == "items[1].actual"
        assert "64 bits" in error["message"] and "string" in error["message"]
        assert feed(http, {"request_id": "g-2", "actual": 4}).is_success
        wait_until(lambda: not on_disk(logs, "feedback", "grocer").empty)
        # The flush thread lives on: a later item is written by it too, with the server up.
        assert feed(http, {"request_id": "g-3", "actual": 5}).is_success
        wait_until(lambda: len(on_disk(logs, "feedback", "grocer")) == 2)
        assert metric(http, "shoal_log_flush_failures_total", "feedback") == 0
    assert list(on_disk(logs, "feedback", "baker")["request_id"]) == ["b-1"]
    assert list(on_disk(logs, "feedback", "grocer")["request_id"]) == ["g-2", "g-3"]


@pytest.mark.parametrize(
    ("item", "field", "words"),
    [
        ('{"request_id": "r", "actual": NaN}', "items[0].actual", "NaN"),
        ('{"request_id": "r", "actual": -Infinity}', "items[0].actual", "-Infinity"),
        (json.dumps({"request_id": "r", "actual": "x" * 70_000}), "items[0].actual", "limit"),
        ('{"key": {"store": "s01"}, "time": "9999-12-31T23:59:59-12:00", "actual": 1}',
         "items[0].time", "out of range"),
        ('{"key": {"store": "s01"}, "time": "0001-01-01T00:00:00+01:00", "actual": 1}',
         "items[0].time", "out of range"),
        (json.dumps({"key": {"store": "s" * 70_000}, "time": "2026-01-01T00:00:00Z",
                     "actual": 1}), "items[0].key.store", "limit"),
        ('{"request_id": "r", "row": 1000000000000000000000000000000, "actual": 1}',
         "items.0.row", "less than"),
    ],
)  # fmt: skip
def test_feedback_the_logs_cannot_hold_is_a_422_naming_the_field(
    client, tmp_path, item, field, words
) -> None:
    app = create_app(client, auth=Auth.off(), logs_url=str(tmp_path / "logs"))
    with Server(app) as http:
        body = '{"items": [' + item + "]}"
        reply = http.post(FEEDBACK, content=body, headers={"content-type": "application/json"})
        assert reply.status_code == 422, reply.text
        error = reply.json()["error"]
        assert error["field"] == field and words in error["message"], error
        assert app.state.logs[1].waiting == 0


def test_non_finite_and_nested_features_are_a_422_naming_the_row(client, tmp_path) -> None:
    logs = tmp_path / "logs"
    app = create_app(client, auth=Auth.off(), logs_url=str(logs))
    good = '{"store": "s01", "price": 1.5}'
    with Server(app) as http:
        for value, words in (("NaN", "is NaN"), ("Infinity", "is Infinity"),
                             ("-Infinity", "is -Infinity"), ('{"amount": 2}', "an object"),
                             ("[1, 2]", "a list"), ("1" * 30, "64 bits")):  # fmt: skip
            bad = '{"store": "s02", "price": ' + value + "}"
            body = '{"rows": [' + ", ".join([good] * 3 + [bad, good]) + "]}"
            reply = http.post(URL, content=body, headers={"content-type": "application/json"})
            assert reply.status_code == 422, (value, reply.text)
            error = reply.json()["error"]
            assert error["field"] == "rows[3].price" and words in error["message"], error
        one = http.post(
            "/api/v1/fleets/grocer/demand/models/predict",
            content='{"key": {"store": "s01"}, "rows": [{"price": 1.0}, {"price": NaN}]}',
            headers={"content-type": "application/json"},
        )
        assert one.status_code == 422 and one.json()["error"]["field"] == "rows[1].price"
        ok = http.post(URL, json={"rows": rows(2)}, headers={"X-Request-ID": "fine"})
        assert ok.status_code == 200 and None not in [
            a["prediction"] for a in ok.json()["predictions"]
        ]
    assert set(on_disk(logs, "predictions", "grocer")["request_id"]) == {"fine"}


def test_actuals_of_mixed_types_are_written_as_text_and_monitoring_reads_them(
    client, tmp_path
) -> None:
    logs = tmp_path / "logs"
    app = create_app(client, auth=Auth.off(), logs_url=str(logs), log_flush_seconds=3600)
    feedback = app.state.logs[1]
    with Server(app) as http:
        items = [{"request_id": "r", "row": i, "actual": a}
                 for i, a in enumerate([7, "high", True, 2.5])]  # fmt: skip
        assert http.post(FEEDBACK, json={"items": items}).status_code == 200
        assert feedback.flush() == 4
        assert (
            http.post(FEEDBACK, json={"items": [{"request_id": "s", "actual": 9.5}]}).status_code
            == 200
        )
        assert feedback.flush() == 1
    assert feedback.failed_flushes == 0
    day = now().strftime("%Y-%m-%d")
    found = _logs.find(str(logs), "grocer", "demand", [day], feedback_from=day)
    con = duckdb.connect()
    assert _query.describe(con, found).feedback["actual"] == "VARCHAR"
    source = f"read_parquet({found.feedback!r}, union_by_name = true)"
    values = con.sql(f'SELECT actual FROM {source} ORDER BY request_id, "row"').fetchall()
    assert [v for (v,) in values] == ["7", "high", "true", "2.5", "9.5"]


def test_the_flush_thread_outlives_any_exception_and_any_value_is_written(
    tmp_path, monkeypatch
) -> None:
    log = ParquetLog(str(tmp_path / "logs"), "predictions", flush_seconds=0.1)
    real, calls = log._write, []

    def flaky(group: Any, part: Any) -> None:
        calls.append(group)
        if len(calls) == 1:
            raise RuntimeError("a bug, not an OSError")
        real(group, part)

    monkeypatch.setattr(log, "_write", flaky)
    at = now()
    # What the server itself puts in a row (a model's output) may be anything: it is written.
    odd = [10**30, {}, [1, "a"], {"a": [1]}, float("nan"), "text", None, True]
    log.add("t", "f", [{"at": at, "row": i, "prediction": v} for i, v in enumerate(odd)])
    wait_until(lambda: log.written == len(odd), seconds=5)
    assert log.failed_flushes == 1 and log._thread.is_alive() and log.last_error is None
    log.close()
    table = on_disk(tmp_path / "logs", "predictions", "t")
    assert list(table["row"]) == list(range(len(odd)))
    assert table["prediction"].iloc[0] == str(10**30) and table["prediction"].iloc[5] == "text"
