"""Bad input, hostile input and a busy store, tried as a careless or hostile client would.

Every answer is a :class:`ShoalError` from the SDK, one ``error:`` line with its exit
code from the CLI, or the one JSON error shape (with a request id) from REST; never a
500, a traceback or a raw driver exception.
"""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import shoal
from shoal.errors import FilterSyntaxError, InvalidInput, StoreUnavailable
from shoal.flavors.linear import LinearModel
from shoal.http.auth import Auth
from shoal.monitor import check_webhook
from shoal.web import create_web_app

BIG = 2**63


def _record(store: str, **extra: Any) -> dict[str, Any]:
    return {"key": {"store": store}, "model": LinearModel(1.0, {"x": 0.5}),
            "metrics": {"mape": 0.1}, **extra}  # fmt: skip


@pytest.fixture
def fleet(client: shoal.Client) -> shoal.Fleet:
    demand = client.fleet("grocer/demand", keys=["store"])
    demand.register([_record("s1"), _record("s2")])
    return demand


@pytest.fixture
def http(client: shoal.Client, fleet: shoal.Fleet) -> Iterator[TestClient]:
    with TestClient(
        create_web_app(client, auth=Auth.off()),
        raise_server_exceptions=False,
        base_url="http://127.0.0.1",
    ) as test_client:
        yield test_client


def _error(reply: Any, status: int) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/json"), reply.text
    error: dict[str, Any] = reply.json()["error"]
    assert set(error) == {"type", "message", "field", "request_id"}
    assert error["request_id"] == reply.headers["x-request-id"]
    return error


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (f"/api/v1/datasets/{BIG}", "dataset_id"),
        (f"/api/v1/versions/{BIG}", "version_id"),
        (f"/api/v1/runs/{BIG}", "run_id"),
        (f"/api/v1/fleets/grocer/demand/runs?cursor={BIG}", "cursor"),
        (f"/api/v1/fleets/grocer/demand/models?where=mape>{BIG}", "where"),
        ("/api/v1/fleets/grocer/demand/models?where=mape>1e999", "where"),
        ("/api/v1/fleets/grocer/demand/models?where=" + "(" * 250 + "mape>1" + ")" * 250,
         "where"),
        ("/api/v1/fleets/grocer/demand/models?cursor=%7B%22a%22%3A1%7D", "cursor"),
        ("/api/v1/fleets/Grocer/demand/models", "tenant"),
    ],
)  # fmt: skip
def test_out_of_range_and_malformed_inputs_are_a_422_naming_the_field(
    http: TestClient, path: str, field: str
) -> None:
    error = _error(http.get(path), 422)
    assert error["field"] == field, error


def test_unknown_routes_and_methods_answer_in_the_error_shape(http: TestClient) -> None:
    missing = _error(http.get("/api/v1/nope"), 404)
    assert "openapi.json" in missing["message"]
    wrong = http.delete("/api/v1/tenants")
    assert _error(wrong, 405)["type"] == "MethodNotAllowed" and wrong.headers["allow"] == "GET"
    page = http.get("/no/such/page")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "fleets page" in page.text


def test_a_bug_is_a_500_in_the_error_shape_with_the_request_id_the_log_has(
    client: shoal.Client, fleet: shoal.Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_web_app(client, auth=Auth.off())

    @app.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False, base_url="http://127.0.0.1") as http:
        with caplog.at_level(logging.ERROR, logger="shoal.http"):
            reply = http.get("/api/v1/boom", headers={"x-request-id": "trace-42"})
        assert reply.status_code == 500
        error = reply.json()["error"]
        assert error["type"] == "InternalError" and error["request_id"] == "trace-42"
        assert "trace-42" in error["message"]
    logged = [r for r in caplog.records if "trace-42" in r.getMessage()]
    assert logged and logged[0].exc_info is not None


def test_a_client_request_id_is_echoed_and_an_odd_one_replaced(http: TestClient) -> None:
    assert http.get("/api/v1/tenants", headers={"x-request-id": "abc-1"}).headers[
        "x-request-id"
    ] == "abc-1"  # fmt: skip
    odd = http.get("/api/v1/tenants", headers={"x-request-id": "a b\x7f"})
    assert odd.headers["x-request-id"] != "a b\x7f" and len(odd.headers["x-request-id"]) == 32


def test_the_sdk_refuses_bad_ids_numbers_and_deep_filters_by_name(
    client: shoal.Client, fleet: shoal.Fleet
) -> None:
    with pytest.raises(InvalidInput, match="version_id"):
        client.get_version(BIG)
    with pytest.raises(InvalidInput, match="dataset_id"):
        client.datasets.get(BIG)
    with pytest.raises(InvalidInput, match="run_id"):
        client.run(BIG)
    with pytest.raises(InvalidInput, match="move_id"):
        fleet.undo(BIG)
    with pytest.raises(FilterSyntaxError, match="64-bit"):
        fleet.search(f"mape > {BIG}")
    with pytest.raises(FilterSyntaxError, match="nested more than"):
        fleet.count("not " * 100 + "mape > 1")
    with pytest.raises(FilterSyntaxError, match="over the limit"):
        fleet.search("store in (" + ",".join(f"'s{i}'" for i in range(2000)) + ")")
    big_filter = f"mape < {2**63 - 1}"  # the edge itself is fine
    assert fleet.count(big_filter) == 2


@pytest.fixture
def busy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """A SQLite store another process holds the write lock of."""
    url, artifacts = f"sqlite:///{tmp_path / 'busy.db'}", str(tmp_path / "busy-artifacts")
    seeded = shoal.connect(url, artifacts)
    seeded.fleet("grocer/demand", keys=["store"]).register([_record("s1")])
    seeded.close()
    monkeypatch.setenv("SHOAL_SQLITE_BUSY_TIMEOUT_MS", "200")
    holder = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield url, artifacts
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_busy_store_is_store_unavailable_in_the_sdk_rest_and_cli(
    busy: tuple[str, str], tmp_path: Path
) -> None:
    url, artifacts = busy
    client = shoal.connect(url, artifacts)
    demand = client.fleet("grocer/demand")
    with pytest.raises(StoreUnavailable, match=r"busy.*SHOAL_SQLITE_BUSY_TIMEOUT_MS"):
        demand.set_alias("production", {"s1": 1}, create=True)
    with TestClient(create_web_app(client, auth=Auth.off()), base_url="http://127.0.0.1") as http:
        reply = http.post("/api/v1/fleets/grocer/demand/aliases/production",
                          json={"all": True, "create": True})  # fmt: skip
        assert _error(reply, 503)["type"] == "StoreUnavailable"
        assert reply.headers["retry-after"] == "1"
    client.close()
    cli = subprocess.run(
        [sys.executable, "-m", "shoal", "--store", url, "--artifacts", artifacts, "alias", "set",
         "grocer/demand", "production", "--all", "--create"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert cli.returncode == 6, cli.stderr
    assert cli.stderr.startswith("error: the SQLite store") and "Traceback" not in cli.stderr


def test_key_values_are_nfc_and_refused_with_edge_spaces_or_control_characters(
    fleet: shoal.Fleet,
) -> None:
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    fleet.register([_record(composed)])
    fleet.register([_record(decomposed)])
    assert fleet.count(f"store = '{composed}'") == fleet.count(f"store = '{decomposed}'") == 1
    assert [v.version for v in fleet.versions(decomposed)] == [2, 1]
    for bad, problem in [(" s1", "space"), ("s1 ", "space"), ("s\t1", "control"), ("", "empty")]:
        with pytest.raises(InvalidInput, match=problem) as caught:
            fleet.register([_record(bad)])
        assert caught.value.field == "key"
    assert fleet.count() == 3


def test_params_tags_and_metrics_have_size_limits_that_name_the_field(
    fleet: shoal.Fleet,
) -> None:
    with pytest.raises(InvalidInput, match=r"params\.blob is 10000000 characters") as caught:
        fleet.register([_record("s9", params={"blob": "x" * 10_000_000})])
    assert caught.value.field == "params.blob"
    with pytest.raises(InvalidInput, match="names must be 1-250"):
        fleet.register([_record("s9", params={"p" * 300: 1})])
    with pytest.raises(InvalidInput, match="over the limit of 64000"):
        fleet.register([_record("s9", params={f"p{i}": "x" * 7000 for i in range(10)})])
    with pytest.raises(InvalidInput, match="over the limit of 1000"):
        fleet.register([_record("s9", tags={f"t{i}": "x" for i in range(1001)})])
    with pytest.raises(InvalidInput, match="is not a valid name"):
        fleet.register([_record("s9", metrics={"m" * 101: 1.0})])
    assert fleet.count() == 2  # nothing half-written


def test_webhooks_may_not_reach_internal_addresses_unless_the_operator_allows(
    monkeypatch: pytest.MonkeyPatch, fleet: shoal.Fleet
) -> None:
    for url in ["http://169.254.169.254/latest/meta-data", "http://127.0.0.1:9/hook",
                "http://10.1.2.3/hook", "http://[::1]/hook", "http://0.0.0.0/",
                "http://[::ffff:169.254.169.254]/", "http://localhost:8000/hook"]:  # fmt: skip
        with pytest.raises(InvalidInput, match="SHOAL_WEBHOOK_ALLOW") as caught:
            fleet.alerts.add_rule("drift", "psi > 0.2 on any feature", webhook=url)
        assert caught.value.field == "webhook"
    with pytest.raises(InvalidInput, match="http"):
        check_webhook("file:///etc/passwd")
    assert check_webhook("http://93.184.216.34/hook", resolve=False)  # a public address
    monkeypatch.setenv("SHOAL_WEBHOOK_ALLOW", "10.0.0.0/8, localhost, 169.254.0.0/16")
    assert check_webhook("http://10.1.2.3/hook")
    assert check_webhook("http://localhost:8000/hook")
    with pytest.raises(InvalidInput, match="link-local"):  # metadata only when named exactly
        check_webhook("http://169.254.169.254/")
    monkeypatch.setenv("SHOAL_WEBHOOK_ALLOW", "169.254.169.254")
    assert check_webhook("http://169.254.169.254/")
    assert fleet.alerts.rules() == []


def test_odd_arguments_to_the_sdk_are_shoal_errors_not_raw_exceptions(
    fleet: shoal.Fleet,
) -> None:
    with pytest.raises(InvalidInput, match="filter text") as caught:
        fleet.search({"mape": 1})  # type: ignore[arg-type]
    assert caught.value.field == "where"
    with pytest.raises(InvalidInput, match="finite") as caught:
        fleet.register([_record("s9", metrics={"m": 10**400})])
    assert caught.value.field == "metrics.m"
    with pytest.raises(InvalidInput, match="wrap one version in a list"):
        fleet.register(5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="wrap one version in a list"):
        fleet.register(_record("s9"))  # type: ignore[arg-type]
    assert fleet.count() == 2
