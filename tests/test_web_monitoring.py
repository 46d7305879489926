"""Monitoring and alerts over REST and on the pages, after two real monitoring passes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests import monitor_world as world
from tests.helpers import csrf_of

import shoal
from shoal.http.auth import Auth
from shoal.web import create_web_app

DRIFTED = "store=s01,sku=k02"


@pytest.fixture
def http(tmp_path: Path) -> Iterator[TestClient]:
    client = shoal.connect(f"sqlite:///{tmp_path / 'shoal.db'}", str(tmp_path / "artifacts"))
    fleet = client.fleet("grocer/demand", keys=["store", "sku"])
    world.monitored_two_days(fleet, tmp_path, drift=frozenset({"s01/k02"}))
    with TestClient(create_web_app(client, auth=Auth.off()), base_url="http://127.0.0.1") as http:
        yield http
    client.close()


def ok(http: TestClient, path: str, **params: Any) -> Any:
    reply = http.get(path, params=params)
    assert reply.status_code == 200, reply.text
    return reply.json()


BASE = "/api/v1/fleets/grocer/demand"


def test_monitoring_results_rollups_and_a_model_over_rest(http: TestClient) -> None:
    windows = ok(http, f"{BASE}/monitoring/windows")["items"]
    assert [w["window"] for w in windows] == ["2026-11-21T00:00Z", "2026-11-20T00:00Z"]
    worst = ok(http, f"{BASE}/monitoring/results", by="max_psi", n=1)["items"]
    assert worst[0]["key"] == {"store": "s01", "sku": "k02"} and worst[0]["drifted_features"] == 1
    older = ok(http, f"{BASE}/monitoring/results", at="2026-11-20T12:00Z")["items"]
    assert {r["window"] for r in older} == {"2026-11-20T00:00Z"} and len(older) == 12
    rollup = ok(http, f"{BASE}/monitoring/rollup", by="store")["items"]
    assert rollup[0]["store"] == "s01" and rollup[0]["drifting"] == 1
    model = ok(http, f"{BASE}/models/{DRIFTED}/monitoring")
    assert len(model["trend"]) == 2 and model["features"][0]["feature"] == "x1"
    bad = http.get(f"{BASE}/monitoring/rollup", params={"by": "region"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "by"


def test_alerts_acknowledge_and_resolve_over_rest(http: TestClient) -> None:
    alerts = ok(http, f"{BASE}/alerts")["items"]
    assert [(a["rule"], a["key"], a["feature"]) for a in alerts] == [
        ("drift", {"store": "s01", "sku": "k02"}, "x1")]  # fmt: skip
    first = alerts[0]["id"]
    acked = http.post(f"{BASE}/alerts/{first}/acknowledge").json()
    assert acked["state"] == "acknowledged"
    assert http.post(f"{BASE}/alerts/{first}/resolve").json()["state"] == "resolved"
    again = http.post(f"{BASE}/alerts/{first}/resolve")
    assert again.status_code == 409
    assert ok(http, f"{BASE}/alerts")["items"] == []
    assert len(ok(http, f"{BASE}/alerts", state=["resolved"])["items"]) == 1
    bad = http.post(f"{BASE}/alert-rules", json={"name": "x", "expression": "psi >> 1"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "rule"
    made = http.post(f"{BASE}/alert-rules", json={"name": "worse", "expression": "mape > 0.5"})
    assert made.status_code == 201 and made.json()["name"] == "worse"
    assert [r["name"] for r in ok(http, f"{BASE}/alert-rules")["items"]] == ["drift", "worse"]


def test_the_alerts_page_acknowledges_and_the_model_page_shows_drift(http: TestClient) -> None:
    page = http.get("/alerts")
    assert page.status_code == 200
    assert "Acknowledge alert 1" in page.text and "store=s01,sku=k02" in page.text
    token = csrf_of(page.text)
    forged = http.post("/fleets/grocer/demand/alerts/1", data={"action": "acknowledge"},
                       headers={"origin": "http://attacker.example"})  # fmt: skip
    assert forged.status_code == 403 and "cross-site" in forged.text
    assert http.post("/fleets/grocer/demand/alerts/1", data={"action": "acknowledge"}
                     ).status_code == 403  # no token: refused  # fmt: skip
    moved = http.post("/fleets/grocer/demand/alerts/1",
                      data={"action": "acknowledge", "csrf_token": token},
                      follow_redirects=False)  # fmt: skip
    assert moved.status_code == 303 and moved.headers["location"].startswith("/alerts?done=")
    page = http.get("/alerts")
    assert "state-acknowledged" in page.text and "Acknowledge alert 1" not in page.text
    odd = http.post("/fleets/grocer/demand/alerts/1",
                    data={"action": "delete", "csrf_token": token})  # fmt: skip
    assert odd.status_code == 422 and "acknowledge" in odd.text
    model = http.get(f"/fleets/grocer/demand/models/{DRIFTED}")
    assert model.status_code == 200
    assert "Features in the newest window" in model.text and 'id="drift"' in model.text
    assert "<td>x1</td><td>ks</td>" in model.text
    quiet = http.get("/fleets/grocer/demand/models/store=s00,sku=k00")
    assert "1 of 3" not in quiet.text and "0 of 3" in quiet.text


def test_home_and_fleet_pages_show_health(http: TestClient) -> None:
    home = http.get("/")
    assert home.status_code == 200
    assert ">1 alert</a>" in home.text and "1 of 12 tested models drifting" in home.text
    fleet = http.get("/fleets/grocer/demand")
    assert "<strong>1</strong> unresolved" in fleet.text
    assert (
        'href="/fleets/grocer/demand/models/store=s01,sku=k02">store=s01,sku=k02</a>: drift (x1)'
        in fleet.text
    )
    assert "1 of 12 tested models drifting, 1,200 predictions" in fleet.text


def test_the_monitoring_page_ranks_models_and_rolls_up(http: TestClient) -> None:
    page = http.get("/fleets/grocer/demand/monitoring")
    assert page.status_code == 200
    assert "Worst 12 by max_psi, window 2026-11-21T00:00Z" in page.text
    first = page.text.split('id="worst"')[1].split("<tbody>")[1].split("</tr>")[0]
    assert "store=s01,sku=k02" in first
    assert "By store, window 2026-11-21T00:00Z" in page.text
    older = http.get("/fleets/grocer/demand/monitoring",
                     params={"at": "1795132800.0", "by": "mape", "dim": "sku"})  # fmt: skip
    assert "Worst 12 by mape, window 2026-11-20T00:00Z" in older.text
    assert "By sku, window 2026-11-20T00:00Z" in older.text
    typed = http.get("/fleets/grocer/demand/monitoring", params={"at": "2026-11-20T06:00Z"})
    assert "window 2026-11-20T00:00Z" in typed.text
    fleet = http.get("/fleets/grocer/demand")
    assert 'href="/fleets/grocer/demand/monitoring"' in fleet.text


def test_a_monitoring_run_reads_as_a_run_over_rest_and_on_its_page(http: TestClient) -> None:
    """A monitor run times its stages (``seconds`` by stage): the run record, not a 500."""
    runs = ok(http, f"{BASE}/runs")["items"]
    monitor = next(r for r in runs if r["kind"] == "monitor")
    stages = monitor["counts"]["seconds"]  # a monitor run times each stage
    assert monitor["seconds"] == pytest.approx(sum(stages.values()), abs=1e-3)
    assert monitor["counts"]["windows"] >= 1 and monitor["started_at"].endswith("+00:00")
    assert monitor["keys"] is None and monitor["done"] is None  # a pass trains no keys
    one = ok(http, f"/api/v1/runs/{monitor['id']}")
    assert one["kind"] == "monitor" and one["errors"] == []
    page = http.get(f"/runs/{monitor['id']}")
    assert page.status_code == 200 and "What it found" in page.text and "windows" in page.text
    assert "Per-key failures" not in page.text
