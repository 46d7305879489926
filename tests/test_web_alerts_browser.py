"""The alerts page in a real browser: filter to a cohort, acknowledge two alerts with a note,
land back on the same view with what was done, then the monitoring page's worst-by choices."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests import monitor_world as world
from tests.browser import BROWSER, accessible, serve, shot

import shoal

pytestmark = BROWSER


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    """12 models, one day monitored: x1 drifted in three SKUs of s01 (drift and quality)."""
    client = shoal.connect(f"sqlite:///{tmp_path / 'shoal.db'}", str(tmp_path / "artifacts"))
    fleet = client.fleet("grocer/demand", keys=["store", "sku"])
    keys = world.keys(3, 4)
    versions = world.register(fleet, keys)
    fleet.alerts.add_rule("drift", "psi > 0.2 on any feature")
    drift = frozenset({"s01/k00", "s01/k01", "s01/k02"})
    world.write_logs(tmp_path / "logs", versions, keys, drift=drift, bias=frozenset({"s02/k03"}))
    fleet.monitor("1d", logs=str(tmp_path / "logs"), since=world.DAY, until="2026-11-21")
    with serve(client) as url:
        yield url
    client.close()


def test_acknowledge_two_alerts_of_a_cohort_with_a_note(site: str, page: Any) -> None:
    page.goto(site + "/alerts")
    accessible(page)
    shot(page, "01-alerts")
    page.get_by_label("Cohort").fill("store=s01")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**cohort=store%3Ds01*")
    assert page.locator("#alerts tbody tr").count() == 6
    page.get_by_role("checkbox", name="Select alert 1").check()
    page.get_by_role("checkbox", name="Select alert 2").check()
    page.get_by_label("Note").fill("INC-9: x1 feed broken")
    page.get_by_role("button", name="Acknowledge selected").click()
    page.wait_for_url("**done=*")
    assert "2 alerts of grocer/demand acknowledged" in page.get_by_role("status").inner_text()
    assert "cohort=store%3Ds01" in page.url and page.get_by_label("Cohort").input_value() == (
        "store=s01"
    )
    acked = page.locator("#alerts tbody tr", has_text="INC-9: x1 feed broken")
    assert acked.count() == 2 and "acknowledged" in acked.first.inner_text()
    assert "UTC" in acked.first.inner_text()  # who and when, beside the note
    accessible(page)
    shot(page, "02-acknowledged")
    page.goto(site + "/fleets/grocer/demand/monitoring")
    choices = page.get_by_role("combobox", name="Worst by").locator("option").all_inner_texts()
    assert "mape" in choices and "max_psi" in choices
    assert not {"accuracy", "f1", "log_loss"} & set(choices)  # a regression fleet's figures
    accessible(page)
    shot(page, "03-monitoring")
