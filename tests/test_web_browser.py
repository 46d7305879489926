"""The pages in a real browser: Debian's chromium driven by playwright, against a real server.

Home -> fleet -> filter -> model -> lineage -> run, and a bulk alias move with preview and
undo. Screenshots of every step are kept under ``test-artifacts/screens/<test>/``; the browser's
console must stay free of errors (a missing script, a failed request, a JavaScript error).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from tests.browser import BROWSER, serve, shot

import shoal
from shoal.flavors.linear import LinearModel
from shoal.http.auth import Auth

pytestmark = BROWSER


def fit(frame: pd.DataFrame) -> Any:
    return LinearRegression().fit(frame[["price"]], frame["units"])


@pytest.fixture
def site(tmp_path) -> Iterator[str]:
    client = shoal.connect(f"sqlite:///{tmp_path / 'shoal.db'}", str(tmp_path / "artifacts"))
    demand = client.fleet("grocer/demand", keys=["store", "sku"],
                          description="Daily unit sales per store and SKU")  # fmt: skip
    stores = [f"s{i:02d}" for i in range(40)]
    demand.register(
        {"key": {"store": s, "sku": k}, "model": LinearModel(1.0, {"price": -0.5}),
         "metrics": {"mape": round(0.05 + i / 100, 3), "rmse": 1.0 + i}}
        for i, s in enumerate(stores) for k in ("A77", "B12")
    )  # fmt: skip
    demand.set_alias("production", {(s, k): 1 for s in stores for k in ("A77", "B12")}, create=True)
    frame = pd.DataFrame({"store": ["s00"] * 4, "sku": ["A77"] * 4, "price": [1.0, 2, 3, 4],
                          "units": [4.0, 3, 2, 1]})  # fmt: skip
    demand.train(frame, fit, workers=1, progress=False)  # version 2 of s00/A77, with lineage
    with serve(client) as url:
        yield url
    client.close()


def test_home_to_fleet_to_filter_to_model_to_lineage(site: str, page: Any) -> None:
    page.goto(site + "/")
    assert page.get_by_role("heading", name="Fleets").is_visible()
    shot(page, "01-home")
    page.get_by_role("link", name="demand").click()
    page.wait_for_url("**/fleets/grocer/demand")
    assert page.get_by_role("heading", name="grocer/demand").is_visible()
    page.locator("#histogram .main-svg").first.wait_for()  # plotly drew, offline, after load
    shot(page, "02-fleet")

    page.get_by_role("textbox", name="Filter").fill("mape > 0.3")
    page.get_by_role("textbox", name="Sort").fill("-mape")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**where=mape*")
    first_store = page.locator("#model-table tbody tr").first.locator("td").first
    assert first_store.inner_text().startswith("s39")  # highest mape first
    assert page.locator("#model-table tbody tr").count() <= 50
    shot(page, "03-filtered")

    page.goto(site + "/fleets/grocer/demand?where=store%20%3D%20%27s00%27")
    page.locator("#model-table").get_by_role("link", name="s00").first.click()
    page.wait_for_url("**/models/store=s00,sku=A77")
    assert page.get_by_role("heading", name="Lineage").is_visible()
    lineage = page.locator("#lineage + table")
    assert "demand-train" in lineage.inner_text()
    shot(page, "04-model")
    lineage.get_by_role("link", name=re.compile(r"^run \d+$")).click()
    page.wait_for_url("**/runs/*")
    assert "succeeded" in page.get_by_role("heading", level=1).inner_text()
    shot(page, "05-run")


def test_bulk_alias_move_with_preview_and_undo(site: str, page: Any) -> None:
    page.goto(site + "/fleets/grocer/demand?where=mape%20%3E%200.4")
    page.get_by_role("textbox", name="Alias").fill("candidate")
    page.get_by_role("button", name="Preview").click()
    assert "Would move" in page.locator("main").inner_text()
    shot(page, "06-preview")
    page.get_by_role("button", name="Move").click()
    body = page.locator("main").inner_text()
    assert "Moved" in body
    shot(page, "07-moved")
    page.get_by_role("button", name="Undo").click()
    page.wait_for_url("**/fleets/grocer/demand?done=*")
    assert "Undid move" in page.get_by_role("status").inner_text()
    assert "candidate" not in page.locator("section[aria-labelledby=aliases]").inner_text()
    page.goto(site + "/alerts")
    assert "No unresolved alerts" in page.locator("main").inner_text()
    page.keyboard.press("Tab")  # keyboard reaches the navigation first
    assert page.evaluate("document.activeElement.textContent") == "Shoal"
    shot(page, "08-alerts")


def test_compare_two_versions_side_by_side(site: str, page: Any) -> None:
    page.goto(site + "/fleets/grocer/demand/models/store=s00,sku=A77")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url("**/compare?a=1&b=2")
    table = page.locator("main table").inner_text()
    assert "version 1" in table and "version 2" in table and "demand-train" in table
    assert re.search(r"created.*\d{4}-\d\d-\d\d \d\d:\d\d UTC", table)  # a date, not seconds
    assert page.locator("tr.differs").count() >= 3  # artifact, dataset, run at least
    shot(page, "09-compare")


@pytest.fixture
def monitored(tmp_path) -> Iterator[str]:
    """A fleet monitored over two days, with drift in one model and an alert open on it."""
    from tests import monitor_world as world

    client = shoal.connect(f"sqlite:///{tmp_path / 'shoal.db'}", str(tmp_path / "artifacts"))
    fleet = client.fleet("grocer/demand", keys=["store", "sku"])
    world.monitored_two_days(fleet, tmp_path, drift=frozenset({"s01/k02"}))
    with serve(client) as url:
        yield url
    client.close()


def test_acknowledge_an_alert_and_read_the_model_drift(monitored: str, page: Any) -> None:
    page.goto(monitored + "/alerts")
    row = page.locator("tr", has_text="store=s01,sku=k02")
    assert "open" in row.inner_text() and "x1" in row.inner_text()
    shot(page, "01-alerts")
    page.get_by_role("button", name="Acknowledge alert 1").click()
    page.wait_for_url("**/alerts?*done=*")
    assert "acknowledged" in page.locator("tr", has_text="store=s01,sku=k02").inner_text()
    shot(page, "02-acknowledged")
    page.get_by_role("link", name="store=s01,sku=k02").click()
    page.wait_for_url("**/models/store=s01,sku=k02")
    page.locator("#drift .main-svg").first.wait_for()  # plotly drew the drift chart, offline
    features = page.locator("table", has_text="q (fleet FDR)").inner_text()
    assert "x1" in features and "yes" in features
    shot(page, "03-model-drift")
    page.goto(monitored + "/fleets/grocer/demand/monitoring")
    page.get_by_role("combobox", name="Roll up by").select_option("sku")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**dim=sku*")
    assert "By sku" in page.locator("#rollup caption").inner_text()
    assert "store=s01,sku=k02" in page.locator("#worst tbody tr").first.inner_text()
    shot(page, "04-monitoring")


@pytest.fixture
def guarded(tmp_path) -> Iterator[tuple[str, str]]:
    """A monitored fleet behind auth, and an editor's token for tenant grocer."""
    from tests import monitor_world as world

    client = shoal.connect(f"sqlite:///{tmp_path / 'shoal.db'}", str(tmp_path / "artifacts"))
    fleet = client.fleet("grocer/demand", keys=["store", "sku"])
    world.monitored_two_days(fleet, tmp_path, drift=frozenset({"s01/k02"}))
    _, secret = client.create_token("grocer", "editor", name="ada")
    with serve(client, auth=Auth(enabled=True)) as url:
        yield url, secret
    client.close()


def test_sign_in_act_as_the_token_and_sign_out(guarded: tuple[str, str], page: Any) -> None:
    url, secret = guarded
    page.goto(url + "/signin?next=/alerts")
    shot(page, "01-sign-in")
    page.get_by_label("Token").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/alerts")
    assert "token:ada" in page.locator("header").inner_text()
    session = [c for c in page.context.cookies() if c["name"] == "shoal_session"]
    assert session and session[0]["httpOnly"] and session[0]["sameSite"] == "Strict"
    assert secret not in session[0]["value"]
    page.get_by_role("button", name="Acknowledge alert 1").click()  # a form with its CSRF token
    page.wait_for_url("**/alerts?*done=*")
    page.goto(url + "/audit")
    newest = page.locator("tbody tr").first.inner_text()
    assert "token:ada" in newest and "alert.acknowledged" in newest and "127.0.0.1" in newest
    shot(page, "02-audit")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/signin")
    assert not [c for c in page.context.cookies() if c["name"] == "shoal_session"]
